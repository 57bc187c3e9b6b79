import Foundation
import Testing

/// The FROST group record is sealed by its vault's tier: `frost verify` and `frost info` refuse one
/// that does not authenticate, and a clear-text record of an earlier version is used only after
/// `frost upgrade` has checked it against the sealed key packages.
@Suite struct FrostRecordCLITests {
    /// One member line of `frost info`: identifier, share id, tier, version, verifying share.
    struct Member {
        var identifier: Int
        var shareID: String
        var tier: String
        var version: Int
        var verifyingShare: String
    }

    /// The group key and members that `frost info` printed.
    static func parseInfo(_ text: String) throws -> (groupKey: String, members: [Member]) {
        var groupKey: String?
        var members: [Member] = []
        for line in text.split(separator: "\n").map(String.init) {
            if line.hasPrefix("group public key: ") { groupKey = String(line.dropFirst("group public key: ".count)) }
            // "  participant 1: frost.g.p1 (local, version 1), verifying share <hex>"
            guard line.hasPrefix("  participant ") else { continue }
            let parts = line.dropFirst("  participant ".count).split(separator: " ").map(String.init)
            try #require(parts.count == 8, "unexpected info line: \(line)")
            members.append(
                Member(
                    identifier: try #require(Int(parts[0].dropLast())), shareID: parts[1], tier: String(parts[2].dropFirst().dropLast()),
                    version: try #require(Int(parts[4].dropLast(2))), verifyingShare: parts[7]))
        }
        return (try #require(groupKey, "no group key in: \(text)"), members)
    }

    /// A record in the clear-text form earlier versions wrote (docs/frost.md, "Migration").
    static func clearTextRecord(group: String, suite: String, groupKey: String, members: [Member], shareGroup: String) -> Data {
        let memberJSON = members.map {
            #"{"erased":false,"identifier":\#($0.identifier),"shareID":"frost.\#(shareGroup).p\#($0.identifier)","tier":"\#($0.tier)","verifyingShare":"\#($0.verifyingShare)","version":\#($0.version)}"#
        }
        return Data(
            #"{"ciphersuite":"\#(suite)","epoch":1,"format":1,"group":"\#(group)","groupKey":"\#(groupKey)","maxSigners":\#(members.count),"members":[\#(memberJSON.joined(separator: ","))],"minSigners":2}"#.utf8)
    }

    @Test func aTamperedTier1GroupRecordIsRefusedByVerifyAndInfo() throws {
        let cli = try CLI()
        defer { cli.cleanup() }
        let config = try cli.writeConfig()
        let attackerConfig = try cli.writeConfig("attacker.yaml", "tier: local\nlocal:\n  path: \(cli.directory)/attacker\n")
        #expect(try cli.run(["init", "--config", config]).status == 0)
        #expect(try cli.run(["init", "--config", attackerConfig]).status == 0)
        let group = ["--config", config, "--group", "payments"]
        let keygen = try cli.run(["frost", "keygen"] + group + ["--threshold", "2", "--participants", "3"])
        #expect(keygen.status == 0, "\(keygen.stderr)")
        let signed = try cli.run(["frost", "sign"] + group + ["--signers", "1,2", "--message", "pay 10"])
        #expect(signed.status == 0, "\(signed.stderr)")
        let signature = signed.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try cli.run(["frost", "verify"] + group + ["--signature", signature, "--message", "pay 10"]).status == 0)
        let info = try cli.run(["frost", "info"] + group)
        #expect(info.status == 0, "\(info.stderr)")
        let genuine = try Self.parseInfo(info.stdout)

        // The attacker's own group, and a signature of theirs that must never verify for "payments".
        let evil = ["--config", attackerConfig, "--group", "payments"]
        #expect(try cli.run(["frost", "keygen"] + evil + ["--threshold", "2", "--participants", "3"]).status == 0)
        let forged = try cli.run(["frost", "sign"] + evil + ["--signers", "1,2", "--message", "pay 1000000"])
        let forgedSignature = forged.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        let attacker = try Self.parseInfo(try cli.run(["frost", "info"] + evil).stdout)
        #expect(attacker.groupKey != genuine.groupKey)

        let sealedPath = "\(cli.vault)/records/frost.payments.srb"
        let clearPath = "\(cli.vault)/records/frost.payments.json"
        let sealed = try Data(contentsOf: URL(fileURLWithPath: sealedPath))
        #expect(!FileManager.default.fileExists(atPath: clearPath))
        #expect(sealed.prefix(4) == Data("SRSH".utf8))
        #expect(sealed.range(of: Data(genuine.groupKey.utf8)) == nil)  // sealed, not in the clear

        func expectRefused(_ what: String, _ hint: String) throws {
            let verify = try cli.run(["frost", "verify"] + group + ["--signature", forgedSignature, "--message", "pay 1000000"])
            #expect(verify.status == 65, "\(what): \(verify.stdout)\(verify.stderr)")
            #expect(verify.stderr.contains("integrity check failed") && verify.stderr.contains(hint), "\(what): \(verify.stderr)")
            #expect(!verify.stdout.contains("valid"), "\(what)")
            let shown = try cli.run(["frost", "info"] + group)
            #expect(shown.status == 65, "\(what): \(shown.stdout)")
            #expect(!shown.stdout.contains(attacker.groupKey), "\(what)")
            let genuineVerify = try cli.run(["frost", "verify"] + group + ["--signature", signature, "--message", "pay 10"])
            #expect(genuineVerify.status == 65, "\(what): a record that does not authenticate is not used at all")
        }

        // 1. A flipped byte in the sealed record.
        var flipped = sealed
        flipped[flipped.count - 20] ^= 0x01
        try ConsistencyCLITests.overwrite(sealedPath, with: flipped)
        try expectRefused("flipped byte", "did not authenticate")

        // 2. The attacker's own sealed record (another vault) copied over it.
        try ConsistencyCLITests.overwrite(
            sealedPath, with: try Data(contentsOf: URL(fileURLWithPath: "\(cli.directory)/attacker/records/frost.payments.srb")))
        try expectRefused("another vault's record", "did not authenticate")

        // 3. The sealed record removed and a clear-text record with the attacker's group key written:
        //    what changing `groupKey` in records/frost.<g>.json did before records were sealed.
        try FileManager.default.removeItem(atPath: sealedPath)
        let forgedRecord = Self.clearTextRecord(
            group: "payments", suite: "ed25519", groupKey: attacker.groupKey, members: attacker.members, shareGroup: "payments")
        #expect(FileManager.default.createFile(atPath: clearPath, contents: forgedRecord, attributes: [.posixPermissions: 0o600]))
        try expectRefused("clear-text record", "frost upgrade --group payments")
        let upgrade = try cli.run(["frost", "upgrade"] + group)
        #expect(upgrade.status == 65, "\(upgrade.stdout)\(upgrade.stderr)")
        #expect(upgrade.stderr.contains("was not upgraded"), "\(upgrade.stderr)")
        #expect(FileManager.default.fileExists(atPath: clearPath) && !FileManager.default.fileExists(atPath: sealedPath))

        // 4. A genuine clear-text record, as an earlier version wrote it, is upgraded after the key
        //    packages confirm it; then the group verifies and signs again, and forgeries still fail.
        let genuineRecord = Self.clearTextRecord(
            group: "payments", suite: "ed25519", groupKey: genuine.groupKey, members: genuine.members, shareGroup: "payments")
        try ConsistencyCLITests.overwrite(clearPath, with: genuineRecord)
        let upgraded = try cli.run(["frost", "upgrade"] + group)
        #expect(upgraded.status == 0, "\(upgraded.stderr)")
        #expect(upgraded.stdout.contains("sealed group 'payments''s record in 1 store(s)"), "\(upgraded.stdout)")
        #expect(FileManager.default.fileExists(atPath: sealedPath) && !FileManager.default.fileExists(atPath: clearPath))
        #expect(try cli.run(["frost", "verify"] + group + ["--signature", signature, "--message", "pay 10"]).status == 0)
        #expect(try cli.run(["frost", "verify"] + group + ["--signature", forgedSignature, "--message", "pay 1000000"]).status == 65)
        #expect(try cli.run(["frost", "info"] + group).stdout.contains(genuine.groupKey))
        #expect(try cli.run(["frost", "sign"] + group + ["--signers", "2,3", "--message", "pay 11"]).status == 0)
        #expect(try cli.run(["frost", "upgrade"] + group).stdout.contains("already sealed"))

        // The sealed record is rewrapped by rotation and survives refresh and erase.
        #expect(try cli.run(["rotate", "--config", config]).status == 0)
        #expect(try cli.run(["frost", "refresh"] + group).status == 0)
        #expect(try cli.run(["frost", "verify"] + group + ["--signature", signature, "--message", "pay 10"]).status == 0)
        #expect(try cli.run(["frost", "erase"] + group + ["--participant", "3", "--yes"]).status == 0)
        #expect(try cli.run(["frost", "info"] + group).stdout.contains("ERASED"))
        #expect(try cli.run(["status", "--config", config]).status == 0)
    }
}
