/// The store's timelines by id, in pages of 4,096: growing copies at most the last page and
/// never leaves more than one page's room unused. A plain array doubles: at 300,000
/// one-point timelines (a burst of 100,000 new queue names) it held 10 MB of unused room, and
/// each growth copied the whole array while both copies were alive.
struct TimelinePages: RandomAccessCollection, Sendable {
    static let pageShift = 12
    static let pageSize = 1 << pageShift

    private var pages: [[Timeline]] = []
    private(set) var count = 0

    var startIndex: Int { 0 }
    var endIndex: Int { count }

    @inline(__always) subscript(i: Int) -> Timeline {
        get { pages[i &>> Self.pageShift][i & (Self.pageSize - 1)] }
        _modify { yield &pages[i &>> Self.pageShift][i & (Self.pageSize - 1)] }
    }

    /// Adds the timeline of the next id. A page grows like an array up to its size (so a small
    /// store holds little), then the next page starts.
    mutating func append(_ timeline: Timeline) {
        if count & (Self.pageSize - 1) == 0 { pages.append([]) }
        pages[pages.count - 1].append(timeline)
        count += 1
    }

    /// Room for `n` timelines in all: whole pages, made ahead (a snapshot's chunk of new timelines).
    mutating func reserveCapacity(_ n: Int) {
        guard n > count else { return }
        let neededPages = (n + Self.pageSize - 1) >> Self.pageShift
        pages.reserveCapacity(neededPages)
        if !pages.isEmpty { pages[pages.count - 1].reserveCapacity(Swift.min(Self.pageSize, n - ((pages.count - 1) << Self.pageShift))) }
    }
}
