import Foundation
import Testing

/// The `met query` CLI against a real node.
@Suite(.reapsProcesses) struct QueryCommandTests {
    /// `met query` prints the API as a table or as JSON, and exits 1 with the API's message.
    @Test(.timeLimit(.minutes(4)))
    func metQueryPrintsTablesAndJSONAndFailsClearly() async throws {
        let a = try await MetProcess(name: "a")
        try await ClusterTests.post(to: a, inserted: 4, queue: "mailers")
        try await waitUntil("the events are visible") { await ClusterTests.total(a) == 4 }
        let table = try Self.met(["query", "--at", a.httpAddress, "latest", "inserted", "--group", "queue", "--lookback", "600"])
        #expect(table.status == 0 && table.output.contains("mailers") && table.output.contains("4"), "\(table)")
        let json = try Self.met(["query", "--at", a.httpAddress, "--json", "cluster"])
        #expect(json.status == 0 && json.output.contains("\"node\":\"a\""), "\(json)")
        let missing = try Self.met(["query", "--at", a.httpAddress, "latest", "no_such_series"])
        #expect(missing.status == 1 && missing.output.contains("404") && missing.output.contains("unknown series"), "\(missing)")
        let unreachable = try Self.met(["query", "--at", "127.0.0.1:1", "cluster"])
        #expect(unreachable.status == 1 && unreachable.output.contains("cannot reach"), "\(unreachable)")
    }

    /// Runs the `met` executable to completion; its exit status and its stdout and stderr together.
    static func met(_ arguments: [String]) throws -> (status: Int32, output: String) {
        let p = Process()
        p.executableURL = MetProcess.binary
        p.arguments = arguments
        let pipe = Pipe()
        p.standardOutput = pipe
        p.standardError = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return (p.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}
