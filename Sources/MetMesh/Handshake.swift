import Crypto
import MetValues
import MetWire

/// Why a handshake failed; the connection is closed with one log line naming this.
package enum HandshakeError: Error, Equatable, Sendable, CustomStringConvertible {
    case clusterMismatch(String)
    case versionMismatch(UInt8)
    case badProof
    case malformed(String)
    case unexpected(FrameType)

    package var description: String {
        switch self {
        case .clusterMismatch(let c): "peer belongs to cluster '\(c)'"
        case .versionMismatch(let v): "peer speaks protocol version \(v), this node \(WireProtocol.version)"
        case .badProof: "peer did not prove the cluster secret"
        case .malformed(let what): "malformed handshake: \(what)"
        case .unexpected(let t): "unexpected \(t) frame during the handshake"
        }
    }
}

/// The cluster secret (RELIABILITY S1): at least 16 bytes; `isWeak` below 32.
package struct ClusterSecret: Sendable {
    /// Kept as bytes (SymmetricKey is not Sendable here); a key is made per use.
    private let bytes: [UInt8]
    var key: SymmetricKey { SymmetricKey(data: bytes) }

    package enum Problem: Error, Equatable, CustomStringConvertible {
        case tooShort(Int)
        package var description: String {
            switch self {
            case .tooShort(let n): "the cluster secret has \(n) bytes; at least 16 are required (32 or more recommended)"
            }
        }
    }

    package let byteCount: Int

    package init(_ bytes: some Collection<UInt8>) throws(Problem) {
        guard bytes.count >= 16 else { throw .tooShort(bytes.count) }
        self.bytes = Array(bytes)
        byteCount = bytes.count
    }

    /// Below 32 bytes: allowed, with a warning.
    package var isWeak: Bool { byteCount < 32 }
}

/// The mutual challenge–response of a mesh connection (RELIABILITY S2, S4), as a state machine
/// that returns actions; the connection code performs them. Both sides send a `hello` (cluster,
/// node, incarnation, protocol version, 32 random bytes), then a `proof`: HMAC-SHA256 under the
/// cluster secret over a transcript of both hellos and the direction. The secret never crosses
/// the wire; a proof is bound to both nonces, so it is useless on another connection, and to the
/// cluster name, so two clusters sharing a secret never connect.
package struct Handshake: Sendable {
    package enum Role: UInt8, Sendable { case initiator = 1, responder = 2 }

    package enum Action: Sendable, Equatable {
        case send(Frame)
        case established(PeerIdentity)
        case fail(HandshakeError)
    }

    enum State: Sendable { case idle, awaitingHello, awaitingProof(peer: Hello), done, failed }

    package let role: Role
    let secret: ClusterSecret
    let mine: Hello
    var state: State = .idle

    /// - Parameter nonce: 32 random bytes (tests may pass fixed ones); by default from the system RNG.
    package init(role: Role, cluster: String, node: String, incarnation: UInt64, secret: ClusterSecret, nonce: [UInt8]? = nil) {
        self.role = role
        self.secret = secret
        var rng = SystemRandomNumberGenerator()
        let n = nonce ?? (0..<32).map { _ in UInt8.random(in: 0...255, using: &rng) }
        precondition(n.count == 32, "a handshake nonce is 32 bytes")
        mine = Hello(version: WireProtocol.version, cluster: cluster, node: node, incarnation: incarnation, nonce: n)
    }

    /// Sends this side's hello.
    package mutating func start() -> [Action] {
        state = .awaitingHello
        return [.send(Frame(type: .hello, payload: mine.encoded()))]
    }

    /// Feeds one frame from the peer.
    package mutating func receive(_ frame: Frame) -> [Action] {
        switch (state, frame.type) {
        case (.awaitingHello, .hello):
            guard let peer = try? Hello.decode(frame.payload) else { return fail(.malformed("hello")) }
            guard peer.version == WireProtocol.version else { return fail(.versionMismatch(peer.version)) }
            guard peer.cluster == mine.cluster else { return fail(.clusterMismatch(peer.cluster)) }
            state = .awaitingProof(peer: peer)
            return [.send(Frame(type: .proof, payload: proof(peer: peer, from: role)))]
        case (.awaitingProof(let peer), .proof):
            let sender: Role = role == .initiator ? .responder : .initiator
            // Checked in constant time by swift-crypto.
            guard frame.payload.count == 32,
                HMAC<SHA256>.isValidAuthenticationCode(frame.payload, authenticating: transcript(peer: peer, from: sender), using: secret.key)
            else { return fail(.badProof) }
            state = .done
            return [.established(PeerIdentity(node: peer.node, incarnation: peer.incarnation))]
        default:
            return fail(.unexpected(frame.type))
        }
    }

    mutating func fail(_ e: HandshakeError) -> [Action] {
        state = .failed
        return [.fail(e)]
    }

    /// What a proof authenticates: a label, both hellos in initiator–responder order, the sender.
    func transcript(peer: Hello, from sender: Role) -> [UInt8] {
        let (first, second) = role == .initiator ? (mine, peer) : (peer, mine)
        var w = ByteWriter()
        w.writeBytes(Array("met/handshake/v1".utf8))
        w.writeBytes(first.encoded())
        w.writeBytes(second.encoded())
        w.writeByte(sender.rawValue)
        return w.bytes
    }

    func proof(peer: Hello, from sender: Role) -> [UInt8] {
        Array(HMAC<SHA256>.authenticationCode(for: transcript(peer: peer, from: sender), using: secret.key))
    }
}
