import StrongroomCore
import Synchronization

/// The access policy in force, replaced as a whole on reload (SIGHUP): a request sees either the old
/// policy or the new one, never a mix; a policy file that does not parse leaves the old one in force.
public final class PolicyHolder: Sendable {
    /// The policy file's path.
    public let path: String
    private let policy: Mutex<AccessPolicy>

    /// Reads the policy file; throws (naming the file and line) when it does not parse.
    public init(path: String) throws(StrongroomError) {
        self.path = path
        self.policy = Mutex(try AccessPolicy.load(path: path))
    }

    /// The policy in force.
    public var current: AccessPolicy { policy.withLock { $0 } }

    /// Reads the file again and puts it in force; on error the old policy stays and the error is thrown.
    public func reload() throws(StrongroomError) {
        let fresh = try AccessPolicy.load(path: path)
        policy.withLock { $0 = fresh }
    }
}
