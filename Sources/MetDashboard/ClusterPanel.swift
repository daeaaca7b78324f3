/// The cluster as the serving node sees it: members, leadership, the keyframe, Postgres and
/// what its replica holds (from `/api/cluster`).
package struct ClusterPanel: Sendable, Equatable {
    package struct Member: Sendable, Equatable {
        package var name: String
        package var address: String
        /// `self`, `alive`, `leaving` or `down`.
        package var status: String
        package var connected: Bool
        /// The member's last batch applied here.
        package var seq: UInt64
        /// Seconds since the second its last batch covers.
        package var lastBatchAge: Int64?
        /// Seconds between that second and applying the batch here.
        package var lag: Int64?
        /// Its wall clock minus this node's, in milliseconds.
        package var clockOffsetMs: Int64?

        package init(name: String, address: String, status: String, connected: Bool, seq: UInt64, lastBatchAge: Int64? = nil,
                     lag: Int64? = nil, clockOffsetMs: Int64? = nil) {
            self.name = name
            self.address = address
            self.status = status
            self.connected = connected
            self.seq = seq
            self.lastBatchAge = lastBatchAge
            self.lag = lag
            self.clockOffsetMs = clockOffsetMs
        }
    }

    package var members: [Member]
    package var ready: Bool
    package var leader: String?
    package var term: Int64?
    package var isLeader: Bool
    /// The keyframe `full_count` is served from: its leader, term, number and age.
    package var keyframe: (leader: String, term: Int64, number: UInt64, timestamp: Int64, age: Int64)?
    /// nil: no database configured on this node.
    package var postgresReachable: Bool?
    package var postgresConfigured: Bool
    package var postgresError: String?
    package var rows: Int
    package var timelines: Int
    package var origins: Int
    /// Bytes the replica's points take (rollups included).
    package var storeBytes: Int
    /// Most label sets one node may have in one series, and the entries refused over it, by series.
    package var labelSetLimit: Int
    package var refusedEntries: [String: Int]

    package init(
        members: [Member], ready: Bool = true, leader: String? = nil, term: Int64? = nil, isLeader: Bool = false,
        keyframe: (leader: String, term: Int64, number: UInt64, timestamp: Int64, age: Int64)? = nil,
        postgresConfigured: Bool = false, postgresReachable: Bool? = nil, postgresError: String? = nil,
        rows: Int = 0, timelines: Int = 0, origins: Int = 0, storeBytes: Int = 0, labelSetLimit: Int = 0, refusedEntries: [String: Int] = [:]
    ) {
        self.members = members
        self.ready = ready
        self.leader = leader
        self.term = term
        self.isLeader = isLeader
        self.keyframe = keyframe
        self.postgresConfigured = postgresConfigured
        self.postgresReachable = postgresReachable
        self.postgresError = postgresError
        self.rows = rows
        self.timelines = timelines
        self.origins = origins
        self.storeBytes = storeBytes
        self.labelSetLimit = labelSetLimit
        self.refusedEntries = refusedEntries
    }

    package static func == (a: ClusterPanel, b: ClusterPanel) -> Bool {
        a.members == b.members && a.ready == b.ready && a.leader == b.leader && a.term == b.term && a.isLeader == b.isLeader
            && a.keyframe.map { "\($0)" } == b.keyframe.map { "\($0)" } && a.postgresConfigured == b.postgresConfigured
            && a.postgresReachable == b.postgresReachable && a.postgresError == b.postgresError && a.rows == b.rows
            && a.timelines == b.timelines && a.origins == b.origins && a.storeBytes == b.storeBytes
            && a.labelSetLimit == b.labelSetLimit && a.refusedEntries == b.refusedEntries
    }
}

/// The values each filter of the controls offers.
package struct FilterChoices: Sendable, Equatable {
    package var values: [String: [String]]

    package init(_ values: [String: [String]] = [:]) { self.values = values }

    package subscript(label: String) -> [String] { values[label] ?? [] }
}
