import Foundation
import MetMesh
import MetStore

/// A node's configuration (DESIGN §7): a JSON file, every key also settable by a CLI flag, and
/// secrets also by environment (`MET_CLUSTER_SECRET`, `DATABASE_URL`). Timing knobs are all here
/// so tests can compress time and still run the same code paths.
public struct NodeConfig: Sendable, Equatable {
    public var cluster = "met"
    public var node = ""
    /// `host:port` the mesh listens on (port 0: the OS picks one).
    public var listen = "127.0.0.1:0"
    /// `host:port` peers should dial, when `listen` is a wildcard address.
    public var advertise: String?
    public var seeds: [String] = []
    /// `host:port` of the HTTP API; none when absent.
    public var http: String?
    /// libpq connection string (keyframes, snapshots); optional.
    public var database: String?
    /// The cluster secret itself (prefer `secretFile` or `MET_CLUSTER_SECRET`).
    public var secret: String?
    public var secretFile: String?
    /// Seconds between broadcasts of this node's deltas.
    public var broadcastInterval = 1.0
    /// Seconds between keyframes (leader only).
    public var keyframeInterval = 5.0
    /// Seconds between the leader's `full_count` deltas, at most (between keyframes).
    public var deltaInterval = 0.25
    /// How the leader follows job changes between keyframes: `auto` decodes `oban_jobs`'s
    /// changes from the WAL where Postgres allows it (`wal_level = logical`, a replication role)
    /// and counts by snapshots otherwise; `snapshots` never opens a replication slot.
    public var countMode = "auto"
    public var compaction: [[Int]] = CompactionTiers.default.tiers.map { [$0.step, $0.duration] }
    public var estimateLimit = 50_000
    /// Postgres connections the leader splits a keyframe's exact counts across, its counts
    /// connection included (1: all on that one). They share one snapshot.
    public var keyframeConnections = 2
    /// Seconds queue checks are kept.
    public var retention = 30
    /// Seconds between heartbeats on every mesh connection.
    public var heartbeatInterval = 1.0
    /// Seconds of silence (or, after its connection closed, of no peer vouching for it) after
    /// which a peer is `suspect` and the other peers are asked about it (RELIABILITY M2).
    public var suspectAfter = 2.5
    /// Seconds of silence after which a peer no other peer has heard is `down` and its
    /// connection is closed (M2); one another peer heard stays `alive (indirect)` (M3).
    public var silenceLimit = 6.0
    /// Seconds: another peer's word that it heard a suspect counts when this recent (M3).
    public var indirectWindow = 2.0
    /// Seconds: a node whose own timer fired this late (it was paused, stopped or starved)
    /// accuses nobody for the next two heartbeats (M5).
    public var localLagGuard = 1.0
    /// Seconds: more than 3 downs of one peer within this window is flapping (M7).
    public var flapWindow = 60.0
    /// Seconds after which a member that is down and unheard of is forgotten; its data stays (M11).
    public var reapAfter = 86_400.0
    /// Seconds a starting node waits for a peer, and for each known member's holdings, before it
    /// is ready without them (C6).
    public var joinPatience = 5.0
    /// Seconds: at most one snapshot of this node's own data per peer in this long (M7).
    public var resyncInterval = 30.0
    /// Seconds: the cap of the exponential backoff between dials of one address (M9).
    public var redialBackoffMax = 5.0
    /// Seconds: a node whose clock is further than this from the median of the live clocks
    /// stamps and queries in that median instead (docs/operations.md, "Clock skew"); 0 never corrects.
    public var clockCorrectionThreshold = 2.0
    /// Bytes a peer's outbound queue may hold before its connection is dropped (B1).
    public var outboundQueueBytes = 8 << 20
    /// Broadcast intervals a peer's outbound queue may stand still before it is dropped (B1).
    public var outboundQueueIntervals = 60
    /// How many of its own batches a node keeps for resends (beyond: a per-origin snapshot).
    public var retransmitWindow = 120
    /// Seconds a keyframe leader's lease lasts (renewed every third of it).
    public var leaseDuration = 10.0
    /// The Postgres schema holding `oban_jobs` and ObanMet's tables.
    public var prefix = "public"
    /// Seconds a stopping node spends at most handing its store to successors (RELIABILITY H3).
    public var handoffTimeout = 20.0
    /// Seconds without an acknowledgement after which a successor is given up as stalled (H5).
    public var handoffAckTimeout = 5.0
    /// Bytes of store per handoff chunk (at most 1 MiB; RELIABILITY B3).
    public var handoffChunkBytes = 1 << 20
    /// Most label sets one node may have in one series (each distinct combination of labels is
    /// a label set); what would add more is refused at the edge and by every replica.
    public var maxLabelSets = 20_000
    /// Test-only fault injection in the mesh (see ``FaultPlane``); never set in production.
    public var testFaults: String?
    /// The HTTP API's tokens and limits (the `http*` keys).
    public var httpSettings = HTTPSettings()
    /// Up to two earlier cluster secrets still accepted from peers while a rotation is rolled
    /// out (RELIABILITY S5; docs/operations.md); also `previousSecretFiles` and
    /// `MET_CLUSTER_PREVIOUS_SECRETS` (comma-separated).
    public var previousSecrets: [String] = []
    public var previousSecretFiles: [String] = []

    public init() {}

    /// Every key a config file may hold.
    package static let keys: Set<String> = Set([
        "cluster", "node", "listen", "advertise", "seeds", "http", "database", "secret", "secretFile",
        "previousSecrets", "previousSecretFiles",
        "broadcastInterval", "keyframeInterval", "deltaInterval", "countMode", "compaction", "estimateLimit", "keyframeConnections", "retention",
        "heartbeatInterval", "silenceLimit", "retransmitWindow", "leaseDuration", "prefix",
        "handoffTimeout", "handoffAckTimeout", "handoffChunkBytes", "maxLabelSets",
        "suspectAfter", "indirectWindow", "localLagGuard", "flapWindow", "reapAfter", "joinPatience",
        "resyncInterval", "outboundQueueBytes", "outboundQueueIntervals", "redialBackoffMax",
        "clockCorrectionThreshold",
    ]).union(HTTPSettings.keys)

    /// Reads a config file. Unknown keys and wrong types are errors that name the key.
    public static func load(file path: String) throws(ConfigError) -> NodeConfig {
        guard let data = FileManager.default.contents(atPath: path) else { throw .unreadable(path) }
        return try parse(data, source: path)
    }

    /// Parses a config file's bytes (`source` names it in errors).
    public static func parse(_ data: Data, source: String) throws(ConfigError) -> NodeConfig {
        guard let object = try? JSONSerialization.jsonObject(with: data), let dict = object as? [String: Any] else {
            throw .invalid(source, "not a JSON object")
        }
        if let unknown = dict.keys.sorted().first(where: { !keys.contains($0) }) {
            throw .invalid(source, "unknown key \"\(unknown)\" (known keys: \(keys.sorted().joined(separator: ", ")))")
        }
        var c = NodeConfig()
        func value<T>(_ key: String, _ type: T.Type, _ what: String) throws(ConfigError) -> T? {
            guard let raw = dict[key], !(raw is NSNull) else { return nil }
            if JSONNumbers.isBool(raw) { throw .invalid(source, "\"\(key)\" must be \(what)") }  // no key takes a boolean
            if T.self == Double.self, let n = JSONNumbers.number(raw) { return n.doubleValue as? T }
            if T.self == Int.self, let n = JSONNumbers.number(raw), n.doubleValue == n.doubleValue.rounded() {
                return n.intValue as? T
            }
            guard let v = raw as? T else { throw .invalid(source, "\"\(key)\" must be \(what)") }
            return v
        }
        c.cluster = try value("cluster", String.self, "a string") ?? c.cluster
        c.node = try value("node", String.self, "a string") ?? c.node
        c.listen = try value("listen", String.self, "\"host:port\"") ?? c.listen
        c.advertise = try value("advertise", String.self, "\"host:port\"")
        c.seeds = try value("seeds", [String].self, "an array of \"host:port\" strings") ?? []
        c.http = try value("http", String.self, "\"host:port\"")
        c.database = try value("database", String.self, "a libpq connection string")
        c.secret = try value("secret", String.self, "a string")
        c.secretFile = try value("secretFile", String.self, "a path")
        c.previousSecrets = try value("previousSecrets", [String].self, "an array of strings") ?? []
        c.previousSecretFiles = try value("previousSecretFiles", [String].self, "an array of paths") ?? []
        c.broadcastInterval = try value("broadcastInterval", Double.self, "a number of seconds") ?? c.broadcastInterval
        c.keyframeInterval = try value("keyframeInterval", Double.self, "a number of seconds") ?? c.keyframeInterval
        c.deltaInterval = try value("deltaInterval", Double.self, "a number of seconds") ?? c.deltaInterval
        c.countMode = try value("countMode", String.self, "\"auto\" or \"snapshots\"") ?? c.countMode
        if let tiers = try value("compaction", [[Int]].self, "an array of [step, duration] pairs") { c.compaction = tiers }
        c.estimateLimit = try value("estimateLimit", Int.self, "an integer") ?? c.estimateLimit
        c.keyframeConnections = try value("keyframeConnections", Int.self, "an integer") ?? c.keyframeConnections
        c.retention = try value("retention", Int.self, "an integer number of seconds") ?? c.retention
        c.heartbeatInterval = try value("heartbeatInterval", Double.self, "a number of seconds") ?? c.heartbeatInterval
        c.silenceLimit = try value("silenceLimit", Double.self, "a number of seconds") ?? c.silenceLimit
        c.retransmitWindow = try value("retransmitWindow", Int.self, "an integer") ?? c.retransmitWindow
        c.leaseDuration = try value("leaseDuration", Double.self, "a number of seconds") ?? c.leaseDuration
        c.prefix = try value("prefix", String.self, "a Postgres schema name") ?? c.prefix
        c.handoffTimeout = try value("handoffTimeout", Double.self, "a number of seconds") ?? c.handoffTimeout
        c.handoffAckTimeout = try value("handoffAckTimeout", Double.self, "a number of seconds") ?? c.handoffAckTimeout
        c.handoffChunkBytes = try value("handoffChunkBytes", Int.self, "an integer number of bytes") ?? c.handoffChunkBytes
        c.maxLabelSets = try value("maxLabelSets", Int.self, "an integer") ?? c.maxLabelSets
        c.suspectAfter = try value("suspectAfter", Double.self, "a number of seconds") ?? c.suspectAfter
        c.indirectWindow = try value("indirectWindow", Double.self, "a number of seconds") ?? c.indirectWindow
        c.localLagGuard = try value("localLagGuard", Double.self, "a number of seconds") ?? c.localLagGuard
        c.flapWindow = try value("flapWindow", Double.self, "a number of seconds") ?? c.flapWindow
        c.reapAfter = try value("reapAfter", Double.self, "a number of seconds") ?? c.reapAfter
        c.joinPatience = try value("joinPatience", Double.self, "a number of seconds") ?? c.joinPatience
        c.resyncInterval = try value("resyncInterval", Double.self, "a number of seconds") ?? c.resyncInterval
        c.outboundQueueBytes = try value("outboundQueueBytes", Int.self, "an integer number of bytes") ?? c.outboundQueueBytes
        c.outboundQueueIntervals = try value("outboundQueueIntervals", Int.self, "an integer") ?? c.outboundQueueIntervals
        c.redialBackoffMax = try value("redialBackoffMax", Double.self, "a number of seconds") ?? c.redialBackoffMax
        c.httpSettings = try HTTPSettings.parse(dict, source: source)
        c.clockCorrectionThreshold = try value("clockCorrectionThreshold", Double.self, "a number of seconds") ?? c.clockCorrectionThreshold
        return c
    }

    /// Checks every value and resolves what the node needs to start: the secret (from
    /// `MET_CLUSTER_SECRET`, `secret` or `secretFile`, in that order), the listening and
    /// advertised addresses and the tiers. Warnings (weak secret, readable secret file) are returned.
    package func validate(environment: [String: String] = ProcessInfo.processInfo.environment) throws(ConfigError) -> Resolved {
        var warnings: [String] = []
        guard !node.isEmpty else { throw .missing("node", "every node needs a name unique in its cluster") }
        guard !cluster.isEmpty else { throw .missing("cluster", "the cluster name may not be empty") }
        guard let (host, port) = Self.split(listen) else { throw .bad("listen", "\"\(listen)\" is not host:port") }
        if let advertise, Self.split(advertise) == nil { throw .bad("advertise", "\"\(advertise)\" is not host:port") }
        if ["0.0.0.0", "::", "[::]"].contains(host), advertise == nil {
            throw .bad("listen", "\(listen) is a wildcard address; set \"advertise\" to the host:port peers should dial")
        }
        for seed in seeds where Self.split(seed) == nil { throw .bad("seeds", "\"\(seed)\" is not host:port") }
        if let http, Self.split(http) == nil { throw .bad("http", "\"\(http)\" is not host:port") }
        for (key, v) in [("broadcastInterval", broadcastInterval), ("keyframeInterval", keyframeInterval), ("deltaInterval", deltaInterval),
                         ("heartbeatInterval", heartbeatInterval), ("silenceLimit", silenceLimit),
                         ("leaseDuration", leaseDuration), ("handoffTimeout", handoffTimeout),
                         ("handoffAckTimeout", handoffAckTimeout), ("suspectAfter", suspectAfter),
                         ("indirectWindow", indirectWindow), ("localLagGuard", localLagGuard), ("flapWindow", flapWindow),
                         ("joinPatience", joinPatience), ("resyncInterval", resyncInterval), ("redialBackoffMax", redialBackoffMax)] where !(v > 0 && v <= 3600) {
            throw .bad(key, "must be between 0 and 3600 seconds, not \(v)")
        }
        guard silenceLimit > heartbeatInterval else { throw .bad("silenceLimit", "must exceed heartbeatInterval") }
        guard ["auto", "snapshots"].contains(countMode) else { throw .bad("countMode", "must be \"auto\" or \"snapshots\", not \"\(countMode)\"") }
        guard suspectAfter > heartbeatInterval else { throw .bad("suspectAfter", "must exceed heartbeatInterval (\(heartbeatInterval) s)") }
        guard silenceLimit > suspectAfter else { throw .bad("silenceLimit", "must exceed suspectAfter (\(suspectAfter) s)") }
        guard reapAfter >= silenceLimit, reapAfter <= 30 * 86_400 else { throw .bad("reapAfter", "must be between silenceLimit and 30 days, not \(reapAfter)") }
        guard outboundQueueBytes >= 1 << 20 else { throw .bad("outboundQueueBytes", "must be at least 1048576 bytes (a frame may be 1 MiB)") }
        guard clockCorrectionThreshold >= 0, clockCorrectionThreshold <= 3600 else {
            throw .bad("clockCorrectionThreshold", "must be between 0 (never correct) and 3600 seconds, not \(clockCorrectionThreshold)")
        }
        guard outboundQueueIntervals >= 2 else { throw .bad("outboundQueueIntervals", "must be at least 2") }
        guard !prefix.isEmpty else { throw .bad("prefix", "the schema name may not be empty") }
        guard retransmitWindow >= 1 else { throw .bad("retransmitWindow", "must be at least 1") }
        guard estimateLimit >= 0 else { throw .bad("estimateLimit", "must not be negative") }
        guard (1...16).contains(keyframeConnections) else {
            throw .bad("keyframeConnections", "must be between 1 and 16, not \(keyframeConnections)")
        }
        guard maxLabelSets >= 1 else { throw .bad("maxLabelSets", "must be at least 1, not \(maxLabelSets)") }
        guard (1024...(1 << 20)).contains(handoffChunkBytes) else {
            throw .bad("handoffChunkBytes", "must be between 1024 and 1048576 bytes, not \(handoffChunkBytes)")
        }
        if let testFaults {
            do { _ = try FaultPlane(parsing: testFaults) } catch { throw .bad("testFaults", error.description) }
        }
        guard retention >= 1 else { throw .bad("retention", "must be at least 1 second") }
        guard compaction.allSatisfy({ $0.count == 2 }) else { throw .bad("compaction", "every tier is a [step, duration] pair") }
        let tiers: CompactionTiers
        do { tiers = try CompactionTiers(compaction.map { ($0[0], $0[1]) }) } catch { throw .bad("compaction", error.description) }

        let secretBytes: [UInt8]
        if let fromEnv = environment["MET_CLUSTER_SECRET"], !fromEnv.isEmpty {
            secretBytes = Array(fromEnv.utf8)
        } else if let secret {
            secretBytes = Array(secret.utf8)
        } else if let secretFile {
            guard let data = FileManager.default.contents(atPath: secretFile) else {
                throw .bad("secretFile", "cannot read \(secretFile)")
            }
            var bytes = Array(data)
            while let last = bytes.last, last == 10 || last == 13 { bytes.removeLast() }  // a trailing newline is not part of it
            secretBytes = bytes
            if let mode = (try? FileManager.default.attributesOfItem(atPath: secretFile))?[.posixPermissions] as? Int, mode & 0o077 != 0 {
                warnings.append("secretFile \(secretFile) is readable by other users (mode \(String(mode, radix: 8))); chmod 600 it")
            }
        } else {
            throw .missing("secret", "no cluster secret: set MET_CLUSTER_SECRET, \"secretFile\" or \"secret\" (16 bytes or more)")
        }
        let clusterSecret: ClusterSecret
        do { clusterSecret = try ClusterSecret(secretBytes) } catch { throw .bad("secret", error.description) }
        if clusterSecret.isWeak { warnings.append("the cluster secret has \(clusterSecret.byteCount) bytes; 32 or more are recommended") }
        let previous: [ClusterSecret]
        switch Self.resolvePreviousSecrets(previousSecrets, files: previousSecretFiles, current: secretBytes, environment: environment) {
        case .success(let found):
            previous = found.secrets
            warnings += found.warnings
        case .failure(let error):
            throw error
        }
        let access = try httpSettings.resolve(http: http, environment: environment, warnings: &warnings)
        return Resolved(config: self, secret: clusterSecret, previousSecrets: previous, listenHost: host, listenPort: port, tiers: tiers, http: access, warnings: warnings)
    }

    /// A validated configuration with what was derived from it.
    package struct Resolved: Sendable {
        package var config: NodeConfig
        package var secret: ClusterSecret
        /// Earlier secrets still accepted (at most two).
        package var previousSecrets: [ClusterSecret] = []
        package var listenHost: String
        package var listenPort: Int
        package var tiers: CompactionTiers
        /// The HTTP API's tokens and limits.
        package var http: HTTPAccess
        package var warnings: [String]
    }

    /// Splits `host:port` the way the mesh dials it (IPv6 hosts in brackets).
    package static func split(_ address: String) -> (host: String, port: Int)? { MeshNode.split(address) }
}

/// Why a configuration was refused; the message names the key and the fix.
public enum ConfigError: Error, Equatable, CustomStringConvertible {
    case unreadable(String)
    case invalid(String, String)
    case missing(String, String)
    case bad(String, String)

    public var description: String {
        switch self {
        case .unreadable(let path): "cannot read the config file \(path)"
        case .invalid(let source, let why): "\(source): \(why)"
        case .missing(let key, let why): "missing \(key): \(why)"
        case .bad(let key, let why): "bad \(key): \(why)"
        }
    }
}
