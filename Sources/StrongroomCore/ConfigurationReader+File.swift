import Configuration
import Foundation
import SystemPackage

extension ConfigurationReader {
    /// A reader over the same sources as ``StrongroomConfiguration/load(filePath:environment:registry:)``
    /// (the `STRONGROOM_…` environment, which wins, then the file), for settings that are not a tier's:
    /// the server's `server.*` keys. `settingKeys` are the keys whose positions messages may name.
    /// Errors name the file and the key, never a value.
    public static func load(
        filePath: String?, environment: [String: String] = ProcessInfo.processInfo.environment,
        settingKeys: [String]
    ) async throws(StrongroomError) -> ConfigurationReader {
        let envProvider = EnvironmentVariablesProvider(
            environmentVariables: environment,
            secretsSpecifier: .dynamic { key, _ in
                key.contains("SECRET") || key.contains("PIN") || key.contains("PASSPHRASE")
            }
        ).prefixKeys(with: [StrongroomConfiguration.environmentPrefix.lowercased()])
        var providers: [any ConfigProvider] = [envProvider]
        guard let filePath else {
            return ConfigurationReader(config: ConfigReader(providers: providers), source: "environment", positions: nil)
        }
        providers.append(try await StrongroomConfiguration.fileProvider(filePath, settingKeys: settingKeys))
        return ConfigurationReader(
            config: ConfigReader(providers: providers), source: filePath,
            positions: ConfigurationFilePositions(path: filePath, settingKeys: settingKeys))
    }
}
