import SecureCrypto
import StrongroomCore

extension Probe {
    /// ``TierConformance/Check/concurrency``.
    func concurrency() async throws(ConformanceFailure) {
        let store = self.store
        let shared = try id("contended")
        let tasks = 24
        let rounds = 5
        let sharedValues = (0..<tasks).map { "from \($0)" }
        // Each task: its own id, stored and read back `rounds` times; then one write to the shared id.
        let mismatches = try await step("\(tasks) tasks storing and loading at once") {
            try await withThrowingTaskGroup(of: [String].self) { group in
                for task in 0..<tasks {
                    group.addTask {
                        var wrong: [String] = []
                        let mine = try ShareID("task-\(task)")
                        for round in 0..<rounds {
                            let value = try Probe.testSecret(
                                "task \(task) round \(round) \(try SecureRandom.bytes(count: 8))")
                            let version = try await store.store(mine, value)
                            if version != UInt64(round + 1) {
                                wrong.append("task \(task) round \(round) got version \(version)")
                            }
                            if try await store.load(mine, version: version) != value {
                                wrong.append("task \(task) version \(version) loaded another secret")
                            }
                            if try await store.load(mine) != value {
                                wrong.append("task \(task) newest loaded another secret")
                            }
                        }
                        _ = try await store.store(shared, try Probe.testSecret(sharedValues[task]))
                        return wrong
                    }
                }
                return try await group.reduce(into: []) { $0 += $1 }
            }
        }
        try expect(
            mismatches.isEmpty, "\(tasks) tasks storing and loading at once",
            expected: "each task its own versions and secrets", actual: mismatches.prefix(3).joined(separator: "; "))
        try await expectDistinctVersions(of: shared, values: sharedValues, "the contended id")

        // Two store instances (two processes) writing one id at once.
        let second = try await step("open a second store") { try await fixture.open() }
        let crossed = try id("contended-across-stores")
        let crossedValues = (0..<16).map { "writer \($0)" }
        try await step("16 writers on two stores storing one id at once") {
            try await withThrowingTaskGroup(of: Void.self) { group in
                for writer in 0..<16 {
                    let target = writer % 2 == 0 ? store : second
                    group.addTask { _ = try await target.store(crossed, try Probe.testSecret(crossedValues[writer])) }
                }
                try await group.waitForAll()
            }
        }
        try await expectDistinctVersions(of: crossed, values: crossedValues, "the id contended across stores")
    }

    /// Checks that `id` has versions 1...values.count, each holding a different one of `values`.
    private func expectDistinctVersions(of id: ShareID, values: [String], _ what: String)
        async throws(ConformanceFailure)
    {
        let versions = try await step("versions of \(what)") { try await store.versions(id) }
        try expectEqual(versions.map(\.version), Array(1...UInt64(values.count)), "versions of \(what)")
        let candidates = try values.map { value throws(ConformanceFailure) in try secret(value) }
        var seen = Set<Int>()
        for version in versions {
            let loaded = try await step("load \(what) version \(version.version)") {
                try await store.load(id, version: version.version)
            }
            guard let index = candidates.firstIndex(where: { $0 == loaded }) else {
                throw failure(
                    .mismatch, "load \(what) version \(version.version)", expected: "one of the secrets written",
                    actual: "a \(loaded.count)-byte secret that none wrote")
            }
            seen.insert(index)
        }
        try expectEqual(seen.count, values.count, "distinct writers' secrets among the versions of \(what)")
    }

    /// A test value as a secret, outside a probe (in tasks).
    static func testSecret(_ text: String) throws -> SecretBytes {
        try Array(text.utf8).withUnsafeBytes { try SecretBytes(copying: $0) }
    }
}
