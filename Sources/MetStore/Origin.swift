/// The node process that recorded a point: its name and the incarnation chosen at its start.
///
/// Every point is owned by exactly one origin, and only that origin ever adds to it, which is
/// what lets replicas merge each other's copies without double counting (DESIGN §3).
public struct Origin: Sendable, Hashable, Codable, CustomStringConvertible {
    public var node: String
    public var incarnation: UInt64

    public init(node: String, incarnation: UInt64) {
        self.node = node
        self.incarnation = incarnation
    }

    public var description: String { "\(node)#\(incarnation)" }
}
