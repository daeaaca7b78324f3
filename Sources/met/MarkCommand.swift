import ArgumentParser
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `met mark LABEL [--at T] [--at-node host:port]`: records a marker through a node's
/// `POST /api/markers`; every time chart of the dashboard draws it.
struct MarkCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "mark",
        abstract: "Record a marker (a deploy, an incident) that every chart of the dashboard draws.",
        discussion: """
        The marker is the node's own data: it replicates to every node, and survives handoff and \
        compaction like any point (its second is kept exactly), until it leaves the retention.

        Examples:
          met mark "deploy v42"
          met mark "incident 1234 resolved" --at 1800000000 --at-node 127.0.0.1:4002

        A node with an httpToken needs it: --token-file, --token or MET_HTTP_TOKEN.
        """
    )

    @Argument(help: "The marker's label (1 to 200 bytes, no control characters).") var label: String
    @Option(help: "The second it marks, in unix seconds (default: now, on the node's clock); at most 60 s ahead, within the retention.")
    var at: Int64?
    @Option(name: .customLong("at-node"), help: "host:port of a node's HTTP API (the default is node1 of cluster-configs/local).")
    var node = "127.0.0.1:4001"
    @Flag(help: "Print the API's JSON answer instead of a sentence.") var json = false
    @OptionGroup var auth: ClientAuth

    func run() async throws {
        guard let url = URL(string: "http://\(node)/api/markers"), url.host != nil else {
            throw ValidationError("--at-node must be host:port, not \(node)")
        }
        var request = URLRequest(url: url)
        request.httpMethod = "POST"
        request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        var body: [String: Any] = ["label": label]
        if let at { body["at"] = at }
        request.httpBody = try JSONSerialization.data(withJSONObject: body)
        try auth.authorize(&request, forWrite: true)
        let (data, response): (Data, URLResponse)
        do {
            (data, response) = try await URLSession.shared.data(for: request)
        } catch {
            FileHandle.standardError.write(Data("met: cannot reach \(node): \(error.localizedDescription)\n".utf8))
            throw ExitCode(1)
        }
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        guard status == 201 else {
            let message = (object?["error"] as? [String: Any])?["message"] as? String ?? String(decoding: data, as: UTF8.self)
            FileHandle.standardError.write(Data("met: \(status): \(message)\n".utf8))
            throw ExitCode(1)
        }
        if json {
            print(String(decoding: data, as: UTF8.self))
        } else {
            let ts = (object?["ts"] as? NSNumber)?.int64Value ?? 0
            let when = Date(timeIntervalSince1970: TimeInterval(ts)).ISO8601Format()
            print("marked \"\(label)\" at \(when) (\(ts)) on \(object?["node"] as? String ?? node)")
        }
    }
}
