import Foundation
import MetStore
import MetValues
import Testing

/// The query parameters charts need (DESIGN §7): `until` anchors a window's end so columns line
/// up, `fill` gives every group the same columns, and without `by` the resolution follows the range.
@Suite struct ChartWindowTests {
    let now: Int64 = 1_800_000_000

    /// `inserted` counts for q1 at the given seconds (one per second) and q2 at one second.
    func store(q1At seconds: [Int64], q2At q2: Int64) -> SeriesStore {
        let store = SeriesStore()
        var seq: UInt64 = 0
        for ts in (seconds + [q2]).sorted() {
            seq += 1
            var entries: [DeltaBatch.Entry] = []
            if seconds.contains(ts) { entries.append(.init(series: "inserted", labels: labels("q1"), value: .count(2))) }
            if ts == q2 { entries.append(.init(series: "inserted", labels: labels("q2"), value: .count(5))) }
            store.apply(DeltaBatch(origin: nodeA, seq: seq, timestamp: ts, entries: entries), now: now)
        }
        return store
    }

    @Test("until anchors the window's end: the same columns whenever the query is asked")
    func untilAnchorsTheEnd() throws {
        let s = store(q1At: [now - 50, now - 31, now - 5], q2At: now - 29)
        let sel = Selection(series: "inserted", lookback: 30, until: now - 20)
        let rows = try s.timeslice(sel, by: 10, now: now)
        // Window [now-49, now-20] in buckets of 10 from bucketStart(now-49) = now-50 (a bucket is
        // read whole); the point at now-5 is after `until`.
        #expect(rows.map(\.ts) == [now - 50, now - 40, now - 30])
        #expect(rows.compactMap(\.value) == [2, 2, 5])
        let later = try s.timeslice(sel, by: 10, now: now + 17)
        #expect(later == rows, "asked later, the anchored window answers the same")
        #expect(throws: QueryError.self) { try s.timeslice(Selection(series: "inserted", since: now - 10, until: now - 20), by: 10, now: now) }
    }

    @Test("fill=zero gives every group with data every column; fill=null gives them without a value")
    func fillGivesEveryGroupEveryColumn() throws {
        let s = store(q1At: [now - 25, now - 5], q2At: now - 15)
        let sel = Selection(series: "inserted", lookback: 30, until: now - 1, group: "queue")
        let sparse = try s.timeslice(sel, by: 10, now: now)
        #expect(sparse.count == 3)
        let zero = try s.timeslice(sel, by: 10, fill: .zero, now: now)
        #expect(zero.map(\.ts) == [now - 30, now - 30, now - 20, now - 20, now - 10, now - 10])
        #expect(zero.map(\.label) == ["q1", "q2", "q1", "q2", "q1", "q2"])
        #expect(zero.map(\.value) == [0, 0, 2, 0, 0, 5].map { Optional(Double($0)) } || zero.map(\.value) == [2, 0, 0, 5, 2, 0].map { Optional(Double($0)) })
        let null = try s.timeslice(sel, by: 10, fill: .null, now: now)
        #expect(null.map(\.label) == zero.map(\.label))
        #expect(null.filter { $0.value == nil }.count == 3)
        #expect(zip(null, zero).allSatisfy { $0.value == nil || $0.value == $1.value })
        // A group with no point in the range is not invented.
        let onlyQ1 = try s.timeslice(Selection(series: "inserted", lookback: 10, until: now - 1, group: "queue"), by: 10, fill: .zero, now: now)
        #expect(onlyQ1.map(\.label) == ["q1"])
    }

    @Test("fill with group=state lists every job state in every column")
    func fillStates() throws {
        let s = store(q1At: [now - 5], q2At: now - 25)
        let rows = try s.timeslice(Selection(series: "inserted", lookback: 30, until: now - 1, group: "state"), by: 10, fill: .zero, now: now)
        #expect(rows.count == 3 * JobState.allCases.count)
        #expect(rows.compactMap(\.value).reduce(0, +) == 7)
    }

    @Test("a filled null is JSON null, a value is a number")
    func nullEncodesAsNull() throws {
        let encoded = try JSONEncoderForTests.encode([SliceRow(ts: 1, label: "a", value: nil), SliceRow(ts: 2, label: "b", value: 1.5)])
        #expect(encoded == #"[{"label":"a","ts":1,"value":null},{"label":"b","ts":2,"value":1.5}]"#)
    }

    @Test("without by, about 100 columns on a step the tiers keep at the window's start",
          arguments: [(300, 5), (1800, 30), (7200, 120), (9300, 120), (60, 1), (100_000, 1800)])
    func resolutionFollowsTheRange(lookback: Int, expected: Int) throws {
        let s = SeriesStore()
        let start = now - Int64(lookback) + 1
        #expect(s.resolution(start: start, end: now, now: now) == expected)
        let stored = SeriesStore().tiers.targetStep(for: start, now: now) ?? 60
        #expect(expected % stored == 0, "no window splits a stored bucket")
        #expect(lookback / expected <= 120)
    }

    @Test("a timeslice without by uses the range's resolution")
    func timesliceWithoutBy() throws {
        let s = store(q1At: [now - 100, now - 3], q2At: now - 50)
        let rows = try s.timeslice(Selection(series: "inserted", lookback: 300, until: now - 1), by: nil, fill: .zero, now: now)
        #expect(Set(rows.map(\.ts)).count == 60, "300 s at 5 s, the end anchored on a bucket's last second")
        #expect(rows.compactMap(\.value).reduce(0, +) == 9)
    }
}

/// Sorted keys, as the HTTP API writes them.
enum JSONEncoderForTests {
    static func encode<T: Encodable>(_ value: T) throws -> String {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys]
        return String(decoding: try e.encode(value), as: UTF8.self)
    }
}
