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
/// environment wins. Every key is also an environment variable: `STRONGROOM_` followed by the
/// key in upper case with `.` and camel-case humps as `_` (`local.rootSeedFile` is
/// `STRONGROOM_LOCAL_ROOT_SEED_FILE`). Secrets are read with `isSecret: true` and print as `<REDACTED>`.
/// The core reads `tier` and `lockTimeoutSeconds`; everything else belongs to the tier, whose
/// ``TierProvider`` (found in a ``TierRegistry``) parses it.
public struct StrongroomConfiguration: Sendable, CustomStringConvertible {
    /// `tier` (default `local`): the name of a registered tier.
    public var tier: Tier { provider.tier }
    /// The provider of the configured tier.
    public var provider: any TierProvider
    /// The tier's settings, as its provider parsed them.
    public var settings: any TierSettings
    /// `lockTimeoutSeconds` (default 60): how long to wait for another process's vault lock.
    public var lockTimeout: Duration
    /// Where the settings came from (a file path, or "environment"), for messages.
    public var source: String
    /// `audit.*`: the audit log's settings (docs/audit.md); the defaults are fail-closed.
    public var audit: AuditSettings = .standard

    /// Creates a configuration for `provider`'s tier. The settings must be of the provider's type.
    public init<Provider: TierProvider>(
        provider: Provider, settings: Provider.Settings, lockTimeout: Duration = .seconds(60), source: String = "code"
    ) {
        self.provider = provider
        self.settings = settings
        self.lockTimeout = lockTimeout
        self.source = source
    }

    /// The settings as text, with secrets shown as `<REDACTED>`.
    public var description: String { "tier: \(tier), \(settings)" }

    /// The environment variable prefix.
    public static let environmentPrefix = "STRONGROOM"

    /// Loads the configuration from `filePath` (`.yaml`, `.yml` or `.json`; nil for environment only)
    /// and `environment`, with the tiers of `registry`. Errors name the key and the file, never a value.
    public static func load(
        filePath: String?, environment: [String: String] = ProcessInfo.processInfo.environment,
        registry: TierRegistry
    ) async throws(StrongroomError) -> StrongroomConfiguration {
        let envProvider = EnvironmentVariablesProvider(
            environmentVariables: environment,
            secretsSpecifier: .dynamic { key, _ in
                key.contains("SECRET") || key.contains("PIN") || key.contains("TOKEN") && !key.contains("TOKEN_LABEL") && !key.contains("TOKEN_SERIAL")
            }
        ).prefixKeys(with: [environmentPrefix.lowercased()])
        var providers: [any ConfigProvider] = [envProvider]
        let source: String
        let settingKeys = registry.providers.flatMap(\.settingKeys)
        if let filePath {
            source = filePath
            providers.append(try await fileProvider(filePath, settingKeys: settingKeys))
        } else {
            source = "environment"
        }
        let reader = ConfigurationReader(
            config: ConfigReader(providers: providers), source: source,
            positions: filePath.map { ConfigurationFilePositions(path: $0, settingKeys: settingKeys) })
        return try load(reader, registry: registry)
    }

    /// Builds a configuration from settings given as key-value pairs (for example a benchmark's
    /// command-line options), parsed exactly as environment variables would be: `["tier": "hsm",
    /// "hsm.module": "/usr/lib/softhsm/libsofthsm2.so"]`. `source` names them in messages.
    public static func load(
        settings: [String: String], source: String, registry: TierRegistry
    ) throws(StrongroomError) -> StrongroomConfiguration {
        let environment = Dictionary(
            settings.map { (ConfigurationReader.variable(for: $0.key), $0.value) }, uniquingKeysWith: { $1 })
        let provider = EnvironmentVariablesProvider(environmentVariables: environment)
            .prefixKeys(with: [environmentPrefix.lowercased()])
        let reader = ConfigurationReader(config: ConfigReader(providers: [provider]), source: source, positions: nil)
        return try load(reader, registry: registry)
    }

    private static func load(_ reader: ConfigurationReader, registry: TierRegistry) throws(StrongroomError) -> StrongroomConfiguration {
        let tierName = try reader.string("tier") ?? "local"
        guard let provider = registry.provider(named: tierName) else {
            throw StrongroomError(
                .configuration,
                "setting 'tier' in \(reader.place("tier")) must be one of \(registry.names.joined(separator: ", "))")
        }
        let timeout = try reader.int("lockTimeoutSeconds") ?? 60
        guard timeout >= 0 else {
            throw StrongroomError(.configuration, "setting 'lockTimeoutSeconds' in \(reader.place("lockTimeoutSeconds")) must not be negative")
        }
        var configuration = try provider.configuration(from: reader, lockTimeout: .seconds(timeout))
        configuration.audit = try auditSettings(reader)
        return configuration
    }

    /// `audit.mode` (`fail-closed`, `best-effort` or `off`; env `STRONGROOM_AUDIT_MODE`),
    /// `audit.recordListings` (bool; `STRONGROOM_AUDIT_RECORD_LISTINGS`) and
    /// `audit.checkpointInterval` (1…1,000,000; `STRONGROOM_AUDIT_CHECKPOINT_INTERVAL`): docs/audit.md.
    static func auditSettings(_ reader: ConfigurationReader) throws(StrongroomError) -> AuditSettings {
        var settings = AuditSettings.standard
        if let mode = try reader.string("audit.mode") {
            guard let parsed = AuditMode(rawValue: mode) else {
                throw reader.invalid("audit.mode", "must be one of \(AuditMode.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            settings.mode = parsed
        }
        if let listings = try reader.bool("audit.recordListings") { settings.recordListings = listings }
        settings.checkpointInterval = try reader.int(
            "audit.checkpointInterval", default: AuditSettings.standard.checkpointInterval, in: 1...1_000_000)
        return settings
    }

    static func fileProvider(_ path: String, settingKeys: [String]) async throws(StrongroomError) -> any ConfigProvider {
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
            let near = ConfigurationFilePositions(path: path, settingKeys: settingKeys).key(before: position)
                .map { " (after key '\($0)')" } ?? ""
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
    /// user than this one or root, is therefore refused, as OpenSSH refuses such a configuration. The
    /// mode of the file itself is checked (after links, which is what the file's writers see); the
    /// directories above it are the operator's to keep.
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
}
