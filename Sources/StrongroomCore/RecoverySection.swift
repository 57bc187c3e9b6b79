import SecureCrypto

/// Key section kind 2 of a v2 envelope: the share version's data key sealed to the vault's recovery
/// public key with HPKE (RFC 9180 base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM).
/// Public bytes only. Specified in docs/format.md ("Format version 2").
struct RecoverySection: Sendable, Hashable {
    static let kind: UInt8 = 2
    /// kem id, kdf id, aead id (2 each), fingerprint (32), enc (32), sealed data key (32 + 16).
    static let bodySize = 6 + 32 + HPKE.encapsulatedKeySize + sealedDataKeySize
    static let sealedDataKeySize = 32 + 16
    static let aeadID = HPKE.AEAD.aes256GCM.rawValue
    /// The HPKE `info` prefix; the info binds vault id, share id and share version after it.
    static let infoLabel: [UInt8] = Array("strongroom/recovery/v2".utf8)

    /// SHA-256 of the recovery public key the data key is sealed to.
    var fingerprint: [UInt8]
    /// HPKE `enc`: the ephemeral X25519 public key.
    var enc: [UInt8]
    /// The 32-byte data key sealed by HPKE (ciphertext and tag).
    var sealedDataKey: [UInt8]

    init(fingerprint: [UInt8], enc: [UInt8], sealedDataKey: [UInt8]) {
        self.fingerprint = fingerprint
        self.enc = enc
        self.sealedDataKey = sealedDataKey
    }

    /// Parses a section body; anything but the one suite and the fixed sizes is malformed.
    init(body: [UInt8]) throws(ByteReader.Malformed) {
        var input = ByteReader(body)
        let kem = try input.readU16()
        let kdf = try input.readU16()
        let aead = try input.readU16()
        guard kem == HPKE.kemID, kdf == HPKE.kdfID, aead == RecoverySection.aeadID else {
            throw ByteReader.Malformed(
                "recovery section suite (kem 0x\(String(kem, radix: 16)), kdf 0x\(String(kdf, radix: 16)), aead 0x\(String(aead, radix: 16))) is not DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM")
        }
        fingerprint = try input.read(32)
        enc = try input.read(HPKE.encapsulatedKeySize)
        sealedDataKey = try input.read(RecoverySection.sealedDataKeySize)
        guard input.isAtEnd else { throw ByteReader.Malformed("trailing bytes in the recovery section") }
    }

    /// kind | body length | body.
    func serialized() -> [UInt8] {
        var out = ByteWriter()
        out.append(RecoverySection.kind)
        out.append(UInt16(RecoverySection.bodySize))
        out.append(HPKE.kemID)
        out.append(HPKE.kdfID)
        out.append(RecoverySection.aeadID)
        out.append(fingerprint)
        out.append(enc)
        out.append(sealedDataKey)
        return out.bytes
    }

    /// The HPKE info: "strongroom/recovery/v2" || vault id || share id length || share id || share version.
    static func info(vaultID: VaultID, shareID: ShareID, shareVersion: UInt64) -> [UInt8] {
        var out = ByteWriter()
        out.append(infoLabel)
        out.append(vaultID.bytes)
        out.append(UInt8(shareID.rawValue.utf8.count))
        out.append(Array(shareID.rawValue.utf8))
        out.append(shareVersion)
        return out.bytes
    }

    /// Seals `dataKey` to `key` for (vault, share, version); `header` is the v2 header (the HPKE aad).
    static func seal(
        _ dataKey: SecretBytes, to key: RecoveryPublicKey, vaultID: VaultID, shareID: ShareID, shareVersion: UInt64,
        header: [UInt8]
    ) throws(StrongroomError) -> RecoverySection {
        let info = info(vaultID: vaultID, shareID: shareID, shareVersion: shareVersion)
        let sealed = try StrongroomError.mappingCrypto { () throws(CryptoError) in
            try HPKE.seal(to: key.bytes, info: info, aad: header, plaintext: dataKey, aead: .aes256GCM)
        }
        return RecoverySection(fingerprint: key.fingerprint, enc: sealed.enc, sealedDataKey: sealed.ciphertext)
    }

    /// Opens the data key with the recovery private key. A wrong key, info or aad, or an altered
    /// section, is an integrity failure; `what` names the blob.
    func openDataKey(
        privateKey: SecretBytes, vaultID: VaultID, shareID: ShareID, shareVersion: UInt64, header: [UInt8], what: String
    ) throws(StrongroomError) -> SecretBytes {
        let info = RecoverySection.info(vaultID: vaultID, shareID: shareID, shareVersion: shareVersion)
        do {
            return try HPKE.open(
                HPKE.Sealed(enc: enc, ciphertext: sealedDataKey), privateKey: privateKey, info: info, aad: header,
                aead: .aes256GCM)
        } catch where error.code == .authenticationFailed {
            throw StrongroomError(
                .integrityCheckFailed,
                "the recovery section of \(what) did not open with the recovery key: it was altered, or copied from another share, version or vault")
        } catch {
            throw StrongroomError(.crypto, "could not open the recovery section of \(what)", cause: error.description)
        }
    }
}
