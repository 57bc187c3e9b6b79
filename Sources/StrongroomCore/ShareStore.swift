import Foundation
import Logging
import SecureCrypto

/// The store API over one vault of one tier: store, load, list, versions, erase, rotate, status.
///
/// Every share version is sealed under its own data key, wrapped by the tier's KEK (see
/// docs/format.md). Writes of one vault are serialised across processes by the blob store's lock;
/// loads take no lock. The type is `Sendable` and meant to be shared by many tasks.
public final class ShareStore: Sendable {
    /// The vault this store opens.
    public let vaultID: VaultID
    /// The tier of the vault.
    public var tier: Tier { keyring.tier }

    let keyring: any Keyring
    let blobs: any BlobStore
    let logger: Logger
    let faults: FaultInjection
    /// The vault's audit log (docs/audit.md).
    let audit: AuditLog
    /// The last vault state read, for stores whose shared lock does not span processes.
    let stateCache = Locked<VaultState?>(nil)

    /// Remembers the vault state a tier has just read while opening the vault, so the first
    /// operation need not read it again.
    public func remember(_ state: VaultState) {
        stateCache.withLock { $0 = state }
    }
    /// The bytes of `vault.json` last decoded and checked, with the result: loads read the state
    /// before every blob (docs/format.md, "Active KEK range") and need not decode unchanged bytes.
    let decodedState = Locked<(bytes: [UInt8], state: VaultState)?>(nil)

    /// Creates the store of an existing vault over a tier's keyring and blob store. Tiers call this
    /// from ``TierProvider/open(_:lockTimeout:logger:)`` after ``VaultState/existing(in:tier:)``.
    public init(vaultID: VaultID, keyring: any Keyring, blobs: any BlobStore, logger: Logger, faults: FaultInjection = .none) {
        self.vaultID = vaultID
        self.keyring = keyring
        self.blobs = blobs
        var logger = logger
        logger[metadataKey: "vault.id"] = "\(vaultID.hex)"
        logger[metadataKey: "vault.tier"] = "\(keyring.tier)"
        self.logger = logger
        self.faults = faults
        self.audit = AuditLog(
            sink: MeteredAuditSink(blobs.makeAuditSink(), tier: keyring.tier.name), keyring: keyring, vaultID: vaultID,
            tier: keyring.tier, logger: logger, blobs: blobs)
    }

    // MARK: Keys

    static let sharesPrefix = "shares/"
    static func sharePrefix(_ id: ShareID) -> String { "shares/\(id.rawValue)/" }
    /// The ``BlobStore`` key of share `id`'s version `version` (`shares/<id>/<version>.srb`).
    public static func blobKey(_ id: ShareID, _ version: UInt64) -> String { "shares/\(id.rawValue)/\(version).srb" }
    static func version(fromName name: String) -> UInt64? {
        guard name.hasSuffix(".srb") else { return nil }
        let digits = name.dropLast(4)
        guard !digits.isEmpty, digits.first != "0", digits.allSatisfy(\.isASCII) else { return nil }
        return UInt64(digits)
    }

    // MARK: State

    func readState() async throws -> VaultState {
        guard let blob = try await blobs.read(VaultState.key) else {
            throw StrongroomError(
                .vaultNotInitialised, "no vault at \(blobs.location); run `strongroom init` first")
        }
        if let last = decodedState.withLock({ $0 }), last.bytes == blob.bytes { return last.state }
        let state = try VaultState.decode(blob.bytes, location: blobs.location)
        guard state.vaultID == vaultID.hex, state.tier == keyring.tier.name else {
            throw StrongroomError(
                .integrityCheckFailed,
                "\(blobs.location) holds vault \(state.vaultID) (\(state.tier)), not \(vaultID.hex) (\(keyring.tier))")
        }
        decodedState.withLock { $0 = (blob.bytes, state) }
        return state
    }

    /// Writes `vault.json` (the caller holds the exclusive lock) by compare-and-swap, keeping an
    /// audit checkpoint newer than `state`'s that the audit log anchored meanwhile (docs/audit.md).
    func writeState(_ state: VaultState) async throws {
        var state = state
        for _ in 0..<20 {
            let current = try await blobs.read(VaultState.key)
            if let current, let theirs = (try? VaultState.decode(current.bytes, location: blobs.location))?.audit,
                theirs.seq > (state.audit?.seq ?? 0)
            {
                state.audit = theirs
            }
            if try await blobs.replace(VaultState.key, try state.encoded(), ifRevision: current?.revision) {
                stateCache.withLock { $0 = state }
                return
            }
        }
        throw StrongroomError(.io, "\(blobs.location)/\(VaultState.key) kept changing while it was being written; run the command again")
    }

    // MARK: Store and load

    /// Stores a new version of share `id` and returns its version number (1 for a new share).
    ///
    /// The secret must be 1 to 65,536 bytes; metadata (non-secret, authenticated) at most 4 KiB as
    /// JSON. The new version is durable when this returns.
    public func store(_ id: ShareID, _ secret: SecretBytes, metadata: [String: String] = [:]) async throws -> UInt64 {
        try await auditedOperation(AuditEvent(.store, shareID: id), mutating: true, listing: false) { event in
            let (version, kek) = try await storeVersion(id, secret, metadata: metadata)
            event.versions = [version]
            event.kekVersions = [kek]
            return version
        }
    }

    /// ``store(_:_:metadata:)`` without its audit record; returns the version and the KEK version it is sealed under.
    func storeVersion(_ id: ShareID, _ secret: SecretBytes, metadata: [String: String]) async throws -> (UInt64, UInt32) {
        guard secret.count >= 1, secret.count <= Envelope.maximumShareBytes else {
            throw StrongroomError(
                .invalidInput, "a share must be 1 to \(Envelope.maximumShareBytes) bytes, got \(secret.count)")
        }
        let metadataBytes = try ShareStore.encodeMetadata(metadata)
        return try await blobs.withLock(.shared) {
            // Where the shared lock excludes rotations of every process (a file lock), the state read
            // here stays current until we return. Where it does not (S3), the state may be cached and
            // is checked again after the write.
            let spans = blobs.sharedLockSpansProcesses
            var state = spans ? try await readState() : try await cachedOrFreshState()
            await finishInterruptedOpportunistically(id)
            var version = (try await versionNumbers(id).last ?? 0) + 1
            var refreshed = spans
            while true {
                let created = UInt64(Date().timeIntervalSince1970)
                let sealed: SealedShare
                let envelope: Envelope
                do {
                    (sealed, envelope) = try await sealEnvelope(id, version, secret, metadataBytes, created, state)
                } catch let error as StrongroomError where error.code == .keyUnavailable && !refreshed {
                    // A cached state may name a KEK a finished rotation retired.
                    state = try await freshState()
                    refreshed = true
                    continue
                }
                if try await blobs.create(ShareStore.blobKey(id, version), envelope.serialized()) {
                    if !spans {
                        try await confirmCurrentKEK(
                            id, version, secret: secret, sealedUnder: sealed.kekVersion,
                            recovery: envelope.recovery?.fingerprint)
                    }
                    logger.debug(
                        "stored share",
                        metadata: ["share.id": "\(id)", "share.version": "\(version)", "kek.version": "\(sealed.kekVersion)"])
                    return (version, sealed.kekVersion)
                }
                version += 1  // another writer took this version number first
            }
        }
    }

    /// Seals one share version (or record, version 0) under the current KEK. With a recovery key for
    /// new blobs (``VaultState/recoveryKeyForNewBlobs()``), the store makes the data key, seals it to
    /// the recovery key and has the keyring seal the share under it: a v2 envelope. Otherwise v1.
    func sealEnvelope(
        _ id: ShareID, _ version: UInt64, _ secret: SecretBytes, _ metadata: [UInt8], _ created: UInt64, _ state: VaultState
    ) async throws -> (SealedShare, Envelope) {
        try await sealEnvelope(id, version, secret, metadata, created, state, recoveryKey: try state.recoveryKeyForNewBlobs())
    }

    /// ``sealEnvelope(_:_:_:_:_:_:)`` with the recovery key given (enrolment seals to the key it enrols).
    func sealEnvelope(
        _ id: ShareID, _ version: UInt64, _ secret: SecretBytes, _ metadata: [UInt8], _ created: UInt64, _ state: VaultState,
        recoveryKey: RecoveryPublicKey?
    ) async throws -> (SealedShare, Envelope) {
        guard let recoveryKey else {
            let aad = Envelope.associatedData(
                tierCode: tier.code, vaultID: vaultID, shareID: id, shareVersion: version, createdAt: created,
                metadata: metadata)
            let sealed = try await keyring.seal(secret, associatedData: aad, kekVersion: state.currentKEKVersion)
            let envelope = Envelope(
                tierCode: tier.code, vaultID: vaultID, shareID: id, shareVersion: version, createdAt: created,
                metadata: metadata, kekID: keyring.kekID, sealed: sealed)
            return (sealed, envelope)
        }
        let dataKey = try StrongroomError.mappingCrypto { () throws(CryptoError) in
            try SecureRandom.secretBytes(count: AESGCM.keySize)
        }
        let header = Envelope.header(
            formatVersion: Envelope.formatVersion2, tierCode: tier.code, vaultID: vaultID, shareID: id,
            shareVersion: version, createdAt: created, metadata: metadata)
        let section = try RecoverySection.seal(
            dataKey, to: recoveryKey, vaultID: vaultID, shareID: id, shareVersion: version, header: header)
        let sealed = try await keyring.seal(
            secret, dataKey: dataKey, associatedData: header + section.serialized(), kekVersion: state.currentKEKVersion)
        let envelope = Envelope(
            tierCode: tier.code, vaultID: vaultID, shareID: id, shareVersion: version, createdAt: created,
            metadata: metadata, kekID: keyring.kekID, sealed: sealed, recovery: section)
        return (sealed, envelope)
    }

    /// After a write to a store whose shared lock does not span processes: if a rotation began
    /// since the state was read, the new blob may be under a KEK the rotation is about to retire and
    /// may have been written after the rotation listed the shares. Seal it again under the current
    /// KEK (replacing it only if it is still ours); a rotation that started after the state read
    /// below lists the shares after our write, so it rewraps the blob itself.
    ///
    /// The same goes for a recovery key enrolment that began since the state was read: the new blob
    /// must carry a section for the key new blobs are sealed to.
    func confirmCurrentKEK(
        _ id: ShareID, _ version: UInt64, secret: SecretBytes, sealedUnder kek: UInt32, recovery: [UInt8]?
    ) async throws {
        let key = ShareStore.blobKey(id, version)
        // The common case costs one read: no rotation began, the blob is under the current KEK.
        var state = try await freshState()
        if state.currentKEKVersion == kek, try ShareStore.sealsToCurrentRecoveryKey(recovery, state) { return }
        for round in 0..<5 {
            if round > 0 { state = try await freshState() }
            guard let blob = try await blobs.read(key) else { return }  // erased meanwhile
            let current = try checkedEnvelope(blob.bytes, id: id, version: version)
            if current.sealed.kekVersion == state.currentKEKVersion,
                try ShareStore.sealsToCurrentRecoveryKey(current.recovery?.fingerprint, state)
            {
                return
            }
            logger.info(
                "a rotation began while storing; sealing the new share version under the new KEK",
                metadata: ["share.id": "\(id)", "share.version": "\(version)", "kek.version": "\(state.currentKEKVersion)"])
            let (_, envelope) = try await sealEnvelope(id, version, secret, current.metadata, current.createdAt, state)
            if try await blobs.replace(key, envelope.serialized(), ifRevision: blob.revision) { return }
        }
        throw StrongroomError(
            .io, "share '\(id)' version \(version) was stored, but kept changing while it was moved to the new KEK; run rotate again")
    }

    /// Whether a blob whose recovery section names `fingerprint` (nil: none) is what `state` has new
    /// blobs sealed to.
    static func sealsToCurrentRecoveryKey(_ fingerprint: [UInt8]?, _ state: VaultState) throws(StrongroomError) -> Bool {
        fingerprint == (try state.recoveryKeyForNewBlobs())?.fingerprint
    }

    func cachedOrFreshState() async throws -> VaultState {
        if let cached = stateCache.withLock({ $0 }) { return cached }
        return try await freshState()
    }

    func freshState() async throws -> VaultState {
        let state = try await readState()
        stateCache.withLock { $0 = state }
        return state
    }

    /// Loads the newest version of share `id`, or `version` when given.
    ///
    /// Without `version`, a newer version whose blob is provably not an envelope at all — empty, or
    /// without the Strongroom magic (torn or foreign, see ``Envelope/tornReason(_:)``) — is
    /// skipped with a warning naming it, and the newest version that opens is returned. A blob that
    /// is an envelope but fails any check (authentication, binding to this share and version, the
    /// active KEK range) is never skipped: the load fails, so that an altered newest version cannot
    /// quietly roll a share back to an older one. With `version`, that version or an error.
    public func load(_ id: ShareID, version: UInt64? = nil) async throws -> SecretBytes {
        try await auditedOperation(AuditEvent(.load, shareID: id, versions: version.map { [$0] } ?? []), mutating: false, listing: false) { event in
            let (secret, loaded, kek) = try await loadVersion(id, version: version)
            event.versions = [loaded]
            event.kekVersions = [kek]
            return secret
        }
    }

    /// ``load(_:version:)`` without its audit record; returns the share and the version loaded.
    func loadVersion(_ id: ShareID, version: UInt64?) async throws -> (SecretBytes, UInt64, UInt32) {
        if let version {
            guard let opened = try await openBlobWithKEK(ShareStore.blobKey(id, version), id: id, version: version) else {
                throw ShareStore.notFound(id, version)
            }
            return (opened.secret, version, opened.kek)
        }
        let versions = try await versionNumbers(id)
        guard !versions.isEmpty else { throw ShareStore.notFound(id) }
        var skipped: [String] = []
        for candidate in versions.reversed() {
            let key = ShareStore.blobKey(id, candidate)
            do {
                guard let (secret, kek) = try await openBlobWithKEK(key, id: id, version: candidate) else { continue }  // erased meanwhile
                if !skipped.isEmpty {
                    logger.warning(
                        "loaded an older version of the share: the newer ones are torn or foreign files",
                        metadata: ["share.id": "\(id)", "share.version": "\(candidate)", "share.skipped": "\(skipped)"])
                }
                return (secret, candidate, kek)
            } catch let error as StrongroomError where error.code == .integrityCheckFailed {
                guard let blob = try await blobs.read(key), let torn = Envelope.tornReason(blob.bytes) else { throw error }
                let problem = tornProblem(id, candidate, torn)
                logger.warning(
                    "skipping a share version that is not an envelope",
                    metadata: ["share.id": "\(id)", "share.version": "\(candidate)", "problem": "\(problem)"])
                skipped.append(problem)
            }
        }
        guard skipped.isEmpty else {
            throw StrongroomError(
                .integrityCheckFailed,
                "no version of share '\(id)' opens: \(skipped.joined(separator: "; "))")
        }
        throw ShareStore.notFound(id)
    }

    /// How a torn or foreign blob is reported: where it is, why it is not an envelope, what to do.
    func tornProblem(_ id: ShareID, _ version: UInt64, _ reason: String) -> String {
        "share '\(id)' version \(version) (\(blobs.location)/\(ShareStore.blobKey(id, version))) is not a Strongroom envelope (\(reason)): a torn or foreign file, not a share; loads of the newest version and rotation skip it. Erase this version (or restore it from a backup)"
    }

    /// Completes destroys and deletes temporary files that crashes left in the share's directory, as
    /// a shared-lock holder may (``BlobStore/finishInterrupted(under:holdingExclusiveLock:)``). A
    /// failure here never fails the caller's write; it is logged.
    func finishInterruptedOpportunistically(_ id: ShareID) async {
        do {
            let work = try await blobs.finishInterrupted(under: ShareStore.sharePrefix(id), holdingExclusiveLock: false)
            log(work, "share.id", "\(id)")
        } catch {
            logger.warning(
                "could not clean up what an interrupted write or erase left", metadata: ["share.id": "\(id)", "error": "\(error)"])
        }
    }

    /// Logs what ``BlobStore/finishInterrupted(under:holdingExclusiveLock:)`` found.
    func log(_ work: InterruptedWork, _ key: String, _ value: String) {
        guard !work.isEmpty else { return }
        logger.notice(
            "finished what interrupted operations left",
            metadata: [
                key: "\(value)", "erase.finished": "\(work.finishedDestroys)", "tmp.removed": "\(work.removedTemporaryFiles)",
            ])
        for problem in work.problems { logger.warning("found a leftover that Strongroom did not make", metadata: [key: "\(value)", "problem": "\(problem)"]) }
    }

    /// Reads and opens the blob at `key`, which must be (id, version) of this vault, or returns nil
    /// when there is none. Loads take no lock: the vault state is read before the blob, and when the
    /// blob does not open (a KEK outside the active range, a KEK retired meanwhile) the state and the
    /// blob are read again, since a rotation may have rewrapped the blob between the two reads. That
    /// repeats while they keep changing (rotations in other processes, one after another), at most
    /// ``loadAttempts`` times; when neither changed, the error is the blob's own.
    func openBlob(_ key: String, id: ShareID, version: UInt64) async throws -> SecretBytes? {
        try await openBlobWithKEK(key, id: id, version: version)?.secret
    }

    /// ``openBlob(_:id:version:)`` with the KEK version the blob that opened is sealed under (for its audit record).
    func openBlobWithKEK(_ key: String, id: ShareID, version: UInt64) async throws -> (secret: SecretBytes, kek: UInt32)? {
        var state = try await stateForReading()
        guard var blob = try await blobs.read(key) else { return nil }
        await faults.wait(.loadBlobRead)
        var attempt = 1
        while true {
            do {
                return try await openWithKEK(blob.bytes, id: id, version: version, state: state)
            } catch let error as StrongroomError
                where error.code == .keyUnavailable || error.code == .integrityCheckFailed {
                let fresh = try await freshState()
                guard let again = try await blobs.read(key) else { return nil }
                guard again.revision != blob.revision || !fresh.sameKeys(as: state), attempt < ShareStore.loadAttempts else {
                    throw error
                }
                attempt += 1
                logger.debug(
                    "the blob or the vault state changed while loading; reading them again",
                    metadata: ["share.id": "\(id)", "share.version": "\(version)", "attempt": "\(attempt)"])
                (state, blob) = (fresh, again)
            }
        }
    }

    /// How many times a load reads the state and the blob while rotations keep changing them.
    static let loadAttempts = 10

    // MARK: Active KEK versions

    /// The KEK versions a blob may name under `state`: from the oldest active one to the newest (the
    /// target of a pending rotation).
    static func activeKEKVersions(_ state: VaultState) -> ClosedRange<UInt32> {
        let oldest = state.oldestActiveKEKVersion
        return oldest...max(oldest, state.currentKEKVersion, state.rotation?.target ?? 0)
    }

    /// Refuses an envelope whose KEK version is outside the vault's active range. This is the one place
    /// every tier checks it, before its keyring is asked: tier 1 could still derive a retired KEK from
    /// the root seed, and tier 2 keeps a retired KMS key that the operator supplied.
    static func checkKEKVersion(_ envelope: Envelope, state: VaultState) throws(StrongroomError) {
        let active = activeKEKVersions(state)
        let kek = envelope.sealed.kekVersion
        guard active.contains(kek) else {
            let what = envelope.shareVersion == recordVersion
                ? "record '\(envelope.shareID)'" : "blob for share '\(envelope.shareID)' version \(envelope.shareVersion)"
            throw StrongroomError(
                .integrityCheckFailed,
                "\(what) names KEK version \(kek), but the vault's active KEK versions are \(active.lowerBound)–\(active.upperBound); the blob was altered or is from before a finished rotation")
        }
    }

    /// The vault state a read checks KEK versions against: read afresh from a directory (one small
    /// local file), else the cached one (S3: a GET saved per load; a blob outside the cached range
    /// makes the caller read the state again).
    func stateForReading() async throws -> VaultState {
        if !blobs.sharedLockSpansProcesses, let cached = stateCache.withLock({ $0 }) { return cached }
        return try await freshState()
    }

    /// Opens an envelope that must belong to (vault, tier, id, version) and name an active KEK version.
    func open(_ bytes: [UInt8], id: ShareID, version: UInt64, state: VaultState) async throws -> SecretBytes {
        try await openWithKEK(bytes, id: id, version: version, state: state).secret
    }

    /// ``open(_:id:version:state:)`` with the KEK version the envelope is sealed under.
    func openWithKEK(_ bytes: [UInt8], id: ShareID, version: UInt64, state: VaultState) async throws -> (secret: SecretBytes, kek: UInt32) {
        let envelope = try checkedEnvelope(bytes, id: id, version: version)
        try ShareStore.checkKEKVersion(envelope, state: state)
        // The header was checked to name this vault, tier, share and version; in v2 the recovery
        // section follows it in the associated data, so it cannot be stripped or swapped.
        return (try await keyring.open(envelope.sealed, associatedData: envelope.associatedData), envelope.sealed.kekVersion)
    }

    /// Parses a blob and checks that its header names this vault, tier, share id and version.
    func checkedEnvelope(_ bytes: [UInt8], id: ShareID, version: UInt64) throws(StrongroomError) -> Envelope {
        let envelope = try Envelope(parsing: bytes)
        guard envelope.tierCode == tier.code, envelope.vaultID == vaultID, envelope.kekID == keyring.kekID else {
            throw StrongroomError(
                .integrityCheckFailed,
                "blob for share '\(id)' version \(version) was sealed for another vault, tier or KEK")
        }
        guard envelope.shareID == id, envelope.shareVersion == version else {
            throw StrongroomError(
                .integrityCheckFailed,
                "blob stored as share '\(id)' version \(version) belongs to share '\(envelope.shareID)' version \(envelope.shareVersion); it was copied or swapped")
        }
        return envelope
    }

    // MARK: Listing

    func versionNumbers(_ id: ShareID) async throws -> [UInt64] {
        try await blobs.children(of: ShareStore.sharePrefix(id)).compactMap(ShareStore.version(fromName:)).sorted()
    }

    func shareIDs() async throws -> [ShareID] {
        try await blobs.children(of: ShareStore.sharesPrefix).compactMap { try? ShareID($0) }
    }

    /// Every share id with its newest version and version count, sorted by id.
    public func list() async throws -> [ShareSummary] {
        try await auditedOperation(AuditEvent(.list), mutating: false, listing: true) { event in
            let result = try await listShares()
            event.details["shares"] = "\(result.count)"
            return result
        }
    }

    func listShares() async throws -> [ShareSummary] {
        var result: [ShareSummary] = []
        for id in try await shareIDs() {
            let versions = try await versionNumbers(id)
            guard let latest = versions.last else { continue }
            result.append(ShareSummary(id: id, latestVersion: latest, versionCount: versions.count))
        }
        return result
    }

    /// The stored versions of share `id`, oldest first, read from their envelope headers. A version
    /// whose blob cannot be used (its header is unreadable or names another share, vault or tier, or
    /// a KEK version outside the active range) is listed with ``ShareVersionInfo/problem`` set and
    /// the fields its header gave (zero when none); the other versions are listed as usual.
    public func versions(_ id: ShareID) async throws -> [ShareVersionInfo] {
        try await auditedOperation(AuditEvent(.versions, shareID: id), mutating: false, listing: true) { event in
            let result = try await versionInfos(id)
            event.versions = result.map(\.version)
            return result
        }
    }

    func versionInfos(_ id: ShareID) async throws -> [ShareVersionInfo] {
        let state = try await freshState()
        var result: [ShareVersionInfo] = []
        for version in try await versionNumbers(id) {
            guard let blob = try await blobs.read(ShareStore.blobKey(id, version)) else { continue }
            let envelope: Envelope
            do {
                envelope = try checkedEnvelope(blob.bytes, id: id, version: version)
            } catch {
                let problem = Envelope.tornReason(blob.bytes).map { tornProblem(id, version, $0) } ?? error.reason
                result.append(
                    ShareVersionInfo(
                        version: version, kekVersion: 0, createdAt: 0, metadata: [:], blobSize: blob.bytes.count,
                        problem: problem))
                continue
            }
            var problem: String?
            do {
                try ShareStore.checkKEKVersion(envelope, state: state)
            } catch {
                problem = error.reason
            }
            result.append(
                ShareVersionInfo(
                    version: version, kekVersion: envelope.sealed.kekVersion, createdAt: envelope.createdAt,
                    metadata: ShareStore.decodeMetadata(envelope.metadata), blobSize: blob.bytes.count, problem: problem))
        }
        guard !result.isEmpty else { throw ShareStore.notFound(id) }
        return result
    }

    // MARK: Erase

    /// Destroys every version of share `id` (see docs/security.md) and returns how many there were.
    ///
    /// A blob or share directory that is not what Strongroom wrote (a symbolic link, a file with other
    /// hard links) is never written or followed: its name is removed like the others, and once every
    /// version is gone `erase` throws ``StrongroomError/Code/unsafeFile`` naming each such file.
    @discardableResult
    public func erase(_ id: ShareID) async throws -> Int {
        try await auditedOperation(AuditEvent(.erase, shareID: id), mutating: true, listing: false) { event in
            let erased = try await blobs.withLock(.exclusive) { try await eraseHoldingExclusiveLock(id) }
            event.details["erased"] = "\(erased)"
            return erased
        }
    }

    /// ``erase(_:)`` for a caller that already holds the exclusive lock (a migration's erase of its source).
    func eraseHoldingExclusiveLock(_ id: ShareID) async throws -> Int {
        do {
            let versions: [UInt64]
            do {
                versions = try await versionNumbers(id)
            } catch let refused as StrongroomError where refused.code == .unsafeFile {
                try await blobs.removePrefix(ShareStore.sharePrefix(id))  // removes a link's name, reports it
                throw refused
            }
            log(try await blobs.finishInterrupted(under: ShareStore.sharePrefix(id), holdingExclusiveLock: true), "share.id", "\(id)")
            guard !versions.isEmpty else { throw ShareStore.notFound(id) }
            let unsafe = try await destroyVersions(id, versions)
            try await blobs.removePrefix(ShareStore.sharePrefix(id))
            if !unsafe.isEmpty {
                throw StrongroomError(
                    .unsafeFile,
                    "erased share '\(id)': all \(versions.count) version(s) are gone from the vault, but \(unsafe.count) of them could not be overwritten: \(unsafe.joined(separator: " "))")
            }
            logger.info("erased share", metadata: ["share.id": "\(id)", "share.versions": "\(versions.count)"])
            return versions.count
        }
    }

    /// Destroys the given versions of share `id` (the caller holds the exclusive lock). A blob that is
    /// not what Strongroom wrote loses its name without being written and the others are still
    /// destroyed; returns the refusals' reasons, for the caller to report once it is done.
    func destroyVersions(_ id: ShareID, _ versions: [UInt64]) async throws -> [String] {
        var unsafe: [String] = []
        for version in versions {
            do {
                try await blobs.destroy(ShareStore.blobKey(id, version))
            } catch let refused as StrongroomError where refused.code == .unsafeFile {
                unsafe.append(refused.reason)
                logger.warning(
                    "erase removed a blob's name without overwriting it",
                    metadata: ["share.id": "\(id)", "share.version": "\(version)", "reason": "\(refused.reason)"])
            }
        }
        return unsafe
    }

    // MARK: Status

    /// The vault's KEK versions and its share versions per KEK version (headers only, nothing decrypted).
    /// Blobs that cannot be used — an unreadable header, one naming another share, vault or tier, or a
    /// KEK version outside the active range — are not counted per KEK version but listed in
    /// ``VaultStatus/problems``; sealed records are checked the same way.
    public func status() async throws -> VaultStatus {
        try await auditedOperation(AuditEvent(.status), mutating: false, listing: true) { _ in try await vaultStatus() }
    }

    func vaultStatus() async throws -> VaultStatus {
        let state = try await freshState()
        var perKEK: [UInt32: Int] = [:]
        var shares = 0
        var versionsTotal = 0
        var unreadable = 0
        var problems: [String] = []
        let recoveryFingerprint = try state.recoveryKeyForNewBlobs()?.fingerprint
        var withoutRecovery = 0
        func check(_ bytes: [UInt8], id: ShareID, version: UInt64, what: String) -> UInt32? {
            let envelope: Envelope
            do {
                envelope = try checkedEnvelope(bytes, id: id, version: version)
                if let recoveryFingerprint, envelope.recovery?.fingerprint != recoveryFingerprint { withoutRecovery += 1 }
            } catch {
                unreadable += 1
                let reason = Envelope.tornReason(bytes).map { "not a Strongroom envelope (\($0)): a torn or foreign file" }
                problems.append("\(what): \(reason ?? error.reason)")
                return nil
            }
            do {
                try ShareStore.checkKEKVersion(envelope, state: state)
            } catch {
                problems.append("\(what): \(error.reason)")
                return nil
            }
            return envelope.sealed.kekVersion
        }
        // One streaming walk (shares in the store's order, one share's versions held at a time).
        var lastShare: ShareID?
        try await forEachVersion { id, version in
            if version == ShareStore.recordVersion {
                guard let blob = try await blobs.read(ShareStore.recordKey(id)) else { return }
                _ = check(blob.bytes, id: id, version: version, what: "record '\(id)'")
                return
            }
            if id != lastShare {
                shares += 1
                lastShare = id
            }
            guard let blob = try await blobs.read(ShareStore.blobKey(id, version)) else { return }
            versionsTotal += 1
            if let kek = check(blob.bytes, id: id, version: version, what: "share '\(id)' version \(version)") {
                perKEK[kek, default: 0] += 1
            }
        }
        return VaultStatus(
            vaultID: vaultID, tier: tier, kekID: state.kekID, currentKEKVersion: state.currentKEKVersion,
            oldestActiveKEKVersion: state.oldestActiveKEKVersion, pendingRotationTarget: state.rotation?.target,
            shareCount: shares, versionCount: versionsTotal, versionsPerKEKVersion: perKEK,
            unreadableBlobs: unreadable, problems: problems, recoveryFingerprint: state.recovery?.fingerprint,
            pendingRecoveryFingerprint: state.pendingRecovery?.fingerprint, versionsWithoutRecovery: withoutRecovery,
            auditMode: audit.settings.mode, auditLocation: audit.sink.location, auditRecordCount: try await audit.countRecords(),
            auditMACKey: (try? await audit.macKey())?.description, auditCheckpoint: state.audit)
    }

    // MARK: Helpers

    static func notFound(_ id: ShareID) -> StrongroomError {
        StrongroomError(.shareNotFound, "no share '\(id)' in this vault")
    }

    static func notFound(_ id: ShareID, _ version: UInt64) -> StrongroomError {
        StrongroomError(.shareNotFound, "share '\(id)' has no version \(version)")
    }

    static func encodeMetadata(_ metadata: [String: String]) throws(StrongroomError) -> [UInt8] {
        guard !metadata.isEmpty else { return [] }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(metadata) else {
            throw StrongroomError(.invalidInput, "metadata could not be encoded as JSON")
        }
        guard data.count <= Envelope.maximumMetadataBytes else {
            throw StrongroomError(
                .invalidInput, "metadata is \(data.count) bytes as JSON; the limit is \(Envelope.maximumMetadataBytes)")
        }
        return Array(data)
    }

    static func decodeMetadata(_ bytes: [UInt8]) -> [String: String] {
        guard !bytes.isEmpty else { return [:] }
        return (try? JSONDecoder().decode([String: String].self, from: Data(bytes))) ?? [:]
    }
}
