import Testing

/// Polls `condition` until it holds or `seconds` pass, then records an issue naming `what`.
/// The waiting is a short suspension between polls, never a fixed sleep standing in for a
/// condition (STYLE: wait on conditions, never on time).
public func eventually(
    _ what: String, within seconds: Double = 20, sourceLocation: SourceLocation = #_sourceLocation,
    _ condition: () async throws -> Bool
) async throws {
    let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(5))
    }
    Issue.record("timed out after \(seconds) s waiting for: \(what)", sourceLocation: sourceLocation)
}
