import CLibUV
import Foundation
import Synchronization

/// One libuv loop on its own thread. Every handle belongs to this loop and is touched only on
/// its thread; other threads reach it through ``execute(_:)`` (a locked inbox plus a `uv_async_t`
/// doorbell, drained until empty because wake-ups coalesce).
package final class UVLoop: @unchecked Sendable {  // `raw` and every handle are used on the loop thread only; `inbox` is locked.
    let raw: UnsafeMutablePointer<uv_loop_t>  // owned: freed after uv_loop_close succeeds
    let doorbell: UnsafeMutablePointer<uv_async_t>  // owned: closed on the loop, freed after the loop ends
    private let inbox = Mutex<(open: Bool, jobs: [@Sendable () -> Void])>((true, []))
    private let finished = DispatchSemaphore(value: 0)
    private let threadID = Atomic<UInt>(0)
    /// The result of `uv_loop_close` once the loop thread has ended (0 on a clean shutdown).
    package private(set) nonisolated(unsafe) var closeStatus: Int32 = 0  // written by the loop thread before `finished` is signalled

    /// Writing to a socket the peer has closed raises SIGPIPE, whose default action kills the
    /// process; libuv leaves it alone, so every process that runs a loop ignores it once and gets
    /// `EPIPE` from the write instead.
    private static let ignoreBrokenPipes: Void = { _ = signal(SIGPIPE, SIG_IGN) }()

    /// Creates the loop and starts its thread.
    package init() throws(UVError) {
        Self.ignoreBrokenPipes
        raw = .allocate(capacity: 1)
        doorbell = .allocate(capacity: 1)
        do {
            try uvCheck(uv_loop_init(raw), "uv_loop_init")
            try uvCheck(uv_async_init(raw, doorbell, doorbellRang), "uv_async_init")
        } catch {
            raw.deallocate()
            doorbell.deallocate()
            throw error
        }
        // Unretained: the loop object outlives its thread (shutdown() waits for the thread).
        doorbell.pointee.data = Unmanaged.passUnretained(self).toOpaque()
        let thread = Thread { [self] in
            threadID.store(UInt(bitPattern: Int(bitPattern: UInt(pthread_self()))), ordering: .releasing)
            Self.requestShortSlice()
            uv_run(raw, UV_RUN_DEFAULT)
            closeStatus = uv_loop_close(raw)
            finished.signal()
        }
        thread.name = "met-uv-loop"
        thread.start()
    }

    /// The scheduling slice the loop's thread asks for: timers, heartbeats and handshakes are a
    /// few microseconds of work each and must run on time while queries and merges keep every
    /// core busy (RELIABILITY M4). With the kernel's default slice (about 3 ms) a woken loop
    /// waited for a busy thread's slice to end; with a short one it runs first.
    package static let sliceNanoseconds: UInt64 = 200_000

    /// Asks for ``sliceNanoseconds`` on the calling thread (Linux 6.12 and later; elsewhere, and
    /// on older kernels, nothing changes). Returns whether the kernel took it.
    @discardableResult
    package static func requestShortSlice() -> Bool {
        #if os(Linux)
        return met_request_slice(sliceNanoseconds) == 0
        #else
        return false
        #endif
    }

    /// The calling thread's scheduling slice as the kernel holds it (0: the default), for tests.
    package static func currentSliceNanoseconds() -> UInt64 {
        #if os(Linux)
        return met_current_slice()
        #else
        return 0
        #endif
    }

    /// True on the loop's own thread.
    package var isLoopThread: Bool {
        threadID.load(ordering: .acquiring) == UInt(bitPattern: Int(bitPattern: UInt(pthread_self())))
    }

    /// Runs `job` on the loop thread. Returns `false` (dropping the job) once shutdown began.
    @discardableResult
    package func execute(_ job: @escaping @Sendable () -> Void) -> Bool {
        inbox.withLock { state in
            guard state.open else { return false }
            state.jobs.append(job)
            // Under the lock, after checking `open`: the doorbell is never rung once it is closing.
            uv_async_send(doorbell)
            return true
        }
    }

    /// Runs `body` on the loop thread and returns its result.
    package func run<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            let accepted = execute { continuation.resume(with: Result { try body() }) }
            if !accepted { continuation.resume(throwing: UVError(code: -125, call: "execute (loop shut down)")) }
        }
    }

    func drain() {
        while true {
            let jobs = inbox.withLock { state in
                defer { state.jobs = [] }
                return state.jobs
            }
            if jobs.isEmpty { return }
            for job in jobs { job() }
        }
    }

    /// Closes every handle, lets the loop finish and waits for its thread. Afterwards
    /// ``closeStatus`` is 0 when every handle had been closed and freed.
    package func shutdown() {
        let accepted = execute { [self] in
            inbox.withLock { $0.open = false }
            drain()  // jobs queued before `open` went false still run
            uv_close(UnsafeMutableRawPointer(doorbell).assumingMemoryBound(to: uv_handle_t.self), nil)
            uv_walk(raw, closeIfOpen, nil)
        }
        if accepted { finished.wait() }
    }

    deinit {
        // The loop has ended (shutdown waited for it); libuv no longer references these.
        doorbell.deallocate()
        raw.deallocate()
    }
}

/// The doorbell's callback: drain the inbox on the loop thread.
private let doorbellRang: uv_async_cb = { handle in
    guard let data = handle?.pointee.data else { return }
    Unmanaged<UVLoop>.fromOpaque(data).takeUnretainedValue().drain()
}

/// `uv_walk` callback at shutdown: close whatever is still open, releasing its box.
private let closeIfOpen: uv_walk_cb = { handle, _ in
    guard let handle, uv_is_closing(handle) == 0 else { return }
    uv_close(handle, releaseBox)
}

/// The close callback of every handle this module owns: frees it through its box.
let releaseBox: uv_close_cb = { handle in
    guard let data = handle?.pointee.data else { return }
    let box = Unmanaged<HandleBox>.fromOpaque(data)
    box.takeUnretainedValue().closed()
    box.release()
}

/// Owns one heap-allocated libuv handle; retained by `handle->data` until the close callback.
class HandleBox {
    let raw: UnsafeMutableRawPointer  // the uv_*_t; freed in deinit, which runs from the close callback
    required init(raw: UnsafeMutableRawPointer) { self.raw = raw }
    var handle: UnsafeMutablePointer<uv_handle_t> { raw.assumingMemoryBound(to: uv_handle_t.self) }
    deinit { raw.deallocate() }

    /// A box for a new `T` (a `uv_*_t`), set up by `initialize` (its `uv_*_init`) and retained
    /// by `handle->data` until the close callback. If `initialize` fails the handle was never
    /// registered with the loop: the box, and with it the handle's memory, is simply freed.
    static func registered<T>(_: T.Type, _ call: StaticString, _ initialize: (UnsafeMutablePointer<T>) -> Int32) throws(UVError) -> Self {
        let box = Self(raw: .allocate(byteCount: MemoryLayout<T>.size, alignment: 16))
        _ = try uvCheck(initialize(box.raw.assumingMemoryBound(to: T.self)), call)
        box.handle.pointee.data = Unmanaged.passRetained(box).toOpaque()
        return box
    }

    /// Called from the close callback, before the box is released: subclasses drop their
    /// callbacks here, which often capture the object that holds this box (a cycle otherwise).
    func closed() {}

    /// Closes the handle once; the box is released when libuv calls back.
    func close() {
        if uv_is_closing(handle) == 0 { uv_close(handle, releaseBox) }
    }
}
