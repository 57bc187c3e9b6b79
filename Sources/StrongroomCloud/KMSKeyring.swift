import AWSClient
import Foundation
import Logging
import SecureCrypto
import StrongroomCore

/// Tier 2's keyring: KEK versions are KMS keys, data keys come from KMS GenerateDataKey.
///
/// Each share version gets its own data key, bound by the encryption context {vault, share id,
/// share version} (so a wrapped key moved to another share fails KMS's check); the share is sealed
/// in process with AES-256-GCM and the envelope's AAD; the plaintext data key lives in
/// ``SecretBytes`` and is dropped (wiped) right after. Rotation uses ReEncrypt: the data key never
/// leaves KMS. Which KMS key is which KEK version is recorded in `kms-keys.json` beside the vault
/// state.
public final class KMSKeyring: Keyring {
    /// The wrap mechanism id tier 2 writes into envelopes: "a KMS CiphertextBlob" (vendor range).
    public static let mechanismKMS: UInt32 = 0x8000_4B4D

    /// Tier 2.
    public let tier = Tier.cloud
    /// The vault id in hex: KMS keys are per vault.
    public let kekID: String
    let vaultID: VaultID
    let kms: KMSClient
    let keys: KMSKeyMap
    let deletionWindowDays: Int
    let logger: Logger
    let faults: FaultInjection

    /// Creates the keyring of vault `vaultID`: `kms` answers for its keys, `keys` maps KEK versions to
    /// them, `deletionWindowDays` is the waiting period of the deletions rotation schedules.
    public init(
        vaultID: VaultID, kms: KMSClient, keys: KMSKeyMap, deletionWindowDays: Int, logger: Logger,
        faults: FaultInjection = .none
    ) {
        self.vaultID = vaultID
        self.kekID = vaultID.hex
        self.kms = kms
        self.keys = keys
        self.deletionWindowDays = deletionWindowDays
        self.logger = logger
        self.faults = faults
    }

    /// The encryption context of the share version an envelope header names.
    func context(_ associatedData: [UInt8]) throws(StrongroomError) -> [String: String] {
        guard let identity = Envelope.identity(fromAssociatedData: associatedData), identity.vaultID == vaultID else {
            throw StrongroomError(.integrityCheckFailed, "the envelope header does not name a share of this vault")
        }
        return [
            "strongroom:vault": identity.vaultID.hex, "strongroom:share": identity.shareID.rawValue,
            "strongroom:version": String(identity.shareVersion),
        ]
    }

    public func seal(_ share: SecretBytes, associatedData: [UInt8], kekVersion: UInt32) async throws -> SealedShare {
        let keyID = try await keys.keyID(for: kekVersion)
        let context = try context(associatedData)
        let dataKey = try await CloudErrors.mapping(keyName: keyID) { () async throws(AWSError) in
            try await kms.generateDataKey(keyID: keyID, context: context)
        }
        return try StrongroomError.mappingCrypto { () throws(CryptoError) in
            let iv = try SecureRandom.bytes(count: AESGCM.ivSize)
            let sealed = try AESGCM.seal(share, key: dataKey.plaintext, iv: iv, aad: associatedData)
            return SealedShare(
                kekVersion: kekVersion, wrapMechanism: KMSKeyring.mechanismKMS, wrappedKey: dataKey.ciphertextBlob, iv: iv,
                ciphertext: sealed.ciphertext, tag: sealed.tag)
        }
    }

    /// Seals `share` under the store's `dataKey` and has KMS Encrypt that key under KEK version
    /// `kekVersion`'s key, with the same encryption context GenerateDataKey uses (a vault with a
    /// recovery key: the data key is made in process so that it can be sealed to the recovery key).
    public func seal(_ share: SecretBytes, dataKey: SecretBytes, associatedData: [UInt8], kekVersion: UInt32) async throws
        -> SealedShare
    {
        guard dataKey.count == AESGCM.keySize else {
            throw StrongroomError(.invalidInput, "a data key is \(AESGCM.keySize) bytes, got \(dataKey.count)")
        }
        let keyID = try await keys.keyID(for: kekVersion)
        let context = try context(associatedData)
        let wrapped = try await CloudErrors.mapping(keyName: keyID) { () async throws(AWSError) in
            try await kms.encrypt(keyID: keyID, plaintext: dataKey, context: context)
        }
        return try StrongroomError.mappingCrypto { () throws(CryptoError) in
            let iv = try SecureRandom.bytes(count: AESGCM.ivSize)
            let sealed = try AESGCM.seal(share, key: dataKey, iv: iv, aad: associatedData)
            return SealedShare(
                kekVersion: kekVersion, wrapMechanism: KMSKeyring.mechanismKMS, wrappedKey: wrapped, iv: iv,
                ciphertext: sealed.ciphertext, tag: sealed.tag)
        }
    }

    public func open(_ sealed: SealedShare, associatedData: [UInt8]) async throws -> SecretBytes {
        guard sealed.wrapMechanism == KMSKeyring.mechanismKMS else {
            throw StrongroomError(
                .integrityCheckFailed,
                "wrap mechanism 0x\(String(sealed.wrapMechanism, radix: 16)) is not tier 2's KMS ciphertext (0x80004b4d)")
        }
        let keyID = try await keys.keyID(for: sealed.kekVersion)
        let context = try context(associatedData)
        let dataKey: SecretBytes
        do {
            dataKey = try await decryptDataKey(sealed, keyID: keyID, context: context)
        } catch let error as StrongroomError where error.code == .keyUnavailable || error.code == .accessDenied {
            // KMS could not find, use or let us use the key the blob names. If the vault's key for
            // this version is enabled and visible to us, the blob's key reference was altered (KMS
            // answers that with NotFound or, some servers, AccessDenied).
            try await requireKEK(version: sealed.kekVersion)
            throw StrongroomError(
                .integrityCheckFailed,
                "KMS would not decrypt the wrapped data key although key \(keyID) is enabled: the blob's key reference was altered (or a policy denies kms:Decrypt on that key)",
                cause: error.cause)
        }
        return try sealed.openCiphertext(dataKey: dataKey, associatedData: associatedData)
    }

    /// Decrypt without a KeyId in the request (a blob whose key reference was altered then fails as
    /// "not found" or "invalid ciphertext", not as a refusal); the key that answered must be the
    /// vault's key for the blob's KEK version.
    private func decryptDataKey(_ sealed: SealedShare, keyID: String, context: [String: String]) async throws -> SecretBytes {
        let answer = try await CloudErrors.mapping(keyName: keyID) { () async throws(AWSError) in
            try await kms.decrypt(ciphertextBlob: sealed.wrappedKey, context: context)
        }
        guard KMSKeyMap.sameKey(answer.keyID, keyID) else {
            throw StrongroomError(
                .integrityCheckFailed,
                "the wrapped data key was made by KMS key \(answer.keyID), not by \(keyID) of KEK version \(sealed.kekVersion); it was altered or swapped")
        }
        return answer.plaintext
    }

    /// ReEncrypt under the target version's KMS key, same context: the data key stays inside KMS.
    /// The answer must name the target key. (Decrypting to check would bring the data key into
    /// this process, which is what ReEncrypt avoids; KMS authenticates the blob it returns.)
    public func rewrap(_ sealed: SealedShare, associatedData: [UInt8], to target: UInt32) async throws -> SealedShare {
        guard sealed.wrapMechanism == KMSKeyring.mechanismKMS else {
            throw StrongroomError(.integrityCheckFailed, "wrap mechanism is not tier 2's KMS ciphertext")
        }
        let source = try await keys.keyID(for: sealed.kekVersion)
        let destination = try await keys.keyID(for: target)
        let context = try context(associatedData)
        let answer = try await CloudErrors.mapping(keyName: source) { () async throws(AWSError) in
            try await kms.reEncrypt(
                ciphertextBlob: sealed.wrappedKey, sourceContext: context, destinationKeyID: destination,
                destinationContext: context)
        }
        guard KMSKeyMap.sameKey(answer.keyID, destination) else {
            throw StrongroomError(
                .crypto, "KMS ReEncrypt answered with key \(answer.keyID), not the target \(destination); the share was left as it was")
        }
        var rewrapped = sealed
        rewrapped.kekVersion = target
        rewrapped.wrappedKey = answer.ciphertextBlob
        return rewrapped
    }

    /// Makes KEK version `version`'s KMS key. The intent (the version and a fresh nonce) is recorded
    /// in `kms-keys.json` before CreateKey, and the key is created with the tags
    /// `strongroom:vault`, `strongroom:kek-version` and `strongroom:intent=<nonce>`; recording the
    /// key removes the intent in the same conditional write. Keys of earlier runs killed in between
    /// are settled first (``settleIntents()``).
    public func prepareKEK(version: UInt32) async throws {
        try await settleIntents()
        try await keys.ensure(version: version) { (nonce: String) async throws -> String in
            let created = try await CloudErrors.mapping(keyName: "(new key)") { () async throws(AWSError) in
                try await kms.createKey(
                    description: "Strongroom vault \(vaultID.hex) KEK version \(version)",
                    tags: [
                        "strongroom:vault": vaultID.hex, "strongroom:kek-version": String(version),
                        KMSKeyring.intentTag: nonce,
                    ])
            }
            logger.info("created KMS key", metadata: ["kms.key": "\(created.arn)", "kek.version": "\(version)"])
            try faults.check(.kekCreated)
            return created.arn
        }
    }

    /// A resumed rotation settles the keys of killed runs too.
    public func resumeKEK(version: UInt32, anySealedUnder: () async throws -> Bool) async throws {
        try await settleIntents()
    }

    static let intentTag = "strongroom:intent"

    /// Settles every intent `kms-keys.json` still records: a run was killed between recording it and
    /// recording its key. The keys tagged with the intent's nonce (ListKeys, ListResourceTags) are
    /// found; the first one that is Enabled is adopted as the intent's KEK version when that version
    /// has no key yet, and every other one is scheduled for deletion (after
    /// `cloud.keyDeletionWindowDays`). Then the intent is removed. Nothing is left Enabled and
    /// unrecorded. Runs under the vault's exclusive lock (rotation).
    func settleIntents() async throws {
        let intents = try await keys.read().0.intents ?? []
        guard !intents.isEmpty else { return }
        let nonces = Set(intents.map(\.nonce))
        var made: [String: [KMSKeyMetadata]] = [:]
        let all = try await CloudErrors.mapping { () async throws(AWSError) in try await kms.listKeys() }
        for keyID in all {
            let tags: [String: String]
            do {
                tags = try await kms.listResourceTags(keyID)
            } catch {
                continue  // a key we may not read the tags of (another application's) is not ours
            }
            guard tags["strongroom:vault"] == vaultID.hex, let nonce = tags[KMSKeyring.intentTag], nonces.contains(nonce) else {
                continue
            }
            let meta = try await CloudErrors.mapping(keyName: keyID) { () async throws(AWSError) in try await kms.describeKey(keyID) }
            made[nonce, default: []].append(meta)
        }
        for intent in intents {
            let recorded = try await keys.entries().contains { $0.version == intent.version }
            var adopted: KMSKeyMetadata?
            for meta in made[intent.nonce] ?? [] {
                if adopted == nil, !recorded, meta.keyState == "Enabled" {
                    adopted = meta
                    continue
                }
                guard meta.keyState != "PendingDeletion" else { continue }
                do throws(AWSError) {
                    try await kms.scheduleKeyDeletion(meta.keyID, pendingWindowDays: deletionWindowDays)
                } catch where error.code == "KMSInvalidStateException" || error.code == "NotFoundException" {
                    continue  // already pending deletion or gone
                } catch {
                    throw CloudErrors.mapped(error, keyName: meta.keyID)
                }
                logger.notice(
                    "scheduled deletion of a KMS key made by an interrupted rotation",
                    metadata: ["kms.key": "\(meta.arn)", "kek.version": "\(intent.version)", "kms.windowDays": "\(deletionWindowDays)"])
            }
            try await keys.resolve(intent, adopting: adopted?.arn)
            if let adopted {
                logger.notice(
                    "adopted the KMS key an interrupted rotation made",
                    metadata: ["kms.key": "\(adopted.arn)", "kek.version": "\(intent.version)"])
            }
        }
    }

    /// Schedules deletion (after `cloud.keyDeletionWindowDays`, cancellable until then) of the KMS
    /// keys Strongroom created for versions below `version`; keys an operator supplied are left
    /// alone. Either way the versions are marked retired in `kms-keys.json`.
    public func retireKEKs(olderThan version: UInt32) async throws {
        try await settleIntents()
        for entry in try await keys.entries() where entry.version < version && !entry.retired {
            if entry.createdByStrongroom {
                do throws(AWSError) {
                    // By key id, not ARN: some KMS-compatible servers accept only ids here.
                    let meta = try await kms.describeKey(entry.keyID)
                    try await kms.scheduleKeyDeletion(meta.keyID, pendingWindowDays: deletionWindowDays)
                } catch where error.code == "KMSInvalidStateException" || error.code == "NotFoundException" {
                    // Already pending deletion or gone: nothing left to do.
                } catch {
                    throw CloudErrors.mapped(error, keyName: entry.keyID)
                }
                logger.info(
                    "scheduled KMS key deletion",
                    metadata: ["kms.key": "\(entry.keyID)", "kek.version": "\(entry.version)", "kms.windowDays": "\(deletionWindowDays)"])
            } else {
                logger.notice(
                    "KEK version retired; its KMS key was supplied by the operator and is left as it is",
                    metadata: ["kms.key": "\(entry.keyID)", "kek.version": "\(entry.version)"])
            }
            try await keys.markRetired(version: entry.version)
        }
    }

    // MARK: Audit

    private let auditKeyCache = Locked<KMSAuditKey?>(nil)

    /// The vault's audit checkpoint key: a KMS `HMAC_256` key (`GENERATE_VERIFY_MAC`) recorded in
    /// `kms-keys.json` (`audit`), made on first use. Two processes that make one at once both write the
    /// map with `If-Match`: one key is recorded, and the other process schedules its own for deletion
    /// (after `cloud.keyDeletionWindowDays`) and uses the recorded one. The key is tagged
    /// `strongroom:vault` and `strongroom:purpose=audit-mac`, so one a kill left unrecorded (between
    /// CreateKey and the map write) can be found and deleted by hand. Needs `kms:CreateKey`,
    /// `kms:TagResource`, `kms:GenerateMac`, `kms:VerifyMac` (and `kms:ScheduleKeyDeletion` for a lost race).
    public func auditKey() async throws -> (any AuditMACKey)? {
        if let cached = auditKeyCache.withLock({ $0 }) { return cached }
        let entry = try await keys.auditKey(
            make: {
                let created = try await CloudErrors.mapping(keyName: "(new audit key)") { () async throws(AWSError) in
                    try await kms.createHMACKey(
                        description: "Strongroom vault \(vaultID.hex) audit checkpoint MAC key",
                        tags: ["strongroom:vault": vaultID.hex, "strongroom:purpose": "audit-mac"])
                }
                logger.info("created the KMS audit MAC key", metadata: ["kms.key": "\(created.arn)"])
                return created.arn
            },
            discard: { lost in
                do throws(AWSError) {
                    try await kms.scheduleKeyDeletion(lost, pendingWindowDays: deletionWindowDays)
                    logger.notice(
                        "another process recorded the vault's audit MAC key first; scheduled deletion of ours",
                        metadata: ["kms.key": "\(lost)", "kms.windowDays": "\(deletionWindowDays)"])
                } catch {
                    logger.warning(
                        "another process recorded the vault's audit MAC key first; could not schedule deletion of ours",
                        metadata: ["kms.key": "\(lost)", "error": "\(error)"])
                }
            })
        let key = KMSAuditKey(keyID: entry.keyID, kms: kms)
        auditKeyCache.withLock { $0 = key }
        return key
    }

    /// Checks that KEK version `version`'s KMS key exists and is enabled.
    public func requireKEK(version: UInt32) async throws {
        let keyID = try await keys.keyID(for: version)
        let meta = try await CloudErrors.mapping(keyName: keyID) { () async throws(AWSError) in try await kms.describeKey(keyID) }
        guard meta.keyState == "Enabled" else {
            throw StrongroomError(
                .keyUnavailable, "KMS key \(meta.arn) (KEK version \(version)) is \(meta.keyState), not Enabled")
        }
    }
}

/// `kms-keys.json`: which KMS key is which KEK version, and whether Strongroom made it.
public final class KMSKeyMap: Sendable {
    struct Entry: Codable, Sendable, Equatable {
        var version: UInt32
        var keyID: String
        var createdByStrongroom: Bool
        var retired: Bool = false
    }

    /// A KMS key about to be created for `version` with the tag `strongroom:intent=<nonce>`.
    struct Intent: Codable, Sendable, Equatable {
        var version: UInt32
        var nonce: String
        var startedAt: UInt64
    }

    /// The vault's audit checkpoint key (a KMS HMAC_256 key), once made.
    struct AuditKeyEntry: Codable, Sendable, Equatable {
        var keyID: String
        var createdByStrongroom: Bool
        var createdAt: UInt64
    }

    struct File: Codable, Sendable {
        var format = 1
        var keys: [Entry]
        /// Keys being created (absent when none).
        var intents: [Intent]? = nil
        /// The audit MAC key (absent until the first checkpoint).
        var audit: AuditKeyEntry? = nil
    }

    static let key = "kms-keys.json"
    let blobs: any BlobStore
    private let cache = Locked<[UInt32: Entry]>([:])

    /// The map kept in `blobs` (beside the vault state).
    public init(blobs: any BlobStore) {
        self.blobs = blobs
    }

    static func sameKey(_ lhs: String, _ rhs: String) -> Bool {
        func id(_ text: String) -> Substring { text.split(separator: "/").last ?? Substring(text) }
        return lhs == rhs || id(lhs) == id(rhs)
    }

    func read() async throws -> (File, String?) {
        guard let blob = try await blobs.read(KMSKeyMap.key) else { return (File(keys: []), nil) }
        do {
            let file = try JSONDecoder().decode(File.self, from: Data(blob.bytes))
            cache.withLock { cache in for entry in file.keys { cache[entry.version] = entry } }
            return (file, blob.revision)
        } catch {
            throw StrongroomError(
                .integrityCheckFailed, "\(blobs.location)\(KMSKeyMap.key) is not a valid KMS key map", cause: "\(error)")
        }
    }

    func write(_ file: File, revision: String?) async throws -> Bool {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
        let bytes = Array(try encoder.encode(file)) + [0x0A]
        let written = try await revision == nil
            ? blobs.create(KMSKeyMap.key, bytes) : blobs.replace(KMSKeyMap.key, bytes, ifRevision: revision)
        if written { cache.withLock { cache in for entry in file.keys { cache[entry.version] = entry } } }
        return written
    }

    func entries() async throws -> [Entry] {
        try await read().0.keys.sorted { $0.version < $1.version }
    }

    /// The KMS key of KEK version `version` (cached; read again on a miss).
    func keyID(for version: UInt32) async throws -> String {
        if let entry = cache.withLock({ $0[version] }) { return entry.keyID }
        _ = try await read()
        guard let entry = cache.withLock({ $0[version] }) else {
            throw StrongroomError(
                .keyUnavailable, "KEK version \(version) has no KMS key in \(blobs.location)\(KMSKeyMap.key)")
        }
        return entry.keyID
    }

    /// Records `keyID` as version 1 when the vault is created.
    func recordFirst(keyID: String, createdByStrongroom: Bool) async throws {
        guard try await write(File(keys: [Entry(version: 1, keyID: keyID, createdByStrongroom: createdByStrongroom)]), revision: nil) else {
            throw StrongroomError(.vaultAlreadyExists, "\(blobs.location)\(KMSKeyMap.key) already exists; nothing was changed")
        }
    }

    /// Makes sure version `version` has a key, creating one with `make` when it has none. The intent
    /// is written before `make` runs (which gets its nonce), and removed when the key is recorded.
    func ensure(version: UInt32, make: (String) async throws -> String) async throws {
        var (file, revision) = try await read()
        if file.keys.contains(where: { $0.version == version }) { return }
        let nonce = Hex.encode(try StrongroomError.mappingCrypto { () throws(CryptoError) in try SecureRandom.bytes(count: 12) })
        let intent = Intent(version: version, nonce: nonce, startedAt: UInt64(Date().timeIntervalSince1970))
        var recorded = false
        for _ in 0..<KMSKeyMap.maximumWriteAttempts {
            file.intents = (file.intents ?? []) + [intent]
            if try await write(file, revision: revision) {
                recorded = true
                break
            }
            (file, revision) = try await read()
            if file.keys.contains(where: { $0.version == version }) { return }  // made by a racing process
        }
        guard recorded else { throw KMSKeyMap.keptChanging(nil) }
        let keyID: String
        do {
            keyID = try await make(nonce)
        } catch let error as StrongroomError where error.code == .accessDenied || error.code == .configuration {
            // KMS refused CreateKey outright, so no key was made: the intent goes (best effort).
            try? await resolve(intent, adopting: nil)
            throw error
        }
        for _ in 0..<KMSKeyMap.maximumWriteAttempts {
            (file, revision) = try await read()
            // Made by a racing process meanwhile: the intent stays, and the next settle deletes ours.
            if file.keys.contains(where: { $0.version == version }) { return }
            file.keys.append(Entry(version: version, keyID: keyID, createdByStrongroom: true))
            file.intents = file.intents?.filter { $0.nonce != nonce }
            if file.intents?.isEmpty == true { file.intents = nil }
            if try await write(file, revision: revision) { return }
        }
        throw KMSKeyMap.keptChanging(keyID)
    }

    /// Removes `intent`, recording `keyID` as its version first when given (and the version has
    /// no key yet), in one conditional write.
    func resolve(_ intent: Intent, adopting keyID: String?) async throws {
        for _ in 0..<KMSKeyMap.maximumWriteAttempts {
            let (current, revision) = try await read()
            var file = current
            if let keyID, !file.keys.contains(where: { $0.version == intent.version }) {
                file.keys.append(Entry(version: intent.version, keyID: keyID, createdByStrongroom: true))
                file.keys.sort { $0.version < $1.version }
            }
            file.intents = file.intents?.filter { $0 != intent }
            if file.intents?.isEmpty == true { file.intents = nil }
            if try await write(file, revision: revision) { return }
        }
        throw KMSKeyMap.keptChanging(keyID)
    }

    /// The audit MAC key, recording the one `make` creates when the map has none. When another
    /// process recorded one first, that one is returned and `discard` is called with ours.
    func auditKey(
        make: () async throws -> String, discard: (String) async throws -> Void
    ) async throws -> AuditKeyEntry {
        var (file, revision) = try await read()
        if let entry = file.audit { return entry }
        let keyID = try await make()
        for _ in 0..<KMSKeyMap.maximumWriteAttempts {
            if let entry = file.audit {
                try await discard(keyID)
                return entry
            }
            let entry = AuditKeyEntry(keyID: keyID, createdByStrongroom: true, createdAt: UInt64(Date().timeIntervalSince1970))
            file.audit = entry
            if try await write(file, revision: revision) { return entry }
            (file, revision) = try await read()
        }
        throw KMSKeyMap.keptChanging(keyID)
    }

    func markRetired(version: UInt32) async throws {
        for _ in 0..<KMSKeyMap.maximumWriteAttempts {
            var (file, revision) = try await read()
            guard let index = file.keys.firstIndex(where: { $0.version == version }), !file.keys[index].retired else { return }
            file.keys[index].retired = true
            if try await write(file, revision: revision) { return }
        }
        throw KMSKeyMap.keptChanging(nil)
    }

    static let maximumWriteAttempts = 5

    /// The map's conditional write kept failing: another writer, or a store whose If-Match never
    /// holds (see docs/tiers.md on Ceph RGW).
    static func keptChanging(_ keyID: String?) -> StrongroomError {
        StrongroomError(
            .io,
            "\(key) kept changing under a conditional write (\(maximumWriteAttempts) attempts)\(keyID.map { "; KMS key \($0) was created but is not recorded" } ?? ""); check that the S3 server honours If-Match, then run the command again")
    }
}

/// Tier 2's audit checkpoint key: a KMS `HMAC_256` key used with `GenerateMac`/`VerifyMac`
/// (`HMAC_SHA_256`); the key never leaves KMS.
///
/// KMS takes messages of at most 4,096 bytes. A checkpoint line's MAC input is far shorter (about
/// 500 bytes with a long host name), but a client identity (``AuditContext/client``) has no bound:
/// a message longer than 4,096 bytes is therefore replaced by its SHA-256 (32 bytes), and the MAC is
/// HMAC-SHA256(key, SHA-256(message)). No checkpoint line is 32 bytes long, so the two cases cannot
/// be confused. (docs/audit.md states the rule.)
public struct KMSAuditKey: AuditMACKey {
    /// The key's ARN (or id), as `kms-keys.json` records it.
    public let keyID: String
    let kms: KMSClient

    /// `KMS HMAC_256 key <ARN>`.
    public var description: String { "KMS HMAC_256 key \(keyID)" }
    /// `HMAC-SHA256`.
    public var algorithm: String { "HMAC-SHA256" }

    /// What KMS is given for `message`: the message itself, or its SHA-256 when it is longer than KMS takes.
    static func macInput(_ message: [UInt8]) -> [UInt8] {
        message.count > KMSClient.maximumMacMessageSize ? SHA256.hash(message) : message
    }

    public func mac(_ message: [UInt8]) async throws -> [UInt8] {
        let input = KMSAuditKey.macInput(message)
        return try await CloudErrors.mapping(keyName: keyID) { () async throws(AWSError) in
            try await kms.generateMac(keyID: keyID, message: input)
        }
    }

    public func verify(_ message: [UInt8], mac: [UInt8]) async throws -> Bool {
        let input = KMSAuditKey.macInput(message)
        return try await CloudErrors.mapping(keyName: keyID) { () async throws(AWSError) in
            try await kms.verifyMac(keyID: keyID, message: input, mac: mac)
        }
    }
}
