import Foundation
import Logging
import SecureCrypto
import Testing
import Strongroom
@testable import StrongroomCloud
@testable import StrongroomCore
@testable import StrongroomHSM
@testable import StrongroomLocal

@Suite struct ConfigurationTests {
    func write(_ contents: String, name: String, in directory: TemporaryDirectory) throws -> String {
        let path = "\(directory.path)/\(name)"
        try contents.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func readsYAMLAndEnvironmentOverrides() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let file = try write("tier: local\nlocal:\n  path: /srv/vault\n", name: "c.yaml", in: directory)
        let config = try await StrongroomConfiguration.load(filePath: file, environment: [:])
        guard let local = config.settings as? StrongroomConfiguration.Local else { Issue.record("not local"); return }
        #expect(local.path == "/srv/vault")
        #expect(local.rootSeedFile == "/srv/vault/root.seed")

        let overridden = try await StrongroomConfiguration.load(
            filePath: file,
            environment: ["STRONGROOM_LOCAL_PATH": "/env/vault", "STRONGROOM_LOCAL_ROOT_SEED_FILE": "/keys/seed"])
        guard let env = overridden.settings as? StrongroomConfiguration.Local else { Issue.record("not local"); return }
        #expect(env.path == "/env/vault")
        #expect(env.rootSeedFile == "/keys/seed")
    }

    /// Whoever can change the configuration decides where new shares go and which PKCS#11 module is
    /// loaded: a file that group or others can write is refused (exit 77 at the CLI), with the chmod
    /// that fixes it; once fixed it loads.
    @Test(arguments: [0o666, 0o620, 0o602])
    func aConfigurationFileOthersCanWriteIsRefused(mode: Int) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let file = try write("tier: local\nlocal:\n  path: /srv/vault\n", name: "c.yaml", in: directory)
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: file)
        let error = await #expect(throws: StrongroomError.self) {
            try await StrongroomConfiguration.load(filePath: file, environment: [:])
        }
        #expect(error?.code == .insecurePermissions)
        #expect(error?.reason.contains("chmod go-w \(file)") == true, "\(error?.reason ?? "")")
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: file)
        _ = try await StrongroomConfiguration.load(filePath: file, environment: [:])
    }

    /// A configuration file that belongs to another user (not this one, not root) is refused too.
    @Test func aConfigurationFileOfAnotherUserIsRefused() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let file = try write("tier: local\nlocal:\n  path: /srv/vault\n", name: "c.yaml", in: directory)
        try #require(geteuid() == 0, "changing a file's owner needs root; scripts/test runs as root in CI")
        guard chown(file, 65534, 65534) == 0 else { Issue.record("chown failed: errno \(errno)"); return }
        let error = await #expect(throws: StrongroomError.self) {
            try await StrongroomConfiguration.load(filePath: file, environment: [:])
        }
        #expect(error?.code == .insecurePermissions)
        #expect(error?.reason.contains("belongs to uid 65534") == true, "\(error?.reason ?? "")")
    }

    @Test func readsJSONAndEnvironmentOnly() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let file = try write(#"{"tier": "local", "local": {"path": "/j", "rootSeedFile": "/s"}, "lockTimeoutSeconds": 5}"#, name: "c.json", in: directory)
        let config = try await StrongroomConfiguration.load(filePath: file, environment: [:])
        #expect(config.lockTimeout == .seconds(5))
        guard let local = config.settings as? StrongroomConfiguration.Local else { Issue.record("not local"); return }
        #expect(local.rootSeedFile == "/s")
        let envOnly = try await StrongroomConfiguration.load(filePath: nil, environment: ["STRONGROOM_LOCAL_PATH": "/e"])
        guard let fromEnv = envOnly.settings as? StrongroomConfiguration.Local else { Issue.record("not local"); return }
        #expect(fromEnv.path == "/e")
    }

    @Test func unknownTierNamesTheKeyAndFile() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let file = try write("tier: tape\n", name: "c.yaml", in: directory)
        let error = await #expect(throws: StrongroomError.self) { try await StrongroomConfiguration.load(filePath: file, environment: [:]) }
        #expect(error?.code == .configuration)
        #expect(error?.reason.contains("'tier'") == true)
        #expect(error?.reason.contains("\(file) at line 1, column 1") == true, "\(error?.reason ?? "")")
        #expect(error?.description.contains("tape") == false)
    }

    static let planted = "wJalrXUtnFEMIK7MDENGbPxRfiCYPLANTED"

    /// A syntax error on the line that holds a secret: the message gives the file, line, column and
    /// the key, never the line (Yams's own description quotes it with a caret under it).
    @Test(arguments: [
        ("c.yaml", "tier: cloud\ncloud:\n  endpoint: http://127.0.0.1:9\n  secretAccessKey: \(planted): x\n  bucket: b\n", 4, "cloud.secretAccessKey"),
        ("c.yml", "tier: hsm\nhsm:\n  module: /m.so\n  pinFile: /p\n  tokenLabel: \(planted): x\n", 5, "hsm.tokenLabel"),
        ("c.json", "{\"tier\": \"cloud\",\n \"cloud\": {\"endpoint\": \"http://127.0.0.1:9\",\n  \"secretAccessKey\": \(planted)}}\n", 3, "cloud.secretAccessKey"),
    ])
    func syntaxErrorNamesPositionAndKeyNeverContent(_ name: String, _ contents: String, _ line: Int, _ key: String) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let file = try write(contents, name: name, in: directory)
        let error = await #expect(throws: StrongroomError.self) { try await StrongroomConfiguration.load(filePath: file, environment: [:]) }
        let text = "\(error.map { "\($0)" } ?? "") \(error?.cause ?? "")"
        #expect(error?.code == .configuration)
        #expect(text.contains(file))
        #expect(text.contains("line \(line), column "), "\(text)")
        #expect(text.contains("'\(key)'"), "\(text)")
        #expect(!text.contains("wJalrXUtnFEMI") && !text.contains("PLANTED"), "\(text)")
    }

    /// A secret that a broken file makes read as a key (a value on a line of its own) is not named as
    /// the key before the error, and an endpoint with a password in its user part is not repeated.
    @Test func aSecretReadAsAKeyOrInAnEndpointIsNotEchoed() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let asKey = try write(
            "tier: cloud\ncloud:\n  secretAccessKey:\n  PLANTEDwJalrXUtnFEMI: [\n", name: "k.yaml", in: directory)
        let keyError = await #expect(throws: StrongroomError.self) {
            try await StrongroomConfiguration.load(filePath: asKey, environment: [:])
        }
        let keyText = "\(keyError.map { "\($0)" } ?? "") \(keyError?.cause ?? "")"
        #expect(keyText.contains("line "), "\(keyText)")
        #expect(!keyText.contains("PLANTED") && !keyText.contains("wJalrXUtnFEMI"), "\(keyText)")

        let endpoint = try write(
            "tier: cloud\ncloud:\n  endpoint: https://user:PLANTEDwJalrXUtnFEMI@s3.example.com\n  bucket: bucket-1\n  region: us-east-1\n  kmsKeyId: k\n",
            name: "e.yaml", in: directory)
        do {
            let config = try await StrongroomConfiguration.load(filePath: endpoint, environment: [:])
            _ = try await ShareStore.open(configuration: config, logger: .init(label: "test"))
            Issue.record("an endpoint with a user part was accepted")
        } catch {
            let text = "\(error)"
            #expect(text.contains("endpoint"), "\(text)")
            #expect(!text.contains("PLANTED") && !text.contains("wJalrXUtnFEMI"), "\(text)")
        }
    }

    /// A value of the wrong type is not echoed either; its key and position are.
    @Test func wrongTypeNeverEchoesTheValue() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let file = try write(
            "tier: cloud\ncloud:\n  endpoint: http://127.0.0.1:9\n  bucket: b\n  maxAttempts: \(Self.planted)\n",
            name: "c.yaml", in: directory)
        let error = await #expect(throws: StrongroomError.self) { try await StrongroomConfiguration.load(filePath: file, environment: [:]) }
        let text = error.map { "\($0)" } ?? ""
        #expect(text.contains("'cloud.maxAttempts'") && text.contains("\(file) at line 5, column 3"), "\(text)")
        #expect(!text.contains("PLANTED"), "\(text)")
        let bad = try write("tier: cloud\ncloud:\n  endpoint: http://127.0.0.1:9\n  bucket: b\n  addressing: \(Self.planted)\n", name: "d.yaml", in: directory)
        let addressing = await #expect(throws: StrongroomError.self) { try await StrongroomConfiguration.load(filePath: bad, environment: [:]) }
        #expect(addressing.map { "\($0)" }?.contains("PLANTED") == false)
        #expect(addressing?.reason.contains("line 5, column 3") == true, "\(addressing?.reason ?? "")")
    }

    @Test(arguments: [
        ("tier: local\n", "local.path", "STRONGROOM_LOCAL_PATH"),
        ("tier: cloud\ncloud:\n  endpoint: https://s3.example\n  kmsKeyId: k\n", "cloud.bucket", "STRONGROOM_CLOUD_BUCKET"),
        ("tier: hsm\nhsm:\n  module: /m.so\n  blobPath: /b\n", "hsm.tokenLabel", "STRONGROOM_HSM_TOKEN_LABEL"),
    ])
    func missingRequiredSettingNamesKeyFileAndVariable(_ yaml: String, _ key: String, _ variable: String) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let file = try write(yaml, name: "c.yaml", in: directory)
        let error = await #expect(throws: StrongroomError.self) { try await StrongroomConfiguration.load(filePath: file, environment: [:]) }
        #expect(error?.code == .configuration)
        #expect(error?.reason.contains("'\(key)'") == true, "\(error?.reason ?? "")")
        #expect(error?.reason.contains(file) == true)
        #expect(error?.reason.contains(variable) == true)
    }

    @Test func malformedFileNamesTheFile() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        for (name, contents) in [("bad.yaml", "tier: [local\n  path: :\n"), ("bad.json", "{\"tier\": ")] {
            let file = try write(contents, name: name, in: directory)
            let error = await #expect(throws: StrongroomError.self) { try await StrongroomConfiguration.load(filePath: file, environment: [:]) }
            #expect(error?.code == .configuration)
            #expect(error?.reason.contains(file) == true)
            #expect(error?.reason.contains("not valid") == true, "\(error?.reason ?? "")")
        }
        let missing = await #expect(throws: StrongroomError.self) {
            try await StrongroomConfiguration.load(filePath: "\(directory.path)/none.yaml", environment: [:])
        }
        #expect(missing?.reason.contains("does not exist") == true)
        let unknownType = try write("tier: local", name: "c.toml", in: directory)
        let typeError = await #expect(throws: StrongroomError.self) { try await StrongroomConfiguration.load(filePath: unknownType, environment: [:]) }
        #expect(typeError?.reason.contains(".yaml") == true)
    }

    @Test func wrongTypeNamesTheKey() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let file = try write("tier: local\nlocal:\n  path: /v\nlockTimeoutSeconds: soon\n", name: "c.yaml", in: directory)
        let error = await #expect(throws: StrongroomError.self) { try await StrongroomConfiguration.load(filePath: file, environment: [:]) }
        #expect(error?.reason.contains("lockTimeoutSeconds") == true)
    }

    @Test func secretsPrintRedacted() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let file = try write(
            "tier: cloud\ncloud:\n  endpoint: http://127.0.0.1:9\n  bucket: b\n  kmsKeyId: k\n  accessKeyId: AKIDEXAMPLE\n",
            name: "c.yaml", in: directory)
        let config = try await StrongroomConfiguration.load(
            filePath: file, environment: ["STRONGROOM_CLOUD_SECRET_ACCESS_KEY": "wJalrXUtnFEMI-very-secret"])
        #expect(config.description.contains("<REDACTED>"))
        #expect(!config.description.contains("wJalrXUtnFEMI"))
        guard let cloud = config.settings as? StrongroomConfiguration.Cloud else { Issue.record("not cloud"); return }
        #expect(cloud.storage.secretAccessKey?.count == 25)
        #expect(!"\(cloud)".contains("wJalrXUtnFEMI"))
    }

    @Test func cloudWithNoServerAndHSMWithNoVaultAreClearErrors() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        // Port 9 (discard) on loopback: nothing listens, so every attempt is refused.
        let file = try write(
            "tier: cloud\ncloud:\n  endpoint: http://127.0.0.1:9\n  bucket: bucket-b\n  kmsKeyId: k\n  maxAttempts: 2\n"
                + "  accessKeyId: AKIDEXAMPLE\n  secretAccessKey: not-a-real-secret\n",
            name: "c.yaml", in: directory)
        let cloud = try await StrongroomConfiguration.load(filePath: file, environment: [:])
        let unavailable = await #expect(throws: StrongroomError.self) { try await ShareStore.open(configuration: cloud, logger: quietLogger) }
        #expect(unavailable?.code == .cloudUnavailable)
        #expect(unavailable?.reason.contains("after 2 attempt(s)") == true, "\(unavailable?.reason ?? "")")
        #expect(unavailable?.description.contains("not-a-real-secret") == false)
        // Plain HTTP to a host that is not loopback is refused before anything is sent.
        let insecure = await #expect(throws: StrongroomError.self) {
            try await ShareStore.open(
                configuration: try await StrongroomConfiguration.load(
                    filePath: file, environment: ["STRONGROOM_CLOUD_ENDPOINT": "http://s3.example.com"]),
                logger: quietLogger)
        }
        #expect(insecure?.code == .configuration)
        #expect(insecure?.reason.contains("cloud.allowInsecureHttp") == true, "\(insecure?.reason ?? "")")

        let hsm = StrongroomConfiguration(
            provider: HSMTierProvider(),
            settings: .init(modulePath: "/m.so", tokenLabel: "t", blobPath: "\(directory.path)/none"), source: "test.yaml")
        let missing = await #expect(throws: StrongroomError.self) { try await ShareStore.open(configuration: hsm, logger: quietLogger) }
        #expect(missing?.code == .vaultNotInitialised)
        #expect(missing?.reason.contains("\(directory.path)/none") == true)
    }

    @Test func hsmSettingsParseWithDefaultsAndLimits() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let file = try write(
            "tier: hsm\nhsm:\n  module: /m.so\n  tokenSerial: 0123abcd\n  blobPath: /b\n  initArgs: \"flags=readOnly\"\n",
            name: "h.yaml", in: directory)
        let config = try await StrongroomConfiguration.load(filePath: file, environment: [:])
        guard let hsm = config.settings as? StrongroomConfiguration.HSM else { Issue.record("not hsm"); return }
        #expect(hsm.tokenSerial == "0123abcd" && hsm.tokenLabel == nil)
        #expect(hsm.pinEnvironmentVariable == "STRONGROOM_HSM_PIN")
        #expect(hsm.maxSessions == 4 && hsm.recycleAfter == 20_000 && hsm.initArgs == "flags=readOnly")
        let error = await #expect(throws: StrongroomError.self) {
            try await StrongroomConfiguration.load(filePath: file, environment: ["STRONGROOM_HSM_MAX_SESSIONS": "0"])
        }
        #expect(error?.reason.contains("hsm.maxSessions") == true)
    }

    /// `blockingThreads` sizes the pool blocking work runs on, for tier 1 and tier 3 alike.
    @Test func blockingThreadsIsReadForEveryTierWithItsLimits() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let local = try write("tier: local\nlocal:\n  path: /srv/vault\n", name: "l.yaml", in: directory)
        let byDefault = try await StrongroomConfiguration.load(filePath: local, environment: [:])
        guard let defaults = byDefault.settings as? StrongroomConfiguration.Local else { Issue.record("not local"); return }
        #expect(defaults.blockingThreads == BlockingPool.defaultThreadCount)
        #expect(defaults.blockingThreads >= 4)
        let inline = try await StrongroomConfiguration.load(filePath: local, environment: ["STRONGROOM_BLOCKING_THREADS": "0"])
        guard let none = inline.settings as? StrongroomConfiguration.Local else { Issue.record("not local"); return }
        #expect(none.blockingThreads == 0)

        let hsmFile = try write(
            "tier: hsm\nblockingThreads: 12\nhsm:\n  module: /m.so\n  tokenLabel: t\n  blobPath: /b\n", name: "h.yaml", in: directory)
        let hsm = try await StrongroomConfiguration.load(filePath: hsmFile, environment: [:])
        guard let settings = hsm.settings as? StrongroomConfiguration.HSM else { Issue.record("not hsm"); return }
        #expect(settings.blockingThreads == 12)
        let error = await #expect(throws: StrongroomError.self) {
            try await StrongroomConfiguration.load(filePath: hsmFile, environment: ["STRONGROOM_BLOCKING_THREADS": "-1"])
        }
        #expect(error?.code == .configuration)
        #expect(error?.reason.contains("'blockingThreads'") == true)
        #expect(error?.reason.contains("0 to 256") == true)
    }
}
