import MetRecorder
import MetStore

/// A request that would take an origin past `maxLabelSets` in a series (RELIABILITY B7).
package struct CardinalityRefusal: Error, Equatable, CustomStringConvertible {
    package var series: String
    package var limit: Int
    /// Label sets the origin has in the series now, and how many the request would add.
    package var current: Int
    package var adding: Int

    package var description: String {
        "series \(series) would exceed its limit of \(limit) label sets per node (it has \(current), the request adds \(adding)); "
            + "nothing of the request was recorded (maxLabelSets, docs/operations.md)"
    }
}

extension Collector {
    /// Checks, before anything is recorded, that the label sets `wanted` would add to `origin`
    /// keep every series within the store's `maxLabelSets`; the first series that would not is
    /// returned. Label sets `origin` already has cost nothing.
    package func refusal(adding wanted: [(series: String, labels: LabelSet)], origin: Origin) -> CardinalityRefusal? {
        withStore { store in
            guard store.maxLabelSets != .max else { return nil }
            var fresh: [String: Set<LabelSet>] = [:]
            for (series, labels) in wanted where fresh[series]?.contains(labels) != true {
                if !store.hasLabelSet(labels, of: origin, series: series) { fresh[series, default: []].insert(labels) }
            }
            for (series, labels) in fresh.sorted(by: { $0.key < $1.key }) {
                let current = store.labelSetCount(of: origin, series: series)
                if current + labels.count > store.maxLabelSets {
                    return CardinalityRefusal(series: series, limit: store.maxLabelSets, current: current, adding: labels.count)
                }
            }
            return nil
        }
    }

    /// The limit and, per series, the entries refused because of it so far.
    package var cardinality: (limit: Int, refused: [String: Int]) {
        withStore { ($0.maxLabelSets, $0.refusedLabelSets) }
    }
}
