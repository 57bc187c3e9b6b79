import SecureCrypto

/// A participant identifier: a non-zero integer, 1 ... 65535 (RFC 9591 section 4.1 uses 1 ... MAX).
public typealias ParticipantID = UInt16

extension ParticipantID {
    /// The identifier as a scalar of `suite`.
    func scalar(_ suite: Ciphersuite) throws -> Scalar { try Scalar.integer(UInt64(self), suite) }
}

/// One participant's key package: the secret signing share and the public values it signs under.
///
/// The signing share lives in locked memory. ``serialized()`` gives the documented binary form (see
/// docs/frost.md) in locked memory, which is what Strongroom stores; ``init(deserializing:)`` reads it.
public struct KeyPackage: Sendable {
    /// The ciphersuite.
    public let suite: Ciphersuite
    /// This participant's identifier.
    public let identifier: ParticipantID
    /// The secret signing share s_i.
    public let signingShare: Scalar
    /// The public verifying share s_i·G.
    public let verifyingShare: Element
    /// The group's public key.
    public let groupKey: Element
    /// The threshold t: signers needed for a signature.
    public let minSigners: UInt16
    /// The number of participants n.
    public let maxSigners: UInt16
    /// The share generation: 1 at key generation, +1 with every refresh.
    public let epoch: UInt32

    /// Creates a key package; the verifying share must match the signing share.
    public init(
        suite: Ciphersuite, identifier: ParticipantID, signingShare: Scalar, verifyingShare: Element, groupKey: Element,
        minSigners: UInt16, maxSigners: UInt16, epoch: UInt32
    ) throws {
        try self.init(
            suite: suite, identifier: identifier, signingShare: signingShare, verifyingShare: verifyingShare, groupKey: groupKey,
            minSigners: minSigners, maxSigners: maxSigners, epoch: epoch, checkShare: true)
    }

    init(
        suite: Ciphersuite, identifier: ParticipantID, signingShare: Scalar, verifyingShare: Element, groupKey: Element,
        minSigners: UInt16, maxSigners: UInt16, epoch: UInt32, checkShare: Bool
    ) throws {
        try FROST.checkThreshold(min: minSigners, max: maxSigners)
        guard identifier >= 1, identifier <= maxSigners else {
            throw FROSTError(.invalidInput, "identifier \(identifier) is outside 1...\(maxSigners)")
        }
        guard signingShare.suite == suite, verifyingShare.suite == suite, groupKey.suite == suite else {
            throw FROSTError(.invalidInput, "key package values of different ciphersuites")
        }
        let matches = checkShare ? try Element.base(signingShare) == verifyingShare : true
        guard matches, !verifyingShare.isIdentity, !groupKey.isIdentity else {
            throw FROSTError(.groupState, "participant \(identifier)'s signing share does not match its verifying share")
        }
        self.suite = suite
        self.identifier = identifier
        self.signingShare = signingShare
        self.verifyingShare = verifyingShare
        self.groupKey = groupKey
        self.minSigners = minSigners
        self.maxSigners = maxSigners
        self.epoch = epoch
    }

    /// Format version 1's magic: "SRFK" (Strongroom FROST key).
    static let magic: [UInt8] = Array("SRFK".utf8)
    /// The serialisation's format version.
    public static let formatVersion: UInt8 = 1

    /// The serialised key package in locked memory:
    /// `"SRFK" | version u8 (1) | suite u8 | identifier u16 | min u16 | max u16 | epoch u32 |
    ///  signing share (32) | verifying share (Ne) | group key (Ne)`, integers big-endian.
    public func serialized() throws -> SecretBytes {
        let header: [UInt8] = KeyPackage.magic + [KeyPackage.formatVersion, suite.rawValue]
            + FROST.be16(identifier) + FROST.be16(minSigners) + FROST.be16(maxSigners) + FROST.be32(epoch)
        let tail = try verifyingShare.serialize() + groupKey.serialize()
        return try SecretBytes(count: header.count + 32 + tail.count) { out in
            var offset = 0
            header.withUnsafeBytes { out.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            offset += header.count
            signingShare.secret.withUnsafeBytes { (out.baseAddress! + offset).copyMemory(from: $0.baseAddress!, byteCount: 32) }
            offset += 32
            tail.withUnsafeBytes { (out.baseAddress! + offset).copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
        }
    }

    /// Reads a serialised key package, checking its format version, ciphersuite, lengths, that both
    /// elements are valid group elements and that the signing share matches the verifying share.
    ///
    /// `authenticated: true` is for bytes just opened from a Strongroom envelope (AES-GCM over the
    /// bytes the engine wrote after checking them): it skips the point validation and the s·G check,
    /// three scalar multiplications per load, and leaves comparing the elements with the group's
    /// record to the caller.
    public init(deserializing bytes: SecretBytes, authenticated: Bool = false) throws {
        let parsed: (Ciphersuite, UInt16, UInt16, UInt16, UInt32, Scalar, Element, Element) = try bytes.withUnsafeBytes { raw in
            guard raw.count >= 16, Array(raw[0..<4]) == KeyPackage.magic else {
                throw FROSTError(.malformedEncoding, "not a Strongroom FROST key package (no SRFK header)")
            }
            guard raw[4] == KeyPackage.formatVersion else {
                throw FROSTError(.malformedEncoding, "key package format version \(raw[4]) is not supported (this build reads version \(KeyPackage.formatVersion))")
            }
            guard let suite = Ciphersuite(rawValue: raw[5]) else {
                throw FROSTError(.malformedEncoding, "unknown ciphersuite code \(raw[5]) in key package")
            }
            let expected = 16 + 32 + 2 * suite.elementLength
            guard raw.count == expected else {
                throw FROSTError(.malformedEncoding, "a \(suite.shortName) key package is \(expected) bytes, not \(raw.count)")
            }
            func u16(_ at: Int) -> UInt16 { UInt16(raw[at]) << 8 | UInt16(raw[at + 1]) }
            let epoch = UInt32(raw[12]) << 24 | UInt32(raw[13]) << 16 | UInt32(raw[14]) << 8 | UInt32(raw[15])
            let share = try Scalar.deserialize(UnsafeRawBufferPointer(rebasing: raw[16..<48]), suite)
            let verifyingBytes = Array(raw[48..<(48 + suite.elementLength)])
            let groupBytes = Array(raw[(48 + suite.elementLength)...])
            let verifying = authenticated ? Element(suite: suite, storage: .point(verifyingBytes)) : try Element.deserialize(verifyingBytes, suite)
            let group = authenticated ? Element(suite: suite, storage: .point(groupBytes)) : try Element.deserialize(groupBytes, suite)
            return (suite, u16(6), u16(8), u16(10), epoch, share, verifying, group)
        }
        try self.init(
            suite: parsed.0, identifier: parsed.1, signingShare: parsed.5, verifyingShare: parsed.6, groupKey: parsed.7,
            minSigners: parsed.2, maxSigners: parsed.3, epoch: parsed.4, checkShare: !authenticated)
    }

    /// The public values of this package.
    public var publicSummary: String {
        "participant \(identifier) of \(minSigners)-of-\(maxSigners) \(suite) group \(groupKey), epoch \(epoch)"
    }
}

/// The group's public data: everything a coordinator or verifier needs, no secrets.
public struct PublicKeyPackage: Sendable, Hashable {
    /// The ciphersuite.
    public let suite: Ciphersuite
    /// The group's public key.
    public let groupKey: Element
    /// Every participant's verifying share.
    public let verifyingShares: [ParticipantID: Element]
    /// The threshold t.
    public let minSigners: UInt16
    /// The number of participants n.
    public let maxSigners: UInt16
    /// The share generation these verifying shares belong to.
    public let epoch: UInt32

    /// Creates a public key package.
    public init(
        suite: Ciphersuite, groupKey: Element, verifyingShares: [ParticipantID: Element], minSigners: UInt16,
        maxSigners: UInt16, epoch: UInt32
    ) throws {
        try FROST.checkThreshold(min: minSigners, max: maxSigners)
        guard verifyingShares.count == Int(maxSigners), verifyingShares.keys.allSatisfy({ $0 >= 1 && $0 <= maxSigners }) else {
            throw FROSTError(.groupState, "the group needs verifying shares for participants 1...\(maxSigners)")
        }
        self.suite = suite
        self.groupKey = groupKey
        self.verifyingShares = verifyingShares
        self.minSigners = minSigners
        self.maxSigners = maxSigners
        self.epoch = epoch
    }

    /// Participant identifiers, ascending.
    public var participants: [ParticipantID] { verifyingShares.keys.sorted() }
}

/// The FROST operations of RFC 9591.
public enum FROST {
    static func be16(_ value: UInt16) -> [UInt8] { [UInt8(value >> 8), UInt8(value & 0xFF)] }
    static func be32(_ value: UInt32) -> [UInt8] { [UInt8(value >> 24), UInt8((value >> 16) & 0xFF), UInt8((value >> 8) & 0xFF), UInt8(value & 0xFF)] }

    /// 2 <= t <= n, as RFC 9591 requires (MIN_PARTICIPANTS >= 2 ... a single signer is not threshold).
    static func checkThreshold(min: UInt16, max: UInt16) throws {
        guard min >= 2 else { throw FROSTError(.invalidInput, "the threshold must be at least 2, not \(min)") }
        guard min <= max else { throw FROSTError(.invalidInput, "the threshold \(min) exceeds the number of participants \(max)") }
        guard max <= 255 else { throw FROSTError(.invalidInput, "at most 255 participants, not \(max)") }
    }

    // MARK: Polynomials (RFC 9591 Appendix C)

    /// f(x) by Horner's rule; coefficients[0] is the constant term.
    static func evaluate(_ coefficients: [Scalar], at x: Scalar) throws -> Scalar {
        var value = try Scalar.zero(x.suite)
        for coefficient in coefficients.reversed() {
            value = try value * x + coefficient
        }
        return value
    }

    /// Σ_k C_k · x^k: the public image of f(x) from its coefficient commitments.
    static func evaluateCommitment(_ commitment: [Element], at id: ParticipantID, suite: Ciphersuite) throws -> Element {
        let x = try id.scalar(suite)
        var power = try Scalar.integer(1, suite)
        var sum = Element.identity(suite)
        for c in commitment {
            sum = try sum + c.multiplied(by: power)
            power = try power * x
        }
        return sum
    }

    /// derive_interpolating_value: the Lagrange coefficient of x_i over `participants` at 0.
    static func lagrangeCoefficient(_ id: ParticipantID, participants: [ParticipantID], suite: Ciphersuite) throws -> Scalar {
        guard participants.contains(id) else { throw FROSTError(.invalidInput, "participant \(id) is not among the signers") }
        guard Set(participants).count == participants.count else { throw FROSTError(.invalidInput, "duplicate participant identifiers") }
        let xi = try id.scalar(suite)
        var numerator = try Scalar.integer(1, suite)
        var denominator = try Scalar.integer(1, suite)
        for other in participants where other != id {
            let xj = try other.scalar(suite)
            numerator = try numerator * xj
            denominator = try denominator * (xj - xi)
        }
        return try numerator * denominator.inverted()
    }

    // MARK: Trusted dealer (RFC 9591 Appendix C)

    /// The result of trusted-dealer key generation.
    public struct DealtKeys: Sendable {
        /// One key package per participant, identifiers 1...n.
        public let keyPackages: [KeyPackage]
        /// The group's public data.
        public let publicKeyPackage: PublicKeyPackage
        /// The VSS commitment to the dealer's polynomial (C_0 is the group key).
        public let vssCommitment: [Element]
    }

    /// trusted_dealer_keygen: splits `secret` (random when nil) into n shares with threshold t.
    /// `coefficients` (t-1 of them) are for known-answer tests; normally they are random.
    public static func trustedDealerKeygen(
        suite: Ciphersuite, minSigners: UInt16, maxSigners: UInt16, secret: Scalar? = nil, coefficients: [Scalar]? = nil
    ) throws -> DealtKeys {
        try checkThreshold(min: minSigners, max: maxSigners)
        let groupSecret = try secret ?? Scalar.random(suite)
        guard !groupSecret.isZero else { throw FROSTError(.invalidInput, "the group secret must not be zero") }
        var polynomial = [groupSecret]
        if let coefficients {
            guard coefficients.count == Int(minSigners) - 1 else {
                throw FROSTError(.invalidInput, "a threshold of \(minSigners) needs \(minSigners - 1) coefficients, not \(coefficients.count)")
            }
            polynomial += coefficients
        } else {
            for _ in 1..<minSigners { polynomial.append(try Scalar.random(suite)) }
        }
        let commitment = try polynomial.map { try Element.base($0) }
        let groupKey = commitment[0]
        var packages: [KeyPackage] = []
        var verifying: [ParticipantID: Element] = [:]
        for id in 1...maxSigners {
            let share = try evaluate(polynomial, at: id.scalar(suite))
            let verifyingShare = try Element.base(share)
            // vss_verify: the share matches the dealer's commitment.
            guard try evaluateCommitment(commitment, at: id, suite: suite) == verifyingShare else {
                throw FROSTError(.invalidPackage, "share \(id) does not match the VSS commitment")
            }
            verifying[id] = verifyingShare
            packages.append(
                try KeyPackage(
                    suite: suite, identifier: id, signingShare: share, verifyingShare: verifyingShare, groupKey: groupKey,
                    minSigners: minSigners, maxSigners: maxSigners, epoch: 1))
        }
        let publicPackage = try PublicKeyPackage(
            suite: suite, groupKey: groupKey, verifyingShares: verifying, minSigners: minSigners, maxSigners: maxSigners, epoch: 1)
        return DealtKeys(keyPackages: packages, publicKeyPackage: publicPackage, vssCommitment: commitment)
    }
}
