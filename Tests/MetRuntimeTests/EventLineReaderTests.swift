import Foundation
import MetRecorder
import MetRuntime
import MetStore
import MetTestSupport
import Testing

/// `EventLineReader` against Foundation's `JSONSerialization` (the reader requests used
/// before): the same lines accepted and refused, with the same events and messages.
@Suite struct EventLineReaderTests {
    /// Both readers' answers for one body: the events, or the error's line and message.
    static func both(_ body: [UInt8]) -> (fast: String, reference: String) {
        func describe(_ parse: ([UInt8]) throws(JobEvent.ParseError) -> [JobEvent]) -> String {
            do throws(JobEvent.ParseError) { return "ok \(try parse(body))" } catch { return "error \(error)" }
        }
        return (describe { b throws(JobEvent.ParseError) in try JobEvent.parseLines(b) },
                describe { b throws(JobEvent.ParseError) in try JobEvent.parseLinesWithFoundation(b) })
    }

    static func expectSame(_ line: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let (fast, reference) = both(Array(line.utf8))
        #expect(fast == reference, "\(line.debugDescription)", sourceLocation: sourceLocation)
    }

    @Test("escapes, unicode, number forms and duplicate keys read as JSONSerialization reads them")
    func edgeCases() throws {
        let lines = [
            #"{"event":"job_stop","queue":"q\u00e9\n\"\\\/\b\f\r\t","worker":"W\ud83d\ude00","state":"completed","exec_ns":1e3,"wait_ns":-0}"#,
            #"{"event":"job_stop","queue":"qé😀","worker":"W","state":"completed","exec_ns":1.0,"wait_ns":1E+2}"#,
            #"{"event":"inserted","queue":"a","queue":"b","count":2,"count":3}"#,
            #"{"\u0065vent":"inserted","queue":"q"}"#,
            #"{"event":"inserted","queue":"q","count":9007199254740993}"#,
            #"{"event":"inserted","queue":"q","count":9223372036854775807}"#,
            #"{"event":"inserted","queue":"q","count":100e-2}"#,
            #"{"event":"inserted","queue":"q","count":1.5}"#,
            #"{"event":"inserted","queue":"q","count":-0.0}"#,
            #"{"event":"inserted","queue":"q","count":01}"#,
            #"{"event":"inserted","queue":"q","count":1e400}"#,
            #"{"event":"inserted","queue":"\ud800"}"#,
            #"{"event":"inserted","queue":"\udc00x"}"#,
            #"{"event":"inserted","queue":"q","zz":1,"aa":[1,{"b":null}]}"#,
            #"{"event":"inserted","queue":"q",}"#,
            #"  {"event" : "inserted" ,"queue":"q"}  "#,
            #"{"event":"inserted","queue":"q"} x"#,
            #"{"event":"queue_check","queue":"q","limit":10,"paused":true,"running":[1,2,3e0],"uuid":"u-1","started_at":1700000000}"#,
            #"{"event":"queue_check","queue":"q","limit":10,"paused":1,"running":[]}"#,
            #"{"event":"queue_check","queue":"q","limit":10,"running":[1,true]}"#,
            #"{"event":"queue_check","queue":"q","limit":10,"running":"1"}"#,
            #"{"event":"queue_check","queue":"q","limit":10,"started_at":"2026-01-02T03:04:05.250Z"}"#,
            #"{"event":"queue_check","queue":"q","limit":10,"started_at":"yesterday"}"#,
            #"{"event":"job_start","queue":"q","worker":"W","limit":"x","running":{"a":[]}}"#,
            "[1]", "\"x\"", "{}", "{\"event\":\"inserted\",\"queue\":\"q\u{7f}\"}",
            "{\"event\":\"inserted\",\"queue\":\"q\tx\"}",
        ]
        for line in lines { Self.expectSame(line) }
        #expect(try JobEvent.parseLines(Array(lines[0].utf8)) == [
            .stop(queue: "qé\n\"\\/\u{8}\u{c}\r\t", worker: "W😀", outcome: .completed, execNs: 1000, waitNs: 0),
        ])
        #expect(try JobEvent.parseLines(Array(lines[2].utf8)) == [.operation(.inserted, queue: "b", state: nil, worker: nil, count: 3)])
    }

    @Test("invalid UTF-8 and bytes outside JSON are refused as JSONSerialization refuses them")
    func bytes() {
        let prefix = Array(#"{"event":"inserted","queue":""#.utf8)
        let suffix = Array(#""}"#.utf8)
        for bad: [UInt8] in [[0xff], [0xc3], [0xed, 0xa0, 0x80], [0xc0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82], [0xc3, 0xa9], [0xf0, 0x9f, 0x98, 0x80], [0]] {
            let (fast, reference) = Self.both(prefix + bad + suffix)
            #expect(fast == reference, "\(bad)")
        }
    }

    @Test("nesting deeper than JSONSerialization allows is refused")
    func deepNesting() {
        for depth in [10, EventLineReader.maxDepth - 2, EventLineReader.maxDepth - 1, EventLineReader.maxDepth, EventLineReader.maxDepth + 1, 5_000] {
            let line = #"{"event":"inserted","queue":"q","x":"# + String(repeating: "[", count: depth) + String(repeating: "]", count: depth) + "}"
            Self.expectSame(line)
            let objects = #"{"event":"inserted","queue":"q","x":"# + String(repeating: #"{"a":"#, count: depth) + "1" + String(repeating: "}", count: depth) + "}"
            Self.expectSame(objects)
        }
    }

    @Test("a bad line anywhere rejects the whole body with its number")
    func wholeBody() throws {
        let good = #"{"event":"inserted","queue":"q"}"#
        var lines = Array(repeating: good, count: 50)
        lines[37] = #"{"event":"inserted","queue":"q","count":0}"#
        #expect {
            try JobEvent.parseLines(Array(lines.joined(separator: "\n").utf8))
        } throws: { error in
            (error as? JobEvent.ParseError).map { $0.line == 38 && $0.message == "\"count\" must be an integer ≥ 1" } ?? false
        }
        #expect(try JobEvent.parseLines(Array((good + "\r\n\n \t\r\n" + good + "\n").utf8)).count == 2)
        #expect(try JobEvent.parseLines([UInt8]()).isEmpty)
    }

    // MARK: Generated lines

    /// Random lines near the contract: known and unknown keys, every kind of JSON value, escapes,
    /// unicode, number forms, whitespace; a third of them then get one byte changed.
    struct LineGenerator {
        var rng: SplitMix64

        mutating func pick<T>(_ xs: [T]) -> T { xs[Int(rng.next() % UInt64(xs.count))] }
        mutating func chance(_ percent: UInt64) -> Bool { rng.next() % 100 < percent }

        mutating func space() -> String { chance(85) ? "" : pick([" ", "  ", "\t", "\r", " \r\t "]) }

        mutating func string() -> String {
            let pieces = ["q", "default", "Mailer", "completed", "retryable", "job_stop", "inserted", "é", "😀", "\\u00e9",
                          "\\ud83d\\ude00", "\\n", "\\\"", "\\\\", "\\/", "\\u0000", "\\ud800", "\\uDC00", "\\x", "\t",
                          "queue_check", "scheduled", "available", "executing", "2026-01-02T03:04:05Z", String(repeating: "w", count: 199),
                          String(repeating: "w", count: 201), ""]
            var s = ""
            for _ in 0..<(1 + rng.next() % 3) { s += pick(pieces) }
            return "\"" + s + "\""
        }

        mutating func number() -> String {
            pick(["0", "-0", "1", "7", "20", "1.0", "1.5", "1e3", "1E+2", "100e-2", "-1", "01", "1.", ".5", "-", "1e", "2147483647",
                  "2147483648", "9007199254740993", "9223372036854775807", "9223372036854775808", "123456789012345678901234",
                  "1e400", "-1e400", "1e-400", "1700000000", "3e0", "+1", "0x10", "Infinity", "NaN"])
        }

        mutating func value(depth: Int = 0) -> String {
            switch rng.next() % (depth > 2 ? 6 : 8) {
            case 0, 1: return string()
            case 2, 3: return number()
            case 4: return pick(["true", "false", "null", "tru", "nul"])
            case 5: return pick(["[]", "{}"])
            case 6: return "[" + (0..<(rng.next() % 4)).map { _ in space() + value(depth: depth + 1) + space() }.joined(separator: ",") + "]"
            default: return "{" + (0..<(rng.next() % 3)).map { _ in string() + ":" + value(depth: depth + 1) }.joined(separator: ",") + "}"
            }
        }

        mutating func line() -> String {
            let events = ["job_start", "job_stop", "job_exception", "inserted", "fetched", "staged", "pruned", "rescued",
                          "transition", "queue_check", "nope"]
            let keys = ["queue", "worker", "state", "old_state", "count", "exec_ns", "wait_ns", "limit", "paused", "running",
                        "uuid", "started_at", "colour", "Queue", "a"]
            var fields: [String] = []
            if chance(95) { fields.append("\"event\":\"" + pick(events) + "\"") }
            if chance(90) { fields.append("\"queue\":" + (chance(80) ? "\"" + pick(["q", "default", "é"]) + "\"" : value())) }
            for _ in 0..<(rng.next() % 5) {
                let key = pick(keys)
                let v: String
                switch key {
                case "worker", "uuid": v = chance(70) ? "\"W\"" : value()
                case "state", "old_state": v = chance(70) ? "\"" + pick(["completed", "available", "executing", "snoozed", "scheduled", "bad"]) + "\"" : value()
                case "count", "exec_ns", "wait_ns", "limit", "started_at": v = chance(70) ? number() : value()
                case "paused": v = chance(70) ? pick(["true", "false"]) : value()
                case "running": v = chance(60) ? "[" + (0..<(rng.next() % 4)).map { _ in number() }.joined(separator: ",") + "]" : value()
                default: v = value()
                }
                fields.append("\"" + key + "\"" + space() + ":" + space() + v)
            }
            var order = fields
            if chance(30) { order.shuffle(using: &rng) }
            var line = space() + "{" + space() + order.joined(separator: "," + space()) + space() + "}" + space()
            if chance(30) { line = mutate(line) }
            return line
        }

        mutating func mutate(_ line: String) -> String {
            var bytes = Array(line.utf8)
            guard !bytes.isEmpty else { return line }
            let at = Int(rng.next() % UInt64(bytes.count))
            let noise: [UInt8] = [UInt8(ascii: "{"), UInt8(ascii: "}"), UInt8(ascii: "["), UInt8(ascii: "\""), UInt8(ascii: ","),
                                  UInt8(ascii: ":"), UInt8(ascii: "\\"), UInt8(ascii: "0"), UInt8(ascii: "e"), UInt8(ascii: " "), 0x7f, 0xc3, 0xa9]
            switch rng.next() % 3 {
            case 0: bytes.remove(at: at)
            case 1: bytes.insert(pick(noise), at: at)
            default: bytes[at] = pick(noise)
            }
            return String(decoding: bytes, as: UTF8.self)
        }
    }

    @Test("20,000 generated lines a seed: the same events, or the same refusal, as JSONSerialization", arguments: [12, 21, 34] as [UInt64])
    func generatedLinesAgree(seed: UInt64) {
        var g = LineGenerator(rng: SplitMix64(seed: seed))
        var accepted = 0
        for _ in 0..<20_000 {
            let line = g.line()
            let (fast, reference) = Self.both(Array(line.utf8))
            #expect(fast == reference, "\(line.debugDescription)")
            if fast != reference { return }
            if fast.hasPrefix("ok") { accepted += 1 }
        }
        // The generator must exercise both outcomes.
        #expect(accepted > 1_000 && accepted < 19_000, "\(accepted) accepted")
    }

    @Test("generated bodies of many lines: the same events, or the same line refused")
    func generatedBodiesAgree() {
        var g = LineGenerator(rng: SplitMix64(seed: 13))
        for _ in 0..<300 {
            let lines = (0..<(1 + g.rng.next() % 40)).map { _ in g.chance(97) ? #"{"event":"inserted","queue":"q","count":2}"# : g.line() }
            let (fast, reference) = Self.both(Array(lines.joined(separator: "\n").utf8))
            #expect(fast == reference)
        }
    }
}
