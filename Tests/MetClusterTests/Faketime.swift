import Foundation

/// Runs a `met` process with its clock skewed by Debian's libfaketime (`FAKETIME="+30s"`,
/// `FAKETIME_DONT_FAKE_MONOTONIC=1`), for F8. Three details make it work with a Swift binary:
///
/// - The process is started as `/usr/bin/env met ...` with `LD_PRELOAD` set, not through the
///   `faketime` wrapper: `env` execs in place, so the test's pid is the node's and SIGTERM
///   reaches it (the wrapper forks and does not forward signals). libfaketime's constructor
///   in `env` creates its shared memory and exports `FAKETIME_SHARED`; started directly, the
///   constructor's `setenv` would move `environ`, from which the Swift runtime finds `argv`
///   on Linux, and the node would see no arguments at all.
/// - libfaketime also shifts every absolute `timerfd_settime` by the fake offset, although
///   libdispatch's timerfds run on the monotonic clock: under −30 s every `Task.sleep` would
///   last 30 s longer (and under +30 s spin). A five-line shim, preloaded first, sends
///   `timerfd_settime` straight to the kernel. Only time-of-day reads stay faked, as on a
///   machine whose clock is off.
/// - libfaketime leaves its shared memory in /dev/shm; ``removeSharedMemory(of:)`` deletes it.
enum Faketime {
    static let library: String? = ["/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1", "/usr/lib/aarch64-linux-gnu/faketime/libfaketime.so.1",
                                   "/usr/lib/faketime/libfaketime.so.1"].first { FileManager.default.fileExists(atPath: $0) }

    static let shimSource = """
        #include <sys/syscall.h>
        #include <sys/timerfd.h>
        #include <unistd.h>
        int timerfd_settime(int fd, int flags, const struct itimerspec *value, struct itimerspec *old) {
            return (int)syscall(SYS_timerfd_settime, fd, flags, value, old);
        }
        """

    /// The shim, compiled once per test process with the system's C compiler.
    static let shim: Result<String, MetProcess.Failure> = {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("met-faketime-\(getpid())")
        do {
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            let source = dir.appendingPathComponent("timerfd-shim.c")
            let library = dir.appendingPathComponent("timerfd-shim.so")
            try shimSource.write(to: source, atomically: true, encoding: .utf8)
            let cc = Process()
            cc.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            cc.arguments = ["cc", "-shared", "-fPIC", "-O2", "-o", library.path, source.path]
            try cc.run()
            cc.waitUntilExit()
            guard cc.terminationStatus == 0 else { return .failure(.init("cc failed to build the timerfd shim (\(cc.terminationStatus))")) }
            return .success(library.path)
        } catch {
            return .failure(.init("could not build the timerfd shim: \(error)"))
        }
    }()

    /// Whether skewed processes can be started here (libfaketime installed; scripts/test installs it).
    static var isAvailable: Bool { library != nil }

    /// The launcher and environment that run `binary` with its clock skewed by `skew` (`+30s`).
    static func launch(_ binary: URL, skew: String, environment: [String: String]) throws -> (executable: URL, prefix: [String], environment: [String: String]) {
        guard let library else { throw MetProcess.Failure("libfaketime is not installed (apt-get install faketime)") }
        let shim = try shim.get()
        var env = environment
        env["LD_PRELOAD"] = "\(shim) \(library)"
        env["FAKETIME"] = skew
        env["FAKETIME_DONT_FAKE_MONOTONIC"] = "1"
        env["FAKETIME_SHARED"] = nil
        return (URL(fileURLWithPath: "/usr/bin/env"), [binary.path], env)
    }

    /// Deletes what libfaketime left in /dev/shm for process `pid` (call after it exited).
    static func removeSharedMemory(of pid: pid_t) {
        for name in ["faketime_shm_\(pid)", "sem.faketime_sem_\(pid)"] { try? FileManager.default.removeItem(atPath: "/dev/shm/\(name)") }
    }
}
