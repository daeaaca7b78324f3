extension BinStore {
    /// Adds `n` bins given in ascending order with their counts (each > 0), as that many
    /// ``add(_:_:)`` calls would, in the same order: first every page they need is made (in the
    /// order the calls would make them), then the counts are added through one pointer.
    /// `cannotWrap`: the caller knows no 32-bit lane can pass 2³² (the store and the run together
    /// hold fewer values), so the adds need no check. If the page cap refuses a page, or a lane
    /// would wrap, the rest is left to ``add(_:_:)`` itself.
    mutating func add(sortedBins bins: UnsafePointer<Int32>, counts: UnsafePointer<UInt64>, _ n: Int, cannotWrap: Bool = false) {
        var lastPage = Int32.min
        for k in 0..<n where bins[k] >> Self.pageShift != lastPage {
            lastPage = bins[k] >> Self.pageShift
            if slot(forPage: lastPage, create: true) == nil {
                // At the cap (values over ~35 decades): nothing is added yet, the pages made so
                // far are the ones the calls would have made; the calls take it from here.
                for k in 0..<n { add(bins[k], counts[k]) }
                return
            }
        }
        let first = firstPage
        var done = n
        slotOfPage.withUnsafeBufferPointer { slots in
            self.counts.withUnsafeMutableBufferPointer { lanes in
                // Unsafe pointers: every bin's page exists (made above), so its slot is in
                // `slots` and its lane inside `lanes`.
                let lanes = lanes.baseAddress!
                for k in 0..<n {
                    let bin = bins[k]
                    let slot = Int(slots[Int(bin >> Self.pageShift &- first)]) &- 1
                    let lane = slot << Self.pageShift | Int(bin & 63)
                    let c = counts[k]
                    if cannotWrap {
                        lanes[lane] &+= UInt32(truncatingIfNeeded: c)
                        continue
                    }
                    let (sum, wrapped) = lanes[lane].addingReportingOverflow(UInt32(truncatingIfNeeded: c))
                    if c > UInt64(UInt32.max) || wrapped {
                        done = k
                        return
                    }
                    lanes[lane] = sum
                }
            }
        }
        // Rare: carries past 2³². Every page exists, so `add` moves no page.
        for k in done..<n { add(bins[k], counts[k]) }
    }
}
