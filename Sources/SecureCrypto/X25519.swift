internal import COpenSSL

/// X25519 (RFC 7748), on OpenSSL's EVP_PKEY. Private keys and shared secrets live in ``SecretBytes``;
/// public keys are 32 plain bytes.
public enum X25519 {
    /// The size of a private key, a public key and a shared secret.
    public static let keySize = 32

    /// A new private key: 32 random bytes (OpenSSL clamps them when it uses the key).
    public static func generatePrivateKey() throws(CryptoError) -> SecretBytes {
        try SecureRandom.secretBytes(count: keySize)
    }

    /// The public key of `privateKey`.
    public static func publicKey(of privateKey: SecretBytes) throws(CryptoError) -> [UInt8] {
        let key = try privateKeyHandle(privateKey)
        defer { EVP_PKEY_free(key) }
        return try rawPublicKey(key)
    }

    /// The shared secret of `privateKey` and `publicKey`. An all-zero result (a small-order public key)
    /// is refused, as RFC 7748 section 6.1 allows and RFC 9180 section 7.1.4 requires.
    public static func sharedSecret(privateKey: SecretBytes, publicKey: [UInt8]) throws(CryptoError) -> SecretBytes {
        try agreement(privateKey: privateKey, publicKey: publicKey).sharedSecret
    }

    /// The shared secret of `privateKey` and `publicKey`, and `privateKey`'s own public key, from one
    /// loaded key (HPKE needs both: the sender for `enc`, the recipient for the KEM context), so the
    /// key is loaded, and its public key computed, once.
    public static func agreement(
        privateKey: SecretBytes, publicKey: [UInt8]
    ) throws(CryptoError) -> (sharedSecret: SecretBytes, ownPublicKey: [UInt8]) {
        guard publicKey.count == keySize else {
            throw CryptoError(.invalidInput, "an X25519 public key is 32 bytes, got \(publicKey.count)")
        }
        let mine = try privateKeyHandle(privateKey)
        defer { EVP_PKEY_free(mine) }
        let own = try rawPublicKey(mine)
        guard let peer = publicKey.withUnsafeBytes({ sr_x25519_public($0.baseAddress) }) else {
            throw CryptoError.openSSL(.invalidInput, "not a valid X25519 public key")
        }
        defer { EVP_PKEY_free(peer) }
        let secret = try SecretBytes(count: keySize, filling: { (out) throws(CryptoError) in
            guard sr_x25519_derive(mine, peer, out.baseAddress) == 1 else {
                throw CryptoError.openSSL(.invalidInput, "X25519 key agreement failed (a small-order public key?)")
            }
        })
        let zero = [UInt8](repeating: 0, count: keySize)
        guard !zero.withUnsafeBytes({ secret.constantTimeEquals($0) }) else {
            throw CryptoError(.invalidInput, "X25519 key agreement gave the all-zero value: the public key has small order")
        }
        return (secret, own)
    }

    private static func rawPublicKey(_ key: OpaquePointer) throws(CryptoError) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: keySize)
        guard out.withUnsafeMutableBytes({ sr_x25519_get_public(key, $0.baseAddress) }) == 1 else {
            throw CryptoError.openSSL(.libraryFailure, "could not compute an X25519 public key")
        }
        return out
    }

    private static func privateKeyHandle(_ privateKey: SecretBytes) throws(CryptoError) -> OpaquePointer {
        guard privateKey.count == keySize else {
            throw CryptoError(.invalidInput, "an X25519 private key is 32 bytes, got \(privateKey.count)")
        }
        guard let key = privateKey.withUnsafeBytes({ sr_x25519_private($0.baseAddress) }) else {
            throw CryptoError.openSSL(.libraryFailure, "could not load an X25519 private key")
        }
        return key
    }
}
