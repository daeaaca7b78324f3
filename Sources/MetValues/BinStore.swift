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
                let done = counts.withUnsafeMutableBufferPointer { p in
                    // Unsafe pointer: a slot's page lies inside `counts` (slot ≤ pageCount), so k < count.
                    let c = p.baseAddress.unsafelyUnwrapped[k]
                    guard c != .max else { return false }
                    p.baseAddress.unsafelyUnwrapped[k] = c &+ 1
                    return true
                }
                if done { return }
            }
        }
        addSlow(i, 1)
    }

    /// Adds `n` to bin `i`, creating or folding a page as needed.
    @inlinable
    public mutating func add(_ i: Int32, _ n: UInt64) {
        guard n > 0 else { return }
        let j = Int(truncatingIfNeeded: (i >> Self.pageShift) &- firstPage)
        if n <= UInt64(UInt32.max), j >= 0, j < slotOfPage.count {
            let slot = slotOfPage[j]
            if slot != 0 {
                let k = (Int(slot &- 1) << Self.pageShift) | Int(i & 63)
                let (sum, overflow) = counts[k].addingReportingOverflow(UInt32(truncatingIfNeeded: n))
                if !overflow {
                    counts[k] = sum
                    return
                }
            }
        }
        addSlow(i, n)
    }

    @usableFromInline
    mutating func addSlow(_ i: Int32, _ n: UInt64) {
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

    /// Visits every non-empty bin in ascending (or descending) index order. Runs of 16 empty
    /// bins are skipped with one vector compare, so sparse pages cost little.
    @inlinable
    public func forEachBin(descending: Bool = false, _ body: (Int32, UInt64) -> Void) {
        scanBins(descending: descending) { bin, count in
            body(bin, count)
            return true
        }
    }

    /// Like ``forEachBin(descending:_:)``, stopping as soon as `body` returns `false`.
    @inlinable
    public func scanBins(descending: Bool = false, _ body: (Int32, UInt64) -> Bool) {
        guard carries.isEmpty else { return scanBinsWithCarries(descending: descending, body) }
        let n = slotOfPage.count
        // Lane k of a chunk contributes bit k: one compare and one horizontal add give the chunk's
        // non-empty bins as a bit mask, so a sparse page costs a few instructions per 16 bins.
        let laneBits = SIMD16<UInt32>(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768)
        counts.withUnsafeBufferPointer { buffer in
            // Unsafe pointer: every chunk read lies inside one page (slot·64 + 16·c ..< +16).
            let base = UnsafeRawPointer(buffer.baseAddress)
            for step in 0..<n {
                let j = descending ? n - 1 - step : step
                let slot = slotOfPage[j]
                if slot == 0 { continue }
                let pageBase = Int(slot - 1) << Self.pageShift
                let firstBin = (firstPage + Int32(j)) << Self.pageShift
                for c in 0..<4 {
                    let chunk = descending ? 3 - c : c
                    let v = base!.loadUnaligned(fromByteOffset: (pageBase + chunk * 16) * 4, as: SIMD16<UInt32>.self)
                    var mask = SIMD16<UInt32>().replacing(with: laneBits, where: v .!= SIMD16<UInt32>()).wrappedSum()
                    while mask != 0 {
                        let t: Int
                        if descending {
                            t = 31 - mask.leadingZeroBitCount
                            mask &= ~(1 << UInt32(t))
                        } else {
                            t = mask.trailingZeroBitCount
                            mask &= mask &- 1
                        }
                        if !body(firstBin + Int32(chunk * 16 + t), UInt64(v[t])) { return }
                    }
                }
            }
        }
    }

    /// Writes every non-empty bin and its count, in ascending order, to `bins` and `counts`
    /// (room for ``pageCount`` × 64 each); returns how many. A plain loop, no closure per bin.
    func collectBins(_ bins: UnsafeMutablePointer<Int32>, _ out: UnsafeMutablePointer<UInt64>) -> Int {
        var n = 0
        guard carries.isEmpty else {
            forEachBin { bin, c in
                bins[n] = bin
                out[n] = c
                n += 1
            }
            return n
        }
        let laneBits = SIMD16<UInt32>(1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768)
        counts.withUnsafeBufferPointer { buffer in
            // Unsafe pointer: every chunk read lies inside one page (slot·64 + 16·c ..< +16).
            let base = UnsafeRawPointer(buffer.baseAddress)
            for j in slotOfPage.indices {
                let slot = slotOfPage[j]
                if slot == 0 { continue }
                let pageBase = Int(slot - 1) << Self.pageShift
                let firstBin = (firstPage + Int32(j)) << Self.pageShift
                for chunk in 0..<4 {
                    let v = base!.loadUnaligned(fromByteOffset: (pageBase + chunk * 16) * 4, as: SIMD16<UInt32>.self)
                    var mask = SIMD16<UInt32>().replacing(with: laneBits, where: v .!= SIMD16<UInt32>()).wrappedSum()
                    while mask != 0 {
                        let t = mask.trailingZeroBitCount
                        mask &= mask &- 1
                        bins[n] = firstBin + Int32(chunk * 16 + t)
                        out[n] = UInt64(v[t])
                        n += 1
                    }
                }
            }
        }
        return n
    }

    /// ``scanBins(descending:_:)`` for a store with carries (counts past 2³²): rare.
    @usableFromInline
    func scanBinsWithCarries(descending: Bool, _ body: (Int32, UInt64) -> Bool) {
        let n = slotOfPage.count
        counts.withUnsafeBufferPointer { buffer in
            // Unsafe pointer: every chunk read lies inside one page (slot·64 + 16·c ..< +16).
            let base = UnsafeRawPointer(buffer.baseAddress)
            for step in 0..<n {
                let j = descending ? n - 1 - step : step
                let slot = slotOfPage[j]
                if slot == 0 { continue }
                let pageBase = Int(slot - 1) << Self.pageShift
                let firstBin = (firstPage + Int32(j)) << Self.pageShift
                for c in 0..<4 {
                    let chunk = descending ? 3 - c : c
                    let offset = pageBase + chunk * 16
                    if carries.isEmpty,
                        base!.loadUnaligned(fromByteOffset: offset * 4, as: SIMD16<UInt32>.self) == SIMD16<UInt32>()
                    {
                        continue
                    }
                    for t in 0..<16 {
                        let o = chunk * 16 + (descending ? 15 - t : t)
                        let count = buffer[pageBase + o]
                        if carries.isEmpty {
                            if count != 0, !body(firstBin + Int32(o), UInt64(count)) { return }
                        } else {
                            let carry = carries[firstBin + Int32(o)] ?? 0
                            if count != 0 || carry != 0, !body(firstBin + Int32(o), UInt64(count) &+ carry) { return }
                        }
                    }
                }
            }
        }
    }

    /// Adds every bin of `other`: first makes sure each of its pages exists here, then adds the
    /// pages' counts in one pass over both buffers. With `cannotWrap` (the caller knows both
    /// stores together hold fewer than 2³² values) the inner loop is a plain vectorisable add.
    public mutating func merge(_ other: BinStore, cannotWrap: Bool = false) {
        guard other.pageCount > 0 else { return }
        withUnsafeTemporaryAllocation(of: (dst: Int, src: Int, page: Int32).self, capacity: Self.maxPages) { pairs in
            var n = 0
            var folded: [(Int32, Int)] = []
            for j in other.slotOfPage.indices where other.slotOfPage[j] != 0 {
                let page = other.firstPage + Int32(j)
                let src = Int(other.slotOfPage[j] - 1) << Self.pageShift
                if let dst = slot(forPage: page, create: true) {
                    pairs[n] = (dst << Self.pageShift, src, page)
                    n += 1
                } else {
                    folded.append((page, src))  // page cap reached: these fold bin by bin below
                }
            }
            var wrappedPages: [Int] = []
            counts.withUnsafeMutableBufferPointer { d in
                other.counts.withUnsafeBufferPointer { s in
                    // Unsafe pointers: every pair names whole pages inside both buffers.
                    for p in 0..<n {
                        let dp = d.baseAddress! + pairs[p].dst
                        let sp = s.baseAddress! + pairs[p].src
                        if cannotWrap {
                            for o in 0..<Self.pageSize { dp[o] &+= sp[o] }
                            continue
                        }
                        var wrapped: UInt32 = 0
                        for o in 0..<Self.pageSize {
                            let r = dp[o] &+ sp[o]
                            dp[o] = r
                            wrapped |= r < sp[o] ? 1 : 0
                        }
                        if wrapped != 0 { wrappedPages.append(p) }
                    }
                }
            }
            for p in wrappedPages {
                // A lane wrapped past 2³²: record the carries. Rare; exactness over speed.
                let (dst, src, page) = pairs[p]
                for o in 0..<Self.pageSize where counts[dst + o] < other.counts[src + o] {
                    carries[(page << Self.pageShift) + Int32(o), default: 0] &+= 1 << 32
                }
            }
            for (page, src) in folded {
                for o in 0..<Self.pageSize where other.counts[src + o] != 0 {
                    add((page << Self.pageShift) + Int32(o), UInt64(other.counts[src + o]))
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

    /// Removes every page, keeping the buffers' capacity.
    public mutating func removeAllPages() {
        counts.removeAll(keepingCapacity: true)
        slotOfPage.removeAll(keepingCapacity: true)
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
    ///
    /// At the cap the store keeps the ``maxPages`` highest pages: a lower page is evicted and its
    /// counts fold into the lowest bin of the lowest page kept, and values below every kept page
    /// fold there too. The pages kept and where folded counts land depend only on which pages
    /// were ever occupied, never on the order of arrival, so merging stays commutative.
    mutating func slotIndex(forAdding i: Int32) -> (Int, Int32) {
        let page = i >> Self.pageShift
        if let slot = slot(forPage: page, create: true) {
            return ((slot << Self.pageShift) | Int(i & 63), i)
        }
        let lowest = lowestPage()
        if page > lowest {
            evictLowestPage()
            if let slot = slot(forPage: page, create: true) {
                return ((slot << Self.pageShift) | Int(i & 63), i)
            }
        }
        let floorPage = lowestPage()
        let bin = floorPage << Self.pageShift
        return (existingSlotIndex(bin)!, bin)
    }

    func lowestPage() -> Int32 {
        let j = slotOfPage.firstIndex { $0 != 0 }!
        return firstPage + Int32(j)
    }

    /// Frees the lowest page, folding its counts into the lowest bin of the next page.
    mutating func evictLowestPage() {
        let j = slotOfPage.firstIndex { $0 != 0 }!
        let page = firstPage + Int32(j)
        let slot = Int(slotOfPage[j] - 1)
        var folded: UInt64 = 0
        for o in 0..<Self.pageSize {
            let bin = (page << Self.pageShift) + Int32(o)
            folded &+= UInt64(counts[(slot << Self.pageShift) + o]) &+ (carries.removeValue(forKey: bin) ?? 0)
        }
        // Move the last slot into the freed one so the pages stay packed.
        let last = pageCount - 1
        if slot != last {
            for o in 0..<Self.pageSize { counts[(slot << Self.pageShift) + o] = counts[(last << Self.pageShift) + o] }
            if let k = slotOfPage.firstIndex(of: UInt8(last + 1)) { slotOfPage[k] = UInt8(slot + 1) }
        }
        counts.removeLast(Self.pageSize)
        slotOfPage[j] = 0
        if folded > 0 {
            let next = lowestPage()
            add(next << Self.pageShift, folded)
        }
    }

    /// The slot of `page`, allocating one when allowed and under the cap.
    mutating func slot(forPage page: Int32, create: Bool) -> Int? {
        if slotOfPage.isEmpty {
            guard create else { return nil }
            firstPage = page
            slotOfPage.append(0)
        }
        if page < firstPage {
            guard create, pageCount < Self.maxPages else { return nil }
            let grow = Int(firstPage - page)
            slotOfPage.insert(contentsOf: repeatElement(0, count: grow), at: 0)
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
