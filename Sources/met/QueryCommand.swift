import ArgumentParser
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `met query [--at host:port] KIND [SERIES|LABEL] [options]`: the HTTP API of a node, printed
/// as a table or, with `--json`, as its JSON.
struct QueryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "query",
        abstract: "Query a node's HTTP API: latest, timeslice, summary, series, labels, checks or cluster.",
        discussion: """
        Examples:
          met query latest inserted --group queue --lookback 60
          met query timeslice exec_time --by 60 --op p99 --filter queue:default,mailers
          met query labels queue
          met query cluster --json

        A node whose reads are guarded (httpReadToken) needs a token: --token-file, --token, \
        MET_HTTP_TOKEN or MET_HTTP_READ_TOKEN.
        """
    )

    enum Kind: String, ExpressibleByArgument, CaseIterable {
        case latest, timeslice, summary, series, labels, checks, cluster
    }

    @Option(help: "host:port of a node's HTTP API (default: node1 of cluster-configs/local).") var at = "127.0.0.1:4001"
    @Flag(help: "Print the API's JSON instead of a table.") var json = false
    @OptionGroup var auth: ClientAuth
    @Argument(help: "What to ask: \(Kind.allCases.map(\.rawValue).joined(separator: ", ")).") var kind: Kind
    @Argument(help: "The series (latest, timeslice, summary) or the label (labels).") var name: String?
    @Option(help: "Group by this label.") var group: String?
    @Option(name: .customLong("filter"), help: "label:v1,v2 (repeatable; all must match).") var filters: [String] = []
    @Option(help: "Seconds back from now.") var lookback: Int?
    @Option(help: "Start at this unix second instead of a lookback.") var since: Int?
    @Option(help: "End the window at this unix second (default now), so columns line up across calls.") var until: Int?
    @Option(help: "Bucket width in seconds (timeslice: default follows the range, about 100 buckets; summary: 60).") var by: Int?
    @Option(help: "timeslice: give every group every bucket, zero or null when empty.") var fill: String?
    @Option(help: "sum, max, avg, count or pNN.") var op: String?

    func validate() throws {
        switch kind {
        case .latest, .timeslice, .summary, .labels:
            guard name != nil else { throw ValidationError("\(kind.rawValue) needs a \(kind == .labels ? "label" : "series") name") }
        case .series, .checks, .cluster:
            guard name == nil else { throw ValidationError("\(kind.rawValue) takes no name") }
        }
    }

    var url: URL? {
        var components = URLComponents()
        components.scheme = "http"
        let parts = at.split(separator: ":")
        components.host = parts.dropLast().joined(separator: ":")
        components.port = parts.last.flatMap { Int($0) }
        components.path = "/api/\(kind.rawValue)" + (name.map { "/\($0)" } ?? "")
        var items: [URLQueryItem] = []
        if let group { items.append(.init(name: "group", value: group)) }
        for f in filters { items.append(.init(name: "filter", value: f)) }
        if let lookback { items.append(.init(name: "lookback", value: String(lookback))) }
        if let since { items.append(.init(name: "since", value: String(since))) }
        if let until { items.append(.init(name: "until", value: String(until))) }
        if let fill { items.append(.init(name: "fill", value: fill)) }
        if let by { items.append(.init(name: "by", value: String(by))) }
        if let op { items.append(.init(name: "op", value: op)) }
        components.queryItems = items.isEmpty ? nil : items
        return components.url
    }

    func run() async throws {
        guard let url else { throw ValidationError("--at must be host:port, not \(at)") }
        let (data, response): (Data, URLResponse)
        var request = URLRequest(url: url)
        try auth.authorize(&request, forWrite: false)
        do {
            (data, response) = try await URLSession.shared.data(for: request)
        } catch {
            FileHandle.standardError.write(Data("met: cannot reach \(at): \(error.localizedDescription)\n".utf8))
            throw ExitCode(1)
        }
        let status = (response as? HTTPURLResponse)?.statusCode ?? 0
        guard status == 200 else {
            let message = (try? JSONSerialization.jsonObject(with: data) as? [String: Any])
                .flatMap { $0["error"] as? [String: Any] }?["message"] as? String ?? String(decoding: data, as: UTF8.self)
            FileHandle.standardError.write(Data("met: \(status): \(message)\n".utf8))
            throw ExitCode(1)
        }
        if json {
            print(String(decoding: data, as: UTF8.self))
            return
        }
        print(Table.render(kind: kind.rawValue, json: try JSONSerialization.jsonObject(with: data)))
    }
}
