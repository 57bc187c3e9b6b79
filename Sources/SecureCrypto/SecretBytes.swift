internal import CSodium
import Synchronization

/// A buffer of secret bytes (a key share, a data key, a PIN, a root seed) in locked memory.
///
/// The bytes live in memory from libsodium's `sodium_malloc`: guard pages on both sides, locked so
/// that it is not swapped out, and zeroed before it is freed. Secrets up to 4 KiB share guarded,
/// locked slabs (see `SecureArena`); larger ones get an allocation of their own. They are written
/// once, while the value is created, and read only through ``withUnsafeBytes(_:)``. Equality is
/// constant-time. The value prints as its type name and length, never its bytes, and it is
/// deliberately not `Codable`.
public final class SecretBytes: Sendable {
    // nonisolated(unsafe): the bytes behind `pointer` are written only inside the initialiser, before
    // the value is shared; afterwards they are only read, so concurrent readers cannot race a writer.
    private nonisolated(unsafe) let pointer: UnsafeMutableRawPointer
    private let allocation: Int

    /// The number of secret bytes.
    public let count: Int

    /// Creates a secret of `capacity` bytes, filled by `initializer`, which returns how many bytes it
    /// wrote (at most `capacity`). If the initialiser throws, the memory is wiped and freed.
    public convenience init(
        capacity: Int,
        initializer: (UnsafeMutableRawBufferPointer) throws -> Int
    ) throws {
        try self.init(capacity: capacity, filling: initializer, failure: { $0 })
    }

    /// Creates a secret of exactly `count` bytes, filled by `initializer`.
    public convenience init(count: Int, initializer: (UnsafeMutableRawBufferPointer) throws -> Void) throws {
        try self.init(capacity: count) { buffer in
            try initializer(buffer)
            return count
        }
    }

    /// The typed-throws form SecureCrypto's own code uses: an initialiser that fails only with
    /// ``CryptoError`` makes the whole creation throw only ``CryptoError``.
    convenience init(count: Int, filling: (UnsafeMutableRawBufferPointer) throws(CryptoError) -> Void) throws(CryptoError) {
        try self.init(capacity: count, filling: { (buffer) throws(CryptoError) -> Int in
            try filling(buffer)
            return count
        }, failure: { $0 })
    }

    /// Typed-throws form of ``init(capacity:initializer:)`` (see ``init(count:filling:)``).
    convenience init(capacity: Int, filling: (UnsafeMutableRawBufferPointer) throws(CryptoError) -> Int) throws(CryptoError) {
        try self.init(capacity: capacity, filling: filling, failure: { $0 })
    }

    /// The one place a secret is allocated and filled; `failure` turns this type's own failures
    /// (no locked memory, a bad length) into the initialiser's error type.
    private init<Failure: Error>(
        capacity: Int, filling initializer: (UnsafeMutableRawBufferPointer) throws(Failure) -> Int,
        failure: (CryptoError) -> Failure
    ) throws(Failure) {
        precondition(capacity >= 0, "SecretBytes capacity must not be negative")
        do {
            try SodiumRuntime.ensureInitialised()
        } catch {
            throw failure(error)
        }
        guard let (pointer, allocation) = SecureArena.shared.allocate(Swift.max(capacity, 1)) else {
            throw failure(
                CryptoError(
                    .outOfSecureMemory,
                    "sodium_malloc could not allocate \(capacity) locked bytes; check the locked-memory limit (ulimit -l)"))
        }
        do throws(Failure) {
            let written = try initializer(UnsafeMutableRawBufferPointer(start: pointer, count: capacity))
            guard written >= 0, written <= capacity else {
                throw failure(CryptoError(.invalidInput, "initialiser reported \(written) bytes for a \(capacity)-byte secret"))
            }
            self.count = written
        } catch {
            sodium_memzero(pointer, allocation)
            SecureArena.shared.release(pointer, size: allocation)
            throw error
        }
        self.pointer = pointer
        self.allocation = allocation
    }

    /// Copies bytes that are already in memory into a new secret. The caller remains responsible for
    /// wiping its own copy.
    public convenience init(copying bytes: UnsafeRawBufferPointer) throws(CryptoError) {
        try self.init(count: bytes.count, filling: { (buffer) throws(CryptoError) in
            if bytes.count > 0 { buffer.copyMemory(from: bytes) }
        })
    }

    deinit {
        sodium_memzero(pointer, allocation)
        SecretBytes.wipeObserver.withLock { observer in
            observer?(UnsafeRawBufferPointer(start: pointer, count: allocation))
        }
        SecureArena.shared.release(pointer, size: allocation)
    }

    /// Lends the secret bytes to `body`. Do not let the pointer escape the closure.
    public func withUnsafeBytes<Result, Failure: Error>(
        _ body: (UnsafeRawBufferPointer) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        try body(UnsafeRawBufferPointer(start: pointer, count: count))
    }

    /// Compares with other bytes in constant time (for equal lengths; lengths are not secret).
    public func constantTimeEquals(_ other: UnsafeRawBufferPointer) -> Bool {
        guard other.count == count else { return false }
        guard count > 0 else { return true }
        return sodium_memcmp(pointer, other.baseAddress!, count) == 0
    }

    // Test hook: called with the allocation after it has been zeroed and just before it is freed, so
    // tests can prove that a released secret leaves no bytes behind.
    package static let wipeObserver = Mutex<(@Sendable (UnsafeRawBufferPointer) -> Void)?>(nil)
}

extension SecretBytes: Equatable {
    /// Constant-time equality of two secrets.
    public static func == (lhs: SecretBytes, rhs: SecretBytes) -> Bool {
        rhs.withUnsafeBytes { lhs.constantTimeEquals($0) }
    }
}

extension SecretBytes: CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    /// The type name and length only, never the bytes.
    public var description: String { "SecretBytes(\(count) bytes)" }
    /// The type name and length only, never the bytes.
    public var debugDescription: String { description }
    /// A mirror without children, so that `dump` and reflection show no bytes.
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}

enum SodiumRuntime {
    private static let status: Int32 = sodium_init()

    static func ensureInitialised() throws(CryptoError) {
        // sodium_init returns 0 on first success, 1 when already initialised, -1 on failure.
        guard status >= 0 else {
            throw CryptoError(.libraryFailure, "libsodium failed to initialise (sodium_init returned \(status))")
        }
    }
}
