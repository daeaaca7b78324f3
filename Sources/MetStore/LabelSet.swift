/// Label pairs of a series, kept sorted by key so that equal sets compare and hash equal.
public struct LabelSet: Sendable, Hashable, Codable, CustomStringConvertible {
    public private(set) var pairs: [(key: String, value: String)]
    /// The pairs' hash, computed once: stores, catalogs and chunk tables hash a label set many
    /// times (every lookup), its eight-odd strings only once. Same process, same seed, so equal
    /// sets have equal digests. (Visible to the package, not private, so that adding it changes
    /// the module's interface and every dependent module is rebuilt for the new layout.)
    package private(set) var digest: Int = 0

    public init(_ pairs: [(String, String)] = []) {
        var sorted = pairs.map { (key: $0.0, value: $0.1) }
        sorted.sort { $0.key < $1.key }
        // A repeated key keeps its last value.
        var unique: [(key: String, value: String)] = []
        for p in sorted {
            if let last = unique.last, last.key == p.key { unique[unique.count - 1] = p } else { unique.append(p) }
        }
        self.init(sortedPairs: unique)
    }

    /// Pairs whose keys are already strictly ascending (a decoded chunk's checked label sets).
    package init(sortedPairs unique: [(key: String, value: String)]) {
        self.pairs = unique
        var h = Hasher()
        h.combine(unique.count)
        for p in unique {
            h.combine(p.key)
            h.combine(p.value)
        }
        digest = h.finalize()
    }

    public init(_ dictionary: [String: String]) { self.init(dictionary.map { ($0.key, $0.value) }) }

    public subscript(key: String) -> String? { pairs.first { $0.key == key }?.value }

    public var keys: [String] { pairs.map(\.key) }

    public static func == (a: LabelSet, b: LabelSet) -> Bool {
        a.digest == b.digest && a.pairs.count == b.pairs.count && zip(a.pairs, b.pairs).allSatisfy { $0.key == $1.key && $0.value == $1.value }
    }

    public func hash(into h: inout Hasher) { h.combine(digest) }

    public var description: String { "{" + pairs.map { "\($0.key)=\($0.value)" }.joined(separator: ",") + "}" }

    enum CodingKeys: CodingKey { case pairs }

    public init(from decoder: Decoder) throws {
        let d = try [String: String](from: decoder)
        self.init(d)
    }

    public func encode(to encoder: Encoder) throws {
        try Dictionary(uniqueKeysWithValues: pairs.map { ($0.key, $0.value) }).encode(to: encoder)
    }
}
