#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import PKCS11
import SecureCrypto
import StrongroomCore
import StrongroomLocal
import StrongroomCloud

/// Creating and opening tier 3 vaults: wrapped blobs in a directory (0700), KEKs on a PKCS#11 token.
public enum HSMVault {
    /// Creates a vault: its blob directory and state, and KEK version 1 on the token. Refuses to touch
    /// an existing vault. Returns the new vault id.
    ///
    /// Before anything is written it runs the preflight of `strongroom hsm check` on the token
    /// (``HSMCheck/preflight(_:logger:)``): a required mechanism that is missing or lacks a usable
    /// AES-256 key size is a configuration error; a token that does not enforce the KEK's protection
    /// (its value readable, or wrappable out) is refused too, unless `acceptWeakToken` is given, which
    /// is called with the weaknesses (say them loudly) before the vault is made anyway.
    public static func initialise(
        _ settings: StrongroomConfiguration.HSM, acceptWeakToken: (@Sendable ([String]) -> Void)? = nil, logger: Logger
    ) async throws -> VaultID {
        let blobs = try blobStore(settings, lockTimeout: .seconds(60), logger: logger)
        if try await blobs.read(VaultState.key) != nil {
            throw StrongroomError(.vaultAlreadyExists, "\(blobs.location) already holds a vault; nothing was changed")
        }
        let connection = try await connect(settings, logger: logger)
        let preflight = try await HSMCheck.preflight(connection, logger: logger)
        if !preflight.missing.isEmpty {
            throw StrongroomError(
                .configuration,
                "HSM token \(describe(connection)) cannot hold a tier 3 vault: \(preflight.missing.joined(separator: "; ")). Tier 3 needs CKM_AES_KEY_GEN, CKM_AES_GCM (encrypt, decrypt) and CKM_AES_KEY_WRAP (wrap, unwrap) with 32-byte AES keys, and CKM_GENERIC_SECRET_KEY_GEN and CKM_SHA256_HMAC (sign, verify) for the audit log's checkpoint key; choose another token or module (strongroom hsm check shows what it offers); nothing was created")
        }
        if !preflight.weaknesses.isEmpty {
            guard let acceptWeakToken else {
                throw StrongroomError(
                    .configuration,
                    "HSM token \(describe(connection)) does not protect the KEK: \(preflight.weaknesses.joined(separator: "; ")). Strongroom refuses it; use an HSM that enforces CKA_SENSITIVE and CKA_EXTRACTABLE (strongroom hsm check), or for a test token only pass --accept-weak-token; nothing was created")
            }
            logger.warning(
                "HSM token does not protect the KEK; creating the vault anyway as asked",
                metadata: ["hsm.weaknesses": "\(preflight.weaknesses.joined(separator: "; "))"])
            acceptWeakToken(preflight.weaknesses)
        }
        if settings.blobStorage == nil {
            try await BlockingPool.shared(threads: settings.blockingThreads).run {
                try SecretFile.makePrivateDirectory(settings.blobPath)
            }
        }
        let vaultID = VaultID(bytes: try StrongroomError.mappingCrypto { () throws(CryptoError) in try SecureRandom.bytes(count: 16) })
        let keyring = HSMKeyring(vaultID: vaultID, connection: connection)
        try await keyring.prepareKEK(version: 1)
        let state = VaultState(
            vaultID: vaultID, tier: .hsm, kekID: keyring.kekID, createdAt: UInt64(Date().timeIntervalSince1970))
        guard try await blobs.create(VaultState.key, try state.encoded()) else {
            try? await keyring.retireKEKs(olderThan: 2)
            throw StrongroomError(.vaultAlreadyExists, "\(blobs.location) already holds a vault")
        }
        logger.info(
            "vault created",
            metadata: ["vault.id": "\(vaultID.hex)", "vault.path": "\(blobs.location)", "hsm.kek": "\(keyring.kekLabel(1))"])
        return vaultID
    }

    /// Opens an existing vault: reads its state, logs in to the token and checks that the vault's
    /// current KEK is there (during a pending rotation, its oldest active KEK will do).
    public static func open(
        _ settings: StrongroomConfiguration.HSM, lockTimeout: Duration = .seconds(60), logger: Logger
    ) async throws -> ShareStore {
        try await open(settings, lockTimeout: lockTimeout, logger: logger, faults: .none)
    }

    /// Opens an existing vault with fault injection (crash tests and the conformance suite).
    public static func open(
        _ settings: StrongroomConfiguration.HSM, lockTimeout: Duration, logger: Logger, faults: FaultInjection
    ) async throws -> ShareStore {
        let blobs = try blobStore(settings, lockTimeout: lockTimeout, logger: logger)
        var (state, vaultID) = try await VaultState.existing(in: blobs, tier: .hsm)
        let keyring = HSMKeyring(vaultID: vaultID, connection: try await connect(settings, logger: logger))
        // A rotation in another process may retire the KEK the state just read names; the state then
        // names a newer one. Only a KEK missing from an unchanged state is an error.
        for attempt in 1... {
            do {
                try await keyring.requireKEK(version: state.currentKEKVersion)
                break
            } catch let error as StrongroomError where error.code == .keyUnavailable {
                // A pending rotation's target KEK may be missing (a run killed while the token wrote
                // it); `rotate` makes it again, so the vault opens with its old KEK. (Not the old KEK
                // first: a rotation finishing meanwhile destroys it.)
                if state.rotation != nil, (try? await keyring.requireKEK(version: state.oldestActiveKEKVersion)) != nil {
                    break
                }
                let (fresh, _) = try await VaultState.existing(in: blobs, tier: .hsm)
                guard fresh != state, attempt < 10 else { throw error }
                logger.debug(
                    "the vault's current KEK changed while opening; checking the new one",
                    metadata: ["kek.version": "\(fresh.currentKEKVersion)"])
                state = fresh
            }
        }
        return ShareStore(vaultID: vaultID, keyring: keyring, blobs: blobs, logger: logger, faults: faults)
    }

    /// The directory (`hsm.blobPath`) or S3 bucket (`hsm.blobStore: s3`) holding the blobs.
    static func blobStore(_ settings: StrongroomConfiguration.HSM, lockTimeout: Duration, logger: Logger) throws -> any BlobStore {
        if let storage = settings.blobStorage {
            return try CloudVault.blobStore(storage, lockTimeout: lockTimeout, logger: logger)
        }
        return DirectoryBlobStore(
            root: settings.blobPath, lockTimeout: lockTimeout, pool: .shared(threads: settings.blockingThreads))
    }

    /// The token choice in `settings`: by label, by serial, or by both when both are set.
    static func selector(_ settings: StrongroomConfiguration.HSM) throws -> TokenSelector {
        switch (settings.tokenLabel, settings.tokenSerial) {
        case (let label?, let serial?) where !label.isEmpty: .labelAndSerial(label: label, serial: serial)
        case (_, let serial?): .serial(serial)
        case (let label?, nil): .label(label)
        case (nil, nil): throw StrongroomError(.configuration, "set hsm.tokenLabel or hsm.tokenSerial to choose the HSM token")
        }
    }

    static func describe(_ connection: PKCS11Connection) -> String {
        connection.token.map { "'\($0.label)' (slot \($0.slot), serial '\($0.serial)')" } ?? "\(connection.selector)"
    }

    /// Loads the module, finds the token and logs in with the configured PIN; a token without
    /// `CKF_LOGIN_REQUIRED` is used without a login when no PIN is configured. Transient failures
    /// (another process rewriting the token) are retried `hsm.connectAttempts` times with backoff.
    /// Loading, `C_Initialize` and the login run on the `blockingThreads` pool, as every later Cryptoki
    /// call of the connection does.
    static func connect(_ settings: StrongroomConfiguration.HSM, logger: Logger) async throws -> PKCS11Connection {
        let selector = try selector(settings)
        let pin = try readPINIfSet(settings)
        let pool = BlockingPool.shared(threads: settings.blockingThreads, for: .cryptoki)
        do {
            let retry = ConnectRetry(
                attempts: max(settings.connectAttempts, 1), baseDelay: ConnectRetry.standard.baseDelay,
                maxDelay: ConnectRetry.standard.maxDelay)
            return try await pool.run {
                let module = try PKCS11Module.load(path: settings.modulePath, reserved: settings.initArgs)
                return try PKCS11Connection(
                    module: module, token: selector, pin: pin, maxWorkerSessions: settings.maxSessions,
                    recycleAfter: settings.recycleAfter, retry: retry, pool: pool, logger: logger)
            }
        } catch PKCS11SetupError.pinRequired(let token) {
            throw StrongroomError(
                .configuration,
                "the HSM PIN is not set and token '\(token)' requires a login: export \(settings.pinEnvironmentVariable) or point hsm.pinFile at a 0600 file (the PIN is never taken as an argument)")
        } catch {
            throw HSMKeyring.mapped(error, operation: "log in", integrityPath: false, token: "\(selector)")
        }
    }

    /// The user PIN, from `hsm.pinFile` (owner-only, one line) or the `hsm.pinEnv` variable, straight
    /// into locked memory. Throws a configuration error when neither is set.
    public static func readPIN(_ settings: StrongroomConfiguration.HSM) throws -> SecretBytes {
        guard let pin = try readPINIfSet(settings) else {
            throw StrongroomError(
                .configuration,
                "the HSM PIN is not set: export \(settings.pinEnvironmentVariable) or point hsm.pinFile at a 0600 file (the PIN is never taken as an argument)")
        }
        return pin
    }

    /// The user PIN, or nil when `hsm.pinFile` is not set and the `hsm.pinEnv` variable is unset or empty
    /// (fine for a token without `CKF_LOGIN_REQUIRED`).
    static func readPINIfSet(_ settings: StrongroomConfiguration.HSM) throws -> SecretBytes? {
        if let file = settings.pinFile { return try readPINFile(file) }
        guard let value = getenv(settings.pinEnvironmentVariable), strlen(value) > 0 else { return nil }
        return try StrongroomError.mappingCrypto { () throws(CryptoError) in
            try SecretBytes(copying: UnsafeRawBufferPointer(start: value, count: strlen(value)))
        }
    }

    static func readPINFile(_ path: String) throws -> SecretBytes {
        try SecretFile.read(
            path, what: "HSM PIN file", setting: "hsm.pinFile", unreadable: .configuration, sizes: 1...256,
            trimmingNewlines: true)
    }
}

extension HSMVault {
    /// Destroys every KEK version of the vault at `settings.blobPath` on the token (tests and
    /// benchmarks clean up with it). The blobs stay; without their KEKs they can never be opened.
    public static func destroyKeys(_ settings: StrongroomConfiguration.HSM, logger: Logger) async throws {
        let blobs = try blobStore(settings, lockTimeout: .seconds(60), logger: logger)
        guard let stateBlob = try await blobs.read(VaultState.key) else { return }
        let state = try VaultState.decode(stateBlob.bytes, location: blobs.location)
        guard let vaultID = VaultID(hex: state.vaultID) else { return }
        let keyring = HSMKeyring(vaultID: vaultID, connection: try await connect(settings, logger: logger))
        let newest = max(state.currentKEKVersion, state.rotation?.target ?? 0)
        try await keyring.retireKEKs(olderThan: newest + 1)
        try await keyring.destroyAuditKey()
    }
}
