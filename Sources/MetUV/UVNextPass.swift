import CLibUV

/// Runs a callback once, on the loop's next pass: after the loop has updated its clock and run
/// the timers due, before it polls (a libuv idle handle, stopped as it fires). Neither a 0 ms
/// timer nor ``UVLoop/execute(_:)`` waits that long: libuv 1.44 runs a timer started by a
/// timer's callback in the same pass, and the loop's job queue runs jobs queued by its jobs at
/// once. Loop thread only; stops when closed (or at loop shutdown).
package final class UVNextPass {
    final class Box: HandleBox {
        var fire: () -> Void = {}
        var idle: UnsafeMutablePointer<uv_idle_t> { raw.assumingMemoryBound(to: uv_idle_t.self) }
        override func closed() { fire = {} }
    }

    let box: Box

    package init(loop: UVLoop) throws(UVError) {
        precondition(loop.isLoopThread, "UVNextPass must be created on the loop thread")
        box = try Box.registered(uv_idle_t.self, "uv_idle_init") { uv_idle_init(loop.raw, $0) }
    }

    /// Calls `fire` once on the next pass (replacing a call still waiting).
    package func schedule(_ fire: @escaping () -> Void) {
        box.fire = fire
        uv_idle_start(box.idle, nextPassFired)
    }

    package func close() { box.close() }
}

private let nextPassFired: uv_idle_cb = { idle in
    guard let idle, let data = idle.pointee.data else { return }
    uv_idle_stop(idle)
    let box = Unmanaged<UVNextPass.Box>.fromOpaque(data).takeUnretainedValue()
    let fire = box.fire
    box.fire = {}
    fire()
}
