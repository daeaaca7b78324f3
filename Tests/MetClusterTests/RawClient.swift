import Foundation

/// A hostile peer: a plain TCP socket that sends whatever the test wants and reports whether the
/// node hung up on it.
final class RawClient {
    let fd: Int32

    /// Connects to `address`; `receiveBuffer` caps the socket's receive buffer (`SO_RCVBUF`,
    /// set before connecting so the window never grows past it).
    /// `source` binds the socket to that loopback address first (127.0.0.2, ...), so refusals
    /// logged once per remote host per minute show one line per client.
    init(_ address: String, receiveBuffer: Int32? = nil, source: String? = nil) throws {
        let parts = address.split(separator: ":")
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw MetProcess.Failure("socket: \(errno)") }
        if let source {
            var local = sockaddr_in()
            local.sin_family = sa_family_t(AF_INET)
            inet_pton(AF_INET, source, &local.sin_addr)
            let bound = withUnsafePointer(to: &local) {
                // The address is read by bind() during the call only.
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
            }
            guard bound == 0 else {
                close(fd)
                throw MetProcess.Failure("bind \(source): errno \(errno)")
            }
        }
        if var size = receiveBuffer {
            setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
        }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = UInt16(parts[1])!.bigEndian
        inet_pton(AF_INET, String(parts[0]), &addr.sin_addr)
        let status = withUnsafePointer(to: &addr) {
            // The address is read by connect() during the call only.
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard status == 0 else {
            close(fd)
            throw MetProcess.Failure("connect \(address): errno \(errno)")
        }
    }

    deinit { close(fd) }

    func send(_ bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// Reads (and discards) until the node closes the connection; `false` if it is still open
    /// after `seconds`.
    func closedByPeer(within seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        var buffer = [UInt8](repeating: 0, count: 4096)
        while Date() < deadline {
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&p, 1, 100)
            guard ready > 0 else { continue }
            let n = recv(fd, &buffer, buffer.count, 0)
            if n <= 0 { return true }  // EOF or reset
        }
        return false
    }
}
