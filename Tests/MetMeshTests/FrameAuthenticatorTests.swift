import MetMesh
import MetWire
import Testing

/// The MACs of an authenticated connection, without sockets (RELIABILITY S3): what one side
/// seals, the other's decoder opens; an altered, replayed, reordered, reflected or truncated
/// frame, or one sealed with the wrong direction's key, is refused, and nothing of it is taken.
@Suite struct FrameAuthenticatorTests {
    static let secret = try! ClusterSecret(Array("a-cluster-secret-of-32-bytes!!!!".utf8))

    /// Two ends of one connection, keyed by a real handshake.
    static func pair() throws -> (FrameAuthenticator, FrameAuthenticator) {
        let (ki, kr) = try keys()
        return (FrameAuthenticator(keys: ki), FrameAuthenticator(keys: kr))
    }

    static func keys() throws -> (FrameKeys, FrameKeys) {
        var i = Handshake(role: .initiator, cluster: "met", node: "a", incarnation: 1, secret: secret)
        var r = Handshake(role: .responder, cluster: "met", node: "b", incarnation: 2, secret: secret)
        let helloI = i.start()[0].frame!
        let helloR = r.start()[0].frame!
        let proofI = i.receive(helloR)[0].frame!
        let proofR = r.receive(helloI)[0].frame!
        let ki = try #require(i.receive(proofR).first?.keys)
        let kr = try #require(r.receive(proofI).first?.keys)
        return (ki, kr)
    }

    static let frames = [
        Frame(type: .heartbeat, payload: [1, 2, 3]),
        Frame(type: .batch, payload: Array(0..<200).map { UInt8($0) }),
        Frame(type: .leaving, payload: []),
        Frame(type: .members, payload: [9, 9]),
    ]

    /// Feeds `bytes` to a receiving decoder in one read and in 1-byte reads; both must agree.
    static func receive(_ bytes: [UInt8], with opener: FrameAuthenticator) -> (frames: [Frame], error: FrameError?) {
        var results: [(frames: [Frame], error: FrameError?)] = []
        for step in [bytes.count, 1] {
            var auth: FrameAuthenticator? = opener
            var decoder = FrameDecoder(limit: WireProtocol.maxFrameBytes)
            var out: [Frame] = []
            var failure: FrameError?
            var at = 0
            reading: while at < bytes.count {
                decoder.append(bytes[at..<min(bytes.count, at + max(1, step))])
                at += max(1, step)
                do {
                    while let f = try decoder.nextFrame(authenticatedBy: &auth) { out.append(f) }
                } catch {
                    failure = error
                    break reading
                }
            }
            results.append((out, failure))
        }
        #expect(results[0].frames == results[1].frames && results[0].error == results[1].error, "chunking changes nothing")
        return results[0]
    }

    @Test func aCorrectStreamIsAcceptedBothWays() throws {
        var (a, b) = try Self.pair()
        let aToB = Self.frames.flatMap { a.sealed($0) }
        #expect(Self.receive(aToB, with: b).frames == Self.frames)
        #expect(Self.receive(aToB, with: b).error == nil)
        let bToA = Self.frames.reversed().flatMap { b.sealed($0) }
        #expect(Self.receive(bToA, with: a).frames == Self.frames.reversed())
        // Each frame is 16 bytes longer than its unauthenticated encoding.
        #expect(aToB.count == Self.frames.map { $0.encoded().count + 16 }.reduce(0, +))
    }

    @Test func everyAlteredByteIsRefused() throws {
        var (a, b) = try Self.pair()
        let one = a.sealed(Self.frames[1])
        // Any byte after the length: version, type, payload or the tag itself.
        for i in 4..<one.count {
            var bad = one
            bad[i] ^= 0x20
            let r = Self.receive(bad, with: b)
            #expect(r.frames.isEmpty, "byte \(i)")
            if i == 4 {
                #expect(r.error == .unknownVersion(WireProtocol.version ^ 0x20))
            } else if i == 5 {
                // A type changed into an unknown one is checked before it would be skipped.
                #expect(r.error == .refused(.altered))
            } else {
                #expect(r.error == .refused(.altered), "byte \(i)")
            }
        }
    }

    @Test func aReplayedFrameIsRefused() throws {
        var (a, b) = try Self.pair()
        let first = a.sealed(Self.frames[0])
        let second = a.sealed(Self.frames[1])
        let r = Self.receive(first + second + first, with: b)
        #expect(r.frames == [Self.frames[0], Self.frames[1]])
        #expect(r.error == .refused(.replayed))
        // The same frame twice in a row, too.
        var (c, d) = try Self.pair()
        let once = c.sealed(Self.frames[2])
        #expect(Self.receive(once + once, with: d).error == .refused(.replayed))
    }

    @Test func reorderedOrDroppedFramesAreRefused() throws {
        var (a, b) = try Self.pair()
        let sealed = Self.frames.map { a.sealed($0) }
        let swapped = Self.receive(sealed[0] + sealed[2] + sealed[1], with: b)
        #expect(swapped.frames == [Self.frames[0]])
        #expect(swapped.error == .refused(.reordered))
        #expect(Self.receive(sealed[1], with: b).error == .refused(.reordered), "the first frame dropped")
    }

    @Test func aFrameSentBackToItsSenderIsRefused() throws {
        var (a, b) = try Self.pair()
        let fromA = a.sealed(Self.frames[0])
        _ = Self.receive(fromA, with: b)
        // A man in the middle reflects A's own frame back to A.
        let r = Self.receive(fromA, with: a)
        #expect(r.frames.isEmpty)
        #expect(r.error == .refused(.reflected))
    }

    @Test func aTruncatedTagIsNeverAccepted() throws {
        var (a, b) = try Self.pair()
        let one = a.sealed(Self.frames[0])
        // Alone: the decoder waits for the rest of the tag and accepts nothing.
        let waiting = Self.receive(Array(one.dropLast(4)), with: b)
        #expect(waiting.frames.isEmpty && waiting.error == nil)
        // Followed by the next frame: its first bytes are taken as the tag, which fails.
        let next = a.sealed(Self.frames[1])
        let r = Self.receive(Array(one.dropLast(4)) + next, with: b)
        #expect(r.frames.isEmpty)
        #expect(r.error == .refused(.altered))
        // Without any tag (an unauthenticated frame after the handshake).
        #expect(Self.receive(Self.frames[0].encoded() + Self.frames[1].encoded() + Self.frames[2].encoded(), with: b).frames.isEmpty)
    }

    @Test func theWrongKeyIsRefused() throws {
        // Another connection's keys: a frame recorded on one connection, played into another.
        var (a, _) = try Self.pair()
        let (_, otherB) = try Self.pair()
        #expect(Self.receive(a.sealed(Self.frames[0]), with: otherB).error == .refused(.altered))
        // This connection's key of the other direction: B's own sending key, as a reflection.
        let (ka, kb) = try Self.keys()
        var wrongWay = FrameAuthenticator(keys: FrameKeys(send: ka.receive, receive: ka.send))
        let r = Self.receive(wrongWay.sealed(Self.frames[0]), with: FrameAuthenticator(keys: kb))
        #expect(r.frames.isEmpty)
        #expect(r.error == .refused(.reflected))
        // And the right key, for contrast.
        var right = FrameAuthenticator(keys: ka)
        #expect(Self.receive(right.sealed(Self.frames[0]), with: FrameAuthenticator(keys: kb)).frames == [Self.frames[0]])
    }

    @Test func anUnknownTypeCountsInTheSequenceAndIsSkipped() throws {
        var (a, b) = try Self.pair()
        var unknown = Frame(type: .heartbeat, payload: [7]).encoded()
        unknown[5] = 200  // a newer version's type
        let sealedUnknown = a.seal(unknown) { unknown + Array($0) }
        let after = a.sealed(Self.frames[0])
        var auth: FrameAuthenticator? = b
        var decoder = FrameDecoder(limit: WireProtocol.maxFrameBytes)
        decoder.skipsUnknownTypes = true
        decoder.append(sealedUnknown + after)
        #expect(try decoder.nextFrame(authenticatedBy: &auth) == Self.frames[0])
        #expect(decoder.takeSkipped() == [200])
        #expect(auth?.received == 2)
    }
}
