import Foundation
import Synchronization
import Testing

/// `strongroom` against the SoftHSM token scripts/test makes: init, put/get/rotate/erase on tier 3,
/// `hsm check`, and the HSM error exits.
@Suite struct HSMCLITests {
    let module: String
    let token: String
    let pin: String
    let softhsmConf: String

    init() throws {
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
        return cli
    }

    @Test func hsmCheckPassesEveryCheckOnSoftHSM() throws {
        let cli = try cli()
        let result = try cli.run(["hsm", "check", "--module", module, "--token", token])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        for check in [
            "module loads", "token found", "mechanisms", "log in", "create KEK", "KEK attributes", "KEK value unreadable",
            "KEK cannot be wrapped out", "seal/open round trip", "rewrap round trip", "tamper detected", "clean up",
        ] {
            #expect(result.stdout.contains("PASS  \(check)"), "\(check): \(result.stdout)")
        }
        #expect(result.stdout.contains("CKR_ATTRIBUTE_SENSITIVE"))
        #expect(result.stdout.contains("CKR_KEY_UNEXTRACTABLE"))
        #expect(result.stdout.contains("12 checks: 12 passed, 0 failed"))
        #expect(!result.stdout.contains(pin) && !result.stderr.contains(pin))
    }

    @Test func hsmCheckFailsWithNonZeroExitOnAWrongPINAndAnUnknownToken() throws {
        let cli = try cli()
        let wrong = try cli.run(["hsm", "check", "--module", module, "--token", token], environment: ["STRONGROOM_HSM_PIN": "wrong-pin-0000"])
        #expect(wrong.status == 1)
        #expect(wrong.stdout.contains("FAIL  log in"))
        #expect(wrong.stdout.contains("CKR_PIN_INCORRECT"))
        #expect(!wrong.stdout.contains("wrong-pin-0000"))
        let unknown = try cli.run(["hsm", "check", "--module", module, "--token", "nope"])
        #expect(unknown.status == 1)
        #expect(unknown.stdout.contains("FAIL  token found"))
        #expect(unknown.stdout.contains("'\(token)'"), "lists the labels present")
        let missing = try cli.run(["hsm", "check", "--module", "/nonexistent/module.so", "--token", token])
        #expect(missing.status == 1)
        #expect(missing.stdout.contains("FAIL  module loads"))
    }

    @Test func tier3LifecycleThroughTheCLI() throws {
        let cli = try cli()
        let config = try cli.writeConfig(
            "hsm.yaml", "tier: hsm\nhsm:\n  module: \(module)\n  tokenLabel: \(token)\n  blobPath: \(cli.vault)\n")
        let created = try cli.run(["init", "--config", config])
        #expect(created.status == 0, "\(created.stderr)")
        #expect(created.stdout.contains("/kek/1' on HSM token '\(token)'"))
        #expect(try cli.run(["put", "--config", config, "alice"], stdin: Data("hsm secret".utf8)).status == 0)
        let got = try cli.run(["get", "--config", config, "--stdout", "alice"])
        #expect(got.stdout == "hsm secret")
        let rotated = try cli.run(["rotate", "--config", config])
        #expect(rotated.status == 0, "\(rotated.stderr)")
        #expect(try cli.run(["get", "--config", config, "--stdout", "alice"]).stdout == "hsm secret")
        let status = try cli.run(["status", "--config", config])
        #expect(status.stdout.contains("hsm"))

        // The PIN is never an argument, and a wrong one exits 77 with the CKR name.
        let wrong = try cli.run(["get", "--config", config, "--stdout", "alice"], environment: ["STRONGROOM_HSM_PIN": "bad-pin-9999"])
        #expect(wrong.status == 77)
        #expect(wrong.stderr.contains("CKR_PIN_INCORRECT"))
        #expect(!wrong.stderr.contains("bad-pin-9999"))
        let unset = try cli.run(["get", "--config", config, "--stdout", "alice"], environment: ["STRONGROOM_HSM_PIN": ""])
        #expect(unset.status == 78)
        #expect(unset.stderr.contains("STRONGROOM_HSM_PIN"))

        // A tampered blob exits 65.
        let blob = "\(cli.vault)/shares/alice/1.srb"
        var bytes = try Array(Data(contentsOf: URL(fileURLWithPath: blob)))
        bytes[bytes.count - 2] ^= 0x40
        try Data(bytes).write(to: URL(fileURLWithPath: blob))
        let tampered = try cli.run(["get", "--config", config, "--stdout", "alice"])
        #expect(tampered.status == 65)
        #expect(try cli.run(["erase", "--config", config, "--yes", "alice"]).status == 0)
    }

    /// Issue 11 item 5: SoftHSM rewrites its token file on every login, so processes that connect at the
    /// same moment see "no initialised tokens" or CKR_GENERAL_ERROR. Twelve processes × six operations
    /// (put, get, rotate mixed) on one token must all succeed.
    @Test func twelveProcessesSharingOneTokenNeverFail() throws {
        let cli = try cli()
        defer { cli.cleanup() }
        let config = try cli.writeConfig(
            "hsm.yaml", "tier: hsm\nhsm:\n  module: \(module)\n  tokenLabel: \(token)\n  blobPath: \(cli.vault)\n")
        let created = try cli.run(["init", "--config", config])
        try #require(created.status == 0, "\(created.stderr)")
        let processes = 12
        for index in 0..<processes {
            let put = try cli.run(["put", "--config", config, "p\(index)"], stdin: Data("share \(index) v0".utf8))
            try #require(put.status == 0, "\(put.stderr)")
        }
        let failures = Mutex<[String]>([])
        DispatchQueue.concurrentPerform(iterations: processes) { index in
            for step in 0..<6 {
                let arguments: [String]
                var input: Data? = nil
                switch step {
                case 0, 3:
                    arguments = ["put", "--config", config, "p\(index)"]
                    input = Data("share \(index) v\(step)".utf8)
                case 5 where index % 4 == 0:
                    arguments = ["rotate", "--config", config]
                default:
                    arguments = ["get", "--config", config, "--stdout", "p\((index + step) % processes)"]
                }
                do {
                    let result = try cli.run(arguments, stdin: input)
                    if result.status != 0 {
                        failures.withLock { $0.append("\(arguments[0]) exit \(result.status): \(result.stderr)") }
                    }
                } catch {
                    failures.withLock { $0.append("\(arguments[0]): could not run: \(error)") }
                }
            }
        }
        let failed = failures.withLock { $0 }
        #expect(failed.isEmpty, "\(failed.count) of \(processes * 6) operations failed:\n\(failed.joined(separator: "\n"))")
        for index in 0..<processes {
            let got = try cli.run(["get", "--config", config, "--stdout", "p\(index)"])
            #expect(got.stdout == "share \(index) v3", "\(got.stderr)")
        }
    }
}
