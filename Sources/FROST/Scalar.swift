#if canImport(Glibc)
import Glibc
#endif
internal import CSodium
import SecureCrypto

/// A scalar of a ciphersuite's group, in locked memory (``SecretBytes``), zeroed when released.
///
/// Secret scalars (signing shares, nonces, polynomial coefficients) and public ones (identifiers,
/// binding factors, signature shares) share the type, so no secret ever needs an ordinary array. The
/// bytes are the suite's canonical encoding: 32 bytes little-endian mod L for Ed25519, 32 bytes
/// big-endian mod n for secp256k1. Printing shows the suite only.
public struct Scalar: Sendable, CustomStringConvertible {
    /// The ciphersuite whose group this scalar belongs to.
    public let suite: Ciphersuite
    /// The canonical encoding, in locked memory.
    let secret: SecretBytes

    init(suite: Ciphersuite, secret: SecretBytes) {
        precondition(secret.count == 32, "a scalar is 32 bytes")
        self.suite = suite
        self.secret = secret
    }

    /// The suite only, never the value.
    public var description: String { "Scalar(\(suite.shortName))" }

    // MARK: Making scalars

    /// Builds a scalar whose 32-byte encoding `body` writes; `body` also gets `scratchLimbs` 64-bit
    /// limbs of locked scratch memory that are zeroed afterwards.
    static func make(
        _ suite: Ciphersuite, scratchLimbs: Int = 0,
        _ body: (UnsafeMutableRawPointer, UnsafeMutablePointer<UInt64>) throws -> Void
    ) throws -> Scalar {
        let scratchBytes = scratchLimbs * 8
        let secret = try SecretBytes(capacity: 32 + scratchBytes) { buffer in
            let scratch = (buffer.baseAddress! + 32).bindMemory(to: UInt64.self, capacity: Swift.max(scratchLimbs, 0))
            defer { if scratchBytes > 0 { sodium_memzero(buffer.baseAddress! + 32, scratchBytes) } }
            try body(buffer.baseAddress!, scratch)
            return 32
        }
        return Scalar(suite: suite, secret: secret)
    }

    /// The scalar 0.
    public static func zero(_ suite: Ciphersuite) throws -> Scalar {
        try make(suite) { out, _ in memset(out, 0, 32) }
    }

    /// The scalar for a small integer (identifiers, polynomial arguments).
    public static func integer(_ value: UInt64, _ suite: Ciphersuite) throws -> Scalar {
        try make(suite) { out, _ in
            let bytes = out.assumingMemoryBound(to: UInt8.self)
            memset(out, 0, 32)
            for k in 0..<8 {
                let byte = UInt8(truncatingIfNeeded: value >> (8 * UInt64(k)))
                switch suite {
                case .ed25519: bytes[k] = byte
                case .secp256k1: bytes[31 - k] = byte
                }
            }
        }
    }

    /// A uniformly random non-zero scalar from the CSPRNG.
    public static func random(_ suite: Ciphersuite) throws -> Scalar {
        while true {
            let wide = try SecureRandom.secretBytes(count: 64)
            let scalar = try wide.withUnsafeBytes { try reduceWide($0, suite) }
            if !scalar.isZero { return scalar }
        }
    }

    /// Reduces a 64-byte (Ed25519, little-endian) or up to 64-byte (secp256k1, big-endian) value.
    static func reduceWide(_ input: UnsafeRawBufferPointer, _ suite: Ciphersuite) throws -> Scalar {
        switch suite {
        case .ed25519:
            precondition(input.count == 64)
            return try make(suite) { out, _ in
                crypto_core_ed25519_scalar_reduce(out.assumingMemoryBound(to: UInt8.self), input.baseAddress!.assumingMemoryBound(to: UInt8.self))
            }
        case .secp256k1:
            precondition(input.count <= 64)
            return try make(suite, scratchLimbs: 8 + Secp256k1Scalar.wideScratchLimbs + 4) { out, scratch in
                let wide = scratch
                // Load 64 big-endian bytes (zero-extended) limb by limb.
                let source = input.baseAddress!.assumingMemoryBound(to: UInt8.self)
                let offset = 64 - input.count
                for limb in 0..<8 {
                    var value: UInt64 = 0
                    for k in 0..<8 {
                        let index = (7 - limb) * 8 + k - offset
                        value = (value << 8) | (index >= 0 ? UInt64(source[index]) : 0)
                    }
                    wide[limb] = value
                }
                let result = scratch + 8 + Secp256k1Scalar.wideScratchLimbs
                Secp256k1Scalar.reduceWide(wide, into: result, scratch: scratch + 8)
                Secp256k1Scalar.store(result, into: out)
            }
        }
    }

    /// Deserialises a canonical scalar (RFC 9591 DeserializeScalar): 32 bytes, below the group order.
    public static func deserialize(_ bytes: UnsafeRawBufferPointer, _ suite: Ciphersuite) throws -> Scalar {
        guard bytes.count == 32 else {
            throw FROSTError(.malformedEncoding, "a \(suite.shortName) scalar is 32 bytes, not \(bytes.count)")
        }
        var canonical = true
        let scalar = try make(suite, scratchLimbs: 12) { out, scratch in
            out.copyMemory(from: bytes.baseAddress!, byteCount: 32)
            switch suite {
            case .ed25519:
                // Canonical when reducing (s || 0^32) gives s back.
                let wide = UnsafeMutableRawPointer(scratch)
                memset(wide, 0, 64)
                wide.copyMemory(from: bytes.baseAddress!, byteCount: 32)
                let reduced = wide + 64
                crypto_core_ed25519_scalar_reduce(reduced.assumingMemoryBound(to: UInt8.self), wide.assumingMemoryBound(to: UInt8.self))
                canonical = sodium_memcmp(reduced, bytes.baseAddress!, 32) == 0
            case .secp256k1:
                Secp256k1Scalar.load(bytes.baseAddress!, into: scratch)
                canonical = Secp256k1Scalar.isCanonical(scratch) == 1
            }
        }
        guard canonical else {
            throw FROSTError(.malformedEncoding, "the \(suite.shortName) scalar is not below the group order")
        }
        return scalar
    }

    /// Deserialises a scalar from public bytes.
    public static func deserialize(_ bytes: [UInt8], _ suite: Ciphersuite) throws -> Scalar {
        try bytes.withUnsafeBytes { try deserialize($0, suite) }
    }

    // MARK: Reading

    /// True for the scalar 0 (constant-time comparison).
    public var isZero: Bool {
        secret.withUnsafeBytes { sodium_is_zero($0.baseAddress!.assumingMemoryBound(to: UInt8.self), 32) == 1 }
    }

    /// The encoding of a public scalar (an identifier, a signature share, z). Never call it on a secret.
    public func publicEncoding() -> [UInt8] {
        secret.withUnsafeBytes { Array($0) }
    }

    /// Constant-time equality.
    public static func == (lhs: Scalar, rhs: Scalar) -> Bool {
        lhs.suite == rhs.suite && lhs.secret == rhs.secret
    }

    // MARK: Arithmetic

    private static func binary(
        _ a: Scalar, _ b: Scalar,
        ed25519: (UnsafeMutablePointer<UInt8>, UnsafePointer<UInt8>, UnsafePointer<UInt8>) -> Void,
        secp256k1: (UnsafeMutablePointer<UInt64>, UnsafeMutablePointer<UInt64>, UnsafeMutablePointer<UInt64>, UnsafeMutablePointer<UInt64>) -> Void
    ) throws -> Scalar {
        precondition(a.suite == b.suite, "scalars of different ciphersuites")
        let limbs = 12 + Secp256k1Scalar.mulScratchLimbs
        return try a.secret.withUnsafeBytes { x in
            try b.secret.withUnsafeBytes { y in
                try make(a.suite, scratchLimbs: a.suite == .secp256k1 ? limbs : 0) { out, scratch in
                    switch a.suite {
                    case .ed25519:
                        ed25519(out.assumingMemoryBound(to: UInt8.self), x.baseAddress!.assumingMemoryBound(to: UInt8.self), y.baseAddress!.assumingMemoryBound(to: UInt8.self))
                    case .secp256k1:
                        Secp256k1Scalar.load(x.baseAddress!, into: scratch)
                        Secp256k1Scalar.load(y.baseAddress!, into: scratch + 4)
                        secp256k1(scratch, scratch + 4, scratch + 8, scratch + 12)
                        Secp256k1Scalar.store(scratch + 8, into: out)
                    }
                }
            }
        }
    }

    /// a + b.
    public static func + (a: Scalar, b: Scalar) throws -> Scalar {
        try binary(a, b, ed25519: { crypto_core_ed25519_scalar_add($0, $1, $2) }, secp256k1: { x, y, r, _ in Secp256k1Scalar.add(x, y, into: r) })
    }

    /// a - b.
    public static func - (a: Scalar, b: Scalar) throws -> Scalar {
        try binary(a, b, ed25519: { crypto_core_ed25519_scalar_sub($0, $1, $2) }, secp256k1: { x, y, r, _ in Secp256k1Scalar.sub(x, y, into: r) })
    }

    /// a * b.
    public static func * (a: Scalar, b: Scalar) throws -> Scalar {
        try binary(a, b, ed25519: { crypto_core_ed25519_scalar_mul($0, $1, $2) }, secp256k1: { x, y, r, s in Secp256k1Scalar.mul(x, y, into: r, scratch: s) })
    }

    /// -a.
    public func negated() throws -> Scalar {
        try Scalar.zero(suite) - self
    }

    /// 1/a; zero has no inverse and is rejected.
    public func inverted() throws -> Scalar {
        guard !isZero else { throw FROSTError(.invalidInput, "zero has no inverse") }
        return try secret.withUnsafeBytes { x in
            try Scalar.make(suite, scratchLimbs: 8 + Secp256k1Scalar.invertScratchLimbs) { out, scratch in
                switch suite {
                case .ed25519:
                    _ = crypto_core_ed25519_scalar_invert(out.assumingMemoryBound(to: UInt8.self), x.baseAddress!.assumingMemoryBound(to: UInt8.self))
                case .secp256k1:
                    Secp256k1Scalar.load(x.baseAddress!, into: scratch)
                    Secp256k1Scalar.invert(scratch, into: scratch + 4, scratch: scratch + 8)
                    Secp256k1Scalar.store(scratch + 4, into: out)
                }
            }
        }
    }
}
