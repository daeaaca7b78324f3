import MetUV

/// One established connection as `/metrics` and `/api/cluster` show it (RELIABILITY O2, O3).
package struct PeerLink: Sendable, Equatable {
    /// Bytes queued to the peer and not yet written to its socket (B1).
    package var queuedBytes: Int
    /// Bytes written to it, frame headers included.
    package var bytesSent: Int
    /// Milliseconds since the connection was opened (its handshake included).
    package var ageMilliseconds: UInt64
    /// This node dialled it (else the peer dialled this node).
    package var dialled: Bool
}

extension MeshNode {
    /// Every established connection, by peer name (read-only; loop thread).
    package var links: [String: PeerLink] {
        assertOnLoop()
        let now = UVTimer.now(loop)
        return connections.mapValues { c in
            PeerLink(queuedBytes: c.queuedBytes, bytesSent: c.bytesSent, ageMilliseconds: now >= c.openedAt ? now - c.openedAt : 0, dialled: c.dialled)
        }
    }
}
