@testable import FROST
import SecureCrypto
import Strongroom
@testable import StrongroomCore
@testable import StrongroomLocal
import Testing

/// Repair of a lost share by t helpers (docs/frost.md, "Repairing a lost share").
@Suite struct RepairTests {
    let message = Array("release the escrow, block 9".utf8)
    static let suites: [Ciphersuite] = [.ed25519, .secp256k1]

    /// The bytes of participant `id`'s key package as its store holds them (the newest version).
    func storedKeyPackage(_ group: FROSTGroup, _ id: ParticipantID) async throws -> SecretBytes {
        try await group.stores[id]!.load(try group.shareID(id))
    }

    /// Signs with `signers` in a group opened afresh on `vaults` and verifies under `groupKey`.
    func signsUnderTheSameKey(_ vaults: LocalVaults, name: String, signers: [ParticipantID], groupKey: Element) async throws {
        let group = try FROSTGroup(name: name, stores: try await vaults.reopen(), logger: quiet)
        let signature = try await group.sign(message: message, signers: signers)
        #expect(try FROST.verify(signature, message: message, groupKey: groupKey), "signers \(signers)")
        #expect(try await group.publicKeyPackage().groupKey == groupKey)
    }

    @Test(arguments: suites)
    func anErasedShareIsRepairedByTwoHelpersAndSignsWithEitherOfThem(_ suite: Ciphersuite) async throws {
        let vaults = try LocalVaults()
        let stores = try await vaults.make(3)
        let group = try FROSTGroup(name: "escrow", stores: stores, logger: quiet)
        let publicKeys = try await group.create(suite: suite, minSigners: 2, method: .distributed)
        let original = try await storedKeyPackage(group, 3)

        // Erased for real: no version of the key package is left in participant 3's vault.
        #expect(try await group.erase(3) == 1)
        let gone = await #expect(throws: StrongroomError.self) { try await stores[3]!.versions(try group.shareID(3)) }
        #expect(gone?.code == .shareNotFound)
        let unusable = await #expect(throws: FROSTError.self) { try await group.sign(message: message, signers: [1, 3]) }
        #expect(unusable?.code == .shareGone)

        let report = try await group.repair(3, helpers: [2, 1])
        #expect(report.participant == 3 && report.helpers == [1, 2] && report.epoch == 1)

        // The repaired key package is the original, byte for byte (compared in locked memory), and its
        // share matches the unchanged verifying share.
        let repaired = try await storedKeyPackage(group, 3)
        #expect(repaired == original)
        let key = try KeyPackage(deserializing: repaired)
        #expect(key.verifyingShare == publicKeys.verifyingShares[3])
        #expect(try Element.base(key.signingShare) == publicKeys.verifyingShares[3])
        #expect(try await stores[3]!.versions(try group.shareID(3)).map(\.version) == [report.version])
        // No channel key or other state is left behind; the record no longer marks 3 erased.
        for id in [ParticipantID](1...3) {
            #expect(try await stores[id]!.list().map(\.id.rawValue) == ["frost.escrow.p\(id)"])
        }
        let summary = try await group.summary()
        #expect(summary.members.allSatisfy { !$0.erased } && summary.epoch == 1)

        // In a new process: 1+3 and 2+3 sign under the unchanged group key.
        try await signsUnderTheSameKey(vaults, name: "escrow", signers: [1, 3], groupKey: publicKeys.groupKey)
        try await signsUnderTheSameKey(vaults, name: "escrow", signers: [2, 3], groupKey: publicKeys.groupKey)
        #expect(try await FROSTGroup(name: "escrow", stores: try await vaults.reopen(), logger: quiet).publicKeyPackage() == publicKeys)

        // A refresh after the repair includes the repaired participant.
        #expect(try await group.refresh().epoch == 2)
        try await signsUnderTheSameKey(vaults, name: "escrow", signers: [2, 3], groupKey: publicKeys.groupKey)
    }

    @Test(arguments: suites)
    func everyHelperSetOfThresholdSizeRepairsAThreeOfFiveGroup(_ suite: Ciphersuite) async throws {
        let vaults = try LocalVaults()
        let stores = try await vaults.make(5)
        let group = try FROSTGroup(name: "board", stores: stores, logger: quiet)
        let publicKeys = try await group.create(suite: suite, minSigners: 3, method: .trustedDealer)
        let original = try await storedKeyPackage(group, 3)
        let helperSets: [[ParticipantID]] = [[1, 2, 4], [1, 2, 5], [1, 4, 5], [2, 4, 5], [1, 2, 4, 5]]
        for helpers in helperSets {
            try await group.erase(3)
            let report = try await group.repair(3, helpers: helpers)
            #expect(report.helpers == helpers)
            #expect(try await storedKeyPackage(group, 3) == original, "helpers \(helpers)")
            let others = helpers.prefix(2)
            let signature = try await group.sign(message: message, signers: [3] + others)
            #expect(try FROST.verify(signature, message: message, groupKey: publicKeys.groupKey), "helpers \(helpers)")
        }
        // Another participant, too.
        let fifth = try await storedKeyPackage(group, 5)
        try await group.erase(5)
        try await group.repair(5, helpers: [1, 3, 4])
        #expect(try await storedKeyPackage(group, 5) == fifth)
        #expect(try await group.publicKeyPackage() == publicKeys)
    }

    @Test func helperSetsThatBreakTheRulesAreRefusedAndNothingIsStored() async throws {
        let vaults = try LocalVaults()
        let stores = try await vaults.make(5)
        let group = try FROSTGroup(name: "board", stores: stores, logger: quiet)
        _ = try await group.create(suite: .ed25519, minSigners: 3, method: .trustedDealer)
        let shareID = try group.shareID(3)
        // The share is intact: nothing to repair.
        let intact = await #expect(throws: FROSTError.self) { try await group.repair(3, helpers: [1, 2, 4]) }
        #expect(intact?.code == .invalidInput && intact?.reason.contains("intact") == true)
        try await group.erase(3)
        let cases: [([ParticipantID], String)] = [
            ([1, 2], "needs at least 3 helpers (the threshold), got 2"),
            ([1, 2, 3], "cannot help repair its own share"),
            ([1, 2, 9], "helper 9 is not in the group"),
            ([1, 2, 2], "name a participant twice"),
        ]
        for (helpers, reason) in cases {
            let error = await #expect(throws: FROSTError.self, "\(helpers)") { try await group.repair(3, helpers: helpers) }
            #expect(error?.code == .invalidInput && error?.reason.contains(reason) == true, "\(helpers): \(error?.reason ?? "")")
        }
        // An erased helper cannot help.
        try await group.erase(5)
        let erasedHelper = await #expect(throws: FROSTError.self) { try await group.repair(3, helpers: [1, 2, 5]) }
        #expect(erasedHelper?.code == .shareGone && erasedHelper?.reason.contains("helper 5") == true)
        let gone = await #expect(throws: StrongroomError.self) { try await stores[3]!.versions(shareID) }
        #expect(gone?.code == .shareNotFound)
        for id in [ParticipantID](1...5) where id != 3 && id != 5 {
            #expect(try await stores[id]!.list().map(\.id.rawValue) == ["frost.board.p\(id)"])
        }
    }

    /// A 2-of-3 group in three vaults whose participant 3 was erased, as three participants, with the
    /// original bytes of 3's key package.
    func participantsWithThirdErased(_ suite: Ciphersuite, vaults: LocalVaults) async throws -> ([FROSTParticipant], PublicKeyPackage, SecretBytes) {
        let stores = try await vaults.make(3)
        let group = try FROSTGroup(name: "escrow", stores: stores, logger: quiet)
        let publicKeys = try await group.create(suite: suite, minSigners: 2, method: .distributed)
        let original = try await storedKeyPackage(group, 3)
        try await group.erase(3)
        let participants = try (1...3).map { try FROSTParticipant(group: "escrow", identifier: ParticipantID($0), store: stores[ParticipantID($0)]!, logger: quiet) }
        return (participants, publicKeys, original)
    }

    /// A signature by `signers`, each with its own store and record, aggregated by a coordinator.
    func signWithParticipants(_ signers: [FROSTParticipant], _ publicKeys: PublicKeyPackage) async throws -> Signature {
        let coordinator = try FROSTCoordinator(group: "escrow", publicKeys: publicKeys)
        let session = try SessionID.random()
        var commitments: [[UInt8]] = []
        for p in signers { commitments.append(try await p.commit(session: session)) }
        let package = try coordinator.signingPackage(session: session, message: message, commitments: commitments)
        var shares: [[UInt8]] = []
        for p in signers { shares.append(try await p.sign(package)) }
        return try coordinator.aggregate(signingPackage: package, shares: shares)
    }

    @Test(arguments: suites)
    func aTamperedStepOneOrStepTwoMessageIsRefusedNamingItsSender(_ suite: Ciphersuite) async throws {
        let vaults = try LocalVaults()
        let (p, publicKeys, original) = try await participantsWithThirdErased(suite, vaults: vaults)
        let session = try SessionID.random()
        let one = try await p[0].repairHelp(session: session, lost: 3, helpers: [1, 2])
        let two = try await p[1].repairHelp(session: session, lost: 3, helpers: [1, 2])
        let commitments = [one.commitments, two.commitments]
        func parts(for id: ParticipantID, _ all: [SecretBytes]) throws -> [SecretBytes] {
            try all.filter { try FROSTMessage.header(ofSecret: $0).recipient == id }
        }
        let one1 = try FROSTMessage.decodeRepairPart(try parts(for: 1, one.parts)[0], suite: suite)
        let one2 = try FROSTMessage.decodeRepairPart(try parts(for: 2, one.parts)[0], suite: suite)

        // Step one, a part altered: refused by its recipient, naming the sender.
        let plusOne = try one2.delta + Scalar.integer(1, suite)
        let altered = try FROSTMessage.encode(Repair.Part(sender: 1, recipient: 2, target: 3, delta: plusOne, session: session))
        let badPart = await #expect(throws: FROSTError.self) {
            try await p[1].repairCombine(commitments: commitments, parts: [altered] + (try parts(for: 2, two.parts)))
        }
        #expect(badPart?.code == .invalidPackage && badPart?.culprits == [1] && badPart?.reason.contains("participant 1's repair part") == true)

        // Step one, a broadcast altered (helper 1 claims other images): its sum check fails, naming it.
        let forged = Repair.Commitments(
            sender: 1, target: 3, images: [1: try Element.base(one1.delta), 2: try Element.base(plusOne)], session: session)
        let badBroadcast = await #expect(throws: FROSTError.self) {
            try await p[1].repairCombine(commitments: [try FROSTMessage.encode(forged, suite: suite), two.commitments], parts: [altered] + (try parts(for: 2, two.parts)))
        }
        #expect(badBroadcast?.code == .invalidPackage && badBroadcast?.culprits == [1])

        // A part sealed to its recipient and altered on the wire does not open, naming the sender.
        let keyPair = try FROSTChannel.makeKeyPair()
        var sealed = try FROSTChannel.seal(try parts(for: 2, one.parts)[0], to: FROSTChannel.publicKey(of: keyPair))
        #expect(sealed.count == 43 + 77 + 48)
        sealed[100] ^= 1
        let badSeal = #expect(throws: FROSTError.self) { try FROSTChannel.open(sealed, keyPair: keyPair, suite: suite) }
        #expect(badSeal?.code == .malformedEncoding && badSeal?.reason.contains("participant 1's sealed message for participant 2") == true)

        // Step two, honest.
        let sum1 = try await p[0].repairCombine(commitments: commitments, parts: try parts(for: 1, one.parts + two.parts))
        let sum2 = try await p[1].repairCombine(commitments: commitments, parts: try parts(for: 2, one.parts + two.parts))
        #expect(sum1.count == 75 && sum2.count == 75)
        // Step two, a sum altered: refused by the repaired participant, naming the helper; nothing stored.
        let decoded2 = try FROSTMessage.decodeRepairSum(sum2, suite: suite)
        let badSum = try FROSTMessage.encode(Repair.Sum(sender: 2, recipient: 3, sigma: try decoded2.sigma + Scalar.integer(1, suite), session: session))
        let refused = await #expect(throws: FROSTError.self) { try await p[2].repairFinish(commitments: commitments, sums: [sum1, badSum]) }
        #expect(refused?.code == .invalidPackage && refused?.culprits == [2] && refused?.reason.contains("participant 2's repair sum") == true)
        let missing = await #expect(throws: FROSTError.self) { try await p[2].repairFinish(commitments: commitments, sums: [sum1]) }
        #expect(missing?.reason.contains("no repair sum from helper(s) [2]") == true)
        let nothing = await #expect(throws: StrongroomError.self) { try await p[2].store.versions(try p[2].shareID) }
        #expect(nothing?.code == .shareNotFound)

        // The honest sums repair it; 2+3 sign, each with its own record, through a coordinator.
        try await p[2].repairFinish(commitments: commitments, sums: [sum2, sum1])
        #expect(try await p[2].store.load(try p[2].shareID) == original)
        let signature = try await signWithParticipants([p[1], p[2]], publicKeys)
        #expect(try FROST.verify(signature, message: message, groupKey: publicKeys.groupKey))
    }

    @Test(arguments: suites)
    func aParticipantWhoseWholeVaultWasLostIsRepairedIntoANewVault(_ suite: Ciphersuite) async throws {
        let vaults = try LocalVaults()
        let stores = try await vaults.make(3)
        let group = try FROSTGroup(name: "escrow", stores: stores, logger: quiet)
        let publicKeys = try await group.create(suite: suite, minSigners: 2, method: .distributed)
        let original = try await storedKeyPackage(group, 3)
        let elsewhere = try LocalVaults()
        let fresh = try await elsewhere.make(1)[1]!
        let helpers = try (1...2).map { try FROSTParticipant(group: "escrow", identifier: ParticipantID($0), store: stores[ParticipantID($0)]!, logger: quiet) }
        let lost = try FROSTParticipant(group: "escrow", identifier: 3, store: fresh, logger: quiet)
        let session = try SessionID.random()
        // Channel keys, step one with every part sealed, step two, step three.
        var keys: [ParticipantID: [UInt8]] = [:]
        for p in helpers + [lost] {
            keys[p.identifier] = try FROSTChannel.decodeKeyMessage(try await p.channelKey(session: session, suite: suite), suite: suite).key
        }
        var commitments: [[UInt8]] = []
        var sealed: [[UInt8]] = []
        for p in helpers {
            let (broadcast, parts) = try await p.repairHelp(session: session, lost: 3, helpers: [1, 2])
            commitments.append(broadcast)
            #expect(broadcast.count == 43 + 4 + 2 * (2 + suite.elementLength))
            for part in parts { sealed.append(try FROSTChannel.seal(part, to: keys[try FROSTMessage.header(ofSecret: part).recipient]!)) }
        }
        var sums: [[UInt8]] = []
        for p in helpers {
            var mine: [SecretBytes] = []
            for s in sealed where try FROSTMessage.header(of: s).recipient == p.identifier { mine.append(try await p.open(sealed: s)) }
            sums.append(try FROSTChannel.seal(try await p.repairCombine(commitments: commitments, parts: mine), to: keys[3]!))
        }
        // Without the group's public data the new vault cannot check the share: refused.
        var opened: [SecretBytes] = []
        for s in sums { opened.append(try await lost.open(sealed: s)) }
        let noRecord = await #expect(throws: FROSTError.self) { try await lost.repairFinish(commitments: commitments, sums: opened) }
        #expect(noRecord?.code == .groupState)
        try await lost.repairFinish(commitments: commitments, sums: opened, publicKeys: publicKeys)
        #expect(try await fresh.load(try lost.shareID) == original)
        #expect(try await fresh.list().map(\.id.rawValue) == ["frost.escrow.p3"])
        #expect(try await lost.publicKeyPackage() == publicKeys)
        // 1 (its vault) and 3 (the new vault) sign, and so do 2 and 3.
        for signers in [[helpers[0], lost], [helpers[1], lost]] {
            let signature = try await signWithParticipants(signers, publicKeys)
            #expect(try FROST.verify(signature, message: message, groupKey: publicKeys.groupKey))
        }
    }

    /// What a helper sends in step one reveals nothing of its share: its parts are fresh random scalars
    /// in every run, related to the share only through their sum, and no message (clear or sealed)
    /// carries s_i, λ_i·s_i or the lost share.
    @Test(arguments: suites)
    func stepOnePartsAreFreshRandomScalarsAndNoMessageCarriesAShare(_ suite: Ciphersuite) throws {
        let dealt = try FROST.trustedDealerKeygen(suite: suite, minSigners: 3, maxSigners: 5)
        let keys = Dictionary(uniqueKeysWithValues: dealt.keyPackages.map { ($0.identifier, $0) })
        let helpers: [ParticipantID] = [1, 2, 4]
        let lost = keys[3]!.signingShare
        var contributions = try Scalar.zero(suite)
        var sums: [ParticipantID: Scalar] = [:]
        for id in helpers { sums[id] = try Scalar.zero(suite) }
        for helper in helpers {
            let share = keys[helper]!.signingShare
            let lambda = try Repair.lagrangeCoefficient(helper, helpers: helpers, at: 3, suite: suite)
            let contribution = try lambda * share
            contributions = try contributions + contribution
            let session = try SessionID.random()
            let (c1, run1) = try Repair.step1(keys[helper]!, group: dealt.publicKeyPackage, target: 3, helpers: helpers, session: session)
            let (c2, run2) = try Repair.step1(keys[helper]!, group: dealt.publicKeyPackage, target: 3, helpers: helpers, session: session)
            #expect(run1.count == 3 && run2.count == 3)
            // Two runs give different parts and different broadcasts.
            for (a, b) in zip(run1, run2) { #expect(!(a.delta == b.delta) && a.recipient == b.recipient) }
            #expect(try helpers.allSatisfy { try c1.images[$0]!.serialize() != c2.images[$0]!.serialize() })
            // The parts sum to λ_i(3)·s_i, and their images to λ_i(3)·PK_i.
            var total = try Scalar.zero(suite)
            for part in run1 { total = try total + part.delta }
            #expect(total == contribution)
            // No part, clear or on the wire, is s_i, λ_i·s_i or s_3.
            let keyPair = try FROSTChannel.makeKeyPair()
            for part in run1 + run2 {
                #expect(!(part.delta == share) && !(part.delta == contribution) && !(part.delta == lost))
                let encoded = try FROSTMessage.encode(part)
                let wire = try FROSTChannel.seal(encoded, to: FROSTChannel.publicKey(of: keyPair))
                for forbidden in [share, contribution, lost] {
                    #expect(!contains(wire, forbidden.publicEncoding()))
                    #expect(encoded.withUnsafeBytes { !contains(Array($0), forbidden.publicEncoding()) })
                }
            }
            for part in run1 { sums[part.recipient] = try sums[part.recipient]! + part.delta }
            #expect(try !contains(FROSTMessage.encode(c1, suite: suite), share.publicEncoding()))
        }
        // Σ λ_i(3)·s_i = s_3, and the helpers' sums add up to it though none equals it.
        #expect(contributions == lost)
        var repaired = try Scalar.zero(suite)
        for id in helpers {
            #expect(!(sums[id]! == lost))
            repaired = try repaired + sums[id]!
        }
        #expect(repaired == lost)
    }

    func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard needle.count <= haystack.count else { return false }
        return (0...(haystack.count - needle.count)).contains { Array(haystack[$0..<($0 + needle.count)]) == needle }
    }
}
