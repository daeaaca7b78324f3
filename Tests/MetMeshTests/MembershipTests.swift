import MetMesh
import MetWire
import Testing

/// The member list and its failure detector as a pure value, on a clock the test moves
/// (RELIABILITY M1–M11): identity rules, suspicion timing, indirect evidence, the local-health
/// guard, refutation, flapping and reaping.
@Suite struct MembershipTests {
    static let me = Member(name: "b", incarnation: 5, address: "127.0.0.1:7001", status: .alive)
    /// Heartbeat 1 s, suspect at 2.5 s, down at 6 s, evidence counts for 2 s; ticks of 250 ms.
    static let tick: UInt64 = 250

    func record(_ name: String, _ inc: UInt64) -> MemberRecord { MemberRecord(name: name, incarnation: inc, address: "127.0.0.1:\(7000 + inc)") }
    func id(_ name: String, _ inc: UInt64 = 1) -> PeerIdentity { PeerIdentity(node: name, incarnation: inc) }

    /// `names` connected at time 0.
    func connected(_ names: [String], timings: MembershipTimings = MembershipTimings()) -> Membership {
        var m = Membership(me: Self.me, timings: timings)
        for n in names { _ = m.connected(id(n), address: "\(n):1", now: 0) }
        _ = m.tick(now: 0, every: Self.tick)
        return m
    }

    /// Ticks every 250 ms from `from` to `to` (inclusive), with `heard` hearing the named
    /// members at every tick; returns every action.
    func run(_ m: inout Membership, from: UInt64, to: UInt64, hearing heard: [String] = []) -> [MembershipAction] {
        var actions: [MembershipAction] = []
        var now = from
        while now <= to {
            for h in heard { actions += m.heard(h, now: now) }
            actions += m.tick(now: now, every: Self.tick)
            now += Self.tick
        }
        return actions
    }

    func statuses(_ actions: [MembershipAction]) -> [String] {
        actions.compactMap { if case .transition(let t) = $0, case .status = t.change { return "\(t.member.name) \(t.member.status.rawValue)" }; return nil }
    }

    func probes(_ actions: [MembershipAction]) -> [String] {
        actions.compactMap { if case .probe(let p) = $0 { return p.node }; return nil }
    }

    @Test func gossipAddsMembersAndNewerIncarnationsWin() {
        var m = Membership(me: Self.me)
        let joined = m.learn([record("a", 1), record("c", 2)], now: 0)
        #expect(joined.count == 2 && m.peers.map(\.name) == ["a", "c"])
        #expect(m.learn([record("a", 1)], now: 1).isEmpty, "the same member again changes nothing")
        #expect(m.learn([record("a", 0)], now: 1).isEmpty, "an older incarnation never replaces a newer one")
        let restarted = m.learn([record("a", 3)], now: 2_000)
        var expected = MemberTransition(member: Member(name: "a", incarnation: 3, address: "127.0.0.1:7003", status: .alive), change: .restarted(from: 1), previousFor: 2_000)
        expected.oldStatus = "alive"
        #expect(restarted == [.transition(expected)])
        #expect(expected.description == "member a restarted: incarnation 1 → 3 (incarnation 1 had been alive for 2.0 s)", "O1")
        #expect(m.learn([record("b", 99)], now: 3).isEmpty, "nobody else speaks for this node")
    }

    @Test func anOlderIncarnationOfALiveNameIsRefused() {
        var m = Membership(me: Self.me)
        _ = m.connected(id("a", 4), address: "x:1", now: 0)
        #expect(!m.accepts(name: "a", incarnation: 3))
        #expect(m.connected(id("a", 3), address: "x:2", now: 1).isEmpty)
        #expect(m.accepts(name: "a", incarnation: 5), "a restart (newer incarnation, new address) is welcome")
        #expect(!m.accepts(name: "b", incarnation: 1), "a peer claiming this node's name")
        #expect(m.member("a")?.address == "x:1")
    }

    @Test func exactlyOneConnectionPerPair() {
        for (x, y) in [("a", "b"), ("node-10", "node-9"), ("z", "a")] {
            #expect(Membership.keeps(dialler: x, listener: y) != Membership.keeps(dialler: y, listener: x))
        }
        var m = Membership(me: Self.me)
        _ = m.learn([record("a", 1), record("c", 1), record("d", 1)], now: 0)
        #expect(m.toDial.map(\.name) == ["c", "d"], "b dials the names after it; a dials b")
    }

    /// M2: a silent peer is suspect after 2.5 s (asked about at once) and down after 6 s when
    /// nobody vouches for it; its connection is closed then. Timing table in 250 ms ticks.
    @Test func aSilentPeerNobodyHearsIsSuspectThenDown() {
        var m = connected(["a", "c"])
        let early = run(&m, from: 250, to: 2250, hearing: ["c"])
        #expect(statuses(early).isEmpty, "no verdict before 2.5 s of silence")
        let suspect = run(&m, from: 2500, to: 2500, hearing: ["c"])
        #expect(statuses(suspect) == ["a suspect"] && probes(suspect) == ["a"])
        let suspectLine = suspect.compactMap { if case .transition(let t) = $0 { return t.description }; return nil }.first ?? ""
        #expect(suspectLine.hasPrefix("member a suspect: no frame for 2.5 s") && suspectLine.hasSuffix("(was alive for 2.5 s)"), "O1: \(suspectLine)")
        // c answers: it has not heard a for as long.
        #expect(m.evidence(about: id("a"), from: "c", heardAgo: 2600, now: 2600).isEmpty)
        let middle = run(&m, from: 2750, to: 5750, hearing: ["c"])
        #expect(statuses(middle).isEmpty)
        #expect(probes(middle) == ["a", "a", "a"], "asked again every heartbeat")
        let down = run(&m, from: 6000, to: 6000, hearing: ["c"])
        #expect(statuses(down) == ["a down"])
        #expect(down.contains(.close("a", reason: "no frame for 6.0 s")))
        let line = down.compactMap { if case .transition(let t) = $0 { return t.description }; return nil }.first
        #expect(line == "member a down: no frame for 6.0 s; 1 of 1 peer agrees (was suspect for 3.5 s)", "O1: reason and duration")
    }

    /// M3: a peer another peer heard within 2 s is alive (indirect), never down, however long
    /// this node has not heard it.
    @Test func aPeerAnotherPeerHearsStaysAliveIndirect() {
        var m = connected(["a", "c"])
        _ = run(&m, from: 250, to: 2500, hearing: ["c"])
        let vouched = m.evidence(about: id("a"), from: "c", heardAgo: 300, now: 2600)
        #expect(statuses(vouched) == ["a alive (indirect)"])
        var now: UInt64 = 2750
        var all: [MembershipAction] = []
        while now <= 60_000 {
            all += m.heard("c", now: now) + m.tick(now: now, every: Self.tick)
            if now % 1000 == 0 { all += m.evidence(about: id("a"), from: "c", heardAgo: 400, now: now) }  // c keeps hearing a
            now += Self.tick
        }
        #expect(statuses(all).isEmpty, "\(statuses(all))")
        #expect(all.contains(.close("a", reason: "no frame for 6.0 s")), "the silent connection is closed and re-dialled")
        #expect(m.member("a")?.status == .indirect)
        #expect(m.voucher(for: id("a"), now: now) == "c")
        // c stops hearing a too: down once c's word is older than the window.
        all = m.evidence(about: id("a"), from: "c", heardAgo: nil, now: now)
        all += run(&m, from: now + 250, to: now + 2500, hearing: ["c"])
        #expect(statuses(all) == ["a down"])
    }

    /// M1 with M3: a closed connection makes the peer suspect at once; down after the
    /// confirmation when the others say they have lost it too, never before they had a chance.
    @Test func aClosedConnectionIsDownOnceThePeersAgree() {
        var m = connected(["a", "c", "d"])
        let closed = m.disconnected(id("a"), now: 1000)
        #expect(statuses(closed) == ["a suspect"] && probes(closed) == ["a"])
        _ = m.evidence(about: id("a"), from: "c", heardAgo: nil, now: 1005)
        _ = m.evidence(about: id("a"), from: "d", heardAgo: nil, now: 1006)
        let down = run(&m, from: 1250, to: 2000, hearing: ["c", "d"])
        #expect(statuses(down) == ["a down"])
        let line = down.compactMap { if case .transition(let t) = $0 { return t.description }; return nil }.first
        #expect(line == "member a down: its connection closed 1.0 s ago; 2 of 2 peers agree (was suspect for 1.0 s)")
    }

    /// M5: a node whose own tick came 10 s late (it was stopped) accuses nobody for two
    /// heartbeats, even though every peer looks silent and its connections were closed.
    @Test func aNodeThatStalledAccusesNobodyForTwoHeartbeats() {
        var m = connected(["a", "c"])
        _ = run(&m, from: 250, to: 1000, hearing: ["a", "c"])
        var after = m.tick(now: 11_000, every: Self.tick)
        #expect(after.contains { if case .log(let l) = $0 { return l.contains("stalled for 9.8 s") }; return false })
        after += m.disconnected(id("a"), now: 11_010)
        after += run(&m, from: 11_250, to: 12_750, hearing: ["c"])
        #expect(statuses(after).isEmpty, "0 accusations within the guard")
        #expect(m.isGuarded(now: 12_750) && !m.isGuarded(now: 13_000))
        // a reconnects within the guard: alive all along.
        _ = m.connected(id("a"), address: "a:1", now: 12_800)
        #expect(statuses(run(&m, from: 13_000, to: 14_000, hearing: ["a", "c"])).isEmpty)
    }

    /// M6: a suspect that sends a frame, or a down one that connects again, is alive again.
    @Test func aFreshFrameOrConnectionRefutesSuspicion() {
        var m = connected(["a", "c"])
        _ = run(&m, from: 250, to: 2500, hearing: ["c"])
        #expect(m.member("a")?.status == .suspect)
        #expect(statuses(m.heard("a", now: 2600)) == ["a alive"])
        #expect(m.member("a")?.status == .alive)
        _ = m.disconnected(id("a"), now: 3000)
        _ = run(&m, from: 3250, to: 4250, hearing: ["c"])
        #expect(m.member("a")?.status == .down)
        let back = m.connected(id("a"), address: "a:1", now: 5000)
        #expect(statuses(back) == ["a alive"])
        #expect(back.compactMap { if case .transition(let t) = $0 { return t.reason }; return nil } == ["connected after 1.0 s down"])
        let newer = m.connected(id("a", 2), address: "a:2", now: 5100)
        #expect(newer.first.map { if case .transition(let t) = $0 { return t.change == .restarted(from: 1) }; return false } == true)
    }

    /// M7: more than three down/up cycles in 60 s log one flapping line.
    @Test func aPeerThatFlapsIsReportedOnce() {
        var m = connected(["a", "c"])
        var lines: [String] = []
        var now: UInt64 = 1000
        for _ in 0..<6 {
            for a in m.disconnected(id("a"), now: now) + run(&m, from: now + 250, to: now + 1250, hearing: ["c"]) {
                if case .log(let l) = a { lines.append(l) }
            }
            _ = m.connected(id("a"), address: "a:1", now: now + 1500)
            now += 2000
        }
        #expect(lines.filter { $0.contains("flapping") }.count == 1, "\(lines)")
        #expect(m.isFlapping("a"))
    }

    /// M11: a member down and unheard of for the reap period is forgotten.
    @Test func aDepartedMemberIsReapedAfterTheConfiguredPeriod() {
        var timings = MembershipTimings()
        timings.reapAfter = 60_000
        var m = connected(["a", "c"], timings: timings)
        _ = m.disconnected(id("a"), now: 1000)
        _ = run(&m, from: 1250, to: 2500, hearing: ["c"])
        #expect(m.member("a")?.status == .down)
        let later = run(&m, from: 2750, to: 61_250, hearing: ["c"])
        #expect(later.contains { if case .transition(let t) = $0 { return t.change == .reaped && t.member.name == "a" }; return false })
        #expect(m.member("a") == nil && m.member("c") != nil)
    }

    @Test func memberListsRoundTripAndRefuseGarbage() throws {
        let list = [Self.me.record, record("a", 1), record("c", 9)]
        #expect(try MemberListCodec.decode(MemberListCodec.encode(list)) == list)
        #expect(throws: (any Error).self) { try MemberListCodec.decode([5, 1, 0x61]) }
        var bad = MemberListCodec.encode([Self.me.record])
        bad.append(9)
        #expect(throws: (any Error).self) { try MemberListCodec.decode(bad) }
    }
}
