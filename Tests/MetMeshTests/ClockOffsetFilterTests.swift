@testable import MetMesh
import Testing

/// A peer's clock offset from one-way heartbeats: late delivery only ever lowers a sample, so the
/// estimate is the largest of the recent ones.
@Suite struct ClockOffsetFilterTests {
    @Test("a heartbeat that waited does not make a peer look behind")
    func lateSamplesAreIgnored() {
        var filter = ClockOffsetFilter()
        #expect(filter.estimate == nil)
        #expect(filter.add(200) == 200)
        #expect(filter.add(-900) == 200, "a heartbeat 1.1 s late (a loaded machine) reads -900; the peer is still 200 ms ahead")
        #expect(filter.add(195) == 200)
    }

    @Test("a real step of the peer's clock shows once the window has passed")
    func stepsShowAfterTheWindow() {
        var filter = ClockOffsetFilter()
        for _ in 0..<ClockOffsetFilter.window { filter.add(30_000) }
        for i in 0..<(ClockOffsetFilter.window - 1) {
            #expect(filter.add(0) == 30_000, "sample \(i) after the step: older samples still in the window")
        }
        #expect(filter.add(0) == 0, "the window holds only samples after the step")
        #expect(filter.add(5_000) == 5_000, "a step forward shows at once")
    }
}
