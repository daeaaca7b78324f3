import Hummingbird
import MetStore

/// The query string of an API request, read into the store's query vocabulary. Every bad
/// value is a 400 that names the parameter.
struct QueryParameters {
    let request: Request

    init(_ request: Request) { self.request = request }

    func string(_ name: String) -> String? {
        request.uri.queryParameters.get(name).flatMap { $0.isEmpty ? nil : $0 }
    }

    func integer(_ name: String, default value: Int, range: ClosedRange<Int>) throws -> Int {
        guard let text = string(name) else { return value }
        guard let n = Int(text), range.contains(n) else {
            throw HTTPError(.badRequest, message: "\(name) must be an integer between \(range.lowerBound) and \(range.upperBound), not \"\(text)\"")
        }
        return n
    }

    /// An optional integer parameter: nil when absent.
    func optionalInteger(_ name: String, range: ClosedRange<Int>) throws -> Int? {
        guard string(name) != nil else { return nil }
        return try integer(name, default: range.lowerBound, range: range)
    }

    /// `fill=zero|null`, when given.
    func fill() throws -> Fill? {
        guard let text = string("fill") else { return nil }
        guard let fill = Fill(rawValue: text) else { throw HTTPError(.badRequest, message: "fill must be zero or null, not \"\(text)\"") }
        return fill
    }

    /// `filter=label:v1,v2`, repeatable (every filter must match).
    func filters() throws -> [LabelFilter] {
        try request.uri.queryParameters.getAll("filter").map { text in
            guard let f = LabelFilter(parsing: Substring(text)) else {
                throw HTTPError(.badRequest, message: "filter must be label:value[,value...], not \"\(text)\"")
            }
            return f
        }
    }

    /// The selection of a series query: lookback (s, default 300), since and until (unix s),
    /// group, filters.
    func selection(series: String) throws -> Selection {
        Selection(series: series, lookback: try integer("lookback", default: 300, range: 1...1_000_000),
                  since: try unixSeconds("since"), until: try unixSeconds("until"), group: string("group"), filters: try filters())
    }

    func unixSeconds(_ name: String) throws -> Int64? {
        guard let text = string(name) else { return nil }
        guard let t = Int64(text), t >= 0 else { throw HTTPError(.badRequest, message: "\(name) must be unix seconds, not \"\(text)\"") }
        return t
    }

    func op() throws -> QueryOp? {
        guard let text = string("op") else { return nil }
        guard let op = QueryOp(parsing: text) else {
            throw HTTPError(.badRequest, message: "op must be sum, max, avg, count or pNN (e.g. p99), not \"\(text)\"")
        }
        return op
    }
}

extension QueryError {
    /// Unknown series are 404; everything else the caller got wrong is 400.
    var httpError: HTTPError {
        switch self {
        case .unknownSeries: HTTPError(.notFound, message: description)
        case .invalidOperation, .invalidParameter: HTTPError(.badRequest, message: description)
        case .unavailable: HTTPError(.serviceUnavailable, message: description)
        }
    }
}
