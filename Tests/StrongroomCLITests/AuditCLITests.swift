import Foundation
import SecureCrypto
import Testing

/// A vault on one tier for the audit tests, with the means to read and rewrite its audit log from
/// outside Strongroom, as an attacker with write access to the storage would: tiers 1 and 3 the file
/// `<vault>/audit/log.jsonl`, tier 2 the segment objects `<prefix>audit/*.jsonl` in the moto bucket.
struct AuditVault {
    enum Tier: String, CaseIterable, CustomStringConvertible {
        case local, cloud, hsm
        var description: String { rawValue }
    }

    /// One stored piece of the log: the file (tiers 1, 3) or a segment object (tier 2), as lines
    /// (each with its newline, a torn last one without).
    struct Segment: Equatable {
        var key: String
        var lines: [[UInt8]]
    }

    var cli: CLI
    let tier: Tier
    let config: String
    /// Tier 2: endpoint, bucket, prefix.
    let cloud: (endpoint: String, bucket: String, prefix: String)?

    /// Makes and initialises a vault of `tier` (SoftHSM and moto from scripts/test).
    static func make(_ tier: Tier) throws -> AuditVault {
        var cli = try CLI()
        let environment = ProcessInfo.processInfo.environment
        func value(_ name: String) throws -> String {
            try #require(environment[name].flatMap { $0.isEmpty ? nil : $0 }, "\(name) is not set: run the suite with scripts/test")
        }
        let config: String
        var cloud: (String, String, String)?
        switch tier {
        case .local:
            config = try cli.writeConfig()
        case .cloud:
            cli.environment["AWS_ACCESS_KEY_ID"] = try value("AWS_ACCESS_KEY_ID")
            cli.environment["AWS_SECRET_ACCESS_KEY"] = try value("AWS_SECRET_ACCESS_KEY")
            let endpoint = try value("STRONGROOM_TEST_S3_ENDPOINT"), bucket = try value("STRONGROOM_TEST_S3_BUCKET")
            let prefix = "audit-\(UUID().uuidString.prefix(8).lowercased())/"
            config = try cli.writeConfig(
                "cloud.yaml",
                "tier: cloud\ncloud:\n  endpoint: \(endpoint)\n  bucket: \(bucket)\n  prefix: \(prefix)\n  keyDeletionWindowDays: 7\n")
            cloud = (endpoint, bucket, prefix)
        case .hsm:
            cli.environment["SOFTHSM2_CONF"] = try value("SOFTHSM2_CONF")
            cli.environment["STRONGROOM_HSM_PIN"] = try value("STRONGROOM_TEST_HSM_PIN")
            config = try cli.writeConfig(
                "hsm.yaml",
                "tier: hsm\nhsm:\n  module: \(try value("STRONGROOM_TEST_HSM_MODULE"))\n  tokenLabel: \(try value("STRONGROOM_TEST_HSM_TOKEN"))\n  blobPath: \(cli.vault)\n")
        }
        let vault = AuditVault(cli: cli, tier: tier, config: config, cloud: cloud)
        let created = try vault.run(["init"])
        try #require(created.status == 0, "init (\(tier)): \(created.stderr)")
        return vault
    }

    /// Runs `strongroom ARGS --config CONFIG`.
    @discardableResult
    func run(_ arguments: [String], stdin: Data? = nil, environment: [String: String] = [:]) throws -> CLI.Result {
        try cli.run(arguments + ["--config", config], stdin: stdin, environment: environment)
    }

    /// `put ID` with `value`, which must succeed.
    func put(_ id: String, _ value: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let result = try run(["put", id], stdin: Data(value.utf8))
        #expect(result.status == 0, "put \(id) (\(tier)): \(result.stderr)", sourceLocation: sourceLocation)
    }

    /// The records `audit show --json ARGS` prints, each parsed.
    func records(_ arguments: [String] = [], sourceLocation: SourceLocation = #_sourceLocation) throws -> [[String: Any]] {
        let shown = try run(["audit", "show", "--json"] + arguments)
        #expect(shown.status == 0, "audit show (\(tier)): \(shown.stderr)", sourceLocation: sourceLocation)
        return try shown.stdout.split(separator: "\n").map { line in
            try #require(try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any], "not a JSON object: \(line)")
        }
    }

    /// `audit verify --json`: the exit status, the parsed summary (when it printed one) and stderr.
    func verify() throws -> (status: Int32, summary: [String: Any]?, stderr: String) {
        let result = try run(["audit", "verify", "--json"])
        let summary = try? JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any]
        return (result.status, summary, result.stderr)
    }

    var logFile: String { "\(cli.vault)/audit/log.jsonl" }

    /// The log as stored, in order.
    func segments() throws -> [Segment] {
        if let cloud {
            let dumped = try S3Objects.run(["dump", cloud.endpoint, cloud.bucket, cloud.prefix + "audit/"])
            let object = try #require(try JSONSerialization.jsonObject(with: Data(dumped.utf8)) as? [String: String])
            return object.keys.sorted().map { Segment(key: $0, lines: AuditVault.lines(Hex.decode(object[$0]!) ?? [])) }
        }
        let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: logFile)))
        return [Segment(key: logFile, lines: AuditVault.lines(bytes))]
    }

    /// Rewrites the stored log from `old` to `new`: changed pieces are overwritten in place (the file
    /// keeps its inode and mode), pieces that became empty are deleted, new ones created.
    func replace(_ old: [Segment], with new: [Segment]) throws {
        if let cloud {
            var puts: [String: String] = [:]
            var deletes: [String] = []
            let newByKey = Dictionary(uniqueKeysWithValues: new.map { ($0.key, $0) })
            for segment in old where newByKey[segment.key] == nil || newByKey[segment.key]!.lines.isEmpty {
                deletes.append(segment.key)
            }
            for segment in new where !segment.lines.isEmpty && old.first(where: { $0.key == segment.key }) != segment {
                puts[segment.key] = Hex.encode(segment.lines.flatMap { $0 })
            }
            let plan = try JSONSerialization.data(withJSONObject: ["put": puts, "delete": deletes])
            _ = try S3Objects.run(["apply", cloud.endpoint, cloud.bucket], stdin: plan)
            return
        }
        let bytes = new.flatMap { $0.lines.flatMap { $0 } }
        let handle = try #require(FileHandle(forUpdatingAtPath: logFile))
        try handle.truncate(atOffset: 0)
        try handle.write(contentsOf: Data(bytes))
        try handle.close()
    }

    /// Lines of `bytes`, each with its `\n`; a last piece without one is kept as it is.
    static func lines(_ bytes: [UInt8]) -> [[UInt8]] {
        var lines: [[UInt8]] = []
        var start = 0
        for (index, byte) in bytes.enumerated() where byte == UInt8(ascii: "\n") {
            lines.append(Array(bytes[start...index]))
            start = index + 1
        }
        if start < bytes.count { lines.append(Array(bytes[start...])) }
        return lines
    }

    func cleanup() { cli.cleanup() }
}

/// Reads and rewrites S3 objects of the moto server with boto3 (the test credentials from the
/// environment scripts/test sets), as someone with write access to the bucket would.
enum S3Objects {
    static let script = """
        import json, sys, boto3
        command, endpoint, bucket = sys.argv[1:4]
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        if command == "dump":
            prefix, found = sys.argv[4], {}
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    found[item["Key"]] = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read().hex()
            print(json.dumps(found))
        else:
            plan = json.load(sys.stdin)
            for key, body in plan["put"].items():
                s3.put_object(Bucket=bucket, Key=key, Body=bytes.fromhex(body))
            for key in plan["delete"]:
                s3.delete_object(Bucket=bucket, Key=key)
        """

    static func run(_ arguments: [String], stdin: Data? = nil) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script] + arguments
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        if let stdin { try input.fileHandleForWriting.write(contentsOf: stdin) }
        try input.fileHandleForWriting.close()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        let errors = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        try #require(process.terminationStatus == 0, "boto3 \(arguments[0]) failed: \(String(decoding: errors, as: UTF8.self))")
        return String(decoding: data, as: UTF8.self)
    }
}

/// Issue 15 through the real binary: every operation is recorded, `audit show` filters, `audit
/// verify` detects every kind of tampering on every tier, a torn tail is not tampering, and a log
/// that cannot be written stops the operation (fail-closed) unless best-effort is set.
@Suite(.serialized) struct AuditCLITests {
    static func seq(_ record: [String: Any]) -> Int { (record["seq"] as? Int) ?? -1 }
    static func op(_ record: [String: Any]) -> String { (record["op"] as? String) ?? "" }

    /// put/get/list/versions/erase/rotate and a failed get each leave a record with the right
    /// fields; the chain links; the first record is `init`; every command ends with a checkpoint
    /// that vault.json names.
    @Test func everyOperationIsRecordedWithItsFields() throws {
        let vault = try AuditVault.make(.local)
        defer { vault.cleanup() }
        try vault.put("alice", "first")
        try vault.put("alice", "second")
        #expect(try vault.run(["get", "alice", "--version", "1", "--stdout"]).stdout == "first")
        #expect(try vault.run(["get", "nobody", "--stdout"]).status == 66)
        #expect(try vault.run(["list"]).status == 0)
        #expect(try vault.run(["versions", "alice"]).status == 0)
        #expect(try vault.run(["rotate"]).status == 0)
        #expect(try vault.run(["erase", "alice", "--yes"]).status == 0)

        let records = try vault.records()
        try #require(records.count > 8)
        let vaultID = try #require(
            (try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(vault.cli.vault)/vault.json"))) as? [String: Any])?["vaultID"] as? String)
        var previous = String(repeating: "0", count: 64)
        for (index, record) in records.enumerated() {
            #expect(record["v"] as? Int == 1)
            #expect(Self.seq(record) == index + 1, "seq \(Self.seq(record)) at position \(index)")
            #expect(record["prev"] as? String == previous, "record \(index + 1) links to its predecessor")
            previous = record["hash"] as? String ?? ""
            #expect(record["vault"] as? String == vaultID)
            #expect(record["tier"] as? String == "local")
            let actor = try #require(record["actor"] as? [String: Any])
            #expect(actor["uid"] as? Int == Int(getuid()))
            #expect((actor["pid"] as? Int ?? 0) > 0)
            #expect(actor["host"] is String)
            #expect(((record["time"] as? String) ?? "").hasSuffix("Z"))
        }
        let first = records[0]
        #expect(Self.op(first) == "init")
        #expect(first["kek"] as? [Int] == [1])

        func find(_ op: String, share: String? = nil) -> [[String: Any]] {
            records.filter { Self.op($0) == op && (share == nil || $0["share"] as? String == share) }
        }
        let stores = find("store", share: "alice")
        #expect(stores.map { $0["versions"] as? [Int] ?? [] } == [[1], [2]])
        #expect(stores.allSatisfy { $0["outcome"] as? String == "ok" && $0["error"] is NSNull })
        let loads = find("load", share: "alice")
        #expect(loads.count == 1 && loads.first?["versions"] as? [Int] == [1])
        let missing = try #require(find("load", share: "nobody").first)
        #expect(missing["outcome"] as? String == "error")
        let error = try #require(missing["error"] as? [String: Any])
        #expect(error["code"] as? String == "share not found")
        #expect(error["exit"] as? Int == 66)
        #expect(!find("list").isEmpty)
        #expect(!find("versions", share: "alice").isEmpty)
        let rotated = find("rotate.finish")
        #expect(!find("rotate.start").isEmpty && !rotated.isEmpty)
        #expect(rotated.last.map { ($0["kek"] as? [Int] ?? []).contains(2) } == true, "rotate.finish names KEK version 2")
        let erased = try #require(find("erase", share: "alice").last)
        #expect(erased["outcome"] as? String == "ok")

        // The CLI checkpoints before it exits: each command's last record is a checkpoint (`audit
        // show` too, after it printed), and vault.json names the latest one.
        #expect(records.last.map(Self.op) == "audit.checkpoint")
        let stored = try #require(try vault.segments().flatMap(\.lines).last)
        let last = try #require(try JSONSerialization.jsonObject(with: Data(stored)) as? [String: Any])
        #expect(Self.op(last) == "audit.checkpoint")
        #expect(last["alg"] as? String == "HMAC-SHA256")
        #expect(((last["mac"] as? String) ?? "").count == 64)
        let state = try #require(
            try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: "\(vault.cli.vault)/vault.json"))) as? [String: Any])
        let anchor = try #require(state["audit"] as? [String: Any], "vault.json names the latest checkpoint")
        #expect(anchor["seq"] as? Int == Self.seq(last))
        #expect(anchor["hash"] as? String == last["hash"] as? String)
        // A failed command checkpoints too.
        #expect(try vault.run(["get", "nobody", "--stdout"]).status == 66)
        #expect(try vault.records().last.map(Self.op) == "audit.checkpoint")

        let verified = try vault.verify()
        #expect(verified.status == 0, "\(verified.stderr)")
        #expect(verified.summary?["tornTailBytes"] as? Int == 0)
        #expect((verified.summary?["checkpoints"] as? Int ?? 0) >= 9)
        #expect(try vault.records(["--op", "audit.verify"]).count == 1, "a passing verify is recorded")
    }

    /// --share, --op (a group: frost matches frost.*), --since (ISO 8601, date, age), the text form
    /// and its note that show does not verify; FROST keygen/sign/refresh/erase are recorded.
    @Test func showFiltersAndFrostRecords() throws {
        let vault = try AuditVault.make(.local)
        defer { vault.cleanup() }
        try vault.put("alice", "a")
        try vault.put("bob", "b")
        #expect(try vault.run(["get", "bob", "--stdout"]).status == 0)
        #expect(try vault.run(["frost", "keygen", "--group", "g", "--threshold", "2", "--participants", "3"]).status == 0)
        #expect(try vault.run(["frost", "sign", "--group", "g", "--signers", "1,2", "--message", "pay 5"]).status == 0)
        #expect(try vault.run(["frost", "refresh", "--group", "g"]).status == 0)
        #expect(try vault.run(["frost", "erase", "--group", "g", "--participant", "3", "--yes"]).status == 0)
        let repaired = try vault.run(["frost", "repair", "--group", "g", "--participant", "3", "--helpers", "1,2"])
        #expect(repaired.status == 0, "\(repaired.stderr)")

        let bob = try vault.records(["--share", "bob"])
        #expect(bob.map(Self.op) == ["store", "load"])
        let frost = try vault.records(["--op", "frost"])
        #expect(
            Set(frost.map(Self.op)) == ["frost.keygen", "frost.sign", "frost.refresh", "frost.erase", "frost.repair"],
            "\(frost.map(Self.op))")
        #expect(frost.allSatisfy { $0["outcome"] as? String == "ok" })
        let repair = try #require(frost.first { Self.op($0) == "frost.repair" })
        #expect(repair["share"] as? String == "frost.g.p3")
        #expect((repair["versions"] as? [Int])?.isEmpty == false)
        #expect((repair["details"] as? [String: String])?["frost.helpers"] == "1,2")
        let sign = try #require(frost.first { Self.op($0) == "frost.sign" })
        let details = try #require(sign["details"] as? [String: String])
        #expect(details["message.sha256"] == SHA256.hexHash(Array("pay 5".utf8)))
        #expect(details["frost.group"] == "g" && details["frost.signers"] == "1,2")
        #expect(try vault.records(["--op", "frost.sign"]).count == frost.filter { Self.op($0) == "frost.sign" }.count)
        #expect(try vault.records(["--op", "stor"]).isEmpty, "--op matches whole names or dotted groups")

        for since in ["2000-01-01", "2000-01-01T00:00:00Z", "1h", "90s", "15m", "7d"] {
            #expect(try vault.records(["--share", "bob", "--since", since]).count == 2, "--since \(since)")
        }
        #expect(try vault.records(["--since", "2999-01-01"]).isEmpty)
        #expect(try vault.records(["--since", "2999-01-01T10:00:00Z"]).isEmpty)
        // Only what was written after a moment: a put after it, not the ones before.
        Thread.sleep(forTimeInterval: 1.1)
        let moment = ISO8601DateFormatter().string(from: Date())
        Thread.sleep(forTimeInterval: 1.1)
        try vault.put("carol", "c")
        #expect(try vault.records(["--since", moment, "--op", "store"]).compactMap { $0["share"] as? String } == ["carol"])
        let bad = try vault.run(["audit", "show", "--since", "yesterday"])
        #expect(bad.status == 64)
        #expect(bad.stderr.contains("--since"))

        let text = try vault.run(["audit", "show", "--share", "bob"])
        #expect(text.status == 0)
        #expect(text.stderr.contains("does not verify") && text.stderr.contains("audit verify"))
        let lines = text.stdout.split(separator: "\n")
        #expect(lines.count == 2)
        #expect(lines.first.map { $0.contains("store") && $0.contains("bob") && $0.contains("v1") && $0.hasSuffix("ok") } == true, "\(lines)")
        #expect(Set(lines.map { $0.range(of: "bob")!.lowerBound.utf16Offset(in: $0) }).count == 1, "aligned columns")
    }

    /// Every kind of tampering, on every tier, through the binary: exit 65 naming the first bad
    /// record; the log put back verifies again.
    @Test(arguments: AuditVault.Tier.allCases)
    func verifyDetectsEveryKindOfTampering(_ tier: AuditVault.Tier) throws {
        let vault = try AuditVault.make(tier)
        defer { vault.cleanup() }
        for index in 0..<4 { try vault.put("s\(index)", "value \(index)") }
        let clean = try vault.verify()
        try #require(clean.status == 0, "a fresh log verifies (\(tier)): \(clean.stderr)")

        typealias Tamper = (inout [[UInt8]], Int) -> Void
        let kinds: [(String, Tamper)] = [
            ("changed", { lines, i in lines[i] = AuditCLITests.changePID(lines[i]) }),
            ("deleted", { lines, i in lines.remove(at: i) }),
            ("inserted", { lines, i in lines.insert(lines[i], at: i + 1) }),
            ("reordered", { lines, i in lines.swapAt(i, i + 1) }),
            ("truncated", { lines, _ in lines.removeLast(2) }),
        ]
        for (kind, tamper) in kinds {
            let before = try vault.segments()
            let flat = before.flatMap(\.lines)
            // A store record in the middle of the log.
            let target = try #require(
                flat.indices.dropFirst().dropLast(3).first { String(decoding: flat[$0], as: UTF8.self).contains("\"op\":\"store\"") })
            var lines = flat
            tamper(&lines, target)
            try vault.replace(before, with: AuditCLITests.regroup(lines, like: before))
            let result = try vault.verify()
            #expect(result.status == 65, "\(kind) (\(tier)): exit \(result.status): \(result.stderr)")
            #expect(result.stderr.contains("tamper") || result.stderr.contains("audit"), "\(kind) (\(tier)): \(result.stderr)")
            if kind != "truncated" {
                let named = [target + 1, target + 2].contains { AuditCLITests.names(result.stderr, seq: $0) }
                #expect(named, "\(kind) (\(tier)) names record \(target + 1) or \(target + 2): \(result.stderr)")
            }
            try vault.replace(try vault.segments(), with: before)
            let restored = try vault.verify()
            #expect(restored.status == 0, "\(kind) (\(tier)) put back: \(restored.stderr)")
        }

        // Rolled back: the log as it was, after later operations moved vault.json's checkpoint on.
        let snapshot = try vault.segments()
        try vault.put("late", "after the snapshot")
        try vault.replace(try vault.segments(), with: snapshot)
        let rolledBack = try vault.verify()
        #expect(rolledBack.status == 65, "rolled back (\(tier)): \(rolledBack.stderr)")
        #expect(rolledBack.stderr.contains("vault.json") || rolledBack.stderr.contains("checkpoint"), "\(rolledBack.stderr)")
    }

    /// A record whose pid digit changed (its hash no longer matches).
    static func changePID(_ line: [UInt8]) -> [UInt8] {
        var text = String(decoding: line, as: UTF8.self)
        guard let range = text.range(of: "\"pid\":") else { return line }
        let digit = text.index(range.upperBound, offsetBy: 0)
        let old = text[digit]
        text.replaceSubrange(digit...digit, with: old == "9" ? "8" : String(Character(UnicodeScalar(old.asciiValue! + 1))))
        return Array(text.utf8)
    }

    /// `lines` spread over pieces keyed like `old`: the same number of lines per piece in order, the
    /// rest (or a shortage) on the last pieces; for tier 2 a piece left empty is deleted.
    static func regroup(_ lines: [[UInt8]], like old: [AuditVault.Segment]) -> [AuditVault.Segment] {
        var remaining = lines[...]
        var result: [AuditVault.Segment] = []
        for (index, segment) in old.enumerated() {
            let count = index == old.count - 1 ? remaining.count : min(segment.lines.count, remaining.count)
            result.append(AuditVault.Segment(key: segment.key, lines: Array(remaining.prefix(count))))
            remaining = remaining.dropFirst(count)
        }
        return result
    }

    /// Whether `message` names record `seq` (as "seq N" or "record N").
    static func names(_ message: String, seq: Int) -> Bool {
        let pattern = "(seq|record)[^0-9]{0,3}\(seq)([^0-9]|$)"
        return message.range(of: pattern, options: .regularExpression) != nil
    }

    /// A torn last record (half a line appended, as a kill mid-append leaves) verifies with a
    /// warning; the next put cuts it off and records that it did.
    @Test(arguments: [AuditVault.Tier.local, .hsm])
    func tornTailIsReportedAndRepairedByTheNextWrite(_ tier: AuditVault.Tier) throws {
        let vault = try AuditVault.make(tier)
        defer { vault.cleanup() }
        try vault.put("alice", "a")
        let torn = Array("{\"v\":1,\"seq\":99,\"prev\":\"00".utf8)
        func tear() throws {
            let handle = try #require(FileHandle(forUpdatingAtPath: vault.logFile))
            try handle.seekToEnd()
            try handle.write(contentsOf: Data(torn))
            try handle.close()
        }

        // verify reports it (exit 0, a warning), then records itself, which cuts it off.
        try tear()
        let text = try vault.run(["audit", "verify"])
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.contains("torn tail:") && text.stdout.contains("\(torn.count) byte(s)"), "\(text.stdout)")
        #expect(text.stderr.contains("torn"), "\(text.stderr)")
        try tear()
        let verified = try vault.verify()
        #expect(verified.status == 0, "\(verified.stderr)")
        #expect(verified.summary?["tornTailBytes"] as? Int == torn.count)

        // The next put cuts it off too, and records that it did.
        try tear()
        try vault.put("bob", "b")
        let repairs = try vault.records(["--op", "audit.torn-tail"])
        #expect(repairs.count == 3, "one repair per tear: \(repairs.count)")
        let details = try #require(repairs.last?["details"] as? [String: String])
        #expect(details["bytes"] == "\(torn.count)")
        #expect(details["sha256"] == SHA256.hexHash(torn))
        let after = try vault.verify()
        #expect(after.status == 0 && after.summary?["tornTailBytes"] as? Int == 0, "\(after.stderr)")
        #expect(try vault.run(["get", "bob", "--stdout"]).stdout == "b")
    }

    /// Fail-closed: with the audit directory replaced by a file, `put` fails with a clear error and
    /// stores nothing; with the log replaced by a directory, `get` releases nothing. Best-effort
    /// (STRONGROOM_AUDIT_MODE) goes on with a warning. `status` shows the mode.
    @Test(arguments: [AuditVault.Tier.local, .hsm])
    func auditFailureStopsTheOperationUnlessBestEffort(_ tier: AuditVault.Tier) throws {
        let vault = try AuditVault.make(tier)
        defer { vault.cleanup() }
        try vault.put("alice", "the secret")
        let status = try vault.run(["status"])
        #expect(status.stdout.contains("fail-closed"), "\(status.stdout)")
        let audit = "\(vault.cli.vault)/audit"
        let saved = "\(vault.cli.directory)/audit-saved"
        try FileManager.default.moveItem(atPath: audit, toPath: saved)
        try Data("not a directory".utf8).write(to: URL(fileURLWithPath: audit))

        let put = try vault.run(["put", "bob"], stdin: Data("bob secret".utf8))
        #expect(put.status == 74 || put.status == 65, "\(put.stderr)")
        #expect(put.stderr.contains("audit"), "the error names the audit log: \(put.stderr)")
        #expect(put.stdout.isEmpty)
        #expect(!FileManager.default.fileExists(atPath: "\(vault.cli.vault)/shares/bob/1.srb"), "nothing stored")

        try FileManager.default.removeItem(atPath: audit)
        try FileManager.default.createDirectory(atPath: audit, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        try FileManager.default.createDirectory(atPath: "\(audit)/log.jsonl", withIntermediateDirectories: false)
        let get = try vault.run(["get", "alice", "--stdout"])
        #expect(get.status != 0)
        #expect(get.stdoutBytes.isEmpty, "nothing released")
        #expect(get.stderr.contains("audit"), "\(get.stderr)")

        let bestEffort = ["STRONGROOM_AUDIT_MODE": "best-effort"]
        let loose = try vault.run(["get", "alice", "--stdout"], environment: bestEffort)
        #expect(loose.status == 0, "\(loose.stderr)")
        #expect(loose.stdout == "the secret")
        #expect(loose.stderr.lowercased().contains("warning") && loose.stderr.contains("audit"), "\(loose.stderr)")
        let loosePut = try vault.run(["put", "carol"], stdin: Data("c".utf8), environment: bestEffort)
        #expect(loosePut.status == 0, "\(loosePut.stderr)")
        #expect(try vault.run(["get", "carol", "--stdout"], environment: bestEffort).stdout == "c")

        try FileManager.default.removeItem(atPath: audit)
        try FileManager.default.moveItem(atPath: saved, toPath: audit)
        let looseStatus = try vault.run(["status"], environment: bestEffort)
        #expect(looseStatus.stdout.contains("best-effort"), "\(looseStatus.stdout)")
        #expect(try vault.run(["status", "--json"], environment: bestEffort).stdout.contains("best-effort"))
        #expect(try vault.run(["status"]).stdout.contains("fail-closed"))
        #expect(try vault.verify().status == 0)
    }

    /// `hsm check` with a tier 3 vault configured is recorded in its log.
    @Test func hsmCheckIsRecordedInTheConfiguredVault() throws {
        let vault = try AuditVault.make(.hsm)
        defer { vault.cleanup() }
        let check = try vault.run(["hsm", "check"])
        #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
        let records = try vault.records(["--op", "hsm.check"])
        #expect(records.count == 1)
        let details = try #require(records.first?["details"] as? [String: String])
        #expect(details["failed"] == "0")
        #expect(records.first?["outcome"] as? String == "ok")
    }
}
