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
    /// ``encode(into:)`` write. Each side's bins are read into sorted runs, which are merged in
    /// one pass; a result whose bins span more than ``BinStore/maxPages`` pages of a side
    /// (where a sketch folds bins) is built as a sketch instead. Throws, writing nothing, when
    /// a part is malformed; bytes after a part's sketch are ignored, as `merge(from:)` leaves them.
    package static func encodeMerged(_ parts: UnsafeBufferPointer<UnsafeRawBufferPointer>, into w: inout ByteWriter) throws(DecodeError) {
        // Every bin read takes at least one byte of its part, so this many entries hold them all.
        var capacity = 1
        for p in parts { capacity += p.count }
        // Merged, they are no more: the merge's output has as much room again.
        let result: Result<Void, DecodeError> = withUnsafeTemporaryAllocation(of: Int32.self, capacity: 2 * capacity) { bins in
            withUnsafeTemporaryAllocation(of: UInt64.self, capacity: 2 * capacity) { counts in
                withUnsafeTemporaryAllocation(of: PartRuns.self, capacity: Swift.max(1, parts.count)) { runs in
                    Result { () throws(DecodeError) in
                        // Unsafe pointers: the buffers above, sized for every bin of every part, twice.
                        let buffers = Buffers(bins: bins.baseAddress!, counts: counts.baseAddress!, outBins: bins.baseAddress! + capacity, outCounts: counts.baseAddress! + capacity)
                        try encodeMerged(parts, buffers, runs.baseAddress!, into: &w)
                    }
                }
            }
        }
        try result.get()
    }

    /// Where parts' bins are read to, and where the merged sides go.
    private struct Buffers {
        var bins: UnsafeMutablePointer<Int32>
        var counts: UnsafeMutablePointer<UInt64>
        var outBins: UnsafeMutablePointer<Int32>
        var outCounts: UnsafeMutablePointer<UInt64>
    }

    private static func encodeMerged(
        _ parts: UnsafeBufferPointer<UnsafeRawBufferPointer>, _ buffers: Buffers, _ runs: UnsafeMutablePointer<PartRuns>, into w: inout ByteWriter
    ) throws(DecodeError) {
        let (bins, counts) = (buffers.bins, buffers.counts)
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
        let neg = mergeSide(allRuns, negative: true, buffers, at: 0)
        let pos = mergeSide(allRuns, negative: false, buffers, at: neg.layout.n)
        if neg.pages <= BinStore.maxPages && pos.pages <= BinStore.maxPages {
            return write(summary, negative: neg.layout, positive: pos.layout, into: &w)
        }
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

    /// Merges one side's sorted runs of every part into the output buffers from `offset` on, in
    /// one pass over all of them (equal bins add their counts), measuring the layout on the way.
    /// Runs within 64 pages of each other (always, but for outliers) are summed over their span.
    private static func mergeSide(_ runs: UnsafeBufferPointer<PartRuns>, negative: Bool, _ buffers: Buffers, at offset: Int) -> MergedSide {
        let (bins, counts) = (buffers.bins, buffers.counts)
        var out = MeasuredRun(bins: buffers.outBins + offset, counts: buffers.outCounts + offset)
        withUnsafeTemporaryAllocation(of: Range<Int>.self, capacity: Swift.max(1, runs.count)) { heads in
            // Unsafe pointers: the heads index the parts' runs, inside `bins`/`counts`; the
            // output takes at most as many entries as the runs hold, which the buffers have room for.
            var k = 0
            for r in runs {
                let range = negative ? r.negative : r.positive
                if !range.isEmpty {
                    heads[k] = range
                    k += 1
                }
            }
            if k > 1 {
                var lo = Int32.max
                var hi = Int32.min
                for h in 0..<k {
                    lo = Swift.min(lo, bins[heads[h].lowerBound])
                    hi = Swift.max(hi, bins[heads[h].upperBound - 1])
                }
                if Int(hi) - Int(lo) < Self.denseMergeSpan {
                    return accumulate(UnsafeBufferPointer(rebasing: heads[..<k]), from: lo, to: hi, bins, counts, into: &out)
                }
            }
            // Bins far apart: a k-way merge.
            while k > 1 {
                var low = bins[heads[0].lowerBound]
                for h in 1..<k { low = Swift.min(low, bins[heads[h].lowerBound]) }
                var c: UInt64 = 0
                var h = 0
                while h < k {
                    let i = heads[h].lowerBound
                    if bins[i] == low {
                        c &+= counts[i]
                        if i + 1 == heads[h].upperBound {
                            // Run done: the last head takes its place and is looked at next.
                            k -= 1
                            heads[h] = heads[k]
                            continue
                        }
                        heads[h] = (i + 1)..<heads[h].upperBound
                    }
                    h += 1
                }
                out.append(low, c)
            }
            if k == 1 {
                for i in heads[0] { out.append(bins[i], counts[i]) }
            }
        }
        return MergedSide(layout: out.layout, pages: out.pages)
    }

    /// Widest span of bins merged by ``accumulate(_:from:to:_:_:into:)``: 64 pages.
    private static let denseMergeSpan = BinStore.maxPages << BinStore.pageShift

    /// Merges runs whose bins all lie in `lo...hi` by adding every count into an array over that
    /// span, marking the bins used in a bitmap, and reading the marked ones back in order: no
    /// compare per bin, so no mispredicted branch per bin as in a merge of sorted runs.
    private static func accumulate(
        _ heads: UnsafeBufferPointer<Range<Int>>, from lo: Int32, to hi: Int32,
        _ bins: UnsafeMutablePointer<Int32>, _ counts: UnsafeMutablePointer<UInt64>, into out: inout MeasuredRun
    ) {
        let span = Int(hi - lo) + 1
        let words = (span + 63) >> 6
        withUnsafeTemporaryAllocation(of: UInt64.self, capacity: span) { sums in
            withUnsafeTemporaryAllocation(of: UInt64.self, capacity: words) { used in
                // Unsafe pointers: every bin of the runs lies in lo...hi, so `bin - lo` < span.
                let sums = sums.baseAddress!
                let used = used.baseAddress!
                sums.initialize(repeating: 0, count: span)
                used.initialize(repeating: 0, count: words)
                for run in heads {
                    for i in run {
                        let x = Int(bins[i] &- lo)
                        sums[x] &+= counts[i]
                        used[x >> 6] |= 1 << UInt64(x & 63)
                    }
                }
                for w in 0..<words {
                    var mask = used[w]
                    while mask != 0 {
                        let x = w << 6 | mask.trailingZeroBitCount
                        mask &= mask &- 1
                        out.append(lo &+ Int32(x), sums[x])
                    }
                }
            }
        }
    }

    /// A merged run being written, with what its layout needs counted as it grows.
    private struct MeasuredRun {
        let bins: UnsafeMutablePointer<Int32>
        let counts: UnsafeMutablePointer<UInt64>
        var n = 0
        var countBytes = 0
        var gapBytes = 0
        var pages = 0
        var lastPage = Int32.min

        init(bins: UnsafeMutablePointer<Int32>, counts: UnsafeMutablePointer<UInt64>) {
            self.bins = bins
            self.counts = counts
        }

        @inline(__always) mutating func append(_ bin: Int32, _ count: UInt64) {
            bins[n] = bin
            counts[n] = count
            countBytes += varintSize(count)
            if n > 0 { gapBytes += varintSize(UInt64(bin - bins[n - 1])) }
            if bin >> BinStore.pageShift != lastPage {
                lastPage = bin >> BinStore.pageShift
                pages += 1
            }
            n += 1
        }

        var layout: BinLayout {
            BinLayout(bins: UnsafeBufferPointer(start: bins, count: n), counts: UnsafeBufferPointer(start: counts, count: n), countBytes: countBytes, gapBytes: gapBytes)
        }
    }
}
