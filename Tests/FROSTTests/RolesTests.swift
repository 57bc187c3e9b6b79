@testable import FROST
import SecureCrypto
import Strongroom
@testable import StrongroomCore
@testable import StrongroomLocal
import Testing

/// Participants and a coordinator that each own one store and talk only through encoded messages.
@Suite struct RolesTests {
    let message = Array("wire 40 to escrow".utf8)

    /// Three participants, each with its own vault, and a coordinator with a fourth; a full DKG.
    func distributedGroup(_ suite: Ciphersuite, vaults: LocalVaults) async throws -> ([FROSTParticipant], FROSTCoordinator, ShareStore) {
        let stores = try await vaults.make(4)
        let participants = try (1...3).map { try FROSTParticipant(group: "escrow", identifier: ParticipantID($0), store: stores[ParticipantID($0)]!, logger: quiet) }
        let session = try SessionID.random()
        var round1: [[UInt8]] = []
        for p in participants { round1.append(try await p.dkgRound1(session: session, suite: suite, minSigners: 2, maxSigners: 3)) }
        var round2: [SecretBytes] = []
        for p in participants { round2 += try await p.dkgRound2(round1: round1) }
        var publics: [PublicKeyPackage] = []
        for p in participants {
            let mine = try round2.filter { try FROSTMessage.decodeDKGRound2($0, suite: suite).recipient == p.identifier }
            publics.append(try await p.dkgFinish(round1: round1, round2: mine))
        }
        let coordinator = try FROSTCoordinator(group: "escrow", dkgRound1: round1, suite: suite)
        #expect(publics.allSatisfy { $0 == coordinator.publicKeys })
        try await coordinator.save(to: stores[4]!)
        return (participants, coordinator, stores[4]!)
    }

    func sign(_ signers: [FROSTParticipant], _ coordinator: FROSTCoordinator) async throws -> (Signature, package: [UInt8], shares: [[UInt8]]) {
        let session = try SessionID.random()
        var commitments: [[UInt8]] = []
        for p in signers { commitments.append(try await p.commit(session: session)) }
        let package = try coordinator.signingPackage(session: session, message: message, commitments: commitments)
        var shares: [[UInt8]] = []
        for p in signers { shares.append(try await p.sign(package)) }
        return (try coordinator.aggregate(signingPackage: package, shares: shares), package, shares)
    }

    @Test(arguments: [Ciphersuite.ed25519, .secp256k1])
    func participantsInTheirOwnStoresRunDKGSigningRefreshAndErase(_ suite: Ciphersuite) async throws {
        let vaults = try LocalVaults()
        let (participants, coordinator, coordinatorStore) = try await distributedGroup(suite, vaults: vaults)
        // The coordinator's public data survives in its own store.
        let reopened = try await FROSTCoordinator.open(group: "escrow", store: coordinatorStore)
        #expect(reopened.publicKeys == coordinator.publicKeys)
        // Each participant's store holds its key package only, the DKG state is gone.
        for p in participants {
            let ids = try await p.store.list().map(\.id.rawValue)
            #expect(ids == ["frost.escrow.p\(p.identifier)"])
            #expect(try await p.publicKeyPackage() == coordinator.publicKeys)
        }

        let (signature, package, shares) = try await sign([participants[0], participants[2]], coordinator)
        #expect(try FROST.verify(signature, message: message, groupKey: coordinator.publicKeys.groupKey))
        // Nonces are single-use and gone from the store once used.
        let again = await #expect(throws: FROSTError.self) { try await participants[0].sign(package) }
        #expect(again?.code == .sessionUsed)
        #expect(try await participants[0].store.list().count == 1)
        // A tampered share is refused, naming its sender.
        var tampered = shares[1]
        tampered[tampered.count - 1] ^= 1
        let bad = #expect(throws: FROSTError.self) { try coordinator.aggregate(signingPackage: package, shares: [shares[0], tampered]) }
        #expect(bad?.code == .invalidSignatureShare && bad?.culprits == [3])

        // A refresh through messages: same group key, every participant at epoch 2, one version each.
        let session = try SessionID.random()
        var packages: [[UInt8]] = []
        var deltas: [SecretBytes] = []
        for p in participants {
            let (package, shares) = try await p.refreshRound1(session: session)
            packages.append(package)
            deltas += shares
        }
        var refreshed: [PublicKeyPackage] = []
        for p in participants {
            let mine = try deltas.filter { try FROSTMessage.decodeRefreshRound2($0, suite: suite).recipient == p.identifier }
            refreshed.append(try await p.refreshFinish(packages: packages, shares: mine))
            #expect(try await p.store.versions(try p.shareID).count == 1)
        }
        #expect(Set(refreshed).count == 1 && refreshed[0].groupKey == coordinator.publicKeys.groupKey && refreshed[0].epoch == 2)
        let next = try FROSTCoordinator(group: "escrow", publicKeys: refreshed[0])
        let (after, _, _) = try await sign([participants[1], participants[2]], next)
        #expect(try FROST.verify(after, message: message, groupKey: coordinator.publicKeys.groupKey))

        // Erase: the participant can no longer commit.
        #expect(try await participants[1].erase() == 1)
        let gone = await #expect(throws: FROSTError.self) { try await participants[1].commit(session: try SessionID.random()) }
        #expect(gone?.code == .shareGone)
    }

    @Test func aSigningPackageOfAnotherSessionFindsNoNonces() async throws {
        let vaults = try LocalVaults()
        let (participants, coordinator, _) = try await distributedGroup(.ed25519, vaults: vaults)
        let session = try SessionID.random()
        let commitments = [try await participants[0].commit(session: session), try await participants[1].commit(session: session)]
        // A participant may commit only once per session.
        let twice = await #expect(throws: FROSTError.self) { try await participants[0].commit(session: session) }
        #expect(twice?.code == .sessionUsed)
        // The coordinator refuses commitments of mixed sessions.
        let stray = try await participants[2].commit(session: try SessionID.random())
        let mixed = #expect(throws: FROSTError.self) { try coordinator.signingPackage(session: session, message: message, commitments: commitments + [stray]) }
        #expect(mixed?.culprits == [3])
        // A package for a session the participant never committed in is refused.
        let other = try SessionID.random()
        let package = try coordinator.signingPackage(session: other, message: message, commitments: try [
            FROSTMessage.encode(FROSTMessage.decodeSigningCommitments(commitments[0], suite: .ed25519).commitments, session: other),
            FROSTMessage.encode(FROSTMessage.decodeSigningCommitments(commitments[1], suite: .ed25519).commitments, session: other),
        ])
        let unknown = await #expect(throws: FROSTError.self) { try await participants[0].sign(package) }
        #expect(unknown?.code == .sessionUsed)
    }
}
