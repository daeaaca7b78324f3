import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Reads one line of `POST /api/events` as JSON without building a generic JSON value: one
/// pass checks the whole line (RFC 8259: strings with their escapes and UTF-8, numbers, nesting
/// up to ``maxDepth``, nothing after the object) and notes where each known field's value lies;
/// values are decoded only when validation asks for them. It accepts and refuses what
/// `JSONSerialization` does for these lines (a duplicate key: the last one counts), which the
/// property tests check on generated lines.
///
/// The reader borrows the request's bytes: it is made and used inside one
/// `withUnsafeBytes`-style call (``JobEvent/parseLines(_:)``) and never escapes it.
package struct EventLineReader: EventFields {
    /// Deepest nesting of arrays and objects accepted, the line's own object included
    /// (`JSONSerialization` refuses deeper input).
    package static let maxDepth = 512

    enum Kind: UInt8 {
        case absent, null, yes, no, number, string, array, object
    }

    /// Where one value lies: the bytes between the quotes for a string, the whole text otherwise.
    struct Value {
        var kind = Kind.absent
        var escaped = false
        /// The value holds a number beyond the double range where `JSONSerialization` would
        /// build it (it builds only the last value of a repeated key).
        var overflow = false
        var start = 0
        var end = 0
    }

    let base: UnsafeRawBufferPointer  // borrowed: see the type's comment
    var values: [Value]
    package private(set) var firstUnknownKey: String?
    /// Scratch for strings with escapes.
    var scratch: [UInt8] = []

    init(_ base: UnsafeRawBufferPointer) {
        self.base = base
        values = [Value](repeating: Value(), count: EventKey.allCases.count)
    }

    // MARK: EventFields

    package func isPresent(_ key: EventKey) -> Bool {
        let k = values[key.rawValue].kind
        return k != .absent && k != .null
    }

    package func string(_ key: EventKey) -> String? {
        let v = values[key.rawValue]
        guard v.kind == .string else { return nil }
        return decodeString(v)
    }

    package func integer(_ key: EventKey) -> Int64? {
        let v = values[key.rawValue]
        guard v.kind == .number else { return nil }
        return integerValue(v.start, v.end)
    }

    package func bool(_ key: EventKey) -> Bool? {
        switch values[key.rawValue].kind {
        case .yes: true
        case .no: false
        default: nil
        }
    }

    package func jobIDs(_ key: EventKey) -> JobIDList {
        let v = values[key.rawValue]
        guard v.kind == .array else { return .notAList }
        var ids: [Int64] = []
        var items = 0
        var bad = false
        var i = skipSpace(v.start + 1, v.end)
        while i < v.end, byte(i) != UInt8(ascii: "]") {
            let itemStart = i
            let kind = kindOfValue(at: i)
            i = skipValue(i, v.end, depth: 0)!.end  // the line was checked whole
            items += 1
            if kind == .number, let id = integerValue(itemStart, i) { ids.append(id) } else { bad = true }
            i = skipSpace(i, v.end)
            if i < v.end, byte(i) == UInt8(ascii: ",") { i = skipSpace(i + 1, v.end) }
        }
        if items > JobEvent.maxRunning { return .notAList }
        return bad ? .notIntegers : .ids(ids)
    }

    // MARK: Reading a line

    @inline(__always) func byte(_ i: Int) -> UInt8 { base[i] }

    /// Checks bytes `start..<end` as one JSON object and notes its known fields. False when the
    /// line is not a JSON object (or not JSON).
    mutating func read(_ start: Int, _ end: Int) -> Bool {
        for k in values.indices { values[k] = Value() }
        firstUnknownKey = nil
        var unknownOverflow = OverflowKeys()
        func finish(_ at: Int) -> Bool {
            skipSpace(at, end) == end && unknownOverflow.isEmpty && !values.contains { $0.overflow }
        }
        var i = start
        // A UTF-8 byte order mark may open the line (only there, and only one).
        if end - i >= 3, byte(i) == 0xef, byte(i + 1) == 0xbb, byte(i + 2) == 0xbf { i += 3 }
        i = skipSpace(i, end)
        guard i < end, byte(i) == UInt8(ascii: "{") else { return false }
        i = skipSpace(i + 1, end)
        guard i < end else { return false }
        if byte(i) == UInt8(ascii: "}") {
            return finish(i + 1)
        }
        while true {
            guard i < end, byte(i) == UInt8(ascii: "\"") else { return false }
            let keyStart = i + 1
            guard let (keyEnd, keyEscaped) = scanString(keyStart, end) else { return false }
            i = skipSpace(keyEnd + 1, end)
            guard i < end, byte(i) == UInt8(ascii: ":") else { return false }
            i = skipSpace(i + 1, end)
            guard i < end else { return false }
            let valueStart = i
            let kind = kindOfValue(at: i)
            var value = Value(kind: kind, start: valueStart)
            if kind == .string {
                guard let (stringEnd, escaped) = scanString(i + 1, end) else { return false }
                value.start = i + 1
                value.end = stringEnd
                value.escaped = escaped
                i = stringEnd + 1
            } else {
                guard let (next, overflow) = skipValue(i, end, depth: 1) else { return false }
                value.end = next
                value.overflow = overflow
                i = next
            }
            if let key = knownKey(keyStart, keyEnd, escaped: keyEscaped) {
                values[key.rawValue] = value
            } else {
                let name = decodeString(Value(kind: .string, escaped: keyEscaped, start: keyStart, end: keyEnd))
                if firstUnknownKey.map({ name < $0 }) ?? true { firstUnknownKey = name }
                unknownOverflow.set(name, value.overflow)
            }
            i = skipSpace(i, end)
            guard i < end else { return false }
            if byte(i) == UInt8(ascii: ",") {
                i = skipSpace(i + 1, end)
                // One trailing comma is allowed, as JSONSerialization allows it.
                if i < end, byte(i) == UInt8(ascii: "}") { return finish(i + 1) }
                continue
            }
            guard byte(i) == UInt8(ascii: "}") else { return false }
            return finish(i + 1)
        }
    }

    @inline(__always) func skipSpace(_ start: Int, _ end: Int) -> Int {
        var i = start
        while i < end {
            let b = byte(i)
            guard b == 0x20 || b == 0x0a || b == 0x0d || b == 0x09 else { break }
            i += 1
        }
        return i
    }

    /// The kind a value starting at `i` would be (by its first byte; `skipValue` checks it).
    @inline(__always) func kindOfValue(at i: Int) -> Kind {
        switch byte(i) {
        case UInt8(ascii: "\""): .string
        case UInt8(ascii: "{"): .object
        case UInt8(ascii: "["): .array
        case UInt8(ascii: "t"): .yes
        case UInt8(ascii: "f"): .no
        case UInt8(ascii: "n"): .null
        default: .number
        }
    }

    /// The index after the value that starts at `i` (after its closing quote for a string) and
    /// whether it holds a number beyond the double range, or nil when no valid value starts
    /// there. `depth` is the nesting of the value's container.
    func skipValue(_ start: Int, _ end: Int, depth: Int) -> (end: Int, overflow: Bool)? {
        guard start < end else { return nil }
        switch byte(start) {
        case UInt8(ascii: "\""):
            return scanString(start + 1, end).map { ($0.end + 1, false) }
        case UInt8(ascii: "t"): return literal("true", start, end).map { ($0, false) }
        case UInt8(ascii: "f"): return literal("false", start, end).map { ($0, false) }
        case UInt8(ascii: "n"): return literal("null", start, end).map { ($0, false) }
        case UInt8(ascii: "["):
            guard depth + 1 <= Self.maxDepth else { return nil }
            var i = skipSpace(start + 1, end)
            guard i < end else { return nil }
            if byte(i) == UInt8(ascii: "]") { return (i + 1, false) }
            var overflow = false
            while true {
                guard let (next, o) = skipValue(i, end, depth: depth + 1) else { return nil }
                overflow = overflow || o
                i = skipSpace(next, end)
                guard i < end else { return nil }
                if byte(i) == UInt8(ascii: "]") { return (i + 1, overflow) }
                guard byte(i) == UInt8(ascii: ",") else { return nil }
                i = skipSpace(i + 1, end)
                if i < end, byte(i) == UInt8(ascii: "]") { return (i + 1, overflow) }  // a trailing comma
            }
        case UInt8(ascii: "{"):
            guard depth + 1 <= Self.maxDepth else { return nil }
            var i = skipSpace(start + 1, end)
            guard i < end else { return nil }
            if byte(i) == UInt8(ascii: "}") { return (i + 1, false) }
            var overflow = OverflowKeys()
            while true {
                guard i < end, byte(i) == UInt8(ascii: "\""), let (keyEnd, keyEscaped) = scanString(i + 1, end) else { return nil }
                let keyStart = i + 1
                i = skipSpace(keyEnd + 1, end)
                guard i < end, byte(i) == UInt8(ascii: ":") else { return nil }
                guard let (next, o) = skipValue(skipSpace(i + 1, end), end, depth: depth + 1) else { return nil }
                if o || !overflow.isEmpty {
                    overflow.set(decodeString(Value(kind: .string, escaped: keyEscaped, start: keyStart, end: keyEnd)), o)
                }
                i = skipSpace(next, end)
                guard i < end else { return nil }
                if byte(i) == UInt8(ascii: "}") { return (i + 1, !overflow.isEmpty) }
                guard byte(i) == UInt8(ascii: ",") else { return nil }
                i = skipSpace(i + 1, end)
                if i < end, byte(i) == UInt8(ascii: "}") { return (i + 1, !overflow.isEmpty) }  // a trailing comma
            }
        default:
            return scanNumber(start, end)
        }
    }

    func literal(_ word: StaticString, _ start: Int, _ end: Int) -> Int? {
        let n = word.utf8CodeUnitCount
        guard end - start >= n else { return nil }
        for k in 0..<n where byte(start + k) != word.utf8Start[k] { return nil }
        return start + n
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`: the index after it and whether
    /// its value is beyond the double range (1e400, 400 digits: only an exponent or a long
    /// mantissa can get there), or nil.
    func scanNumber(_ start: Int, _ end: Int) -> (end: Int, overflow: Bool)? {
        var i = start
        @inline(__always) func isDigit(_ i: Int) -> Bool { i < end && byte(i) &- UInt8(ascii: "0") < 10 }
        if i < end, byte(i) == UInt8(ascii: "-") { i += 1 }
        guard isDigit(i) else { return nil }
        if byte(i) == UInt8(ascii: "0") {
            i += 1
        } else {
            while isDigit(i) { i += 1 }
        }
        if i < end, byte(i) == UInt8(ascii: ".") {
            i += 1
            guard isDigit(i) else { return nil }
            while isDigit(i) { i += 1 }
        }
        var exponent = false
        if i < end, byte(i) | 0x20 == UInt8(ascii: "e") {
            exponent = true
            i += 1
            if i < end, byte(i) == UInt8(ascii: "+") || byte(i) == UInt8(ascii: "-") { i += 1 }
            guard isDigit(i) else { return nil }
            while isDigit(i) { i += 1 }
        }
        if exponent || i - start > 300 {
            let text = String(decoding: UnsafeRawBufferPointer(rebasing: base[start..<i]), as: UTF8.self)
            guard let d = Double(text), d.isFinite else { return (i, true) }
        }
        return (i, false)
    }

    /// Scans a string's body from `start` (after the opening quote): the index of the closing
    /// quote and whether it holds escapes, or nil for an unterminated or invalid string (a raw
    /// control character, a bad escape, a lone surrogate, invalid UTF-8).
    func scanString(_ start: Int, _ end: Int) -> (end: Int, escaped: Bool)? {
        var i = start
        var escaped = false
        while i < end {
            let b = byte(i)
            if b == UInt8(ascii: "\"") { return (i, escaped) }
            if b == UInt8(ascii: "\\") {
                escaped = true
                guard i + 1 < end else { return nil }
                switch byte(i + 1) {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"),
                    UInt8(ascii: "f"), UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                    i += 2
                case UInt8(ascii: "u"):
                    guard let unit = hex4(i + 2, end) else { return nil }
                    i += 6
                    if unit & 0xfc00 == 0xd800 {
                        // A high surrogate must be followed by an escaped low one.
                        guard i + 1 < end, byte(i) == UInt8(ascii: "\\"), byte(i + 1) == UInt8(ascii: "u"),
                            let low = hex4(i + 2, end), low & 0xfc00 == 0xdc00
                        else { return nil }
                        i += 6
                    } else if unit & 0xfc00 == 0xdc00 {
                        return nil
                    }
                default:
                    return nil
                }
                continue
            }
            if b < 0x20 { return nil }
            if b < 0x80 {
                i += 1
                continue
            }
            guard let next = utf8Sequence(i, end) else { return nil }
            i = next
        }
        return nil
    }

    /// Four hex digits at `i`, or nil.
    func hex4(_ i: Int, _ end: Int) -> UInt16? {
        guard i + 4 <= end else { return nil }
        var v: UInt16 = 0
        for k in 0..<4 {
            let c = byte(i + k)
            let d: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = c - UInt8(ascii: "A") + 10
            default: return nil
            }
            v = v << 4 | UInt16(d)
        }
        return v
    }

    /// The index after one well-formed UTF-8 sequence of 2–4 bytes starting at `i` (no overlong
    /// forms, no surrogates, nothing past U+10FFFF), or nil.
    func utf8Sequence(_ i: Int, _ end: Int) -> Int? {
        let b0 = byte(i)
        @inline(__always) func cont(_ k: Int, _ lo: UInt8 = 0x80, _ hi: UInt8 = 0xbf) -> Bool {
            i + k < end && byte(i + k) >= lo && byte(i + k) <= hi
        }
        switch b0 {
        case 0xc2...0xdf: return cont(1) ? i + 2 : nil
        case 0xe0: return cont(1, 0xa0) && cont(2) ? i + 3 : nil
        case 0xe1...0xec, 0xee...0xef: return cont(1) && cont(2) ? i + 3 : nil
        case 0xed: return cont(1, 0x80, 0x9f) && cont(2) ? i + 3 : nil
        case 0xf0: return cont(1, 0x90) && cont(2) && cont(3) ? i + 4 : nil
        case 0xf1...0xf3: return cont(1) && cont(2) && cont(3) ? i + 4 : nil
        case 0xf4: return cont(1, 0x80, 0x8f) && cont(2) && cont(3) ? i + 4 : nil
        default: return nil
        }
    }

    /// True when a line's first bytes hold a NUL or a UTF-16 byte order mark: not UTF-8 JSON.
    static func mayBeUTF16or32(_ body: UnsafeRawBufferPointer, _ start: Int, _ end: Int) -> Bool {
        guard end - start >= 2 else { return false }
        if (body[start] == 0xfe && body[start + 1] == 0xff) || (body[start] == 0xff && body[start + 1] == 0xfe) { return true }
        for i in start..<min(end, start + 4) where body[i] == 0 { return true }
        return false
    }

    // MARK: Values

    /// The known key spelled by bytes `start..<end` (escapes decoded first when there are any).
    func knownKey(_ start: Int, _ end: Int, escaped: Bool) -> EventKey? {
        if escaped { return EventKey(name: decodeString(Value(kind: .string, escaped: true, start: start, end: end))) }
        @inline(__always) func equals(_ name: StaticString) -> Bool {
            guard end - start == name.utf8CodeUnitCount else { return false }
            return memcmp(base.baseAddress! + start, name.utf8Start, end - start) == 0
        }
        switch end - start {
        case 4: return equals("uuid") ? .uuid : nil
        case 5:
            switch byte(start) {
            case UInt8(ascii: "e"): return equals("event") ? .event : nil
            case UInt8(ascii: "q"): return equals("queue") ? .queue : nil
            case UInt8(ascii: "s"): return equals("state") ? .state : nil
            case UInt8(ascii: "c"): return equals("count") ? .count : nil
            case UInt8(ascii: "l"): return equals("limit") ? .limit : nil
            default: return nil
            }
        case 6:
            if equals("worker") { return .worker }
            return equals("paused") ? .paused : nil
        case 7:
            switch byte(start) {
            case UInt8(ascii: "e"): return equals("exec_ns") ? .execNs : nil
            case UInt8(ascii: "w"): return equals("wait_ns") ? .waitNs : nil
            case UInt8(ascii: "r"): return equals("running") ? .running : nil
            default: return nil
            }
        case 9: return equals("old_state") ? .oldState : nil
        case 10: return equals("started_at") ? .startedAt : nil
        default: return nil
        }
    }

    /// A checked string's text, escapes decoded.
    func decodeString(_ v: Value) -> String {
        let raw = UnsafeRawBufferPointer(rebasing: base[v.start..<v.end])
        guard v.escaped else { return String(decoding: raw, as: UTF8.self) }
        var out: [UInt8] = []
        out.reserveCapacity(raw.count)
        var i = v.start
        while i < v.end {
            let b = byte(i)
            guard b == UInt8(ascii: "\\") else {
                out.append(b)
                i += 1
                continue
            }
            let e = byte(i + 1)
            i += 2
            switch e {
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0c)
            case UInt8(ascii: "n"): out.append(0x0a)
            case UInt8(ascii: "r"): out.append(0x0d)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = UInt32(hex4(i, v.end)!)
                i += 4
                if scalar & 0xfc00 == 0xd800 {
                    let low = UInt32(hex4(i + 2, v.end)!)
                    i += 6
                    scalar = 0x10000 + ((scalar - 0xd800) << 10) + (low - 0xdc00)
                }
                out.append(contentsOf: Unicode.UTF8.encode(Unicode.Scalar(scalar)!)!)
            default: out.append(e)  // " \ /
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// A checked number's value when its double is an exact `Int64` (as `JSONSerialization`'s
    /// `NSNumber.doubleValue` would give it), else nil.
    func integerValue(_ start: Int, _ end: Int) -> Int64? {
        var i = start
        let negative = byte(i) == UInt8(ascii: "-")
        if negative { i += 1 }
        if end - i <= 18 {
            var v: Int64 = 0
            var plain = true
            while i < end {
                let d = byte(i) &- UInt8(ascii: "0")
                guard d < 10 else {
                    plain = false
                    break
                }
                v = v * 10 + Int64(d)
                i += 1
            }
            // Up to 18 digits fit; a double holds every integer up to 2⁵³ exactly.
            if plain { return Int64(exactly: Double(negative ? -v : v)) }
        }
        let text = String(decoding: UnsafeRawBufferPointer(rebasing: base[start..<end]), as: UTF8.self)
        guard let d = Double(text) else { return nil }
        return Int64(exactly: d)
    }
}
