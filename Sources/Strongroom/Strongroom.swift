import Foundation

@_exported import StrongroomCloud
@_exported import StrongroomCore
@_exported import StrongroomHSM
@_exported import StrongroomLocal

extension TierRegistry {
    /// The built-in tiers: `local` (tier 1), `cloud` (tier 2) and `hsm` (tier 3). A new tier is one
    /// more line here, plus its module and its docs (docs/architecture.md, "Adding a tier").
    public static let standard = TierRegistry([
        LocalTierProvider(),
        CloudTierProvider(),
        HSMTierProvider(),
    ])
}

extension StrongroomConfiguration {
    /// Loads the configuration with the built-in tiers (``TierRegistry/standard``).
    public static func load(
        filePath: String?, environment: [String: String] = ProcessInfo.processInfo.environment
    ) async throws(StrongroomError) -> StrongroomConfiguration {
        try await load(filePath: filePath, environment: environment, registry: .standard)
    }
}
