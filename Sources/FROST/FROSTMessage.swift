import SecureCrypto

/// The wire encoding of every FROST protocol message (docs/frost.md, "Wire format"), version 1.
///
/// Every message starts with a 43-byte header:
/// `"SRFM" | version u8 (1) | kind u8 | suite u8 | session (32) | sender u16 | recipient u16`,
/// integers big-endian, identifier 0 standing for the coordinator (sender) or for everyone
/// (recipient). The body follows, by kind; there are never trailing bytes. Decoding checks the magic,
/// the version, the kind, the ciphersuite, every length, that scalars are canonical and elements
/// valid, and fails with ``FROSTError/Code/malformedEncoding`` naming the sender.
///
/// Messages that carry a secret share (DKG round two, refresh round two, repair parts and sums) are
/// encoded into and decoded from ``SecretBytes`` only.
public enum FROSTMessage {
    /// "SRFM" (Strongroom FROST message).
    public static let magic: [UInt8] = Array("SRFM".utf8)
    /// The format version this build writes and reads.
    public static let formatVersion: UInt8 = 1
    /// Bytes in the header.
    public static let headerLength = 43

    /// What a message is.
    public enum Kind: UInt8, Sendable, Hashable, CaseIterable, CustomStringConvertible {
        /// A signer's round-one commitments (D, E).
        case signingCommitments = 1
        /// The coordinator's signing package: the message and the signers' commitments.
        case signingPackage = 2
        /// A signer's signature share z_i.
        case signatureShare = 3
        /// A DKG round-one broadcast: polynomial commitment and proof of knowledge.
        case dkgRound1 = 4
        /// A DKG round-two share f_i(j) for one recipient: secret.
        case dkgRound2 = 5
        /// A refresh round-one broadcast: commitment to a zero-constant polynomial.
        case refreshRound1 = 6
        /// A refresh round-two share δ_i(j) for one recipient: secret.
        case refreshRound2 = 7
        /// The group's public data (group key, verifying shares, threshold, epoch).
        case publicKeyPackage = 8
        /// A participant's X25519 channel key, to which secret messages for it are sealed.
        case channelKey = 9
        /// A secret message sealed to its recipient's channel key (``FROSTChannel``).
        case sealed = 10
        /// A helper's repair step-one broadcast: the images of the parts it sends (``Repair``).
        case repairCommitments = 11
        /// A repair step-one part δ_{i→j} for one helper: secret.
        case repairPart = 12
        /// A repair step-two sum σ_j for the repaired participant: secret.
        case repairSum = 13

        /// A human name of the kind.
        public var description: String {
            switch self {
            case .signingCommitments: "signing commitments"
            case .signingPackage: "signing package"
            case .signatureShare: "signature share"
            case .dkgRound1: "DKG round-one package"
            case .dkgRound2: "DKG round-two share"
            case .refreshRound1: "refresh round-one package"
            case .refreshRound2: "refresh round-two share"
            case .publicKeyPackage: "group public key package"
            case .channelKey: "channel key"
            case .sealed: "sealed message"
            case .repairCommitments: "repair commitments"
            case .repairPart: "repair part"
            case .repairSum: "repair sum"
            }
        }

        /// True for the kinds that carry a secret.
        public var isSecret: Bool { self == .dkgRound2 || self == .refreshRound2 || self == .repairPart || self == .repairSum }
    }

    /// What every message starts with.
    public struct Header: Sendable, Hashable {
        /// What the message is.
        public let kind: Kind
        /// Its ciphersuite.
        public let suite: Ciphersuite
        /// The run it belongs to.
        public let session: SessionID
        /// Who sent it (0: the coordinator).
        public let sender: ParticipantID
        /// Whom it is for (0: everyone, or the coordinator).
        public let recipient: ParticipantID

        /// Creates a header.
        public init(kind: Kind, suite: Ciphersuite, session: SessionID, sender: ParticipantID, recipient: ParticipantID) {
            self.kind = kind
            self.suite = suite
            self.session = session
            self.sender = sender
            self.recipient = recipient
        }

        var bytes: [UInt8] {
            FROSTMessage.magic + [FROSTMessage.formatVersion, kind.rawValue, suite.rawValue] + session.bytes
                + FROST.be16(sender) + FROST.be16(recipient)
        }

        /// "participant 2's signature share", "the coordinator's signing package".
        var origin: String { sender == 0 ? "the coordinator's \(kind)" : "participant \(sender)'s \(kind)" }
    }

    // MARK: Reading

    /// Reads the header of any message without checking its body (to route a message to its decoder).
    public static func header(of bytes: [UInt8]) throws -> Header {
        try bytes.withUnsafeBytes { raw in
            var reader = Reader(raw)
            return try reader.header(expecting: nil, suite: nil)
        }
    }

    /// Reads the (public) header of a secret message without touching its body.
    public static func header(ofSecret bytes: SecretBytes) throws -> Header {
        try bytes.withUnsafeBytes { raw in
            var reader = Reader(raw)
            return try reader.header(expecting: nil, suite: nil)
        }
    }

    /// A cursor over a message; every read checks the length left.
    struct Reader {
        let raw: UnsafeRawBufferPointer
        var offset = 0
        var what = "the message"

        init(_ raw: UnsafeRawBufferPointer) { self.raw = raw }

        func fail(_ reason: String) -> FROSTError { FROSTError(.malformedEncoding, "\(what): \(reason)") }

        mutating func take(_ count: Int, _ field: String) throws -> UnsafeRawBufferPointer {
            guard raw.count - offset >= count else {
                throw fail("truncated: \(field) needs \(count) bytes at offset \(offset), \(raw.count - offset) left")
            }
            defer { offset += count }
            return UnsafeRawBufferPointer(rebasing: raw[offset..<(offset + count)])
        }

        mutating func u16(_ field: String) throws -> UInt16 {
            let b = try take(2, field)
            return UInt16(b[0]) << 8 | UInt16(b[1])
        }

        mutating func u32(_ field: String) throws -> UInt32 {
            let b = try take(4, field)
            return UInt32(b[0]) << 24 | UInt32(b[1]) << 16 | UInt32(b[2]) << 8 | UInt32(b[3])
        }

        mutating func element(_ suite: Ciphersuite, _ field: String) throws -> Element {
            let bytes = Array(try take(suite.elementLength, field))
            do {
                return try Element.deserialize(bytes, suite)
            } catch let error as FROSTError {
                throw fail("\(field) is not a valid element (\(error.reason))")
            }
        }

        mutating func scalar(_ suite: Ciphersuite, _ field: String) throws -> Scalar {
            let bytes = try take(suite.scalarLength, field)
            do {
                return try Scalar.deserialize(bytes, suite)
            } catch let error as FROSTError {
                throw fail("\(field) is not a canonical scalar (\(error.reason))")
            }
        }

        /// Reads and checks the header; `expecting` and `suite` nil accept any kind or ciphersuite.
        mutating func header(expecting kind: Kind?, suite expected: Ciphersuite?) throws -> Header {
            if let kind { what = "a \(kind) message" }
            guard raw.count >= FROSTMessage.headerLength else {
                throw fail("truncated: \(raw.count) bytes, shorter than the \(FROSTMessage.headerLength)-byte header")
            }
            let magic = Array(try take(4, "magic"))
            guard magic == FROSTMessage.magic else {
                throw fail("not a Strongroom FROST message (no SRFM magic)")
            }
            let version = try take(1, "version")[0]
            guard version == FROSTMessage.formatVersion else {
                throw fail("format version \(version) is not supported (this build reads version \(FROSTMessage.formatVersion))")
            }
            let kindByte = try take(1, "kind")[0]
            guard let found = Kind(rawValue: kindByte) else { throw fail("unknown message kind \(kindByte)") }
            if let kind, found != kind { throw fail("it is a \(found) message, not a \(kind)") }
            let suiteByte = try take(1, "ciphersuite")[0]
            guard let suite = Ciphersuite(rawValue: suiteByte) else { throw fail("unknown ciphersuite code \(suiteByte)") }
            if let expected, suite != expected { throw fail("it is for \(suite), not \(expected)") }
            let session = try SessionID(bytes: Array(try take(SessionID.length, "session id")))
            let sender = try u16("sender")
            let recipient = try u16("recipient")
            let header = Header(kind: found, suite: suite, session: session, sender: sender, recipient: recipient)
            what = header.origin + (recipient == 0 ? "" : " for participant \(recipient)") + " (session \(session))"
            return header
        }

        /// Refuses trailing bytes.
        func finish() throws {
            guard offset == raw.count else { throw fail("\(raw.count - offset) trailing byte(s) after the message") }
        }
    }

    static func decode<T>(
        _ bytes: [UInt8], _ kind: Kind, _ suite: Ciphersuite, _ body: (Header, inout Reader) throws -> T
    ) throws -> (Header, T) {
        try bytes.withUnsafeBytes { raw in
            var reader = Reader(raw)
            let header = try reader.header(expecting: kind, suite: suite)
            let value = try body(header, &reader)
            try reader.finish()
            return (header, value)
        }
    }

    static func decodeSecret<T>(
        _ bytes: SecretBytes, _ kind: Kind, _ suite: Ciphersuite, _ body: (Header, inout Reader) throws -> T
    ) throws -> (Header, T) {
        try bytes.withUnsafeBytes { raw in
            var reader = Reader(raw)
            let header = try reader.header(expecting: kind, suite: suite)
            let value = try body(header, &reader)
            try reader.finish()
            return (header, value)
        }
    }

    /// A secret message: the public header (and public `prefix` fields), then a secret scalar.
    static func secret(_ header: Header, _ scalar: Scalar, prefix: [UInt8] = []) throws -> SecretBytes {
        let head = header.bytes + prefix
        return try SecretBytes(count: head.count + 32) { out in
            head.withUnsafeBytes { out.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            scalar.secret.withUnsafeBytes { (out.baseAddress! + head.count).copyMemory(from: $0.baseAddress!, byteCount: 32) }
        }
    }

    // MARK: Signing

    /// Encodes a signer's round-one commitments: body `D (Ne) | E (Ne)`.
    public static func encode(_ commitments: SigningCommitments, session: SessionID) throws -> [UInt8] {
        let suite = commitments.hiding.suite
        return Header(kind: .signingCommitments, suite: suite, session: session, sender: commitments.identifier, recipient: 0).bytes
            + (try commitments.hiding.serialize()) + (try commitments.binding.serialize())
    }

    /// Decodes a signer's round-one commitments.
    public static func decodeSigningCommitments(_ bytes: [UInt8], suite: Ciphersuite) throws -> (header: Header, commitments: SigningCommitments) {
        try decode(bytes, .signingCommitments, suite) { header, reader in
            guard header.sender != 0 else { throw reader.fail("the sender must be a participant, not 0") }
            let hiding = try reader.element(suite, "the hiding commitment D")
            let binding = try reader.element(suite, "the binding commitment E")
            return try SigningCommitments(identifier: header.sender, hiding: hiding, binding: binding)
        }
    }

    /// Encodes the coordinator's signing package: body
    /// `count u16 | count × (identifier u16 | D (Ne) | E (Ne)), ascending | message length u32 | message`.
    public static func encode(_ package: SigningPackage, session: SessionID) throws -> [UInt8] {
        var out = Header(kind: .signingPackage, suite: package.suite, session: session, sender: 0, recipient: 0).bytes
        out += FROST.be16(UInt16(package.commitments.count))
        for c in package.commitments { out += FROST.be16(c.identifier) + (try c.hiding.serialize()) + (try c.binding.serialize()) }
        return out + FROST.be32(UInt32(package.message.count)) + package.message
    }

    /// Decodes a signing package; the signers must be listed once each, ascending.
    public static func decodeSigningPackage(_ bytes: [UInt8], suite: Ciphersuite) throws -> (header: Header, package: SigningPackage) {
        try decode(bytes, .signingPackage, suite) { header, reader in
            let count = try reader.u16("the signer count")
            guard count >= 2 else { throw reader.fail("a signing package needs at least 2 signers, not \(count)") }
            var commitments: [SigningCommitments] = []
            for index in 0..<Int(count) {
                let id = try reader.u16("signer \(index)'s identifier")
                guard id != 0, commitments.last.map({ $0.identifier < id }) ?? true else {
                    throw reader.fail("the signers are not distinct non-zero identifiers in ascending order")
                }
                let hiding = try reader.element(suite, "signer \(id)'s hiding commitment D")
                let binding = try reader.element(suite, "signer \(id)'s binding commitment E")
                commitments.append(try SigningCommitments(identifier: id, hiding: hiding, binding: binding))
            }
            let length = try reader.u32("the message length")
            let message = Array(try reader.take(Int(length), "the message"))
            return try SigningPackage(suite: suite, commitments: commitments, message: message)
        }
    }

    /// Encodes a signer's signature share: body `z_i (32)`.
    public static func encode(_ share: SignatureShare, session: SessionID) throws -> [UInt8] {
        Header(kind: .signatureShare, suite: share.share.suite, session: session, sender: share.identifier, recipient: 0).bytes
            + share.share.publicEncoding()
    }

    /// Decodes a signature share.
    public static func decodeSignatureShare(_ bytes: [UInt8], suite: Ciphersuite) throws -> (header: Header, share: SignatureShare) {
        try decode(bytes, .signatureShare, suite) { header, reader in
            guard header.sender != 0 else { throw reader.fail("the sender must be a participant, not 0") }
            return SignatureShare(identifier: header.sender, share: try reader.scalar(suite, "the share z"))
        }
    }

    // MARK: Key generation and refresh

    /// Encodes a DKG round-one package: body `t u16 | C_0 ... C_(t-1) (Ne each) | R (Ne) | μ (32)`.
    public static func encode(_ package: DKG.Round1Package) throws -> [UInt8] {
        guard let suite = package.commitment.first?.suite else { throw FROSTError(.invalidInput, "an empty DKG commitment") }
        var out = Header(kind: .dkgRound1, suite: suite, session: package.session, sender: package.sender, recipient: 0).bytes
        out += FROST.be16(UInt16(package.commitment.count))
        for c in package.commitment { out += try c.serialize() }
        return out + (try package.proofCommitment.serialize()) + package.proofResponse
    }

    /// Decodes a DKG round-one package (its proof is checked in round two, against the run's session).
    public static func decodeDKGRound1(_ bytes: [UInt8], suite: Ciphersuite) throws -> DKG.Round1Package {
        try decode(bytes, .dkgRound1, suite) { header, reader in
            guard header.sender != 0 else { throw reader.fail("the sender must be a participant, not 0") }
            let count = try reader.u16("the commitment length t")
            guard count >= 2 else { throw reader.fail("the commitment length t must be at least 2, not \(count)") }
            let commitment = try (0..<Int(count)).map { try reader.element(suite, "commitment C_\($0)") }
            let r = try reader.element(suite, "the proof commitment R")
            let mu = try reader.scalar(suite, "the proof response μ")
            return DKG.Round1Package(
                sender: header.sender, commitment: commitment, proofCommitment: r, proofResponse: mu.publicEncoding(), session: header.session)
        }.1
    }

    /// Encodes a DKG round-two share (secret): body `f_i(j) (32)`.
    public static func encode(_ package: DKG.Round2Package) throws -> SecretBytes {
        try secret(
            Header(kind: .dkgRound2, suite: package.share.suite, session: package.session, sender: package.sender, recipient: package.recipient),
            package.share)
    }

    /// Decodes a DKG round-two share from locked memory.
    public static func decodeDKGRound2(_ bytes: SecretBytes, suite: Ciphersuite) throws -> DKG.Round2Package {
        try decodeSecret(bytes, .dkgRound2, suite) { header, reader in
            guard header.sender != 0, header.recipient != 0 else { throw reader.fail("sender and recipient must be participants") }
            return DKG.Round2Package(
                sender: header.sender, recipient: header.recipient, share: try reader.scalar(suite, "the share"), session: header.session)
        }.1
    }

    /// Encodes a refresh round-one package: body `count u16 | a_1·G ... a_count·G (Ne each)`.
    public static func encode(_ package: Refresh.Package, suite: Ciphersuite) throws -> [UInt8] {
        var out = Header(kind: .refreshRound1, suite: suite, session: package.session, sender: package.sender, recipient: 0).bytes
        out += FROST.be16(UInt16(package.commitment.count))
        for c in package.commitment { out += try c.serialize() }
        return out
    }

    /// Decodes a refresh round-one package.
    public static func decodeRefreshRound1(_ bytes: [UInt8], suite: Ciphersuite) throws -> Refresh.Package {
        try decode(bytes, .refreshRound1, suite) { header, reader in
            guard header.sender != 0 else { throw reader.fail("the sender must be a participant, not 0") }
            let count = try reader.u16("the commitment length")
            guard count >= 1 else { throw reader.fail("the commitment must hold at least one element") }
            let commitment = try (0..<Int(count)).map { try reader.element(suite, "commitment a_\($0 + 1)·G") }
            return Refresh.Package(sender: header.sender, commitment: commitment, session: header.session)
        }.1
    }

    /// Encodes a refresh round-two share (secret): body `δ_i(j) (32)`.
    public static func encode(_ share: Refresh.Share) throws -> SecretBytes {
        try secret(
            Header(kind: .refreshRound2, suite: share.delta.suite, session: share.session, sender: share.sender, recipient: share.recipient),
            share.delta)
    }

    /// Decodes a refresh round-two share from locked memory.
    public static func decodeRefreshRound2(_ bytes: SecretBytes, suite: Ciphersuite) throws -> Refresh.Share {
        try decodeSecret(bytes, .refreshRound2, suite) { header, reader in
            guard header.sender != 0, header.recipient != 0 else { throw reader.fail("sender and recipient must be participants") }
            return Refresh.Share(
                sender: header.sender, recipient: header.recipient, delta: try reader.scalar(suite, "the share δ"), session: header.session)
        }.1
    }

    // MARK: Group public data

    /// Encodes the group's public data: body
    /// `t u16 | n u16 | epoch u32 | group key (Ne) | verifying shares of participants 1 ... n (Ne each)`.
    public static func encode(_ group: PublicKeyPackage, session: SessionID, sender: ParticipantID = 0) throws -> [UInt8] {
        var out = Header(kind: .publicKeyPackage, suite: group.suite, session: session, sender: sender, recipient: 0).bytes
        out += FROST.be16(group.minSigners) + FROST.be16(group.maxSigners)
        out += FROST.be32(group.epoch)
        out += try group.groupKey.serialize()
        for id in 1...group.maxSigners {
            guard let share = group.verifyingShares[id] else { throw FROSTError(.groupState, "no verifying share for participant \(id)") }
            out += try share.serialize()
        }
        return out
    }

    /// Decodes the group's public data.
    public static func decodePublicKeyPackage(_ bytes: [UInt8], suite: Ciphersuite) throws -> (header: Header, group: PublicKeyPackage) {
        try decode(bytes, .publicKeyPackage, suite) { header, reader in
            let min = try reader.u16("the threshold t")
            let max = try reader.u16("the participant count n")
            guard min >= 2, min <= max, max <= 255 else { throw reader.fail("threshold \(min) of \(max) is not 2 <= t <= n <= 255") }
            let epoch = try reader.u32("the epoch")
            let key = try reader.element(suite, "the group key")
            var shares: [ParticipantID: Element] = [:]
            for id in 1...max { shares[id] = try reader.element(suite, "participant \(id)'s verifying share") }
            return try PublicKeyPackage(suite: suite, groupKey: key, verifyingShares: shares, minSigners: min, maxSigners: max, epoch: epoch)
        }
    }
}
