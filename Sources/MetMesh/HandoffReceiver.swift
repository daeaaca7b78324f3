import MetWire

/// The receiving side of handoffs as a value (DESIGN §6, RELIABILITY H6): per transfer id, who
/// sends it, its chunk count, how far it got and when its last frame came. A transfer whose
/// sender fell silent is dropped; what was merged of it stays (merges are idempotent).
package struct HandoffReceiver: Sendable {
    struct Incoming: Sendable {
        let from: String
        let count: Int
        let started: UInt64
        var merged = 0
        var lastChunk: UInt64
    }

    var incoming: [UInt64: Incoming] = [:]

    package init() {}

    /// Whether a frame of `header` from `peer` belongs to its transfer (a new transfer starts
    /// one, with a line for the log); nil: it does not match its transfer (the connection is
    /// closed).
    package mutating func arrived(_ header: HandoffCodec.Header, from peer: String, now: UInt64) -> (ok: Bool, line: String?) {
        guard let entry = incoming[header.transfer] else {
            incoming[header.transfer] = Incoming(from: peer, count: header.count, started: now, lastChunk: now)
            return (true, "receiving a handoff from \(peer): \(header.count) chunks")
        }
        return (entry.from == peer && entry.count == header.count, nil)
    }

    /// Index `header.index` was merged; returns the line when the end was.
    package mutating func merged(_ header: HandoffCodec.Header, now: UInt64) -> String? {
        guard var entry = incoming[header.transfer] else { return nil }
        entry.merged = max(entry.merged, header.index + 1)
        entry.lastChunk = now
        guard header.index == header.count else {
            incoming[header.transfer] = entry
            return nil
        }
        incoming[header.transfer] = nil
        return "handoff from \(entry.from) complete: \(header.count) chunks merged in \(now - entry.started) ms"
    }

    /// A frame of the transfer could not be merged: it is dropped.
    package mutating func refused(_ transfer: UInt64) { incoming[transfer] = nil }

    /// Drops the transfers whose sender sent nothing for `limit` ms; a line for each.
    package mutating func expire(now: UInt64, limit: UInt64) -> [String] {
        var lines: [String] = []
        for (id, entry) in incoming where now - entry.lastChunk >= limit {
            incoming[id] = nil
            lines.append("abandoned the handoff from \(entry.from) after \(entry.merged) of \(entry.count + 1) chunks (nothing for \(now - entry.lastChunk) ms); the merged chunks stay")
        }
        return lines
    }
}
