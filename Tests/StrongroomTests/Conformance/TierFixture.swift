import Foundation
import SecureCrypto
@testable import Strongroom

/// What the conformance suite needs from a tier: a fresh vault, a way to reopen it as a new process
/// would, and a way to open it with the wrong secret (root seed, KMS key, HSM PIN or key).
protocol TierFixture: Sendable {
    /// Opens a new store instance on the fixture's vault, as a restarted process would.
    func open(faults: FaultInjection) async throws -> ShareStore
    /// Tries to open the vault with the wrong key material; must throw.
    func openWithWrongSecret() async throws -> ShareStore
    /// Removes everything the fixture made.
    func tearDown() async
}

extension TierFixture {
    func open() async throws -> ShareStore { try await open(faults: .none) }
}

/// The tiers the conformance suite runs against. A new tier proves itself by adding a case here.
enum TierUnderTest: String, CaseIterable, Sendable, CustomStringConvertible {
    case local

    var description: String { rawValue }

    func makeFixture() async throws -> any TierFixture {
        switch self {
        case .local: try await LocalFixture()
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

    func tearDown() async { directory.cleanup() }
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
