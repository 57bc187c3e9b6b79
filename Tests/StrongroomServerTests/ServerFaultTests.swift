import Foundation
import GRPCCore
import StrongroomClient
import StrongroomCore
import StrongroomProto
import Synchronization
import Testing

/// Faults against the real `strongroom serve` binary on a Unix socket: SIGKILL under load, clients
/// that vanish mid-request, malformed and oversized messages, silent and trickling connections.
@Suite(.serialized)
struct ServerFaultTests {
    /// Acknowledged stores: (share, version, bytes).
    final class Acknowledged: Sendable {
        let stores = Mutex<[(String, UInt64, [UInt8])]>([])
    }

    /// Every store a client saw acknowledged before the server was killed with SIGKILL loads back
    /// byte-for-byte from a restarted server, and the vault shows no problems.
    @Test func sigkillUnderLoadLosesNoAcknowledgedStore() async throws {
        let server = try LoadTestServer()
        try server.start()
        defer { server.stop(kill: true) }
        let acknowledged = Acknowledged()
        let address = server.address
        let writers = Task {
            await withTaskGroup(of: Void.self) { group in
                for client in 0..<8 {
                    group.addTask {
                        // Runs until the server dies: the first failure ends this client.
                        try? await StrongroomClient.withVault(address) { vault in
                            for round in 0..<100_000 {
                                let id = "kill-\(client)-\(round % 5)", bytes = randomBytes(17 + round % 40)
                                let version = try await vault.store(storeRequest(id, bytes)).version
                                acknowledged.stores.withLock { $0.append((id, version, bytes)) }
                            }
                        }
                    }
                }
            }
        }
        // Kill once a good number of stores went through.
        let deadline = Date().addingTimeInterval(60)
        while acknowledged.stores.withLock({ $0.count }) < 200 && Date() < deadline { try await Task.sleep(for: .milliseconds(20)) }
        #expect(server.stop(kill: true) == 128 + SIGKILL)
        await writers.value
        let stores = acknowledged.stores.withLock { $0 }
        try #require(stores.count >= 200, "only \(stores.count) stores acknowledged before the kill: \(server.stderr)")

        try server.start()
        let lost = try await StrongroomClient.withVault(server.address) { vault in
            var lost: [String] = []
            for (id, version, bytes) in stores {
                do {
                    let back = try await vault.load(loadRequest(id, version: version))
                    if Array(back.secret) != bytes { lost.append("\(id) v\(version): different bytes") }
                } catch {
                    lost.append("\(id) v\(version): \(error)")
                }
            }
            return lost
        }
        #expect(lost.isEmpty, "\(lost.count) of \(stores.count) acknowledged stores lost: \(lost.prefix(5))")
        #expect(server.stop() == 0)
        let status = try server.cli(["status"])
        #expect(status.status == 0, "\(status.stdout)\(status.stderr)")
        let verify = try server.cli(["audit", "verify"])
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
    }

    /// Stores whose clients give up (task cancelled, connection closed) at random points mid-request:
    /// every version the vault lists loads, `status` shows no problems and the audit log verifies.
    @Test func clientsDisconnectingMidRequestLeaveNothingHalfDone() async throws {
        let server = try LoadTestServer()
        try server.start()
        defer { server.stop(kill: true) }
        let address = server.address
        for attempt in 0..<60 {
            let request = Task {
                try await StrongroomClient.withVault(address) { vault in
                    _ = try await vault.store(storeRequest("vanish-\(attempt % 6)", randomBytes(48)))
                }
            }
            try await Task.sleep(for: .microseconds(Int.random(in: 0...4000)))
            request.cancel()
            _ = await request.result
        }
        // The server still serves, and what it kept is whole.
        try await StrongroomClient.withVault(address) { vault in
            #expect(try await vault.health(Strongroom_V1_HealthRequest()).state == .serving)
            for share in 0..<6 {
                var versionsRequest = Strongroom_V1_VersionsRequest()
                versionsRequest.shareID = "vanish-\(share)"
                guard let versions = try? await vault.versions(versionsRequest) else { continue }
                for version in versions.versions {
                    #expect(version.problem.isEmpty, "vanish-\(share) v\(version.version): \(version.problem)")
                    let back = try await vault.load(loadRequest("vanish-\(share)", version: version.version))
                    #expect(back.secret.count == 48)
                }
            }
        }
        #expect(server.stop() == 0, "\(server.stderr)")
        let status = try server.cli(["status"])
        #expect(status.status == 0 && status.stdout.contains("problems:         none"), "\(status.stdout)\(status.stderr)")
        let verify = try server.cli(["audit", "verify"])
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
    }

    /// Bytes that are not a StoreRequest (sent raw by Python grpc with identity serializers) get
    /// INVALID_ARGUMENT or INTERNAL with a message, and the server goes on serving.
    @Test(arguments: ["ffffffff", "0a", "12ffffffff0f", "1a0a0a08"])
    func malformedProtobufGetsAClearErrorAndTheServerServesOn(_ hex: String) async throws {
        let server = try LoadTestServer()
        try server.start()
        defer { server.stop(kill: true) }
        let reply = try server.faults(["raw", "--address", server.address.description, "--method", "/strongroom.v1.Vault/Store", "--hex", hex])
        #expect(reply.code == "INVALID_ARGUMENT" || reply.code == "INTERNAL", "\(reply)")
        #expect(!(reply.details ?? "").isEmpty, "a message says what was wrong: \(reply)")
        try await StrongroomClient.withVault(server.address) { vault in
            _ = try await vault.store(storeRequest("after-garbage", randomBytes(32)))
            #expect(try await vault.load(loadRequest("after-garbage")).secret.count == 32)
        }
        #expect(server.stop() == 0, "\(server.stderr)")
    }

    /// A message over server.maxMessageBytes is refused with RESOURCE_EXHAUSTED; twenty of them do
    /// not grow the server's memory by more than a few times the limit; the server serves on.
    @Test func oversizedMessagesAreResourceExhaustedAndMemoryStaysBounded() async throws {
        let server = try LoadTestServer(serverSettings: "  maxMessageBytes: 65536\n")
        try server.start()
        defer { server.stop(kill: true) }
        let before = try #require(server.residentKiB())
        var replies: [LoadTestServer.FaultReply] = []
        for round in 0..<20 {
            replies.append(try server.faults(["store", "--address", server.address.description, "--share", "big-\(round)", "--bytes", String(4 << 20)]))
        }
        #expect(replies.allSatisfy { $0.code == "RESOURCE_EXHAUSTED" }, "\(replies.prefix(3))")
        #expect(replies.allSatisfy { ($0.details ?? "").contains("65536") }, "the message names the limit: \(replies.prefix(1))")
        let after = try #require(server.residentKiB())
        #expect(after - before < 64 * 1024, "VmRSS grew from \(before) KiB to \(after) KiB over 20 refused 4 MiB messages")
        try await StrongroomClient.withVault(server.address) { vault in
            _ = try await vault.store(storeRequest("small", randomBytes(32)))
        }
        let listed = try server.cli(["list"])
        #expect(!listed.stdout.contains("big-"), "nothing of a refused message was stored: \(listed.stdout)")
        #expect(server.stop() == 0, "\(server.stderr)")
    }

    /// A connection that sends nothing, and one that trickles the HTTP/2 preface a byte at a time,
    /// are both closed by the server after its idle timeout, while another client is served.
    @Test func silentAndTricklingConnectionsAreDroppedWhileOthersAreServed() async throws {
        let server = try LoadTestServer(serverSettings: "  idleTimeoutSeconds: 2\n")
        try server.start()
        defer { server.stop(kill: true) }
        let socket = server.socket
        async let silent = server.faultsInBackground(["silent", "--socket", socket, "--timeout", "30"])
        async let trickle = server.faultsInBackground(["trickle", "--socket", socket, "--timeout", "30", "--interval", "0.5"])
        // Meanwhile, a well-behaved client gets its answers at once.
        try await StrongroomClient.withVault(server.address) { vault in
            for round in 0..<10 {
                let started = ContinuousClock.now
                _ = try await vault.store(storeRequest("polite", randomBytes(32)))
                #expect(ContinuousClock.now - started < .seconds(5), "round \(round)")
                try await Task.sleep(for: .milliseconds(200))
            }
        }
        let quiet = try await silent
        #expect(quiet.closed == true, "silent: \(quiet)")
        #expect((quiet.after ?? 99) < 20, "silent closed after the idle timeout, not much later: \(quiet)")
        let slow = try await trickle
        // A connection that trickles valid HTTP/2 (a PING byte every 0.5 s) and never opens a stream
        // is idle: the guard closes it after the idle timeout although bytes keep arriving.
        #expect(slow.closed == true, "trickle: \(slow)")
        #expect((slow.after ?? 99) < 20, "trickle closed after the idle timeout, not much later: \(slow)")
        #expect(server.stop() == 0, "\(server.stderr)")
    }
}
