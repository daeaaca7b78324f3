/// Little-endian binary writing and bounds-checked reading shared by every encoder of the project.
///
/// The reader never traps and never allocates on the caller's behalf: every read checks the
/// remaining length first and throws ``DecodeError`` instead.

/// Why a decoder refused its input.
public enum DecodeError: Error, Equatable, Sendable {
    /// The input ended before the value was complete.
    case truncated
    /// A varint ran longer than the type it encodes.
    case overlongVarint
    /// A field holds a value the format does not allow; the string names the field.
    case invalid(String)
    /// The input has bytes left after the value.
    case trailingBytes(Int)
}

/// Appends primitive values to a byte buffer.
public struct ByteWriter: Sendable {
    public private(set) var bytes: [UInt8]

    public init(capacity: Int = 64) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// Continues writing after `existing` (which the writer takes over).
    public init(appendingTo existing: [UInt8]) {
        bytes = existing
    }

    @inlinable public var count: Int { bytes.count }

    public mutating func writeByte(_ b: UInt8) { bytes.append(b) }

    public mutating func writeBytes(_ b: some Sequence<UInt8>) { bytes.append(contentsOf: b) }

    /// Appends `count` bytes that `body` writes, all of them, through the pointer it is given
    /// (for encoders that know their size: one append instead of one per byte).
    mutating func writeRaw(count: Int, _ body: (UnsafeMutablePointer<UInt8>) -> Void) {
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: count) { buffer in
            // Unsafe pointer: `body` writes `count` bytes into a buffer of exactly that many.
            body(buffer.baseAddress!)
            bytes.append(contentsOf: UnsafeBufferPointer(buffer))
        }
    }

    /// Unsigned LEB128.
    public mutating func writeVarint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(truncatingIfNeeded: v) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }

    /// Signed values through zigzag, so small magnitudes stay short.
    public mutating func writeSignedVarint(_ value: Int64) {
        writeVarint(UInt64(bitPattern: (value << 1) ^ (value >> 63)))
    }

    public mutating func writeUInt32(_ value: UInt32) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    public mutating func writeUInt64(_ value: UInt64) {
        withUnsafeBytes(of: value.littleEndian) { bytes.append(contentsOf: $0) }
    }

    public mutating func writeDouble(_ value: Double) { writeUInt64(value.bitPattern) }

    /// A length-prefixed UTF-8 string.
    public mutating func writeString(_ s: String) {
        let utf8 = Array(s.utf8)
        writeVarint(UInt64(utf8.count))
        bytes.append(contentsOf: utf8)
    }
}

/// Reads primitive values from a borrowed byte buffer, checking bounds on every read.
public struct ByteReader {
    @usableFromInline let base: UnsafeRawBufferPointer
    @usableFromInline var _offset: Int
    /// Bytes read so far.
    @inlinable public var offset: Int { _offset }

    /// Wraps a buffer the caller keeps alive for as long as the reader is used.
    public init(_ buffer: UnsafeRawBufferPointer) {
        // Unsafe pointer: callers create readers inside `withUnsafeBytes` and never let them escape it.
        base = buffer
        _offset = 0
    }

    @inlinable public var remaining: Int { base.count - offset }
    @inlinable public var isAtEnd: Bool { offset == base.count }

    public mutating func readByte() throws(DecodeError) -> UInt8 {
        guard offset < base.count else { throw .truncated }
        defer { _offset += 1 }
        return base[offset]
    }

    @inlinable
    public mutating func readVarint() throws(DecodeError) -> UInt64 {
        // Fast paths: one or two bytes, the common cases for bin counts and gaps.
        if offset + 1 < base.count {
            let b0 = base[offset]
            if b0 < 0x80 {
                _offset += 1
                return UInt64(b0)
            }
            let b1 = base[offset + 1]
            if b1 < 0x80 {
                _offset += 2
                return UInt64(b0 & 0x7f) | UInt64(b1) << 7
            }
        } else if offset < base.count, base[offset] < 0x80 {
            let b = base[offset]
            _offset += 1
            return UInt64(b)
        }
        return try readLongVarint()
    }

    @usableFromInline
    mutating func readLongVarint() throws(DecodeError) -> UInt64 {
        var result: UInt64 = 0
        var shift: UInt64 = 0
        while true {
            guard offset < base.count else { throw .truncated }
            let b = base[offset]
            _offset += 1
            if shift == 63 && b > 1 { throw .overlongVarint }
            result |= UInt64(b & 0x7f) << shift
            if b & 0x80 == 0 { return result }
            shift += 7
            if shift > 63 { throw .overlongVarint }
        }
    }

    public mutating func readSignedVarint() throws(DecodeError) -> Int64 {
        let raw = try readVarint()
        return Int64(bitPattern: (raw >> 1) ^ (0 &- (raw & 1)))
    }

    /// A varint that must fit `limit`; used for lengths so nothing is allocated from a lie.
    public mutating func readLength(max limit: Int, _ field: String) throws(DecodeError) -> Int {
        let v = try readVarint()
        guard v <= UInt64(limit) else { throw .invalid(field) }
        return Int(v)
    }

    public mutating func readUInt32() throws(DecodeError) -> UInt32 {
        guard remaining >= 4 else { throw .truncated }
        defer { _offset += 4 }
        return base.loadUnaligned(fromByteOffset: offset, as: UInt32.self).littleEndian
    }

    public mutating func readUInt64() throws(DecodeError) -> UInt64 {
        guard remaining >= 8 else { throw .truncated }
        defer { _offset += 8 }
        return base.loadUnaligned(fromByteOffset: offset, as: UInt64.self).littleEndian
    }

    public mutating func readDouble() throws(DecodeError) -> Double { Double(bitPattern: try readUInt64()) }

    public mutating func readBytes(_ n: Int) throws(DecodeError) -> ArraySlice<UInt8> {
        guard n >= 0, remaining >= n else { throw .truncated }
        defer { _offset += n }
        return ArraySlice(UnsafeRawBufferPointer(rebasing: base[offset..<(offset + n)]))
    }

    public mutating func readString(maxBytes: Int = 4096) throws(DecodeError) -> String {
        let n = try readLength(max: min(maxBytes, remaining), "string length")
        let slice = try readBytes(n)
        guard let s = String(validating: slice, as: UTF8.self) else { throw .invalid("utf8") }
        return s
    }

    public func expectEnd() throws(DecodeError) {
        guard isAtEnd else { throw .trailingBytes(remaining) }
    }
}
