import SecureCrypto
import StrongroomCore

extension Probe {
    /// ``TierConformance/Check/lifecycle``.
    func lifecycle() async throws(ConformanceFailure) {
        let alice = try id("alice")
        let bob = try id("bob")
        let aliceV1 = try secret("alice v1")
        let aliceV2 = try secret("alice v2")
        let bobV1 = try secret("bob v1")
        try expectEqual(
            try await step("store alice v1") { try await store.store(alice, aliceV1, metadata: ["party": "1"]) }, 1,
            "store alice v1")
        try expectEqual(try await step("store alice v2") { try await store.store(alice, aliceV2) }, 2, "store alice v2")
        try expectEqual(try await step("store bob v1") { try await store.store(bob, bobV1) }, 1, "store bob v1")

        try await expectLoad(alice, equals: "alice v2", "load alice's newest version")
        try await expectLoad(alice, version: 1, equals: "alice v1", "load alice version 1")
        try await expectLoad(bob, equals: "bob v1", "load bob's newest version")

        let listed = try await step("list") { try await store.list() }
        try expectEqual(listed.map(\.id), [alice, bob], "list: ids in order")
        try expectEqual(listed.map(\.latestVersion), [2, 1], "list: latest versions")
        try expectEqual(listed.map(\.versionCount), [2, 1], "list: version counts")
        let versions = try await step("versions of alice") { try await store.versions(alice) }
        try expectEqual(versions.map(\.version), [1, 2], "versions of alice: numbers")
        try expectEqual(versions.first?.metadata, ["party": "1"], "versions of alice: metadata of version 1")
        try expectEqual(versions.last?.metadata, [:], "versions of alice: metadata of version 2")
        try expectEqual(versions.map(\.kekVersion), [1, 1], "versions of alice: KEK versions")
        try expectEqual(versions.map(\.problem), [nil, nil], "versions of alice: problems")
        try expect(
            versions.allSatisfy { $0.blobSize > 0 }, "versions of alice: blob sizes", expected: "sizes above 0",
            actual: "\(versions.map(\.blobSize))")

        let status = try await step("status") { try await store.status() }
        try expectEqual(status.vaultID, store.vaultID, "status: vault id")
        try expectEqual(status.tier, store.tier, "status: tier")
        try expectEqual(status.shareCount, 2, "status: share count")
        try expectEqual(status.versionCount, 3, "status: version count")
        try expectEqual(status.currentKEKVersion, 1, "status: current KEK version")
        try expectEqual(status.oldestActiveKEKVersion, 1, "status: oldest active KEK version")
        try expectEqual(status.pendingRotationTarget, nil, "status: pending rotation")
        try expectEqual(status.versionsPerKEKVersion, [1: 3], "status: versions per KEK version")
        try expectEqual(status.unreadableBlobs, 0, "status: unreadable blobs")
        try expectEqual(status.problems, [], "status: problems")

        // A second instance (another process) sees the same shares.
        let again = try await step("open a second store on the vault") { try await fixture.open() }
        try await expectLoad(alice, from: again, equals: "alice v2", "load alice through the second store")
        try expectEqual(
            try await step("list through the second store") { try await again.list() }, listed,
            "list through the second store")

        try expectEqual(
            try await step("erase alice") { try await store.erase(alice) }, 2, "erase alice: versions erased")
        for version: UInt64? in [nil, 1, 2] {
            for reader in [store, again] {
                try await expectError(
                    .shareNotFound, "load alice version \(version.map { "\($0)" } ?? "newest") after the erase"
                ) {
                    try await reader.load(alice, version: version)
                }
            }
        }
        try expectEqual(
            try await step("list after the erase") { try await store.list() }.map(\.id), [bob], "list after the erase")
        try await expectError(nil, "versions of an erased share") { try await store.versions(alice) }
        try await expectError(nil, "erase an erased share again") { try await store.erase(alice) }
        let afterErase = try await step("status after the erase") { try await store.status() }
        try expectEqual(afterErase.shareCount, 1, "status after the erase: share count")
        try expectEqual(afterErase.versionCount, 1, "status after the erase: version count")
        // The id can be used again; it starts over at version 1.
        try expectEqual(
            try await step("store alice again") { try await store.store(alice, try secret("alice again")) }, 1,
            "store alice again: version")
        try await expectLoad(alice, from: again, equals: "alice again", "load the new alice through the second store")
        try await expectLoad(bob, equals: "bob v1", "load bob after alice's erase")
    }

    /// ``TierConformance/Check/clearErrors``.
    func clearErrors() async throws(ConformanceFailure) {
        let share = try id("s")
        _ = try await step("store s") { try await store.store(share, try secret("x")) }
        try await expectError(.shareNotFound, "load a version that does not exist", reasonContains: ["version 9"]) {
            try await store.load(share, version: 9)
        }
        try await expectError(.shareNotFound, "load a share that does not exist") {
            try await store.load(try id("never-stored"))
        }
        let empty = try await step("make an empty secret") { try SecretBytes(count: 0) { _ in } }
        try await expectError(.invalidInput, "store an empty share") { try await store.store(share, empty) }
        let huge = try await step("make a 65537-byte secret") { try SecureRandom.secretBytes(count: 65537) }
        try await expectError(.invalidInput, "store a share over 64 KiB") { try await store.store(share, huge) }
        try expectEqual(
            try await step("versions of s") { try await store.versions(share) }.map(\.version), [1],
            "versions of s after the refused stores")
    }

    /// ``TierConformance/Check/wrongKey``.
    func wrongKey() async throws(ConformanceFailure) {
        let share = try id("s")
        _ = try await step("store s") { try await store.store(share, try secret("v")) }
        try await expectError(
            fixture.wrongSecretCode, "open the vault with the wrong key material",
            reasonContains: [fixture.wrongSecretHint]
        ) { try await fixture.openWithWrongSecret() }
        try await expectLoad(share, equals: "v", "load s after the wrong-key attempt")
    }
}
