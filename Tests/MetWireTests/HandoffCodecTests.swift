import MetTestSupport
import MetValues
import MetWire
import Testing

@Suite struct HandoffCodecTests {
    @Test func headersAndAcknowledgementsRoundTrip() throws {
        let header = HandoffCodec.Header(transfer: .max, index: 3, count: 9)
        let body: [UInt8] = [1, 2, 3, 0, 255]
        let (h, b) = try HandoffCodec.decode(HandoffCodec.encode(header, body: body))
        #expect(h == header && b == body)
        let end = HandoffCodec.Header(transfer: 7, index: 9, count: 9)
        #expect(try HandoffCodec.decode(HandoffCodec.encode(end, body: [])).header == end)
        let ack = try HandoffCodec.decodeAck(HandoffCodec.encodeAck(transfer: 42, index: 1 << 20))
        #expect(ack.transfer == 42 && ack.index == 1 << 20)
    }

    @Test func corruptInputIsAnErrorNeverACrash() {
        var w = ByteWriter()
        w.writeVarint(1)
        w.writeVarint(10)  // index past the count
        w.writeVarint(9)
        #expect(throws: DecodeError.self) { try HandoffCodec.decode(w.bytes) }
        #expect(throws: DecodeError.self) { try HandoffCodec.decode([]) }
        #expect(throws: DecodeError.self) { try HandoffCodec.decode([0xFF, 0xFF]) }
        #expect(throws: DecodeError.self) { try HandoffCodec.decodeAck([1]) }
        #expect(throws: DecodeError.self) { try HandoffCodec.decodeAck([1, 2, 3]) }  // trailing bytes
        var rng = SplitMix64(seed: 11)
        for _ in 0..<2000 {
            let bytes = (0..<Int(rng.next() % 24)).map { _ in UInt8(truncatingIfNeeded: rng.next()) }
            _ = try? HandoffCodec.decode(bytes)
            _ = try? HandoffCodec.decodeAck(bytes)
        }
    }
}
