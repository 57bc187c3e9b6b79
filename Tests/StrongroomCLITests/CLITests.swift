import Foundation
import Testing

/// Runs the built `strongroom` binary as a user would and checks what they see.
struct CLI {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
        var stdoutBytes: Data
    }

    static let binary: URL = {
        // Writing a command's input after it exited must fail with EPIPE, not kill the test runner.
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

    let directory: String
    var environment: [String: String]

    init() throws {
        directory = "\(FileManager.default.temporaryDirectory.path)/strongroom-cli-\(UUID().uuidString)"
        try FileManager.default.createDirectory(
            atPath: directory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        environment = ["PATH": "/usr/bin:/bin", "HOME": directory]
    }

    var vault: String { "\(directory)/vault" }

    func writeConfig(_ name: String = "strongroom.yaml", _ contents: String? = nil) throws -> String {
        let path = "\(directory)/\(name)"
        try (contents ?? "tier: local\nlocal:\n  path: \(vault)\n").write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @discardableResult
    func run(_ arguments: [String], stdin: Data? = nil, environment extra: [String: String] = [:]) throws -> Result {
        let process = Process()
        process.executableURL = CLI.binary
        process.arguments = arguments
        process.environment = environment.merging(extra) { $1 }
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        // A command may exit before it reads its input (a refused argument, say): the write then
        // fails with EPIPE, which must not end the test runner with SIGPIPE.
        if let stdin { try? input.fileHandleForWriting.write(contentsOf: stdin) }
        try input.fileHandleForWriting.close()
        // Both pipes are drained at once: a command that fills one (trace logs on stderr) while the
        // other is read to its end would block on its write for ever.
        let (outData, errData) = CLI.drain(out, err)
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
            stderr: String(decoding: errData, as: UTF8.self), stdoutBytes: outData)
    }

    func cleanup() { try? FileManager.default.removeItem(atPath: directory) }

    /// Reads two pipes to their ends concurrently (stderr on another thread).
    static func drain(_ out: Pipe, _ err: Pipe) -> (Data, Data) {
        let errBox = ErrBox()
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            errBox.data = err.fileHandleForReading.readDataToEndOfFile()
            done.signal()
        }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        done.wait()
        return (outData, errBox.data)
    }

    private final class ErrBox: @unchecked Sendable { var data = Data() }  // written before the semaphore, read after
}

@Suite struct CLITests {
    @Test func helpListsEveryCommand() throws {
        let cli = try CLI()
        defer { cli.cleanup() }
        let help = try cli.run(["--help"])
        #expect(help.status == 0)
        for command in ["init", "put", "get", "list", "versions", "erase", "rotate", "status", "demo", "bench"] {
            #expect(help.stdout.contains("  \(command)"), "help lacks \(command)")
        }
        #expect(help.stdout.contains("STRONGROOM_CONFIG"))
        let putHelp = try cli.run(["put", "--help"])
        #expect(putHelp.stdout.contains("never an argument"))
        #expect(putHelp.stdout.contains("--config"))
        #expect(putHelp.stdout.contains("--log-level"))
    }

    @Test func fullLifecycleThroughTheCommandLine() throws {
        let cli = try CLI()
        defer { cli.cleanup() }
        let config = try cli.writeConfig()
        let initResult = try cli.run(["init", "--config", config])
        #expect(initResult.status == 0, "\(initResult.stderr)")
        #expect(initResult.stdout.contains("created vault"))

        let share = Data((0..<32).map { UInt8($0 * 7 % 256) })  // binary, with a zero byte
        let put = try cli.run(["put", "alice", "--config", config, "--meta", "party=1"], stdin: share)
        #expect(put.status == 0, "\(put.stderr)")
        #expect(put.stdout == "stored 'alice' version 1\n")
        // STRONGROOM_CONFIG works in place of --config.
        let put2 = try cli.run(["put", "alice"], stdin: Data("second".utf8), environment: ["STRONGROOM_CONFIG": config])
        #expect(put2.stdout == "stored 'alice' version 2\n")

        let get = try cli.run(["get", "alice", "--version", "1", "--stdout", "--config", config])
        #expect(get.status == 0)
        #expect(get.stdoutBytes == share)

        let outFile = "\(cli.directory)/out.bin"
        let getFile = try cli.run(["get", "alice", "--output", outFile, "--config", config])
        #expect(getFile.status == 0, "\(getFile.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: outFile)) == Data("second".utf8))
        let mode = try FileManager.default.attributesOfItem(atPath: outFile)[.posixPermissions] as? Int
        #expect(mode == 0o600)
        let again = try cli.run(["get", "alice", "--output", outFile, "--config", config])
        #expect(again.status == 64)
        #expect(again.stderr.contains("already exists"))

        let list = try cli.run(["list", "--config", config])
        #expect(list.stdout.contains("alice"))
        #expect(list.stdout.contains("SHARE"))
        let versions = try cli.run(["versions", "alice", "--config", config])
        #expect(versions.stdout.contains("party=1"))
        #expect(versions.stdout.split(separator: "\n").count == 3)

        let dry = try cli.run(["rotate", "--dry-run", "--config", config])
        #expect(dry.status == 0)
        #expect(dry.stdout.contains("2 share version(s) would be rewrapped"))
        let rotate = try cli.run(["rotate", "--config", config])
        #expect(rotate.status == 0)
        #expect(rotate.stdout.contains("rotated to KEK version 2: 2 rewrapped"))
        #expect(rotate.stderr.isEmpty, "progress must not go to a non-terminal: \(rotate.stderr)")
        let status = try cli.run(["status", "--config", config])
        #expect(status.stdout.contains("current KEK:      version 2"))
        #expect(status.stdout.contains("KEK version 2: 2 share version(s)"))

        let eraseUnconfirmed = try cli.run(["erase", "alice", "--config", config])
        #expect(eraseUnconfirmed.status == 64)
        #expect(eraseUnconfirmed.stderr.contains("--yes"))
        let erase = try cli.run(["erase", "alice", "--yes", "--config", config])
        #expect(erase.stdout.contains("2 version(s) destroyed"))
        let gone = try cli.run(["get", "alice", "--stdout", "--config", config])
        #expect(gone.status == 66)
        #expect(gone.stderr == "strongroom: error: share not found: no share 'alice' in this vault\n")
    }

    @Test func errorsAreOneClearLineWithTheirExitCode() throws {
        let cli = try CLI()
        defer { cli.cleanup() }
        let config = try cli.writeConfig()

        let noConfig = try cli.run(["list"])
        #expect(noConfig.status == 78)
        #expect(noConfig.stderr.contains("no configuration"))

        let notInitialised = try cli.run(["list", "--config", config])
        #expect(notInitialised.status == 66)
        #expect(notInitialised.stderr.contains("strongroom init"))

        _ = try cli.run(["init", "--config", config])
        let twice = try cli.run(["init", "--config", config])
        #expect(twice.status == 73)

        let traversal = try cli.run(["put", "../../etc/passwd", "--config", config], stdin: Data("x".utf8))
        #expect(traversal.status == 64)
        #expect(traversal.stderr.contains("invalid share id"))

        let argumentSecret = try cli.run(["put", "alice", "my-secret-value", "--config", config])
        #expect(argumentSecret.status == 64)
        #expect(!FileManager.default.fileExists(atPath: "\(cli.vault)/shares/alice"))

        let empty = try cli.run(["put", "alice", "--config", config], stdin: Data())
        #expect(empty.status == 64)
        #expect(empty.stderr.contains("empty"))

        let nowhere = try cli.run(["get", "alice", "--config", config])
        #expect(nowhere.status == 64)
        #expect(nowhere.stderr.contains("--output FILE (created 0600) or --stdout"))

        let badTier = try cli.writeConfig("bad.yaml", "tier: floppy\n")
        let tier = try cli.run(["list", "--config", badTier])
        #expect(tier.status == 78)
        #expect(tier.stderr.contains("setting 'tier' in \(badTier) at line 1, column 1"), "\(tier.stderr)")
        #expect(!tier.stderr.contains("floppy"), "the value is not echoed")

        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: "\(cli.vault)/root.seed")
        let loose = try cli.run(["list", "--config", config])
        #expect(loose.status == 77)
        #expect(loose.stderr.contains("chmod 600"))

        let badLevel = try cli.run(["list", "--config", config, "--log-level", "loud"])
        #expect(badLevel.status == 64)
    }

    @Test func corruptedBlobGivesAnIntegrityErrorAndExit65() throws {
        let cli = try CLI()
        defer { cli.cleanup() }
        let config = try cli.writeConfig()
        _ = try cli.run(["init", "--config", config])
        _ = try cli.run(["put", "s", "--config", config], stdin: Data("value".utf8))
        let path = "\(cli.vault)/shares/s/1.srb"
        var blob = try Data(contentsOf: URL(fileURLWithPath: path))
        blob[blob.count - 1] ^= 0x40
        try blob.write(to: URL(fileURLWithPath: path))
        let result = try cli.run(["get", "s", "--stdout", "--config", config])
        #expect(result.status == 65)
        #expect(result.stderr.hasPrefix("strongroom: error: integrity check failed"))
        #expect(result.stdout.isEmpty)
    }

    @Test func twoProcessesWritingOneShareGetDistinctVersions() throws {
        let cli = try CLI()
        defer { cli.cleanup() }
        let config = try cli.writeConfig()
        _ = try cli.run(["init", "--config", config])
        let results = try (0..<6).map { _ in () }.enumerated().map { index, _ -> Process in
            let process = Process()
            process.executableURL = CLI.binary
            process.arguments = ["put", "shared", "--config", config, "--file", try writeShare(cli, index)]
            process.environment = cli.environment
            process.standardOutput = FileHandle.nullDevice
            try process.run()
            return process
        }
        for process in results { process.waitUntilExit(); #expect(process.terminationStatus == 0) }
        let versions = try cli.run(["versions", "shared", "--config", config])
        #expect(versions.stdout.split(separator: "\n").count == 7)
        var seen = Set<Data>()
        for version in 1...6 {
            let got = try cli.run(["get", "shared", "--version", "\(version)", "--stdout", "--config", config])
            #expect(got.status == 0)
            seen.insert(got.stdoutBytes)
        }
        #expect(seen.count == 6)
    }

    private func writeShare(_ cli: CLI, _ index: Int) throws -> String {
        let path = "\(cli.directory)/share-\(index)"
        try Data("share from process \(index)".utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    /// Progress goes to standard error only when it is a terminal; `script` (Debian's bsdutils,
    /// an essential package) gives the command a pseudo-terminal.
    @Test func rotateShowsProgressOnATerminal() throws {
        let cli = try CLI()
        defer { cli.cleanup() }
        let config = try cli.writeConfig()
        _ = try cli.run(["init", "--config", config])
        for index in 0..<3 { _ = try cli.run(["put", "s\(index)", "--config", config], stdin: Data("v\(index)".utf8)) }
        let command = "\(CLI.binary.path) rotate --config \(config)"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/script")
        process.arguments = ["-qec", command, "/dev/null"]
        process.environment = cli.environment
        let out = Pipe()
        process.standardOutput = out
        process.standardInput = Pipe()
        try process.run()
        let transcript = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(transcript)")
        #expect(transcript.contains("rewrapping: 3/3 (rewrapped 3, already current 0, failed 0)"))
        #expect(transcript.contains("rotated to KEK version 2: 3 rewrapped"))
    }

    @Test func demoRunsAndSummarises() throws {
        let cli = try CLI()
        defer { cli.cleanup() }
        let demo = try cli.run(["demo"])
        #expect(demo.status == 0, "\(demo.stderr)")
        #expect(demo.stdout.contains("5/5 byte-identical"))
        #expect(demo.stdout.contains("rotated the wrapping key to KEK version 2"))
        #expect(demo.stdout.contains("loading it now fails"))
        #expect(demo.stdout.contains("Timings:"))
        #expect(demo.stdout.contains("Demo complete"))
    }
}
