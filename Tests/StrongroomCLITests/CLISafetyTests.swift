import Foundation
import Testing

/// What the command line does with hostile arguments and with links planted where it writes.
@Suite struct CLISafetyTests {
    /// An argument starting with `-` where a share id (or an option's value) belongs must fail with an
    /// error, never print help and exit 0 with nothing done: `strongroom put "$id" < s && rm s` would
    /// lose the secret.
    @Test(arguments: [
        ["put", "-dash"],
        ["put", "-help"],
        ["get", "-dash", "--stdout"],
        ["versions", "-dash"],
        ["erase", "-dash", "--yes"],
        ["put", "--meta", "-dash", "alice"],
        ["frost", "erase", "--group", "-dash", "--participant", "1", "--yes"],
        ["frost", "sign", "--group", "g", "--signers", "-dash", "--message", "m"],
        ["frost", "info", "--group", "-dash"],
    ])
    func aDashArgumentIsAnErrorNotHelp(_ arguments: [String]) throws {
        let cli = try CLI()
        defer { cli.cleanup() }
        let config = try cli.writeConfig()
        #expect(try cli.run(["init", "--config", config]).status == 0)
        let result = try cli.run(arguments + ["--config", config], stdin: Data("the secret".utf8))
        #expect(result.status == 64, "\(arguments): \(result.status) \(result.stdout) \(result.stderr)")
        #expect(result.stderr.lowercased().contains("error"), "\(result.stderr)")
        #expect(!result.stdout.contains("USAGE:"), "help was printed: \(result.stdout)")
        #expect(try cli.run(["list", "--config", config]).stderr.contains("no shares"))
    }

    @Test func aDashIDAfterTheTerminatorIsAnInvalidShareID() throws {
        let cli = try CLI()
        defer { cli.cleanup() }
        let config = try cli.writeConfig()
        #expect(try cli.run(["init", "--config", config]).status == 0)
        let result = try cli.run(["put", "--config", config, "--", "-dash"], stdin: Data("the secret".utf8))
        #expect(result.status == 64)
        #expect(result.stderr.contains("starts with '-'"), "\(result.stderr)")
        let help = try cli.run(["put", "--config", config, "--", "--help"], stdin: Data("the secret".utf8))
        #expect(help.status == 64)
        #expect(help.stderr.contains("starts with '-'"), "\(help.stderr)")
    }

    @Test func helpIsStillThereAsAWholeArgument() throws {
        let cli = try CLI()
        defer { cli.cleanup() }
        for arguments in [["put", "--help"], ["put", "-h"], ["-h"], ["frost", "sign", "--help"]] {
            let help = try cli.run(arguments)
            #expect(help.status == 0, "\(arguments)")
            #expect(help.stdout.contains("USAGE:"), "\(arguments): \(help.stdout)")
        }
    }

    /// A share id of `-h` or `--help` next to other arguments is not a help request: printing help and
    /// exiting 0 would let `strongroom put "$id" --config c.yaml < s && rm s` delete the only copy.
    @Test(arguments: [["put", "-h", "--config"], ["put", "--help", "--config"], ["get", "-h", "--stdout", "--config"],
                      ["erase", "--help", "--yes", "--config"]])
    func helpNextToOtherArgumentsIsAnErrorNotHelp(_ arguments: [String]) throws {
        let cli = try CLI()
        defer { cli.cleanup() }
        let config = try cli.writeConfig()
        #expect(try cli.run(["init", "--config", config]).status == 0)
        let result = try cli.run(arguments + [config], stdin: Data("only copy".utf8))
        #expect(result.status == 64, "\(arguments): \(result.stdout) \(result.stderr)")
        #expect(!result.stdout.contains("USAGE:"))
        #expect(result.stderr.contains("accepted only after command names alone"), "\(result.stderr)")
        #expect(try cli.run(["list", "--config", config]).stdout.isEmpty)
    }

    @Test func frostSignOutRefusesAnExistingFileOrALink() throws {
        let cli = try CLI()
        defer { cli.cleanup() }
        let config = try cli.writeConfig()
        #expect(try cli.run(["init", "--config", config]).status == 0)
        let group = ["--config", config, "--group", "g"]
        let keygen = try cli.run(["frost", "keygen"] + group + ["--threshold", "2", "--participants", "2"])
        #expect(keygen.status == 0, "\(keygen.stderr)")
        let sign = ["frost", "sign"] + group + ["--signers", "1,2", "--message", "m", "--out"]

        let existing = "\(cli.directory)/existing"
        let original = Data("keep me".utf8)
        try original.write(to: URL(fileURLWithPath: existing))
        let overwrite = try cli.run(sign + [existing])
        #expect(overwrite.status == 64, "\(overwrite.stderr)")
        #expect(overwrite.stderr.contains("already exists"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: existing)) == original)

        let target = "\(cli.directory)/target-of-link"
        let link = "\(cli.directory)/link"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)
        let throughLink = try cli.run(sign + [link])
        #expect(throughLink.status == 64, "\(throughLink.stderr)")
        #expect(!FileManager.default.fileExists(atPath: target))
        #expect(try FileManager.default.destinationOfSymbolicLink(atPath: link) == target)

        let fresh = "\(cli.directory)/signature.bin"
        let good = try cli.run(sign + [fresh])
        #expect(good.status == 0, "\(good.stderr)")
        let written = try Data(contentsOf: URL(fileURLWithPath: fresh))
        #expect(written.count == 64)
        #expect(good.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == written.map { String(format: "%02x", $0) }.joined())
        #expect(try FileManager.default.attributesOfItem(atPath: fresh)[.posixPermissions] as? Int == 0o600)
    }

    @Test func getOutputRefusesALink() throws {
        let cli = try CLI()
        defer { cli.cleanup() }
        let config = try cli.writeConfig()
        #expect(try cli.run(["init", "--config", config]).status == 0)
        #expect(try cli.run(["put", "s", "--config", config], stdin: Data("secret".utf8)).status == 0)
        let target = "\(cli.directory)/target-of-link"
        let link = "\(cli.directory)/link"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: target)
        let result = try cli.run(["get", "s", "--output", link, "--config", config])
        #expect(result.status == 64)
        #expect(!FileManager.default.fileExists(atPath: target))
    }

    @Test func eraseOfABlobReplacedByALinkReportsItAndLeavesTheTarget() throws {
        let cli = try CLI()
        defer { cli.cleanup() }
        let config = try cli.writeConfig()
        #expect(try cli.run(["init", "--config", config]).status == 0)
        #expect(try cli.run(["put", "s", "--config", config], stdin: Data("secret".utf8)).status == 0)
        let decoy = "\(cli.directory)/decoy"
        let decoyBytes = Data("an important file outside the vault".utf8)
        try decoyBytes.write(to: URL(fileURLWithPath: decoy))
        let blob = "\(cli.vault)/shares/s/1.srb"
        try FileManager.default.removeItem(atPath: blob)
        try FileManager.default.createSymbolicLink(atPath: blob, withDestinationPath: decoy)

        let erase = try cli.run(["erase", "s", "--yes", "--config", config])
        #expect(erase.status == 65, "\(erase.stdout) \(erase.stderr)")
        #expect(erase.stderr.contains("unsafe file"), "\(erase.stderr)")
        #expect(erase.stderr.contains("1.srb was a symbolic link"))
        #expect(erase.stderr.contains("nothing was written"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: decoy)) == decoyBytes)
        #expect(try cli.run(["get", "s", "--stdout", "--config", config]).status == 66)
    }

    @Test func aVaultDirectoryThatIsALinkIsRefusedWithoutChmodAdvice() throws {
        let cli = try CLI()
        defer { cli.cleanup() }
        let config = try cli.writeConfig()
        #expect(try cli.run(["init", "--config", config]).status == 0)
        let link = "\(cli.directory)/vault-link"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: cli.vault)
        let linked = try cli.writeConfig(
            "linked.yaml", "tier: local\nlocal:\n  path: \(link)\n  rootSeedFile: \(cli.vault)/root.seed\n")
        let result = try cli.run(["list", "--config", linked])
        #expect(result.status == 65, "\(result.stderr)")
        #expect(result.stderr.contains("is a symbolic link"), "\(result.stderr)")
        #expect(!result.stderr.contains("chmod"))
    }
}
