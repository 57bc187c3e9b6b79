#if canImport(Glibc)
import Glibc
#endif
import Configuration
import Foundation
import SecureCrypto
import SystemPackage

/// Strongroom's configuration: which tier, and that tier's settings.
///
/// Read with swift-configuration from a YAML or JSON file and environment variables; the
/// environment wins. Every key below is also an environment variable: `STRONGROOM_` followed by the
/// key in upper case with `.` and camel-case humps as `_` (`local.rootSeedFile` is
/// `STRONGROOM_LOCAL_ROOT_SEED_FILE`). Secrets are read with `isSecret: true` and print as `<REDACTED>`.
public struct StrongroomConfiguration: Sendable, CustomStringConvertible {
    /// Tier 1 settings.
    public struct Local: Sendable, Hashable {
        /// `local.path` (required): the vault directory (created 0700 by `strongroom init`).
        public var path: String
        /// `local.rootSeedFile` (default `<local.path>/root.seed`): the 32-byte root seed, mode 0600.
        public var rootSeedFile: String
        /// `blockingThreads` (default twice the cores, at least 4; 0 to 256): the threads that run the
        /// vault's blocking file work (writes with `fsync`), off Swift's cooperative pool; 0 runs it
        /// inline on the calling task's thread. Vaults with the same value share one pool.
        public var blockingThreads: Int = BlockingPool.defaultThreadCount

        /// Creates tier 1 settings.
        public init(path: String, rootSeedFile: String? = nil) {
            self.path = path
            self.rootSeedFile = rootSeedFile ?? "\(path)/root.seed"
        }
    }

    /// Where blobs live in S3-compatible storage (tier 2, and tier 3 with `hsm.blobStore: s3`).
    public struct ObjectStorage: Sendable {
        /// `cloud.endpoint` (required): the S3 endpoint URL (`https://s3.eu-west-1.amazonaws.com`).
        public var endpoint: String
        /// `cloud.region` (default `us-east-1`): the region requests are signed for.
        public var region: String
        /// `cloud.bucket` (required).
        public var bucket: String
        /// `cloud.prefix` (default empty): the key prefix of this vault inside the bucket.
        public var prefix: String
        /// `cloud.addressing` (`path` or `virtual`; default: `virtual` for `amazonaws.com`
        /// endpoints, `path` for others).
        public var addressing: String?
        /// `cloud.allowInsecureHttp` (default false): allow `http://` to a host that is not loopback.
        public var allowInsecureHTTP: Bool
        /// `cloud.accessKeyId` (optional; falls back to `AWS_ACCESS_KEY_ID`).
        public var accessKeyID: String?
        /// `cloud.secretAccessKey` (secret, optional; falls back to `AWS_SECRET_ACCESS_KEY`).
        public var secretAccessKey: SecretBytes?
        /// `cloud.sessionToken` (secret, optional; falls back to `AWS_SESSION_TOKEN`).
        public var sessionToken: SecretBytes?
        /// `cloud.maxAttempts` (default 4, 1–10): attempts per request, retries with jittered backoff.
        public var maxAttempts: Int

        /// Creates object-storage settings.
        public init(
            endpoint: String, region: String = "us-east-1", bucket: String, prefix: String = "", addressing: String? = nil,
            allowInsecureHTTP: Bool = false, accessKeyID: String? = nil, secretAccessKey: SecretBytes? = nil,
            sessionToken: SecretBytes? = nil, maxAttempts: Int = 4
        ) {
            self.endpoint = endpoint
            self.region = region
            self.bucket = bucket
            self.prefix = prefix
            self.addressing = addressing
            self.allowInsecureHTTP = allowInsecureHTTP
            self.accessKeyID = accessKeyID
            self.secretAccessKey = secretAccessKey
            self.sessionToken = sessionToken
            self.maxAttempts = maxAttempts
        }

        var summary: String {
            "cloud.endpoint: \(endpoint), cloud.region: \(region), cloud.bucket: \(bucket), cloud.prefix: \(prefix), "
                + "cloud.addressing: \(addressing ?? "auto"), cloud.accessKeyId: \(accessKeyID ?? "(from AWS_ACCESS_KEY_ID)"), "
                + "cloud.secretAccessKey: \(secretAccessKey == nil ? "(from AWS_SECRET_ACCESS_KEY)" : "<REDACTED>")"
        }
    }

    /// Tier 2 settings (S3-compatible storage + KMS).
    public struct Cloud: Sendable {
        /// The bucket side.
        public var storage: ObjectStorage
        /// `cloud.kmsEndpoint` (default: `cloud.endpoint`).
        public var kmsEndpoint: String
        /// `cloud.kmsKeyId` (optional): the KMS key (id, ARN or `alias/…`) that becomes KEK version 1
        /// at `strongroom init`; without it, init creates a key. Later versions are created by rotation.
        public var kmsKeyID: String?
        /// `cloud.keyDeletionWindowDays` (default 30, 7–30): the waiting period when a rotation
        /// schedules deletion of a KMS key Strongroom created.
        public var keyDeletionWindowDays: Int

        /// Creates tier 2 settings.
        public init(storage: ObjectStorage, kmsEndpoint: String? = nil, kmsKeyID: String? = nil, keyDeletionWindowDays: Int = 30) {
            self.storage = storage
            self.kmsEndpoint = kmsEndpoint ?? storage.endpoint
            self.kmsKeyID = kmsKeyID
            self.keyDeletionWindowDays = keyDeletionWindowDays
        }
    }

    /// Tier 3 settings (PKCS#11 HSM).
    public struct HSM: Sendable {
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
        /// `hsm.maxSessions` (default 4): worker sessions opened at most, besides the logged-in one.
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
    }

    /// The tier and its settings.
    public enum TierSettings: Sendable {
        /// Tier 1.
        case local(Local)
        /// Tier 2.
        case cloud(Cloud)
        /// Tier 3.
        case hsm(HSM)
    }

    /// `tier` (default `local`): `local`, `cloud` or `hsm`, with that tier's settings.
    public var tier: TierSettings
    /// `lockTimeoutSeconds` (default 60): how long to wait for another process's vault lock.
    public var lockTimeout: Duration
    /// Where the settings came from (a file path, or "environment"), for messages.
    public var source: String

    /// Creates a configuration.
    public init(tier: TierSettings, lockTimeout: Duration = .seconds(60), source: String = "code") {
        self.tier = tier
        self.lockTimeout = lockTimeout
        self.source = source
    }

    /// The settings as text, with secrets shown as `<REDACTED>`.
    public var description: String {
        switch tier {
        case .local(let local):
            return "tier: local, local.path: \(local.path), local.rootSeedFile: \(local.rootSeedFile)"
        case .cloud(let cloud):
            return "tier: cloud, \(cloud.storage.summary), cloud.kmsEndpoint: \(cloud.kmsEndpoint), "
                + "cloud.kmsKeyId: \(cloud.kmsKeyID ?? "(created by init)")"
        case .hsm(let hsm):
            return "tier: hsm, hsm.module: \(hsm.modulePath), hsm.tokenLabel: \(hsm.tokenLabel ?? "(unset)"), "
                + "hsm.tokenSerial: \(hsm.tokenSerial ?? "(unset)"), hsm.maxSessions: \(hsm.maxSessions), "
                + "hsm.pinEnv: \(hsm.pinEnvironmentVariable), hsm.pinFile: \(hsm.pinFile ?? "(unset)"), "
                + (hsm.blobStorage.map { "hsm.blobStore: s3, \($0.summary)" } ?? "hsm.blobPath: \(hsm.blobPath)")
        }
    }

    /// The environment variable prefix.
    public static let environmentPrefix = "STRONGROOM"

    /// Loads the configuration from `filePath` (`.yaml`, `.yml` or `.json`; nil for environment only)
    /// and `environment`. Errors name the key and the file.
    public static func load(
        filePath: String?, environment: [String: String] = ProcessInfo.processInfo.environment
    ) async throws(StrongroomError) -> StrongroomConfiguration {
        let envProvider = EnvironmentVariablesProvider(
            environmentVariables: environment,
            secretsSpecifier: .dynamic { key, _ in key.contains("SECRET") || key.contains("PIN") || key.contains("TOKEN") && !key.contains("TOKEN_LABEL") && !key.contains("TOKEN_SERIAL") }
        ).prefixKeys(with: [environmentPrefix.lowercased()])
        var providers: [any ConfigProvider] = [envProvider]
        let source: String
        if let filePath {
            source = filePath
            providers.append(try await fileProvider(filePath))
        } else {
            source = "environment"
        }
        let reader = Reader(
            config: ConfigReader(providers: providers), source: source, positions: filePath.map(ConfigurationFilePositions.init(path:)))
        let tierName = try reader.string("tier") ?? "local"
        guard let tier = Tier(rawValue: tierName) else {
            throw StrongroomError(
                .configuration, "setting 'tier' in \(reader.place("tier")) must be one of local, cloud, hsm")
        }
        let timeout = try reader.int("lockTimeoutSeconds") ?? 60
        guard timeout >= 0 else {
            throw StrongroomError(.configuration, "setting 'lockTimeoutSeconds' in \(reader.place("lockTimeoutSeconds")) must not be negative")
        }
        // One pool size for every tier's blocking work (tier 2 blocks only in its optional lock files).
        let blockingThreads = try reader.int("blockingThreads") ?? BlockingPool.defaultThreadCount
        guard (0...256).contains(blockingThreads) else {
            throw StrongroomError(.configuration, "setting 'blockingThreads' in \(reader.place("blockingThreads")) must be 0 to 256, got \(blockingThreads)")
        }
        let settings: TierSettings
        switch tier {
        case .local:
            let path = try reader.required("local.path")
            var local = Local(path: path, rootSeedFile: try reader.string("local.rootSeedFile"))
            local.blockingThreads = blockingThreads
            settings = .local(local)
        case .cloud:
            let window = try reader.int("cloud.keyDeletionWindowDays") ?? 30
            guard (7...30).contains(window) else {
                throw StrongroomError(.configuration, "setting 'cloud.keyDeletionWindowDays' in \(reader.place("cloud.keyDeletionWindowDays")) must be 7 to 30, got \(window)")
            }
            let storage = try objectStorage(reader)
            settings = .cloud(
                Cloud(
                    storage: storage, kmsEndpoint: try reader.string("cloud.kmsEndpoint"),
                    kmsKeyID: try reader.string("cloud.kmsKeyId"), keyDeletionWindowDays: window))
        case .hsm:
            let serial = try reader.string("hsm.tokenSerial")
            let label = serial == nil ? try reader.required("hsm.tokenLabel") : try reader.string("hsm.tokenLabel")
            let maxSessions = try reader.int("hsm.maxSessions") ?? 4
            guard (1...64).contains(maxSessions) else {
                throw StrongroomError(.configuration, "setting 'hsm.maxSessions' in \(reader.place("hsm.maxSessions")) must be 1 to 64, got \(maxSessions)")
            }
            let recycle = try reader.int("hsm.recycleAfter") ?? 20_000
            guard recycle >= 0 else {
                throw StrongroomError(.configuration, "setting 'hsm.recycleAfter' in \(reader.place("hsm.recycleAfter")) must not be negative")
            }
            let connectAttempts = try reader.int("hsm.connectAttempts") ?? 10
            guard (1...100).contains(connectAttempts) else {
                throw StrongroomError(.configuration, "hsm.connectAttempts in \(source) must be 1 to 100, got \(connectAttempts)")
            }
            let blobStore = try reader.string("hsm.blobStore") ?? "directory"
            guard blobStore == "directory" || blobStore == "s3" else {
                throw StrongroomError(.configuration, "setting 'hsm.blobStore' in \(reader.place("hsm.blobStore")) must be directory or s3")
            }
            let storage = blobStore == "s3" ? try objectStorage(reader) : nil
            var hsm = HSM(
                modulePath: try reader.required("hsm.module"), tokenLabel: label, tokenSerial: serial,
                pinEnvironmentVariable: try reader.string("hsm.pinEnv") ?? "STRONGROOM_HSM_PIN",
                pinFile: try reader.string("hsm.pinFile"),
                blobPath: storage == nil ? try reader.required("hsm.blobPath") : try reader.string("hsm.blobPath") ?? "",
                initArgs: try reader.string("hsm.initArgs"), maxSessions: maxSessions, recycleAfter: recycle,
                blobStorage: storage)
            hsm.connectAttempts = connectAttempts
            hsm.blockingThreads = blockingThreads
            settings = .hsm(hsm)
        }
        return StrongroomConfiguration(tier: settings, lockTimeout: .seconds(timeout), source: source)
    }

    private static func objectStorage(_ reader: Reader) throws(StrongroomError) -> ObjectStorage {
        let addressing = try reader.string("cloud.addressing")
        if let addressing, addressing != "path", addressing != "virtual" {
            throw StrongroomError(.configuration, "setting 'cloud.addressing' in \(reader.place("cloud.addressing")) must be path or virtual")
        }
        let attempts = try reader.int("cloud.maxAttempts") ?? 4
        guard (1...10).contains(attempts) else {
            throw StrongroomError(.configuration, "setting 'cloud.maxAttempts' in \(reader.place("cloud.maxAttempts")) must be 1 to 10, got \(attempts)")
        }
        let secret = try reader.string("cloud.secretAccessKey", isSecret: true)
        let token = try reader.string("cloud.sessionToken", isSecret: true)
        return ObjectStorage(
            endpoint: try reader.required("cloud.endpoint"), region: try reader.string("cloud.region") ?? "us-east-1",
            bucket: try reader.required("cloud.bucket"), prefix: try reader.string("cloud.prefix") ?? "",
            addressing: addressing, allowInsecureHTTP: try reader.bool("cloud.allowInsecureHttp") ?? false,
            accessKeyID: try reader.string("cloud.accessKeyId"),
            secretAccessKey: try secret.map { text throws(StrongroomError) in try secretBytes(text) },
            sessionToken: try token.map { text throws(StrongroomError) in try secretBytes(text) }, maxAttempts: attempts)
    }

    private static func fileProvider(_ path: String) async throws(StrongroomError) -> any ConfigProvider {
        guard FileManager.default.fileExists(atPath: path) else {
            throw StrongroomError(.configuration, "configuration file \(path) does not exist")
        }
        try refuseWritableByOthers(path)
        let lowercased = path.lowercased()
        do {
            if lowercased.hasSuffix(".yaml") || lowercased.hasSuffix(".yml") {
                return try await FileProvider<YAMLSnapshot>(filePath: FilePath(path))
            } else if lowercased.hasSuffix(".json") {
                return try await FileProvider<JSONSnapshot>(filePath: FilePath(path))
            }
        } catch {
            // The parsers' descriptions quote the offending line, which may hold a secret: only the
            // position is taken from them (digits), and the key is found in the file by position.
            let format = lowercased.hasSuffix(".json") ? "JSON" : "YAML"
            guard let position = ConfigurationFilePositions.position(inParserError: error, path: path) else {
                throw StrongroomError(
                    .configuration,
                    "configuration file \(path) is not valid \(format) (a \(format) mapping of settings is expected); "
                        + "fix its syntax. Its content is not shown, as it may hold secrets")
            }
            let near = ConfigurationFilePositions(path: path).key(before: position).map { " (after key '\($0)')" } ?? ""
            throw StrongroomError(
                .configuration,
                "configuration file \(path) is not valid \(format) at \(position)\(near); fix its syntax there. "
                    + "Its content is not shown, as it may hold secrets")
        }
        throw StrongroomError(
            .configuration, "configuration file \(path) must end in .yaml, .yml or .json to say its format")
    }

    /// The configuration decides where shares go and which code runs (a PKCS#11 module is loaded into
    /// the process, a bucket and KMS key receive every new share): whoever can change it has every
    /// share stored from then on. A file that group or others can write, or that belongs to another
    /// user than this one or root, is therefore refused, as OpenSSH refuses such a configuration. The mode of the file itself is checked (after links,
    /// which is what the file's writers see); the directories above it are the operator's to keep.
    private static func refuseWritableByOthers(_ path: String) throws(StrongroomError) {
        var info = stat()
        guard stat(path, &info) == 0 else { return }  // the open below reports a missing or unreadable file
        let mode = info.st_mode & 0o7777
        guard info.st_uid == geteuid() || info.st_uid == 0 else {
            throw StrongroomError(
                .insecurePermissions,
                "configuration file \(path) belongs to uid \(info.st_uid), neither this user (uid \(geteuid())) nor root: "
                    + "its owner decides where shares are stored and which PKCS#11 module is loaded; "
                    + "give it to this user or root (chown)")
        }
        guard mode & 0o022 == 0 else {
            throw StrongroomError(
                .insecurePermissions,
                "configuration file \(path) can be written by group or others (mode 0\(String(mode, radix: 8))): "
                    + "whoever can change it decides where shares are stored and which PKCS#11 module is loaded; "
                    + "run `chmod go-w \(path)`")
        }
    }

    private static func secretBytes(_ text: String) throws(StrongroomError) -> SecretBytes {
        do {
            var text = text
            return try text.withUTF8 { try SecretBytes(copying: UnsafeRawBufferPointer($0)) }
        } catch {
            throw StrongroomError(.crypto, "could not hold a secret setting in locked memory")
        }
    }

    /// Reads keys, turning swift-configuration's failures into errors that name the key and source.
    private struct Reader {
        let config: ConfigReader
        let source: String
        /// Where the file's keys are, for messages (never the values).
        let positions: ConfigurationFilePositions?

        private func variable(_ key: String) -> String {
            var name = StrongroomConfiguration.environmentPrefix + "_"
            var previous: Character?
            for character in key {
                if character == "." {
                    name += "_"
                } else {
                    if let previous, previous.isLowercase, character.isUppercase { name += "_" }
                    name += character.uppercased()
                }
                previous = character
            }
            return name
        }

        /// Where `key` is given: `file, line L, column C`, or the variable. Never the value.
        func place(_ key: String) -> String {
            if let position = positions?.position(of: key) { return "\(source) at \(position)" }
            if positions != nil { return "\(variable(key)) (or \(source))" }
            return variable(key)
        }

        private func lookup<T>(_ key: String, expecting type: String, _ fetch: () throws -> T) throws(StrongroomError) -> T? {
            do {
                return try fetch()
            } catch {
                if "\(error)".hasPrefix("Missing required") { return nil }
                // swift-configuration's error is not passed on: its text is not ours to vouch for.
                throw StrongroomError(
                    .configuration, "setting '\(key)' in \(place(key)) has the wrong type; expected \(type)")
            }
        }

        func string(_ key: String, isSecret: Bool = false) throws(StrongroomError) -> String? {
            try lookup(key, expecting: "a string") { try config.requiredString(forKey: ConfigKey(key), isSecret: isSecret) }
        }

        func int(_ key: String) throws(StrongroomError) -> Int? {
            try lookup(key, expecting: "an integer") { try config.requiredInt(forKey: ConfigKey(key)) }
        }

        func bool(_ key: String) throws(StrongroomError) -> Bool? {
            try lookup(key, expecting: "true or false") { try config.requiredBool(forKey: ConfigKey(key)) }
        }

        func required(_ key: String) throws(StrongroomError) -> String {
            guard let value = try string(key), !value.isEmpty else {
                throw StrongroomError(
                    .configuration,
                    "missing required setting '\(key)' in \(source); set it there or in \(variable(key))")
            }
            return value
        }
    }
}
