import MetValues

/// The header of the handoff frames (DESIGN §6, RELIABILITY H2–H7):
/// ```
/// handoffChunk: transfer id, chunk index, chunk count · chunk bytes (a snapshot chunk)
/// handoffEnd:   transfer id, chunk count, chunk count · watermarks (the end is "chunk" n)
/// handoffAck:   transfer id, index of the chunk (or end) merged
/// ```
/// All three numbers are varints. A transfer id is random per transfer, so acknowledgements of
/// an earlier transfer (to an earlier successor) are never taken for this one's.
package enum HandoffCodec {
    package struct Header: Sendable, Equatable {
        package var transfer: UInt64
        package var index: Int
        package var count: Int

        package init(transfer: UInt64, index: Int, count: Int) {
            self.transfer = transfer
            self.index = index
            self.count = count
        }
    }

    /// Most chunks one transfer may have (at ≤ 1 MiB each, far beyond any store).
    package static let maxChunks = 1 << 24

    package static func encode(_ header: Header, body: [UInt8]) -> [UInt8] {
        var w = ByteWriter(capacity: 24 + body.count)
        w.writeVarint(header.transfer)
        w.writeVarint(UInt64(header.index))
        w.writeVarint(UInt64(header.count))
        w.writeBytes(body)
        return w.bytes
    }

    /// The header and the body after it; an index past the count is an error.
    package static func decode(_ bytes: [UInt8]) throws(DecodeError) -> (header: Header, body: [UInt8]) {
        var result: Result<(Header, Int), DecodeError> = .failure(.truncated)
        bytes.withUnsafeBytes { raw in
            // Unsafe pointer: the reader lives only inside this closure.
            var r = ByteReader(raw)
            result = Result { () throws(DecodeError) -> (Header, Int) in
                let transfer = try r.readVarint()
                let index = try r.readVarint()
                let count = try r.readVarint()
                guard count <= UInt64(maxChunks), index <= count else { throw .invalid("handoff chunk index") }
                return (Header(transfer: transfer, index: Int(index), count: Int(count)), r.remaining)
            }
        }
        let (header, remaining) = try result.get()
        return (header, Array(bytes[(bytes.count - remaining)...]))
    }

    package static func encodeAck(transfer: UInt64, index: Int) -> [UInt8] {
        var w = ByteWriter(capacity: 16)
        w.writeVarint(transfer)
        w.writeVarint(UInt64(index))
        return w.bytes
    }

    package static func decodeAck(_ bytes: [UInt8]) throws(DecodeError) -> (transfer: UInt64, index: Int) {
        var result: Result<(UInt64, Int), DecodeError> = .failure(.truncated)
        bytes.withUnsafeBytes { raw in
            // Unsafe pointer: the reader lives only inside this closure.
            var r = ByteReader(raw)
            result = Result { () throws(DecodeError) -> (UInt64, Int) in
                let transfer = try r.readVarint()
                let index = try r.readVarint()
                guard index <= UInt64(maxChunks), r.remaining == 0 else { throw .invalid("handoff acknowledgement") }
                return (transfer, Int(index))
            }
        }
        return try result.get()
    }
}
