/// The messages of Postgres's `pgoutput` logical decoding plugin, protocol version 1 (what
/// `START_REPLICATION ... (proto_version '1', publication_names '...')` streams inside XLogData),
/// decoded strictly: pure Swift, no libpq, every length checked against the bytes left before
/// anything is allocated; corrupt input throws ``PgOutputError``, never traps.
///
/// See "Logical Replication Message Formats" in the Postgres documentation.
package enum PgOutputMessage: Sendable, Equatable {
    /// A transaction starts; `xid` is its 32-bit transaction id.
    case begin(finalLSN: UInt64, xid: UInt32)
    case commit(lsn: UInt64, endLSN: UInt64)
    /// A table's description, sent before the first change of it in a session (and after it changes).
    case relation(PgRelation)
    case insert(relation: UInt32, new: [PgValue])
    /// `old` is the old key (replica identity default) or the whole old row (replica identity
    /// full), when the server sends it.
    case update(relation: UInt32, old: [PgValue]?, new: [PgValue])
    case delete(relation: UInt32, old: [PgValue])
    case truncate(relations: [UInt32])
    /// Origin, type and logical-message messages: nothing to count.
    case other(UInt8)
}

/// A table as `pgoutput` describes it.
package struct PgRelation: Sendable, Equatable {
    package var id: UInt32
    package var namespace: String
    package var name: String
    package var columns: [String]

    package init(id: UInt32, namespace: String, name: String, columns: [String]) {
        self.id = id
        self.namespace = namespace
        self.name = name
        self.columns = columns
    }
}

/// One column of a row in a change.
package enum PgValue: Sendable, Equatable {
    case null
    /// An unchanged TOASTed value the server did not send.
    case unchanged
    case text(String)
    case binary([UInt8])

    package var text: String? {
        if case .text(let s) = self { return s }
        return nil
    }
}

package struct PgOutputError: Error, Sendable, Equatable, CustomStringConvertible {
    package var message: String
    package init(_ message: String) { self.message = message }
    package var description: String { "pgoutput: \(message)" }
}

extension PgOutputMessage {
    /// Most columns a Postgres table can have.
    static let maxColumns = 1664

    /// Decodes one `pgoutput` message.
    package static func decode(_ bytes: ArraySlice<UInt8>) throws(PgOutputError) -> PgOutputMessage {
        var r = BigEndianReader(bytes)
        let message: PgOutputMessage
        switch try r.byte() {
        case UInt8(ascii: "B"):
            let final = try r.uint64()
            _ = try r.uint64()  // commit timestamp
            message = .begin(finalLSN: final, xid: try r.uint32())
        case UInt8(ascii: "C"):
            _ = try r.byte()  // flags (unused, 0)
            let lsn = try r.uint64()
            let end = try r.uint64()
            _ = try r.uint64()  // commit timestamp
            message = .commit(lsn: lsn, endLSN: end)
        case UInt8(ascii: "R"):
            let id = try r.uint32()
            let namespace = try r.cString()
            let name = try r.cString()
            _ = try r.byte()  // replica identity setting
            let n = try r.count(max: maxColumns, minBytesEach: 10, "relation columns")
            var columns: [String] = []
            columns.reserveCapacity(n)
            for _ in 0..<n {
                _ = try r.byte()  // flags (part of the key)
                columns.append(try r.cString())
                _ = try r.uint32()  // type oid
                _ = try r.uint32()  // type modifier
            }
            message = .relation(PgRelation(id: id, namespace: namespace.isEmpty ? "pg_catalog" : namespace, name: name, columns: columns))
        case UInt8(ascii: "I"):
            let relation = try r.uint32()
            guard try r.byte() == UInt8(ascii: "N") else { throw PgOutputError("insert without a new tuple") }
            message = .insert(relation: relation, new: try tuple(&r))
        case UInt8(ascii: "U"):
            let relation = try r.uint32()
            var old: [PgValue]?
            var kind = try r.byte()
            if kind == UInt8(ascii: "K") || kind == UInt8(ascii: "O") {
                old = try tuple(&r)
                kind = try r.byte()
            }
            guard kind == UInt8(ascii: "N") else { throw PgOutputError("update without a new tuple") }
            message = .update(relation: relation, old: old, new: try tuple(&r))
        case UInt8(ascii: "D"):
            let relation = try r.uint32()
            let kind = try r.byte()
            guard kind == UInt8(ascii: "K") || kind == UInt8(ascii: "O") else { throw PgOutputError("delete without an old tuple") }
            message = .delete(relation: relation, old: try tuple(&r))
        case UInt8(ascii: "T"):
            let n = try r.count(max: Int(Int32.max), minBytesEach: 4, "truncated relations", leading: 1)
            _ = try r.byte()  // options (cascade, restart identity)
            var ids: [UInt32] = []
            ids.reserveCapacity(n)
            for _ in 0..<n { ids.append(try r.uint32()) }
            message = .truncate(relations: ids)
        case let tag where [UInt8(ascii: "O"), UInt8(ascii: "Y"), UInt8(ascii: "M")].contains(tag):
            return .other(tag)  // not read further: nothing of it is used
        case let tag:
            throw PgOutputError("unknown message type \(tag)")
        }
        guard r.isAtEnd else { throw PgOutputError("\(r.remaining) bytes after a message") }
        return message
    }

    static func tuple(_ r: inout BigEndianReader) throws(PgOutputError) -> [PgValue] {
        let n = try r.count16(max: maxColumns, minBytesEach: 1, "tuple columns")
        var values: [PgValue] = []
        values.reserveCapacity(n)
        for _ in 0..<n {
            switch try r.byte() {
            case UInt8(ascii: "n"): values.append(.null)
            case UInt8(ascii: "u"): values.append(.unchanged)
            case UInt8(ascii: "t"):
                let bytes = try r.bytes(try r.length())
                guard let s = String(validating: bytes, as: UTF8.self) else { throw PgOutputError("a text value that is not UTF-8") }
                values.append(.text(s))
            case UInt8(ascii: "b"):
                values.append(.binary(Array(try r.bytes(try r.length()))))
            case let kind:
                throw PgOutputError("unknown column kind \(kind)")
            }
        }
        return values
    }
}

/// Reads the network-order integers and NUL-terminated strings of Postgres's protocols.
struct BigEndianReader {
    private let bytes: ArraySlice<UInt8>
    private var index: Int

    init(_ bytes: ArraySlice<UInt8>) {
        self.bytes = bytes
        index = bytes.startIndex
    }

    var remaining: Int { bytes.endIndex - index }
    var isAtEnd: Bool { index == bytes.endIndex }

    mutating func byte() throws(PgOutputError) -> UInt8 {
        guard index < bytes.endIndex else { throw PgOutputError("truncated") }
        defer { index += 1 }
        return bytes[index]
    }

    mutating func uint32() throws(PgOutputError) -> UInt32 {
        guard remaining >= 4 else { throw PgOutputError("truncated") }
        var v: UInt32 = 0
        for i in 0..<4 { v = v << 8 | UInt32(bytes[index + i]) }
        index += 4
        return v
    }

    mutating func uint64() throws(PgOutputError) -> UInt64 {
        let high = try uint32()
        return UInt64(high) << 32 | UInt64(try uint32())
    }

    /// A 32-bit byte length, checked against the bytes left.
    mutating func length() throws(PgOutputError) -> Int {
        let n = Int32(bitPattern: try uint32())
        guard n >= 0, Int(n) <= remaining else { throw PgOutputError("a length of \(n) with \(remaining) bytes left") }
        return Int(n)
    }

    /// A 16-bit count of items of at least `minBytesEach` bytes, checked against `max` and the bytes left.
    mutating func count16(max: Int, minBytesEach: Int, _ what: String) throws(PgOutputError) -> Int {
        guard remaining >= 2 else { throw PgOutputError("truncated") }
        let n = Int(bytes[index]) << 8 | Int(bytes[index + 1])
        index += 2
        guard n <= max, n * minBytesEach <= remaining else { throw PgOutputError("\(n) \(what) with \(remaining) bytes left") }
        return n
    }

    /// A 16-bit count (relation columns) or, with `leading`, a 32-bit one, checked the same way;
    /// `leading` bytes that come between the count and the items are allowed for.
    mutating func count(max: Int, minBytesEach: Int, _ what: String, leading: Int = 0) throws(PgOutputError) -> Int {
        if leading == 0 { return try count16(max: max, minBytesEach: minBytesEach, what) }
        let n = Int(try uint32())
        guard n <= max, n * minBytesEach + leading <= remaining else { throw PgOutputError("\(n) \(what) with \(remaining) bytes left") }
        return n
    }

    mutating func bytes(_ n: Int) throws(PgOutputError) -> ArraySlice<UInt8> {
        guard n >= 0, n <= remaining else { throw PgOutputError("truncated") }
        defer { index += n }
        return bytes[index..<(index + n)]
    }

    /// A NUL-terminated UTF-8 string.
    mutating func cString() throws(PgOutputError) -> String {
        guard let end = bytes[index...].firstIndex(of: 0) else { throw PgOutputError("a string without its NUL") }
        defer { index = end + 1 }
        guard let s = String(validating: bytes[index..<end], as: UTF8.self) else { throw PgOutputError("a string that is not UTF-8") }
        return s
    }
}
