internal import CSodium
import SecureCrypto
import Synchronization

/// A participant's round-one commitments (D_i, E_i): public.
public struct SigningCommitments: Sendable, Hashable {
    /// The participant.
    public let identifier: ParticipantID
    /// D_i = hiding nonce · G.
    public let hiding: Element
    /// E_i = binding nonce · G.
    public let binding: Element

    /// Creates commitments (neither may be the identity).
    public init(identifier: ParticipantID, hiding: Element, binding: Element) throws {
        guard !hiding.isIdentity, !binding.isIdentity else {
            throw FROSTError(.invalidInput, "participant \(identifier)'s nonce commitments must not be the identity")
        }
        self.identifier = identifier
        self.hiding = hiding
        self.binding = binding
    }
}

/// A participant's round-one nonces: secret, single-use. Held in locked memory; ``take()`` hands them
/// out exactly once, after which they are released and zeroed.
public final class SigningNonces: Sendable {
    /// The commitments to these nonces.
    public let commitments: SigningCommitments
    private let nonces: Mutex<(hiding: Scalar, binding: Scalar)?>

    init(hiding: Scalar, binding: Scalar, commitments: SigningCommitments) {
        self.commitments = commitments
        self.nonces = Mutex((hiding, binding))
    }

    /// The nonces, once; nil if they were already taken or wiped.
    func take() -> (hiding: Scalar, binding: Scalar)? {
        nonces.withLock { stored in
            let taken = stored
            stored = nil
            return taken
        }
    }

    /// Drops the nonces (their locked memory is zeroed when released).
    public func wipe() { nonces.withLock { $0 = nil } }

    /// True once the nonces were used or wiped.
    public var isSpent: Bool { nonces.withLock { $0 == nil } }

    /// Test access to the nonce values (tests compare them with RFC vectors).
    package func peek() -> (hiding: Scalar, binding: Scalar)? { nonces.withLock { $0 } }
}

/// A signature share z_i: public once sent.
public struct SignatureShare: Sendable {
    /// The participant who made it.
    public let identifier: ParticipantID
    /// z_i.
    public let share: Scalar

    /// Creates a share.
    public init(identifier: ParticipantID, share: Scalar) {
        self.identifier = identifier
        self.share = share
    }
}

/// A Schnorr signature (R, z).
public struct Signature: Sendable {
    /// The group commitment R.
    public let commitment: Element
    /// z.
    public let z: Scalar

    /// SerializeElement(R) || SerializeScalar(z): 64 bytes (Ed25519) or 65 bytes (secp256k1).
    public func serialized() throws -> [UInt8] { try commitment.serialize() + z.publicEncoding() }

    /// Parses a serialised signature.
    public init(bytes: [UInt8], suite: Ciphersuite) throws {
        guard bytes.count == suite.signatureLength else {
            throw FROSTError(.malformedEncoding, "a \(suite.shortName) signature is \(suite.signatureLength) bytes, not \(bytes.count)")
        }
        commitment = try Element.deserialize(Array(bytes[0..<suite.elementLength]), suite)
        z = try Scalar.deserialize(Array(bytes[suite.elementLength...]), suite)
    }

    init(commitment: Element, z: Scalar) {
        self.commitment = commitment
        self.z = z
    }
}

/// What the coordinator sends in round two: the message and every signer's commitments, sorted by
/// identifier. The binding factors, the group commitment and the challenge are pure functions of it
/// and the group key; they are computed once per package and reused by every party holding it.
public final class SigningPackage: Sendable {
    /// The ciphersuite.
    public let suite: Ciphersuite
    /// The signers' commitments, ascending by identifier.
    public let commitments: [SigningCommitments]
    /// The message to sign.
    public let message: [UInt8]

    struct Derived: Sendable {
        let groupKey: Element
        let bindingFactors: [ParticipantID: Scalar]
        let groupCommitment: Element
        let challenge: Scalar
    }
    private let derived = Mutex<Derived?>(nil)

    /// Creates a package; commitments are sorted, and duplicates or too few signers are refused.
    public init(suite: Ciphersuite, commitments: [SigningCommitments], message: [UInt8]) throws {
        let sorted = commitments.sorted { $0.identifier < $1.identifier }
        guard Set(sorted.map(\.identifier)).count == sorted.count else {
            throw FROSTError(.invalidInput, "the signing package lists a participant twice")
        }
        guard sorted.count >= 2 else { throw FROSTError(.invalidInput, "a signing package needs at least 2 signers") }
        guard sorted.allSatisfy({ $0.hiding.suite == suite && $0.binding.suite == suite }) else {
            throw FROSTError(.invalidInput, "commitments of another ciphersuite in the signing package")
        }
        self.suite = suite
        self.commitments = sorted
        self.message = message
    }

    /// The signers, ascending.
    public var signers: [ParticipantID] { commitments.map(\.identifier) }

    /// encode_group_commitment_list.
    func encodedCommitmentList() throws -> [UInt8] {
        var out: [UInt8] = []
        for c in commitments {
            out += try c.identifier.scalar(suite).publicEncoding() + c.hiding.serialize() + c.binding.serialize()
        }
        return out
    }

    /// The prefix of every binding-factor input: SerializeElement(PK) || H4(msg) || H5(commitment list).
    func bindingFactorPrefix(groupKey: Element) throws -> [UInt8] {
        try groupKey.serialize() + suite.h4(message) + suite.h5(encodedCommitmentList())
    }

    /// compute_binding_factors, compute_group_commitment and compute_challenge, once per group key.
    func derive(groupKey: Element) throws -> Derived {
        if let cached = derived.withLock({ $0 }), cached.groupKey == groupKey { return cached }
        let prefix = try bindingFactorPrefix(groupKey: groupKey)
        var factors: [ParticipantID: Scalar] = [:]
        var commitment = Element.identity(suite)
        for c in commitments {
            let rho = try suite.h1([.bytes(prefix + c.identifier.scalar(suite).publicEncoding())])
            factors[c.identifier] = rho
            commitment = try commitment + c.hiding + c.binding.multiplied(by: rho)
        }
        let challenge = try suite.h2([.bytes(try commitment.serialize() + groupKey.serialize() + message)])
        let result = Derived(groupKey: groupKey, bindingFactors: factors, groupCommitment: commitment, challenge: challenge)
        derived.withLock { $0 = result }
        return result
    }
}

extension FROST {
    // MARK: Round one

    /// nonce_generate: H3(random_bytes || SerializeScalar(secret)), with 32 random bytes from the CSPRNG
    /// unless `randomness` is given (known-answer tests).
    static func nonceGenerate(secret: Scalar, randomness: SecretBytes? = nil) throws -> Scalar {
        let random = try randomness ?? SecureRandom.secretBytes(count: 32)
        return try secret.suite.h3([.secret(random), .scalar(secret)])
    }

    /// commit: fresh hiding and binding nonces for `keyPackage`'s share, and their commitments.
    public static func commit(_ keyPackage: KeyPackage) throws -> SigningNonces {
        try commit(identifier: keyPackage.identifier, signingShare: keyPackage.signingShare)
    }

    /// commit with given nonce randomness (known-answer tests) or fresh randomness.
    package static func commit(
        identifier: ParticipantID, signingShare: Scalar, hidingRandomness: SecretBytes? = nil, bindingRandomness: SecretBytes? = nil
    ) throws -> SigningNonces {
        let hiding = try nonceGenerate(secret: signingShare, randomness: hidingRandomness)
        let binding = try nonceGenerate(secret: signingShare, randomness: bindingRandomness)
        let commitments = try SigningCommitments(identifier: identifier, hiding: Element.base(hiding), binding: Element.base(binding))
        return SigningNonces(hiding: hiding, binding: binding, commitments: commitments)
    }

    // MARK: Round two

    /// sign: participant `keyPackage`'s signature share over `package`, consuming `nonces`.
    public static func sign(_ package: SigningPackage, nonces: SigningNonces, keyPackage: KeyPackage) throws -> SignatureShare {
        guard package.suite == keyPackage.suite else { throw FROSTError(.invalidInput, "signing package and key package of different ciphersuites") }
        guard let mine = package.commitments.first(where: { $0.identifier == keyPackage.identifier }) else {
            throw FROSTError(.invalidInput, "participant \(keyPackage.identifier) is not in the signing package")
        }
        guard mine == nonces.commitments else {
            throw FROSTError(.invalidInput, "the signing package carries other commitments for participant \(keyPackage.identifier) than its nonces")
        }
        guard package.commitments.count >= Int(keyPackage.minSigners) else {
            throw FROSTError(.invalidInput, "\(package.commitments.count) signers are fewer than the threshold \(keyPackage.minSigners)")
        }
        guard let (hiding, binding) = nonces.take() else {
            throw FROSTError(.sessionUsed, "participant \(keyPackage.identifier)'s nonces were already used or wiped; run round one again")
        }
        let derived = try package.derive(groupKey: keyPackage.groupKey)
        let lambda = try lagrangeCoefficient(keyPackage.identifier, participants: package.signers, suite: package.suite)
        let rho = derived.bindingFactors[keyPackage.identifier]!
        let z = try hiding + binding * rho + lambda * keyPackage.signingShare * derived.challenge
        return SignatureShare(identifier: keyPackage.identifier, share: z)
    }

    // MARK: Aggregation and verification

    /// verify_signature_share: z_i·G == D_i + ρ_i·E_i + (c·λ_i)·PK_i.
    public static func verifySignatureShare(
        _ share: SignatureShare, verifyingShare: Element, package: SigningPackage, groupKey: Element
    ) throws -> Bool {
        guard let mine = package.commitments.first(where: { $0.identifier == share.identifier }) else {
            throw FROSTError(.invalidInput, "participant \(share.identifier) is not in the signing package")
        }
        let derived = try package.derive(groupKey: groupKey)
        let rho = derived.bindingFactors[share.identifier]!
        let commitmentShare = try mine.hiding + mine.binding.multiplied(by: rho)
        let lambda = try lagrangeCoefficient(share.identifier, participants: package.signers, suite: package.suite)
        let left = try Element.base(share.share)
        let right = try commitmentShare + verifyingShare.multiplied(by: derived.challenge * lambda)
        return left == right
    }

    /// When the coordinator checks individual signature shares.
    public enum ShareVerification: Sendable {
        /// Check every share before aggregating.
        case always
        /// Aggregate, verify the signature, and check the shares only if it fails, to name the culprits
        /// (RFC 9591 section 5.3). The outcome is the same; honest signing costs less.
        case onFailure
    }

    /// aggregate: z = Σ z_i, then the signature is verified; an invalid signature share is an error
    /// naming its sender(s).
    public static func aggregate(
        _ package: SigningPackage, shares: [SignatureShare], publicKeys: PublicKeyPackage, verification: ShareVerification = .onFailure
    ) throws -> Signature {
        guard Set(shares.map(\.identifier)) == Set(package.signers), shares.count == package.signers.count else {
            throw FROSTError(.invalidInput, "need exactly one signature share from each of participants \(package.signers)")
        }
        guard package.signers.count >= Int(publicKeys.minSigners) else {
            throw FROSTError(.invalidInput, "\(package.signers.count) signers are fewer than the threshold \(publicKeys.minSigners)")
        }
        func culprits() throws -> [ParticipantID] {
            var bad: [ParticipantID] = []
            for share in shares.sorted(by: { $0.identifier < $1.identifier }) {
                guard let verifying = publicKeys.verifyingShares[share.identifier] else {
                    throw FROSTError(.invalidInput, "participant \(share.identifier) is not in the group")
                }
                if try !verifySignatureShare(share, verifyingShare: verifying, package: package, groupKey: publicKeys.groupKey) {
                    bad.append(share.identifier)
                }
            }
            return bad
        }
        if verification == .always {
            let bad = try culprits()
            guard bad.isEmpty else {
                throw FROSTError(.invalidSignatureShare, "signature share(s) from participant(s) \(bad.map(String.init).joined(separator: ", ")) do not verify", culprits: bad)
            }
        }
        let derived = try package.derive(groupKey: publicKeys.groupKey)
        var z = try Scalar.zero(package.suite)
        for share in shares { z = try z + share.share }
        let signature = Signature(commitment: derived.groupCommitment, z: z)
        guard try verify(signature, message: package.message, groupKey: publicKeys.groupKey) else {
            let bad = try culprits()
            throw FROSTError(
                .invalidSignatureShare,
                bad.isEmpty
                    ? "the aggregate signature does not verify although every share does"
                    : "signature share(s) from participant(s) \(bad.map(String.init).joined(separator: ", ")) do not verify",
                culprits: bad)
        }
        return signature
    }

    /// Verifies a signature under a group key. Ed25519: libsodium's crypto_sign_verify_detached (RFC
    /// 8032). secp256k1: z·G == R + c·PK (prime order, no cofactor).
    public static func verify(_ signature: Signature, message: [UInt8], groupKey: Element) throws -> Bool {
        let suite = groupKey.suite
        guard signature.commitment.suite == suite, signature.z.suite == suite, !signature.commitment.isIdentity else { return false }
        switch suite {
        case .ed25519:
            let bytes = try signature.serialized()
            let key = try groupKey.serialize()
            return crypto_sign_verify_detached(bytes, message, UInt64(message.count), key) == 0
        case .secp256k1:
            let challenge = try suite.h2([.bytes(try signature.commitment.serialize() + groupKey.serialize() + message)])
            return try Element.base(signature.z) == signature.commitment + groupKey.multiplied(by: challenge)
        }
    }

    /// Verifies serialised signature bytes; malformed bytes are simply invalid.
    public static func verify(signature bytes: [UInt8], message: [UInt8], groupKey: Element) -> Bool {
        guard let signature = try? Signature(bytes: bytes, suite: groupKey.suite) else { return false }
        return (try? verify(signature, message: message, groupKey: groupKey)) ?? false
    }
}
