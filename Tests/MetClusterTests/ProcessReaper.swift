import Foundation
import Synchronization
import Testing

/// Every process a cluster test starts belongs to the test that started it, and the test is not
/// over until each of them has exited: `@Suite(.reapsProcesses)` runs each test inside a
/// ``ProcessGroup`` (a task-local, so processes started from child tasks count too), and after the
/// test — passed, failed, thrown or cut by its time limit — awaits every process's exit (SIGCONT,
/// SIGTERM, then SIGKILL after 20 s). A `MetProcess` started outside such a scope is a bug of the
/// test and traps at once. `scripts/test` checks afterwards that nothing it started survived.
///
/// A test that must have the machine to itself (F3 saturates the CPU on purpose) is marked
/// `.reapsProcesses(alone: true)`: it waits for every other cluster test to end and none starts
/// while it runs; the others share the machine as usual.
struct ReapsProcesses: SuiteTrait, TestTrait, TestScoping {
    var alone = false
    var isRecursive: Bool { true }

    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        // Suites get a scope too (testCase nil); only test cases own processes.
        guard testCase != nil || !test.isSuite else { return try await function() }
        await MachineShare.shared.enter(alone: alone)
        let group = ProcessGroup()
        do {
            try await ProcessGroup.$current.withValue(group) { try await function() }
        } catch {
            await group.stopAll()
            await MachineShare.shared.leave(alone: alone)
            throw error
        }
        await group.stopAll()
        await MachineShare.shared.leave(alone: alone)
    }
}

extension Trait where Self == ReapsProcesses {
    /// The test awaits the exit of every process it started (see ``ReapsProcesses``).
    static var reapsProcesses: Self { ReapsProcesses() }
    /// The same, and no other cluster test runs meanwhile.
    static func reapsProcesses(alone: Bool) -> Self { ReapsProcesses(alone: alone) }
}

/// A readers–writer gate over the machine: cluster tests share it, a test marked `alone` has it
/// to itself; one waiting to be alone lets no new sharer in (it is not starved).
actor MachineShare {
    static let shared = MachineShare()
    private var sharing = 0
    private var exclusive = false
    private var waitingAlone = 0
    private var waiters: [CheckedContinuation<Void, Never>] = []

    func enter(alone: Bool) async {
        if alone { waitingAlone += 1 }
        while alone ? (exclusive || sharing > 0) : (exclusive || waitingAlone > 0) {
            await withCheckedContinuation { waiters.append($0) }
        }
        if alone {
            waitingAlone -= 1
            exclusive = true
        } else {
            sharing += 1
        }
    }

    func leave(alone: Bool) {
        if alone { exclusive = false } else { sharing -= 1 }
        let woken = waiters
        waiters = []
        for w in woken { w.resume() }
    }
}

/// The processes one test started; ``stopAll()`` ends each and waits for its exit.
final class ProcessGroup: Sendable {
    @TaskLocal static var current: ProcessGroup?

    private let members = Mutex<[any ReapableProcess]>([])
    private let cleanups = Mutex<[@Sendable () -> Void]>([])

    /// Runs `cleanup` once every process of the running test has exited (a Postgres of the
    /// test's own, a schema, a directory the nodes read): a `defer` would run before that.
    static func afterProcesses(_ cleanup: @escaping @Sendable () -> Void) {
        guard let group = current else { preconditionFailure("afterProcesses outside a test with the .reapsProcesses trait") }
        group.cleanups.withLock { $0.append(cleanup) }
    }

    /// The group of the running test; traps when the test has no `.reapsProcesses` scope.
    static func enrol(_ process: any ReapableProcess) {
        guard let group = current else {
            preconditionFailure("\(process.label) was started outside a test with the .reapsProcesses trait: nothing would await its exit")
        }
        group.members.withLock { $0.append(process) }
    }

    /// Stops every process still running (SIGCONT first: a stopped one cannot act on SIGTERM)
    /// and waits for each to exit. Not cancellable: a test cut by its time limit still reaps.
    func stopAll() async {
        let all = members.withLock { $0 }
        for p in all where p.isRunning {
            kill(p.pid, SIGCONT)
            kill(p.pid, p.stopSignal)
        }
        for p in all { await Self.waitForExit(p, seconds: 20) }
        for p in all where p.isRunning {
            print("\(p.label) (pid \(p.pid)) did not exit within 20 s of SIGTERM; killing it")
            kill(p.pid, SIGKILL)
            await Self.waitForExit(p, seconds: 10)
        }
        for cleanup in cleanups.withLock({ list in defer { list = [] }; return list }).reversed() { cleanup() }
    }

    /// Polls from a detached task, so the caller's cancellation does not cut the wait short.
    static func waitForExit(_ p: any ReapableProcess, seconds: Double) async {
        await Task.detached {
            let deadline = Date().addingTimeInterval(seconds)
            while p.isRunning, Date() < deadline { usleep(10_000) }
        }.value
    }
}

/// A child process a test started and must see exit.
protocol ReapableProcess: Sendable {
    var label: String { get }
    var pid: pid_t { get }
    var isRunning: Bool { get }
    /// How it is asked to stop (a node hands off on SIGTERM).
    var stopSignal: Int32 { get }
}
