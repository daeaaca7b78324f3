import CMallocStats
#if canImport(Glibc)
import Glibc
#endif

/// Timing, memory and output helpers for the benchmarks.

/// Monotonic nanoseconds.
func nanotime() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// CPU nanoseconds the calling thread has used (unlike wall time, not inflated by other
/// processes on a loaded machine).
func threadCPUTime() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
    return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
}

/// Best (lowest) nanoseconds per operation over `runs` runs of `body`, which performs `ops` operations.
func bestNsPerOp(runs: Int = 7, ops: Int, _ body: () -> Void) -> Double {
    var best = Double.infinity
    for _ in 0..<runs {
        let t0 = nanotime()
        body()
        let t1 = nanotime()
        best = min(best, Double(t1 - t0) / Double(ops))
    }
    return best
}

/// Median milliseconds of `runs` runs.
func medianMs(runs: Int = 5, _ body: () -> Void) -> Double {
    var samples: [Double] = []
    for _ in 0..<runs {
        let t0 = nanotime()
        body()
        samples.append(Double(nanotime() - t0) / 1e6)
    }
    samples.sort()
    return samples[samples.count / 2]
}

/// Bytes currently allocated through malloc (in use, including mmapped blocks).
func heapInUse() -> Int { Int(met_heap_in_use()) }

/// Gives free heap pages back to the system.
func trimHeap() { met_malloc_trim() }

/// Resident set size and its peak, from /proc/self/status (bytes).
func residentBytes() -> (rss: Int, peak: Int) {
    guard let f = fopen("/proc/self/status", "r") else { return (0, 0) }
    defer { fclose(f) }
    var rss = 0
    var peak = 0
    var line = [CChar](repeating: 0, count: 256)
    while fgets(&line, Int32(line.count), f) != nil {
        let s = String(decoding: line.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let kb = Int(s.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") ?? 0
        if s.hasPrefix("VmRSS:") { rss = kb * 1024 }
        if s.hasPrefix("VmHWM:") { peak = kb * 1024 }
    }
    return (rss, peak)
}

/// The `NAME: VALUE kB` lines of a `/proc` file (`/proc/PID/status`, `smaps_rollup`), in MiB.
func procMiB(_ path: String) -> [String: Double] {
    let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
    var values: [String: Double] = [:]
    for line in text.split(separator: "\n") where line.hasSuffix(" kB") {
        let parts = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard parts.count == 3, parts[0].hasSuffix(":"), let kb = Double(parts[1]) else { continue }
        values[String(parts[0].dropLast())] = kb / 1024
    }
    return values
}

/// Resets the kernel's peak-RSS counter to the current RSS (Linux: `5` into clear_refs).
func resetPeakResident() {
    guard let f = fopen("/proc/self/clear_refs", "w") else { return }
    fputs("5", f)
    fclose(f)
}

/// Prints one figure: `NAME VALUE UNIT [peer=VALUE ratio=VALUE] [# note]`.
func report(_ name: String, _ value: Double, _ unit: String, peer: Double? = nil, note: String? = nil) {
    var line = "\(name) \(format(value)) \(unit)"
    if let peer {
        line += " peer=\(format(peer)) ratio=\(format(value / peer))"
    }
    if let note { line += "  # \(note)" }
    print(line)
}

func format(_ v: Double) -> String {
    if v == v.rounded() && abs(v) < 1e12 { return String(Int(v)) }
    let digits = abs(v) >= 100 ? 1 : abs(v) >= 1 ? 2 : 4
    var scale = 1.0
    for _ in 0..<digits { scale *= 10 }
    return String((v * scale).rounded() / scale)
}

/// Keeps a value alive so the optimiser cannot drop the work that produced it.
@inline(never) func blackHole<T>(_ x: T) { _ = x }
