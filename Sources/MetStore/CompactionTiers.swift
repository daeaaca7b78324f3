/// The resolution tiers of the store: `(step, duration)` in seconds (DESIGN §3).
///
/// A point is kept at `step` until the bucket of the next tier that contains it is entirely
/// older than `duration`; then it is merged into that coarser bucket. Points whose bucket of the
/// last tier is entirely older than the last duration are dropped, so the last duration is the
/// retention. Buckets are aligned to absolute time (`floor(t / step) · step`) so every replica
/// compacts identically. Each step divides the next, so buckets nest.
package struct CompactionTiers: Sendable, Equatable, Codable {
    package struct Tier: Sendable, Equatable, Codable {
        package var step: Int
        package var duration: Int
        package init(step: Int, duration: Int) {
            self.step = step
            self.duration = duration
        }
    }

    package private(set) var tiers: [Tier]

    /// `[(1, 120), (5, 900), (30, 2000), (60, 9300)]`: about 2.6 hours.
    package static let `default` = try! CompactionTiers([(1, 120), (5, 900), (30, 2000), (60, 9300)])

    package enum ConfigError: Error, Equatable, CustomStringConvertible {
        case empty
        case badTier(index: Int, reason: String)

        package var description: String {
            switch self {
            case .empty: "compaction needs at least one [step, duration] tier"
            case .badTier(let i, let reason): "compaction tier \(i + 1): \(reason)"
            }
        }
    }

    /// Validates: steps ≥ 1 and ≤ 65535, each step divides the next, durations increase and are
    /// at least the step.
    package init(_ pairs: [(Int, Int)]) throws(ConfigError) {
        guard !pairs.isEmpty else { throw .empty }
        var tiers: [Tier] = []
        for (i, (step, duration)) in pairs.enumerated() {
            guard step >= 1, step <= Int(UInt16.max) else { throw .badTier(index: i, reason: "step must be 1...65535 s") }
            guard duration >= step else { throw .badTier(index: i, reason: "duration must be at least the step") }
            if let previous = tiers.last {
                guard step > previous.step, step % previous.step == 0 else {
                    throw .badTier(index: i, reason: "step \(step) must be a larger multiple of the previous step \(previous.step)")
                }
                guard duration > previous.duration else {
                    throw .badTier(index: i, reason: "duration \(duration) must exceed the previous duration \(previous.duration)")
                }
            }
            tiers.append(Tier(step: step, duration: duration))
        }
        self.tiers = tiers
    }

    /// How long points are kept at all.
    package var retention: Int { tiers[tiers.count - 1].duration }

    /// The finest step.
    package var finestStep: Int { tiers[0].step }

    /// The step a point at `ts` should have at time `now`, or `nil` when it has expired.
    @inlinable
    package func targetStep(for ts: Int64, now: Int64) -> Int? {
        for i in 0..<tiers.count {
            let next = i + 1 < tiers.count ? tiers[i + 1].step : tiers[i].step
            let horizon = now - Int64(tiers[i].duration)
            if i + 1 == tiers.count {
                return bucketStart(ts, step: next) + Int64(next) > horizon ? tiers[i].step : nil
            }
            if bucketStart(ts, step: next) + Int64(next) > horizon { return tiers[i].step }
        }
        return nil
    }

    /// ``targetStep(for:now:)`` for many points at one `now`: a point gets the step of the first
    /// tier whose ``cut(tier:now:)`` it is not before (the same condition, with each tier's bucket
    /// arithmetic done once instead of once per point).
    package struct Targets: Sendable {
        let cuts: [Int64]
        let steps: [Int]

        @inlinable
        package func step(for ts: Int64) -> Int? {
            for i in cuts.indices where ts >= cuts[i] { return steps[i] }
            return nil
        }
    }

    package func targets(now: Int64) -> Targets {
        Targets(cuts: tiers.indices.map { cut(tier: $0, now: now) }, steps: tiers.map(\.step))
    }

    /// Points before this time must already have at least `tiers[i + 1].step` (or, for the last
    /// tier, are expired).
    @inlinable
    package func cut(tier i: Int, now: Int64) -> Int64 {
        let next = i + 1 < tiers.count ? tiers[i + 1].step : tiers[i].step
        return bucketStart(now - Int64(tiers[i].duration), step: next)
    }
}

/// `floor(ts / step) · step`, also for negative times.
@inlinable
package func bucketStart(_ ts: Int64, step: Int) -> Int64 {
    let s = Int64(step)
    let q = ts / s
    return (ts % s < 0 ? q - 1 : q) * s
}
