import ArgumentParser
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// The token `met query` and `met mark` send to a guarded node (docs/api.md "Authentication"):
/// `--token`, else `--token-file`, else MET_HTTP_TOKEN, else (reads only) MET_HTTP_READ_TOKEN.
struct ClientAuth: ParsableArguments {
    @Option(help: "Bearer token for the node's HTTP API (visible in ps; prefer --token-file or MET_HTTP_TOKEN).") var token: String?
    @Option(help: "File holding the bearer token (a trailing newline is ignored).") var tokenFile: String?

    /// The token to send, if any.
    func resolve(forWrite: Bool, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String? {
        if let token { return token }
        if let tokenFile {
            guard let data = FileManager.default.contents(atPath: tokenFile) else { throw ValidationError("cannot read --token-file \(tokenFile)") }
            return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .newlines)
        }
        if let env = environment["MET_HTTP_TOKEN"], !env.isEmpty { return env }
        if !forWrite, let env = environment["MET_HTTP_READ_TOKEN"], !env.isEmpty { return env }
        return nil
    }

    func authorize(_ request: inout URLRequest, forWrite: Bool) throws {
        if let token = try resolve(forWrite: forWrite) { request.setValue("Bearer \(token)", forHTTPHeaderField: "Authorization") }
    }
}
