import Foundation
import Hummingbird
import MetRuntime
import MetRecorder
import MetStore

/// The HTTP API of a node (DESIGN §7): JSON in and out; errors are JSON with a message and a
/// 4xx status, never a crash.
package enum APIRoutes {
    /// Set on a `latest` answer whose values are null: why (`full_count` before any keyframe).
    package static let unavailableHeader = "Met-Unavailable"

    /// A router serving `node`'s API, behind its guard (tokens, limits: ``HTTPGuard``).
    package static func router(for node: NodeRuntime) -> Router<BasicRequestContext> {
        let router = Router()
        let guarded = HTTPGuard(node.resolved.http)
        router.add(middleware: GuardMiddleware(guarded: guarded))
        let (maxBytes, maxLines) = (guarded.access.maxBodyBytes, guarded.access.maxLines)

        router.get("/api/series") { _, _ in
            JSONBody(await Blocking.run { node.collector.series() })
        }
        router.get("/api/labels/:label") { request, context in
            let label = try context.parameters.require("label")
            let lookback = try QueryParameters(request).integer("lookback", default: 300, range: 1...1_000_000)
            return JSONBody(await Blocking.run { node.collector.labels(label, lookback: lookback) })
        }
        router.get("/api/latest/:series") { request, context in
            let params = QueryParameters(request)
            let selection = try params.selection(series: try context.parameters.require("series"))
            let op = try params.op()
            switch await Blocking.run({ Result(catching: { () throws(QueryError) in try node.collector.latest(selection, op: op) }) }) {
            case .success(let values):
                return try JSONBody(values).response(status: .ok)
            case .failure(.unavailable(let why)):
                // full_count before any keyframe: null for every group, never 0, and why.
                var response = try JSONBody(FullCountQuery.unavailable(selection)).response(status: .ok)
                if let name = type(of: response.headers).Element.Name(unavailableHeader) { response.headers[name] = why }
                return response
            case .failure(let error):
                throw error.httpError
            }
        }
        router.get("/api/timeslice/:series") { request, context in
            let params = QueryParameters(request)
            let selection = try params.selection(series: try context.parameters.require("series"))
            let by = try params.optionalInteger("by", range: 1...86_400)
            let (op, fill) = (try params.op(), try params.fill())
            return JSONBody(try await answer { () throws(QueryError) in
                try await Blocking.run { () throws(QueryError) in try node.collector.timeslice(selection, by: by, op: op, fill: fill) }
            })
        }
        router.get("/api/summary/:series") { request, context in
            let params = QueryParameters(request)
            let selection = try params.selection(series: try context.parameters.require("series"))
            let by = try params.integer("by", default: 60, range: 1...86_400)
            return JSONBody(try await answer { () throws(QueryError) in
                try await Blocking.run { () throws(QueryError) in try node.collector.summary(selection, by: by) }
            })
        }
        router.get("/api/checks") { _, _ in
            JSONBody(await Blocking.run { node.collector.checks(retention: node.config.retention) })
        }
        router.get("/api/cluster") { _, _ in
            JSONBody(await node.status())
        }
        router.post("/api/events") { request, _ in
            var request = request
            let body: ByteBuffer
            do {
                body = try await request.collectBody(upTo: maxBytes)
            } catch {
                guarded.refuse("body_too_large")
                throw HTTPError(.contentTooLarge, message: "the body exceeds \(maxBytes) bytes (httpMaxBodyBytes); send fewer events per request")
            }
            switch await EventIngest.ingest(body, maxLines: maxLines, into: node) {
            case .tooManyLines(let lines):
                guarded.refuse("too_many_lines")
                throw HTTPError(.contentTooLarge, message: "the body has \(lines) lines, more than \(maxLines) (httpMaxLines); nothing was applied: send fewer events per request")
            case .malformed(let error):
                return try JSONBody(EventsRejected(error: .init(message: error.description, line: error.line))).response(status: .badRequest)
            case .refused(let refusal):
                node.cardinalityWatch.refused(refusal)
                return try JSONBody(EventsRejected(error: .init(message: refusal.description, line: nil, series: refusal.series, limit: refusal.limit)))
                    .response(status: .tooManyRequests)
            case .accepted(let count):
                return try JSONBody(EventsAccepted(accepted: count)).response(status: .ok)
            }
        }
        DashboardRoutes.add(to: router, node: node, guarded: guarded)
        MetricsRoute.add(to: router, node: node, guarded: guarded)
        return router
    }

    /// Lines holding anything but blanks (what the event parser reads as events).
    static func lineCount(_ bytes: some Sequence<UInt8>) -> Int {
        var (count, blank) = (0, true)
        for byte in bytes {
            if byte == UInt8(ascii: "\n") {
                if !blank { count += 1 }
                blank = true
            } else if byte != UInt8(ascii: " "), byte != UInt8(ascii: "\r"), byte != UInt8(ascii: "\t") {
                blank = false
            }
        }
        return blank ? count : count + 1
    }

    /// A query's answer, its errors turned into HTTP errors (404 for an unknown series, else 400).
    static func answer<T>(_ body: () async throws(QueryError) -> T) async throws(HTTPError) -> T {
        do throws(QueryError) { return try await body() } catch { throw error.httpError }
    }
}

struct EventsAccepted: Codable, Sendable {
    var accepted: Int
}

struct EventsRejected: Codable, Sendable {
    struct Detail: Codable, Sendable {
        var message: String
        /// The bad line (400).
        var line: Int?
        /// The series whose label-set limit the request would pass, and that limit (429).
        var series: String?
        var limit: Int?
    }
    var error: Detail
}

/// A JSON response: keys sorted, non-finite numbers written as strings rather than failing.
struct JSONBody<T: Encodable & Sendable>: ResponseGenerator {
    let value: T
    init(_ value: T) { self.value = value }

    func response(status: HTTPResponse.Status) throws -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "Infinity", negativeInfinity: "-Infinity", nan: "NaN")
        let data = try encoder.encode(value)
        return Response(status: status, headers: [.contentType: "application/json; charset=utf-8"],
                        body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        try response(status: .ok)
    }
}
