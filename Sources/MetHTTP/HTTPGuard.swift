import Foundation
import Hummingbird
import MetRuntime
import Synchronization

/// The HTTP API's guard (RELIABILITY S9; docs/api.md "Authentication and limits"): every
/// request is counted against `httpMaxConcurrent` (429 beyond), every write needs the write
/// token and, once `httpReadToken` is set, every read needs a token too (401). Refusals are
/// counted by reason for `/metrics`. No message or log line ever holds a token.
package final class HTTPGuard: Sendable {
    package let access: HTTPAccess
    private let inFlight = Atomic<Int>(0)
    private let refusals = Mutex<[String: Int]>([:])

    package init(_ access: HTTPAccess) { self.access = access }

    /// Requests refused so far, by reason (`unauthorized`, `too_many_concurrent`, `body_too_large`, `too_many_lines`, ...).
    package var refused: [String: Int] { refusals.withLock { $0 } }
    /// Requests being served now.
    package var serving: Int { inFlight.load(ordering: .relaxed) }

    package func refuse(_ reason: String) { refusals.withLock { $0[reason, default: 0] += 1 } }

    /// Takes a slot for one request; false when `maxConcurrent` are being served already.
    func enter() -> Bool {
        let now = inFlight.wrappingAdd(1, ordering: .acquiringAndReleasing).newValue
        if now > access.maxConcurrent {
            inFlight.wrappingSubtract(1, ordering: .acquiringAndReleasing)
            return false
        }
        return true
    }

    func leave() { inFlight.wrappingSubtract(1, ordering: .acquiringAndReleasing) }

    /// The token an `Authorization` header presents: `Bearer TOKEN`, or `Basic` with the token as
    /// the password (what a browser sends after the dashboard's 401 prompt; the user name is ignored).
    static func presentedToken(_ header: String?) -> [UInt8]? {
        guard let header else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2 else { return nil }
        let scheme = parts[0].lowercased()
        let value = parts[1].trimmingCharacters(in: .whitespaces)
        if scheme == "bearer" { return Array(value.utf8) }
        if scheme == "basic", let data = Data(base64Encoded: value), let colon = data.firstIndex(of: UInt8(ascii: ":")) {
            return Array(data[data.index(after: colon)...])
        }
        return nil
    }

    static func isWrite(_ method: HTTPRequest.Method) -> Bool {
        ![.get, .head, .options].contains(method)
    }
}

/// The guard as the router's first middleware.
struct GuardMiddleware<Context: RequestContext>: RouterMiddleware {
    let guarded: HTTPGuard

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard guarded.enter() else {
            guarded.refuse("too_many_concurrent")
            throw HTTPError(.tooManyRequests, headers: [.retryAfter: "1"],
                            message: "this node is serving \(guarded.access.maxConcurrent) requests already (httpMaxConcurrent); retry shortly")
        }
        defer { guarded.leave() }
        let write = HTTPGuard.isWrite(request.method)
        let presented = HTTPGuard.presentedToken(request.headers[.authorization])
        guard guarded.access.allows(presented, write: write) else {
            guarded.refuse("unauthorized")
            let message = presented == nil
                ? "this node's HTTP API needs a token for \(write ? "writes" : "reads"): send \"Authorization: Bearer <token>\" (met: --token-file or MET_HTTP_TOKEN)"
                : "the token sent is not this node's \(write ? "write token (httpToken)" : "read or write token")"
            var headers: HTTPFields = [.wwwAuthenticate: "Bearer realm=\"met\""]
            // A browser asking for a page is offered Basic too, so that it prompts (the token as the
            // password). Only a browser: Foundation's URLSession on Linux hangs on a Basic challenge.
            if !write, request.headers[.accept]?.contains("text/html") == true {
                headers.append(.init(name: .wwwAuthenticate, value: "Basic realm=\"met\", charset=\"UTF-8\""))
            }
            throw HTTPError(.unauthorized, headers: headers, message: message)
        }
        return try await next(request, context)
    }
}
