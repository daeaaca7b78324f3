/// An open-addressing hash table of dense ids (0, 1, 2, … in insertion order) that keeps no
/// keys: the owner keeps each id's key in an array of its own, gives the hash of a key, and
/// says whether an id's key is the one looked for. Four bytes a slot, at most three quarters
/// full, where a `Dictionary` from key to id would hold a copy of every key besides the id.
/// The catalog indexes its label sets and its timelines with it.
struct IDHashTable: Sendable {
    /// Id + 1 of the entry in each slot; 0: empty. A power of two long.
    private var slots: [UInt32] = []
    /// 64 minus log2 of the slots: a slot is the top bits of the mixed hash.
    private var shift: UInt64 = 64
    private(set) var count = 0

    /// The id whose key has `hash` and for which `matches` holds, if any.
    @inline(__always) func find(hash: Int, matches: (UInt32) -> Bool) -> UInt32? {
        guard !slots.isEmpty else { return nil }
        let mask = slots.count - 1
        var i = start(hash)
        while true {
            let s = slots[i]
            if s == 0 { return nil }
            if matches(s - 1) { return s - 1 }
            i = (i + 1) & mask
        }
    }

    /// Adds `id`, the next id (the owner found no equal key). `hashOf` gives the hash of any id
    /// already in, for the table's growth.
    mutating func insert(_ id: UInt32, hash: Int, hashOf: (UInt32) -> Int) {
        precondition(Int(id) == count, "ids are dense, in insertion order")
        count += 1
        if 4 * count > 3 * slots.count {
            rehash(Swift.max(16, 2 * slots.count), hashOf: hashOf)
        } else {
            place(id, hash)
        }
    }

    /// Room for `more` ids without growing on the way.
    mutating func reserve(_ more: Int, hashOf: (UInt32) -> Int) {
        var capacity = Swift.max(16, slots.count)
        while 4 * (count + more) > 3 * capacity { capacity *= 2 }
        if capacity > slots.count { rehash(capacity, hashOf: hashOf) }
    }

    /// Heap bytes held.
    var heapBytes: Int { slots.capacity * 4 }

    /// Fibonacci hashing: the top bits of the hash times 2^64/φ, which depend on every bit of
    /// the hash (packed keys that differ only in their high bits still spread).
    @inline(__always) private func start(_ hash: Int) -> Int {
        Int(truncatingIfNeeded: (UInt64(truncatingIfNeeded: hash) &* 0x9E37_79B9_7F4A_7C15) >> shift)
    }

    private mutating func place(_ id: UInt32, _ hash: Int) {
        let mask = slots.count - 1
        var i = start(hash)
        while slots[i] != 0 { i = (i + 1) & mask }
        slots[i] = id + 1
    }

    private mutating func rehash(_ capacity: Int, hashOf: (UInt32) -> Int) {
        slots = [UInt32](repeating: 0, count: capacity)
        shift = UInt64(64 - capacity.trailingZeroBitCount)
        for id in 0..<UInt32(count) { place(id, hashOf(id)) }
    }
}
