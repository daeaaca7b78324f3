import MetStore
import MetValues
import MetWire
import Testing

@Suite struct KeyframeCodecTests {
    static let sample = Keyframe(
        term: 7, number: 42, leader: Origin(node: "leader-1", incarnation: 1_795_936_392_945_954), timestamp: 1_800_000_000,
        counts: [.init(group: JobGroup(state: "completed", queue: "default"), count: 4_000_000, estimated: true),
                 .init(group: JobGroup(state: "available", queue: "mailers"), count: 17, estimated: false),
                 .init(group: JobGroup(state: "executing", queue: "ünïcode"), count: 0, estimated: false)],
        watermarks: [Origin(node: "a", incarnation: 1): 99, Origin(node: "b", incarnation: 5): 1])

    @Test func roundTrip() throws {
        #expect(try KeyframeCodec.decode(KeyframeCodec.encode(Self.sample)) == Self.sample)
        let empty = Keyframe(term: 1, number: 1, leader: Origin(node: "n", incarnation: 1), timestamp: 0, counts: [], watermarks: [:])
        #expect(try KeyframeCodec.decode(KeyframeCodec.encode(empty)) == empty)
    }

    @Test func corruptKeyframesThrowAndNeverCrash() {
        let valid = KeyframeCodec.encode(Self.sample)
        let refused = corruptions(of: valid, seed: 23).filter { (try? KeyframeCodec.decode($0)) == nil }.count
        #expect(refused > 1_000)
        // A count that claims more entries than bytes left is refused before allocating.
        #expect(throws: DecodeError.self) { try KeyframeCodec.decode([2, 1, 1, 0x61, 1, 0, 0xff, 0xff, 0xff, 0xff, 0x0f]) }
        #expect(throws: DecodeError.self) { try KeyframeCodec.decode(KeyframeCodec.encode(Self.sample) + [0]) }
    }
}
