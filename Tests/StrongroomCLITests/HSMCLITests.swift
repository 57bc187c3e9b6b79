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
        // It lists the labels present (which of the test tokens shows depends on whether another
        // process was rewriting one at that moment: SoftHSM hides a token while it does).
        #expect(unknown.stdout.contains("tokens present: '"), "lists the labels present")
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
    /// (put, get, rotate mixed) on one token must all succeed, with the module loaded directly and
    /// through p11-kit-proxy.
    @Test(arguments: ["direct", "p11-kit-proxy"])
    func twelveProcessesSharingOneTokenNeverFail(_ route: String) throws {
        let cli = try cli()
        defer { cli.cleanup() }
        let module = route == "direct" ? self.module : try #require(
            ProcessInfo.processInfo.environment["STRONGROOM_TEST_P11KIT_PROXY"], "run the suite with scripts/test")
        let config = try cli.writeConfig(
            "hsm.yaml", "tier: hsm\nhsm:\n  module: \(module)\n  tokenLabel: \(token)\n  blobPath: \(cli.vault)\n")
        let created = try cli.run(["init", "--config", config])
        try #require(created.status == 0, "\(created.stderr)")
        let processes = 12
        for index in 0..<processes {
            let put = try cli.run(["put", "--config", config, "p\(index)"], stdin: Data("share \(index) v0".utf8))
            try #require(put.status == 0, "\(put.stderr)")
        }
        let failures = FailureList()
        @Sendable func runSteps(_ index: Int) {
            for step in 0..<6 {
                let arguments: [String]
                var input: Data? = nil
                // Processes 0, 3, 6 and 9 rotate twice, at steps 1–4 and at step 5, so rotations in
                // other processes retire KEKs while gets, puts and opens are in flight.
                switch step {
                case _ where index % 3 == 0 && (step == index / 3 + 1 || step == 5):
                    arguments = ["rotate", "--config", config]
                case 0, 3:
                    arguments = ["put", "--config", config, "p\(index)"]
                    input = Data("share \(index) v\(step)".utf8)
                default:
                    arguments = ["get", "--config", config, "--stdout", "p\((index + step) % processes)"]
                }
                do {
                    let result = try cli.run(arguments, stdin: input)
                    if result.status != 0 {
                        failures.append("\(arguments[0]) exit \(result.status): \(result.stderr)")
                    }
                } catch {
                    failures.append("\(arguments[0]): could not run: \(error)")
                }
            }
        }
        // One thread per process, so all twelve run at once (concurrentPerform would use one per core).
        let done = DispatchGroup()
        for index in 0..<processes {
            done.enter()
            Thread {
                defer { done.leave() }
                runSteps(index)
            }.start()
        }
        done.wait()
        let failed = failures.all
        #expect(failed.isEmpty, "\(failed.count) of \(processes * 6) operations failed:\n\(failed.joined(separator: "\n"))")
        for index in 0..<processes {
            let got = try cli.run(["get", "--config", config, "--stdout", "p\(index)"])
            let lastPut = index % 3 == 0 && index / 3 + 1 == 3 ? 0 : 3  // process 6 rotates at step 3
            #expect(got.stdout == "share \(index) v\(lastPut)", "\(got.stderr)")
        }
    }

    // MARK: NSS softokn, a second PKCS#11 module (issue 11 item 7)

    struct NSS {
        let module: String
        let directory: String
        let openDirectory: String
        let pin: String
        func initArgs(_ directory: String) -> String {
            "configdir='sql:\(directory)' certPrefix='' keyPrefix='' secmod='secmod.db' flags="
        }
    }

    func nss() throws -> NSS {
        let environment = ProcessInfo.processInfo.environment
        func value(_ name: String) throws -> String {
            try #require(environment[name].flatMap { $0.isEmpty ? nil : $0 }, "\(name) is not set: run the suite with scripts/test")
        }
        return NSS(
            module: try value("STRONGROOM_TEST_NSS_MODULE"), directory: try value("STRONGROOM_TEST_NSS_DIR"),
            openDirectory: try value("STRONGROOM_TEST_NSS_OPEN_DIR"), pin: try value("STRONGROOM_TEST_NSS_PIN"))
    }

    func nssConfig(_ cli: CLI, _ nss: NSS, directory: String, name: String = "nss.yaml") throws -> String {
        try cli.writeConfig(
            name,
            """
            tier: hsm
            hsm:
              module: \(nss.module)
              tokenLabel: NSS Certificate DB
              initArgs: "\(nss.initArgs(directory))"
              blobPath: \(cli.vault)
            """)
    }

    /// NSS does not enforce CKA_EXTRACTABLE on C_WrapKey: `hsm check` must fail that check (and only
    /// the KEK-protection ones), while the seal/open/rewrap/tamper checks pass.
    @Test func hsmCheckFailsTheWrapOutCheckOnNSSSoftokn() throws {
        let nss = try nss()
        var cli = try cli()
        defer { cli.cleanup() }
        cli.environment["STRONGROOM_HSM_PIN"] = nss.pin
        let result = try cli.run([
            "hsm", "check", "--module", nss.module, "--token", "NSS Certificate DB", "--init-args", nss.initArgs(nss.directory),
        ])
        #expect(result.status == 1, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("FAIL  KEK cannot be wrapped out"), "\(result.stdout)")
        #expect(result.stdout.contains("the KEK can leave the HSM"))
        for check in ["module loads", "token found", "mechanisms", "log in", "create KEK", "seal/open round trip", "rewrap round trip", "tamper detected", "clean up"] {
            #expect(result.stdout.contains("PASS  \(check)"), "\(check): \(result.stdout)")
        }
        #expect(!result.stdout.contains(nss.pin) && !result.stderr.contains(nss.pin))
    }

    /// The whole tier 3 lifecycle on NSS softokn through the binary: `init` refuses the weak token
    /// (exit 78, naming the failed check) unless --accept-weak-token, which warns loudly.
    @Test func tier3LifecycleOnNSSSoftoknNeedsTheAcceptWeakTokenFlag() throws {
        let nss = try nss()
        var cli = try cli()
        defer { cli.cleanup() }
        cli.environment["STRONGROOM_HSM_PIN"] = nss.pin
        let config = try nssConfig(cli, nss, directory: nss.directory)
        let refused = try cli.run(["init", "--config", config])
        #expect(refused.status == 78, "\(refused.stdout)\(refused.stderr)")
        #expect(refused.stderr.contains("does not protect the KEK"))
        #expect(refused.stderr.contains("KEK cannot be wrapped out"))
        #expect(refused.stderr.contains("--accept-weak-token"))
        #expect(!FileManager.default.fileExists(atPath: "\(cli.vault)/vault.json"))

        let created = try cli.run(["init", "--config", config, "--accept-weak-token"])
        #expect(created.status == 0, "\(created.stderr)")
        #expect(created.stderr.contains("WARNING: this HSM token does NOT protect the vault's KEK"))
        #expect(try cli.run(["put", "--config", config, "alice"], stdin: Data("nss secret".utf8)).status == 0)
        #expect(try cli.run(["get", "--config", config, "--stdout", "alice"]).stdout == "nss secret")
        let rotated = try cli.run(["rotate", "--config", config])
        #expect(rotated.status == 0, "\(rotated.stderr)")
        #expect(try cli.run(["get", "--config", config, "--stdout", "alice"]).stdout == "nss secret")
        let wrong = try cli.run(["get", "--config", config, "--stdout", "alice"], environment: ["STRONGROOM_HSM_PIN": "not-the-password"])
        #expect(wrong.status == 77, "\(wrong.stderr)")
        #expect(try cli.run(["erase", "--config", config, "--yes", "alice"]).status == 0)
        #expect(try cli.run(["get", "--config", config, "--stdout", "alice"]).status == 66)
    }

    /// A token whose flags lack CKF_LOGIN_REQUIRED (an NSS database without a password) works with
    /// no PIN at all.
    @Test func aTokenThatNeedsNoLoginWorksWithoutAPIN() throws {
        let nss = try nss()
        var cli = try cli()
        defer { cli.cleanup() }
        cli.environment["STRONGROOM_HSM_PIN"] = nil
        let config = try nssConfig(cli, nss, directory: nss.openDirectory)
        let created = try cli.run(["init", "--config", config, "--accept-weak-token"])
        #expect(created.status == 0, "\(created.stderr)")
        #expect(try cli.run(["put", "--config", config, "bob"], stdin: Data("no pin".utf8)).status == 0)
        #expect(try cli.run(["get", "--config", config, "--stdout", "bob"]).stdout == "no pin")
        #expect(try cli.run(["rotate", "--config", config]).status == 0)
        #expect(try cli.run(["get", "--config", config, "--stdout", "bob"]).stdout == "no pin")
        // The password-protected database still needs its PIN: a configuration error naming the variable.
        let locked = try nssConfig(cli, nss, directory: nss.directory, name: "locked.yaml")
        let needsPIN = try cli.run(["hsm", "check", "--config", locked])
        #expect(needsPIN.stdout.contains("FAIL  log in"), "\(needsPIN.stdout)")
        #expect(needsPIN.stdout.contains("STRONGROOM_HSM_PIN"))
    }

    /// NSS gives both its tokens serial zero: choosing by serial must not advise choosing by serial.
    @Test func twoTokensWithOneSerialGetNonCircularAdvice() throws {
        let nss = try nss()
        var cli = try cli()
        defer { cli.cleanup() }
        cli.environment["STRONGROOM_HSM_PIN"] = nss.pin
        let serial = "0000000000000000"
        let result = try cli.run([
            "hsm", "check", "--module", nss.module, "--token-serial", serial, "--init-args", nss.initArgs(nss.directory),
        ])
        #expect(result.status == 1)
        #expect(result.stdout.contains("FAIL  token found"), "\(result.stdout)")
        #expect(result.stdout.contains("'NSS Certificate DB' serial '\(serial)'"))
        #expect(result.stdout.contains("choose one by label"))
        #expect(!result.stdout.contains("choose one by serial") && !result.stdout.contains("choose by serial"))
        // Label and serial together pick one.
        let both = try cli.run([
            "hsm", "check", "--module", nss.module, "--token", "NSS Certificate DB", "--token-serial", serial,
            "--init-args", nss.initArgs(nss.directory),
        ])
        #expect(both.stdout.contains("PASS  token found"), "\(both.stdout)")
    }

    /// `bench --tier hsm` takes --init-args (NSS softokn cannot be loaded without it).
    @Test func benchOnNSSSoftoknTakesInitArgs() throws {
        let nss = try nss()
        var cli = try cli()
        defer { cli.cleanup() }
        cli.environment["STRONGROOM_HSM_PIN"] = nss.pin
        let result = try cli.run([
            "bench", "--tier", "hsm", "--module", nss.module, "--token", "NSS Certificate DB",
            "--init-args", nss.initArgs(nss.directory), "--accept-weak-token", "--dir", "\(cli.directory)/bench",
            "--count", "20", "--load-count", "40", "--rotate-count", "20",
        ])
        #expect(result.status == 0, "\(result.stdout)\(result.stderr)")
        #expect(result.stdout.contains("store"), "\(result.stdout)")
    }
}

/// Failure messages collected from several threads.
final class FailureList: Sendable {
    private let list = Mutex<[String]>([])
    var all: [String] { list.withLock { $0 } }
    func append(_ message: String) { list.withLock { $0.append(message) } }
}
