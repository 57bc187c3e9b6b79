#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import SecureCrypto

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
            seed, HSM PIN refused, S3/KMS access denied or insecure permissions, 78 configuration error, 70 crypto failure, 71 core dumps could not be turned off, 1 anything else.
            """,
        version: "0.1.0",
        subcommands: [
            InitCommand.self, PutCommand.self, GetCommand.self, ListCommand.self, VersionsCommand.self,
            EraseCommand.self, RotateCommand.self, StatusCommand.self, DemoCommand.self, BenchCommand.self,
            HSMCommand.self, FrostCommand.self,
        ]
    )

    /// Turns core dumps off before anything else runs (before any argument is parsed or any
    /// secret read), then runs the command. A process that cannot protect itself stops (exit 71).
    static func main() async {
        do {
            try ProcessHardening.disableCoreDumps()
        } catch {
            let message = "strongroom: \(error); refusing to handle secrets without it\n"
            _ = message.utf8CString.withUnsafeBufferPointer { write(STDERR_FILENO, $0.baseAddress, $0.count - 1) }
            Glibc.exit(71)
        }
        await main(nil)
    }
}
