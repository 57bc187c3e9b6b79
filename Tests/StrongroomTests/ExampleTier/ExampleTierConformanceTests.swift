// The example fourth tier runs the conformance product against itself, as docs/architecture.md
// ("Adding a tier", step 8) tells a new tier to. Public API only, like the tier itself.
import Foundation
import Logging
import SecureCrypto
import StrongroomConformance
import StrongroomCore
import StrongroomLocal
import Testing

/// A fresh example vault per check.
struct ExampleFixture: TierConformanceFixture {
    let directory: String
    let settings: ExampleSettings
    let provider = ExampleTierProvider()

    init() async throws {
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("strongroom-example-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        settings = ExampleSettings(path: "\(directory)/vault", keyFile: "\(directory)/example.key")
        _ = try await provider.initialise(settings, options: .init(), logger: Logger(label: "example") { _ in SwiftLogNoOpLogHandler() })
    }

    private var logger: Logger { Logger(label: "example") { _ in SwiftLogNoOpLogHandler() } }

    func open(faults: FaultInjection) async throws -> ShareStore {
        try await provider.open(settings, lockTimeout: .seconds(30), faults: faults, logger: logger)
    }

    func blobStore() async throws -> any BlobStore { DirectoryBlobStore(root: settings.path) }

    func openWithWrongSecret() async throws -> ShareStore {
        let blobs = DirectoryBlobStore(root: settings.path)
        let (state, vaultID) = try await VaultState.existing(in: blobs, tier: .example)
        return try provider.open(
            blobs: blobs, state: state, vaultID: vaultID, key: try SecureRandom.secretBytes(count: 32), faults: .none,
            logger: logger)
    }

    var wrongSecretCode: StrongroomError.Code { .exampleWrongKey }
    var wrongSecretHint: String { "does not belong" }
    var rewrapOpensCiphertext: Bool { true }

    func tearDown() async { try? FileManager.default.removeItem(atPath: directory) }
}

@Suite struct ExampleTierConformanceTests {
    @Test(arguments: TierConformance.Check.all)
    func example(check: TierConformance.Check) async throws {
        try await TierConformance { try await ExampleFixture() }.run([check])
    }
}
