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
        case .badProof: "peer did not prove the cluster secret (nor a previous one this node still accepts)"
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

/// The mutual challenge–response of a mesh connection (RELIABILITY S2, S4, S5), as a state
/// machine that returns actions; the connection code performs them. Both sides send a `hello`
/// (cluster, node, incarnation, protocol version, 32 random bytes), then a `proof`: for each
/// secret the side holds, current first then its previous ones (at most 3), HMAC-SHA256 under
/// that secret over a transcript of both hellos and the direction, 32 bytes each. The secret
/// never crosses the wire; a proof is bound to both nonces, so it is useless on another
/// connection, and to the cluster name, so two clusters sharing a secret never connect.
///
/// A side accepts the peer when one of the peer's proofs verifies under one of its own secrets.
/// Both derive the connection's frame keys (``FrameKeys``) from the same one, chosen so that each
/// side can tell without another round trip: the first secret in the initiator's list (current
/// first) that the responder also holds. So during a rotation from A to B, a node on B with A
/// as a previous secret and a node still on A agree on A; two nodes on B agree on B.
package struct Handshake: Sendable {
    package enum Role: UInt8, Sendable { case initiator = 1, responder = 2 }

    package enum Action: Sendable, Equatable {
        case send(Frame)
        case established(PeerIdentity, FrameKeys)
        case fail(HandshakeError)
    }

    enum State: Sendable { case idle, awaitingHello, awaitingProof(peer: Hello), done, failed }

    /// Most secrets a side holds: the current one and two previous ones.
    package static let maxSecrets = 3

    package let role: Role
    /// This side's secrets, current first.
    let secrets: [ClusterSecret]
    let mine: Hello
    var state: State = .idle
    /// Once established: which of this side's secrets the connection's keys came from (0: the
    /// current one, 1 and 2: a previous one).
    package private(set) var sharedSecretIndex: Int?

    /// - Parameters:
    ///   - previous: up to two earlier secrets still accepted (a rotation in progress).
    ///   - nonce: 32 random bytes (tests may pass fixed ones); by default from the system RNG.
    package init(role: Role, cluster: String, node: String, incarnation: UInt64, secret: ClusterSecret, previous: [ClusterSecret] = [], nonce: [UInt8]? = nil) {
        precondition(previous.count < Self.maxSecrets, "at most \(Self.maxSecrets - 1) previous secrets")
        self.role = role
        self.secrets = [secret] + previous
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
            let transcript = transcript(peer: peer, from: role)
            return [.send(Frame(type: .proof, payload: secrets.flatMap { Array(HMAC<SHA256>.authenticationCode(for: transcript, using: $0.key)) }))]
        case (.awaitingProof(let peer), .proof):
            let count = frame.payload.count / 32
            guard frame.payload.count % 32 == 0, (1...Self.maxSecrets).contains(count) else { return fail(.badProof) }
            let sender: Role = role == .initiator ? .responder : .initiator
            let transcript = transcript(peer: peer, from: sender)
            let proofs = (0..<count).map { Array(frame.payload[($0 * 32)..<($0 * 32 + 32)]) }
            // Checked in constant time by swift-crypto.
            func proves(_ proof: [UInt8], _ secret: ClusterSecret) -> Bool {
                HMAC<SHA256>.isValidAuthenticationCode(proof, authenticating: transcript, using: secret.key)
            }
            // The first secret in the initiator's order that both hold.
            let secrets = self.secrets
            var shared: Int?
            if role == .initiator {
                shared = secrets.indices.first { i in proofs.contains { proves($0, secrets[i]) } }
            } else {
                for p in proofs where shared == nil { shared = secrets.indices.first { proves(p, secrets[$0]) } }
            }
            guard let shared else { return fail(.badProof) }
            state = .done
            sharedSecretIndex = shared
            let (first, second) = role == .initiator ? (mine, peer) : (peer, mine)
            let keys = FrameKeys.derive(secret: secrets[shared].key, initiatorHello: first.encoded(), responderHello: second.encoded(), role: role)
            return [.established(PeerIdentity(node: peer.node, incarnation: peer.incarnation), keys)]
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
}
