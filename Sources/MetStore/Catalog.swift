/// Interned names: series, label keys and values, label sets and origins, each mapped to a
/// small integer once so that timelines refer to them by number.
struct Catalog: Sendable {
    struct SeriesInfo: Sendable {
        let name: String
        let kind: SeriesKind
        var timelines: [UInt32] = []
    }

    struct TimelineKey: Hashable, Sendable {
        var series: UInt16
        var labels: UInt32
        var origin: UInt32

        /// All three in one word (an origin id past 2^16 only shares bits: it is a hash).
        @inline(__always) var packed: Int {
            Int(truncatingIfNeeded: UInt64(labels) | UInt64(series) << 32 | UInt64(origin) << 48 ^ UInt64(origin) >> 16)
        }
    }

    // The lookups below are always inlined: called through a class's stored `catalog`, an
    // outlined call copies the whole catalog (a retain and a release of each of its tables).

    private(set) var series: [SeriesInfo] = []
    private var seriesIDs: [String: UInt16] = [:]

    private(set) var strings: [String] = []
    private var stringIDs: [String: UInt32] = [:]

    /// Every label set's (key id, value id) pairs, in key order, back to back: set `i` is
    /// `labelSetPairs[labelSetEnds[i - 1]..<labelSetEnds[i]]` (one allocation for all of them).
    private var labelSetPairs: [(key: UInt32, value: UInt32)] = []
    private var labelSetEnds: [UInt32] = []
    /// The index of the label sets, by their strings: no `LabelSet` is kept (each would hold
    /// its own array of strings besides the pairs above), only its digest and a slot.
    private var labelSetDigests: [Int] = []
    private var labelSetIndex = IDHashTable()

    private(set) var origins: [Origin] = []
    private var originIDs: [Origin: UInt32] = [:]

    private(set) var keys: [TimelineKey] = []
    private var timelineIndex = IDHashTable()
    /// Timelines per (origin, series): the label sets each origin has in each series.
    private var labelSetCounts: [UInt64: Int] = [:]

    static let maxSeries = Int(UInt16.max)

    mutating func seriesID(_ name: String, kind: SeriesKind) -> UInt16? {
        if let id = seriesIDs[name] { return series[Int(id)].kind == kind ? id : nil }
        guard series.count < Self.maxSeries else { return nil }
        let id = UInt16(series.count)
        series.append(SeriesInfo(name: name, kind: kind))
        seriesIDs[name] = id
        return id
    }

    @inline(__always) func seriesID(_ name: String) -> UInt16? { seriesIDs[name] }

    mutating func stringID(_ s: String) -> UInt32 {
        if let id = stringIDs[s] { return id }
        let id = UInt32(strings.count)
        strings.append(s)
        stringIDs[s] = id
        return id
    }

    @inline(__always) func existingStringID(_ s: String) -> UInt32? { stringIDs[s] }

    mutating func labelSetID(_ labels: LabelSet) -> UInt32 {
        if let id = lookUpLabelSet(labels) { return id }
        return insertLabelSet(labels)
    }

    /// Label set `id`, made from its strings.
    func labelSet(_ id: UInt32) -> LabelSet {
        LabelSet(sortedPairs: pairs(ofLabelSet: id).map { (key: strings[Int($0.key)], value: strings[Int($0.value)]) })
    }

    /// Whether label set `id` is `labels`: the same strings, pair by pair (both in key order).
    @inline(__always) func labelSet(_ id: UInt32, is labels: LabelSet) -> Bool {
        let mine = pairs(ofLabelSet: id)
        guard mine.count == labels.pairs.count else { return false }
        return zip(mine, labels.pairs).allSatisfy { strings[Int($0.key)] == $1.key && strings[Int($0.value)] == $1.value }
    }

    /// Label set `id`'s (key id, value id) pairs, in key order.
    @inline(__always) func pairs(ofLabelSet id: UInt32) -> ArraySlice<(key: UInt32, value: UInt32)> {
        labelSetPairs[Int(id == 0 ? 0 : labelSetEnds[Int(id) - 1])..<Int(labelSetEnds[Int(id)])]
    }

    @inline(__always) func existingLabelSetID(_ labels: LabelSet) -> UInt32? {
        labelSetIndex.find(hash: labels.digest) { labelSetDigests[Int($0)] == labels.digest && labelSet($0, is: labels) }
    }

    /// ``existingLabelSetID(_:)`` through a mutable access, which borrows a catalog stored in a
    /// class where the plain lookup copies all of it first (as measured: the merge of a snapshot
    /// of new label sets spent 8 % of its time copying the catalog). Changes nothing.
    mutating func lookUpLabelSet(_ labels: LabelSet) -> UInt32? {
        labelSetIndex.find(hash: labels.digest) { labelSetDigests[Int($0)] == labels.digest && labelSet($0, is: labels) }
    }

    /// Adds a label set the caller found missing (``existingLabelSetID(_:)`` returned nil).
    /// `pairs`: its (key, value) string ids in key order, when the caller has them.
    mutating func insertLabelSet(_ labels: LabelSet, pairs: [(key: UInt32, value: UInt32)]? = nil) -> UInt32 {
        let id = UInt32(labelSetEnds.count)
        if let pairs {
            labelSetPairs.append(contentsOf: pairs)
        } else {
            for p in labels.pairs { labelSetPairs.append((stringID(p.key), stringID(p.value))) }
        }
        labelSetEnds.append(UInt32(labelSetPairs.count))
        labelSetDigests.append(labels.digest)
        labelSetIndex.insert(id, hash: labels.digest) { [labelSetDigests] in labelSetDigests[Int($0)] }
        assert(labelSet(id, is: labels), "a label set's pairs are stored in its key order")
        return id
    }

    mutating func originID(_ origin: Origin) -> UInt32 {
        if let id = originIDs[origin] { return id }
        let id = UInt32(origins.count)
        origins.append(origin)
        originIDs[origin] = id
        return id
    }

    @inline(__always) func existingOriginID(_ origin: Origin) -> UInt32? { originIDs[origin] }

    /// The timeline for a key, and whether it was just created. A new timeline is refused
    /// (nil) when its origin already has `limit` label sets in the series.
    /// Looks the key up and inserts it in one hash lookup each (a snapshot of new label sets
    /// creates a timeline per lookup): a refused key is taken out again.
    mutating func timelineID(_ key: TimelineKey, limit: Int = .max) -> (UInt32, created: Bool)? {
        if let id = existingTimelineID(key) { return (id, false) }
        var admitted = false
        Self.admit(&labelSetCounts[Self.countKey(origin: key.origin, series: key.series), default: 0], limit: limit, &admitted)
        guard admitted else { return nil }
        let id = UInt32(keys.count)
        keys.append(key)
        timelineIndex.insert(id, hash: key.packed) { [keys] in keys[Int($0)].packed }
        series[Int(key.series)].timelines.append(id)
        return (id, true)
    }

    private static func admit(_ count: inout Int, limit: Int, _ admitted: inout Bool) {
        guard count < limit else { return }
        count += 1
        admitted = true
    }

    @inline(__always) func existingTimelineID(_ key: TimelineKey) -> UInt32? {
        timelineIndex.find(hash: key.packed) { keys[Int($0)] == key }
    }

    /// Room for `timelines` more timelines and `labelSets` more label sets, growing at least
    /// twofold (a snapshot's chunks reserve one after another without rehashing each time).
    mutating func reserve(timelines newTimelines: Int, labelSets newSets: Int) {
        func grow<T>(_ a: inout [T], by n: Int) {
            if a.count + n > a.capacity { a.reserveCapacity(Swift.max(a.count + n, 2 * a.capacity)) }
        }
        func grow<K, V>(_ d: inout [K: V], by n: Int) {
            if d.count + n > d.capacity { d.reserveCapacity(Swift.max(d.count + n, 2 * d.capacity)) }
        }
        grow(&keys, by: newTimelines)
        timelineIndex.reserve(newTimelines) { [keys] in keys[Int($0)].packed }
        grow(&labelSetEnds, by: newSets)
        grow(&labelSetDigests, by: newSets)
        labelSetIndex.reserve(newSets) { [labelSetDigests] in labelSetDigests[Int($0)] }
    }

    /// The label sets `origin` has in `series`.
    @inline(__always) func labelSetCount(origin: UInt32, series: UInt16) -> Int { labelSetCounts[Self.countKey(origin: origin, series: series)] ?? 0 }

    static func countKey(origin: UInt32, series: UInt16) -> UInt64 { UInt64(origin) << 16 | UInt64(series) }

    /// The value id of label `key` in label set `set`, if it has that label.
    func labelValue(_ set: UInt32, key: UInt32) -> UInt32? {
        for p in pairs(ofLabelSet: set) where p.key == key { return p.value }
        return nil
    }
}
