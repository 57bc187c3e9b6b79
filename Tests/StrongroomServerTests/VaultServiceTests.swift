import Foundation
import GRPCCore
import SecureCrypto
import StrongroomClient
import StrongroomCore
import StrongroomProto
@testable import StrongroomServer
import Testing

/// The Vault service's RPCs over a real Unix socket: each goes through the policy, answers what the
/// store answers, and fails with the status and `strongroom-code` docs/server.md "API" gives.
@Suite struct VaultServiceTests {
    static let engineA = VaultServiceHarness.caller(1001)
    static let operatorUID = VaultServiceHarness.caller(2000)
    static let auditor = VaultServiceHarness.caller(1003)
    static let stranger = VaultServiceHarness.caller(4242)

    static func storeRequest(_ id: String, _ bytes: [UInt8], metadata: [String: String] = [:]) -> Strongroom_V1_StoreRequest {
        var request = Strongroom_V1_StoreRequest()
        request.shareID = id
        request.secret = Data(bytes)
        request.metadata = metadata
        return request
    }

    static func loadRequest(_ id: String, version: UInt64 = 0) -> Strongroom_V1_LoadRequest {
        var request = Strongroom_V1_LoadRequest()
        request.shareID = id
        request.version = version
        return request
    }

    @Test func storeLoadListVersionsEraseWorkThroughThePolicy() async throws {
        try await VaultServiceHarness.with { vault, _ in
            let share = (0..<48).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 1) }
            let first = try await vault.store(Self.storeRequest("engine-a.k1", share, metadata: ["round": "1"]), metadata: Self.engineA)
            #expect(first.version == 1)
            let second = try await vault.store(Self.storeRequest("engine-a.k1", share.reversed()), metadata: Self.engineA)
            #expect(second.version == 2)
            _ = try await vault.store(Self.storeRequest("operator.root", [9, 9, 9]), metadata: Self.operatorUID)

            #expect(Array(try await vault.load(Self.loadRequest("engine-a.k1"), metadata: Self.engineA).secret) == share.reversed())
            #expect(Array(try await vault.load(Self.loadRequest("engine-a.k1", version: 1), metadata: Self.engineA).secret) == share)

            // List: only what the caller may list.
            let listedByA = try await vault.list(Strongroom_V1_ListRequest(), metadata: Self.engineA).shares
            #expect(listedByA.map(\.shareID) == ["engine-a.k1"])
            #expect(listedByA.first?.latestVersion == 2 && listedByA.first?.versionCount == 2)
            let listedByOperator = try await vault.list(Strongroom_V1_ListRequest(), metadata: Self.operatorUID).shares
            #expect(listedByOperator.map(\.shareID) == ["engine-a.k1", "operator.root"])
            var prefixed = Strongroom_V1_ListRequest()
            prefixed.prefix = "operator."
            #expect(try await vault.list(prefixed, metadata: Self.operatorUID).shares.map(\.shareID) == ["operator.root"])

            var versions = Strongroom_V1_VersionsRequest()
            versions.shareID = "engine-a.k1"
            let infos = try await vault.versions(versions, metadata: Self.engineA).versions
            #expect(infos.map(\.version) == [1, 2])
            #expect(infos.first?.metadata == ["round": "1"] && infos.allSatisfy { $0.problem.isEmpty && $0.kekVersion == 1 })

            // Erase one version, then the whole share (the operator may; engine-a may not).
            var eraseOne = Strongroom_V1_EraseRequest()
            eraseOne.shareID = "engine-a.k1"
            eraseOne.versions = [1]
            let refused = await rpcError { try await vault.erase(eraseOne, metadata: Self.engineA) }
            #expect(refused?.code == .permissionDenied)
            #expect(try await vault.erase(eraseOne, metadata: Self.operatorUID).erasedVersions == 1)
            var eraseAll = Strongroom_V1_EraseRequest()
            eraseAll.shareID = "engine-a.k1"
            #expect(try await vault.erase(eraseAll, metadata: Self.operatorUID).erasedVersions == 1)
            let gone = await rpcError { try await vault.load(Self.loadRequest("engine-a.k1"), metadata: Self.engineA) }
            #expect(gone?.code == .notFound)
            #expect(gone?.strongroomCode == "share not found" && gone?.strongroomExit == "66")
        }
    }

    @Test func refusalsNameIdentityOperationAndShareAndAreAudited() async throws {
        try await VaultServiceHarness.with { vault, _ in
            _ = try await vault.store(Self.storeRequest("operator.root", [1, 2, 3, 4]), metadata: Self.operatorUID)
            let load = await rpcError { try await vault.load(Self.loadRequest("operator.root"), metadata: Self.engineA) }
            #expect(load?.code == .permissionDenied)
            #expect(load?.strongroomCode == "access denied" && load?.strongroomExit == "77")
            #expect(load?.message.contains("uid:1001") == true)
            #expect(load?.message.contains("load") == true && load?.message.contains("operator.root") == true)
            #expect(load?.message.contains("policy.yaml") == false)
            let store = await rpcError { try await vault.store(Self.storeRequest("operator.root", [5]), metadata: Self.engineA) }
            #expect(store?.code == .permissionDenied)
            let stranger = await rpcError { try await vault.status(Strongroom_V1_StatusRequest(), metadata: Self.stranger) }
            #expect(stranger?.code == .permissionDenied)
            let listing = await rpcError { try await vault.list(Strongroom_V1_ListRequest(), metadata: Self.auditor) }
            #expect(listing?.code == .permissionDenied)
            let rotate = await rpcError {
                try await vault.rotate(Strongroom_V1_RotateRequest(), metadata: Self.engineA) { response in
                    for try await _ in response.messages {}
                }
            }
            #expect(rotate?.code == .permissionDenied)
            // The refused store changed nothing.
            #expect(Array(try await vault.load(Self.loadRequest("operator.root"), metadata: Self.operatorUID).secret) == [1, 2, 3, 4])

            let lines = try await Self.auditLines(vault, as: Self.auditor)
            let records = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            #expect(records.count == lines.count)
            let denied = records.filter { $0["op"] as? String == "access.denied" }
            #expect(denied.count == 5, "\(lines)")
            let deniedLoad = denied.first { record in
                (record["details"] as? [String: String])?["operation"] == "load"
            }
            #expect(deniedLoad?["share"] as? String == "operator.root")
            #expect("\(deniedLoad ?? [:])".contains("uid:1001"))
            // The allowed store names its client and the rule that let it.
            let stored = records.first { $0["op"] as? String == "store" }
            #expect((stored?["details"] as? [String: String])?["policy"] == "operator-all")
            #expect("\(stored ?? [:])".contains("uid:2000"))
            // No share bytes anywhere in the log.
            #expect(!lines.joined().contains("AQIDBA"))
        }
    }

    @Test func aCallerWithoutIdentityIsUnauthenticatedAndHealthAnswersEveryone() async throws {
        try await VaultServiceHarness.with { vault, harness in
            let anonymous = await rpcError { try await vault.load(Self.loadRequest("engine-a.k1")) }
            #expect(anonymous?.code == .unauthenticated)
            #expect(anonymous?.strongroomCode == "access denied")
            let health = try await vault.health(Strongroom_V1_HealthRequest())
            #expect(health.state == .serving)
            #expect(health.tier == "local" && health.version == "test" && health.vaultID.count == 32)

            harness.runtime.beginDraining()
            let draining = await rpcError { try await vault.status(Strongroom_V1_StatusRequest(), metadata: Self.operatorUID) }
            #expect(draining?.code == .unavailable)
            #expect(draining?.strongroomCode == "server draining" && draining?.strongroomExit == "75")
            #expect(try await vault.health(Strongroom_V1_HealthRequest()).state == .draining)
        }
    }

    @Test func badInputIsInvalidArgumentNamingIt() async throws {
        try await VaultServiceHarness.with { vault, _ in
            let badID = await rpcError { try await vault.store(Self.storeRequest("../escape", [1]), metadata: Self.operatorUID) }
            #expect(badID?.code == .invalidArgument && badID?.strongroomCode == "invalid share id")
            let empty = await rpcError { try await vault.store(Self.storeRequest("operator.empty", []), metadata: Self.operatorUID) }
            #expect(empty?.code == .invalidArgument && empty?.strongroomExit == "64")
            var rotate = Strongroom_V1_RotateRequest()
            rotate.concurrency = 65
            let concurrency = await rpcError {
                try await vault.rotate(rotate, metadata: Self.operatorUID) { response in
                    for try await _ in response.messages {}
                }
            }
            #expect(concurrency?.code == .invalidArgument && concurrency?.message.contains("65") == true)
            var show = Strongroom_V1_AuditShowRequest()
            show.since = "yesterday"
            let since = await rpcError {
                try await vault.auditShow(show, metadata: Self.auditor) { response in
                    for try await _ in response.messages {}
                }
            }
            #expect(since?.code == .invalidArgument)
            var erase = Strongroom_V1_EraseRequest()
            erase.shareID = "operator.x"
            erase.versions = [0]
            #expect(await rpcError { try await vault.erase(erase, metadata: Self.operatorUID) }?.code == .invalidArgument)
        }
    }

    @Test func statusAndAuditVerifySendTheCLIsDocuments() async throws {
        try await VaultServiceHarness.with { vault, _ in
            _ = try await vault.store(Self.storeRequest("engine-a.s", [7, 7, 7]), metadata: Self.engineA)
            let status = try await vault.status(Strongroom_V1_StatusRequest(), metadata: Self.auditor)
            #expect(status.tier == "local" && status.shareCount == 1 && status.versionCount == 1)
            #expect(status.currentKekVersion == 1 && status.pendingRotationTarget == 0 && status.problems.isEmpty)
            let json = try JSONSerialization.jsonObject(with: Data(status.json.utf8)) as? [String: Any]
            #expect(json?["vaultID"] as? String == status.vaultID)
            #expect(json?["shareCount"] as? Int == 1)

            let verified = try await vault.auditVerify(Strongroom_V1_AuditVerifyRequest(), metadata: Self.auditor)
            #expect(verified.ok && verified.problem.isEmpty && verified.records > 0)
            let document = try JSONSerialization.jsonObject(with: Data(verified.json.utf8)) as? [String: Any]
            #expect(document?["verified"] as? Bool == true)
            // The verify is itself recorded, as the CLI's is.
            let lines = try await Self.auditLines(vault, as: Self.auditor, op: "audit.verify")
            #expect(lines.count == 1)
        }
    }

    @Test func rotateStreamsProgressAndEndsWithTheReport() async throws {
        try await VaultServiceHarness.with { vault, _ in
            for index in 0..<3 {
                _ = try await vault.store(Self.storeRequest("engine-a.r\(index)", [UInt8(index), 1, 2]), metadata: Self.engineA)
            }
            var request = Strongroom_V1_RotateRequest()
            request.concurrency = 2
            let events = try await vault.rotate(request, metadata: Self.operatorUID) { response in
                var events: [Strongroom_V1_RotateEvent] = []
                for try await event in response.messages { events.append(event) }
                return events
            }
            guard case .report(let report)? = events.last?.event else {
                Issue.record("the stream did not end with the report: \(events)")
                return
            }
            #expect(report.targetVersion == 2 && report.fromVersions == [1] && report.rewrapped == 3 && report.failed == 0)
            let progress = events.dropLast().compactMap { event -> Strongroom_V1_RotationProgress? in
                if case .progress(let progress)? = event.event { return progress }
                return nil
            }
            #expect(progress.last?.done == 3 && progress.last?.total == 3)
            // The shares load after the rotation, and the status shows the new KEK.
            #expect(Array(try await vault.load(Self.loadRequest("engine-a.r2"), metadata: Self.engineA).secret) == [2, 1, 2])
            #expect(try await vault.status(Strongroom_V1_StatusRequest(), metadata: Self.operatorUID).currentKekVersion == 2)
        }
    }

    @Test func secretTransferWipesTheRequestBufferAndCopiesExactly() throws {
        let bytes = Data((0..<64).map { UInt8($0 + 1) })
        var message = Strongroom_V1_StoreRequest()
        message.secret = bytes
        let secret = try SecretTransfer.take(message.secret)
        #expect(secret.count == 64)
        #expect(secret.withUnsafeBytes { Array($0) } == (0..<64).map { UInt8($0 + 1) })
        // The message's own buffer (shared with `bytes`: one storage, no copy was made) is zeros now.
        #expect(message.secret.allSatisfy { $0 == 0 } && bytes.allSatisfy { $0 == 0 })
        let response = SecretTransfer.responseBytes(secret)
        #expect(Array(response) == (0..<64).map { UInt8($0 + 1) })
    }

    static func auditLines(_ vault: StrongroomClient.Vault, as caller: Metadata, op: String = "") async throws -> [String] {
        var request = Strongroom_V1_AuditShowRequest()
        request.op = op
        return try await vault.auditShow(request, metadata: caller) { response in
            var lines: [String] = []
            for try await line in response.messages { lines.append(line.line) }
            return lines
        }
    }
}
