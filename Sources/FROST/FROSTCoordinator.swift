import Foundation
import SecureCrypto
import StrongroomCore

/// The coordinator of a FROST group: it owns the group's public data (group key, verifying shares,
/// threshold) and aggregation. It holds no secret: it builds signing packages from the signers'
/// commitments, checks signature shares, aggregates them and names the senders of shares that do not
/// verify. It exchanges only encoded messages (``FROSTMessage``) with the participants.
///
/// A coordinator in its own process keeps the group's public data as a sealed record of its own store
/// (`frost.<group>.coordinator`, see ``save(to:)`` and ``open(group:store:)``); it learns it from the
/// DKG's round-one broadcasts (``init(group:dkgRound1:suite:)``), checking every proof of knowledge.
public struct FROSTCoordinator: Sendable {
    /// The group's name.
    public let group: String
    /// The group's public data.
    public let publicKeys: PublicKeyPackage

    /// A coordinator for `group` with its public data.
    public init(group: String, publicKeys: PublicKeyPackage) throws {
        _ = try FROSTGroup.recordName(group)
        self.group = group
        self.publicKeys = publicKeys
    }

    /// A coordinator that takes the group's public data from a DKG's round-one broadcasts, one from
    /// every participant 1...n of one session; each proof of knowledge is checked.
    public init(group: String, dkgRound1 messages: [[UInt8]], suite: Ciphersuite) throws {
        let packages = try messages.map { try FROSTMessage.decodeDKGRound1($0, suite: suite) }
        try self.init(group: group, publicKeys: DKG.publicKeyPackage(packages, suite: suite))
    }

    // MARK: Its own store

    /// `frost.<group>.coordinator`: the record holding the group's public data in the coordinator's store.
    public static func recordName(_ group: String) throws -> ShareID {
        _ = try FROSTGroup.recordName(group)
        return try ShareID("frost.\(group).coordinator")
    }

    /// The coordinator of `group` whose public data `store` holds (written by ``save(to:)``).
    public static func open(group: String, store: ShareStore) async throws -> FROSTCoordinator {
        guard let bytes = try await store.readRecord(try recordName(group)) else {
            throw FROSTError(.groupState, "no coordinator record of group '\(group)' in \(store.tier) vault \(store.vaultID); run the coordinator's dkg-finish first")
        }
        let suite = try FROSTMessage.header(of: bytes).suite
        return try FROSTCoordinator(group: group, publicKeys: FROSTMessage.decodePublicKeyPackage(bytes, suite: suite).group)
    }

    /// Writes the group's public data to `store`, sealed by its tier.
    public func save(to store: ShareStore) async throws {
        try await store.writeRecord(try FROSTCoordinator.recordName(group), try publicKeyMessage())
    }

    /// The group's public data, encoded (``FROSTMessage/Kind/publicKeyPackage``, session all zero).
    public func publicKeyMessage() throws -> [UInt8] {
        try FROSTMessage.encode(publicKeys, session: SessionID(bytes: [UInt8](repeating: 0, count: SessionID.length)))
    }

    // MARK: Signing

    /// The signing package for `message` from the signers' commitments: they must be group members,
    /// at least the threshold, once each.
    public func signingPackage(message: [UInt8], commitments: [SigningCommitments]) throws -> SigningPackage {
        for c in commitments where publicKeys.verifyingShares[c.identifier] == nil {
            throw FROSTError(.invalidInput, "participant \(c.identifier) is not in group '\(group)' (participants \(publicKeys.participants))", culprits: [c.identifier])
        }
        guard commitments.count >= Int(publicKeys.minSigners) else {
            throw FROSTError(.invalidInput, "group '\(group)' needs at least \(publicKeys.minSigners) signers, got \(commitments.map(\.identifier))")
        }
        return try SigningPackage(suite: publicKeys.suite, commitments: commitments, message: message)
    }

    /// The encoded signing package from the signers' encoded commitments, all of session `session`.
    public func signingPackage(session: SessionID, message: [UInt8], commitments: [[UInt8]]) throws -> [UInt8] {
        let decoded = try commitments.map { try FROSTMessage.decodeSigningCommitments($0, suite: publicKeys.suite) }
        if let stray = decoded.first(where: { $0.header.session != session }) {
            throw FROSTError(
                .invalidPackage, "participant \(stray.header.sender)'s commitments belong to signing session \(stray.header.session), not \(session)",
                culprits: [stray.header.sender])
        }
        return try FROSTMessage.encode(try signingPackage(message: message, commitments: decoded.map(\.commitments)), session: session)
    }

    /// Aggregates one signature share per signer and verifies the signature under the group key; a
    /// share that does not verify is an error naming its sender (``FROSTError/culprits``).
    public func aggregate(
        _ package: SigningPackage, shares: [SignatureShare], verification: FROST.ShareVerification = .onFailure
    ) throws -> Signature {
        try FROST.aggregate(package, shares: shares, publicKeys: publicKeys, verification: verification)
    }

    /// Aggregates encoded signature shares over an encoded signing package (same session), checking
    /// every share first.
    public func aggregate(signingPackage: [UInt8], shares: [[UInt8]]) throws -> Signature {
        let (header, package) = try FROSTMessage.decodeSigningPackage(signingPackage, suite: publicKeys.suite)
        let decoded = try shares.map { try FROSTMessage.decodeSignatureShare($0, suite: publicKeys.suite) }
        if let stray = decoded.first(where: { $0.header.session != header.session }) {
            throw FROSTError(
                .invalidPackage, "participant \(stray.header.sender)'s signature share belongs to signing session \(stray.header.session), not \(header.session)",
                culprits: [stray.header.sender])
        }
        return try aggregate(package, shares: decoded.map(\.share), verification: .always)
    }
}

extension DKG {
    /// The group's public data from every participant's round-one package of one session: each proof
    /// of knowledge is checked, the group key is Σ C_j0 and participant i's verifying share Σ_j f_j(i)·G.
    public static func publicKeyPackage(_ packages: [Round1Package], suite: Ciphersuite) throws -> PublicKeyPackage {
        let sorted = packages.sorted { $0.sender < $1.sender }
        let maxSigners = UInt16(sorted.count)
        guard maxSigners >= 2, sorted.map(\.sender) == Array(1...maxSigners) else {
            throw FROSTError(.invalidInput, "the DKG needs one round-one package from each participant 1...n, got \(sorted.map(\.sender))")
        }
        let minSigners = UInt16(sorted[0].commitment.count)
        try FROST.checkThreshold(min: minSigners, max: maxSigners)
        let session = sorted[0].session
        for package in sorted { try check(package, suite: suite, minSigners: minSigners, session: session) }
        var groupKey = Element.identity(suite)
        for package in sorted { groupKey = try groupKey + package.commitment[0] }
        var verifying: [ParticipantID: Element] = [:]
        for id in 1...maxSigners {
            var y = Element.identity(suite)
            for package in sorted { y = try y + FROST.evaluateCommitment(package.commitment, at: id, suite: suite) }
            verifying[id] = y
        }
        guard !groupKey.isIdentity else { throw FROSTError(.invalidPackage, "the DKG produced a degenerate key; run it again") }
        return try PublicKeyPackage(
            suite: suite, groupKey: groupKey, verifyingShares: verifying, minSigners: minSigners, maxSigners: maxSigners, epoch: 1)
    }
}
