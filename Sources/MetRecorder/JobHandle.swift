import MetStore
import MetValues
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// The recording handle of one (queue, worker): resolve it once, then `start` / `stop` cost a
/// lock that is almost never contended plus two sketch additions, with no allocation once the
/// sketches' pages exist.
///
/// Each recording thread uses its own stripe (see `StripeIndex`); the recorder drains every
/// stripe under the stripe's lock when it takes a batch, so nothing recorded is lost or counted
/// twice whatever the interleaving.
public final class JobHandle: Sendable {
    public let queue: String
    public let worker: String

    /// What one stripe accumulated since the last batch, behind a one-word spin lock: the
    /// critical sections are a few nanoseconds long and a stripe is almost never shared, so a
    /// compare-and-swap to lock and a store to unlock is all the hot path pays.
    @usableFromInline
    final class Stripe: @unchecked Sendable {  // `sketches` and `running` are touched only while `locked` is held.
        @usableFromInline let locked = Atomic<Bool>(false)
        /// `exec_time` sketches by outcome, then `wait_time` sketches by outcome.
        @usableFromInline let sketches: UnsafeMutablePointer<Sketch>  // owned: allocated in init, freed in deinit
        /// Starts minus stops: the change of the executing level.
        @usableFromInline let running: UnsafeMutablePointer<Int64>  // owned, as above
        // Keeps neighbouring stripes off each other's cache lines.
        let padding: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)

        static let slots = 2 * JobOutcome.count

        init() {
            sketches = .allocate(capacity: Self.slots)
            sketches.initialize(repeating: Sketch(), count: Self.slots)
            running = .allocate(capacity: 1)
            running.initialize(to: 0)
        }

        deinit {
            sketches.deinitialize(count: Self.slots)
            sketches.deallocate()
            running.deallocate()
        }

        @inlinable @inline(__always)
        func lock() {
            while !locked.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged {
                while locked.load(ordering: .relaxed) { sched_yield() }
            }
        }

        @inlinable @inline(__always)
        func unlock() { locked.store(false, ordering: .releasing) }
    }

    @usableFromInline let stripes: [Stripe]
    @usableFromInline let mask: Int
    /// The executing level and what was last reported; touched only while taking a batch.
    let level = Mutex<(current: Int64, reported: Int64)>((0, 0))
    /// The label sets of this handle's entries, by outcome, then the executing level's: built
    /// once, so a batch spends nothing on a handle that recorded nothing.
    let labels: [LabelSet]

    init(node: String, queue: String, worker: String, stripes: Int) {
        self.queue = queue
        self.worker = worker
        self.stripes = (0..<stripes).map { _ in Stripe() }
        mask = stripes - 1
        let states = JobOutcome.allCases.sorted { $0.rawValue < $1.rawValue }.map(\.state) + [JobState.executing]
        labels = states.map { LabelSet(["node": node, "queue": queue, "worker": worker, "state": $0.rawValue]) }
    }

    /// A job of this queue and worker started executing.
    @inlinable
    public func start() {
        // Guaranteed without a retain: `stripes` (immutable, owned by self) keeps the stripe alive.
        Unmanaged.passUnretained(stripes[StripeIndex.current(mask: mask)])._withUnsafeGuaranteedRef { stripe in
            stripe.lock()
            stripe.running.pointee &+= 1
            stripe.unlock()
        }
    }

    /// A job stopped: its execution and queue wait times (ns) go into the sketches of its
    /// outcome, and the executing level drops by one.
    @inlinable
    public func stop(_ outcome: JobOutcome, execNs: Int64, waitNs: Int64) {
        let i = outcome.rawValue
        let execValue = Double(execNs)
        let waitValue = Double(waitNs)
        // Guaranteed without a retain: `stripes` (immutable, owned by self) keeps the stripe alive.
        Unmanaged.passUnretained(stripes[StripeIndex.current(mask: mask)])._withUnsafeGuaranteedRef { stripe in
            stripe.lock()
            stripe.sketches[i].add(execValue)
            stripe.sketches[JobOutcome.count + i].add(waitValue)
            stripe.running.pointee &-= 1
            stripe.unlock()
        }
    }

    /// A job raised: recorded like a stop whose outcome is `retryable` or `discarded`.
    @inlinable
    public func exception(_ outcome: JobOutcome, execNs: Int64, waitNs: Int64) {
        stop(outcome, execNs: execNs, waitNs: waitNs)
    }

    /// Drains every stripe into batch entries (called by the recorder, one taker at a time).
    func drain(into entries: inout [DeltaBatch.Entry]) {
        let n = JobOutcome.count
        var sums: [Sketch] = []  // made on the first non-empty sketch: most handles are idle most seconds
        var running: Int64 = 0
        for stripe in stripes {
            stripe.lock()
            for k in 0..<(2 * n) where !stripe.sketches[k].isEmpty {
                if sums.isEmpty { sums = [Sketch](repeating: Sketch(), count: 2 * n) }
                sums[k].merge(stripe.sketches[k])
                stripe.sketches[k].reset()  // keeps its pages: refilling allocates nothing
            }
            running &+= stripe.running.pointee
            stripe.running.pointee = 0
            stripe.unlock()
        }
        if !sums.isEmpty {
            for outcome in JobOutcome.allCases {
                if !sums[outcome.rawValue].isEmpty {
                    entries.append(.init(series: "exec_time", labels: labels[outcome.rawValue], value: .sketch(sums[outcome.rawValue])))
                }
                if !sums[n + outcome.rawValue].isEmpty {
                    entries.append(.init(series: "wait_time", labels: labels[outcome.rawValue], value: .sketch(sums[n + outcome.rawValue])))
                }
            }
        }
        // The executing level is reported while it is not zero, and once more when it drops to
        // zero. A stop whose start this process never saw (a job begun before a restart, a
        // client posting only stops) must not take it below zero, where it would stay.
        let sample: Int64? = level.withLock { level in
            level.current = Swift.max(0, level.current &+ running)
            defer { level.reported = level.current }
            return level.current != 0 || level.reported != 0 ? level.current : nil
        }
        if let sample {
            entries.append(.init(series: "exec_count", labels: labels[n], value: .gauge(Gauge(Double(sample)))))
        }
    }
}
