import Foundation
import Testing

/// `strongroom frost ...` and the demo's FROST story through the binary.
@Suite struct FrostCLITests {
    static func hsmEnvironment() throws -> [String: String] {
        var values: [String: String] = [:]
        for name in ["STRONGROOM_TEST_HSM_MODULE", "STRONGROOM_TEST_HSM_TOKEN", "STRONGROOM_TEST_HSM_PIN", "SOFTHSM2_CONF"] {
            values[name] = try #require(ProcessInfo.processInfo.environment[name], "\(name) is not set: run the suite with scripts/test")
        }
        return values
    }

    @Test func keygenSignVerifyRefreshEraseAcrossTwoTiers() throws {
        let hsm = try Self.hsmEnvironment()
        var cli = try CLI()
        defer { cli.cleanup() }
        cli.environment["SOFTHSM2_CONF"] = hsm["SOFTHSM2_CONF"]
        cli.environment["STRONGROOM_HSM_PIN"] = hsm["STRONGROOM_TEST_HSM_PIN"]
        let config = try cli.writeConfig()
        let hsmConfig = try cli.writeConfig(
            "hsm.yaml",
            "tier: hsm\nhsm:\n  module: \(hsm["STRONGROOM_TEST_HSM_MODULE"]!)\n  tokenLabel: \(hsm["STRONGROOM_TEST_HSM_TOKEN"]!)\n  blobPath: \(cli.directory)/hsm-vault\n")
        #expect(try cli.run(["init", "--config", config]).status == 0)
        #expect(try cli.run(["init", "--config", hsmConfig]).status == 0)
        let group = ["--config", config, "--group", "payments", "--participant-config", "3=\(hsmConfig)"]

        let keygen = try cli.run(["frost", "keygen"] + group + ["--threshold", "2", "--participants", "3", "--ciphersuite", "secp256k1"])
        #expect(keygen.status == 0, "\(keygen.stderr)")
        #expect(keygen.stdout.contains("FROST(secp256k1, SHA-256), 2-of-3, keys by DKG"))
        #expect(keygen.stdout.contains("participant 3: frost.payments.p3 in hsm vault"))
        #expect(keygen.stdout.contains("participant 1: frost.payments.p1 in local vault"))

        let sign = try cli.run(["frost", "sign"] + group + ["--signers", "1,3", "--message", "pay 10"])
        #expect(sign.status == 0, "\(sign.stderr)")
        let signature = sign.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(signature.count == 130)  // 65 bytes
        #expect(try cli.run(["frost", "verify"] + group + ["--signature", signature, "--message", "pay 10"]).status == 0)
        let wrong = try cli.run(["frost", "verify"] + group + ["--signature", signature, "--message", "pay 11"])
        #expect(wrong.status == 65)
        #expect(wrong.stderr.contains("does not verify"))

        let refresh = try cli.run(["frost", "refresh"] + group)
        #expect(refresh.status == 0, "\(refresh.stderr)")
        #expect(refresh.stdout.contains("to epoch 2") && refresh.stdout.contains("3 old version(s) destroyed"))
        // The signature made before the refresh still verifies (same group key); new ones are made.
        #expect(try cli.run(["frost", "verify"] + group + ["--signature", signature, "--message", "pay 10"]).status == 0)
        let again = try cli.run(["frost", "sign"] + group + ["--signers", "2,3", "--message", "pay 12"])
        #expect(again.status == 0, "\(again.stderr)")
        let info = try cli.run(["frost", "info"] + group)
        #expect(info.stdout.contains("epoch 2") && info.stdout.contains("participant 3: frost.payments.p3 (hsm, version 2)"))
        // The engine's shares are ordinary Strongroom shares: one version each after the refresh.
        let versions = try cli.run(["versions", "--config", config, "frost.payments.p1"])
        #expect(versions.status == 0 && versions.stdout.contains("frost.epoch"))

        let erase = try cli.run(["frost", "erase"] + group + ["--participant", "3", "--yes"])
        #expect(erase.status == 0, "\(erase.stderr)")
        let gone = try cli.run(["frost", "sign"] + group + ["--signers", "1,3", "--message", "pay 13"])
        #expect(gone.status == 66)
        #expect(gone.stderr.contains("key share gone") && gone.stderr.contains("participant 3"))
        #expect(try cli.run(["frost", "sign"] + group + ["--signers", "1,2", "--message", "pay 13"]).status == 0)

        // Bad input: unknown group, too few signers, a bad group name.
        #expect(try cli.run(["frost", "sign", "--config", config, "--group", "nope", "--signers", "1,2", "--message", "x"]).status == 66)
        #expect(try cli.run(["frost", "sign"] + group + ["--signers", "1", "--message", "x"]).status == 64)
        #expect(try cli.run(["frost", "keygen", "--config", config, "--group", "../up", "--threshold", "2", "--participants", "2"]).status == 64)
    }

    @Test func demoTellsTheWholeStoryAcrossAllThreeTiers() throws {
        let hsm = try Self.hsmEnvironment()
        let environment = ProcessInfo.processInfo.environment
        let endpoint = try #require(environment["STRONGROOM_TEST_S3_ENDPOINT"], "run the suite with scripts/test (moto)")
        let bucket = try #require(environment["STRONGROOM_TEST_S3_BUCKET"])
        var cli = try CLI()
        defer { cli.cleanup() }
        cli.environment["SOFTHSM2_CONF"] = hsm["SOFTHSM2_CONF"]
        cli.environment["STRONGROOM_HSM_PIN"] = hsm["STRONGROOM_TEST_HSM_PIN"]
        cli.environment["STRONGROOM_HSM_MODULE"] = hsm["STRONGROOM_TEST_HSM_MODULE"]
        cli.environment["STRONGROOM_HSM_TOKEN"] = hsm["STRONGROOM_TEST_HSM_TOKEN"]
        cli.environment["STRONGROOM_DEMO_S3_ENDPOINT"] = endpoint
        cli.environment["STRONGROOM_DEMO_S3_BUCKET"] = bucket
        for name in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"] { cli.environment[name] = environment[name] }
        let demo = try cli.run(["demo"])
        #expect(demo.status == 0, "\(demo.stderr)")
        #expect(demo.stdout.contains("participant 1: local (tier 1)"))
        #expect(demo.stdout.contains("participant 2: hsm (tier 3"))
        #expect(demo.stdout.contains("participant 3: cloud (tier 2"))
        #expect(demo.stdout.components(separatedBy: "crypto_sign_verify_detached: valid").count == 5)
        #expect(demo.stdout.contains("rotated to KEK version 2"))
        #expect(demo.stdout.contains("refreshed the shares to epoch 2") && demo.stdout.contains("group key unchanged: true"))
        #expect(demo.stdout.contains("signing with participant 3 now fails"))
        #expect(demo.stdout.contains("Demo complete"))
    }
}
