import Foundation

/// The HTTP API's guard and limits (RELIABILITY S9; docs/operations.md "HTTP API"): keys of
/// the node's config file, kept apart from the mesh's.
public struct HTTPSettings: Sendable, Equatable {
    /// The bearer token every write (`POST`) needs (prefer `httpTokenFile` or `MET_HTTP_TOKEN`).
    public var token: String?
    /// A file holding that token (a trailing newline is not part of it).
    public var tokenFile: String?
    /// A second token that reads (every `GET`, the dashboard and `/metrics` included) need once
    /// it is set; the write token is accepted for reads too. Unset: reads are open.
    public var readToken: String?
    /// A file holding the read token.
    public var readTokenFile: String?
    /// Serve the API without a token on a non-loopback address, knowingly (`--http-insecure`).
    public var insecure = false
    /// Bytes of a request body, at most (413 beyond).
    public var maxBodyBytes = 16 << 20
    /// Event lines of one `POST /api/events`, at most (413 beyond).
    public var maxLines = 100_000
    /// Requests being served at once, at most (429 beyond).
    public var maxConcurrent = 64

    public init() {}

    /// The config file's keys for these settings.
    static let keys: Set<String> = [
        "httpToken", "httpTokenFile", "httpReadToken", "httpReadTokenFile", "httpInsecure",
        "httpMaxBodyBytes", "httpMaxLines", "httpMaxConcurrent",
    ]

    /// Reads these keys from a parsed config file (`source` names it in errors).
    static func parse(_ dict: [String: Any], source: String) throws(ConfigError) -> HTTPSettings {
        var s = HTTPSettings()
        func string(_ key: String) throws(ConfigError) -> String? {
            guard let raw = dict[key], !(raw is NSNull) else { return nil }
            guard let v = raw as? String, !JSONNumbers.isBool(raw) else { throw .invalid(source, "\"\(key)\" must be a string") }
            return v
        }
        func integer(_ key: String) throws(ConfigError) -> Int? {
            guard let raw = dict[key], !(raw is NSNull) else { return nil }
            guard !JSONNumbers.isBool(raw), let n = JSONNumbers.number(raw), n.doubleValue == n.doubleValue.rounded() else {
                throw .invalid(source, "\"\(key)\" must be an integer")
            }
            return n.intValue
        }
        s.token = try string("httpToken")
        s.tokenFile = try string("httpTokenFile")
        s.readToken = try string("httpReadToken")
        s.readTokenFile = try string("httpReadTokenFile")
        if let raw = dict["httpInsecure"], !(raw is NSNull) {
            guard JSONNumbers.isBool(raw), let b = raw as? Bool else { throw .invalid(source, "\"httpInsecure\" must be true or false") }
            s.insecure = b
        }
        s.maxBodyBytes = try integer("httpMaxBodyBytes") ?? s.maxBodyBytes
        s.maxLines = try integer("httpMaxLines") ?? s.maxLines
        s.maxConcurrent = try integer("httpMaxConcurrent") ?? s.maxConcurrent
        return s
    }

    /// Checks the limits and resolves the tokens: `MET_HTTP_TOKEN` (`MET_HTTP_READ_TOKEN`),
    /// else the key, else the file, the same order as the cluster secret. A node whose `http`
    /// listens on a non-loopback address needs a token, or `insecure`.
    func resolve(http: String?, environment: [String: String], warnings: inout [String]) throws(ConfigError) -> HTTPAccess {
        guard (1024...(1 << 30)).contains(maxBodyBytes) else { throw .bad("httpMaxBodyBytes", "must be between 1024 and 1073741824 bytes, not \(maxBodyBytes)") }
        guard (1...JobEvent.maxLines).contains(maxLines) else { throw .bad("httpMaxLines", "must be between 1 and \(JobEvent.maxLines), not \(maxLines)") }
        guard (1...100_000).contains(maxConcurrent) else { throw .bad("httpMaxConcurrent", "must be between 1 and 100000, not \(maxConcurrent)") }
        let write = try Self.token(env: environment["MET_HTTP_TOKEN"], value: token, file: tokenFile, key: "httpToken", warnings: &warnings)
        let read = try Self.token(env: environment["MET_HTTP_READ_TOKEN"], value: readToken, file: readTokenFile, key: "httpReadToken", warnings: &warnings)
        if read != nil, write == nil {
            throw .bad("httpReadToken", "a read token without a write token would leave writes open; set httpToken (or httpTokenFile, MET_HTTP_TOKEN) too")
        }
        if let http, let host = NodeConfig.split(http)?.host, !Self.isLoopback(host), write == nil {
            if insecure {
                warnings.append("the HTTP API listens on \(http), a non-loopback address, with no token (--http-insecure): anyone who can reach it can post events")
            } else {
                throw .bad("http", "\(http) is not a loopback address and no httpToken is set: anyone who can reach it could post events. Set httpTokenFile (or MET_HTTP_TOKEN, httpToken), listen on 127.0.0.1, or pass --http-insecure (\"httpInsecure\": true) to serve it unguarded")
            }
        }
        return HTTPAccess(writeToken: write.map(Array.init), readToken: read.map(Array.init),
                          maxBodyBytes: maxBodyBytes, maxLines: maxLines, maxConcurrent: maxConcurrent)
    }

    static func token(env: String?, value: String?, file: String?, key: String, warnings: inout [String]) throws(ConfigError) -> [UInt8]? {
        var bytes: [UInt8]
        if let env, !env.isEmpty {
            bytes = Array(env.utf8)
        } else if let value {
            bytes = Array(value.utf8)
        } else if let file {
            guard let data = FileManager.default.contents(atPath: file) else { throw .bad("\(key)File", "cannot read \(file)") }
            bytes = Array(data)
            while let last = bytes.last, last == 10 || last == 13 { bytes.removeLast() }  // a trailing newline is not part of it
            if let mode = (try? FileManager.default.attributesOfItem(atPath: file))?[.posixPermissions] as? Int, mode & 0o077 != 0 {
                warnings.append("\(key)File \(file) is readable by other users (mode \(String(mode, radix: 8))); chmod 600 it")
            }
        } else {
            return nil
        }
        guard !bytes.isEmpty else { throw .bad(key, "the token is empty") }
        guard bytes.allSatisfy({ $0 > 0x20 && $0 < 0x7F }) else {
            throw .bad(key, "the token must be printable ASCII without spaces (it travels in an Authorization header)")
        }
        if bytes.count < 16 { warnings.append("the \(key) has \(bytes.count) bytes; 32 or more random ones are recommended") }
        return bytes
    }

    /// `127.0.0.0/8`, `::1` and `localhost`: addresses only this machine reaches.
    static func isLoopback(_ host: String) -> Bool {
        let h = host.lowercased()
        return h == "localhost" || h == "::1" || h == "[::1]" || h.hasPrefix("127.")
    }
}

/// The HTTP API's guard as resolved at start: the tokens' bytes and the limits.
package struct HTTPAccess: Sendable {
    package var writeToken: [UInt8]?
    package var readToken: [UInt8]?
    package var maxBodyBytes = 16 << 20
    package var maxLines = 100_000
    package var maxConcurrent = 64

    package init(writeToken: [UInt8]? = nil, readToken: [UInt8]? = nil, maxBodyBytes: Int = 16 << 20, maxLines: Int = 100_000, maxConcurrent: Int = 64) {
        (self.writeToken, self.readToken) = (writeToken, readToken)
        (self.maxBodyBytes, self.maxLines, self.maxConcurrent) = (maxBodyBytes, maxLines, maxConcurrent)
    }

    /// Reads need a token.
    package var readsGuarded: Bool { readToken != nil }

    /// Whether `presented` opens a write (`write`) or a read: compared in constant time with
    /// every token that would do.
    package func allows(_ presented: [UInt8]?, write: Bool) -> Bool {
        let wanted = write ? [writeToken] : (readToken == nil ? [] : [readToken, writeToken])
        if wanted.allSatisfy({ $0 == nil }) { return true }
        guard let presented else { return false }
        var ok = false
        for case let token? in wanted where Self.same(presented, token) { ok = true }
        return ok
    }

    /// Byte equality whose time depends only on `expected`'s length.
    static func same(_ presented: [UInt8], _ expected: [UInt8]) -> Bool {
        var diff: UInt8 = presented.count == expected.count ? 0 : 1
        for i in 0..<expected.count {
            diff |= (i < presented.count ? presented[i] : 0) ^ expected[i]
        }
        return diff == 0
    }
}
