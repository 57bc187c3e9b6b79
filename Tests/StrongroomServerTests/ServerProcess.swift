#if canImport(Glibc)
import Glibc
#endif
import Foundation
import StrongroomClient
import Synchronization
import Testing

/// A `strongroom serve` started from the built binary for a test, in a temporary directory of its
/// own (0700): a vault, a configuration file, a policy file and the socket directory `run/`.
///
/// Use:
///
///     let server = try ServerProcess.start(policy: "...")   // a fresh tier 1 vault
///     defer { server.stop() }                                  // always: kills it if still running
///     try await StrongroomClient.withVault(server.address) { vault in ... }
///
/// Other tiers: make a ``Workspace``, write the vault's configuration with ``Workspace/writeConfig(_:)``
/// (`server.*` lines are appended by ``start(in:config:policy:serverSettings:environment:)``), run
/// `init` with ``Workspace/run(_:environment:)``, then start.
final class ServerProcess: @unchecked Sendable {  // `process` is only read after start; the output buffers are behind a Mutex
    /// The built `strongroom` binary (found as CLITests finds it).
    static let binary: URL = {
        _ = Glibc.signal(SIGPIPE, SIG_IGN)
        let fromRunner = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let candidates = [
            fromRunner.appendingPathComponent("strongroom"),
            fromRunner.deletingLastPathComponent().appendingPathComponent("strongroom"),
            URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
                .deletingLastPathComponent().appendingPathComponent(".build/debug/strongroom"),
        ]
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates[2]
    }()

    /// A temporary directory (0700) for one test: vault, config, policy, socket.
    struct Workspace: Sendable {
        let directory: String
        var environment: [String: String]

        init() throws {
            directory = "/tmp/srv-\(UUID().uuidString.prefix(8))"
            try FileManager.default.createDirectory(
                atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            environment = ["PATH": "/usr/bin:/bin", "HOME": directory]
        }

        var vault: String { "\(directory)/vault" }
        /// The default socket path (its directory `run/` is made by the server).
        var socket: String { "\(directory)/run/strongroom.sock" }
        var configPath: String { "\(directory)/strongroom.yaml" }
        var policyPath: String { "\(directory)/policy.yaml" }

        /// The tier 1 configuration of ``vault``.
        var localConfig: String { "tier: local\nlocal:\n  path: \(vault)\n" }

        /// Writes `contents` to `name` in the workspace (0600) and returns the path.
        @discardableResult
        func write(_ name: String, _ contents: String) throws -> String {
            let path = "\(directory)/\(name)"
            try contents.write(toFile: path, atomically: true, encoding: .utf8)
            chmod(path, 0o600)
            return path
        }

        /// Runs the binary to its end (stdout and stderr drained together).
        @discardableResult
        func run(_ arguments: [String], stdin: Data? = nil, environment extra: [String: String] = [:]) throws -> (status: Int32, stdout: String, stderr: String) {
            let process = Process()
            process.executableURL = ServerProcess.binary
            process.arguments = arguments
            process.environment = environment.merging(extra) { $1 }
            let out = Pipe(), err = Pipe(), input = Pipe()
            process.standardOutput = out
            process.standardError = err
            process.standardInput = input
            try process.run()
            if let stdin { try? input.fileHandleForWriting.write(contentsOf: stdin) }
            try input.fileHandleForWriting.close()
            let errData = Mutex(Data())
            let done = DispatchSemaphore(value: 0)
            DispatchQueue.global().async {
                let data = err.fileHandleForReading.readDataToEndOfFile()
                errData.withLock { $0 = data }
                done.signal()
            }
            let outData = out.fileHandleForReading.readDataToEndOfFile()
            done.wait()
            process.waitUntilExit()
            return (process.terminationStatus, String(decoding: outData, as: UTF8.self),
                    String(decoding: errData.withLock { $0 }, as: UTF8.self))
        }

        func cleanup() { try? FileManager.default.removeItem(atPath: directory) }
    }

    let workspace: Workspace
    let process: Process
    /// The `strongroom: serving …` line.
    private(set) var readyLine = ""
    /// The server's output so far, filled by two reader threads.
    private final class Output: Sendable {
        let buffer = Mutex((stdout: Data(), stderr: Data(), stderrClosed: false))
        func withLock<T: Sendable>(_ body: (inout (stdout: Data, stderr: Data, stderrClosed: Bool)) -> T) -> T {
            buffer.withLock { body(&$0) }
        }
    }
    private let output = Output()
    private let readers = DispatchGroup()
    private let removeWorkspace: Bool

    /// The Unix socket the server listens on.
    let socketPath: String
    var address: ServerAddress { ServerAddress(.unix(path: socketPath)) }
    var pid: Int32 { process.processIdentifier }

    private init(workspace: Workspace, process: Process, socketPath: String, removeWorkspace: Bool) {
        self.workspace = workspace
        self.process = process
        self.socketPath = socketPath
        self.removeWorkspace = removeWorkspace
    }

    /// A policy granting everything to `uid` (lane policy's format, docs/server.md "Access policy").
    static func allowAll(uid: UInt32 = getuid()) -> String {
        """
        rules:
          - name: everything
            uid: \(uid)
            operations: [store, load, list, versions, erase, rotate, status, unseal, seal, audit, recovery, migrate]
            shares: ["*"]
        """
    }

    /// Makes a fresh tier 1 vault in a new workspace and serves it with `policy`. `serverSettings`
    /// are extra lines under `server:` (indented by the caller as `  key: value`).
    static func start(
        policy: String = allowAll(), serverSettings: String = "", environment: [String: String] = [:],
        readyTimeout: Duration = .seconds(60)
    ) throws -> ServerProcess {
        let workspace = try Workspace()
        try workspace.write("strongroom.yaml", workspace.localConfig)
        let created = try workspace.run(["init", "--config", workspace.configPath])
        guard created.status == 0 else {
            workspace.cleanup()
            throw ServerProcessError("init failed (\(created.status)): \(created.stderr)")
        }
        return try start(
            in: workspace, config: workspace.localConfig, policy: policy, serverSettings: serverSettings,
            environment: environment, readyTimeout: readyTimeout, removeWorkspace: true)
    }

    /// Serves the vault `config` describes (already initialised) from `workspace`: writes
    /// `strongroom.yaml` as `config` plus a `server:` section (socket in `run/`, the policy file,
    /// then `serverSettings`), starts the binary and waits for the ready line. Throws with the
    /// server's stderr when it exits first or does not get ready in time (it is killed then).
    static func start(
        in workspace: Workspace, config: String, policy: String?, serverSettings: String = "",
        environment: [String: String] = [:], readyTimeout: Duration = .seconds(60), removeWorkspace: Bool = false
    ) throws -> ServerProcess {
        if let policy { try workspace.write("policy.yaml", policy) }
        var server = "server:\n  socket: \(workspace.socket)\n"
        if policy != nil { server += "  policy: \(workspace.policyPath)\n" }
        server += serverSettings
        if !server.hasSuffix("\n") { server += "\n" }
        try workspace.write("strongroom.yaml", config + (config.hasSuffix("\n") ? "" : "\n") + server)
        return try launch(
            in: workspace, arguments: ["serve", "--config", workspace.configPath], environment: environment,
            socketPath: workspace.socket, readyTimeout: readyTimeout, removeWorkspace: removeWorkspace)
    }

    /// Starts `strongroom <arguments>` (a `serve`) and waits for the ready line.
    static func launch(
        in workspace: Workspace, arguments: [String], environment: [String: String] = [:], socketPath: String,
        readyTimeout: Duration = .seconds(60), removeWorkspace: Bool = false
    ) throws -> ServerProcess {
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        process.environment = workspace.environment.merging(environment) { $1 }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let server = ServerProcess(workspace: workspace, process: process, socketPath: socketPath, removeWorkspace: removeWorkspace)
        server.drain(out.fileHandleForReading, isStderr: false)
        server.drain(err.fileHandleForReading, isStderr: true)
        do {
            server.readyLine = try server.waitForStderr(containing: "strongroom: serving", timeout: readyTimeout)
        } catch {
            server.stop(signal: SIGKILL)
            throw error
        }
        return server
    }

    private func drain(_ handle: FileHandle, isStderr: Bool) {
        readers.enter()
        let output = self.output
        let readers = self.readers
        DispatchQueue.global().async {
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                output.withLock { if isStderr { $0.stderr.append(chunk) } else { $0.stdout.append(chunk) } }
            }
            if isStderr { output.withLock { $0.stderrClosed = true } }
            readers.leave()
        }
    }

    /// Everything the server wrote to stderr so far.
    var stderr: String { String(decoding: output.withLock { $0.stderr }, as: UTF8.self) }
    /// Everything the server wrote to stdout so far.
    var stdout: String { String(decoding: output.withLock { $0.stdout }, as: UTF8.self) }

    /// Waits until a line of stderr contains `text` and returns that line; throws (with stderr) when
    /// the server exits or the time runs out first.
    @discardableResult
    func waitForStderr(containing text: String, timeout: Duration = .seconds(30)) throws -> String {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            let (data, closed) = output.withLock { ($0.stderr, $0.stderrClosed) }
            let lines = String(decoding: data, as: UTF8.self).split(separator: "\n", omittingEmptySubsequences: true)
            if let line = lines.first(where: { $0.contains(text) }) { return String(line) }
            if closed || !process.isRunning {
                // The server has exited: its last words arrive when stderr reaches its end.
                let drained = ContinuousClock.now + .seconds(10)
                while !output.withLock({ $0.stderrClosed }) && ContinuousClock.now < drained { usleep(10_000) }
                let final = String(decoding: output.withLock { $0.stderr }, as: UTF8.self)
                if let line = final.split(separator: "\n").first(where: { $0.contains(text) }) { return String(line) }
                throw ServerProcessError("strongroom serve exited before printing '\(text)': \(final)")
            }
            usleep(20_000)
        }
        throw ServerProcessError("strongroom serve printed no '\(text)' within \(timeout): \(stderr)")
    }

    /// Sends `signal` (SIGTERM: a graceful drain) and waits up to `timeout` for the exit; a server
    /// still running then is killed. Returns the exit status (or 128+signal when killed by one).
    @discardableResult
    func stop(signal: Int32 = SIGKILL, timeout: Duration = .seconds(60)) -> Int32 {
        if process.isRunning { kill(process.processIdentifier, signal) }
        let deadline = ContinuousClock.now + timeout
        while process.isRunning && ContinuousClock.now < deadline { usleep(20_000) }
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        process.waitUntilExit()
        _ = readers.wait(timeout: .now() + 10)
        return process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
    }

    /// Sends a signal without waiting (SIGHUP: reload the policy).
    func signal(_ number: Int32) { kill(process.processIdentifier, number) }

    deinit {
        if process.isRunning {
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
        if removeWorkspace { workspace.cleanup() }
    }
}

struct ServerProcessError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
