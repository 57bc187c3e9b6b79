internal import COpenSSL

/// HKDF with SHA-256 (RFC 5869), on OpenSSL's EVP_KDF.
public enum HKDF {
    /// Extract-then-expand: derives `length` bytes from `ikm`, `salt` and `info`.
    public static func deriveKey(
        ikm: SecretBytes, salt: [UInt8], info: [UInt8], length: Int
    ) throws(CryptoError) -> SecretBytes {
        try run(mode: 0, key: ikm, salt: salt, info: info, length: length)
    }

    /// The extract step only: the 32-byte pseudorandom key PRK = HMAC-SHA256(salt, ikm).
    public static func extract(ikm: SecretBytes, salt: [UInt8]) throws(CryptoError) -> SecretBytes {
        try run(mode: 1, key: ikm, salt: salt, info: [], length: 32)
    }

    /// The expand step only, from a pseudorandom key.
    public static func expand(prk: SecretBytes, info: [UInt8], length: Int) throws(CryptoError) -> SecretBytes {
        try run(mode: 2, key: prk, salt: [], info: info, length: length)
    }

    private static let kdf: HKDFImplementation = HKDFImplementation()

    private static func run(
        mode: Int32, key: SecretBytes, salt: [UInt8], info: [UInt8], length: Int
    ) throws(CryptoError) -> SecretBytes {
        guard length > 0, length <= 255 * 32 else {
            throw CryptoError(.invalidInput, "HKDF-SHA256 output must be 1...8160 bytes, got \(length)")
        }
        guard let implementation = kdf.handle else {
            throw CryptoError(.libraryFailure, "OpenSSL offers no HKDF; check the provider configuration (OPENSSL_CONF)")
        }
        guard let context = EVP_KDF_CTX_new(implementation) else {
            throw CryptoError.openSSL(.libraryFailure, "EVP_KDF_CTX_new(HKDF) failed")
        }
        defer { EVP_KDF_CTX_free(context) }
        return try SecretBytes(count: length, filling: { (output) throws(CryptoError) in
            let rc: Int32 = key.withUnsafeBytes { keyBytes in
                salt.withUnsafeBytes { saltBytes in
                    info.withUnsafeBytes { infoBytes in
                        sr_hkdf_sha256(
                            context, mode, keyBytes.baseAddress, keyBytes.count, saltBytes.baseAddress,
                            saltBytes.count, infoBytes.baseAddress, infoBytes.count, output.baseAddress, length)
                    }
                }
            }
            guard rc == 1 else { throw CryptoError.openSSL(.libraryFailure, "HKDF-SHA256 derivation failed") }
        })
    }
}

/// @unchecked Sendable: a fetched `EVP_KDF` is immutable and safe to share between threads.
private final class HKDFImplementation: @unchecked Sendable {
    let handle: OpaquePointer?
    init() {
        handle = EVP_KDF_fetch(nil, "HKDF", nil)
        if handle == nil { _ = drainOpenSSLErrors() }
    }
}
