import Foundation
import MetRuntime
import Testing

/// `previousSecrets` (RELIABILITY S5): where they come from, their limits, and that an error
/// never repeats a secret (S9).
@Suite struct PreviousSecretsConfigTests {
    static let current = ["MET_CLUSTER_SECRET": "current-secret-0123456789abcdef"]

    static func parse(_ json: String) throws -> NodeConfig { try NodeConfig.parse(Data(json.utf8), source: "test.json") }

    @Test func theyComeFromTheEnvironmentElseTheKeyAndTheFiles() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("met-previous-\(getpid())")
        try Data("from-a-file-0123456789abcdef\n".utf8).write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        chmod(file.path, 0o644)
        let c = try Self.parse(#"{"node": "n", "previousSecrets": ["from-the-key-0123456789abcdef"], "previousSecretFiles": ["\#(file.path)"]}"#)
        let resolved = try c.validate(environment: Self.current)
        #expect(resolved.previousSecrets.count == 2)
        #expect(resolved.warnings.contains { $0.contains("previousSecretFiles \(file.path) is readable by other users") })
        // The environment replaces both.
        var env = Self.current
        env["MET_CLUSTER_PREVIOUS_SECRETS"] = "from-the-environment-0123456789"
        #expect(try c.validate(environment: env).previousSecrets.count == 1)
        // None at all is the normal case.
        #expect(try Self.parse(#"{"node": "n"}"#).validate(environment: Self.current).previousSecrets.isEmpty)
    }

    @Test func theCurrentSecretRepeatedIsDroppedAndThreeAreTooMany() throws {
        let same = try Self.parse(#"{"node": "n", "previousSecrets": ["current-secret-0123456789abcdef"]}"#)
        #expect(try same.validate(environment: Self.current).previousSecrets.isEmpty)
        let three = try Self.parse(#"{"node": "n", "previousSecrets": ["one-secret-0123456789abcdef", "two-secret-0123456789abcdef", "three-secret-0123456789abcdef"]}"#)
        #expect { _ = try three.validate(environment: Self.current) } throws: { "\($0)".contains("at most 2") }
    }

    @Test func aShortOneIsRefusedWithoutShowingIt() throws {
        let short = try Self.parse(#"{"node": "n", "previousSecrets": ["tiny-secret"]}"#)
        #expect {
            _ = try short.validate(environment: Self.current)
        } throws: { error in
            "\(error)".contains("previousSecrets entry 1") && "\(error)".contains("at least 16") && !"\(error)".contains("tiny-secret")
        }
        #expect { _ = try Self.parse(#"{"node": "n", "previousSecrets": "one"}"#) } throws: { "\($0)".contains("must be an array") }
    }
}
