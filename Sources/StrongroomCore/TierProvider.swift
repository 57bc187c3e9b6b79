import Logging

/// A tier's parsed settings. Its `description` lists them as `key: value` pairs with every secret
/// shown as `<REDACTED>` (it is printed by `strongroom status` and in logs).
public protocol TierSettings: Sendable, CustomStringConvertible {}

/// What `init` may be told besides the settings.
public struct VaultCreationOptions: Sendable {
    /// When set, a tier whose key store fails its protection checks (tier 3: a token that lets the
    /// KEK out) creates the vault anyway and passes this function the weaknesses. Never for real keys.
    public var acceptWeakKeyStore: (@Sendable ([String]) -> Void)?

    /// Creates options; the defaults refuse a weak key store.
    public init(acceptWeakKeyStore: (@Sendable ([String]) -> Void)? = nil) {
        self.acceptWeakKeyStore = acceptWeakKeyStore
    }
}

/// What `init` made: the vault id and the lines `strongroom init` prints under "created vault …"
/// (where the blobs and the KEK are, and what to back up).
public struct VaultCreated: Sendable {
    /// The new vault's id.
    public var vaultID: VaultID
    /// Where things are, one line each (`directory: /srv/vault (0700)`), with no secret.
    public var details: [String]
    /// What the operator must do now (back up the root seed, keep bucket versioning on).
    public var advice: String

    /// Creates a summary.
    public init(vaultID: VaultID, details: [String], advice: String) {
        self.vaultID = vaultID
        self.details = details
        self.advice = advice
    }
}

/// A throwaway vault made for a benchmark, with what removes it.
public struct BenchmarkVault: Sendable {
    /// The open store.
    public var store: ShareStore
    /// Removes the vault and its keys (best effort).
    public var remove: @Sendable () async -> Void

    /// Creates a benchmark vault.
    public init(store: ShareStore, remove: @escaping @Sendable () async -> Void) {
        self.store = store
        self.remove = remove
    }
}

/// One figure a tier's own baseline measured (for example plain S3 GETs), for `strongroom bench`.
public struct BenchmarkFigure: Sendable {
    /// The operation's name in the benchmark output (`s3_plain_get`).
    public var operation: String
    /// How many ran at once.
    public var concurrency: Int
    /// How many operations ran.
    public var count: Int
    /// How long they took.
    public var elapsed: Duration

    /// Creates a figure.
    public init(operation: String, concurrency: Int, count: Int, elapsed: Duration) {
        self.operation = operation
        self.concurrency = concurrency
        self.count = count
        self.elapsed = elapsed
    }
}

/// A storage tier as a plug-in: it parses its settings, creates and opens vaults, and makes
/// throwaway vaults for benchmarks. Everything else (versions, the envelope, rotation, erase,
/// listing) is ``ShareStore``'s, over the ``Keyring`` and ``BlobStore`` the tier supplies.
///
/// A tier lives in a module of its own, uses only the public API of StrongroomCore, and joins by a
/// line in a ``TierRegistry`` (the `Strongroom` module's ``TierRegistry/standard``). Its errors are
/// ``StrongroomError``s; codes of its own are declared in an extension of ``StrongroomError/Code``.
/// docs/architecture.md walks through adding one.
public protocol TierProvider: Sendable {
    /// The tier's settings type.
    associatedtype Settings: TierSettings

    /// The tier: its configuration name and envelope code.
    var tier: Tier { get }
    /// One line for messages and help: what the tier keeps where.
    var summary: String { get }
    /// Every setting key the tier reads (`local.path`, …). Messages name a key of a broken file only
    /// when it is a known one, so a secret that a syntax error makes read as a key is never echoed.
    var settingKeys: [String] { get }

    /// Reads the tier's settings. Errors name the key and where it is (``ConfigurationReader/place(_:)``)
    /// and never a value.
    func settings(from reader: ConfigurationReader) throws(StrongroomError) -> Settings
    /// Creates a vault: its key material and its state. Refuses to touch an existing vault.
    func initialise(_ settings: Settings, options: VaultCreationOptions, logger: Logger) async throws -> VaultCreated
    /// Opens an existing vault.
    func open(_ settings: Settings, lockTimeout: Duration, logger: Logger) async throws -> ShareStore
    /// Creates and opens a throwaway vault for `strongroom bench`, named `name`, beside the vault of
    /// `settings` (a directory under `scratchDirectory`, or a prefix of the bucket), sized for
    /// `concurrency` concurrent operations, created with `options` as `init` would be.
    func benchmarkVault(
        _ settings: Settings, name: String, scratchDirectory: String, concurrency: Int, options: VaultCreationOptions,
        logger: Logger
    ) async throws -> BenchmarkVault
    /// A tier's own baseline for the benchmark (the raw service beneath it, `count` operations at each
    /// of `concurrencies`), if it has one.
    func benchmarkBaseline(
        _ settings: Settings, count: Int, concurrencies: [Int], logger: Logger
    ) async throws -> [BenchmarkFigure]
}

extension TierProvider {
    /// No baseline.
    public func benchmarkBaseline(
        _ settings: Settings, count: Int, concurrencies: [Int], logger: Logger
    ) async throws -> [BenchmarkFigure] {
        []
    }

    /// The configuration of this tier from `reader`.
    func configuration(from reader: ConfigurationReader, lockTimeout: Duration) throws(StrongroomError) -> StrongroomConfiguration {
        StrongroomConfiguration(
            provider: self, settings: try settings(from: reader), lockTimeout: lockTimeout, source: reader.source)
    }

    /// `settings` as this tier's, or a clear error when a configuration of another tier was passed.
    public func ownSettings(_ settings: any TierSettings) throws(StrongroomError) -> Settings {
        guard let own = settings as? Settings else {
            throw StrongroomError(.configuration, "settings of another tier were given to tier \(tier)")
        }
        return own
    }

    /// Creates the vault `configuration` names.
    public func initialise(
        configuration: StrongroomConfiguration, options: VaultCreationOptions, logger: Logger
    ) async throws -> VaultCreated {
        try await initialise(try ownSettings(configuration.settings), options: options, logger: logger)
    }

    /// Opens the vault `configuration` names.
    public func open(configuration: StrongroomConfiguration, logger: Logger) async throws -> ShareStore {
        try await open(try ownSettings(configuration.settings), lockTimeout: configuration.lockTimeout, logger: logger)
    }

    /// A throwaway vault beside the one `configuration` names.
    public func benchmarkVault(
        configuration: StrongroomConfiguration, name: String, scratchDirectory: String, concurrency: Int,
        options: VaultCreationOptions, logger: Logger
    ) async throws -> BenchmarkVault {
        try await benchmarkVault(
            try ownSettings(configuration.settings), name: name, scratchDirectory: scratchDirectory,
            concurrency: concurrency, options: options, logger: logger)
    }

    /// The tier's baseline figures for `configuration`.
    public func benchmarkBaseline(
        configuration: StrongroomConfiguration, count: Int, concurrencies: [Int], logger: Logger
    ) async throws -> [BenchmarkFigure] {
        try await benchmarkBaseline(
            try ownSettings(configuration.settings), count: count, concurrencies: concurrencies, logger: logger)
    }
}

extension ShareStore {
    /// Opens the store the configuration names, through its tier's provider.
    public static func open(configuration: StrongroomConfiguration, logger: Logger) async throws -> ShareStore {
        let store = try await configuration.provider.open(configuration: configuration, logger: logger)
        store.configureAudit(configuration.audit)
        return store
    }
}
