import Logging
import SecureCrypto
import Strongroom
import StrongroomCore

/// The vault a server serves: open, or (a sealed tier 1 vault, `local.seal: sealed`) sealed until T
/// custodian parts unseal it.
///
/// A sealed vault's root seed file holds the seed sealed to the custodians' key (``SealedRootSeed``).
/// Parts arrive one per ``unseal(part:passphrase:source:identity:)`` call (`strongroom unseal`); each
/// is opened with its passphrase as it arrives, so a wrong one is told and counted at once. When T
/// are held the key is rebuilt, the seed opened, the store opened with it, and the parts and key are
/// dropped (their ``SecretBytes`` zeroed). ``seal(identity:)`` drops the store: new requests fail
/// with ``StrongroomError/Code/sealed`` at once, and the seed and the KEKs derived from it are zeroed
/// when the last in-flight request holding the store returns (none is cut off halfway: a store in
/// flight completes under the keys it started with).
public final class VaultHost: Sendable {
    /// The configuration the vault was opened with.
    public let configuration: StrongroomConfiguration
    /// The vault's id, known while sealed too (from its state file), for the ready line and Health.
    public let vaultID: VaultID
    private let logger: Logger
    /// Set for a sealed vault: its tier 1 settings and sealed seed file.
    private let sealedVault: SealedVault?
    private let state: Locked<State>

    private struct SealedVault: Sendable {
        let settings: StrongroomConfiguration.Local
        let seed: SealedRootSeed
    }

    private struct Received: Sendable {
        let part: RecoveryCustodians.OpenedPart
        let identity: PeerIdentity
    }

    private struct State: Sendable {
        var store: ShareStore?
        var parts: [Int: Received] = [:]
        var unsealing = false
        /// Bumped by every seal, so that an unseal that was finishing when a seal came does not open
        /// the vault after it.
        var generation = 0
        var lockout: UnsealLockout
    }

    /// Opens the configured vault (a sealed one stays sealed: ``store()`` throws
    /// ``StrongroomError/Code/sealed`` until ``unseal(part:passphrase:source:identity:)`` completes).
    public init(configuration: StrongroomConfiguration, logger: Logger) async throws {
        self.configuration = configuration
        self.logger = logger
        if let local = configuration.settings as? StrongroomConfiguration.Local, local.sealed {
            // The vault must exist and its seed file be a sealed seed: checked now, so that a server
            // that starts sealed can be unsealed.
            let seed = try SealedRootSeed.read(local.rootSeedFile)
            self.vaultID = try await VaultState.existing(
                in: DirectoryBlobStore(root: local.path, pool: .shared(threads: local.blockingThreads)), tier: .local
            ).1
            self.sealedVault = SealedVault(settings: local, seed: seed)
            self.state = Locked(
                State(
                    store: nil,
                    lockout: UnsealLockout(
                        maxAttempts: local.sealMaxAttempts, baseDelay: .seconds(local.sealLockoutSeconds))))
            logger.notice(
                "vault sealed", metadata: ["seal.threshold": "\(seed.threshold)", "seal.custodians": "\(seed.custodians)"])
        } else {
            self.sealedVault = nil
            let store = try await ShareStore.open(configuration: configuration, logger: logger)
            self.vaultID = store.vaultID
            self.state = Locked(State(store: store, lockout: UnsealLockout(maxAttempts: 1, baseDelay: .seconds(1))))
        }
    }

    /// The open store; throws ``StrongroomError/Code/sealed`` while sealed.
    public func store() throws(StrongroomError) -> ShareStore {
        guard let store = state.withLock({ $0.store }) else {
            throw StrongroomError(.sealed, "the vault is sealed: unseal it with `strongroom unseal --server …`")
        }
        return store
    }

    /// Whether the vault is sealed now, and the unseal progress.
    public var sealStatus: SealStatus {
        guard let sealedVault else { return SealStatus(sealed: false, partsReceived: 0, threshold: 0, custodians: 0) }
        return state.withLock { state in
            SealStatus(
                sealed: state.store == nil, partsReceived: state.store == nil ? state.parts.count : 0,
                threshold: sealedVault.seed.threshold, custodians: sealedVault.seed.custodians)
        }
    }

    /// Takes one custodian part (the part file's bytes and its passphrase, wiped when done). Returns
    /// the progress; unseals the vault when the threshold is reached. A wrong part is counted, and
    /// after `seal.maxAttempts` wrong parts unsealing is locked for a delay that doubles each time
    /// (``StrongroomError/Code/unsealLockedOut``, naming the time left).
    public func unseal(part: [UInt8], passphrase: SecretBytes, source: String, identity: PeerIdentity) async throws -> SealStatus {
        let sealedVault = try requireSealedMode()
        let reference = sealedVault.seed
        // Already open, or locked out: nothing is opened.
        let open = try state.withLock { state throws(StrongroomError) -> Bool in
            if state.store != nil { return true }
            try state.lockout.check(at: .now)
            return false
        }
        if open { return sealStatus }

        // Header first (no passphrase, no memory-hard work): a part of another split is a wrong part.
        let info: RecoveryCustodians.PartInfo
        do {
            info = try RecoveryCustodians.inspect(part, source: source)
            guard info.keyFingerprint == reference.keyFingerprint, info.custodians == reference.custodians,
                info.threshold == reference.threshold
            else {
                throw StrongroomError(
                    .recoveryPartRejected,
                    "\(source) is a part of another split (key \(short(info.keyFingerprint)), \(info.threshold) of \(info.custodians)) than this vault's sealed seed (key \(short(reference.keyFingerprint)), \(reference.threshold) of \(reference.custodians))")
            }
        } catch {
            throw countWrong(error, identity: identity)
        }
        if let held = state.withLock({ $0.parts[info.index] }) {
            throw StrongroomError(
                .recoveryPartRejected,
                "part \(info.index) of \(info.custodians) was already given (\(held.part.source), by \(held.identity)); the next custodian's part is needed")
        }

        // Argon2id at the part's limits: on the blocking pool, not a cooperative thread.
        let opened: RecoveryCustodians.OpenedPart
        do {
            opened = try await BlockingPool.shared(threads: sealedVault.settings.blockingThreads).run {
                try RecoveryCustodians.openPart(part, source: source, passphrase: passphrase)
            }
        } catch let error as StrongroomError {
            throw countWrong(error, identity: identity)
        }
        logger.notice(
            "unseal part accepted",
            metadata: ["seal.part": "\(info.index)", "seal.threshold": "\(info.threshold)", "client": "\(identity)"])

        let ready = try state.withLock { state throws(StrongroomError) -> (parts: [Received], generation: Int)? in
            if state.store != nil { return nil }
            try state.lockout.check(at: .now)
            if state.parts[info.index] == nil { state.parts[info.index] = Received(part: opened, identity: identity) }
            guard state.parts.count >= reference.threshold, !state.unsealing else { return nil }
            state.unsealing = true
            return (Array(state.parts.values), state.generation)
        }
        guard let ready else { return sealStatus }
        do {
            try await finishUnseal(sealedVault, parts: ready.parts, generation: ready.generation, identity: identity)
        } catch {
            state.withLock { state in
                state.unsealing = false
                state.parts = [:]
            }
            logger.error("unseal failed after \(ready.parts.count) parts: \(error)")
            throw error
        }
        return sealStatus
    }

    /// Wipes the root seed from memory at once and returns to the sealed state; false when already
    /// sealed (or the vault has no sealed mode).
    public func seal(identity: PeerIdentity) async throws -> Bool {
        _ = try requireSealedMode()
        let store = state.withLock { state -> ShareStore? in
            let store = state.store
            state.store = nil
            state.parts = [:]  // a ceremony in progress starts again
            state.generation += 1
            return store
        }
        guard let store else { return false }
        // New requests are refused from here; the record and checkpoint use the store one last time.
        do {
            try await AuditContext.$client.withValue(identity.description) {
                try await store.recordAudit(AuditEvent(.seal, details: ["client": identity.description]))
                try await store.checkpointAudit()
            }
        } catch {
            logger.error("the seal record could not be written (the vault is sealed anyway): \(error)")
        }
        logger.notice("vault sealed", metadata: ["client": "\(identity)"])
        return true
    }

    // MARK: - Private

    private func requireSealedMode() throws(StrongroomError) -> SealedVault {
        guard let sealedVault else {
            throw StrongroomError(
                .invalidInput, "this vault is not sealed: it has no custodian parts (local.seal is not sealed)")
        }
        return sealedVault
    }

    /// Counts a wrong part and returns the error to throw (naming the lockout it started, if any).
    private func countWrong(_ error: any Error, identity: PeerIdentity) -> any Error {
        let (delay, left) = state.withLock { state in
            let delay = state.lockout.recordWrong(at: .now)
            return (delay, state.lockout.maxAttempts - state.lockout.wrongParts)
        }
        logger.warning("unseal part refused", metadata: ["client": "\(identity)"])
        guard let error = error as? StrongroomError else { return error }
        if let delay {
            state.withLock { $0.parts = [:] }
            return StrongroomError(
                error.code,
                "\(error.reason); too many wrong parts: unsealing is locked for \(UnsealLockout.seconds(delay)) second(s), and the parts given so far are dropped",
                cause: error.cause, underlying: error.underlying)
        }
        return StrongroomError(
            error.code, "\(error.reason) (wrong part counted: \(left) more before unsealing is locked)", cause: error.cause,
            underlying: error.underlying)
    }

    private func finishUnseal(
        _ sealedVault: SealedVault, parts: [Received], generation: Int, identity: PeerIdentity
    ) async throws {
        let settings = sealedVault.settings
        let privateKey = try RecoveryCustodians.combine(opened: parts.map(\.part)).privateKey
        let seed = try sealedVault.seed.open(privateKey: privateKey, source: settings.rootSeedFile)
        let store = try await LocalVault.open(
            settings, rootSeed: seed, lockTimeout: configuration.lockTimeout, logger: logger)
        store.configureAudit(configuration.audit)
        let wrong = state.withLock { $0.lockout.wrongPartsTotal }
        let custodians = parts.sorted { $0.part.info.index < $1.part.info.index }
            .map { "\($0.part.info.index):\($0.identity)" }.joined(separator: ",")
        try await AuditContext.$client.withValue(identity.description) {
            try await store.recordAudit(
                AuditEvent(
                    .unseal,
                    details: [
                        "parts": custodians, "threshold": "\(sealedVault.seed.threshold)",
                        "custodians": "\(sealedVault.seed.custodians)", "wrongParts": "\(wrong)",
                    ]))
        }
        let installed = state.withLock { state -> Bool in
            state.unsealing = false
            state.parts = [:]
            guard state.generation == generation else { return false }
            state.store = store
            state.lockout.reset()
            return true
        }
        guard installed else {
            logger.notice("vault sealed while the unseal finished: it stays sealed", metadata: ["client": "\(identity)"])
            return
        }
        logger.notice("vault unsealed", metadata: ["vault.id": "\(store.vaultID.hex)", "client": "\(identity)"])
    }

    private func short(_ fingerprint: [UInt8]) -> String { String(Hex.encode(fingerprint).prefix(16)) }
}

/// A sealed vault's unseal progress.
public struct SealStatus: Sendable, Hashable {
    /// Whether the vault is sealed (requests other than Health and Unseal are refused).
    public var sealed: Bool
    /// Parts accepted so far in the current ceremony.
    public var partsReceived: Int
    /// T: the parts needed (0 for a vault with no sealed mode).
    public var threshold: Int
    /// N: the parts made.
    public var custodians: Int

    /// Creates a status.
    public init(sealed: Bool, partsReceived: Int, threshold: Int, custodians: Int) {
        self.sealed = sealed
        self.partsReceived = partsReceived
        self.threshold = threshold
        self.custodians = custodians
    }
}
