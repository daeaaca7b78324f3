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
/// Each recording thread uses its own stripe (see `StripeIndex`); a stripe is allocated the
/// first time a thread records on it, so a handle costs memory in proportion to the threads
/// that use it. The recorder drains every stripe under the stripe's lock when it takes a batch,
/// so nothing recorded is lost or counted twice whatever the interleaving.
public final class JobHandle: @unchecked Sendable {  // `slots` holds atomics only, each set once from 0; the rest is immutable or lock-guarded.
    public let queue: String
    public let worker: String

    /// What one stripe accumulated since the last batch, behind a one-word spin lock: the
    /// critical sections are a few nanoseconds long and a stripe is almost never shared, so a
    /// compare-and-swap to lock and a store to unlock is all the hot path pays.
    @usableFromInline
    final class Stripe: @unchecked Sendable {  // the outcome pairs and `running` are touched only while `locked` is held.
        @usableFromInline let locked = Atomic<Bool>(false)
        /// By outcome: nil until a job first ends with it here, then two sketches, `exec_time`
        /// and `wait_time`. Most handles see one or two outcomes, so the others cost a word each.
        @usableFromInline let outcomes: UnsafeMutablePointer<UnsafeMutablePointer<Sketch>?>  // owned: allocated in init; it and every pair freed in deinit
        /// Starts minus stops: the change of the executing level.
        @usableFromInline let running: UnsafeMutablePointer<Int64>  // owned, as above
        // Keeps neighbouring stripes off each other's cache lines.
        let padding: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)

        init() {
            outcomes = .allocate(capacity: JobOutcome.count)
            outcomes.initialize(repeating: nil, count: JobOutcome.count)
            running = .allocate(capacity: 1)
            running.initialize(to: 0)
        }

        deinit {
            for i in 0..<JobOutcome.count { freePair(i) }
            outcomes.deallocate()
            running.deallocate()
        }

        /// Frees the pair of outcome `i`, if made (with the lock held, or in deinit).
        func freePair(_ i: Int) {
            guard let pair = outcomes[i] else { return }
            outcomes[i] = nil
            pair.deinitialize(count: 2)
            pair.deallocate()
        }

        /// The `exec_time`, `wait_time` pair of outcome `i`, made on first use (call with the lock held).
        @inlinable @inline(__always)
        func pair(_ i: Int) -> UnsafeMutablePointer<Sketch> {
            if let pair = outcomes[i] { return pair }
            return makePair(i)
        }

        @usableFromInline
        func makePair(_ i: Int) -> UnsafeMutablePointer<Sketch> {
            let pair = UnsafeMutablePointer<Sketch>.allocate(capacity: 2)
            pair.initialize(repeating: Sketch(), count: 2)
            outcomes[i] = pair
            return pair
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

    /// One slot per stripe: 0 until a thread first records on it, then the address of a stripe
    /// retained by this handle. A slot changes once, from 0, by compare-and-swap.
    @usableFromInline let slots: UnsafeMutablePointer<Atomic<UInt>>  // owned: allocated in init; stripes released and slots freed in deinit
    @usableFromInline let mask: Int
    /// The executing level and what was last reported; touched only while taking a batch.
    let level = Mutex<(current: Int64, reported: Int64)>((0, 0))
    let node: String
    /// What only the batch taker touches: label sets built on first use, and idleness.
    let taker = TakerState()

    init(node: String, queue: String, worker: String, stripes: Int) {
        self.node = node
        self.queue = queue
        self.worker = worker
        slots = .allocate(capacity: stripes)
        for i in 0..<stripes { (slots + i).initialize(to: Atomic<UInt>(0)) }
        mask = stripes - 1
    }

    deinit {
        for i in 0...mask {
            let bits = slots[i].load(ordering: .acquiring)
            if bits != 0 { Unmanaged<Stripe>.fromOpaque(UnsafeRawPointer(bitPattern: bits)!).release() }
        }
        slots.deinitialize(count: mask + 1)
        slots.deallocate()
    }

    /// Runs `body` on the calling thread's stripe, allocating it on the thread's first use.
    @inlinable @inline(__always)
    func withStripe(_ body: (Stripe) -> Void) {
        let slot = slots + StripeIndex.current(mask: mask)
        var bits = slot.pointee.load(ordering: .acquiring)
        if bits == 0 { bits = makeStripe(slot) }
        // Guaranteed without a retain: this handle retains every stripe in its slots until deinit.
        Unmanaged<Stripe>.fromOpaque(UnsafeRawPointer(bitPattern: bits)!)._withUnsafeGuaranteedRef(body)
    }

    /// The slow path of ``withStripe(_:)``: makes the stripe of an empty slot (another thread
    /// may win the race; then its stripe is used and ours freed).
    @usableFromInline
    func makeStripe(_ slot: UnsafeMutablePointer<Atomic<UInt>>) -> UInt {
        let made = UInt(bitPattern: Unmanaged.passRetained(Stripe()).toOpaque())
        let (exchanged, current) = slot.pointee.compareExchange(expected: 0, desired: made, ordering: .acquiringAndReleasing)
        if exchanged { return made }
        Unmanaged<Stripe>.fromOpaque(UnsafeRawPointer(bitPattern: made)!).release()
        return current
    }

    /// A job of this queue and worker started executing.
    @inlinable
    public func start() {
        withStripe { stripe in
            stripe.lock()
            stripe.running.pointee &+= 1
            stripe.unlock()
        }
    }

    /// A job stopped: its execution and queue wait times (ns) go into the sketches of its
    /// outcome (which also count it in `exec_count`), and the executing level drops by one.
    @inlinable
    public func stop(_ outcome: JobOutcome, execNs: Int64, waitNs: Int64) {
        let i = outcome.rawValue
        let execValue = Double(execNs)
        let waitValue = Double(waitNs)
        withStripe { stripe in
            stripe.lock()
            let pair = stripe.pair(i)
            pair[0].add(execValue)
            pair[1].add(waitValue)
            stripe.running.pointee &-= 1
            stripe.unlock()
        }
    }

    /// A job raised: recorded like a stop whose outcome is `retryable` or `discarded`.
    @inlinable
    public func exception(_ outcome: JobOutcome, execNs: Int64, waitNs: Int64) {
        stop(outcome, execNs: execNs, waitNs: waitNs)
    }
}
