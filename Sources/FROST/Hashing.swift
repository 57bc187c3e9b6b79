internal import CSodium
import SecureCrypto

/// Parts of a hash input: public bytes or a secret, so that secret inputs never pass through an array.
enum HashInput {
    case bytes([UInt8])
    case secret(SecretBytes)
    case scalar(Scalar)
    /// Bytes in locked memory owned by the caller, valid for the call.
    case secretView(UnsafeRawBufferPointer)

    func withBytes<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        switch self {
        case .bytes(let bytes): bytes.withUnsafeBytes(body)
        case .secret(let secret): secret.withUnsafeBytes(body)
        case .scalar(let scalar): scalar.secret.withUnsafeBytes(body)
        case .secretView(let view): body(view)
        }
    }
}

/// SHA-512 or SHA-256 over several inputs, from libsodium; the state is wiped after use.
enum StreamingHash {
    case sha512, sha256

    var length: Int { self == .sha512 ? 64 : 32 }

    /// Hashes `inputs` into `output` (at least `length` bytes).
    func hash(_ inputs: [HashInput], into output: UnsafeMutableRawPointer) {
        let out = output.assumingMemoryBound(to: UInt8.self)
        switch self {
        case .sha512:
            var state = crypto_hash_sha512_state()
            _ = crypto_hash_sha512_init(&state)
            for input in inputs {
                input.withBytes { bytes in
                    if let base = bytes.baseAddress, bytes.count > 0 {
                        _ = crypto_hash_sha512_update(&state, base.assumingMemoryBound(to: UInt8.self), UInt64(bytes.count))
                    }
                }
            }
            _ = crypto_hash_sha512_final(&state, out)
            withUnsafeMutableBytes(of: &state) { sodium_memzero($0.baseAddress, $0.count) }
        case .sha256:
            var state = crypto_hash_sha256_state()
            _ = crypto_hash_sha256_init(&state)
            for input in inputs {
                input.withBytes { bytes in
                    if let base = bytes.baseAddress, bytes.count > 0 {
                        _ = crypto_hash_sha256_update(&state, base.assumingMemoryBound(to: UInt8.self), UInt64(bytes.count))
                    }
                }
            }
            _ = crypto_hash_sha256_final(&state, out)
            withUnsafeMutableBytes(of: &state) { sodium_memzero($0.baseAddress, $0.count) }
        }
    }

    /// The digest of public inputs, as public bytes.
    func digest(_ inputs: [HashInput]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: length)
        out.withUnsafeMutableBytes { hash(inputs, into: $0.baseAddress!) }
        return out
    }
}

/// expand_message_xmd with SHA-256 (RFC 9380 section 5.3.1), writing `length` (at most 64) bytes into
/// `output`. Intermediate blocks live in `scratch` (64 bytes of locked memory) because the message may
/// be secret (nonce derivation).
func expandMessageXMDSHA256(
    _ message: [HashInput], dst: [UInt8], length: Int,
    output: UnsafeMutableRawPointer, scratch: UnsafeMutableRawPointer
) {
    precondition(length <= 64 && dst.count <= 255)
    let dstPrime = dst + [UInt8(dst.count)]
    let zPad = [UInt8](repeating: 0, count: 64)
    let lengthBytes: [UInt8] = [UInt8(length >> 8), UInt8(length & 0xFF)]
    // b0 at scratch[0..<32], b_i at scratch[32..<64].
    let b0 = scratch
    let bi = scratch + 32
    StreamingHash.sha256.hash([.bytes(zPad)] + message + [.bytes(lengthBytes + [0]), .bytes(dstPrime)], into: b0)
    let b0Buffer = UnsafeRawBufferPointer(start: b0, count: 32)
    // b1 = H(b0 || 1 || DST').
    StreamingHash.sha256.hash([.secretView(b0Buffer), .bytes([1] + dstPrime)], into: bi)
    var produced = 0
    var index: UInt8 = 1
    while true {
        let take = min(32, length - produced)
        (output + produced).copyMemory(from: bi, byteCount: take)
        produced += take
        if produced >= length { break }
        index += 1
        // b_i = H((b0 xor b_{i-1}) || i || DST'), computed in place over b_{i-1}.
        let previous = bi.assumingMemoryBound(to: UInt8.self)
        let first = b0.assumingMemoryBound(to: UInt8.self)
        for k in 0..<32 { previous[k] ^= first[k] }
        StreamingHash.sha256.hash([.secretView(UnsafeRawBufferPointer(start: bi, count: 32)), .bytes([index] + dstPrime)], into: bi)
    }
    sodium_memzero(scratch, 64)
}

/// The ciphersuite hash functions H1–H5 of RFC 9591 section 6, plus the DKG's proof-of-knowledge
/// challenge hash (HDKG, domain "dkg").
extension Ciphersuite {
    /// Hashes to a scalar under domain `tag` (H1 "rho", H2 "chal", H3 "nonce", HDKG "dkg").
    /// Ed25519: SHA-512(contextString || tag || m) mod L, except H2, which is SHA-512(m) mod L so that
    /// signatures are plain RFC 8032 Ed25519. secp256k1: hash_to_field with expand_message_xmd SHA-256,
    /// DST = contextString || tag, 48 bytes, mod n.
    func hashToScalar(_ tag: String, _ message: [HashInput]) throws -> Scalar {
        var result: Scalar?
        // The digest may be secret (nonce derivation): it lives in locked memory, wiped before release.
        _ = try SecretBytes(count: 64 + 64) { buffer in
            let digest = buffer.baseAddress!
            defer { sodium_memzero(digest, 128) }
            switch self {
            case .ed25519:
                let prefix: [HashInput] = tag == "chal" ? [] : [.bytes(context + Array(tag.utf8))]
                StreamingHash.sha512.hash(prefix + message, into: digest)
                result = try Scalar.reduceWide(UnsafeRawBufferPointer(start: digest, count: 64), self)
            case .secp256k1:
                expandMessageXMDSHA256(message, dst: context + Array(tag.utf8), length: 48, output: digest, scratch: digest + 64)
                result = try Scalar.reduceWide(UnsafeRawBufferPointer(start: digest, count: 48), self)
            }
        }
        return result!
    }

    /// H1: binding factors.
    func h1(_ message: [HashInput]) throws -> Scalar { try hashToScalar("rho", message) }
    /// H2: the challenge.
    func h2(_ message: [HashInput]) throws -> Scalar { try hashToScalar("chal", message) }
    /// H3: nonces.
    func h3(_ message: [HashInput]) throws -> Scalar { try hashToScalar("nonce", message) }
    /// HDKG: the DKG proof-of-knowledge challenge.
    func hdkg(_ message: [HashInput]) throws -> Scalar { try hashToScalar("dkg", message) }

    /// H4 ("msg") and H5 ("com"): digests of public data.
    func hashDigest(_ tag: String, _ message: [UInt8]) -> [UInt8] {
        let hash: StreamingHash = self == .ed25519 ? .sha512 : .sha256
        return hash.digest([.bytes(context + Array(tag.utf8)), .bytes(message)])
    }
    func h4(_ message: [UInt8]) -> [UInt8] { hashDigest("msg", message) }
    func h5(_ message: [UInt8]) -> [UInt8] { hashDigest("com", message) }
}
