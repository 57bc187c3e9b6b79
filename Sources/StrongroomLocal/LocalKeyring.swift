import SecureCrypto
import Synchronization
import StrongroomCore

/// Tier 1 keyring: KEK version *v* = HKDF-SHA256(root seed, salt = vault id, info = "strongroom/tier1/kek/v"),
/// data keys random per share version, wrapped with AES key wrap (RFC 3394), shares sealed with
/// AES-256-GCM, all in process and in locked memory.
public final class LocalKeyring: Keyring {
    /// Always ``Tier/local``.
    public var tier: Tier { .local }
    /// The vault id in hex: tier 1 KEKs belong to one vault's root seed.
    public let kekID: String

    private let vaultID: VaultID
    private let rootSeed: SecretBytes
    private let cache = Mutex<[UInt32: SecretBytes]>([:])

    /// The root seed length in bytes.
    public static let rootSeedSize = 32

    /// Creates a keyring over a root seed (32 bytes) for a vault.
    public init(vaultID: VaultID, rootSeed: SecretBytes) throws(StrongroomError) {
        guard rootSeed.count == LocalKeyring.rootSeedSize else {
            throw StrongroomError(
                .wrongRootSeed, "a root seed is \(LocalKeyring.rootSeedSize) bytes, this one is \(rootSeed.count)")
        }
        self.vaultID = vaultID
        self.rootSeed = rootSeed
        self.kekID = vaultID.hex
    }

    static func kekInfo(version: UInt32) -> [UInt8] { Array("strongroom/tier1/kek/\(version)".utf8) }
    static let seedCheckInfo: [UInt8] = Array("strongroom/tier1/seed-check".utf8)
    static let auditMACInfo: [UInt8] = Array("strongroom/tier1/audit-mac".utf8)

    /// A 16-byte value that proves which root seed a vault was created with, without revealing it.
    func seedCheck() throws(StrongroomError) -> [UInt8] {
        let check = try StrongroomError.mappingCrypto { () throws(CryptoError) in
            try HKDF.deriveKey(ikm: rootSeed, salt: vaultID.bytes, info: LocalKeyring.seedCheckInfo, length: 16)
        }
        return check.withUnsafeBytes { Array($0) }
    }

    func kek(version: UInt32) throws(StrongroomError) -> SecretBytes {
        guard version >= 1 else { throw StrongroomError(.integrityCheckFailed, "KEK version 0 does not exist") }
        if let cached = cache.withLock({ $0[version] }) { return cached }
        let derived = try StrongroomError.mappingCrypto { () throws(CryptoError) in
            try HKDF.deriveKey(
                ikm: rootSeed, salt: vaultID.bytes, info: LocalKeyring.kekInfo(version: version), length: 32)
        }
        cache.withLock { cache in
            // A bounded cache: an altered blob naming a huge version must not grow memory.
            if cache.count < 64 { cache[version] = derived }
        }
        return derived
    }

    public func seal(_ share: SecretBytes, associatedData: [UInt8], kekVersion: UInt32) async throws -> SealedShare {
        let kek = try kek(version: kekVersion)
        return try StrongroomError.mappingCrypto { () throws(CryptoError) in
            let dataKey = try SecureRandom.secretBytes(count: AESGCM.keySize)
            let iv = try SecureRandom.bytes(count: AESGCM.ivSize)
            let sealed = try AESGCM.seal(share, key: dataKey, iv: iv, aad: associatedData)
            let wrapped = try AESKeyWrap.wrap(dataKey, kek: kek)
            return SealedShare(
                kekVersion: kekVersion, wrapMechanism: AESKeyWrap.mechanismRFC3394, wrappedKey: wrapped, iv: iv,
                ciphertext: sealed.ciphertext, tag: sealed.tag)
        }
    }

    /// Seals `share` under the store's `dataKey` and wraps that key with AES key wrap under KEK
    /// version `kekVersion` (a vault with a recovery key).
    public func seal(_ share: SecretBytes, dataKey: SecretBytes, associatedData: [UInt8], kekVersion: UInt32) async throws
        -> SealedShare
    {
        guard dataKey.count == AESGCM.keySize else {
            throw StrongroomError(.invalidInput, "a data key is \(AESGCM.keySize) bytes, got \(dataKey.count)")
        }
        let kek = try kek(version: kekVersion)
        return try StrongroomError.mappingCrypto { () throws(CryptoError) in
            let iv = try SecureRandom.bytes(count: AESGCM.ivSize)
            let sealed = try AESGCM.seal(share, key: dataKey, iv: iv, aad: associatedData)
            let wrapped = try AESKeyWrap.wrap(dataKey, kek: kek)
            return SealedShare(
                kekVersion: kekVersion, wrapMechanism: AESKeyWrap.mechanismRFC3394, wrappedKey: wrapped, iv: iv,
                ciphertext: sealed.ciphertext, tag: sealed.tag)
        }
    }

    public func open(_ sealed: SealedShare, associatedData: [UInt8]) async throws -> SecretBytes {
        let dataKey = try unwrapDataKey(sealed)
        return try sealed.openCiphertext(dataKey: dataKey, associatedData: associatedData)
    }

    public func rewrap(_ sealed: SealedShare, associatedData: [UInt8], to target: UInt32) async throws -> SealedShare {
        let dataKey = try unwrapDataKey(sealed)
        // Prove the data key opens this ciphertext before committing it under the new KEK.
        _ = try sealed.openCiphertext(dataKey: dataKey, associatedData: associatedData)
        let newKEK = try kek(version: target)
        var rewrapped = sealed
        rewrapped.kekVersion = target
        rewrapped.wrappedKey = try StrongroomError.mappingCrypto { () throws(CryptoError) in try AESKeyWrap.wrap(dataKey, kek: newKEK) }
        let check = try unwrapDataKey(rewrapped)
        guard check == dataKey else {
            throw StrongroomError(.crypto, "rewrapped data key did not round-trip; the share was left as it was")
        }
        return rewrapped
    }

    /// The audit checkpoint key: HMAC-SHA256 under HKDF-SHA256(root seed, salt = vault id (16 bytes),
    /// info = "strongroom/tier1/audit-mac", 32 bytes) — the KEKs' salt convention, its own label.
    public func auditKey() async throws -> (any AuditMACKey)? {
        let key = try StrongroomError.mappingCrypto { () throws(CryptoError) in
            try HKDF.deriveKey(ikm: rootSeed, salt: vaultID.bytes, info: LocalKeyring.auditMACInfo, length: 32)
        }
        return LocalAuditMACKey(key: key)
    }

    /// Tier 1 KEKs are derived, not stored: nothing to create.
    public func prepareKEK(version: UInt32) async throws {}

    /// Tier 1 KEKs are derived from the root seed, so old versions cannot be destroyed apart from it;
    /// this drops them from the cache. See docs/security.md.
    public func retireKEKs(olderThan version: UInt32) async throws {
        cache.withLock { cache in cache = cache.filter { $0.key >= version } }
    }

    private func unwrapDataKey(_ sealed: SealedShare) throws(StrongroomError) -> SecretBytes {
        guard sealed.wrapMechanism == AESKeyWrap.mechanismRFC3394 else {
            throw StrongroomError(
                .integrityCheckFailed,
                "wrap mechanism 0x\(String(sealed.wrapMechanism, radix: 16)) is not tier 1's AES key wrap (0x2109)")
        }
        guard sealed.wrappedKey.count == AESGCM.keySize + 8 else {
            throw StrongroomError(
                .integrityCheckFailed, "a tier 1 wrapped data key is 40 bytes, this one is \(sealed.wrappedKey.count)")
        }
        let kek = try kek(version: sealed.kekVersion)
        do {
            return try AESKeyWrap.unwrap(sealed.wrappedKey, kek: kek)
        } catch where error.code == .authenticationFailed {
            throw StrongroomError(
                .integrityCheckFailed,
                "the data key did not unwrap under KEK version \(sealed.kekVersion): the blob was altered or sealed under another root seed")
        } catch {
            throw StrongroomError(.crypto, "data key unwrap failed", cause: error.description)
        }
    }
}

/// Tier 1's audit MAC key (docs/audit.md): HMAC-SHA256 in process, the key in locked memory only.
struct LocalAuditMACKey: AuditMACKey {
    let key: SecretBytes

    var description: String {
        "tier1 HKDF-SHA256(root seed, salt = vault id, info = \"strongroom/tier1/audit-mac\", 32 bytes)"
    }

    var algorithm: String { "HMAC-SHA256" }

    func mac(_ message: [UInt8]) async throws -> [UInt8] {
        HMACSHA256.mac(key: key, message: message)
    }

    func verify(_ message: [UInt8], mac: [UInt8]) async throws -> Bool {
        let expected = HMACSHA256.mac(key: key, message: message)
        guard expected.count == mac.count else { return false }
        var difference: UInt8 = 0
        for (a, b) in zip(expected, mac) { difference |= a ^ b }
        return difference == 0
    }
}
