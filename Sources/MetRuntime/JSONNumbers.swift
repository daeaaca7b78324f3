import Foundation

/// Reading numbers out of `JSONSerialization` results the same way on every platform.
enum JSONNumbers {
    /// A JSON `true`/`false`. (On Linux, `1 is Bool` holds for a parsed integer 1, so the
    /// number's type code is what tells them apart: booleans are `c`.)
    static func isBool(_ raw: Any) -> Bool {
        guard let n = raw as? NSNumber else { return raw is Bool }
        return String(cString: n.objCType) == "c"
    }

    /// The number, unless `raw` is a boolean or not a number.
    static func number(_ raw: Any) -> NSNumber? {
        guard !isBool(raw) else { return nil }
        return raw as? NSNumber
    }
}
