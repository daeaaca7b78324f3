/// Counts per bin index, stored sparsely in pages of 64 contiguous bins.
///
/// Only pages that hold a value are allocated, so a sketch whose values span a few decades costs
/// a few pages, and one absurd outlier (1e300 next to milliseconds) costs one more page rather
/// than a dense run of thousands of empty bins. At most ``maxPages`` pages exist (4,096 bins,
/// 16 KiB of counts); a value that would need another page is counted in the nearest bin of the
/// nearest existing page ("folded"). Folding needs values spread over more than ~35 decades, and
/// only quantiles that land in a folded bin lose the relative-error guarantee; count, sum, min and
/// max stay exact. Counts are 32-bit; the rare carries past 2³² live in a side table, so a bin
/// never wraps.
public struct BinStore: Sendable {
    public static let pageShift: Int32 = 6
    public static let pageSize = 64
    public static let maxPages = 64

    /// Page slots back to back: slot `k` holds bins `[page·64, page·64 + 64)` at `[k·64, k·64 + 64)`.
    @usableFromInline var counts: [UInt32] = []
    /// `slotOfPage[p - firstPage]` is the slot of page `p` plus one; 0 means "no page".
    @usableFromInline var slotOfPage: [UInt8] = []
    @usableFromInline var firstPage: Int32 = 0
    /// Carries: multiples of 2³² to add to a bin's 32-bit count.
    @usableFromInline var carries: [Int32: UInt64] = [:]

    public init() {}

    @inlinable public var pageCount: Int { counts.count >> Self.pageShift }

    /// Adds one to bin `i`.
    @inlinable @inline(__always)
    public mutating func increment(_ i: Int32) {
        let j = Int(truncatingIfNeeded: (i >> Self.pageShift) &- firstPage)
        if j >= 0 && j < slotOfPage.count {
            let slot = slotOfPage[j]
            if slot != 0 {
                let k = (Int(slot &- 1) << Self.pageShift) | Int(i & 63)
                let c = counts[k]
                if c != .max {
                    counts[k] = c &+ 1
                    return
                }
            }
        }
        add(i, 1)
    }

    /// Adds `n` to bin `i`, creating or folding a page as needed.
    public mutating func add(_ i: Int32, _ n: UInt64) {
        guard n > 0 else { return }
        let (k, bin) = slotIndex(forAdding: i)
        let sum = UInt64(counts[k]) &+ (n & 0xffff_ffff)
        counts[k] = UInt32(truncatingIfNeeded: sum)
        let carry = (sum >> 32) &+ (n >> 32)
        if carry > 0 { carries[bin, default: 0] &+= carry << 32 }
    }

    /// The count of bin `i`.
    public func count(at i: Int32) -> UInt64 {
        guard let k = existingSlotIndex(i) else { return 0 }
        return UInt64(counts[k]) &+ (carries[i] ?? 0)
    }

    /// Visits every non-empty bin in ascending (or descending) index order.
    @inlinable
    public func forEachBin(descending: Bool = false, _ body: (Int32, UInt64) throws -> Void) rethrows {
        let n = slotOfPage.count
        for step in 0..<n {
            let j = descending ? n - 1 - step : step
            let slot = slotOfPage[j]
            if slot == 0 { continue }
            let base = Int(slot - 1) << Self.pageShift
            let firstBin = (firstPage + Int32(j)) << Self.pageShift
            for t in 0..<Self.pageSize {
                let o = descending ? Self.pageSize - 1 - t : t
                let c = counts[base + o]
                if carries.isEmpty {
                    if c != 0 { try body(firstBin + Int32(o), UInt64(c)) }
                } else {
                    let carry = carries[firstBin + Int32(o)] ?? 0
                    if c != 0 || carry != 0 { try body(firstBin + Int32(o), UInt64(c) &+ carry) }
                }
            }
        }
    }

    /// Adds every bin of `other`, page by page.
    public mutating func merge(_ other: BinStore) {
        for j in other.slotOfPage.indices where other.slotOfPage[j] != 0 {
            let page = other.firstPage + Int32(j)
            let src = Int(other.slotOfPage[j] - 1) << Self.pageShift
            guard let dstSlot = slot(forPage: page, create: true) else {
                // Page cap reached: fold bin by bin.
                for o in 0..<Self.pageSize where other.counts[src + o] != 0 {
                    add((page << Self.pageShift) + Int32(o), UInt64(other.counts[src + o]))
                }
                continue
            }
            let dst = dstSlot << Self.pageShift
            var overflow = false
            counts.withUnsafeMutableBufferPointer { d in
                other.counts.withUnsafeBufferPointer { s in
                    for o in 0..<Self.pageSize {
                        let (r, o1) = d[dst + o].addingReportingOverflow(s[src + o])
                        d[dst + o] = r
                        overflow = overflow || o1
                    }
                }
            }
            if overflow {
                // Recompute carries for this page: a lane wrapped. Rare; exactness over speed.
                for o in 0..<Self.pageSize where counts[dst + o] < other.counts[src + o] {
                    carries[(page << Self.pageShift) + Int32(o), default: 0] &+= 1 << 32
                }
            }
        }
        for (bin, carry) in other.carries { add(bin, carry) }
    }

    /// Sets every count to zero and keeps the pages, so that refilling allocates nothing.
    public mutating func zeroAll() {
        for k in counts.indices { counts[k] = 0 }
        carries.removeAll()
    }

    /// True when no bin holds a count.
    public var isEmpty: Bool { carries.isEmpty && !counts.contains { $0 != 0 } }

    /// Heap bytes held by this store (capacities, not counts).
    public var heapBytes: Int {
        var bytes = 0
        if counts.capacity > 0 { bytes += 32 + counts.capacity * 4 }
        if slotOfPage.capacity > 0 { bytes += 32 + slotOfPage.capacity }
        if !carries.isEmpty { bytes += 64 + carries.capacity * 16 }
        return bytes
    }

    // MARK: - Pages

    @usableFromInline func existingSlotIndex(_ i: Int32) -> Int? {
        let j = Int((i >> Self.pageShift) - firstPage)
        guard j >= 0, j < slotOfPage.count, slotOfPage[j] != 0 else { return nil }
        return (Int(slotOfPage[j] - 1) << Self.pageShift) | Int(i & 63)
    }

    /// The counts index to add to for bin `i`, and the bin actually used (folded when capped).
    mutating func slotIndex(forAdding i: Int32) -> (Int, Int32) {
        let page = i >> Self.pageShift
        if let slot = slot(forPage: page, create: true) {
            return ((slot << Self.pageShift) | Int(i & 63), i)
        }
        // Folding: the nearest existing page, then the nearest bin within it.
        var best = 0
        var bestDistance = Int32.max
        for j in slotOfPage.indices where slotOfPage[j] != 0 {
            let d = abs(firstPage + Int32(j) - page)
            if d < bestDistance { bestDistance = d; best = j }
        }
        let nearPage = firstPage + Int32(best)
        let bin = Swift.min(Swift.max(i, nearPage << Self.pageShift), (nearPage << Self.pageShift) + 63)
        return ((Int(slotOfPage[best] - 1) << Self.pageShift) | Int(bin & 63), bin)
    }

    /// The slot of `page`, allocating one when allowed and under the cap.
    mutating func slot(forPage page: Int32, create: Bool) -> Int? {
        if slotOfPage.isEmpty {
            guard create else { return nil }
            firstPage = page
            slotOfPage = [0]
        }
        if page < firstPage {
            guard create, pageCount < Self.maxPages else { return nil }
            let grow = Int(firstPage - page)
            var newDirectory = [UInt8](repeating: 0, count: grow + slotOfPage.count)
            newDirectory.replaceSubrange(grow..., with: slotOfPage)
            slotOfPage = newDirectory
            firstPage = page
        } else if page >= firstPage + Int32(slotOfPage.count) {
            guard create, pageCount < Self.maxPages else { return nil }
            let grow = Int(page - firstPage) + 1 - slotOfPage.count
            slotOfPage.reserveCapacity(slotOfPage.count + grow)
            slotOfPage.append(contentsOf: repeatElement(0, count: grow))
        }
        let j = Int(page - firstPage)
        if slotOfPage[j] != 0 { return Int(slotOfPage[j] - 1) }
        guard create, pageCount < Self.maxPages else { return nil }
        let slot = pageCount
        // Grow by exactly one page: memory stays proportional to the pages in use.
        counts.reserveCapacity(counts.count + Self.pageSize)
        counts.append(contentsOf: repeatElement(0, count: Self.pageSize))
        slotOfPage[j] = UInt8(slot + 1)
        return slot
    }
}

extension BinStore: Equatable {
    /// Equal when every bin holds the same count, whatever the page layout.
    public static func == (lhs: BinStore, rhs: BinStore) -> Bool {
        var l: [(Int32, UInt64)] = []
        var r: [(Int32, UInt64)] = []
        lhs.forEachBin { l.append(($0, $1)) }
        rhs.forEachBin { r.append(($0, $1)) }
        return l.elementsEqual(r) { $0.0 == $1.0 && $0.1 == $1.1 }
    }
}

extension BinStore {
    /// Subtracts `n` from bin `i`; the caller has checked that the bin holds at least `n`.
    mutating func subtract(_ i: Int32, _ n: UInt64) {
        guard let k = existingSlotIndex(i) else { return }
        let carry = carries[i] ?? 0
        let total = UInt64(counts[k]) &+ carry &- n
        counts[k] = UInt32(truncatingIfNeeded: total)
        let high = total & ~0xffff_ffff
        if high == 0 { carries[i] = nil } else { carries[i] = high }
    }
}
