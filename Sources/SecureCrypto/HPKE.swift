/// Hybrid Public Key Encryption (RFC 9180), base mode, with the KEM DHKEM(X25519, HKDF-SHA256) and
/// the KDF HKDF-SHA256, built on OpenSSL's X25519, HKDF and AES-GCM. Strongroom seals each share
/// version's data key to a vault's recovery key with the AES-256-GCM AEAD (docs/format.md); the
/// AES-128-GCM AEAD exists for the RFC's Appendix A.1 known answers.
///
/// Shared secrets, the key schedule's secret and the AEAD key live in ``SecretBytes``. The AEAD
/// nonce is not kept secret: like a GCM IV it only has to be unique per key, and a one-shot seal uses
/// each key once.
public enum HPKE {
    /// The AEAD of a suite (RFC 9180 section 7.3).
    public enum AEAD: UInt16, Sendable {
        /// AES-128-GCM (0x0001).
        case aes128GCM = 0x0001
        /// AES-256-GCM (0x0002).
        case aes256GCM = 0x0002

        var keySize: Int { self == .aes128GCM ? 16 : 32 }
        var cipher: OpenSSLCipher { self == .aes128GCM ? .aes128GCM : .aes256GCM }
    }

    /// DHKEM(X25519, HKDF-SHA256).
    public static let kemID: UInt16 = 0x0020
    /// HKDF-SHA256.
    public static let kdfID: UInt16 = 0x0001
    /// The size of `enc` (the ephemeral public key).
    public static let encapsulatedKeySize = 32
    static let nonceSize = 12
    static let version = Array("HPKE-v1".utf8)

    /// A one-shot seal: the encapsulated key and the AEAD output (ciphertext, then the 16-byte tag).
    public struct Sealed: Sendable, Hashable {
        /// The encapsulated key `enc` (32 bytes).
        public var enc: [UInt8]
        /// The ciphertext followed by the tag.
        public var ciphertext: [UInt8]
        /// Creates a sealed value.
        public init(enc: [UInt8], ciphertext: [UInt8]) {
            self.enc = enc
            self.ciphertext = ciphertext
        }
    }

    /// Seals `plaintext` to `publicKey` (RFC 9180 section 6.1, `SealBase`) with a fresh ephemeral key.
    public static func seal(
        to publicKey: [UInt8], info: [UInt8], aad: [UInt8], plaintext: SecretBytes, aead: AEAD = .aes256GCM
    ) throws(CryptoError) -> Sealed {
        try seal(to: publicKey, info: info, aad: aad, plaintext: plaintext, aead: aead, ephemeralKey: X25519.generatePrivateKey())
    }

    /// `SealBase` with a given ephemeral private key (known-answer tests).
    static func seal(
        to publicKey: [UInt8], info: [UInt8], aad: [UInt8], plaintext: SecretBytes, aead: AEAD, ephemeralKey: SecretBytes
    ) throws(CryptoError) -> Sealed {
        let (sharedSecret, enc) = try encapsulate(to: publicKey, ephemeralKey: ephemeralKey)
        let context = try keySchedule(sharedSecret: sharedSecret, info: info, aead: aead)
        return Sealed(enc: enc, ciphertext: try context.seal(sequence: 0, aad: aad, plaintext: plaintext))
    }

    /// Opens what ``seal(to:info:aad:plaintext:aead:)`` sealed (`OpenBase`). Any mismatch — another
    /// private key, `info`, `aad`, an altered `enc` or ciphertext — is
    /// ``CryptoError/Code/authenticationFailed`` and releases nothing.
    public static func open(
        _ sealed: Sealed, privateKey: SecretBytes, info: [UInt8], aad: [UInt8], aead: AEAD = .aes256GCM
    ) throws(CryptoError) -> SecretBytes {
        let sharedSecret: SecretBytes
        do {
            sharedSecret = try decapsulate(sealed.enc, privateKey: privateKey)
        } catch where error.code == .invalidInput {
            throw CryptoError(.authenticationFailed, "HPKE: the encapsulated key is not usable (\(error.reason))")
        }
        let context = try keySchedule(sharedSecret: sharedSecret, info: info, aead: aead)
        return try context.open(sequence: 0, aad: aad, ciphertext: sealed.ciphertext)
    }

    // MARK: DHKEM(X25519, HKDF-SHA256), RFC 9180 section 4.1

    static let kemSuiteID = Array("KEM".utf8) + bigEndian(kemID)

    /// `DeriveKeyPair(ikm)` for X25519 (section 7.1.3): the private key and its public key.
    static func deriveKeyPair(ikm: SecretBytes) throws(CryptoError) -> (privateKey: SecretBytes, publicKey: [UInt8]) {
        let prk = try labeledExtract(salt: nil, label: "dkp_prk", ikm: ikm, suite: kemSuiteID)
        let privateKey = try labeledExpand(prk, label: "sk", info: [], length: 32, suite: kemSuiteID)
        return (privateKey, try X25519.publicKey(of: privateKey))
    }

    /// `Encap(pkR)` with the ephemeral private key given: the shared secret and `enc`.
    static func encapsulate(to publicKey: [UInt8], ephemeralKey: SecretBytes) throws(CryptoError) -> (SecretBytes, [UInt8]) {
        guard publicKey.count == X25519.keySize else {
            throw CryptoError(.invalidInput, "an HPKE X25519 recipient key is 32 bytes, got \(publicKey.count)")
        }
        let (dh, enc) = try X25519.agreement(privateKey: ephemeralKey, publicKey: publicKey)
        return (try extractAndExpand(dh: dh, kemContext: enc + publicKey), enc)
    }

    /// `Decap(enc, skR)`: the shared secret.
    static func decapsulate(_ enc: [UInt8], privateKey: SecretBytes) throws(CryptoError) -> SecretBytes {
        guard enc.count == encapsulatedKeySize else {
            throw CryptoError(.invalidInput, "an HPKE encapsulated key is \(encapsulatedKeySize) bytes, got \(enc.count)")
        }
        let (dh, recipient) = try X25519.agreement(privateKey: privateKey, publicKey: enc)
        return try extractAndExpand(dh: dh, kemContext: enc + recipient)
    }

    private static func extractAndExpand(dh: SecretBytes, kemContext: [UInt8]) throws(CryptoError) -> SecretBytes {
        let prk = try labeledExtract(salt: nil, label: "eae_prk", ikm: dh, suite: kemSuiteID)
        return try labeledExpand(prk, label: "shared_secret", info: kemContext, length: 32, suite: kemSuiteID)
    }

    // MARK: Key schedule, section 5.1 (mode_base: no PSK)

    /// The encryption context of a key schedule: the AEAD key, the base nonce and the exporter secret.
    struct Context {
        let aead: AEAD
        let key: SecretBytes
        let baseNonce: [UInt8]
        let exporterSecret: SecretBytes

        /// `base_nonce XOR I2OSP(seq, Nn)` (section 5.2).
        func nonce(sequence: UInt64) -> [UInt8] {
            var nonce = baseNonce
            for index in 0..<8 { nonce[nonceSize - 1 - index] ^= UInt8(truncatingIfNeeded: sequence >> (8 * UInt64(index))) }
            return nonce
        }

        func seal(sequence: UInt64, aad: [UInt8], plaintext: SecretBytes) throws(CryptoError) -> [UInt8] {
            let sealed = try AESGCM.seal(plaintext, key: key, iv: nonce(sequence: sequence), aad: aad, cipher: aead.cipher)
            return sealed.ciphertext + sealed.tag
        }

        func open(sequence: UInt64, aad: [UInt8], ciphertext: [UInt8]) throws(CryptoError) -> SecretBytes {
            guard ciphertext.count >= AESGCM.tagSize else {
                throw CryptoError(.authenticationFailed, "HPKE ciphertext is shorter than its tag")
            }
            let split = ciphertext.count - AESGCM.tagSize
            let sealed = AESGCM.Sealed(ciphertext: Array(ciphertext[..<split]), tag: Array(ciphertext[split...]))
            return try AESGCM.open(sealed, key: key, iv: nonce(sequence: sequence), aad: aad, cipher: aead.cipher)
        }

        /// `Context.Export(exporter_context, L)` (section 5.3).
        func export(context: [UInt8], length: Int) throws(CryptoError) -> SecretBytes {
            try labeledExpand(exporterSecret, label: "sec", info: context, length: length, suite: HPKE.suiteID(aead))
        }
    }

    static func suiteID(_ aead: AEAD) -> [UInt8] {
        Array("HPKE".utf8) + bigEndian(kemID) + bigEndian(kdfID) + bigEndian(aead.rawValue)
    }

    /// `KeySchedule(mode_base, shared_secret, info, "", "")`; also returns `key_schedule_context`.
    static func keySchedule(sharedSecret: SecretBytes, info: [UInt8], aead: AEAD) throws(CryptoError) -> Context {
        try keyScheduleWithContext(sharedSecret: sharedSecret, info: info, aead: aead).context
    }

    static func keyScheduleWithContext(
        sharedSecret: SecretBytes, info: [UInt8], aead: AEAD
    ) throws(CryptoError) -> (context: Context, keyScheduleContext: [UInt8], secret: SecretBytes) {
        let suite = suiteID(aead)
        let empty = try SecretBytes(count: 0, filling: { (_) throws(CryptoError) in })
        let pskIDHash = try publicBytes(labeledExtract(salt: nil, label: "psk_id_hash", ikm: empty, suite: suite))
        let infoHash = try publicBytes(labeledExtract(salt: nil, label: "info_hash", ikm: try secretCopy(info), suite: suite))
        let keyScheduleContext = [UInt8(0)] + pskIDHash + infoHash  // mode_base = 0x00
        let secret = try labeledExtract(salt: sharedSecret, label: "secret", ikm: empty, suite: suite)
        let key = try labeledExpand(secret, label: "key", info: keyScheduleContext, length: aead.keySize, suite: suite)
        let baseNonce = try publicBytes(
            labeledExpand(secret, label: "base_nonce", info: keyScheduleContext, length: nonceSize, suite: suite))
        let exporterSecret = try labeledExpand(secret, label: "exp", info: keyScheduleContext, length: 32, suite: suite)
        return (
            Context(aead: aead, key: key, baseNonce: baseNonce, exporterSecret: exporterSecret), keyScheduleContext, secret
        )
    }

    // MARK: Labeled HKDF, section 4

    /// `LabeledExtract(salt, label, ikm)` = HKDF-Extract(salt, "HPKE-v1" || suite_id || label || ikm).
    /// A nil salt is the empty string. The salt is a secret where the schedule uses one (the shared secret).
    static func labeledExtract(
        salt: SecretBytes?, label: String, ikm: SecretBytes, suite: [UInt8]
    ) throws(CryptoError) -> SecretBytes {
        let prefix = version + suite + Array(label.utf8)
        let labeledIKM = try SecretBytes(count: prefix.count + ikm.count, filling: { (out) throws(CryptoError) in
            prefix.withUnsafeBytes { out.copyMemory(from: $0) }
            ikm.withUnsafeBytes { bytes in
                if bytes.count > 0 {
                    UnsafeMutableRawBufferPointer(rebasing: out[prefix.count...]).copyMemory(from: bytes)
                }
            }
        })
        guard let salt else { return try HKDF.extract(ikm: labeledIKM, salt: []) }
        // HKDF-Extract is HMAC-SHA256 keyed by the salt (RFC 5869 section 2.2). With a secret salt the
        // schedule's ikm is the empty PSK, so the labeled ikm is public labels only.
        precondition(ikm.count == 0, "a salted LabeledExtract takes the empty PSK only")
        return try labeledIKM.withUnsafeBytes { (bytes) throws(CryptoError) in
            try HMACSHA256.derive(key: salt, message: Array(bytes))
        }
    }

    /// `LabeledExpand(prk, label, info, L)` = HKDF-Expand(prk, I2OSP(L, 2) || "HPKE-v1" || suite_id || label || info, L).
    static func labeledExpand(
        _ prk: SecretBytes, label: String, info: [UInt8], length: Int, suite: [UInt8]
    ) throws(CryptoError) -> SecretBytes {
        let labeledInfo = bigEndian(UInt16(length)) + version + suite + Array(label.utf8) + info
        return try HKDF.expand(prk: prk, info: labeledInfo, length: length)
    }

    private static func bigEndian(_ value: UInt16) -> [UInt8] { [UInt8(value >> 8), UInt8(value & 0xFF)] }

    private static func publicBytes(_ secret: SecretBytes) -> [UInt8] { secret.withUnsafeBytes { Array($0) } }

    private static func secretCopy(_ bytes: [UInt8]) throws(CryptoError) -> SecretBytes {
        let raw = UnsafeMutableRawBufferPointer.allocate(byteCount: bytes.count, alignment: 1)
        defer { raw.deallocate() }
        raw.copyBytes(from: bytes)
        return try SecretBytes(copying: UnsafeRawBufferPointer(raw))
    }
}
