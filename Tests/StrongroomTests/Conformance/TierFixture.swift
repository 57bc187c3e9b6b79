import Foundation
import SecureCrypto
import Strongroom
@testable import StrongroomCloud
@testable import StrongroomCore
@testable import StrongroomHSM
@testable import StrongroomLocal

/// What the conformance suite needs from a tier: a fresh vault, a way to reopen it as a new process
/// would, and a way to open it with the wrong secret (root seed, KMS key, HSM PIN or key).
protocol TierFixture: Sendable {
    /// Opens a new store instance on the fixture's vault, as a restarted process would.
    func open(faults: FaultInjection) async throws -> ShareStore
    /// Tries to open the vault with the wrong key material; must throw.
    func openWithWrongSecret() async throws -> ShareStore
    /// The error code `openWithWrongSecret` must give.
    var wrongSecretCode: StrongroomError.Code { get }
    /// Words the error of `openWithWrongSecret` must contain.
    var wrongSecretHint: String { get }
    /// Whether the tier's rewrap opens the share ciphertext (tiers 1 and 3 do; tier 2's ReEncrypt
    /// never brings the data key out of KMS, so it cannot).
    var rewrapOpensCiphertext: Bool { get }
    /// Removes everything the fixture made.
    func tearDown() async
}

extension TierFixture {
    func open() async throws -> ShareStore { try await open(faults: .none) }
}

/// The tiers the conformance suite runs against. A new tier proves itself by adding a case here.
enum TierUnderTest: String, CaseIterable, Sendable, CustomStringConvertible {
    case local
    case cloud
    case hsm

    var description: String { rawValue }

    func makeFixture() async throws -> any TierFixture {
        switch self {
        case .local: try await LocalFixture()
        case .cloud: try await CloudFixture()
        case .hsm: try await HSMFixture()
        }
    }
}

struct LocalFixture: TierFixture {
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

struct HSMFixture: TierFixture {
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
func withFixture(_ tier: TierUnderTest, _ body: (any TierFixture) async throws -> Void) async throws {
    let fixture = try await tier.makeFixture()
    do {
        try await body(fixture)
    } catch {
        await fixture.tearDown()
        throw error
    }
    await fixture.tearDown()
}
