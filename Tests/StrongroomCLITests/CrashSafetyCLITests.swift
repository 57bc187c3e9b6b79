import Foundation
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The real binary killed with SIGKILL in the middle of an erase, and readers meeting torn files
/// (issue 12 items 1 and 5).
@Suite struct CrashSafetyCLITests {
    /// Fills share `big` with `count` copies of one 60 KB blob, so that an erase takes long enough
    /// to be killed in the middle. Returns the blob's bytes.
    func bigShare(_ cli: CLI, _ config: String, count: Int) throws -> Data {
        #expect(try cli.run(["init", "--config", config]).status == 0)
        let secret = Data((0..<60_000).map { UInt8(truncatingIfNeeded: $0 &* 31) })
        #expect(try cli.run(["put", "big", "--config", config], stdin: secret).status == 0)
        let directory = "\(cli.vault)/shares/big"
        let blob = try Data(contentsOf: URL(fileURLWithPath: "\(directory)/1.srb"))
        for version in 2...count {
            #expect(FileManager.default.createFile(
                atPath: "\(directory)/\(version).srb", contents: blob, attributes: [.posixPermissions: 0o600]))
        }
        return blob
    }

    /// Starts `erase big`, waits until it has destroyed at least one version, then SIGKILLs it.
    func killEraseMidway(_ cli: CLI, _ config: String, count: Int, extraMicroseconds: UInt32) throws {
        let process = Process()
        process.executableURL = CLI.binary
        process.arguments = ["erase", "big", "--yes", "--config", config]
        process.environment = cli.environment
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        let directory = "\(cli.vault)/shares/big"
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline, process.isRunning {
            let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
            if names.filter({ $0.hasSuffix(".srb") }).count < count || names.contains(where: { $0.hasPrefix(".erased-") }) { break }
            usleep(200)
        }
        usleep(extraMicroseconds)
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }

    @Test func anEraseKilledAtAnyInstantLeavesEveryVersionWholeOrGone() throws {
        // Kill points spread over the erase: right after the first version went, and a little later.
        for (round, extra) in [UInt32(0), 100, 300, 700, 1_500, 3_000, 6_000, 15_000].enumerated() {
            let cli = try CLI()
            defer { cli.cleanup() }
            let config = try cli.writeConfig()
            let count = 150
            let blob = try bigShare(cli, config, count: count)
            try killEraseMidway(cli, config, count: count, extraMicroseconds: extra)

            let directory = "\(cli.vault)/shares/big"
            let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
            let blobs = names.filter { !$0.hasPrefix(".") }
            #expect(blobs.count < count, "round \(round): the erase was not under way when killed")
            for name in blobs {
                // Whole or gone: never damaged bytes under a valid name.
                let bytes = try Data(contentsOf: URL(fileURLWithPath: "\(directory)/\(name)"))
                #expect(bytes == blob, "round \(round): \(name) was left damaged under its name")
            }
            #expect(names.filter { $0.hasPrefix(".erased-") }.count <= 1, "\(names)")
            if !blobs.isEmpty {
                let versions = try cli.run(["versions", "big", "--config", config])
                #expect(!versions.stdout.contains("not a Strongroom envelope"), "\(versions.stdout)")
            }
            // The next erase finishes the job and leaves nothing behind.
            let again = try cli.run(["erase", "big", "--yes", "--config", config])
            if !blobs.isEmpty { #expect(again.status == 0, "\(again.stderr)") }
            let left = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
            #expect(left.isEmpty, "\(left)")
        }
    }

    @Test func getOfTheNewestVersionSkipsATornFileAndRotateReportsIt() throws {
        let cli = try CLI()
        defer { cli.cleanup() }
        let config = try cli.writeConfig()
        #expect(try cli.run(["init", "--config", config]).status == 0)
        #expect(try cli.run(["put", "alice", "--config", config], stdin: Data("first".utf8)).status == 0)
        #expect(try cli.run(["put", "alice", "--config", config], stdin: Data("second".utf8)).status == 0)
        // What an erase killed between overwrite and unlink left before erases renamed first.
        let torn = "\(cli.vault)/shares/alice/3.srb"
        #expect(FileManager.default.createFile(
            atPath: torn, contents: Data((0..<200).map { UInt8(truncatingIfNeeded: $0 &* 97 &+ 5) }),
            attributes: [.posixPermissions: 0o600]))

        let get = try cli.run(["get", "alice", "--stdout", "--config", config])
        #expect(get.status == 0, "\(get.stderr)")
        #expect(get.stdout == "second")
        #expect(get.stderr.contains("version 3") && get.stderr.contains("not a Strongroom envelope (bad magic)"), "\(get.stderr)")

        let versions = try cli.run(["versions", "alice", "--config", config])
        #expect(versions.stdout.contains("not a Strongroom envelope (bad magic)"), "\(versions.stdout)")

        let rotate = try cli.run(["rotate", "--config", config])
        #expect(rotate.status == 0, "\(rotate.stderr)")
        #expect(rotate.stderr.contains("shares/alice/3.srb"), "\(rotate.stderr)")
        #expect(try cli.run(["get", "alice", "--version", "1", "--stdout", "--config", config]).stdout == "first")
    }

    @Test func staleTemporaryFilesOfKilledPutsAreRemovedAndNeverListed() throws {
        let cli = try CLI()
        defer { cli.cleanup() }
        let config = try cli.writeConfig()
        #expect(try cli.run(["init", "--config", config]).status == 0)
        #expect(try cli.run(["put", "s", "--config", config], stdin: Data("v1".utf8)).status == 0)
        let stale = "\(cli.vault)/shares/s/.tmp-00000000000000aa"
        #expect(FileManager.default.createFile(atPath: stale, contents: Data("half".utf8)))
        var times = [timespec](repeating: timespec(), count: 2)
        times[0].tv_sec = time(nil) - 7200
        times[1].tv_sec = time(nil) - 7200
        #expect(utimensat(AT_FDCWD, stale, &times, 0) == 0)
        let list = try cli.run(["list", "--config", config])
        #expect(!list.stdout.contains(".tmp"), "\(list.stdout)")
        #expect(try cli.run(["put", "s", "--config", config], stdin: Data("v2".utf8)).status == 0)
        #expect(!FileManager.default.fileExists(atPath: stale))
    }
}
