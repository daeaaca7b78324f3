import Dispatch

/// Runs work that may wait for the replica's lock (in the node: merging its own batches, a
/// compaction slice, counting the store, recording a request's events, a query) on a dispatch
/// queue, off Swift's cooperative pool.
/// The pool has a thread per core (two here): two tasks blocked on the lock while a burst's
/// merges hold it would leave none for anything else, and `/api/cluster`, whose reading never
/// waits for the lock, would still wait for a thread.
package enum Blocking {
    private static let queue = DispatchQueue(label: "met.blocking", attributes: .concurrent)

    package static func run<T: Sendable>(_ work: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { (done: CheckedContinuation<T, Never>) in
            queue.async { done.resume(returning: work()) }
        }
    }

    /// ``run(_:)`` for work that throws `E`.
    package static func run<T: Sendable, E: Error>(_ work: @escaping @Sendable () throws(E) -> T) async throws(E) -> T {
        try await run { Result(catching: work) }.get()
    }
}
