/// The shorter of the dense and sparse layouts for one side's bins, and the writing of a whole
/// encoded sketch (see ``Sketch`` `+Codec` for the format). The bins are gathered once into a
/// temporary buffer (on the stack when it fits), and the encoding is written through a pointer
/// into room reserved for its exact size, so encoding allocates nothing but the bytes it writes:
/// compaction encodes every bucket it merges.
struct BinLayout {
    /// Borrowed from a temporary allocation of the caller's; the layout never outlives it.
    let bins: UnsafeBufferPointer<Int32>
    let counts: UnsafeBufferPointer<UInt64>
    var dense = false
    private var denseBytes = 0
    private var sparseBytes = 0
    /// Bytes ``write(to:)`` writes.
    var byteCount: Int { n == 0 ? 0 : dense ? denseBytes : sparseBytes }

    var n: Int { bins.count }

    /// Runs `body` with the layout of `store`'s bins.
    static func with<R>(_ store: BinStore, _ body: (BinLayout) -> R) -> R { store.withLayout(body) }

    /// `bins` ascending, `counts` all non-zero.
    init(bins: UnsafeBufferPointer<Int32>, counts: UnsafeBufferPointer<UInt64>) {
        var countBytes = 0
        for c in counts { countBytes += varintSize(c) }
        var gapBytes = 0
        for k in 1..<Swift.max(1, bins.count) { gapBytes += varintSize(UInt64(bins[k] - bins[k - 1])) }
        self.init(bins: bins, counts: counts, countBytes: countBytes, gapBytes: gapBytes)
    }

    /// With the varint bytes of the counts and of the gaps between bins already known.
    init(bins: UnsafeBufferPointer<Int32>, counts: UnsafeBufferPointer<UInt64>, countBytes: Int, gapBytes: Int) {
        self.bins = bins
        self.counts = counts
        guard let first = bins.first, let last = bins.last else { return }
        let span = Int(last - first) + 1
        denseBytes = varintSize(zigzag(first)) + varintSize(UInt64(span)) + countBytes + (span - bins.count)
        sparseBytes = varintSize(UInt64(bins.count)) + varintSize(zigzag(first)) + countBytes + gapBytes
        dense = denseBytes <= sparseBytes
    }

    /// Appends the bins in the layout ``dense`` names.
    func write(into w: inout ByteWriter) {
        w.writeRaw(count: byteCount) { start in
            var p = start
            write(to: &p)
        }
    }

    /// Writes the bins (``byteCount`` bytes) at `p` and moves `p` past them.
    func write(to p: inout UnsafeMutablePointer<UInt8>) {
        guard n > 0 else { return }
        if dense {
            putVarint(zigzag(bins[0]), &p)
            putVarint(UInt64(bins[n - 1] - bins[0] + 1), &p)
            var next = bins[0]
            for k in 0..<n {
                if next < bins[k] {
                    let zeros = Int(bins[k] - next)
                    p.update(repeating: 0, count: zeros)
                    p += zeros
                }
                putVarint(counts[k], &p)
                next = bins[k] + 1
            }
        } else {
            putVarint(UInt64(n), &p)
            putVarint(zigzag(bins[0]), &p)
            putVarint(counts[0], &p)
            for k in 1..<n {
                putVarint(UInt64(bins[k] - bins[k - 1]), &p)
                putVarint(counts[k], &p)
            }
        }
    }
}

extension BinStore {
    /// Runs `body` with the layout of this store's bins.
    func withLayout<R>(_ body: (BinLayout) -> R) -> R {
        let capacity = Swift.max(1, pageCount << BinStore.pageShift)
        return withUnsafeTemporaryAllocation(of: Int32.self, capacity: capacity) { bins in
            withUnsafeTemporaryAllocation(of: UInt64.self, capacity: capacity) { counts in
                // Unsafe pointers: both buffers hold a page's worth of bins per page, all the store can name.
                let n = collectBins(bins.baseAddress!, counts.baseAddress!)
                return body(BinLayout(bins: UnsafeBufferPointer(rebasing: bins[..<n]), counts: UnsafeBufferPointer(rebasing: counts[..<n])))
            }
        }
    }
}

extension Sketch {
    /// What an encoding holds besides the bins.
    struct Summary {
        var count: UInt64 = 0
        var sum = 0.0
        var min = Double.infinity
        var max = -Double.infinity
        var zeros: UInt64 = 0
    }

    /// Writes the encoding of a one-value sketch.
    static func writeSingle(_ value: Double, into w: inout ByteWriter) {
        w.writeRaw(count: 10) { p in
            p[0] = IndexMapping.formatID
            p[1] = Flag.single
            UnsafeMutableRawPointer(p + 2).storeBytes(of: value.bitPattern.littleEndian, as: UInt64.self)
        }
    }

    /// Writes the encoding of a sketch of `summary.count` ≠ 1 values with these bins.
    static func write(_ summary: Summary, negative neg: BinLayout, positive pos: BinLayout, into w: inout ByteWriter) {
        var flags: UInt8 = 0
        var size = 2 + varintSize(summary.count)
        if summary.count > 0 {
            if summary.zeros > 0 { flags |= Flag.zero }
            if neg.n > 0 { flags |= Flag.negative | (neg.dense ? Flag.negativeDense : 0) }
            if pos.n > 0 { flags |= Flag.positive | (pos.dense ? Flag.positiveDense : 0) }
            size += 24 + (summary.zeros > 0 ? varintSize(summary.zeros) : 0) + neg.byteCount + pos.byteCount
        }
        w.writeRaw(count: size) { start in
            var p = start
            p[0] = IndexMapping.formatID
            p[1] = flags
            p += 2
            putVarint(summary.count, &p)
            guard summary.count > 0 else { return }
            let raw = UnsafeMutableRawPointer(p)
            raw.storeBytes(of: summary.sum.bitPattern.littleEndian, as: UInt64.self)
            raw.storeBytes(of: summary.min.bitPattern.littleEndian, toByteOffset: 8, as: UInt64.self)
            raw.storeBytes(of: summary.max.bitPattern.littleEndian, toByteOffset: 16, as: UInt64.self)
            p += 24
            if summary.zeros > 0 { putVarint(summary.zeros, &p) }
            neg.write(to: &p)
            pos.write(to: &p)
            assert(p - start == size)
        }
    }
}

@inline(__always) func zigzag(_ v: Int32) -> UInt64 { UInt64(bitPattern: (Int64(v) << 1) ^ (Int64(v) >> 63)) }

@inline(__always) func varintSize(_ v: UInt64) -> Int { v == 0 ? 1 : (64 - v.leadingZeroBitCount + 6) / 7 }

/// Writes `value` as an unsigned LEB128 varint at `p` (``varintSize(_:)`` bytes) and moves `p` past it.
@inline(__always) func putVarint(_ value: UInt64, _ p: inout UnsafeMutablePointer<UInt8>) {
    var v = value
    while v >= 0x80 {
        p.pointee = UInt8(truncatingIfNeeded: v) | 0x80
        p += 1
        v >>= 7
    }
    p.pointee = UInt8(v)
    p += 1
}
