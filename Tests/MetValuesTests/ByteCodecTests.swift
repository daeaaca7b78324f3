// ByteWriter / ByteReader: varints, zigzag, fixed-width values, strings, bounds checks.
import PropertyBased
import Testing
@testable import MetValues

@Suite("ByteWriter and ByteReader")
struct ByteCodecTests {
    /// Runs `body` on a reader over `bytes`, returning its result or error.
    static func read<T>(_ bytes: [UInt8], _ body: (inout ByteReader) throws(DecodeError) -> T) -> Result<T, DecodeError> {
        var result: Result<T, DecodeError> = .failure(.truncated)
        bytes.withUnsafeBytes { raw in
            var r = ByteReader(raw)
            result = Result { () throws(DecodeError) -> T in
                let v = try body(&r)
                try r.expectEnd()
                return v
            }
        }
        return result
    }

    static func varint(_ v: UInt64) -> [UInt8] {
        var w = ByteWriter()
        w.writeVarint(v)
        return w.bytes
    }

    static func signed(_ v: Int64) -> [UInt8] {
        var w = ByteWriter()
        w.writeSignedVarint(v)
        return w.bytes
    }

    @Test("unsigned varints round trip at the boundaries", arguments: [
        0, 1, 127, 128, 255, 16_383, 16_384, 1 << 32, (1 << 35) - 1, 1 << 56, (1 << 63) - 1, 1 << 63, .max,
    ] as [UInt64])
    func varintBoundaries(_ v: UInt64) throws {
        let bytes = Self.varint(v)
        #expect(try Self.read(bytes) { r throws(DecodeError) in try r.readVarint() }.get() == v)
        #expect(bytes.count == varintSize(v))
        #expect(bytes.last! & 0x80 == 0)
    }

    @Test("known varint encodings")
    func knownEncodings() {
        #expect(Self.varint(0) == [0])
        #expect(Self.varint(127) == [0x7F])
        #expect(Self.varint(128) == [0x80, 0x01])
        #expect(Self.varint(300) == [0xAC, 0x02])
        #expect(Self.varint(.max) == [UInt8](repeating: 0xFF, count: 9) + [0x01])
        #expect(Self.signed(0) == [0])
        #expect(Self.signed(-1) == [1])
        #expect(Self.signed(1) == [2])
        #expect(Self.signed(-64) == [0x7F])
        #expect(Self.signed(64) == [0x80, 0x01])
        #expect(Self.signed(.max) == Self.varint(.max - 1))
        #expect(Self.signed(.min) == Self.varint(.max))
        #expect(zigzag(Int32.min) == UInt64(UInt32.max))
        #expect(zigzag(-3) == 5)
    }

    @Test("signed varints round trip at the boundaries", arguments: [
        .min, .min + 1, -(1 << 32), -65, -64, -1, 0, 1, 63, 64, 1 << 32, .max - 1, .max,
    ] as [Int64])
    func signedBoundaries(_ v: Int64) throws {
        #expect(try Self.read(Self.signed(v)) { r throws(DecodeError) in try r.readSignedVarint() }.get() == v)
    }

    @Test("random varints round trip")
    func randomVarints() async {
        await propertyCheck(count: 500, input: Gen.uint64(), Gen.int64()) { u, s in
            var w = ByteWriter()
            w.writeVarint(u)
            w.writeSignedVarint(s)
            let back = Self.read(w.bytes) { r throws(DecodeError) in (try r.readVarint(), try r.readSignedVarint()) }
            #expect((try? back.get())?.0 == u)
            #expect((try? back.get())?.1 == s)
        }
    }

    @Test("overlong varints throw", arguments: [
        [UInt8](repeating: 0x80, count: 11),
        [UInt8](repeating: 0x80, count: 10) + [0x00],  // 11 bytes, terminated too late
        [UInt8](repeating: 0xFF, count: 9) + [0x02],  // the 10th byte may only carry one bit
        [UInt8](repeating: 0xFF, count: 9) + [0x81, 0x00],
        [UInt8](repeating: 0xFF, count: 20),
    ])
    func overlong(_ bytes: [UInt8]) {
        #expect(throws: DecodeError.overlongVarint) {
            try Self.read(bytes) { r throws(DecodeError) in try r.readVarint() }.get()
        }
    }

    @Test("truncated reads throw")
    func truncated() {
        #expect(throws: DecodeError.truncated) { try Self.read([]) { r throws(DecodeError) in try r.readByte() }.get() }
        #expect(throws: DecodeError.truncated) { try Self.read([]) { r throws(DecodeError) in try r.readVarint() }.get() }
        #expect(throws: DecodeError.truncated) { try Self.read([0x80, 0x80]) { r throws(DecodeError) in try r.readVarint() }.get() }
        for n in 0..<8 {
            let b = [UInt8](repeating: 1, count: n)
            #expect(throws: DecodeError.truncated) { try Self.read(b) { r throws(DecodeError) in try r.readDouble() }.get() }
            #expect(throws: DecodeError.truncated) { try Self.read(b) { r throws(DecodeError) in try r.readUInt64() }.get() }
            if n < 4 {
                #expect(throws: DecodeError.truncated) { try Self.read(b) { r throws(DecodeError) in try r.readUInt32() }.get() }
            }
        }
        #expect(throws: DecodeError.truncated) { try Self.read([1, 2]) { r throws(DecodeError) in try r.readBytes(3) }.get() }
        #expect(throws: DecodeError.truncated) { try Self.read([1, 2]) { r throws(DecodeError) in try r.readBytes(-1) }.get() }
    }

    @Test("a failed read does not move the reader past the end")
    func failedReadKeepsBounds() {
        let bytes: [UInt8] = [1, 2, 3]
        bytes.withUnsafeBytes { raw in
            var r = ByteReader(raw)
            #expect(throws: DecodeError.truncated) { try r.readUInt64() }
            #expect(r.offset == 0)
            #expect(throws: DecodeError.truncated) { try r.readBytes(4) }
            #expect(r.remaining == 3)
            #expect(throws: DecodeError.trailingBytes(3)) { try r.expectEnd() }
        }
    }

    @Test("fixed-width values are little-endian and round trip")
    func fixedWidth() throws {
        var w = ByteWriter()
        w.writeUInt32(0x0102_0304)
        w.writeUInt64(0x0102_0304_0506_0708)
        w.writeDouble(-0.0)
        w.writeDouble(.nan)
        w.writeDouble(.greatestFiniteMagnitude)
        #expect(Array(w.bytes[0..<4]) == [4, 3, 2, 1])
        #expect(Array(w.bytes[4..<12]) == [8, 7, 6, 5, 4, 3, 2, 1])
        let back = try Self.read(w.bytes) { r throws(DecodeError) in
            (try r.readUInt32(), try r.readUInt64(), try r.readDouble(), try r.readDouble(), try r.readDouble())
        }.get()
        #expect(back.0 == 0x0102_0304)
        #expect(back.1 == 0x0102_0304_0506_0708)
        #expect(back.2.bitPattern == (-0.0).bitPattern)
        #expect(back.3.isNaN)
        #expect(back.4 == .greatestFiniteMagnitude)
    }

    @Test("strings round trip; lengths past the limit or the input are refused")
    func strings() throws {
        for s in ["", "queue", "ümlaut ✓ 🚀", String(repeating: "x", count: 4096)] {
            var w = ByteWriter()
            w.writeString(s)
            #expect(try Self.read(w.bytes) { r throws(DecodeError) in try r.readString() }.get() == s)
        }
        var long = ByteWriter()
        long.writeString(String(repeating: "y", count: 4097))
        #expect(throws: DecodeError.invalid("string length")) {
            try Self.read(long.bytes) { r throws(DecodeError) in try r.readString() }.get()
        }
        // A length larger than the bytes left is refused before reading.
        #expect(throws: DecodeError.invalid("string length")) {
            try Self.read([5, 0x61]) { r throws(DecodeError) in try r.readString() }.get()
        }
        #expect(throws: DecodeError.invalid("string length")) {
            try Self.read(Self.varint(0xFFFF_FFFF)) { r throws(DecodeError) in try r.readString() }.get()
        }
        #expect(throws: DecodeError.invalid("utf8")) {
            try Self.read([2, 0xC3, 0x28]) { r throws(DecodeError) in try r.readString() }.get()
        }
    }

    @Test("readLength refuses values above its limit")
    func lengths() throws {
        #expect(try Self.read(Self.varint(10)) { r throws(DecodeError) in try r.readLength(max: 10, "n") }.get() == 10)
        #expect(throws: DecodeError.invalid("n")) {
            try Self.read(Self.varint(11)) { r throws(DecodeError) in try r.readLength(max: 10, "n") }.get()
        }
        #expect(throws: DecodeError.invalid("n")) {
            try Self.read(Self.varint(.max)) { r throws(DecodeError) in try r.readLength(max: .max, "n") }.get()
        }
    }
}
