/// The tiers a program knows, by name and envelope code. The `Strongroom` module's
/// ``TierRegistry/standard`` holds the three built-in tiers; a program with a tier of its own makes a
/// registry with it added, and passes it to ``StrongroomConfiguration/load(filePath:environment:registry:)``.
public struct TierRegistry: Sendable {
    /// The providers, in the order they were given (the order names are listed in messages).
    public let providers: [any TierProvider]

    /// Creates a registry. Tier names and envelope codes must be unique.
    public init(_ providers: [any TierProvider]) {
        var names = Set<String>()
        var codes = Set<UInt8>()
        for provider in providers {
            precondition(names.insert(provider.tier.name).inserted, "two tiers are named '\(provider.tier.name)'")
            precondition(codes.insert(provider.tier.code).inserted, "two tiers use envelope code \(provider.tier.code)")
        }
        self.providers = providers
    }

    /// This registry with `provider` added.
    public func adding(_ provider: any TierProvider) -> TierRegistry {
        TierRegistry(providers + [provider])
    }

    /// The provider of the tier named `name`.
    public func provider(named name: String) -> (any TierProvider)? {
        providers.first { $0.tier.name == name }
    }

    /// The provider of the tier with envelope code `code`.
    public func provider(code: UInt8) -> (any TierProvider)? {
        providers.first { $0.tier.code == code }
    }

    /// The tier names, in order.
    public var names: [String] { providers.map(\.tier.name) }
}
