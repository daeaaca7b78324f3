#if canImport(Glibc)
import Glibc
#endif
import MetStore

extension NodeRecorder {
    /// Takes a batch every `interval` (default 1 s, DESIGN §7 `broadcastInterval`) and hands it
    /// to `deliver`, until the calling task is cancelled; then takes one last batch so that
    /// nothing recorded before the cancellation is left behind. Each batch is stamped with the
    /// wall-clock second at which it was taken.
    public func run(every interval: Duration = .seconds(1), deliver: (DeltaBatch) async -> Void) async {
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: interval)
            } catch {
                break  // cancelled while waiting
            }
            await deliver(takeBatch(timestamp: Self.wallClockSecond()))
        }
        await deliver(takeBatch(timestamp: Self.wallClockSecond()))
    }

    /// Unix seconds now, from the system's real-time clock.
    public static func wallClockSecond() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec)
    }
}
