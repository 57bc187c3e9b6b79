/// Shamir's secret sharing over GF(2^8), byte by byte.
///
/// The field is GF(2^8) with the reduction polynomial x^8 + x^4 + x^3 + x + 1 (0x11B, the AES field of
/// FIPS 197 section 4.2). For a threshold T, each byte s of the secret gets its own random polynomial
/// f(x) = s + c1·x + … + c(T-1)·x^(T-1) whose coefficients come from ``SecureRandom``; part i (i = 1 … N)
/// holds the bytes f(i) at the evaluation point x = i. Any T parts give back the secret by Lagrange
/// interpolation at 0; fewer than T are consistent with every possible secret (each value of s fits
/// exactly one polynomial through them), so they reveal nothing about it.
///
/// Secrets, coefficients and parts live only in ``SecretBytes``. The field arithmetic is constant-time:
/// multiplication is shift-and-add with masks (no branch and no table lookup indexed by a secret), and
/// inversion (only ever of public evaluation points) is exponentiation to 254.
public enum Shamir {
    /// One part of a split secret: its evaluation point (1 … 255) and its bytes, as long as the secret.
    public struct Part: Sendable, CustomStringConvertible {
        /// The evaluation point x of this part: 1 … 255, never 0 (f(0) is the secret).
        public let index: UInt8
        /// f(index) for each byte of the secret.
        public let value: SecretBytes

        /// A part from its index and bytes (for example read back from a file).
        public init(index: UInt8, value: SecretBytes) {
            self.index = index
            self.value = value
        }

        /// The index and length only, never the bytes.
        public var description: String { "Shamir.Part(index \(index), \(value.count) bytes)" }
    }

    /// Splits `secret` into `parts` parts (at indices 1 … `parts`) of which any `threshold` rebuild it.
    /// Requires 2 ≤ threshold ≤ parts ≤ 255 and a non-empty secret.
    public static func split(_ secret: SecretBytes, threshold: Int, parts: Int) throws(CryptoError) -> [Part] {
        guard threshold >= 2, threshold <= parts, parts <= 255 else {
            throw CryptoError(
                .invalidInput,
                "Shamir sharing needs 2 <= threshold <= parts <= 255, got threshold \(threshold) of \(parts) parts")
        }
        guard secret.count > 0 else { throw CryptoError(.invalidInput, "Shamir sharing of an empty secret") }
        let length = secret.count
        // Coefficient k (1 … T-1) of byte j is at (k - 1) * length + j.
        let coefficients = try SecureRandom.secretBytes(count: (threshold - 1) * length)
        var result: [Part] = []
        result.reserveCapacity(parts)
        for index in 1...parts {
            let x = UInt8(index)
            let value = try SecretBytes(count: length, filling: { (out) throws(CryptoError) in
                secret.withUnsafeBytes { s in
                    coefficients.withUnsafeBytes { c in
                        for j in 0..<length {
                            // Horner: ((c(T-1)·x + c(T-2))·x + … + c1)·x + s.
                            var y: UInt8 = 0
                            for k in stride(from: threshold - 1, through: 1, by: -1) {
                                y = GF256.multiply(y, x) ^ c[(k - 1) * length + j]
                            }
                            out[j] = GF256.multiply(y, x) ^ s[j]
                        }
                    }
                }
            })
            result.append(Part(index: x, value: value))
        }
        return result
    }

    /// Rebuilds a secret from parts of one split: Lagrange interpolation at 0 through every part given.
    /// With at least the split's threshold of parts, all from the same split, the result is the secret;
    /// with fewer (or a part from elsewhere) it is an unrelated value, which the caller must detect (the
    /// sharing itself carries no check). Throws ``CryptoError/Code/invalidInput`` for fewer than
    /// `minimumParts` (at least 2) parts, an index 0, a repeated index, or parts of different lengths.
    public static func combine(_ parts: [Part], minimumParts: Int = 2) throws(CryptoError) -> SecretBytes {
        let needed = Swift.max(2, minimumParts)
        guard parts.count >= needed else {
            throw CryptoError(.invalidInput, "Shamir combining needs at least \(needed) parts, got \(parts.count)")
        }
        var seen = Set<UInt8>()
        for part in parts {
            guard part.index != 0 else {
                throw CryptoError(.invalidInput, "a Shamir part has index 0, which would be the secret itself")
            }
            guard seen.insert(part.index).inserted else {
                throw CryptoError(.invalidInput, "two Shamir parts have the same index \(part.index)")
            }
        }
        let length = parts[0].value.count
        guard length > 0, parts.allSatisfy({ $0.value.count == length }) else {
            throw CryptoError(
                .invalidInput,
                "Shamir parts differ in length (\(parts.map { String($0.value.count) }.joined(separator: ", ")) bytes)")
        }
        // Lagrange basis at 0: L_i = Π_{m≠i} x_m / (x_m − x_i); subtraction is XOR. Public values.
        let points = parts.map(\.index)
        let basis: [UInt8] = points.indices.map { i in
            var numerator: UInt8 = 1
            var denominator: UInt8 = 1
            for m in points.indices where m != i {
                numerator = GF256.multiply(numerator, points[m])
                denominator = GF256.multiply(denominator, points[m] ^ points[i])
            }
            return GF256.multiply(numerator, GF256.inverse(denominator))
        }
        return try SecretBytes(count: length, filling: { (out) throws(CryptoError) in
            for j in 0..<length { out[j] = 0 }
            for (i, part) in parts.enumerated() {
                part.value.withUnsafeBytes { y in
                    for j in 0..<length {
                        out[j] ^= GF256.multiply(basis[i], y[j])
                    }
                }
            }
        })
    }
}

/// Constant-time arithmetic in GF(2^8) modulo x^8 + x^4 + x^3 + x + 1 (0x11B).
public enum GF256 {
    /// a · b: eight rounds of shift-and-add with masks, no branch or lookup that depends on a or b.
    @inline(__always)
    public static func multiply(_ a: UInt8, _ b: UInt8) -> UInt8 {
        var a = a
        var b = b
        var product: UInt8 = 0
        for _ in 0..<8 {
            product ^= a & (0 &- (b & 1))
            let carry = a >> 7
            a = (a << 1) ^ (0x1B & (0 &- carry))
            b >>= 1
        }
        return product
    }

    /// a^-1 = a^254 (Fermat: a^255 = 1 for a ≠ 0), by a fixed square-and-multiply chain; 0 maps to 0.
    public static func inverse(_ a: UInt8) -> UInt8 {
        // 254 = 0b11111110: result = a^2 · a^4 · … · a^128.
        var square = multiply(a, a)  // a^2
        var result = square
        for _ in 0..<6 {
            square = multiply(square, square)  // a^4, a^8, …, a^128
            result = multiply(result, square)
        }
        return result
    }
}
