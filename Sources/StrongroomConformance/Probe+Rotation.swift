import SecureCrypto
import StrongroomCore
import Synchronization

/// What the suite throws at a crash point, as the process dying there would stop it.
struct SimulatedCrash: Error, CustomStringConvertible {
    var description: String { "a simulated crash" }
}

extension Probe {
    /// ``TierConformance/Check/rotation``.
    func rotation() async throws(ConformanceFailure) {
        var expected: [(ShareID, String)] = []
        for index in 0..<6 {
            let share = try id("share-\(index)")
            expected.append((share, "secret \(index)"))
            _ = try await step("store \(share)") { try await store.store(share, try secret("secret \(index)")) }
        }
        let before = try await envelopes()
        let progress = Mutex<[RotationProgress]>([])
        let report = try await step("rotate") {
            try await store.rotateWrappingKey { event in progress.withLock { $0.append(event) } }
        }
        try expectEqual(report.targetVersion, 2, "rotate: target version")
        try expectEqual(report.rewrapped, 6, "rotate: rewrapped")
        try expectEqual(report.alreadyCurrent, 0, "rotate: already current")
        try expectEqual(report.fromVersions, [1], "rotate: from versions")
        try expectEqual(report.failures, [], "rotate: failures")
        try expectEqual(report.resumed, false, "rotate: resumed")
        try expectEqual(report.dryRun, false, "rotate: dry run")
        let events = progress.withLock { $0 }
        try expectEqual(events.count, 6, "rotate: progress events")
        let last = events.last.map { [$0.done, $0.total, $0.rewrapped, $0.alreadyCurrent, $0.failed] }
        try expectEqual(
            last, [6, 6, 6, 0, 0], "rotate: last progress event (done, total, rewrapped, already current, failed)")

        let after = try await envelopes()
        try expectEqual(Set(after.keys), Set(before.keys), "the blobs after the rotation")
        for (key, old) in before.sorted(by: { $0.key < $1.key }) {
            guard let new = after[key] else { continue }
            try expectEqual(new.kekVersion, 2, "\(key) after the rotation: KEK version")
            try expectEqual(
                new.bytes[new.ciphertext], old.bytes[old.ciphertext], "\(key) after the rotation: ciphertext unchanged")
            try expectEqual(new.bytes[new.tag], old.bytes[old.tag], "\(key) after the rotation: tag unchanged")
            try expectEqual(new.bytes[new.iv], old.bytes[old.iv], "\(key) after the rotation: IV unchanged")
            try expect(
                new.bytes[new.wrappedKey] != old.bytes[old.wrappedKey], "\(key) after the rotation: wrapped key",
                expected: "a new wrapped data key", actual: "the wrapped key of before the rotation")
        }
        for (share, value) in expected {
            try await expectLoad(share, equals: value, "load \(share) after the rotation")
        }
        let second = try await step("open a second store") { try await fixture.open() }
        for (share, value) in expected {
            try await expectLoad(share, from: second, equals: value, "load \(share) through a second store")
        }
        let status = try await step("status") { try await store.status() }
        try expectEqual(status.currentKEKVersion, 2, "status: current KEK version")
        try expectEqual(status.oldestActiveKEKVersion, 2, "status: oldest active KEK version")
        try expectEqual(status.pendingRotationTarget, nil, "status: pending rotation")
        try expectEqual(status.versionsPerKEKVersion, [2: 6], "status: versions per KEK version")

        // New shares go under the new KEK; a second rotation moves everything to version 3.
        let late = try id("late")
        _ = try await step("store late") { try await store.store(late, try secret("late")) }
        try expectEqual(
            try await step("versions of late") { try await store.versions(late) }.map(\.kekVersion), [2],
            "versions of late: KEK version")
        try expectEqual(
            try await step("rotate again") { try await store.rotateWrappingKey() }.targetVersion, 3,
            "rotate again: target version")
        try expectEqual(
            try await step("status after the second rotation") { try await store.status() }.versionsPerKEKVersion,
            [3: 7], "status after the second rotation: versions per KEK version")
        try await expectLoad(
            late, from: second, equals: "late", "load late through the second store after the second rotation")
    }

    /// ``TierConformance/Check/dryRun``.
    func dryRun() async throws(ConformanceFailure) {
        for index in 0..<3 {
            _ = try await step("store d\(index)") { try await store.store(try id("d\(index)"), try secret("v")) }
        }
        let before = try await envelopes()
        let report = try await step("dry-run rotation") { try await store.rotateWrappingKey(dryRun: true) }
        try expectEqual(report.dryRun, true, "dry-run rotation: dry run")
        try expectEqual(report.rewrapped, 3, "dry-run rotation: would rewrap")
        try expectEqual(report.targetVersion, 2, "dry-run rotation: target version")
        try expect(
            try await envelopes() == before, "the blobs after the dry run", expected: "unchanged", actual: "changed")
        let status = try await step("status") { try await store.status() }
        try expectEqual(status.currentKEKVersion, 1, "status: current KEK version")
        try expectEqual(status.pendingRotationTarget, nil, "status: pending rotation")
    }

    /// ``TierConformance/Check/corruptedWrappedKeyDuringRotation`` (`ciphertext` false) and
    /// ``TierConformance/Check/corruptedCiphertextDuringRotation`` (true).
    func corruptedDuringRotation(ciphertext: Bool) async throws(ConformanceFailure) {
        let good = try id("good")
        let bad = try id("bad")
        _ = try await step("store good") { try await store.store(good, try secret("good")) }
        _ = try await step("store bad") { try await store.store(bad, try secret("bad")) }
        let key = ShareStore.blobKey(bad, 1)
        let original = try await readBlob(key, "read bad").bytes
        let layout = try envelope(original, key)
        var corrupted = original
        let field = ciphertext ? layout.ciphertext : layout.wrappedKey
        corrupted[field.lowerBound + field.count / 2] ^= 0x01
        try await writeBlob(key, corrupted, "corrupt bad's \(ciphertext ? "ciphertext" : "wrapped key")")

        if ciphertext && !fixture.rewrapOpensCiphertext {
            // The rewrap never sees the ciphertext: the rotation finishes, carries the corruption
            // over unchanged, and the load still refuses it.
            let report = try await step("rotate past a corrupted ciphertext the rewrap cannot see") {
                try await store.rotateWrappingKey()
            }
            try expectEqual(report.failures, [], "rotate: failures")
            try expectEqual(report.rewrapped, 2, "rotate: rewrapped")
            let after = try envelope(try await readBlob(key, "read bad after the rotation").bytes, key)
            try expectEqual(after.kekVersion, 2, "bad after the rotation: KEK version")
            try expectEqual(
                after.bytes[after.ciphertext], corrupted[layout.ciphertext],
                "bad after the rotation: ciphertext as corrupted")
            try await expectError(.integrityCheckFailed, "load bad after the rotation") { try await store.load(bad) }
            try await expectLoad(good, equals: "good", "load good after the rotation")
            return
        }

        try await expectError(.rotationIncomplete, "rotate with a corrupted version", reasonContains: ["'bad'"]) {
            try await store.rotateWrappingKey()
        }
        try expectEqual(
            try await readBlob(key, "read bad after the rotation").bytes, corrupted,
            "bad after the refused rotation: left as it was")
        let status = try await step("status") { try await store.status() }
        try expectEqual(status.pendingRotationTarget, 2, "status: pending rotation")
        try expectEqual(status.oldestActiveKEKVersion, 1, "status: oldest active KEK version")
        try await expectLoad(good, equals: "good", "load good while the rotation is pending")
        try await expectError(.integrityCheckFailed, "load bad while the rotation is pending") {
            try await store.load(bad)
        }

        try expectEqual(try await step("erase bad") { try await store.erase(bad) }, 1, "erase bad: versions erased")
        let report = try await step("rotate after the erase") { try await store.rotateWrappingKey() }
        try expectEqual(report.resumed, true, "rotate after the erase: resumed")
        try expectEqual(report.alreadyCurrent, 1, "rotate after the erase: already current")
        try expectEqual(
            try await step("status after the rotation") { try await store.status() }.pendingRotationTarget, nil,
            "status after the rotation: pending rotation")
        try await expectLoad(good, equals: "good", "load good after the rotation")
    }

    /// ``TierConformance/Check/crashDuringRotation(at:)``.
    func crashDuringRotation(at point: FaultPoint) async throws(ConformanceFailure) {
        var expected: [(ShareID, UInt64, String)] = []
        for index in 0..<7 {
            let share = try id("p\(index)")
            for round in 0..<(index % 2 + 1) {
                let value = "share \(index) v\(round + 1)"
                expected.append(
                    (share, try await step("store \(share)") { try await store.store(share, try secret(value)) }, value)
                )
            }
        }
        try expectEqual(expected.count, 10, "share versions stored")
        let crashing = try await step("open a store that crashes at \(point)") {
            try await fixture.open(faults: FaultInjection { if $0 == point { throw SimulatedCrash() } })
        }
        do {
            let report = try await crashing.rotateWrappingKey()
            throw failure(
                .unexpectedSuccess, "rotate with a crash at \(point)", expected: "the simulated crash",
                actual: "the rotation finished: \(report)")
        } catch is SimulatedCrash {
        } catch let failure as ConformanceFailure {
            throw failure
        } catch {
            throw failure(
                .unexpectedError, "rotate with a crash at \(point)", expected: "the simulated crash",
                actual: "\(error)", underlying: error)
        }

        // "After the restart": a new instance reads everything, mid-rotation.
        let restarted = try await step("open a store after the crash") { try await fixture.open() }
        for (share, version, value) in expected {
            try await expectLoad(
                share, version: version, from: restarted, equals: value,
                "load \(share) version \(version) after the crash")
        }
        let pending = try await step("status after the crash") { try await restarted.status() }
        try expectEqual(pending.pendingRotationTarget, 2, "status after the crash: pending rotation")
        try expectEqual(pending.currentKEKVersion, 2, "status after the crash: current KEK version")
        try expectEqual(pending.oldestActiveKEKVersion, 1, "status after the crash: oldest active KEK version")
        // A share stored while the rotation is pending goes under the new KEK.
        let late = try id("late")
        _ = try await step("store late during the pending rotation") {
            try await restarted.store(late, try secret("late"))
        }
        try expectEqual(
            try await step("versions of late") { try await restarted.versions(late) }.map(\.kekVersion), [2],
            "versions of late: KEK version")

        let report = try await step("rotate after the crash") { try await restarted.rotateWrappingKey() }
        try expectEqual(report.resumed, true, "rotate after the crash: resumed")
        try expectEqual(report.targetVersion, 2, "rotate after the crash: target version")
        try expectEqual(
            report.rewrapped + report.alreadyCurrent, 11, "rotate after the crash: rewrapped + already current")
        try expectEqual(report.failures, [], "rotate after the crash: failures")
        let done = try await step("status after the finished rotation") { try await restarted.status() }
        try expectEqual(done.pendingRotationTarget, nil, "status after the finished rotation: pending rotation")
        try expectEqual(done.oldestActiveKEKVersion, 2, "status after the finished rotation: oldest active KEK version")
        try expectEqual(
            done.versionsPerKEKVersion, [2: 11], "status after the finished rotation: versions per KEK version")
        for (share, version, value) in expected {
            try await expectLoad(
                share, version: version, from: restarted, equals: value,
                "load \(share) version \(version) after the finished rotation")
        }
        try await expectLoad(late, from: store, equals: "late", "load late through the first store")
    }
}
