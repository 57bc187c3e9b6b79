internal import CSodium

/// SHA-256 (FIPS 180-4), from libsodium. For public data: request payloads, canonical requests.
public enum SHA256 {
    /// The 32-byte digest of `bytes`.
    public static func hash(_ bytes: UnsafeRawBufferPointer) -> [UInt8] {
        var digest = [UInt8](repeating: 0, count: 32)
        _ = crypto_hash_sha256(&digest, bytes.baseAddress?.assumingMemoryBound(to: UInt8.self), UInt64(bytes.count))
        return digest
    }

    /// The 32-byte digest of `bytes`.
    public static func hash(_ bytes: [UInt8]) -> [UInt8] {
        bytes.withUnsafeBytes { hash($0) }
    }

    /// The digest as 64 lowercase hex digits.
    public static func hexHash(_ bytes: [UInt8]) -> String {
        Hex.encode(hash(bytes))
    }
}

/// HMAC-SHA256 (RFC 2104), from libsodium, keyed by a secret in locked memory.
public enum HMACSHA256 {
    /// The MAC of `message` under `key`, as public bytes (a signature).
    public static func mac(key: SecretBytes, message: [UInt8]) -> [UInt8] {
        var output = [UInt8](repeating: 0, count: 32)
        output.withUnsafeMutableBytes { run(key: key, message: message, into: $0) }
        return output
    }

    /// The MAC of `message` under `key`, kept secret: a derived key (SigV4's signing-key chain).
    public static func derive(key: SecretBytes, message: [UInt8]) throws(CryptoError) -> SecretBytes {
        try SecretBytes(count: 32, filling: { (output) throws(CryptoError) in run(key: key, message: message, into: output) })
    }

    private static func run(key: SecretBytes, message: [UInt8], into output: UnsafeMutableRawBufferPointer) {
        var state = crypto_auth_hmacsha256_state()
        key.withUnsafeBytes { keyBytes in
            var empty: UInt8 = 0
            let base = keyBytes.baseAddress?.assumingMemoryBound(to: UInt8.self) ?? withUnsafePointer(to: &empty) { $0 }
            _ = crypto_auth_hmacsha256_init(&state, base, keyBytes.count)
        }
        if !message.isEmpty {
            message.withUnsafeBufferPointer { _ = crypto_auth_hmacsha256_update(&state, $0.baseAddress!, UInt64($0.count)) }
        }
        _ = crypto_auth_hmacsha256_final(&state, output.baseAddress!.assumingMemoryBound(to: UInt8.self))
        // The state holds the key's inner and outer pads: wipe it.
        withUnsafeMutableBytes(of: &state) { sodium_memzero($0.baseAddress, $0.count) }
    }
}

/// Lowercase hexadecimal encoding of public bytes.
public enum Hex {
    private static let digits: [UInt8] = Array("0123456789abcdef".utf8)

    /// The bytes as lowercase hex digits.
    public static func encode(_ bytes: [UInt8]) -> String {
        var out = [UInt8]()
        out.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            out.append(digits[Int(byte >> 4)])
            out.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// The bytes of an even-length hex string (either case), or nil.
    public static func decode(_ text: String) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard utf8.count % 2 == 0 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case 0x30...0x39: c - 0x30
            case 0x61...0x66: c - 0x61 + 10
            case 0x41...0x46: c - 0x41 + 10
            default: nil
            }
        }
        var out = [UInt8]()
        out.reserveCapacity(utf8.count / 2)
        var index = 0
        while index < utf8.count {
            guard let high = nibble(utf8[index]), let low = nibble(utf8[index + 1]) else { return nil }
            out.append(high << 4 | low)
            index += 2
        }
        return out
    }
}
