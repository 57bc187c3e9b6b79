import AWSClient
import Foundation
import Logging
import SecureCrypto
import StrongroomCore

/// Creating and opening tier 2 vaults: envelopes in an S3 bucket under a prefix, KEKs in KMS.
public enum CloudVault {
    /// Creates a vault under `cloud.prefix`: KEK version 1 is `cloud.kmsKeyId` (which must be an
    /// enabled key) or a key created now, then `kms-keys.json` and `vault.json` are written with
    /// `If-None-Match: *`. Refuses to touch an existing vault. Returns the new vault id.
    public static func initialise(_ settings: StrongroomConfiguration.Cloud, logger: Logger) async throws -> VaultID {
        let blobs = try blobStore(settings.storage, lockTimeout: .seconds(60), logger: logger)
        let kms = try kmsClient(settings, logger: logger)
        if try await blobs.read(VaultState.key) != nil {
            throw StrongroomError(.vaultAlreadyExists, "\(blobs.location) already holds a vault; nothing was changed")
        }
        let versioning = try await CloudErrors.mapping { () async throws(AWSError) in try await blobs.client.versioningStatus() }
        if versioning != "Enabled" {
            logger.warning(
                "bucket versioning is not enabled; enable it so an overwritten or deleted blob can be recovered",
                metadata: ["s3.bucket": "\(settings.storage.bucket)", "s3.versioning": "\(versioning ?? "never enabled")"])
        }
        let vaultID = VaultID(bytes: try StrongroomError.mappingCrypto { () throws(CryptoError) in try SecureRandom.bytes(count: 16) })
        let keys = KMSKeyMap(blobs: blobs)
        let first: String
        let created: Bool
        if let given = settings.kmsKeyID {
            let meta = try await CloudErrors.mapping(keyName: given) { () async throws(AWSError) in try await kms.describeKey(given) }
            guard meta.keyState == "Enabled" else {
                throw StrongroomError(.keyUnavailable, "KMS key \(meta.arn) is \(meta.keyState), not Enabled; nothing was created")
            }
            first = meta.arn
            created = false
        } else {
            let meta = try await CloudErrors.mapping(keyName: "(new key)") { () async throws(AWSError) in
                try await kms.createKey(
                    description: "Strongroom vault \(vaultID.hex) KEK version 1",
                    tags: ["strongroom:vault": vaultID.hex, "strongroom:kek-version": "1"])
            }
            first = meta.arn
            created = true
        }
        try await keys.recordFirst(keyID: first, createdByStrongroom: created)
        let state = VaultState(
            vaultID: vaultID, tier: .cloud, kekID: vaultID.hex, createdAt: UInt64(Date().timeIntervalSince1970))
        guard try await blobs.create(VaultState.key, try state.encoded()) else {
            throw StrongroomError(.vaultAlreadyExists, "\(blobs.location) already holds a vault")
        }
        logger.info("vault created", metadata: ["vault.id": "\(vaultID.hex)", "vault.location": "\(blobs.location)", "kms.key": "\(first)"])
        return vaultID
    }

    /// Opens an existing vault and checks that its current KMS key is enabled.
    public static func open(
        _ settings: StrongroomConfiguration.Cloud, lockTimeout: Duration = .seconds(60), logger: Logger
    ) async throws -> ShareStore {
        try await open(settings, lockTimeout: lockTimeout, logger: logger, faults: .none)
    }

    /// Opens an existing vault with fault injection (crash tests and the conformance suite).
    public static func open(
        _ settings: StrongroomConfiguration.Cloud, lockTimeout: Duration, logger: Logger, faults: FaultInjection
    ) async throws -> ShareStore {
        let blobs = try blobStore(settings.storage, lockTimeout: lockTimeout, logger: logger)
        let (state, vaultID) = try await VaultState.existing(in: blobs, tier: .cloud)
        let keyring = KMSKeyring(
            vaultID: vaultID, kms: try kmsClient(settings, logger: logger), keys: KMSKeyMap(blobs: blobs),
            deletionWindowDays: settings.keyDeletionWindowDays, logger: logger, faults: faults)
        try await keyring.requireKEK(version: state.currentKEKVersion)
        let store = ShareStore(vaultID: vaultID, keyring: keyring, blobs: blobs, logger: logger, faults: faults)
        store.remember(state)  // just read: the first load need not read it again
        return store
    }

    /// Deletes every object version and delete marker under the vault's prefix and schedules
    /// deletion of the KMS keys Strongroom created for it (benchmarks and tests clean up with it).
    public static func removeEverything(_ settings: StrongroomConfiguration.Cloud, logger: Logger) async {
        guard let blobs = try? blobStore(settings.storage, lockTimeout: .seconds(10), logger: logger),
            let kms = try? kmsClient(settings, logger: logger)
        else { return }
        if let file = try? await KMSKeyMap(blobs: blobs).read().0 {
            let made = file.keys.filter(\.createdByStrongroom).map(\.keyID) + [file.audit?.keyID].compactMap { $0 }
            for keyID in made {
                if let meta = try? await kms.describeKey(keyID), meta.keyState != "PendingDeletion" {
                    try? await kms.scheduleKeyDeletion(meta.keyID, pendingWindowDays: settings.keyDeletionWindowDays)
                }
            }
        }
        guard let versions = try? await blobs.client.listObjectVersions(prefix: blobs.prefix) else { return }
        for version in versions { try? await blobs.client.deleteObject(version.key, versionID: version.versionID) }
    }

    /// An S3 client for the settings' bucket.
    public static func s3Client(_ storage: StrongroomConfiguration.ObjectStorage, logger: Logger) throws -> S3Client {
        try blobStore(storage, lockTimeout: .seconds(60), logger: logger).client
    }

    // MARK: Clients

    /// Credentials from the settings, else from the standard AWS environment variables.
    static func credentials(_ storage: StrongroomConfiguration.ObjectStorage) throws -> AWSCredentials {
        if let id = storage.accessKeyID, let secret = storage.secretAccessKey {
            return AWSCredentials(accessKeyID: id, secretAccessKey: secret, sessionToken: storage.sessionToken)
        }
        if storage.accessKeyID != nil || storage.secretAccessKey != nil {
            throw StrongroomError(.configuration, "set both cloud.accessKeyId and cloud.secretAccessKey, or neither (to use AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)")
        }
        guard let environment = try AWSCredentials.fromEnvironment() else {
            throw StrongroomError(
                .configuration,
                "no S3/KMS credentials: export AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary ones), or set cloud.accessKeyId and cloud.secretAccessKey")
        }
        return environment
    }

    static func endpoint(_ url: String, _ storage: StrongroomConfiguration.ObjectStorage, setting: String) throws -> AWSEndpoint {
        do {
            return try AWSEndpoint(url, allowInsecureHTTP: storage.allowInsecureHTTP)
        } catch {
            let hint = url.lowercased().hasPrefix("http://") && !storage.allowInsecureHTTP
                ? "; cloud.allowInsecureHttp: true allows plain HTTP to a trusted network" : ""
            throw StrongroomError(.configuration, "\(setting): \(error.message)\(hint)")
        }
    }

    /// The S3 blob store the settings describe.
    public static func blobStore(_ storage: StrongroomConfiguration.ObjectStorage, lockTimeout: Duration, logger: Logger) throws -> S3BlobStore {
        let endpoint = try endpoint(storage.endpoint, storage, setting: "cloud.endpoint")
        let addressing: S3Addressing
        switch storage.addressing {
        case "virtual": addressing = .virtualHosted
        case "path": addressing = .path
        default: addressing = endpoint.host.hasSuffix(".amazonaws.com") ? .virtualHosted : .path
        }
        let configuration: S3Configuration
        do {
            configuration = try S3Configuration(
                endpoint: endpoint, region: storage.region, bucket: storage.bucket, addressing: addressing,
                credentials: try credentials(storage), retry: RetryPolicy(maxAttempts: storage.maxAttempts))
        } catch let error as AWSError {
            throw StrongroomError(.configuration, error.message)
        }
        return S3BlobStore(client: S3Client(configuration, logger: logger), prefix: storage.prefix, lockTimeout: lockTimeout, logger: logger)
    }

    static func kmsClient(_ settings: StrongroomConfiguration.Cloud, logger: Logger) throws -> KMSClient {
        KMSClient(
            endpoint: try endpoint(settings.kmsEndpoint, settings.storage, setting: "cloud.kmsEndpoint"),
            region: settings.storage.region, credentials: try credentials(settings.storage),
            retry: RetryPolicy(maxAttempts: settings.storage.maxAttempts), logger: logger)
    }
}
