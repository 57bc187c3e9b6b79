import ArgumentParser

@main
struct StrongroomCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "strongroom",
        abstract: "Keeps the secret key shares of a threshold-signing engine in tiered, envelope-encrypted storage.",
        discussion: """
            Configuration comes from --config FILE (YAML or JSON), else $STRONGROOM_CONFIG, plus STRONGROOM_* \
            environment variables, which win (STRONGROOM_TIER, STRONGROOM_LOCAL_PATH, ...). Secrets are never \
            taken as arguments: shares come from standard input or a file.

            Exit codes: 0 ok, 64 bad usage or share id, 65 integrity failure, 66 no such share or vault, \
            69 tier, HSM, S3/KMS or key unavailable, 73 vault exists, 74 I/O error, 75 vault busy, 77 wrong root \
            seed, HSM PIN refused, S3/KMS access denied or insecure permissions, 78 configuration error, 70 crypto failure, 1 anything else.

            `strongroom --version` prints the version.
            """,
        // No `version:` here: ArgumentParser would then add its own `--version` flag to every
        // subcommand's help, beside `get --version N`; `main()` below prints the version.
        subcommands: [
            InitCommand.self, PutCommand.self, GetCommand.self, ListCommand.self, VersionsCommand.self,
            EraseCommand.self, RotateCommand.self, StatusCommand.self, DemoCommand.self, BenchCommand.self,
            HSMCommand.self, FrostCommand.self,
        ]
    )

    static let versionString = "0.1.0"

    /// `strongroom --version` prints the version. It is handled here rather than by a root option or
    /// ArgumentParser's `version:`, either of which would take `get ID --version N` for itself or list
    /// a second `--version` in every subcommand's help.
    static func main() async {
        let arguments = Array(CommandLine.arguments.dropFirst())
        if arguments == ["--version"] {
            print(versionString)
            return
        }
        await main(arguments)
    }
}
