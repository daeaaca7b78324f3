import Foundation
import MetMesh

/// Previous cluster secrets (RELIABILITY S5): a node accepts peers proving any of them while a
/// rotation rolls out (docs/operations.md, "Rotating the cluster secret").
extension NodeConfig {
    /// Most previous secrets a node holds.
    package static let maxPreviousSecrets = 2

    /// The previous secrets from `MET_CLUSTER_PREVIOUS_SECRETS` (comma-separated; it replaces
    /// the file's), else `previousSecrets` then `previousSecretFiles`; each at least 16 bytes,
    /// at most two, the current secret dropped if repeated. Never echoes a secret in an error.
    static func resolvePreviousSecrets(_ previousSecrets: [String], files previousSecretFiles: [String], current: [UInt8],
                                       environment: [String: String]) -> Result<(secrets: [ClusterSecret], warnings: [String]), ConfigError> {
        var warnings: [String] = []
        var found: [(source: String, bytes: [UInt8])] = []
        if let fromEnv = environment["MET_CLUSTER_PREVIOUS_SECRETS"], !fromEnv.isEmpty {
            for (i, part) in fromEnv.split(separator: ",", omittingEmptySubsequences: true).enumerated() {
                found.append(("MET_CLUSTER_PREVIOUS_SECRETS entry \(i + 1)", Array(part.utf8)))
            }
        } else {
            for (i, s) in previousSecrets.enumerated() { found.append(("previousSecrets entry \(i + 1)", Array(s.utf8))) }
            for path in previousSecretFiles {
                guard let data = FileManager.default.contents(atPath: path) else {
                    return .failure(.bad("previousSecretFiles", "cannot read \(path)"))
                }
                var bytes = Array(data)
                while let last = bytes.last, last == 10 || last == 13 { bytes.removeLast() }  // a trailing newline is not part of it
                if let mode = (try? FileManager.default.attributesOfItem(atPath: path))?[.posixPermissions] as? Int, mode & 0o077 != 0 {
                    warnings.append("previousSecretFiles \(path) is readable by other users (mode \(String(mode, radix: 8))); chmod 600 it")
                }
                found.append(("previousSecretFiles \(path)", bytes))
            }
        }
        var result: [ClusterSecret] = []
        var seen: [[UInt8]] = [current]
        for (source, bytes) in found where !seen.contains(bytes) {
            seen.append(bytes)
            do { result.append(try ClusterSecret(bytes)) } catch { return .failure(.bad("previousSecrets", "\(source): \(error.description)")) }
        }
        guard result.count <= Self.maxPreviousSecrets else {
            return .failure(.bad("previousSecrets", "\(result.count) previous secrets; at most \(Self.maxPreviousSecrets) are accepted (finish one rotation before starting the next)"))
        }
        return .success((result, warnings))
    }
}
