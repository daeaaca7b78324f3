import MetUV
import MetWire

/// One mesh connection: frames in and out over a `UVConnection`, the handshake first, then
/// application frames. Loop thread only.
final class PeerConnection {
    enum Phase { case handshaking, established(PeerIdentity), closed }

    let connection: UVConnection
    let address: String
    var handshake: Handshake
    var decoder = FrameDecoder(limit: WireProtocol.maxPreAuthFrameBytes)
    var phase: Phase = .handshaking
    /// The member address the peer dialled from (for outgoing connections, the one we dialled).
    let dialled: Bool

    /// Loop-clock milliseconds of the last bytes received (heartbeats included).
    var lastHeard: UInt64 = 0
    /// Loop-clock milliseconds when the connection was adopted (the handshake deadline counts from here).
    var openedAt: UInt64 = 0
    /// The remote `host:port` as the socket reports it (for log lines about rejections).
    var remote = ""
    /// The remote host alone (rejection log lines are limited per host).
    var remoteHost: String {
        guard let colon = remote.lastIndex(of: ":") else { return remote }
        return String(remote[..<colon])
    }

    var onEstablished: (PeerConnection, PeerIdentity) -> Void = { _, _ in }
    var onFrame: (PeerConnection, Frame) -> Void = { _, _ in }
    var onClosed: (PeerConnection, String?) -> Void = { _, _ in }
    /// An authenticated peer sent a frame of a type this build does not know; it was skipped.
    var onUnknownType: (PeerConnection, UInt8) -> Void = { _, _ in }
    /// The reason given when the peer closed or reset the connection.
    static let closedByPeer = "connection closed by peer"

    /// Reads the loop clock (set by the node).
    var heard: () -> UInt64 = { 0 }

    init(connection: UVConnection, address: String, handshake: Handshake, dialled: Bool) {
        self.connection = connection
        self.address = address
        self.handshake = handshake
        self.dialled = dialled
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

    func send(_ frame: Frame) {
        guard case .established = phase else { return }
        connection.write(frame.encoded())
    }

    /// Sends a frame and calls `written` once it has left for the socket (true) or never will
    /// (false: the connection is not established, failed or closed).
    func send(_ frame: Frame, written: @escaping (Bool) -> Void) {
        guard case .established = phase else { return written(false) }
        connection.write(frame.encoded()) { error in written(error == nil) }
    }

    /// Lets the frames already queued go out, then closes (a graceful stop's last batch).
    func finish(then done: @escaping () -> Void) {
        guard case .established = phase else {
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
        connection.close()
        onClosed(self, reason)
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
        lastHeard = heard()
        decoder.append(bytes)
        // One frame at a time: the frame that completes the handshake raises the decoder's limit
        // for the frames behind it in the same read.
        while !isClosed {
            let next: Frame?
            do {
                next = try decoder.nextFrame()
            } catch {
                return close(error.description)
            }
            for type in decoder.takeSkipped() { onUnknownType(self, type) }
            guard let frame = next else { return }
            switch phase {
            case .handshaking: perform(handshake.receive(frame))
            case .established: onFrame(self, frame)
            case .closed: return
            }
        }
    }

    private func perform(_ actions: [Handshake.Action]) {
        for action in actions {
            switch action {
            case .send(let frame):
                connection.write(frame.encoded())
            case .established(let peer):
                phase = .established(peer)
                self.peer = peer
                decoder.limit = WireProtocol.maxFrameBytes
                decoder.skipsUnknownTypes = true
                onEstablished(self, peer)
            case .fail(let error):
                close(error.description)
            }
        }
    }

    private func ended(_ reason: String?) {
        guard !isClosed else { return }
        phase = .closed
        onClosed(self, reason ?? Self.closedByPeer)
    }
}
