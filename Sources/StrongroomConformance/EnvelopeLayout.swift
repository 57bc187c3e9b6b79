/// Where the fields of a v1 or v2 envelope lie in a blob, read as docs/format.md specifies it (the suite
/// reads the format on its own, so it also checks that a tier writes what the specification says).
/// Holds only public bytes: the header, the wrapped data key, the IV, the ciphertext and the tag.
struct EnvelopeLayout: Sendable, Equatable {
    /// The whole blob.
    let bytes: [UInt8]
    /// Where field 8, the 8-byte share version, starts.
    let shareVersionOffset: Int
    /// Field 14.
    let kekVersion: UInt32
    /// Field 17, the wrapped data key.
    let wrappedKey: Range<Int>
    /// Field 19.
    let iv: Range<Int>
    /// Field 21.
    let ciphertext: Range<Int>
    /// Field 22.
    let tag: Range<Int>
    /// A v2 envelope's recovery section (kind, length and body), or nil.
    private(set) var recoverySection: Range<Int>? = nil
    /// Where a v2 envelope's section count lies, or nil for v1.
    private(set) var sectionCountOffset: Int? = nil

    static let magic: [UInt8] = Array("SRSH".utf8)

    /// Reads `bytes`, or returns nil when the lengths do not add up to the blob.
    init?(_ bytes: [UInt8]) {
        var offset = 0
        func take(_ count: Int) -> Range<Int>? {
            guard count >= 0, offset + count <= bytes.count else { return nil }
            defer { offset += count }
            return offset..<(offset + count)
        }
        func number(_ count: Int) -> UInt64? {
            guard let range = take(count) else { return nil }
            return bytes[range].reduce(0) { $0 << 8 | UInt64($1) }
        }
        guard let magic = take(4), Array(bytes[magic]) == EnvelopeLayout.magic,
            let format = number(1), format == 1 || format == 2, take(1) != nil, take(2) != nil, take(16) != nil,
            let idLength = number(1), take(Int(idLength)) != nil
        else { return nil }
        let shareVersionOffset = offset
        guard take(8) != nil, take(8) != nil, let metadataLength = number(2), take(Int(metadataLength)) != nil
        else { return nil }
        // v2: a list of key sections, the tier's (kind 1) first, then at most a recovery section.
        var sections: UInt64 = 1
        var tierSectionEnd: Int?
        if format == 2 {
            sectionCountOffset = offset
            guard let count = number(1), count == 1 || count == 2, number(1) == 1, let length = number(2) else { return nil }
            sections = count
            tierSectionEnd = offset + Int(length)
        }
        guard let kekIDLength = number(1), take(Int(kekIDLength)) != nil,
            let kekVersion = number(4), take(4) != nil,
            let wrappedLength = number(2), let wrappedKey = take(Int(wrappedLength))
        else { return nil }
        if let tierSectionEnd {
            guard offset == tierSectionEnd else { return nil }
            if sections == 2 {
                guard number(1) == 2, let length = number(2), let section = take(Int(length)) else { return nil }
                recoverySection = (section.lowerBound - 3)..<section.upperBound
            }
        }
        guard let ivLength = number(1), let iv = take(Int(ivLength)),
            let ciphertextLength = number(4), let ciphertext = take(Int(ciphertextLength)),
            let tag = take(16), offset == bytes.count
        else { return nil }
        self.bytes = bytes
        self.shareVersionOffset = shareVersionOffset
        self.kekVersion = UInt32(kekVersion)
        self.wrappedKey = wrappedKey
        self.iv = iv
        self.ciphertext = ciphertext
        self.tag = tag
    }

    /// The blob with field 8 set to `version`: a header relabelled to name another version.
    func relabelled(toVersion version: UInt64) -> [UInt8] {
        var out = bytes
        for index in 0..<8 { out[shareVersionOffset + index] = UInt8(truncatingIfNeeded: version >> (8 * (7 - index))) }
        return out
    }
}
