import MetValues

/// The replica store: every origin's points of every series, compacted into tiers.
///
/// Points are keyed by `(series, labels, origin, bucket)`. Batches from an origin are applied
/// in sequence order, exactly once (the per-origin watermark refuses duplicates and reports
/// gaps). Whole snapshots from other replicas merge bucket by bucket, keeping whichever copy
/// folded in the newer batch of that origin (see `SeriesStore+Snapshot.swift`), so merging is
/// idempotent and commutative. Not thread-safe: one owner at a time (``Replica`` adds the lock).
package final class SeriesStore {
    package let tiers: CompactionTiers
    /// Series with at least this many timelines keep per-label rollups for fast grouped queries.
    package let rollupThreshold: Int
    /// How far ahead of this node's clock a point may be stamped before it is refused.
    package var maxFutureSkew: Int64 = 3600
    /// Most label sets one origin may have in one series (DESIGN §8, RELIABILITY B7): entries
    /// and snapshot timelines that would add more are refused and counted in
    /// ``refusedLabelSets``. Batches are applied in sequence order, so every replica with the
    /// same limit keeps the same first label sets of an origin.
    package var maxLabelSets = Int.max
    /// Entries (and snapshot timelines) refused per series because of ``maxLabelSets``.
    package private(set) var refusedLabelSets: [String: Int] = [:]

    var catalog = Catalog()
    var timelines = TimelinePages()
    /// Per origin id: the highest batch sequence number applied or merged.
    var watermarkByOrigin: [UInt64] = []
    var rollups: [RollupIndex?] = []
    /// Latest queue check per "node\u{1}queue".
    var checks: [String: QueueCheck] = [:]
    /// Origins with points here (see ``originsWithData``).
    var originIDsWithData: Set<UInt32> = []

    package init(tiers: CompactionTiers = .default, rollupThreshold: Int = 32) {
        self.tiers = tiers
        self.rollupThreshold = rollupThreshold
        for s in StandardSeries.all { _ = register(series: s.name, kind: s.kind) }
    }

    // MARK: Catalog

    /// Declares a series; `false` when the name is taken by another kind.
    @discardableResult
    package func register(series name: String, kind: SeriesKind) -> Bool {
        guard let id = catalog.seriesID(name, kind: kind) else { return false }
        while rollups.count <= Int(id) { rollups.append(nil) }
        return true
    }

    /// Every series with its kind and the label keys it has been seen with.
    package func seriesList() -> [(name: String, kind: SeriesKind, labels: [String])] {
        catalog.series.map { info in
            var keys = Set<String>()
            for t in info.timelines {
                for p in catalog.pairs(ofLabelSet: catalog.keys[Int(t)].labels) { keys.insert(catalog.strings[Int(p.key)]) }
            }
            return (info.name, info.kind, keys.sorted())
        }
    }

    package func kind(of series: String) -> SeriesKind? {
        catalog.seriesID(series).map { catalog.series[Int($0)].kind }
    }

    // MARK: Watermarks

    /// The highest sequence number of `origin` this store holds (0: nothing yet).
    package func watermark(of origin: Origin) -> UInt64 {
        guard let id = catalog.existingOriginID(origin), Int(id) < watermarkByOrigin.count else { return 0 }
        return watermarkByOrigin[Int(id)]
    }

    package var watermarks: [Origin: UInt64] {
        var result: [Origin: UInt64] = [:]
        for (i, o) in catalog.origins.enumerated() where i < watermarkByOrigin.count { result[o] = watermarkByOrigin[i] }
        return result
    }

    func originID(_ origin: Origin) -> UInt32 {
        let id = catalog.originID(origin)
        while watermarkByOrigin.count <= Int(id) { watermarkByOrigin.append(0) }
        return id
    }

    // MARK: Applying batches

    /// Applies one origin's batch. With `enforcingSequence` (the default) a batch is applied
    /// only if it is the next one of its origin; otherwise it is refused as a duplicate or a gap.
    /// Without `raisingWatermark` the origin's watermark stays where it is: a part of a large
    /// batch, applied in slices, raises it only with its last part (``Collector/receive(_:now:)``).
    @discardableResult
    package func apply(_ batch: DeltaBatch, now: Int64, enforcingSequence: Bool = true, raisingWatermark: Bool = true) -> ApplyOutcome {
        let origin = originID(batch.origin)
        let mark = watermarkByOrigin[Int(origin)]
        if enforcingSequence {
            if batch.seq <= mark { return .duplicate }
            if batch.seq != mark + 1 { return .gap(expected: mark + 1) }
        }
        var rejected = 0
        let ts = bucketStart(batch.timestamp, step: tiers.finestStep)
        let inRange = ts >= 0 && ts <= Int64(UInt32.max) - 65536
            && ts <= now + maxFutureSkew && tiers.targetStep(for: ts, now: now) != nil
        // Entries for the same series and labels are folded together first: the batch is then
        // applied to each point once, which the skip rule below relies on.
        var order: [(id: UInt32, created: Bool, value: PointValue)] = []
        var slots: [UInt32: Int] = [:]  // timeline → its place in `order`
        order.reserveCapacity(batch.entries.count)
        slots.reserveCapacity(batch.entries.count)
        for entry in batch.entries {
            guard inRange, let series = catalog.seriesID(entry.series, kind: entry.value.kind) else {
                rejected += 1
                continue
            }
            while rollups.count <= Int(series) { rollups.append(nil) }
            guard let (id, created) = timelineID(series: series, labels: entry.labels, origin: origin) else {
                rejected += 1
                continue
            }
            if created { timelines.append(Timeline(kind: entry.value.kind)) }
            if let k = slots[id] {
                order[k].value = Self.fold(order[k].value, entry.value)
            } else {
                slots[id] = order.count
                order.append((id, created, entry.value))
            }
        }
        for (id, created, folded) in order {
            let value = StoredValue(folded)
            // Skips entries a snapshot already brought in, so a batch is never counted twice.
            let bucket = timelines[Int(id)].add(value, ts: ts, step: tiers.finestStep, seq: batch.seq, skipIncluded: true)
            if created {
                timelineCreated(id)
            } else if let bucket {
                addToRollups(timeline: id, value, bucket)
            }
        }
        for check in batch.checks { record(check) }
        if !order.isEmpty { originIDsWithData.insert(origin) }
        if raisingWatermark { watermarkByOrigin[Int(origin)] = Swift.max(mark, batch.seq) }
        return .applied(entries: batch.entries.count - rejected, rejected: rejected)
    }

    /// The timeline of a series, label set and origin, created if the origin is still under
    /// ``maxLabelSets`` in the series; nil (and counted) when refused.
    /// `labelSet`: the catalog id of `labels` when the caller knows it (saves hashing them).
    /// `pairs`: the label set's (key, value) string ids, should it be new (saves interning them).
    func timelineID(series: UInt16, labels: LabelSet, origin: UInt32, labelSet known: UInt32? = nil,
                    pairs: (() -> [(key: UInt32, value: UInt32)])? = nil) -> (UInt32, created: Bool)? {
        let existing = known ?? catalog.lookUpLabelSet(labels)
        if let existing, let id = catalog.existingTimelineID(.init(series: series, labels: existing, origin: origin)) {
            return (id, false)
        }
        guard catalog.labelSetCount(origin: origin, series: series) < maxLabelSets else {
            refuseLabelSet(series: series)
            return nil
        }
        if let existing { return catalog.timelineID(.init(series: series, labels: existing, origin: origin)) }
        let ids = pairs?()
        let set = catalog.insertLabelSet(labels, pairs: ids)
        return catalog.timelineID(.init(series: series, labels: set, origin: origin))
    }

    /// Counts a timeline refused because its origin has ``maxLabelSets`` label sets in `series`.
    func refuseLabelSet(series: UInt16) { refusedLabelSets[catalog.series[Int(series)].name, default: 0] += 1 }

    /// How many label sets `origin` has in `series` here.
    package func labelSetCount(of origin: Origin, series: String) -> Int {
        guard let o = catalog.existingOriginID(origin), let s = catalog.seriesID(series) else { return 0 }
        return catalog.labelSetCount(origin: o, series: s)
    }

    /// Whether `origin` already has this label set in `series`.
    package func hasLabelSet(_ labels: LabelSet, of origin: Origin, series: String) -> Bool {
        guard let o = catalog.existingOriginID(origin), let s = catalog.seriesID(series), let l = catalog.existingLabelSetID(labels) else {
            return false
        }
        return catalog.existingTimelineID(.init(series: s, labels: l, origin: o)) != nil
    }

    static func fold(_ a: PointValue, _ b: PointValue) -> PointValue {
        switch (a, b) {
        case (.count(let x), .count(let y)):
            var c = Count(x)
            c.add(y)
            return .count(c.value)
        case (.gauge(var x), .gauge(let y)):
            x.combine(later: y)
            return .gauge(x)
        case (.sketch(var x), .sketch(let y)):
            x.merge(y)
            return .sketch(x)
        default:
            return a
        }
    }

    // MARK: Size

    package var timelineCount: Int { timelines.count }

    /// The origins at least one non-empty timeline holds points of. Kept as points arrive;
    /// an origin whose points all expired leaves it at the next ``refreshOriginsWithData()``.
    package var originsWithData: Set<Origin> { Set(originIDsWithData.map { catalog.origins[Int($0)] }) }

    /// How many origins ``originsWithData`` holds.
    package var originsWithDataCount: Int { originIDsWithData.count }

    /// Recomputes ``originsWithData`` in one pass over the timelines (after compaction).
    package func refreshOriginsWithData() {
        var ids = Set<UInt32>()
        for (i, t) in timelines.enumerated() where !t.isEmpty { ids.insert(catalog.keys[i].origin) }
        originIDsWithData = ids
    }

    /// Number of stored points (rows), rollups excluded.
    package var pointCount: Int { pointCount(in: 0..<timelines.count) }

    /// Points of the timelines in `range` (clamped to the store): counting a large store a
    /// slice at a time keeps each hold of its owner's lock short.
    package func pointCount(in range: Range<Int>) -> Int {
        let range = range.clamped(to: 0..<timelines.count)
        var n = 0
        for i in range { n += timelines[i].count }
        return n
    }

    /// Heap bytes held by points and by rollups (capacities), excluding the catalog.
    package var pointBytes: (points: Int, rollups: Int) {
        (timelines.reduce(0) { $0 + $1.heapBytes }, rollups.reduce(0) { $0 + ($1?.timelines.reduce(0) { $0 + $1.heapBytes } ?? 0) })
    }
}
