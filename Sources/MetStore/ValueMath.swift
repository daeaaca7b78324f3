import MetValues

/// How stored values combine: over time within one origin's series, and across series.
enum ValueMath {
    /// Folds `values`, given in time order, into one value of the same kind.
    static func combine(_ values: [StoredValue], kind: SeriesKind) -> StoredValue {
        switch kind {
        case .count:
            var total = Count()
            for case .count(let n) in values { total.add(n) }
            return .count(total.value)
        case .gauge:
            var result: Gauge?
            for case .gauge(let g) in values {
                if result == nil { result = g } else { result!.combine(later: g) }
            }
            return .gauge(result ?? Gauge(0))
        case .sketch:
            var s = Sketch()
            for case .sketch(let bytes) in values { mergeEncoded(bytes, into: &s) }
            return .sketch(s.encoded()[...])
        }
    }

    static func mergeEncoded(_ bytes: ArraySlice<UInt8>, into s: inout Sketch) {
        bytes.withUnsafeBytes { raw in
            // Unsafe pointer: the reader lives only inside this closure.
            var r = ByteReader(raw)
            try? s.merge(from: &r)
        }
    }
}
