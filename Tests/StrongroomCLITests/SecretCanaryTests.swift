import Foundation
import SecureCrypto
import Testing

/// Secrets searched for in everything a run of `strongroom` leaves where a user or an operator can
/// read it: raw, hex (either case) and base64 (standard and URL-safe, at each of the three byte
/// alignments, so a secret inside a longer base64 text is found too).
struct Canary {
    struct Needle {
        var label: String
        var bytes: [UInt8]
    }

    private(set) var needles: [Needle] = []

    mutating func add(_ label: String, _ bytes: [UInt8]) {
        precondition(bytes.count >= 8, "a needle shorter than 8 bytes would match by chance")
        needles.append(Needle(label: label, bytes: bytes))
    }

    mutating func add(_ label: String, _ text: String) { add(label, Array(text.utf8)) }

    /// Every form a needle is searched in, with its name.
    static func forms(of bytes: [UInt8]) -> [(form: String, bytes: [UInt8])] {
        let hex = bytes.map { String(format: "%02x", $0) }.joined()
        var forms: [(String, [UInt8])] = [("raw", bytes), ("hex", Array(hex.utf8)), ("HEX", Array(hex.uppercased().utf8))]
        for offset in 0..<3 where bytes.count - offset >= 9 {
            // The characters that do not depend on the bytes around the needle: drop the last
            // group of four (it mixes in the next byte, or is padding).
            let encoded = Data(bytes[offset...]).base64EncodedString()
            let stable = String(encoded.dropLast(4))
            forms.append(("base64@\(offset)", Array(stable.utf8)))
            let url = stable.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            if url != stable { forms.append(("base64url@\(offset)", Array(url.utf8))) }
        }
        return forms
    }

    /// What was found in `data`: "label (form) in where".
    func findings(in data: Data, where place: String) -> [String] {
        let haystack = [UInt8](data)
        var found: [String] = []
        for needle in needles {
            for (form, pattern) in Canary.forms(of: needle.bytes) where Canary.contains(haystack, pattern) {
                found.append("\(needle.label) (\(form)) in \(place)")
            }
        }
        return found
    }

    static func contains(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
        guard !needle.isEmpty, haystack.count >= needle.count else { return false }
        let first = needle[0]
        var index = 0
        while index <= haystack.count - needle.count {
            if haystack[index] == first && haystack[index..<index + needle.count].elementsEqual(needle) { return true }
            index += 1
        }
        return false
    }
}

/// Runs commands at `--log-level trace`, keeping every stdout and stderr, and scans them and every
/// file under the run's directory except the places secrets belong (the blob store, the root seed,
/// the files `get --output` was asked to write and the share files `put --file` read).
struct CanaryRun {
    var cli: CLI
    var transcripts: [(String, Data)] = []
    /// Paths (prefixes) not scanned: where secrets are meant to be.
    var excluded: [String] = []

    init(cli: CLI) { self.cli = cli }

    @discardableResult
    mutating func run(
        _ arguments: [String], stdin: Data? = nil, expect status: Int32 = 0, trace: Bool = true,
        sourceLocation: SourceLocation = #_sourceLocation
    ) throws -> CLI.Result {
        let full = trace ? arguments + ["--log-level", "trace"] : arguments
        let result = try cli.run(full, stdin: stdin)
        #expect(result.status == status, "\(arguments.joined(separator: " ")): \(result.stderr)", sourceLocation: sourceLocation)
        let name = arguments.prefix(3).joined(separator: " ")
        transcripts.append(("stdout of '\(name)'", result.stdoutBytes))
        transcripts.append(("stderr of '\(name)'", Data(result.stderr.utf8)))
        return result
    }

    /// Every regular file under the run's directory that is not excluded.
    func files() -> [String] {
        guard let walker = FileManager.default.enumerator(atPath: cli.directory) else { return [] }
        var paths: [String] = []
        while let relative = walker.nextObject() as? String {
            let path = "\(cli.directory)/\(relative)"
            guard !excluded.contains(where: { path == $0 || path.hasPrefix($0 + "/") }) else { continue }
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue {
                paths.append(path)
            }
        }
        return paths
    }

    /// Everything found, over transcripts and files.
    func findings(_ canary: Canary) -> [String] {
        var found: [String] = []
        for (place, data) in transcripts { found += canary.findings(in: data, where: place) }
        for path in files() {
            if let data = FileManager.default.contents(atPath: path) { found += canary.findings(in: data, where: path) }
        }
        return found
    }
}

/// The data keys of a vault's blobs, recovered from outside the process for the search: tier 1 by
/// unwrapping each blob's DEK with the KEK derived from the root seed (docs/format.md, with the
/// Python reference in scripts/format); tier 2 by asking the moto server's KMS to Decrypt each
/// blob's `CiphertextBlob` with the test credentials. (Tier 3 data keys never leave the HSM.)
enum DataKeys {
    static let formatDirectory = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scripts/format").path

    static let script = """
        import json, os, sys
        sys.path.insert(0, sys.argv[1])
        from strongroom_envelope import parse_envelope, derive_kek
        from cryptography.hazmat.primitives.keywrap import aes_key_unwrap
        mode = sys.argv[2]
        if mode == "local":
            vault, seed = sys.argv[3], open(sys.argv[4], "rb").read()
            vault_id = bytes.fromhex(json.load(open(os.path.join(vault, "vault.json")))["vaultID"])
            for root, _, names in os.walk(vault):
                for name in names:
                    if name.endswith(".srb"):
                        env = parse_envelope(open(os.path.join(root, name), "rb").read())
                        print(aes_key_unwrap(derive_kek(seed, vault_id, env.kek_version), env.wrapped_dek).hex())
        else:
            import boto3
            endpoint, bucket, prefix, region = sys.argv[3:7]
            s3 = boto3.client("s3", endpoint_url=endpoint, region_name=region)
            kms = boto3.client("kms", endpoint_url=endpoint, region_name=region)
            for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=prefix):
                for version in page.get("Versions", []):
                    body = s3.get_object(Bucket=bucket, Key=version["Key"], VersionId=version["VersionId"])["Body"].read()
                    try:
                        env = parse_envelope(body)
                    except Exception:
                        continue
                    context = {"strongroom:vault": env.vault_id.hex(), "strongroom:share": env.share_id,
                               "strongroom:version": str(env.share_version)}
                    print(kms.decrypt(CiphertextBlob=env.wrapped_dek, EncryptionContext=context)["Plaintext"].hex())
        """

    static func recover(_ arguments: [String], environment: [String: String] = [:]) throws -> [[UInt8]] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script, formatDirectory] + arguments
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let (data, errors) = CLI.drain(out, err)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "data key recovery failed: \(String(decoding: errors, as: UTF8.self))")
        return String(decoding: data, as: UTF8.self).split(separator: "\n").compactMap { line in
            let hex = Array(line.utf8)
            guard hex.count == 64 else { return nil }
            return stride(from: 0, to: 64, by: 2).compactMap { UInt8(String(decoding: hex[$0..<$0 + 2], as: UTF8.self), radix: 16) }
        }
    }
}

/// Item 2 of issue 11: no secret in any log, error, output or side file, at any log level. Every
/// command of every tier runs at `--log-level trace` through the real binary.
@Suite(.serialized) struct SecretCanaryTests {
    static func randomBytes(_ count: Int) -> [UInt8] { (0..<count).map { _ in UInt8.random(in: 0...255) } }

    /// The search itself finds each form of a planted secret, so the tests below can fail.
    @Test func canaryFindsAPlantedSecretInEveryForm() {
        var canary = Canary()
        let secret = Self.randomBytes(32)
        canary.add("planted", secret)
        let hex = secret.map { String(format: "%02x", $0) }.joined()
        #expect(!canary.findings(in: Data("key: \(hex)\n".utf8), where: "t").isEmpty)
        #expect(!canary.findings(in: Data("KEY=\(hex.uppercased())".utf8), where: "t").isEmpty)
        #expect(!canary.findings(in: Data([1, 2] + secret + [3]), where: "t").isEmpty)
        for prefix in 0..<3 {
            let embedded = Data(Array(repeating: UInt8(7), count: prefix) + secret + [9, 9]).base64EncodedString()
            #expect(!canary.findings(in: Data("{\"Plaintext\":\"\(embedded)\"}".utf8), where: "t").isEmpty, "offset \(prefix)")
        }
        #expect(canary.findings(in: Data("nothing secret here, just a long line of text".utf8), where: "t").isEmpty)
    }

    /// Tier 1 and FROST: init, put (stdin and --file), get, list, versions, status, rotate (dry run
    /// and real), erase, every frost command; the data keys come from the blobs and the root seed.
    @Test func tier1AndFrostLeakNothingAtTraceLevel() throws {
        var run = CanaryRun(cli: try CLI())
        defer { run.cli.cleanup() }
        let directory = run.cli.directory
        run.cli.environment["TMPDIR"] = "\(directory)/tmp"
        try FileManager.default.createDirectory(atPath: "\(directory)/tmp", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: "\(directory)/secret", withIntermediateDirectories: true)
        run.excluded = ["\(run.cli.vault)/shares", "\(run.cli.vault)/root.seed", "\(directory)/secret"]
        let config = try run.cli.writeConfig()
        var canary = Canary()
        let shares = (0..<3).map { _ in Self.randomBytes(32) }
        for (index, share) in shares.enumerated() { canary.add("share \(index)", share) }

        try run.run(["init", "--config", config])
        let seed = try #require(FileManager.default.contents(atPath: "\(run.cli.vault)/root.seed"))
        canary.add("root seed", [UInt8](seed))
        try run.run(["put", "--config", config, "alice", "--meta", "scheme=test"], stdin: Data(shares[0]))
        try run.run(["put", "--config", config, "alice"], stdin: Data(shares[1]))
        try Data(shares[2]).write(to: URL(fileURLWithPath: "\(directory)/secret/share.bin"))
        try run.run(["put", "--config", config, "bob", "--file", "\(directory)/secret/share.bin"])
        try run.run(["get", "--config", config, "alice", "--output", "\(directory)/secret/alice.bin"])
        try run.run(["get", "--config", config, "alice", "--version", "1", "--output", "\(directory)/secret/alice-1.bin"])
        try run.run(["list", "--config", config])
        try run.run(["versions", "--config", config, "alice"])
        try run.run(["status", "--config", config])
        try run.run(["rotate", "--config", config, "--dry-run"])
        try run.run(["rotate", "--config", config])
        try run.run(["get", "--config", config, "bob", "--output", "\(directory)/secret/bob.bin"])
        try run.run(["get", "--config", config, "nobody", "--output", "\(directory)/secret/none.bin"], expect: 66)
        try run.run(["frost", "keygen", "--config", config, "--group", "g", "--threshold", "2", "--participants", "3"])
        try run.run(["frost", "keygen", "--config", config, "--group", "d", "--threshold", "2", "--participants", "3", "--method", "dealer", "--ciphersuite", "secp256k1"])
        let signed = try run.run(["frost", "sign", "--config", config, "--group", "g", "--signers", "1,3", "--message", "pay 5", "--out", "\(directory)/sig.bin"])
        let signature = signed.stdout.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: " ").last.map(String.init) ?? ""
        try run.run(["frost", "verify", "--config", config, "--group", "g", "--signature", signature, "--message", "pay 5"])
        try run.run(["frost", "info", "--config", config, "--group", "g"])
        try run.run(["frost", "refresh", "--config", config, "--group", "g"])
        try run.run(["frost", "sign", "--config", config, "--group", "d", "--signers", "2,3", "--message", "x"])

        let dataKeys = try DataKeys.recover(["local", run.cli.vault, "\(run.cli.vault)/root.seed"])
        #expect(dataKeys.count >= 3 + 6, "a data key per blob")
        for (index, key) in dataKeys.enumerated() { canary.add("data key \(index)", key) }

        try run.run(["frost", "erase", "--config", config, "--group", "g", "--participant", "3", "--yes"])
        try run.run(["erase", "--config", config, "--yes", "bob"])
        try run.run(["erase", "--config", config, "--yes", "alice"])
        try run.run(["status", "--config", config])
        try run.run(["audit", "verify", "--config", config])
        try run.run(["audit", "show", "--json", "--config", config])
        try run.run(["audit", "show", "--config", config])
        // The audit log (issue 15) is among the files searched, and it recorded the run.
        #expect(run.files().contains("\(run.cli.vault)/audit/log.jsonl"), "the audit log is searched")

        // The search reaches what it must: a planted copy of a data key in HOME, and a share on the
        // standard output of `get --stdout` (which prints it by design).
        try Data(dataKeys[0].map { String(format: "%02x", $0) }.joined().utf8).write(
            to: URL(fileURLWithPath: "\(directory)/planted.txt"))
        #expect(run.findings(canary).contains { $0.hasPrefix("data key 0 (hex) in \(directory)/planted.txt") })
        try FileManager.default.removeItem(atPath: "\(directory)/planted.txt")
        var planted = run
        try planted.run(["put", "--config", config, "carol"], stdin: Data(shares[0]))
        try planted.run(["get", "--config", config, "carol", "--stdout"])
        #expect(planted.findings(canary).contains { $0.hasPrefix("share 0 (raw) in stdout of 'get --config") })

        let found = run.findings(canary)
        #expect(found.isEmpty, "secrets found: \(found.joined(separator: "; "))")
    }

    static func testEnvironment(_ names: [String]) throws -> [String: String] {
        let environment = ProcessInfo.processInfo.environment
        var values: [String: String] = [:]
        for name in names {
            values[name] = try #require(
                environment[name].flatMap { $0.isEmpty ? nil : $0 }, "\(name) is not set: run the suite with scripts/test")
        }
        return values
    }

    /// The lifecycle every tier shares, at trace level, with its outputs and side files kept.
    static func lifecycle(_ run: inout CanaryRun, config: String, shares: [[UInt8]]) throws {
        let directory = run.cli.directory
        try run.run(["put", "--config", config, "alice", "--meta", "scheme=test"], stdin: Data(shares[0]))
        try run.run(["put", "--config", config, "alice"], stdin: Data(shares[1]))
        try Data(shares[2]).write(to: URL(fileURLWithPath: "\(directory)/secret/share.bin"))
        try run.run(["put", "--config", config, "bob", "--file", "\(directory)/secret/share.bin"])
        try run.run(["get", "--config", config, "alice", "--output", "\(directory)/secret/alice.bin"])
        try run.run(["get", "--config", config, "alice", "--version", "1", "--output", "\(directory)/secret/alice-1.bin"])
        try run.run(["list", "--config", config])
        try run.run(["versions", "--config", config, "alice"])
        try run.run(["status", "--config", config])
        try run.run(["rotate", "--config", config, "--dry-run"])
        try run.run(["rotate", "--config", config])
        try run.run(["get", "--config", config, "bob", "--output", "\(directory)/secret/bob.bin"])
        try run.run(["frost", "keygen", "--config", config, "--group", "g", "--threshold", "2", "--participants", "3"])
        let signed = try run.run(["frost", "sign", "--config", config, "--group", "g", "--signers", "1,2", "--message", "m"])
        let signature = signed.stdout.trimmingCharacters(in: .whitespacesAndNewlines).split(separator: " ").last.map(String.init) ?? ""
        try run.run(["frost", "verify", "--config", config, "--group", "g", "--signature", signature, "--message", "m"])
        try run.run(["frost", "info", "--config", config, "--group", "g"])
        try run.run(["frost", "refresh", "--config", config, "--group", "g"])
    }

    static func finish(_ run: inout CanaryRun, config: String) throws {
        try run.run(["frost", "erase", "--config", config, "--group", "g", "--participant", "3", "--yes"])
        try run.run(["erase", "--config", config, "--yes", "bob"])
        try run.run(["erase", "--config", config, "--yes", "alice"])
        try run.run(["status", "--config", config])
        // Issue 15: the audit commands' output is searched too (the log itself: by each tier's test).
        try run.run(["audit", "verify", "--config", config])
        try run.run(["audit", "show", "--json", "--config", config])
        try run.run(["audit", "show", "--config", config])
    }

    static func prepare(_ run: inout CanaryRun) throws {
        let directory = run.cli.directory
        run.cli.environment["TMPDIR"] = "\(directory)/tmp"
        for sub in ["tmp", "secret"] {
            try FileManager.default.createDirectory(atPath: "\(directory)/\(sub)", withIntermediateDirectories: true)
        }
        run.excluded = ["\(run.cli.vault)/shares", "\(run.cli.vault)/root.seed", "\(directory)/secret"]
    }

    /// Tier 2 against moto: the AWS secret access key and the data keys KMS hands out (recovered
    /// with KMS Decrypt on every blob version in the bucket, before erase).
    @Test func tier2LeaksNothingAtTraceLevel() throws {
        let env = try Self.testEnvironment([
            "STRONGROOM_TEST_S3_ENDPOINT", "STRONGROOM_TEST_S3_BUCKET", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
        ])
        var run = CanaryRun(cli: try CLI())
        defer { run.cli.cleanup() }
        try Self.prepare(&run)
        run.cli.environment["AWS_ACCESS_KEY_ID"] = env["AWS_ACCESS_KEY_ID"]
        run.cli.environment["AWS_SECRET_ACCESS_KEY"] = env["AWS_SECRET_ACCESS_KEY"]
        let endpoint = env["STRONGROOM_TEST_S3_ENDPOINT"]!, bucket = env["STRONGROOM_TEST_S3_BUCKET"]!
        let prefix = "canary-\(UUID().uuidString.prefix(8).lowercased())/"
        let config = try run.cli.writeConfig(
            "cloud.yaml", "tier: cloud\ncloud:\n  endpoint: \(endpoint)\n  bucket: \(bucket)\n  prefix: \(prefix)\n  keyDeletionWindowDays: 7\n")
        var canary = Canary()
        canary.add("AWS secret access key", env["AWS_SECRET_ACCESS_KEY"]!)
        let shares = (0..<3).map { _ in Self.randomBytes(32) }
        for (index, share) in shares.enumerated() { canary.add("share \(index)", share) }
        try run.run(["init", "--config", config])
        try Self.lifecycle(&run, config: config, shares: shares)
        let dataKeys = try DataKeys.recover(
            ["cloud", endpoint, bucket, prefix, "us-east-1"],
            environment: ["AWS_ACCESS_KEY_ID": env["AWS_ACCESS_KEY_ID"]!, "AWS_SECRET_ACCESS_KEY": env["AWS_SECRET_ACCESS_KEY"]!])
        #expect(dataKeys.count >= 6, "a data key per blob version")
        for (index, key) in dataKeys.enumerated() { canary.add("data key \(index)", key) }
        try Self.finish(&run, config: config)
        // The audit log's segment objects in the bucket (issue 15).
        let segments = try S3Objects.run(["dump", endpoint, bucket, prefix + "audit/"])
        let objects = try #require(try JSONSerialization.jsonObject(with: Data(segments.utf8)) as? [String: String])
        #expect(!objects.isEmpty, "the audit log has segments in s3://\(bucket)/\(prefix)audit/")
        for (key, hex) in objects {
            run.transcripts.append(("s3://\(bucket)/\(key)", Data(Hex.decode(hex) ?? [])))
        }
        // Refused credentials: the wrong secret given is not echoed either.
        canary.add("wrong secret", "definitely-wrong-secret-0123")
        #expect(try run.cli.run(["init", "--config", config]).status == 73)
        let refused = try run.cli.run(
            ["get", "--config", config, "--stdout", "alice", "--log-level", "trace"],
            environment: ["AWS_SECRET_ACCESS_KEY": "definitely-wrong-secret-0123", "STRONGROOM_CLOUD_MAX_ATTEMPTS": "1"])
        run.transcripts.append(("stderr of refused get", Data(refused.stderr.utf8)))
        #expect(refused.status != 0)
        let found = run.findings(canary)
        #expect(found.isEmpty, "secrets found: \(found.joined(separator: "; "))")
    }

    /// Tier 3 against SoftHSM: the PIN and the shares (data keys never leave the token), and
    /// `hsm check`.
    @Test func tier3LeaksNothingAtTraceLevel() throws {
        let env = try Self.testEnvironment([
            "STRONGROOM_TEST_HSM_MODULE", "STRONGROOM_TEST_HSM_TOKEN", "STRONGROOM_TEST_HSM_PIN", "SOFTHSM2_CONF",
        ])
        var run = CanaryRun(cli: try CLI())
        defer { run.cli.cleanup() }
        try Self.prepare(&run)
        run.cli.environment["SOFTHSM2_CONF"] = env["SOFTHSM2_CONF"]
        run.cli.environment["STRONGROOM_HSM_PIN"] = env["STRONGROOM_TEST_HSM_PIN"]
        let module = env["STRONGROOM_TEST_HSM_MODULE"]!, token = env["STRONGROOM_TEST_HSM_TOKEN"]!
        var canary = Canary()
        canary.add("HSM PIN", env["STRONGROOM_TEST_HSM_PIN"]!)
        let shares = (0..<3).map { _ in Self.randomBytes(32) }
        for (index, share) in shares.enumerated() { canary.add("share \(index)", share) }
        try run.run(["hsm", "check", "--module", module, "--token", token])
        let config = try run.cli.writeConfig(
            "hsm.yaml", "tier: hsm\nhsm:\n  module: \(module)\n  tokenLabel: \(token)\n  blobPath: \(run.cli.vault)\n")
        try run.run(["init", "--config", config])
        try Self.lifecycle(&run, config: config, shares: shares)
        try Self.finish(&run, config: config)
        let refused = try run.cli.run(
            ["get", "--config", config, "--stdout", "alice", "--log-level", "trace"],
            environment: ["STRONGROOM_HSM_PIN": "wrong-pin-canary-99"])
        canary.add("wrong PIN", "wrong-pin-canary-99")
        run.transcripts.append(("stderr of refused get", Data(refused.stderr.utf8)))
        #expect(run.files().contains("\(run.cli.vault)/audit/log.jsonl"), "the audit log is searched")
        let found = run.findings(canary)
        #expect(found.isEmpty, "secrets found: \(found.joined(separator: "; "))")
    }

    /// `strongroom demo` at trace level across the three tiers (SoftHSM and moto from scripts/test),
    /// its vaults kept in a directory of the run: the root seeds and data keys of the tier 1
    /// vaults it leaves, the PIN and the AWS secret are searched for.
    @Test func demoLeaksNothingAtTraceLevel() throws {
        let env = try Self.testEnvironment([
            "STRONGROOM_TEST_HSM_MODULE", "STRONGROOM_TEST_HSM_TOKEN", "STRONGROOM_TEST_HSM_PIN", "SOFTHSM2_CONF",
            "STRONGROOM_TEST_S3_ENDPOINT", "STRONGROOM_TEST_S3_BUCKET", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
        ])
        var run = CanaryRun(cli: try CLI())
        defer { run.cli.cleanup() }
        try Self.prepare(&run)
        run.cli.environment.merge([
            "SOFTHSM2_CONF": env["SOFTHSM2_CONF"]!, "STRONGROOM_HSM_MODULE": env["STRONGROOM_TEST_HSM_MODULE"]!,
            "STRONGROOM_HSM_TOKEN": env["STRONGROOM_TEST_HSM_TOKEN"]!, "STRONGROOM_HSM_PIN": env["STRONGROOM_TEST_HSM_PIN"]!,
            "STRONGROOM_DEMO_S3_ENDPOINT": env["STRONGROOM_TEST_S3_ENDPOINT"]!,
            "STRONGROOM_DEMO_S3_BUCKET": env["STRONGROOM_TEST_S3_BUCKET"]!,
            "AWS_ACCESS_KEY_ID": env["AWS_ACCESS_KEY_ID"]!, "AWS_SECRET_ACCESS_KEY": env["AWS_SECRET_ACCESS_KEY"]!,
        ]) { $1 }
        var canary = Canary()
        canary.add("HSM PIN", env["STRONGROOM_TEST_HSM_PIN"]!)
        canary.add("AWS secret access key", env["AWS_SECRET_ACCESS_KEY"]!)
        let demo = "\(run.cli.directory)/demo"
        let result = try run.run(["demo", "--dir", demo])
        #expect(!result.stdout.isEmpty, "the demo printed its steps")
        // The tier 1 vaults the demo left: their seeds and data keys are needles, their blob
        // stores and seed files are where secrets belong.
        let walker = FileManager.default.enumerator(atPath: demo)
        while let relative = walker?.nextObject() as? String {
            guard relative.hasSuffix("root.seed") else { continue }
            let seedPath = "\(demo)/\(relative)"
            let vault = (seedPath as NSString).deletingLastPathComponent
            run.excluded += [seedPath, "\(vault)/shares"]
            if let seed = FileManager.default.contents(atPath: seedPath), seed.count == 32 {
                canary.add("demo root seed \(relative)", [UInt8](seed))
            }
            if FileManager.default.fileExists(atPath: "\(vault)/vault.json") {
                for (index, key) in try DataKeys.recover(["local", vault, seedPath]).enumerated() {
                    canary.add("demo data key \(index) of \(relative)", key)
                }
            }
        }
        let found = run.findings(canary)
        #expect(found.isEmpty, "secrets found: \(found.joined(separator: "; "))")
    }
}
