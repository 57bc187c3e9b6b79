import AWSClient
import Foundation
import Logging
import SecureCrypto
import StrongroomCore

extension Tier {
    /// Tier 2: KEK in a KMS; blobs in S3-compatible object storage.
    public static let cloud = Tier(name: "cloud", code: 2)
}

extension StrongroomError.Code {
    /// The S3 or KMS endpoint did not answer (or kept answering 5xx/throttling) after the bounded
    /// retries. The operation changed nothing that is not atomic.
    public static let cloudUnavailable = StrongroomError.Code("cloud unavailable", exitStatus: 69)
}

extension StrongroomConfiguration {
    /// Where blobs live in S3-compatible storage (tier 2, and tier 3 with `hsm.blobStore: s3`).
    public struct ObjectStorage: Sendable, CustomStringConvertible {
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

        /// The settings as `key: value` pairs, the secret key as `<REDACTED>`.
        public var description: String {
            "cloud.endpoint: \(endpoint), cloud.region: \(region), cloud.bucket: \(bucket), cloud.prefix: \(prefix), "
                + "cloud.addressing: \(addressing ?? "auto"), cloud.accessKeyId: \(accessKeyID ?? "(from AWS_ACCESS_KEY_ID)"), "
                + "cloud.secretAccessKey: \(secretAccessKey == nil ? "(from AWS_SECRET_ACCESS_KEY)" : "<REDACTED>")"
        }

        /// The setting keys the bucket side reads.
        public static let settingKeys = [
            "cloud.endpoint", "cloud.region", "cloud.bucket", "cloud.prefix", "cloud.addressing", "cloud.allowInsecureHttp",
            "cloud.accessKeyId", "cloud.secretAccessKey", "cloud.sessionToken", "cloud.maxAttempts",
        ]

        /// Reads the `cloud.*` bucket settings (tier 2, and tier 3 with `hsm.blobStore: s3`).
        public init(from reader: ConfigurationReader) throws(StrongroomError) {
            let addressing = try reader.string("cloud.addressing")
            if let addressing, addressing != "path", addressing != "virtual" {
                throw reader.invalid("cloud.addressing", "must be path or virtual")
            }
            self.init(
                endpoint: try reader.required("cloud.endpoint"), region: try reader.string("cloud.region") ?? "us-east-1",
                bucket: try reader.required("cloud.bucket"), prefix: try reader.string("cloud.prefix") ?? "",
                addressing: addressing, allowInsecureHTTP: try reader.bool("cloud.allowInsecureHttp") ?? false,
                accessKeyID: try reader.string("cloud.accessKeyId"),
                secretAccessKey: try reader.secret("cloud.secretAccessKey"),
                sessionToken: try reader.secret("cloud.sessionToken"),
                maxAttempts: try reader.int("cloud.maxAttempts", default: 4, in: 1...10))
        }
    }

    /// Tier 2 settings (S3-compatible storage + KMS).
    public struct Cloud: TierSettings {
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

        /// The settings as `key: value` pairs, secrets as `<REDACTED>`.
        public var description: String {
            "\(storage), cloud.kmsEndpoint: \(kmsEndpoint), cloud.kmsKeyId: \(kmsKeyID ?? "(created by init)")"
        }
    }
}

/// Tier 2 as a plug-in: blobs in an S3-compatible bucket, data keys from KMS.
public struct CloudTierProvider: TierProvider {
    /// Creates the provider.
    public init() {}

    public var tier: Tier { .cloud }
    public var summary: String { "cloud: blobs in S3-compatible storage, data keys from KMS (GenerateDataKey/Decrypt/ReEncrypt)" }
    public var settingKeys: [String] {
        StrongroomConfiguration.ObjectStorage.settingKeys + ["cloud.kmsEndpoint", "cloud.kmsKeyId", "cloud.keyDeletionWindowDays"]
    }

    public func settings(from reader: ConfigurationReader) throws(StrongroomError) -> StrongroomConfiguration.Cloud {
        let window = try reader.int("cloud.keyDeletionWindowDays", default: 30, in: 7...30)
        return StrongroomConfiguration.Cloud(
            storage: try StrongroomConfiguration.ObjectStorage(from: reader),
            kmsEndpoint: try reader.string("cloud.kmsEndpoint"), kmsKeyID: try reader.string("cloud.kmsKeyId"),
            keyDeletionWindowDays: window)
    }

    public func initialise(
        _ settings: StrongroomConfiguration.Cloud, options: VaultCreationOptions, logger: Logger
    ) async throws -> VaultCreated {
        let vault = try await CloudVault.initialise(settings, logger: logger)
        return VaultCreated(
            vaultID: vault,
            details: [
                "objects: s3://\(settings.storage.bucket)/\(settings.storage.prefix) at \(settings.storage.endpoint)",
                "KEK 1:   \(settings.kmsKeyID.map { "KMS key \($0) (yours; never deleted by Strongroom)" } ?? "a new KMS key (see kms-keys.json)")",
            ],
            advice: "Keep bucket versioning on; the blobs are useless without their KMS keys.")
    }

    public func open(_ settings: StrongroomConfiguration.Cloud, lockTimeout: Duration, logger: Logger) async throws -> ShareStore {
        try await CloudVault.open(settings, lockTimeout: lockTimeout, logger: logger)
    }

    public func benchmarkVault(
        _ settings: StrongroomConfiguration.Cloud, name: String, scratchDirectory: String, concurrency: Int,
        options: VaultCreationOptions, logger: Logger
    ) async throws -> BenchmarkVault {
        var renamed = settings
        renamed.storage.prefix = "\(settings.storage.prefix)\(name)/"
        let throwaway = renamed
        _ = try await CloudVault.initialise(throwaway, logger: logger)
        let store = try await CloudVault.open(throwaway, logger: logger)
        return BenchmarkVault(store: store) { await CloudVault.removeEverything(throwaway, logger: logger) }
    }

    /// Plain GETs of one small object through the same S3 client: the server's own request rate.
    public func benchmarkBaseline(
        _ settings: StrongroomConfiguration.Cloud, count: Int, concurrencies: [Int], logger: Logger
    ) async throws -> [BenchmarkFigure] {
        let client = try CloudVault.s3Client(settings.storage, logger: logger)
        let key = "\(settings.storage.prefix)plain/object"
        let payload = Array(repeating: UInt8(0x5A), count: 256)
        var figures: [BenchmarkFigure] = []
        do {
            _ = try await client.putObject(key, payload)
            for level in concurrencies {
                let start = ContinuousClock.now
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for task in 0..<level {
                        group.addTask {
                            for _ in stride(from: task, to: count, by: level) {
                                guard try await client.getObject(key)?.bytes.count == 256 else {
                                    throw StrongroomError(.io, "the benchmark object did not read back")
                                }
                            }
                        }
                    }
                    try await group.waitForAll()
                }
                figures.append(BenchmarkFigure(operation: "get_plain", concurrency: level, count: count, elapsed: .now - start))
            }
        } catch let error as AWSError {
            throw StrongroomError(.cloudUnavailable, "plain GET benchmark failed", underlying: error)
        }
        _ = try? await client.deleteAllVersions(of: key)
        return figures
    }
}
