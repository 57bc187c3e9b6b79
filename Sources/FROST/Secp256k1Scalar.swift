/// Constant-time arithmetic modulo the secp256k1 group order n, on four 64-bit little-endian limbs.
///
/// libsecp256k1's public API has no zero scalar, inversion or reduction, so FROST(secp256k1) brings its
/// own. Every function runs the same instructions whatever the values (no value-dependent branches or
/// table lookups); results are selected with masks. Callers pass pointers into locked memory, so no
/// limb of a secret lives in an array.
enum Secp256k1Scalar {
    /// n = FFFFFFFF FFFFFFFF FFFFFFFF FFFFFFFE BAAEDCE6 AF48A03B BFD25E8C D0364141 (SEC 2, section 2.4.1).
    static let n: (UInt64, UInt64, UInt64, UInt64) = (0xBFD2_5E8C_D036_4141, 0xBAAE_DCE6_AF48_A03B, 0xFFFF_FFFF_FFFF_FFFE, 0xFFFF_FFFF_FFFF_FFFF)
    /// c = 2^256 - n = 0x1_4551231950B75FC4_402DA1732FC9BEBF, so 2^256 ≡ c (mod n).
    static let c: (UInt64, UInt64, UInt64) = (0x402D_A173_2FC9_BEBF, 0x4551_2319_50B7_5FC4, 1)

    typealias Limbs = UnsafeMutablePointer<UInt64>

    static func nLimb(_ i: Int) -> UInt64 {
        switch i {
        case 0: n.0
        case 1: n.1
        case 2: n.2
        default: n.3
        }
    }

    static func cLimb(_ i: Int) -> UInt64 {
        switch i {
        case 0: c.0
        case 1: c.1
        default: c.2
        }
    }

    /// Loads 32 big-endian bytes into 4 limbs (no reduction).
    static func load(_ bytes: UnsafeRawPointer, into r: Limbs) {
        let b = bytes.assumingMemoryBound(to: UInt8.self)
        for limb in 0..<4 {
            var value: UInt64 = 0
            for k in 0..<8 { value = (value << 8) | UInt64(b[(3 - limb) * 8 + k]) }
            r[limb] = value
        }
    }

    /// Writes 4 limbs as 32 big-endian bytes.
    static func store(_ a: Limbs, into bytes: UnsafeMutableRawPointer) {
        let b = bytes.assumingMemoryBound(to: UInt8.self)
        for limb in 0..<4 {
            let value = a[limb]
            for k in 0..<8 { b[(3 - limb) * 8 + k] = UInt8(truncatingIfNeeded: value >> (56 - 8 * UInt64(k))) }
        }
    }

    /// All ones when `bit` is 1, zero when it is 0.
    @inline(__always) static func mask(_ bit: UInt64) -> UInt64 { 0 &- bit }

    /// 1 when a < n (a canonical scalar), else 0, in constant time.
    static func isCanonical(_ a: Limbs) -> UInt64 {
        var borrow: UInt64 = 0
        for i in 0..<4 {
            let (d1, o1) = a[i].subtractingReportingOverflow(nLimb(i))
            let (_, o2) = d1.subtractingReportingOverflow(borrow)
            borrow = (o1 ? 1 : 0) | (o2 ? 1 : 0)
        }
        return borrow
    }

    /// 1 when a is zero, else 0, in constant time.
    static func isZero(_ a: Limbs) -> UInt64 {
        let any = a[0] | a[1] | a[2] | a[3]
        return 1 ^ ((any | (0 &- any)) >> 63)
    }

    /// r = a - n if that does not borrow (or if `carry` is set), else a. For values below 2n.
    static func subtractNIfNeeded(_ a: Limbs, carry: UInt64, into r: Limbs) {
        var t: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        var borrow: UInt64 = 0
        withUnsafeMutableBytes(of: &t) { raw in
            let tt = raw.baseAddress!.assumingMemoryBound(to: UInt64.self)
            for i in 0..<4 {
                let (d1, o1) = a[i].subtractingReportingOverflow(nLimb(i))
                let (d2, o2) = d1.subtractingReportingOverflow(borrow)
                tt[i] = d2
                borrow = (o1 ? 1 : 0) | (o2 ? 1 : 0)
            }
            // Use the difference when there was a carry out of a, or when the subtraction did not borrow.
            let useDifference = mask(carry | (1 ^ borrow))
            for i in 0..<4 { r[i] = (tt[i] & useDifference) | (a[i] & ~useDifference) }
            for i in 0..<4 { tt[i] = 0 }
        }
    }

    /// r = a + b mod n, for canonical a and b. r may alias either input.
    static func add(_ a: Limbs, _ b: Limbs, into r: Limbs) {
        var carry: UInt64 = 0
        for i in 0..<4 {
            let (s1, o1) = a[i].addingReportingOverflow(b[i])
            let (s2, o2) = s1.addingReportingOverflow(carry)
            r[i] = s2
            carry = (o1 ? 1 : 0) | (o2 ? 1 : 0)
        }
        subtractNIfNeeded(r, carry: carry, into: r)
    }

    /// r = a - b mod n, for canonical a and b. r may alias either input.
    static func sub(_ a: Limbs, _ b: Limbs, into r: Limbs) {
        var borrow: UInt64 = 0
        for i in 0..<4 {
            let (d1, o1) = a[i].subtractingReportingOverflow(b[i])
            let (d2, o2) = d1.subtractingReportingOverflow(borrow)
            r[i] = d2
            borrow = (o1 ? 1 : 0) | (o2 ? 1 : 0)
        }
        // Add n back when the subtraction borrowed.
        let addMask = mask(borrow)
        var carry: UInt64 = 0
        for i in 0..<4 {
            let (s1, o1) = r[i].addingReportingOverflow(nLimb(i) & addMask)
            let (s2, o2) = s1.addingReportingOverflow(carry)
            r[i] = s2
            carry = (o1 ? 1 : 0) | (o2 ? 1 : 0)
        }
    }

    /// w[0..<aCount+bCount] = a * b (schoolbook). w must not alias a or b.
    static func multiply(_ a: Limbs, _ aCount: Int, _ b: (Int) -> UInt64, _ bCount: Int, into w: Limbs) {
        for i in 0..<(aCount + bCount) { w[i] = 0 }
        for i in 0..<aCount {
            var carry: UInt64 = 0
            for j in 0..<bCount {
                let (high, low) = a[i].multipliedFullWidth(by: b(j))
                let (s1, o1) = w[i + j].addingReportingOverflow(low)
                let (s2, o2) = s1.addingReportingOverflow(carry)
                w[i + j] = s2
                carry = high &+ (o1 ? 1 : 0) &+ (o2 ? 1 : 0)
            }
            w[i + bCount] = carry
        }
    }

    /// Folds w (count limbs, count > 4) to lo + hi * c, where lo is w[0..<4] and hi the rest, writing
    /// `count - 4 + 3 + 1` limbs into out. out must not alias w.
    static func fold(_ w: Limbs, count: Int, into out: Limbs, scratch: Limbs) {
        let highCount = count - 4
        multiply(w + 4, highCount, cLimb, 3, into: scratch)
        let outCount = highCount + 3 + 1
        var carry: UInt64 = 0
        for i in 0..<outCount {
            let product = i < highCount + 3 ? scratch[i] : 0
            let low = i < 4 ? w[i] : 0
            let (s1, o1) = product.addingReportingOverflow(low)
            let (s2, o2) = s1.addingReportingOverflow(carry)
            out[i] = s2
            carry = (o1 ? 1 : 0) | (o2 ? 1 : 0)
        }
        for i in 0..<(highCount + 3) { scratch[i] = 0 }
    }

    /// Limbs of scratch that ``reduceWide(_:into:scratch:)`` needs.
    static let wideScratchLimbs = 8 + 8 + 8

    /// r = w mod n for an 8-limb (512-bit) w. scratch holds `wideScratchLimbs` limbs; it is zeroed after.
    static func reduceWide(_ w: Limbs, into r: Limbs, scratch: Limbs) {
        let t1 = scratch
        let t2 = scratch + 8
        let product = scratch + 16
        // 512 bits -> lo + hi*c < 2^256 + 2^385: 8 limbs (top one zero).
        fold(w, count: 8, into: t1, scratch: product)
        // Bits above 386 are zero: fold limbs 4..6 -> < 2^256 + 2^259: 5 limbs used of 7.
        fold(t1, count: 7, into: t2, scratch: product)
        // Fold limb 4 (< 2^4) -> < 2^256 + 2^133: 5 limbs used.
        fold(t2, count: 5, into: t1, scratch: product)
        // Fold limb 4 (0 or 1): when it is 1 the low part is < 2^133, so the sum is < 2^256.
        fold(t1, count: 5, into: t2, scratch: product)
        // t2 < 2^256 < 2n: one conditional subtraction.
        subtractNIfNeeded(t2, carry: 0, into: r)
        for i in 0..<wideScratchLimbs { scratch[i] = 0 }
    }

    /// Limbs of scratch that ``mul(_:_:into:scratch:)`` needs.
    static let mulScratchLimbs = 8 + wideScratchLimbs

    /// r = a * b mod n. r may alias either input.
    static func mul(_ a: Limbs, _ b: Limbs, into r: Limbs, scratch: Limbs) {
        let w = scratch
        multiply(a, 4, { b[$0] }, 4, into: w)
        reduceWide(w, into: r, scratch: scratch + 8)
        for i in 0..<8 { w[i] = 0 }
    }

    /// Limbs of scratch that ``invert(_:into:scratch:)`` needs.
    static let invertScratchLimbs = 8 + mulScratchLimbs

    /// r = a^(n-2) mod n, the inverse of a non-zero a (Fermat). The exponent is public, so the square-
    /// and-multiply sequence is the same for every a. Zero maps to zero; callers reject it first.
    static func invert(_ a: Limbs, into r: Limbs, scratch: Limbs) {
        let accumulator = scratch
        let base = scratch + 4
        let inner = scratch + 8
        for i in 0..<4 { base[i] = a[i] }
        accumulator[0] = 1
        for i in 1..<4 { accumulator[i] = 0 }
        // n - 2, limbs little-endian.
        let exponent: (UInt64, UInt64, UInt64, UInt64) = (n.0 - 2, n.1, n.2, n.3)
        let limbs = [exponent.0, exponent.1, exponent.2, exponent.3]
        for limb in stride(from: 3, through: 0, by: -1) {
            for bit in stride(from: 63, through: 0, by: -1) {
                mul(accumulator, accumulator, into: accumulator, scratch: inner)
                if (limbs[limb] >> UInt64(bit)) & 1 == 1 {
                    mul(accumulator, base, into: accumulator, scratch: inner)
                }
            }
        }
        for i in 0..<4 { r[i] = accumulator[i] }
        for i in 0..<invertScratchLimbs { scratch[i] = 0 }
    }
}
