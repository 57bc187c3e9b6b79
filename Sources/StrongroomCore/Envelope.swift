import SecureCrypto

/// A sealed share version as stored in a blob: envelope format v1, or v2 when the vault has a
/// recovery key. Specified in docs/format.md.
///
/// The header (magic through metadata) is authenticated: in v1 it is the share's AES-GCM associated
/// data; in v2 the associated data is the header followed by the whole recovery section, so that
/// section can be neither stripped nor swapped. The tier's key section (KEK id and version, wrap
/// mechanism, wrapped data key) changes on rotation while the ciphertext and the recovery section
/// stay.
public struct Envelope: Sendable, Hashable {
    static let magic: [UInt8] = Array("SRSH".utf8)
    /// Format v1: the tier's key section only.
    static let formatVersion1: UInt8 = 1
    /// Format v2: a list of key sections, the tier's then (at most one) recovery section.
    static let formatVersion2: UInt8 = 2
    static let maximumMetadataBytes = 4096
    static let maximumShareBytes = 65536
    /// A record (share version 0, see ``ShareStore/writeRecord(_:_:)``) may be larger than a share.
    static let maximumRecordBytes = 1 << 20
    static let tierSectionKind: UInt8 = 1

    /// The tier's envelope code.
    var tierCode: UInt8
    var vaultID: VaultID
    var shareID: ShareID
    var shareVersion: UInt64
    var createdAt: UInt64
    var metadata: [UInt8]
    var kekID: String
    var sealed: SealedShare
    /// The data key sealed to the vault's recovery key; present exactly in v2 envelopes.
    var recovery: RecoverySection?

    /// The format version this envelope is written in: 2 when it has a recovery section, else 1 (a
    /// v2 envelope with the tier's section only is read, and rewritten, as v2).
    var formatVersion: UInt8

    /// The header of a share version: magic through metadata. The HPKE aad of a recovery section.
    static func header(
        formatVersion: UInt8, tierCode: UInt8, vaultID: VaultID, shareID: ShareID, shareVersion: UInt64,
        createdAt: UInt64, metadata: [UInt8]
    ) -> [UInt8] {
        var out = ByteWriter()
        out.append(magic)
        out.append(formatVersion)
        out.append(tierCode)
        out.append(UInt16(0))
        out.append(vaultID.bytes)
        out.append(UInt8(shareID.rawValue.utf8.count))
        out.append(Array(shareID.rawValue.utf8))
        out.append(shareVersion)
        out.append(createdAt)
        out.append(UInt16(metadata.count))
        out.append(metadata)
        return out.bytes
    }

    /// The share's AES-GCM associated data: the v1 header, or with `recovery` the v2 header followed
    /// by the whole recovery section (kind, length, body).
    static func associatedData(
        tierCode: UInt8, vaultID: VaultID, shareID: ShareID, shareVersion: UInt64, createdAt: UInt64, metadata: [UInt8],
        recovery: RecoverySection? = nil
    ) -> [UInt8] {
        let version = recovery == nil ? formatVersion1 : formatVersion2
        let head = header(
            formatVersion: version, tierCode: tierCode, vaultID: vaultID, shareID: shareID, shareVersion: shareVersion,
            createdAt: createdAt, metadata: metadata)
        return head + (recovery?.serialized() ?? [])
    }

    /// The vault, share id and share version named by associated data made by
    /// ``associatedData(tierCode:vaultID:shareID:shareVersion:createdAt:metadata:recovery:)`` — a
    /// v1 or v2 header, followed in v2 by the recovery section — (tier 2 binds them into the KMS
    /// encryption context), or nil when it is not such a header.
    public static func identity(fromAssociatedData aad: [UInt8]) -> (vaultID: VaultID, shareID: ShareID, shareVersion: UInt64)? {
        var input = ByteReader(aad)
        do {
            guard try input.read(4) == magic else { return nil }
            let version = try input.readU8()
            guard version == formatVersion1 || version == formatVersion2 else { return nil }
            _ = try input.read(3)
            let vault = VaultID(bytes: try input.read(16))
            let idBytes = try input.read(Int(try input.readU8()))
            guard let text = String(validating: idBytes, as: UTF8.self), let id = try? ShareID(text) else { return nil }
            return (vault, id, try input.readU64())
        } catch {
            return nil
        }
    }

    /// The header as this envelope's format version writes it (the HPKE aad in v2).
    var header: [UInt8] {
        Envelope.header(
            formatVersion: formatVersion, tierCode: tierCode, vaultID: vaultID, shareID: shareID,
            shareVersion: shareVersion, createdAt: createdAt, metadata: metadata)
    }

    /// The share's AES-GCM associated data (v2: the header and the recovery section, when there is one).
    var associatedData: [UInt8] { header + (recovery?.serialized() ?? []) }

    /// The tier's key section body (v1 writes it bare after the header; v2 as section kind 1).
    private var tierSectionBody: [UInt8] {
        var out = ByteWriter()
        let kek = Array(kekID.utf8)
        out.append(UInt8(kek.count))
        out.append(kek)
        out.append(sealed.kekVersion)
        out.append(sealed.wrapMechanism)
        out.append(UInt16(sealed.wrappedKey.count))
        out.append(sealed.wrappedKey)
        return out.bytes
    }

    func serialized() -> [UInt8] {
        var out = ByteWriter()
        out.append(header)
        if formatVersion == Envelope.formatVersion2 {
            out.append(UInt8(recovery == nil ? 1 : 2))
            let tierBody = tierSectionBody
            out.append(Envelope.tierSectionKind)
            out.append(UInt16(tierBody.count))
            out.append(tierBody)
            out.append(recovery?.serialized() ?? [])
        } else {
            out.append(tierSectionBody)
        }
        out.append(UInt8(sealed.iv.count))
        out.append(sealed.iv)
        out.append(UInt32(sealed.ciphertext.count))
        out.append(sealed.ciphertext)
        out.append(sealed.tag)
        return out.bytes
    }

    /// Parses a blob (v1 or v2). Any malformation is an integrity failure: the blob was truncated or altered.
    init(parsing bytes: [UInt8]) throws(StrongroomError) {
        do {
            self = try Envelope.parsed(bytes)
        } catch {
            throw StrongroomError(
                .integrityCheckFailed, "the blob is not a valid v1 or v2 envelope (\(error.what)); it was truncated or altered")
        }
    }

    /// Why `bytes` are provably not a Strongroom envelope at all, or nil when they may be one (even
    /// a damaged one): "empty file", or "bad magic" when they do not start with the magic `SRSH` (random
    /// bytes, a foreign file, an erase overwrite a kill interrupted before erases renamed first).
    /// Anything that starts with the magic is not "torn", however damaged: a cut-short file or a
    /// flipped length field may be a share that can still be repaired, and a blob of another format
    /// version may be sound; such blobs are integrity failures that no reader skips.
    static func tornReason(_ bytes: [UInt8]) -> String? {
        guard !bytes.isEmpty else { return "empty file" }
        guard bytes.count >= magic.count, bytes.starts(with: magic) else {
            return bytes.elementsEqual(magic.prefix(bytes.count)) ? "truncated before the end of the magic" : "bad magic"
        }
        return nil
    }

    /// Reads a tier key section body: KEK id, KEK version, wrap mechanism, wrapped key.
    private static func tierSection(
        _ input: inout ByteReader
    ) throws(ByteReader.Malformed) -> (kekID: String, kekVersion: UInt32, mechanism: UInt32, wrappedKey: [UInt8]) {
        let kekLength = Int(try input.readU8())
        guard kekLength > 0, let kekID = String(validating: try input.read(kekLength), as: UTF8.self) else {
            throw ByteReader.Malformed("invalid KEK id")
        }
        let kekVersion = try input.readU32()
        let mechanism = try input.readU32()
        let wrappedKey = try input.read(Int(try input.readU16()))
        return (kekID, kekVersion, mechanism, wrappedKey)
    }

    private static func parsed(_ bytes: [UInt8]) throws(ByteReader.Malformed) -> Envelope {
        var input = ByteReader(bytes)
        guard try input.read(4) == Envelope.magic else { throw ByteReader.Malformed("bad magic") }
        let version = try input.readU8()
        guard version == Envelope.formatVersion1 || version == Envelope.formatVersion2 else {
            throw ByteReader.Malformed("unknown format version \(version)")
        }
        let tier = try input.readU8()
        guard try input.readU16() == 0 else { throw ByteReader.Malformed("reserved flags are set") }
        let vault = VaultID(bytes: try input.read(16))
        let idLength = Int(try input.readU8())
        let idBytes = try input.read(idLength)
        guard let idText = String(validating: idBytes, as: UTF8.self), let id = try? ShareID(idText) else {
            throw ByteReader.Malformed("invalid share id in header")
        }
        let shareVersion = try input.readU64()
        let createdAt = try input.readU64()
        let metadataLength = Int(try input.readU16())
        guard metadataLength <= Envelope.maximumMetadataBytes else {
            throw ByteReader.Malformed("metadata longer than \(Envelope.maximumMetadataBytes) bytes")
        }
        let metadata = try input.read(metadataLength)
        let tierKey: (kekID: String, kekVersion: UInt32, mechanism: UInt32, wrappedKey: [UInt8])
        var recovery: RecoverySection?
        if version == Envelope.formatVersion1 {
            tierKey = try tierSection(&input)
        } else {
            let count = try input.readU8()
            guard count == 1 || count == 2 else {
                throw ByteReader.Malformed("\(count) key sections; a v2 envelope has 1 or 2")
            }
            guard try input.readU8() == Envelope.tierSectionKind else {
                throw ByteReader.Malformed("the first key section is not the tier's (kind 1)")
            }
            var body = ByteReader(try input.read(Int(try input.readU16())))
            tierKey = try tierSection(&body)
            guard body.isAtEnd else { throw ByteReader.Malformed("the tier section's length does not match its fields") }
            if count == 2 {
                let kind = try input.readU8()
                guard kind == RecoverySection.kind else {
                    throw ByteReader.Malformed("key section kind \(kind) is not a recovery section (kind 2)")
                }
                let length = Int(try input.readU16())
                guard length == RecoverySection.bodySize else {
                    throw ByteReader.Malformed("a recovery section body is \(RecoverySection.bodySize) bytes, this one says \(length)")
                }
                recovery = try RecoverySection(body: try input.read(length))
            }
        }
        let ivLength = Int(try input.readU8())
        guard ivLength == 12 else { throw ByteReader.Malformed("IV length \(ivLength), expected 12") }
        let iv = try input.read(ivLength)
        let ciphertextLength = Int(try input.readU32())
        let limit = shareVersion == 0 ? Envelope.maximumRecordBytes : Envelope.maximumShareBytes
        guard ciphertextLength <= limit else {
            throw ByteReader.Malformed("ciphertext longer than \(limit) bytes")
        }
        let ciphertext = try input.read(ciphertextLength)
        let tag = try input.read(16)
        guard input.isAtEnd else { throw ByteReader.Malformed("trailing bytes after the tag") }
        return Envelope(
            tierCode: tier, vaultID: vault, shareID: id, shareVersion: shareVersion, createdAt: createdAt,
            metadata: metadata, kekID: tierKey.kekID,
            sealed: SealedShare(
                kekVersion: tierKey.kekVersion, wrapMechanism: tierKey.mechanism, wrappedKey: tierKey.wrappedKey, iv: iv,
                ciphertext: ciphertext, tag: tag),
            recovery: recovery, formatVersion: version)
    }

    init(
        tierCode: UInt8, vaultID: VaultID, shareID: ShareID, shareVersion: UInt64, createdAt: UInt64, metadata: [UInt8],
        kekID: String, sealed: SealedShare, recovery: RecoverySection? = nil, formatVersion: UInt8? = nil
    ) {
        self.formatVersion = formatVersion ?? (recovery == nil ? Envelope.formatVersion1 : Envelope.formatVersion2)
        self.tierCode = tierCode
        self.vaultID = vaultID
        self.shareID = shareID
        self.shareVersion = shareVersion
        self.createdAt = createdAt
        self.metadata = metadata
        self.kekID = kekID
        self.sealed = sealed
        self.recovery = recovery
    }
}

struct ByteWriter {
    var bytes: [UInt8] = []
    mutating func append(_ value: [UInt8]) { bytes.append(contentsOf: value) }
    mutating func append(_ value: UInt8) { bytes.append(value) }
    mutating func append(_ value: UInt16) { appendBigEndian(value) }
    mutating func append(_ value: UInt32) { appendBigEndian(value) }
    mutating func append(_ value: UInt64) { appendBigEndian(value) }
    private mutating func appendBigEndian<T: FixedWidthInteger>(_ value: T) {
        withUnsafeBytes(of: value.bigEndian) { bytes.append(contentsOf: $0) }
    }
}

struct ByteReader {
    struct Malformed: Error { let what: String; init(_ what: String) { self.what = what } }
    private let bytes: [UInt8]
    private var offset = 0
    init(_ bytes: [UInt8]) { self.bytes = bytes }
    var isAtEnd: Bool { offset == bytes.count }

    mutating func read(_ count: Int) throws(Malformed) -> [UInt8] {
        guard count >= 0, bytes.count - offset >= count else { throw Malformed("truncated") }
        defer { offset += count }
        return Array(bytes[offset..<offset + count])
    }
    mutating func readU8() throws(Malformed) -> UInt8 { try read(1)[0] }
    mutating func readU16() throws(Malformed) -> UInt16 { try readInteger() }
    mutating func readU32() throws(Malformed) -> UInt32 { try readInteger() }
    mutating func readU64() throws(Malformed) -> UInt64 { try readInteger() }
    private mutating func readInteger<T: FixedWidthInteger>() throws(Malformed) -> T {
        try read(MemoryLayout<T>.size).reduce(T(0)) { ($0 << 8) | T($1) }
    }
}
