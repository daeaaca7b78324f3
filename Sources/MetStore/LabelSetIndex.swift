/// The catalog's index of its label sets: an open-addressing hash table of label set ids,
/// keyed by each set's digest, that keeps no copy of the sets (the catalog compares a
/// candidate against its own strings). About 14 bytes a label set, where a `[LabelSet: UInt32]`
/// with its keys cost about 200.
struct LabelSetIndex: Sendable {
    /// Id + 1 of the set in each slot; 0: empty. A power of two long, at most three quarters full.
    private var slots: [UInt32] = []
    /// Each set's digest, by id: compared before the strings, and rehashed from on growth.
    private var digests: [Int] = []

    var count: Int { digests.count }

    /// The id of the set with `digest` for which `matches` holds, if any.
    @inline(__always) func find(digest: Int, matches: (UInt32) -> Bool) -> UInt32? {
        guard !slots.isEmpty else { return nil }
        let mask = slots.count - 1
        var i = Self.start(digest, mask)
        while true {
            let s = slots[i]
            if s == 0 { return nil }
            let id = s - 1
            if digests[Int(id)] == digest, matches(id) { return id }
            i = (i + 1) & mask
        }
    }

    /// Adds set `id` (the next id: ids are dense, in insertion order), whose digest is `digest`;
    /// the caller found no equal set.
    mutating func insert(_ id: UInt32, digest: Int) {
        precondition(Int(id) == digests.count, "label set ids are dense")
        digests.append(digest)
        if 4 * digests.count > 3 * slots.count { rehash(Swift.max(16, 2 * slots.count)) } else { place(id, digest) }
    }

    /// Room for `more` sets without growing on the way.
    mutating func reserve(_ more: Int) {
        digests.reserveCapacity(digests.count + more)
        var capacity = Swift.max(16, slots.count)
        while 4 * (digests.count + more) > 3 * capacity { capacity *= 2 }
        if capacity > slots.count { rehash(capacity) }
    }

    private static func start(_ digest: Int, _ mask: Int) -> Int {
        // The digest is a Hasher output: its low bits are as good as any.
        Int(truncatingIfNeeded: UInt(bitPattern: digest)) & mask
    }

    private mutating func place(_ id: UInt32, _ digest: Int) {
        let mask = slots.count - 1
        var i = Self.start(digest, mask)
        while slots[i] != 0 { i = (i + 1) & mask }
        slots[i] = id + 1
    }

    private mutating func rehash(_ capacity: Int) {
        slots = [UInt32](repeating: 0, count: capacity)
        for (id, digest) in digests.enumerated() { place(UInt32(id), digest) }
    }
}
