import MetUV
import MetWire

/// Dialling (seeds and members, with capped exponential backoff and jitter, RELIABILITY M9),
/// address parsing, clock offsets from heartbeats, and the test fault plane's peer lists.
extension MeshNode {
    /// Dials every seed and every member this node should connect to but is not connected to,
    /// as their backoff allows.
    func redial() {
        let now = UVTimer.now(loop)
        let connectedAddresses = Set(connections.values.map(\.address)).union(membership.peers.filter { connections[$0.name] != nil }.map(\.address))
        // Down members too: a partition of any length heals without an operator (M9).
        let members = membership.toDial.filter { connections[$0.name] == nil && !$0.address.isEmpty }
        let wanted = seeds + members.map(\.address)
        for address in wanted where !connectedAddresses.contains(address) && !dialing.contains(address) {
            guard let (host, port) = Self.split(address) else { continue }
            let state = retry[address] ?? (next: 0, backoff: 0)
            guard now >= state.next else { continue }
            let backoff = Swift.min(Swift.max(state.backoff * 2, 50), config.maxBackoffMilliseconds)
            retry[address] = (now + backoff + UInt64.random(in: 0...(backoff / 5)), backoff)
            dial(host: host, port: port)
        }
    }

    /// Dials a peer (a seed or a gossiped member).
    package func dial(host: String, port: Int) {
        assertOnLoop()
        let address = "\(host):\(port)"
        guard dialing.insert(address).inserted else { return }
        UVConnection.connect(loop: loop, host: host, port: port) { [weak self] result in
            guard let self else { return }
            switch result {
            case .success(let connection): adopt(connection, address: address, dialled: true)
            case .failure(let error):
                dialing.remove(address)
                counted.dialFailures += 1
                if dialFailureLines.allows(address, now: UVTimer.now(loop)) {  // the retries go on regardless
                    self.host.log("dial \(address) failed: \(error); retrying with backoff up to \(config.maxBackoffMilliseconds) ms")
                }
            }
        }
    }

    func clockOffset(_ payload: [UInt8], from peer: String) {
        guard let stamp = try? HeartbeatCodec.decode(payload) else { return }
        let offset = clockOffsets[peer, default: ClockOffsetFilter()].add(stamp - wallClockMilliseconds())
        if abs(offset) > 1000, clockWarnings.allows(peer, now: UVTimer.now(loop)) {
            host.log("the clock of \(peer) is \(offset > 0 ? "ahead of" : "behind") this node's by \(abs(offset)) ms; each node corrects its own clock to the median of the live clocks beyond 2 s (clockCorrectionMs in /api/cluster; warned at most hourly)")
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

    /// Test fault plane: re-reads the peer lists; closes connections to partitioned peers,
    /// silences black-holed ones, stops reading from unread ones.
    func applyFaults() {
        guard !faults.files.isEmpty else { return }
        let lists = (faults.peers(.partition), faults.peers(.blackhole), faults.peers(.unread))
        if lists.0 != partitioned { host.log("fault plane: partitioned from [\(lists.0.sorted().joined(separator: ", "))]") }
        if lists.1 != blackholed { host.log("fault plane: black-holed from [\(lists.1.sorted().joined(separator: ", "))]") }
        if lists.2 != unread { host.log("fault plane: not reading from [\(lists.2.sorted().joined(separator: ", "))]") }
        (partitioned, blackholed, unread) = lists
        for name in partitioned { connections[name]?.close(nil) }
        for (name, c) in connections { c.setReading(!unread.contains(name)) }
    }
}
