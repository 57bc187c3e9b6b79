import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import Strongroom
import StrongroomClient
import StrongroomCore
import StrongroomServer
import Testing

/// A tier 1 vault served by ``VaultService`` on a real Unix socket inside the test process: the vault
/// made by the real binary's `init`, the policy read from a real file, the requests sent by the real
/// generated client over HTTP/2. The caller's identity is put in the request metadata under
/// ``PeerCredentialHeader/name`` as the server's transport does (the `strongroom serve` tests check the
/// transport's side: a forged header is stripped), so one test can speak as several uids.
struct VaultServiceHarness: Sendable {
    let directory: String
    let socketPath: String
    let runtime: ServerRuntime
    let host: VaultHost

    static let binary: URL = {
        _ = signal(SIGPIPE, SIG_IGN)
        let fromRunner = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let candidates = [
            fromRunner.appendingPathComponent("strongroom"),
            fromRunner.deletingLastPathComponent().appendingPathComponent("strongroom"),
            URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent(".build/debug/strongroom"),
        ]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates[2]
    }()

    /// The metadata a request of `uid` carries after the transport read its peer credentials.
    static func caller(_ uid: UInt32) -> Metadata {
        [PeerCredentialHeader.name: .string(PeerCredentialHeader.value(uid: uid, pid: 4242))]
    }

    /// The policy most tests use: engine-a (uid 1001) works on `engine-a.*` shares, the operator (uid
    /// 2000) may do everything, the auditor (uid 1003) may read the audit log and the status.
    static let policy = """
        version: 1
        identities:
          operator: {uid: 2000}
          engine-a: {uid: 1001}
          auditor: {uid: 1003}
        rules:
          - name: engine-a-shares
            identity: engine-a
            operations: [store, load, list, versions]
            shares: ["engine-a.*"]
          - name: operator-all
            identity: operator
            operations: [store, load, list, versions, erase, rotate, status, audit, recovery, migrate]
            shares: ["*"]
          - name: auditor-reads
            identity: auditor
            operations: [audit, status]
        """

    /// Makes a vault (`strongroom init`), serves it with `policy`, runs `body` with a connected client,
    /// and shuts the server down and removes everything, also when `body` throws.
    static func with<T: Sendable>(
        policy: String = VaultServiceHarness.policy,
        _ body: @Sendable (StrongroomClient.Vault, VaultServiceHarness) async throws -> T
    ) async throws -> T {
        let directory = "/tmp/sr-api-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let configPath = "\(directory)/strongroom.yaml"
        try "tier: local\nlocal:\n  path: \(directory)/vault\n".write(toFile: configPath, atomically: true, encoding: .utf8)
        let policyPath = "\(directory)/policy.yaml"
        try policy.write(toFile: policyPath, atomically: true, encoding: .utf8)
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: policyPath)
        let created = try run(["init", "--config", configPath], in: directory)
        guard created.status == 0 else { throw HarnessError("strongroom init failed (\(created.status)): \(created.stderr)") }

        var logger = Logger(label: "strongroom.test")
        logger.logLevel = .warning
        let configuration = try await StrongroomConfiguration.load(filePath: configPath, environment: [:])
        let host = try await VaultHost(configuration: configuration, logger: logger)
        let runtime = ServerRuntime(version: "test")
        let service = VaultService(host: host, policy: try PolicyHolder(path: policyPath), runtime: runtime, logger: logger)
        let socketPath = "\(directory)/s.sock"
        let server = GRPCServer(
            transport: .http2NIOPosix(
                address: .unixDomainSocket(path: socketPath), transportSecurity: .plaintext, config: .defaults),
            services: [service])
        let harness = VaultServiceHarness(directory: directory, socketPath: socketPath, runtime: runtime, host: host)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.serve() }
            defer { server.beginGracefulShutdown() }
            _ = try await server.listeningAddress
            let result = try await StrongroomClient.withVault(try ServerAddress.parse("unix:\(socketPath)")) { vault in
                try await body(vault, harness)
            }
            server.beginGracefulShutdown()
            try await group.waitForAll()
            try await (try host.store()).checkpointAudit()
            return result
        }
    }

    /// Runs the binary with its output in files of `directory` (pipes read on other threads raced the
    /// socket descriptors of servers that parallel tests closed).
    static func run(_ arguments: [String], in directory: String) throws -> (status: Int32, stdout: String, stderr: String) {
        let outPath = "\(directory)/cli.out", errPath = "\(directory)/cli.err"
        for path in [outPath, errPath] {
            guard FileManager.default.createFile(atPath: path, contents: nil, attributes: [.posixPermissions: 0o600]) else {
                throw HarnessError("cannot create \(path)")
            }
        }
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: outPath))
        let err = try FileHandle(forWritingTo: URL(fileURLWithPath: errPath))
        defer {
            try? out.close()
            try? err.close()
        }
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        process.environment = ["PATH": "/usr/bin:/bin", "HOME": directory]
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        process.waitUntilExit()
        return (
            process.terminationStatus, (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "",
            (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
        )
    }
}

struct HarnessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The gRPC error `body` throws (a test failure when it throws none or another kind).
func rpcError<T>(_ body: () async throws -> T) async -> RPCError? {
    do {
        _ = try await body()
        Issue.record("expected an RPCError, got a response")
        return nil
    } catch let error as RPCError {
        return error
    } catch {
        Issue.record("expected an RPCError, got \(error)")
        return nil
    }
}

extension RPCError {
    /// The `strongroom-code` trailing metadata (the StrongroomError code's name).
    var strongroomCode: String? { metadata[stringValues: "strongroom-code"].first(where: { _ in true }) }
    /// The `strongroom-exit` trailing metadata.
    var strongroomExit: String? { metadata[stringValues: "strongroom-exit"].first(where: { _ in true }) }
}
