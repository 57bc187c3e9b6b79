import ArgumentParser

/// `strongroom recovery …`: the vault's recovery key (each subcommand in its own file).
struct RecoveryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recovery",
        abstract: "Manage the vault's recovery key: every share version's data key is also sealed to it (docs/recovery.md).",
        subcommands: [RecoveryEnrolCommand.self])
}
