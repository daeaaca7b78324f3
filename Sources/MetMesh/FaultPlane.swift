import Foundation
import MetWire

/// Test-only fault injection in the mesh (RELIABILITY "fault plane"), enabled only by the
/// hidden `--test-faults` flag. Rules, comma-separated, each `ACTION:FRAME-TYPE:N` (a
/// ``FrameType`` name such as `handoffAck`), counted over the frames this node receives:
///
/// - `cut:TYPE:N` — at the N-th such frame, the connection it came on is closed, once. It is
///   re-dialled like any lost one, so the cut exercises the recovery paths with real sockets.
/// - `drop:TYPE:N` — from the N-th on, such frames are ignored (a peer that never answers).
/// - `kill:TYPE:N` — at the N-th, the process sends itself SIGKILL (a crash at a chosen point).
/// - `stop:TYPE:N` — at the N-th, the process sends itself SIGSTOP (a stall; SIGCONT resumes it).
/// - `partition:PATH` — at every heartbeat the node reads PATH (names of peers, one per line or
///   comma-separated; a missing file is empty) and cuts itself off from those peers: open
///   connections to them close, new ones close as soon as they are established. Emptying the
///   file heals the partition. The test writes the files of both sides.
/// - `blackhole:PATH` — the same list, but silently: connections stay open, every frame to or
///   from those peers vanishes (a black-hole partition, a frozen link).
/// - `unread:PATH` — this node stops reading its connections to those peers (a slow reader):
///   their frames wait in the socket buffers and their writes stall.
package struct FaultPlane: Sendable, Equatable {
    package enum Action: String, Sendable, CaseIterable { case cut, drop, kill, stop }

    package struct Rule: Sendable, Equatable {
        package var action: Action
        package var type: FrameType
        package var after: Int
        var seen = 0
    }

    /// What to do with a received frame.
    enum Verdict: Equatable { case deliver, deliverThenCut, drop }

    package private(set) var rules: [Rule] = []
    /// Files naming peers: those this node is partitioned from (`partition:PATH`), black-holed
    /// from (`blackhole:PATH`), or does not read (`unread:PATH`).
    package enum PeerList: String, Sendable, CaseIterable { case partition, blackhole, unread }
    package private(set) var files: [PeerList: String] = [:]
    /// The file naming the peers this node is partitioned from (`partition:PATH`).
    package var partitionFile: String? { files[.partition] }

    package init() {}

    package init(parsing spec: String) throws(FaultPlaneError) {
        for rule in spec.split(separator: ",") {
            if let list = PeerList.allCases.first(where: { rule.hasPrefix("\($0.rawValue):") }) {
                let path = String(rule.dropFirst(list.rawValue.count + 1))
                guard !path.isEmpty else { throw .init(rule: String(rule)) }
                files[list] = path
                continue
            }
            let parts = rule.split(separator: ":").map(String.init)
            guard parts.count == 3, let action = Action(rawValue: parts[0]),
                  let type = FrameType.allCases.first(where: { "\($0)" == parts[1] }), let n = Int(parts[2]), n >= 1 else {
                throw .init(rule: String(rule))
            }
            rules.append(Rule(action: action, type: type, after: n))
        }
    }

    /// The peers named in one of the files now (empty without one).
    func peers(_ list: PeerList) -> Set<String> {
        guard let path = files[list], let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [] }
        return Set(text.split(whereSeparator: { $0 == "\n" || $0 == "," }).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty })
    }

    /// Counts a received frame and says what happens to it; `kill` and `stop` act at once.
    mutating func received(_ type: FrameType) -> Verdict {
        var verdict = Verdict.deliver
        for i in rules.indices where rules[i].type == type {
            rules[i].seen += 1
            let n = rules[i].seen, at = rules[i].after
            switch rules[i].action {
            case .cut where n == at: verdict = .deliverThenCut
            case .drop where n >= at: return .drop
            case .kill where n == at: kill(getpid(), SIGKILL)
            case .stop where n == at: kill(getpid(), SIGSTOP)
            default: break
            }
        }
        return verdict
    }
}

/// A `--test-faults` rule that could not be parsed.
package struct FaultPlaneError: Error, Equatable, CustomStringConvertible {
    package var rule: String
    package var description: String {
        "unknown fault rule \"\(rule)\" (ACTION:FRAME-TYPE:N with ACTION one of cut, drop, kill, stop, e.g. cut:handoffAck:5; or partition:PATH, blackhole:PATH, unread:PATH)"
    }
}
