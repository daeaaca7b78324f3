import Foundation

/// A Postgres server of the test's own (initdb in a temporary directory, a free loopback port),
/// for tests that stop and start Postgres without disturbing the suite's shared one.
final class ThrowawayPostgres: @unchecked Sendable {  // set up in init, then only read; stop/start are called by one test.
    let bin: String
    let dir: URL
    let port: Int
    var url: String { "postgresql://postgres@127.0.0.1:\(port)/met" }

    init() throws {
        let versions = (try? FileManager.default.contentsOfDirectory(atPath: "/usr/lib/postgresql")) ?? []
        guard let version = versions.sorted(by: { $0.compare($1, options: .numeric) == .orderedAscending }).last else {
            throw MetProcess.Failure("no Postgres under /usr/lib/postgresql (scripts/test installs it)")
        }
        bin = "/usr/lib/postgresql/\(version)/bin"
        dir = URL(fileURLWithPath: NSTemporaryDirectory()).appendingPathComponent("met-pg-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        port = try Self.freePort()
        if getuid() == 0 { try Self.run("/bin/chown", ["postgres:", dir.path]) }
        try asPostgres("\(bin)/initdb", ["-D", "\(dir.path)/data", "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"])
        let conf = """
            port = \(port)
            listen_addresses = '127.0.0.1'
            unix_socket_directories = '\(dir.path)'
            fsync = off

            """
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: "\(dir.path)/data/postgresql.conf"))
        handle.seekToEndOfFile()
        handle.write(Data(conf.utf8))
        try handle.close()
        try start()
        try Self.run("\(bin)/createdb", ["-h", "127.0.0.1", "-p", String(port), "-U", "postgres", "met"])
    }

    /// `pg_ctl start`. Right after an immediate stop the old server's processes may still hold
    /// its shared memory, and the new one refuses to start ("pre-existing shared memory block
    /// ... is still in use"): it is started again, until they are gone (30 s at most).
    func start() throws {
        let deadline = Date().addingTimeInterval(30)
        while true {
            do {
                try asPostgres("\(bin)/pg_ctl", ["-D", "\(dir.path)/data", "-l", "\(dir.path)/log", "-w", "-t", "30", "start"])
                return
            } catch {
                let log = (try? String(contentsOf: dir.appendingPathComponent("log"), encoding: .utf8)) ?? ""
                guard Date() < deadline, log.suffix(4000).contains("is still in use") else {
                    throw MetProcess.Failure("\(error); the server's log ends: \(log.suffix(800))")
                }
                usleep(100_000)
            }
        }
    }

    /// `pg_ctl stop -m immediate`: the server dies at once, as in an outage.
    func stopImmediately() throws {
        try asPostgres("\(bin)/pg_ctl", ["-D", "\(dir.path)/data", "-m", "immediate", "-w", "stop"])
    }

    func destroy() {
        try? asPostgres("\(bin)/pg_ctl", ["-D", "\(dir.path)/data", "-m", "immediate", "-w", "stop"])
        try? FileManager.default.removeItem(at: dir)
    }

    private func asPostgres(_ tool: String, _ args: [String]) throws {
        if getuid() == 0 { try Self.run("/usr/sbin/runuser", ["-u", "postgres", "--", tool] + args) } else { try Self.run(tool, args) }
    }

    /// Runs a tool and waits for it, with posix_spawn and waitpid rather than `Process`:
    /// Foundation's `Process` learns of an exit through a descriptor the child inherits, and the
    /// server `pg_ctl start` leaves running inherits it too, so `waitUntilExit` would never return.
    static func run(_ tool: String, _ args: [String]) throws {
        let argv = ([tool] + args).map { strdup($0) } + [nil]  // each strdup'd copy is freed below, after the spawn
        defer { for p in argv { free(p) } }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        for fd: Int32 in 0...2 { posix_spawn_file_actions_addopen(&actions, fd, "/dev/null", fd == 0 ? O_RDONLY : O_WRONLY, 0) }
        var pid: pid_t = 0
        let spawned = posix_spawn(&pid, tool, &actions, nil, argv, environ)
        guard spawned == 0 else { throw MetProcess.Failure("\(tool): posix_spawn failed with \(spawned)") }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0, errno == EINTR {}
        let exited = status & 0x7f == 0, code = (status >> 8) & 0xff
        guard exited, code == 0 else { throw MetProcess.Failure("\(tool) \(args.joined(separator: " ")) failed (status \(status))") }
    }

    /// A free port below the range the OS hands out for port 0. The test's server stops and
    /// starts again on it: a port from that range could be given meanwhile to any process
    /// binding port 0 (another test's `met` listening on `127.0.0.1:0`), and the server would
    /// then not start ("Address already in use").
    static func freePort() throws -> Int {
        let range = (try? String(contentsOfFile: "/proc/sys/net/ipv4/ip_local_port_range", encoding: .utf8)) ?? ""
        let ephemeral = Int(range.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" }).first ?? "") ?? 32768
        let low = max(1024, ephemeral - 12_000)
        guard ephemeral > low else { throw MetProcess.Failure("no ports below the OS's range \(range)") }
        for _ in 0..<200 {
            let port = Int.random(in: low..<ephemeral)
            if bindable(port) { return port }
        }
        throw MetProcess.Failure("no free port between \(low) and \(ephemeral)")
    }

    /// Whether `port` on 127.0.0.1 could be bound a moment ago.
    static func bindable(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &addr) {
            // The address is read by bind during this call only.
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }
}
