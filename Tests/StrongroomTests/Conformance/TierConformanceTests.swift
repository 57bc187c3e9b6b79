import Foundation
import SecureCrypto
import Synchronization
import Testing
import Strongroom
@testable import StrongroomCloud
@testable import StrongroomCore
@testable import StrongroomHSM
@testable import StrongroomLocal

/// The suite every tier must pass (see TierFixture.swift for how a tier joins it).
@Suite struct TierConformanceTests {
    @Test(arguments: TierUnderTest.allCases)
    func storeLoadListVersionsAndErase(_ tier: TierUnderTest) async throws {
        try await withFixture(tier) { fixture in
            let store = try await fixture.open()
            let alice = try id("alice"), bob = try id("bob")
            #expect(try await store.store(alice, secret("alice v1"), metadata: ["party": "1"]) == 1)
            #expect(try await store.store(alice, secret("alice v2")) == 2)
            #expect(try await store.store(bob, secret("bob v1")) == 1)

            #expect(text(try await store.load(alice)) == "alice v2")
            #expect(text(try await store.load(alice, version: 1)) == "alice v1")
            #expect(text(try await store.load(bob)) == "bob v1")

            let listed = try await store.list()
            #expect(listed.map(\.id) == [alice, bob])
            #expect(listed.map(\.latestVersion) == [2, 1])
            let versions = try await store.versions(alice)
            #expect(versions.map(\.version) == [1, 2])
            #expect(versions[0].metadata == ["party": "1"])
            #expect(versions.allSatisfy { $0.kekVersion == 1 })

            // A second instance (another process) sees the same shares.
            let again = try await fixture.open()
            #expect(text(try await again.load(alice)) == "alice v2")

            #expect(try await store.erase(alice) == 2)
            for version: UInt64? in [nil, 1, 2] {
                let error = await #expect(throws: StrongroomError.self) { try await store.load(alice, version: version) }
                #expect(error?.code == .shareNotFound)
            }
            #expect(try await store.list().map(\.id) == [bob])
            await #expect(throws: StrongroomError.self) { try await store.versions(alice) }
            await #expect(throws: StrongroomError.self) { try await store.erase(alice) }
            // The id can be used again; it starts over at version 1.
            #expect(try await store.store(alice, secret("alice again")) == 1)
        }
    }

    @Test(arguments: TierUnderTest.allCases)
    func missingVersionAndEmptyOrOversizedShareAreClearErrors(_ tier: TierUnderTest) async throws {
        try await withFixture(tier) { fixture in
            let store = try await fixture.open()
            let share = try id("s")
            _ = try await store.store(share, secret("x"))
            let missing = await #expect(throws: StrongroomError.self) { try await store.load(share, version: 9) }
            #expect(missing?.code == .shareNotFound)
            #expect(missing?.reason.contains("version 9") == true)
            let empty = await #expect(throws: StrongroomError.self) {
                try await store.store(share, try SecretBytes(count: 0) { _ in })
            }
            #expect(empty?.code == .invalidInput)
            let huge = await #expect(throws: StrongroomError.self) {
                try await store.store(share, try SecureRandom.secretBytes(count: 65537))
            }
            #expect(huge?.code == .invalidInput)
        }
    }

    @Test(arguments: TierUnderTest.allCases)
    func rotationRewrapsEveryShareAndLeavesCiphertextAlone(_ tier: TierUnderTest) async throws {
        try await withFixture(tier) { fixture in
            let store = try await fixture.open()
            var expected: [ShareID: String] = [:]
            for index in 0..<6 {
                let share = try id("share-\(index)")
                expected[share] = "secret \(index)"
                _ = try await store.store(share, secret("secret \(index)"))
            }
            let before = try await envelopes(store)
            let progress = Mutex<[RotationProgress]>([])
            let report = try await store.rotateWrappingKey { event in progress.withLock { $0.append(event) } }
            #expect(report.targetVersion == 2)
            #expect(report.rewrapped == 6)
            #expect(report.fromVersions == [1])
            #expect(report.failures.isEmpty)
            #expect(progress.withLock { $0.last } == RotationProgress(done: 6, total: 6, rewrapped: 6, alreadyCurrent: 0, failed: 0))

            let after = try await envelopes(store)
            for (key, old) in before {
                let new = try #require(after[key])
                #expect(new.sealed.kekVersion == 2)
                #expect(new.sealed.ciphertext == old.sealed.ciphertext)
                #expect(new.sealed.tag == old.sealed.tag)
                #expect(new.sealed.iv == old.sealed.iv)
                #expect(new.sealed.wrappedKey != old.sealed.wrappedKey)
            }
            for (share, value) in expected { #expect(text(try await store.load(share)) == value) }
            let status = try await store.status()
            #expect(status.currentKEKVersion == 2)
            #expect(status.oldestActiveKEKVersion == 2)
            #expect(status.pendingRotationTarget == nil)
            #expect(status.versionsPerKEKVersion == [2: 6])

            // New shares go under the new KEK; a second rotation moves everything to version 3.
            _ = try await store.store(try id("late"), secret("late"))
            #expect(try await store.versions(try id("late"))[0].kekVersion == 2)
            #expect(try await store.rotateWrappingKey().targetVersion == 3)
            #expect(try await store.status().versionsPerKEKVersion == [3: 7])
        }
    }

    /// A blob saved while KEK version 1 was current and written back after two finished rotations
    /// names a retired KEK: every tier refuses it (tier 1 could still derive that KEK), `status` and
    /// `versions` report it without counting or hiding the sound versions, and a rotation does not
    /// launder it into the current KEK.
    @Test(arguments: TierUnderTest.allCases)
    func aBlobPutBackFromBeforeAFinishedRotationIsRefused(_ tier: TierUnderTest) async throws {
        try await withFixture(tier) { fixture in
            let store = try await fixture.open()
            let share = try id("restored")
            _ = try await store.store(share, secret("old value"))
            _ = try await store.store(share, secret("new value"))
            let key = ShareStore.blobKey(share, 1)
            let saved = try #require(try await store.blobs.read(key)).bytes
            _ = try await store.rotateWrappingKey()
            _ = try await store.rotateWrappingKey()
            #expect(try await store.blobs.replace(key, saved, ifRevision: nil))

            for reader in [store, try await fixture.open()] {
                let error = await #expect(throws: StrongroomError.self) { try await reader.load(share, version: 1) }
                #expect(error?.code == .integrityCheckFailed)
                #expect(error?.reason.contains("names KEK version 1") == true, "\(error?.reason ?? "")")
                #expect(error?.reason.contains("active KEK versions are 3–3") == true, "\(error?.reason ?? "")")
                #expect(text(try await reader.load(share)) == "new value")
            }
            let status = try await store.status()
            #expect(status.versionsPerKEKVersion == [3: 1])
            #expect(status.problems.count == 1)
            #expect(status.problems.first?.contains("share 'restored' version 1") == true)
            let versions = try await store.versions(share)
            #expect(versions.map(\.version) == [1, 2])
            #expect(versions[0].problem?.contains("names KEK version 1") == true)
            #expect(versions[0].kekVersion == 1)
            #expect(versions[1].problem == nil && versions[1].kekVersion == 3)

            let rotation = await #expect(throws: StrongroomError.self) { try await store.rotateWrappingKey() }
            #expect(rotation?.code == .rotationIncomplete)
            #expect(try await store.blobs.read(key)?.bytes == saved)
        }
    }

    @Test(arguments: TierUnderTest.allCases)
    func dryRunCountsAndChangesNothing(_ tier: TierUnderTest) async throws {
        try await withFixture(tier) { fixture in
            let store = try await fixture.open()
            for index in 0..<3 { _ = try await store.store(try id("d\(index)"), secret("v")) }
            let before = try await envelopes(store)
            let report = try await store.rotateWrappingKey(dryRun: true)
            #expect(report.dryRun)
            #expect(report.rewrapped == 3)
            #expect(report.targetVersion == 2)
            #expect(try await envelopes(store) == before)
            #expect(try await store.status().currentKEKVersion == 1)
        }
    }

    @Test(arguments: TierUnderTest.allCases)
    func rejectsBlobCopiedToAnotherIDOrVersion(_ tier: TierUnderTest) async throws {
        try await withFixture(tier) { fixture in
            let store = try await fixture.open()
            let alice = try id("alice"), bob = try id("bob")
            _ = try await store.store(alice, secret("alice secret"))
            _ = try await store.store(bob, secret("bob secret"))
            _ = try await store.store(bob, secret("bob secret 2"))
            let aliceBlob = try #require(try await store.blobs.read(ShareStore.blobKey(alice, 1)))
            // Onto another id.
            _ = try await store.blobs.replace(ShareStore.blobKey(bob, 1), aliceBlob.bytes, ifRevision: nil)
            let swapped = await #expect(throws: StrongroomError.self) { try await store.load(bob, version: 1) }
            #expect(swapped?.code == .integrityCheckFailed)
            // Onto another version of the same id.
            _ = try await store.blobs.replace(ShareStore.blobKey(alice, 2), aliceBlob.bytes, ifRevision: nil)
            let moved = await #expect(throws: StrongroomError.self) { try await store.load(alice, version: 2) }
            #expect(moved?.code == .integrityCheckFailed)
            // Even with the header rewritten to match, the authenticated data gives it away.
            var forged = try Envelope(parsing: aliceBlob.bytes)
            forged.shareVersion = 2
            _ = try await store.blobs.replace(ShareStore.blobKey(alice, 2), forged.serialized(), ifRevision: nil)
            let relabelled = await #expect(throws: StrongroomError.self) { try await store.load(alice, version: 2) }
            #expect(relabelled?.code == .integrityCheckFailed)
            // Untouched shares still load.
            #expect(text(try await store.load(alice, version: 1)) == "alice secret")
            #expect(text(try await store.load(bob, version: 2)) == "bob secret 2")
        }
    }

    /// Every bit of a blob flipped in turn must fail as an integrity error. The bits are shared out
    /// among a few tasks, each flipping bits of its own share's blob (all blobs have the same shape),
    /// so a tier behind a network (tier 2) is not bound by one request at a time.
    @Test(arguments: TierUnderTest.allCases)
    func everySingleBitFlipIsAnIntegrityError(_ tier: TierUnderTest) async throws {
        try await withFixture(tier) { fixture in
            let store = try await fixture.open()
            let workers = 6
            var originals: [[UInt8]] = []
            for worker in 0..<workers {
                let share = try id("flip-me-\(worker)")
                _ = try await store.store(share, secret("a 32-byte threshold key share!!"), metadata: ["k": "v"])
                originals.append(try #require(try await store.blobs.read(ShareStore.blobKey(share, 1))).bytes)
            }
            let length = originals[0].count
            #expect(originals.allSatisfy { $0.count == length })
            let failures = try await withThrowingTaskGroup(of: Int.self) { group in
                for worker in 0..<workers {
                    let share = try id("flip-me-\(worker)")
                    let original = originals[worker]
                    group.addTask {
                        let key = ShareStore.blobKey(share, 1)
                        var failures = 0
                        for bit in stride(from: worker, to: length * 8, by: workers) {
                            var altered = original
                            altered[bit / 8] ^= UInt8(1 << (bit % 8))
                            _ = try await store.blobs.replace(key, altered, ifRevision: nil)
                            do {
                                _ = try await store.load(share, version: 1)
                                failures += 1
                                Issue.record("bit \(bit) flipped and the share still opened")
                            } catch let error as StrongroomError where error.code == .integrityCheckFailed {
                                continue
                            } catch {
                                failures += 1
                                Issue.record("bit \(bit): expected an integrity error, got \(error)")
                            }
                        }
                        _ = try await store.blobs.replace(key, original, ifRevision: nil)
                        return failures
                    }
                }
                return try await group.reduce(0, +)
            }
            #expect(failures == 0)
            // Truncations and an extension are integrity errors too.
            let share = try id("flip-me-0")
            let key = ShareStore.blobKey(share, 1)
            let original = originals[0]
            for altered in [Array(original.prefix(10)), Array(original.dropLast()), original + [0], []] {
                _ = try await store.blobs.replace(key, altered, ifRevision: nil)
                let error = await #expect(throws: StrongroomError.self) { try await store.load(share, version: 1) }
                #expect(error?.code == .integrityCheckFailed)
            }
            _ = try await store.blobs.replace(key, original, ifRevision: nil)
            #expect(text(try await store.load(share)) == "a 32-byte threshold key share!!")
        }
    }

    @Test(arguments: TierUnderTest.allCases)
    func wrongSecretFailsClearly(_ tier: TierUnderTest) async throws {
        try await withFixture(tier) { fixture in
            let store = try await fixture.open()
            _ = try await store.store(try id("s"), secret("v"))
            let error = await #expect(throws: StrongroomError.self) { try await fixture.openWithWrongSecret() }
            #expect(error?.code == fixture.wrongSecretCode)
            #expect(error?.reason.contains(fixture.wrongSecretHint) == true, "\(error?.reason ?? "")")
        }
    }

    @Test(arguments: TierUnderTest.allCases)
    func concurrentTasksGetExactlyTheirOwnShares(_ tier: TierUnderTest) async throws {
        try await withFixture(tier) { fixture in
            let store = try await fixture.open()
            let shared = try id("contended")
            let mismatches = try await withThrowingTaskGroup(of: Int.self) { group in
                for task in 0..<24 {
                    group.addTask {
                        var bad = 0
                        let mine = try id("task-\(task)")
                        for round in 0..<5 {
                            let value = "task \(task) round \(round) \(UUID().uuidString)"
                            let version = try await store.store(mine, secret(value))
                            if version != UInt64(round + 1) { bad += 1 }
                            if text(try await store.load(mine, version: version)) != value { bad += 1 }
                            if text(try await store.load(mine)) != value { bad += 1 }
                        }
                        // Everyone also writes to one shared id: version numbers must not collide.
                        _ = try await store.store(shared, secret("from \(task)"))
                        return bad
                    }
                }
                return try await group.reduce(0, +)
            }
            #expect(mismatches == 0)
            let versions = try await store.versions(shared)
            #expect(versions.map(\.version) == Array(1...24))
            var seen = Set<String>()
            for version in versions { seen.insert(text(try await store.load(shared, version: version.version))) }
            #expect(seen.count == 24)
        }
    }

    /// Crash points: journal written; before and after a blob is written back; before the finish.
    static let crashPoints: [FaultPoint] = [
        .rotationJournalWritten, .rotationBeforeReplace(index: 0), .rotationAfterReplace(index: 0),
        .rotationBeforeReplace(index: 4), .rotationAfterReplace(index: 8), .rotationBeforeFinish,
    ]

    @Test(arguments: TierUnderTest.allCases, crashPoints)
    func interruptedRotationResumesAndLosesNothing(_ tier: TierUnderTest, crashAt point: FaultPoint) async throws {
        try await withFixture(tier) { fixture in
            let store = try await fixture.open()
            var expected: [(ShareID, UInt64, String)] = []
            for index in 0..<7 {
                let share = try id("p\(index)")
                for round in 0..<(index % 2 + 1) {
                    let value = "share \(index) v\(round + 1)"
                    expected.append((share, try await store.store(share, secret(value)), value))
                }
            }
            #expect(expected.count == 10)
            let crashing = try await fixture.open(faults: FaultInjection { if $0 == point { throw SimulatedCrash() } })
            await #expect(throws: SimulatedCrash.self) { try await crashing.rotateWrappingKey() }

            // "After the restart": a new instance reads everything, mid-rotation.
            let restarted = try await fixture.open()
            for (share, version, value) in expected {
                #expect(text(try await restarted.load(share, version: version)) == value)
            }
            let pending = try await restarted.status()
            #expect(pending.pendingRotationTarget == 2)
            #expect(pending.currentKEKVersion == 2)
            // A share stored while the rotation is pending goes under the new KEK.
            let late = try id("late")
            _ = try await restarted.store(late, secret("late"))
            #expect(try await restarted.versions(late)[0].kekVersion == 2)

            let report = try await restarted.rotateWrappingKey()
            #expect(report.resumed)
            #expect(report.targetVersion == 2)
            #expect(report.rewrapped + report.alreadyCurrent == 11)
            let done = try await restarted.status()
            #expect(done.pendingRotationTarget == nil)
            #expect(done.versionsPerKEKVersion == [2: 11])
            for (share, version, value) in expected {
                #expect(text(try await restarted.load(share, version: version)) == value)
            }
        }
    }

    @Test(arguments: TierUnderTest.allCases, [true, false])
    func rotationLeavesACorruptedShareAloneAndKeepsTheOldKeyActive(_ tier: TierUnderTest, corruptCiphertext: Bool) async throws {
        try await withFixture(tier) { fixture in
            // A flipped ciphertext byte is caught by rewraps that open the share (tiers 1 and 3);
            // tier 2's ReEncrypt never sees the share, so there it is caught on load (the bit-flip
            // test), and only the wrapped-key corruption is checked here.
            if corruptCiphertext && !fixture.rewrapOpensCiphertext { return }
            let store = try await fixture.open()
            let good = try id("good"), bad = try id("bad")
            _ = try await store.store(good, secret("good"))
            _ = try await store.store(bad, secret("bad"))
            let key = ShareStore.blobKey(bad, 1)
            let original = try #require(try await store.blobs.read(key)).bytes
            var corrupted = original
            if corruptCiphertext {
                corrupted[corrupted.count - 20] ^= 0x01
            } else {
                let envelope = try Envelope(parsing: original)
                let wrappedKeyStart = envelope.associatedData.count + 1 + envelope.kekID.utf8.count + 4 + 4 + 2
                corrupted[wrappedKeyStart + envelope.sealed.wrappedKey.count / 2] ^= 0x01
            }
            _ = try await store.blobs.replace(key, corrupted, ifRevision: nil)

            let error = await #expect(throws: StrongroomError.self) { try await store.rotateWrappingKey() }
            #expect(error?.code == .rotationIncomplete)
            #expect(error?.reason.contains("'bad'") == true)
            #expect(try await store.blobs.read(key)?.bytes == corrupted)
            let status = try await store.status()
            #expect(status.pendingRotationTarget == 2)
            #expect(status.oldestActiveKEKVersion == 1)
            #expect(text(try await store.load(good)) == "good")

            try await store.erase(bad)
            let report = try await store.rotateWrappingKey()
            #expect(report.resumed)
            #expect(report.alreadyCurrent == 1)
            #expect(try await store.status().pendingRotationTarget == nil)
        }
    }

    private func envelopes(_ store: ShareStore) async throws -> [String: Envelope] {
        var result: [String: Envelope] = [:]
        for summary in try await store.list() {
            for version in try await store.versionNumbers(summary.id) {
                let key = ShareStore.blobKey(summary.id, version)
                result[key] = try Envelope(parsing: try #require(try await store.blobs.read(key)).bytes)
            }
        }
        return result
    }
}
