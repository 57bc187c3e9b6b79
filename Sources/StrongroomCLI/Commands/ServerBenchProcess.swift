#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Strongroom
import Synchronization

/// The throwaway vault of `strongroom bench serve`: its configuration files (one for the library, one
/// with the `server.*` keys for `serve`), its socket and a policy granting this process's uid every
/// operation on every share.
struct ServerBenchSetup {
    let base: String
    let vaultConfig: String
    let serveConfig: String
    let socket: String
    let policy: String

    init(base: String, tier: String, module: String?, token: String?) throws {
        self.base = base
        vaultConfig = "\(base)/vault.yaml"
        serveConfig = "\(base)/serve.yaml"
        socket = "\(base)/run/strongroom.sock"
        policy = "\(base)/policy.yaml"
        let vault: String
        switch tier {
        case "hsm":
            vault = "tier: hsm\nhsm:\n  module: \(module ?? "")\n  tokenLabel: \(token ?? "")\n  blobPath: \(base)/vault\n"
        default:
            vault = "tier: local\nlocal:\n  path: \(base)/vault\n"
        }
        try Self.write(vault, to: vaultConfig)
        try Self.write(
            vault + "server:\n  socket: \(socket)\n  policy: \(policy)\n  maxConcurrentStreams: 1024\n", to: serveConfig)
        try Self.write(Self.policyGrantingEverything(uid: getuid()), to: policy)
    }

    /// A policy (docs/server.md, "Access policy") that lets `uid` do everything to every share.
    static func policyGrantingEverything(uid: uid_t) -> String {
        """
        version: 1
        identities:
          bench:
            uid: \(uid)
        rules:
          - name: bench-everything
            identity: bench
            operations: [store, load, list, versions, erase, rotate, status, unseal, seal, audit, recovery, migrate]
            shares: ["*"]

        """
    }

    /// Creates the vault with `strongroom init` (the same binary that will serve it).
    func initialiseVault(binary: String) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["init", "--config", vaultConfig]
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let (_, errData) = ServerBenchProcess.drain(out, err)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw StrongroomError(
                .io, "strongroom init for the bench vault exited with status \(process.terminationStatus): \(String(decoding: errData, as: UTF8.self))")
        }
    }

    /// The path of the running executable (/proc/self/exe), else argv[0].
    static func ownExecutable() -> String {
        (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe")) ?? CommandLine.arguments[0]
    }

    private static func write(_ text: String, to path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw StrongroomError(.io, "cannot create \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let bytes = Array(text.utf8)
        let written = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
        guard written == bytes.count else { throw StrongroomError(.io, "cannot write \(path): \(String(cString: strerror(errno)))") }
    }
}

/// A `strongroom serve` child: started, waited for until it prints its ready line, its stderr drained
/// for as long as it runs (the last lines kept for messages), stopped with SIGTERM (SIGKILL after 30 s).
// @unchecked Sendable: `process` (Foundation's Process is not Sendable) is only used through its
// thread-safe members (isRunning, waitUntilExit, terminationStatus/Reason) after run(); the rest is a Mutex.
final class ServerBenchProcess: @unchecked Sendable {
    let pid: Int32
    private let process: Process
    private let lines: StderrLines
    private let readerDone: DispatchSemaphore

    /// The last lines of the server's stderr.
    final class StderrLines: Sendable {
        let kept = Mutex<[String]>([])
        func withLock<T>(_ body: (inout [String]) -> T) -> T { kept.withLock { body(&$0) } }
    }

    private init(process: Process, lines: StderrLines, readerDone: DispatchSemaphore) {
        self.process = process
        self.pid = process.processIdentifier
        self.lines = lines
        self.readerDone = readerDone
    }

    static func start(binary: String, config: String, directory: String, readyTimeout: Double = 120) throws -> ServerBenchProcess {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["serve", "--config", config]
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        let err = Pipe()
        process.standardOutput = FileHandle.nullDevice
        process.standardError = err
        try process.run()
        let lines = StderrLines()
        let ready = DispatchSemaphore(value: 0), readerDone = DispatchSemaphore(value: 0)
        let handle = err.fileHandleForReading
        Thread.detachNewThread {
            var pending = Data(), signalled = false
            while true {
                let chunk = handle.availableData
                if chunk.isEmpty { break }
                pending += chunk
                while let newline = pending.firstIndex(of: 0x0A) {
                    let line = String(decoding: pending[pending.startIndex..<newline], as: UTF8.self)
                    pending = Data(pending[pending.index(after: newline)...])
                    lines.withLock { kept in
                        kept.append(line)
                        if kept.count > 40 { kept.removeFirst(kept.count - 40) }
                    }
                    if !signalled && line.hasPrefix("strongroom: serving ") {
                        signalled = true
                        ready.signal()
                    }
                }
            }
            if !signalled { ready.signal() }
            readerDone.signal()
        }
        let server = ServerBenchProcess(process: process, lines: lines, readerDone: readerDone)
        let waited = ready.wait(timeout: .now() + readyTimeout)
        let isReady = lines.withLock { $0.contains { $0.hasPrefix("strongroom: serving ") } }
        guard waited == .success, isReady, process.isRunning else {
            server.stop()
            throw StrongroomError(
                .io, "strongroom serve did not become ready within \(Int(readyTimeout)) s: \(server.stderrTail())")
        }
        return server
    }

    /// The last lines the server wrote on stderr.
    func stderrTail() -> String { lines.withLock { $0.suffix(10).joined(separator: "\n") } }

    /// Sends SIGTERM (SIGKILL if it has not exited 30 s later) and returns the exit status.
    @discardableResult
    func stop() -> Int32 {
        if process.isRunning {
            kill(pid, SIGTERM)
            let deadline = Date().addingTimeInterval(30)
            while process.isRunning && Date() < deadline { usleep(20_000) }
            if process.isRunning { kill(pid, SIGKILL) }
        }
        process.waitUntilExit()
        _ = readerDone.wait(timeout: .now() + 5)
        return process.terminationReason == .uncaughtSignal ? 128 + process.terminationStatus : process.terminationStatus
    }

    /// VmRSS of process `pid` in KiB, from /proc/PID/status.
    static func residentKiB(pid: Int32) -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return Int(line.dropFirst("VmRSS:".count).split(whereSeparator: { $0 == " " || $0 == "\t" }).first ?? "")
        }
        return nil
    }

    /// Reads two pipes to their ends concurrently (stderr on another thread).
    static func drain(_ out: Pipe, _ err: Pipe) -> (Data, Data) {
        let errData = Mutex(Data())
        let done = DispatchSemaphore(value: 0)
        let handle = err.fileHandleForReading
        DispatchQueue.global().async {
            let data = handle.readDataToEndOfFile()
            errData.withLock { $0 = data }
            done.signal()
        }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        done.wait()
        return (outData, errData.withLock { $0 })
    }
}
