import MetStore

/// One interval's batches, numbered when taken and delivered in order (``NodeRecorder/takeParts(timestamp:)``):
/// the recorded entries' parts, ready, then the parts of a burst of posted stops, each made when
/// it is asked for.
package struct TakenBatches: Sendable {
    private var ready: [DeltaBatch]
    private var posted: PostedParts?

    init(ready: [DeltaBatch], posted: PostedParts? = nil) {
        self.ready = ready
        self.posted = posted
    }

    /// Batches in all.
    package var count: Int { ready.count + (posted?.count ?? 0) }

    /// Batch `i` (in `0..<count`, each taken once, in order): a ready one is handed over and
    /// no longer held here; a posted one is made now.
    package mutating func part(_ i: Int) -> DeltaBatch {
        if i < ready.count {
            let batch = ready[i]
            ready[i].entries = []
            return batch
        }
        return posted!.part(i - ready.count)
    }
}

/// A burst of posted stops, from key `fromKey` on, as batches of ``NodeRecorder/maxBatchEntries``
/// at most: a third of that many keys each, three entries a key, numbered from `firstSeq`.
struct PostedParts: Sendable {
    let stops: PendingStops
    let grouped: (starts: [Int32], order: [Int32])
    let fromKey: Int
    let origin: Origin
    let timestamp: Int64
    let firstSeq: UInt64
    static let keysPerPart = NodeRecorder.maxBatchEntries / 3

    init(_ stops: PendingStops, _ grouped: (starts: [Int32], order: [Int32]), fromKey: Int, origin: Origin,
         timestamp: Int64, firstSeq: UInt64) {
        self.stops = stops
        self.grouped = grouped
        self.fromKey = fromKey
        self.origin = origin
        self.timestamp = timestamp
        self.firstSeq = firstSeq
    }

    var count: Int { (stops.keys.count - fromKey + Self.keysPerPart - 1) / Self.keysPerPart }

    func part(_ i: Int) -> DeltaBatch {
        let start = fromKey + i * Self.keysPerPart
        let keys = start..<Swift.min(stops.keys.count, start + Self.keysPerPart)
        var entries: [DeltaBatch.Entry] = []
        entries.reserveCapacity(3 * keys.count)
        stops.appendEntries(ofKeys: keys, grouped, node: origin.node, into: &entries)
        return DeltaBatch(origin: origin, seq: firstSeq + UInt64(i), timestamp: timestamp, entries: entries)
    }
}
