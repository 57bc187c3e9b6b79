import Foundation
import Testing

/// `strongroom frost participant` and `strongroom frost coordinator`: every participant and the
/// coordinator in processes of their own, each with its own vault, exchanging only message files.
@Suite struct FrostRolesCLITests {
    @Test func threeParticipantProcessesRunADKGAndSignThroughMessageFiles() throws {
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

        // The DKG: each step of each participant is a process of its own.
        let dkg = "\(cli.directory)/dkg"
        let start = try cli.run(["frost", "coordinator", "start", "--session-dir", dkg])
        #expect(start.status == 0, "\(start.stderr)")
        for id in 1...3 {
            let r = try participant(id, "dkg-round1", dkg, ["--threshold", "2", "--participants", "3", "--ciphersuite", "secp256k1"])
            #expect(r.status == 0, "\(r.stderr)")
        }
        for id in 1...3 { let r = try participant(id, "dkg-round2", dkg); #expect(r.status == 0, "\(r.stderr)") }
        let shareFiles = try FileManager.default.contentsOfDirectory(atPath: dkg).filter { $0.hasPrefix("dkg2.") }
        #expect(shareFiles.count == 6)
        for name in shareFiles {
            let mode = try FileManager.default.attributesOfItem(atPath: "\(dkg)/\(name)")[.posixPermissions] as? Int
            #expect(mode == 0o600)
            // Each secret share travels sealed to its recipient's channel key (kind 10), never in the clear.
            let bytes = try Data(contentsOf: URL(fileURLWithPath: "\(dkg)/\(name)"))
            #expect(bytes[5] == 10 && bytes.count == 43 + 75 + 48)
        }
        var groupKeys: Set<String> = []
        for id in 1...3 {
            let r = try participant(id, "dkg-finish", dkg)
            #expect(r.status == 0, "\(r.stderr)")
            groupKeys.insert(r.stdout.components(separatedBy: "group public key: ").last ?? "")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dkg).filter { $0.hasPrefix("dkg2.") }.isEmpty)
        let finish = try coordinator("dkg-finish", dkg)
        #expect(finish.status == 0, "\(finish.stderr)")
        #expect(finish.stdout.contains("FROST(secp256k1, SHA-256), 2-of-3, keys by DKG"))
        groupKeys.insert(finish.stdout.components(separatedBy: "group public key: ").last ?? "")
        #expect(groupKeys.count == 1)
        // Each vault holds its own participant's key package, and nothing of the DKG's state.
        for id in 1...3 {
            let list = try cli.run(["list", "--config", configs[id]!])
            #expect(list.stdout.contains("frost.vault7.p\(id)") && !list.stdout.contains(".dkg") && !list.stdout.contains(".channel"))
        }

        // A signature by participants 1 and 3, then verified with participant 2's record.
        let signing = "\(cli.directory)/sign1"
        #expect(try cli.run(["frost", "coordinator", "start", "--session-dir", signing]).status == 0)
        for id in [1, 3] { let r = try participant(id, "commit", signing); #expect(r.status == 0, "\(r.stderr)") }
        // Between the two rounds the nonces are sealed in each signer's vault, not on disk in the clear.
        #expect(try cli.run(["list", "--config", configs[1]!]).stdout.contains("frost.vault7.p1.nonce."))
        let package = try coordinator("signing-package", signing, ["--message", "release 9"])
        #expect(package.status == 0, "\(package.stderr)")
        for id in [1, 3] { let r = try participant(id, "sign", signing); #expect(r.status == 0, "\(r.stderr)") }
        #expect(!(try cli.run(["list", "--config", configs[1]!]).stdout.contains(".nonce.")))
        let aggregate = try coordinator("aggregate", signing)
        #expect(aggregate.status == 0, "\(aggregate.stderr)")
        let signature = aggregate.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(signature.count == 130)
        let verify = try cli.run(["frost", "verify", "--config", configs[2]!, "--group", "vault7", "--signature", signature, "--message", "release 9"])
        #expect(verify.status == 0, "\(verify.stderr)")
        #expect(try cli.run(["frost", "verify", "--config", configs[2]!, "--group", "vault7", "--signature", signature, "--message", "release 8"]).status == 65)

        // Nonces are single-use across processes: signing the package again is refused.
        try FileManager.default.removeItem(atPath: "\(signing)/share.p1")
        let twice = try participant(1, "sign", signing)
        #expect(twice.status == 75)
        #expect(twice.stderr.contains("no unused nonces"))

        // A tampered share file is refused, naming its sender.
        let tampered = "\(cli.directory)/sign2"
        #expect(try cli.run(["frost", "coordinator", "start", "--session-dir", tampered]).status == 0)
        for id in [2, 3] { #expect(try participant(id, "commit", tampered).status == 0) }
        #expect(try coordinator("signing-package", tampered, ["--message", "release 10"]).status == 0)
        for id in [2, 3] { #expect(try participant(id, "sign", tampered).status == 0) }
        var bytes = try Data(contentsOf: URL(fileURLWithPath: "\(tampered)/share.p3"))
        bytes[bytes.count - 1] ^= 0x01
        try bytes.write(to: URL(fileURLWithPath: "\(tampered)/share.p3"))
        let refused = try coordinator("aggregate", tampered)
        #expect(refused.status == 65)
        #expect(refused.stderr.contains("participant(s) 3") || refused.stderr.contains("participant 3"), "\(refused.stderr)")
        // A file that is not a message at all names the file.
        try Data("hello".utf8).write(to: URL(fileURLWithPath: "\(tampered)/share.p2"))
        let garbage = try coordinator("aggregate", tampered)
        #expect(garbage.status == 65 && garbage.stderr.contains("share.p2") && garbage.stderr.contains("malformed encoding"))
    }

    @Test func helpDescribesTheRoleCommands() throws {
        let cli = try CLI()
        defer { cli.cleanup() }
        let frost = try cli.run(["frost", "--help"])
        #expect(frost.stdout.contains("participant") && frost.stdout.contains("coordinator"))
        let participant = try cli.run(["frost", "participant", "--help"])
        #expect(participant.status == 0)
        for step in ["dkg-round1", "dkg-round2", "dkg-finish", "commit", "sign"] { #expect(participant.stdout.contains(step)) }
        #expect(participant.stdout.contains("sealed in the participant's"))
        let coordinator = try cli.run(["frost", "coordinator", "--help"])
        for step in ["start", "dkg-finish", "signing-package", "aggregate"] { #expect(coordinator.stdout.contains(step)) }
        let sign = try cli.run(["frost", "participant", "sign", "--help"])
        #expect(sign.stdout.contains("--session-dir") && sign.stdout.contains("--participant"))
    }
}
