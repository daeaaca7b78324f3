import Foundation
import ObanMet

/// The body of a simulated job: it runs for a random time, then ends as the rates say.
///
/// By default the time is uniform between `minMs` and `maxMs` and the rates are the command
/// line's. A job whose args hold a `"simulate"` object (``Profile``) runs by its numbers
/// instead, so one queue can mix workers as different as production's: a mailer of 40 ms, an
/// export of 2 s with a long tail, a webhook that fails one time in six.
struct SimulatedJob: Sendable {
    var minMs: Int, maxMs: Int
    var retryable: Double, discard: Double, snooze: Double, cancel: Double

    struct Failure: Error, CustomStringConvertible {
        var description: String { "met worker: simulated failure" }
    }

    /// The per-job numbers of `{"simulate": {...}}` in a job's args; every field optional.
    struct Profile: Decodable, Equatable {
        /// Median run time (ms) of a lognormal distribution.
        var ms: Double?
        /// Shape of the lognormal (the standard deviation of the run time's logarithm); default 0.5.
        var sigma: Double?
        /// The longest run time (ms); default 20 × `ms`.
        var maxMs: Double?
        var retry: Double?, discard: Double?, snooze: Double?, cancel: Double?

        enum CodingKeys: String, CodingKey {
            case ms, sigma, maxMs = "max_ms", retry, discard, snooze, cancel
        }

        private struct Args: Decodable { var simulate: Profile? }

        /// The profile in `args` (JSON text), or nil when there is none or it does not parse.
        static func of(args: String) -> Profile? {
            guard args.contains("\"simulate\"") else { return nil }
            return (try? JSONDecoder().decode(Args.self, from: Data(args.utf8)))?.simulate
        }
    }

    /// How a job ends.
    enum Ending: Equatable {
        case completed, retryable, discarded, snoozed, cancelled
    }

    /// The run time (ms) and ending of one run of `job`, drawn with `random`.
    func plan(args: String, using random: inout some RandomNumberGenerator) -> (ms: Double, ending: Ending) {
        let profile = Profile.of(args: args)
        let ms: Double
        if let median = profile?.ms, median > 0 {
            let sigma = max(0, profile?.sigma ?? 0.5)
            // Box–Muller: a standard normal from two uniforms (u1 in (0, 1], so the log is finite).
            let u1 = 1 - Double.random(in: 0..<1, using: &random), u2 = Double.random(in: 0..<1, using: &random)
            let z = (-2 * log(u1)).squareRoot() * cos(2 * .pi * u2)
            ms = min(median * exp(sigma * z), max(median, profile?.maxMs ?? 20 * median))
        } else {
            ms = Double(Int.random(in: minMs...max(minMs, maxMs), using: &random))
        }
        var roll = Double.random(in: 0..<1, using: &random)
        for (rate, ending) in [(profile?.discard ?? discard, Ending.discarded), (profile?.retry ?? retryable, .retryable),
                               (profile?.snooze ?? snooze, .snoozed), (profile?.cancel ?? cancel, .cancelled)] {
            if roll < rate { return (ms, ending) }
            roll -= rate
        }
        return (ms, .completed)
    }

    func perform(_ job: ObanQueue.Job) async throws -> ObanQueue.Result {
        var random = SystemRandomNumberGenerator()
        let (ms, ending) = plan(args: job.args, using: &random)
        try? await Task.sleep(for: .microseconds(Int64(ms * 1000)))
        switch ending {
        case .completed: return .completed
        case .retryable: throw Failure()
        case .discarded: return .discarded(reason: "met worker: simulated failure (discarded)")
        case .snoozed: return .snoozed(seconds: Int.random(in: 1...5))
        case .cancelled: return .cancelled(reason: "met worker: simulated cancel")
        }
    }
}
