import Logging
import SecureCrypto
import StrongroomCore

extension Tier {
    /// Tier 1: KEK derived with HKDF from a root seed file; blobs in a local directory.
    public static let local = Tier(name: "local", code: 1)
}

extension StrongroomError.Code {
    /// The root seed file does not belong to this vault, or cannot be read as one.
    public static let wrongRootSeed = StrongroomError.Code("wrong root seed", exitStatus: 77)
}

extension StrongroomConfiguration {
    /// Tier 1 settings.
    public struct Local: TierSettings, Hashable {
        /// `local.path` (required): the vault directory (created 0700 by `strongroom init`).
        public var path: String
        /// `local.rootSeedFile` (default `<local.path>/root.seed`): the 32-byte root seed, mode 0600.
        public var rootSeedFile: String
        /// `blockingThreads` (default twice the cores, at least 4; 0 to 256): the threads that run the
        /// vault's blocking file work (writes with `fsync`), off Swift's cooperative pool; 0 runs it
        /// inline on the calling task's thread. Vaults with the same value share one pool.
        public var blockingThreads: Int = BlockingPool.defaultThreadCount
        /// `local.seal` (`none` default | `sealed`): whether the root seed file is sealed to custodians'
        /// parts (``SealedRootSeed``). A sealed vault opens only in `strongroom serve`, after
        /// `strongroom unseal`; ``LocalTierProvider/open(_:lockTimeout:logger:)`` refuses it.
        public var sealed: Bool = false
        /// `seal.maxAttempts` (default 5, 1 to 1000): wrong custodian parts a server takes before it locks
        /// unsealing for ``sealLockoutSeconds``.
        public var sealMaxAttempts: Int = 5
        /// `seal.lockoutSeconds` (default 60, 1 to 3600): the first unseal lockout; each further lockout
        /// doubles it, up to 3600 seconds.
        public var sealLockoutSeconds: Int = 60

        /// Creates tier 1 settings.
        public init(path: String, rootSeedFile: String? = nil) {
            self.path = path
            self.rootSeedFile = rootSeedFile ?? "\(path)/root.seed"
        }

        /// `local.path: …, local.rootSeedFile: …` (no secret: the seed file's path only).
        public var description: String {
            "local.path: \(path), local.rootSeedFile: \(rootSeedFile), blockingThreads: \(blockingThreads)"
                + (sealed ? ", local.seal: sealed, seal.maxAttempts: \(sealMaxAttempts), seal.lockoutSeconds: \(sealLockoutSeconds)" : "")
        }
    }
}

/// Tier 1 as a plug-in: a directory of sealed blobs and a root seed file.
public struct LocalTierProvider: TierProvider {
    /// Creates the provider.
    public init() {}

    public var tier: Tier { .local }
    public var summary: String { "local: blobs in a directory, KEKs derived with HKDF from a root seed file" }
    public var settingKeys: [String] {
        ["local.path", "local.rootSeedFile", "local.seal", "seal.maxAttempts", "seal.lockoutSeconds"]
    }

    public func settings(from reader: ConfigurationReader) throws(StrongroomError) -> StrongroomConfiguration.Local {
        var local = StrongroomConfiguration.Local(
            path: try reader.required("local.path"), rootSeedFile: try reader.string("local.rootSeedFile"))
        local.blockingThreads = try reader.blockingThreads()
        switch try reader.string("local.seal") ?? "none" {
        case "none": local.sealed = false
        case "sealed": local.sealed = true
        default: throw reader.invalid("local.seal", "must be none or sealed")
        }
        local.sealMaxAttempts = try reader.int("seal.maxAttempts", default: 5, in: 1...1000)
        local.sealLockoutSeconds = try reader.int("seal.lockoutSeconds", default: 60, in: 1...3600)
        return local
    }

    public func initialise(
        _ settings: StrongroomConfiguration.Local, options: VaultCreationOptions, logger: Logger
    ) async throws -> VaultCreated {
        let vault = try await LocalVault.initialise(settings, logger: logger)
        return VaultCreated(
            vaultID: vault,
            details: ["directory: \(settings.path) (0700)", "root seed: \(settings.rootSeedFile) (0600)"],
            advice: "Back up the root seed file somewhere safe and separate: without it no share can be opened.")
    }

    public func open(_ settings: StrongroomConfiguration.Local, lockTimeout: Duration, logger: Logger) async throws -> ShareStore {
        guard !settings.sealed else {
            throw StrongroomError(
                .rootSeedSealed,
                "the root seed of the vault at \(settings.path) is sealed (local.seal: sealed): run `strongroom serve` with this configuration, unseal it with `strongroom unseal --server …`, and use the vault through the server (--server)")
        }
        return try await LocalVault.open(settings, lockTimeout: lockTimeout, logger: logger)
    }

    public func benchmarkVault(
        _ settings: StrongroomConfiguration.Local, name: String, scratchDirectory: String, concurrency: Int,
        options: VaultCreationOptions, logger: Logger
    ) async throws -> BenchmarkVault {
        let path = "\(scratchDirectory)/\(name)"
        var throwaway = StrongroomConfiguration.Local(path: path)
        throwaway.blockingThreads = settings.blockingThreads
        _ = try await LocalVault.initialise(throwaway, logger: logger)
        let store = try await LocalVault.open(throwaway, logger: logger)
        return BenchmarkVault(store: store) { LocalVault.removeDirectory(path) }
    }
}
