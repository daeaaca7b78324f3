import MetUV
import MetWire

/// One mesh connection: the handshake first, then frames in and out over a `UVConnection`, with
/// its outbound queue bounded (RELIABILITY B1, B2) and its inbound buffer too (B3, B4). Every
/// frame a node sends or receives passes here. Loop thread only.
final class PeerConnection {
    enum Phase { case handshaking, established(PeerIdentity), closed }

    let connection: UVConnection
    let loop: UVLoop
    /// The node it belongs to (weak: the node owns its connections).
    weak var mesh: MeshNode?
    /// For a dialled connection, the address dialled.
    let address: String
    let dialled: Bool
    var handshake: Handshake
    var decoder = FrameDecoder(limit: WireProtocol.maxPreAuthFrameBytes)
    /// The connection's MACs once established: every frame after the handshake carries one (S3).
    var authenticator: FrameAuthenticator?
    /// Why this connection refused its peer after the handshake (a frame failed its MAC).
    private(set) var refusal: FrameRefusal?
    /// Which of this node's secrets the connection's keys came from (0: the current one).
    var sharedSecretIndex: Int? { handshake.sharedSecretIndex }
    var phase: Phase = .handshaking
    /// Loop-clock milliseconds when the connection was adopted (the handshake deadline counts from here).
    let openedAt: UInt64
    /// The remote `host:port` as the socket reports it (for log lines about rejections).
    let remote: String
    /// The fault plane stopped reading it (a slow reader, for tests).
    private(set) var readingStopped = false
    /// Set while the connection waits for the loop's next pass after a large frame.
    private var yielding = false
    /// What waits for that pass (made at the first yield).
    private var nextPass: UVNextPass?

    /// After a frame this large the connection reads and handles nothing more until the loop's
    /// next pass, so the timers due (heartbeats, the published state) run between such frames.
    /// A snapshot or handoff chunk is merged on the loop, milliseconds each, and one pass read
    /// several of them: a whole-store catch-up after a burst of 100,000 label sets held the
    /// loop for 50–150 ms.
    static let yieldAfterBytes = 16 << 10

    /// Bytes handed to libuv and not yet written to the socket: the outbound queue (B1).
    private(set) var queuedBytes = 0
    /// When the outbound queue last moved (a write completed, or it stopped being empty).
    private(set) var queueMovedAt: UInt64 = 0
    /// Bytes written to the socket, frame headers included (for the idle-traffic benchmark).
    private(set) var bytesSent = 0

    /// The reason given when the peer closed or reset the connection.
    static let closedByPeer = "connection closed by peer"

    init(connection: UVConnection, loop: UVLoop, mesh: MeshNode, address: String, handshake: Handshake, dialled: Bool) {
        (self.connection, self.loop, self.mesh) = (connection, loop, mesh)
        (self.address, self.handshake, self.dialled) = (address, handshake, dialled)
        openedAt = UVTimer.now(loop)
        remote = connection.remoteAddress ?? address
    }

    /// The remote host alone (rejection log lines are limited per host).
    var remoteHost: String {
        guard let colon = remote.lastIndex(of: ":") else { return remote }
        return String(remote[..<colon])
    }

    /// Who the peer proved to be; kept after the connection closes, so its end can be reported.
    private(set) var peer: PeerIdentity?

    func start() {
        do {
            try connection.startReading(onData: { [weak self] bytes in self?.received(bytes) },
                                        onEnd: { [weak self] error in self?.ended(error.map(\.description)) })
        } catch {
            ended(error.description)
            return
        }
        perform(handshake.start())
    }

    /// Sends a frame once established (dropped before and after).
    func send(_ frame: Frame) { send(encoded: frame.encoded()) }

    /// Sends a frame already encoded (one broadcast encodes once for every peer).
    func send(encoded bytes: [UInt8], written: ((Bool) -> Void)? = nil) {
        guard isEstablished else { written?(false); return }
        write(bytes, written: written)
    }

    /// Sends a frame and calls `written` once it has left for the socket (true) or never will
    /// (false: the connection is not established, failed or closed).
    func send(_ frame: Frame, written: @escaping (Bool) -> Void) { send(encoded: frame.encoded(), written: written) }

    /// Queues bytes, counting them against the outbound cap: a peer that stops reading has its
    /// connection closed (and so its queue freed) instead of growing this node's memory; it is
    /// resynced when it comes back (B1, B2).
    private func write(_ bytes: [UInt8], written: ((Bool) -> Void)?) {
        guard let mesh else { written?(false); return }
        let now = UVTimer.now(loop)
        if queuedBytes == 0 { queueMovedAt = now }
        // The frame and, once established, its MAC (S3).
        let count = bytes.count + (authenticator == nil ? 0 : FrameAuthenticator.tagBytes)  // the completion must not keep the frame's bytes alive: libuv holds its own copy
        queuedBytes += count
        bytesSent += count
        guard queuedBytes <= mesh.config.outboundCapBytes else {
            written?(false)
            return close("its outbound queue passed \(mesh.config.outboundCapBytes >> 20) MiB (the peer is not reading); dropped, to be resynced when it reads again")
        }
        let completion: (UVError?) -> Void = { [weak self] error in
            if let self {
                queuedBytes -= count
                queueMovedAt = UVTimer.now(loop)
            }
            written?(error == nil)
        }
        // Sealed in the order frames go to the socket: the peer counts the same sequence.
        guard authenticator != nil else { return connection.write(bytes, completion: completion) }
        authenticator!.seal(bytes) { connection.write(bytes, trailer: $0, completion: completion) }
    }

    /// Closes the connection if its outbound queue has not moved for `limit` ms (B1: 60 intervals).
    func checkStall(now: UInt64, limit: UInt64) {
        guard queuedBytes > 0, now - min(now, queueMovedAt) >= limit else { return }
        close("its outbound queue (\(queuedBytes) bytes) has not moved for \(limit / 1000) s (the peer is not reading); dropped, to be resynced when it reads again")
    }

    /// Lets the frames already queued go out, then closes (a graceful stop's last batch).
    func finish(then done: @escaping () -> Void) {
        guard isEstablished else {
            close(nil)
            return done()
        }
        connection.shutdown { [weak self] _ in
            self?.close(nil)
            done()
        }
    }

    func close(_ reason: String?) {
        guard !isClosed else { return }
        phase = .closed
        nextPass?.close()
        connection.close()
        mesh?.closed(self, reason)
    }

    /// The test fault plane's slow reader: stop (or resume) reading this connection.
    func setReading(_ reading: Bool) {
        guard reading == readingStopped else { return }
        readingStopped = !reading
        if reading {
            if !yielding { connection.resumeReading() }  // else when the yield ends
        } else {
            connection.limitReceiveBuffer(to: 64 << 10)  // what it holds unread stays small: the sender's queue fills
            connection.stopReading()
        }
    }

    var isEstablished: Bool {
        if case .established = phase { return true }
        return false
    }

    var isClosed: Bool {
        if case .closed = phase { return true }
        return false
    }

    private func received(_ bytes: [UInt8]) {
        decoder.append(bytes)
        handleFrames()
    }

    /// Handles the complete frames buffered, until a large one (then yields) or none is left.
    private func handleFrames() {
        // One frame at a time: the frame that completes the handshake raises the decoder's limit
        // for the frames behind it in the same read.
        while !isClosed {
            let next: Frame?
            do {
                next = try decoder.nextFrame(authenticatedBy: &authenticator)
            } catch {
                if case .refused(let why) = error { refusal = why }
                return close(error.description)
            }
            for type in decoder.takeSkipped() { mesh?.skipped(type, from: self) }
            guard let frame = next else { return decoder.releaseIdleBuffer() }
            switch phase {
            case .handshaking: perform(handshake.receive(frame))
            case .established:
                mesh?.received(frame, from: self)
                if frame.payload.count >= Self.yieldAfterBytes, yieldToTheLoop() { return }
            case .closed: return
            }
        }
    }

    /// Stops reading until the loop's next pass (``UVNextPass``: after the timers due), then
    /// handles the frames still buffered and reads again.
    /// False when it cannot (closed, or no handle): the caller reads on, as before yields.
    private func yieldToTheLoop() -> Bool {
        guard !yielding, !isClosed else { return yielding }
        if nextPass == nil { nextPass = try? UVNextPass(loop: loop) }
        guard let nextPass else { return false }
        connection.stopReading()
        yielding = true
        nextPass.schedule { [weak self] in self?.endYield() }
        return true
    }

    private func endYield() {
        yielding = false
        guard !isClosed else { return }
        handleFrames()
        if !yielding, !isClosed, !readingStopped { connection.resumeReading() }
    }

    private func perform(_ actions: [Handshake.Action]) {
        for action in actions {
            switch action {
            case .send(let frame):
                write(frame.encoded(), written: nil)
            case .established(let peer, let keys):
                phase = .established(peer)
                self.peer = peer
                // Every frame after the proofs carries a MAC, both ways (S3); benchmarks alone
                // may turn that off, to measure what it costs.
                if mesh?.config.authenticatesFrames ?? true { authenticator = FrameAuthenticator(keys: keys) }
                decoder.limit = WireProtocol.maxFrameBytes
                decoder.skipsUnknownTypes = true
                mesh?.established(self, peer)
            case .fail(let error):
                close(error.description)
            }
        }
    }

    private func ended(_ reason: String?) {
        guard !isClosed else { return }
        phase = .closed
        nextPass?.close()
        mesh?.closed(self, reason ?? Self.closedByPeer)
    }
}
