/// A value that lives on one loop's thread, held by an object other threads share (swift-nio's
/// `NIOLoopBound`): every access checks, at run time, that it happens on that thread, so state
/// documented as "loop thread only" cannot be touched from anywhere else by mistake.
package final class LoopBound<Value>: @unchecked Sendable {  // `stored` is read and written only on `loop`'s thread, which every accessor checks.
    package let loop: UVLoop
    private var stored: Value

    /// Call on the loop's thread (the value is made there).
    package init(_ value: Value, loop: UVLoop) {
        precondition(loop.isLoopThread, "a LoopBound value is made on its loop's thread")
        self.loop = loop
        stored = value
    }

    package var value: Value {
        get {
            precondition(loop.isLoopThread, "a LoopBound value read off its loop's thread")
            return stored
        }
        set {
            precondition(loop.isLoopThread, "a LoopBound value written off its loop's thread")
            stored = newValue
        }
    }
}
