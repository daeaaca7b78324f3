import Foundation
import MetUV
import MetWire
import Synchronization
import Testing

/// The libuv loop wrapper with real sockets on loopback: cross-thread jobs, TCP echo, refused
/// connections, peer close, and a clean shutdown (`uv_loop_close` returns 0: nothing leaked open).
@Suite struct UVLoopTests {
    @Test(.timeLimit(.minutes(1))) func jobsFromManyThreadsAllRunOnTheLoop() async throws {
        let loop = try UVLoop()
        let ran = Box(0)
        let onLoop = Box(true)
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<4 {
                group.addTask {
                    for _ in 0..<1000 {
                        loop.execute {
                            ran.withLock { $0 += 1 }
                            if !loop.isLoopThread { onLoop.withLock { $0 = false } }
                        }
                    }
                }
            }
        }
        // Jobs run in order, so a job queued last runs after all of them.
        try await loop.run { () }
        #expect(ran.withLock { $0 } == 4000)
        #expect(onLoop.withLock { $0 })
        loop.shutdown()
        #expect(loop.closeStatus == 0)
        #expect(loop.execute {} == false)
    }

    /// The loop's thread runs with a short slice where the kernel has custom slices (Linux 6.12
    /// and later), so that it runs soon after waking while other threads keep every core busy.
    @Test func theLoopThreadAsksForAShortSlice() async throws {
        let loop = try UVLoop()
        let slice = try await loop.run { UVLoop.currentSliceNanoseconds() }
        loop.shutdown()
        var name = utsname()
        uname(&name)
        let release = withUnsafeBytes(of: &name.release) { String(decoding: $0.prefix { $0 != 0 }, as: UTF8.self) }
        let version = release.split(whereSeparator: { !$0.isNumber }).prefix(2).compactMap { Int($0) }
        #if os(Linux)
        if version.count == 2, (version[0], version[1]) >= (6, 12) {
            #expect(slice == UVLoop.sliceNanoseconds, "kernel \(release)")
        } else {
            #expect(slice == 0, "kernel \(release) has no custom slices")
        }
        #endif
    }

    @Test(.timeLimit(.minutes(1))) func tcpEchoOfFramesOverLoopback() async throws {
        let loop = try UVLoop()
        let frames = (0..<50).map { Frame(type: .batch, payload: [UInt8](repeating: UInt8($0), count: $0 * 97)) }
        let port = try await loop.run {
            let server = try UVTCPServer(loop: loop, host: "127.0.0.1", port: 0) { connection in
                try? connection.startReading(onData: { connection.write($0) }, onEnd: { _ in connection.close() })
            }
            return server.port
        }
        #expect(port > 0)
        let received: [Frame] = try await withCheckedThrowingContinuation { continuation in
            loop.execute {
                UVConnection.connect(loop: loop, host: "127.0.0.1", port: port) { result in
                    switch result {
                    case .failure(let error):
                        continuation.resume(throwing: error)
                    case .success(let client):
                        var decoder = FrameDecoder(limit: WireProtocol.maxFrameBytes)
                        var got: [Frame] = []
                        do {
                            try client.startReading(onData: { bytes in
                                got += (try? decoder.feed(bytes)) ?? []
                                if got.count == frames.count {
                                    client.close()
                                    continuation.resume(returning: got)
                                }
                            }, onEnd: { _ in })
                        } catch {
                            continuation.resume(throwing: error)
                            return
                        }
                        for f in frames { client.write(f.encoded()) }
                    }
                }
            }
        }
        #expect(received == frames)
        loop.shutdown()
        #expect(loop.closeStatus == 0)
    }

    @Test(.timeLimit(.minutes(1))) func connectingToAClosedPortFails() async throws {
        let loop = try UVLoop()
        // A port bound but not listening: connecting is refused, and no other test's listener
        // can take the port meanwhile (a listener closed first left it free for anyone).
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        try #require(fd >= 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) {  // the pointer lives only for these calls
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        try #require(bound)
        let port = Int(UInt16(bigEndian: address.sin_port))
        let outcome: UVError? = await withCheckedContinuation { continuation in
            loop.execute {
                UVConnection.connect(loop: loop, host: "127.0.0.1", port: port) { result in
                    switch result {
                    case .success(let c):
                        c.close()
                        continuation.resume(returning: nil)
                    case .failure(let e):
                        continuation.resume(returning: e)
                    }
                }
            }
        }
        #expect(outcome?.name == "ECONNREFUSED")
        loop.shutdown()
        #expect(loop.closeStatus == 0)
    }

    @Test(.timeLimit(.minutes(1))) func aPeerThatClosesEndsTheConnectionOnce() async throws {
        let loop = try UVLoop()
        let ends = Box(0)
        let port = try await loop.run {
            let server = try UVTCPServer(loop: loop, host: "127.0.0.1", port: 0) { connection in
                connection.close()  // hang up at once
            }
            return server.port
        }
        let endError: UVError?? = await withCheckedContinuation { continuation in
            loop.execute {
                UVConnection.connect(loop: loop, host: "127.0.0.1", port: port) { result in
                    guard case .success(let client) = result else { return continuation.resume(returning: .none) }
                    do {
                        try client.startReading(onData: { _ in }, onEnd: { error in
                            ends.withLock { $0 += 1 }
                            continuation.resume(returning: .some(error))
                        })
                    } catch {
                        continuation.resume(returning: .none)
                    }
                }
            }
        }
        #expect(endError != nil)
        try await loop.run { () }
        #expect(ends.withLock { $0 } == 1)
        loop.shutdown()
        #expect(loop.closeStatus == 0)
    }

    /// Without SIGPIPE ignored, the write after the peer's reset kills the whole test process.
    @Test(.timeLimit(.minutes(1))) func writingToAPeerThatHungUpFailsInsteadOfKillingTheProcess() async throws {
        let loop = try UVLoop()
        let port = try await loop.run {
            let server = try UVTCPServer(loop: loop, host: "127.0.0.1", port: 0) { connection in
                connection.close()
            }
            return server.port
        }
        let failure: UVError? = await withCheckedContinuation { continuation in
            loop.execute {
                UVConnection.connect(loop: loop, host: "127.0.0.1", port: port) { result in
                    guard case .success(let client) = result else { return continuation.resume(returning: nil) }
                    let chunk = [UInt8](repeating: 7, count: 64 * 1024)
                    // Write until the kernel reports the hang-up; each write waits for the last one.
                    func writeNext(_ remaining: Int) {
                        client.write(chunk) { error in
                            if let error {
                                client.close()
                                continuation.resume(returning: error)
                            } else if remaining == 0 {
                                client.close()
                                continuation.resume(returning: nil)
                            } else {
                                writeNext(remaining - 1)
                            }
                        }
                    }
                    writeNext(10_000)
                }
            }
        }
        let name = failure?.name ?? "none"
        #expect(name == "EPIPE" || name == "ECONNRESET")
        loop.shutdown()
        #expect(loop.closeStatus == 0)
    }

    /// `shutdown` lets every queued write go out before the close; 8 MiB is more than the
    /// socket buffers hold, so most of it is still queued in libuv when it is called.
    @Test(.timeLimit(.minutes(1))) func shutdownDeliversEveryQueuedByteBeforeTheClose() async throws {
        let loop = try UVLoop()
        let payload = 8 << 20
        let received = Box(0)
        let port: Int = try await loop.run {
            let server = try UVTCPServer(loop: loop, host: "127.0.0.1", port: 0) { connection in
                connection.write([UInt8](repeating: 1, count: payload))
                connection.shutdown { _ in connection.close() }
            }
            return server.port
        }
        let total: Int = await withCheckedContinuation { continuation in
            loop.execute {
                UVConnection.connect(loop: loop, host: "127.0.0.1", port: port) { result in
                    guard case .success(let client) = result else { return continuation.resume(returning: -1) }
                    do {
                        try client.startReading(onData: { bytes in received.withLock { $0 += bytes.count } },
                                                onEnd: { _ in continuation.resume(returning: received.withLock { $0 }) })
                    } catch {
                        continuation.resume(returning: -2)
                    }
                }
            }
        }
        #expect(total == payload)
        loop.shutdown()
        #expect(loop.closeStatus == 0)
    }
}

/// A value shared between threads, behind a lock.
final class Box<T: Sendable>: Sendable {
    private let value: Mutex<T>
    init(_ v: T) { value = Mutex(v) }
    func withLock<R: Sendable>(_ body: (inout T) -> R) -> R { value.withLock { body(&$0) } }
}
