#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing

/// `strongroom rotate` on tier 2 killed with SIGKILL while it holds the vault lease: the next run,
/// on the same host, takes the lease over at once instead of waiting it out, and finishes.
@Suite struct CloudCrashCLITests: CloudServerSuite {
    let server: CloudTestServer

    init() throws { server = try CloudTestServer() }

    @Test func rotationKilledHoldingTheLeaseIsResumedAtOnce() throws {
        var cli = try CLI()
        defer { cli.cleanup() }
        cli.environment["AWS_ACCESS_KEY_ID"] = accessKey
        cli.environment["AWS_SECRET_ACCESS_KEY"] = secretKey
        let prefix = "cli-killed-\(UUID().uuidString.prefix(8).lowercased())/"
        let config = try cli.writeConfig(
            "cloud.yaml",
            "tier: cloud\nlockTimeoutSeconds: 30\ncloud:\n  endpoint: \(endpoint)\n  bucket: \(bucket)\n  prefix: \(prefix)\n  keyDeletionWindowDays: 7\n")
        try #require(try cli.run(["init", "--config", config]).status == 0)
        for index in 0..<24 {
            try #require(try cli.run(["put", "--config", config, "s\(index)"], stdin: Data("share \(index)".utf8)).status == 0)
        }
        // Kill a rotation once it has journalled (so it certainly held the lease when it died).
        var killedPending = false
        for attempt in 0..<8 where !killedPending {
            let process = Process()
            process.executableURL = CLI.binary
            process.arguments = ["rotate", "--config", config]
            process.environment = cli.environment
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            usleep(UInt32(150_000 + 60_000 * attempt))
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            killedPending = try cli.run(["status", "--config", config]).stdout.contains("PENDING")
            if !killedPending {
                // It finished (or never started): nothing is held; try again with the next rotation.
                continue
            }
        }
        try #require(killedPending, "no rotation was killed mid-way")
        // The lease lasts 60 s after its last renewal, beyond lockTimeoutSeconds (30): waiting it out
        // would end in "vault busy" (exit 75); only a takeover lets this run finish.
        let resumed = try cli.run(["rotate", "--config", config])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stderr.contains("took over the vault lease of a process that is gone"), "\(resumed.stderr)")
        for index in [0, 11, 23] {
            #expect(try cli.run(["get", "--config", config, "--stdout", "s\(index)"]).stdout == "share \(index)")
        }
        #expect(!(try cli.run(["status", "--config", config]).stdout.contains("PENDING")))
    }
}
