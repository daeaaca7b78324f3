import MetValues

/// Snapshot export and merge.
///
/// Why keeping "the copy with the newer batch" is exact: an origin's batches are applied in
/// order, so every replica's data of that origin is a prefix of the same sequence. For a bucket
/// window (the smallest span covering overlapping buckets of both copies, which nest because
/// steps divide each other), each copy records `max seq` of the batches folded into it. If the
/// copies differ, the one with the larger max seq holds a batch the other lacks, and — being a
/// longer prefix — everything the other holds. Equal max seqs mean the same batches. So keeping
/// the larger is a join: idempotent, commutative, associative, whatever the resolutions.
/// See ``SeriesStore/snapshotPlan(maxChunkBytes:)``.
package struct SnapshotPlan: Sendable, Equatable {
    /// The first timeline of each chunk.
    package var starts: [Int]
    /// One past the last timeline of the last chunk.
    package var end: Int
    /// The store's watermarks when the plan was made (a streamed snapshot's end).
    package var watermarks: [UInt8]
    /// Only this origin's timelines and watermark (a per-origin snapshot); nil: the whole store.
    package var origin: Origin?
    package var count: Int { starts.count }

    package init(starts: [Int], end: Int, watermarks: [UInt8], origin: Origin? = nil) {
        self.starts = starts
        self.end = end
        self.watermarks = watermarks
        self.origin = origin
    }
}

package struct MergeStats: Sendable, Equatable {
    package var timelines = 0
    package var windowsReplaced = 0
    package var windowsKept = 0
    package init() {}
}

extension SeriesStore {
    /// The whole store as chunks of at most about `maxChunkBytes` (a timeline is never split).
    /// With `origin`, only that origin's timelines and watermark: a per-origin snapshot, for a
    /// replica that missed more of the origin's batches than the retransmit window holds.
    package func snapshot(of origin: Origin? = nil, maxChunkBytes: Int = 1 << 20) -> StoreSnapshot {
        var chunks: [[UInt8]] = []
        var cursor = 0
        let only = origin.map { catalog.existingOriginID($0) ?? UInt32.max }
        while cursor < timelines.count {
            let (bytes, next) = snapshotChunk(from: cursor, maxBytes: maxChunkBytes, origin: only)
            chunks.append(bytes)
            cursor = next
        }
        var marks = watermarks
        if let origin { marks = marks.filter { $0.key == origin } }
        return StoreSnapshot(chunks: chunks, watermarks: SnapshotCodec.encodeWatermarks(marks))
    }

    /// One chunk starting at timeline `cursor`; returns the cursor of the next chunk.
    package func snapshotChunk(from cursor: Int, maxBytes: Int) -> (bytes: [UInt8], next: Int) {
        snapshotChunk(from: cursor, maxBytes: maxBytes, origin: nil)
    }

    /// A streamed snapshot's plan (handoff, the Postgres snapshot): where each chunk starts, where
    /// the last ends, and the watermarks, all taken at one instant. Timelines are only appended,
    /// so the cursors stay valid while the store changes. Every batch at or below the watermarks
    /// was applied before the plan, so its points are in the planned timelines; chunks taken later
    /// may hold more (newer points of those timelines), which merges idempotently. Planning
    /// encodes nothing. With `origin`, only that origin's timelines and watermark (a per-origin
    /// snapshot: resends beyond the retransmit window, anti-entropy repairs).
    package func snapshotPlan(maxChunkBytes: Int = 1 << 20, of origin: Origin? = nil) -> SnapshotPlan {
        let only = origin.map { catalog.existingOriginID($0) ?? UInt32.max }
        var starts = [0]
        var size = 0
        for (i, t) in timelines.enumerated() where !t.isEmpty && (only == nil || catalog.keys[i].origin == only) {
            if size > 0, size + t.planBytes > maxChunkBytes {
                starts.append(i)
                size = 0
            }
            size += t.planBytes
        }
        var marks = watermarks
        if let origin { marks = marks.filter { $0.key == origin } }
        return SnapshotPlan(starts: starts, end: timelines.count, watermarks: SnapshotCodec.encodeWatermarks(marks), origin: origin)
    }

    /// Chunk `index` of a plan, as the store holds those timelines now.
    package func snapshotChunk(_ index: Int, of plan: SnapshotPlan) -> [UInt8] {
        let end = index + 1 < plan.starts.count ? plan.starts[index + 1] : plan.end
        let only = plan.origin.map { catalog.existingOriginID($0) ?? UInt32.max }
        return snapshotChunk(from: plan.starts[index], maxBytes: .max, origin: only, end: end).bytes
    }

    func snapshotChunk(from cursor: Int, maxBytes: Int, origin: UInt32?, end: Int? = nil) -> (bytes: [UInt8], next: Int) {
        // The chunk's tables, keyed by catalog ids: each name is looked up by number, not hashed.
        var e = ChunkEncoder()
        var strings: [UInt32: Int] = [:]
        var sets: [UInt32: Int] = [:]
        var origins: [UInt32: Int] = [:]
        var streams: [UInt64: Int] = [:]
        func string(_ s: String) -> Int {
            guard let id = catalog.existingStringID(s) else { return e.addString(s) }
            return string(id)
        }
        func string(_ id: UInt32) -> Int {
            if let i = strings[id] { return i }
            let i = e.addString(catalog.strings[Int(id)])
            strings[id] = i
            return i
        }
        var size = 0
        var added = 0
        var i = cursor
        let end = Swift.min(end ?? timelines.count, timelines.count)
        while i < end, added == 0 || size < maxBytes {
            defer { i += 1 }
            let key = catalog.keys[i]
            guard !timelines[i].isEmpty, origin == nil || key.origin == origin else { continue }
            let t = timelines[i]
            let o: Int
            if let known = origins[key.origin] { o = known } else {
                let value = catalog.origins[Int(key.origin)]
                o = e.addOrigin(node: string(value.node), incarnation: value.incarnation)
                origins[key.origin] = o
            }
            let streamKey = UInt64(key.series) << 32 | UInt64(key.origin)
            let stream: Int
            if let known = streams[streamKey] { stream = known } else {
                stream = e.addStream(name: string(catalog.series[Int(key.series)].name), kind: t.kind, origin: o)
                streams[streamKey] = stream
            }
            let set: Int
            if let known = sets[key.labels] { set = known } else {
                set = e.addLabelSet(catalog.pairs(ofLabelSet: key.labels).map { (key: string($0.key), value: string($0.value)) })
                sets[key.labels] = set
            }
            e.addTimeline(stream: stream, set: set, count: t.count) { (t.header($0), t.stored($0)) }
            size += t.planBytes
            added += 1
        }
        return (e.finish(), i)
    }

    /// The whole store's snapshot in an older chunk format (1: names repeated per timeline; 2:
    /// string tables, no streams), as older nodes write it: for the compatibility tests and the
    /// benchmark's peer.
    package func snapshot(inVersion version: Int, maxChunkBytes: Int = 1 << 20) -> StoreSnapshot {
        let plan = snapshotPlan(maxChunkBytes: maxChunkBytes)
        var chunks: [[UInt8]] = []
        for index in 0..<plan.count {
            let end = index + 1 < plan.starts.count ? plan.starts[index + 1] : plan.end
            var batch: [TimelineData] = []
            for i in plan.starts[index]..<end where !timelines[i].isEmpty {
                let key = catalog.keys[i]
                let t = timelines[i]
                batch.append(TimelineData(series: catalog.series[Int(key.series)].name, kind: t.kind,
                                          labels: catalog.labelSet(key.labels), origin: catalog.origins[Int(key.origin)],
                                          points: (0..<t.count).map { t.record($0) }))
            }
            chunks.append(version == 1 ? SnapshotCodec.encodeVersion1(timelines: batch) : SnapshotCodec.encodeVersion2(timelines: batch))
        }
        return StoreSnapshot(chunks: chunks, watermarks: plan.watermarks)
    }

    /// ``snapshot(inVersion:maxChunkBytes:)`` in version 1.
    package func snapshotVersion1(maxChunkBytes: Int = 1 << 20) -> StoreSnapshot { snapshot(inVersion: 1, maxChunkBytes: maxChunkBytes) }

    /// Merges a whole snapshot: every chunk, then the watermarks.
    @discardableResult
    package func merge(_ snapshot: StoreSnapshot, now: Int64) throws(DecodeError) -> MergeStats {
        var stats = MergeStats()
        for chunk in snapshot.chunks {
            let s = try merge(chunk: chunk, now: now)
            stats.timelines += s.timelines
            stats.windowsKept += s.windowsKept
            stats.windowsReplaced += s.windowsReplaced
        }
        try merge(watermarks: snapshot.watermarks)
        return stats
    }

    /// Merges one chunk. Decoded and validated first, so a bad chunk changes nothing.
    @discardableResult
    package func merge(chunk: [UInt8], now: Int64) throws(DecodeError) -> MergeStats {
        if chunk.first == 3 { return merge(try SnapshotCodec.decodeVersion3(chunk), now: now) }
        let tables = ReceivedTables()
        let data = try SnapshotCodec.decode(chunk, tables: tables)
        var stats = MergeStats()
        for t in data { merge(t, now: now, stats: &stats, tables: tables) }
        return stats
    }

    /// Raises watermarks to those of a snapshot whose chunks have all been merged.
    package func merge(watermarks bytes: [UInt8]) throws(DecodeError) {
        for (origin, mark) in try SnapshotCodec.decodeWatermarks(bytes) {
            let id = originID(origin)
            watermarkByOrigin[Int(id)] = Swift.max(watermarkByOrigin[Int(id)], mark)
        }
    }

    /// Merges one timeline; `tables`: the version-2 chunk it came in, whose label sets and
    /// strings are resolved to catalog ids once a chunk (`incoming.labelsKey` indexes them).
    func merge(_ incoming: TimelineData, now: Int64, stats: inout MergeStats, tables: ReceivedTables? = nil) {
        guard let series = catalog.seriesID(incoming.series, kind: incoming.kind) else { return }
        while rollups.count <= Int(series) { rollups.append(nil) }
        let points = incoming.points.filter { tiers.targetStep(for: $0.header.start, now: now) != nil }
        guard !points.isEmpty else { return }
        stats.timelines += 1
        let origin = originID(incoming.origin)
        let set = tables != nil && incoming.labelsKey >= 0 ? incoming.labelsKey : -1
        let known = set >= 0 && tables!.labelSetIDs[set] != .max ? tables!.labelSetIDs[set] : nil
        let pairs: (() -> [(key: UInt32, value: UInt32)])? = set < 0 ? nil : { [self] in
            // The chunk's strings, each interned once a chunk.
            let t = tables!
            return t.labelSetStrings[set].map { p in
                if t.stringIDs[p.key] == .max { t.stringIDs[p.key] = catalog.stringID(t.strings[p.key]) }
                if t.stringIDs[p.value] == .max { t.stringIDs[p.value] = catalog.stringID(t.strings[p.value]) }
                return (t.stringIDs[p.key], t.stringIDs[p.value])
            }
        }
        guard let (id, created) = timelineID(series: series, labels: incoming.labels, origin: origin, labelSet: known, pairs: pairs) else { return }
        if known == nil, set >= 0 { tables!.labelSetIDs[set] = catalog.keys[Int(id)].labels }
        originIDsWithData.insert(origin)
        if created {
            appendMergedTimeline(kind: incoming.kind, points, series: series, stats: &stats)
        } else {
            mergePoints(points, into: id, series: series, stats: &stats)
        }
    }

    /// A timeline new to this store, from a snapshot: its points as they came.
    func appendMergedTimeline(kind: SeriesKind, _ points: some Collection<PointRecord>, series: UInt16, stats: inout MergeStats) {
        var t = Timeline(kind: kind)
        t.rebuild(points)
        t.needsFullCompaction = true
        timelines.append(t)
        stats.windowsReplaced += points.count
        if rollups[Int(series)] != nil { dropRollups(series: Int(series)) }
    }

    /// A snapshot's points of a timeline this store holds: window by window, the copy holding
    /// the newer batch is kept.
    func mergePoints(_ points: [PointRecord], into id: UInt32, series: UInt16, stats: inout MergeStats) {
        let local = timelines[Int(id)]
        var out: [PointRecord] = []
        var replaced = false
        local.forEachWindow(with: points) { lr, ir, _, _ in
            let localSeq = local.maxSeq(lr)
            let incomingSeq = points[ir].reduce(0) { Swift.max($0, $1.header.seq) }
            if !ir.isEmpty, lr.isEmpty || incomingSeq > localSeq {
                replaced = true
                out.append(contentsOf: points[ir])
                stats.windowsReplaced += 1
            } else {
                for k in lr { out.append(local.record(k)) }
                stats.windowsKept += 1
            }
        }
        guard replaced else { return }
        timelines[Int(id)].rebuild(out)
        timelines[Int(id)].needsFullCompaction = true
        dropRollups(series: Int(series))
    }
}
