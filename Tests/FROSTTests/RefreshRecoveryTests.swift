import Foundation
@testable import FROST
import Logging
import SecureCrypto
import Strongroom
@testable import StrongroomCore
import Synchronization
import Testing

/// A refresh stopped at every one of its steps (`FROSTGroup.RefreshStep`: before and after each record
/// write, each new key package, the test signature, each old version's destruction — and, for a
/// destruction, after its blob was overwritten but before it was unlinked), with the three participants
/// in one vault, in one local vault each, or in three tiers. After each stop a new process must show
/// the group, load every key package and sign with every pair of signers under the original group key;
/// the next refresh is stopped too, and the one after that must leave exactly one version per
/// participant, every record at one epoch without a pending refresh, and the same group key. See
/// docs/frost.md, "Refresh recovery".
@Suite struct RefreshRecoveryTests {
    static let message = Array("settle batch 4471".utf8)
    static let pairs: [[ParticipantID]] = [[1, 2], [1, 3], [2, 3]]

    enum Layout: String, CaseIterable, Sendable {
        /// Participants 1, 2 and 3 in one local vault.
        case oneStore
        /// Each participant in a local vault of its own.
        case storePerParticipant
        /// Participant 1 in a local vault, 2 in an HSM vault (SoftHSM), 3 in a cloud vault (moto), as
        /// scripts/test provides them.
        case threeTiers
    }

    /// The vaults of one layout, holding many groups (one per case), reopened as a new process would
    /// for every run.
    final class Vaults: Sendable {
        let layout: Layout
        let local: LocalVaults
        let hsm: StrongroomConfiguration.HSM?
        let cloud: StrongroomConfiguration.Cloud?

        init(_ layout: Layout) async throws {
            self.layout = layout
            local = try LocalVaults()
            _ = try await local.make(layout == .storePerParticipant ? 3 : 1)
            guard layout == .threeTiers else {
                hsm = nil
                cloud = nil
                return
            }
            let environment = ProcessInfo.processInfo.environment
            func value(_ name: String) throws -> String {
                try #require(environment[name].flatMap { $0.isEmpty ? nil : $0 }, "\(name) is not set: run the suite with scripts/test")
            }
            _ = try value("STRONGROOM_TEST_HSM_PIN")
            let hsm = StrongroomConfiguration.HSM(
                modulePath: try value("STRONGROOM_TEST_HSM_MODULE"), tokenLabel: try value("STRONGROOM_TEST_HSM_TOKEN"),
                pinEnvironmentVariable: "STRONGROOM_TEST_HSM_PIN", blobPath: "\(local.path)/hsm")
            _ = try await HSMVault.initialise(hsm, logger: quiet)
            self.hsm = hsm
            _ = try value("AWS_ACCESS_KEY_ID")
            let storage = StrongroomConfiguration.ObjectStorage(
                endpoint: try value("STRONGROOM_TEST_S3_ENDPOINT"), bucket: try value("STRONGROOM_TEST_S3_BUCKET"),
                prefix: "frost-recovery-\(Hex.encode(try SecureRandom.bytes(count: 6)))/")
            let cloud = StrongroomConfiguration.Cloud(storage: storage, kmsKeyID: try value("STRONGROOM_TEST_KMS_KEY"), keyDeletionWindowDays: 7)
            _ = try await CloudVault.initialise(cloud, logger: quiet)
            self.cloud = cloud
        }

        func stores() async throws -> [ParticipantID: ShareStore] {
            let opened = try await local.reopen()
            switch layout {
            case .oneStore: return [1: opened[1]!, 2: opened[1]!, 3: opened[1]!]
            case .storePerParticipant: return opened
            case .threeTiers:
                return [1: opened[1]!, 2: try await HSMVault.open(hsm!, logger: quiet), 3: try await CloudVault.open(cloud!, logger: quiet)]
            }
        }

        func tearDown() async {
            if let hsm { try? await HSMVault.destroyKeys(hsm, logger: quiet) }
            if let cloud { await CloudVault.removeEverything(cloud, logger: quiet) }
        }
    }

    /// One group in a layout's vaults.
    struct Setup: Sendable {
        let vaults: Vaults
        let name: String

        func group(checkpoint: FROSTGroup.RefreshCheckpoint? = nil) async throws -> FROSTGroup {
            try FROSTGroup(name: name, stores: try await vaults.stores(), logger: quiet, checkpoint: checkpoint)
        }

        func blobKey(_ id: ParticipantID, _ version: UInt64) throws -> String {
            ShareStore.blobKey(try ShareID("frost.\(name).p\(id)"), version)
        }

        /// Whether participant `id`'s version `version` still has a blob under its name.
        func blobExists(_ id: ParticipantID, _ version: UInt64) async throws -> Bool {
            try await vaults.stores()[id]!.blobs.read(try blobKey(id, version)) != nil
        }

        /// What a process killed inside a destroy leaves: random bytes under the version's name
        /// (DirectoryBlobStore.destroy writes noise over the blob, fsyncs, then unlinks it).
        func tear(_ id: ParticipantID, _ version: UInt64) async throws {
            let blobs = try await vaults.stores()[id]!.blobs
            let key = try blobKey(id, version)
            let size = try #require(try await blobs.read(key)).bytes.count
            _ = try await blobs.replace(key, (0..<size).map { _ in UInt8.random(in: 0...255) }, ifRevision: nil)
        }
    }

    /// Counts the steps a refresh reaches and stops it at the `stopAt`-th (0-based); a stop at a
    /// destruction with `tearing` first overwrites the blob, as a kill inside the destroy would.
    final class Stopper: Sendable {
        let seen = Mutex<[FROSTGroup.RefreshStep]>([])
        let stopAt: Int?
        let tearing: Bool
        let setup: Setup?

        init(stopAt: Int?, tearing: Bool = false, setup: Setup? = nil) {
            self.stopAt = stopAt
            self.tearing = tearing
            self.setup = setup
        }

        var checkpoint: FROSTGroup.RefreshCheckpoint {
            { [self] step in
                let index = seen.withLock { seen in
                    seen.append(step)
                    return seen.count - 1
                }
                guard index == stopAt else { return }
                if tearing, case .destroying(let id, let version) = step { try await setup?.tear(id, version) }
                throw FROSTGroup.SimulatedCrash()
            }
        }

        var steps: [FROSTGroup.RefreshStep] { seen.withLock { $0 } }
        var stopped: FROSTGroup.RefreshStep? { stopAt.flatMap { at in steps.count > at ? steps[at] : nil } }
    }

    /// The steps of an uninterrupted refresh of a fresh group.
    static func stepsOfARefresh(_ vaults: Vaults) async throws -> [FROSTGroup.RefreshStep] {
        let setup = Setup(vaults: vaults, name: "count")
        _ = try await setup.group().create(suite: .ed25519, minSigners: 2, method: .trustedDealer)
        let counter = Stopper(stopAt: nil)
        let report = try await setup.group(checkpoint: counter.checkpoint).refresh()
        #expect(report.epoch == 2 && report.erasedVersions == 3)
        return counter.steps
    }

    @Test(arguments: Layout.allCases)
    func aRefreshStoppedAtAnyStepResumesAndEveryPairSigns(_ layout: Layout) async throws {
        let vaults = try await Vaults(layout)
        do {
            try await stopAtEveryStep(vaults)
        } catch {
            await vaults.tearDown()
            throw error
        }
        await vaults.tearDown()
    }

    func stopAtEveryStep(_ vaults: Vaults) async throws {
        let steps = try await Self.stepsOfARefresh(vaults)
        // Record writes (pending, commit) per store, two key package steps and two destruction steps
        // per participant, and the test signature; each with a point before and after.
        let stores = vaults.layout == .oneStore ? 1 : 3
        #expect(steps.count == 2 * (2 * stores + 3 + 1 + 3))
        #expect(steps.first == .writingRecord(.pending, store: 0))
        #expect(steps.last == .destroyed(3, version: 1))
        var cases = steps.indices.map { (index: $0, tearing: false) }
        for (index, step) in steps.enumerated() {
            if case .destroying = step { cases.append((index, true)) }
        }
        for (number, (index, tearing)) in cases.enumerated() {
            let setup = Setup(vaults: vaults, name: "case\(number)")
            try await stopAndResume(setup, at: index, step: steps[index], tearing: tearing, number: number)
        }
    }

    /// Stops a refresh at step `index`, checks the group from a new process, stops the next refresh at
    /// a step chosen from `number`, checks again, and lets a third refresh settle everything.
    func stopAndResume(_ setup: Setup, at index: Int, step: FROSTGroup.RefreshStep, tearing: Bool, number: Int) async throws {
        let context = "\(setup.vaults.layout), stopped \(tearing ? "inside the destroy " : "")\(step)"
        let publicKeys = try await setup.group().create(suite: .ed25519, minSigners: 2, method: .trustedDealer)

        let first = Stopper(stopAt: index, tearing: tearing, setup: setup)
        await #expect(throws: FROSTGroup.SimulatedCrash.self, "\(context)") { _ = try await setup.group(checkpoint: first.checkpoint).refresh() }
        #expect(first.stopped == step, "\(context): the steps of a refresh are deterministic")
        if tearing, case .destroying(let id, let version) = step {
            #expect(try await setup.blobExists(id, version), "\(context): the torn blob is left")
        }
        guard await usable(setup, publicKeys, context) else { return }

        // The next refresh is stopped too, somewhere in its recovery or in the refresh after it.
        let secondStop = (number * 5 + 3) % 17
        let second = Stopper(stopAt: secondStop, tearing: number % 2 == 1, setup: setup)
        let secondContext = "\(context), then stopped at its step \(secondStop)"
        do {
            _ = try await setup.group(checkpoint: second.checkpoint).refresh()
        } catch is FROSTGroup.SimulatedCrash {
        } catch {
            Issue.record("\(secondContext) (\(second.steps.last.map { "\($0)" } ?? "no step")): the refresh failed: \(error)")
            return
        }
        let secondDescribed = "\(secondContext) (\(second.stopped.map { "\($0)" } ?? "it finished first"))"
        guard await usable(setup, publicKeys, secondDescribed) else { return }

        do {
            _ = try await setup.group().refresh()
        } catch {
            Issue.record("\(secondDescribed): the last refresh failed: \(error)")
            return
        }
        await settled(setup, publicKeys, secondDescribed)
    }

    /// A new process shows the group (same key), loads every key package, and signs with every pair.
    func usable(_ setup: Setup, _ publicKeys: PublicKeyPackage, _ context: String) async -> Bool {
        do {
            let group = try await setup.group()
            let summary = try await group.summary()
            #expect(summary.groupKey == Hex.encode(try publicKeys.groupKey.serialize()), "\(context)")
            for id: ParticipantID in 1...3 { _ = try await group.loadKeyPackage(id) }
            for signers in Self.pairs {
                let signature = try await group.sign(message: Self.message, signers: signers)
                #expect(try FROST.verify(signature, message: Self.message, groupKey: publicKeys.groupKey), "\(context): \(signers)")
            }
            return true
        } catch {
            Issue.record("\(context): \(error)")
            return false
        }
    }

    /// Every record at one epoch without a pending refresh, one version per participant (the one the
    /// record names, of that epoch), the same group key, and every pair signs.
    func settled(_ setup: Setup, _ publicKeys: PublicKeyPackage, _ context: String) async {
        do {
            let group = try await setup.group()
            var records: [GroupRecord] = []
            for store in group.distinctStores { records.append(try #require(try await group.readRecord(store))) }
            let record = records[0]
            #expect(records.allSatisfy { $0 == record } && record.pendingRefresh == nil, "\(context): records \(records.map(\.epoch))")
            let groupKey = Hex.encode(try publicKeys.groupKey.serialize())
            #expect(record.epoch >= 2 && record.groupKey == groupKey, "\(context)")
            for member in record.members {
                let versions = try await group.stores[member.identifier]!.versions(try group.shareID(member.identifier))
                #expect(versions.map(\.version) == [member.version], "\(context): participant \(member.identifier) keeps \(versions.map(\.version))")
                #expect(versions.allSatisfy { $0.problem == nil && $0.metadata["frost.epoch"] == "\(record.epoch)" }, "\(context)")
            }
            #expect(try await group.summary().pendingRefreshEpoch == nil, "\(context)")
            for signers in Self.pairs {
                let signature = try await group.sign(message: Self.message, signers: signers)
                #expect(try FROST.verify(signature, message: Self.message, groupKey: publicKeys.groupKey), "\(context): \(signers)")
            }
        } catch {
            Issue.record("\(context): \(error)")
        }
    }

    @Test func aRollbackStoppedInsideTheDestroyOfANewShareFinishesOnTheNextRun() async throws {
        let setup = Setup(vaults: try await Vaults(.storePerParticipant), name: "rollback")
        let publicKeys = try await setup.group().create(suite: .secp256k1, minSigners: 2, method: .distributed)
        // Participants 1 and 2 stored their new key packages (version 2), participant 3 did not.
        await #expect(throws: FROSTGroup.SimulatedCrash.self) {
            _ = try await setup.group(checkpoint: crash(at: .storedKeyPackage(2))).refresh()
        }
        // The next run rolls back and is killed after overwriting participant 1's version 2.
        let rollback = Stopper(stopAt: 0, tearing: true, setup: setup)
        await #expect(throws: FROSTGroup.SimulatedCrash.self) { _ = try await setup.group(checkpoint: rollback.checkpoint).refresh() }
        #expect(rollback.steps == [.destroying(1, version: 2)])
        let torn = try await setup.vaults.stores()[1]!.versions(try ShareID("frost.rollback.p1"))
        #expect(torn.map(\.version) == [1, 2] && torn[1].problem != nil)

        let group = try await setup.group()
        let summary = try await group.summary()
        #expect(summary.epoch == 1 && summary.pendingRefreshEpoch == 2)
        #expect(await usable(setup, publicKeys, "after the stopped rollback"))

        let report = try await group.refresh()
        #expect(report.rolledBackInterrupted && !report.resumedInterrupted && report.epoch == 2)
        // The torn version was destroyed; the new refresh stored its own version 2, which opens.
        let after = try await setup.vaults.stores()[1]!.versions(try ShareID("frost.rollback.p1"))
        #expect(after.count == 1 && after[0].problem == nil && after[0].metadata["frost.epoch"] == "2")
        await settled(setup, publicKeys, "after the rollback and a new refresh")
    }

    @Test func signersWhoseStoresAreCommittedAndNotYetCommittedSignWithTheNewShares() async throws {
        let setup = Setup(vaults: try await Vaults(.storePerParticipant), name: "commit")
        let publicKeys = try await setup.group().create(suite: .ed25519, minSigners: 2, method: .trustedDealer)
        // Stopped in step 4: store 0 (participant 1) names epoch 2, stores 1 and 2 still epoch 1.
        await #expect(throws: FROSTGroup.SimulatedCrash.self) {
            _ = try await setup.group(checkpoint: crash(at: .wroteRecord(.commit, store: 0))).refresh()
        }
        let group = try await setup.group()
        let committed = try await group.record(for: 1)
        let lagging = try await group.record(for: 2)
        #expect(committed.epoch == 2 && lagging.epoch == 1 && lagging.pendingRefresh?.epoch == 2)
        #expect(try await group.summary().pendingRefreshEpoch == 2)
        // Participant 1 with 2 or 3 signs with everyone's epoch-2 shares; 2 with 3 with epoch-1 shares.
        for signers: [ParticipantID] in [[1, 2], [3, 1], [2, 3]] {
            let signature = try await group.sign(message: Self.message, signers: signers)
            #expect(try FROST.verify(signature, message: Self.message, groupKey: publicKeys.groupKey))
        }
        let report = try await group.refresh()
        #expect(report.resumedInterrupted && report.epoch == 2 && report.erasedVersions == 3)
        await settled(setup, publicKeys, "after finishing the commit")
    }
}
