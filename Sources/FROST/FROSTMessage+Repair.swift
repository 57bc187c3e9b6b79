import SecureCrypto

extension FROSTMessage {
    // MARK: Share repair

    /// Encodes a helper's repair step-one broadcast: body
    /// `target u16 | k u16 (≥ 2) | k × (helper u16 | δ·G (Ne)), helpers ascending`.
    public static func encode(_ commitments: Repair.Commitments, suite: Ciphersuite) throws -> [UInt8] {
        var out = Header(kind: .repairCommitments, suite: suite, session: commitments.session, sender: commitments.sender, recipient: 0).bytes
        out += FROST.be16(commitments.target) + FROST.be16(UInt16(commitments.images.count))
        for helper in commitments.helpers { out += FROST.be16(helper) + (try commitments.images[helper]!.serialize()) }
        return out
    }

    /// Decodes a helper's repair step-one broadcast.
    public static func decodeRepairCommitments(_ bytes: [UInt8], suite: Ciphersuite) throws -> Repair.Commitments {
        try decode(bytes, .repairCommitments, suite) { header, reader in
            guard header.sender != 0 else { throw reader.fail("the sender must be a participant, not 0") }
            let target = try reader.u16("the repaired participant")
            guard target != 0 else { throw reader.fail("the repaired participant must not be 0") }
            let count = try reader.u16("the helper count")
            guard count >= 2 else { throw reader.fail("a repair needs at least 2 helpers, not \(count)") }
            var images: [ParticipantID: Element] = [:]
            var last: ParticipantID = 0
            for index in 0..<Int(count) {
                let helper = try reader.u16("helper \(index)'s identifier")
                guard helper > last else { throw reader.fail("the helpers are not distinct non-zero identifiers in ascending order") }
                last = helper
                images[helper] = try reader.element(suite, "the image of the part for helper \(helper)")
            }
            return Repair.Commitments(sender: header.sender, target: target, images: images, session: header.session)
        }.1
    }

    /// Encodes a repair step-one part (secret): body `target u16 | δ (32)`.
    public static func encode(_ part: Repair.Part) throws -> SecretBytes {
        try secret(
            Header(kind: .repairPart, suite: part.delta.suite, session: part.session, sender: part.sender, recipient: part.recipient),
            part.delta, prefix: FROST.be16(part.target))
    }

    /// Decodes a repair step-one part from locked memory.
    public static func decodeRepairPart(_ bytes: SecretBytes, suite: Ciphersuite) throws -> Repair.Part {
        try decodeSecret(bytes, .repairPart, suite) { header, reader in
            guard header.sender != 0, header.recipient != 0 else { throw reader.fail("sender and recipient must be participants") }
            let target = try reader.u16("the repaired participant")
            guard target != 0 else { throw reader.fail("the repaired participant must not be 0") }
            return Repair.Part(
                sender: header.sender, recipient: header.recipient, target: target, delta: try reader.scalar(suite, "the part δ"),
                session: header.session)
        }.1
    }

    /// Encodes a repair step-two sum (secret): body `σ (32)`.
    public static func encode(_ sum: Repair.Sum) throws -> SecretBytes {
        try secret(Header(kind: .repairSum, suite: sum.sigma.suite, session: sum.session, sender: sum.sender, recipient: sum.recipient), sum.sigma)
    }

    /// Decodes a repair step-two sum from locked memory.
    public static func decodeRepairSum(_ bytes: SecretBytes, suite: Ciphersuite) throws -> Repair.Sum {
        try decodeSecret(bytes, .repairSum, suite) { header, reader in
            guard header.sender != 0, header.recipient != 0 else { throw reader.fail("sender and recipient must be participants") }
            return Repair.Sum(sender: header.sender, recipient: header.recipient, sigma: try reader.scalar(suite, "the sum σ"), session: header.session)
        }.1
    }
}
