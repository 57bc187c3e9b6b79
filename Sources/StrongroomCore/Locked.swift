import Synchronization

/// A value behind a mutex that escaping closures and child tasks can share (a cache, a tally, the
/// ETag a lease renewal updates). `Sendable` without `@unchecked`: `Mutex` is.
public final class Locked<Value: Sendable>: Sendable {
    private let mutex: Mutex<Value>

    /// Wraps `value`.
    public init(_ value: Value) { mutex = Mutex(value) }

    /// Runs `body` with the value, holding the mutex. Never wait or call back into the owner inside.
    public func withLock<R: Sendable>(_ body: (inout sending Value) throws -> sending R) rethrows -> sending R {
        try mutex.withLock(body)
    }
}
