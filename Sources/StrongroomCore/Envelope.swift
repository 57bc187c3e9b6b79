/// Envelope format v1: one sealed share version, as stored in a blob. Specified in docs/format.md.
///
/// The header (magic through metadata) is the AES-GCM associated data, so the vault, tier, share id,
/// share version, creation time and metadata are authenticated. The key section after it (KEK id and
/// version, wrap mechanism, wrapped data key) changes on rotation while the ciphertext stays.
public struct Envelope: Sendable, Hashable {
    static let magic: [UInt8] = Array("SRSH".utf8)
    static let formatVersion: UInt8 = 1
    static let maximumMetadataBytes = 4096
    static let maximumShareBytes = 65536
    /// A record (share version 0, see ``ShareStore/writeRecord(_:_:)``) may be larger than a share.
    static let maximumRecordBytes = 1 << 20

    /// The tier's envelope code.
    var tierCode: UInt8
    var vaultID: VaultID
    var shareID: ShareID
    var shareVersion: UInt64
    var createdAt: UInt64
    var metadata: [UInt8]
    var kekID: String
    var sealed: SealedShare

    /// The associated data: the header as it must read for this share version.
    static func associatedData(
        tierCode: UInt8, vaultID: VaultID, shareID: ShareID, shareVersion: UInt64, createdAt: UInt64, metadata: [UInt8]
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

    /// The vault, share id and share version named by associated data made by
    /// ``associatedData(tierCode:vaultID:shareID:shareVersion:createdAt:metadata:)`` (tier 2 binds them
    /// into the KMS encryption context), or nil when it is not such a header.
    public static func identity(fromAssociatedData aad: [UInt8]) -> (vaultID: VaultID, shareID: ShareID, shareVersion: UInt64)? {
        var input = ByteReader(aad)
        do {
            guard try input.read(4) == magic, try input.readU8() == formatVersion else { return nil }
            _ = try input.read(3)
            let vault = VaultID(bytes: try input.read(16))
            let idBytes = try input.read(Int(try input.readU8()))
            guard let text = String(validating: idBytes, as: UTF8.self), let id = try? ShareID(text) else { return nil }
            return (vault, id, try input.readU64())
        } catch {
            return nil
        }
    }

    var associatedData: [UInt8] {
        Envelope.associatedData(
            tierCode: tierCode, vaultID: vaultID, shareID: shareID, shareVersion: shareVersion, createdAt: createdAt,
            metadata: metadata)
    }

    func serialized() -> [UInt8] {
        var out = ByteWriter()
        out.append(associatedData)
        let kek = Array(kekID.utf8)
        out.append(UInt8(kek.count))
        out.append(kek)
        out.append(sealed.kekVersion)
        out.append(sealed.wrapMechanism)
        out.append(UInt16(sealed.wrappedKey.count))
        out.append(sealed.wrappedKey)
        out.append(UInt8(sealed.iv.count))
        out.append(sealed.iv)
        out.append(UInt32(sealed.ciphertext.count))
        out.append(sealed.ciphertext)
        out.append(sealed.tag)
        return out.bytes
    }

    /// Parses a blob. Any malformation is an integrity failure: the blob was truncated or altered.
    init(parsing bytes: [UInt8]) throws(StrongroomError) {
        do {
            self = try Envelope.parsed(bytes)
        } catch {
            throw StrongroomError(
                .integrityCheckFailed, "the blob is not a valid v1 envelope (\(error.what)); it was truncated or altered")
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

    private static func parsed(_ bytes: [UInt8]) throws(ByteReader.Malformed) -> Envelope {
        var input = ByteReader(bytes)
        do {
            guard try input.read(4) == Envelope.magic else { throw ByteReader.Malformed("bad magic") }
            let version = try input.readU8()
            guard version == Envelope.formatVersion else {
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
            let kekLength = Int(try input.readU8())
            guard kekLength > 0, let kekID = String(validating: try input.read(kekLength), as: UTF8.self) else {
                throw ByteReader.Malformed("invalid KEK id")
            }
            let kekVersion = try input.readU32()
            let mechanism = try input.readU32()
            let wrappedKey = try input.read(Int(try input.readU16()))
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
                metadata: metadata, kekID: kekID,
                sealed: SealedShare(
                    kekVersion: kekVersion, wrapMechanism: mechanism, wrappedKey: wrappedKey, iv: iv,
                    ciphertext: ciphertext, tag: tag))
        }
    }

    init(
        tierCode: UInt8, vaultID: VaultID, shareID: ShareID, shareVersion: UInt64, createdAt: UInt64, metadata: [UInt8],
        kekID: String, sealed: SealedShare
    ) {
        self.tierCode = tierCode
        self.vaultID = vaultID
        self.shareID = shareID
        self.shareVersion = shareVersion
        self.createdAt = createdAt
        self.metadata = metadata
        self.kekID = kekID
        self.sealed = sealed
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
