import MetStore
import MetValues

/// The binary form of a ``DeltaBatch`` (the payload of a `batch` frame).
///
/// Names repeat across entries (series, label keys and values), so each batch starts with a
/// table of its distinct strings and entries refer to them by index:
/// ```
/// origin node (table index), incarnation, seq, timestamp (zigzag)
/// n strings, each: length, UTF-8 bytes            (before the origin, which refers to it)
/// n entries, each: series index, u8 kind, n labels, (key index, value index)*, value
/// n checks, each: queue index, limit, u8 paused, n running, running ids (zigzag deltas), timestamp,
///   producer uuid (0: none, else its table index + 1), u8 has started_at, started_at (zigzag)
/// [n moves, each: xid, job (zigzag), queue index, u8 from, u8 to]   (only when there are moves)
/// ```
/// A move's states are 1 + their index in ``JobState/allCases``, 0 for none (inserted, deleted).
/// The moves section is left out when a batch has none, so such batches read as before.
/// Values use their own encodings (count: zigzag varint; gauge; sketch). The decoder checks every
/// count against the bytes left and every index against the table before using it.
package enum BatchCodec {
    static let maxStringBytes = 256
    static let maxLabels = 32

    package static func encode(_ batch: DeltaBatch) -> [UInt8] {
        var table: [String] = []
        var index: [String: Int] = [:]
        func id(_ s: String) -> Int {
            if let i = index[s] { return i }
            table.append(s)
            index[s] = table.count - 1
            return table.count - 1
        }
        // Intern everything first, so the table can be written before the entries.
        _ = id(batch.origin.node)
        for e in batch.entries {
            _ = id(e.series)
            for p in e.labels.pairs { _ = id(p.key); _ = id(p.value) }
        }
        for c in batch.checks {
            _ = id(c.queue)
            if let uuid = c.uuid { _ = id(uuid) }
        }
        for m in batch.moves { _ = id(m.queue) }
        var w = ByteWriter(capacity: 64 + 32 * batch.entries.count)
        w.writeVarint(UInt64(table.count))
        for s in table { w.writeString(s) }
        w.writeVarint(UInt64(id(batch.origin.node)))
        w.writeVarint(batch.origin.incarnation)
        w.writeVarint(batch.seq)
        w.writeSignedVarint(batch.timestamp)
        w.writeVarint(UInt64(batch.entries.count))
        for e in batch.entries {
            w.writeVarint(UInt64(id(e.series)))
            w.writeVarint(UInt64(e.labels.pairs.count))
            for p in e.labels.pairs {
                w.writeVarint(UInt64(id(p.key)))
                w.writeVarint(UInt64(id(p.value)))
            }
            switch e.value {
            case .count(let n):
                w.writeByte(1)
                w.writeSignedVarint(n)
            case .gauge(let g):
                w.writeByte(2)
                g.encode(into: &w)
            case .sketch(let s):
                w.writeByte(3)
                s.encode(into: &w)
            }
        }
        w.writeVarint(UInt64(batch.checks.count))
        for c in batch.checks {
            w.writeVarint(UInt64(id(c.queue)))
            w.writeVarint(UInt64(max(0, c.limit)))
            w.writeByte(c.paused ? 1 : 0)
            w.writeVarint(UInt64(c.running.count))
            var previous: Int64 = 0
            for r in c.running {
                w.writeSignedVarint(r &- previous)
                previous = r
            }
            w.writeSignedVarint(c.timestamp)
            w.writeVarint(c.uuid.map { UInt64(id($0)) + 1 } ?? 0)
            if let started = c.startedAt {
                w.writeByte(1)
                w.writeSignedVarint(started)
            } else {
                w.writeByte(0)
            }
        }
        if !batch.moves.isEmpty {
            w.writeVarint(UInt64(batch.moves.count))
            for m in batch.moves {
                w.writeVarint(m.xid)
                w.writeSignedVarint(m.job)
                w.writeVarint(UInt64(id(m.queue)))
                w.writeByte(stateCode(m.from))
                w.writeByte(stateCode(m.to))
            }
        }
        return w.bytes
    }

    static let states = JobState.allCases

    static func stateCode(_ state: JobState?) -> UInt8 {
        state.map { UInt8(states.firstIndex(of: $0)! + 1) } ?? 0
    }

    static func state(code: UInt8) throws(DecodeError) -> JobState? {
        guard code != 0 else { return nil }
        guard Int(code) <= states.count else { throw .invalid("job state") }
        return states[Int(code) - 1]
    }

    package static func decode(_ bytes: [UInt8]) throws(DecodeError) -> DeltaBatch {
        try decodeWhole(bytes) { r throws(DecodeError) in try decode(&r) }
    }

    static func decode(_ r: inout ByteReader) throws(DecodeError) -> DeltaBatch {
        let n = try r.readLength(max: r.remaining, "string count")
        var table: [String] = []
        table.reserveCapacity(n)
        for _ in 0..<n { table.append(try r.readString(maxBytes: maxStringBytes)) }
        func string(_ r: inout ByteReader) throws(DecodeError) -> String {
            let i = try r.readLength(max: table.count - 1, "string index")
            return table[i]
        }
        guard !table.isEmpty else { throw .invalid("empty string table") }
        let node = try string(&r)
        let origin = Origin(node: node, incarnation: try r.readVarint())
        let seq = try r.readVarint()
        let timestamp = try r.readSignedVarint()
        let entryCount = try r.readLength(max: r.remaining / 4, "entry count")
        var entries: [DeltaBatch.Entry] = []
        entries.reserveCapacity(entryCount)
        for _ in 0..<entryCount {
            let series = try string(&r)
            let labelCount = try r.readLength(max: maxLabels, "label count")
            var pairs: [(String, String)] = []
            for _ in 0..<labelCount { pairs.append((try string(&r), try string(&r))) }
            let labels = LabelSet(pairs)
            guard labels.pairs.count == labelCount else { throw .invalid("repeated label") }
            let value: PointValue
            switch try r.readByte() {
            case 1: value = .count(try r.readSignedVarint())
            case 2: value = .gauge(try Gauge.decode(from: &r))
            case 3: value = .sketch(try Sketch.decode(from: &r))
            default: throw .invalid("value kind")
            }
            entries.append(.init(series: series, labels: labels, value: value))
        }
        let checkCount = try r.readLength(max: r.remaining / 7, "check count")
        var checks: [QueueCheck] = []
        for _ in 0..<checkCount {
            let queue = try string(&r)
            let limit = try r.readLength(max: Int(Int32.max), "queue limit")
            let paused = try r.readByte()
            guard paused <= 1 else { throw .invalid("paused flag") }
            let running = try r.readLength(max: r.remaining, "running count")
            var ids: [Int64] = []
            ids.reserveCapacity(running)
            var previous: Int64 = 0
            for _ in 0..<running {
                previous = previous &+ (try r.readSignedVarint())
                ids.append(previous)
            }
            let ts = try r.readSignedVarint()
            let uuidIndex = try r.readLength(max: table.count, "producer uuid index")
            let hasStart = try r.readByte()
            guard hasStart <= 1 else { throw .invalid("started_at flag") }
            let startedAt = hasStart == 1 ? try r.readSignedVarint() : nil
            checks.append(QueueCheck(node: origin.node, queue: queue, limit: limit, paused: paused == 1, running: ids, timestamp: ts,
                                     uuid: uuidIndex == 0 ? nil : table[uuidIndex - 1], startedAt: startedAt))
        }
        var moves: [RecordedMove] = []
        if r.remaining > 0 {
            let n = try r.readLength(max: r.remaining / 5, "move count")
            guard n > 0 else { throw .invalid("empty moves section") }
            moves.reserveCapacity(n)
            for _ in 0..<n {
                let xid = try r.readVarint()
                let job = try r.readSignedVarint()
                let queue = try string(&r)
                let from = try state(code: try r.readByte())
                let to = try state(code: try r.readByte())
                guard from != nil || to != nil else { throw .invalid("a move without states") }
                moves.append(RecordedMove(xid: xid, job: job, queue: queue, from: from, to: to))
            }
        }
        return DeltaBatch(origin: origin, seq: seq, timestamp: timestamp, entries: entries, checks: checks, moves: moves)
    }
}
