import ArgumentParser
import Foundation
import MetRuntime

/// The options of a running node (`met node`, `met worker`): a config file and an override
/// flag for every key (DESIGN §7).
struct NodeOptions: ParsableArguments {
    @Option(name: .long, help: "JSON config file; its keys are listed in docs/operations.md.")
    var config: String?
    @Option(help: "Cluster name (default met).") var cluster: String?
    @Option(help: "Node name, unique in the cluster.") var node: String?
    @Option(help: "host:port the mesh listens on (port 0: any free port).") var listen: String?
    @Option(help: "host:port peers dial, when --listen is a wildcard address.") var advertise: String?
    @Option(name: .customLong("seed"), help: "host:port of a node to join through (repeatable; replaces the file's seeds).") var seeds: [String] = []
    @Option(help: "host:port of the HTTP API (port 0: any free port).") var http: String?
    @Option(help: "libpq connection string (also DATABASE_URL).") var database: String?
    @Option(help: "File holding the cluster secret (chmod 600).") var secretFile: String?
    @Option(help: "The cluster secret itself (visible to other users in ps; prefer MET_CLUSTER_SECRET or --secret-file).") var secret: String?
    @Option(name: .customLong("previous-secret-file"), help: "File holding an earlier cluster secret still accepted during a rotation (repeatable, at most 2; replaces the file's).") var previousSecretFiles: [String] = []
    @Option(name: .customLong("previous-secret"), help: "An earlier cluster secret still accepted during a rotation (repeatable; visible in ps; prefer MET_CLUSTER_PREVIOUS_SECRETS or --previous-secret-file).") var previousSecrets: [String] = []
    @Option(help: "Seconds between broadcasts (default 1).") var broadcastInterval: Double?
    @Option(help: "Seconds between keyframes (default 5).") var keyframeInterval: Double?
    @Option(help: "Seconds between the leader's full_count deltas between keyframes, at most (default 0.25).") var deltaInterval: Double?
    @Option(help: "auto: follow job changes by logical decoding where Postgres allows it, else by snapshots; snapshots: never a replication slot (default auto).") var countMode: String?
    @Option(help: "Compaction tiers as step:duration pairs, e.g. 1:120,5:900,30:2000,60:9300.") var compaction: String?
    @Option(help: "Job groups estimated at this size or more are not counted exactly (default 50000).") var estimateLimit: Int?
    @Option(help: "Postgres connections the leader splits a keyframe's exact counts across, its counts connection included: 1 to 16 (default 2).") var keyframeConnections: Int?
    @Option(help: "Seconds queue checks are kept (default 30).") var retention: Int?
    @Option(help: "Seconds between mesh heartbeats (default 1).") var heartbeatInterval: Double?
    @Option(help: "Seconds of silence before a peer is suspect and the others are asked about it (default 2.5).") var suspectAfter: Double?
    @Option(help: "Seconds of silence before a peer nobody else heard is down and its connection closed (default 6).") var silenceLimit: Double?
    @Option(help: "Seconds: another peer's word that it heard a suspect counts when this recent (default 2).") var indirectWindow: Double?
    @Option(help: "Seconds of lateness of its own timer after which a node accuses nobody for two heartbeats (default 1).") var localLagGuard: Double?
    @Option(help: "Seconds: more than 3 downs of a peer within this window is flapping (default 60).") var flapWindow: Double?
    @Option(help: "Seconds before a departed member is forgotten; its data stays (default 86400).") var reapAfter: Double?
    @Option(help: "Seconds a starting node waits for peers and their holdings before it is ready without them (default 5).") var joinPatience: Double?
    @Option(help: "Seconds: at most one snapshot of this node's own data per peer in this long (default 30).") var resyncInterval: Double?
    @Option(help: "Seconds: a clock further than this from the median of the live clocks is corrected to it; 0 never corrects (default 2).") var clockCorrectionThreshold: Double?
    @Option(help: "Bytes a peer's outbound queue may hold before it is dropped (default 8388608).") var outboundQueueBytes: Int?
    @Option(help: "Seconds: the cap of the backoff between dials of one address (default 5).") var redialBackoffMax: Double?
    @Option(help: "Broadcast intervals a peer's outbound queue may stand still before it is dropped (default 60).") var outboundQueueIntervals: Int?
    @Option(help: "Own batches kept for resends (default 120).") var retransmitWindow: Int?
    @Option(help: "Seconds a keyframe leader's lease lasts (default 10).") var leaseDuration: Double?
    @Option(help: "Postgres schema holding oban_jobs and ObanMet's tables (default public).") var prefix: String?
    @Option(help: "Seconds a stopping node spends at most handing its store to successors (default 20).") var handoffTimeout: Double?
    @Option(help: "Seconds without an acknowledgement before a handoff successor is given up (default 5).") var handoffAckTimeout: Double?
    @Option(help: "Bytes of store per chunk of a handoff, a catch-up or a Postgres snapshot, 1024 to 1048576 (default 1048576).") var handoffChunkBytes: Int?
    @Option(help: "Most label sets one node may have in one series; more are refused (default 20000).") var maxLabelSets: Int?
    @Option(help: "File holding the bearer token every HTTP write needs (also MET_HTTP_TOKEN; chmod 600).") var httpTokenFile: String?
    @Option(help: "The HTTP write token itself (visible to other users in ps; prefer MET_HTTP_TOKEN or --http-token-file).") var httpToken: String?
    @Option(help: "File holding a token every HTTP read needs too (the dashboard and /metrics included; also MET_HTTP_READ_TOKEN). Unset: reads are open.") var httpReadTokenFile: String?
    @Option(help: "The HTTP read token itself (visible in ps; prefer MET_HTTP_READ_TOKEN or --http-read-token-file).") var httpReadToken: String?
    @Flag(help: "Serve the HTTP API on a non-loopback address without a token (refused otherwise).") var httpInsecure = false
    @Option(help: "Bytes of an HTTP request body, at most (default 16777216; 413 beyond).") var httpMaxBodyBytes: Int?
    @Option(help: "Event lines of one POST /api/events, at most (default 100000; 413 beyond).") var httpMaxLines: Int?
    @Option(help: "HTTP requests served at once, at most (default 64; 429 beyond).") var httpMaxConcurrent: Int?
    @Option(help: .hidden) var testFaults: String?
    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.") var logLevel: String = "info"

    func merged() throws -> NodeConfig {
        var c = NodeConfig()
        if let config { c = try NodeConfig.load(file: config) }
        if let cluster { c.cluster = cluster }
        if let node { c.node = node }
        if let listen { c.listen = listen }
        if let advertise { c.advertise = advertise }
        if !seeds.isEmpty { c.seeds = seeds }
        if let http { c.http = http }
        if let database { c.database = database } else if c.database == nil, let url = ProcessInfo.processInfo.environment["DATABASE_URL"] { c.database = url }
        if let secretFile { c.secretFile = secretFile }
        if let secret { c.secret = secret }
        if !previousSecretFiles.isEmpty { c.previousSecretFiles = previousSecretFiles }
        if !previousSecrets.isEmpty { c.previousSecrets = previousSecrets }
        if let broadcastInterval { c.broadcastInterval = broadcastInterval }
        if let keyframeInterval { c.keyframeInterval = keyframeInterval }
        if let deltaInterval { c.deltaInterval = deltaInterval }
        if let countMode { c.countMode = countMode }
        if let compaction {
            c.compaction = try compaction.split(separator: ",").map { pair in
                let parts = pair.split(separator: ":").compactMap { Int($0) }
                guard parts.count == 2 else { throw ValidationError("--compaction takes step:duration pairs, not \"\(pair)\"") }
                return parts
            }
        }
        if let estimateLimit { c.estimateLimit = estimateLimit }
        if let keyframeConnections { c.keyframeConnections = keyframeConnections }
        if let retention { c.retention = retention }
        if let heartbeatInterval { c.heartbeatInterval = heartbeatInterval }
        if let silenceLimit { c.silenceLimit = silenceLimit }
        if let suspectAfter { c.suspectAfter = suspectAfter }
        if let indirectWindow { c.indirectWindow = indirectWindow }
        if let localLagGuard { c.localLagGuard = localLagGuard }
        if let flapWindow { c.flapWindow = flapWindow }
        if let reapAfter { c.reapAfter = reapAfter }
        if let joinPatience { c.joinPatience = joinPatience }
        if let clockCorrectionThreshold { c.clockCorrectionThreshold = clockCorrectionThreshold }
        if let resyncInterval { c.resyncInterval = resyncInterval }
        if let outboundQueueBytes { c.outboundQueueBytes = outboundQueueBytes }
        if let outboundQueueIntervals { c.outboundQueueIntervals = outboundQueueIntervals }
        if let redialBackoffMax { c.redialBackoffMax = redialBackoffMax }
        if let retransmitWindow { c.retransmitWindow = retransmitWindow }
        if let leaseDuration { c.leaseDuration = leaseDuration }
        if let prefix { c.prefix = prefix }
        if let handoffTimeout { c.handoffTimeout = handoffTimeout }
        if let handoffAckTimeout { c.handoffAckTimeout = handoffAckTimeout }
        if let handoffChunkBytes { c.handoffChunkBytes = handoffChunkBytes }
        if let maxLabelSets { c.maxLabelSets = maxLabelSets }
        if let testFaults { c.testFaults = testFaults }
        if let httpTokenFile { c.httpSettings.tokenFile = httpTokenFile }
        if let httpToken { c.httpSettings.token = httpToken }
        if let httpReadTokenFile { c.httpSettings.readTokenFile = httpReadTokenFile }
        if let httpReadToken { c.httpSettings.readToken = httpReadToken }
        if httpInsecure { c.httpSettings.insecure = true }
        if let httpMaxBodyBytes { c.httpSettings.maxBodyBytes = httpMaxBodyBytes }
        if let httpMaxLines { c.httpSettings.maxLines = httpMaxLines }
        if let httpMaxConcurrent { c.httpSettings.maxConcurrent = httpMaxConcurrent }
        return c
    }

}
