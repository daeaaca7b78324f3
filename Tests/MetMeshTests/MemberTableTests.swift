import MetMesh
import Testing

/// Membership rules as a pure value (RELIABILITY M1, M8, M10).
@Suite struct MemberTableTests {
    let me = Member(name: "b", incarnation: 5, address: "127.0.0.1:7001", status: .alive)
    func member(_ name: String, _ inc: UInt64, _ status: Member.Status = .alive) -> Member {
        Member(name: name, incarnation: inc, address: "127.0.0.1:\(7000 + inc)", status: status)
    }

    @Test func gossipAddsMembersAndNewerIncarnationsWin() {
        var t = MemberTable(me: me)
        #expect(t.learn([member("a", 1), member("c", 2)]) == [.joined(member("a", 1)), .joined(member("c", 2))])
        #expect(t.learn(member("a", 1)).isEmpty, "the same member again changes nothing")
        #expect(t.learn(member("a", 0)).isEmpty, "an older incarnation never replaces a newer one")
        #expect(t.learn(member("a", 3, .down)) == [.replaced(old: member("a", 1), new: member("a", 3))])
        #expect(t.learn(member("b", 99)).isEmpty, "nobody else speaks for this node")
        #expect(t.peers.map(\.name) == ["a", "c"])
    }

    @Test func onlyThisNodesOwnConnectionMarksAPeerDown() {
        var t = MemberTable(me: me)
        _ = t.connected(name: "a", incarnation: 1, address: "127.0.0.1:7001")
        #expect(t.learn(member("a", 1, .down)).isEmpty, "gossip cannot kill a member we are connected to")
        #expect(t.disconnected(name: "a", incarnation: 1) == [.down(member("a", 1, .down).with(address: "127.0.0.1:7001"))])
        #expect(t.disconnected(name: "a", incarnation: 1).isEmpty, "down once")
        #expect(t.connected(name: "a", incarnation: 1, address: "127.0.0.1:7001") == [.alive(member("a", 1).with(address: "127.0.0.1:7001"))])
    }

    @Test func anOlderIncarnationOfALiveNameIsRefused() {
        var t = MemberTable(me: me)
        _ = t.connected(name: "a", incarnation: 4, address: "x:1")
        #expect(!t.accepts(name: "a", incarnation: 3))
        #expect(t.connected(name: "a", incarnation: 3, address: "x:2").isEmpty)
        #expect(t.accepts(name: "a", incarnation: 5), "a restart (newer incarnation, new address) is welcome")
        #expect(t.connected(name: "a", incarnation: 5, address: "y:9") == [.replaced(old: Member(name: "a", incarnation: 4, address: "x:1", status: .alive), new: Member(name: "a", incarnation: 5, address: "y:9", status: .alive))])
        #expect(!t.accepts(name: "b", incarnation: 1), "a peer claiming this node's name")
    }

    @Test func exactlyOneConnectionPerPair() {
        // Both ends apply the same rule to the same pair and agree on the survivor.
        for (x, y) in [("a", "b"), ("node-10", "node-9"), ("z", "a")] {
            #expect(MemberTable.keeps(dialler: x, listener: y) != MemberTable.keeps(dialler: y, listener: x))
        }
        var t = MemberTable(me: me)
        _ = t.learn([member("a", 1), member("c", 1), member("d", 1)])
        #expect(t.toDial.map(\.name) == ["c", "d"], "b dials the names after it; a dials b")
    }

    @Test func memberListsRoundTripAndRefuseGarbage() throws {
        let list = [me, member("a", 1), member("c", 9, .down)]
        #expect(try MemberListCodec.decode(MemberListCodec.encode(list)) == list)
        #expect(throws: (any Error).self) { try MemberListCodec.decode([5, 1, 0x61]) }
        var bad = MemberListCodec.encode([me])
        bad[bad.count - 1] = 9
        #expect(throws: (any Error).self) { try MemberListCodec.decode(bad) }
    }
}

extension Member {
    func with(address: String) -> Member {
        var m = self
        m.address = address
        return m
    }
}
