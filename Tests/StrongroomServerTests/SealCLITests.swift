import Foundation
import Testing

/// The sealed-mode commands' help and refusals, as a user sees them (no server needed).
@Suite struct SealCLITests {
    @Test func helpDescribesTheCeremonyCommands() throws {
        let workspace = try ServerProcess.Workspace()
        defer { workspace.cleanup() }
        let help = try workspace.run(["--help"])
        for command in ["seal-seed", "unseal", "seal"] {
            #expect(help.stdout.contains("  \(command) "), "help lacks \(command)")
        }
        let unseal = try workspace.run(["unseal", "--help"])
        #expect(unseal.stdout.contains("--part"))
        #expect(unseal.stdout.contains("--passphrase-fd"))
        #expect(unseal.stdout.contains("--tls-cert"))
        let initHelp = try workspace.run(["init", "--help"])
        #expect(initHelp.stdout.contains("--sealed"))
        #expect(initHelp.stdout.contains("--parts-dir"))
    }

    @Test func refusalsNameWhatIsMissing() throws {
        let workspace = try ServerProcess.Workspace()
        defer { workspace.cleanup() }
        let plain = try workspace.write("strongroom.yaml", workspace.localConfig)
        let sealedConfig = try workspace.write("sealed.yaml", workspace.localConfig + "  seal: sealed\n")

        // --sealed needs local.seal: sealed, and local.seal: sealed needs --sealed: nothing is created.
        let noSetting = try workspace.run(
            ["init", "--config", plain, "--sealed", "--custodians", "3", "--threshold", "2", "--parts-dir", "\(workspace.directory)/p"])
        #expect(noSetting.status == 78)
        #expect(noSetting.stderr.contains("--sealed needs local.seal: sealed"), "\(noSetting.stderr)")
        let noFlag = try workspace.run(["init", "--config", sealedConfig])
        #expect(noFlag.status == 78)
        #expect(noFlag.stderr.contains("pass --sealed --custodians N --threshold T --parts-dir DIR"), "\(noFlag.stderr)")
        #expect(!FileManager.default.fileExists(atPath: workspace.vault))

        let badThreshold = try workspace.run(
            ["seal-seed", "--config", plain, "--custodians", "2", "--threshold", "3", "--parts-dir", "\(workspace.directory)/p"])
        #expect(badThreshold.status == 64)
        #expect(badThreshold.stderr.contains("need 2 <= --threshold <= --custodians <= 255"))

        let noServer = try workspace.run(["seal"])
        #expect(noServer.status == 64)
        #expect(noServer.stderr.contains("no server: pass --server ADDRESS"))
        let notAPart = try workspace.write("not-a-part", "hello")
        let badPart = try workspace.run(["unseal", "--server", "unix:\(workspace.directory)/none.sock", "--part", notAPart])
        #expect(badPart.status == 65)
        #expect(badPart.stderr.contains("is not a Strongroom custodian part"))
    }
}
