/// A mergeable quantile sketch with a relative-error guarantee (DDSketch-style).
///
/// Every quantile it reports is within 1 % (``IndexMapping/relativeAccuracy``) of the exact
/// value at the same rank, for positive and negative values alike. Count, sum, min and max are
/// kept exactly (the sum is exact while the values are integers and the total stays below 2⁵³,
/// which holds for nanosecond timings). Merging adds bin counts, so it is associative and
/// commutative.
///
/// Special inputs are handled explicitly:
/// - values whose magnitude is below `Double.leastNormalMagnitude` (±0, subnormals) are counted
///   in a zero bin;
/// - negative values go to their own bins, mirrored, with the same guarantee;
/// - NaN and ±infinity are refused: ``add(_:)`` returns `false` and nothing changes;
/// - a huge value (1e300) costs one page of bins and does not disturb the other quantiles
///   (see ``BinStore`` for what happens at the page cap).
public struct Sketch: Sendable, Equatable {
    @usableFromInline var _count: UInt64 = 0
    @usableFromInline var _sum: Double = 0
    @usableFromInline var _min: Double = .infinity
    @usableFromInline var _max: Double = -.infinity
    @usableFromInline var _zeroCount: UInt64 = 0

    /// Number of recorded values.
    @inlinable public var count: UInt64 { _count }
    /// Sum of recorded values.
    @inlinable public var sum: Double { _sum }
    /// Smallest recorded value (`+inf` when empty).
    @inlinable public var min: Double { _min }
    /// Largest recorded value (`-inf` when empty).
    @inlinable public var max: Double { _max }
    /// Values counted as zero (magnitude below `Double.leastNormalMagnitude`).
    @inlinable public var zeroCount: UInt64 { _zeroCount }
    @usableFromInline var positive = BinStore()
    @usableFromInline var negative = BinStore()

    public init() {}

    /// A sketch of the given values (non-finite ones are skipped).
    public init(_ values: some Sequence<Double>) {
        for v in values { add(v) }
    }

    @inlinable public var isEmpty: Bool { count == 0 }

    /// Records one value. Returns `false`, recording nothing, for NaN and ±infinity.
    @inlinable @inline(__always) @discardableResult
    public mutating func add(_ x: Double) -> Bool {
        let bits = x.bitPattern
        if IndexMapping.isIndexable(bits: bits) {
            positive.increment(IndexMapping.index(bits: bits))
        } else if !addOutsidePositive(x, 1) {
            return false
        }
        _count &+= 1
        _sum += x
        if x < _min { _min = x }
        if x > _max { _max = x }
        return true
    }

    /// Records `n` copies of one value.
    @discardableResult
    public mutating func add(_ x: Double, count n: UInt64) -> Bool {
        guard n > 0 else { return x.isFinite }
        if x >= IndexMapping.minIndexable && x <= Double.greatestFiniteMagnitude {
            positive.add(IndexMapping.index(of: x), n)
        } else if !addOutsidePositive(x, n) {
            return false
        }
        _count &+= n
        _sum += x * Double(n)
        if x < _min { _min = x }
        if x > _max { _max = x }
        return true
    }

    @usableFromInline
    mutating func addOutsidePositive(_ x: Double, _ n: UInt64) -> Bool {
        guard x.isFinite else { return false }
        let magnitude = x.magnitude
        if magnitude < IndexMapping.minIndexable {
            _zeroCount &+= n
        } else {
            negative.add(IndexMapping.index(of: magnitude), n)
        }
        return true
    }

    /// Adds everything `other` holds.
    public mutating func merge(_ other: Sketch) {
        guard other.count > 0 else { return }
        // No bin can pass 2³² when all the values together are fewer.
        let cannotWrap = _count < 1 << 31 && other._count < 1 << 31
        positive.merge(other.positive, cannotWrap: cannotWrap)
        if other.negative.pageCount > 0 { negative.merge(other.negative, cannotWrap: cannotWrap) }
        _zeroCount &+= other.zeroCount
        _count &+= other.count
        _sum += other.sum
        _min = Swift.min(_min, other._min)
        _max = Swift.max(_max, other._max)
    }

    /// Empties the sketch but keeps its pages, so refilling it allocates nothing.
    public mutating func reset() {
        positive.zeroAll()
        negative.zeroAll()
        _count = 0
        _zeroCount = 0
        _sum = 0
        _min = .infinity
        _max = -.infinity
    }

    /// Empties the sketch and drops its pages but keeps their memory: for a scratch sketch that
    /// is refilled with values of other ranges again and again (compaction's accumulator), whose
    /// encoding then visits only the pages the new values use.
    public mutating func clear() {
        positive.removeAllPages()
        negative.removeAllPages()
        _count = 0
        _zeroCount = 0
        _sum = 0
        _min = .infinity
        _max = -.infinity
    }

    /// The value at rank `⌊q·(count − 1)⌋`, within 1 % of the exact one; `nil` when empty.
    public func quantile(_ q: Double) -> Double? {
        guard count > 0, !q.isNaN else { return nil }
        let rank = UInt64((Swift.min(Swift.max(q, 0), 1) * Double(count - 1)).rounded(.down))
        var seen: UInt64 = 0
        var found: Double?
        negative.scanBins(descending: true) { bin, c in
            seen &+= c
            if seen > rank { found = -IndexMapping.representative(bin) }
            return found == nil
        }
        if found == nil {
            seen &+= _zeroCount
            if seen > rank { found = 0 }
        }
        if found == nil {
            positive.scanBins { bin, c in
                seen &+= c
                if seen > rank { found = IndexMapping.representative(bin) }
                return found == nil
            }
        }
        guard let value = found ?? (max.isFinite ? max : nil) else { return nil }
        return Swift.min(Swift.max(value, min), max)
    }

    /// Several quantiles at once (same answers as ``quantile(_:)``).
    public func quantiles(_ qs: [Double]) -> [Double?] { qs.map { quantile($0) } }

    /// The mean of the recorded values; `nil` when empty.
    public var mean: Double? { count > 0 ? sum / Double(count) : nil }

    /// Heap and inline bytes this sketch occupies.
    public var memoryBytes: Int { MemoryLayout<Sketch>.size + positive.heapBytes + negative.heapBytes }

    /// Visits every non-empty bin with the sign of its values (−1, 0 for the zero bin, +1),
    /// its index (of the magnitude; 0 for the zero bin) and its count, in increasing value order.
    public func forEachBin(_ body: (_ sign: Int, _ index: Int32, _ count: UInt64) -> Void) {
        negative.forEachBin(descending: true) { body(-1, $0, $1) }
        if _zeroCount > 0 { body(0, 0, _zeroCount) }
        positive.forEachBin { body(1, $0, $1) }
    }

    /// Number of non-empty bins (zero bin included).
    public var binCount: Int {
        var n = zeroCount > 0 ? 1 : 0
        positive.forEachBin { _, _ in n += 1 }
        negative.forEachBin { _, _ in n += 1 }
        return n
    }
}

extension Sketch {
    /// Takes back a part that was merged into this sketch earlier. Min and max are left as they
    /// are (they cannot be un-merged), except that with one value left they become that value;
    /// callers that need exact bounds add a superset of the part back afterwards. Returns
    /// `false`, changing nothing, if `part` holds more than this sketch. (The store no longer
    /// uses it: rollups are rebuilt after snapshot merges instead.)
    @discardableResult
    public mutating func remove(_ part: Sketch) -> Bool {
        guard part._count <= _count, part._zeroCount <= _zeroCount else { return false }
        var ok = true
        part.positive.forEachBin { bin, c in if positive.count(at: bin) < c { ok = false } }
        part.negative.forEachBin { bin, c in if negative.count(at: bin) < c { ok = false } }
        guard ok else { return false }
        part.positive.forEachBin { bin, c in positive.subtract(bin, c) }
        part.negative.forEachBin { bin, c in negative.subtract(bin, c) }
        _zeroCount &-= part._zeroCount
        _count &-= part._count
        _sum -= part._sum
        if _count == 0 { reset() }
        // One value left: the sum is that value, so the bounds are known exactly again.
        if _count == 1 {
            _min = _sum
            _max = _sum
        }
        return true
    }
}
