import SecureCrypto
import StrongroomConformance
import Testing

import Strongroom
@testable import StrongroomCore
@testable import StrongroomLocal

/// The conformance checks can fail: tiers broken on purpose (a local vault behind a faulty blob store
/// or keyring) make the relevant check throw a `ConformanceFailure` that names it.
@Suite struct BrokenTierTests {
    @Test func aBlobStoreThatIgnoresIfRevisionFailsTheBlobStoreContract() async throws {
        let failure = await #expect(throws: ConformanceFailure.self) {
            try await TierConformance { try await BrokenFixture(blobs: { RevisionIgnoringBlobStore(inner: $0) }) }
                .run([.blobStoreContract])
        }
        #expect(failure?.check == .blobStoreContract)
        #expect(failure?.code == .mismatch)
        #expect(failure?.step == "replace at a stale revision: written")
        #expect(
            failure?.reason.contains(
                "conformance check 'blobStoreContract' failed at step 'replace at a stale revision: written'") == true)
    }

    @Test func aKeyringThatReleasesAlteredSharesFailsEveryBitFlip() async throws {
        let failure = await #expect(throws: ConformanceFailure.self) {
            try await TierConformance { try await BrokenFixture(keyring: { LeakyKeyring(inner: $0) }) }.run([
                .everyBitFlip
            ])
        }
        #expect(failure?.check == .everyBitFlip)
        #expect(failure?.code == .unexpectedSuccess)
        #expect(failure?.actual.contains("the share opened and released") == true, "\(failure?.actual ?? "")")
        // The same keyring passes checks that never alter a blob: the failure is the bit flips'.
        try await TierConformance { try await BrokenFixture(keyring: { LeakyKeyring(inner: $0) }) }.run([.lifecycle])
    }

    @Test func aKeyringThatFlipsACiphertextBitOnOpenFailsTheLifecycle() async throws {
        let failure = await #expect(throws: ConformanceFailure.self) {
            try await TierConformance { try await BrokenFixture(keyring: { CiphertextFlippingKeyring(inner: $0) }) }
                .run([.lifecycle])
        }
        #expect(failure?.check == .lifecycle)
        #expect(failure?.code == .unexpectedError)
        #expect(failure?.step == "load alice's newest version")
        #expect((failure?.underlying as? StrongroomError)?.code == .integrityCheckFailed)
    }

    @Test func aFixtureThatCannotMakeAVaultIsAFixtureFailure() async throws {
        let failure = await #expect(throws: ConformanceFailure.self) {
            try await TierConformance { throw StrongroomError(.tierUnavailable, "no vault today") }.run()
        }
        #expect(failure?.code == .fixtureFailed)
        #expect(failure?.check == TierConformance.Check.all.first)
    }
}

/// A local vault whose stores see their keyring and blob store through the given wrappers.
struct BrokenFixture: TierConformanceFixture {
    let base: LocalFixture
    let wrapKeyring: @Sendable (any Keyring) -> any Keyring
    let wrapBlobs: @Sendable (any BlobStore) -> any BlobStore

    init(
        keyring: @escaping @Sendable (any Keyring) -> any Keyring = { $0 },
        blobs: @escaping @Sendable (any BlobStore) -> any BlobStore = { $0 }
    ) async throws {
        base = try await LocalFixture()
        wrapKeyring = keyring
        wrapBlobs = blobs
    }

    func open(faults: FaultInjection) async throws -> ShareStore {
        let real = try await base.open(faults: faults)
        return ShareStore(
            vaultID: real.vaultID, keyring: wrapKeyring(real.keyring), blobs: wrapBlobs(real.blobs),
            logger: quietLogger,
            faults: faults)
    }

    func blobStore() async throws -> any BlobStore { wrapBlobs(try await base.blobStore()) }
    func openWithWrongSecret() async throws -> ShareStore { try await base.openWithWrongSecret() }
    var wrongSecretCode: StrongroomError.Code { base.wrongSecretCode }
    var wrongSecretHint: String { base.wrongSecretHint }
    var rewrapOpensCiphertext: Bool { base.rewrapOpensCiphertext }
    func tearDown() async { await base.tearDown() }
}

/// A blob store that ignores `ifRevision`: a stale replace overwrites what another writer wrote.
struct RevisionIgnoringBlobStore: BlobStore {
    let inner: any BlobStore
    var location: String { inner.location }
    func read(_ key: String) async throws -> StoredBlob? { try await inner.read(key) }
    func create(_ key: String, _ bytes: [UInt8]) async throws -> Bool { try await inner.create(key, bytes) }
    func replace(_ key: String, _ bytes: [UInt8], ifRevision revision: String?) async throws -> Bool {
        try await inner.replace(key, bytes, ifRevision: nil)
    }
    func children(of prefix: String) async throws -> [String] { try await inner.children(of: prefix) }
    func destroy(_ key: String) async throws { try await inner.destroy(key) }
    func removePrefix(_ prefix: String) async throws { try await inner.removePrefix(prefix) }
    func finishInterrupted(under prefix: String, holdingExclusiveLock: Bool) async throws -> InterruptedWork {
        try await inner.finishInterrupted(under: prefix, holdingExclusiveLock: holdingExclusiveLock)
    }
    func withLock<T: Sendable>(_ mode: BlobLockMode, _ body: () async throws -> T) async throws -> T {
        try await inner.withLock(mode, body)
    }
    var sharedLockSpansProcesses: Bool { inner.sharedLockSpansProcesses }
}

/// Forwards everything but `open` to the real keyring.
protocol ForwardingKeyring: Keyring {
    var inner: any Keyring { get }
}

extension ForwardingKeyring {
    var tier: Tier { inner.tier }
    var kekID: String { inner.kekID }
    func seal(_ share: SecretBytes, associatedData: [UInt8], kekVersion: UInt32) async throws -> SealedShare {
        try await inner.seal(share, associatedData: associatedData, kekVersion: kekVersion)
    }
    func rewrap(_ sealed: SealedShare, associatedData: [UInt8], to target: UInt32) async throws -> SealedShare {
        try await inner.rewrap(sealed, associatedData: associatedData, to: target)
    }
    func prepareKEK(version: UInt32) async throws { try await inner.prepareKEK(version: version) }
    func retireKEKs(olderThan version: UInt32) async throws { try await inner.retireKEKs(olderThan: version) }
    func resumeKEK(version: UInt32, anySealedUnder: () async throws -> Bool) async throws {
        try await inner.resumeKEK(version: version, anySealedUnder: anySealedUnder)
    }
}

/// Does not fail closed: when the real keyring refuses a share as altered, it releases zero bytes of
/// the ciphertext's length instead of throwing.
struct LeakyKeyring: ForwardingKeyring {
    let inner: any Keyring
    func open(_ sealed: SealedShare, associatedData: [UInt8]) async throws -> SecretBytes {
        do {
            return try await inner.open(sealed, associatedData: associatedData)
        } catch let error as StrongroomError where error.code == .integrityCheckFailed {
            return try SecretBytes(count: max(1, sealed.ciphertext.count)) { buffer in
                for index in buffer.indices { buffer[index] = 0 }
            }
        }
    }
}

/// Flips a bit of the ciphertext before opening it: no share it sealed opens.
struct CiphertextFlippingKeyring: ForwardingKeyring {
    let inner: any Keyring
    func open(_ sealed: SealedShare, associatedData: [UInt8]) async throws -> SecretBytes {
        var flipped = sealed
        flipped.ciphertext[0] ^= 0x01
        return try await inner.open(flipped, associatedData: associatedData)
    }
}
