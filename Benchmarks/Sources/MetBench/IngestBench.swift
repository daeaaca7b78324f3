import Foundation
import MetRecorder
import MetRuntime
import MetStore

/// `ingest.*` figures (DESIGN §8): `POST /api/events` lines parsed, validated and recorded, in
/// process and end to end over HTTP.
enum IngestBench {
    static let linesPerRequest = 10_000

    /// Lines of the mix `scripts/simulate` posts (an `inserted`, a `job_start` and a `job_stop`
    /// of one of 3 queues × 3 workers), `count` of them.
    static func simulateLines(_ count: Int, seed: UInt64 = 31) -> [String] {
        var rng = SplitMix64(seed: seed)
        let queues = ["default", "mailers", "exports"]
        let workers = ["Mailer", "Exporter", "Indexer"]
        var out: [String] = []
        out.reserveCapacity(count)
        while out.count < count {
            let q = queues[Int(rng.next() % 3)]
            let w = workers[Int(rng.next() % 3)]
            let n = 1 + rng.next() % 20
            let exec = 1_000_000 + (rng.next() % 32768) * 100
            let wait = (rng.next() % 32768) * 10
            out.append(#"{"event":"inserted","queue":"\#(q)","state":"available","count":\#(n)}"#)
            out.append(#"{"event":"job_start","queue":"\#(q)","worker":"\#(w)"}"#)
            out.append(#"{"event":"job_stop","queue":"\#(q)","worker":"\#(w)","state":"completed","exec_ns":\#(exec),"wait_ns":\#(wait)}"#)
        }
        return Array(out.prefix(count))
    }

    static func body(_ lines: [String]) -> [UInt8] { Array(lines.joined(separator: "\n").utf8) }

    /// What `POST /api/events` does with a body after reading it: parse, the edge check of new
    /// label sets against the store, record.
    static func ingest(_ body: [UInt8], parse: ([UInt8]) throws -> [JobEvent], collector: Collector, recorder: NodeRecorder, origin: Origin) {
        let events = try! parse(body)
        let wanted = JobEvent.seriesLabels(of: events, node: origin.node)
        precondition(collector.refusal(adding: wanted, origin: origin) == nil)
        JobEvent.record(events, into: recorder)
    }

    /// The fields of a line as a `Decodable`, for the `JSONDecoder` peer.
    struct Line: Decodable {
        var event: String
        var queue: String
        var worker: String?
        var state: String?
        var count: Int64?
        var exec_ns: Int64?
        var wait_ns: Int64?
    }

    static func perLine() {
        let body = body(simulateLines(linesPerRequest))
        let origin = Origin(node: "bench", incarnation: 1)
        let store = SeriesStore()
        store.maxLabelSets = 20_000  // the node's default: the edge check runs
        let collector = Collector(store: store)
        let recorder = NodeRecorder(origin: origin)
        // The store knows the label sets, as after the first second of a running node.
        ingest(body, parse: { try JobEvent.parseLines($0) }, collector: collector, recorder: recorder, origin: origin)
        collector.withStore { $0.apply(recorder.takeBatch(timestamp: Datasets.now), now: Datasets.now) }
        let fast = try! JobEvent.parseLines(body)
        precondition(fast == (try! JobEvent.parseLinesWithFoundation(body)), "the two readers disagree")

        let ns = bestNsPerOp(runs: 9, ops: linesPerRequest) {
            ingest(body, parse: { try JobEvent.parseLines($0) }, collector: collector, recorder: recorder, origin: origin)
        }
        let peer = bestNsPerOp(runs: 3, ops: linesPerRequest) {
            ingest(body, parse: { try JobEvent.parseLinesWithFoundation($0) }, collector: collector, recorder: recorder, origin: origin)
        }
        let parseOnly = bestNsPerOp(runs: 9, ops: linesPerRequest) { blackHole(try! JobEvent.parseLines(body)) }
        let decoder = JSONDecoder()
        let lines = body.split(separator: UInt8(ascii: "\n"))
        let decoderNs = bestNsPerOp(runs: 3, ops: linesPerRequest) {
            for line in lines { blackHole(try! decoder.decode(Line.self, from: Data(line))) }
        }
        blackHole(recorder.takeBatch(timestamp: Datasets.now))
        report("ingest.ns_per_line", ns, "ns", peer: peer,
               note: "10,000-line bodies of the simulate mix: parse, validate, edge check, record; peer = the same with JSONSerialization; parsing alone \(format(parseOnly)) ns; JSONDecoder decoding alone \(format(decoderNs)) ns a line")
    }
}
