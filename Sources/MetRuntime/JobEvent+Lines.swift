import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// The keys of one object whose last value holds a number beyond the double range: such an
/// object is refused, unless a later value of the same key replaced it (keys compared as Swift
/// compares strings, as a dictionary would).
struct OverflowKeys {
    var keys: Set<String> = []
    var isEmpty: Bool { keys.isEmpty }

    mutating func set(_ key: String, _ overflow: Bool) {
        if overflow { keys.insert(key) } else if !keys.isEmpty { keys.remove(key) }
    }
}

extension JobEvent {
    /// Parses newline-delimited JSON. Every line is checked before anything is recorded, so a
    /// bad line rejects the whole body. Blank lines are skipped.
    package static func parseLines(_ body: some Collection<UInt8>) throws(ParseError) -> [JobEvent] {
        let result = body.withContiguousStorageIfAvailable { buffer in
            Result { () throws(ParseError) in try parseLines(UnsafeRawBufferPointer(buffer)) }
        } ?? Array(body).withUnsafeBytes { raw in
            Result { () throws(ParseError) in try parseLines(raw) }
        }
        return try result.get()
    }

    static func parseLines(_ body: UnsafeRawBufferPointer) throws(ParseError) -> [JobEvent] {
        var events: [JobEvent] = []
        var reader = EventLineReader(body)
        var lineNumber = 0
        var start = 0
        let end = body.count
        while start <= end {
            lineNumber += 1
            var stop = end
            if start < end, let newline = memchr(body.baseAddress! + start, 0x0a, end - start) {
                stop = body.baseAddress!.distance(to: UnsafeRawPointer(newline))
            }
            defer { start = stop + 1 }
            var blank = true
            for i in start..<stop where body[i] != 32 && body[i] != 9 && body[i] != 13 {
                blank = false
                break
            }
            if blank { continue }
            guard events.count < maxLines else { throw ParseError(line: lineNumber, message: "more than \(maxLines) events in one request") }
            do throws(FieldError) {
                if EventLineReader.mayBeUTF16or32(body, start, stop) {
                    // JSONSerialization reads UTF-16 and UTF-32 too (told by NULs or a byte order mark
                    // at the start); such a line goes to it, so both accept the same lines.
                    let line = Data(UnsafeRawBufferPointer(rebasing: body[start..<stop]))
                    guard let fields = FoundationEventFields(line) else { throw FieldError(message: "not a JSON object") }
                    events.append(try make(from: fields))
                    continue
                }
                guard reader.read(start, stop) else { throw FieldError(message: "not a JSON object") }
                events.append(try make(from: reader))
            } catch {
                throw ParseError(line: lineNumber, message: error.message)
            }
        }
        return events
    }
}
