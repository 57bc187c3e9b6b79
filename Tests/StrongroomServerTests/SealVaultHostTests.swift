import Foundation
import Logging
import SecureCrypto
import Strongroom
import StrongroomCore
@testable import StrongroomServer
import Testing

/// A sealed tier 1 vault made in process: its directory, the sealed seed, and the custodians' part bytes.
struct SealedVaultFixture {
    let directory: String
    var local: StrongroomConfiguration.Local
    let parts: [[UInt8]]
    let passphrases: [String]

    static func passphrase(_ index: Int) -> String { "custodian passphrase number \(index)" }

    static func secret(_ text: String) throws -> SecretBytes {
        try Array(text.utf8).withUnsafeBytes { try SecretBytes(copying: $0) }
    }

    /// `custodians` parts of which `threshold` unseal; wrong parts allowed before a lockout and its delay.
    static func make(custodians: Int = 3, threshold: Int = 2, maxAttempts: Int = 5, lockoutSeconds: Int = 60) async throws -> SealedVaultFixture {
        let directory = "/tmp/seal-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        var local = StrongroomConfiguration.Local(path: "\(directory)/vault")
        local.sealed = true
        local.sealMaxAttempts = maxAttempts
        local.sealLockoutSeconds = lockoutSeconds
        let passphrases = (1...custodians).map(passphrase)
        let (key, parts) = try await RecoveryCustodians.create(custodians: custodians, threshold: threshold) { index in
            try secret(passphrases[index - 1])
        }
        _ = try await LocalVault.initialise(local, sealedTo: (key, custodians, threshold), logger: Logger(label: "test"))
        return SealedVaultFixture(directory: directory, local: local, parts: parts, passphrases: passphrases)
    }

    var configuration: StrongroomConfiguration {
        var configuration = StrongroomConfiguration(provider: LocalTierProvider(), settings: local)
        configuration.audit = AuditSettings(mode: .failClosed)
        return configuration
    }

    func host() async throws -> VaultHost {
        try await VaultHost(configuration: configuration, logger: Logger(label: "test"))
    }

    /// Gives part `index` (1-based) with its passphrase, or with `passphrase` when given.
    func give(_ host: VaultHost, _ index: Int, passphrase: String? = nil) async throws -> SealStatus {
        try await host.unseal(
            part: parts[index - 1], passphrase: try SealedVaultFixture.secret(passphrase ?? passphrases[index - 1]),
            source: "part-\(index)", identity: PeerIdentity(.uid(getuid())))
    }

    func cleanup() { try? FileManager.default.removeItem(atPath: directory) }
}

@Suite struct SealVaultHostTests {
    let custodian = PeerIdentity(.uid(getuid()))

    @Test func startsSealedAndUnsealsWhenThresholdPartsArrive() async throws {
        let vault = try await SealedVaultFixture.make(custodians: 3, threshold: 2)
        defer { vault.cleanup() }
        let host = try await vault.host()
        #expect(host.sealStatus == SealStatus(sealed: true, partsReceived: 0, threshold: 2, custodians: 3))
        #expect(throws: StrongroomError(.sealed, "")) { _ = try host.store() }

        #expect(try await vault.give(host, 3) == SealStatus(sealed: true, partsReceived: 1, threshold: 2, custodians: 3))
        #expect(throws: StrongroomError(.sealed, "")) { _ = try host.store() }
        // The same part again is refused and not counted as progress.
        await #expect(throws: StrongroomError(.recoveryPartRejected, "")) { _ = try await vault.give(host, 3) }
        #expect(host.sealStatus.partsReceived == 1)

        #expect(try await vault.give(host, 1) == SealStatus(sealed: false, partsReceived: 0, threshold: 2, custodians: 3))
        let store = try host.store()
        #expect(store.vaultID == host.vaultID)  // known while sealed, the same once open
        let id = try ShareID("after-unseal")
        _ = try await store.store(id, try SealedVaultFixture.secret("a share"))
        #expect(try await store.load(id) == (try SealedVaultFixture.secret("a share")))
        // A part given after the unseal changes nothing.
        #expect(try await vault.give(host, 2).sealed == false)
    }

    @Test func wrongPartsAreCountedAndLockUnsealingForADoublingDelay() async throws {
        // Lockouts of 3 s and 6 s. Each "still locked" check comes straight after the lock is set, and
        // each sleep waits out a whole lockout: a loaded machine (Argon2id on both CPUs, a sleep that
        // wakes late) can only make the waits longer, never make a check land after its lockout ended.
        let vault = try await SealedVaultFixture.make(custodians: 3, threshold: 2, maxAttempts: 2, lockoutSeconds: 3)
        defer { vault.cleanup() }
        let other = try await SealedVaultFixture.make(custodians: 3, threshold: 2)
        defer { other.cleanup() }
        let host = try await vault.host()

        // A good part, then a wrong passphrase: counted, one more allowed.
        _ = try await vault.give(host, 1)
        do {
            _ = try await vault.give(host, 2, passphrase: "not the passphrase of two")
            Issue.record("a wrong passphrase was accepted")
        } catch let error as StrongroomError {
            #expect(error.code == .recoveryPassphraseRejected)
            #expect(error.reason.contains("1 more before unsealing is locked"))
        }
        // A part of another split is a wrong part too: the second one locks unsealing for 3 s.
        do {
            _ = try await other.give(host, 2)
            Issue.record("a part of another split was accepted")
        } catch let error as StrongroomError {
            #expect(error.code == .recoveryPartRejected)
            #expect(error.reason.contains("locked for 3 second"))
        }
        #expect(host.sealStatus.partsReceived == 0)  // the ceremony starts again
        // While locked even a right part is refused, unopened.
        await #expect(throws: StrongroomError(.unsealLockedOut, "")) { _ = try await vault.give(host, 2) }

        try await Task.sleep(for: .milliseconds(3100))
        // Two more wrong parts: locked again, for twice as long.
        await #expect(throws: StrongroomError(.recoveryPassphraseRejected, "")) {
            _ = try await vault.give(host, 1, passphrase: "wrong passphrase again")
        }
        do {
            _ = try await vault.give(host, 2, passphrase: "and wrong once more")
            Issue.record("a wrong passphrase was accepted")
        } catch let error as StrongroomError {
            #expect(error.reason.contains("locked for 6 second"))
        }
        await #expect(throws: StrongroomError(.unsealLockedOut, "")) { _ = try await vault.give(host, 1) }
        #expect(host.sealStatus.partsReceived == 0)
        try await Task.sleep(for: .milliseconds(6100))
        _ = try await vault.give(host, 1)
        #expect(try await vault.give(host, 3).sealed == false)
    }

    @Test func lockoutDelayDoublesUpToAnHour() {
        var lockout = UnsealLockout(maxAttempts: 1, baseDelay: .seconds(60))
        var delays: [Duration] = []
        let now = ContinuousClock.now
        for _ in 0..<8 { delays.append(lockout.recordWrong(at: now)!) }
        #expect(delays == [60, 120, 240, 480, 960, 1920, 3600, 3600].map { Duration.seconds($0) })
        #expect(throws: StrongroomError(.unsealLockedOut, "")) { try lockout.check(at: now + .seconds(3599)) }
        try? lockout.check(at: now + .seconds(3600))
        lockout.reset()
        #expect(lockout.recordWrong(at: now) == .seconds(60))
    }

    @Test func sealDropsTheStoreAndWithItTheSeed() async throws {
        let vault = try await SealedVaultFixture.make(custodians: 2, threshold: 2)
        defer { vault.cleanup() }
        let host = try await vault.host()
        _ = try await vault.give(host, 1)
        _ = try await vault.give(host, 2)
        weak var released: ShareStore?
        do {
            let store = try host.store()
            _ = try await store.store(try ShareID("kept"), try SealedVaultFixture.secret("kept share"))
            released = store
        }
        #expect(released != nil)
        #expect(try await host.seal(identity: custodian) == true)
        #expect(throws: StrongroomError(.sealed, "")) { _ = try host.store() }
        #expect(host.sealStatus == SealStatus(sealed: true, partsReceived: 0, threshold: 2, custodians: 2))
        // The host held the only reference: the store, its keyring and the seed (SecretBytes, zeroed
        // on release) are gone.
        #expect(released == nil)
        #expect(try await host.seal(identity: custodian) == false)

        // Unsealed again, the share is there; the log holds the ceremony.
        _ = try await vault.give(host, 2)
        _ = try await vault.give(host, 1)
        #expect(try await host.store().load(try ShareID("kept")) == (try SealedVaultFixture.secret("kept share")))
        let log = try auditText(vault.local.path)
        #expect(log.components(separatedBy: "\"unseal\"").count - 1 == 2)
        #expect(log.contains("\"seal\""))
    }

    @Test func aSealedVaultDoesNotOpenWithoutAServer() async throws {
        let vault = try await SealedVaultFixture.make()
        defer { vault.cleanup() }
        await #expect(throws: StrongroomError(.rootSeedSealed, "")) {
            _ = try await ShareStore.open(configuration: vault.configuration, logger: Logger(label: "test"))
        }
        var plain = vault.local
        plain.sealed = false
        await #expect(throws: StrongroomError(.rootSeedSealed, "")) {
            _ = try await LocalVault.open(plain, logger: Logger(label: "test"))
        }
        // The seed file holds the sealed seed only.
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: vault.local.rootSeedFile)))
        #expect(bytes.count == SealedRootSeed.size)
        #expect(SealedRootSeed.isSealed(bytes))
    }

    @Test func aPlainVaultHasNoSealedMode() async throws {
        var vault = try await SealedVaultFixture.make()
        defer { vault.cleanup() }
        vault.local = StrongroomConfiguration.Local(path: "\(vault.directory)/plain")
        _ = try await LocalVault.initialise(vault.local, logger: Logger(label: "test"))
        let host = try await vault.host()
        #expect(host.sealStatus.sealed == false)
        _ = try host.store()
        await #expect(throws: StrongroomError(.invalidInput, "")) { _ = try await vault.give(host, 1) }
        await #expect(throws: StrongroomError(.invalidInput, "")) { _ = try await host.seal(identity: custodian) }
    }

    private func auditText(_ vaultPath: String) throws -> String {
        let directory = "\(vaultPath)/audit"
        return try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
            .map { try String(contentsOfFile: "\(directory)/\($0)", encoding: .utf8) }.joined()
    }
}
