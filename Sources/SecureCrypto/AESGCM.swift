internal import COpenSSL

/// AES-256-GCM (NIST SP 800-38D) with additional authenticated data, on OpenSSL EVP.
///
/// The IV (GCM's 96-bit nonce) is public: it is stored beside the ciphertext. It must never repeat
/// under one key; Strongroom uses a fresh random data key per sealed share, so one IV per key.
public enum AESGCM {
    /// Key length in bytes.
    public static let keySize = 32
    /// IV length in bytes (96 bits, the length GCM is designed for).
    public static let ivSize = 12
    /// Tag length in bytes.
    public static let tagSize = 16

    /// A ciphertext and its authentication tag.
    public struct Sealed: Sendable, Hashable {
        /// The ciphertext, as long as the plaintext.
        public var ciphertext: [UInt8]
        /// The 16-byte authentication tag.
        public var tag: [UInt8]
        /// Creates a sealed value.
        public init(ciphertext: [UInt8], tag: [UInt8]) {
            self.ciphertext = ciphertext
            self.tag = tag
        }
    }

    /// Encrypts `plaintext` under `key` with `iv`, authenticating `aad` too.
    public static func seal(
        _ plaintext: SecretBytes, key: SecretBytes, iv: [UInt8], aad: [UInt8]
    ) throws(CryptoError) -> Sealed {
        try checkSizes(key: key, iv: iv)
        return try seal(plaintext, key: key, iv: iv, aad: aad, cipher: .aes256GCM)
    }

    /// AES-GCM sealing under a cipher of the key's size (HPKE's AES-128-GCM suite for its test vectors).
    static func seal(
        _ plaintext: SecretBytes, key: SecretBytes, iv: [UInt8], aad: [UInt8], cipher: OpenSSLCipher
    ) throws(CryptoError) -> Sealed {
        let context = try CipherContext()
        try initialise(context, key: key, iv: iv, encrypt: true, cipher: cipher)
        try authenticate(context, aad: aad)
        var ciphertext = [UInt8](repeating: 0, count: plaintext.count)
        if plaintext.count > 0 {
            let ok: Bool = plaintext.withUnsafeBytes { input in
                ciphertext.withUnsafeMutableBytes { output in
                    var written: Int32 = 0
                    let rc = sr_cipher_update(
                        context.handle, output.baseAddress, &written, input.baseAddress, Int32(input.count))
                    return rc == 1 && Int(written) == input.count
                }
            }
            guard ok else { throw CryptoError.openSSL(.libraryFailure, "AES-GCM encryption failed") }
        }
        var finalLength: Int32 = 0
        var scratch = [UInt8](repeating: 0, count: 16)
        guard sr_cipher_final(context.handle, &scratch, &finalLength) == 1, finalLength == 0 else {
            throw CryptoError.openSSL(.libraryFailure, "AES-GCM finalisation failed")
        }
        var tag = [UInt8](repeating: 0, count: tagSize)
        guard sr_gcm_get_tag(context.handle, &tag, Int32(tagSize)) == 1 else {
            throw CryptoError.openSSL(.libraryFailure, "AES-GCM could not produce its tag")
        }
        return Sealed(ciphertext: ciphertext, tag: tag)
    }

    /// Decrypts and verifies. Throws ``CryptoError/Code/authenticationFailed`` when the key, IV, AAD,
    /// ciphertext or tag do not match; no plaintext is released in that case.
    public static func open(
        _ sealed: Sealed, key: SecretBytes, iv: [UInt8], aad: [UInt8]
    ) throws(CryptoError) -> SecretBytes {
        try checkSizes(key: key, iv: iv)
        return try open(sealed, key: key, iv: iv, aad: aad, cipher: .aes256GCM)
    }

    /// AES-GCM opening under a cipher of the key's size (see ``seal(_:key:iv:aad:cipher:)``).
    static func open(
        _ sealed: Sealed, key: SecretBytes, iv: [UInt8], aad: [UInt8], cipher: OpenSSLCipher
    ) throws(CryptoError) -> SecretBytes {
        guard sealed.tag.count == tagSize else {
            throw CryptoError(.authenticationFailed, "AES-GCM tag must be \(tagSize) bytes, got \(sealed.tag.count)")
        }
        let context = try CipherContext()
        try initialise(context, key: key, iv: iv, encrypt: false, cipher: cipher)
        try authenticate(context, aad: aad)
        return try SecretBytes(count: sealed.ciphertext.count, filling: { (output) throws(CryptoError) in
            if sealed.ciphertext.count > 0 {
                var written: Int32 = 0
                let rc = sealed.ciphertext.withUnsafeBytes { input in
                    sr_cipher_update(
                        context.handle, output.baseAddress, &written, input.baseAddress, Int32(input.count))
                }
                guard rc == 1, Int(written) == sealed.ciphertext.count else {
                    throw CryptoError.openSSL(.libraryFailure, "AES-GCM decryption failed")
                }
            }
            guard sealed.tag.withUnsafeBytes({ sr_gcm_set_tag(context.handle, $0.baseAddress, Int32(tagSize)) }) == 1
            else {
                throw CryptoError.openSSL(.libraryFailure, "AES-GCM could not take the expected tag")
            }
            var finalLength: Int32 = 0
            var scratch = [UInt8](repeating: 0, count: 16)
            guard sr_cipher_final(context.handle, &scratch, &finalLength) == 1 else {
                _ = drainOpenSSLErrors()
                throw CryptoError(
                    .authenticationFailed,
                    "AES-GCM tag mismatch: wrong key, or the ciphertext, IV or associated data was altered")
            }
        })
    }

    private static func checkSizes(key: SecretBytes, iv: [UInt8]) throws(CryptoError) {
        guard key.count == keySize else {
            throw CryptoError(.invalidInput, "AES-256-GCM key must be \(keySize) bytes, got \(key.count)")
        }
        guard iv.count == ivSize else {
            throw CryptoError(.invalidInput, "AES-GCM IV must be \(ivSize) bytes, got \(iv.count)")
        }
    }

    private static func initialise(
        _ context: CipherContext, key: SecretBytes, iv: [UInt8], encrypt: Bool, cipher: OpenSSLCipher
    ) throws(CryptoError) {
        let mode: Int32 = encrypt ? 1 : 0
        let cipher = try cipher.handle()
        guard sr_cipher_init(context.handle, cipher, nil, nil, mode) == 1,
            sr_gcm_set_ivlen(context.handle, Int32(iv.count)) == 1
        else { throw CryptoError.openSSL(.libraryFailure, "AES-GCM context setup failed") }
        let rc = key.withUnsafeBytes { keyBytes in
            iv.withUnsafeBytes { ivBytes in
                sr_cipher_init(context.handle, nil, keyBytes.baseAddress, ivBytes.baseAddress, mode)
            }
        }
        guard rc == 1 else { throw CryptoError.openSSL(.libraryFailure, "AES-GCM key setup failed") }
    }

    private static func authenticate(_ context: CipherContext, aad: [UInt8]) throws(CryptoError) {
        guard !aad.isEmpty else { return }
        var written: Int32 = 0
        let rc = aad.withUnsafeBytes { bytes in
            sr_cipher_update(context.handle, nil, &written, bytes.baseAddress, Int32(bytes.count))
        }
        guard rc == 1 else { throw CryptoError.openSSL(.libraryFailure, "AES-GCM could not take the associated data") }
    }
}
