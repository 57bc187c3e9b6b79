import Foundation
import GRPCCore
import StrongroomClient
import StrongroomCore
import StrongroomProto
import Testing

/// The Vault service through the real binary: `strongroom serve` on its Unix socket, the caller's
/// identity the uid the kernel reports for this test process (SO_PEERCRED), the policy a real file.
@Suite struct VaultServiceServeTests {
    /// This process's uid may work on `engine-a.*` shares, read the status and the audit log, and
    /// nothing else (no erase, no rotate, no other shares).
    static func enginePolicy(uid: UInt32 = getuid()) -> String {
        """
        version: 1
        identities:
          engine-a: {uid: \(uid)}
        rules:
          - name: engine-a-shares
            identity: engine-a
            operations: [store, load, list, versions]
            shares: ["engine-a.*"]
          - name: engine-a-reads
            identity: engine-a
            operations: [status, audit]
        """
    }

    static func operatorPolicy(uid: UInt32 = getuid()) -> String {
        """
        version: 1
        identities:
          operator: {uid: \(uid)}
        rules:
          - name: operator-all
            identity: operator
            operations: [store, load, list, versions, erase, rotate, status, audit, recovery, migrate]
            shares: ["*"]
        """
    }

    static func store(_ vault: StrongroomClient.Vault, _ id: String, _ bytes: [UInt8]) async throws -> UInt64 {
        var request = Strongroom_V1_StoreRequest()
        request.shareID = id
        request.secret = Data(bytes)
        return try await vault.store(request).version
    }

    static func load(_ vault: StrongroomClient.Vault, _ id: String, version: UInt64 = 0) async throws -> [UInt8] {
        var request = Strongroom_V1_LoadRequest()
        request.shareID = id
        request.version = version
        return Array(try await vault.load(request).secret)
    }

    static func auditRecords(_ vault: StrongroomClient.Vault) async throws -> [[String: Any]] {
        let lines = try await vault.auditShow(Strongroom_V1_AuditShowRequest()) { response in
            var lines: [String] = []
            for try await line in response.messages { lines.append(line.line) }
            return lines
        }
        return lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
    }

    @Test func theKernelsUidGetsExactlyWhatThePolicyGrants() async throws {
        let server = try ServerProcess.start(policy: Self.enginePolicy())
        defer { server.stop() }
        let uid = getuid()
        try await StrongroomClient.withVault(server.address) { vault in
            let share = (0..<32).map { UInt8(truncatingIfNeeded: $0 * 13 + 5) }
            #expect(try await Self.store(vault, "engine-a.k1", share) == 1)
            #expect(try await Self.load(vault, "engine-a.k1") == share)
            #expect(try await vault.list(Strongroom_V1_ListRequest()).shares.map(\.shareID) == ["engine-a.k1"])
            var versions = Strongroom_V1_VersionsRequest()
            versions.shareID = "engine-a.k1"
            #expect(try await vault.versions(versions).versions.map(\.version) == [1])
            let status = try await vault.status(Strongroom_V1_StatusRequest())
            #expect(status.tier == "local" && status.shareCount == 1)
            let health = try await vault.health(Strongroom_V1_HealthRequest())
            #expect(health.state == .serving && health.vaultID == status.vaultID)

            // Outside the grant: another share, erase, rotate.
            let other = await rpcError { try await Self.store(vault, "engine-b.k1", [1, 2, 3]) }
            #expect(other?.code == .permissionDenied && other?.strongroomExit == "77")
            #expect(other?.message.contains("uid:\(uid)") == true && other?.message.contains("engine-b.k1") == true)
            var erase = Strongroom_V1_EraseRequest()
            erase.shareID = "engine-a.k1"
            #expect(await rpcError { try await vault.erase(erase) }?.code == .permissionDenied)
            let rotate = await rpcError {
                try await vault.rotate(Strongroom_V1_RotateRequest()) { response in
                    for try await _ in response.messages {}
                }
            }
            #expect(rotate?.code == .permissionDenied)
            // Nothing of the refused requests happened.
            #expect(try await Self.load(vault, "engine-a.k1") == share)
            let notFound = await rpcError { try await Self.load(vault, "engine-a.missing") }
            #expect(notFound?.code == .notFound && notFound?.strongroomCode == "share not found")

            // Every decision is in the audit log: the refusals as access.denied, the allowed ones with
            // the client and the rule.
            let records = try await Self.auditRecords(vault)
            let denied = records.filter { $0["op"] as? String == "access.denied" }
            #expect(denied.count == 3)
            #expect(denied.allSatisfy { (($0["actor"] as? [String: Any])?["client"] as? String) == "uid:\(uid)" })
            #expect(Set(denied.compactMap { ($0["details"] as? [String: String])?["operation"] }) == ["store", "erase", "rotate"])
            let stored = records.first { $0["op"] as? String == "store" }
            #expect((stored?["details"] as? [String: String])?["policy"] == "engine-a-shares")
            #expect(((stored?["actor"] as? [String: Any])?["client"] as? String) == "uid:\(uid)")
        }
        // The share is in no line the server wrote.
        let share = Data((0..<32).map { UInt8(truncatingIfNeeded: $0 * 13 + 5) })
        #expect(!server.stderr.contains(share.base64EncodedString()) && !server.stderr.contains(share.map { String(format: "%02x", $0) }.joined()))
    }

    /// Clients that go away in the middle of their stores leave, for each store, a whole version (which
    /// loads as sent) or nothing: no torn blob, no gap the status or the audit log complains about.
    @Test func clientsThatDisconnectMidStoreLeaveWholeVersionsOrNothing() async throws {
        let server = try ServerProcess.start(policy: Self.operatorPolicy())
        defer { server.stop() }
        let secrets = (0..<24).map { index in (0..<200).map { UInt8(truncatingIfNeeded: $0 &+ index &* 31) } }
        // Each client stores once and is cut off (its connection closed) after a delay that lands
        // before, during or after the store.
        try await withThrowingTaskGroup(of: Void.self) { group in
            for (index, secret) in secrets.enumerated() {
                group.addTask {
                    let task = Task {
                        try await StrongroomClient.withVault(server.address) { vault in
                            _ = try await Self.store(vault, "cut.s\(index % 4)", secret)
                        }
                    }
                    try await Task.sleep(for: .microseconds(200 * index))
                    task.cancel()
                    _ = await task.result
                }
            }
            try await group.waitForAll()
        }
        try await StrongroomClient.withVault(server.address) { vault in
            var loaded = 0
            for shareIndex in 0..<4 {
                var request = Strongroom_V1_VersionsRequest()
                request.shareID = "cut.s\(shareIndex)"
                let versions: [Strongroom_V1_ShareVersion]
                do {
                    versions = try await vault.versions(request).versions
                } catch let error as RPCError where error.code == .notFound {
                    continue
                }
                #expect(versions.allSatisfy { $0.problem.isEmpty })
                // Versions are 1…n with no gap, and each loads as one of the secrets sent for that share.
                #expect(versions.map(\.version) == Array(1...UInt64(versions.count)))
                let sent = secrets.enumerated().filter { $0.offset % 4 == shareIndex }.map(\.element)
                for version in versions {
                    let bytes = try await Self.load(vault, "cut.s\(shareIndex)", version: version.version)
                    #expect(sent.contains(bytes))
                    loaded += 1
                }
            }
            let status = try await vault.status(Strongroom_V1_StatusRequest())
            #expect(status.problems.isEmpty && status.unreadableBlobs == 0 && Int(status.versionCount) == loaded)
            // The audit log agrees: one ok store record per version there is.
            let records = try await Self.auditRecords(vault)
            let stores = records.filter { $0["op"] as? String == "store" && $0["outcome"] as? String == "ok" }
            #expect(stores.count == loaded)
            let verified = try await vault.auditVerify(Strongroom_V1_AuditVerifyRequest())
            #expect(verified.ok, "\(verified.problem)")
        }
    }

    @Test func rotateStreamsThroughTheBinaryAndTheSharesLoadAfter() async throws {
        let server = try ServerProcess.start(policy: Self.operatorPolicy())
        defer { server.stop() }
        try await StrongroomClient.withVault(server.address) { vault in
            for index in 0..<5 { _ = try await Self.store(vault, "rot.s\(index)", [UInt8(index), 42]) }
            var request = Strongroom_V1_RotateRequest()
            request.concurrency = 4
            let report = try await vault.rotate(request) { response -> Strongroom_V1_RotationReport? in
                var report: Strongroom_V1_RotationReport?
                for try await event in response.messages {
                    if case .report(let last)? = event.event { report = last }
                }
                return report
            }
            #expect(report?.targetVersion == 2 && report?.rewrapped == 5 && report?.failed == 0)
            for index in 0..<5 { #expect(try await Self.load(vault, "rot.s\(index)") == [UInt8(index), 42]) }
            let verified = try await vault.auditVerify(Strongroom_V1_AuditVerifyRequest())
            #expect(verified.ok && !verified.json.isEmpty)
        }
    }

    @Test func enrolRecoveryMigrateAndAuditShowAnswerAsTheCLIDoes() async throws {
        let server = try ServerProcess.start(policy: Self.operatorPolicy())
        defer { server.stop() }
        let workspace = server.workspace
        let destination = "tier: local\nlocal:\n  path: \(workspace.directory)/dest\n"
        let destinationConfig = try workspace.write("dest.yaml", destination)
        let created = try workspace.run(["init", "--config", destinationConfig])
        #expect(created.status == 0, "\(created.stderr)")
        let keyHex = (0..<32).map { _ in String(format: "%02x", UInt8.random(in: 0...255)) }.joined()
        try await StrongroomClient.withVault(server.address) { vault in
            for index in 0..<3 { _ = try await Self.store(vault, "mig.s\(index)", [UInt8(index), 7, 7]) }

            var enrol = Strongroom_V1_EnrolRecoveryRequest()
            enrol.publicKey = Data("strongroom-recovery-key v1 \(keyHex)\n".utf8)
            let summary = try await vault.enrolRecovery(enrol) { response -> String in
                var report = ""
                for try await event in response.messages {
                    if case .report(let text)? = event.event { report = text }
                }
                return report
            }
            #expect(summary.hasPrefix("enrolled recovery key "), "\(summary)")
            #expect(summary.contains("3 share version(s) and record(s) re-sealed"), "\(summary)")
            #expect(!(try await vault.status(Strongroom_V1_StatusRequest())).recoveryFingerprint.isEmpty)
            enrol.publicKey = Data("not a key".utf8)
            let badKey = await rpcError {
                try await vault.enrolRecovery(enrol) { response in for try await _ in response.messages {} }
            }
            #expect(badKey?.code == .invalidArgument)

            var migrate = Strongroom_V1_MigrateRequest()
            migrate.destinationConfig = "dest.yaml"
            let relative = await rpcError {
                try await vault.migrate(migrate) { response in for try await _ in response.messages {} }
            }
            #expect(relative?.code == .invalidArgument && relative?.message.contains("absolute") == true)
            migrate.destinationConfig = destinationConfig
            migrate.concurrency = 2
            let migrated = try await vault.migrate(migrate) { response -> String in
                var report = ""
                for try await event in response.messages {
                    if case .report(let text)? = event.event { report = text }
                }
                return report
            }
            #expect(migrated.hasPrefix("migrated vault "), "\(migrated)")
            #expect(migrated.contains("3 share(s), 3 version(s)"), "\(migrated)")

            var show = Strongroom_V1_AuditShowRequest()
            show.shareID = "mig.s1"
            show.op = "store"
            let lines = try await vault.auditShow(show) { response in
                var lines: [String] = []
                for try await line in response.messages { lines.append(line.line) }
                return lines
            }
            #expect(lines.count == 1 && lines.first?.contains("\"op\":\"store\"") == true)
        }
        // The destination vault holds the shares, as the CLI sees it.
        let listed = try workspace.run(["list", "--config", destinationConfig])
        #expect(listed.status == 0 && ["mig.s0", "mig.s1", "mig.s2"].allSatisfy { listed.stdout.contains($0) }, "\(listed.stdout)\(listed.stderr)")
    }
}
