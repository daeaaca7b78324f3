import Dispatch
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Returns the allocator's free memory to the system. glibc keeps the pages of freed
/// allocations for reuse, so after a burst (a recorder's idle handles released) a process's
/// resident memory stays at its peak unless asked; this asks
/// (`malloc_trim(0)`: one pass over the heap's free lists, milliseconds). A no-op where the C
/// library has no such call.
package enum FreeMemory {
    private typealias Trim = @convention(c) (Int) -> Int32

    /// glibc's `malloc_trim`, looked up once (it is not in Swift's Glibc module map); the
    /// function pointer is cast to its C signature, `int malloc_trim(size_t pad)`.
    private static let trim: Trim? = {
        #if canImport(Glibc)
        guard let symbol = dlsym(nil, "malloc_trim") else { return nil }  // nil: RTLD_DEFAULT, every loaded object
        return unsafeBitCast(symbol, to: Trim.self)
        #else
        return nil
        #endif
    }()

    /// Hands free pages back to the system, on the calling thread.
    package static func returnToSystem() {
        _ = trim?(0)
    }

    private static let queue = DispatchQueue(label: "met.free-memory", qos: .utility)
    private static let pending = Atomic<Bool>(false)

    /// ``returnToSystem()`` on a background queue, so the caller (the batch taker, a task of
    /// the cooperative pool) does not wait for the pass; calls while one waits to run add nothing.
    package static func returnToSystemSoon() {
        guard !pending.exchange(true, ordering: .acquiringAndReleasing) else { return }
        queue.async {
            pending.store(false, ordering: .releasing)
            returnToSystem()
        }
    }
}
