/// The compact binary form of a ``Sketch``, used on the wire, in snapshots and inside the store.
///
/// ```
/// u8 format (IndexMapping.formatID)   u8 flags
/// single value:  f64 value                                   (flags & single)
/// otherwise:     varint count; when count > 0: f64 sum, f64 min, f64 max,
///                [varint zeroCount], [negative bins], [positive bins]
/// bins, dense:   zigzag first index, varint n, n × varint count (zeros allowed)
/// bins, sparse:  varint n, zigzag first index, varint count, (n − 1) × (varint gap, varint count)
/// ```
/// The encoder picks dense or sparse per side, whichever is shorter. The decoder checks every
/// length against the bytes left before it loops, refuses indices outside
/// ``IndexMapping/indexRange``, and checks that the bins add up to the count.
extension Sketch {
    enum Flag {
        static let single: UInt8 = 1 << 0
        static let zero: UInt8 = 1 << 1
        static let negative: UInt8 = 1 << 2
        static let positive: UInt8 = 1 << 3
        static let negativeDense: UInt8 = 1 << 4
        static let positiveDense: UInt8 = 1 << 5
        static let known: UInt8 = 0x3f
    }

    /// The encoded bytes.
    public func encoded() -> [UInt8] {
        var w = ByteWriter(capacity: 40 + 96 * (positive.pageCount + negative.pageCount))
        encode(into: &w)
        return w.bytes
    }

    /// Appends the encoding to `writer`.
    public func encode(into w: inout ByteWriter) {
        w.writeByte(IndexMapping.formatID)
        // One value: min (which keeps the sign of -0.0), or after `remove` the sum, which is
        // that value exactly.
        if count == 1 {
            w.writeByte(Flag.single)
            w.writeDouble(min == max ? min : sum)
            return
        }
        // The closures capture these, not the sketch (a capture of `self` copies it).
        let (count, sum, min, max, zeroCount) = (_count, _sum, _min, _max, _zeroCount)
        negative.withLayout { neg in
            positive.withLayout { pos in
                var flags: UInt8 = 0
                if zeroCount > 0 { flags |= Flag.zero }
                if neg.n > 0 { flags |= Flag.negative | (neg.dense ? Flag.negativeDense : 0) }
                if pos.n > 0 { flags |= Flag.positive | (pos.dense ? Flag.positiveDense : 0) }
                w.writeByte(flags)
                w.writeVarint(count)
                guard count > 0 else { return }
                w.writeDouble(sum)
                w.writeDouble(min)
                w.writeDouble(max)
                if zeroCount > 0 { w.writeVarint(zeroCount) }
                if neg.n > 0 { neg.write(into: &w) }
                if pos.n > 0 { pos.write(into: &w) }
            }
        }
    }

    /// Decodes a sketch, validating everything.
    public init(decoding bytes: some Collection<UInt8>) throws(DecodeError) {
        let array = Array(bytes)
        var result: Result<Sketch, DecodeError> = .failure(.truncated)
        array.withUnsafeBytes { raw in
            var r = ByteReader(raw)
            result = Result { () throws(DecodeError) -> Sketch in
                let s = try Sketch.decode(from: &r)
                try r.expectEnd()
                return s
            }
        }
        self = try result.get()
    }

    /// Decodes one sketch from the reader's position, leaving the reader after it.
    public static func decode(from r: inout ByteReader) throws(DecodeError) -> Sketch {
        var s = Sketch()
        try s.merge(from: &r)
        return s
    }

    /// What precedes an encoded sketch's bins.
    struct Header {
        var flags: UInt8
        /// The value of a one-value sketch (flags == single); nil otherwise.
        var single: Double?
        var count: UInt64 = 0
        var sum = 0.0, min = 0.0, max = 0.0
        /// Values in the zero bin.
        var zeros: UInt64 = 0
    }

    /// Reads and checks everything before the bins.
    static func readHeader(_ r: inout ByteReader) throws(DecodeError) -> Header {
        guard try r.readByte() == IndexMapping.formatID else { throw .invalid("sketch format") }
        let flags = try r.readByte()
        guard flags & ~Flag.known == 0 else { throw .invalid("sketch flags") }
        if flags & Flag.single != 0 {
            guard flags == Flag.single else { throw .invalid("sketch flags") }
            return Header(flags: flags, single: try r.readDouble())
        }
        var h = Header(flags: flags)
        h.count = try r.readVarint()
        if h.count == 0 {
            guard flags == 0 else { throw .invalid("empty sketch flags") }
            return h
        }
        h.sum = try r.readDouble()
        h.min = try r.readDouble()
        h.max = try r.readDouble()
        guard !h.sum.isNaN, h.min.isFinite, h.max.isFinite, h.min <= h.max, h.count >= 2 else { throw .invalid("sketch summary") }
        if flags & Flag.zero != 0 {
            h.zeros = try r.readVarint()
            guard h.zeros > 0 else { throw .invalid("zero count") }
        }
        guard flags & Flag.negative != 0 || flags & Flag.negativeDense == 0,
              flags & Flag.positive != 0 || flags & Flag.positiveDense == 0 else { throw .invalid("sketch flags") }
        return h
    }

    /// Merges an encoded sketch into this one without building an intermediate sketch.
    ///
    /// Validation happens while bins are added, so on a malformed input this sketch may already
    /// hold part of it: use it for bytes this process encoded (the store's own), and
    /// ``decode(from:)`` for bytes from elsewhere.
    public mutating func merge(from r: inout ByteReader) throws(DecodeError) {
        let h = try Self.readHeader(&r)
        if let v = h.single {
            guard add(v) else { throw .invalid("sketch value") }
            return
        }
        guard h.count > 0 else { return }
        _zeroCount &+= h.zeros
        var binned = h.zeros
        if h.flags & Flag.negative != 0 {
            binned = try Self.readBins(&r, dense: h.flags & Flag.negativeDense != 0, into: &negative, total: binned)
        }
        if h.flags & Flag.positive != 0 {
            binned = try Self.readBins(&r, dense: h.flags & Flag.positiveDense != 0, into: &positive, total: binned)
        }
        guard binned == h.count else { throw .invalid("bins do not add up to the count") }
        _count &+= h.count
        _sum += h.sum
        _min = Swift.min(_min, h.min)
        _max = Swift.max(_max, h.max)
    }

    /// Checks that the reader holds one sketch ``decode(from:)`` would accept, and moves past
    /// it, building nothing: for encoded sketches that are kept as they are (a snapshot's).
    public static func validate(from r: inout ByteReader) throws(DecodeError) {
        let h = try readHeader(&r)
        if let v = h.single {
            guard v.isFinite else { throw .invalid("sketch value") }
            return
        }
        guard h.count > 0 else { return }
        var binned = h.zeros
        if h.flags & Flag.negative != 0 { binned = try skipBins(&r, dense: h.flags & Flag.negativeDense != 0, total: binned) }
        if h.flags & Flag.positive != 0 { binned = try skipBins(&r, dense: h.flags & Flag.positiveDense != 0, total: binned) }
        guard binned == h.count else { throw .invalid("bins do not add up to the count") }
    }

    /// ``readBins(_:dense:into:total:)``'s checks without a store: returns the new total.
    static func skipBins(_ r: inout ByteReader, dense: Bool, total: UInt64) throws(DecodeError) -> UInt64 {
        var total = total
        if dense {
            let (_, n) = try readDenseRun(&r)
            for _ in 0..<n { try add(try r.readVarint(), to: &total) }
        } else {
            let range = IndexMapping.indexRange
            try readSparseBins(&r) { bin, c throws(DecodeError) in
                guard bin >= Int64(range.lowerBound), bin <= Int64(range.upperBound) else { throw .invalid("bin index") }
                try add(c, to: &total)
            }
        }
        return total
    }

    /// Adds a bin's count to the running total, refusing an overflow.
    @inline(__always) static func add(_ c: UInt64, to total: inout UInt64) throws(DecodeError) {
        let (t, o) = total.addingReportingOverflow(c)
        guard !o else { throw .invalid("bin counts overflow") }
        total = t
    }

    /// A dense run's header: its first bin and its length, the whole run checked to lie in the
    /// index range; each count takes at least one byte, so a length beyond the bytes left is a lie.
    static func readDenseRun(_ r: inout ByteReader) throws(DecodeError) -> (first: Int64, n: Int) {
        let range = IndexMapping.indexRange
        let first = try r.readSignedVarint()
        let n = try r.readLength(max: Swift.min(r.remaining, range.count), "dense bin count")
        guard n > 0, first >= Int64(range.lowerBound), first <= Int64(range.upperBound),
            Int64(n) - 1 <= Int64(range.upperBound) - first
        else {
            throw .invalid("dense bin range")
        }
        return (first, n)
    }

    /// The sparse layout: `body` gets every bin and its count, gaps and counts checked (the
    /// bin's range is the caller's to check).
    static func readSparseBins(_ r: inout ByteReader, _ body: (Int64, UInt64) throws(DecodeError) -> Void) throws(DecodeError) {
        let range = IndexMapping.indexRange
        let n = try r.readLength(max: Swift.min(r.remaining / 2, range.count), "sparse bin count")
        guard n > 0 else { throw .invalid("sparse bin count") }
        var bin = try r.readSignedVarint()
        for i in 0..<n {
            if i > 0 {
                let gap = try r.readVarint()
                guard gap > 0, gap <= UInt64(range.count) else { throw .invalid("bin gap") }
                bin += Int64(gap)
            }
            let c = try r.readVarint()
            guard c > 0 else { throw .invalid("sparse bin count of zero") }
            try body(bin, c)
        }
    }

    static func readBins(_ r: inout ByteReader, dense: Bool, into store: inout BinStore, total: UInt64) throws(DecodeError) -> UInt64 {
        let range = IndexMapping.indexRange
        var total = total
        if dense {
            let (first, n) = try readDenseRun(&r)
            // The whole run is in range (checked above), so only the counts need checking here.
            // Consecutive bins share a page: look its slot up once per page.
            var page = Int32.min
            var pageBase = -1
            for i in 0..<n {
                let c = try r.readVarint()
                if c == 0 { continue }
                try add(c, to: &total)
                let bin = Int32(truncatingIfNeeded: first + Int64(i))
                if bin >> BinStore.pageShift != page {
                    page = bin >> BinStore.pageShift
                    pageBase = store.slot(forPage: page, create: true).map { $0 << BinStore.pageShift } ?? -1
                }
                if pageBase >= 0, c <= UInt64(UInt32.max) {
                    let k = pageBase | Int(bin & 63)
                    let (sum, wrapped) = store.counts[k].addingReportingOverflow(UInt32(c))
                    if !wrapped {
                        store.counts[k] = sum
                        continue
                    }
                }
                store.add(bin, c)
                page = Int32.min  // the slow path may have moved pages
            }
        } else {
            // readSparseBins's checks, inline, with the page's slot looked up once per page.
            let n = try r.readLength(max: Swift.min(r.remaining / 2, range.count), "sparse bin count")
            guard n > 0 else { throw .invalid("sparse bin count") }
            var bin = try r.readSignedVarint()
            var page = Int32.min
            var pageBase = -1
            for i in 0..<n {
                if i > 0 {
                    let gap = try r.readVarint()
                    guard gap > 0, gap <= UInt64(range.count) else { throw .invalid("bin gap") }
                    bin += Int64(gap)
                }
                let c = try r.readVarint()
                guard c > 0 else { throw .invalid("sparse bin count of zero") }
                guard bin >= Int64(range.lowerBound), bin <= Int64(range.upperBound) else { throw .invalid("bin index") }
                try add(c, to: &total)
                let b = Int32(truncatingIfNeeded: bin)
                if b >> BinStore.pageShift != page {
                    page = b >> BinStore.pageShift
                    pageBase = store.slot(forPage: page, create: true).map { $0 << BinStore.pageShift } ?? -1
                }
                if pageBase >= 0, c <= UInt64(UInt32.max) {
                    let k = pageBase | Int(b & 63)
                    let (sum, wrapped) = store.counts[k].addingReportingOverflow(UInt32(c))
                    if !wrapped {
                        store.counts[k] = sum
                        continue
                    }
                }
                store.add(b, c)
                page = Int32.min  // the slow path may have moved pages
            }
        }
        return total
    }
}

/// The shorter of the dense and sparse layouts for one side's bins. The bins are gathered once
/// into a temporary buffer (on the stack when it fits), so encoding allocates nothing but the
/// bytes it writes: compaction encodes every bucket it merges.
struct BinLayout {
    /// Borrowed from ``with(_:_:)``'s temporary allocation; the layout never outlives it.
    let bins: UnsafeBufferPointer<Int32>
    let counts: UnsafeBufferPointer<UInt64>
    var dense = false

    var n: Int { bins.count }

    /// Runs `body` with the layout of `store`'s bins.
    static func with<R>(_ store: BinStore, _ body: (BinLayout) -> R) -> R { store.withLayout(body) }

    init(bins: UnsafeBufferPointer<Int32>, counts: UnsafeBufferPointer<UInt64>) {
        self.bins = bins
        self.counts = counts
        guard let first = bins.first, let last = bins.last else { return }
        var countBytes = 0
        for c in counts { countBytes += varintSize(c) }
        var gapBytes = 0
        for k in 1..<Swift.max(1, bins.count) { gapBytes += varintSize(UInt64(bins[k] - bins[k - 1])) }
        let span = Int(last - first) + 1
        let denseBytes = varintSize(zigzag(first)) + varintSize(UInt64(span)) + countBytes + (span - bins.count)
        let sparseBytes = varintSize(UInt64(bins.count)) + varintSize(zigzag(first)) + countBytes + gapBytes
        dense = denseBytes <= sparseBytes
    }

    func write(into w: inout ByteWriter) {
        guard n > 0 else { return }
        if dense {
            w.writeSignedVarint(Int64(bins[0]))
            w.writeVarint(UInt64(bins[n - 1] - bins[0] + 1))
            var next = bins[0]
            for k in 0..<n {
                while next < bins[k] {
                    w.writeByte(0)
                    next += 1
                }
                w.writeVarint(counts[k])
                next = bins[k] + 1
            }
        } else {
            w.writeVarint(UInt64(n))
            w.writeSignedVarint(Int64(bins[0]))
            w.writeVarint(counts[0])
            for k in 1..<n {
                w.writeVarint(UInt64(bins[k] - bins[k - 1]))
                w.writeVarint(counts[k])
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

@inline(__always) func zigzag(_ v: Int32) -> UInt64 { UInt64(bitPattern: (Int64(v) << 1) ^ (Int64(v) >> 63)) }

@inline(__always) func varintSize(_ v: UInt64) -> Int { v == 0 ? 1 : (64 - v.leadingZeroBitCount + 6) / 7 }

extension Sketch {
    /// ``quantile(_:)`` of an encoded sketch, read straight from its bytes (no bins are built):
    /// the same answer, to the bit, as decoding it and asking. For a query window that holds a
    /// single stored point. Sketches with negative values are decoded first.
    public static func quantile(_ q: Double, encoded bytes: ArraySlice<UInt8>) throws(DecodeError) -> Double? {
        var result: Result<Double?, DecodeError> = .failure(.truncated)
        bytes.withUnsafeBytes { raw in
            // Unsafe pointer: the reader lives only inside this closure.
            var r = ByteReader(raw)
            result = Result { () throws(DecodeError) -> Double? in try quantile(q, reading: &r, whole: bytes) }
        }
        return try result.get()
    }

    static func quantile(_ q: Double, reading r: inout ByteReader, whole bytes: ArraySlice<UInt8>) throws(DecodeError) -> Double? {
        guard try r.readByte() == IndexMapping.formatID else { throw .invalid("sketch format") }
        let flags = try r.readByte()
        guard !q.isNaN, flags & Flag.single == 0, flags & Flag.negative == 0 else {
            return try Sketch(decoding: bytes).quantile(q)
        }
        let n = try r.readVarint()
        guard n > 0 else { return nil }
        _ = try r.readDouble()
        let lo = try r.readDouble()
        let hi = try r.readDouble()
        let rank = UInt64((Swift.min(Swift.max(q, 0), 1) * Double(n - 1)).rounded(.down))
        var seen: UInt64 = 0
        if flags & Flag.zero != 0 {
            seen = try r.readVarint()
            if seen > rank { return Swift.min(Swift.max(0, lo), hi) }
        }
        guard flags & Flag.positive != 0 else { return hi }
        var found: Int32?
        if flags & Flag.positiveDense != 0 {
            let first = try r.readSignedVarint()
            let count = try r.readLength(max: r.remaining, "dense bin count")
            for i in 0..<count {
                seen &+= try r.readVarint()
                if seen > rank {
                    found = Int32(truncatingIfNeeded: first + Int64(i))
                    break
                }
            }
        } else {
            let count = try r.readLength(max: r.remaining, "sparse bin count")
            var bin = try r.readSignedVarint()
            for i in 0..<count {
                if i > 0 { bin += Int64(try r.readVarint()) }
                seen &+= try r.readVarint()
                if seen > rank {
                    found = Int32(truncatingIfNeeded: bin)
                    break
                }
            }
        }
        guard let found else { return hi }
        return Swift.min(Swift.max(IndexMapping.representative(found), lo), hi)
    }
}
