import MetStore
import MetTestSupport
import Testing

/// `CompactionTiers.targets(now:)`, compaction's per-pass form of `targetStep(for:now:)`.
@Suite struct CompactionTargetsTests {
    @Test("targets(now:) gives every point the step targetStep(for:now:) gives, expiry included")
    func sameAsTargetStep() throws {
        var rng = SplitMix64(seed: 21)
        let choices: [CompactionTiers] = [
            .default,
            try CompactionTiers([(1, 10), (5, 60)]),
            try CompactionTiers([(2, 20), (10, 120), (60, 900)]),
            try CompactionTiers([(1, 4), (3, 30), (15, 200), (45, 450)]),
            try CompactionTiers([(7, 7)]),
        ]
        for tiers in choices {
            for _ in 0..<40 {
                let now = Int64(rng.below(4_000_000_000)) - 1_000_000_000
                let targets = tiers.targets(now: now)
                for _ in 0..<100 {
                    let ts = now - Int64(rng.below(tiers.retention + 200)) + 50
                    #expect(targets.step(for: ts) == tiers.targetStep(for: ts, now: now), "\(tiers) now \(now) ts \(ts)")
                }
                // Right at each tier's cut and one second before it.
                for i in tiers.tiers.indices {
                    for ts in [tiers.cut(tier: i, now: now), tiers.cut(tier: i, now: now) - 1] {
                        #expect(targets.step(for: ts) == tiers.targetStep(for: ts, now: now))
                    }
                }
            }
        }
    }
}
