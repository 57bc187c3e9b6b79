import SecureCrypto

/// Repair of a lost share by t other participants, without the recovery key and without anyone
/// learning the lost share or the group secret: a repairable threshold scheme (Laing and Stinson,
/// "Repairable Threshold Schemes", the enrolment protocol), made verifiable against the group's public
/// data. docs/frost.md, "Repairing a lost share", explains the protocol and what each party learns.
///
/// With helper set H (|H| ≥ t, the lost participant r not in it), s_r = Σ_{i∈H} λ_i(r)·s_i where λ_i(r) is
/// i's Lagrange coefficient over H at x = r. Step one: helper i splits λ_i(r)·s_i into |H| random scalars
/// δ_{i→j} (one per helper j) that sum to it, sends each to its helper (secret) and broadcasts their
/// images δ_{i→j}·G. Step two: helper j checks what it received against those images and the sum of
/// each helper's images against λ_i(r)·PK_i, and sends σ_j = Σ_i δ_{i→j} to r (secret). Step three: r
/// checks σ_j·G = Σ_i δ_{i→j}·G, sums the σ_j into s_r and checks s_r·G against its verifying share.
/// A wrong contribution fails a check that names its sender; nothing is stored before the last check.
///
/// These functions keep no state; ``FROSTParticipant`` runs them with its stored key package.
public enum Repair {
    /// Helper i's step-one broadcast: the images δ_{i→j}·G of the parts it sends to every helper j.
    public struct Commitments: Sendable {
        /// The helper who sent it.
        public let sender: ParticipantID
        /// The participant whose share is repaired.
        public let target: ParticipantID
        /// δ_{sender→j}·G for every helper j.
        public let images: [ParticipantID: Element]
        /// The run it belongs to.
        public let session: SessionID

        /// The helper set, ascending.
        public var helpers: [ParticipantID] { images.keys.sorted() }

        /// Creates a step-one broadcast.
        public init(sender: ParticipantID, target: ParticipantID, images: [ParticipantID: Element], session: SessionID) {
            self.sender = sender
            self.target = target
            self.images = images
            self.session = session
        }
    }

    /// A step-one part δ_{i→j} for one helper: secret.
    public struct Part: Sendable {
        /// The helper who made it (i).
        public let sender: ParticipantID
        /// The helper it is for (j).
        public let recipient: ParticipantID
        /// The participant whose share is repaired.
        public let target: ParticipantID
        /// δ_{i→j}, in locked memory.
        public let delta: Scalar
        /// The run it belongs to.
        public let session: SessionID
    }

    /// A step-two sum σ_j = Σ_i δ_{i→j} for the repaired participant: secret.
    public struct Sum: Sendable {
        /// The helper who summed (j).
        public let sender: ParticipantID
        /// The participant whose share is repaired (r).
        public let recipient: ParticipantID
        /// σ_j, in locked memory.
        public let sigma: Scalar
        /// The run it belongs to.
        public let session: SessionID
    }

    // MARK: Checks

    /// The helper set, ascending, after checking it against the group: distinct members, at least the
    /// threshold, not including `target`, which must be a member.
    public static func checkHelpers(_ helpers: [ParticipantID], target: ParticipantID, group: PublicKeyPackage) throws -> [ParticipantID] {
        let sorted = helpers.sorted()
        guard group.verifyingShares[target] != nil else {
            throw FROSTError(.invalidInput, "participant \(target) is not in the group (participants \(group.participants))")
        }
        guard Set(sorted).count == sorted.count else { throw FROSTError(.invalidInput, "the helpers \(helpers) name a participant twice") }
        if let stranger = sorted.first(where: { group.verifyingShares[$0] == nil }) {
            throw FROSTError(.invalidInput, "helper \(stranger) is not in the group (participants \(group.participants))")
        }
        guard !sorted.contains(target) else {
            throw FROSTError(.invalidInput, "participant \(target) cannot help repair its own share; name \(group.minSigners) other participants")
        }
        guard sorted.count >= Int(group.minSigners) else {
            throw FROSTError(
                .invalidInput,
                "repairing participant \(target)'s share needs at least \(group.minSigners) helpers (the threshold), got \(sorted.count): \(sorted)")
        }
        return sorted
    }

    /// λ_i(x): helper i's Lagrange coefficient over `helpers` at x = `target`,
    /// Π_{j≠i} (x − j) / (i − j).
    static func lagrangeCoefficient(_ helper: ParticipantID, helpers: [ParticipantID], at target: ParticipantID, suite: Ciphersuite) throws -> Scalar {
        guard helpers.contains(helper) else { throw FROSTError(.invalidInput, "participant \(helper) is not among the helpers \(helpers)") }
        let xi = try helper.scalar(suite)
        let x = try target.scalar(suite)
        var numerator = try Scalar.integer(1, suite)
        var denominator = try Scalar.integer(1, suite)
        for other in helpers where other != helper {
            let xj = try other.scalar(suite)
            numerator = try numerator * (x - xj)
            denominator = try denominator * (xi - xj)
        }
        return try numerator * denominator.inverted()
    }

    // MARK: Step one

    /// Step one for helper `key.identifier`: λ_i(r)·s_i split into one random part per helper (itself
    /// included), and the broadcast of their images.
    public static func step1(
        _ key: KeyPackage, group: PublicKeyPackage, target: ParticipantID, helpers: [ParticipantID], session: SessionID
    ) throws -> (Commitments, [Part]) {
        let helpers = try checkHelpers(helpers, target: target, group: group)
        guard helpers.contains(key.identifier) else {
            throw FROSTError(.invalidInput, "participant \(key.identifier) is not among the helpers \(helpers) of participant \(target)'s repair")
        }
        let suite = key.suite
        let contribution = try lagrangeCoefficient(key.identifier, helpers: helpers, at: target, suite: suite) * key.signingShare
        var parts: [Part] = []
        var rest = contribution
        for (index, recipient) in helpers.enumerated() {
            let delta: Scalar
            if index == helpers.count - 1 {
                delta = rest
            } else {
                delta = try Scalar.random(suite)
                rest = try rest - delta
            }
            parts.append(Part(sender: key.identifier, recipient: recipient, target: target, delta: delta, session: session))
        }
        var images: [ParticipantID: Element] = [:]
        for part in parts { images[part.recipient] = try Element.base(part.delta) }
        return (Commitments(sender: key.identifier, target: target, images: images, session: session), parts)
    }

    // MARK: Checking the broadcasts

    /// The run's parameters (target, helpers, session) as every broadcast states them, each broadcast
    /// checked: one from each helper, all agreeing, and each helper's images summing to λ_i(r)·PK_i.
    static func checkedCommitments(
        _ commitments: [Commitments], group: PublicKeyPackage
    ) throws -> (target: ParticipantID, helpers: [ParticipantID], session: SessionID, byHelper: [ParticipantID: Commitments]) {
        guard let first = commitments.min(by: { $0.sender < $1.sender }) else {
            throw FROSTError(.invalidInput, "no helper's repair commitments were given")
        }
        let target = first.target
        let session = first.session
        let helpers = try checkHelpers(first.helpers, target: target, group: group)
        var byHelper: [ParticipantID: Commitments] = [:]
        for c in commitments {
            guard byHelper[c.sender] == nil else {
                throw FROSTError(.invalidPackage, "participant \(c.sender) sent two sets of repair commitments", culprits: [c.sender])
            }
            guard c.target == target, c.session == session, c.helpers == helpers else {
                throw FROSTError(
                    .invalidPackage,
                    "participant \(c.sender)'s repair commitments are for participant \(c.target) with helpers \(c.helpers) in session \(c.session), not participant \(target) with helpers \(helpers) in session \(session)",
                    culprits: [c.sender])
            }
            byHelper[c.sender] = c
        }
        let missing = helpers.filter { byHelper[$0] == nil }
        let strangers = byHelper.keys.filter { !helpers.contains($0) }.sorted()
        guard missing.isEmpty, strangers.isEmpty else {
            throw FROSTError(
                .invalidInput,
                "the repair of participant \(target) needs repair commitments from helpers \(helpers) exactly; missing \(missing), not helpers \(strangers)",
                culprits: strangers)
        }
        for helper in helpers {
            var sum = Element.identity(group.suite)
            for j in helpers { sum = try sum + byHelper[helper]!.images[j]! }
            let expected = try group.verifyingShares[helper]!.multiplied(by: lagrangeCoefficient(helper, helpers: helpers, at: target, suite: group.suite))
            guard sum == expected else {
                throw FROSTError(
                    .invalidPackage,
                    "participant \(helper)'s repair commitments do not add up to its part of participant \(target)'s share (λ·its verifying share); its contribution is wrong",
                    culprits: [helper])
            }
        }
        return (target, helpers, session, byHelper)
    }

    // MARK: Step two

    /// Step two for helper `identifier`: checks every broadcast and every part sent to it (each against
    /// its sender's image), and returns σ_j = Σ_i δ_{i→j} for the repaired participant.
    public static func step2(identifier: ParticipantID, group: PublicKeyPackage, commitments: [Commitments], parts: [Part]) throws -> Sum {
        let (target, helpers, session, byHelper) = try checkedCommitments(commitments, group: group)
        guard helpers.contains(identifier) else {
            throw FROSTError(.invalidInput, "participant \(identifier) is not among the helpers \(helpers) of participant \(target)'s repair")
        }
        var bySender: [ParticipantID: Part] = [:]
        for part in parts {
            guard part.recipient == identifier else {
                throw FROSTError(.invalidInput, "participant \(part.sender)'s repair part is for participant \(part.recipient), not \(identifier)")
            }
            guard bySender[part.sender] == nil else {
                throw FROSTError(.invalidPackage, "participant \(part.sender) sent two repair parts to participant \(identifier)", culprits: [part.sender])
            }
            guard helpers.contains(part.sender) else {
                throw FROSTError(.invalidPackage, "participant \(part.sender) is not among the helpers \(helpers); its repair part is refused", culprits: [part.sender])
            }
            guard part.target == target, part.session == session else {
                throw FROSTError(
                    .invalidPackage,
                    "participant \(part.sender)'s repair part is for participant \(part.target) in session \(part.session), not participant \(target) in session \(session)",
                    culprits: [part.sender])
            }
            guard try Element.base(part.delta) == byHelper[part.sender]!.images[identifier]! else {
                throw FROSTError(
                    .invalidPackage, "participant \(part.sender)'s repair part for participant \(identifier) does not match its broadcast commitment",
                    culprits: [part.sender])
            }
            bySender[part.sender] = part
        }
        let missing = helpers.filter { bySender[$0] == nil }
        guard missing.isEmpty else {
            throw FROSTError(.invalidInput, "participant \(identifier) has no repair part from helper(s) \(missing)")
        }
        var sigma = try Scalar.zero(group.suite)
        for helper in helpers { sigma = try sigma + bySender[helper]!.delta }
        bySender.removeAll()
        return Sum(sender: identifier, recipient: target, sigma: sigma, session: session)
    }

    // MARK: Step three

    /// Step three for the repaired participant `identifier`: checks every broadcast and every helper's
    /// sum against the images sent to that helper, then sums them into its signing share and checks it
    /// against its verifying share in `group`. Returns its key package at the group's epoch.
    public static func finish(identifier: ParticipantID, group: PublicKeyPackage, commitments: [Commitments], sums: [Sum]) throws -> KeyPackage {
        let (target, helpers, session, byHelper) = try checkedCommitments(commitments, group: group)
        guard target == identifier else {
            throw FROSTError(.invalidInput, "the repair commitments are for participant \(target), not \(identifier)")
        }
        var byHelperSum: [ParticipantID: Sum] = [:]
        for sum in sums {
            guard sum.recipient == identifier else {
                throw FROSTError(.invalidInput, "participant \(sum.sender)'s repair sum is for participant \(sum.recipient), not \(identifier)")
            }
            guard byHelperSum[sum.sender] == nil else {
                throw FROSTError(.invalidPackage, "participant \(sum.sender) sent two repair sums", culprits: [sum.sender])
            }
            guard helpers.contains(sum.sender) else {
                throw FROSTError(.invalidPackage, "participant \(sum.sender) is not among the helpers \(helpers); its repair sum is refused", culprits: [sum.sender])
            }
            guard sum.session == session else {
                throw FROSTError(.invalidPackage, "participant \(sum.sender)'s repair sum belongs to session \(sum.session), not \(session)", culprits: [sum.sender])
            }
            var image = Element.identity(group.suite)
            for i in helpers { image = try image + byHelper[i]!.images[sum.sender]! }
            guard try Element.base(sum.sigma) == image else {
                throw FROSTError(
                    .invalidPackage, "participant \(sum.sender)'s repair sum does not match the parts the helpers committed to sending it",
                    culprits: [sum.sender])
            }
            byHelperSum[sum.sender] = sum
        }
        let missing = helpers.filter { byHelperSum[$0] == nil }
        guard missing.isEmpty else {
            throw FROSTError(.invalidInput, "participant \(identifier) has no repair sum from helper(s) \(missing)")
        }
        var share = try Scalar.zero(group.suite)
        for helper in helpers { share = try share + byHelperSum[helper]!.sigma }
        byHelperSum.removeAll()
        do {
            return try KeyPackage(
                suite: group.suite, identifier: identifier, signingShare: share, verifyingShare: group.verifyingShares[identifier]!,
                groupKey: group.groupKey, minSigners: group.minSigners, maxSigners: group.maxSigners, epoch: group.epoch)
        } catch let error as FROSTError where error.code == .groupState {
            throw FROSTError(
                .invalidPackage, "the repaired share does not match participant \(identifier)'s verifying share; nothing was stored",
                culprits: helpers)
        }
    }
}
