extension BinStore {
    /// Adds `n` bins given in ascending order with their counts (each > 0), as that many
    /// ``add(_:_:)`` calls would, in the same order: each page is looked up (or made) once and
    /// its bins added through one pointer. A count that would pass 2³² in its 32-bit lane, and
    /// every bin from the first page the cap refuses on, take ``add(_:_:)`` itself.
    mutating func add(sortedBins bins: UnsafePointer<Int32>, counts: UnsafePointer<UInt64>, _ n: Int) {
        var i = 0
        while i < n {
            let page = bins[i] >> Self.pageShift
            var end = i + 1
            while end < n, bins[end] >> Self.pageShift == page { end += 1 }
            guard let slot = slot(forPage: page, create: true) else {
                for k in i..<n { add(bins[k], counts[k]) }
                return
            }
            let base = slot << Self.pageShift
            var firstSlow = -1
            self.counts.withUnsafeMutableBufferPointer { lanes in
                // Unsafe pointer: `base` is the start of an existing page, and `bin & 63` stays inside it.
                let page = lanes.baseAddress! + base
                for k in i..<end {
                    let c = counts[k]
                    let lane = Int(bins[k] & 63)
                    let (sum, wrapped) = page[lane].addingReportingOverflow(UInt32(truncatingIfNeeded: c))
                    if c > UInt64(UInt32.max) || wrapped {
                        firstSlow = k
                        return
                    }
                    page[lane] = sum
                }
            }
            if firstSlow >= 0 {
                // Rare: carries past 2³². The page exists, so `add` moves no page.
                for k in firstSlow..<end { add(bins[k], counts[k]) }
            }
            i = end
        }
    }
}
