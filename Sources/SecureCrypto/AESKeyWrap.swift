internal import COpenSSL

/// AES key wrap: RFC 3394 (``wrap(_:kek:)``) and RFC 5649 with padding (``wrapWithPadding(_:kek:)``),
/// on OpenSSL EVP. The key-encryption key may be 128, 192 or 256 bits.
///
/// The unwrapped key is released only after the wrap's integrity check passed; a wrong KEK or an
/// altered wrapped key throws ``CryptoError/Code/authenticationFailed``.
public enum AESKeyWrap {
    /// PKCS#11 mechanism id of RFC 3394 key wrap (`CKM_AES_KEY_WRAP`), as stored in envelopes.
    public static let mechanismRFC3394: UInt32 = 0x2109
    /// PKCS#11 mechanism id SoftHSM uses for RFC 5649 (`CKM_AES_KEY_WRAP_PAD`).
    public static let mechanismRFC5649: UInt32 = 0x210A

    /// Wraps `key` (a multiple of 8 bytes, at least 16) under `kek` per RFC 3394.
    public static func wrap(_ key: SecretBytes, kek: SecretBytes) throws(CryptoError) -> [UInt8] {
        guard key.count >= 16, key.count % 8 == 0 else {
            throw CryptoError(.invalidInput, "RFC 3394 wraps keys of 16 or more bytes in 8-byte steps, got \(key.count)")
        }
        return try run(cipher: cipher(OpenSSLCipher.aesWrap, kek: kek), kek: kek, key: key, outputCapacity: key.count + 8)
    }

    /// Unwraps an RFC 3394 wrapped key.
    public static func unwrap(_ wrapped: [UInt8], kek: SecretBytes) throws(CryptoError) -> SecretBytes {
        guard wrapped.count >= 24, wrapped.count % 8 == 0 else {
            throw CryptoError(.authenticationFailed, "an RFC 3394 wrapped key is 24 or more bytes in 8-byte steps, got \(wrapped.count)")
        }
        return try unwrapRun(cipher: cipher(OpenSSLCipher.aesWrap, kek: kek), kek: kek, wrapped: wrapped)
    }

    /// Wraps `key` (1 or more bytes) under `kek` per RFC 5649.
    public static func wrapWithPadding(_ key: SecretBytes, kek: SecretBytes) throws(CryptoError) -> [UInt8] {
        guard key.count >= 1 else { throw CryptoError(.invalidInput, "RFC 5649 needs at least one byte of key data") }
        let padded = (key.count + 7) / 8 * 8
        return try run(cipher: cipher(OpenSSLCipher.aesWrapPad, kek: kek), kek: kek, key: key, outputCapacity: padded + 8)
    }

    /// Unwraps an RFC 5649 wrapped key.
    public static func unwrapWithPadding(_ wrapped: [UInt8], kek: SecretBytes) throws(CryptoError) -> SecretBytes {
        guard wrapped.count >= 16, wrapped.count % 8 == 0 else {
            throw CryptoError(.authenticationFailed, "an RFC 5649 wrapped key is 16 or more bytes in 8-byte steps, got \(wrapped.count)")
        }
        return try unwrapRun(cipher: cipher(OpenSSLCipher.aesWrapPad, kek: kek), kek: kek, wrapped: wrapped)
    }

    private static func cipher(_ table: [Int: OpenSSLCipher], kek: SecretBytes) throws(CryptoError) -> OpenSSLCipher {
        guard let cipher = table[kek.count] else {
            throw CryptoError(.invalidInput, "an AES key-encryption key is 16, 24 or 32 bytes, got \(kek.count)")
        }
        return cipher
    }

    private static func run(
        cipher: OpenSSLCipher, kek: SecretBytes, key: SecretBytes, outputCapacity: Int
    ) throws(CryptoError) -> [UInt8] {
        let context = try prepare(cipher: cipher, kek: kek, encrypt: true)
        var output = [UInt8](repeating: 0, count: outputCapacity)
        var written: Int32 = 0
        let rc = key.withUnsafeBytes { input in
            output.withUnsafeMutableBytes { out in
                sr_cipher_update(context.handle, out.baseAddress, &written, input.baseAddress, Int32(input.count))
            }
        }
        guard rc == 1, Int(written) == outputCapacity else {
            throw CryptoError.openSSL(.libraryFailure, "\(cipher.name) wrap failed")
        }
        return output
    }

    private static func unwrapRun(
        cipher: OpenSSLCipher, kek: SecretBytes, wrapped: [UInt8]
    ) throws(CryptoError) -> SecretBytes {
        let context = try prepare(cipher: cipher, kek: kek, encrypt: false)
        return try SecretBytes(capacity: wrapped.count, filling: { (output) throws(CryptoError) in
            var written: Int32 = 0
            let rc = wrapped.withUnsafeBytes { input in
                sr_cipher_update(context.handle, output.baseAddress, &written, input.baseAddress, Int32(input.count))
            }
            guard rc > 0, written > 0 else {
                _ = drainOpenSSLErrors()
                throw CryptoError(
                    .authenticationFailed,
                    "key unwrap integrity check failed: wrong key-encryption key, or the wrapped key was altered")
            }
            return Int(written)
        })
    }

    private static func prepare(cipher: OpenSSLCipher, kek: SecretBytes, encrypt: Bool) throws(CryptoError) -> CipherContext {
        let handle = try cipher.handle()
        let context = try CipherContext()
        sr_cipher_allow_wrap(context.handle)
        let rc = kek.withUnsafeBytes { key in
            sr_cipher_init(context.handle, handle, key.baseAddress, nil, encrypt ? 1 : 0)
        }
        guard rc == 1 else { throw CryptoError.openSSL(.libraryFailure, "\(cipher.name) setup failed") }
        return context
    }
}
