import SecureCrypto
import Testing

/// RFC 7748 section 6.1: the Diffie-Hellman example (Alice's and Bob's keys and the shared secret K).
@Suite struct X25519Tests {
    static let alicePrivate = "77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"
    static let alicePublic = "8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a"
    static let bobPrivate = "5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"
    static let bobPublic = "de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f"
    static let shared = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742"

    func secret(_ hex: String) throws -> SecretBytes {
        try Hex.decode(hex)!.withUnsafeBytes { try SecretBytes(copying: $0) }
    }

    @Test func rfc7748PublicKeysAndSharedSecret() throws {
        #expect(Hex.encode(try X25519.publicKey(of: try secret(Self.alicePrivate))) == Self.alicePublic)
        #expect(Hex.encode(try X25519.publicKey(of: try secret(Self.bobPrivate))) == Self.bobPublic)
        let k1 = try X25519.sharedSecret(privateKey: try secret(Self.alicePrivate), publicKey: Hex.decode(Self.bobPublic)!)
        let k2 = try X25519.sharedSecret(privateKey: try secret(Self.bobPrivate), publicKey: Hex.decode(Self.alicePublic)!)
        #expect(k1 == (try secret(Self.shared)))
        #expect(k2 == (try secret(Self.shared)))
    }

    @Test func smallOrderPublicKeyIsRefused() throws {
        let zeroPoint = [UInt8](repeating: 0, count: 32)
        #expect(throws: CryptoError.self) {
            _ = try X25519.sharedSecret(privateKey: try X25519.generatePrivateKey(), publicKey: zeroPoint)
        }
        #expect(throws: CryptoError.self) {
            _ = try X25519.sharedSecret(privateKey: try X25519.generatePrivateKey(), publicKey: [1, 2, 3])
        }
    }
}
