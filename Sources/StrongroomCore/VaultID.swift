import SecureCrypto

/// A vault's identity: 16 random bytes, shown as 32 lowercase hex digits.
public struct VaultID: Sendable, Hashable, CustomStringConvertible {
    /// The 16 bytes.
    public let bytes: [UInt8]

    /// Wraps 16 bytes (a new vault's random id). Other lengths are a programming error.
    public init(bytes: [UInt8]) {
        precondition(bytes.count == 16, "a vault id is 16 bytes")
        self.bytes = bytes
    }

    /// Parses 32 hex digits.
    public init?(hex: String) {
        guard let bytes = Hex.decode(hex), bytes.count == 16 else { return nil }
        self.bytes = bytes
    }

    /// The id as 32 lowercase hex digits.
    public var hex: String { Hex.encode(bytes) }
    /// The id as 32 lowercase hex digits.
    public var description: String { hex }
}
