import SecureCrypto
import StrongroomCore

/// The conformance suite every Strongroom tier passes: a library that a tier's own tests call, each
/// check against a fresh vault the tier's ``TierConformanceFixture`` makes. A check that does not hold
/// throws a ``ConformanceFailure`` naming the check, the step, what was expected and what happened.
///
/// ```swift
/// @Test(arguments: TierConformance.Check.all)
/// func conformance(check: TierConformance.Check) async throws {
///     try await TierConformance { try await MyTierFixture() }.run([check])
/// }
/// ```
///
/// The checks use only the public API of `Strongroom`: stores opened by the fixture, and the
/// fixture's ``BlobStore`` to tamper with what the tier stored. docs/conformance.md lists them.
public struct TierConformance: Sendable {
    /// One check of the suite.
    public enum Check: Sendable, Hashable, CustomStringConvertible {
        /// Store, load, versions, list, status and erase, seen from a second store instance too.
        case lifecycle
        /// A missing version, an empty and an oversized share are clear errors of the right code.
        case clearErrors
        /// The blob store's contract: create only when absent (and exactly one of racing creates
        /// wins), replace only at the revision read, sorted children, destroy.
        case blobStoreContract
        /// A blob copied to another share id or version, a header rewritten to match, and two blobs
        /// swapped are integrity errors; the untouched shares still load.
        case copiesAndSwaps
        /// Every single-bit flip of a real envelope, and its truncations and extension, is an integrity
        /// error that releases nothing; the restored blob opens again.
        case everyBitFlip
        /// Opening the vault with the wrong key material fails with the fixture's code and hint.
        case wrongKey
        /// Concurrent stores and loads from many tasks and two store instances: every task gets its
        /// own shares back, version numbers of a contended id are 1...n without gaps or repeats.
        case concurrency
        /// A rotation rewraps every version under the new KEK, leaves each ciphertext alone, and
        /// reports and counts what it did; a second rotation moves everything again.
        case rotation
        /// A dry-run rotation counts and changes nothing.
        case dryRun
        /// A blob put back from before two finished rotations names a retired KEK: refused on load,
        /// reported by status and versions, and not laundered by a rotation.
        case blobRestoredFromBeforeRotation
        /// A version whose wrapped data key is corrupted stops a rotation, which leaves it alone,
        /// keeps the old KEK active, and finishes once the version is erased.
        case corruptedWrappedKeyDuringRotation
        /// A version whose ciphertext is corrupted: a tier whose rewrap opens the ciphertext stops the
        /// rotation as for a corrupted wrapped key; the other tiers finish the rotation, keep the
        /// ciphertext as it was and refuse the version on load.
        case corruptedCiphertextDuringRotation
        /// A rotation that crashes at the point: every share still loads from a new instance, the
        /// rotation is pending, new shares go under the new KEK, and the next rotation finishes it.
        case crashDuringRotation(at: FaultPoint)
        /// With a recovery key enrolled, shares are written as v2 envelopes with a recovery section
        /// for the key; every single-bit flip of one is an integrity error; the recovery section
        /// stripped, or swapped with another blob's, is refused; rotation keeps the section.
        case recoveryKey

        /// The rotation points the suite crashes at, with ten share versions in the vault: the journal
        /// written; before and after the first, a middle and the last version is written back; before
        /// the finish.
        public static let rotationCrashPoints: [FaultPoint] = [
            .rotationJournalWritten,
            .rotationBeforeReplace(index: 0), .rotationAfterReplace(index: 0),
            .rotationBeforeReplace(index: 4), .rotationAfterReplace(index: 8),
            .rotationBeforeReplace(index: 9), .rotationAfterReplace(index: 9),
            .rotationBeforeFinish,
        ]

        /// Every check, in the order ``TierConformance/run(_:)`` runs them by default.
        public static let all: [Check] =
            [
                .lifecycle, .clearErrors, .blobStoreContract, .copiesAndSwaps, .everyBitFlip, .wrongKey,
                .concurrency, .rotation, .dryRun, .blobRestoredFromBeforeRotation,
                .corruptedWrappedKeyDuringRotation, .corruptedCiphertextDuringRotation,
            ] + rotationCrashPoints.map { .crashDuringRotation(at: $0) } + [.recoveryKey]

        /// The check's name, as tests and failures show it.
        public var description: String {
            switch self {
            case .lifecycle: "lifecycle"
            case .clearErrors: "clearErrors"
            case .blobStoreContract: "blobStoreContract"
            case .copiesAndSwaps: "copiesAndSwaps"
            case .everyBitFlip: "everyBitFlip"
            case .wrongKey: "wrongKey"
            case .concurrency: "concurrency"
            case .rotation: "rotation"
            case .dryRun: "dryRun"
            case .blobRestoredFromBeforeRotation: "blobRestoredFromBeforeRotation"
            case .corruptedWrappedKeyDuringRotation: "corruptedWrappedKeyDuringRotation"
            case .corruptedCiphertextDuringRotation: "corruptedCiphertextDuringRotation"
            case .crashDuringRotation(let point): "crashDuringRotation(\(point))"
            case .recoveryKey: "recoveryKey"
            }
        }
    }

    private let makeFixture: @Sendable () async throws -> any TierConformanceFixture

    /// A suite over fixtures that `makeFixture` makes, one fresh vault per check.
    public init(makeFixture: @escaping @Sendable () async throws -> any TierConformanceFixture) {
        self.makeFixture = makeFixture
    }

    /// Runs `checks` in order, each on a fresh fixture that is torn down afterwards, and throws the
    /// first ``ConformanceFailure``.
    public func run(_ checks: [Check] = Check.all) async throws(ConformanceFailure) {
        for check in checks {
            let fixture: any TierConformanceFixture
            do {
                fixture = try await makeFixture()
            } catch {
                throw ConformanceFailure(
                    .fixtureFailed, check: check, step: "make the fixture's vault", expected: "a fresh vault",
                    actual: "\(error)", underlying: error)
            }
            do {
                let probe = try await Probe(check: check, fixture: fixture)
                try await probe.run()
            } catch {
                await fixture.tearDown()
                throw error
            }
            await fixture.tearDown()
        }
    }
}

extension TierConformance.Check {
    /// Runs the check's body against `probe`.
    func body(_ probe: Probe) async throws(ConformanceFailure) {
        switch self {
        case .lifecycle: try await probe.lifecycle()
        case .clearErrors: try await probe.clearErrors()
        case .blobStoreContract: try await probe.blobStoreContract()
        case .copiesAndSwaps: try await probe.copiesAndSwaps()
        case .everyBitFlip: try await probe.everyBitFlip()
        case .wrongKey: try await probe.wrongKey()
        case .concurrency: try await probe.concurrency()
        case .rotation: try await probe.rotation()
        case .dryRun: try await probe.dryRun()
        case .blobRestoredFromBeforeRotation: try await probe.blobRestoredFromBeforeRotation()
        case .corruptedWrappedKeyDuringRotation: try await probe.corruptedDuringRotation(ciphertext: false)
        case .corruptedCiphertextDuringRotation: try await probe.corruptedDuringRotation(ciphertext: true)
        case .crashDuringRotation(let point): try await probe.crashDuringRotation(at: point)
        case .recoveryKey: try await probe.recoveryKey()
        }
    }
}
