/// `text` with every password it may contain replaced by `***`, so it can be logged.
///
/// Covers the two forms libpq accepts:
/// - keyword/value: `password=secret`, `password = 'it''s \' quoted'`, and any keyword ending in
///   `password` (`sslpassword=`, `PGPASSWORD=`), matched case-insensitively; an unquoted value
///   runs to the next whitespace (or, in a URI query, to the next `&`);
/// - URI userinfo: `postgres://user:secret@host` (any `scheme://`); the userinfo ends at the
///   last `@` before whitespace, so an unescaped `@` or `/` in the password is still hidden.
///
/// When unsure it hides too much rather than too little.
package func redactingPassword(_ text: String) -> String {
    var bytes = Array(text.utf8)
    bytes = redactKeywordValues(bytes)
    bytes = redactURIUserinfo(bytes)
    return String(decoding: bytes, as: UTF8.self)
}

private let mask = Array("***".utf8)
private let keyword = Array("password".utf8)

private func isSpace(_ byte: UInt8) -> Bool {
    byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\n")
        || byte == UInt8(ascii: "\r") || byte == 0x0B || byte == 0x0C
}

private func lowercased(_ byte: UInt8) -> UInt8 {
    (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains(byte) ? byte + 32 : byte
}

/// `…password<spaces>=<spaces>value` → `…password<spaces>=<spaces>***`.
private func redactKeywordValues(_ input: [UInt8]) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(input.count)
    var i = 0
    while i < input.count {
        guard i + keyword.count <= input.count,
            zip(input[i..<i + keyword.count], keyword).allSatisfy({ lowercased($0) == $1 })
        else {
            out.append(input[i])
            i += 1
            continue
        }
        // In a URI query (`?password=` / `&password=`) values are `&`-separated.
        let inQuery = i > 0 && (input[i - 1] == UInt8(ascii: "?") || input[i - 1] == UInt8(ascii: "&"))
        var j = i + keyword.count
        while j < input.count, isSpace(input[j]) { j += 1 }
        guard j < input.count, input[j] == UInt8(ascii: "=") else {  // "password authentication failed"
            out.append(contentsOf: input[i..<j])
            i = j
            continue
        }
        j += 1
        while j < input.count, isSpace(input[j]) { j += 1 }
        out.append(contentsOf: input[i..<j])
        out.append(contentsOf: mask)
        i = valueEnd(input, from: j, inQuery: inQuery)
    }
    return out
}

/// Where the value starting at `start` ends: after its closing quote (libpq: `\'` and `\\` are
/// escapes, and an unterminated quote runs to the end), else at whitespace (or `&`/`#` in a query).
private func valueEnd(_ input: [UInt8], from start: Int, inQuery: Bool) -> Int {
    var j = start
    if j < input.count, input[j] == UInt8(ascii: "'") {
        j += 1
        while j < input.count {
            if input[j] == UInt8(ascii: "\\") { j += 2; continue }
            if input[j] == UInt8(ascii: "'") { return j + 1 }
            j += 1
        }
        return input.count
    }
    while j < input.count, !isSpace(input[j]) {
        if inQuery, input[j] == UInt8(ascii: "&") || input[j] == UInt8(ascii: "#") { break }
        j += 1
    }
    return min(j, input.count)
}

/// `scheme://user:secret@host` → `scheme://user:***@host`.
private func redactURIUserinfo(_ input: [UInt8]) -> [UInt8] {
    var out: [UInt8] = []
    out.reserveCapacity(input.count)
    var i = 0
    while i < input.count {
        guard i + 3 <= input.count, input[i] == UInt8(ascii: ":"), input[i + 1] == UInt8(ascii: "/"),
            input[i + 2] == UInt8(ascii: "/")
        else {
            out.append(input[i])
            i += 1
            continue
        }
        let start = i + 3
        var end = start
        while end < input.count, !isSpace(input[end]) { end += 1 }
        out.append(contentsOf: input[i..<start])
        guard let at = input[start..<end].lastIndex(of: UInt8(ascii: "@")),
            let colon = input[start..<at].firstIndex(of: UInt8(ascii: ":"))
        else {
            i = start
            continue
        }
        out.append(contentsOf: input[start...colon])
        out.append(contentsOf: mask)
        i = at  // keep "@host..."; any later "://" on the line is still scanned
    }
    return out
}
