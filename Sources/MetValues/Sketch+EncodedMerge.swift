/// Merging encoded sketches straight into one encoding: compaction's common case, a few small
/// sketches of neighbouring seconds becoming one bucket, without filling and scanning the pages
/// of a sketch in between.
extension Sketch {
    /// Where one part's bins were read to: its negative run, then its positive run.
    private struct PartRuns {
        var negative: Range<Int>
        var positive: Range<Int>
    }

    /// Appends to `w` the encoding of `parts` (each one encoded sketch) merged: byte for byte
    /// what merging every part, in order, into an empty sketch with ``merge(from:)`` and then
    /// ``encode(into:)`` write. Each side's bins are read into sorted runs, which are merged
    /// linearly; a result whose bins span more than ``BinStore/maxPages`` pages of a side
    /// (where a sketch folds bins) is built as a sketch instead. Throws, writing nothing, when
    /// a part is malformed; bytes after a part's sketch are ignored, as `merge(from:)` leaves them.
    package static func encodeMerged(_ parts: UnsafeBufferPointer<UnsafeRawBufferPointer>, into w: inout ByteWriter) throws(DecodeError) {
        // Every bin read takes at least one byte of its part, so this many entries hold them all.
        var capacity = 1
        for p in parts { capacity += p.count }
        let result: Result<Void, DecodeError> = withUnsafeTemporaryAllocation(of: Int32.self, capacity: capacity) { bins in
            withUnsafeTemporaryAllocation(of: UInt64.self, capacity: capacity) { counts in
                withUnsafeTemporaryAllocation(of: PartRuns.self, capacity: Swift.max(1, parts.count)) { runs in
                    Result { () throws(DecodeError) in
                        // Unsafe pointers: the buffers above, sized for every bin of every part.
                        try encodeMerged(parts, bins.baseAddress!, counts.baseAddress!, runs.baseAddress!, into: &w)
                    }
                }
            }
        }
        try result.get()
    }

    private static func encodeMerged(
        _ parts: UnsafeBufferPointer<UnsafeRawBufferPointer>, _ bins: UnsafeMutablePointer<Int32>,
        _ counts: UnsafeMutablePointer<UInt64>, _ runs: UnsafeMutablePointer<PartRuns>, into w: inout ByteWriter
    ) throws(DecodeError) {
        var summary = Summary()
        var used = 0
        for (k, part) in parts.enumerated() {
            var r = ByteReader(part)
            let h = try readHeader(&r)
            let negStart = used
            var posStart = used
            if let v = h.single {
                // What `add(v)` does with it: a positive bin, the zero bin or a negative bin.
                let bits = v.bitPattern
                if IndexMapping.isIndexable(bits: bits) {
                    bins[used] = IndexMapping.index(bits: bits)
                    counts[used] = 1
                    used += 1
                    posStart = negStart
                } else {
                    guard v.isFinite else { throw .invalid("sketch value") }
                    if v.magnitude < IndexMapping.minIndexable {
                        summary.zeros &+= 1
                    } else {
                        bins[used] = IndexMapping.index(of: v.magnitude)
                        counts[used] = 1
                        used += 1
                    }
                    posStart = used
                }
                summary.count &+= 1
                summary.sum += v
                if v < summary.min { summary.min = v }
                if v > summary.max { summary.max = v }
            } else if h.count > 0 {
                summary.zeros &+= h.zeros
                var binned = h.zeros
                if h.flags & Flag.negative != 0 {
                    used += try readRun(&r, dense: h.flags & Flag.negativeDense != 0, into: bins + used, counts + used, total: &binned)
                }
                posStart = used
                if h.flags & Flag.positive != 0 {
                    used += try readRun(&r, dense: h.flags & Flag.positiveDense != 0, into: bins + used, counts + used, total: &binned)
                }
                guard binned == h.count else { throw .invalid("bins do not add up to the count") }
                summary.count &+= h.count
                summary.sum += h.sum
                summary.min = Swift.min(summary.min, h.min)
                summary.max = Swift.max(summary.max, h.max)
            }
            runs[k] = PartRuns(negative: negStart..<posStart, positive: posStart..<used)
        }
        if summary.count == 1 { return writeSingle(summary.min == summary.max ? summary.min : summary.sum, into: &w) }
        let allRuns = UnsafeBufferPointer(start: runs, count: parts.count)
        let negTotal = allRuns.reduce(0) { $0 + $1.negative.count }
        let fits = withMergedRuns(allRuns.lazy.map(\.negative), total: negTotal, bins, counts) { neg in
            withMergedRuns(allRuns.lazy.map(\.positive), total: used - negTotal, bins, counts) { pos in
                guard neg.pages <= BinStore.maxPages, pos.pages <= BinStore.maxPages else { return false }
                write(summary, negative: neg.layout, positive: pos.layout, into: &w)
                return true
            }
        }
        guard !fits else { return }
        // Bins over more pages than a sketch keeps: the sketch decides which fold.
        var s = Sketch()
        for part in parts {
            var r = ByteReader(part)
            try s.merge(from: &r)
        }
        s.encode(into: &w)
    }

    /// A side's merged bins: their layout and how many pages they touch.
    private struct MergedSide {
        var layout: BinLayout
        var pages: Int
    }

    /// Runs `body` with the merge of the sorted runs `ranges` (of `bins`/`counts`; `total`
    /// entries in all): equal bins add their counts. One run is used in place; more are merged
    /// one after the other into two scratch buffers (parts are few, so this is linear enough).
    private static func withMergedRuns<R>(
        _ ranges: some Collection<Range<Int>>, total: Int, _ bins: UnsafeMutablePointer<Int32>,
        _ counts: UnsafeMutablePointer<UInt64>, _ body: (MergedSide) -> R
    ) -> R {
        let nonEmpty = ranges.lazy.filter { !$0.isEmpty }
        guard let firstRun = nonEmpty.first else {
            return body(MergedSide(layout: BinLayout(bins: UnsafeBufferPointer(start: bins, count: 0), counts: UnsafeBufferPointer(start: counts, count: 0)), pages: 0))
        }
        return withUnsafeTemporaryAllocation(of: Int32.self, capacity: 2 * Swift.max(1, total)) { scratchBins in
            withUnsafeTemporaryAllocation(of: UInt64.self, capacity: 2 * Swift.max(1, total)) { scratchCounts in
                // Unsafe pointers: a merge of runs holding `total` entries in all writes at most
                // `total`, into one half of the scratch while reading the other (or the input).
                var accBins = UnsafePointer(bins + firstRun.lowerBound)
                var accCounts = UnsafePointer(counts + firstRun.lowerBound)
                var accN = firstRun.count
                var half = 0
                for run in nonEmpty.dropFirst() {
                    let outBins = scratchBins.baseAddress! + half * total
                    let outCounts = scratchCounts.baseAddress! + half * total
                    accN = mergeRuns(accBins, accCounts, accN, bins + run.lowerBound, counts + run.lowerBound, run.count, outBins, outCounts)
                    accBins = UnsafePointer(outBins)
                    accCounts = UnsafePointer(outCounts)
                    half ^= 1
                }
                var pages = 0
                var lastPage = Int32.min
                for k in 0..<accN where accBins[k] >> BinStore.pageShift != lastPage {
                    lastPage = accBins[k] >> BinStore.pageShift
                    pages += 1
                }
                let layout = BinLayout(bins: UnsafeBufferPointer(start: accBins, count: accN), counts: UnsafeBufferPointer(start: accCounts, count: accN))
                return body(MergedSide(layout: layout, pages: pages))
            }
        }
    }

    /// Merges two ascending runs into `outBins`/`outCounts`; returns the merged length.
    private static func mergeRuns(
        _ aBins: UnsafePointer<Int32>, _ aCounts: UnsafePointer<UInt64>, _ aN: Int,
        _ bBins: UnsafePointer<Int32>, _ bCounts: UnsafePointer<UInt64>, _ bN: Int,
        _ outBins: UnsafeMutablePointer<Int32>, _ outCounts: UnsafeMutablePointer<UInt64>
    ) -> Int {
        var i = 0
        var j = 0
        var n = 0
        while i < aN && j < bN {
            let a = aBins[i]
            let b = bBins[j]
            if a < b {
                outBins[n] = a
                outCounts[n] = aCounts[i]
                i += 1
            } else if b < a {
                outBins[n] = b
                outCounts[n] = bCounts[j]
                j += 1
            } else {
                outBins[n] = a
                outCounts[n] = aCounts[i] &+ bCounts[j]
                i += 1
                j += 1
            }
            n += 1
        }
        while i < aN {
            outBins[n] = aBins[i]
            outCounts[n] = aCounts[i]
            i += 1
            n += 1
        }
        while j < bN {
            outBins[n] = bBins[j]
            outCounts[n] = bCounts[j]
            j += 1
            n += 1
        }
        return n
    }
}
