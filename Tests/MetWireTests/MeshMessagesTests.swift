import MetTestSupport
import MetValues
import MetWire
import Testing

/// Every message of the mesh other than batches, keyframes and handoff headers: round trips, and
/// corrupt input refused with an error, never a crash (RELIABILITY S8).
@Suite struct MeshMessagesTests {
    let a = PeerIdentity(node: "node-a", incarnation: 1_764_000_000_123)
    let b = PeerIdentity(node: "b", incarnation: 7)

    @Test func everyMessageRoundTrips() throws {
        let hello = Hello(cluster: "met", node: "a", incarnation: 9, nonce: Array(repeating: 7, count: 32))
        #expect(try Hello.decode(hello.encoded()) == hello)
        let members = [MemberRecord(name: "a", incarnation: 1, address: "127.0.0.1:7001"), MemberRecord(name: "b", incarnation: 2, address: "")]
        #expect(try MemberListCodec.decode(MemberListCodec.encode(members)) == members)
        #expect(try HeartbeatCodec.decode(HeartbeatCodec.encode(wallClockMilliseconds: 1_800_000_000_123)) == 1_800_000_000_123)
        let resend = ResendRequest(range: 4...9, incarnation: 12)
        #expect(try ResendRequest.decode(resend.encoded()) == resend)
        let marks = [a: 40, b: 3] as [PeerIdentity: UInt64]
        #expect(try WatermarksCodec.decode(WatermarksCodec.encode(marks)) == marks)
        let end = SnapshotEnd(kind: .origin, watermarks: WatermarksCodec.encode(marks))
        #expect(try SnapshotEnd.decode(end.encoded()) == end)
        #expect(try Evidence.decodeProbe(Evidence.encodeProbe(a)) == a)
        for ago in [nil, 0, 1234] as [UInt64?] {
            let e = Evidence(member: b, heardAgoMilliseconds: ago)
            #expect(try Evidence.decode(e.encoded()) == e)
        }
        let holdings = Holdings(ready: true, watermarks: marks)
        #expect(try Holdings.decode(holdings.encoded()) == holdings)
        let inner = Frame(type: .batch, payload: [1, 2, 3])
        #expect(try RelayCodec.decode(RelayCodec.encode(inner)) == inner)
    }

    @Test func corruptInputIsAnErrorNeverACrash() {
        #expect(throws: DecodeError.self) { try ResendRequest.decode(ResendRequest(range: 4...9, incarnation: 1).encoded().dropLast().map { $0 }) }
        #expect(throws: DecodeError.self) { try Evidence.decode(Evidence.encodeProbe(a) + [2]) }
        #expect(throws: DecodeError.self) { try Holdings.decode([2]) }
        #expect(throws: DecodeError.self) { try SnapshotEnd.decode([9]) }
        #expect(throws: DecodeError.self) { try RelayCodec.decode([FrameType.probe.rawValue, 1]) }
        #expect(throws: DecodeError.self) { try HeartbeatCodec.decode([0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01]) }
        // Seeded mutations of valid messages: every decoder returns or throws.
        var rng = SplitMix64(seed: 0x3E55)
        let samples: [[UInt8]] = [
            MemberListCodec.encode([MemberRecord(name: "a", incarnation: 1, address: "x:1")]),
            Holdings(ready: false, watermarks: [a: 1]).encoded(), Evidence(member: a, heardAgoMilliseconds: 5).encoded(),
            ResendRequest(range: 1...2, incarnation: 3).encoded(), RelayCodec.encode(Frame(type: .keyframe, payload: [9])),
        ]
        for _ in 0..<20_000 {
            var bytes = samples[rng.below(samples.count)]
            for _ in 0...rng.below(3) where !bytes.isEmpty { bytes[rng.below(bytes.count)] = UInt8(truncatingIfNeeded: rng.next()) }
            if rng.below(4) == 0 { bytes = Array(bytes.prefix(rng.below(bytes.count + 1))) }
            _ = try? MemberListCodec.decode(bytes)
            _ = try? Holdings.decode(bytes)
            _ = try? Evidence.decode(bytes)
            _ = try? Evidence.decodeProbe(bytes)
            _ = try? ResendRequest.decode(bytes)
            _ = try? RelayCodec.decode(bytes)
            _ = try? WatermarksCodec.decode(bytes)
            _ = try? Hello.decode(bytes)
        }
    }
}
