internal import CSecp256k1
internal import CSodium
import SecureCrypto

/// An element of a ciphersuite's prime-order group: the identity or a point, by its canonical
/// encoding (32-byte compressed Edwards point, or 33-byte compressed SEC1 point).
///
/// The identity is a case of its own: libsodium refuses to produce it from a scalar multiplication and
/// libsecp256k1 has no point at infinity, so every operation handles it before calling them. Elements
/// are public values.
public struct Element: Sendable, Hashable, CustomStringConvertible {
    enum Storage: Sendable, Hashable {
        case identity
        case point([UInt8])
    }

    /// The ciphersuite whose group this element belongs to.
    public let suite: Ciphersuite
    let storage: Storage

    init(suite: Ciphersuite, storage: Storage) {
        self.suite = suite
        self.storage = storage
    }

    /// The identity element.
    public static func identity(_ suite: Ciphersuite) -> Element { Element(suite: suite, storage: .identity) }

    /// True for the identity element.
    public var isIdentity: Bool { storage == .identity }

    /// The encoding as hex, or `identity`.
    public var description: String {
        switch storage {
        case .identity: "identity"
        case .point(let bytes): Hex.encode(bytes)
        }
    }

    // MARK: Encoding

    /// SerializeElement (RFC 9591): the canonical encoding; the identity has none and is an error.
    public func serialize() throws -> [UInt8] {
        guard case .point(let bytes) = storage else {
            throw FROSTError(.invalidInput, "the identity element cannot be serialised (RFC 9591 SerializeElement)")
        }
        return bytes
    }

    /// DeserializeElement (RFC 9591): rejects wrong lengths, non-canonical encodings, points off the
    /// curve or outside the prime-order subgroup, and the identity.
    public static func deserialize(_ bytes: [UInt8], _ suite: Ciphersuite) throws -> Element {
        guard bytes.count == suite.elementLength else {
            throw FROSTError(.malformedEncoding, "a \(suite.shortName) element is \(suite.elementLength) bytes, not \(bytes.count)")
        }
        switch suite {
        case .ed25519:
            // Canonical, on the curve, in the prime-order subgroup, not of small order (so not the identity).
            guard crypto_core_ed25519_is_valid_point(bytes) == 1 else {
                throw FROSTError(.malformedEncoding, "the bytes are not a valid Ed25519 point of the prime-order subgroup (or are the identity)")
            }
        case .secp256k1:
            guard bytes[0] == 0x02 || bytes[0] == 0x03 else {
                throw FROSTError(.malformedEncoding, "a secp256k1 element must be a compressed SEC1 point (prefix 02 or 03)")
            }
            var point = secp256k1_pubkey()
            guard secp256k1_ec_pubkey_parse(Secp256k1Context.shared, &point, bytes, 33) == 1 else {
                throw FROSTError(.malformedEncoding, "the bytes are not a point on secp256k1")
            }
        }
        return Element(suite: suite, storage: .point(bytes))
    }

    // MARK: Group operations

    /// ScalarBaseMult: s·G; the identity when s is zero.
    public static func base(_ s: Scalar) throws -> Element {
        if s.isZero { return .identity(s.suite) }
        return try s.secret.withUnsafeBytes { scalar in
            let k = scalar.baseAddress!.assumingMemoryBound(to: UInt8.self)
            switch s.suite {
            case .ed25519:
                var out = [UInt8](repeating: 0, count: 32)
                guard crypto_scalarmult_ed25519_base_noclamp(&out, k) == 0 else { return .identity(.ed25519) }
                return Element(suite: .ed25519, storage: .point(out))
            case .secp256k1:
                var point = secp256k1_pubkey()
                guard secp256k1_ec_pubkey_create(Secp256k1Context.shared, &point, k) == 1 else {
                    throw FROSTError(.invalidInput, "libsecp256k1 refused a scalar for base multiplication")
                }
                return Secp256k1Context.element(point)
            }
        }
    }

    /// s·self; the identity when either is zero or the identity.
    public func multiplied(by s: Scalar) throws -> Element {
        precondition(s.suite == suite, "scalar and element of different ciphersuites")
        guard case .point(let bytes) = storage, !s.isZero else { return .identity(suite) }
        return try s.secret.withUnsafeBytes { scalar in
            let k = scalar.baseAddress!.assumingMemoryBound(to: UInt8.self)
            switch suite {
            case .ed25519:
                var out = [UInt8](repeating: 0, count: 32)
                // The point is a valid subgroup point, so -1 means the product is the identity.
                guard crypto_scalarmult_ed25519_noclamp(&out, k, bytes) == 0 else { return .identity(.ed25519) }
                return Element(suite: .ed25519, storage: .point(out))
            case .secp256k1:
                var point = try Secp256k1Context.parse(bytes)
                guard secp256k1_ec_pubkey_tweak_mul(Secp256k1Context.shared, &point, k) == 1 else {
                    throw FROSTError(.invalidInput, "libsecp256k1 refused a scalar multiplication")
                }
                return Secp256k1Context.element(point)
            }
        }
    }

    /// self + other, with the identity handled explicitly.
    public static func + (lhs: Element, rhs: Element) throws -> Element {
        precondition(lhs.suite == rhs.suite, "elements of different ciphersuites")
        guard case .point(let a) = lhs.storage else { return rhs }
        guard case .point(let b) = rhs.storage else { return lhs }
        switch lhs.suite {
        case .ed25519:
            var out = [UInt8](repeating: 0, count: 32)
            guard crypto_core_ed25519_add(&out, a, b) == 0 else {
                throw FROSTError(.invalidInput, "libsodium refused to add two Ed25519 points")
            }
            return Element.edwards(out)
        case .secp256k1:
            let p = try Secp256k1Context.parse(a)
            let q = try Secp256k1Context.parse(b)
            return Secp256k1Context.combine(p, q)
        }
    }

    /// self - other.
    public static func - (lhs: Element, rhs: Element) throws -> Element {
        try lhs + rhs.negated()
    }

    /// -self.
    public func negated() throws -> Element {
        guard case .point(let bytes) = storage else { return self }
        switch suite {
        case .ed25519:
            var out = [UInt8](repeating: 0, count: 32)
            let identity = Element.edwardsIdentity
            guard crypto_core_ed25519_sub(&out, identity, bytes) == 0 else {
                throw FROSTError(.invalidInput, "libsodium refused to negate an Ed25519 point")
            }
            return Element.edwards(out)
        case .secp256k1:
            var point = try Secp256k1Context.parse(bytes)
            _ = secp256k1_ec_pubkey_negate(Secp256k1Context.shared, &point)
            return Secp256k1Context.element(point)
        }
    }

    /// The encoding of the Edwards identity (0, 1): y = 1, little-endian.
    static let edwardsIdentity: [UInt8] = [1] + [UInt8](repeating: 0, count: 31)

    static func edwards(_ bytes: [UInt8]) -> Element {
        bytes == edwardsIdentity ? .identity(.ed25519) : Element(suite: .ed25519, storage: .point(bytes))
    }
}

/// The process-wide libsecp256k1 context, randomised once for side-channel blinding.
enum Secp256k1Context {
    nonisolated(unsafe) static let shared: OpaquePointer = {
        let context = secp256k1_context_create(UInt32(SECP256K1_CONTEXT_NONE))!
        if let seed = try? SecureRandom.secretBytes(count: 32) {
            seed.withUnsafeBytes { _ = secp256k1_context_randomize(context, $0.baseAddress!.assumingMemoryBound(to: UInt8.self)) }
        }
        return context
    }()

    static func parse(_ bytes: [UInt8]) throws -> secp256k1_pubkey {
        var point = secp256k1_pubkey()
        guard secp256k1_ec_pubkey_parse(shared, &point, bytes, bytes.count) == 1 else {
            throw FROSTError(.malformedEncoding, "the bytes are not a point on secp256k1")
        }
        return point
    }

    static func element(_ point: secp256k1_pubkey) -> Element {
        var point = point
        var out = [UInt8](repeating: 0, count: 33)
        var length = 33
        _ = secp256k1_ec_pubkey_serialize(shared, &out, &length, &point, UInt32(SECP256K1_EC_COMPRESSED))
        return Element(suite: .secp256k1, storage: .point(out))
    }

    /// p + q; libsecp256k1 reports a sum at infinity as a failure, which is the identity here.
    static func combine(_ p: secp256k1_pubkey, _ q: secp256k1_pubkey) -> Element {
        var p = p
        var q = q
        var sum = secp256k1_pubkey()
        let combined: Int32 = withUnsafePointer(to: &p) { pp in
            withUnsafePointer(to: &q) { qq in
                var points: [UnsafePointer<secp256k1_pubkey>?] = [pp, qq]
                return secp256k1_ec_pubkey_combine(shared, &sum, &points, 2)
            }
        }
        return combined == 1 ? element(sum) : .identity(.secp256k1)
    }
}
