import MetRecorder
import MetStore
import MetValues
import Testing

/// Non-finite, zero, negative and extreme inputs never corrupt what a batch carries.
@Suite struct TrapTests {
    let origin = Origin(node: "n1", incarnation: 1)

    @Test("a sketch instrument refuses NaN and ±infinity and records nothing for them")
    func sketchRefusesNonFinite() throws {
        let recorder = NodeRecorder(origin: origin)
        let s = recorder.sketch("exec_time", labels: LabelSet(["node": "n1", "queue": "q"]))
        #expect(s.record(.nan) == false)
        #expect(s.record(.infinity) == false)
        #expect(s.record(-.infinity) == false)
        #expect(s.record(.signalingNaN) == false)
        #expect(recorder.takeBatch(timestamp: testNow).entries.isEmpty)

        #expect(s.record(5) == true)
        #expect(s.record(.nan) == false)
        let sketch = try #require(recorder.takeBatch(timestamp: testNow + 1).entries.first?.value.sketchValue)
        #expect(sketch.count == 1 && sketch.sum == 5 && sketch.min == 5 && sketch.max == 5)
    }

    @Test("a gauge instrument ignores non-finite levels and moves")
    func gaugeIgnoresNonFinite() throws {
        let recorder = NodeRecorder(origin: origin)
        let g = recorder.gauge("level", labels: LabelSet(["node": "n1"]))
        g.set(.nan)
        g.add(.infinity)
        #expect(recorder.takeBatch(timestamp: testNow).entries.isEmpty)
        g.set(3)
        g.set(.nan)
        g.add(-.infinity)
        g.add(.nan)
        let gauge = try #require(recorder.takeBatch(timestamp: testNow + 1).entries.first?.value.gaugeValue)
        #expect(gauge.last == 3 && gauge.max == 3)
    }

    @Test("zero, negative and extreme job times are recorded with exact count, sum, min and max")
    func extremeJobTimes() throws {
        let recorder = NodeRecorder(origin: origin)
        let h = recorder.handle(queue: "q", worker: "W")
        let execs: [Int64] = [0, -5, 1, Int64.max, 1_000_000]
        for e in execs {
            h.start()
            h.stop(.completed, execNs: e, waitNs: 0)
        }
        let labels = jobLabels(node: "n1", queue: "q", worker: "W", state: "completed")
        let byKey = entriesByKey(recorder.takeBatch(timestamp: testNow))
        let exec = try #require(byKey[SeriesKey(series: "exec_time", labels: labels)]?.sketchValue)
        #expect(exec.count == UInt64(execs.count))
        #expect(exec.min == -5 && exec.max == Double(Int64.max))
        #expect(exec.zeroCount == 1)
        // The outlier costs a page, not the other quantiles.
        #expect(try #require(exec.quantile(0.5)).isFinite)
        #expect(withinRelative(try #require(exec.quantile(0.75)), 1_000_000))
        let wait = try #require(byKey[SeriesKey(series: "wait_time", labels: labels)]?.sketchValue)
        #expect(wait.count == UInt64(execs.count) && wait.zeroCount == UInt64(execs.count))
    }

    @Test("the stripe count is sanitised: non-powers of two and non-positive values still record")
    func oddStripeCounts() {
        for stripes in [-4, 0, 3, 6, 1, 2, 128] {
            let recorder = NodeRecorder(origin: origin, stripes: stripes)
            let h = recorder.handle(queue: "q", worker: "W")
            for _ in 0..<10 {
                h.start()
                h.stop(.completed, execNs: 7, waitNs: 7)
            }
            let exec = recorder.takeBatch(timestamp: testNow).entries.first { $0.series == "exec_time" }
            #expect(exec?.value.sketchValue?.count == 10, "stripes \(stripes)")
        }
    }
}
