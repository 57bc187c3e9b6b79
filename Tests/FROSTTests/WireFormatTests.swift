@testable import FROST
import SecureCrypto
import Testing

/// The versioned wire encoding of every protocol message (docs/frost.md, "Wire format").
@Suite struct WireFormatTests {
    static let suites: [Ciphersuite] = [.ed25519, .secp256k1]

    /// One message of every kind, from a real 2-of-3 DKG and signing, as public bytes (the secret
    /// kinds are copied out of their SecretBytes here only to mutate them in tests).
    struct Samples {
        let suite: Ciphersuite
        let session: SessionID
        /// Participant 2's channel key pair, which the sealed sample is sealed to.
        let keyPair: SecretBytes
        let messages: [(FROSTMessage.Kind, [UInt8])]
    }

    static func samples(_ suite: Ciphersuite) throws -> Samples {
        let session = try SessionID.random()
        let round1 = try (1...3).map { try DKG.round1(identifier: ParticipantID($0), minSigners: 2, maxSigners: 3, suite: suite, session: session) }
        let round2 = try DKG.round2(round1[0].0, received: round1.map(\.1))
        let (key, group) = try DKG.finalize(round1[1].0, round1: round1.map(\.1), received: try DKG.round2(round1[0].0, received: round1.map(\.1)) + DKG.round2(round1[2].0, received: round1.map(\.1)))
        let nonces = try FROST.commit(key)
        let other = try FROST.commit(identifier: 1, signingShare: Scalar.random(suite))
        let package = try SigningPackage(suite: suite, commitments: [nonces.commitments, other.commitments], message: Array("pay 7".utf8))
        let share = SignatureShare(identifier: 2, share: try Scalar.random(suite))
        let (refreshPackage, refreshShares) = try Refresh.round1(identifier: 2, group: group, session: session)
        func open(_ secret: SecretBytes) -> [UInt8] { secret.withUnsafeBytes { Array($0) } }
        let keyPair = try FROSTChannel.makeKeyPair()
        let (repairCommitments, repairParts) = try Repair.step1(key, group: group, target: 1, helpers: [2, 3], session: session)
        let repairSum = Repair.Sum(sender: 2, recipient: 1, sigma: try Scalar.random(suite), session: session)
        return Samples(
            suite: suite, session: session, keyPair: keyPair,
            messages: [
                (.signingCommitments, try FROSTMessage.encode(nonces.commitments, session: session)),
                (.signingPackage, try FROSTMessage.encode(package, session: session)),
                (.signatureShare, try FROSTMessage.encode(share, session: session)),
                (.dkgRound1, try FROSTMessage.encode(round1[0].1)),
                (.dkgRound2, open(try FROSTMessage.encode(round2[0]))),
                (.refreshRound1, try FROSTMessage.encode(refreshPackage, suite: suite)),
                (.refreshRound2, open(try FROSTMessage.encode(refreshShares[0]))),
                (.publicKeyPackage, try FROSTMessage.encode(group, session: session)),
                (.channelKey, try FROSTChannel.keyMessage(keyPair, suite: suite, session: session, sender: 2)),
                (.sealed, try FROSTChannel.seal(FROSTMessage.encode(round2[0]), to: FROSTChannel.publicKey(of: keyPair))),
                (.repairCommitments, try FROSTMessage.encode(repairCommitments, suite: suite)),
                (.repairPart, open(try FROSTMessage.encode(repairParts[0]))),
                (.repairSum, open(try FROSTMessage.encode(repairSum))),
            ])
    }

    /// Decodes `bytes` as `kind` with the decoder for it.
    static func decode(_ kind: FROSTMessage.Kind, _ bytes: [UInt8], _ suite: Ciphersuite, keyPair: SecretBytes) throws {
        switch kind {
        case .signingCommitments: _ = try FROSTMessage.decodeSigningCommitments(bytes, suite: suite)
        case .signingPackage: _ = try FROSTMessage.decodeSigningPackage(bytes, suite: suite)
        case .signatureShare: _ = try FROSTMessage.decodeSignatureShare(bytes, suite: suite)
        case .dkgRound1: _ = try FROSTMessage.decodeDKGRound1(bytes, suite: suite)
        case .dkgRound2: _ = try FROSTMessage.decodeDKGRound2(secretBytes(bytes), suite: suite)
        case .refreshRound1: _ = try FROSTMessage.decodeRefreshRound1(bytes, suite: suite)
        case .refreshRound2: _ = try FROSTMessage.decodeRefreshRound2(secretBytes(bytes), suite: suite)
        case .publicKeyPackage: _ = try FROSTMessage.decodePublicKeyPackage(bytes, suite: suite)
        case .channelKey: _ = try FROSTChannel.decodeKeyMessage(bytes, suite: suite)
        case .sealed: _ = try FROSTChannel.open(bytes, keyPair: keyPair, suite: suite)
        case .repairCommitments: _ = try FROSTMessage.decodeRepairCommitments(bytes, suite: suite)
        case .repairPart: _ = try FROSTMessage.decodeRepairPart(secretBytes(bytes), suite: suite)
        case .repairSum: _ = try FROSTMessage.decodeRepairSum(secretBytes(bytes), suite: suite)
        }
    }

    static func rejects(
        _ kind: FROSTMessage.Kind, _ bytes: [UInt8], _ suite: Ciphersuite, _ keyPair: SecretBytes, _ comment: Comment
    ) -> FROSTError? {
        let error = #expect(throws: FROSTError.self, comment) { try decode(kind, bytes, suite, keyPair: keyPair) }
        #expect(error?.code == .malformedEncoding, comment)
        return error
    }

    @Test(arguments: suites)
    func everyKindRoundTripsWithItsHeader(_ suite: Ciphersuite) throws {
        let samples = try Self.samples(suite)
        #expect(samples.messages.map(\.0) == FROSTMessage.Kind.allCases)
        for (kind, bytes) in samples.messages {
            #expect(Array(bytes[0..<4]) == Array("SRFM".utf8) && bytes[4] == 1 && bytes[5] == kind.rawValue && bytes[6] == suite.rawValue)
            let header = try FROSTMessage.header(of: bytes)
            #expect(header.kind == kind && header.suite == suite && header.session == samples.session)
            try Self.decode(kind, bytes, suite, keyPair: samples.keyPair)
        }
        // Field by field for the signing messages and the DKG broadcast.
        let session = try SessionID.random()
        let dealt = try FROST.trustedDealerKeygen(suite: suite, minSigners: 2, maxSigners: 3)
        let nonces = try dealt.keyPackages.prefix(2).map { try FROST.commit($0) }
        let commitments = try FROSTMessage.decodeSigningCommitments(try FROSTMessage.encode(nonces[0].commitments, session: session), suite: suite)
        #expect(commitments.commitments == nonces[0].commitments && commitments.header.sender == 1 && commitments.header.session == session)
        let package = try SigningPackage(suite: suite, commitments: nonces.map(\.commitments), message: Array("m".utf8))
        let decodedPackage = try FROSTMessage.decodeSigningPackage(try FROSTMessage.encode(package, session: session), suite: suite).package
        #expect(decodedPackage.commitments == package.commitments && decodedPackage.message == package.message)
        let shares = try zip(dealt.keyPackages.prefix(2), nonces).map { try FROST.sign(package, nonces: $1, keyPackage: $0) }
        let decodedShares = try shares.map { try FROSTMessage.decodeSignatureShare(try FROSTMessage.encode($0, session: session), suite: suite).share }
        let signature = try FROST.aggregate(decodedPackage, shares: decodedShares, publicKeys: dealt.publicKeyPackage, verification: .always)
        #expect(try FROST.verify(signature, message: Array("m".utf8), groupKey: dealt.publicKeyPackage.groupKey))
        let group = try FROSTMessage.decodePublicKeyPackage(try FROSTMessage.encode(dealt.publicKeyPackage, session: session), suite: suite).group
        #expect(group == dealt.publicKeyPackage)
        let (_, broadcast) = try DKG.round1(identifier: 3, minSigners: 2, maxSigners: 3, suite: suite, session: session)
        #expect(try FROSTMessage.decodeDKGRound1(try FROSTMessage.encode(broadcast), suite: suite) == broadcast)
        // Documented lengths (docs/frost.md): header 43, commitments 43 + 2·Ne, share 43 + 32.
        #expect(try FROSTMessage.encode(nonces[0].commitments, session: session).count == 43 + 2 * suite.elementLength)
        #expect(try FROSTMessage.encode(shares[0], session: session).count == 43 + 32)
        #expect(try FROSTMessage.encode(broadcast).count == 43 + 2 + 3 * suite.elementLength + 32)
    }

    @Test(arguments: suites)
    func everyTruncationAndATrailingByteAreRefused(_ suite: Ciphersuite) throws {
        let samples = try Self.samples(suite)
        for (kind, bytes) in samples.messages {
            for length in 0..<bytes.count {
                _ = Self.rejects(kind, Array(bytes.prefix(length)), suite, samples.keyPair, "\(kind) cut to \(length) of \(bytes.count) bytes")
            }
            let error = Self.rejects(kind, bytes + [0], suite, samples.keyPair, "\(kind) with a trailing byte")
            // A sealed box runs to the end of the message, so a trailing byte breaks its tag instead.
            #expect(error?.reason.contains(kind == .sealed ? "does not open" : "trailing") == true)
        }
    }

    @Test(arguments: suites)
    func aWrongMagicVersionKindOrSuiteIsRefused(_ suite: Ciphersuite) throws {
        let other: Ciphersuite = suite == .ed25519 ? .secp256k1 : .ed25519
        let samples = try Self.samples(suite)
        for (kind, bytes) in samples.messages {
            var magic = bytes
            magic[0] = UInt8(ascii: "X")
            #expect(Self.rejects(kind, magic, suite, samples.keyPair, "magic")?.reason.contains("SRFM") == true)
            var version = bytes
            version[4] = 2
            #expect(Self.rejects(kind, version, suite, samples.keyPair, "version")?.reason.contains("version 2") == true)
            var unknown = bytes
            unknown[5] = 99
            #expect(Self.rejects(kind, unknown, suite, samples.keyPair, "unknown kind")?.reason.contains("unknown message kind 99") == true)
            var wrongKind = bytes
            wrongKind[5] = kind == .signatureShare ? FROSTMessage.Kind.signingCommitments.rawValue : FROSTMessage.Kind.signatureShare.rawValue
            _ = Self.rejects(kind, wrongKind, suite, samples.keyPair, "another kind")
            _ = Self.rejects(kind, bytes, other, samples.keyPair, "another ciphersuite")
            var unknownSuite = bytes
            unknownSuite[6] = 77
            _ = Self.rejects(kind, unknownSuite, suite, samples.keyPair, "unknown ciphersuite")
        }
    }

    @Test(arguments: suites)
    func aNonCanonicalScalarOrAnInvalidElementIsRefusedNamingTheSender(_ suite: Ciphersuite) throws {
        let samples = try Self.samples(suite)
        let messages = Dictionary(uniqueKeysWithValues: samples.messages.map { ($0.0, $0.1) })
        // z = 2^256 - 1 is above either group order.
        var share = messages[.signatureShare]!
        for index in 43..<75 { share[index] = 0xFF }
        let scalarError = Self.rejects(.signatureShare, share, suite, samples.keyPair, "non-canonical z")
        #expect(scalarError?.reason.contains("participant 2's signature share") == true)
        #expect(scalarError?.reason.contains("canonical") == true)
        // D replaced by bytes that are no point.
        var commitments = messages[.signingCommitments]!
        for index in 43..<(43 + suite.elementLength) { commitments[index] = 0xFF }
        let elementError = Self.rejects(.signingCommitments, commitments, suite, samples.keyPair, "invalid D")
        #expect(elementError?.reason.contains("participant 2's signing commitments") == true)
        // A signing package whose signers are out of order.
        var package = messages[.signingPackage]!
        let second = 43 + 2 + 2 + 2 * suite.elementLength
        package.swapAt(46, second + 1)
        _ = Self.rejects(.signingPackage, package, suite, samples.keyPair, "signers out of order")
    }

    @Test(arguments: suites)
    func secretKindsAreEncodedIntoLockedMemoryOnly(_ suite: Ciphersuite) throws {
        let session = try SessionID.random()
        let round1 = try (1...2).map { try DKG.round1(identifier: ParticipantID($0), minSigners: 2, maxSigners: 2, suite: suite, session: session) }
        let share = try DKG.round2(round1[0].0, received: round1.map(\.1))[0]
        let encoded: SecretBytes = try FROSTMessage.encode(share)
        #expect("\(encoded)" == "SecretBytes(75 bytes)")
        let decoded = try FROSTMessage.decodeDKGRound2(encoded, suite: suite)
        #expect(decoded.share == share.share && decoded.sender == 1 && decoded.recipient == 2 && decoded.session == session)
        #expect(FROSTMessage.Kind.allCases.filter(\.isSecret) == [.dkgRound2, .refreshRound2, .repairPart, .repairSum])

        // Sealed to participant 2's channel key, it opens with that key pair only, into locked memory.
        let keyPair = try FROSTChannel.makeKeyPair()
        let sealed = try FROSTChannel.seal(encoded, to: FROSTChannel.publicKey(of: keyPair))
        #expect(sealed.count == 43 + 75 + 48 && sealed[5] == FROSTMessage.Kind.sealed.rawValue)
        let opened: SecretBytes = try FROSTChannel.open(sealed, keyPair: keyPair, suite: suite)
        #expect(try FROSTMessage.decodeDKGRound2(opened, suite: suite).share == share.share)
        let stranger = #expect(throws: FROSTError.self) { try FROSTChannel.open(sealed, keyPair: try FROSTChannel.makeKeyPair(), suite: suite) }
        #expect(stranger?.reason.contains("participant 1's sealed message for participant 2") == true)
        // The envelope's header must match the message inside: a relabelled sender is refused.
        var relabelled = sealed
        relabelled[40] = 3
        #expect(throws: FROSTError.self) { try FROSTChannel.open(relabelled, keyPair: keyPair, suite: suite) }
    }

    @Test(arguments: suites)
    func aDKGProofFromOneSessionFailsInAnother(_ suite: Ciphersuite) throws {
        let first = try SessionID.random()
        let second = try SessionID.random()
        let old = try DKG.round1(identifier: 2, minSigners: 2, maxSigners: 2, suite: suite, session: first).1
        let (mine, _) = try DKG.round1(identifier: 1, minSigners: 2, maxSigners: 2, suite: suite, session: second)
        // Replayed as it is: it names the other session.
        let replayed = #expect(throws: FROSTError.self) { try DKG.round2(mine, received: [old]) }
        #expect(replayed?.code == .invalidPackage && replayed?.culprits == [2])
        // Relabelled with this session: the proof, bound to the first session, does not verify.
        let relabelled = DKG.Round1Package(
            sender: 2, commitment: old.commitment, proofCommitment: old.proofCommitment, proofResponse: old.proofResponse, session: second)
        let forged = #expect(throws: FROSTError.self) { try DKG.round2(mine, received: [relabelled]) }
        #expect(forged?.code == .invalidPackage && forged?.culprits == [2])
        #expect(forged?.reason.contains("proof of knowledge does not verify") == true)
        // The same through the wire: the session travels in the header.
        let wire = try FROSTMessage.encode(relabelled)
        #expect(try FROSTMessage.header(of: wire).session == second)
        #expect(throws: FROSTError.self) { try FROSTCoordinator(group: "g", dkgRound1: [wire, try FROSTMessage.encode(DKG.round1(identifier: 1, minSigners: 2, maxSigners: 2, suite: suite, session: second).1)], suite: suite) }
    }
}
