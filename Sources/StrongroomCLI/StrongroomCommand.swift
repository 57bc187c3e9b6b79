#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Foundation
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

            Exit codes: 0 ok, 64 bad usage or share id, 65 integrity failure, audit log tampered, recovery part rejected, blob not recoverable or recovery enrolment incomplete, 66 no such share or vault or not enough recovery parts, \
            69 tier, HSM, S3/KMS or key unavailable or a tier that cannot take a recovery key, 73 vault exists, 74 I/O error or audit log unavailable, 75 vault busy, 77 wrong root \
            seed, HSM PIN refused, wrong recovery passphrase, S3/KMS access denied or insecure permissions, 78 configuration error, 70 crypto failure, 71 core dumps could not be turned off, 1 anything else.

            `strongroom --version` prints the version.
            """,
        // No `version:` here: ArgumentParser would then add its own `--version` flag to every
        // subcommand's help, beside `get --version N`; `main()` below prints the version.
        subcommands: [
            InitCommand.self, PutCommand.self, GetCommand.self, ListCommand.self, VersionsCommand.self,
            EraseCommand.self, RotateCommand.self, MigrateCommand.self, StatusCommand.self, DemoCommand.self,
            BenchCommand.self, HSMCommand.self, FrostCommand.self, RecoveryCommand.self, RecoverCommand.self,
            AuditCommand.self, ServeCommand.self,
        ],
        // Help is asked for by a whole argument only. ArgumentParser's default names (`-h`, `-help`)
        // also match the `h` inside a group of short flags, so `put -dash` printed help and exited 0
        // with nothing stored, and `strongroom put "$id" < s && rm s` lost the secret. With `--help`
        // alone (and `-h` alone, see main()), `-dash` is an unknown option: exit 64 for every
        // command and option, share ids included.
        helpNames: [.long]
    )

    static let versionString = "0.1.0"

    /// The names of every command and subcommand, for telling a help request from an argument.
    static let commandNames: Set<String> = {
        var names: Set<String> = []
        func collect(_ command: any ParsableCommand.Type) {
            for sub in command.configuration.subcommands {
                names.insert(sub._commandName)
                collect(sub)
            }
        }
        collect(StrongroomCommand.self)
        return names
    }()

    /// Turns core dumps off before anything else runs (before any argument is parsed or any secret
    /// read): a process that cannot protect itself stops (exit 71). Then runs the command line,
    /// turning a lone `-h` (before any `--`) into `--help`, and refusing up front an argument made of
    /// one dash and several characters: no option here is spelled so, and such an argument is most
    /// often a share id or value starting with '-' (exit 64, with a clear message, instead of
    /// ArgumentParser's "missing argument"). The argument is not echoed.
    ///
    /// `strongroom --version` prints the version. It is handled here rather than by a root option or
    /// ArgumentParser's `version:`, either of which would take `get ID --version N` for itself or list
    /// a second `--version` in every subcommand's help.
    static func main() async {
        do {
            try ProcessHardening.disableCoreDumps()
        } catch {
            let message = "strongroom: \(error); refusing to handle secrets without it\n"
            _ = message.utf8CString.withUnsafeBufferPointer { write(STDERR_FILENO, $0.baseAddress, $0.count - 1) }
            Glibc.exit(71)
        }
        var arguments = Array(CommandLine.arguments.dropFirst())
        if arguments == ["--version"] {
            print(versionString)
            return
        }
        let end = arguments.firstIndex(of: "--") ?? arguments.endIndex
        // Help only where nothing else was said: `strongroom put --help`, not `strongroom put "$id"
        // --config c.yaml` with an id of `--help` or `-h`, which would print help, exit 0 with nothing
        // stored, and let `&& rm secret` delete the only copy.
        let asksForHelp = arguments[..<end].contains { $0 == "-h" || $0 == "--help" }
        if asksForHelp, let other = arguments[..<end].firstIndex(where: {
            $0 != "-h" && $0 != "--help" && !commandNames.contains($0)
        }) {
            Terminal.error(
                "--help and -h are accepted only after command names alone (for example `strongroom put --help`), and argument \(other + 1) is something else; share ids never start with '-'. Nothing was done")
            Foundation.exit(64)
        }
        for index in arguments.startIndex..<end {
            let argument = arguments[index]
            if argument == "-h" {
                arguments[index] = "--help"
            } else if argument.count > 2, argument.hasPrefix("-"), !argument.hasPrefix("--") {
                Terminal.error(
                    "argument \(index + 1) starts with a single '-' but is not an option; share ids never start with '-', and a value that does goes after '--' or as --option=VALUE (see --help)")
                Foundation.exit(64)
            }
        }
        await main(arguments)
    }
}
