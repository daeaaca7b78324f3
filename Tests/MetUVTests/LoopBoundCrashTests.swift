import MetUV
import Testing

/// Loop-thread-only state is checked, not only documented (swift-nio's `LoopBoundCrashTests`):
/// a ``LoopBound`` value used off its loop's thread stops the process.
@Suite struct LoopBoundCrashTests {
    @Test func aLoopBoundValueWorksOnItsLoop() async throws {
        let loop = try UVLoop()
        let bound = try await loop.run { LoopBound(41, loop: loop) }
        let value = try await loop.run {
            bound.value += 1
            return bound.value
        }
        #expect(value == 42)
        loop.shutdown()
    }

    @Test func readingItOffTheLoopTraps() async {
        await #expect(processExitsWith: .failure) {
            let loop = try UVLoop()
            let bound = try await loop.run { LoopBound(1, loop: loop) }
            _ = bound.value  // this test's thread, not the loop's
        }
    }

    @Test func makingItOffTheLoopTraps() async {
        await #expect(processExitsWith: .failure) {
            _ = LoopBound(1, loop: try UVLoop())
        }
    }
}
