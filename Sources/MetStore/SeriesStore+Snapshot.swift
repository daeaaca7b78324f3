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
            if size > 0, size + t.heapBytes > maxChunkBytes {
                starts.append(i)
                size = 0
            }
            size += t.heapBytes
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
        var batch: [TimelineData] = []
        var size = 0
        var i = cursor
        let end = Swift.min(end ?? timelines.count, timelines.count)
        while i < end, batch.isEmpty || size < maxBytes {
            let t = timelines[i]
            if !t.isEmpty, origin == nil || catalog.keys[i].origin == origin {
                let key = catalog.keys[i]
                let data = TimelineData(
                    series: catalog.series[Int(key.series)].name, kind: t.kind,
                    labels: catalog.labelSetValues[Int(key.labels)], origin: catalog.origins[Int(key.origin)],
                    points: (0..<t.count).map { t.record($0) }, labelsKey: Int(key.labels))
                size += t.heapBytes
                batch.append(data)
            }
            i += 1
        }
        return (SnapshotCodec.encode(timelines: batch), i)
    }

    /// The whole store's snapshot in the version-1 chunk format, which older nodes write (names
    /// repeated per timeline): for the compatibility tests and the benchmark's peer.
    package func snapshotVersion1(maxChunkBytes: Int = 1 << 20) -> StoreSnapshot {
        let plan = snapshotPlan(maxChunkBytes: maxChunkBytes)
        var chunks: [[UInt8]] = []
        for index in 0..<plan.count {
            let end = index + 1 < plan.starts.count ? plan.starts[index + 1] : plan.end
            var batch: [TimelineData] = []
            for i in plan.starts[index]..<end where !timelines[i].isEmpty {
                let key = catalog.keys[i]
                let t = timelines[i]
                batch.append(TimelineData(series: catalog.series[Int(key.series)].name, kind: t.kind,
                                          labels: catalog.labelSetValues[Int(key.labels)], origin: catalog.origins[Int(key.origin)],
                                          points: (0..<t.count).map { t.record($0) }))
            }
            chunks.append(SnapshotCodec.encodeVersion1(timelines: batch))
        }
        return StoreSnapshot(chunks: chunks, watermarks: plan.watermarks)
    }

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
            var t = Timeline(kind: incoming.kind)
            t.rebuild(points)
            t.needsFullCompaction = true
            timelines.append(t)
            stats.windowsReplaced += points.count
            dropRollups(series: Int(series))
            return
        }
        let local = timelines[Int(id)]
        var out: [PointRecord] = []
        var replaced = false
        local.forEachWindow(with: points) { lr, ir, _, _ in
            let localSeq = local.headers[lr].reduce(0) { Swift.max($0, $1.seq) }
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
