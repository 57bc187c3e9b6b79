import SecureCrypto
import StrongroomCore

extension Probe {
    /// ``TierConformance/Check/recoveryKey``.
    func recoveryKey() async throws(ConformanceFailure) {
        let key = try await step("make a recovery key pair") {
            try RecoveryPublicKey(privateKey: try X25519.generatePrivateKey())
        }
        let report = try await step("enrol the recovery key on the empty vault") { try await store.enrolRecoveryKey(key) }
        try expectEqual(report.resealed, 0, "enrol on an empty vault: re-sealed")
        let alice = try id("alice")
        let bob = try id("bob")
        _ = try await step("store alice") { try await store.store(alice, try secret("alice secret"), metadata: ["k": "v"]) }
        _ = try await step("store bob") { try await store.store(bob, try secret("bob secret!!"), metadata: ["k": "v"]) }
        let aliceKey = ShareStore.blobKey(alice, 1)
        let bobKey = ShareStore.blobKey(bob, 1)
        let aliceBlob = try await readBlob(aliceKey, "read alice")
        let bobBlob = try await readBlob(bobKey, "read bob")
        let aliceLayout = try envelope(aliceBlob.bytes, "alice")
        let bobLayout = try envelope(bobBlob.bytes, "bob")
        guard let aliceSection = aliceLayout.recoverySection, let bobSection = bobLayout.recoverySection else {
            throw failure(
                .mismatch, "read alice's envelope", expected: "a v2 envelope with a recovery section",
                actual: "no recovery section")
        }
        // The section names the key: kind, length (2), suite ids (6), then the fingerprint.
        let fingerprint = Array(aliceBlob.bytes[(aliceSection.lowerBound + 9)..<(aliceSection.lowerBound + 41)])
        try expectEqual(fingerprint, key.fingerprint, "alice's recovery section names the key's fingerprint")

        // Stripped: the section list cut down to the tier's section.
        var stripped = aliceBlob.bytes
        stripped.removeSubrange(aliceSection)
        if let index = aliceLayout.sectionCountOffset { stripped[index] = 1 }
        try await writeBlob(aliceKey, stripped, "strip alice's recovery section")
        try await expectError(.integrityCheckFailed, "load alice without her recovery section") {
            try await store.load(alice, version: 1)
        }
        // Swapped: bob's section in alice's blob, and alice's in bob's.
        var swappedAlice = aliceBlob.bytes
        swappedAlice.replaceSubrange(aliceSection, with: bobBlob.bytes[bobSection])
        var swappedBob = bobBlob.bytes
        swappedBob.replaceSubrange(bobSection, with: aliceBlob.bytes[aliceSection])
        try await writeBlob(aliceKey, swappedAlice, "put bob's recovery section in alice's blob")
        try await writeBlob(bobKey, swappedBob, "put alice's recovery section in bob's blob")
        try await expectError(.integrityCheckFailed, "load alice with bob's recovery section") {
            try await store.load(alice, version: 1)
        }
        try await expectError(.integrityCheckFailed, "load bob with alice's recovery section") {
            try await store.load(bob, version: 1)
        }
        try await writeBlob(aliceKey, aliceBlob.bytes, "put alice's blob back")
        try await writeBlob(bobKey, bobBlob.bytes, "put bob's blob back")
        try await expectLoad(alice, version: 1, equals: "alice secret", "load alice after the swap back")

        // Rotation rewraps the tier's section only: the recovery section stays byte for byte.
        _ = try await step("rotate") { try await store.rotateWrappingKey() }
        let rotated = try await readBlob(aliceKey, "read alice after the rotation")
        let rotatedLayout = try envelope(rotated.bytes, "alice after the rotation")
        guard let rotatedSection = rotatedLayout.recoverySection else {
            throw failure(.mismatch, "read alice after the rotation", expected: "a recovery section", actual: "none")
        }
        try expectEqual(
            Array(rotated.bytes[rotatedSection]), Array(aliceBlob.bytes[aliceSection]),
            "alice's recovery section after the rotation")
        try await expectLoad(alice, version: 1, equals: "alice secret", "load alice after the rotation")
        let status = try await step("status") { try await store.status() }
        try expectEqual(status.versionsWithoutRecovery, 0, "status: share versions without a recovery section")
        try expectEqual(status.recoveryFingerprint, Hex.encode(key.fingerprint), "status: the recovery key's fingerprint")

        // Every single-bit flip of a v2 envelope.
        try await everyBitFlip(prefix: "flip-v2-")
    }
}
