import Foundation
import MetRuntime
import Testing

@Suite struct NodeConfigTests {
    static let secret = ["MET_CLUSTER_SECRET": "0123456789abcdef0123456789abcdef"]

    static func parse(_ json: String) throws(ConfigError) -> NodeConfig {
        try NodeConfig.parse(Data(json.utf8), source: "test.json")
    }

    @Test func everyKeyOfTheDesignIsReadAndDefaultsFillTheRest() throws {
        let c = try Self.parse("""
        {"cluster": "prod", "node": "n1", "listen": "0.0.0.0:7401", "advertise": "10.0.0.1:7401",
         "seeds": ["10.0.0.2:7401"], "http": "127.0.0.1:4000", "database": "postgresql://x@y/z",
         "secretFile": "/etc/met/secret", "broadcastInterval": 0.5, "keyframeInterval": 10,
         "compaction": [[1, 60], [10, 600]], "estimateLimit": 1000, "retention": 60}
        """)
        #expect(c.cluster == "prod" && c.node == "n1" && c.listen == "0.0.0.0:7401" && c.advertise == "10.0.0.1:7401")
        #expect(c.seeds == ["10.0.0.2:7401"] && c.http == "127.0.0.1:4000" && c.database == "postgresql://x@y/z")
        #expect(c.secretFile == "/etc/met/secret" && c.broadcastInterval == 0.5 && c.keyframeInterval == 10)
        #expect(c.compaction == [[1, 60], [10, 600]] && c.estimateLimit == 1000 && c.retention == 60)
        let d = try Self.parse(#"{"node": "n"}"#)
        #expect(d.cluster == "met" && d.broadcastInterval == 1 && d.keyframeInterval == 5 && d.estimateLimit == 50_000)
        #expect(d.retention == 30 && d.compaction == [[1, 120], [5, 900], [30, 2000], [60, 9300]])
        #expect(d.handoffTimeout == 20 && d.handoffAckTimeout == 5 && d.handoffChunkBytes == 1 << 20 && d.testFaults == nil)
        let h = try Self.parse(#"{"node": "n", "handoffTimeout": 8, "handoffAckTimeout": 2.5, "handoffChunkBytes": 4096}"#)
        #expect(h.handoffTimeout == 8 && h.handoffAckTimeout == 2.5 && h.handoffChunkBytes == 4096)
    }

    /// Every timing knob of failure detection, catch-up and the outbound queues is a key
    /// (RELIABILITY: "every timing knob configurable"), with RELIABILITY's defaults.
    @Test func failureDetectionAndQueueKnobsAreKeysWithReliabilitysDefaults() throws {
        let d = try Self.parse(#"{"node": "n"}"#)
        #expect(d.heartbeatInterval == 1 && d.suspectAfter == 2.5 && d.silenceLimit == 6 && d.indirectWindow == 2)
        #expect(d.localLagGuard == 1 && d.flapWindow == 60 && d.reapAfter == 86_400 && d.joinPatience == 5)
        #expect(d.resyncInterval == 30 && d.outboundQueueBytes == 8 << 20 && d.outboundQueueIntervals == 60 && d.redialBackoffMax == 5)
        let c = try Self.parse("""
        {"node": "n", "heartbeatInterval": 0.2, "suspectAfter": 1, "silenceLimit": 2.5, "indirectWindow": 1,
         "localLagGuard": 0.5, "flapWindow": 10, "reapAfter": 600, "joinPatience": 1.5, "resyncInterval": 5,
         "outboundQueueBytes": 2097152, "outboundQueueIntervals": 30, "redialBackoffMax": 1}
        """)
        let r = try c.validate(environment: Self.secret).config
        #expect(r.suspectAfter == 1 && r.silenceLimit == 2.5 && r.indirectWindow == 1 && r.localLagGuard == 0.5)
        #expect(r.flapWindow == 10 && r.reapAfter == 600 && r.joinPatience == 1.5 && r.resyncInterval == 5)
        #expect(r.outboundQueueBytes == 2 << 20 && r.outboundQueueIntervals == 30 && r.redialBackoffMax == 1)
    }

    /// The leader's keyframe connections: 2 by default, a key, 1 to 16.
    @Test func keyframeConnectionsIsAKeyWithASaneDefaultAndRange() throws {
        #expect(try Self.parse(#"{"node": "n"}"#).keyframeConnections == 2)
        let c = try Self.parse(#"{"node": "n", "keyframeConnections": 1}"#)
        #expect(try c.validate(environment: Self.secret).config.keyframeConnections == 1)
        for bad in [0, 17] {
            var b = c
            b.keyframeConnections = bad
            #expect(throws: ConfigError.bad("keyframeConnections", "must be between 1 and 16, not \(bad)")) {
                _ = try b.validate(environment: Self.secret)
            }
        }
    }

    @Test func handoffLimitsAndTestFaultsAreChecked() throws {
        var c = NodeConfig()
        c.node = "n"
        c.handoffChunkBytes = 2 << 20
        #expect(throws: ConfigError.bad("handoffChunkBytes", "must be between 1024 and 1048576 bytes, not 2097152")) {
            _ = try c.validate(environment: Self.secret)
        }
        c.handoffChunkBytes = 1024
        c.handoffTimeout = 0
        #expect(throws: ConfigError.self) { _ = try c.validate(environment: Self.secret) }
        c.handoffTimeout = 20
        c.testFaults = "cut:nonsense:1"
        #expect { _ = try c.validate(environment: Self.secret) } throws: { "\($0)".contains("unknown fault rule") }
        c.testFaults = "cut:handoffAck:3"
        #expect(try c.validate(environment: Self.secret).config.testFaults == "cut:handoffAck:3")
    }

    @Test(arguments: [
        (#"{"node": "n", "brodcastInterval": 1}"#, "unknown key \"brodcastInterval\""),
        (#"{"node": 3}"#, "\"node\" must be a string"),
        (#"{"node": "n", "retention": true}"#, "\"retention\" must be an integer"),
        (#"{"node": "n", "retention": 1.5}"#, "\"retention\" must be an integer"),
        (#"{"node": "n", "seeds": "a:1"}"#, "\"seeds\" must be an array"),
        (#"{"node": "n", "handoffChunkBytes": "1M"}"#, "\"handoffChunkBytes\" must be an integer"),
        (#"[1, 2]"#, "not a JSON object"),
        ("{", "not a JSON object"),
    ])
    func badFilesNameTheKey(json: String, message: String) {
        #expect {
            _ = try Self.parse(json)
        } throws: { error in
            "\(error)".contains(message) && "\(error)".hasPrefix("test.json")
        }
    }

    @Test(arguments: [
        (#"{}"#, "missing node"),
        (#"{"node": "n", "listen": "nowhere"}"#, "bad listen"),
        (#"{"node": "n", "listen": "0.0.0.0:7401"}"#, "set \"advertise\""),
        (#"{"node": "n", "seeds": ["a"]}"#, "bad seeds"),
        (#"{"node": "n", "broadcastInterval": 0}"#, "bad broadcastInterval"),
        (#"{"node": "n", "heartbeatInterval": 5, "silenceLimit": 2}"#, "bad silenceLimit"),
        (#"{"node": "n", "suspectAfter": 7}"#, "bad silenceLimit: must exceed suspectAfter"),
        (#"{"node": "n", "heartbeatInterval": 3}"#, "bad suspectAfter: must exceed heartbeatInterval"),
        (#"{"node": "n", "reapAfter": 1}"#, "bad reapAfter"),
        (#"{"node": "n", "outboundQueueBytes": 1000}"#, "bad outboundQueueBytes"),
        (#"{"node": "n", "joinPatience": 0}"#, "bad joinPatience"),
        (#"{"node": "n", "compaction": [[5, 100], [3, 900]]}"#, "bad compaction"),
        (#"{"node": "n", "compaction": [[5]]}"#, "bad compaction"),
    ])
    func badValuesAreRefusedWithTheFix(json: String, message: String) throws {
        let c = try Self.parse(json)
        #expect {
            _ = try c.validate(environment: Self.secret)
        } throws: { error in
            "\(error)".contains(message)
        }
    }

    @Test func theSecretIsMandatoryAndComesFromEnvironmentThenKeyThenFile() throws {
        var c = try Self.parse(#"{"node": "n"}"#)
        #expect(throws: ConfigError.self) { _ = try c.validate(environment: [:]) }
        c.secret = "short"
        #expect { _ = try c.validate(environment: [:]) } throws: { "\($0)".contains("at least 16") }
        c.secret = "sixteen-bytes-ok"
        let weak = try c.validate(environment: [:])
        #expect(weak.warnings.contains { $0.contains("32 or more") })
        let strong = try c.validate(environment: Self.secret)
        #expect(strong.warnings.isEmpty && strong.secret.byteCount == 32)

        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("met-config-\(UUID())")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("secret").path
        try "a-secret-from-a-file-of-32-bytes\n".write(toFile: file, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: file)
        var f = try Self.parse(#"{"node": "n"}"#)
        f.secretFile = file
        let fromFile = try f.validate(environment: [:])
        #expect(fromFile.secret.byteCount == 32, "the trailing newline is not part of the secret")
        #expect(fromFile.warnings.contains { $0.contains("readable by other users") })
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file)
        #expect(try f.validate(environment: [:]).warnings.isEmpty)
    }

    @Test func addressesSplitIntoHostAndPort() {
        #expect(NodeConfig.split("127.0.0.1:7401")! == ("127.0.0.1", 7401))
        #expect(NodeConfig.split("[::1]:80")! == ("::1", 80))
        #expect(NodeConfig.split("host") == nil && NodeConfig.split(":80") == nil && NodeConfig.split("h:70000") == nil)
    }
}
