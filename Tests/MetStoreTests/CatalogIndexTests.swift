@testable import MetStore
import Testing

/// The catalog's indexes (`IDHashTable`): every label set and timeline found again by its
/// content, none invented, whatever the hashes (colliding ones included), across growth.
@Suite struct CatalogIndexTests {
    @Test func idsWithCollidingHashesAreToldApartByTheirKeys() {
        var table = IDHashTable()
        let n = 5_000
        let hash = { (id: UInt32) in Int(id) % 7 }  // seven hashes for all of them
        for id in 0..<UInt32(n) { table.insert(id, hash: hash(id), hashOf: hash) }
        #expect(table.count == n)
        for id in stride(from: UInt32(0), to: UInt32(n), by: 37) {
            #expect(table.find(hash: hash(id)) { $0 == id } == id)
        }
        #expect(table.find(hash: 3) { _ in false } == nil)
    }

    @Test func reservingFirstChangesNothingFound() {
        var table = IDHashTable()
        let hash = { (id: UInt32) in Int(id) &* 0x9E37_79B9 }
        table.reserve(1_000, hashOf: hash)
        for id in 0..<UInt32(3_000) { table.insert(id, hash: hash(id), hashOf: hash) }
        table.reserve(10_000, hashOf: hash)
        for id: UInt32 in [0, 1, 999, 1_000, 2_999] { #expect(table.find(hash: hash(id)) { $0 == id } == id) }
        #expect(table.find(hash: hash(3_000)) { $0 == 3_000 } == nil)
    }

    @Test func timelinesOfTheSameLabelSetInOtherSeriesAndOriginsAreDistinct() {
        var catalog = Catalog()
        for s in 0..<4 { _ = catalog.seriesID("s\(s)", kind: .count) }
        var ids: [Catalog.TimelineKey: UInt32] = [:]
        for labels in 0..<UInt32(2_000) {
            for series in [UInt16(0), 1, 2] {
                for origin in [UInt32(0), 1, 70_000] {
                    let key = Catalog.TimelineKey(series: series, labels: labels, origin: origin)
                    let (id, created) = catalog.timelineID(key)!
                    #expect(created)
                    ids[key] = id
                }
            }
        }
        #expect(Set(ids.values).count == ids.count)
        for (key, id) in ids.shuffled().prefix(500) {
            #expect(catalog.existingTimelineID(key) == id)
            #expect(catalog.timelineID(key)! == (id, false))
            #expect(catalog.keys[Int(id)] == key)
        }
        #expect(catalog.existingTimelineID(.init(series: 3, labels: 0, origin: 0)) == nil)
    }

    @Test func aTimelinePastTheLimitIsRefusedAndLeavesNothingBehind() {
        var catalog = Catalog()
        _ = catalog.seriesID("s", kind: .count)
        let first = Catalog.TimelineKey(series: 0, labels: 1, origin: 0)
        let second = Catalog.TimelineKey(series: 0, labels: 2, origin: 0)
        #expect(catalog.timelineID(first, limit: 1)?.created == true)
        #expect(catalog.timelineID(second, limit: 1) == nil)
        #expect(catalog.existingTimelineID(second) == nil)
        #expect(catalog.timelineID(second, limit: 2)?.created == true)
    }

    @Test func theCatalogFindsAndRebuildsEveryLabelSetFromItsStrings() {
        var catalog = Catalog()
        let sets = (0..<20_000).map { i in
            LabelSet(["node": "n\(i % 3)", "queue": "tenant-\(i)", "worker": "W\(i % 11)", "state": i % 2 == 0 ? "completed" : "discarded"])
        }
        let ids = sets.map { catalog.labelSetID($0) }
        #expect(Set(ids).count == sets.count)
        #expect(sets.map { catalog.labelSetID($0) } == ids, "a second lookup finds the same ids")
        for i in stride(from: 0, to: sets.count, by: 101) {
            #expect(catalog.labelSet(ids[i]) == sets[i])
            #expect(catalog.existingLabelSetID(sets[i]) == ids[i])
        }
        #expect(catalog.existingLabelSetID(LabelSet(["queue": "tenant-1"])) == nil)
        #expect(catalog.existingLabelSetID(LabelSet(["node": "n1", "queue": "tenant-1", "worker": "W1", "state": "completed"])) == nil,
                "same strings, another combination")
    }
}
