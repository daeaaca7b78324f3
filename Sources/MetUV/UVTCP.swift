import CLibUV

/// A listening TCP socket. Loop thread only: create it inside ``UVLoop/execute(_:)``.
package final class UVTCPServer {
    final class Box: HandleBox {
        var onConnection: (UVConnection) -> Void = { _ in }
        var tcp: UnsafeMutablePointer<uv_tcp_t> { raw.assumingMemoryBound(to: uv_tcp_t.self) }
        override func closed() { onConnection = { _ in } }
    }

    let box: Box
    /// The bound port (useful when asking the OS for one with port 0).
    package let port: Int

    /// Binds `host:port` (IPv4; port 0 lets the OS choose) and calls `onConnection` for every
    /// accepted connection.
    package init(loop: UVLoop, host: String, port: Int, backlog: Int32 = 128, onConnection: @escaping (UVConnection) -> Void) throws(UVError) {
        precondition(loop.isLoopThread, "UVTCPServer must be created on the loop thread")
        let box = try Box.registered(uv_tcp_t.self, "uv_tcp_init") { uv_tcp_init(loop.raw, $0) }
        box.onConnection = onConnection
        do {
            var addr = sockaddr_in()
            try uvCheck(uv_ip4_addr(host, Int32(port), &addr), "uv_ip4_addr")
            _ = try withUnsafePointer(to: &addr) { (p) throws(UVError) in
                // The pointer is used only during uv_tcp_bind, which copies the address.
                try uvCheck(uv_tcp_bind(box.tcp, UnsafeRawPointer(p).assumingMemoryBound(to: sockaddr.self), 0), "uv_tcp_bind")
            }
            try uvCheck(uv_listen(UnsafeMutableRawPointer(box.tcp).assumingMemoryBound(to: uv_stream_t.self), backlog, connectionArrived), "uv_listen")
            self.port = try Self.boundPort(box.tcp)
        } catch {
            box.close()
            throw error
        }
        self.box = box
    }

    static func boundPort(_ tcp: UnsafeMutablePointer<uv_tcp_t>) throws(UVError) -> Int {
        var storage = sockaddr_storage()
        var length = Int32(MemoryLayout<sockaddr_storage>.size)
        let status = withUnsafeMutablePointer(to: &storage) { p in
            // The pointer lives only for this call; libuv writes at most `length` bytes.
            uv_tcp_getsockname(tcp, UnsafeMutableRawPointer(p).assumingMemoryBound(to: sockaddr.self), &length)
        }
        try uvCheck(status, "uv_tcp_getsockname")
        return withUnsafePointer(to: &storage) { p in
            // sockaddr_storage is large enough for a sockaddr_in, which bind gave it.
            Int(UInt16(bigEndian: UnsafeRawPointer(p).assumingMemoryBound(to: sockaddr_in.self).pointee.sin_port))
        }
    }

    /// Stops listening and frees the socket.
    package func close() { box.close() }
}

private let connectionArrived: uv_connection_cb = { server, status in
    guard let server, let data = server.pointee.data else { return }
    let box = Unmanaged<UVTCPServer.Box>.fromOpaque(data).takeUnretainedValue()
    guard status >= 0 else { return }
    guard let connection = try? UVConnection(accepting: server, loop: server.pointee.loop) else { return }
    box.onConnection(connection)
}

/// One TCP connection: read callbacks, writes that own their bytes until libuv is done, close.
/// Loop thread only.
package final class UVConnection {
    final class Box: HandleBox {
        var onData: ([UInt8]) -> Void = { _ in }
        var onEnd: (UVError?) -> Void = { _ in }
        var ended = false
        var tcp: UnsafeMutablePointer<uv_tcp_t> { raw.assumingMemoryBound(to: uv_tcp_t.self) }
        var stream: UnsafeMutablePointer<uv_stream_t> { raw.assumingMemoryBound(to: uv_stream_t.self) }

        func end(_ error: UVError?) {
            guard !ended else { return }
            ended = true
            onEnd(error)
        }

        override func closed() {
            end(nil)
            onData = { _ in }
            onEnd = { _ in }
        }
    }

    let box: Box

    init(accepting server: UnsafeMutablePointer<uv_stream_t>, loop: UnsafeMutablePointer<uv_loop_t>?) throws(UVError) {
        box = try Self.makeBox(loop: loop)
        do {
            try uvCheck(uv_accept(server, box.stream), "uv_accept")
        } catch {
            box.close()
            throw error
        }
        uv_tcp_nodelay(box.tcp, 1)
    }

    private init(box: Box) { self.box = box }

    static func makeBox(loop: UnsafeMutablePointer<uv_loop_t>?) throws(UVError) -> Box {
        try Box.registered(uv_tcp_t.self, "uv_tcp_init") { uv_tcp_init(loop, $0) }
    }

    /// Connects to `host:port` (IPv4) and calls `completion` on the loop thread.
    package static func connect(loop: UVLoop, host: String, port: Int, completion: @escaping (Result<UVConnection, UVError>) -> Void) {
        precondition(loop.isLoopThread, "connect on the loop thread")
        let box: Box
        do {
            box = try makeBox(loop: loop.raw)
        } catch {
            return completion(.failure(error))
        }
        var addr = sockaddr_in()
        let parsed = uv_ip4_addr(host, Int32(port), &addr)
        guard parsed == 0 else {
            box.close()
            return completion(.failure(UVError(code: parsed, call: "uv_ip4_addr")))
        }
        let request = UnsafeMutablePointer<uv_connect_t>.allocate(capacity: 1)  // freed in the callback
        let pending = ConnectRequest(connection: UVConnection(box: box), completion: completion)
        request.pointee.data = Unmanaged.passRetained(pending).toOpaque()
        let status = withUnsafePointer(to: &addr) { p in
            // uv_tcp_connect copies the address before returning.
            uv_tcp_connect(request, box.tcp, UnsafeRawPointer(p).assumingMemoryBound(to: sockaddr.self), connected)
        }
        if status < 0 {
            // The callback will never run: release what it would have.
            Unmanaged<ConnectRequest>.fromOpaque(request.pointee.data).release()
            request.deallocate()
            box.close()
            completion(.failure(UVError(code: status, call: "uv_tcp_connect")))
        } else {
            uv_tcp_nodelay(box.tcp, 1)
        }
    }

    /// Starts delivering received bytes; `onEnd` runs once, on EOF (nil) or an error.
    package func startReading(onData: @escaping ([UInt8]) -> Void, onEnd: @escaping (UVError?) -> Void) throws(UVError) {
        box.onData = onData
        box.onEnd = onEnd
        try uvCheck(uv_read_start(box.stream, allocateReadBuffer, bytesRead), "uv_read_start")
    }

    /// Stops delivering received bytes (they wait in the kernel's buffers, then the peer's
    /// writes stall): the test fault plane's slow reader. ``resumeReading()`` undoes it.
    package func stopReading() {
        guard !box.ended else { return }
        uv_read_stop(box.stream)
    }

    /// Caps the kernel's receive buffer of this socket (`SO_RCVBUF`, which also stops Linux from
    /// growing it): a slow reader of the test fault plane then holds only this much unread.
    package func limitReceiveBuffer(to bytes: Int32) {
        guard !box.ended else { return }
        var value = bytes
        _ = UnsafeMutableRawPointer(box.stream).withMemoryRebound(to: uv_handle_t.self, capacity: 1) { uv_recv_buffer_size($0, &value) }
    }

    /// Delivers received bytes again, to the callbacks given to ``startReading(onData:onEnd:)``.
    package func resumeReading() {
        guard !box.ended else { return }
        uv_read_start(box.stream, allocateReadBuffer, bytesRead)
    }

    /// Queues `bytes`; they stay owned until libuv reports the write done.
    package func write(_ bytes: [UInt8], completion: ((UVError?) -> Void)? = nil) {
        write(bytes, trailer: UnsafeRawBufferPointer(start: nil, count: 0), completion: completion)
    }

    /// Queues `bytes` and then `trailer` (a frame and its MAC) as one write, copied into one buffer.
    package func write(_ bytes: [UInt8], trailer: UnsafeRawBufferPointer, completion: ((UVError?) -> Void)? = nil) {
        guard !bytes.isEmpty || !trailer.isEmpty else {
            completion?(nil)
            return
        }
        let pending = WriteRequest(bytes: bytes, trailer: trailer, completion: completion)
        let request = UnsafeMutablePointer<uv_write_t>.allocate(capacity: 1)  // freed in the callback
        request.pointee.data = Unmanaged.passRetained(pending).toOpaque()
        var buffer = uv_buf_init(pending.storage.baseAddress.map { UnsafeMutablePointer(mutating: $0.assumingMemoryBound(to: CChar.self)) }, UInt32(bytes.count + trailer.count))
        let status = uv_write(request, box.stream, &buffer, 1, written)
        if status < 0 {
            // The callback will never run.
            Unmanaged<WriteRequest>.fromOpaque(request.pointee.data).release()
            request.deallocate()
            completion?(UVError(code: status, call: "uv_write"))
        }
    }

    /// Half-closes the connection once every queued write has gone out (`uv_shutdown`), then
    /// calls `completion` (with an error if the writes could not finish). Close it afterwards.
    package func shutdown(_ completion: @escaping (UVError?) -> Void) {
        guard !box.ended else { return completion(UVError(code: -9, call: "uv_shutdown (already closed)")) }
        let request = UnsafeMutablePointer<uv_shutdown_t>.allocate(capacity: 1)  // freed in the callback
        request.pointee.data = Unmanaged.passRetained(ShutdownRequest(completion)).toOpaque()
        let status = uv_shutdown(request, box.stream, shutdownDone)
        if status < 0 {
            // The callback will never run.
            Unmanaged<ShutdownRequest>.fromOpaque(request.pointee.data).release()
            request.deallocate()
            completion(UVError(code: status, call: "uv_shutdown"))
        }
    }

    /// The peer's `host:port`, or nil once the connection is gone.
    package var remoteAddress: String? {
        guard !box.ended else { return nil }
        var storage = sockaddr_storage()
        var length = Int32(MemoryLayout<sockaddr_storage>.size)
        return withUnsafeMutablePointer(to: &storage) { p -> String? in
            // The pointer is used only inside this closure, for the length given.
            let address = UnsafeMutableRawPointer(p).assumingMemoryBound(to: sockaddr.self)
            guard uv_tcp_getpeername(box.tcp, address, &length) == 0 else { return nil }
            var name = [CChar](repeating: 0, count: 64)
            if Int32(address.pointee.sa_family) == AF_INET6 {
                let v6 = UnsafeMutableRawPointer(p).assumingMemoryBound(to: sockaddr_in6.self)
                guard uv_ip6_name(v6, &name, name.count) == 0 else { return nil }
                return "[\(String(decoding: name.prefix { $0 != 0 }.map(UInt8.init(bitPattern:)), as: UTF8.self))]:\(UInt16(bigEndian: v6.pointee.sin6_port))"
            }
            let v4 = UnsafeMutableRawPointer(p).assumingMemoryBound(to: sockaddr_in.self)
            guard uv_ip4_name(v4, &name, name.count) == 0 else { return nil }
            return "\(String(decoding: name.prefix { $0 != 0 }.map(UInt8.init(bitPattern:)), as: UTF8.self)):\(UInt16(bigEndian: v4.pointee.sin_port))"
        }
    }

    /// Closes the connection (pending writes are cancelled).
    package func close() {
        box.end(nil)
        box.close()
    }
}

/// A connect in flight: the connection and who to tell.
final class ConnectRequest {
    let connection: UVConnection
    let completion: (Result<UVConnection, UVError>) -> Void
    init(connection: UVConnection, completion: @escaping (Result<UVConnection, UVError>) -> Void) {
        self.connection = connection
        self.completion = completion
    }
}

/// A write in flight: its own copy of the bytes, alive until the write callback.
final class WriteRequest {
    let storage: UnsafeMutableRawBufferPointer  // owned copy; freed in deinit after libuv is done with it
    let completion: ((UVError?) -> Void)?
    init(bytes: [UInt8], trailer: UnsafeRawBufferPointer, completion: ((UVError?) -> Void)?) {
        let copy = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, bytes.count + trailer.count), alignment: 1)
        bytes.withUnsafeBytes { copy.copyMemory(from: $0) }
        if !trailer.isEmpty { UnsafeMutableRawBufferPointer(rebasing: copy[bytes.count...]).copyMemory(from: trailer) }
        storage = copy
        self.completion = completion
    }
    deinit { storage.deallocate() }
}

private let connected: uv_connect_cb = { request, status in
    guard let request else { return }
    let pending = Unmanaged<ConnectRequest>.fromOpaque(request.pointee.data).takeRetainedValue()
    request.deallocate()
    if status < 0 {
        pending.connection.box.close()
        pending.completion(.failure(UVError(code: status, call: "uv_tcp_connect")))
    } else {
        pending.completion(.success(pending.connection))
    }
}

/// A shutdown in flight: who to tell when the queued writes are out.
final class ShutdownRequest {
    let completion: (UVError?) -> Void
    init(_ completion: @escaping (UVError?) -> Void) { self.completion = completion }
}

private let shutdownDone: uv_shutdown_cb = { request, status in
    guard let request else { return }
    let pending = Unmanaged<ShutdownRequest>.fromOpaque(request.pointee.data).takeRetainedValue()
    request.deallocate()
    pending.completion(status < 0 ? UVError(code: status, call: "uv_shutdown") : nil)
}

private let written: uv_write_cb = { request, status in
    guard let request else { return }
    let pending = Unmanaged<WriteRequest>.fromOpaque(request.pointee.data).takeRetainedValue()
    request.deallocate()
    pending.completion?(status < 0 ? UVError(code: status, call: "uv_write") : nil)
}

private let allocateReadBuffer: uv_alloc_cb = { _, suggested, buffer in
    let size = min(max(suggested, 4096), 65_536)
    // Freed by `bytesRead` in every case (data, nothing, or error).
    buffer?.pointee = uv_buf_init(UnsafeMutablePointer<CChar>.allocate(capacity: size), UInt32(size))
}

private let bytesRead: uv_read_cb = { stream, nread, buffer in
    defer { buffer?.pointee.base?.deallocate() }
    guard let stream, let data = stream.pointee.data else { return }
    let box = Unmanaged<UVConnection.Box>.fromOpaque(data).takeUnretainedValue()
    if nread > 0, let base = buffer?.pointee.base {
        box.onData(Array(UnsafeRawBufferPointer(start: base, count: nread)))
    } else if nread < 0 {
        uv_read_stop(stream)
        box.end(nread == Int(UV_EOF.rawValue) ? nil : UVError(code: Int32(nread), call: "read"))
        box.close()
    }
}
