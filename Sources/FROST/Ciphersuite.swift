/// The two FROST ciphersuites of RFC 9591 this engine implements.
public enum Ciphersuite: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// FROST(Ed25519, SHA-512), RFC 9591 section 6.1. Group operations from libsodium.
    case ed25519 = 1
    /// FROST(secp256k1, SHA-256), RFC 9591 section 6.5. Points from libsecp256k1, scalars mod n our own.
    case secp256k1 = 2

    /// The ciphersuite's context string (RFC 9591), the prefix of its domain-separated hashes.
    public var contextString: String {
        switch self {
        case .ed25519: "FROST-ED25519-SHA512-v1"
        case .secp256k1: "FROST-secp256k1-SHA256-v1"
        }
    }

    /// The RFC's name for the ciphersuite.
    public var description: String {
        switch self {
        case .ed25519: "FROST(Ed25519, SHA-512)"
        case .secp256k1: "FROST(secp256k1, SHA-256)"
        }
    }

    /// The short name used on the command line and in files: `ed25519` or `secp256k1`.
    public var shortName: String {
        switch self {
        case .ed25519: "ed25519"
        case .secp256k1: "secp256k1"
        }
    }

    /// Parses a short name (`ed25519`, `secp256k1`) or a context string.
    public init?(name: String) {
        guard let suite = Ciphersuite.allCases.first(where: { $0.shortName == name.lowercased() || $0.contextString == name }) else {
            return nil
        }
        self = suite
    }

    /// Bytes in a serialised scalar (Nscalar).
    public var scalarLength: Int { 32 }

    /// Bytes in a serialised element (Ne): 32 for Ed25519, 33 (compressed SEC1) for secp256k1.
    public var elementLength: Int {
        switch self {
        case .ed25519: 32
        case .secp256k1: 33
        }
    }

    /// Bytes in a signature: the commitment R followed by z.
    public var signatureLength: Int { elementLength + scalarLength }

    var context: [UInt8] { Array(contextString.utf8) }
}
