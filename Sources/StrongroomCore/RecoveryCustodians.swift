import SecureCrypto

/// The recovery key pair held by custodians: the private key split with Shamir's secret sharing into N
/// parts of which any T rebuild it, each part sealed under its own custodian's passphrase (Argon2id and
/// AES-256-GCM). The whole private key exists only in ``SecretBytes`` while the parts are made or
/// combined; no part file holds it. The part file format is in docs/recovery.md ("Custodian parts").
public enum RecoveryCustodians {
    /// The Argon2id limits `create` uses unless told otherwise: 3 passes over 64 MiB (about 0.1 to 0.3 s
    /// per part on a server core; an attacker pays the same for every passphrase guessed).
    public static let defaultKDFLimits = Argon2id.Limits(opslimit: 3, memlimit: 64 << 20)
    /// The weakest limits a part may name: `create` refuses weaker ones, and `combine` refuses a part that
    /// names them, so that editing a part's header cannot lower the cost of guessing its passphrase (the
    /// header is also bound to the ciphertext, so an edited part no longer opens anyway).
    public static let minimumKDFLimits = Argon2id.Limits(opslimit: 3, memlimit: 64 << 20)
    /// The strongest limits a part may name: a part asking for more (up to 4 GiB and 64 passes) is
    /// refused before any memory is allocated, so a crafted part cannot exhaust the machine.
    public static let maximumKDFLimits = Argon2id.Limits(opslimit: 64, memlimit: 4 << 30)
    /// The shortest passphrase `create` accepts, in bytes (UTF-8).
    public static let minimumPassphraseLength = 12
    /// The longest passphrase accepted, in bytes.
    public static let maximumPassphraseLength = 1024

    /// What a part file says about itself, readable without its passphrase. Not secret.
    public struct PartInfo: Sendable, Hashable {
        /// SHA-256 of the recovery public key the part belongs to.
        public let keyFingerprint: [UInt8]
        /// This part's index, 1 … ``custodians``.
        public let index: Int
        /// How many parts the key was split into (N).
        public let custodians: Int
        /// How many parts rebuild the key (T).
        public let threshold: Int
        /// The Argon2id limits the part's passphrase key was derived with.
        public let kdfLimits: Argon2id.Limits
    }

    /// Generates a recovery key pair, splits the private key into `custodians` parts of which any
    /// `threshold` rebuild it (2 ≤ threshold ≤ custodians ≤ 255), and seals part i under
    /// `passphrase(i)` (i = 1 … custodians; at least ``minimumPassphraseLength`` bytes). Returns the
    /// public key and the bytes of the part files, part 1 first. Nothing is written anywhere.
    public static func create(
        custodians: Int, threshold: Int, kdfLimits: Argon2id.Limits = defaultKDFLimits,
        passphrase: (Int) async throws -> SecretBytes
    ) async throws -> (publicKey: RecoveryPublicKey, parts: [[UInt8]]) {
        guard threshold >= 2, threshold <= custodians, custodians <= 255 else {
            throw StrongroomError(
                .invalidInput,
                "custodian parts need 2 <= threshold <= custodians <= 255, got a threshold of \(threshold) with \(custodians) custodians")
        }
        try checkLimits(kdfLimits, source: "the requested key derivation", code: .invalidInput)
        let privateKey = try StrongroomError.mappingCrypto { () throws(CryptoError) in try X25519.generatePrivateKey() }
        let publicKey = try RecoveryPublicKey(privateKey: privateKey)
        let shares = try StrongroomError.mappingCrypto { () throws(CryptoError) in
            try Shamir.split(privateKey, threshold: threshold, parts: custodians)
        }
        var files: [[UInt8]] = []
        for share in shares {
            let index = Int(share.index)
            let secret = try await passphrase(index)
            guard secret.count >= minimumPassphraseLength, secret.count <= maximumPassphraseLength else {
                throw StrongroomError(
                    .invalidInput,
                    "the passphrase for custodian \(index) is \(secret.count) bytes; it must be \(minimumPassphraseLength) to \(maximumPassphraseLength) bytes")
            }
            let info = PartInfo(
                keyFingerprint: publicKey.fingerprint, index: index, custodians: custodians, threshold: threshold,
                kdfLimits: kdfLimits)
            files.append(try seal(share.value, info: info, passphrase: secret))
        }
        return (publicKey, files)
    }

    /// Opens each part with `passphrase(source)` and rebuilds the recovery private key from them. The
    /// parts must all name the same key, N and T, have distinct indices and be at least T; every part
    /// given is used, and the rebuilt key's public key must have the fingerprint the parts name.
    /// Headers are checked before any passphrase is asked. Errors name the part by its `source`:
    /// ``StrongroomError/Code/recoveryPartsInsufficient`` (fewer than T),
    /// ``StrongroomError/Code/recoveryPassphraseRejected`` (wrong passphrase for an intact part),
    /// ``StrongroomError/Code/recoveryPartRejected`` (not a part, truncated, corrupted, of another key, a
    /// duplicate, limits out of bounds, or parts that do not rebuild the key).
    public static func combine(
        parts: [(source: String, bytes: [UInt8])], passphrase: (String) async throws -> SecretBytes
    ) async throws -> (privateKey: SecretBytes, publicKey: RecoveryPublicKey) {
        guard let first = parts.first else {
            throw StrongroomError(.recoveryPartsInsufficient, "no custodian parts were given")
        }
        let infos = try parts.map { try inspect($0.bytes, source: $0.source) }
        let reference = infos[0]
        var indices: [Int: String] = [:]
        for (part, info) in zip(parts, infos) {
            guard info.keyFingerprint == reference.keyFingerprint else {
                throw StrongroomError(
                    .recoveryPartRejected,
                    "\(part.source) is a part of another recovery key (\(short(info.keyFingerprint))) than \(first.source) (\(short(reference.keyFingerprint))); give parts of one key only")
            }
            guard info.custodians == reference.custodians, info.threshold == reference.threshold else {
                throw StrongroomError(
                    .recoveryPartRejected,
                    "\(part.source) says \(info.threshold) of \(info.custodians) parts but \(first.source) says \(reference.threshold) of \(reference.custodians): corrupted, or of another split")
            }
            if let other = indices[info.index] {
                throw StrongroomError(
                    .recoveryPartRejected,
                    "\(part.source) and \(other) are the same part (index \(info.index) of \(info.custodians)); give each part once")
            }
            indices[info.index] = part.source
        }
        guard parts.count >= reference.threshold else {
            throw StrongroomError(
                .recoveryPartsInsufficient,
                "\(reference.threshold) of the \(reference.custodians) custodian parts are needed to rebuild recovery key \(short(reference.keyFingerprint)); got \(parts.count) (\(parts.map { $0.source }.joined(separator: ", ")))")
        }
        var shares: [Shamir.Part] = []
        for (part, info) in zip(parts, infos) {
            let secret = try await passphrase(part.source)
            let value = try open(part.bytes, info: info, passphrase: secret, source: part.source)
            shares.append(Shamir.Part(index: UInt8(info.index), value: value))
        }
        let privateKey = try StrongroomError.mappingCrypto { () throws(CryptoError) in
            try Shamir.combine(shares, minimumParts: reference.threshold)
        }
        let publicKey = try RecoveryPublicKey(privateKey: privateKey)
        guard publicKey.fingerprint == reference.keyFingerprint else {
            throw StrongroomError(
                .recoveryPartRejected,
                "the parts \(parts.map { $0.source }.joined(separator: ", ")) opened but do not rebuild recovery key \(short(reference.keyFingerprint)): one of them was sealed with a wrong value; try another set of \(reference.threshold)")
        }
        return (privateKey, publicKey)
    }

    /// Reads a part file's header without its passphrase (and checks its length, checksum and limits).
    /// `source` names the file in errors.
    public static func inspect(_ bytes: [UInt8], source: String) throws(StrongroomError) -> PartInfo {
        guard bytes.count >= 5, Array(bytes[0..<4]) == PartLayout.magic else {
            throw StrongroomError(.recoveryPartRejected, "\(source) is not a Strongroom custodian part (no 'SRRP' magic)")
        }
        guard bytes[4] == PartLayout.version else {
            throw StrongroomError(
                .recoveryPartRejected, "\(source) is a custodian part of format version \(bytes[4]), this build reads version 1")
        }
        guard bytes.count == PartLayout.size else {
            throw StrongroomError(
                .recoveryPartRejected,
                "\(source) is \(bytes.count) bytes, a custodian part is \(PartLayout.size): truncated or corrupted; use another custodian's part")
        }
        let body = Array(bytes[0..<PartLayout.checksumOffset])
        guard SHA256.hash(body) == Array(bytes[PartLayout.checksumOffset...]) else {
            throw StrongroomError(
                .recoveryPartRejected,
                "\(source) is corrupted (its checksum does not match its contents); use another custodian's part")
        }
        var reader = PartFieldReader(bytes: bytes, offset: 5)
        let fingerprint = reader.take(32)
        let index = Int(reader.byte()), custodians = Int(reader.byte()), threshold = Int(reader.byte())
        let kdf = reader.byte()
        let limits = Argon2id.Limits(opslimit: UInt64(reader.uint32()), memlimit: reader.uint64())
        guard index >= 1, index <= custodians, threshold >= 2, threshold <= custodians else {
            throw StrongroomError(
                .recoveryPartRejected,
                "\(source) names part \(index) of \(custodians) with a threshold of \(threshold), which cannot be; the part is corrupted")
        }
        guard kdf == PartLayout.kdfArgon2id else {
            throw StrongroomError(.recoveryPartRejected, "\(source) names an unknown key derivation (\(kdf))")
        }
        try checkLimits(limits, source: source, code: .recoveryPartRejected)
        return PartInfo(
            keyFingerprint: fingerprint, index: index, custodians: custodians, threshold: threshold, kdfLimits: limits)
    }

    // MARK: - Sealing and opening

    private static func seal(_ value: SecretBytes, info: PartInfo, passphrase: SecretBytes) throws -> [UInt8] {
        let salt = try StrongroomError.mappingCrypto { () throws(CryptoError) in try SecureRandom.bytes(count: Argon2id.saltSize) }
        let iv = try StrongroomError.mappingCrypto { () throws(CryptoError) in try SecureRandom.bytes(count: AESGCM.ivSize) }
        let header = PartLayout.header(info, salt: salt)
        let sealed = try StrongroomError.mappingCrypto { () throws(CryptoError) in
            let key = try Argon2id.deriveKey(passphrase: passphrase, salt: salt, limits: info.kdfLimits)
            return try AESGCM.seal(value, key: key, iv: iv, aad: header)
        }
        var file = header + iv + sealed.ciphertext + sealed.tag
        file += SHA256.hash(file)
        return file
    }

    static func open(
        _ bytes: [UInt8], info: PartInfo, passphrase: SecretBytes, source: String
    ) throws(StrongroomError) -> SecretBytes {
        let header = Array(bytes[0..<PartLayout.headerSize])
        let salt = Array(bytes[(PartLayout.headerSize - Argon2id.saltSize)..<PartLayout.headerSize])
        var reader = PartFieldReader(bytes: bytes, offset: PartLayout.headerSize)
        let iv = reader.take(AESGCM.ivSize)
        let sealed = AESGCM.Sealed(ciphertext: reader.take(X25519.keySize), tag: reader.take(AESGCM.tagSize))
        let key: SecretBytes
        do {
            key = try Argon2id.deriveKey(passphrase: passphrase, salt: salt, limits: info.kdfLimits)
        } catch {
            throw StrongroomError(.crypto, "could not derive the key of \(source) (\(info.kdfLimits))", underlying: error)
        }
        do {
            return try AESGCM.open(sealed, key: key, iv: iv, aad: header)
        } catch let error as CryptoError where error.code == .authenticationFailed {
            // The checksum matched, so the bytes are as written (unless edited on purpose, checksum and
            // all): the passphrase is what differs.
            throw StrongroomError(
                .recoveryPassphraseRejected,
                "the passphrase does not open \(source) (part \(info.index) of \(info.custodians)): a wrong passphrase (the file is as written, its checksum matches), or a part edited on purpose; ask its custodian again")
        } catch {
            throw StrongroomError(.crypto, "could not open \(source)", underlying: error)
        }
    }

    private static func checkLimits(
        _ limits: Argon2id.Limits, source: String, code: StrongroomError.Code
    ) throws(StrongroomError) {
        guard limits.opslimit >= minimumKDFLimits.opslimit, limits.memlimit >= minimumKDFLimits.memlimit else {
            throw StrongroomError(
                code,
                "\(source) asks for Argon2id \(limits), weaker than the minimum \(minimumKDFLimits); refused so that a part's cost cannot be lowered")
        }
        guard limits.opslimit <= maximumKDFLimits.opslimit, limits.memlimit <= maximumKDFLimits.memlimit,
            limits.memlimit % 1024 == 0
        else {
            throw StrongroomError(
                code,
                "\(source) asks for Argon2id \(limits), beyond the maximum \(maximumKDFLimits) (or not whole KiB); refused rather than exhaust this machine")
        }
    }

    static func short(_ fingerprint: [UInt8]) -> String { String(Hex.encode(fingerprint).prefix(16)) }
}

/// The byte layout of a custodian part file, version 1 (docs/recovery.md, "Custodian parts"):
/// magic "SRRP" | version u8 = 1 | key fingerprint (32) | index u8 | N u8 | T u8 | KDF id u8 = 1
/// | opslimit u32 | memlimit u64 | salt (16) | IV (12) | ciphertext (32) | tag (16) | SHA-256 of all before (32).
/// Integers big-endian; the AES-256-GCM associated data is the header (everything before the IV).
enum PartLayout {
    static let magic: [UInt8] = Array("SRRP".utf8)
    static let version: UInt8 = 1
    static let kdfArgon2id: UInt8 = 1
    static let headerSize = 4 + 1 + 32 + 3 + 1 + 4 + 8 + Argon2id.saltSize  // 69
    static let checksumOffset = headerSize + AESGCM.ivSize + X25519.keySize + AESGCM.tagSize  // 129
    static let size = checksumOffset + 32  // 161

    static func header(_ info: RecoveryCustodians.PartInfo, salt: [UInt8]) -> [UInt8] {
        var out = magic + [version] + info.keyFingerprint
        out += [UInt8(info.index), UInt8(info.custodians), UInt8(info.threshold), kdfArgon2id]
        out += (0..<4).reversed().map { UInt8(truncatingIfNeeded: info.kdfLimits.opslimit >> (8 * UInt64($0))) }
        out += (0..<8).reversed().map { UInt8(truncatingIfNeeded: info.kdfLimits.memlimit >> (8 * UInt64($0))) }
        return out + salt
    }
}

/// Reads fields of a buffer whose length was already checked.
private struct PartFieldReader {
    let bytes: [UInt8]
    var offset: Int

    mutating func take(_ count: Int) -> [UInt8] {
        defer { offset += count }
        return Array(bytes[offset..<(offset + count)])
    }

    mutating func byte() -> UInt8 { take(1)[0] }
    mutating func uint32() -> UInt32 { take(4).reduce(0) { $0 << 8 | UInt32($1) } }
    mutating func uint64() -> UInt64 { take(8).reduce(0) { $0 << 8 | UInt64($1) } }
}

extension StrongroomError.Code {
    /// A custodian part was refused: not a part, truncated, corrupted, a part of another recovery key or
    /// split, given twice, asking for key-derivation limits out of bounds, or parts that open but do not
    /// rebuild the key. The error names the part file. Nothing was rebuilt.
    public static let recoveryPartRejected = StrongroomError.Code("recovery part rejected", exitStatus: 65)
    /// A custodian's passphrase does not open their (intact) part. The error names the part file.
    public static let recoveryPassphraseRejected = StrongroomError.Code("recovery passphrase rejected", exitStatus: 77)
    /// Fewer custodian parts were given than the threshold; the error says how many are needed.
    public static let recoveryPartsInsufficient = StrongroomError.Code("not enough recovery parts", exitStatus: 66)
}
