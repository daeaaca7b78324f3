import Foundation
import MetRuntime
import Testing

/// The `http*` keys (docs/operations.md "The HTTP API"): tokens and their precedence, the
/// refusal of an unguarded non-loopback listener, the limits, and no token in any message.
@Suite struct HTTPSettingsTests {
    static let token = "file-token-5d0c7a9e3b1f8264"
    static let env = NodeConfigTests.secret

    static func config(_ json: String) throws -> NodeConfig {
        try NodeConfig.parse(Data(json.utf8), source: "test.json")
    }

    static func tokenFile(_ contents: String, mode: Int = 0o600) throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("met-token-\(getpid())-\(UInt32.random(in: 0...UInt32.max))").path
        #expect(FileManager.default.createFile(atPath: path, contents: Data(contents.utf8), attributes: [.posixPermissions: mode]))
        return path
    }

    @Test func keysAreReadWithTheirTypesAndDefaults() throws {
        let c = try Self.config("""
        {"node": "n", "httpToken": "t0123456789abcdef", "httpTokenFile": "/etc/met/token", "httpReadToken": "r0123456789abcdef",
         "httpReadTokenFile": "/etc/met/read", "httpInsecure": true, "httpMaxBodyBytes": 65536, "httpMaxLines": 10, "httpMaxConcurrent": 3}
        """)
        let h = c.httpSettings
        #expect(h.token == "t0123456789abcdef" && h.tokenFile == "/etc/met/token" && h.readToken == "r0123456789abcdef")
        #expect(h.readTokenFile == "/etc/met/read" && h.insecure && h.maxBodyBytes == 65536 && h.maxLines == 10 && h.maxConcurrent == 3)
        let d = try Self.config(#"{"node": "n"}"#).httpSettings
        #expect(d == HTTPSettings() && d.maxBodyBytes == 16 << 20 && d.maxLines == 100_000 && d.maxConcurrent == 64 && !d.insecure)
        #expect(throws: ConfigError.self) { try Self.config(#"{"node": "n", "httpInsecure": "yes"}"#) }
        #expect(throws: ConfigError.self) { try Self.config(#"{"node": "n", "httpToken": 5}"#) }
        #expect(throws: ConfigError.self) { try Self.config(#"{"node": "n", "httpMaxLines": 1.5}"#) }
    }

    /// MET_HTTP_TOKEN, else `httpToken`, else `httpTokenFile` (its trailing newline dropped).
    @Test func tokensFollowTheSecretsPrecedence() throws {
        let file = try Self.tokenFile(Self.token + "\n")
        defer { try? FileManager.default.removeItem(atPath: file) }
        var c = NodeConfig()
        c.node = "n"
        c.httpSettings.tokenFile = file
        #expect(try c.validate(environment: Self.env).http.writeToken == Array(Self.token.utf8))
        c.httpSettings.token = "key-token-0123456789"
        #expect(try c.validate(environment: Self.env).http.writeToken == Array("key-token-0123456789".utf8))
        let fromEnv = try c.validate(environment: Self.env.merging(["MET_HTTP_TOKEN": "env-token-0123456789"]) { a, _ in a })
        #expect(fromEnv.http.writeToken == Array("env-token-0123456789".utf8) && fromEnv.http.readToken == nil)
        c.httpSettings.readTokenFile = file
        #expect(try c.validate(environment: Self.env).http.readToken == Array(Self.token.utf8))
        // A read token alone would leave writes open.
        var readOnly = NodeConfig()
        readOnly.node = "n"
        readOnly.httpSettings.readToken = "read-token-0123456789"
        #expect(throws: ConfigError.self) { try readOnly.validate(environment: Self.env) }
    }

    /// A token file others can read is a warning; an empty or unprintable token an error; no
    /// message ever holds the token.
    @Test func tokenProblemsAreNamedWithoutTheToken() throws {
        let open = try Self.tokenFile(Self.token, mode: 0o644)
        defer { try? FileManager.default.removeItem(atPath: open) }
        var c = NodeConfig()
        c.node = "n"
        c.httpSettings.tokenFile = open
        let warned = try c.validate(environment: Self.env)
        #expect(warned.warnings.contains { $0.contains("readable by other users") }, "\(warned.warnings)")
        c.httpSettings.tokenFile = nil
        for bad in ["", "has a space \(Self.token)", "line\n\(Self.token)"] {
            c.httpSettings.token = bad
            do {
                _ = try c.validate(environment: Self.env)
                Issue.record("\(bad.debugDescription) was accepted")
            } catch {
                #expect(error.description.contains("httpToken") && !error.description.contains(Self.token), "\(error)")
            }
        }
        c.httpSettings.token = "short"
        let short = try c.validate(environment: Self.env)
        #expect(short.warnings.contains { $0.contains("32 or more") } && !short.warnings.joined().contains("short\""), "\(short.warnings)")
    }

    /// `http` on a non-loopback address needs a token, or `httpInsecure` (a warning then).
    @Test func nonLoopbackHTTPNeedsATokenOrInsecure() throws {
        var c = NodeConfig()
        c.node = "n"
        for loopback in ["127.0.0.1:4000", "127.0.1.1:0", "localhost:4000", "[::1]:4000"] {
            c.http = loopback
            #expect(try c.validate(environment: Self.env).http.writeToken == nil, "\(loopback)")
        }
        for open in ["0.0.0.0:4000", "10.0.0.5:4000", "[::]:4000", "example.com:80"] {
            c.http = open
            #expect(throws: ConfigError.self, "\(open)") { try c.validate(environment: Self.env) }
            do { _ = try c.validate(environment: Self.env) } catch {
                #expect(error.description.contains("not a loopback address") && error.description.contains("--http-insecure"), "\(error)")
            }
        }
        c.http = "0.0.0.0:4000"
        c.httpSettings.insecure = true
        #expect(try c.validate(environment: Self.env).warnings.contains { $0.contains("--http-insecure") })
        c.httpSettings.insecure = false
        #expect(try c.validate(environment: Self.env.merging(["MET_HTTP_TOKEN": Self.token]) { a, _ in a }).http.writeToken != nil)
    }

    @Test func limitsAreChecked() throws {
        var c = NodeConfig()
        c.node = "n"
        for (key, change) in [("httpMaxBodyBytes", { (s: inout HTTPSettings) in s.maxBodyBytes = 10 }),
                              ("httpMaxLines", { (s: inout HTTPSettings) in s.maxLines = 0 }),
                              ("httpMaxConcurrent", { (s: inout HTTPSettings) in s.maxConcurrent = 0 })] {
            var bad = c
            change(&bad.httpSettings)
            do {
                _ = try bad.validate(environment: Self.env)
                Issue.record("\(key) accepted")
            } catch {
                #expect(error.description.contains(key), "\(error)")
            }
        }
    }

    /// Writes need the write token; reads need nothing, or (with a read token) either token.
    @Test func accessComparesTokens() {
        let w = Array("write-0123456789".utf8), r = Array("read-0123456789".utf8)
        let open = HTTPAccess()
        #expect(open.allows(nil, write: true) && open.allows(nil, write: false))
        let writes = HTTPAccess(writeToken: w)
        #expect(!writes.allows(nil, write: true) && writes.allows(w, write: true) && !writes.allows(Array(w.dropLast()), write: true))
        #expect(!writes.allows(w + [0x41], write: true) && !writes.allows([], write: true) && writes.allows(nil, write: false))
        let both = HTTPAccess(writeToken: w, readToken: r)
        #expect(!both.allows(nil, write: false) && both.allows(r, write: false) && both.allows(w, write: false))
        #expect(!both.allows(r, write: true) && both.allows(w, write: true))
    }
}
