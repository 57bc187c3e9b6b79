import Foundation
import Logging
import SecureCrypto
import Strongroom
import StrongroomCore
import StrongroomServer
import Testing

/// `strongroom seal-seed` through the binary, killed with SIGKILL after each step: nothing is lost (the
/// vault opens, plain before the rename and unsealed with the parts after it), a run again finishes
/// the conversion, and the seed file never holds the plain seed once sealed.
@Suite struct SealSeedCrashTests {
    static let passphrases = (1...3).map { "seal-seed custodian passphrase \($0)" }
    static var passphraseLines: Data { Data(passphrases.map { $0 + "\n" }.joined().utf8) }

    @Test(arguments: RootSeedSealing.Step.allCases)
    func killedAfterStepLosesNothing(_ step: RootSeedSealing.Step) async throws {
        let workspace = try ServerProcess.Workspace()
        defer { workspace.cleanup() }
        let config = try workspace.write("strongroom.yaml", workspace.localConfig)
        #expect(try workspace.run(["init", "--config", config]).status == 0)
        let share = Data("the share kept across the conversion".utf8)
        let put = try workspace.run(["put", "--config", config, "kept"], stdin: share)
        #expect(put.status == 0, "\(put.stderr)")
        let seedPath = "\(workspace.vault)/root.seed"
        let plainSeed = try Data(contentsOf: URL(fileURLWithPath: seedPath))
        #expect(plainSeed.count == 32)
        let parts = "\(workspace.directory)/parts"
        let arguments = [
            "seal-seed", "--config", config, "--custodians", "3", "--threshold", "2", "--parts-dir", parts,
            "--passphrase-fd", "0",
        ]

        let killed = try workspace.run(
            arguments, stdin: SealSeedCrashTests.passphraseLines,
            environment: ["STRONGROOM_TEST_SEAL_SEED_KILL_AFTER": step.rawValue])
        #expect(killed.status == SIGKILL, "seal-seed was not killed after \(step): \(killed.status) \(killed.stderr)")

        let renamed = step == .renamed || step == .wiped
        let afterKill = try Data(contentsOf: URL(fileURLWithPath: seedPath))
        if renamed {
            #expect(afterKill.count == SealedRootSeed.size)
        } else {
            // Before the rename the plain seed is in place and the vault opens as before.
            #expect(afterKill == plainSeed)
            let got = try workspace.run(["get", "--config", config, "kept", "--stdout"])
            #expect(got.status == 0, "\(got.stderr)")
            #expect(Data(got.stdout.utf8) == share)
        }

        // Run again: it starts afresh, resumes, or finds the seed already sealed.
        let again = try workspace.run(arguments, stdin: SealSeedCrashTests.passphraseLines)
        if renamed {
            #expect(again.status == 73, "\(again.stderr)")
            #expect(again.stderr.contains("already sealed"))
        } else {
            #expect(again.status == 0, "\(again.stderr)")
            #expect(again.stdout.contains("sealed root seed"))
        }
        if step == .partsWritten { #expect(again.stderr.contains("resuming")) }

        // Sealed now: the file is a sealed seed, no pending file is left, nothing in the vault holds
        // the plain seed, the CLI refuses the vault, and the parts unseal it with the share intact.
        let sealedBytes = try Data(contentsOf: URL(fileURLWithPath: seedPath))
        #expect(sealedBytes.count == SealedRootSeed.size)
        #expect(SealedRootSeed.isSealed([UInt8](sealedBytes)))
        #expect(!FileManager.default.fileExists(atPath: "\(seedPath).sealing"))
        let enumerator = FileManager.default.enumerator(atPath: workspace.vault)!
        for case let name as String in enumerator {
            let path = "\(workspace.vault)/\(name)"
            guard let contents = FileManager.default.contents(atPath: path) else { continue }
            #expect(contents.range(of: plainSeed) == nil, "\(name) holds the plain seed")
        }
        let refused = try workspace.run(["get", "--config", config, "kept", "--stdout"])
        #expect(refused.status != 0)

        var local = StrongroomConfiguration.Local(path: workspace.vault)
        local.sealed = true
        let host = try await VaultHost(
            configuration: StrongroomConfiguration(provider: LocalTierProvider(), settings: local), logger: Logger(label: "test"))
        for index in [1, 3] {
            let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: "\(parts)/part-\(index)-of-3.srpart")))
            let passphrase = try Array(SealSeedCrashTests.passphrases[index - 1].utf8).withUnsafeBytes { try SecretBytes(copying: $0) }
            _ = try await host.unseal(part: bytes, passphrase: passphrase, source: "part \(index)", identity: PeerIdentity(.uid(0)))
        }
        #expect(host.sealStatus.sealed == false)
        let loaded = try await host.store().load(try ShareID("kept"))
        #expect(loaded.withUnsafeBytes { Data($0) } == share)
    }

    @Test func refusesASeedFileWithASecondName() throws {
        let workspace = try ServerProcess.Workspace()
        defer { workspace.cleanup() }
        let config = try workspace.write("strongroom.yaml", workspace.localConfig)
        #expect(try workspace.run(["init", "--config", config]).status == 0)
        let seedPath = "\(workspace.vault)/root.seed"
        #expect(link(seedPath, "\(workspace.directory)/seed-copy") == 0)
        let result = try workspace.run(
            ["seal-seed", "--config", config, "--custodians", "2", "--threshold", "2", "--parts-dir", "\(workspace.directory)/parts",
             "--passphrase-fd", "0"],
            stdin: SealSeedCrashTests.passphraseLines)
        #expect(result.status != 0)
        #expect(result.stderr.contains("hard links"), "\(result.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: seedPath)).count == 32)
        #expect(!FileManager.default.fileExists(atPath: "\(seedPath).sealing"))
    }
}
