internal import CSodium
import Foundation
@testable import FROST
import Logging
import SecureCrypto
import Strongroom
@testable import StrongroomCore
import Testing

let quiet: Logger = {
    var logger = Logger(label: "frost-tests")
    logger.logLevel = .critical
    return logger
}()

/// A temporary directory with local vaults in it, one per participant.
final class LocalVaults: @unchecked Sendable {
    let path: String
    private(set) var settings: [StrongroomConfiguration.Local] = []

    init() throws {
        path = "\(FileManager.default.temporaryDirectory.path)/frost-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
    }

    func make(_ count: Int) async throws -> [ParticipantID: ShareStore] {
        var stores: [ParticipantID: ShareStore] = [:]
        for index in 1...count {
            let local = StrongroomConfiguration.Local(path: "\(path)/p\(index)")
            _ = try await LocalVault.initialise(local, logger: quiet)
            settings.append(local)
            stores[ParticipantID(index)] = try await LocalVault.open(local, logger: quiet)
        }
        return stores
    }

    /// The same vaults opened again, as a new process would.
    func reopen() async throws -> [ParticipantID: ShareStore] {
        var stores: [ParticipantID: ShareStore] = [:]
        for (index, local) in settings.enumerated() { stores[ParticipantID(index + 1)] = try await LocalVault.open(local, logger: quiet) }
        return stores
    }

    deinit { try? FileManager.default.removeItem(atPath: path) }
}

@Suite struct EngineTests {
    let message = Array("release block 812,113".utf8)

    @Test(arguments: [Ciphersuite.ed25519, .secp256k1])
    func storedGroupSignsRefreshesAndErases(_ suite: Ciphersuite) async throws {
        let vaults = try LocalVaults()
        let stores = try await vaults.make(3)
        let group = try FROSTGroup(name: "treasury", stores: stores, logger: quiet)
        let publicKeys = try await group.create(suite: suite, minSigners: 2, method: .distributed)

        // The public record sits next to the shares in every store, without any secret.
        for (id, store) in stores {
            let record = try #require(try await store.readRecord(try ShareID("frost.treasury")))
            let text = String(decoding: record, as: UTF8.self)
            #expect(text.contains(Hex.encode(try publicKeys.groupKey.serialize())))
            let key = try KeyPackage(deserializing: try await store.load(try group.shareID(id)))
            #expect(!text.contains(hex(key.signingShare)))
            #expect(key.epoch == 1 && key.identifier == id && key.minSigners == 2 && key.maxSigners == 3)
        }

        let first = try await group.sign(message: message, signers: [1, 3])
        #expect(try FROST.verify(first, message: message, groupKey: publicKeys.groupKey))
        #expect(try await group.verify(signature: first.serialized(), message: message))
        if suite == .ed25519 {
            let bytes = try first.serialized()
            #expect(crypto_sign_verify_detached(bytes, message, UInt64(message.count), try publicKeys.groupKey.serialize()) == 0)
        }

        // Refresh: same group key, new epoch, one version per share, the old shares do not combine with new.
        let old = try await (1...3).asyncMap { try KeyPackage(deserializing: try await stores[ParticipantID($0)]!.load(try group.shareID(ParticipantID($0)))) }
        let report = try await group.refresh()
        #expect(report.epoch == 2 && report.erasedVersions == 3 && !report.resumedInterrupted)
        let refreshed = try await group.publicKeyPackage()
        #expect(refreshed.groupKey == publicKeys.groupKey && refreshed.epoch == 2)
        for (id, store) in stores {
            let versions = try await store.versions(try group.shareID(id))
            #expect(versions.count == 1)
            #expect(versions[0].metadata["frost.epoch"] == "2")
        }
        let second = try await group.sign(message: message, signers: [2, 3])
        #expect(try FROST.verify(second, message: message, groupKey: publicKeys.groupKey))
        let new2 = try KeyPackage(deserializing: try await stores[2]!.load(try group.shareID(2)))
        #expect(throws: FROSTError.self) { try signAll([old[0], new2], group: refreshed, signers: [1, 2], message: message) }
        #expect(throws: FROSTError.self) { try signAll([old[0], new2], group: publicKeys, signers: [1, 2], message: message) }

        // Erase participant 3: every version is destroyed and the engine says the share is gone.
        #expect(try await group.erase(3) == 1)
        await #expect(throws: StrongroomError.self) { _ = try await stores[3]!.load(try group.shareID(3)) }
        let gone = await #expect(throws: FROSTError.self) { _ = try await group.commit(3) }
        #expect(gone?.code == .shareGone)
        #expect(gone?.reason.contains("participant 3") == true && gone?.reason.contains("erased") == true)
        // A new process (fresh stores and group) reports the same.
        let reopened = try FROSTGroup(name: "treasury", stores: try await vaults.reopen(), logger: quiet)
        let again = await #expect(throws: FROSTError.self) { _ = try await reopened.sign(message: message, signers: [1, 3]) }
        #expect(again?.code == .shareGone)
        #expect(try FROST.verify(try await reopened.sign(message: message, signers: [1, 2]), message: message, groupKey: publicKeys.groupKey))
        let refresh = await #expect(throws: FROSTError.self) { _ = try await reopened.refresh() }
        #expect(refresh?.code == .shareGone)
    }

    @Test func sessionsAreSingleUseAndExpire() async throws {
        let vaults = try LocalVaults()
        let group = try FROSTGroup(name: "ops", stores: try await vaults.make(2), sessionLifetime: .milliseconds(300), logger: quiet)
        let publicKeys = try await group.create(suite: .ed25519, minSigners: 2, method: .trustedDealer)
        let sessions = [try await group.commit(1), try await group.commit(2)]
        let package = try SigningPackage(suite: .ed25519, commitments: sessions.map(\.commitments), message: message)
        let shares = [try await group.sign(sessions[0], package: package), try await group.sign(sessions[1], package: package)]
        #expect(try FROST.aggregate(package, shares: shares, publicKeys: publicKeys).z.suite == .ed25519)
        #expect(sessions[0].isSpent && sessions[1].isSpent)
        let reused = await #expect(throws: FROSTError.self) { _ = try await group.sign(sessions[0], package: package) }
        #expect(reused?.code == .sessionUsed)

        let late = try await group.commit(1)
        let other = try await group.commit(2)
        let latePackage = try SigningPackage(suite: .ed25519, commitments: [late.commitments, other.commitments], message: message)
        try await Task.sleep(for: .milliseconds(500))
        #expect(late.isSpent)  // past its deadline
        // The expiry timer wipes the nonces of a session nobody uses (it may run late on a busy machine).
        let deadline = ContinuousClock.now + .seconds(20)
        while !other.nonces.isSpent && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        #expect(other.nonces.isSpent)
        let expired = await #expect(throws: FROSTError.self) { _ = try await group.sign(late, package: latePackage) }
        #expect(expired?.code == .sessionExpired)
        #expect(try FROSTGroup(name: "ops", stores: try await vaults.reopen(), logger: quiet).sessionLifetime == .seconds(30))
    }

    enum Interruption: String, CaseIterable, Sendable {
        case afterPendingRecorded, afterNewVersionsStored, afterNewVersionsStoredPartly, afterCommitted
    }

    @Test(arguments: Interruption.allCases)
    func anInterruptedRefreshStillSignsAndCompletesOnTheNextRun(_ interruption: Interruption) async throws {
        let vaults = try LocalVaults()
        let stores = try await vaults.make(3)
        let step: FROSTGroup.RefreshStep = switch interruption {
        case .afterPendingRecorded: .wroteRecord(.pending, store: 2)
        case .afterNewVersionsStored, .afterNewVersionsStoredPartly: .storedKeyPackage(3)
        case .afterCommitted: .wroteRecord(.commit, store: 2)
        }
        let crashing = try FROSTGroup(name: "vault7", stores: stores, logger: quiet, checkpoint: crash(at: step))
        let publicKeys = try await crashing.create(suite: .secp256k1, minSigners: 2, method: .trustedDealer)
        await #expect(throws: FROSTGroup.SimulatedCrash.self) { _ = try await crashing.refresh() }
        if interruption == .afterNewVersionsStoredPartly {
            // As if the process had died after storing participant 1's and 2's new versions only.
            let newest = try await stores[3]!.versions(try crashing.shareID(3)).last!.version
            try await stores[3]!.erase(try crashing.shareID(3), versions: [newest])
        }

        // A new process: the group still signs, with whichever epoch is in force.
        let next = try FROSTGroup(name: "vault7", stores: try await vaults.reopen(), logger: quiet)
        for signers: [ParticipantID] in [[1, 2], [2, 3], [1, 3]] {
            let signature = try await next.sign(message: message, signers: signers)
            #expect(try FROST.verify(signature, message: message, groupKey: publicKeys.groupKey))
        }

        // The next refresh completes (or rolls back and redoes) the interrupted one.
        let report = try await next.refresh()
        switch interruption {
        case .afterNewVersionsStored, .afterCommitted:
            #expect(report.resumedInterrupted && report.epoch == 2 && report.erasedVersions == 3)
        case .afterPendingRecorded, .afterNewVersionsStoredPartly:
            #expect(report.rolledBackInterrupted && report.epoch == 2)
        }
        for id: ParticipantID in 1...3 {
            let versions = try await next.stores[id]!.versions(try next.shareID(id))
            #expect(versions.count == 1, "participant \(id) keeps only the new version")
            #expect(versions[0].metadata["frost.epoch"] == "2")
        }
        let group = try await next.publicKeyPackage()
        #expect(group.epoch == 2 && group.groupKey == publicKeys.groupKey)
        for (_, store) in next.stores {
            let record = try GroupRecord.decode(try #require(try await store.readRecord(try ShareID("frost.vault7"))), location: "test")
            #expect(record.epoch == 2 && record.pendingRefresh == nil)
        }
        #expect(try FROST.verify(try await next.sign(message: message, signers: [1, 3]), message: message, groupKey: publicKeys.groupKey))
    }

    @Test func aRefreshStoppedWhileCommittingTheRecordsFinishesOnTheNextRun() async throws {
        let vaults = try LocalVaults()
        let stores = try await vaults.make(3)
        let crashing = try FROSTGroup(name: "split", stores: stores, logger: quiet, checkpoint: crash(at: .storedKeyPackage(3)))
        let publicKeys = try await crashing.create(suite: .ed25519, minSigners: 2, method: .trustedDealer)
        await #expect(throws: FROSTGroup.SimulatedCrash.self) { _ = try await crashing.refresh() }
        // As if the process had died in step 4 after committing participant 1's store only.
        let pending = try #require(try await crashing.readRecord(stores[1]!))
        var versions: [ParticipantID: UInt64] = [:]
        for id: ParticipantID in 1...3 { versions[id] = try await stores[id]!.versions(try crashing.shareID(id)).last!.version }
        let committed = try crashing.advanced(pending, pending: try #require(pending.pendingRefresh), versions: versions)
        try await crashing.writeRecord(committed, to: stores[1]!)

        let next = try FROSTGroup(name: "split", stores: try await vaults.reopen(), logger: quiet)
        #expect(try await next.publicKeyPackage().epoch == 2)  // the newest committed record wins
        let report = try await next.refresh()
        #expect(report.resumedInterrupted && report.epoch == 2 && report.erasedVersions == 3)
        for id: ParticipantID in 1...3 {
            #expect(try await next.stores[id]!.versions(try next.shareID(id)).count == 1)
            let record = try #require(try await next.readRecord(next.stores[id]!))
            #expect(record.epoch == 2 && record.pendingRefresh == nil)
        }
        #expect(try FROST.verify(try await next.sign(message: message, signers: [2, 3]), message: message, groupKey: publicKeys.groupKey))
    }

    @Test func badGroupNamesAndMissingGroupsAreClearErrors() async throws {
        let vaults = try LocalVaults()
        let stores = try await vaults.make(2)
        for bad in ["", "../x", "a.b", "has space", String(repeating: "x", count: 65)] {
            #expect(throws: FROSTError.self) { try FROSTGroup(name: bad, stores: stores, logger: quiet) }
        }
        let group = try FROSTGroup(name: "absent", stores: stores, logger: quiet)
        let missing = await #expect(throws: FROSTError.self) { _ = try await group.sign(message: message, signers: [1, 2]) }
        #expect(missing?.code == .groupState)
        _ = try await group.create(suite: .ed25519, minSigners: 2)
        let twice = await #expect(throws: FROSTError.self) { _ = try await group.create(suite: .ed25519, minSigners: 2) }
        #expect(twice?.code == .groupState)
        let tooFew = await #expect(throws: FROSTError.self) { _ = try await group.sign(message: message, signers: [1]) }
        #expect(tooFew?.code == .invalidInput)
    }
}

/// A checkpoint that stops a refresh at `step`, as if the process had died there.
func crash(at step: FROSTGroup.RefreshStep) -> FROSTGroup.RefreshCheckpoint {
    { if $0 == step { throw FROSTGroup.SimulatedCrash() } }
}

extension Sequence {
    func asyncMap<T>(_ transform: (Element) async throws -> T) async throws -> [T] {
        var out: [T] = []
        for element in self { out.append(try await transform(element)) }
        return out
    }
}
