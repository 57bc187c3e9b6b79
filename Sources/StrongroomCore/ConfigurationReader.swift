import Configuration
import SecureCrypto

/// Reads a tier's settings for its ``TierProvider``, turning swift-configuration's failures into
/// errors that name the key and where it is given (file, line and column, or the environment
/// variable) and never its value.
public struct ConfigurationReader: Sendable {
    let config: ConfigReader
    /// Where the settings come from (a file path, "environment", or what the caller named).
    public let source: String
    /// Where the file's keys are, for messages (never the values).
    let positions: ConfigurationFilePositions?

    init(config: ConfigReader, source: String, positions: ConfigurationFilePositions?) {
        self.config = config
        self.source = source
        self.positions = positions
    }

    /// The environment variable for `key`: `hsm.tokenLabel` is `STRONGROOM_HSM_TOKEN_LABEL`.
    public func variable(_ key: String) -> String { ConfigurationReader.variable(for: key) }

    /// The environment variable for `key`: `hsm.tokenLabel` is `STRONGROOM_HSM_TOKEN_LABEL`.
    public static func variable(for key: String) -> String {
        var name = StrongroomConfiguration.environmentPrefix + "_"
        var previous: Character?
        for character in key {
            if character == "." {
                name += "_"
            } else {
                if let previous, previous.isLowercase, character.isUppercase { name += "_" }
                name += character.uppercased()
            }
            previous = character
        }
        return name
    }

    /// Where `key` is given: `file at line L, column C`, or the variable. Never the value.
    public func place(_ key: String) -> String {
        if let position = positions?.position(of: key) { return "\(source) at \(position)" }
        if positions != nil { return "\(variable(key)) (or \(source))" }
        if source == "environment" { return variable(key) }
        return "\(source) (\(key))"
    }

    /// An error for a setting whose value is unusable: names the key, where it is, and `requirement`
    /// (for example "must be 1 to 64, got 0"). Never quote a secret value in `requirement`.
    public func invalid(_ key: String, _ requirement: String) -> StrongroomError {
        StrongroomError(.configuration, "setting '\(key)' in \(place(key)) \(requirement)")
    }

    private func lookup<T>(_ key: String, expecting type: String, _ fetch: () throws -> T) throws(StrongroomError) -> T? {
        do {
            return try fetch()
        } catch {
            if "\(error)".hasPrefix("Missing required") { return nil }
            // swift-configuration's error is not passed on: its text is not ours to vouch for.
            throw StrongroomError(
                .configuration, "setting '\(key)' in \(place(key)) has the wrong type; expected \(type)")
        }
    }

    /// A string setting, or nil when it is not given. Pass `isSecret` for credentials and PINs.
    public func string(_ key: String, isSecret: Bool = false) throws(StrongroomError) -> String? {
        try lookup(key, expecting: "a string") { try config.requiredString(forKey: ConfigKey(key), isSecret: isSecret) }
    }

    /// An integer setting, or nil.
    public func int(_ key: String) throws(StrongroomError) -> Int? {
        try lookup(key, expecting: "an integer") { try config.requiredInt(forKey: ConfigKey(key)) }
    }

    /// An integer setting that must lie in `range`, or `defaultValue` when not given.
    public func int(_ key: String, default defaultValue: Int, in range: ClosedRange<Int>) throws(StrongroomError) -> Int {
        let value = try int(key) ?? defaultValue
        guard range.contains(value) else {
            throw invalid(key, "must be \(range.lowerBound) to \(range.upperBound), got \(value)")
        }
        return value
    }

    /// A boolean setting, or nil.
    public func bool(_ key: String) throws(StrongroomError) -> Bool? {
        try lookup(key, expecting: "true or false") { try config.requiredBool(forKey: ConfigKey(key)) }
    }

    /// A string setting that must be given and not empty.
    public func required(_ key: String) throws(StrongroomError) -> String {
        guard let value = try string(key), !value.isEmpty else {
            throw StrongroomError(
                .configuration,
                "missing required setting '\(key)' in \(source); set it there or in \(variable(key))")
        }
        return value
    }

    /// A secret setting (a credential), read with `isSecret: true` straight into locked memory, or nil.
    public func secret(_ key: String) throws(StrongroomError) -> SecretBytes? {
        guard let text = try string(key, isSecret: true) else { return nil }
        do {
            var text = text
            return try text.withUTF8 { try SecretBytes(copying: UnsafeRawBufferPointer($0)) }
        } catch {
            throw StrongroomError(.crypto, "could not hold the secret setting '\(key)' in locked memory")
        }
    }

    /// `blockingThreads` (default twice the cores, at least 4; 0 to 256): the threads of each pool
    /// that runs a tier's blocking work (writes with `fsync`, Cryptoki calls) off Swift's cooperative
    /// pool; 0 runs that work inline. A core setting every tier with blocking work reads.
    public func blockingThreads() throws(StrongroomError) -> Int {
        try int("blockingThreads", default: BlockingPool.defaultThreadCount, in: 0...256)
    }
}
