import MetValues

/// Decodes a whole payload with `body`, which must consume every byte: the pattern of every
/// message codec of the mesh. The reader lives only inside this call.
package func decodeWhole<T>(_ bytes: [UInt8], _ body: (inout ByteReader) throws(DecodeError) -> T) throws(DecodeError) -> T {
    var result: Result<T, DecodeError> = .failure(.truncated)
    bytes.withUnsafeBytes { raw in
        // Unsafe pointer: the reader lives only inside this closure.
        var r = ByteReader(raw)
        result = Result { () throws(DecodeError) -> T in
            let value = try body(&r)
            try r.expectEnd()
            return value
        }
    }
    return try result.get()
}
