import MetMesh
import MetWire
import Testing

/// The challenge–response handshake as a pure state machine (RELIABILITY S1, S2, S4).
@Suite struct HandshakeTests {
    static let secret = try! ClusterSecret(Array("a-cluster-secret-of-32-bytes!!!!".utf8))

    /// Runs two handshakes against each other, passing every frame across; returns both outcomes.
    func run(_ a: inout Handshake, _ b: inout Handshake, tamper: (Frame) -> Frame = { $0 }) -> (Handshake.Action?, Handshake.Action?) {
        var toB = a.start().compactMap(\.frame)
        var toA = b.start().compactMap(\.frame)
        var outcomeA: Handshake.Action?
        var outcomeB: Handshake.Action?
        for _ in 0..<4 where !(toA.isEmpty && toB.isEmpty) {
            let forB = toB
            let forA = toA
            toA = []
            toB = []
            for f in forB where outcomeB == nil {
                for action in b.receive(tamper(f)) {
                    if let frame = action.frame { toA.append(frame) } else { outcomeB = action }
                }
            }
            for f in forA where outcomeA == nil {
                for action in a.receive(f) {
                    if let frame = action.frame { toB.append(frame) } else { outcomeA = action }
                }
            }
        }
        return (outcomeA, outcomeB)
    }

    @Test func bothSidesLearnEachOtherWithTheRightSecret() {
        var a = Handshake(role: .initiator, cluster: "met", node: "a", incarnation: 1, secret: Self.secret)
        var b = Handshake(role: .responder, cluster: "met", node: "b", incarnation: 7, secret: Self.secret)
        let (ra, rb) = run(&a, &b)
        #expect(ra == .established(PeerIdentity(node: "b", incarnation: 7)))
        #expect(rb == .established(PeerIdentity(node: "a", incarnation: 1)))
    }

    @Test func aWrongSecretFailsBothSides() throws {
        let other = try ClusterSecret(Array("another-secret-of-32-bytes-long!".utf8))
        var a = Handshake(role: .initiator, cluster: "met", node: "a", incarnation: 1, secret: Self.secret)
        var b = Handshake(role: .responder, cluster: "met", node: "b", incarnation: 7, secret: other)
        let (ra, rb) = run(&a, &b)
        #expect(ra == .fail(.badProof))
        #expect(rb == .fail(.badProof))
    }

    @Test func anotherClusterNameNeverConnectsEvenWithTheSameSecret() {
        var a = Handshake(role: .initiator, cluster: "met", node: "a", incarnation: 1, secret: Self.secret)
        var b = Handshake(role: .responder, cluster: "other", node: "b", incarnation: 7, secret: Self.secret)
        let (ra, rb) = run(&a, &b)
        #expect(ra == .fail(.clusterMismatch("other")))
        #expect(rb == .fail(.clusterMismatch("met")))
    }

    @Test func aProofFromAnotherConnectionIsRefused() {
        // Record B's proof on one connection, replay it on a second with fresh nonces.
        var a1 = Handshake(role: .initiator, cluster: "met", node: "a", incarnation: 1, secret: Self.secret, nonce: [UInt8](repeating: 1, count: 32))
        var b1 = Handshake(role: .responder, cluster: "met", node: "b", incarnation: 7, secret: Self.secret, nonce: [UInt8](repeating: 2, count: 32))
        let helloA = a1.start()[0].frame!
        _ = b1.start()
        let recorded = b1.receive(helloA)[0].frame!
        var a2 = Handshake(role: .initiator, cluster: "met", node: "a", incarnation: 1, secret: Self.secret, nonce: [UInt8](repeating: 3, count: 32))
        _ = a2.start()
        var b2 = Handshake(role: .responder, cluster: "met", node: "b", incarnation: 7, secret: Self.secret, nonce: [UInt8](repeating: 4, count: 32))
        _ = a2.receive(b2.start()[0].frame!)
        #expect(a2.receive(recorded) == [.fail(.badProof)])
    }

    @Test func aHelloAlteredInTransitBreaksTheProof() {
        var a = Handshake(role: .initiator, cluster: "met", node: "a", incarnation: 1, secret: Self.secret)
        var b = Handshake(role: .responder, cluster: "met", node: "b", incarnation: 7, secret: Self.secret)
        // A man in the middle rewrites A's hello to claim another incarnation.
        let (_, rb) = run(&a, &b) { frame in
            guard frame.type == .hello else { return frame }
            var p = frame.payload
            p[p.count - 33] ^= 1  // the incarnation varint, just before the 32-byte nonce
            return Frame(type: .hello, payload: p)
        }
        #expect(rb == .fail(.badProof))
    }

    @Test func shortSecretsAreRefusedAndUnexpectedFramesFail() throws {
        #expect(throws: ClusterSecret.Problem.tooShort(5)) { try ClusterSecret(Array("short".utf8)) }
        let weak = try ClusterSecret(Array("sixteen-bytes-ok".utf8))
        #expect(weak.isWeak)
        var a = Handshake(role: .initiator, cluster: "met", node: "a", incarnation: 1, secret: Self.secret)
        _ = a.start()
        #expect(a.receive(Frame(type: .batch, payload: [])) == [.fail(.unexpected(.batch))])
        var b = Handshake(role: .responder, cluster: "met", node: "b", incarnation: 1, secret: Self.secret)
        _ = b.start()
        #expect(b.receive(Frame(type: .hello, payload: [1, 2, 3])) == [.fail(.malformed("hello"))])
    }
}

extension Handshake.Action {
    var frame: Frame? {
        if case .send(let f) = self { return f }
        return nil
    }
}
