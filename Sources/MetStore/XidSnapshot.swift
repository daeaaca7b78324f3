/// A Postgres MVCC snapshot (`pg_current_snapshot()`, type `pg_snapshot`): which transactions'
/// effects a query running under it sees. Transaction ids are 64-bit (`xid8`, epoch included),
/// so comparisons never wrap.
///
/// A keyframe carries the snapshot its count ran under; a transition carries the id of the
/// transaction that made it (`pg_current_xact_id()`). The count holds the transition exactly
/// when the snapshot sees that transaction (docs/full-count.md).
package struct XidSnapshot: Sendable, Hashable, CustomStringConvertible {
    /// Every transaction below this had finished when the snapshot was taken.
    package let xmin: UInt64
    /// Every transaction at or above this had not started.
    package let xmax: UInt64
    /// Transactions in progress when the snapshot was taken (xmin ≤ id < xmax), ascending.
    package let inProgress: [UInt64]

    /// Refuses what Postgres never produces: xmax below xmin, in-progress ids out of
    /// `xmin..<xmax` or not strictly ascending.
    package init?(xmin: UInt64, xmax: UInt64, inProgress: [UInt64] = []) {
        guard xmin <= xmax else { return nil }
        var previous: UInt64?
        for id in inProgress {
            guard id >= xmin, id < xmax, previous.map({ id > $0 }) ?? true else { return nil }
            previous = id
        }
        self.xmin = xmin
        self.xmax = xmax
        self.inProgress = inProgress
    }

    /// Parses the text form of `pg_snapshot`: `xmin:xmax:xip1,xip2,...` (the list may be empty).
    package init?(parsing text: String) {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false)
        guard parts.count == 3, let xmin = UInt64(parts[0]), let xmax = UInt64(parts[1]) else { return nil }
        var ids: [UInt64] = []
        if !parts[2].isEmpty {
            for p in parts[2].split(separator: ",", omittingEmptySubsequences: false) {
                guard let id = UInt64(p) else { return nil }
                ids.append(id)
            }
        }
        self.init(xmin: xmin, xmax: xmax, inProgress: ids)
    }

    /// `pg_visible_in_snapshot(xid, snapshot)`: whether a query under this snapshot sees the
    /// effects of transaction `xid` (which committed).
    package func sees(_ xid: UInt64) -> Bool {
        if xid < xmin { return true }
        if xid >= xmax { return false }
        // Binary search of the in-progress list.
        var low = 0, high = inProgress.count
        while low < high {
            let mid = (low + high) / 2
            if inProgress[mid] < xid { low = mid + 1 } else { high = mid }
        }
        return low == inProgress.count || inProgress[low] != xid
    }

    /// The full (epoch-extended) id of a 32-bit transaction id taken within 2³¹ transactions of
    /// this snapshot, as logical decoding reports them.
    package func widen(_ xid: UInt32) -> UInt64 {
        let offset = Int64(Int32(bitPattern: xid &- UInt32(truncatingIfNeeded: xmax)))
        let full = Int64(bitPattern: xmax) &+ offset
        return full < 0 ? UInt64(xid) : UInt64(full)
    }

    package var description: String { "\(xmin):\(xmax):" + inProgress.map(String.init).joined(separator: ",") }
}
