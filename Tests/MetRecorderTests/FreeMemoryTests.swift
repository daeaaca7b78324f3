import Foundation
@testable import MetRecorder
import Testing

/// After a burst, freed memory goes back to the system (issue 17: a node's resident memory
/// follows what it holds). The allocator keeps the pages of freed blocks that lie between live
/// ones; only `FreeMemory.returnToSystem()` hands them back.
@Suite struct FreeMemoryTests {
    static func residentMiB() -> Double {
        guard let text = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8),
              let pages = text.split(separator: " ").dropFirst().first.flatMap({ Double($0) }) else { return 0 }
        return pages * Double(sysconf(Int32(_SC_PAGESIZE))) / 1_048_576
    }

    @Test("free pages between live blocks go back to the system when asked")
    func freedPagesAreReturned() {
        // 256 MiB in blocks of 1 KiB, touched; one block in 16 stays live, so the freed ones sit
        // between live ones and the allocator cannot give them back by shrinking its heap.
        let blocks = 256 * 1024
        var pointers: [UnsafeMutableRawPointer] = []
        pointers.reserveCapacity(blocks)
        for _ in 0..<blocks {
            // Unsafe pointer: each block is written once here and freed below, never read.
            let p = UnsafeMutableRawPointer.allocate(byteCount: 1024, alignment: 8)
            p.initializeMemory(as: UInt8.self, repeating: 1, count: 1024)
            pointers.append(p)
        }
        var kept: [UnsafeMutableRawPointer] = []
        for (i, p) in pointers.enumerated() {
            if i % 16 == 0 { kept.append(p) } else { p.deallocate() }
        }
        pointers = []
        let freed = Self.residentMiB()
        FreeMemory.returnToSystem()
        let trimmed = Self.residentMiB()
        for p in kept { p.deallocate() }
        // 240 MiB were freed; other tests running meanwhile may allocate some, not a hundred.
        #expect(freed - trimmed > 128, "resident \(freed) MiB after freeing, \(trimmed) MiB after returning free memory")
    }
}
