import Foundation
import Testing

/// `strongroom status` shows the audit settings (issue 15): mode, log, MAC key, latest checkpoint.
@Suite struct StatusAuditCLITests {
    @Test func statusShowsTheAuditModeLogKeyAndCheckpoint() throws {
        let cli = try CLI()
        defer { cli.cleanup() }
        let config = try cli.writeConfig()
        #expect(try cli.run(["init", "--config", config]).status == 0)
        #expect(try cli.run(["put", "alice", "--config", config], stdin: Data("s".utf8)).status == 0)

        let status = try cli.run(["status", "--config", config])
        #expect(status.status == 0, "\(status.stderr)")
        #expect(status.stdout.contains("audit:            fail-closed ("), "\(status.stdout)")
        #expect(status.stdout.contains("records in \(cli.vault)/audit/log.jsonl)"), "\(status.stdout)")
        #expect(status.stdout.contains(#"audit MAC key:    tier1 HKDF-SHA256(root seed, salt = vault id, info = "strongroom/tier1/audit-mac", 32 bytes)"#))
        #expect(status.stdout.contains("audit checkpoint: "))

        let json = try cli.run(["status", "--json", "--config", config])
        #expect(json.status == 0, "\(json.stderr)")
        let object = try JSONSerialization.jsonObject(with: json.stdoutBytes) as? [String: Any]
        let audit = object?["audit"] as? [String: Any]
        #expect(audit?["mode"] as? String == "fail-closed")
        #expect(audit?["location"] as? String == "\(cli.vault)/audit/log.jsonl")
        #expect((audit?["records"] as? Int ?? 0) >= 2)
        #expect((audit?["macKey"] as? String)?.contains("strongroom/tier1/audit-mac") == true)
        #expect(audit?.keys.contains("checkpoint") == true)

        let off = try cli.run(["status", "--config", config], environment: ["STRONGROOM_AUDIT_MODE": "off"])
        #expect(off.stdout.contains("audit:            off ("), "\(off.stdout)")
        let bad = try cli.run(["status", "--config", config], environment: ["STRONGROOM_AUDIT_MODE": "silent"])
        #expect(bad.status == 78)
        #expect(bad.stderr.contains("'audit.mode'"))
        #expect(!bad.stderr.contains("silent"))
    }
}
