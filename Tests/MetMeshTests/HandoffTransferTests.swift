import MetMesh
import MetWire
import Testing

/// The handoff sender's state machine (RELIABILITY H4: cursor resume and duplicate rules) and
/// the fault plane's rules, without sockets.
@Suite struct HandoffTransferTests {
    func drain(_ t: inout HandoffTransfer) -> [Int] {
        var sent: [Int] = []
        while let i = t.takeNext() { sent.append(i) }
        return sent
    }

    @Test func theWindowBoundsWhatIsInFlight() {
        var t = HandoffTransfer(id: 1, successor: "b", incarnation: 1, count: 10, window: 4)
        #expect(drain(&t) == [0, 1, 2, 3])
        let r1 = t.acknowledge(0)
        #expect(r1)
        #expect(drain(&t) == [4])
        let r2 = t.acknowledge(3)
        #expect(r2)  // cumulative: one connection delivers in order
        #expect(drain(&t) == [5, 6, 7])
        #expect(t.inFlight == 4 && t.acknowledged == 4)
    }

    @Test func duplicateStaleAndUnsentAcknowledgementsChangeNothing() {
        var t = HandoffTransfer(id: 1, successor: "b", incarnation: 1, count: 10, window: 4)
        _ = drain(&t)
        let r3 = t.acknowledge(1)
        #expect(r3)
        let r4 = t.acknowledge(1)
        #expect(!r4)
        let r5 = t.acknowledge(0)
        #expect(!r5)
        let r6 = t.acknowledge(7)
        #expect(!r6, "never sent")
        let r7 = t.acknowledge(-1)
        #expect(!r7)
        #expect(t.acknowledged == 2)
    }

    @Test func aDroppedConnectionResumesFromTheFirstUnacknowledgedChunkResendingAtMostTheWindow() {
        var t = HandoffTransfer(id: 1, successor: "b", incarnation: 1, count: 20, window: 4)
        _ = drain(&t)
        t.acknowledge(1)
        _ = drain(&t)  // 4, 5
        t.resume()
        #expect(drain(&t) == [2, 3, 4, 5])
        #expect(t.resent == 4)
        // Running to the end: the end frame is index `count`, and done once it is acknowledged.
        var last = -1
        while !t.isDone {
            let sent = drain(&t)
            if let m = sent.last { last = m }
            t.acknowledge(t.next - 1)
        }
        #expect(last == 20 && t.acknowledged == t.total && t.resent == 4)
        #expect(t.takeNext() == nil)
    }

    @Test func progressIsCountedInQuarters() {
        var t = HandoffTransfer(id: 1, successor: "b", incarnation: 1, count: 7, window: 8)
        _ = drain(&t)
        #expect(t.quarters == 0)
        t.acknowledge(1)
        #expect(t.quarters == 1)
        t.acknowledge(5)
        #expect(t.quarters == 3)
        t.acknowledge(7)
        #expect(t.quarters == 4 && t.isDone)
    }

    @Test func theSuccessorIsTheNextNameOnTheRing() {
        #expect(HandoffTransfer.successor(of: "b", among: ["a", "c", "d"]) == "c")
        #expect(HandoffTransfer.successor(of: "d", among: ["a", "c", "b"]) == "a")
        #expect(HandoffTransfer.successor(of: "a", among: ["a"]) == nil)
        #expect(HandoffTransfer.successor(of: "a", among: [String]()) == nil)
        // The same answer whatever the order the candidates come in.
        #expect(HandoffTransfer.successor(of: "n1", among: ["n3", "n0", "n2"]) == "n2")
        #expect(HandoffTransfer.successor(of: "n1", among: ["n2", "n3", "n0"]) == "n2")
    }

    @Test func faultRulesParseAndUnknownOnesAreRefused() throws {
        let plane = try FaultPlane(parsing: "cut:handoffAck:5,drop:resend:1,kill:handoffChunk:2,stop:batch:3")
        #expect(plane.rules.map(\.action) == [.cut, .drop, .kill, .stop])
        #expect(plane.rules.map(\.type) == [.handoffAck, .resend, .handoffChunk, .batch])
        #expect(plane.rules.map(\.after) == [5, 1, 2, 3])
        #expect(try FaultPlane(parsing: "partition:/tmp/p,cut:batch:1").partitionFile == "/tmp/p")
        let lists = try FaultPlane(parsing: "blackhole:/tmp/b,unread:/tmp/u,partition:/tmp/p")
        #expect(lists.files == [.blackhole: "/tmp/b", .unread: "/tmp/u", .partition: "/tmp/p"])
        for bad in ["cut:handoffAck", "explode:batch:1", "cut:nonsense:1", "cut:batch:0", "cut:batch:x", "partition:", "blackhole:", "unread:"] {
            #expect(throws: FaultPlaneError.self) { try FaultPlane(parsing: bad) }
        }
    }
}
