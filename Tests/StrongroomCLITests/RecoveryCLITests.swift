import Foundation
import Testing

/// `init --recovery-key`, `recovery enrol` and the recovery lines of `status`, through the binary.
@Suite struct RecoveryCLITests {
    /// Writes a `recovery.pub` with a random X25519 public key (any 32 bytes are one).
    func writeRecoveryKey(_ cli: CLI, _ name: String = "recovery.pub") throws -> String {
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255) }
        let hex = bytes.map { String(format: "%02x", $0) }.joined()
        let path = "\(cli.directory)/\(name)"
        try "strongroom-recovery-key v1 \(hex)\n".write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func formatVersions(_ cli: CLI) throws -> [UInt8] {
        var versions: [UInt8] = []
        let shares = "\(cli.vault)/shares"
        for share in try FileManager.default.contentsOfDirectory(atPath: shares).sorted() {
            for blob in try FileManager.default.contentsOfDirectory(atPath: "\(shares)/\(share)").sorted()
            where blob.hasSuffix(".srb") {
                versions.append(try Data(contentsOf: URL(fileURLWithPath: "\(shares)/\(share)/\(blob)"))[4])
            }
        }
        return versions
    }

    func statusJSON(_ cli: CLI, _ config: String) throws -> [String: Any] {
        let status = try cli.run(["status", "--json", "--config", config])
        #expect(status.status == 0, "\(status.stderr)")
        return try JSONSerialization.jsonObject(with: Data(status.stdout.utf8)) as? [String: Any] ?? [:]
    }

    @Test func initWithARecoveryKeySealsEveryShareToIt() throws {
        let cli = try CLI()
        defer { cli.cleanup() }
        let config = try cli.writeConfig()
        let key = try writeRecoveryKey(cli)
        let created = try cli.run(["init", "--config", config, "--recovery-key", key])
        #expect(created.status == 0, "\(created.stderr)")
        let line = try #require(created.stdout.split(separator: "\n").first { $0.contains("recovery key:") })
        let fingerprint = line.split(separator: ":", maxSplits: 1)[1].replacingOccurrences(of: " ", with: "")
        #expect(fingerprint.count == 64)
        for share in ["a", "b"] {
            #expect(try cli.run(["put", share, "--config", config], stdin: Data("secret \(share)".utf8)).status == 0)
        }
        #expect(try formatVersions(cli) == [2, 2])
        let status = try cli.run(["status", "--config", config])
        #expect(status.stdout.contains("recovery key:     \(fingerprint)"), "\(status.stdout)")
        #expect(status.stdout.contains("without recovery: 0 share version(s)"))
        let json = try statusJSON(cli, config)
        #expect(json["recoveryKeyFingerprint"] as? String == fingerprint)
        #expect(json["versionsWithoutRecovery"] as? Int == 0)
        let get = try cli.run(["get", "a", "--stdout", "--config", config])
        #expect(get.stdout == "secret a")
    }

    @Test func recoveryEnrolSealsTheExistingShares() throws {
        let cli = try CLI()
        defer { cli.cleanup() }
        let config = try cli.writeConfig()
        #expect(try cli.run(["init", "--config", config]).status == 0)
        for share in ["a", "b", "c"] {
            #expect(try cli.run(["put", share, "--config", config], stdin: Data("secret \(share)".utf8)).status == 0)
        }
        #expect(try formatVersions(cli) == [1, 1, 1])
        let before = try cli.run(["status", "--config", config])
        #expect(before.stdout.contains("recovery key:     none"))
        #expect(try statusJSON(cli, config)["recoveryKeyFingerprint"] is NSNull)
        let key = try writeRecoveryKey(cli)
        let dry = try cli.run(["recovery", "enrol", "--key", key, "--dry-run", "--config", config])
        #expect(dry.status == 0, "\(dry.stderr)")
        #expect(dry.stdout.contains("dry run: 3 share version(s)"), "\(dry.stdout)")
        #expect(try formatVersions(cli) == [1, 1, 1])
        let enrol = try cli.run(["recovery", "enrol", "--key", key, "--concurrency", "2", "--config", config])
        #expect(enrol.status == 0, "\(enrol.stderr)")
        #expect(enrol.stdout.contains("3 share version(s) and record(s) re-sealed, 0 already sealed to it"), "\(enrol.stdout)")
        #expect(try formatVersions(cli) == [2, 2, 2])
        let json = try statusJSON(cli, config)
        #expect((json["recoveryKeyFingerprint"] as? String)?.count == 64)
        #expect(json["versionsWithoutRecovery"] as? Int == 0)
        let get = try cli.run(["get", "b", "--stdout", "--config", config])
        #expect(get.stdout == "secret b")
        let again = try cli.run(["recovery", "enrol", "--key", key, "--config", config])
        #expect(again.stdout.contains("0 share version(s) and record(s) re-sealed, 3 already sealed to it"), "\(again.stdout)")
    }

    @Test func aBadKeyFileIsAClearErrorAndCreatesNothing() throws {
        let cli = try CLI()
        defer { cli.cleanup() }
        let config = try cli.writeConfig()
        let bad = "\(cli.directory)/bad.pub"
        try "not a key\n".write(toFile: bad, atomically: true, encoding: .utf8)
        let refused = try cli.run(["init", "--config", config, "--recovery-key", bad])
        #expect(refused.status == 64)
        #expect(refused.stderr.contains("bad.pub is not a Strongroom recovery public key"), "\(refused.stderr)")
        #expect(!FileManager.default.fileExists(atPath: cli.vault))
        let missing = try cli.run(["init", "--config", config, "--recovery-key", "\(cli.directory)/missing.pub"])
        #expect(missing.status == 64)
        #expect(missing.stderr.contains("missing.pub"))
        let help = try cli.run(["recovery", "enrol", "--help"])
        #expect(help.stdout.contains("--key") && help.stdout.contains("--dry-run"))
    }
}
