@testable import FROST
import SecureCrypto
import Testing

/// Key generation, signing, share verification and refresh beyond the RFC's single vector.
@Suite struct ProtocolTests {
    static let suites: [Ciphersuite] = [.ed25519, .secp256k1]
    let message = Array("transfer 5 to treasury".utf8)

    func runDKG(_ suite: Ciphersuite, min: UInt16, max: UInt16) throws -> ([KeyPackage], PublicKeyPackage) {
        let session = try SessionID.random()
        let round1 = try (1...max).map { try DKG.round1(identifier: $0, minSigners: min, maxSigners: max, suite: suite, session: session) }
        let broadcasts = round1.map(\.1)
        let round2 = try round1.map { try DKG.round2($0.0, received: broadcasts) }.flatMap { $0 }
        var keys: [KeyPackage] = []
        var publics: [PublicKeyPackage] = []
        for (secret, _) in round1 {
            let (key, group) = try DKG.finalize(secret, round1: broadcasts, received: round2)
            keys.append(key)
            publics.append(group)
        }
        // Every participant derived the same public data.
        #expect(Set(publics).count == 1)
        return (keys, publics[0])
    }

    @Test(arguments: suites)
    func dkgGroupsSignWithAnyThresholdSubset(_ suite: Ciphersuite) throws {
        let (keys, group) = try runDKG(suite, min: 3, max: 5)
        for signers: [ParticipantID] in [[1, 2, 3], [2, 4, 5], [1, 3, 5], [1, 2, 3, 4, 5]] {
            let signature = try signAll(keys, group: group, signers: signers, message: message)
            #expect(try FROST.verify(signature, message: message, groupKey: group.groupKey))
        }
        // The group secret is Σ λ_i s_i over any t shares: it matches the group key.
        let lambdas = try [1, 2, 3].map { try FROST.lagrangeCoefficient($0, participants: [1, 2, 3], suite: suite) }
        var secret = try Scalar.zero(suite)
        for (index, lambda) in lambdas.enumerated() { secret = try secret + lambda * keys[index].signingShare }
        #expect(try Element.base(secret) == group.groupKey)
    }

    @Test(arguments: suites)
    func dkgRejectsABadProofOfKnowledgeAndABadShare(_ suite: Ciphersuite) throws {
        let session = try SessionID.random()
        let round1 = try (1...3).map { try DKG.round1(identifier: ParticipantID($0), minSigners: 2, maxSigners: 3, suite: suite, session: session) }
        var broadcasts = round1.map(\.1)
        // Participant 2 claims participant 3's constant term without knowing it: the proof fails.
        let forged = DKG.Round1Package(
            sender: 2, commitment: [broadcasts[2].commitment[0]] + broadcasts[1].commitment.dropFirst(),
            proofCommitment: broadcasts[1].proofCommitment, proofResponse: broadcasts[1].proofResponse, session: session)
        broadcasts[1] = forged
        let error = #expect(throws: FROSTError.self) { try DKG.round2(round1[0].0, received: broadcasts) }
        #expect(error?.code == .invalidPackage)
        #expect(error?.culprits == [2])

        // An honest round 1, but participant 3 sends participant 1 a wrong share.
        let honest = round1.map(\.1)
        var shares = try round1.map { try DKG.round2($0.0, received: honest) }.flatMap { $0 }
        let index = try #require(shares.firstIndex { $0.sender == 3 && $0.recipient == 1 })
        shares[index] = DKG.Round2Package(sender: 3, recipient: 1, share: try shares[index].share + Scalar.integer(1, suite), session: session)
        let bad = #expect(throws: FROSTError.self) { try DKG.finalize(round1[0].0, round1: honest, received: shares) }
        #expect(bad?.culprits == [3])
    }

    @Test(arguments: suites)
    func aCorruptSignatureShareIsCaughtAndItsSenderNamed(_ suite: Ciphersuite) throws {
        let dealt = try FROST.trustedDealerKeygen(suite: suite, minSigners: 2, maxSigners: 3)
        let keys = dealt.keyPackages.filter { [1, 3].contains($0.identifier) }
        let nonces = try keys.map { try FROST.commit($0) }
        let package = try SigningPackage(suite: suite, commitments: nonces.map(\.commitments), message: message)
        var shares = try zip(keys, nonces).map { try FROST.sign(package, nonces: $1, keyPackage: $0) }
        #expect(try FROST.verifySignatureShare(shares[1], verifyingShare: keys[1].verifyingShare, package: package, groupKey: dealt.publicKeyPackage.groupKey))
        shares[1] = SignatureShare(identifier: 3, share: try shares[1].share + Scalar.integer(1, suite))
        #expect(try !FROST.verifySignatureShare(shares[1], verifyingShare: keys[1].verifyingShare, package: package, groupKey: dealt.publicKeyPackage.groupKey))
        for mode: FROST.ShareVerification in [.always, .onFailure] {
            let error = #expect(throws: FROSTError.self) {
                try FROST.aggregate(package, shares: shares, publicKeys: dealt.publicKeyPackage, verification: mode)
            }
            #expect(error?.code == .invalidSignatureShare)
            #expect(error?.culprits == [3])
        }
    }

    @Test(arguments: suites)
    func noncesAreSingleUse(_ suite: Ciphersuite) throws {
        let dealt = try FROST.trustedDealerKeygen(suite: suite, minSigners: 2, maxSigners: 2)
        let nonces = try dealt.keyPackages.map { try FROST.commit($0) }
        let package = try SigningPackage(suite: suite, commitments: nonces.map(\.commitments), message: message)
        _ = try FROST.sign(package, nonces: nonces[0], keyPackage: dealt.keyPackages[0])
        #expect(nonces[0].isSpent)
        let error = #expect(throws: FROSTError.self) { try FROST.sign(package, nonces: nonces[0], keyPackage: dealt.keyPackages[0]) }
        #expect(error?.code == .sessionUsed)
        // Fewer signers than the threshold, duplicates and strangers are refused.
        #expect(throws: FROSTError.self) { try SigningPackage(suite: suite, commitments: [nonces[0].commitments, nonces[0].commitments], message: message) }
        #expect(throws: FROSTError.self) { try FROST.trustedDealerKeygen(suite: suite, minSigners: 1, maxSigners: 3) }
        #expect(throws: FROSTError.self) { try FROST.trustedDealerKeygen(suite: suite, minSigners: 4, maxSigners: 3) }
    }

    @Test(arguments: suites)
    func refreshKeepsTheGroupKeyAndOldSharesNoLongerCombineWithNew(_ suite: Ciphersuite) throws {
        let dealt = try FROST.trustedDealerKeygen(suite: suite, minSigners: 2, maxSigners: 3)
        let group = dealt.publicKeyPackage
        let session = try SessionID.random()
        let contributions = try group.participants.map { try Refresh.round1(identifier: $0, group: group, session: session) }
        let packages = contributions.map(\.0)
        let shares = contributions.flatMap(\.1)
        var fresh: [KeyPackage] = []
        var groups: [PublicKeyPackage] = []
        for key in dealt.keyPackages {
            let (newKey, newGroup) = try Refresh.finalize(key, group: group, packages: packages, shares: shares)
            fresh.append(newKey)
            groups.append(newGroup)
        }
        #expect(Set(groups).count == 1)
        let refreshed = groups[0]
        #expect(refreshed.groupKey == group.groupKey)
        #expect(refreshed.epoch == group.epoch + 1)
        for id in group.participants {
            #expect(refreshed.verifyingShares[id] != group.verifyingShares[id])
            #expect(!(fresh[Int(id) - 1].signingShare == dealt.keyPackages[Int(id) - 1].signingShare))
        }
        // New shares sign under the same key.
        let signature = try signAll(fresh, group: refreshed, signers: [1, 2], message: message)
        #expect(try FROST.verify(signature, message: message, groupKey: group.groupKey))
        // One old share with one new share: the signature does not verify, whichever public data is used.
        let mixed = [dealt.keyPackages[0], fresh[1]]
        for publics in [group, refreshed] {
            #expect(throws: FROSTError.self) { try signAll(mixed, group: publics, signers: [1, 2], message: message) }
        }
        // And without any share checks, the raw mixed signature is invalid too.
        let nonces = try mixed.map { try FROST.commit($0) }
        let package = try SigningPackage(suite: suite, commitments: nonces.map(\.commitments), message: message)
        let raw = try zip(mixed, nonces).map { try FROST.sign(package, nonces: $1, keyPackage: $0) }
        var z = try Scalar.zero(suite)
        for share in raw { z = try z + share.share }
        let derived = try package.derive(groupKey: group.groupKey)
        #expect(try !FROST.verify(Signature(commitment: derived.groupCommitment, z: z), message: message, groupKey: group.groupKey))

        // A tampered refresh share is caught and its sender named.
        var badShares = shares
        let index = try #require(badShares.firstIndex { $0.sender == 2 && $0.recipient == 1 })
        badShares[index] = Refresh.Share(sender: 2, recipient: 1, delta: try badShares[index].delta + Scalar.integer(1, suite), session: session)
        let error = #expect(throws: FROSTError.self) { try Refresh.finalize(dealt.keyPackages[0], group: group, packages: packages, shares: badShares) }
        #expect(error?.culprits == [2])
    }

    @Test(arguments: suites)
    func keyPackagesRoundTripTheirVersionedSerialisation(_ suite: Ciphersuite) throws {
        let dealt = try FROST.trustedDealerKeygen(suite: suite, minSigners: 2, maxSigners: 3)
        let key = dealt.keyPackages[1]
        let encoded = try key.serialized()
        #expect(encoded.count == 16 + 32 + 2 * suite.elementLength)
        let decoded = try KeyPackage(deserializing: encoded)
        #expect(decoded.identifier == 2 && decoded.minSigners == 2 && decoded.maxSigners == 3 && decoded.epoch == 1)
        #expect(decoded.signingShare == key.signingShare && decoded.groupKey == key.groupKey && decoded.suite == suite)
        #expect("\(decoded.signingShare)" == "Scalar(\(suite.shortName))")
        // Another format version, a truncation and a share that does not match its verifying share are refused.
        let raw = encoded.withUnsafeBytes { Array($0) }
        var future = raw
        future[4] = 2
        #expect(throws: FROSTError.self) { try KeyPackage(deserializing: secretBytes(future)) }
        #expect(throws: FROSTError.self) { try KeyPackage(deserializing: secretBytes(Array(raw.dropLast()))) }
        var swapped = raw
        swapped[20] ^= 1
        #expect(throws: FROSTError.self) { try KeyPackage(deserializing: secretBytes(swapped)) }
    }
}

func secretBytes(_ values: [UInt8]) throws -> SecretBytes { try values.withUnsafeBytes { try SecretBytes(copying: $0) } }
