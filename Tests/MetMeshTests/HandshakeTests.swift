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

    @Test func bothSidesLearnEachOtherWithTheRightSecret() throws {
        var a = Handshake(role: .initiator, cluster: "met", node: "a", incarnation: 1, secret: Self.secret)
        var b = Handshake(role: .responder, cluster: "met", node: "b", incarnation: 7, secret: Self.secret)
        let (ra, rb) = run(&a, &b)
        #expect(ra?.peer == PeerIdentity(node: "b", incarnation: 7))
        #expect(rb?.peer == PeerIdentity(node: "a", incarnation: 1))
        // One key per direction: what A sends with, B receives with, and the two differ (S3).
        let (ka, kb) = (try #require(ra?.keys), try #require(rb?.keys))
        #expect(ka.send == kb.receive && ka.receive == kb.send && ka.send != ka.receive)
        #expect(a.sharedSecretIndex == 0 && b.sharedSecretIndex == 0)
    }

    @Test func everyConnectionGetsFreshKeys() throws {
        func keys() throws -> FrameKeys {
            var a = Handshake(role: .initiator, cluster: "met", node: "a", incarnation: 1, secret: Self.secret)
            var b = Handshake(role: .responder, cluster: "met", node: "b", incarnation: 7, secret: Self.secret)
            return try #require(run(&a, &b).0?.keys)
        }
        #expect(try keys() != keys())
    }

    static let a = try! ClusterSecret(Array("secret-A-of-32-bytes-0123456789a".utf8))
    static let b = try! ClusterSecret(Array("secret-B-of-32-bytes-0123456789b".utf8))
    static let c = try! ClusterSecret(Array("secret-C-of-32-bytes-0123456789c".utf8))

    /// Runs a handshake between two sides holding these secrets (current first); returns which of
    /// each side's secrets they agreed on, or nil when either refused.
    func agree(_ initiator: [ClusterSecret], _ responder: [ClusterSecret]) -> (Int, Int)? {
        var i = Handshake(role: .initiator, cluster: "met", node: "a", incarnation: 1, secret: initiator[0], previous: Array(initiator.dropFirst()))
        var r = Handshake(role: .responder, cluster: "met", node: "b", incarnation: 2, secret: responder[0], previous: Array(responder.dropFirst()))
        let (ri, rr) = run(&i, &r)
        guard let ki = ri?.keys, let kr = rr?.keys else { return nil }
        #expect(ki.send == kr.receive && ki.receive == kr.send, "both sides derive the same keys")
        return (i.sharedSecretIndex!, r.sharedSecretIndex!)
    }

    /// S5: every step of a rotation A → B (B with previous A, then B alone) connects every pair
    /// that a rolling restart puts side by side, whichever side dials; skipping a step does not.
    @Test func aRotationConnectsEveryPairOfItsSteps() {
        let (old, mid, new) = ([Self.a], [Self.b, Self.a], [Self.b])
        // Old and rotating nodes agree on A, whoever dials.
        #expect(agree(old, mid)! == (0, 1))
        #expect(agree(mid, old)! == (1, 0))
        // Two rotating nodes agree on B, the current one.
        #expect(agree(mid, mid)! == (0, 0))
        // Rotating and finished nodes agree on B.
        #expect(agree(mid, new)! == (0, 0))
        #expect(agree(new, mid)! == (0, 0))
        // A node on B alone and one still on A alone never connect: that is why the roll has two steps.
        #expect(agree(old, new) == nil)
        #expect(agree(new, old) == nil)
        // The initiator's order decides when both hold both: [A, B] dialling [B, A] agree on A.
        #expect(agree([Self.a, Self.b], mid)! == (0, 1))
        // Two previous secrets: the oldest still connects.
        #expect(agree([Self.c, Self.b, Self.a], old)! == (2, 0))
        #expect(agree(old, [Self.c, Self.b, Self.a])! == (0, 2))
    }

    @Test func aProofOfMoreThanThreeSecretsOrAPartialOneIsRefused() {
        var i = Handshake(role: .initiator, cluster: "met", node: "a", incarnation: 1, secret: Self.secret)
        var r = Handshake(role: .responder, cluster: "met", node: "b", incarnation: 2, secret: Self.secret)
        let helloI = i.start()[0].frame!
        let helloR = r.start()[0].frame!
        let proof = i.receive(helloR)[0].frame!
        _ = r.receive(helloI)
        var valid = r
        #expect(valid.receive(proof).first?.peer == PeerIdentity(node: "a", incarnation: 1))
        var four = r
        #expect(four.receive(Frame(type: .proof, payload: proof.payload + [UInt8](repeating: 0, count: 96))) == [.fail(.badProof)])
        var partial = r
        #expect(partial.receive(Frame(type: .proof, payload: proof.payload + [UInt8](repeating: 0, count: 31))) == [.fail(.badProof)])
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
    var peer: PeerIdentity? {
        if case .established(let p, _) = self { return p }
        return nil
    }
    var keys: FrameKeys? {
        if case .established(_, let k) = self { return k }
        return nil
    }
}
