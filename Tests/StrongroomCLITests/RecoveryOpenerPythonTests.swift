import Foundation
import SecureCrypto
import StrongroomCore
import Testing

/// Issue 14 item 2, end to end: a plain copy of a tier 1 vault's blobs is a backup that the
/// recovery private key alone opens, with an independent program written from docs/format.md
/// (scripts/format/open_recovery_blob.py), after the vault's root seed is gone.
@Suite struct RecoveryOpenerPythonTests {
    static let opener = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scripts/format/open_recovery_blob.py").path

    /// Runs the Python opener: (status, stdout, stderr).
    static func python(_ arguments: [String]) throws -> (status: Int32, output: String, errors: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", opener] + arguments
        let out = Pipe()
        let err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let output = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let errors = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        return (process.terminationStatus, output, errors)
    }

    static func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    static func randomShare(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8.random(in: 0...255) } }

    @Test func pythonOpensEveryShareVersionOfACopiedVaultWithTheRecoveryKeyAlone() throws {
        let cli = try CLI()
        defer { cli.cleanup() }
        let seedFile = "\(cli.directory)/root.seed"
        let config = try cli.writeConfig(
            "c.yaml", "tier: local\nlocal:\n  path: \(cli.vault)\n  rootSeedFile: \(seedFile)\n")

        // The recovery key pair: the public half in recovery.pub, the private half only in this test.
        let privateKey = try X25519.generatePrivateKey()
        let publicKey = try RecoveryPublicKey(bytes: try X25519.publicKey(of: privateKey))
        let publicKeyFile = "\(cli.directory)/recovery.pub"
        #expect(FileManager.default.createFile(atPath: publicKeyFile, contents: Data(publicKey.fileContents)))

        let initialised = try cli.run(["init", "--config", config, "--recovery-key", publicKeyFile])
        #expect(initialised.status == 0, "init --recovery-key failed: \(initialised.stderr)")

        // Two shares (one with metadata), then a second version of the first; binary bytes throughout.
        let alice1 = Self.randomShare(32)
        let bob1 = Self.randomShare(57)
        let alice2: [UInt8] = Self.randomShare(1) + [0x0a, 0x00]
        let puts: [([String], [UInt8])] = [
            (["put", "alice", "--meta", "party=1", "--meta", "note=a/b"], alice1), (["put", "bob"], bob1),
            (["put", "alice"], alice2),
        ]
        for (arguments, share) in puts {
            let put = try cli.run(arguments + ["--config", config], stdin: Data(share))
            #expect(put.status == 0, "\(arguments): \(put.stderr)")
        }
        let expected: [String: (metadata: String, share: [UInt8])] = [
            "alice 1": (#"{"note":"a/b","party":"1"}"#, alice1), "alice 2": ("", alice2), "bob 1": ("", bob1),
        ]

        // A plain copy of the vault's blobs; then the disaster: the root seed is gone.
        let copy = "\(cli.directory)/copy"
        try FileManager.default.copyItem(atPath: cli.vault, toPath: copy)
        try FileManager.default.removeItem(atPath: seedFile)
        let lost = try cli.run(["get", "alice", "--stdout", "--config", config])
        #expect(lost.status != 0, "the vault still opens without its root seed")
        let copied = FileManager.default.enumerator(atPath: copy)?.allObjects as? [String] ?? []
        #expect(!copied.contains { $0.hasSuffix("root.seed") }, "the copy holds a root seed: \(copied)")

        // The private key, 0600, in a file of its own (64 hex digits).
        let keyFile = "\(cli.directory)/recovery.key"
        let keyHex = privateKey.withUnsafeBytes { Self.hex(Array($0)) }
        #expect(
            FileManager.default.createFile(
                atPath: keyFile, contents: Data((keyHex + "\n").utf8), attributes: [.posixPermissions: 0o600]))

        // Walk the copy and print every version.
        let walked = try Self.python(["--private-key-file", keyFile, "--vault", copy])
        #expect(walked.status == 0, "open_recovery_blob.py --vault failed: \(walked.errors)")
        var seen: [String: (metadata: String, share: String)] = [:]
        for line in walked.output.split(separator: "\n") {
            guard let object = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any],
                let share = object["share"] as? String, let version = object["version"] as? Int,
                let metadata = object["metadata"] as? String, let hex = object["hex"] as? String
            else {
                Issue.record("not a share line: \(line)")
                continue
            }
            if version == 0 { continue }  // a sealed record, if the vault has any
            seen["\(share) \(version)"] = (metadata, hex)
        }
        #expect(Set(seen.keys) == Set(expected.keys), "opened \(seen.keys.sorted())")
        for (key, value) in expected {
            #expect(seen[key]?.share == Self.hex(value.share), "\(key) differs")
            #expect(seen[key]?.metadata == value.metadata, "\(key) metadata differs")
        }

        // The same walk writing each version to its own file: byte for byte, 0600.
        let out = "\(cli.directory)/recovered"
        let written = try Self.python(["--private-key-file", keyFile, "--vault", copy, "--out", out])
        #expect(written.status == 0, "open_recovery_blob.py --out failed: \(written.errors)")
        #expect(!written.output.contains(Self.hex(alice1)), "--out printed a share")
        for (key, value) in expected {
            let parts = key.split(separator: " ")
            let path = "\(out)/\(parts[0])/\(parts[1])"
            #expect(FileManager.default.contents(atPath: path).map { [UInt8]($0) } == value.share, "\(path)")
            var info = stat()
            #expect(
                stat(path, &info) == 0 && info.st_mode & 0o777 == 0o600,
                "\(path) has mode \(String(info.st_mode & 0o777, radix: 8))")
        }

        // One blob by name, with the vault id from the copy's vault.json.
        let state =
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(copy)/vault.json")))
            as? [String: Any]
        let vaultID = try #require(state?["vaultID"] as? String)
        let one = try Self.python([
            "--private-key-file", keyFile, "--vault-id", vaultID, "--share-id", "bob", "--version", "1", "--hex",
            "\(copy)/shares/bob/1.srb",
        ])
        #expect(one.status == 0, "\(one.errors)")
        #expect(one.output == Self.hex(bob1) + "\n")

        // Another recovery key opens nothing, and says whose key the blobs were sealed to.
        let otherFile = "\(cli.directory)/other.key"
        let other = try X25519.generatePrivateKey().withUnsafeBytes { Self.hex(Array($0)) }
        #expect(
            FileManager.default.createFile(
                atPath: otherFile, contents: Data(other.utf8), attributes: [.posixPermissions: 0o600]))
        let wrong = try Self.python(["--private-key-file", otherFile, "--vault", copy])
        #expect(wrong.status == 2)
        #expect(!wrong.output.contains("\"hex\""), "a wrong key opened something: \(wrong.output)")
        #expect(wrong.errors.contains("fingerprint \(Self.hex(publicKey.fingerprint))"), "\(wrong.errors)")
    }
}
