import Foundation
import GRPCCore
import StrongroomClient
import StrongroomCore
import StrongroomProto
import StrongroomServer
import Testing

/// A sealed tier 1 vault served by the real binary on a Unix socket: it starts sealed, answers only
/// Health and Unseal, unseals after T parts given by `strongroom unseal` processes (a wrong one
/// counted), `strongroom seal` seals it again at once, and the seed file never holds the plain seed.
@Suite struct SealServerTests {
    static let passphrases = (1...3).map { "server custodian passphrase \($0)" }

    /// This user may do everything (the custodians and operator are the test's own uid).
    static var policy: String {
        """
        version: 1
        identities:
          operator: {uid: \(getuid())}
        rules:
          - name: operator
            identity: operator
            operations: [store, load, list, versions, erase, rotate, status, unseal, seal, audit, recovery, migrate]
            shares: ["*"]
        """
    }

    /// A sealed vault (2 of 3 parts; 2 wrong parts lock unsealing for 1 s) served with an allow-all policy.
    static func startSealedServer() throws -> (ServerProcess, ServerProcess.Workspace) {
        let workspace = try ServerProcess.Workspace()
        let config = workspace.localConfig + "  seal: sealed\nseal:\n  maxAttempts: 2\n  lockoutSeconds: 3\n"
        try workspace.write("strongroom.yaml", config)
        let created = try workspace.run(
            [
                "init", "--config", workspace.configPath, "--sealed", "--custodians", "3", "--threshold", "2",
                "--parts-dir", "\(workspace.directory)/parts", "--passphrase-fd", "0",
            ],
            stdin: Data(passphrases.map { $0 + "\n" }.joined().utf8))
        guard created.status == 0 else {
            workspace.cleanup()
            throw ServerProcessError("init --sealed failed (\(created.status)): \(created.stderr)")
        }
        let server = try ServerProcess.start(in: workspace, config: config, policy: policy)
        return (server, workspace)
    }

    func unseal(_ workspace: ServerProcess.Workspace, _ server: ServerProcess, part: Int, passphrase: String? = nil) throws
        -> (status: Int32, stdout: String, stderr: String)
    {
        try workspace.run(
            [
                "unseal", "--server", "unix:\(server.socketPath)", "--part", "\(workspace.directory)/parts/part-\(part)-of-3.srpart",
                "--passphrase-fd", "0",
            ],
            stdin: Data(((passphrase ?? SealServerTests.passphrases[part - 1]) + "\n").utf8))
    }

    func seedFileIsSealed(_ workspace: ServerProcess.Workspace) throws -> Bool {
        let bytes = try Data(contentsOf: URL(fileURLWithPath: "\(workspace.vault)/root.seed"))
        return bytes.count == 151 && bytes.prefix(4) == Data("SRSS".utf8)
    }

    @Test func startsSealedUnsealsWithPartsAndSealsAgain() async throws {
        let (server, workspace) = try SealServerTests.startSealedServer()
        defer {
            server.stop()
            workspace.cleanup()
        }
        #expect(server.readyLine.contains("(sealed: 0 of 2 parts)"), "\(server.readyLine)")
        let address = server.address

        // Sealed: Health answers, everything else is FAILED_PRECONDITION "vault sealed".
        let health = try await StrongroomClient.withVault(address) { try await $0.health(Strongroom_V1_HealthRequest()) }
        #expect(health.state == .sealed)
        do {
            _ = try await StrongroomClient.withVault(address) { try await $0.status(Strongroom_V1_StatusRequest()) }
            Issue.record("a sealed server answered Status")
        } catch let error as RPCError {
            #expect(error.code == .failedPrecondition)
            #expect(error.message.contains("vault sealed"))
        }
        let put = try workspace.run(["put", "--server", "unix:\(server.socketPath)", "refused"], stdin: Data("x".utf8))
        #expect(put.status == 75)
        #expect(put.stderr.contains("vault sealed"), "\(put.stderr)")
        #expect(try seedFileIsSealed(workspace))

        // Part 1: progress. Part 2 with a wrong passphrase: refused and counted. Part 3: unsealed.
        let first = try unseal(workspace, server, part: 1)
        #expect(first.status == 0, "\(first.stderr)")
        #expect(first.stdout.contains("1 of 2 parts received"), "\(first.stdout)")
        let wrong = try unseal(workspace, server, part: 2, passphrase: "not custodian two's passphrase")
        #expect(wrong.status == 77, "\(wrong.stderr)")
        #expect(wrong.stderr.contains("wrong part counted"), "\(wrong.stderr)")
        let health2 = try await StrongroomClient.withVault(address) { try await $0.health(Strongroom_V1_HealthRequest()) }
        #expect(health2.state == .sealed)
        let last = try unseal(workspace, server, part: 3)
        #expect(last.status == 0, "\(last.stderr)")
        #expect(last.stdout.contains("unsealed"), "\(last.stdout)")

        // Open: shares go in and out through the server; the seed file is still the sealed one.
        let stored = try workspace.run(["put", "--server", "unix:\(server.socketPath)", "engine-share"], stdin: Data("share bytes".utf8))
        #expect(stored.status == 0, "\(stored.stderr)")
        let loaded = try workspace.run(["get", "--server", "unix:\(server.socketPath)", "engine-share", "--stdout"])
        #expect(loaded.status == 0, "\(loaded.stderr)")
        #expect(loaded.stdout == "share bytes")
        #expect(try seedFileIsSealed(workspace))

        // `strongroom seal`: sealed at once; the next request is refused; sealing again says so.
        let sealed = try workspace.run(["seal", "--server", "unix:\(server.socketPath)"])
        #expect(sealed.status == 0, "\(sealed.stderr)")
        #expect(sealed.stdout.contains("sealed: the server dropped the root seed"))
        let afterSeal = try workspace.run(["get", "--server", "unix:\(server.socketPath)", "engine-share", "--stdout"])
        #expect(afterSeal.status == 75)
        #expect(afterSeal.stderr.contains("vault sealed"))
        let again = try workspace.run(["seal", "--server", "unix:\(server.socketPath)"])
        #expect(again.status == 0)
        #expect(again.stdout.contains("already sealed"))

        // Unsealed again with two other parts, the share is there.
        #expect(try unseal(workspace, server, part: 2).status == 0)
        #expect(try unseal(workspace, server, part: 1).stdout.contains("unsealed"))
        let reloaded = try workspace.run(["get", "--server", "unix:\(server.socketPath)", "engine-share", "--stdout"])
        #expect(reloaded.stdout == "share bytes")
        #expect(try seedFileIsSealed(workspace))
    }

    @Test func wrongPartsLockUnsealingThroughTheServer() async throws {
        let (server, workspace) = try SealServerTests.startSealedServer()
        defer {
            server.stop()
            workspace.cleanup()
        }
        #expect(try unseal(workspace, server, part: 1, passphrase: "wrong passphrase number one").status == 77)
        let locking = try unseal(workspace, server, part: 2, passphrase: "wrong passphrase number two")
        #expect(locking.status == 77)
        #expect(locking.stderr.contains("locked for 3 second"), "\(locking.stderr)")
        let locked = try unseal(workspace, server, part: 1)
        #expect(locked.status == 75, "\(locked.stderr)")
        #expect(locked.stderr.contains("unseal locked out"), "\(locked.stderr)")
        // 3 s lockouts, so a slow process start under load cannot run the lockout out before the
        // "still locked" check above; the sleep waits out the whole of it.
        try await Task.sleep(for: .milliseconds(3200))
        #expect(try unseal(workspace, server, part: 1).status == 0)
        #expect(try unseal(workspace, server, part: 3).stdout.contains("unsealed"))
    }
}
