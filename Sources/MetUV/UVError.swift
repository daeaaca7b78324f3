import CLibUV

/// A failed libuv call: the call's name, libuv's negative status code, and libuv's own name and
/// description for it (`"EINVAL"`, `"invalid argument"`).
package struct UVError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The libuv function that failed, e.g. `"uv_tcp_bind"`.
    package let call: String
    /// The negative status libuv returned (on Unix, minus the errno value, e.g. `-22`).
    package let code: Int32
    /// libuv's symbolic name for `code`, e.g. `"EINVAL"`.
    package let name: String
    /// libuv's description of `code`, e.g. `"invalid argument"`.
    package let message: String

    /// Describes `code`, which must be negative, as returned by `call`.
    package init(code: Int32, call: String) {
        self.call = call
        self.code = code
        // The `_r` variants write into our buffer; the plain ones leak a malloc'd string for unknown codes.
        self.name = UVError.cString(256) { uv_err_name_r(code, $0, $1) }
        self.message = UVError.cString(256) { uv_strerror_r(code, $0, $1) }
    }

    package var description: String { "\(call) failed: \(name) (\(message))" }

    /// Calls `fill(buffer, capacity)` and reads the NUL-terminated text it wrote.
    private static func cString(
        _ capacity: Int,
        _ fill: (UnsafeMutablePointer<CChar>, Int) -> UnsafeMutablePointer<CChar>?
    ) -> String {
        withUnsafeTemporaryAllocation(of: CChar.self, capacity: capacity) { buffer in
            // The buffer holds `capacity` CChars, is NUL-terminated here, and libuv (snprintf-style) writes at most
            // `capacity` bytes including the terminator, so String(cString:) stays inside it.
            buffer.initialize(repeating: 0)
            _ = fill(buffer.baseAddress!, capacity)
            return String(cString: buffer.baseAddress!)
        }
    }
}

/// Returns `status` when it is zero or positive; throws a `UVError` naming `call` when libuv reports
/// failure (a negative status).
///
///     try uvCheck(uv_tcp_bind(tcp, addr, 0), "uv_tcp_bind")
@discardableResult
package func uvCheck(_ status: Int32, _ call: StaticString) throws(UVError) -> Int32 {
    guard status < 0 else { return status }
    throw UVError(code: status, call: call.description)
}
