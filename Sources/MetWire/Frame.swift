import MetValues

/// The mesh's framing: every frame is
/// ```
/// u32 length (big-endian; bytes after this field, the MAC excluded) · u8 protocol version · u8 frame type · payload
/// ```
/// After the handshake every frame is followed by a 16-byte MAC, not counted in its length
/// (`FrameAuthenticator` in MetMesh; RELIABILITY S3).
/// The length is checked against the connection's limit before anything is allocated: 1 KiB
/// before authentication, 4 MiB after (RELIABILITY B3).
package enum WireProtocol {
    /// The protocol version this build speaks. Version 3 (a MAC after every frame once the
    /// handshake is done, a proof per secret held) does not interoperate with versions 1 and 2
    /// (suspicion, relays, holdings): they refuse each other.
    package static let version: UInt8 = 3
    /// Largest frame accepted after the handshake.
    package static let maxFrameBytes = 4 << 20
    /// Largest frame accepted before the peer has proved the cluster secret.
    package static let maxPreAuthFrameBytes = 1024
    /// Bytes of the header before the payload (length, version, type).
    package static let headerBytes = 6
}

/// What a frame carries.
package enum FrameType: UInt8, Sendable, CaseIterable {
    case hello = 1, proof = 2, heartbeat = 3, members = 4, batch = 5, resend = 6
    case snapshotRequest = 7, snapshotChunk = 8, snapshotEnd = 9, keyframe = 10
    /// A stopping node's store, streamed to its successor: chunks, the end, acknowledgements.
    case handoffChunk = 11, handoffEnd = 12, handoffAck = 13
    /// The sender is stopping: choose no successor among nodes that are leaving too.
    case leaving = 14
    /// The sender's watermarks of origins it is not connected to (anti-entropy between replicas).
    case digest = 15
    /// The leader's `full_count`: a keyframe with its snapshot, or a delta since it (``CountCodec``).
    case counts = 16
    /// "Do you hear this member?" (the sender suspects it), which also asks for its frames to be
    /// relayed; `evidence` answers.
    case probe = 17, evidence = 18
    /// What the sender holds (every origin's watermark) and whether it is ready: sent on every
    /// new connection, so a joining node knows what complete means (RELIABILITY C6).
    case holdings = 19
    /// A batch or keyframe of another node, relayed to a peer that cannot hear that node (C3).
    case relayed = 20
    /// Job moves sent ahead of the sender's next batch (``MovesCodec``), to its direct peers
    /// only; a node of an earlier build skips the type.
    case moves = 21
}

/// One decoded frame: its type and payload.
package struct Frame: Sendable, Equatable {
    package var type: FrameType
    package var payload: [UInt8]

    package init(type: FrameType, payload: [UInt8]) {
        self.type = type
        self.payload = payload
    }

    /// The frame's bytes on the wire.
    package func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(WireProtocol.headerBytes + payload.count)
        let length = UInt32(payload.count + 2)
        withUnsafeBytes(of: length.bigEndian) { out.append(contentsOf: $0) }
        out.append(WireProtocol.version)
        out.append(type.rawValue)
        out.append(contentsOf: payload)
        return out
    }
}

/// Why a connection's byte stream was refused; the connection is closed, the node goes on.
package enum FrameError: Error, Equatable, Sendable, CustomStringConvertible {
    case oversized(length: UInt32, limit: Int)
    case unknownVersion(UInt8)
    case unknownType(UInt8)
    case empty
    /// An authenticated connection's frame failed its MAC (RELIABILITY S3).
    case refused(FrameRefusal)

    package var description: String {
        switch self {
        case .oversized(let length, let limit): "frame of \(length) bytes exceeds the limit of \(limit)"
        case .unknownVersion(let v): "the peer speaks protocol version \(v), this node version \(WireProtocol.version); they do not interoperate (finish upgrading every node to one version)"
        case .unknownType(let t): "unknown frame type \(t)"
        case .empty: "frame too short for its header"
        case .refused(let why): "refused \(why)"
        }
    }
}
