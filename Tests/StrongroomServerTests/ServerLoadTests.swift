import Foundation
import GRPCCore
import StrongroomClient
import StrongroomCore
import StrongroomProto
import Synchronization
import Testing

/// A real `strongroom serve` (the built binary) on a Unix socket in a fresh 0700 directory, over a
/// vault of tier local or hsm, with a policy granting the test's uid everything. Killed (SIGKILL) on
/// `stop(kill: true)` or when the test forgets; `stop()` sends SIGTERM and waits.
final class LoadTestServer: @unchecked Sendable {  // the Process is only used from the test's own task
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

    static let repository = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().path

    let directory: String
    let tier: String
    var environment: [String: String]
    var extraServerSettings: String
    private var process: Process?
    private let stderrLines = Lines()

    final class Lines: Sendable {
        let kept = Mutex<[String]>([])
        func withLock<T>(_ body: (inout [String]) -> T) -> T { kept.withLock { body(&$0) } }
    }

    var socket: String { "\(directory)/run/strongroom.sock" }
    var address: ServerAddress { ServerAddress(.unix(path: socket)) }
    var vaultConfig: String { "\(directory)/vault.yaml" }
    var serveConfig: String { "\(directory)/serve.yaml" }
    var pid: Int32 { process?.processIdentifier ?? 0 }

    init(tier: String = "local", serverSettings: String = "") throws {
        directory = "\(FileManager.default.temporaryDirectory.path)/strongroom-load-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        self.tier = tier
        extraServerSettings = serverSettings
        environment = ["PATH": "/usr/bin:/bin", "HOME": directory]
        let vault: String
        if tier == "hsm" {
            let env = ProcessInfo.processInfo.environment
            func value(_ name: String) throws -> String {
                try #require(env[name].flatMap { $0.isEmpty ? nil : $0 }, "\(name) is not set: run the suite with scripts/test")
            }
            environment["SOFTHSM2_CONF"] = try value("SOFTHSM2_CONF")
            environment["STRONGROOM_HSM_PIN"] = try value("STRONGROOM_TEST_HSM_PIN")
            vault = "tier: hsm\nhsm:\n  module: \(try value("STRONGROOM_TEST_HSM_MODULE"))\n  tokenLabel: \(try value("STRONGROOM_TEST_HSM_TOKEN"))\n  blobPath: \(directory)/vault\n"
        } else {
            vault = "tier: local\nlocal:\n  path: \(directory)/vault\n"
        }
        try vault.write(toFile: vaultConfig, atomically: true, encoding: .utf8)
        try (vault + "server:\n  socket: \(socket)\n  policy: \(directory)/policy.yaml\n" + serverSettings)
            .write(toFile: serveConfig, atomically: true, encoding: .utf8)
        try """
            version: 1
            identities:
              tester:
                uid: \(getuid())
            rules:
              - name: tester-everything
                identity: tester
                operations: [store, load, list, versions, erase, rotate, status, unseal, seal, audit, recovery, migrate]
                shares: ["*"]

            """.write(toFile: "\(directory)/policy.yaml", atomically: true, encoding: .utf8)
        chmod("\(directory)/policy.yaml", 0o600)
        let created = try Self.run(["init", "--config", vaultConfig], environment: environment)
        try #require(created.status == 0, "init: \(created.stderr)")
    }

    deinit {
        if let process, process.isRunning { kill(process.processIdentifier, SIGKILL) }
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Starts `serve` and waits for its ready line (`strongroom: serving …`).
    func start(timeout: Double = 120) throws {
        let process = Process()
        process.executableURL = Self.binary
        process.arguments = ["serve", "--config", serveConfig]
        process.environment = environment
        let err = Pipe()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = err
        try process.run()
        self.process = process
        let handle = err.fileHandleForReading
        let lines = stderrLines
        let ready = DispatchSemaphore(value: 0)
        // Drains stderr for as long as the server runs (a full pipe would block it).
        Thread.detachNewThread { [lines] in
            var pending = Data(), signalled = false
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                pending += chunk
                while let newline = pending.firstIndex(of: 0x0A) {
                    let line = String(decoding: pending[pending.startIndex..<newline], as: UTF8.self)
                    pending = Data(pending[pending.index(after: newline)...])
                    lines.withLock { $0.append(line) }
                    if !signalled && line.hasPrefix("strongroom: serving ") {
                        signalled = true
                        ready.signal()
                    }
                }
            }
            if !signalled { ready.signal() }
        }
        _ = ready.wait(timeout: .now() + timeout)
        try #require(process.isRunning && stderr.contains("strongroom: serving "), "serve did not start: \(stderr)")
    }

    var stderr: String { stderrLines.withLock { $0.joined(separator: "\n") } }

    /// SIGTERM (or SIGKILL with `kill`), then waits; returns the exit status (128+signal when killed).
    @discardableResult
    func stop(kill useKill: Bool = false) -> Int32 {
        guard let process else { return -1 }
        if process.isRunning { kill(process.processIdentifier, useKill ? SIGKILL : SIGTERM) }
        let deadline = Date().addingTimeInterval(60)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        self.process = nil
        return process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
    }

    /// VmRSS of the server in KiB.
    func residentKiB() -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return Int(line.dropFirst("VmRSS:".count).split(whereSeparator: { $0 == " " || $0 == "\t" }).first ?? "")
        }
        return nil
    }

    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
    }

    /// Runs the binary (or another program) to its end, draining stdout and stderr at once.
    static func run(_ arguments: [String], executable: String? = nil, environment: [String: String]? = nil) throws -> Result {
        let process = Process()
        process.executableURL = executable.map { URL(fileURLWithPath: $0) } ?? binary
        process.arguments = arguments
        if let environment { process.environment = environment }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let errData = Mutex(Data())
        let done = DispatchSemaphore(value: 0)
        let errHandle = err.fileHandleForReading
        DispatchQueue.global().async {
            let data = errHandle.readDataToEndOfFile()
            errData.withLock { $0 = data }
            done.signal()
        }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        done.wait()
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
            stderr: String(decoding: errData.withLock { $0 }, as: UTF8.self))
    }

    /// Runs the CLI on the vault (the server need not run: the store is safe across processes).
    func cli(_ arguments: [String]) throws -> Result {
        try Self.run(arguments + ["--config", vaultConfig], environment: environment)
    }

    /// What scripts/bench/server_faults.py saw (its JSON line).
    struct FaultReply: Sendable, CustomStringConvertible {
        var code: String?
        var details: String?
        var closed: Bool?
        var after: Double?
        var description: String
    }

    /// Runs scripts/bench/server_faults.py on a thread of its own (a blocking wait on a task would
    /// take one of the few cooperative threads the clients under test need) and parses its JSON line.
    func faultsInBackground(_ arguments: [String]) async throws -> FaultReply {
        try await withCheckedThrowingContinuation { continuation in
            Thread.detachNewThread { continuation.resume(with: Swift.Result { try self.faults(arguments) }) }
        }
    }

    /// Runs scripts/bench/server_faults.py and parses its JSON line.
    func faults(_ arguments: [String]) throws -> FaultReply {
        let result = try Self.run(
            ["python3", "\(Self.repository)/scripts/bench/server_faults.py"] + arguments, executable: "/usr/bin/env",
            environment: ProcessInfo.processInfo.environment)
        try #require(result.status == 0, "server_faults.py \(arguments.first ?? ""): \(result.stderr)")
        let line = result.stdout.split(separator: "\n").last.map(String.init) ?? ""
        let object = try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not JSON: \(result.stdout)")
        return FaultReply(
            code: object["code"] as? String, details: object["details"] as? String, closed: object["closed"] as? Bool,
            after: (object["after"] as? NSNumber)?.doubleValue, description: line)
    }
}

func storeRequest(_ id: String, _ bytes: [UInt8]) -> Strongroom_V1_StoreRequest {
    var request = Strongroom_V1_StoreRequest()
    request.shareID = id
    request.secret = Data(bytes)
    return request
}

func loadRequest(_ id: String, version: UInt64 = 0) -> Strongroom_V1_LoadRequest {
    var request = Strongroom_V1_LoadRequest()
    request.shareID = id
    request.version = version
    return request
}

/// Failures collected from concurrent clients.
final class Failures: Sendable {
    let kept = Mutex<[String]>([])
}

func randomBytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8.random(in: 0...255) } }

/// 32 concurrent clients through the real server on tiers 1 and 3, and the bench command's own run.
@Suite(.serialized)
struct ServerLoadTests {
    /// 32 connections at once, each storing its own share and loading it back byte-for-byte, then
    /// loads of a common share: every request succeeds.
    func thirtyTwoClients(tier: String, rounds: Int) async throws {
        let server = try LoadTestServer(tier: tier)
        try server.start()
        defer { server.stop(kill: true) }
        let common = randomBytes(32)
        try await StrongroomClient.withVault(server.address) { vault in
            _ = try await vault.store(storeRequest("common", common))
        }
        let failures = Failures()
        let address = server.address
        await withTaskGroup(of: Void.self) { group in
            for client in 0..<32 {
                group.addTask {
                    do {
                        try await StrongroomClient.withVault(address) { vault in
                            for round in 0..<rounds {
                                let mine = randomBytes(32 + client)
                                let version = try await vault.store(storeRequest("client-\(client)", mine)).version
                                let back = try await vault.load(loadRequest("client-\(client)", version: version))
                                guard Array(back.secret) == mine else { throw StrongroomError(.integrityCheckFailed, "client \(client) round \(round)") }
                                let shared = try await vault.load(loadRequest("common"))
                                guard Array(shared.secret) == common else { throw StrongroomError(.integrityCheckFailed, "common, client \(client)") }
                            }
                        }
                    } catch {
                        failures.kept.withLock { $0.append("client \(client): \(error)") }
                    }
                }
            }
        }
        let failed = failures.kept.withLock { $0 }
        #expect(failed.isEmpty, "\(failed.count) failed: \(failed.prefix(5))")
        #expect(server.stop() == 0, "SIGTERM drains and exits 0: \(server.stderr)")
        let status = try server.cli(["status"])
        #expect(status.status == 0 && status.stdout.contains("problems:         none"), "\(status.stdout)\(status.stderr)")
    }

    @Test func thirtyTwoConcurrentClientsOnTier1AllSucceed() async throws {
        try await thirtyTwoClients(tier: "local", rounds: 5)
    }

    @Test func thirtyTwoConcurrentClientsOnTier3AllSucceed() async throws {
        try await thirtyTwoClients(tier: "hsm", rounds: 3)
    }

    /// `strongroom bench serve --json`: the unary and Session server phases, the in-process phase and
    /// the ratio of each server phase to the in-process one.
    @Test func benchServeReportsServerAndInProcessFiguresAndTheRatio() throws {
        let result = try LoadTestServer.run(
            ["bench", "serve", "--clients", "32", "--requests", "640", "--json"],
            environment: ["PATH": "/usr/bin:/bin", "HOME": FileManager.default.temporaryDirectory.path])
        try #require(result.status == 0, "\(result.stderr)")
        let objects = result.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        let impls = objects.compactMap { $0["impl"] as? String }
        #expect(impls.contains("server") && impls.contains("session") && impls.contains("in-process"), "\(result.stdout)")
        for object in objects where object["op"] as? String == "serve_mixed" {
            #expect(object["requests"] as? Int == 640)
            #expect((object["p99_ms"] as? Double ?? 0) >= (object["p50_ms"] as? Double ?? 1))
        }
        for op in ["serve_ratio", "serve_session_ratio"] {
            #expect(objects.contains { $0["op"] as? String == op && ($0["throughput_ratio"] as? Double ?? 0) > 0 }, "\(result.stdout)")
        }
    }

    /// `bench serve --health-only --json`: Health as unary calls and inside sessions (no vault work),
    /// each set beside the in-process workload: the ceilings docs/benchmarks.md reads the ratios against.
    @Test func benchServeHealthOnlyMeasuresBothAPIsBesideTheInProcessWorkload() throws {
        let result = try LoadTestServer.run(
            ["bench", "serve", "--clients", "8", "--requests", "400", "--health-only", "--json"],
            environment: ["PATH": "/usr/bin:/bin", "HOME": FileManager.default.temporaryDirectory.path])
        try #require(result.status == 0, "\(result.stderr)")
        let objects = result.stdout.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        let health = objects.filter { $0["op"] as? String == "serve_health" }
        #expect(Set(health.compactMap { $0["impl"] as? String }) == ["health", "health-session"], "\(result.stdout)")
        #expect(health.allSatisfy { $0["requests"] as? Int == 400 }, "\(result.stdout)")
        #expect(objects.contains { $0["impl"] as? String == "in-process" && $0["op"] as? String == "serve_mixed" }, "\(result.stdout)")
        // No vault-work phases ran against the server.
        #expect(!objects.contains { ["server", "session"].contains($0["impl"] as? String ?? "") }, "\(result.stdout)")
        for op in ["serve_health_ratio", "serve_health_session_ratio"] {
            #expect(objects.contains { $0["op"] as? String == op && ($0["throughput_ratio"] as? Double ?? 0) > 0 }, "\(result.stdout)")
        }
    }

    /// The server's VmRSS over a CI-sized run of `bench serve --rss-requests` stays flat (the
    /// 1,000,000-request figure is measured by the bench and recorded in docs/benchmarks.md).
    @Test func serverResidentMemoryStaysFlatUnderSustainedLoad() throws {
        let result = try LoadTestServer.run(
            ["bench", "serve", "--clients", "32", "--rss-requests", "20000", "--rss-sample-every", "1000", "--json"],
            environment: ["PATH": "/usr/bin:/bin", "HOME": FileManager.default.temporaryDirectory.path])
        try #require(result.status == 0, "\(result.stderr)")
        let object = try #require(
            result.stdout.split(separator: "\n").compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
                .first { $0["op"] as? String == "serve_rss" }, "\(result.stdout)")
        #expect(object["flat"] as? Bool == true, "\(result.stdout)")
        #expect((object["samples"] as? [Any])?.count ?? 0 >= 20)
    }
}
