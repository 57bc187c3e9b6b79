#if canImport(Glibc)
import Glibc
#endif
import SecureCrypto
import StrongroomCore

extension StrongroomError.Code {
    /// The vault's root seed is sealed (`local.seal: sealed`): it opens only inside `strongroom serve`,
    /// after custodians unseal it with `strongroom unseal`.
    public static let rootSeedSealed = StrongroomError.Code("root seed sealed", exitStatus: 75)
}

/// A tier 1 root seed sealed to the custodians' key (`local.seal: sealed`): the 32 seed bytes encrypted
/// with HPKE (RFC 9180 base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM) to an X25519
/// public key whose private key exists only as T-of-N passphrase-sealed custodian parts
/// (``RecoveryCustodians``). The file holds no secret without T parts and their passphrases.
///
/// File format, version 1 (151 bytes; docs/server.md, "Sealed seed file"):
/// magic "SRSS" | version u8 = 1 | key fingerprint (32, SHA-256 of the public key) | N u8 | T u8
/// | HPKE enc (32) | HPKE ciphertext (48: 32 seed bytes and the 16-byte tag) | SHA-256 of all before (32).
/// The HPKE `info` is "strongroom sealed root seed v1"; the associated data is the header (bytes 0 … 38).
public struct SealedRootSeed: Sendable, Hashable {
    /// SHA-256 of the custodians' public key; every part of the split names it.
    public let keyFingerprint: [UInt8]
    /// N, the number of custodian parts.
    public let custodians: Int
    /// T, how many parts unseal the seed.
    public let threshold: Int
    let sealed: HPKE.Sealed

    static let magic: [UInt8] = Array("SRSS".utf8)
    static let version: UInt8 = 1
    static let headerSize = 4 + 1 + 32 + 1 + 1  // 39
    static let ciphertextSize = LocalKeyring.rootSeedSize + AESGCM.tagSize  // 48
    static let checksumOffset = headerSize + HPKE.encapsulatedKeySize + ciphertextSize  // 119
    /// The size of a sealed seed file, in bytes.
    public static let size = checksumOffset + 32  // 151
    static let info = Array("strongroom sealed root seed v1".utf8)

    /// Seals `seed` to the custodians' public key (the key `RecoveryCustodians.create` returned).
    public static func seal(
        _ seed: SecretBytes, to key: RecoveryPublicKey, custodians: Int, threshold: Int
    ) throws(StrongroomError) -> SealedRootSeed {
        guard seed.count == LocalKeyring.rootSeedSize else {
            throw StrongroomError(.invalidInput, "a root seed is \(LocalKeyring.rootSeedSize) bytes, this one is \(seed.count)")
        }
        guard threshold >= 2, threshold <= custodians, custodians <= 255 else {
            throw StrongroomError(.invalidInput, "a sealed seed needs 2 <= threshold <= custodians <= 255")
        }
        let header = header(fingerprint: key.fingerprint, custodians: custodians, threshold: threshold)
        let sealed = try StrongroomError.mappingCrypto { () throws(CryptoError) in
            try HPKE.seal(to: key.bytes, info: info, aad: header, plaintext: seed)
        }
        return SealedRootSeed(keyFingerprint: key.fingerprint, custodians: custodians, threshold: threshold, sealed: sealed)
    }

    init(keyFingerprint: [UInt8], custodians: Int, threshold: Int, sealed: HPKE.Sealed) {
        self.keyFingerprint = keyFingerprint
        self.custodians = custodians
        self.threshold = threshold
        self.sealed = sealed
    }

    /// Parses a sealed seed file's bytes (`source` names it in errors, code
    /// ``StrongroomError/Code/wrongRootSeed``).
    public init(fileContents bytes: [UInt8], source: String) throws(StrongroomError) {
        guard SealedRootSeed.isSealed(bytes) else {
            throw StrongroomError(
                .wrongRootSeed,
                bytes.count == LocalKeyring.rootSeedSize
                    ? "root seed file \(source) holds a plain root seed, but local.seal is sealed; seal it with `strongroom seal-seed` or set local.seal: none"
                    : "root seed file \(source) is not a sealed root seed (no 'SRSS' magic)")
        }
        guard bytes[4] == SealedRootSeed.version else {
            throw StrongroomError(.wrongRootSeed, "sealed root seed \(source) is of format version \(bytes[4]); this build reads version 1")
        }
        guard bytes.count == SealedRootSeed.size else {
            throw StrongroomError(
                .wrongRootSeed, "sealed root seed \(source) is \(bytes.count) bytes, a sealed seed is \(SealedRootSeed.size): truncated or corrupted; restore it from a backup")
        }
        guard SHA256.hash(Array(bytes[0..<SealedRootSeed.checksumOffset])) == Array(bytes[SealedRootSeed.checksumOffset...]) else {
            throw StrongroomError(
                .wrongRootSeed, "sealed root seed \(source) is corrupted (its checksum does not match its contents); restore it from a backup")
        }
        let custodians = Int(bytes[37]), threshold = Int(bytes[38])
        guard threshold >= 2, threshold <= custodians else {
            throw StrongroomError(.wrongRootSeed, "sealed root seed \(source) names \(threshold) of \(custodians) parts, which cannot be")
        }
        let encEnd = SealedRootSeed.headerSize + HPKE.encapsulatedKeySize
        self.init(
            keyFingerprint: Array(bytes[5..<37]), custodians: custodians, threshold: threshold,
            sealed: HPKE.Sealed(
                enc: Array(bytes[SealedRootSeed.headerSize..<encEnd]),
                ciphertext: Array(bytes[encEnd..<SealedRootSeed.checksumOffset])))
    }

    /// Whether `bytes` begin as a sealed seed file (its magic), rather than a plain 32-byte seed.
    public static func isSealed(_ bytes: [UInt8]) -> Bool {
        bytes.count >= 5 && Array(bytes[0..<4]) == magic
    }

    /// The file's bytes.
    public var fileContents: [UInt8] {
        var out = SealedRootSeed.header(fingerprint: keyFingerprint, custodians: custodians, threshold: threshold)
        out += sealed.enc + sealed.ciphertext
        return out + SHA256.hash(out)
    }

    /// The custodians' key fingerprint as 64 hex digits in groups of four (as parts and
    /// `strongroom init --sealed` show it).
    public var fingerprintText: String {
        let hex = Array(Hex.encode(keyFingerprint))
        return stride(from: 0, to: hex.count, by: 4).map { String(hex[$0..<min($0 + 4, hex.count)]) }.joined(separator: " ")
    }

    /// Opens the seed with the custodians' private key (rebuilt from T parts). A key of another split,
    /// or an altered file, is ``StrongroomError/Code/wrongRootSeed`` and releases nothing.
    public func open(privateKey: SecretBytes, source: String) throws(StrongroomError) -> SecretBytes {
        let header = SealedRootSeed.header(fingerprint: keyFingerprint, custodians: custodians, threshold: threshold)
        do {
            return try HPKE.open(sealed, privateKey: privateKey, info: SealedRootSeed.info, aad: header)
        } catch where error.code == .authenticationFailed {
            throw StrongroomError(
                .wrongRootSeed,
                "the custodians' key does not open sealed root seed \(source): the parts are of another split, or the file was altered")
        } catch {
            throw StrongroomError(.crypto, "could not open sealed root seed \(source)", underlying: error)
        }
    }

    static func header(fingerprint: [UInt8], custodians: Int, threshold: Int) -> [UInt8] {
        magic + [version] + fingerprint + [UInt8(custodians), UInt8(threshold)]
    }

    /// Reads a sealed seed file (owner-only, not a link; ``SecretFile/openOwnerOnly(_:what:setting:unreadable:)``).
    public static func read(_ path: String) throws(StrongroomError) -> SealedRootSeed {
        let (fd, info) = try SecretFile.openOwnerOnly(
            path, what: "sealed root seed file", setting: "local.rootSeedFile", unreadable: .wrongRootSeed)
        defer { POSIX.close(fd) }
        // A plain seed is never read into an array: its size alone tells it apart.
        guard Int(info.st_size) != LocalKeyring.rootSeedSize else {
            throw StrongroomError(
                .wrongRootSeed,
                "root seed file \(path) holds a plain root seed, but local.seal is sealed; seal it with `strongroom seal-seed` or set local.seal: none")
        }
        guard info.st_size <= 4096 else {
            throw StrongroomError(.wrongRootSeed, "root seed file \(path) is \(info.st_size) bytes; a sealed seed is \(size)")
        }
        var bytes = [UInt8](repeating: 0, count: Int(info.st_size))
        var failure: StrongroomError?
        let read = bytes.withUnsafeMutableBytes { buffer -> Int in
            do { return try POSIX.readFully(fd, into: buffer, path) } catch {
                failure = error as? StrongroomError ?? StrongroomError(.io, "cannot read \(path)", underlying: error)
                return 0
            }
        }
        if let failure { throw failure }
        guard read == bytes.count else {
            throw StrongroomError(.wrongRootSeed, "root seed file \(path) ended early while being read")
        }
        return try SealedRootSeed(fileContents: bytes, source: path)
    }
}

extension POSIX {
    /// Writes all of `bytes` (public bytes only: secrets go through `SecretBytes.withUnsafeBytes`).
    static func writeAll(_ fd: Int32, bytes: [UInt8], _ path: String) throws(StrongroomError) {
        var failure: StrongroomError?
        bytes.withUnsafeBytes { buffer in
            do { try writeAll(fd, buffer, path) } catch {
                failure = error as? StrongroomError ?? StrongroomError(.io, "cannot write \(path)", underlying: error)
            }
        }
        if let failure { throw failure }
    }
}
