import Hummingbird
import MetRuntime

/// `POST /api/events` once its body is read: count the lines, parse and validate them, check
/// the new label sets against the limit, record them. It runs off Swift's cooperative pool
/// (``Blocking``): parsing a 10,000-line body, and waiting for the replica's lock while a
/// burst's merges hold it, would otherwise hold one of the pool's few threads, and every other
/// request, `/api/cluster` among them, would wait behind it.
enum EventIngest {
    enum Outcome: Sendable {
        case tooManyLines(Int)
        case malformed(JobEvent.ParseError)
        case refused(CardinalityRefusal)
        case accepted(Int)
    }

    static func ingest(_ body: ByteBuffer, maxLines: Int, into node: NodeRuntime) async -> Outcome {
        await Blocking.run { run(body, maxLines: maxLines, into: node) }
    }

    /// Nothing is recorded unless every line is valid and no new label set is refused.
    static func run(_ body: ByteBuffer, maxLines: Int, into node: NodeRuntime) -> Outcome {
        let lines = APIRoutes.lineCount(body.readableBytesView)
        guard lines <= maxLines else { return .tooManyLines(lines) }
        let events: [JobEvent]
        do throws(JobEvent.ParseError) {
            events = try JobEvent.parseLines(body.readableBytesView)
        } catch {
            return .malformed(error)
        }
        let wanted = JobEvent.seriesLabels(of: events, node: node.origin.node)
        if let refusal = node.collector.refusal(adding: wanted, origin: node.origin) { return .refused(refusal) }
        JobEvent.record(events, into: node.recorder)
        return .accepted(events.count)
    }
}
