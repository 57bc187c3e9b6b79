import SecureCrypto
import StrongroomCore

extension Probe {
    /// ``TierConformance/Check/blobStoreContract``: the guarantees ``ShareStore`` builds on.
    func blobStoreContract() async throws(ConformanceFailure) {
        let prefix = "shares/conformance-probe/"
        let first = prefix + "1.srb"
        let second = prefix + "2.srb"
        let raced = prefix + "3.srb"
        let a: [UInt8] = Array("blob A".utf8)
        let b: [UInt8] = Array("blob B, longer".utf8)
        let c: [UInt8] = Array("C".utf8)

        try expectEqual(
            try await step("read a missing blob") { try await blobs.read(first) }, nil, "read a missing blob")
        try expectEqual(
            try await step("create a new blob") { try await blobs.create(first, a) }, true, "create a new blob")
        try expectEqual(try await readBlob(first, "read the created blob").bytes, a, "read the created blob: bytes")
        try expectEqual(
            try await step("create over an existing blob") { try await blobs.create(first, b) }, false,
            "create over an existing blob: written")
        try expectEqual(
            try await readBlob(first, "read after the refused create").bytes, a, "read after the refused create: bytes")

        let before = try await readBlob(first, "read the revision")
        try expectEqual(
            try await step("replace at the revision read") {
                try await blobs.replace(first, b, ifRevision: before.revision)
            }, true, "replace at the revision read: written")
        let after = try await readBlob(first, "read the replaced blob")
        try expectEqual(after.bytes, b, "read the replaced blob: bytes")
        try expect(
            after.revision != before.revision, "read the replaced blob: revision", expected: "a new revision",
            actual: "the revision before the replace")
        try expectEqual(
            try await step("replace at a stale revision") {
                try await blobs.replace(first, c, ifRevision: before.revision)
            }, false, "replace at a stale revision: written")
        try expectEqual(
            try await readBlob(first, "read after the refused replace").bytes, b,
            "read after the refused replace: bytes")
        try expectEqual(
            try await step("replace a missing blob at a revision") {
                try await blobs.replace(second, c, ifRevision: before.revision)
            }, false, "replace a missing blob at a revision: written")
        try expectEqual(
            try await step("read after the refused replace of a missing blob") { try await blobs.read(second) }, nil,
            "read after the refused replace of a missing blob")
        try expectEqual(
            try await step("replace a missing blob unconditionally") {
                try await blobs.replace(second, c, ifRevision: nil)
            }, true, "replace a missing blob unconditionally: written")
        try expectEqual(
            try await readBlob(second, "read the blob the replace created").bytes, c,
            "read the blob the replace created: bytes")

        // Of creates racing for one key, exactly one wins, and its bytes are the ones stored.
        let racers = 8
        let winners = try await step("race \(racers) creates for one key") {
            try await withThrowingTaskGroup(of: Int?.self) { group in
                for racer in 0..<racers {
                    group.addTask { try await blobs.create(raced, Array("racer \(racer)".utf8)) ? racer : nil }
                }
                return try await group.reduce(into: [Int]()) { if let winner = $1 { $0.append(winner) } }
            }
        }
        try expectEqual(winners.count, 1, "race \(racers) creates for one key: winners")
        try expectEqual(
            try await readBlob(raced, "read the raced blob").bytes, Array("racer \(winners[0])".utf8),
            "read the raced blob: bytes are the winner's")

        try expectEqual(
            try await step("children") { try await blobs.children(of: prefix) }, ["1.srb", "2.srb", "3.srb"],
            "children, sorted")
        try await step("destroy a blob") { try await blobs.destroy(first) }
        try expectEqual(
            try await step("read a destroyed blob") { try await blobs.read(first) }, nil, "read a destroyed blob")
        try expectEqual(
            try await step("children after the destroy") { try await blobs.children(of: prefix) }, ["2.srb", "3.srb"],
            "children after the destroy")
        try await step("destroy a missing blob") { try await blobs.destroy(first) }
        try expectEqual(
            try await step("create where a blob was destroyed") { try await blobs.create(first, a) }, true,
            "create where a blob was destroyed: written")
        for key in [first, second, raced] { try await step("destroy \(key)") { try await blobs.destroy(key) } }
        try expectEqual(
            try await step("children after destroying all") { try await blobs.children(of: prefix) }, [],
            "children after destroying all")
    }

    /// ``TierConformance/Check/copiesAndSwaps``.
    func copiesAndSwaps() async throws(ConformanceFailure) {
        let alice = try id("alice")
        let bob = try id("bob")
        let carol = try id("carol")
        let dave = try id("dave")
        for (share, value) in [
            (alice, "alice secret"), (bob, "bob secret"), (bob, "bob secret 2"), (carol, "carol secret"),
            (dave, "dave secret"),
        ] {
            _ = try await step("store \(share)") { try await store.store(share, try secret(value)) }
        }
        let aliceBlob = try await readBlob(ShareStore.blobKey(alice, 1), "read alice version 1")
        // Onto another id.
        try await writeBlob(ShareStore.blobKey(bob, 1), aliceBlob.bytes, "copy alice version 1 onto bob version 1")
        try await expectError(.integrityCheckFailed, "load bob version 1, a copy of alice's") {
            try await store.load(bob, version: 1)
        }
        // Onto another version of the same id.
        try await writeBlob(ShareStore.blobKey(alice, 2), aliceBlob.bytes, "copy alice version 1 onto alice version 2")
        try await expectError(.integrityCheckFailed, "load alice version 2, a copy of version 1") {
            try await store.load(alice, version: 2)
        }
        try await expectError(.integrityCheckFailed, "load alice's newest version, a copy of version 1") {
            try await store.load(alice)
        }
        // Even with the header rewritten to match, the authenticated data gives it away.
        let relabelled = try envelope(aliceBlob.bytes, "alice version 1").relabelled(toVersion: 2)
        try await writeBlob(ShareStore.blobKey(alice, 2), relabelled, "write alice version 1 relabelled as version 2")
        try await expectError(.integrityCheckFailed, "load alice version 2, version 1 with its header relabelled") {
            try await store.load(alice, version: 2)
        }
        // Two blobs swapped.
        let carolKey = ShareStore.blobKey(carol, 1)
        let daveKey = ShareStore.blobKey(dave, 1)
        let carolBlob = try await readBlob(carolKey, "read carol")
        let daveBlob = try await readBlob(daveKey, "read dave")
        try await writeBlob(carolKey, daveBlob.bytes, "put dave's blob under carol")
        try await writeBlob(daveKey, carolBlob.bytes, "put carol's blob under dave")
        try await expectError(.integrityCheckFailed, "load carol, holding dave's blob") { try await store.load(carol) }
        try await expectError(.integrityCheckFailed, "load dave, holding carol's blob") { try await store.load(dave) }
        // Untouched shares still load, and swapped-back blobs open again.
        try await expectLoad(alice, version: 1, equals: "alice secret", "load alice version 1, untouched")
        try await expectLoad(bob, version: 2, equals: "bob secret 2", "load bob version 2, untouched")
        try await writeBlob(carolKey, carolBlob.bytes, "put carol's blob back")
        try await writeBlob(daveKey, daveBlob.bytes, "put dave's blob back")
        try await expectLoad(carol, equals: "carol secret", "load carol after the swap back")
        try await expectLoad(dave, equals: "dave secret", "load dave after the swap back")
    }

    /// ``TierConformance/Check/everyBitFlip``. The bits are shared out among a few tasks, each
    /// flipping bits of its own share's blob (all blobs have the same shape), so a tier behind a
    /// network is not bound by one request at a time.
    func everyBitFlip(prefix: String = "flip-me-") async throws(ConformanceFailure) {
        let workers = 6
        let value = "a 32-byte threshold key share!!"
        var originals: [[UInt8]] = []
        for worker in 0..<workers {
            let share = try id("\(prefix)\(worker)")
            _ = try await step("store \(share)") {
                try await store.store(share, try secret(value), metadata: ["k": "v"])
            }
            originals.append(try await readBlob(ShareStore.blobKey(share, 1), "read \(share)").bytes)
        }
        let length = originals[0].count
        try expect(
            originals.allSatisfy { $0.count == length }, "blob sizes", expected: "blobs of one size",
            actual: "\(originals.map(\.count))")
        _ = try envelope(originals[0], "\(prefix)0")
        let shares = try (0..<workers).map { worker throws(ConformanceFailure) in try id("\(prefix)\(worker)") }
        let reader = self.store
        let writer = self.blobs
        let snapshot = originals
        // Per worker: the bits that did not fail as an integrity error, with what happened.
        let wrong = try await step("flip each of the \(length * 8) bits of a \(length)-byte envelope") {
            try await withThrowingTaskGroup(of: [(bit: Int, outcome: String)].self) { group in
                for worker in 0..<workers {
                    group.addTask {
                        let share = shares[worker]
                        let original = snapshot[worker]
                        let key = ShareStore.blobKey(share, 1)
                        var wrong: [(bit: Int, outcome: String)] = []
                        for bit in stride(from: worker, to: length * 8, by: workers) {
                            var altered = original
                            altered[bit / 8] ^= UInt8(1 << (bit % 8))
                            _ = try await writer.replace(key, altered, ifRevision: nil)
                            do {
                                let released = try await reader.load(share, version: 1)
                                wrong.append((bit, "the share opened and released \(released.count) bytes"))
                            } catch let error as StrongroomError where error.code == .integrityCheckFailed {
                                continue
                            } catch {
                                wrong.append((bit, "\(error)"))
                            }
                        }
                        _ = try await writer.replace(key, original, ifRevision: nil)
                        return wrong
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }.sorted { $0.bit < $1.bit }
            }
        }
        if let first = wrong.first {
            let opened = wrong.contains { $0.outcome.hasPrefix("the share opened") }
            throw failure(
                opened ? .unexpectedSuccess : .mismatch, "flip each bit of a \(length)-byte envelope",
                expected: "every flipped bit to fail as 'integrity check failed' and release nothing",
                actual:
                    "\(wrong.count) of \(length * 8) bits did not; first bit \(first.bit) (byte \(first.bit / 8)): \(first.outcome)"
            )
        }
        // Truncations and an extension are integrity errors too.
        let share = shares[0]
        let key = ShareStore.blobKey(share, 1)
        let original = originals[0]
        let cuts: [(String, [UInt8])] = [
            ("the first 10 bytes", Array(original.prefix(10))), ("all but the last byte", Array(original.dropLast())),
            ("one byte appended", original + [0]), ("no bytes", []),
        ]
        for (what, altered) in cuts {
            try await writeBlob(key, altered, "write \(what) of the envelope")
            try await expectError(.integrityCheckFailed, "load a blob of \(what) of the envelope") {
                try await store.load(share, version: 1)
            }
        }
        try await writeBlob(key, original, "put the original blob back")
        try await expectLoad(share, equals: value, "load the restored blob")
        for worker in 1..<workers {
            try await expectLoad(shares[worker], equals: value, "load \(shares[worker]) after its flips")
        }
    }

    /// ``TierConformance/Check/blobRestoredFromBeforeRotation``: a blob saved while KEK version 1
    /// was current and written back after two finished rotations names a retired KEK: every tier
    /// refuses it (a local tier could still derive that KEK), `status` and `versions` report it
    /// without counting or hiding the sound versions, and a rotation does not launder it.
    func blobRestoredFromBeforeRotation() async throws(ConformanceFailure) {
        let share = try id("restored")
        _ = try await step("store version 1") { try await store.store(share, try secret("old value")) }
        _ = try await step("store version 2") { try await store.store(share, try secret("new value")) }
        let key = ShareStore.blobKey(share, 1)
        let saved = try await readBlob(key, "save version 1's blob").bytes
        _ = try await step("first rotation") { try await store.rotateWrappingKey() }
        _ = try await step("second rotation") { try await store.rotateWrappingKey() }
        try await writeBlob(key, saved, "put version 1's saved blob back")

        let second = try await step("open a second store") { try await fixture.open() }
        for (name, reader) in [("the first store", store), ("a second store", second)] {
            try await expectError(
                .integrityCheckFailed, "load the restored version through \(name)",
                reasonContains: ["names KEK version 1", "active KEK versions are 3–3"]
            ) { try await reader.load(share, version: 1) }
            try await expectLoad(share, from: reader, equals: "new value", "load the newest version through \(name)")
        }
        let status = try await step("status") { try await store.status() }
        try expectEqual(status.versionsPerKEKVersion, [3: 1], "status: versions per KEK version")
        try expectEqual(status.problems.count, 1, "status: problem count")
        try expect(
            status.problems.first?.contains("share 'restored' version 1") == true, "status: the problem",
            expected: "it names share 'restored' version 1", actual: "\(status.problems)")
        let versions = try await step("versions") { try await store.versions(share) }
        try expectEqual(versions.map(\.version), [1, 2], "versions: numbers")
        try expect(
            versions[0].problem?.contains("names KEK version 1") == true, "versions: version 1's problem",
            expected: "it names KEK version 1", actual: versions[0].problem ?? "no problem")
        try expectEqual(versions[0].kekVersion, 1, "versions: version 1's KEK version")
        try expectEqual(versions[1].problem, nil, "versions: version 2's problem")
        try expectEqual(versions[1].kekVersion, 3, "versions: version 2's KEK version")

        try await expectError(.rotationIncomplete, "rotate with the restored blob in the vault") {
            try await store.rotateWrappingKey()
        }
        try expectEqual(
            try await readBlob(key, "read the restored blob after the rotation").bytes, saved,
            "the restored blob after the rotation: unchanged")
    }
}
