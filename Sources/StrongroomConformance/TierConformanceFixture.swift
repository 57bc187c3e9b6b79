import SecureCrypto
import StrongroomCore

/// One fresh vault of the tier under test, as the conformance suite needs it. ``TierConformance``
/// makes a new fixture for every check and calls ``tearDown()`` after it, whether the check passed.
///
/// A tier implements this in its own test target: it initialises a vault (a temporary directory, a
/// fresh bucket prefix, a fresh HSM key label) in its initialiser and hands out stores on it.
public protocol TierConformanceFixture: Sendable {
    /// Opens a new ``ShareStore`` on the fixture's vault, as a newly started process would (a second
    /// call is another process's view of the same vault), calling `faults` at each ``FaultPoint``
    /// (pass them to ``ShareStore/init(vaultID:keyring:blobs:logger:faults:)``).
    func open(faults: FaultInjection) async throws -> ShareStore
    /// The vault's ``BlobStore``, the same one the stores of ``open(faults:)`` read and write. The
    /// suite tampers with blobs through it: copies, swaps, single-bit flips, truncations.
    func blobStore() async throws -> any BlobStore
    /// Opens the vault with the wrong key material (another root seed, KMS credentials, HSM token or
    /// key); must throw a ``StrongroomError`` with ``wrongSecretCode``.
    func openWithWrongSecret() async throws -> ShareStore
    /// The code ``openWithWrongSecret()`` must throw.
    var wrongSecretCode: StrongroomError.Code { get }
    /// Words the reason of that error must contain, so that an operator knows what is wrong.
    var wrongSecretHint: String { get }
    /// Whether the tier's ``Keyring/rewrap(_:associatedData:to:)`` opens the share ciphertext, and so
    /// finds a corrupted ciphertext during a rotation (a local or HSM keyring does; a KMS `ReEncrypt`
    /// never brings the data key out, so such a tier finds it on the next load instead).
    var rewrapOpensCiphertext: Bool { get }
    /// Removes everything the fixture made (files, objects, keys). Must not throw.
    func tearDown() async
}

extension TierConformanceFixture {
    /// Opens a new store on the fixture's vault without fault injection.
    public func open() async throws -> ShareStore { try await open(faults: .none) }
}
