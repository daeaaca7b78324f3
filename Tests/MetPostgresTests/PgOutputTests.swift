import MetPostgres
import Testing

/// `pgoutput` messages (protocol 1) decoded strictly, and turned into job changes of `oban_jobs`.
@Suite struct PgOutputTests {
    /// Builds a message the way the server writes it: network order, NUL-terminated strings.
    struct Bytes {
        var b: [UInt8] = []
        mutating func u8(_ v: UInt8) { b.append(v) }
        mutating func ch(_ c: Character) { b.append(c.asciiValue!) }
        mutating func u16(_ v: UInt16) { b += [UInt8(v >> 8), UInt8(v & 0xff)] }
        mutating func u32(_ v: UInt32) { for s in stride(from: 24, through: 0, by: -8) { b.append(UInt8(truncatingIfNeeded: v >> UInt32(s))) } }
        mutating func u64(_ v: UInt64) { u32(UInt32(v >> 32)); u32(UInt32(truncatingIfNeeded: v)) }
        mutating func str(_ s: String) { b += Array(s.utf8) + [0] }
        mutating func tuple(_ values: [String?]) {
            u16(UInt16(values.count))
            for v in values {
                if let v { ch("t"); u32(UInt32(v.utf8.count)); b += Array(v.utf8) } else { ch("n") }
            }
        }
    }

    static func begin(xid: UInt32) -> [UInt8] { var m = Bytes(); m.ch("B"); m.u64(0x1234); m.u64(77); m.u32(xid); return m.b }
    static func commit(lsn: UInt64) -> [UInt8] { var m = Bytes(); m.ch("C"); m.u8(0); m.u64(lsn); m.u64(lsn + 8); m.u64(77); return m.b }
    static func relation(_ id: UInt32, _ ns: String, _ name: String, _ columns: [String]) -> [UInt8] {
        var m = Bytes(); m.ch("R"); m.u32(id); m.str(ns); m.str(name); m.ch("d"); m.u16(UInt16(columns.count))
        for c in columns { m.u8(c == "id" ? 1 : 0); m.str(c); m.u32(23); m.u32(UInt32(bitPattern: -1)) }
        return m.b
    }
    static func insert(_ rel: UInt32, _ row: [String?]) -> [UInt8] { var m = Bytes(); m.ch("I"); m.u32(rel); m.ch("N"); m.tuple(row); return m.b }
    static func update(_ rel: UInt32, old: (Character, [String?])? = nil, _ row: [String?]) -> [UInt8] {
        var m = Bytes(); m.ch("U"); m.u32(rel)
        if let old { m.ch(old.0); m.tuple(old.1) }
        m.ch("N"); m.tuple(row); return m.b
    }
    static func delete(_ rel: UInt32, _ kind: Character, _ row: [String?]) -> [UInt8] { var m = Bytes(); m.ch("D"); m.u32(rel); m.ch(kind); m.tuple(row); return m.b }
    static func truncate(_ rels: [UInt32]) -> [UInt8] { var m = Bytes(); m.ch("T"); m.u32(UInt32(rels.count)); m.u8(0); for r in rels { m.u32(r) }; return m.b }

    func decode(_ bytes: [UInt8]) throws -> PgOutputMessage { try PgOutputMessage.decode(bytes[...]) }

    @Test func messagesDecode() throws {
        #expect(try decode(Self.begin(xid: 4_000_000_000)) == .begin(finalLSN: 0x1234, xid: 4_000_000_000))
        #expect(try decode(Self.commit(lsn: 99)) == .commit(lsn: 99, endLSN: 107))
        #expect(try decode(Self.relation(7, "", "t", ["id", "state"])) == .relation(PgRelation(id: 7, namespace: "pg_catalog", name: "t", columns: ["id", "state"])))
        #expect(try decode(Self.insert(7, ["1", nil])) == .insert(relation: 7, new: [.text("1"), .null]))
        #expect(try decode(Self.update(7, old: ("K", ["1", nil]), ["2", "x"])) == .update(relation: 7, old: [.text("1"), .null], new: [.text("2"), .text("x")]))
        #expect(try decode(Self.update(7, ["2", "x"])) == .update(relation: 7, old: nil, new: [.text("2"), .text("x")]))
        #expect(try decode(Self.delete(7, "O", ["2", "x"])) == .delete(relation: 7, old: [.text("2"), .text("x")]))
        #expect(try decode(Self.truncate([7, 8])) == .truncate(relations: [7, 8]))
        #expect(try decode([UInt8(ascii: "Y"), 1, 2]) == .other(UInt8(ascii: "Y")))
    }

    @Test func corruptMessagesThrowAndNeverCrash() {
        let valid = [Self.begin(xid: 5), Self.commit(lsn: 9), Self.relation(7, "public", "oban_jobs", ["id", "state", "queue"]),
                     Self.insert(7, ["1", "available", "q"]), Self.update(7, old: ("O", ["1", "available", "q"]), ["1", "executing", "q"]),
                     Self.delete(7, "K", ["1", nil, nil]), Self.truncate([7])]
        var refused = 0
        var rng = UInt64(0x9e37_79b9)
        for bytes in valid {
            #expect(throws: PgOutputError.self) { try decode(bytes + [0]) }
            for cut in 0..<bytes.count { if (try? decode(Array(bytes.prefix(cut)))) == nil { refused += 1 } }
            for _ in 0..<300 {
                var b = bytes
                rng = rng &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
                b[Int(rng >> 33) % b.count] ^= UInt8(truncatingIfNeeded: rng >> 7) | 1
                if (try? decode(b)) == nil { refused += 1 }
            }
        }
        #expect(refused > 1_000)
        // A tuple claiming 65,535 columns in 3 bytes, a value claiming 2 GiB: refused before allocating.
        #expect(throws: PgOutputError.self) { try decode([UInt8(ascii: "I"), 0, 0, 0, 7, UInt8(ascii: "N"), 0xff, 0xff, 1]) }
        #expect(throws: PgOutputError.self) { try decode([UInt8(ascii: "I"), 0, 0, 0, 7, UInt8(ascii: "N"), 0, 1, UInt8(ascii: "t"), 0x7f, 0xff, 0xff, 0xff]) }
        #expect(throws: PgOutputError.self) { try decode([UInt8(ascii: "T"), 0x7f, 0xff, 0xff, 0xff, 0]) }
    }

    @Test func theStreamBecomesJobChangesOfOneTable() throws {
        var stream = JobChangeStream(namespace: "public", maxChanges: 3)
        func feed(_ messages: [[UInt8]]) throws -> [JobChangeStream.Transaction] {
            try messages.compactMap { try stream.feed(try decode($0)) }
        }
        typealias G = JobChangeStream.Group
        #expect(throws: PgOutputError.self) { _ = try feed([Self.begin(xid: 1), Self.insert(7, ["1", "available", "q"])]) }  // before its description
        stream = JobChangeStream(namespace: "public", maxChanges: 3)
        let done = try feed([
            Self.relation(7, "public", "oban_jobs", ["id", "state", "queue"]),
            Self.relation(8, "other", "oban_jobs", ["id", "state", "queue"]),
            Self.begin(xid: 10), Self.insert(8, ["1", "available", "q"]), Self.commit(lsn: 100),  // another schema's table: nothing
            Self.begin(xid: 11), Self.insert(7, ["1", "available", "q"]), Self.update(7, ["2", "executing", "q"]),
            Self.update(7, old: ("O", ["3", "available", "q"]), ["3", "completed", "q"]), Self.commit(lsn: 200),
            Self.begin(xid: 12), Self.delete(7, "K", ["4", nil, nil]), Self.update(7, old: ("K", ["5", nil, nil]), ["6", "available", "q"]),
            Self.commit(lsn: 300),
            Self.begin(xid: 13), Self.truncate([8]), Self.commit(lsn: 400),
            Self.begin(xid: 14), Self.truncate([7]), Self.commit(lsn: 500),
            Self.begin(xid: 15), Self.update(7, ["1", "executing", "q"]), Self.update(7, ["2", "completed", "q"]),
            Self.update(7, ["7", "executing", "q"]), Self.update(7, ["8", "executing", "q"]), Self.commit(lsn: 600),
        ])
        #expect(done.map(\.xid) == [11, 12, 14, 15])
        #expect(done[0] == .init(xid: 11, lsn: 200, changes: [.init(job: 1, new: G(state: "available", queue: "q"), inserted: true),
                                                              .init(job: 2, new: G(state: "executing", queue: "q")),
                                                              .init(job: 3, old: G(state: "available", queue: "q"), new: G(state: "completed", queue: "q"))]))
        #expect(done[1].changes == [.init(job: 4, new: nil), .init(job: 5, new: nil), .init(job: 6, new: G(state: "available", queue: "q"), inserted: true)],
                "a key that changed: the old row goes, a new one comes")
        #expect(done[2].needsRecount && done[2].changes.isEmpty, "a truncation")
        #expect(done[3].needsRecount && done[3].changes.isEmpty, "more rows than kept")
        #expect(throws: PgOutputError.self) {  // a publication without the columns
            _ = try stream.feed(try decode(Self.relation(7, "public", "oban_jobs", ["id", "queue"])))
        }
    }
}
