import ArgumentParser
import Foundation
import Strongroom
import StrongroomServer

struct MigrateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "migrate",
        abstract: "Copy every share version of the vault into another vault, of any tier (resumable).",
        discussion: """
            Every share version and record of the vault of --config is re-sealed under the keys of the \
            vault of --to (created with `strongroom init` beforehand, and empty), keeping version numbers, \
            created-at and metadata; each copy is loaded back and compared before the next. A final pass \
            under the source vault's lock copies what was written meanwhile and verifies everything. If \
            the migration is interrupted, run it again: it resumes (the journal is migration.json in the \
            destination). With --erase-source the source's shares are erased, only after the whole \
            destination verified. Progress goes to standard error when that is a terminal.
            """)

    @OptionGroup var options: GlobalOptions

    @Option(name: .long, help: ArgumentHelp("Configuration file of the destination vault.", valueName: "file"))
    var to: String

    @Flag(name: .long, help: "Count and list what would be copied; write nothing.")
    var dryRun = false

    @Option(name: .long, help: "Share versions copied at once (1-64); above 1 helps with an HSM or KMS.")
    var concurrency: Int = 1

    @Flag(name: .long, help: "After the destination verified, erase every share of the source vault (cannot be undone).")
    var eraseSource = false

    @Flag(name: .long, help: "Do not ask to confirm --erase-source (required when standard input is not a terminal).")
    var yes = false

    func run() async throws {
        try await Terminal.run {
            guard (1...64).contains(concurrency) else {
                throw StrongroomError(.invalidInput, "--concurrency must be 1 to 64, got \(concurrency)")
            }
            let logger = options.makeLogger()
            let source = try await options.openStore(logger: logger)
            let destinationConfiguration = try await StrongroomConfiguration.load(
                filePath: to, environment: ProcessInfo.processInfo.environment)
            let destination = try await OpenStores.open(configuration: destinationConfiguration, logger: logger)
            if eraseSource && !dryRun && !yes {
                guard Terminal.standardInputIsTerminal else {
                    throw StrongroomError(
                        .invalidInput, "--erase-source cannot be undone; pass --yes to confirm when not at a terminal")
                }
                FileHandle.standardError.write(Data(
                    "erase every share of vault \(source.vaultID) (\(source.location)) once it is copied? type the vault id to confirm: ".utf8))
                guard readLine() == source.vaultID.hex else {
                    Terminal.note("not confirmed; nothing copied or erased")
                    throw ExitCode(1)
                }
            }
            let showProgress = Terminal.standardErrorIsTerminal && !dryRun
            let show: @Sendable (MigrationProgress) -> Void = { progress in
                guard progress.done % 64 == 0 || progress.done == progress.total else { return }
                let what: String
                switch progress.phase {
                case .erasingSource: what = "erasing source: \(progress.done)/\(progress.total)"
                case .finalPass: what = "final pass: \(progress.done)/\(progress.total) (copied \(progress.copied), verified \(progress.alreadyPresent))"
                default: what = "copying: \(progress.done)/\(progress.total) (copied \(progress.copied), already present \(progress.alreadyPresent))"
                }
                FileHandle.standardError.write(Data("\r\(what)\u{1B}[K".utf8))
                if progress.done == progress.total { FileHandle.standardError.write(Data("\n".utf8)) }
            }
            let started = ContinuousClock.now
            let migration = Migration(
                from: source, to: destination, concurrency: concurrency, eraseSource: eraseSource, dryRun: dryRun,
                logger: logger)
            let report = try await migration.run(progress: showProgress ? show : nil)
            let seconds = (ContinuousClock.now - started).seconds
            for line in VaultDocuments.migrationSummary(report, seconds: seconds, eraseSource: eraseSource) {
                print(line)
            }
        }
    }
}
