internal import CSodium
import SecureCrypto

/// Confidentiality for the secret messages (DKG and refresh round two) when they travel through
/// something shared, such as a directory of message files: each recipient publishes a fresh X25519
/// channel key (``FROSTMessage/Kind/channelKey``) and each secret message is sealed to it with
/// libsodium's `crypto_box_seal` (``FROSTMessage/Kind/sealed``). Authenticity does not rest on the
/// seal: a DKG or refresh share is checked against its sender's public commitment.
public enum FROSTChannel {
    /// Bytes of an X25519 public key.
    public static let publicKeyLength = 32
    /// What `crypto_box_seal` adds: an ephemeral public key and a tag.
    public static let sealOverhead = 48

    /// A fresh key pair: `public key (32) ‖ secret key (32)`, in locked memory.
    public static func makeKeyPair() throws -> SecretBytes {
        try SecretBytes(count: 64) { out in
            let base = out.baseAddress!.assumingMemoryBound(to: UInt8.self)
            guard crypto_box_keypair(base, base + 32) == 0 else {
                throw FROSTError(.invalidInput, "libsodium could not make a channel key pair")
            }
        }
    }

    /// The public half of a key pair from ``makeKeyPair()``.
    public static func publicKey(of keyPair: SecretBytes) throws -> [UInt8] {
        try keyPair.withUnsafeBytes { raw in
            guard raw.count == 64 else { throw FROSTError(.malformedEncoding, "a channel key pair is 64 bytes, not \(raw.count)") }
            return Array(raw[0..<32])
        }
    }

    /// The channel key message of participant `sender` for the run `session`: the header, then the
    /// X25519 public key (32).
    public static func keyMessage(_ keyPair: SecretBytes, suite: Ciphersuite, session: SessionID, sender: ParticipantID) throws -> [UInt8] {
        FROSTMessage.Header(kind: .channelKey, suite: suite, session: session, sender: sender, recipient: 0).bytes + (try publicKey(of: keyPair))
    }

    /// Decodes a channel key message: its header and the public key.
    public static func decodeKeyMessage(_ bytes: [UInt8], suite: Ciphersuite) throws -> (header: FROSTMessage.Header, key: [UInt8]) {
        try FROSTMessage.decode(bytes, .channelKey, suite) { header, reader in
            guard header.sender != 0 else { throw reader.fail("the sender must be a participant, not 0") }
            return Array(try reader.take(publicKeyLength, "the X25519 public key"))
        }
    }

    /// Seals a secret message (DKG or refresh round two) to its recipient's channel key: the header of
    /// the inner message with kind ``FROSTMessage/Kind/sealed``, then `crypto_box_seal(inner message)`.
    public static func seal(_ message: SecretBytes, to channelKey: [UInt8]) throws -> [UInt8] {
        let inner = try FROSTMessage.header(ofSecret: message)
        guard inner.kind.isSecret else { throw FROSTError(.invalidInput, "only secret messages are sealed, not a \(inner.kind)") }
        guard channelKey.count == publicKeyLength else {
            throw FROSTError(.invalidInput, "a channel key is \(publicKeyLength) bytes, not \(channelKey.count)")
        }
        precondition(crypto_box_sealbytes() == sealOverhead)
        let header = FROSTMessage.Header(kind: .sealed, suite: inner.suite, session: inner.session, sender: inner.sender, recipient: inner.recipient)
        var box = [UInt8](repeating: 0, count: message.count + sealOverhead)
        let status = message.withUnsafeBytes { plain in
            crypto_box_seal(&box, plain.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt64(plain.count), channelKey)
        }
        guard status == 0 else { throw FROSTError(.invalidInput, "libsodium could not seal \(inner.origin)") }
        return header.bytes + box
    }

    /// Opens a sealed message with the recipient's key pair into locked memory. The inner message
    /// must carry the outer header's kind-independent fields (suite, session, sender, recipient).
    public static func open(_ sealed: [UInt8], keyPair: SecretBytes, suite: Ciphersuite) throws -> SecretBytes {
        let (outer, box) = try FROSTMessage.decode(sealed, .sealed, suite) { header, reader in
            guard header.sender != 0, header.recipient != 0 else { throw reader.fail("sender and recipient must be participants") }
            let box = Array(try reader.take(reader.raw.count - reader.offset, "the sealed box"))
            guard box.count > sealOverhead + FROSTMessage.headerLength else { throw reader.fail("truncated: the sealed box is too short") }
            return box
        }
        let plain = try keyPair.withUnsafeBytes { pair in
            try SecretBytes(count: box.count - sealOverhead) { out in
                let keys = pair.baseAddress!.assumingMemoryBound(to: UInt8.self)
                guard crypto_box_seal_open(out.baseAddress!.assumingMemoryBound(to: UInt8.self), box, UInt64(box.count), keys, keys + 32) == 0 else {
                    throw FROSTError(
                        .malformedEncoding,
                        "\(outer.origin) for participant \(outer.recipient) (session \(outer.session)) does not open with this participant's channel key: altered, or sealed to another key")
                }
            }
        }
        let inner = try FROSTMessage.header(ofSecret: plain)
        guard inner.kind.isSecret, inner.suite == outer.suite, inner.session == outer.session, inner.sender == outer.sender,
            inner.recipient == outer.recipient
        else {
            throw FROSTError(.malformedEncoding, "\(outer.origin): the sealed message inside does not match its envelope")
        }
        return plain
    }
}
