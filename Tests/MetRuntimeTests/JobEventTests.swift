import Foundation
import MetRuntime
import MetRecorder
import MetStore
import Testing

@Suite struct JobEventTests {
    static func parse(_ lines: [String]) throws(JobEvent.ParseError) -> [JobEvent] {
        try JobEvent.parseLines(Array(lines.joined(separator: "\n").utf8))
    }

    @Test func everyEventOfTheContractParses() throws {
        let events = try Self.parse([
            #"{"event":"job_start","queue":"q","worker":"W"}"#,
            #"{"event":"job_stop","queue":"q","worker":"W","state":"completed","exec_ns":1500,"wait_ns":20}"#,
            #"{"event":"job_exception","queue":"q","worker":"W","state":"retryable","exec_ns":9}"#,
            #"{"event":"job_stop","queue":"q","worker":"W","state":"snoozed"}"#,
            #"{"event":"inserted","queue":"q","state":"scheduled","count":3}"#,
            "",
            #"{"event":"pruned","queue":"q"}"#,
            #"{"event":"transition","queue":"q","state":"executing","old_state":"available","worker":"W"}"#,
        ])
        #expect(events == [
            .start(queue: "q", worker: "W"),
            .stop(queue: "q", worker: "W", outcome: .completed, execNs: 1500, waitNs: 20),
            .exception(queue: "q", worker: "W", outcome: .retryable, execNs: 9, waitNs: 0),
            .stop(queue: "q", worker: "W", outcome: .snoozed, execNs: 0, waitNs: 0),
            .operation(.inserted, queue: "q", state: .scheduled, worker: nil, count: 3),
            .operation(.pruned, queue: "q", state: nil, worker: nil, count: 1),
            .transition(queue: "q", worker: "W", from: .available, to: .executing, count: 1),
        ])
    }

    @Test(arguments: [
        (#"{"event":"inserted"}"#, "\"queue\" is required"),
        (#"{"event":"nope","queue":"q"}"#, "unknown event \"nope\""),
        (#"{"event":"inserted","queue":"q","count":0}"#, "\"count\" must be an integer"),
        (#"{"event":"inserted","queue":"q","count":true}"#, "\"count\" must be an integer"),
        (#"{"event":"inserted","queue":"q","count":1.5}"#, "\"count\" must be an integer"),
        (#"{"event":"job_stop","queue":"q","worker":"W","state":"executing"}"#, "not an end state"),
        (#"{"event":"job_stop","queue":"q","worker":"W","state":"completed","exec_ns":-1}"#, "\"exec_ns\" must be an integer"),
        (#"{"event":"transition","queue":"q","state":"completed"}"#, "\"old_state\" is required"),
        (#"{"event":"inserted","queue":"q","state":"sleeping"}"#, "is not a job state"),
        (#"{"event":"inserted","queue":"q","colour":"red"}"#, "unknown field \"colour\""),
        (#"{"event":"inserted","queue":""}"#, "non-empty string"),
        ("not json", "not a JSON object"),
    ])
    func aBadLineIsRefusedWithItsNumberAndWhy(line: String, message: String) {
        #expect {
            _ = try Self.parse([#"{"event":"fetched","queue":"q"}"#, "", line])
        } throws: { error in
            guard let e = error as? JobEvent.ParseError else { return false }
            return e.line == 3 && e.message.contains(message)
        }
    }

    @Test func recordedEventsReachTheRecordersNextBatch() throws {
        let recorder = NodeRecorder(origin: Origin(node: "n", incarnation: 1))
        for e in try Self.parse([
            #"{"event":"inserted","queue":"q","count":4}"#,
            #"{"event":"job_start","queue":"q","worker":"W"}"#,
            #"{"event":"job_stop","queue":"q","worker":"W","state":"completed","exec_ns":1000,"wait_ns":5}"#,
        ]) { e.record(into: recorder) }
        let store = SeriesStore()
        store.apply(recorder.takeBatch(timestamp: 1_000), now: 1_000)
        #expect(try store.latest(Selection(series: "inserted", lookback: 60), now: 1_000)["all"] == 4)
        #expect(try store.latest(Selection(series: "exec_time", lookback: 60), op: .count, now: 1_000)["all"] == 1)
    }

    @Test("the label sets an event says it touches are exactly those its recording adds")
    func seriesLabelsMatchWhatIsRecorded() throws {
        let lines = [
            #"{"event":"inserted","queue":"q","count":4}"#,
            #"{"event":"fetched","queue":"q","state":"available","worker":"W"}"#,
            #"{"event":"job_start","queue":"q2","worker":"W"}"#,
            #"{"event":"job_stop","queue":"q","worker":"W","state":"scheduled","exec_ns":1000,"wait_ns":5}"#,
            #"{"event":"job_exception","queue":"q","worker":"V","state":"retryable","exec_ns":10}"#,
            #"{"event":"transition","queue":"q","state":"executing","old_state":"available","worker":"W"}"#,
            #"{"event":"transition","queue":"q","state":"completed","old_state":"executing"}"#,
        ]
        for line in lines {
            let events = try Self.parse([line])
            let recorder = NodeRecorder(origin: Origin(node: "n", incarnation: 1))
            JobEvent.record(events, into: recorder)
            let recorded = Set(recorder.takeBatch(timestamp: 1_000).entries.map { "\($0.series) \($0.labels)" })
            let declared = Set(events.flatMap { $0.seriesLabels(node: "n") }.map { "\($0.series) \($0.labels)" })
            #expect(recorded.isSubset(of: declared), "\(line)")
            // Only the executing level of a stop whose start this node never saw is not reported.
            #expect(declared.subtracting(recorded).allSatisfy { $0.hasPrefix("executing ") }, "\(line)")
        }
    }

    @Test("a request's stops go in bulk, with no handle, unless the request also starts that queue and worker")
    func stopsOfARequestGoInBulk() throws {
        let recorder = NodeRecorder(origin: Origin(node: "n", incarnation: 1))
        let events = try Self.parse([
            #"{"event":"job_start","queue":"q","worker":"W"}"#,
            #"{"event":"job_start","queue":"q","worker":"W"}"#,
            #"{"event":"job_stop","queue":"q","worker":"W","state":"completed","exec_ns":1000,"wait_ns":5}"#,
        ] + (0..<50).map { #"{"event":"job_stop","queue":"tenant-\#($0)","worker":"W","state":"completed","exec_ns":1000,"wait_ns":5}"# })
        JobEvent.record(events, into: recorder)
        #expect(recorder.registeredCount == 1, "only q's handle, which holds an executing level")
        let batch = recorder.takeBatch(timestamp: 1_000)
        let store = SeriesStore()
        store.apply(batch, now: 1_000)
        #expect(try store.latest(Selection(series: "exec_count", lookback: 60), now: 1_000)["all"] == 51)
        #expect(try store.latest(Selection(series: "executing", lookback: 60), now: 1_000)["all"] == 1)
    }
}
