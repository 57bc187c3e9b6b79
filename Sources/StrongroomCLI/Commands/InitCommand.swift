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

    @Option(
        name: .customLong("recovery-key"),
        help: ArgumentHelp(
            "A recovery public key file (recovery.pub): every share version will also be sealed to it.",
            valueName: "file"))
    var recoveryKey: String?

    @OptionGroup var sealing: SealedInitOptions

    func run() async throws {
        try await Terminal.run {
            let logger = options.makeLogger()
            let sealedRequested = sealing.sealed ? true : sealing.requested(by: try await options.loadConfiguration())
            if sealedRequested {
                return try await runSealed(logger: logger)
            }
            // Read before anything is created: a bad key file leaves no vault behind.
            let recovery = try recoveryKey.map(RecoveryKeyFile.read)
            let configuration = try await options.loadConfiguration()
            let created = try await configuration.provider.initialise(
                configuration: configuration,
                options: VaultCreationOptions(acceptWeakKeyStore: acceptWeakToken ? Terminal.weakTokenWarning : nil),
                logger: logger)
            print("created vault \(created.vaultID.hex)")
            for line in created.details { print("  \(line)") }
            // The audit log's first record: the vault was made, on this tier, with KEK version 1.
            let store = try await OpenStores.open(configuration: configuration, logger: logger)
            var details = ["acceptWeakToken": "\(acceptWeakToken)"]
            if let recovery { details["recovery.fingerprint"] = recovery.fingerprintText }
            try await store.recordAudit(AuditEvent(.initialise, kekVersions: [1], details: details))
            if let recovery {
                // The vault is empty: the enrolment is journalled and finished at once.
                _ = try await store.enrolRecoveryKey(recovery)
                print("  recovery key: \(recovery.fingerprintText)")
            }
            print(created.advice)
        }
    }
}
