import Crypto
import Foundation
import MetWire

/// One connection's two frame keys (RELIABILITY S3), derived by the handshake from the secret
/// both sides proved and both hellos: one key per direction, so a frame sent back to its sender
/// fails. HKDF-SHA256: input the shared secret, salt the initiator's then the responder's hello
/// (with their 32-byte nonces: fresh keys on every connection), info `met/frames/v1` and the
/// direction (1 initiator to responder, 2 responder to initiator); 32 bytes each.
package struct FrameKeys: Sendable, Equatable {
    package let send: [UInt8]
    package let receive: [UInt8]

    package init(send: [UInt8], receive: [UInt8]) {
        (self.send, self.receive) = (send, receive)
    }

    static func derive(secret: SymmetricKey, initiatorHello: [UInt8], responderHello: [UInt8], role: Handshake.Role) -> FrameKeys {
        let salt = initiatorHello + responderHello
        func key(_ direction: UInt8) -> [UInt8] {
            let k = HKDF<SHA256>.deriveKey(inputKeyMaterial: secret, salt: salt, info: Array("met/frames/v1".utf8) + [direction], outputByteCount: 32)
            return k.withUnsafeBytes { Array($0) }
        }
        let (out, back) = (key(1), key(2))
        return role == .initiator ? FrameKeys(send: out, receive: back) : FrameKeys(send: back, receive: out)
    }
}

/// The MACs of an authenticated connection (RELIABILITY S3). Every frame after the handshake is
/// followed by a 16-byte tag: HMAC-SHA256, truncated to 16 bytes, under the sending direction's
/// key, over the frame's sequence number in that direction (u64 big-endian, counted from 0 by
/// both sides, never sent) and the frame's bytes after its length (version, type, payload). The
/// implicit sequence number makes a replayed, reordered or dropped frame fail like an altered
/// one; the per-direction keys make a reflected one fail. Only after a failure does the receiver
/// try nearby sequence numbers and its own key, to say which it was.
///
/// Cost: both keyed HMAC states are made once per connection and copied per frame (the copy
/// shares its hash contexts until the first update, then copies them: two small allocations);
/// the MAC is computed over the frame's encoded bytes as they are, without copying them.
package struct FrameAuthenticator: FrameOpening, @unchecked Sendable {  // HMAC is a value with copy-on-write hash contexts: the templates are never updated in place, only copies are
    package static let tagBytes = 16
    /// How far from the expected sequence number a failed frame is looked for (diagnosis only).
    static let diagnosisWindow: UInt64 = 64

    private let sendTemplate: HMAC<SHA256>
    private let receiveTemplate: HMAC<SHA256>
    /// Frames sealed so far (the next one's sequence number).
    package private(set) var sent: UInt64 = 0
    /// Frames opened so far (the next one's sequence number).
    package private(set) var received: UInt64 = 0

    package init(keys: FrameKeys) {
        sendTemplate = HMAC<SHA256>(key: SymmetricKey(data: keys.send))
        receiveTemplate = HMAC<SHA256>(key: SymmetricKey(data: keys.receive))
    }

    package var tagBytes: Int { Self.tagBytes }

    /// Computes the tag of the next frame this side sends (`encoded`: the whole frame, its length
    /// first) and hands its 16 bytes to `body`, in the order the frames go out.
    package mutating func seal<R>(_ encoded: [UInt8], _ body: (UnsafeRawBufferPointer) -> R) -> R {
        let mac = encoded.withUnsafeBytes { Self.mac(sendTemplate, sent, UnsafeRawBufferPointer(rebasing: $0[4...])) }
        sent += 1
        return mac.withUnsafeBytes { body(UnsafeRawBufferPointer(rebasing: $0.prefix(Self.tagBytes))) }
    }

    /// The frame followed by its tag, as the next frame this side sends (tests, raw clients).
    package mutating func sealed(_ frame: Frame) -> [UInt8] {
        let encoded = frame.encoded()
        return seal(encoded) { encoded + Array($0) }
    }

    package mutating func open(frame: UnsafeRawBufferPointer, tag: UnsafeRawBufferPointer) -> FrameRefusal? {
        guard tag.count == Self.tagBytes else { return .altered }
        if Self.matches(Self.mac(receiveTemplate, received, frame), tag) {
            received += 1
            return nil
        }
        return diagnose(frame: frame, tag: tag)
    }

    /// Which failure it was: a frame of the peer's earlier or later in the sequence, one of this
    /// side's own, or none of these (altered).
    func diagnose(frame: UnsafeRawBufferPointer, tag: UnsafeRawBufferPointer) -> FrameRefusal {
        let w = Self.diagnosisWindow
        for seq in received - min(received, w)..<received where Self.matches(Self.mac(receiveTemplate, seq, frame), tag) { return .replayed }
        for seq in received + 1...received + w where Self.matches(Self.mac(receiveTemplate, seq, frame), tag) { return .reordered }
        for seq in sent - min(sent, w)..<sent + w where Self.matches(Self.mac(sendTemplate, seq, frame), tag) { return .reflected }
        return .altered
    }

    static func mac(_ template: HMAC<SHA256>, _ seq: UInt64, _ frame: UnsafeRawBufferPointer) -> HashedAuthenticationCode<SHA256> {
        var h = template
        withUnsafeBytes(of: seq.bigEndian) { h.update(data: $0) }
        h.update(data: frame)
        return h.finalize()
    }

    /// Compares the first 16 bytes in constant time.
    static func matches(_ mac: HashedAuthenticationCode<SHA256>, _ tag: UnsafeRawBufferPointer) -> Bool {
        mac.withUnsafeBytes { m in
            var diff: UInt8 = 0
            for i in 0..<tagBytes { diff |= m[i] ^ tag[i] }
            return diff == 0
        }
    }
}
