import ArgumentParser
import Strongroom

struct InitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create a new vault (tier 1: its directory and a fresh root seed file; tier 2: its objects and KEK 1 in KMS; tier 3: its blob store and KEK 1 on the token).")

    @OptionGroup var options: GlobalOptions

    @Flag(
        name: .long,
        help: "Tier 3: create the vault even if the token fails the KEK protection checks of `strongroom hsm check` (a test module such as NSS softokn). Never for real keys.")
    var acceptWeakToken = false

    func run() async throws {
        try await Terminal.run {
            let logger = options.makeLogger()
            let configuration = try await options.loadConfiguration()
            if case .hsm(let hsm) = configuration.tier {
                let vault = try await HSMVault.initialise(
                    hsm, acceptWeakToken: acceptWeakToken ? Terminal.weakTokenWarning : nil, logger: logger)
                print("created vault \(vault.hex)")
                print("  blobs: \(hsm.blobStorage.map { "s3://\($0.bucket)/\($0.prefix)" } ?? "\(hsm.blobPath) (0700)")")
                print("  KEK:   'strongroom/\(vault.hex)/kek/1' on HSM token \(hsm.tokenSerial.map { "serial \($0)" } ?? "'\(hsm.tokenLabel ?? "")'") (non-extractable AES-256)")
                print("The blobs are useless without the token: back up the token (HSM backup procedure) as well as the blob directory.")
                return
            }
            if case .cloud(let cloud) = configuration.tier {
                let vault = try await CloudVault.initialise(cloud, logger: logger)
                print("created vault \(vault.hex)")
                print("  objects: s3://\(cloud.storage.bucket)/\(cloud.storage.prefix) at \(cloud.storage.endpoint)")
                print("  KEK 1:   \(cloud.kmsKeyID.map { "KMS key \($0) (yours; never deleted by Strongroom)" } ?? "a new KMS key (see kms-keys.json)")")
                print("Keep bucket versioning on; the blobs are useless without their KMS keys.")
                return
            }
            guard case .local(let local) = configuration.tier else {
                throw StrongroomError(.tierUnavailable, "`init` for this tier is not available in this build")
            }
            let vault = try await LocalVault.initialise(local, logger: logger)
            print("created vault \(vault.hex)")
            print("  directory: \(local.path) (0700)")
            print("  root seed: \(local.rootSeedFile) (0600)")
            print("Back up the root seed file somewhere safe and separate: without it no share can be opened.")
        }
    }
}
