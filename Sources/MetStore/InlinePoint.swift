import MetValues

/// A timeline's only point, held inside the timeline itself: a count, or a sketch whose
/// encoding takes at most ``capacity`` bytes (a one-value sketch takes 10). A burst of new
/// label sets makes hundreds of thousands of one-point timelines; as columns each took two
/// heap blocks of 48–64 bytes, inline none (`cardinality.rss_mib_100k`).
struct InlinePoint: Sendable {
    var seq: UInt64
    var ts: UInt32
    var step: UInt16
    /// Bytes of `words` a sketch uses (0 for a count).
    private var length: UInt8
    /// The count's bits, or the sketch's encoded bytes.
    private var words: (UInt64, UInt64, UInt64)

    static let capacity = 24

    /// The point, if its value fits (never a gauge: 28 bytes).
    init?(_ header: PointHeader, _ value: StoredValue) {
        seq = header.seq
        ts = header.ts
        step = header.step
        words = (0, 0, 0)
        switch value {
        case .count(let n):
            length = 0
            words.0 = UInt64(bitPattern: n)
        case .gauge:
            return nil
        case .sketch(let bytes):
            guard bytes.count <= Self.capacity else { return nil }
            length = UInt8(bytes.count)
            withUnsafeMutableBytes(of: &words) { raw in
                // Unsafe pointer: writes `bytes.count` ≤ 24 bytes into the 24 of `words`, inside this closure.
                _ = raw.copyBytes(from: bytes)
            }
        }
    }

    var header: PointHeader {
        get { PointHeader(seq: seq, ts: ts, step: step) }
        set { (seq, ts, step) = (newValue.seq, newValue.ts, newValue.step) }
    }

    var count: Int64 {
        get { Int64(bitPattern: words.0) }
        set { words.0 = UInt64(bitPattern: newValue) }
    }

    var sketchByteCount: Int { Int(length) }

    /// The sketch's encoded bytes, for the duration of `body`.
    func withSketchBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
        try withUnsafeBytes(of: words) { raw in
            // Unsafe pointer: `raw` covers a copy of `words`, alive only inside this closure.
            try body(UnsafeRawBufferPointer(rebasing: raw[0..<Int(length)]))
        }
    }

    /// The sketch's encoded bytes, copied out.
    var sketchBytes: ArraySlice<UInt8> { withSketchBytes { Array($0) }[...] }

    /// The value as the columns hold it.
    func stored(_ kind: SeriesKind) -> StoredValue {
        kind == .sketch ? .sketch(sketchBytes) : .count(count)
    }
}
