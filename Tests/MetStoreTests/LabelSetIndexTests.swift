@testable import MetStore
import Testing

/// The catalog's label-set index: every set found again by its strings, none invented, whatever
/// the digests (including colliding ones), across the index's growth.
@Suite struct LabelSetIndexTests {
    @Test func setsWithCollidingDigestsAreToldApartByTheirContent() {
        var index = LabelSetIndex()
        let n = 5_000
        for id in 0..<n { index.insert(UInt32(id), digest: id % 7) }  // seven digests for all of them
        #expect(index.count == n)
        for id in stride(from: 0, to: n, by: 37) {
            #expect(index.find(digest: id % 7) { $0 == UInt32(id) } == UInt32(id))
        }
        #expect(index.find(digest: 3) { _ in false } == nil)
        #expect(index.find(digest: 99) { _ in true } == nil, "no set has that digest")
    }

    @Test func reservingFirstChangesNothingFound() {
        var index = LabelSetIndex()
        index.reserve(1_000)
        for id in 0..<3_000 { index.insert(UInt32(id), digest: id &* 0x9E37_79B9) }
        for id in [0, 1, 999, 1_000, 2_999] { #expect(index.find(digest: id &* 0x9E37_79B9) { $0 == UInt32(id) } == UInt32(id)) }
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
