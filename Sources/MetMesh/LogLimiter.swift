/// "At most one line per key per period" for log lines that could otherwise repeat every
/// heartbeat: rejections per remote host, dial failures per address, clock warnings per peer.
package struct LogLimiter: Sendable {
    let period: UInt64
    private var next: [String: UInt64] = [:]

    package init(period milliseconds: UInt64) { period = milliseconds }

    /// True (and the key's next line is held back for a period) when a line for `key` may go
    /// out at loop time `now`.
    package mutating func allows(_ key: String, now: UInt64) -> Bool {
        guard now >= next[key] ?? 0 else { return false }
        next[key] = now + period
        if next.count > 4096 { next = next.filter { now < $0.value } }  // forget keys whose period ended
        return true
    }
}
