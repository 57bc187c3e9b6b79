/// Where the fields of a v1 envelope lie in a blob, read as docs/format.md specifies it (the suite
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
            number(1) == 1, take(1) != nil, take(2) != nil, take(16) != nil,
            let idLength = number(1), take(Int(idLength)) != nil
        else { return nil }
        let shareVersionOffset = offset
        guard take(8) != nil, take(8) != nil, let metadataLength = number(2), take(Int(metadataLength)) != nil,
            let kekIDLength = number(1), take(Int(kekIDLength)) != nil,
            let kekVersion = number(4), take(4) != nil,
            let wrappedLength = number(2), let wrappedKey = take(Int(wrappedLength)),
            let ivLength = number(1), let iv = take(Int(ivLength)),
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
