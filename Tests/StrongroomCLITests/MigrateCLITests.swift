import Foundation
import Testing

/// `strongroom migrate` through the binary, between real vaults of every tier (a directory, the moto
/// server of scripts/test, the SoftHSM token of scripts/test): all six directed pairs, dry runs, resume
/// after SIGKILL, conflicts and refusals, and --erase-source.
@Suite struct MigrateCLITests: CloudServerSuite {
    let server: CloudTestServer
    let hsmModule: String
    let hsmToken: String
    let hsmPIN: String
    let softhsmConf: String

    init() throws {
        server = try CloudTestServer()
        let environment = ProcessInfo.processInfo.environment
        func value(_ name: String) throws -> String {
            try #require(environment[name].flatMap { $0.isEmpty ? nil : $0 }, "\(name) is not set: run the suite with scripts/test")
        }
        hsmModule = try value("STRONGROOM_TEST_HSM_MODULE")
        hsmToken = try value("STRONGROOM_TEST_HSM_TOKEN")
        hsmPIN = try value("STRONGROOM_TEST_HSM_PIN")
        softhsmConf = try value("SOFTHSM2_CONF")
    }

    func cli() throws -> CLI {
        var cli = try CLI()
        cli.environment["AWS_ACCESS_KEY_ID"] = accessKey
        cli.environment["AWS_SECRET_ACCESS_KEY"] = secretKey
        cli.environment["AWS_DEFAULT_REGION"] = region
        cli.environment["SOFTHSM2_CONF"] = softhsmConf
        cli.environment["STRONGROOM_HSM_PIN"] = hsmPIN
        return cli
    }

    /// Creates a vault of `tier` named `name` and returns its configuration file.
    func vault(_ cli: CLI, _ tier: String, _ name: String) throws -> String {
        let path = "\(cli.directory)/\(name)"
        let contents: String
        switch tier {
        case "local": contents = "tier: local\nlocal:\n  path: \(path)\n"
        case "cloud":
            let prefix = "migrate-\(UUID().uuidString.prefix(8).lowercased())/\(name)/"
            contents = "tier: cloud\ncloud:\n  endpoint: \(endpoint)\n  bucket: \(bucket)\n  prefix: \(prefix)\n  keyDeletionWindowDays: 7\nlockTimeoutSeconds: 3\n"
        default: contents = "tier: hsm\nhsm:\n  module: \(hsmModule)\n  tokenLabel: \(hsmToken)\n  blobPath: \(path)\n"
        }
        let config = try cli.writeConfig("\(name).yaml", contents)
        let created = try cli.run(["init", "--config", config])
        #expect(created.status == 0, "init \(tier): \(created.stderr)")
        return config
    }

    /// What `versions` shows of every version except the KEK and blob-size columns (which depend on the tier).
    func versionLines(_ cli: CLI, _ config: String, _ share: String) throws -> [String] {
        let result = try cli.run(["versions", "--config", config, "--", share])
        return result.stdout.split(separator: "\n").dropFirst().map { line in
            let fields = line.split(separator: " ", omittingEmptySubsequences: true)
            return ([fields[0], fields[2]] + fields.dropFirst(4)).joined(separator: " ")
        }
    }

    typealias Model = [String: [Int: Data]]

    /// Stores `shares` shares with 1 to 3 versions each (binary bytes, metadata on some) and a FROST group
    /// (two shares and its record); returns what was stored.
    func populate(_ cli: CLI, _ config: String, shares: Int, group: Bool = true) throws -> Model {
        var model: Model = [:]
        for index in 0..<shares {
            let share = "share-\(index)"
            for version in 1...(1 + index % 3) {
                let bytes = Data((0..<(8 + index % 40)).map { UInt8(($0 * 31 + index * 7 + version) % 256) })
                var arguments = ["put", "--config", config, share]
                if index % 2 == 0 { arguments += ["--meta", "party=\(index)", "--meta", "round=\(version)"] }
                let put = try cli.run(arguments, stdin: bytes)
                #expect(put.status == 0, "\(put.stderr)")
                model[share, default: [:]][version] = bytes
            }
        }
        if group {
            let keygen = try cli.run(["frost", "keygen", "--config", config, "--group", "g", "--threshold", "2", "--participants", "2"])
            #expect(keygen.status == 0, "\(keygen.stderr)")
        }
        return model
    }

    /// Every version of the model loads byte for byte from `config`, with the source's `versions` lines.
    func expectHolds(_ cli: CLI, _ config: String, _ model: Model, sameAs source: [String: [String]]? = nil) throws {
        for (share, versions) in model {
            for (version, bytes) in versions {
                let got = try cli.run(["get", "--config", config, "--stdout", "--version", "\(version)", "--", share])
                #expect(got.status == 0 && got.stdoutBytes == bytes, "\(share) v\(version) in \(config): \(got.stderr)")
            }
            if let lines = source?[share] { #expect(try versionLines(cli, config, share) == lines, "\(share)") }
        }
    }

    func groupKey(_ cli: CLI, _ config: String) throws -> String? {
        let info = try cli.run(["frost", "info", "--config", config, "--group", "g"])
        return info.stdout.split(separator: "\n").first { $0.hasPrefix("group public key:") }.map(String.init)
    }

    static let pairs: [(String, String)] = [
        ("local", "cloud"), ("local", "hsm"), ("cloud", "local"), ("cloud", "hsm"), ("hsm", "local"), ("hsm", "cloud"),
    ]

    @Test(arguments: pairs)
    func migratesEveryVersionBetweenTiers(_ from: String, _ to: String) throws {
        let cli = try cli()
        defer { cli.cleanup() }
        let source = try vault(cli, from, "source")
        let destination = try vault(cli, to, "destination")
        let model = try populate(cli, source, shares: 4)
        var lines: [String: [String]] = [:]
        for share in model.keys { lines[share] = try versionLines(cli, source, share) }
        let key = try #require(try groupKey(cli, source))

        // A dry run lists what it would copy and writes nothing.
        let dry = try cli.run(["migrate", "--config", source, "--to", destination, "--dry-run"])
        #expect(dry.status == 0, "\(dry.stderr)")
        let counts = try #require(
            dry.stdout.firstMatch(of: /holds (\d+) share\(s\), (\d+) version\(s\), (\d+) record\(s\); (\d+) would be copied/),
            "\(dry.stdout)")
        let (shares, versions, records, planned) = (Int(counts.1)!, Int(counts.2)!, Int(counts.3)!, Int(counts.4)!)
        #expect(shares == 4 + 2 && versions >= 7 + 2 && records >= 1 && planned == versions + records, "\(dry.stdout)")
        #expect(dry.stdout.contains("would copy share 'share-2' version 3"))
        #expect(try cli.run(["list", "--config", destination]).stdout.isEmpty)
        if to != "cloud" { #expect(!FileManager.default.fileExists(atPath: "\(cli.directory)/destination/migration.json")) }

        let migrated = try cli.run(["migrate", "--config", source, "--to", destination, "--concurrency", "4"])
        #expect(migrated.status == 0, "\(migrated.stderr)")
        #expect(migrated.stdout.contains("\(shares) share(s), \(versions) version(s), \(records) record(s)"), "\(migrated.stdout)")
        #expect(
            migrated.stdout.contains("copied \(planned) (0 in the final pass), already present 0, verified \(planned)"),
            "\(migrated.stdout)")
        #expect(migrated.stderr.isEmpty, "no progress off a terminal: \(migrated.stderr)")
        try expectHolds(cli, destination, model, sameAs: lines)
        #expect(try groupKey(cli, destination) == key)
        let signed = try cli.run(["frost", "sign", "--config", destination, "--group", "g", "--signers", "1,2", "--message", "m"])
        #expect(signed.status == 0, "\(signed.stderr)")

        // A version stored into the source afterwards is copied by the next run, the rest found present.
        let put = try cli.run(["put", "--config", source, "share-0"], stdin: Data("later".utf8))
        #expect(put.stdout == "stored 'share-0' version 2\n")
        let again = try cli.run(["migrate", "--config", source, "--to", destination])
        #expect(again.stdout.contains("(resumed)") && again.stdout.contains("copied 1 (0 in the final pass), already present \(planned)"), "\(again.stdout)")

        // --erase-source needs --yes off a terminal; with it, the source is empty and the destination whole.
        let unconfirmed = try cli.run(["migrate", "--config", source, "--to", destination, "--erase-source"])
        #expect(unconfirmed.status == 64 && unconfirmed.stderr.contains("--yes"))
        let erased = try cli.run(["migrate", "--config", source, "--to", destination, "--erase-source", "--yes"])
        #expect(erased.status == 0, "\(erased.stderr)")
        #expect(
            erased.stdout.contains("erased from the source: \(shares) share(s), \(versions + 1) version(s), \(records) record(s)"),
            "\(erased.stdout)")
        #expect(try cli.run(["list", "--config", source]).stdout.isEmpty)
        var full = model
        full["share-0"]?[2] = Data("later".utf8)
        try expectHolds(cli, destination, full)
        #expect(try groupKey(cli, destination) == key)
    }

    @Test func refusesTheSourceItselfAMixedDestinationAndAConflict() throws {
        let cli = try cli()
        defer { cli.cleanup() }
        let source = try vault(cli, "local", "source")
        let destination = try vault(cli, "local", "destination")
        _ = try populate(cli, source, shares: 2, group: false)
        let itself = try cli.run(["migrate", "--config", source, "--to", source])
        #expect(itself.status == 73 && itself.stderr.contains("the destination is the source vault itself"), "\(itself.stderr)")

        let occupied = try vault(cli, "local", "occupied")
        #expect(try cli.run(["put", "--config", occupied, "mine"], stdin: Data("x".utf8)).status == 0)
        let mixed = try cli.run(["migrate", "--config", source, "--to", occupied])
        #expect(mixed.status == 73 && mixed.stderr.contains("already holds shares (share 'mine'"), "\(mixed.stderr)")
        #expect(try cli.run(["list", "--config", occupied]).stdout.split(separator: "\n").count == 2)

        #expect(try cli.run(["migrate", "--config", source, "--to", destination]).status == 0)
        // Another vault into the same destination: refused, naming the vault it came from.
        let third = try vault(cli, "local", "third")
        #expect(try cli.run(["put", "--config", third, "t"], stdin: Data("t".utf8)).status == 0)
        let other = try cli.run(["migrate", "--config", third, "--to", destination])
        #expect(other.status == 73 && other.stderr.contains("is the destination of a migration from vault"), "\(other.stderr)")

        // share-0 erased and stored again in the source: its version 1 differs from the copy.
        #expect(try cli.run(["erase", "--config", source, "--yes", "share-0"]).status == 0)
        #expect(try cli.run(["put", "--config", source, "share-0"], stdin: Data("different".utf8)).status == 0)
        let conflict = try cli.run(["migrate", "--config", source, "--to", destination, "--erase-source", "--yes"])
        #expect(conflict.status == 65, "\(conflict.stderr)")
        #expect(conflict.stderr.contains("share 'share-0' version 1 is already in"), "\(conflict.stderr)")
        #expect(conflict.stderr.contains("nothing was overwritten"))
        // Nothing erased from the source, the destination's copy unchanged.
        #expect(try cli.run(["get", "--config", source, "--stdout", "share-0"]).stdout == "different")
        #expect(try cli.run(["get", "--config", source, "--stdout", "--version", "2", "share-1"]).status == 0)
        #expect(try cli.run(["get", "--config", destination, "--stdout", "--version", "1", "share-0"]).stdout != "different")
    }

    // No tier 3 here: a SIGKILL during SoftHSM's rewrite of its token file at login can tear the token
    // that the other suites share (scripts/crash-loop kills tier 3 migrations on a token of its own).
    @Test(arguments: [("local", "local"), ("cloud", "local"), ("local", "cloud")])
    func resumesAfterSIGKILLAtAnyInstant(_ from: String, _ to: String) throws {
        let cli = try cli()
        defer { cli.cleanup() }
        let source = try vault(cli, from, "source")
        let destination = try vault(cli, to, "destination")
        let model = try populate(cli, source, shares: 24, group: false)
        // Delays that land during start-up, the copy pass and (with --erase-source) the erase.
        for (round, delay) in [0.05, 0.3, 0.6, 1.0, 1.5].enumerated() {
            let erase = round >= 3
            var arguments = ["migrate", "--config", source, "--to", destination, "--concurrency", "\(1 + round % 3)"]
            if erase { arguments += ["--erase-source", "--yes"] }
            let process = Process()
            process.executableURL = CLI.binary
            process.arguments = arguments
            process.environment = cli.environment
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            Thread.sleep(forTimeInterval: delay)
            kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
            // Whatever the instant: every version still loads from the source or (once erased) the destination.
            let sourceList = try cli.run(["list", "--config", source]).stdout
            for (share, versions) in model where sourceList.contains("\(share) ") {
                for (version, bytes) in versions {
                    let got = try cli.run(["get", "--config", source, "--stdout", "--version", "\(version)", "--", share])
                    let there = got.status == 0 && got.stdoutBytes == bytes
                    if !there { try expectHolds(cli, destination, [share: [version: bytes]]) }
                }
            }
        }
        let resumed = try cli.run(["migrate", "--config", source, "--to", destination, "--erase-source", "--yes"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        #expect(resumed.stdout.contains("24 share(s)") || resumed.stdout.contains("(resumed)"), "\(resumed.stdout)")
        try expectHolds(cli, destination, model)
        #expect(try cli.run(["list", "--config", source]).stdout.isEmpty)
        #expect(try cli.run(["status", "--config", destination]).status == 0)
    }

    @Test func showsProgressOnATerminal() throws {
        let cli = try cli()
        defer { cli.cleanup() }
        let source = try vault(cli, "local", "source")
        let destination = try vault(cli, "local", "destination")
        _ = try populate(cli, source, shares: 3, group: false)
        let command = "\(CLI.binary.path) migrate --config \(source) --to \(destination)"
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/script")
        process.arguments = ["-qec", command, "/dev/null"]
        process.environment = cli.environment
        let out = Pipe()
        process.standardOutput = out
        process.standardInput = Pipe()
        try process.run()
        let transcript = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(transcript)")
        #expect(transcript.contains("copying: 6/6 (copied 6, already present 0)"), "\(transcript)")
        #expect(transcript.contains("final pass: 6/6 (copied 0, verified 6)"), "\(transcript)")
        #expect(transcript.contains("copied 6 (0 in the final pass), already present 0, verified 6"), "\(transcript)")
    }
}
