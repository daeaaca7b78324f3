/// Cuts a connection's byte stream into frames, whatever the chunking of the reads.
///
/// Bytes are appended as they arrive; complete frames come out in order. The length of a frame
/// is checked against `limit` as soon as its four bytes are in, before the frame is buffered,
/// so a peer announcing 4 GiB costs nothing. After an error the decoder stays failed: the
/// caller closes the connection.
package struct FrameDecoder: Sendable {
    /// Current limit on a frame's length (raise it after the handshake).
    package var limit: Int
    private var buffer: [UInt8] = []
    private var start = 0
    private var failure: FrameError?
    /// After the handshake: frames of a type this build does not know are skipped (a newer
    /// version's), not an error, so versions can add frame types and still interoperate.
    package var skipsUnknownTypes = false
    /// The types of the frames skipped since ``takeSkipped()`` was last called.
    private var skipped: [UInt8] = []

    /// The types of the frames skipped since the last call.
    package mutating func takeSkipped() -> [UInt8] {
        defer { skipped.removeAll() }
        return skipped
    }

    package init(limit: Int = WireProtocol.maxPreAuthFrameBytes) {
        self.limit = limit
    }

    /// Bytes received but not yet part of a complete frame.
    package var pendingBytes: Int { buffer.count - start }

    /// Appends received bytes and returns every frame now complete, all decoded under the
    /// current `limit` and type rules. A connection whose rules change after a frame (the last
    /// handshake frame raises the limit) uses ``append(_:)`` and ``nextFrame()`` instead.
    package mutating func feed(_ bytes: some Collection<UInt8>) throws(FrameError) -> [Frame] {
        append(bytes)
        var frames: [Frame] = []
        while let frame = try nextFrame() { frames.append(frame) }
        return frames
    }

    /// With nothing left buffered, lets go of a buffer a large frame grew, so an idle connection
    /// holds at most 64 KiB (RELIABILITY B4).
    package mutating func releaseIdleBuffer() {
        guard start == buffer.count, start > 0 || buffer.capacity > 65_536 else { return }
        if buffer.capacity > 65_536 { buffer = [] } else { buffer.removeAll(keepingCapacity: true) }
        start = 0
    }

    /// Bytes of buffer this decoder holds now (its capacity), for tests of the bound.
    package var bufferCapacity: Int { buffer.capacity }

    /// Appends received bytes without decoding them.
    package mutating func append(_ bytes: some Collection<UInt8>) {
        // Drop consumed bytes once they dominate the buffer, keeping the copy cost linear.
        if start > 0 && start * 2 >= buffer.count {
            buffer.removeFirst(start)
            start = 0
        }
        buffer.append(contentsOf: bytes)
    }

    /// The next complete frame, decoded under the rules in force now, or nil when no complete
    /// frame is buffered. Rules changed between two calls apply to the second frame: a peer may
    /// send its first large frame in the same read as the frame that completes the handshake.
    package mutating func nextFrame() throws(FrameError) -> Frame? {
        var none: NoOpening? = nil
        return try nextFrame(authenticatedBy: &none)
    }

    /// The next complete frame, as ``nextFrame()``; with an `opener` (an authenticated
    /// connection) every frame is followed by its MAC, checked by the opener in place before the
    /// frame is copied out or skipped. A refused MAC throws ``FrameError/refused(_:)``.
    package mutating func nextFrame<Opener: FrameOpening>(authenticatedBy opener: inout Opener?) throws(FrameError) -> Frame? {
        if let failure { throw failure }
        do {
            return try next(&opener)
        } catch {
            failure = error
            throw error
        }
    }

    private mutating func next<Opener: FrameOpening>(_ opener: inout Opener?) throws(FrameError) -> Frame? {
        while true {
            guard buffer.count - start >= 4 else { return nil }
            let length = UInt32(buffer[start]) << 24 | UInt32(buffer[start + 1]) << 16 | UInt32(buffer[start + 2]) << 8 | UInt32(buffer[start + 3])
            guard length >= 2 else { throw .empty }
            guard length <= UInt32(limit) else { throw .oversized(length: length, limit: limit) }
            if buffer.count - start >= 5, buffer[start + 4] != WireProtocol.version { throw .unknownVersion(buffer[start + 4]) }
            let tagBytes = opener?.tagBytes ?? 0
            let end = start + 4 + Int(length)
            guard buffer.count >= end + tagBytes else { return nil }
            if opener != nil {
                let refusal = buffer.withUnsafeBytes { all in
                    opener!.open(frame: UnsafeRawBufferPointer(rebasing: all[(start + 4)..<end]),
                                 tag: UnsafeRawBufferPointer(rebasing: all[end..<(end + tagBytes)]))
                }
                if let refusal { throw .refused(refusal) }
            }
            let typeByte = buffer[start + 5]
            guard let type = FrameType(rawValue: typeByte) else {
                guard skipsUnknownTypes else { throw .unknownType(typeByte) }
                skipped.append(typeByte)
                start = end + tagBytes
                continue
            }
            let payload = Array(buffer[(start + 6)..<end])
            start = end + tagBytes
            return Frame(type: type, payload: payload)
        }
    }
}

/// No MAC: the frames of a connection still in its handshake.
private struct NoOpening: FrameOpening {
    var tagBytes: Int { 0 }
    mutating func open(frame: UnsafeRawBufferPointer, tag: UnsafeRawBufferPointer) -> FrameRefusal? { nil }
}
