#if canImport(Glibc)
import Glibc
#endif

/// `scripts/bench [NAME ...]`: runs the named benchmark groups (all by default) and prints one
/// line per figure: `NAME VALUE UNIT [peer=VALUE ratio=VALUE]`.
let groups: [(names: [String], run: () -> Void)] = [
    (["sketch.max_rel_error_pct"], SketchBench.maxRelError),
    (["sketch.add_ns"], SketchBench.addSpeed),
    (["sketch.merge_ns"], SketchBench.mergeSpeed),
    (["sketch.mem_bytes_1e6", "sketch.encoded_bytes_1e6"], SketchBench.size),
    (["store.mib_260k", "store.mib_1m"], StoreBench.size),
    (["compaction.ms_260k", "compaction.peak_mib_260k", "compaction.ms_1m"], StoreBench.compaction),
    (["timeslice.ms_10k_2h"], StoreBench.timeslice),
    (["loop.lag_p99_ms_queries"], LoopLagBench.run),
    (["cardinality.summary_ms_100k"], CardinalityBench.summary),
    (["cardinality.rss_mib_100k", "cardinality.max_stall_ms_100k"], CardinalityProcessBench.run),
    (["dashboard.render_ms_10k", "dashboard.page_kib"], DashboardBench.run),
    (["ingest.ns_per_line"], IngestBench.perLine),
    (["ingest.http_lines_per_s"], IngestHTTPBench.run),
    (["recorder.handle_ns", "recorder.handle_allocs"], RecorderBench.handle),
    (["recorder.strings_ns"], RecorderBench.strings),
    (["recorder.two_threads_ratio"], RecorderBench.twoThreads),
    (["wire.json_ratio"], WireBench.jsonRatio),
    (["handoff.ms_260k", "handoff.peak_mib_260k"], HandoffBench.run),
    (["handoff.ms_150k_timelines", "handoff.mib_150k_timelines"], HandoffBench.manyTimelines),
    (["convergence.p99_ms_8"], ConvergenceBench.run8),
    (["convergence.p99_ms_32"], ConvergenceBench.run32),
    (["mesh.idle_bytes_per_peer_s_64", "mesh.idle_cpu_pct_64"], MeshBench.idle),
    (["mesh.slow_reader_extra_mib"], MeshBench.slowReader),
    (["mesh.mac_overhead_pct"], MACBench.run),
    (["node.rss_mib_idle", "node.anon_mib_idle", "node.touched_mib_idle"], NodeBench.idleRSS),
    (["keyframe.speedup_5m", "keyframe.max_error_pct"], KeyframeBench.run),
    (["lifecycle.join_ms_260k", "lifecycle.stop_ms_260k"], LifecycleBench.run),
    (["full_count.p95_error_pct_moving", "full_count.leader_pg_ms_per_s",
      "full_count.snapshots.p95_error_pct_moving", "full_count.snapshots.leader_pg_ms_per_s"], FullCountBench.run),
]

let args = Array(CommandLine.arguments.dropFirst())
if args.contains("--list") {
    for g in groups { print(g.names.joined(separator: "\n")) }
    exit(0)
}
// One name per group: scripts/bench runs each group in a fresh process, so that one group's
// heap (the 10k-series store) does not slow the next.
if args.contains("--groups") {
    for g in groups { print(g.names[0]) }
    exit(0)
}
// A group runs when an argument is a prefix of one of its figures ("sketch" runs every sketch.*).
let selected = args.isEmpty ? groups : groups.filter { g in args.contains { a in g.names.contains { $0.hasPrefix(a) } } }
if selected.isEmpty {
    print("unknown benchmark: \(args.joined(separator: " ")); try --list")
    exit(2)
}
for g in selected { g.run() }
