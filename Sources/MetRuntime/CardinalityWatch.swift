import Logging
import MetStore
import Synchronization

/// Counts what the label-set limit refused (requests at the edge, entries in the replica) and
/// says so in the log at most once a minute, with the series and the limit (RELIABILITY B7).
package final class CardinalityWatch: Sendable {
    private struct State {
        var refusedRequests: [String: Int] = [:]
        /// What the last log line reported (requests and entries per series), and when.
        var logged: [String: Int] = [:]
        var loggedAt: ContinuousClock.Instant?
    }

    private let state = Mutex(State())
    let period: Duration

    package init(period: Duration = .seconds(60)) { self.period = period }

    /// A request refused at the edge.
    package func refused(_ refusal: CardinalityRefusal) {
        state.withLock { $0.refusedRequests[refusal.series, default: 0] += 1 }
    }

    /// Requests refused per series so far.
    package var refusedRequests: [String: Int] { state.withLock { $0.refusedRequests } }

    /// Called every broadcast tick: logs one line when something was refused since the last
    /// line and a minute has passed.
    package func tick(_ collector: Collector, _ logger: Logger) {
        let (limit, entries) = collector.cardinality
        let line: String? = state.withLock { s in
            var now: [String: Int] = [:]
            for (series, n) in entries { now["entries of \(series)", default: 0] += n }
            for (series, n) in s.refusedRequests { now["requests for \(series)", default: 0] += n }
            guard now != s.logged, s.loggedAt.map({ ContinuousClock.now - $0 >= period }) ?? true else { return nil }
            let new = now.keys.sorted().compactMap { key -> String? in
                let n = now[key]! - (s.logged[key] ?? 0)
                return n > 0 ? "\(n) \(key)" : nil
            }
            s.logged = now
            s.loggedAt = .now
            return new.isEmpty ? nil : new.joined(separator: ", ")
        }
        if let line {
            logger.warning("label-set limit: refused \(line) (at most \(limit) label sets per node and series; maxLabelSets, docs/operations.md)")
        }
    }
}
