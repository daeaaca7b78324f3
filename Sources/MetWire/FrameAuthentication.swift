/// Why an authenticated connection refused a frame (RELIABILITY S3). The receiver tells them
/// apart only after the frame failed, by trying the other keys and nearby sequence numbers.
package enum FrameRefusal: String, Sendable, Equatable, CaseIterable, CustomStringConvertible {
    /// The MAC matches no frame this peer could have sent here: altered in transit, forged, or
    /// from another connection.
    case altered
    /// The MAC matches a frame the peer already sent on this connection: a replay.
    case replayed
    /// The MAC matches a frame the peer sends later: frames were dropped or reordered.
    case reordered
    /// The MAC was made with this node's own sending key: one of its frames sent back to it.
    case reflected

    package var description: String {
        switch self {
        case .altered: "a frame with a bad MAC (altered in transit, forged, or from another connection)"
        case .replayed: "a replayed frame (its MAC matches a frame already sent on this connection)"
        case .reordered: "a frame out of order (its MAC matches a later frame: frames were dropped or reordered)"
        case .reflected: "a reflected frame (its MAC was made with this node's own sending key)"
        }
    }
}

/// What checks the MAC trailing every frame of an authenticated connection. The decoder hands it
/// the frame's bytes after the length (version, type, payload) and the tag that follows them,
/// in place in its buffer, before it copies the payload out or skips an unknown type: every
/// frame counts in the sequence, skipped or not.
package protocol FrameOpening {
    /// Bytes of MAC after every frame.
    var tagBytes: Int { get }
    /// Checks the next frame from the peer; nil when it is authentic (and counted), else why not.
    mutating func open(frame: UnsafeRawBufferPointer, tag: UnsafeRawBufferPointer) -> FrameRefusal?
}
