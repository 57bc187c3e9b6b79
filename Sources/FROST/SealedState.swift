import SecureCrypto

/// The secret state a ``FROSTParticipant`` keeps in its store between two protocol steps that may run
/// in different processes: serialised into locked memory only, sealed by the store like any share, and
/// erased when used (docs/frost.md, "Participant state").
enum SealedState {
    /// "SRFD": a DKG polynomial between round one and the finish.
    static let dkgMagic: [UInt8] = Array("SRFD".utf8)
    /// "SRFN": the nonces of one signing session between commit and sign.
    static let nonceMagic: [UInt8] = Array("SRFN".utf8)
    static let version: UInt8 = 1

    /// `header` then each scalar's 32 bytes, in locked memory.
    static func write(_ header: [UInt8], _ scalars: [Scalar]) throws -> SecretBytes {
        try SecretBytes(count: header.count + 32 * scalars.count) { out in
            header.withUnsafeBytes { out.baseAddress!.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
            for (index, scalar) in scalars.enumerated() {
                scalar.secret.withUnsafeBytes { (out.baseAddress! + header.count + 32 * index).copyMemory(from: $0.baseAddress!, byteCount: 32) }
            }
        }
    }

    /// Checks the magic and version and hands the bytes to `body`.
    static func read<T>(_ bytes: SecretBytes, magic: [UInt8], what: String, _ body: (UnsafeRawBufferPointer) throws -> T) throws -> T {
        try bytes.withUnsafeBytes { raw in
            guard raw.count >= 6, Array(raw[0..<4]) == magic, raw[4] == version else {
                throw FROSTError(.malformedEncoding, "the sealed \(what) is not of format \(String(decoding: magic, as: UTF8.self)) version \(version)")
            }
            return try body(raw)
        }
    }

    static func u16(_ raw: UnsafeRawBufferPointer, _ at: Int) -> UInt16 { UInt16(raw[at]) << 8 | UInt16(raw[at + 1]) }
}

extension DKG.Round1Secret {
    /// `"SRFD" | 1 | suite u8 | identifier u16 | t u16 | n u16 | session (32) | t coefficients (32 each)`.
    func serialized() throws -> SecretBytes {
        let header = SealedState.dkgMagic + [SealedState.version, suite.rawValue] + FROST.be16(identifier) + FROST.be16(minSigners)
            + FROST.be16(maxSigners) + session.bytes
        return try SealedState.write(header, coefficients)
    }

    init(deserializing bytes: SecretBytes) throws {
        let fixed = 12 + SessionID.length
        self = try SealedState.read(bytes, magic: SealedState.dkgMagic, what: "DKG state") { raw in
            guard let suite = Ciphersuite(rawValue: raw[5]), raw.count >= fixed else {
                throw FROSTError(.malformedEncoding, "the sealed DKG state names an unknown ciphersuite or is truncated")
            }
            let min = SealedState.u16(raw, 8)
            guard raw.count == fixed + 32 * Int(min) else { throw FROSTError(.malformedEncoding, "the sealed DKG state has the wrong length") }
            let coefficients = try (0..<Int(min)).map {
                try Scalar.deserialize(UnsafeRawBufferPointer(rebasing: raw[(fixed + 32 * $0)..<(fixed + 32 * $0 + 32)]), suite)
            }
            return DKG.Round1Secret(
                identifier: SealedState.u16(raw, 6), coefficients: coefficients, suite: suite, minSigners: min,
                maxSigners: SealedState.u16(raw, 10), session: try SessionID(bytes: Array(raw[12..<fixed])))
        }
    }
}

extension SigningNonces {
    /// `"SRFN" | 1 | suite u8 | identifier u16 | epoch u32 | session (32) | hiding (32) | binding (32)`.
    static func serialized(
        suite: Ciphersuite, identifier: ParticipantID, epoch: UInt32, session: SessionID, hiding: Scalar, binding: Scalar
    ) throws -> SecretBytes {
        let header = SealedState.nonceMagic + [SealedState.version, suite.rawValue] + FROST.be16(identifier) + FROST.be32(epoch) + session.bytes
        return try SealedState.write(header, [hiding, binding])
    }

    /// Reads sealed nonces, which must be `identifier`'s of `session`; returns their epoch and the
    /// single-use nonces with their commitments.
    static func deserialized(
        _ bytes: SecretBytes, suite: Ciphersuite, identifier: ParticipantID, session: SessionID
    ) throws -> (epoch: UInt32, nonces: SigningNonces) {
        let fixed = 12 + SessionID.length
        let (epoch, hiding, binding) = try SealedState.read(bytes, magic: SealedState.nonceMagic, what: "nonces") { raw in
            guard raw.count == fixed + 64, raw[5] == suite.rawValue, SealedState.u16(raw, 6) == identifier,
                Array(raw[12..<fixed]) == session.bytes
            else {
                throw FROSTError(.malformedEncoding, "the sealed nonces are not participant \(identifier)'s of session \(session)")
            }
            let epoch = UInt32(raw[8]) << 24 | UInt32(raw[9]) << 16 | UInt32(raw[10]) << 8 | UInt32(raw[11])
            let hiding = try Scalar.deserialize(UnsafeRawBufferPointer(rebasing: raw[fixed..<(fixed + 32)]), suite)
            let binding = try Scalar.deserialize(UnsafeRawBufferPointer(rebasing: raw[(fixed + 32)..<(fixed + 64)]), suite)
            return (epoch, hiding, binding)
        }
        let commitments = try SigningCommitments(identifier: identifier, hiding: Element.base(hiding), binding: Element.base(binding))
        return (epoch, SigningNonces(hiding: hiding, binding: binding, commitments: commitments))
    }
}
