import Foundation
import Logging
import SecureCrypto
import StrongroomCloud
import StrongroomCore

extension Tier {
    /// Tier 3: KEK as a non-extractable key inside a PKCS#11 HSM.
    public static let hsm = Tier(name: "hsm", code: 3)
}

extension StrongroomError.Code {
    /// The PKCS#11 module cannot be loaded, the token is not there, or the HSM stayed unreachable
    /// after the layer re-initialised it and retried.
    public static let hsmUnavailable = StrongroomError.Code("HSM unavailable", exitStatus: 69)
    /// The HSM refused the PIN (or has none set, or is locked). Never retried.
    public static let hsmLoginFailed = StrongroomError.Code("HSM login failed", exitStatus: 77)
}

extension StrongroomConfiguration {
    /// Tier 3 settings (PKCS#11 HSM).
    public struct HSM: TierSettings {
        /// `hsm.module` (required): path of the PKCS#11 module (`.so`).
        public var modulePath: String
        /// `hsm.tokenLabel` (required unless `hsm.tokenSerial` is set): the token to use.
        public var tokenLabel: String?
        /// `hsm.tokenSerial` (optional): choose the token by serial number instead of label.
        public var tokenSerial: String? = nil
        /// `hsm.pinEnv` (default `STRONGROOM_HSM_PIN`): the environment variable holding the user PIN.
        public var pinEnvironmentVariable: String
        /// `hsm.pinFile` (optional): a 0600 file holding the user PIN, used instead of the variable.
        public var pinFile: String?
        /// `hsm.blobPath` (required unless `hsm.blobStore` is `s3`): the directory for the wrapped blobs.
        public var blobPath: String
        /// `hsm.blobStore: s3`: keep the wrapped blobs in S3 (the `cloud.*` bucket settings) instead.
        public var blobStorage: ObjectStorage? = nil
        /// `hsm.initArgs` (optional): the `pReserved` string for `C_Initialize` (NSS softokn needs one).
        public var initArgs: String? = nil
        /// `hsm.maxSessions` (default 4, 1–64): worker sessions opened at most, besides the logged-in one.
        public var maxSessions: Int = 4
        /// `hsm.recycleAfter` (default 20000): session objects after which the module is
        /// re-initialised at a quiet moment (SoftHSM frees destroyed session objects only then); 0: never.
        public var recycleAfter: Int = 20_000
        /// `hsm.connectAttempts` (default 10, 1 to 100): attempts at finding the token and logging in
        /// when the token answers with a transient failure (SoftHSM rewrites its token file on every
        /// login, so processes connecting at once see it vanish for a moment); backoff 20 ms doubling
        /// to 400 ms, jittered. A refused PIN is never retried.
        public var connectAttempts: Int = 10
        /// `blockingThreads` (default twice the cores, at least 4; 0 to 256): the threads every
        /// Cryptoki call runs on, and as many for blob-directory writes, off Swift's cooperative pool;
        /// 0 runs them inline on the calling task's thread. Vaults with the same value share the pools.
        public var blockingThreads: Int = BlockingPool.defaultThreadCount

        /// Creates tier 3 settings.
        public init(
            modulePath: String, tokenLabel: String?, tokenSerial: String? = nil,
            pinEnvironmentVariable: String = "STRONGROOM_HSM_PIN", pinFile: String? = nil, blobPath: String,
            initArgs: String? = nil, maxSessions: Int = 4, recycleAfter: Int = 20_000, blobStorage: ObjectStorage? = nil
        ) {
            self.blobStorage = blobStorage
            self.modulePath = modulePath
            self.tokenLabel = tokenLabel
            self.tokenSerial = tokenSerial
            self.pinEnvironmentVariable = pinEnvironmentVariable
            self.pinFile = pinFile
            self.blobPath = blobPath
            self.initArgs = initArgs
            self.maxSessions = maxSessions
            self.recycleAfter = recycleAfter
        }

        /// The settings as `key: value` pairs; the PIN is never part of them (only where it is read from).
        public var description: String {
            "hsm.module: \(modulePath), hsm.tokenLabel: \(tokenLabel ?? "(unset)"), "
                + "hsm.tokenSerial: \(tokenSerial ?? "(unset)"), hsm.maxSessions: \(maxSessions), "
                + "hsm.pinEnv: \(pinEnvironmentVariable), hsm.pinFile: \(pinFile ?? "(unset)"), "
                + (blobStorage.map { "hsm.blobStore: s3, \($0)" } ?? "hsm.blobPath: \(blobPath)")
        }
    }
}

/// Tier 3 as a plug-in: KEKs as non-extractable AES keys on a PKCS#11 token, blobs in a directory
/// (StrongroomLocal's store) or a bucket (StrongroomCloud's).
public struct HSMTierProvider: TierProvider {
    /// Creates the provider.
    public init() {}

    public var tier: Tier { .hsm }
    public var summary: String { "hsm: KEKs as non-extractable keys on a PKCS#11 token, blobs in a directory or S3" }
    public var settingKeys: [String] {
        [
            "hsm.module", "hsm.tokenLabel", "hsm.tokenSerial", "hsm.pinEnv", "hsm.pinFile", "hsm.blobPath", "hsm.blobStore",
            "hsm.initArgs", "hsm.maxSessions", "hsm.recycleAfter", "hsm.connectAttempts",
        ] + StrongroomConfiguration.ObjectStorage.settingKeys
    }

    public func settings(from reader: ConfigurationReader) throws(StrongroomError) -> StrongroomConfiguration.HSM {
        let serial = try reader.string("hsm.tokenSerial")
        let label = serial == nil ? try reader.required("hsm.tokenLabel") : try reader.string("hsm.tokenLabel")
        let maxSessions = try reader.int("hsm.maxSessions", default: 4, in: 1...64)
        let recycle = try reader.int("hsm.recycleAfter") ?? 20_000
        guard recycle >= 0 else { throw reader.invalid("hsm.recycleAfter", "must not be negative") }
        let connectAttempts = try reader.int("hsm.connectAttempts", default: 10, in: 1...100)
        let blobStore = try reader.string("hsm.blobStore") ?? "directory"
        guard blobStore == "directory" || blobStore == "s3" else {
            throw reader.invalid("hsm.blobStore", "must be directory or s3")
        }
        let storage = blobStore == "s3" ? try StrongroomConfiguration.ObjectStorage(from: reader) : nil
        var hsm = StrongroomConfiguration.HSM(
            modulePath: try reader.required("hsm.module"), tokenLabel: label, tokenSerial: serial,
            pinEnvironmentVariable: try reader.string("hsm.pinEnv") ?? "STRONGROOM_HSM_PIN",
            pinFile: try reader.string("hsm.pinFile"),
            blobPath: storage == nil ? try reader.required("hsm.blobPath") : try reader.string("hsm.blobPath") ?? "",
            initArgs: try reader.string("hsm.initArgs"), maxSessions: maxSessions, recycleAfter: recycle,
            blobStorage: storage)
        hsm.connectAttempts = connectAttempts
        hsm.blockingThreads = try reader.blockingThreads()
        return hsm
    }

    public func initialise(
        _ settings: StrongroomConfiguration.HSM, options: VaultCreationOptions, logger: Logger
    ) async throws -> VaultCreated {
        let vault = try await HSMVault.initialise(settings, acceptWeakToken: options.acceptWeakKeyStore, logger: logger)
        let token = settings.tokenSerial.map { "serial \($0)" } ?? "'\(settings.tokenLabel ?? "")'"
        return VaultCreated(
            vaultID: vault,
            details: [
                "blobs: \(settings.blobStorage.map { "s3://\($0.bucket)/\($0.prefix)" } ?? "\(settings.blobPath) (0700)")",
                "KEK:   'strongroom/\(vault.hex)/kek/1' on HSM token \(token) (non-extractable AES-256)",
            ],
            advice: "The blobs are useless without the token: back up the token (HSM backup procedure) as well as the blob directory.")
    }

    public func open(_ settings: StrongroomConfiguration.HSM, lockTimeout: Duration, logger: Logger) async throws -> ShareStore {
        try await HSMVault.open(settings, lockTimeout: lockTimeout, logger: logger)
    }

    public func benchmarkVault(
        _ settings: StrongroomConfiguration.HSM, name: String, scratchDirectory: String, concurrency: Int,
        options: VaultCreationOptions, logger: Logger
    ) async throws -> BenchmarkVault {
        var renamed = settings
        let path = "\(scratchDirectory)/\(name)"
        renamed.blobPath = path
        renamed.blobStorage = nil
        renamed.maxSessions = max(4, concurrency)
        let throwaway = renamed
        _ = try await HSMVault.initialise(throwaway, acceptWeakToken: options.acceptWeakKeyStore, logger: logger)
        let store = try await HSMVault.open(throwaway, logger: logger)
        return BenchmarkVault(store: store) {
            try? await HSMVault.destroyKeys(throwaway, logger: logger)
            try? FileManager.default.removeItem(atPath: path)
        }
    }
}
