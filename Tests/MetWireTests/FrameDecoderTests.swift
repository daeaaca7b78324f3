import MetWire
import Testing

/// The frame decoder fed all at once, byte by byte, one frame per buffer and at random cuts,
/// and its limits (RELIABILITY B3, S6).
@Suite struct FrameDecoderTests {
    let frames: [Frame] = [
        Frame(type: .hello, payload: Array("hello".utf8)),
        Frame(type: .heartbeat, payload: []),
        Frame(type: .batch, payload: (0..<300).map { UInt8($0 & 0xff) }),
        Frame(type: .snapshotEnd, payload: [7]),
    ]

    var stream: [UInt8] { frames.flatMap { $0.encoded() } }

    func decodeAll(chunks: [[UInt8]]) throws -> [Frame] {
        var decoder = FrameDecoder(limit: WireProtocol.maxFrameBytes)
        var out: [Frame] = []
        for c in chunks { out += try decoder.feed(c) }
        #expect(decoder.pendingBytes == 0)
        return out
    }

    @Test func allAtOnceByteByByteAndOneFramePerBuffer() throws {
        #expect(try decodeAll(chunks: [stream]) == frames)
        #expect(try decodeAll(chunks: stream.map { [$0] }) == frames)
        #expect(try decodeAll(chunks: frames.map { $0.encoded() }) == frames)
        var rng = WireRandom(seed: 3)
        for _ in 0..<50 {
            var chunks: [[UInt8]] = []
            var rest = stream[...]
            while !rest.isEmpty {
                let n = min(rest.count, Int(rng.next() % 40) + 1)
                chunks.append(Array(rest.prefix(n)))
                rest = rest.dropFirst(n)
            }
            #expect(try decodeAll(chunks: chunks) == frames)
        }
    }

    @Test func anOversizedLengthIsRefusedFromItsFourBytesAlone() {
        var decoder = FrameDecoder()
        #expect(throws: FrameError.oversized(length: 0xFFFF_FFFF, limit: WireProtocol.maxPreAuthFrameBytes)) {
            try decoder.feed([0xff, 0xff, 0xff, 0xff])
        }
        // Once failed, it stays failed.
        #expect(throws: FrameError.self) { try decoder.feed(Frame(type: .hello, payload: []).encoded()) }
    }

    @Test func preAuthLimitThenRaised() throws {
        let big = Frame(type: .batch, payload: [UInt8](repeating: 1, count: 2000)).encoded()
        var before = FrameDecoder()
        #expect(throws: FrameError.self) { try before.feed(big) }
        var after = FrameDecoder()
        after.limit = WireProtocol.maxFrameBytes
        #expect(try after.feed(big).count == 1)
    }

    /// The frame that completes a handshake and the peer's first large frame can arrive in one
    /// read: decoded one at a time, the second falls under the limit raised in between.
    @Test func aLimitRaisedBetweenTwoFramesOfOneReadAppliesToTheSecond() throws {
        let proof = Frame(type: .proof, payload: [UInt8](repeating: 2, count: 32)).encoded()
        let big = Frame(type: .handoffChunk, payload: [UInt8](repeating: 1, count: 24_000)).encoded()
        var d = FrameDecoder()
        d.append(proof + big)
        #expect(try d.nextFrame()?.type == .proof)
        d.limit = WireProtocol.maxFrameBytes
        #expect(try d.nextFrame()?.payload.count == 24_000)
        #expect(try d.nextFrame() == nil)
        // All at once under the pre-authentication limit, the large one is refused.
        var whole = FrameDecoder()
        #expect(throws: FrameError.self) { try whole.feed(proof + big) }
    }

    @Test func unknownVersionTypeAndEmptyFramesAreRefused() {
        var v = FrameDecoder()
        #expect(throws: FrameError.unknownVersion(9)) { try v.feed([0, 0, 0, 2, 9, 1]) }
        var t = FrameDecoder()
        #expect(throws: FrameError.unknownType(200)) { try t.feed([0, 0, 0, 2, WireProtocol.version, 200]) }
        var e = FrameDecoder()
        #expect(throws: FrameError.empty) { try e.feed([0, 0, 0, 1, WireProtocol.version]) }
    }

    /// After the handshake a newer version's frame type is skipped, not fatal (RELIABILITY H12),
    /// and the frames around it still come out; its type is reported once.
    @Test func afterTheHandshakeUnknownTypesAreSkipped() throws {
        var d = FrameDecoder(limit: WireProtocol.maxFrameBytes)
        d.skipsUnknownTypes = true
        let known = Frame(type: .heartbeat, payload: [1]).encoded()
        let stream = known + [0, 0, 0, 4, WireProtocol.version, 200, 7, 7] + known
        #expect(try d.feed(stream).map(\.type) == [.heartbeat, .heartbeat])
        #expect(d.takeSkipped() == [200])
        #expect(d.takeSkipped().isEmpty)
        // Still checked: version and length.
        #expect(throws: FrameError.unknownVersion(9)) { try d.feed([0, 0, 0, 2, 9, 1]) }
    }

    /// Seeded mutations of valid streams (CI tier of RELIABILITY S8): every input either decodes
    /// or throws FrameError; nothing crashes, and buffered bytes never exceed the limit + header.
    @Test func seededMutationFuzz() {
        var rng = WireRandom(seed: 42)
        let base = stream
        var decoded = 0
        var refused = 0
        for _ in 0..<20_000 {
            var bytes = base
            switch rng.next() % 4 {
            case 0:
                for _ in 0..<Int(rng.next() % 4 + 1) { bytes[Int(rng.next() % UInt64(bytes.count))] ^= UInt8(truncatingIfNeeded: rng.next() | 1) }
            case 1:
                bytes = Array(bytes.prefix(Int(rng.next() % UInt64(bytes.count))))
            case 2:
                bytes = (0..<Int(rng.next() % 64)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            default:
                let i = Int(rng.next() % UInt64(bytes.count))
                bytes.insert(contentsOf: (0..<Int(rng.next() % 8)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }, at: i)
            }
            var decoder = FrameDecoder(limit: 512)
            do {
                var cut = bytes[...]
                while !cut.isEmpty {
                    let n = min(cut.count, Int(rng.next() % 32) + 1)
                    _ = try decoder.feed(cut.prefix(n))
                    cut = cut.dropFirst(n)
                    #expect(decoder.pendingBytes <= 512 + 4 + 32)
                }
                decoded += 1
            } catch {
                refused += 1
            }
        }
        #expect(decoded > 100 && refused > 100)
    }
}
