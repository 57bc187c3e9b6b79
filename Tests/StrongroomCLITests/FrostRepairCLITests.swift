import Foundation
import Testing

/// `strongroom frost repair` and the `frost participant repair-*` role commands, through the binary.
@Suite struct FrostRepairCLITests {
    @Test(arguments: ["ed25519", "secp256k1"])
    func groupRepairBringsBackAnErasedShareAndEitherPairWithItSigns(_ suite: String) throws {
        let cli = try CLI()
        defer { cli.cleanup() }
        var configs: [Int: String] = [:]
        for id in 1...3 {
            configs[id] = try cli.writeConfig("p\(id).yaml", "tier: local\nlocal:\n  path: \(cli.directory)/vault-p\(id)\n")
            #expect(try cli.run(["init", "--config", configs[id]!]).status == 0)
        }
        let group = ["--config", configs[1]!, "--group", "escrow", "--participant-config", "2=\(configs[2]!)", "--participant-config", "3=\(configs[3]!)"]
        let keygen = try cli.run(["frost", "keygen"] + group + ["--threshold", "2", "--participants", "3", "--ciphersuite", suite])
        #expect(keygen.status == 0, "\(keygen.stderr)")
        let groupKey = try #require(keygen.stdout.components(separatedBy: "group public key: ").last?.components(separatedBy: "\n").first)
        #expect(try cli.run(["frost", "erase"] + group + ["--participant", "3", "--yes"]).status == 0)
        #expect(!(try cli.run(["list", "--config", configs[3]!]).stdout.contains("frost.escrow.p3")))
        let gone = try cli.run(["frost", "sign"] + group + ["--signers", "1,3", "--message", "pay 5"])
        #expect(gone.status == 66, "\(gone.stderr)")

        // Fewer helpers than the threshold: refused, nothing stored.
        let few = try cli.run(["frost", "repair"] + group + ["--participant", "3", "--helpers", "1"])
        #expect(few.status == 64 && few.stderr.contains("needs at least 2 helpers"), "\(few.stderr)")
        let repair = try cli.run(["frost", "repair"] + group + ["--participant", "3", "--helpers", "1,2"])
        #expect(repair.status == 0, "\(repair.stderr)")
        #expect(repair.stdout.contains("repaired participant 3's key share of group 'escrow' with helpers 1,2"))
        #expect(try cli.run(["list", "--config", configs[3]!]).stdout.contains("frost.escrow.p3"))

        let info = try cli.run(["frost", "info"] + group)
        #expect(info.stdout.contains("group public key: \(groupKey)") && !info.stdout.contains("ERASED"), "\(info.stdout)")
        for signers in ["1,3", "2,3"] {
            let sign = try cli.run(["frost", "sign"] + group + ["--signers", signers, "--message", "pay 5"])
            #expect(sign.status == 0, "\(signers): \(sign.stderr)")
            let signature = sign.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            let verify = try cli.run(["frost", "verify"] + group + ["--signature", signature, "--message", "pay 5"])
            #expect(verify.status == 0, "\(signers): \(verify.stderr)")
        }
    }

    @Test func threeParticipantProcessesRepairAShareThroughMessageFiles() throws {
        let cli = try CLI()
        defer { cli.cleanup() }
        var configs: [Int: String] = [:]
        for id in 1...3 {
            configs[id] = try cli.writeConfig("p\(id).yaml", "tier: local\nlocal:\n  path: \(cli.directory)/vault-p\(id)\n")
            #expect(try cli.run(["init", "--config", configs[id]!]).status == 0)
        }
        let coordinatorConfig = try cli.writeConfig("coordinator.yaml", "tier: local\nlocal:\n  path: \(cli.directory)/vault-c\n")
        #expect(try cli.run(["init", "--config", coordinatorConfig]).status == 0)
        func participant(_ id: Int, _ step: String, _ dir: String, _ extra: [String] = []) throws -> CLI.Result {
            try cli.run(["frost", "participant", step, "--config", configs[id]!, "--group", "vault7", "--participant", "\(id)", "--session-dir", dir] + extra)
        }
        func coordinator(_ step: String, _ dir: String, _ extra: [String] = []) throws -> CLI.Result {
            try cli.run(["frost", "coordinator", step, "--config", coordinatorConfig, "--group", "vault7", "--session-dir", dir] + extra)
        }
        func check(_ result: CLI.Result, _ what: String) { #expect(result.status == 0, "\(what): \(result.stderr)") }

        // A 2-of-3 DKG, each participant in its own process and vault.
        let dkg = "\(cli.directory)/dkg"
        check(try cli.run(["frost", "coordinator", "start", "--session-dir", dkg]), "start")
        for id in 1...3 { check(try participant(id, "dkg-round1", dkg, ["--threshold", "2", "--participants", "3"]), "dkg-round1 \(id)") }
        for id in 1...3 { check(try participant(id, "dkg-round2", dkg), "dkg-round2 \(id)") }
        for id in 1...3 { check(try participant(id, "dkg-finish", dkg), "dkg-finish \(id)") }
        let finish = try coordinator("dkg-finish", dkg)
        check(finish, "coordinator dkg-finish")
        let groupKey = finish.stdout.components(separatedBy: "group public key: ").last ?? "?"

        // Participant 3 loses its share.
        check(try cli.run(["frost", "erase", "--config", configs[3]!, "--group", "vault7", "--participant", "3", "--yes"]), "erase")
        #expect(!(try cli.run(["list", "--config", configs[3]!]).stdout.contains("frost.vault7.p3")))

        // The repair: channel keys, step one and two by helpers 1 and 2, step three by 3.
        let repair = "\(cli.directory)/repair"
        check(try cli.run(["frost", "coordinator", "start", "--session-dir", repair]), "start")
        for id in 1...3 { check(try participant(id, "repair-key", repair), "repair-key \(id)") }
        for id in [1, 2] { check(try participant(id, "repair-help", repair, ["--lost", "3", "--helpers", "1,2"]), "repair-help \(id)") }
        let parts = try FileManager.default.contentsOfDirectory(atPath: repair).filter { $0.hasPrefix("repair1.") && $0.contains(".to.") }
        #expect(parts.count == 4)
        for name in parts {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: "\(repair)/\(name)"))
            #expect(bytes[5] == 10 && bytes.count == 43 + 77 + 48, "\(name) is sealed")
            #expect(try FileManager.default.attributesOfItem(atPath: "\(repair)/\(name)")[.posixPermissions] as? Int == 0o600)
        }
        for id in [1, 2] { check(try participant(id, "repair-combine", repair), "repair-combine \(id)") }
        for id in [1, 2] {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: "\(repair)/repair2.p\(id).to.p3"))
            #expect(bytes[5] == 10 && bytes.count == 43 + 75 + 48)
        }

        // A tampered step-two file is refused, naming the file and the sender; nothing is stored.
        let sum2 = "\(repair)/repair2.p2.to.p3"
        let honest = try Data(contentsOf: URL(fileURLWithPath: sum2))
        var tampered = honest
        tampered[tampered.count - 1] ^= 0x01
        try tampered.write(to: URL(fileURLWithPath: sum2))
        let refused = try participant(3, "repair-finish", repair)
        #expect(refused.status == 65 && refused.stderr.contains("repair2.p2.to.p3") && refused.stderr.contains("participant 2"), "\(refused.stderr)")
        #expect(!(try cli.run(["list", "--config", configs[3]!]).stdout.contains("frost.vault7.p3 ")))
        try honest.write(to: URL(fileURLWithPath: sum2))

        let done = try participant(3, "repair-finish", repair)
        check(done, "repair-finish")
        #expect(done.stdout.contains("checked against its verifying share and stored"))
        for id in 1...3 {
            let list = try cli.run(["list", "--config", configs[id]!]).stdout
            #expect(list.contains("frost.vault7.p\(id)") && !list.contains(".channel"), "\(id): \(list)")
        }

        // 1+3 and 2+3 sign through the role commands; the signature verifies under the unchanged key.
        for (index, signers) in [[1, 3], [2, 3]].enumerated() {
            let signing = "\(cli.directory)/sign\(index)"
            check(try cli.run(["frost", "coordinator", "start", "--session-dir", signing]), "start")
            for id in signers { check(try participant(id, "commit", signing), "commit \(id)") }
            check(try coordinator("signing-package", signing, ["--message", "release 9"]), "signing-package")
            for id in signers { check(try participant(id, "sign", signing), "sign \(id)") }
            let aggregate = try coordinator("aggregate", signing)
            check(aggregate, "aggregate \(signers)")
            let signature = aggregate.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
            for id in 1...3 {
                let verify = try cli.run(["frost", "verify", "--config", configs[id]!, "--group", "vault7", "--signature", signature, "--message", "release 9"])
                check(verify, "verify \(signers) with \(id)'s record")
            }
            let info = try cli.run(["frost", "info", "--config", configs[3]!, "--group", "vault7"])
            #expect(info.stdout.contains("group public key: \(groupKey.trimmingCharacters(in: .whitespacesAndNewlines))"), "\(info.stdout)")
        }

        // Participant 3's whole vault is lost: a new, empty vault gets the share back, checked against
        // the group's public key package from the DKG's `group` file; then 1 and the new vault sign.
        configs[3] = try cli.writeConfig("p3-new.yaml", "tier: local\nlocal:\n  path: \(cli.directory)/vault-p3-new\n")
        #expect(try cli.run(["init", "--config", configs[3]!]).status == 0)
        let again = "\(cli.directory)/repair-new-vault"
        check(try cli.run(["frost", "coordinator", "start", "--session-dir", again]), "start")
        let withoutRecord = try participant(3, "repair-key", again)
        #expect(withoutRecord.status == 66 && withoutRecord.stderr.contains("no group 'vault7'"), "\(withoutRecord.stderr)")
        check(try participant(3, "repair-key", again, ["--public-keys", "\(dkg)/group"]), "repair-key 3 (new vault)")
        for id in [1, 2] { check(try participant(id, "repair-key", again), "repair-key \(id)") }
        for id in [1, 2] { check(try participant(id, "repair-help", again, ["--lost", "3", "--helpers", "2,1"]), "repair-help \(id)") }
        for id in [1, 2] { check(try participant(id, "repair-combine", again), "repair-combine \(id)") }
        let unchecked = try participant(3, "repair-finish", again)
        #expect(unchecked.status == 66 && unchecked.stderr.contains("public key package"), "\(unchecked.stderr)")
        check(try participant(3, "repair-finish", again, ["--public-keys", "\(dkg)/group"]), "repair-finish (new vault)")
        let signing = "\(cli.directory)/sign-new-vault"
        check(try cli.run(["frost", "coordinator", "start", "--session-dir", signing]), "start")
        for id in [1, 3] { check(try participant(id, "commit", signing), "commit \(id)") }
        check(try coordinator("signing-package", signing, ["--message", "release 10"]), "signing-package")
        for id in [1, 3] { check(try participant(id, "sign", signing), "sign \(id)") }
        let aggregate = try coordinator("aggregate", signing)
        check(aggregate, "aggregate with the new vault")
        let verify = try cli.run([
            "frost", "verify", "--config", configs[2]!, "--group", "vault7", "--signature", aggregate.stdout.trimmingCharacters(in: .whitespacesAndNewlines),
            "--message", "release 10",
        ])
        check(verify, "verify with the new vault's signature")
    }

    @Test func helpDescribesTheRepairCommands() throws {
        let cli = try CLI()
        defer { cli.cleanup() }
        #expect(try cli.run(["frost", "--help"]).stdout.contains("repair"))
        let participant = try cli.run(["frost", "participant", "--help"]).stdout
        for step in ["repair-key", "repair-help", "repair-combine", "repair-finish"] { #expect(participant.contains(step)) }
        let repair = try cli.run(["frost", "repair", "--help"]).stdout
        #expect(repair.contains("--participant") && repair.contains("--helpers") && repair.contains("verifying share"))
    }
}
