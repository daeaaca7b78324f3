import MetValues

extension SeriesStore {
    /// Merges a decoded version-3 chunk (validated whole before this runs). Each table entry is
    /// resolved to the catalog once a chunk — series, origins, label sets, strings — and each new
    /// timeline is built straight from the chunk's points: per timeline there is no name to hash
    /// and nothing to allocate but the timeline itself. Same rules as merging timeline by
    /// timeline (``merge(_:now:stats:tables:)``): points outside the retention are dropped,
    /// label sets past ``maxLabelSets`` refused and counted, windows merged keeping the newer copy.
    func merge(_ c: DecodedChunk, now: Int64) -> MergeStats {
        var stats = MergeStats()
        let unresolved = UInt32.max
        let series: [UInt16?] = c.streams.map { s in
            guard let id = catalog.seriesID(s.series, kind: s.kind) else { return nil }
            while rollups.count <= Int(id) { rollups.append(nil) }
            return id
        }
        var origins = [UInt32](repeating: unresolved, count: c.origins.count)
        var sets = [UInt32](repeating: unresolved, count: c.setEnds.count)
        var strings = [UInt32](repeating: unresolved, count: c.strings.count)
        catalog.reserve(timelines: c.timelines.count, labelSets: c.setEnds.count)
        timelines.reserveCapacity(timelines.count + c.timelines.count)
        for t in 0..<c.timelines.count {
            let entry = c.timelines[t]
            let stream = c.streams[Int(entry.stream)]
            guard let s = series[Int(entry.stream)] else { continue }
            let range = c.pointRange(t)
            var retained = true
            for k in range where tiers.targetStep(for: c.points[k].header.start, now: now) == nil {
                retained = false
                break
            }
            let points = retained ? c.points[range] : c.points[range].filter { tiers.targetStep(for: $0.header.start, now: now) != nil }[...]
            guard !points.isEmpty else { continue }
            stats.timelines += 1
            if origins[stream.origin] == unresolved { origins[stream.origin] = originID(c.origins[stream.origin]) }
            let origin = origins[stream.origin]
            guard let (id, created) = timelineID(of: c, set: Int(entry.set), series: s, origin: origin, sets: &sets, strings: &strings) else { continue }
            originIDsWithData.insert(origin)
            if created {
                appendMergedTimeline(kind: stream.kind, points, series: s, stats: &stats)
            } else {
                mergePoints(Array(points), into: id, series: s, stats: &stats)
            }
        }
        return stats
    }

    /// The timeline of a chunk's label set `set`, resolving the set (and, for a set new here, its
    /// strings) to catalog ids once a chunk; nil (and counted) when ``maxLabelSets`` refuses it.
    private func timelineID(of c: DecodedChunk, set: Int, series: UInt16, origin: UInt32,
                            sets: inout [UInt32], strings: inout [UInt32]) -> (UInt32, created: Bool)? {
        var labels: LabelSet?
        if sets[set] == .max {
            let l = c.labelSet(set)
            if let id = catalog.lookUpLabelSet(l) { sets[set] = id } else { labels = l }
        }
        if sets[set] != .max {
            if let found = catalog.timelineID(.init(series: series, labels: sets[set], origin: origin), limit: maxLabelSets) { return found }
            refuseLabelSet(series: series)
            return nil
        }
        guard catalog.labelSetCount(origin: origin, series: series) < maxLabelSets, let labels else {
            refuseLabelSet(series: series)
            return nil
        }
        let pairs = c.pairs(ofSet: set).map { p in
            if strings[Int(p.key)] == .max { strings[Int(p.key)] = catalog.stringID(c.strings[Int(p.key)]) }
            if strings[Int(p.value)] == .max { strings[Int(p.value)] = catalog.stringID(c.strings[Int(p.value)]) }
            return (key: strings[Int(p.key)], value: strings[Int(p.value)])
        }
        sets[set] = catalog.insertLabelSet(labels, pairs: pairs)
        return catalog.timelineID(.init(series: series, labels: sets[set], origin: origin))
    }
}
