import Synchronization

/// What the transport layer tells the service: whether the server drains (SIGTERM received), and its
/// version for Health.
public final class ServerRuntime: Sendable {
    private let drainingFlag = Atomic<Bool>(false)
    /// The server's version (Health's `version`).
    public let version: String

    public init(version: String) { self.version = version }

    /// True once SIGTERM was received: new requests are refused with
    /// ``StrongroomError/Code/draining``, in-flight ones finish.
    public var draining: Bool { drainingFlag.load(ordering: .acquiring) }

    /// Marks the server as draining.
    public func beginDraining() { drainingFlag.store(true, ordering: .releasing) }
}
