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
        // One value: min (which keeps the sign of -0.0), or after `remove` the sum, which is
        // that value exactly.
        if count == 1 { return Self.writeSingle(min == max ? min : sum, into: &w) }
        let summary = Summary(count: _count, sum: _sum, min: _min, max: _max, zeros: _zeroCount)
        // The closures capture the summary and the other side's store, not the sketch (a capture
        // of `self` copies it).
        let positive = positive
        negative.withLayout { neg in
            positive.withLayout { pos in Self.write(summary, negative: neg, positive: pos, into: &w) }
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
        // No bin can pass 2³² when all the values together are fewer (as in `merge(_:)`).
        let cannotWrap = _count < 1 << 31 && h.count < 1 << 31
        if h.flags & Flag.negative != 0 {
            binned = try Self.readBins(&r, dense: h.flags & Flag.negativeDense != 0, into: &negative, total: binned, cannotWrap: cannotWrap)
        }
        if h.flags & Flag.positive != 0 {
            binned = try Self.readBins(&r, dense: h.flags & Flag.positiveDense != 0, into: &positive, total: binned, cannotWrap: cannotWrap)
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

    /// ``readBins(_:dense:into:total:cannotWrap:)``'s checks without a store: returns the new total.
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

    /// Adds one side's bins to `store`, checking them as ``skipBins(_:dense:total:)`` does:
    /// read into a sorted run first (on the stack when it fits), then added page by page.
    /// Returns the new total.
    static func readBins(_ r: inout ByteReader, dense: Bool, into store: inout BinStore, total: UInt64, cannotWrap: Bool) throws(DecodeError) -> UInt64 {
        let (first, n) = try readRunStart(&r, dense: dense)
        var total = total
        let result: Result<Void, DecodeError> = withUnsafeTemporaryAllocation(of: Int32.self, capacity: n) { bins in
            withUnsafeTemporaryAllocation(of: UInt64.self, capacity: n) { counts in
                // Unsafe pointers: `readRun` writes at most `n` entries, the capacity of both buffers.
                Result { () throws(DecodeError) in
                    let m = try readRun(&r, dense: dense, first: first, n: n, bins.baseAddress!, counts.baseAddress!, total: &total)
                    store.add(sortedBins: bins.baseAddress!, counts: counts.baseAddress!, m, cannotWrap: cannotWrap)
                }
            }
        }
        try result.get()
        return total
    }

    /// One side's bins, start and rest (see ``readRun(_:dense:first:n:_:_:total:)``).
    static func readRun(
        _ r: inout ByteReader, dense: Bool, into bins: UnsafeMutablePointer<Int32>, _ counts: UnsafeMutablePointer<UInt64>, total: inout UInt64
    ) throws(DecodeError) -> Int {
        let (first, n) = try readRunStart(&r, dense: dense)
        return try readRun(&r, dense: dense, first: first, n: n, bins, counts, total: &total)
    }

    /// The start of one side's bins: the first bin and how many entries follow (a dense run's
    /// length, zeros included, or a sparse run's bin count), checked against the bytes left.
    static func readRunStart(_ r: inout ByteReader, dense: Bool) throws(DecodeError) -> (first: Int64, n: Int) {
        if dense { return try readDenseRun(&r) }
        let range = IndexMapping.indexRange
        let n = try r.readLength(max: Swift.min(r.remaining / 2, range.count), "sparse bin count")
        guard n > 0 else { throw .invalid("sparse bin count") }
        return (try r.readSignedVarint(), n)
    }

    /// The rest of one side after ``readRunStart(_:dense:)``: writes its non-empty bins and their
    /// counts to `bins` and `counts` (room for `n` each) in ascending order, with the checks of
    /// ``skipBins(_:dense:total:)``, adding the counts to `total`; returns how many. Every entry
    /// written took at least one byte of the input.
    static func readRun(
        _ r: inout ByteReader, dense: Bool, first: Int64, n: Int,
        _ bins: UnsafeMutablePointer<Int32>, _ counts: UnsafeMutablePointer<UInt64>, total: inout UInt64
    ) throws(DecodeError) -> Int {
        var m = 0
        var t = total
        if dense {
            // The whole run is in range (readDenseRun checked it), so only the counts need checks.
            // Every entry is written and kept only when its count is not zero: no branch on it
            // (dense runs hold many zeros, at random). Entry `m` ≤ `i` is inside the room for `n`.
            for i in 0..<n {
                let c = try r.readVarint()
                try add(c, to: &t)
                bins[m] = Int32(truncatingIfNeeded: first + Int64(i))
                counts[m] = c
                m += c == 0 ? 0 : 1
            }
        } else {
            let range = IndexMapping.indexRange
            var bin = first
            for i in 0..<n {
                if i > 0 {
                    let gap = try r.readVarint()
                    guard gap > 0, gap <= UInt64(range.count) else { throw .invalid("bin gap") }
                    bin += Int64(gap)
                }
                let c = try r.readVarint()
                guard c > 0 else { throw .invalid("sparse bin count of zero") }
                guard bin >= Int64(range.lowerBound), bin <= Int64(range.upperBound) else { throw .invalid("bin index") }
                try add(c, to: &t)
                bins[m] = Int32(truncatingIfNeeded: bin)
                counts[m] = c
                m += 1
            }
        }
        total = t
        return m
    }
}

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
