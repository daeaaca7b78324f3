import MetStore

/// `GET /api/cluster`: this node and every member it knows, with status and lag.
public struct ClusterStatus: Sendable, Codable, Equatable {
    public struct Member: Sendable, Codable, Equatable {
        public var name: String
        public var incarnation: UInt64
        public var address: String
        /// `self`, `alive` or `down`.
        public var status: String
        public var connected: Bool
        /// The last batch of this member (this incarnation) applied here.
        public var seq: UInt64
        /// Seconds since the member stamped the last batch applied here.
        public var lastBatchAge: Int64?
        /// Seconds between the member stamping that batch and this node applying it.
        public var lagSeconds: Int64?
        /// The member's wall clock minus this node's (ms), from its last heartbeat.
        public var clockOffsetMs: Int64?
    }

    public var cluster: String
    public var node: String
    public var incarnation: UInt64
    public var address: String
    public var startedAt: Int64
    public var now: Int64
    public var ready: Bool
    public var members: [Member]
    public var leadership: Leadership
    /// The keyframe `full_count` is served from (nil: none yet); `age` in seconds.
    public var keyframe: KeyframeInfo?
    public var postgres: PostgresInfo

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

    public struct PostgresInfo: Sendable, Codable, Equatable {
        public var configured: Bool
        public var reachable: Bool?
        /// Unix seconds since `reachable` last changed.
        public var since: Int64?
        public var lastError: String?
    }
}
