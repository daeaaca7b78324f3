import MetStore

/// `GET /api/cluster`: this node and every member it knows, with status and lag.
public struct ClusterStatus: Sendable, Codable, Equatable {
    public struct Member: Sendable, Codable, Equatable {
        public var name: String
        public var incarnation: UInt64
        public var address: String
        /// `self`, `alive`, `suspect`, `alive (indirect)`, `leaving` or `down` (RELIABILITY M1–M7).
        public var status: String
        public var connected: Bool
        /// The last batch of this member (this incarnation) applied here.
        public var seq: UInt64
        /// Seconds since the end of the second the last batch applied here covers (a batch is
        /// stamped with the second its events were recorded in).
        public var lastBatchAge: Int64?
        /// Seconds between the end of that second and this node applying the batch.
        public var lagSeconds: Int64?
        /// The member's wall clock minus this node's (ms), from its last heartbeat.
        public var clockOffsetMs: Int64?
        /// Seconds since this node's connection to the member opened (nil: not connected).
        public var connectionAgeSeconds: Double? = nil
        /// Bytes queued to the member and not yet written to its socket.
        public var queuedBytes: Int? = nil
    }

    public var cluster: String
    public var node: String
    public var incarnation: UInt64
    public var address: String
    public var startedAt: Int64
    public var now: Int64
    /// Milliseconds this node adds to its system clock to stamp and query in cluster time: the
    /// median of its live peers' clocks and its own, 0 within 2 s (docs/operations.md, "Clock
    /// skew"); absent from the answer of a node that predates it.
    public var clockCorrectionMs: Int64?
    /// This node holds, for every origin, at least what every connected peer held when it
    /// joined (RELIABILITY C6).
    public var ready: Bool
    public var members: [Member]
    public var leadership: Leadership
    /// The keyframe `full_count` is served from (nil: none yet); `age` in seconds.
    public var keyframe: KeyframeInfo?
    /// Whether `full_count` is served, how the leader keeps it between keyframes, and why not.
    public var fullCount: FullCountInfo
    public var postgres: PostgresInfo
    /// What this node's replica holds.
    public var store: StoreInfo
    /// The label-set limit and what it refused (RELIABILITY B7).
    public var cardinality: CardinalityInfo
    /// The mesh loop's lag over the last minute (RELIABILITY L8); nil in the first 200 ms.
    public var loopLag: LoopLagInfo? = nil

    /// How late the mesh loop's 100 ms timer fired, over the last minute (ms).
    public struct LoopLagInfo: Sendable, Codable, Equatable {
        public var maxMs: Double
        public var p99Ms: Double
        public var lastMs: Double
        public var samples: Int

        init(_ r: LoopLag.Reading) { (maxMs, p99Ms, lastMs, samples) = (r.maxMs, r.p99Ms, r.lastMs, r.samples) }
    }

    public struct Leadership: Sendable, Codable, Equatable {
        public var leader: String?
        public var incarnation: UInt64?
        public var term: Int64?
        /// This node leads (holds an unfenced lease).
        public var isLeader: Bool
    }

    public struct KeyframeInfo: Sendable, Codable, Equatable {
        public var term: Int64
        public var number: UInt64
        public var leader: String
        public var timestamp: Int64
        public var age: Int64
        public var groups: Int
        public var estimatedGroups: Int
    }

    public struct FullCountInfo: Sendable, Codable, Equatable {
        /// False until a keyframe reaches this node: `latest` of `full_count` answers null then.
        public var available: Bool
        /// Why it is not available.
        public var reason: String?
        /// How the leader keeps the counts between keyframes: `logical` (decoding the WAL) or
        /// `snapshots` (recorded transitions by transaction id, new jobs by id).
        public var mode: String?
        /// Why the leader counts by snapshots although logical decoding was allowed.
        public var note: String?
        /// The leader's latest delta on top of the keyframe, and how old it is (ms).
        public var deltaRevision: UInt64?
        public var deltaAgeMs: Int64?
    }

    public struct StoreInfo: Sendable, Codable, Equatable {
        /// Points (a bucket of one series, label set and origin), rollups not included.
        public var rows: Int
        /// Series, label set and origin triples.
        public var timelines: Int
        /// Origins (node processes) with data here.
        public var origins: Int
    }

    public struct CardinalityInfo: Sendable, Codable, Equatable {
        /// `maxLabelSets`: most label sets one node may have in one series.
        public var limit: Int
        /// Entries this replica refused, per series (from any node, this one included).
        public var refusedEntries: [String: Int]
        /// `POST /api/events` requests this node refused, per series.
        public var refusedRequests: [String: Int]
        /// Job handles and instruments this node's recorder holds now.
        public var recorderInstruments: Int
    }

    public struct PostgresInfo: Sendable, Codable, Equatable {
        public var configured: Bool
        public var reachable: Bool?
        /// Unix seconds since `reachable` last changed.
        public var since: Int64?
        public var lastError: String?
    }
}
