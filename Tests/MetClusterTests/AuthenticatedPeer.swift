import Foundation
import MetMesh
import MetWire

/// A raw peer that runs the real handshake with the cluster secret, as a node would, and then
/// sends whatever the test wants: each frame with the MAC its place in the sequence needs
/// (``send(_:)``), or bytes the test made up or recorded (``sendRaw(_:)``). It never reads after
/// the handshake.
final class AuthenticatedPeer {
    let client: RawClient
    var authenticator: FrameAuthenticator

    init(_ address: String, name: String, secret: String = MetProcess.secret, source: String? = nil, receiveBuffer: Int32? = nil) throws {
        let client = try RawClient(address, receiveBuffer: receiveBuffer, source: source)
        self.client = client
        authenticator = try Self.handshake(client, name: name, secret: secret)
    }

    static func handshake(_ client: RawClient, name: String, secret: String) throws -> FrameAuthenticator {
        var handshake = Handshake(role: .initiator, cluster: "met", node: name, incarnation: UInt64.random(in: 1...UInt64.max >> 1),
                                  secret: try ClusterSecret(Array(secret.utf8)))
        var decoder = FrameDecoder()
        var keys: FrameKeys?
        func perform(_ actions: [Handshake.Action]) throws {
            for action in actions {
                switch action {
                case .send(let frame): client.send(frame.encoded())
                case .established(_, let k): keys = k
                case .fail(let e): throw MetProcess.Failure("handshake failed: \(e)")
                }
            }
        }
        try perform(handshake.start())
        var buffer = [UInt8](repeating: 0, count: 4096)
        while keys == nil {
            let n = recv(client.fd, &buffer, buffer.count, 0)
            guard n > 0 else { throw MetProcess.Failure("the node closed the handshake") }
            decoder.append(buffer[0..<n])
            // Frame by frame: what follows the node's proof is authenticated frames, left unread.
            while keys == nil, let frame = try decoder.nextFrame() { try perform(handshake.receive(frame)) }
        }
        return FrameAuthenticator(keys: keys!)
    }

    /// The frame with the MAC of its place in this connection's sequence, counted as sent.
    func sealed(_ frame: Frame) -> [UInt8] { authenticator.sealed(frame) }

    func send(_ frame: Frame) { client.send(sealed(frame)) }

    func sendRaw(_ bytes: [UInt8]) { client.send(bytes) }
}
