import SecureCrypto

/// A vault's recovery public key: an X25519 public key that every share version's data key is also
/// sealed to (HPKE, docs/format.md), so that a copy of the blobs can be opened with the recovery
/// private key alone (docs/recovery.md). Not secret.
///
/// On disk (`recovery.pub`) it is one line: `strongroom-recovery-key v1 <64 lowercase hex digits>`.
/// Its fingerprint is SHA-256 of the 32 key bytes; envelopes and custodian parts name the key by it.
public struct RecoveryPublicKey: Sendable, Hashable, CustomStringConvertible {
    /// The 32 bytes of the X25519 public key.
    public let bytes: [UInt8]

    /// The prefix of the one line of a `recovery.pub` file.
    public static let filePrefix = "strongroom-recovery-key v1 "

    /// Wraps a 32-byte X25519 public key.
    public init(bytes: [UInt8]) throws(StrongroomError) {
        guard bytes.count == X25519.keySize else {
            throw StrongroomError(.invalidInput, "a recovery public key is 32 bytes, got \(bytes.count)")
        }
        self.bytes = bytes
    }

    /// The public key of a recovery private key.
    public init(privateKey: SecretBytes) throws(StrongroomError) {
        let bytes = try StrongroomError.mappingCrypto { () throws(CryptoError) in try X25519.publicKey(of: privateKey) }
        try self.init(bytes: bytes)
    }

    /// Parses the contents of a `recovery.pub` file; `source` names the file in the error.
    public init(fileContents: [UInt8], source: String) throws(StrongroomError) {
        let text = String(decoding: fileContents, as: UTF8.self)
        var line = Substring(text)
        if line.hasSuffix("\n") { line = line.dropLast() }
        guard line.hasPrefix(RecoveryPublicKey.filePrefix),
            let bytes = Hex.decode(String(line.dropFirst(RecoveryPublicKey.filePrefix.count))),
            bytes.count == X25519.keySize
        else {
            throw StrongroomError(
                .invalidInput,
                "\(source) is not a Strongroom recovery public key (expected one line: '\(RecoveryPublicKey.filePrefix)' and 64 hex digits)")
        }
        try self.init(bytes: bytes)
    }

    /// The contents of a `recovery.pub` file.
    public var fileContents: [UInt8] { Array("\(RecoveryPublicKey.filePrefix)\(Hex.encode(bytes))\n".utf8) }

    /// SHA-256 of the key bytes: what envelopes and custodian parts name the key by.
    public var fingerprint: [UInt8] { SHA256.hash(bytes) }

    /// The fingerprint as 64 hex digits in groups of four, for people to compare.
    public var fingerprintText: String {
        let hex = Array(Hex.encode(fingerprint))
        return stride(from: 0, to: hex.count, by: 4).map { String(hex[$0..<min($0 + 4, hex.count)]) }.joined(separator: " ")
    }

    public var description: String { "recovery key \(Hex.encode(fingerprint).prefix(16))" }
}
