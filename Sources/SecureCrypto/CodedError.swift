/// The one shape every Strongroom module's error has: a code that says what kind of failure it is, a
/// reason that names what failed and what to do, and the underlying cause (an errno, a `CK_RV`, an
/// OpenSSL queue, an S3 answer), never secret bytes. Two errors are equal when their codes are, so
/// tests and callers match on the code and never on wording.
///
/// Codes are structs with public factories, so a module (or a tier outside this package) adds codes
/// of its own without a change here.
public protocol CodedError: Error, Hashable, Sendable, CustomStringConvertible {
    /// The kind of code this error uses.
    associatedtype Code: Hashable, Sendable, CustomStringConvertible
    /// What kind of failure this is.
    var code: Code { get }
    /// What failed, and what to do about it.
    var reason: String { get }
    /// The error this one was made from, if any.
    var underlying: (any Error & Sendable)? { get }
}

extension CodedError {
    /// Equal when the codes are.
    public static func == (lhs: Self, rhs: Self) -> Bool { lhs.code == rhs.code }
    /// Hashes the code only.
    public func hash(into hasher: inout Hasher) { hasher.combine(code) }
}
