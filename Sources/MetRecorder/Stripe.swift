import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Spreads recording threads over a handle's stripes so that two threads rarely share a lock
/// or a cache line. The stripe of a thread is a hash of its `pthread_self()`, fixed for the
/// thread's life; two threads that collide still record correctly, just with contention.
@usableFromInline
enum StripeIndex {
    @inlinable @inline(__always)
    static func current(mask: Int) -> Int {
        let id = UInt64(UInt(bitPattern: Int(bitPattern: UInt(pthread_self()))))
        return Int(truncatingIfNeeded: (id &* 0x9e37_79b9_7f4a_7c15) >> 40) & mask
    }

    /// Stripes per handle: a power of two of at least twice the cores, at most 64.
    static let defaultCount: Int = {
        let cores = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
        var n = 4
        while n < 2 * cores && n < 64 { n <<= 1 }
        return n
    }()
}
