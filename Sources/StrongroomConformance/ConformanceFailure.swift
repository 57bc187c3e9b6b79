import SecureCrypto

/// A conformance check that did not hold: which check, at which step, what the check expected and
/// what the tier did. The texts name ids, versions, codes and sizes, never secret bytes.
public struct ConformanceFailure: CodedError {
    /// What kind of failure this is.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        private enum Base: String, Sendable {
            case mismatch = "mismatch"
            case unexpectedSuccess = "unexpected success"
            case unexpectedError = "unexpected error"
            case fixtureFailed = "fixture failed"
        }
        private let base: Base
        private init(_ base: Base) { self.base = base }

        /// A value (a version number, a listing, a status field, a loaded share) was not the expected one.
        public static let mismatch = Code(.mismatch)
        /// An operation that must fail succeeded (a tampered blob opened, a stale write went through).
        public static let unexpectedSuccess = Code(.unexpectedSuccess)
        /// An operation threw where it must succeed, or threw another error than the one expected.
        public static let unexpectedError = Code(.unexpectedError)
        /// The fixture could not make, open or clean up its vault.
        public static let fixtureFailed = Code(.fixtureFailed)

        /// The code's name.
        public var description: String { base.rawValue }
    }

    /// What kind of failure this is.
    public let code: Code
    /// The check that failed.
    public let check: TierConformance.Check
    /// The step of the check that failed, in words ("load 'alice' version 1 after the erase").
    public let step: String
    /// What the check expected.
    public let expected: String
    /// What happened instead.
    public let actual: String
    /// The error the tier threw, if that is what happened.
    public let underlying: (any Error & Sendable)?

    /// Creates a failure.
    public init(
        _ code: Code, check: TierConformance.Check, step: String, expected: String, actual: String,
        underlying: (any Error & Sendable)? = nil
    ) {
        self.code = code
        self.check = check
        self.step = step
        self.expected = expected
        self.actual = actual
        self.underlying = underlying
    }

    /// The check, the step, what was expected and what happened.
    public var reason: String {
        "conformance check '\(check)' failed at step '\(step)': expected \(expected), got \(actual)"
    }

    /// The code and the reason.
    public var description: String { "ConformanceFailure(\(code)): \(reason)" }
}
