import SecureCrypto

/// Distributed key generation: Pedersen's DKG with proofs of knowledge of each constant term, as in
/// FROST's key generation (Komlo and Goldberg, "FROST", SAC 2020, figure 1). No dealer ever knows the
/// group secret.
///
/// Every run has a ``SessionID``: 32 random bytes chosen by whoever starts it and carried in each of its
/// messages. A package of another run is refused, and the proof of knowledge is bound to the run, so a
/// proof copied from one run does not verify in another.
///
/// Round 1: each participant P_i picks a random polynomial f_i of degree t-1, broadcasts the commitment
/// C_i = (a_i0·G, ..., a_i(t-1)·G) and a Schnorr proof (R_i, μ_i) that it knows a_i0, with
/// c_i = HDKG(session id || SerializeScalar(i) || SerializeElement(C_i0) || SerializeElement(R_i)).
/// Round 2: each checks every other proof (R_j == μ_j·G - c_j·C_j0), then sends f_i(j) to P_j privately.
/// Finalise: each checks every received f_j(i)·G == Σ_k C_jk·i^k, sums s_i = Σ_j f_j(i), and derives
/// the group key Σ_j C_j0 and every verifying share.
public enum DKG {
    /// A participant's round-one secret state: its polynomial. Locked memory; drop it after finalising.
    public struct Round1Secret: Sendable {
        /// The participant.
        public let identifier: ParticipantID
        let coefficients: [Scalar]
        let suite: Ciphersuite
        let minSigners: UInt16
        let maxSigners: UInt16
        /// The run.
        public let session: SessionID
    }

    /// What a participant broadcasts in round one.
    public struct Round1Package: Sendable, Hashable {
        /// The sender.
        public let sender: ParticipantID
        /// The commitment to the sender's polynomial, t elements.
        public let commitment: [Element]
        /// The proof of knowledge's commitment R.
        public let proofCommitment: Element
        /// The proof of knowledge's response μ (public).
        public let proofResponse: [UInt8]
        /// The run this package belongs to.
        public let session: SessionID
    }

    /// A share f_i(j) that P_i sends to P_j over a private channel: secret.
    public struct Round2Package: Sendable {
        /// The sender i.
        public let sender: ParticipantID
        /// The recipient j.
        public let recipient: ParticipantID
        /// f_i(j), in locked memory.
        public let share: Scalar
        /// The run this share belongs to.
        public let session: SessionID
    }

    static func challenge(
        _ id: ParticipantID, session: SessionID, constant: Element, proof: Element, suite: Ciphersuite
    ) throws -> Scalar {
        try suite.hdkg([.bytes(session.bytes + id.scalar(suite).publicEncoding() + constant.serialize() + proof.serialize())])
    }

    /// Round one for participant `identifier` of a t-of-n group, in the run `session`.
    public static func round1(
        identifier: ParticipantID, minSigners: UInt16, maxSigners: UInt16, suite: Ciphersuite, session: SessionID
    ) throws -> (Round1Secret, Round1Package) {
        try FROST.checkThreshold(min: minSigners, max: maxSigners)
        guard identifier >= 1, identifier <= maxSigners else {
            throw FROSTError(.invalidInput, "identifier \(identifier) is outside 1...\(maxSigners)")
        }
        let coefficients = try (0..<Int(minSigners)).map { _ in try Scalar.random(suite) }
        let commitment = try coefficients.map { try Element.base($0) }
        let k = try Scalar.random(suite)
        let r = try Element.base(k)
        let c = try challenge(identifier, session: session, constant: commitment[0], proof: r, suite: suite)
        let mu = try k + coefficients[0] * c
        let secret = Round1Secret(
            identifier: identifier, coefficients: coefficients, suite: suite, minSigners: minSigners, maxSigners: maxSigners, session: session)
        let package = Round1Package(
            sender: identifier, commitment: commitment, proofCommitment: r, proofResponse: mu.publicEncoding(), session: session)
        return (secret, package)
    }

    /// Checks one round-one package: its length and its proof of knowledge.
    static func check(_ package: Round1Package, secret: Round1Secret) throws {
        try check(package, suite: secret.suite, minSigners: secret.minSigners, session: secret.session)
    }

    /// Checks one round-one package against the run's parameters.
    static func check(_ package: Round1Package, suite: Ciphersuite, minSigners: UInt16, session: SessionID) throws {
        guard package.session == session else {
            throw FROSTError(
                .invalidPackage, "participant \(package.sender)'s round-one package belongs to DKG session \(package.session), not \(session)",
                culprits: [package.sender])
        }
        guard package.commitment.count == Int(minSigners), package.commitment.allSatisfy({ $0.suite == suite && !$0.isIdentity }) else {
            throw FROSTError(.invalidPackage, "participant \(package.sender)'s commitment has the wrong length or holds the identity", culprits: [package.sender])
        }
        let mu = try Scalar.deserialize(package.proofResponse, suite)
        let c = try challenge(package.sender, session: session, constant: package.commitment[0], proof: package.proofCommitment, suite: suite)
        guard try package.proofCommitment == Element.base(mu) - package.commitment[0].multiplied(by: c) else {
            throw FROSTError(.invalidPackage, "participant \(package.sender)'s proof of knowledge does not verify", culprits: [package.sender])
        }
    }

    /// Round two: checks every other participant's round-one package, then makes their shares.
    public static func round2(_ secret: Round1Secret, received: [Round1Package]) throws -> [Round2Package] {
        let others = received.filter { $0.sender != secret.identifier }
        let expected = Set((1...secret.maxSigners).filter { $0 != secret.identifier })
        guard Set(others.map(\.sender)) == expected, others.count == expected.count else {
            throw FROSTError(.invalidInput, "round two needs exactly one round-one package from each of the other \(expected.count) participants")
        }
        for package in others { try check(package, secret: secret) }
        return try others.map { package in
            Round2Package(
                sender: secret.identifier, recipient: package.sender,
                share: try FROST.evaluate(secret.coefficients, at: package.sender.scalar(secret.suite)), session: secret.session)
        }
    }

    /// Finalises: checks the shares received against their senders' commitments and builds this
    /// participant's key package and the group's public key package.
    public static func finalize(
        _ secret: Round1Secret, round1: [Round1Package], received: [Round2Package]
    ) throws -> (KeyPackage, PublicKeyPackage) {
        let suite = secret.suite
        let me = secret.identifier
        let others = round1.filter { $0.sender != me }
        for package in others { try check(package, secret: secret) }
        let mine = received.filter { $0.recipient == me }
        guard Set(mine.map(\.sender)) == Set(others.map(\.sender)), mine.count == others.count else {
            throw FROSTError(.invalidInput, "finalising needs exactly one round-two share from each other participant")
        }
        var signingShare = try FROST.evaluate(secret.coefficients, at: me.scalar(suite))
        for share in mine {
            guard share.session == secret.session else {
                throw FROSTError(
                    .invalidPackage, "the round-two share from participant \(share.sender) belongs to DKG session \(share.session), not \(secret.session)",
                    culprits: [share.sender])
            }
            let commitment = others.first { $0.sender == share.sender }!.commitment
            guard try Element.base(share.share) == FROST.evaluateCommitment(commitment, at: me, suite: suite) else {
                throw FROSTError(.invalidPackage, "the share from participant \(share.sender) does not match its commitment", culprits: [share.sender])
            }
            signingShare = try signingShare + share.share
        }
        let ownCommitment = try secret.coefficients.map { try Element.base($0) }
        let commitments = [ownCommitment] + others.map(\.commitment)
        var groupKey = Element.identity(suite)
        for c in commitments { groupKey = try groupKey + c[0] }
        var verifying: [ParticipantID: Element] = [:]
        for id in 1...secret.maxSigners {
            var y = Element.identity(suite)
            for c in commitments { y = try y + FROST.evaluateCommitment(c, at: id, suite: suite) }
            verifying[id] = y
        }
        guard !groupKey.isIdentity, !signingShare.isZero else {
            throw FROSTError(.invalidPackage, "the DKG produced a degenerate key; run it again")
        }
        let keyPackage = try KeyPackage(
            suite: suite, identifier: me, signingShare: signingShare, verifyingShare: verifying[me]!, groupKey: groupKey,
            minSigners: secret.minSigners, maxSigners: secret.maxSigners, epoch: 1)
        let publicPackage = try PublicKeyPackage(
            suite: suite, groupKey: groupKey, verifyingShares: verifying, minSigners: secret.minSigners, maxSigners: secret.maxSigners, epoch: 1)
        return (keyPackage, publicPackage)
    }
}

/// Proactive share refresh (Herzberg et al., CRYPTO '95): every participant deals a random polynomial
/// with constant term zero; adding the shares of these to the old shares gives new shares of the same
/// group key, and the old shares no longer combine with the new ones.
///
/// The commitment lists the coefficients a_1 ... a_(t-1) only: the constant term's commitment would be
/// the identity, which has no encoding.
public enum Refresh {
    /// What a participant broadcasts: the commitment to its zero-constant polynomial.
    public struct Package: Sendable, Hashable {
        /// The sender.
        public let sender: ParticipantID
        /// a_1·G ... a_(t-1)·G.
        public let commitment: [Element]
        /// The run this package belongs to.
        public let session: SessionID
    }

    /// δ_i(j), sent privately from i to j: secret.
    public struct Share: Sendable {
        /// The sender i.
        public let sender: ParticipantID
        /// The recipient j.
        public let recipient: ParticipantID
        /// δ_i(j), in locked memory.
        public let delta: Scalar
        /// The run this share belongs to.
        public let session: SessionID
    }

    /// Participant `identifier`'s refresh contribution: a commitment and one share for every participant
    /// (itself included), in the run `session`.
    public static func round1(identifier: ParticipantID, group: PublicKeyPackage, session: SessionID) throws -> (Package, [Share]) {
        let suite = group.suite
        let coefficients = try [Scalar.zero(suite)] + (1..<Int(group.minSigners)).map { _ in try Scalar.random(suite) }
        let commitment = try coefficients.dropFirst().map { try Element.base($0) }
        let shares = try group.participants.map { id in
            Share(sender: identifier, recipient: id, delta: try FROST.evaluate(coefficients, at: id.scalar(suite)), session: session)
        }
        return (Package(sender: identifier, commitment: commitment, session: session), shares)
    }

    /// δ·G from a commitment to a_1..a_(t-1): Σ_k C_k·x^k for k ≥ 1.
    static func image(_ commitment: [Element], at id: ParticipantID, suite: Ciphersuite) throws -> Element {
        let x = try id.scalar(suite)
        var power = x
        var sum = Element.identity(suite)
        for c in commitment {
            sum = try sum + c.multiplied(by: power)
            power = try power * x
        }
        return sum
    }

    /// Applies a refresh round to one participant: checks every share it received against its sender's
    /// commitment, and returns its new key package and the group's new public key package (epoch + 1).
    /// Every participant of the group must have contributed.
    public static func finalize(
        _ keyPackage: KeyPackage, group: PublicKeyPackage, packages: [Package], shares: [Share]
    ) throws -> (KeyPackage, PublicKeyPackage) {
        let suite = group.suite
        let me = keyPackage.identifier
        guard keyPackage.groupKey == group.groupKey, keyPackage.epoch == group.epoch else {
            throw FROSTError(.groupState, "participant \(me)'s key package (epoch \(keyPackage.epoch)) is not of the group's epoch \(group.epoch)")
        }
        guard Set(packages.map(\.sender)) == Set(group.participants), packages.count == group.participants.count else {
            throw FROSTError(.invalidInput, "a refresh needs one package from every participant \(group.participants)")
        }
        let mine = shares.filter { $0.recipient == me }
        guard Set(mine.map(\.sender)) == Set(group.participants), mine.count == group.participants.count else {
            throw FROSTError(.invalidInput, "participant \(me) needs one refresh share from every participant")
        }
        let session = packages[0].session
        let strangers = packages.filter { $0.session != session }.map(\.sender) + mine.filter { $0.session != session }.map(\.sender)
        guard strangers.isEmpty else {
            throw FROSTError(
                .invalidPackage, "refresh messages from participant(s) \(strangers) belong to another session than \(session)",
                culprits: Array(Set(strangers)).sorted())
        }
        var newShare = keyPackage.signingShare
        for share in mine {
            let package = packages.first { $0.sender == share.sender }!
            guard package.commitment.count == Int(group.minSigners) - 1 else {
                throw FROSTError(.invalidPackage, "participant \(share.sender)'s refresh commitment has the wrong length", culprits: [share.sender])
            }
            guard try Element.base(share.delta) == image(package.commitment, at: me, suite: suite) else {
                throw FROSTError(.invalidPackage, "the refresh share from participant \(share.sender) does not match its commitment", culprits: [share.sender])
            }
            newShare = try newShare + share.delta
        }
        var verifying: [ParticipantID: Element] = [:]
        for (id, old) in group.verifyingShares {
            var y = old
            for package in packages { y = try y + image(package.commitment, at: id, suite: suite) }
            verifying[id] = y
        }
        let newKey = try KeyPackage(
            suite: suite, identifier: me, signingShare: newShare, verifyingShare: verifying[me]!, groupKey: group.groupKey,
            minSigners: group.minSigners, maxSigners: group.maxSigners, epoch: group.epoch + 1)
        let newGroup = try PublicKeyPackage(
            suite: suite, groupKey: group.groupKey, verifyingShares: verifying, minSigners: group.minSigners,
            maxSigners: group.maxSigners, epoch: group.epoch + 1)
        return (newKey, newGroup)
    }
}
