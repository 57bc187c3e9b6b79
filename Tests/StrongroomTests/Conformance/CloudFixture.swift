import AWSClient
import Foundation
import Logging
import SecureCrypto
import Strongroom
@testable import StrongroomCloud
@testable import StrongroomCore
@testable import StrongroomHSM
@testable import StrongroomLocal
import StrongroomConformance

/// The S3/KMS server scripts/test starts (moto on 127.0.0.1, see scripts/moto-server). Tests that
/// need it fail, never skip, when it is missing.
struct CloudTestEnvironment: Sendable {
    let endpoint: String
    let bucket: String
    let kmsKey: String
    let kmsKeyB: String

    struct Missing: Error, CustomStringConvertible {
        let variable: String
        var description: String {
            "\(variable) is not set: run the suite with scripts/test, which starts moto_server (scripts/moto-server) and exports STRONGROOM_TEST_S3_* and STRONGROOM_TEST_KMS_*"
        }
    }

    static func value(_ name: String) throws -> String {
        guard let value = ProcessInfo.processInfo.environment[name], !value.isEmpty else { throw Missing(variable: name) }
        return value
    }

    static func require() throws -> CloudTestEnvironment {
        _ = try value("AWS_ACCESS_KEY_ID")
        _ = try value("AWS_SECRET_ACCESS_KEY")
        return CloudTestEnvironment(
            endpoint: try value("STRONGROOM_TEST_S3_ENDPOINT"), bucket: try value("STRONGROOM_TEST_S3_BUCKET"),
            kmsKey: try value("STRONGROOM_TEST_KMS_KEY"), kmsKeyB: try value("STRONGROOM_TEST_KMS_KEY_B"))
    }

    /// A fresh prefix per vault, so tests never see each other's objects.
    static func freshPrefix(_ label: String) throws -> String {
        "\(label)-\(Hex.encode(try SecureRandom.bytes(count: 6)))/"
    }

    func storage(prefix: String, endpoint: String? = nil, accessKeyID: String? = nil, secret: String? = nil, maxAttempts: Int = 4)
        throws -> StrongroomConfiguration.ObjectStorage
    {
        StrongroomConfiguration.ObjectStorage(
            endpoint: endpoint ?? self.endpoint, bucket: bucket, prefix: prefix, accessKeyID: accessKeyID,
            secretAccessKey: try secret.map { text in try Array(text.utf8).withUnsafeBytes { try SecretBytes(copying: $0) } },
            maxAttempts: maxAttempts)
    }

    func settings(prefix: String, kmsKey: String? = nil, endpoint: String? = nil, accessKeyID: String? = nil, secret: String? = nil, maxAttempts: Int = 4)
        throws -> StrongroomConfiguration.Cloud
    {
        StrongroomConfiguration.Cloud(
            storage: try storage(prefix: prefix, endpoint: endpoint, accessKeyID: accessKeyID, secret: secret, maxAttempts: maxAttempts),
            kmsKeyID: kmsKey ?? self.kmsKey, keyDeletionWindowDays: 7)
    }

    func s3Client() throws -> S3Client {
        try CloudVault.blobStore(try storage(prefix: ""), lockTimeout: .seconds(30), logger: quietLogger).client
    }

    func kmsClient() throws -> KMSClient {
        try CloudVault.kmsClient(try settings(prefix: ""), logger: quietLogger)
    }

    /// Deletes every object version and delete marker under `prefix`, and schedules deletion of
    /// the KMS keys a rotation created there.
    func removeEverything(under prefix: String) async {
        guard let settings = try? settings(prefix: prefix) else { return }
        await CloudVault.removeEverything(settings, logger: quietLogger)
    }
}

struct CloudFixture: TierConformanceFixture {
    let environment: CloudTestEnvironment
    let prefix: String
    let settings: StrongroomConfiguration.Cloud

    init() async throws {
        environment = try CloudTestEnvironment.require()
        prefix = try CloudTestEnvironment.freshPrefix("conformance")
        settings = try environment.settings(prefix: prefix)
        _ = try await CloudVault.initialise(settings, logger: quietLogger)
    }

    func open(faults: FaultInjection) async throws -> ShareStore {
        // Longer than a lease lasts (60 s): a lease whose delete failed on a loaded moto server (which
        // the store logs and leaves to expire) is waited out instead of failing the next exclusive step
        // with "vault busy", as a CI run under full load once saw.
        try await CloudVault.open(settings, lockTimeout: .seconds(90), logger: quietLogger, faults: faults)
    }

    func blobStore() async throws -> any BlobStore { try await open().blobs }

    /// A store without fault injection (other suites call this on the concrete fixture).
    func open() async throws -> ShareStore { try await open(faults: .none) }

    /// The vault opened with a secret access key that is not the right one: S3 refuses the signature.
    func openWithWrongSecret() async throws -> ShareStore {
        let id = try CloudTestEnvironment.value("AWS_ACCESS_KEY_ID")
        let wrong = try environment.settings(prefix: prefix, accessKeyID: id, secret: "not-the-secret-access-key", maxAttempts: 1)
        return try await CloudVault.open(wrong, logger: quietLogger)
    }

    var rewrapOpensCiphertext: Bool { false }
    var wrongSecretCode: StrongroomError.Code { .accessDenied }
    var wrongSecretHint: String { "was refused" }

    func tearDown() async { await environment.removeEverything(under: prefix) }
}
