@testable import FROST
import SecureCrypto
import Testing

/// The scalar and element layers: secp256k1 arithmetic mod n against values computed independently
/// with Python's arbitrary-precision integers (a = SHA-256("a") mod n, b = SHA-256("b") mod n), the
/// zero scalar and the identity element on both suites, and encoding checks.
@Suite struct GroupTests {
    static let a = "ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"
    static let b = "3e23e8160039594a33894f6564e1b1348bbd7a0088d42c4acb73eeaed59c009d"
    static let nMinus1 = "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364140"

    @Test func secp256k1ScalarArithmeticModN() throws {
        let a = try scalar(Self.a, .secp256k1)
        let b = try scalar(Self.b, .secp256k1)
        #expect(hex(try a + b) == "08bb6928ca5517152e4b8118ff058d8378958d11ee07da81c52207a7b5540817")
        #expect(hex(try a - b) == "8c7398fcc9e26480c738e24e35422b191bc975f78ba82227ee0c88d6da52481e")
        #expect(hex(try b - a) == "738c6703361d9b7f38c71db1cabdd4e59ee566ef23a07e13d1c5d5b5f5e3f923")
        #expect(hex(try a * b) == "bc38b1271efbc43ba8e61ae95dcfdadebe1e008c2ca9f1ac5c205753cec96378")
        #expect(hex(try a.inverted()) == "1a3cfd5a9820dd97f60e7d6a766e8e93c358814a9e46c2d7f5a883194675c55c")
        #expect(hex(try a * a.inverted()) == hex(try Scalar.integer(1, .secp256k1)))
        let top = try scalar(Self.nMinus1, .secp256k1)
        #expect(hex(try top * top) == hex(try Scalar.integer(1, .secp256k1)))
        #expect(hex(try top + top) == "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd036413f")
        #expect(try (top + Scalar.integer(1, .secp256k1)).isZero)
        #expect(hex(try a.negated() + a) == hex(try Scalar.zero(.secp256k1)))
        let wide = [UInt8](repeating: 0xFF, count: 64)
        let reduced = try wide.withUnsafeBytes { try Scalar.reduceWide($0, .secp256k1) }
        #expect(hex(reduced) == "9d671cd581c69bc5e697f5e45bcd07c6741496c20e7cf878896cf21467d7d13f")
    }

    @Test(arguments: [Ciphersuite.ed25519, .secp256k1])
    func scalarsRejectNonCanonicalEncodings(_ suite: Ciphersuite) throws {
        let order = suite == .ed25519
            ? "edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010"  // L, little-endian
            : "fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141"  // n, big-endian
        #expect(throws: FROSTError.self) { try scalar(order, suite) }
        #expect(throws: FROSTError.self) { try Scalar.deserialize([UInt8](repeating: 0xFF, count: 32), suite) }
        #expect(throws: FROSTError.self) { try Scalar.deserialize([1, 2, 3], suite) }
        #expect(throws: FROSTError.self) { try Scalar.zero(suite).inverted() }
        let x = try Scalar.random(suite)
        #expect(hex(try x * x.inverted()) == hex(try Scalar.integer(1, suite)))
        #expect(try Scalar.deserialize(x.publicEncoding(), suite) == x)
    }

    @Test(arguments: [Ciphersuite.ed25519, .secp256k1])
    func zeroScalarsAndTheIdentityAreHandled(_ suite: Ciphersuite) throws {
        let zero = try Scalar.zero(suite)
        #expect(try Element.base(zero).isIdentity)
        let x = try Scalar.random(suite)
        let p = try Element.base(x)
        #expect(!p.isIdentity)
        #expect(try p.multiplied(by: zero).isIdentity)
        #expect(try Element.identity(suite).multiplied(by: x).isIdentity)
        #expect(try (p - p).isIdentity)
        #expect(try (p + p.negated()).isIdentity)
        #expect(try p + Element.identity(suite) == p)
        #expect(try Element.identity(suite) + p == p)
        #expect(try Element.base(x.negated()) == p.negated())
        #expect(throws: FROSTError.self) { try Element.identity(suite).serialize() }
        // The identity's encodings are refused on input.
        let identityBytes: [UInt8] = suite == .ed25519 ? Element.edwardsIdentity : [0x02] + [UInt8](repeating: 0, count: 32)
        #expect(throws: FROSTError.self) { try Element.deserialize(identityBytes, suite) }
        // (x + y)·G == x·G + y·G, and (x·y)·G == y·(x·G).
        let y = try Scalar.random(suite)
        #expect(try Element.base(x + y) == p + Element.base(y))
        #expect(try Element.base(x * y) == p.multiplied(by: y))
        #expect(try Element.deserialize(p.serialize(), suite) == p)
    }

    @Test func elementsRejectPointsOutsideTheGroup() throws {
        // Ed25519: a point of order 8 (small order) and a non-canonical encoding (y = p).
        let smallOrder = bytes("c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a")
        #expect(throws: FROSTError.self) { try Element.deserialize(smallOrder, .ed25519) }
        let nonCanonical = bytes("edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f")
        #expect(throws: FROSTError.self) { try Element.deserialize(nonCanonical, .ed25519) }
        // secp256k1: x = 5 has no point on the curve (5^3 + 7 = 132 is not a square mod p); uncompressed
        // form and a wrong length are refused.
        #expect(throws: FROSTError.self) { try Element.deserialize([0x02] + [UInt8](repeating: 0, count: 31) + [5], .secp256k1) }
        let g = try Element.base(Scalar.integer(1, .secp256k1))
        #expect(hex(try g.serialize()) == "0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")
        #expect(throws: FROSTError.self) { try Element.deserialize([0x04] + (try g.serialize()).dropFirst(), .secp256k1) }
        #expect(throws: FROSTError.self) { try Element.deserialize(Array((try g.serialize()).dropLast()), .secp256k1) }
    }
}
