/// A storage tier: where the key-encryption key lives. Each tier comes from a ``TierProvider`` in its
/// own module and declares its value there (`Tier.local` in StrongroomLocal, `Tier.cloud` in
/// StrongroomCloud, `Tier.hsm` in StrongroomHSM); a new tier declares a new one.
public struct Tier: Sendable, Hashable, CustomStringConvertible {
    /// The tier's configuration name (the value of the `tier` setting), lower case.
    public let name: String
    /// The byte that identifies the tier in the envelope format (docs/format.md). Codes 1–3 are
    /// taken by the built-in tiers; a new tier picks an unused one and documents it.
    public let code: UInt8

    /// Declares a tier.
    public init(name: String, code: UInt8) {
        self.name = name
        self.code = code
    }

    /// The tier's configuration name.
    public var rawValue: String { name }

    /// The tier's configuration name.
    public var description: String { name }
}
