import Foundation
import MetTestSupport
import Testing

/// Peers that send garbage, oversized lengths, unknown versions, nothing at all, or the wrong
/// secret are cut off; the real nodes carry on (RELIABILITY S1, S2, S6, S7, B3).
@Suite(.serialized, .reapsProcesses) struct HostilePeerTests {
    @Test(.timeLimit(.minutes(4)))
    func hostilePeersAreCutOffWhileTheRestCarryOn() async throws {
        let a = try await MetProcess(name: "a")
        let b = try await MetProcess(name: "b", seeds: [a.meshAddress])
        var nodes = [a, b]

        var random = SplitMix64(seed: 0x5EED_4)
        let garbage = (0..<256).map { _ in UInt8.random(in: 0...255, using: &random) }
        let attacks: [(String, [UInt8])] = [
            ("random bytes", garbage),
            ("length 0xFFFFFFFF", [0xFF, 0xFF, 0xFF, 0xFF, 1, 1]),
            ("unknown protocol version", [0, 0, 0, 2, 99, 1]),
            ("oversized pre-auth frame", [0, 0, 0x10, 0, 1, 1] + [UInt8](repeating: 0, count: 64)),
            ("silence (no handshake)", []),
        ]
        for (what, bytes) in attacks {
            let client = try RawClient(a.meshAddress)
            client.send(bytes)
            #expect(client.closedByPeer(within: 4), "\(what): the node kept the connection open")
        }

        // Real processes with the wrong secret, or the right secret and another cluster name.
        let wrongSecret = try await MetProcess(name: "mallory", seeds: [a.meshAddress], secret: "not-the-cluster-secret-at-all-0000")
        let otherCluster = try await MetProcess(name: "trudy", seeds: [a.meshAddress], arguments: ["--cluster", "other"])
        nodes += [wrongSecret, otherCluster]

        try await ClusterTests.post(to: a, inserted: 3)
        try await ClusterTests.post(to: b, inserted: 4)
        try await waitUntil("a and b converge while being attacked") {
            let ta = await ClusterTests.total(a), tb = await ClusterTests.total(b)
            return ta == 7 && tb == 7
        }
        // The impostors saw nothing of the cluster, and the cluster nothing of them.
        #expect(await ClusterTests.total(wrongSecret) == 0)
        #expect(await ClusterTests.total(otherCluster) == 0)
        for n in [a, b] {
            let known = await n.members("alive").union(await n.members("down"))
            #expect(!known.contains("mallory") && !known.contains("trudy"), "\(n.name) knows \(known)")
        }
        // One line per remote address per minute, however many connections were refused.
        let refusals = a.log.split(separator: "\n").filter { $0.contains("connection from 127.0.0.1") }
        #expect(refusals.count == 1, "\(refusals)")
        #expect(!a.log.contains(MetProcess.secret) && !b.log.contains(MetProcess.secret), "RELIABILITY S9: the secret reached a log")
    }

    @Test(.timeLimit(.minutes(4)), arguments: [
        (nil, [String](), "no cluster secret"),
        ("short-secret", [], "at least 16 are required"),
        (MetProcess.secret, ["--listen", "0.0.0.0:0"], "set \"advertise\""),
        (MetProcess.secret, ["--seed", "nowhere"], "is not host:port"),
    ] as [(String?, [String], String)])
    func aNodeRefusesToStartOnABadConfigurationAndSaysWhy(secret: String?, arguments: [String], message: String) async throws {
        let node = try await MetProcess(name: "bad", arguments: arguments, secret: secret, waitForHTTP: false)
        try await waitUntil("the node exits") { !node.process.isRunning }
        #expect(node.process.terminationStatus != 0)
        #expect(node.log.contains(message), "\(node.log)")
    }

    @Test(.timeLimit(.minutes(4)))
    func aBadEventLineRejectsTheWholeRequestWithItsLineNumber() async throws {
        let a = try await MetProcess(name: "a")
        let (status, body) = try await a.post(events: [
            #"{"event":"inserted","queue":"q","count":5}"#,
            "",
            #"{"event":"job_stop","queue":"q","worker":"W","state":"running"}"#,
        ])
        #expect(status == 400)
        let error = try JSONSerialization.jsonObject(with: body) as? [String: Any]
        #expect((error?["error"] as? [String: Any])?["line"] as? Int == 3)
        // Nothing of the request was recorded; a good request afterwards is.
        try await ClusterTests.post(to: a, inserted: 2)
        try await waitUntil("the good request is visible") { await ClusterTests.total(a) == 2 }
        let (badStatus, _) = try await a.get("/api/latest/inserted?lookback=abc")
        #expect(badStatus == 400)
        let (missing, _) = try await a.get("/api/timeslice/no_such_series")
        #expect(missing == 404)
    }
}
