import MetUV
import MetValues

/// Dialling (seeds and members, with capped exponential backoff and jitter, RELIABILITY M9),
/// address parsing, and clock offsets from heartbeats.
extension MeshNode {
    /// Dials every seed and every live member this node should connect to but is not
    /// connected to, as their backoff allows.
    func redial() {
        let now = UVTimer.now(loop)
        let connectedAddresses = Set(connections.values.map(\.address)).union(table.peers.filter { connections[$0.name] != nil }.map(\.address))
        // Down members too: a partition of any length heals without an operator (M9).
        let members = table.peers.filter {
            MemberTable.keeps(dialler: config.node, listener: $0.name) && connections[$0.name] == nil && !$0.address.isEmpty
        }
        let wanted = seeds + members.map(\.address)
        for address in wanted where !connectedAddresses.contains(address) && !dialing.contains(address) {
            guard let (host, port) = Self.split(address) else { continue }
            let state = retry[address] ?? (next: 0, backoff: 0)
            guard now >= state.next else { continue }
            let backoff = Swift.min(Swift.max(state.backoff * 2, 50), maxBackoffMilliseconds)
            retry[address] = (now + backoff + UInt64.random(in: 0...(backoff / 5)), backoff)
            dial(host: host, port: port)
        }
    }

    /// Dials a peer (a seed or a gossiped member).
    package func dial(host: String, port: Int) {
        let address = "\(host):\(port)"
        guard dialing.insert(address).inserted else { return }
        UVConnection.connect(loop: loop, host: host, port: port) { [weak self] result in
            guard let self else { return }
            switch result {
            case .success(let connection): adopt(connection, address: address, dialled: true)
            case .failure(let error):
                dialing.remove(address)
                dialFailures += 1
                if dialFailureLines.allows(address, now: UVTimer.now(loop)) {  // the retries go on regardless
                    onLog("dial \(address) failed: \(error); retrying with backoff up to \(maxBackoffMilliseconds) ms")
                }
            }
        }
    }

    func clockOffset(_ payload: [UInt8], from peer: String) {
        guard !payload.isEmpty, payload.count <= 10, let stamp = try? payload.withUnsafeBytes({ raw throws(DecodeError) in
            // Unsafe pointer: the reader lives only inside this closure.
            var r = ByteReader(raw)
            return try r.readVarint()
        }), stamp <= UInt64(Int64.max) else { return }
        let offset = Int64(stamp) - wallClockMilliseconds()
        clockOffsets[peer] = offset
        if abs(offset) > 1000, clockWarnings.allows(peer, now: UVTimer.now(loop)) {
            onLog("the clock of \(peer) is \(offset > 0 ? "ahead of" : "behind") this node's by \(abs(offset)) ms; points are bucketed by their origin's clock (warned at most hourly)")
        }
    }

    /// Splits `host:port` (an IPv6 host in brackets); nil unless both parts are valid.
    package static func split(_ address: String) -> (host: String, port: Int)? {
        guard let colon = address.lastIndex(of: ":"), let port = Int(address[address.index(after: colon)...]),
              (0...65535).contains(port) else { return nil }
        var host = String(address[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard !host.isEmpty else { return nil }
        return (host, port)
    }

    /// Test fault plane: re-reads the partition file and closes connections to the peers in it.
    func applyPartition() {
        guard faults.partitionFile != nil else { return }
        let now = faults.partitionedPeers()
        if now != partitioned { onLog("fault plane: partitioned from [\(now.sorted().joined(separator: ", "))]") }
        partitioned = now
        for name in now { connections[name]?.close(nil) }
    }
}
