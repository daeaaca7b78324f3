import Foundation
import Hummingbird
import MetDashboard
import MetRecorder
import MetRuntime
import MetStore

/// The dashboard: `GET /` (the whole page), `GET /dashboard/live` (its live part, which the
/// page's script swaps in) and `GET /dashboard.js` (that script), served by every node from its
/// own replica; and the markers: `POST /api/markers`, `GET /api/markers`.
enum DashboardRoutes {
    /// The page's content security policy: nothing from elsewhere, no inline script.
    static let contentSecurityPolicy =
        "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; img-src data:; connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"

    static func add(to router: Router<BasicRequestContext>, node: NodeRuntime, guarded: HTTPGuard) {
        router.get("/") { request, _ in
            try await html(PageView.render(page(request, node)))
        }
        router.get("/dashboard/live") { request, _ in
            try await html(PageView.live(page(request, node)))
        }
        router.get(RouterPath(PageView.scriptPath)) { _, _ in
            Response(status: .ok, headers: [.contentType: "text/javascript; charset=utf-8", .cacheControl: "no-cache"],
                     body: .init(byteBuffer: ByteBuffer(string: LiveScript.javaScript)))
        }
        router.post("/api/markers") { request, _ in
            var request = request
            let body: ByteBuffer
            do { body = try await request.collectBody(upTo: 64 << 10) } catch {
                guarded.refuse("body_too_large")
                throw HTTPError(.contentTooLarge, message: "a marker's body must be under 64 KiB")
            }
            let marker = try MarkerRequest.parse(body)
            let recorded: MarkerRecord
            do throws(MarkerError) {
                recorded = try Markers.record(label: marker.label, at: marker.at, into: node.recorder, now: node.recorder.clock.second(),
                                              retention: node.resolved.tiers.retention)
            } catch {
                throw HTTPError(.badRequest, message: error.description)
            }
            return try JSONBody(recorded).response(status: .created)
        }
        router.get("/api/markers") { request, _ in
            let retention = node.resolved.tiers.retention
            let lookback = try QueryParameters(request).integer("lookback", default: retention, range: 1...1_000_000)
            let since = node.recorder.clock.second() - Int64(lookback) + 1
            return JSONBody(await Blocking.run { Markers.list(node.collector, since: since) })
        }
    }

    /// The page's data for the request's controls (a bad control is a 400 that names it).
    static func page(_ request: Request, _ node: NodeRuntime) async throws -> DashboardPage {
        let controls: DashboardControls
        do throws(DashboardControls.Invalid) {
            controls = try DashboardControls(query: URLQuery.parse(request.uri.query))
        } catch {
            throw HTTPError(.badRequest, message: "\(error.description). See / for the defaults.")
        }
        let status = await node.status()
        let source = DashboardSource(collector: node.collector, settings: .init(node), controls: controls, now: node.recorder.clock.second())
        return await Blocking.run { source.page(status: status) }  // its queries take the replica's lock
    }

    static func html(_ text: String) -> Response {
        Response(status: .ok, headers: [.contentType: "text/html; charset=utf-8", .cacheControl: "no-store",
                                        .contentSecurityPolicy: contentSecurityPolicy, .xContentTypeOptions: "nosniff"],
                 body: .init(byteBuffer: ByteBuffer(string: text)))
    }
}

/// The body of `POST /api/markers`: `{"label": "deploy v42", "at": 1800000000}` (`at` optional).
struct MarkerRequest: Decodable {
    var label: String
    var at: Int64?

    static func parse(_ body: ByteBuffer) throws -> MarkerRequest {
        do {
            return try JSONDecoder().decode(MarkerRequest.self, from: Data(body.readableBytesView))
        } catch {
            throw HTTPError(.badRequest, message: "the body must be JSON: {\"label\": \"...\", \"at\": unix seconds (optional)}")
        }
    }
}
