import Foundation
import Logging
import MetRuntime
import MetStore
import Testing

@Suite struct KeyframeReporterTests {
    /// A node that fails before it runs is shut down all the same: stopping a reporter that was
    /// never started returns at once instead of waiting for a thread that does not exist.
    @Test func stoppingAReporterThatNeverStartedReturns() {
        let reporter = KeyframeReporter(
            settings: .init(database: "postgresql://nobody@127.0.0.1:1/none", cluster: "c"),
            origin: Origin(node: "n", incarnation: 1), collector: Collector(), logger: Logger(label: "test")) { _ in }
        let returned = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            reporter.stop()
            returned.signal()
        }
        #expect(returned.wait(timeout: .now() + 5) == .success)
        #expect(reporter.status.isLeader == false)
    }
}
