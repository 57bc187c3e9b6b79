import ArgumentParser

/// `strongroom recovery …`: the recovery key and its custodians (docs/recovery.md).
struct RecoveryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recovery",
        abstract: "The recovery key: create it split among custodians, enrol it in a vault.",
        subcommands: [RecoveryInitCommand.self, RecoveryEnrolCommand.self])
}
