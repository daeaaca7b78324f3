import CLibUV

/// A timer on a loop, repeating or one-shot. Loop thread only; stops when closed (or at loop
/// shutdown).
package final class UVTimer {
    final class Box: HandleBox {
        var fire: () -> Void = {}
        var timer: UnsafeMutablePointer<uv_timer_t> { raw.assumingMemoryBound(to: uv_timer_t.self) }
        override func closed() { fire = {} }
    }

    let box: Box

    /// Calls `fire` every `milliseconds` on the loop thread.
    package convenience init(loop: UVLoop, every milliseconds: UInt64, fire: @escaping () -> Void) throws(UVError) {
        try self.init(loop: loop, first: max(1, milliseconds), repeat: max(1, milliseconds), fire: fire)
    }

    /// Calls `fire` once, after `milliseconds`, on the loop thread.
    package convenience init(loop: UVLoop, after milliseconds: UInt64, fire: @escaping () -> Void) throws(UVError) {
        try self.init(loop: loop, first: milliseconds, repeat: 0, fire: fire)
    }

    private init(loop: UVLoop, first: UInt64, repeat interval: UInt64, fire: @escaping () -> Void) throws(UVError) {
        precondition(loop.isLoopThread, "UVTimer must be created on the loop thread")
        let box = try Box.registered(uv_timer_t.self, "uv_timer_init") { uv_timer_init(loop.raw, $0) }
        box.fire = fire
        do {
            try uvCheck(uv_timer_start(box.timer, timerFired, first, interval), "uv_timer_start")
        } catch {
            box.close()
            throw error
        }
        self.box = box
    }

    /// Milliseconds of the loop's clock (monotonic, cached per loop iteration).
    package static func now(_ loop: UVLoop) -> UInt64 { uv_now(loop.raw) }

    package func close() { box.close() }
}

private let timerFired: uv_timer_cb = { timer in
    guard let timer, let data = timer.pointee.data else { return }
    Unmanaged<UVTimer.Box>.fromOpaque(data).takeUnretainedValue().fire()
}
