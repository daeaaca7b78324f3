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
        // The parts' counts added without wrapping (at most UInt64.max): bounds every bin's sum.
        var countBound: UInt64 = 0
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
                countBound = countBound.addingReportingOverflow(1).overflow ? .max : countBound + 1
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
                let (bound, over) = countBound.addingReportingOverflow(h.count)
                countBound = over ? .max : bound
                summary.sum += h.sum
                summary.min = Swift.min(summary.min, h.min)
                summary.max = Swift.max(summary.max, h.max)
            }
            runs[k] = PartRuns(negative: negStart..<posStart, positive: posStart..<used)
        }
        if summary.count == 1 { return writeSingle(summary.min == summary.max ? summary.min : summary.sum, into: &w) }
        let allRuns = UnsafeBufferPointer(start: runs, count: parts.count)
        let narrow = countBound < 1 << 32
        let neg = mergeSide(allRuns, negative: true, narrow: narrow, buffers, at: 0)
        let pos = mergeSide(allRuns, negative: false, narrow: narrow, buffers, at: neg.layout.n)
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
    private static func mergeSide(_ runs: UnsafeBufferPointer<PartRuns>, negative: Bool, narrow: Bool, _ buffers: Buffers, at offset: Int) -> MergedSide {
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
                    return accumulate(UnsafeBufferPointer(rebasing: heads[..<k]), from: lo, to: hi, narrow: narrow, bins, counts, into: &out)
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
    /// span and reading the non-zero sums back in order, a vector compare for 16 sums at a time:
    /// no compare per bin, so no mispredicted branch per bin as in a merge of sorted runs.
    /// `narrow`: the counts add up to less than 2³², so 32-bit sums hold them (half the span).
    private static func accumulate(
        _ heads: UnsafeBufferPointer<Range<Int>>, from lo: Int32, to hi: Int32, narrow: Bool,
        _ bins: UnsafeMutablePointer<Int32>, _ counts: UnsafeMutablePointer<UInt64>, into out: inout MeasuredRun
    ) {
        let laneBits = SIMD16<UInt32>(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768)
        var run = out
        defer { out = run }
        // Unsafe pointers: every bin of the runs lies in lo...hi, so `bin - lo` < span ≤ the
        // capacity, a whole number of 64-byte chunks; each chunk read lies inside it.
        guard narrow else {
            let chunks = (Int(hi - lo) + 8) >> 3
            return withUnsafeTemporaryAllocation(of: UInt64.self, capacity: chunks << 3) { buffer in
                let sums = buffer.baseAddress!
                sums.initialize(repeating: 0, count: chunks << 3)
                for r in heads {
                    for i in r { sums[Int(bins[i] &- lo)] &+= counts[i] }
                }
                // A sum is non-zero when either 32-bit half is: lanes 2k, 2k+1 are sum k.
                for c in 0..<chunks {
                    let v = UnsafeRawPointer(sums).loadUnaligned(fromByteOffset: c << 6, as: SIMD16<UInt32>.self)
                    let lanes = SIMD16<UInt32>().replacing(with: laneBits, where: v .!= SIMD16<UInt32>()).wrappedSum()
                    var mask = (lanes | lanes >> 1) & 0x5555
                    while mask != 0 {
                        let x = c << 3 | mask.trailingZeroBitCount >> 1
                        mask &= mask &- 1
                        run.append(lo &+ Int32(truncatingIfNeeded: x), sums[x])
                    }
                }
            }
        }
        let chunks = (Int(hi - lo) + 16) >> 4
        withUnsafeTemporaryAllocation(of: UInt32.self, capacity: chunks << 4) { buffer in
            let sums = buffer.baseAddress!
            sums.initialize(repeating: 0, count: chunks << 4)
            for r in heads {
                for i in r { sums[Int(bins[i] &- lo)] &+= UInt32(truncatingIfNeeded: counts[i]) }
            }
            for c in 0..<chunks {
                let v = UnsafeRawPointer(sums).loadUnaligned(fromByteOffset: c << 6, as: SIMD16<UInt32>.self)
                var mask = SIMD16<UInt32>().replacing(with: laneBits, where: v .!= SIMD16<UInt32>()).wrappedSum()
                while mask != 0 {
                    let t = mask.trailingZeroBitCount
                    mask &= mask &- 1
                    run.append(lo &+ Int32(truncatingIfNeeded: c << 4 | t), UInt64(v[t]))
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
        var lastBin: Int32 = 0

        init(bins: UnsafeMutablePointer<Int32>, counts: UnsafeMutablePointer<UInt64>) {
            self.bins = bins
            self.counts = counts
        }

        /// Callers that append in a loop keep the run in a local variable (its fields then stay
        /// in registers) and store it back after.
        @inline(__always) mutating func append(_ bin: Int32, _ count: UInt64) {
            bins[n] = bin
            counts[n] = count
            countBytes &+= varintSize(count)
            gapBytes &+= n > 0 ? varintSize(UInt64(truncatingIfNeeded: bin &- lastBin)) : 0
            let page = bin >> BinStore.pageShift
            pages &+= page != lastPage ? 1 : 0
            lastPage = page
            lastBin = bin
            n &+= 1
        }

        var layout: BinLayout {
            BinLayout(bins: UnsafeBufferPointer(start: bins, count: n), counts: UnsafeBufferPointer(start: counts, count: n), countBytes: countBytes, gapBytes: gapBytes)
        }
    }
}
