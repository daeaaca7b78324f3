import Foundation

/// The reference reader of events lines: Foundation's `JSONSerialization`, as requests were
/// read before ``EventLineReader``. The property tests check that both readers accept and refuse
/// the same lines with the same events and messages, and the benchmark measures both.
package struct FoundationEventFields: EventFields {
    let f: [String: Any]

    /// Parses one line; nil when it is not a JSON object.
    package init?(_ json: Data) {
        guard let object = try? JSONSerialization.jsonObject(with: json), let f = object as? [String: Any] else { return nil }
        self.f = f
    }

    static let known = Set(EventKey.allCases.map(\.name))

    package var firstUnknownKey: String? { f.keys.sorted().first { !Self.known.contains($0) } }

    func raw(_ key: EventKey) -> Any? {
        guard let raw = f[key.name], !(raw is NSNull) else { return nil }
        return raw
    }

    package func isPresent(_ key: EventKey) -> Bool { raw(key) != nil }

    package func string(_ key: EventKey) -> String? { raw(key) as? String }

    package func integer(_ key: EventKey) -> Int64? {
        guard let raw = raw(key), let n = JSONNumbers.number(raw) else { return nil }
        return Int64(exactly: n.doubleValue)
    }

    package func bool(_ key: EventKey) -> Bool? {
        guard let raw = raw(key), JSONNumbers.isBool(raw) else { return nil }
        return raw as? Bool
    }

    package func jobIDs(_ key: EventKey) -> JobIDList {
        guard let list = raw(key) as? [Any], list.count <= JobEvent.maxRunning else { return .notAList }
        var ids: [Int64] = []
        for item in list {
            guard !JSONNumbers.isBool(item), let n = JSONNumbers.number(item), let id = Int64(exactly: n.doubleValue) else {
                return .notIntegers
            }
            ids.append(id)
        }
        return .ids(ids)
    }
}

extension JobEvent {
    /// ``parseLines(_:)`` through `JSONSerialization`: the reference for tests and benchmarks.
    package static func parseLinesWithFoundation(_ body: some Collection<UInt8>) throws(ParseError) -> [JobEvent] {
        var events: [JobEvent] = []
        var lineNumber = 0
        for line in body.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false) {
            lineNumber += 1
            if line.allSatisfy({ $0 == 32 || $0 == 9 || $0 == 13 }) { continue }
            guard events.count < maxLines else { throw ParseError(line: lineNumber, message: "more than \(maxLines) events in one request") }
            do throws(FieldError) {
                guard let fields = FoundationEventFields(Data(line)) else { throw FieldError(message: "not a JSON object") }
                events.append(try make(from: fields))
            } catch {
                throw ParseError(line: lineNumber, message: error.message)
            }
        }
        return events
    }
}

/// `started_at` given as text: an ISO 8601 time, with or without fractional seconds.
enum ISOTime {
    static func unixSeconds(_ text: String) -> Int64? {
        // A formatter per call: queue checks are a few a second, and formatters are not shared across threads.
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        guard let date = fractional.date(from: text) ?? ISO8601DateFormatter().date(from: text) else { return nil }
        return Int64(date.timeIntervalSince1970)
    }
}
