import Foundation
import Testing

/// What a user sees when a blob names a retired KEK version, and the help texts that say what a
/// command prints.
@Suite struct ConsistencyCLITests {
    /// Overwrites a file in place (same inode and mode), as an attacker or a careless restore would.
    static func overwrite(_ path: String, with bytes: Data) throws {
        let handle = try #require(FileHandle(forWritingAtPath: path))
        defer { try? handle.close() }
        try handle.truncate(atOffset: 0)
        try handle.write(contentsOf: bytes)
    }

    @Test func aTier1BlobFromBeforeTwoRotationsIsRefusedAndReportedByStatusAndVersions() throws {
        let cli = try CLI()
        defer { cli.cleanup() }
        let config = try cli.writeConfig()
        #expect(try cli.run(["init", "--config", config]).status == 0)
        #expect(try cli.run(["put", "alice", "--config", config, "--meta", "party=1"], stdin: Data("first".utf8)).status == 0)
        #expect(try cli.run(["put", "alice", "--config", config], stdin: Data("second".utf8)).status == 0)
        let path = "\(cli.vault)/shares/alice/1.srb"
        let saved = try Data(contentsOf: URL(fileURLWithPath: path))
        #expect(try cli.run(["rotate", "--config", config]).status == 0)
        #expect(try cli.run(["rotate", "--config", config]).status == 0)
        try Self.overwrite(path, with: saved)

        let get = try cli.run(["get", "alice", "--version", "1", "--stdout", "--config", config])
        #expect(get.status == 65, "\(get.stderr)")
        #expect(get.stdout.isEmpty)
        #expect(get.stderr.contains("names KEK version 1") && get.stderr.contains("active KEK versions are 3–3"), "\(get.stderr)")
        #expect(try cli.run(["get", "alice", "--stdout", "--config", config]).stdout == "second")

        let status = try cli.run(["status", "--config", config])
        #expect(status.status == 65, "\(status.stdout)\(status.stderr)")
        #expect(status.stdout.contains("KEK version 3: 1 share version(s)"), "\(status.stdout)")
        #expect(!status.stdout.contains("KEK version 1:"), "\(status.stdout)")
        #expect(status.stdout.contains("share 'alice' version 1: blob for share 'alice' version 1 names KEK version 1"), "\(status.stdout)")
        #expect(status.stderr.contains("integrity check failed: 1 blob(s)"), "\(status.stderr)")

        let versions = try cli.run(["versions", "alice", "--config", config])
        #expect(versions.status == 65, "\(versions.stderr)")
        let lines = versions.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 3, "\(versions.stdout)")
        #expect(lines.count == 3 && lines[1].hasPrefix("1 ") && lines[1].contains("UNUSABLE") && lines[1].contains("KEK version 1"), "\(versions.stdout)")
        #expect(lines.count == 3 && lines[2].hasPrefix("2 ") && lines[2].contains("  3  ") && !lines[2].contains("UNUSABLE"), "\(versions.stdout)")
        #expect(versions.stderr.contains("version(s) 1 of 'alice' cannot be used"), "\(versions.stderr)")

        // A healthy vault: status says so and exits 0.
        #expect(try cli.run(["erase", "alice", "--yes", "--config", config]).status == 0)
        let healthy = try cli.run(["status", "--config", config])
        #expect(healthy.status == 0, "\(healthy.stderr)")
        #expect(healthy.stdout.contains("problems:         none"))
    }

    @Test func helpSaysWhatPutPrintsAndListsGetVersionOnce() throws {
        let cli = try CLI()
        defer { cli.cleanup() }
        let put = try cli.run(["put", "--help"])
        #expect(put.status == 0)
        #expect(put.stdout.contains("stored '<id>' version <n>"), "\(put.stdout)")
        let get = try cli.run(["get", "--help"])
        #expect(get.status == 0)
        #expect(get.stdout.components(separatedBy: "--version").count == 3, "\(get.stdout)")  // usage line + option
        #expect(get.stdout.contains("--version <version>"))
        #expect(!get.stdout.contains("Show the version."), "\(get.stdout)")
        let version = try cli.run(["--version"])
        #expect(version.status == 0)
        #expect(version.stdout == "0.1.0\n")
    }
}
