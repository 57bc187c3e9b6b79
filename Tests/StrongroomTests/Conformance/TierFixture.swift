import Foundation
import SecureCrypto
import Strongroom
@testable import StrongroomCloud
@testable import StrongroomCore
@testable import StrongroomHSM
@testable import StrongroomLocal
import StrongroomConformance

/// The tiers this package's conformance tests run `StrongroomConformance` against; each tier's
/// fixture implements `TierConformanceFixture` (docs/conformance.md). Other suites use the fixtures
/// too, for a fresh vault of a tier.
enum TierUnderTest: String, CaseIterable, Sendable, CustomStringConvertible {
    case local
    case cloud
    case hsm

    var description: String { rawValue }

    func makeFixture() async throws -> any TierConformanceFixture {
        switch self {
        case .local: try await LocalFixture()
        case .cloud: try await CloudFixture()
        case .hsm: try await HSMFixture()
        }
    }
}

struct LocalFixture: TierConformanceFixture {
    let directory: TemporaryDirectory
    let settings: StrongroomConfiguration.Local

    init() async throws {
        directory = try TemporaryDirectory()
        settings = StrongroomConfiguration.Local(path: "\(directory.path)/vault")
        _ = try await LocalVault.initialise(settings, logger: quietLogger)
    }

    func open(faults: FaultInjection) async throws -> ShareStore {
        try await LocalVault.open(settings, lockTimeout: .seconds(30), logger: quietLogger, faults: faults)
    }

    func blobStore() async throws -> any BlobStore { try await open().blobs }

    /// A store without fault injection (other suites call this on the concrete fixture).
    func open() async throws -> ShareStore { try await open(faults: .none) }

    func openWithWrongSecret() async throws -> ShareStore {
        let other = "\(directory.path)/other.seed"
        let seed = try SecureRandom.bytes(count: 32)
        _ = FileManager.default.createFile(atPath: other, contents: Data(seed), attributes: [.posixPermissions: 0o600])
        return try await LocalVault.open(
            StrongroomConfiguration.Local(path: settings.path, rootSeedFile: other), logger: quietLogger)
    }

    var rewrapOpensCiphertext: Bool { true }
    var wrongSecretCode: StrongroomError.Code { .wrongRootSeed }
    var wrongSecretHint: String { "does not belong" }

    func tearDown() async { directory.cleanup() }
}

/// The SoftHSM tokens scripts/test creates (scripts/softhsm-init). Tests that need them fail, never
/// skip, when they are missing.
struct HSMTestEnvironment: Sendable {
    let module: String
    let token: String
    let tokenB: String
    static let pinVariable = "STRONGROOM_TEST_HSM_PIN"

    struct Missing: Error, CustomStringConvertible {
        let variable: String
        var description: String {
            "\(variable) is not set: run the suite with scripts/test, which creates the SoftHSM tokens (scripts/softhsm-init) and exports STRONGROOM_TEST_HSM_*"
        }
    }

    static func require() throws -> HSMTestEnvironment {
        let environment = ProcessInfo.processInfo.environment
        func value(_ name: String) throws -> String {
            guard let value = environment[name], !value.isEmpty else { throw Missing(variable: name) }
            return value
        }
        _ = try value(pinVariable)
        return HSMTestEnvironment(
            module: try value("STRONGROOM_TEST_HSM_MODULE"), token: try value("STRONGROOM_TEST_HSM_TOKEN"),
            tokenB: try value("STRONGROOM_TEST_HSM_TOKEN_B"))
    }

    func settings(blobPath: String, token: String? = nil, module: String? = nil, recycleAfter: Int = 20_000)
        -> StrongroomConfiguration.HSM
    {
        StrongroomConfiguration.HSM(
            modulePath: module ?? self.module, tokenLabel: token ?? self.token,
            pinEnvironmentVariable: HSMTestEnvironment.pinVariable, blobPath: blobPath, recycleAfter: recycleAfter)
    }
}

struct HSMFixture: TierConformanceFixture {
    let directory: TemporaryDirectory
    let environment: HSMTestEnvironment
    let settings: StrongroomConfiguration.HSM

    init() async throws {
        environment = try HSMTestEnvironment.require()
        directory = try TemporaryDirectory()
        settings = environment.settings(blobPath: "\(directory.path)/vault")
        _ = try await HSMVault.initialise(settings, logger: quietLogger)
    }

    func open(faults: FaultInjection) async throws -> ShareStore {
        try await HSMVault.open(settings, lockTimeout: .seconds(30), logger: quietLogger, faults: faults)
    }

    func blobStore() async throws -> any BlobStore { try await open().blobs }

    /// A store without fault injection (other suites call this on the concrete fixture).
    func open() async throws -> ShareStore { try await open(faults: .none) }

    /// The same vault on another token (same PIN): its KEK is not there.
    func openWithWrongSecret() async throws -> ShareStore {
        var other = settings
        other.tokenLabel = environment.tokenB
        return try await HSMVault.open(other, logger: quietLogger)
    }

    var rewrapOpensCiphertext: Bool { true }
    var wrongSecretCode: StrongroomError.Code { .keyUnavailable }
    var wrongSecretHint: String { "is not on HSM token '\(environment.tokenB)'" }

    func tearDown() async {
        try? await HSMVault.destroyKeys(settings, logger: quietLogger)
        directory.cleanup()
    }
}

/// Runs `body` with a fresh fixture of `tier`, tearing it down afterwards.
func withFixture(_ tier: TierUnderTest, _ body: (any TierConformanceFixture) async throws -> Void) async throws {
    let fixture = try await tier.makeFixture()
    do {
        try await body(fixture)
    } catch {
        await fixture.tearDown()
        throw error
    }
    await fixture.tearDown()
}
