#if canImport(Glibc)
import Glibc
#endif
import Foundation
import GRPCCore
import StrongroomClient
import StrongroomCore
import StrongroomProto
@testable import StrongroomServer
import Testing

/// The Session RPC (docs/server.md, "Sessions"): many requests over one stream, each answered in order
/// as its unary RPC would answer it (policy, audit, errors with strongroom-code/exit), a refusal
/// answered without ending the stream, and a drain ending even an idle session at once.
@Suite struct VaultSessionTests {
    static let engineA = VaultServiceHarness.caller(1001)
    static let operatorUID = VaultServiceHarness.caller(2000)
    static let auditor = VaultServiceHarness.caller(1003)

    @Test func oneStreamCarriesEveryOperationAnsweredInOrderAsTheUnaryRPCs() async throws {
        try await VaultServiceHarness.with { vault, _ in
            let share = (0..<40).map { UInt8(truncatingIfNeeded: $0 &* 11 &+ 3) }
            let unaryLoad = try await StrongroomClient.withSession(vault, metadata: Self.operatorUID) { session in
                #expect(try await session.store(VaultServiceTests.storeRequest("engine-a.k1", share, metadata: ["round": "1"])).version == 1)
                #expect(try await session.store(VaultServiceTests.storeRequest("engine-a.k1", share.reversed())).version == 2)
                #expect(Array(try await session.load(VaultServiceTests.loadRequest("engine-a.k1")).secret) == share.reversed())
                #expect(Array(try await session.load(VaultServiceTests.loadRequest("engine-a.k1", version: 1)).secret) == share)
                #expect(try await session.list(Strongroom_V1_ListRequest()).shares.map(\.shareID) == ["engine-a.k1"])
                var versions = Strongroom_V1_VersionsRequest()
                versions.shareID = "engine-a.k1"
                let infos = try await session.versions(versions).versions
                #expect(infos.map(\.version) == [1, 2] && infos.first?.metadata == ["round": "1"])
                var eraseOne = Strongroom_V1_EraseRequest()
                eraseOne.shareID = "engine-a.k1"
                eraseOne.versions = [1]
                #expect(try await session.erase(eraseOne).erasedVersions == 1)
                let status = try await session.status()
                #expect(status.shareCount == 1 && status.versionCount == 1 && status.tier == "local")
                return try await vault.load(VaultServiceTests.loadRequest("engine-a.k1"), metadata: Self.operatorUID).secret
            }
            // What the session stored is what the unary RPC loads.
            #expect(Array(unaryLoad) == share.reversed())
        }
    }

    @Test func aRefusedOrBadRequestIsAnsweredWithItsErrorAndTheSessionGoesOn() async throws {
        try await VaultServiceHarness.with { vault, _ in
            _ = try await vault.store(VaultServiceTests.storeRequest("operator.root", [1, 2, 3, 4]), metadata: Self.operatorUID)
            try await StrongroomClient.withSession(vault, metadata: Self.engineA) { session in
                let refused = await rpcError { try await session.load(VaultServiceTests.loadRequest("operator.root")) }
                #expect(refused?.code == .permissionDenied)
                #expect(refused?.strongroomCode == "access denied" && refused?.strongroomExit == "77")
                #expect(refused?.message.contains("uid:1001") == true && refused?.message.contains("operator.root") == true)
                // The same stream still serves what the policy allows.
                let stored = try await session.store(VaultServiceTests.storeRequest("engine-a.k9", [7, 7, 7, 7, 7]))
                #expect(stored.version == 1)
                let badID = await rpcError { try await session.load(VaultServiceTests.loadRequest("../escape")) }
                #expect(badID?.code == .invalidArgument && badID?.strongroomExit == "64")
                let missing = await rpcError { try await session.load(VaultServiceTests.loadRequest("engine-a.none")) }
                #expect(missing?.code == .notFound && missing?.strongroomCode == "share not found")
                // A request naming no operation.
                let empty = await rpcError { try await session.send(Strongroom_V1_SessionRequest()) }
                #expect(empty?.code == .invalidArgument && empty?.message.contains("names no operation") == true)
                let erase = await rpcError {
                    var request = Strongroom_V1_EraseRequest()
                    request.shareID = "engine-a.k9"
                    return try await session.erase(request)
                }
                #expect(erase?.code == .permissionDenied)
                let loaded = try await session.load(VaultServiceTests.loadRequest("engine-a.k9"))
                #expect(Array(loaded.secret) == [7, 7, 7, 7, 7])
            }
            // A session without an identity gets UNAUTHENTICATED for each request, as unary calls do;
            // Health, which needs no grant, is answered as its RPC answers it.
            try await StrongroomClient.withSession(vault) { session in
                let anonymous = await rpcError { try await session.status() }
                #expect(anonymous?.code == .unauthenticated)
                let health = try await session.health()
                #expect(health.state == .serving && health.tier == "local" && !health.vaultID.isEmpty)
                #expect(health.version == (try await vault.health(Strongroom_V1_HealthRequest())).version)
            }
            // Every decision is in the audit log, with the caller; the refused requests changed nothing.
            let lines = try await VaultServiceTests.auditLines(vault, as: Self.auditor)
            let records = lines.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
            let denied = records.filter { $0["op"] as? String == "access.denied" }
            let deniedToA = denied.filter { "\($0)".contains("uid:1001") }
            #expect(deniedToA.count == 2, "\(lines)")
            #expect(Set(deniedToA.compactMap { ($0["details"] as? [String: String])?["operation"] }) == ["load", "erase"])
            #expect(denied.filter { "\($0)".contains("unidentified") }.count == 1, "\(lines)")
            let stored = records.first { $0["op"] as? String == "store" && $0["share"] as? String == "engine-a.k9" }
            #expect((stored?["details"] as? [String: String])?["policy"] == "engine-a-shares")
            #expect(Array(try await vault.load(VaultServiceTests.loadRequest("operator.root"), metadata: Self.operatorUID).secret) == [1, 2, 3, 4])
        }
    }

    @Test func drainingEndsAnIdleSessionAtOnceWithUnavailable() async throws {
        try await VaultServiceHarness.with { vault, harness in
            try await StrongroomClient.withSession(vault, metadata: Self.operatorUID) { session in
                let stored = try await session.store(VaultServiceTests.storeRequest("engine-a.d", [1, 1, 2, 3, 5]))
                #expect(stored.version == 1)
                // The session is idle, waiting for its next request, when the server starts draining.
                let began = ContinuousClock.now
                harness.runtime.beginDraining()
                let after = await rpcError { try await session.load(VaultServiceTests.loadRequest("engine-a.d")) }
                #expect(after?.code == .unavailable, "\(String(describing: after))")
                #expect(after?.strongroomCode == "server draining" || after?.message.contains("draining") == true)
                #expect(ContinuousClock.now - began < .seconds(10))
                // The session stays ended: later calls fail the same way.
                let again = await rpcError { try await session.status() }
                #expect(again?.code == .unavailable, "\(String(describing: again))")
            }
        }
    }

    /// Through the real binary: SIGTERM while a client holds an idle session open and keeps its side of
    /// the stream open. The server ends the session, closes the connection once nothing runs, exits 0
    /// well before its drain timeout (120 s here), and what the session stored is there. Before that,
    /// the metrics count each request of the session.
    @Test func sigtermWithAnOpenSessionExitsPromptlyAndKeepsWhatWasStored() async throws {
        let metricsDir = "/tmp/srv-m-\(UUID().uuidString.prefix(6))"
        try FileManager.default.createDirectory(atPath: metricsDir, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        let metricsPath = "\(metricsDir)/m.sock"
        let server = try ServerProcess.start(serverSettings: "  drainTimeoutSeconds: 120\n  metrics: unix:\(metricsPath)\n")
        defer {
            server.stop(signal: SIGKILL)
            try? FileManager.default.removeItem(atPath: metricsDir)
        }
        let address = try ServerAddress.parse("unix:\(server.socketPath)")
        let ended = try await StrongroomClient.withSession(address) { session in
            var versions: [UInt64] = []
            for round in 0..<20 {
                versions.append(try await session.store(VaultServiceTests.storeRequest("engine-a.term", [UInt8](repeating: UInt8(round), count: 32))).version)
            }
            #expect(versions == Array(1...20))
            // Each request of the session is counted on its own for the metrics.
            let exposition = try ServerCoreMetricsTests().get(unixSocket: metricsPath)
            #expect(exposition.contains(#"strongroom_server_requests_total{rpc="Session.Store",outcome="ok"} 20"#), "\(exposition)")
            let began = ContinuousClock.now
            server.signal(SIGTERM)
            let status = server.stop(signal: SIGTERM, timeout: .seconds(60))
            #expect(status == 0, "\(server.stderr)")
            #expect(ContinuousClock.now - began < .seconds(15), "the open session held the drain")
            return await rpcError { try await session.status() }
        }
        #expect(ended?.code == .unavailable)
        let listed = try server.workspace.run(["versions", "engine-a.term", "--config", server.workspace.configPath])
        #expect(listed.status == 0 && listed.stdout.contains("20"), "\(listed.stderr)")
    }
}
