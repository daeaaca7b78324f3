import MetMesh

/// The node's own health as `/metrics` shows it (RELIABILITY O2), read in one go.
package struct NodeHealth: Sendable {
    /// Per peer this node knows: its status, whether it is flapping, its connection (if any).
    package struct Peer: Sendable {
        package var name: String
        package var status: String
        package var flapping: Bool
        package var link: PeerLink?
        package var clockOffsetMs: Int64?
    }

    package var status: ClusterStatus
    package var peers: [Peer]
    package var mesh: MeshCounters?
    package var seams: MeshHealth.Counts
    package var bytesSent: Int
}

extension NodeRuntime {
    /// This node's status, its peers as the mesh sees them, and what the mesh and its seam counted.
    package func health() async -> NodeHealth {
        let status = await status()
        let view = try? await loop.run { [self] in
            let table = mesh.members
            let links = mesh.links
            let offsets = mesh.peerClockOffsets
            let peers = table.peers.map { m in
                NodeHealth.Peer(name: m.name, status: m.status.rawValue, flapping: table.isFlapping(m.name), link: links[m.name], clockOffsetMs: offsets[m.name])
            }
            return (peers, mesh.counters, mesh.bytesSent)
        }
        return NodeHealth(status: status, peers: view?.0 ?? [], mesh: view?.1, seams: meshHealth.counts, bytesSent: view?.2 ?? 0)
    }
}
