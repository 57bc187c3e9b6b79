import Foundation
import SecureCrypto
import StrongroomCore
import Testing

/// `strongroom recovery init` through the binary, and `RecoveryCustodians.combine` on the parts it wrote.
@Suite struct RecoveryInitCLITests {
    static let passphrases = (1...5).map { "custodian \($0) passphrase, long enough" }

    /// A 3-of-5 key made by the binary, its files and what it printed.
    struct Made {
        let cli: CLI
        let out: String
        let result: CLI.Result
        var partPaths: [String] { (1...5).map { "\(out)/part-\($0)-of-5.srpart" } }
        func part(_ i: Int) throws -> (source: String, bytes: [UInt8]) {
            (partPaths[i - 1], Array(try Data(contentsOf: URL(fileURLWithPath: partPaths[i - 1]))))
        }
        func publicKey() throws -> RecoveryPublicKey {
            let path = "\(out)/recovery.pub"
            return try RecoveryPublicKey(fileContents: Array(try Data(contentsOf: URL(fileURLWithPath: path))), source: path)
        }
    }

    static func make(_ cli: CLI, out name: String = "keys", passphrases: [String] = passphrases) throws -> Made {
        let out = "\(cli.directory)/\(name)"
        let input = Data(passphrases.map { $0 + "\n" }.joined().utf8)
        let result = try cli.run(
            ["recovery", "init", "--custodians", "5", "--threshold", "3", "--out", out, "--passphrase-fd", "0"],
            stdin: input)
        return Made(cli: cli, out: out, result: result)
    }

    /// The passphrase closure `combine` takes: custodian i's passphrase for part-i-of-5.
    static func passphrase(_ source: String, _ table: [String] = passphrases) throws -> SecretBytes {
        let name = URL(fileURLWithPath: source).lastPathComponent
        let index = Int(name.dropFirst("part-".count).prefix { $0 != "-" })!
        return try Array(table[index - 1].utf8).withUnsafeBytes { try SecretBytes(copying: $0) }
    }

    static func mode(_ path: String) throws -> Int {
        try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as! Int
    }

    @Test func initWritesThePublicKeyAndFiveSealedPartsAndPrintsTheFingerprint() async throws {
        let cli = try CLI()
        defer { cli.cleanup() }
        let made = try RecoveryInitCLITests.make(cli)
        #expect(made.result.status == 0, "\(made.result.stderr)")
        let publicKey = try made.publicKey()
        #expect(made.result.stdout.contains("created recovery key \(publicKey.fingerprintText)\n"), "\(made.result.stdout)")
        for path in made.partPaths { #expect(made.result.stdout.contains(path)) }
        #expect(made.result.stdout.contains("Any 3 of the 5 parts"))
        #expect(try RecoveryInitCLITests.mode(made.out) == 0o700)
        #expect(try RecoveryInitCLITests.mode("\(made.out)/recovery.pub") == 0o600)
        #expect(try FileManager.default.contentsOfDirectory(atPath: made.out).sorted()
            == (["recovery.pub"] + (1...5).map { "part-\($0)-of-5.srpart" }).sorted())
        for i in 1...5 {
            #expect(try RecoveryInitCLITests.mode(made.partPaths[i - 1]) == 0o600)
            let info = try RecoveryCustodians.inspect(try made.part(i).bytes, source: made.partPaths[i - 1])
            #expect(info.index == i && info.custodians == 5 && info.threshold == 3)
            #expect(info.keyFingerprint == publicKey.fingerprint)
            #expect(info.kdfLimits == RecoveryCustodians.defaultKDFLimits)
        }

        // Any three parts rebuild the key; no file, nor the output, holds it in any usual encoding.
        let (privateKey, rebuilt) = try await RecoveryCustodians.combine(
            parts: [try made.part(1), try made.part(3), try made.part(5)]) { try RecoveryInitCLITests.passphrase($0) }
        #expect(rebuilt == publicKey)
        let (again, _) = try await RecoveryCustodians.combine(
            parts: [try made.part(4), try made.part(2), try made.part(5), try made.part(1)]) { try RecoveryInitCLITests.passphrase($0) }
        #expect(again == privateKey)
        let raw = privateKey.withUnsafeBytes { Data($0) }
        let encodings = [raw, Data(Hex.encode(Array(raw)).utf8), Data(Hex.encode(Array(raw)).uppercased().utf8),
                         Data(raw.base64EncodedString().utf8)]
        let files = try FileManager.default.contentsOfDirectory(atPath: made.out).map {
            try Data(contentsOf: URL(fileURLWithPath: "\(made.out)/\($0)"))
        } + [made.result.stdoutBytes, Data(made.result.stderr.utf8)]
        for file in files {
            for encoding in encodings { #expect(file.range(of: encoding) == nil) }
            // Nor half of it.
            #expect(file.range(of: raw.prefix(16)) == nil && file.range(of: raw.suffix(16)) == nil)
        }
    }

    /// The independent Python reader (scripts/recovery/custodian_parts.py, from docs/recovery.md alone)
    /// opens three parts the binary wrote, rebuilds the private key, and derives recovery.pub from it.
    @Test func independentPythonReaderOpensThePartsAndDerivesThePublicKey() async throws {
        let cli = try CLI()
        defer { cli.cleanup() }
        let made = try RecoveryInitCLITests.make(cli)
        #expect(made.result.status == 0, "\(made.result.stderr)")
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("scripts/recovery/custodian_parts.py").path
        let chosen = [2, 4, 5]
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script, "combine", "--print-private-key", "--pub", "\(made.out)/recovery.pub"]
            + chosen.map { made.partPaths[$0 - 1] }
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        try input.fileHandleForWriting.write(
            contentsOf: Data(chosen.map { RecoveryInitCLITests.passphrases[$0 - 1] + "\n" }.joined().utf8))
        try input.fileHandleForWriting.close()
        let lines = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).split(separator: "\n")
        let errors = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0, "\(errors)")
        #expect(lines.first.map(String.init) == "ok \(Hex.encode(try made.publicKey().bytes))")
        let (privateKey, _) = try await RecoveryCustodians.combine(
            parts: [try made.part(1), try made.part(2), try made.part(3)]) { try RecoveryInitCLITests.passphrase($0) }
        #expect(lines.count == 2 && String(lines[1]) == privateKey.withUnsafeBytes { Hex.encode(Array($0)) })
    }

    /// Each way a set of parts can be wrong gives an error that names the part (and nothing is rebuilt).
    @Test func combineNamesTheBadPart() async throws {
        let cli = try CLI()
        defer { cli.cleanup() }
        let made = try RecoveryInitCLITests.make(cli)
        #expect(made.result.status == 0, "\(made.result.stderr)")
        func failure(
            _ parts: [(source: String, bytes: [UInt8])], passphrases: [String] = RecoveryInitCLITests.passphrases
        ) async -> StrongroomError? {
            do {
                _ = try await RecoveryCustodians.combine(parts: parts) { try RecoveryInitCLITests.passphrase($0, passphrases) }
                return nil
            } catch let error as StrongroomError {
                return error
            } catch {
                Issue.record("unexpected \(error)")
                return nil
            }
        }
        let p1 = try made.part(1), p2 = try made.part(2), p3 = try made.part(3)

        // Two of five.
        let few = await failure([p1, p3])
        #expect(few?.code == .recoveryPartsInsufficient)
        #expect(few?.code.exitStatus == 66)
        #expect(few?.reason.contains("3 of the 5 custodian parts are needed") == true, "\(String(describing: few))")
        #expect(few?.reason.contains("got 2") == true && few?.reason.contains(p3.source) == true)

        // A wrong passphrase for part 2.
        var wrong = RecoveryInitCLITests.passphrases
        wrong[1] = "not the passphrase of custodian 2"
        let refused = await failure([p1, p2, p3], passphrases: wrong)
        #expect(refused?.code == .recoveryPassphraseRejected)
        #expect(refused?.code.exitStatus == 77)
        #expect(refused?.reason.contains("does not open \(p2.source)") == true, "\(String(describing: refused))")

        // A part of another key.
        let other = try RecoveryInitCLITests.make(cli, out: "other")
        #expect(other.result.status == 0)
        let foreign = try other.part(2)
        let mixed = await failure([p1, foreign, p3])
        #expect(mixed?.code == .recoveryPartRejected)
        #expect(mixed?.reason.contains("\(foreign.source) is a part of another recovery key") == true, "\(String(describing: mixed))")

        // A flipped byte, anywhere: header, salt, ciphertext, tag, checksum.
        for offset in [5, 38, 41, 60, 90, 120, 140, 160] {
            var flipped = p2
            flipped.bytes[offset] ^= 0x01
            let corrupt = await failure([p1, flipped, p3])
            #expect(corrupt?.code == .recoveryPartRejected, "offset \(offset)")
            #expect(corrupt?.reason.contains("\(p2.source) is corrupted") == true, "offset \(offset): \(String(describing: corrupt))")
        }

        // An edited header with its checksum recomputed (part 3 claiming to be index 4 or 5): the header
        // is the AES-GCM associated data, so the part no longer opens (without that binding it would,
        // and rebuild a wrong key).
        for index: UInt8 in [4, 5] {
            var edited = p3.bytes
            edited[37] = index
            edited = Array(edited[0..<129]) + SHA256.hash(Array(edited[0..<129]))
            let unbound = await failure([p1, p2, (p3.source, edited)])
            #expect(unbound?.code == .recoveryPassphraseRejected, "index \(index): \(String(describing: unbound))")
            #expect(unbound?.reason.contains("does not open \(p3.source)") == true)
        }

        // Truncated, and grown.
        for bytes in [Array(p3.bytes.prefix(100)), Array(p3.bytes.dropLast()), p3.bytes + [0], []] {
            let cut = await failure([p1, p2, (p3.source, bytes)])
            #expect(cut?.code == .recoveryPartRejected)
            #expect(cut?.reason.contains(p3.source) == true, "\(String(describing: cut))")
        }

        // The same part twice (under another name too).
        let copy = "\(cli.directory)/copy-of-part-1-of-5.srpart"
        let duplicate = await failure([p1, p2, (copy, p1.bytes)])
        #expect(duplicate?.code == .recoveryPartRejected)
        #expect(duplicate?.reason.contains("\(copy) and \(p1.source) are the same part") == true, "\(String(describing: duplicate))")

        // Not a part at all.
        let notAPart = await failure([p1, p2, ("\(made.out)/recovery.pub", try Array(Data(contentsOf: URL(fileURLWithPath: "\(made.out)/recovery.pub"))))])
        #expect(notAPart?.reason.contains("recovery.pub is not a Strongroom custodian part") == true)
    }

    /// An attacker who edits a part's Argon2id limits down (and fixes the checksum) gets a refusal
    /// before any passphrase is tried; limits that would exhaust memory are refused the same way.
    @Test func refusesLoweredOrAbsurdKeyDerivationLimits() async throws {
        let cli = try CLI()
        defer { cli.cleanup() }
        let made = try RecoveryInitCLITests.make(cli)
        #expect(made.result.status == 0, "\(made.result.stderr)")
        let p1 = try made.part(1)
        func edited(opslimit: UInt32? = nil, memlimit: UInt64? = nil) -> [UInt8] {
            var bytes = p1.bytes
            if let opslimit { for i in 0..<4 { bytes[41 + i] = UInt8(truncatingIfNeeded: opslimit >> (8 * (3 - i))) } }
            if let memlimit { for i in 0..<8 { bytes[45 + i] = UInt8(truncatingIfNeeded: memlimit >> (8 * (7 - i))) } }
            return Array(bytes[0..<129]) + SHA256.hash(Array(bytes[0..<129]))
        }
        for bytes in [edited(opslimit: 1), edited(memlimit: 8192), edited(memlimit: 1 << 40), edited(opslimit: 100_000)] {
            #expect(throws: StrongroomError.self) { try RecoveryCustodians.inspect(bytes, source: p1.source) }
            do {
                _ = try RecoveryCustodians.inspect(bytes, source: p1.source)
            } catch {
                #expect(error.code == .recoveryPartRejected)
                #expect(error.reason.contains(p1.source) && error.reason.contains("Argon2id"), "\(error)")
            }
        }
    }

    @Test func refusesAnOutDirectoryThatAlreadyHoldsKeyFiles() throws {
        let cli = try CLI()
        defer { cli.cleanup() }
        let made = try RecoveryInitCLITests.make(cli)
        #expect(made.result.status == 0, "\(made.result.stderr)")
        let before = try FileManager.default.contentsOfDirectory(atPath: made.out).sorted().map {
            try Data(contentsOf: URL(fileURLWithPath: "\(made.out)/\($0)"))
        }
        let again = try RecoveryInitCLITests.make(cli)
        #expect(again.result.status == 73, "\(again.result.stderr)")
        #expect(again.result.stderr.contains("already holds recovery key files"), "\(again.result.stderr)")
        #expect(again.result.stderr.contains("nothing was written"))
        let after = try FileManager.default.contentsOfDirectory(atPath: made.out).sorted().map {
            try Data(contentsOf: URL(fileURLWithPath: "\(made.out)/\($0)"))
        }
        #expect(after == before)

        // One stray part file is enough to refuse.
        let stray = "\(cli.directory)/stray"
        try FileManager.default.createDirectory(atPath: stray, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        try Data("x".utf8).write(to: URL(fileURLWithPath: "\(stray)/part-9-of-9.srpart"))
        let refused = try RecoveryInitCLITests.make(cli, out: "stray")
        #expect(refused.result.status == 73)
        #expect(try FileManager.default.contentsOfDirectory(atPath: stray) == ["part-9-of-9.srpart"])
    }

    @Test func refusesASymlinkedOrUnsafeOutDirectory() throws {
        let cli = try CLI()
        defer { cli.cleanup() }
        let target = "\(cli.directory)/target"
        try FileManager.default.createDirectory(atPath: target, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        try FileManager.default.createSymbolicLink(atPath: "\(cli.directory)/link", withDestinationPath: target)
        for name in ["link", "link/"] {
            let linked = try RecoveryInitCLITests.make(cli, out: name)
            #expect(linked.result.status == 65, "\(name): \(linked.result.stderr)")
            #expect(linked.result.stderr.contains("symbolic link"), "\(linked.result.stderr)")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: target).isEmpty)

        let openDirectory = "\(cli.directory)/open"
        try FileManager.default.createDirectory(atPath: openDirectory, withIntermediateDirectories: false, attributes: nil)
        chmod(openDirectory, 0o777)
        let writable = try RecoveryInitCLITests.make(cli, out: "open")
        #expect(writable.result.status == 77, "\(writable.result.stderr)")
        #expect(writable.result.stderr.contains("writable by its group or others"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: openDirectory).isEmpty)

        try Data("x".utf8).write(to: URL(fileURLWithPath: "\(cli.directory)/afile"))
        let file = try RecoveryInitCLITests.make(cli, out: "afile")
        #expect(file.result.status == 65, "\(file.result.stderr)")
    }

    @Test func refusesBadCountsAndBadPassphrasesWritingNothing() throws {
        let cli = try CLI()
        defer { cli.cleanup() }
        for (n, t) in [("5", "1"), ("3", "4"), ("256", "2"), ("2", "0")] {
            let result = try cli.run(
                ["recovery", "init", "--custodians", n, "--threshold", t, "--out", "\(cli.directory)/bad", "--passphrase-fd", "0"],
                stdin: Data())
            #expect(result.status == 64, "\(n) \(t): \(result.stderr)")
            #expect(result.stderr.contains("--threshold"), "\(result.stderr)")
        }
        #expect(!FileManager.default.fileExists(atPath: "\(cli.directory)/bad"))

        var short = RecoveryInitCLITests.passphrases
        short[3] = "too short"
        let refused = try RecoveryInitCLITests.make(cli, out: "short", passphrases: short)
        #expect(refused.result.status == 64)
        #expect(refused.result.stderr.contains("custodian 4 of 5"), "\(refused.result.stderr)")
        #expect(refused.result.stderr.contains("at least 12"), "\(refused.result.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(cli.directory)/short").isEmpty)

        let missing = try RecoveryInitCLITests.make(cli, out: "missing", passphrases: Array(RecoveryInitCLITests.passphrases.prefix(3)))
        #expect(missing.result.status == 64)
        #expect(missing.result.stderr.contains("ended before the passphrase for custodian 4 of 5"), "\(missing.result.stderr)")
        #expect(try FileManager.default.contentsOfDirectory(atPath: "\(cli.directory)/missing").isEmpty)

        // A descriptor no process can have open (above any file-descriptor limit). A small number such
        // as 57 may be a socket the test process had open when the child was spawned (Foundation's
        // Process leaves descriptors to the child), and the child then waited on it for ever.
        let badFD = try cli.run(
            ["recovery", "init", "--custodians", "3", "--threshold", "2", "--out", "\(cli.directory)/fd", "--passphrase-fd", "2000000000"])
        #expect(badFD.status == 64)
        #expect(badFD.stderr.contains("--passphrase-fd 2000000000 is not an open file descriptor"), "\(badFD.stderr)")

        // Without --passphrase-fd and without a terminal, it says how to pass them.
        let noTerminal = try cli.run(["recovery", "init", "--custodians", "3", "--threshold", "2", "--out", "\(cli.directory)/tty"])
        #expect(noTerminal.status == 64, "\(noTerminal.stderr)")
        #expect(noTerminal.stderr.contains("--passphrase-fd"), "\(noTerminal.stderr)")
    }

    @Test func helpSaysWherePassphrasesComeFrom() throws {
        let cli = try CLI()
        defer { cli.cleanup() }
        let help = try cli.run(["recovery", "init", "--help"])
        #expect(help.status == 0)
        #expect(help.stdout.contains("--passphrase-fd"))
        #expect(help.stdout.contains("never from an argument"))
        let group = try cli.run(["recovery", "--help"])
        #expect(group.stdout.contains("init"))
        #expect(try cli.run(["--help"]).stdout.contains("  recovery"))
    }
}
