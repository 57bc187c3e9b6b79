import Foundation
import Testing

/// The disaster drills of docs/recovery.md, through the binary, one per tier: the tier's key is
/// destroyed for good — the tier 1 root seed deleted, the SoftHSM token deleted with
/// `softhsm2-util --delete-token`, the KMS key disabled and scheduled for deletion — and every share
/// version comes back byte for byte (with its version number, created-at and metadata) into a fresh
/// vault on another tier, from the blobs and 3 of 5 custodian parts. With 2 parts `recover` fails
/// clearly and the destination stays empty.
@Suite(.serialized) struct RecoveryDrillCLITests: CloudServerSuite {
    let server: CloudTestServer
    let module: String
    let token: String
    let pin: String
    let softhsmConf: String

    static let passphrases = (1...5).map { "drill passphrase of custodian \($0)" }

    init() throws {
        server = try CloudTestServer()
        let environment = ProcessInfo.processInfo.environment
        func value(_ name: String) throws -> String {
            try #require(environment[name].flatMap { $0.isEmpty ? nil : $0 }, "\(name) is not set: run the suite with scripts/test")
        }
        module = try value("STRONGROOM_TEST_HSM_MODULE")
        token = try value("STRONGROOM_TEST_HSM_TOKEN")
        pin = try value("STRONGROOM_TEST_HSM_PIN")
        softhsmConf = try value("SOFTHSM2_CONF")
    }

    func cli() throws -> CLI {
        var cli = try CLI()
        cli.environment["SOFTHSM2_CONF"] = softhsmConf
        cli.environment["STRONGROOM_HSM_PIN"] = pin
        cli.environment["AWS_ACCESS_KEY_ID"] = accessKey
        cli.environment["AWS_SECRET_ACCESS_KEY"] = secretKey
        return cli
    }

    func cloudConfig(_ cli: CLI, _ name: String) throws -> (path: String, prefix: String) {
        let prefix = "drill-\(UUID().uuidString.prefix(8).lowercased())/"
        let path = try cli.writeConfig(
            name, "tier: cloud\ncloud:\n  endpoint: \(endpoint)\n  bucket: \(bucket)\n  prefix: \(prefix)\n  keyDeletionWindowDays: 7\n")
        return (path, prefix)
    }

    func hsmConfig(_ cli: CLI, _ name: String, token: String, blobPath: String) throws -> String {
        try cli.writeConfig(name, "tier: hsm\nhsm:\n  module: \(module)\n  tokenLabel: \(token)\n  blobPath: \(blobPath)\n")
    }

    /// The custodian parts: `recovery init --custodians 5 --threshold 3`, passphrases on a descriptor.
    func makeParts(_ cli: CLI) throws -> (publicKey: String, parts: [String]) {
        let out = "\(cli.directory)/ceremony"
        let made = try cli.run(
            ["recovery", "init", "--custodians", "5", "--threshold", "3", "--out", out, "--passphrase-fd", "0"],
            stdin: Data(Self.passphrases.map { $0 + "\n" }.joined().utf8))
        try #require(made.status == 0, "\(made.stderr)")
        return ("\(out)/recovery.pub", (1...5).map { "\(out)/part-\($0)-of-5.srpart" })
    }

    /// Several shares with several versions, binary bytes and metadata; returns what each version holds.
    func fill(_ cli: CLI, _ config: String) throws -> [String: [Data]] {
        var expected: [String: [Data]] = [:]
        for (id, count) in [("party-1", 3), ("party-2", 1), ("engine-a.party-3", 2)] {
            for index in 0..<count {
                var bytes = Data((0..<48).map { _ in UInt8.random(in: 0...255) })
                bytes[0] = 0x00  // binary, with a NUL
                let put = try cli.run(
                    ["put", "--config", config, "--meta", "scheme=frost", "--meta", "n=\(index)", id], stdin: bytes)
                try #require(put.status == 0, "\(put.stderr)")
                expected[id, default: []].append(bytes)
            }
        }
        return expected
    }

    /// `versions` without the columns that differ between tiers (KEK version, blob size).
    func headers(_ cli: CLI, _ config: String, _ id: String) throws -> [String] {
        let listed = try cli.run(["versions", "--config", config, id])
        try #require(listed.status == 0, "\(listed.stderr)")
        return listed.stdout.split(separator: "\n").dropFirst().map { line in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            return ([fields[0], fields[2]] + fields.dropFirst(4)).joined(separator: " ")
        }
    }

    func recover(_ cli: CLI, from source: String, to config: String, parts: [String], extra: [String] = []) throws -> CLI.Result {
        let passphrases = parts.map { part -> String in
            let index = Int(URL(fileURLWithPath: part).lastPathComponent.dropFirst("part-".count).prefix { $0 != "-" })!
            return Self.passphrases[index - 1] + "\n"
        }
        return try cli.run(
            ["recover", "--from", source, "--to", config, "--passphrase-fd", "0"] + parts.flatMap { ["--part", $0] } + extra,
            stdin: Data(passphrases.joined().utf8))
    }

    /// The drill's end: 2 parts fail and write nothing; 3 parts bring back every version byte for byte.
    func recoverAndCheck(
        _ cli: CLI, from source: String, to destination: String, parts: [String], expected: [String: [Data]],
        headers before: [String: [String]], extra: [String] = []
    ) throws {
        let created = try cli.run(["init", "--config", destination])
        try #require(created.status == 0, "\(created.stderr)")

        let tooFew = try recover(cli, from: source, to: destination, parts: [parts[0], parts[1]], extra: extra)
        #expect(tooFew.status == 66, "\(tooFew.stderr)")
        #expect(tooFew.stderr.contains("3 of the 5 custodian parts are needed"), "\(tooFew.stderr)")
        #expect(tooFew.stdout.isEmpty)
        let empty = try cli.run(["list", "--config", destination])
        #expect(empty.status == 0 && !empty.stdout.contains("party"), "\(empty.stdout)")
        let status = try cli.run(["status", "--config", destination, "--json"])
        let counts = try JSONSerialization.jsonObject(with: status.stdoutBytes) as? [String: Any]
        #expect(counts?["versionCount"] as? Int == 0, "\(status.stdout)")
        #expect(counts?["shareCount"] as? Int == 0, "\(status.stdout)")

        let recovered = try recover(cli, from: source, to: destination, parts: [parts[0], parts[2], parts[4]], extra: extra)
        try #require(recovered.status == 0, "\(recovered.stderr)")
        let total = expected.values.map(\.count).reduce(0, +)
        #expect(recovered.stdout.contains("\(expected.count) share(s), \(total) version(s)"), "\(recovered.stdout)")
        #expect(recovered.stderr.contains("rebuilt recovery key"))
        for (id, versions) in expected {
            for (index, bytes) in versions.enumerated() {
                let got = try cli.run(["get", "--config", destination, "--version", "\(index + 1)", "--stdout", id])
                #expect(got.status == 0, "\(got.stderr)")
                #expect(got.stdoutBytes == bytes, "share \(id) version \(index + 1) differs after recovery")
            }
            #expect(try headers(cli, destination, id) == before[id], "versions of \(id): created-at and metadata kept")
        }
        // Running it again finds everything there (resumable, idempotent).
        let again = try recover(cli, from: source, to: destination, parts: [parts[1], parts[3], parts[4]], extra: extra)
        #expect(again.status == 0, "\(again.stderr)")
        #expect(again.stdout.contains("recovered 0, already present \(total)"), "\(again.stdout)")
    }

    func runTool(_ arguments: [String], environment extra: [String: String] = [:]) throws -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        process.environment = ProcessInfo.processInfo.environment.merging(extra) { $1 }
        let output = Pipe()
        process.standardOutput = output
        process.standardError = output
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    @Test func tier1RootSeedDeletedRecoversIntoTier3() throws {
        let cli = try cli()
        defer { cli.cleanup() }
        let (publicKey, parts) = try makeParts(cli)
        let source = try cli.writeConfig("local.yaml")
        try #require(try cli.run(["init", "--config", source, "--recovery-key", publicKey]).status == 0)
        let expected = try fill(cli, source)
        var before: [String: [String]] = [:]
        for id in expected.keys { before[id] = try headers(cli, source, id) }

        // The disaster: the root seed is gone.
        try FileManager.default.removeItem(atPath: "\(cli.vault)/root.seed")
        let lost = try cli.run(["get", "--config", source, "--stdout", "party-1"])
        #expect(lost.status != 0)

        let destination = try hsmConfig(cli, "hsm.yaml", token: token, blobPath: "\(cli.directory)/hsm-vault")
        try recoverAndCheck(cli, from: cli.vault, to: destination, parts: parts, expected: expected, headers: before)
    }

    @Test func tier3TokenDeletedRecoversIntoTier2() throws {
        var cli = try cli()
        defer { cli.cleanup() }
        // A token of its own, in a SoftHSM directory of its own, so deleting it touches nothing else.
        let softhsm = "\(cli.directory)/softhsm"
        try FileManager.default.createDirectory(
            atPath: "\(softhsm)/tokens", withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        let conf = "\(softhsm)/softhsm2.conf"
        try "directories.tokendir = \(softhsm)/tokens\nobjectstore.backend = file\nlog.level = ERROR\n"
            .write(toFile: conf, atomically: true, encoding: .utf8)
        let label = "drill-\(UUID().uuidString.prefix(8).lowercased())"
        let made = try runTool(
            ["softhsm2-util", "--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", "5678-drill-so"],
            environment: ["SOFTHSM2_CONF": conf])
        try #require(made.0 == 0, "\(made.1)")
        cli.environment["SOFTHSM2_CONF"] = conf

        let (publicKey, parts) = try makeParts(cli)
        let blobPath = "\(cli.directory)/hsm-vault"
        let source = try hsmConfig(cli, "hsm.yaml", token: label, blobPath: blobPath)
        let created = try cli.run(["init", "--config", source, "--recovery-key", publicKey])
        try #require(created.status == 0, "\(created.stderr)")
        let expected = try fill(cli, source)
        var before: [String: [String]] = [:]
        for id in expected.keys { before[id] = try headers(cli, source, id) }

        // The disaster: the token, with its KEK, is destroyed.
        let deleted = try runTool(["softhsm2-util", "--delete-token", "--token", label], environment: ["SOFTHSM2_CONF": conf])
        try #require(deleted.0 == 0, "\(deleted.1)")
        let lost = try cli.run(["get", "--config", source, "--stdout", "party-1"])
        #expect(lost.status == 69, "\(lost.stderr)")

        let destination = try cloudConfig(cli, "cloud.yaml").path
        try recoverAndCheck(cli, from: blobPath, to: destination, parts: parts, expected: expected, headers: before)
    }

    @Test func tier2KMSKeyDisabledAndScheduledForDeletionRecoversIntoTier1() throws {
        let cli = try cli()
        defer { cli.cleanup() }
        let (publicKey, parts) = try makeParts(cli)
        let (source, prefix) = try cloudConfig(cli, "cloud.yaml")
        let created = try cli.run(["init", "--config", source, "--recovery-key", publicKey])
        try #require(created.status == 0, "\(created.stderr)")
        let expected = try fill(cli, source)
        var before: [String: [String]] = [:]
        for id in expected.keys { before[id] = try headers(cli, source, id) }

        // The disaster: every KMS key of the vault is disabled and scheduled for deletion.
        let script = """
            import boto3, json, sys
            endpoint, bucket, prefix, region = sys.argv[1:5]
            s3 = boto3.client("s3", endpoint_url=endpoint, region_name=region)
            kms = boto3.client("kms", endpoint_url=endpoint, region_name=region)
            record = json.loads(s3.get_object(Bucket=bucket, Key=prefix + "kms-keys.json")["Body"].read())
            ids = set()
            def walk(value):
                if isinstance(value, dict):
                    for k, v in value.items():
                        # moto's DisableKey takes the bare key id, not the ARN the record may hold
                        if k == "keyID" and isinstance(v, str): ids.add(v.split("/")[-1])
                        else: walk(v)
                elif isinstance(value, list):
                    for v in value: walk(v)
            walk(record)
            assert ids, record
            for key in ids:
                kms.disable_key(KeyId=key)
                kms.schedule_key_deletion(KeyId=key, PendingWindowInDays=7)
                print(key, kms.describe_key(KeyId=key)["KeyMetadata"]["KeyState"])
            """
        let disabled = try runTool(
            ["python3", "-c", script, endpoint, bucket, prefix, region],
            environment: ["AWS_ACCESS_KEY_ID": accessKey, "AWS_SECRET_ACCESS_KEY": secretKey])
        try #require(disabled.0 == 0, "\(disabled.1)")
        #expect(disabled.1.contains("PendingDeletion"), "\(disabled.1)")
        let lost = try cli.run(["get", "--config", source, "--stdout", "party-1"])
        #expect(lost.status != 0)

        let destination = try cli.writeConfig("local.yaml")
        try recoverAndCheck(
            cli, from: "s3://\(bucket)/\(prefix)", to: destination, parts: parts, expected: expected, headers: before,
            extra: ["--s3-endpoint", endpoint, "--s3-region", region])
    }
}

/// `strongroom recover`'s refusals through the binary: each names the problem and writes nothing
/// into the destination, and nothing is ever written into the source copy.
@Suite struct RecoverRefusalCLITests {
    static let passphrases = RecoveryDrillCLITests.passphrases

    func makeParts(_ cli: CLI, _ name: String) throws -> (publicKey: String, parts: [String]) {
        let out = "\(cli.directory)/\(name)"
        let made = try cli.run(
            ["recovery", "init", "--custodians", "5", "--threshold", "3", "--out", out, "--passphrase-fd", "0"],
            stdin: Data(Self.passphrases.map { $0 + "\n" }.joined().utf8))
        try #require(made.status == 0, "\(made.stderr)")
        return ("\(out)/recovery.pub", (1...5).map { "\(out)/part-\($0)-of-5.srpart" })
    }

    /// Every file under `path` with its bytes: the copy must be the same after any recover.
    func snapshot(_ path: String) throws -> [String: Data] {
        var files: [String: Data] = [:]
        let walker = FileManager.default.enumerator(atPath: path)
        while let relative = walker?.nextObject() as? String {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: "\(path)/\(relative)", isDirectory: &isDirectory), !isDirectory.boolValue {
                files[relative] = try Data(contentsOf: URL(fileURLWithPath: "\(path)/\(relative)"))
            }
        }
        return files
    }

    func recover(_ cli: CLI, _ source: String, _ destination: String, _ parts: [String], passphrases: [String], extra: [String] = []) throws -> CLI.Result {
        try cli.run(
            ["recover", "--from", source, "--to", destination, "--passphrase-fd", "0"] + parts.flatMap { ["--part", $0] } + extra,
            stdin: Data(passphrases.map { $0 + "\n" }.joined().utf8))
    }

    func isEmpty(_ cli: CLI, _ config: String) throws -> Bool {
        let status = try cli.run(["status", "--config", config, "--json"])
        let counts = try JSONSerialization.jsonObject(with: status.stdoutBytes) as? [String: Any]
        return counts?["versionCount"] as? Int == 0 && counts?["shareCount"] as? Int == 0
    }

    @Test func refusalsNameTheProblemAndWriteNothing() throws {
        let cli = try CLI()
        defer { cli.cleanup() }
        let (publicKey, parts) = try makeParts(cli, "ceremony")
        let (_, otherParts) = try makeParts(cli, "other-ceremony")
        let source = try cli.writeConfig("source.yaml")
        try #require(try cli.run(["init", "--config", source, "--recovery-key", publicKey]).status == 0)
        try #require(try cli.run(["put", "--config", source, "alice"], stdin: Data("share of alice".utf8)).status == 0)
        let destination = try cli.writeConfig("dest.yaml", "tier: local\nlocal:\n  path: \(cli.directory)/dest\n")
        try #require(try cli.run(["init", "--config", destination]).status == 0)
        let before = try snapshot(cli.vault)
        let p = Self.passphrases

        // A wrong passphrase for part 3: refused naming part 3 (exit 77), nothing written.
        let wrong = try recover(cli, cli.vault, destination, [parts[0], parts[1], parts[2]], passphrases: [p[0], p[1], "not the passphrase of custodian 3"])
        #expect(wrong.status == 77, "\(wrong.stderr)")
        #expect(wrong.stderr.contains(parts[2]), "\(wrong.stderr)")
        #expect(!wrong.stderr.contains("not the passphrase"), "the passphrase must never be echoed")
        // A part of another key among them: refused naming it (exit 65) before any passphrase is asked.
        let mixed = try recover(cli, cli.vault, destination, [parts[0], parts[1], otherParts[2]], passphrases: [p[0], p[1], p[2]])
        #expect(mixed.status == 65, "\(mixed.stderr)")
        #expect(mixed.stderr.contains(otherParts[2]), "\(mixed.stderr)")
        // A part that is a symbolic link is not followed.
        let link = "\(cli.directory)/link.srpart"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: parts[2])
        let linked = try recover(cli, cli.vault, destination, [parts[0], parts[1], link], passphrases: [p[0], p[1], p[2]])
        #expect(linked.status == 65, "\(linked.stderr)")
        #expect(linked.stderr.contains("symbolic link"), "\(linked.stderr)")
        // The parts of another key (all of them valid): the copy is not sealed to it.
        let otherKey = try recover(cli, cli.vault, destination, [otherParts[0], otherParts[1], otherParts[2]], passphrases: [p[0], p[1], p[2]])
        #expect(otherKey.status != 0, "\(otherKey.stdout)")
        #expect(otherKey.stderr.contains("not vault"), "\(otherKey.stderr)")
        // A dry run rebuilds the key and counts, and writes nothing.
        let dry = try recover(cli, cli.vault, destination, [parts[0], parts[1], parts[2]], passphrases: [p[0], p[1], p[2]], extra: ["--dry-run"])
        #expect(dry.status == 0, "\(dry.stderr)")
        #expect(dry.stdout.contains("dry run") && dry.stdout.contains("1 would be recovered"), "\(dry.stdout)")
        #expect(try isEmpty(cli, destination))
        // No --part at all, and a source that is not a directory.
        let none = try cli.run(["recover", "--from", cli.vault, "--to", destination])
        #expect(none.status == 66, "\(none.stderr)")
        let notADirectory = try recover(cli, "\(cli.vault)/vault.json", destination, [parts[0], parts[1], parts[2]], passphrases: [p[0], p[1], p[2]])
        #expect(notADirectory.status == 64, "\(notADirectory.stderr)")
        #expect(try isEmpty(cli, destination))
        #expect(try snapshot(cli.vault) == before, "recover wrote into its source")

        // A vault without a recovery key: its blobs cannot be recovered, and the error says so.
        let plain = try cli.writeConfig("plain.yaml", "tier: local\nlocal:\n  path: \(cli.directory)/plain\n")
        try #require(try cli.run(["init", "--config", plain]).status == 0)
        try #require(try cli.run(["put", "--config", plain, "bob"], stdin: Data("share of bob".utf8)).status == 0)
        let unenrolled = try recover(cli, "\(cli.directory)/plain", destination, [parts[0], parts[1], parts[2]], passphrases: [p[0], p[1], p[2]])
        #expect(unenrolled.status != 0)
        #expect(unenrolled.stderr.contains("has no recovery key"), "\(unenrolled.stderr)")
        #expect(try isEmpty(cli, destination))

        // And the real thing, after all that: the share comes back.
        let done = try recover(cli, cli.vault, destination, [parts[4], parts[3], parts[0]], passphrases: [p[4], p[3], p[0]])
        #expect(done.status == 0, "\(done.stderr)")
        #expect(try cli.run(["get", "--config", destination, "--stdout", "alice"]).stdout == "share of alice")
        #expect(try snapshot(cli.vault) == before, "recover wrote into its source")
    }
}
