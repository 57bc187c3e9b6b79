import ArgumentParser
import Foundation
import Strongroom
import StrongroomServer

struct RecoveryEnrolCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enrol",
        abstract: "Give the vault a recovery key (or replace it): seal every share version's data key to it (resumable).",
        discussion: """
            KEY FILE is a `recovery.pub` file (`strongroom recovery init` writes one). The enrolment is \
            journalled before any blob changes; from then on every new share version is sealed to the key, \
            and the pass re-seals every existing share version and record that has no section for it. If it \
            is interrupted, run it again: it finishes where it stopped. Progress goes to standard error when \
            that is a terminal.
            """)

    @OptionGroup var options: GlobalOptions

    @Option(name: .long, help: ArgumentHelp("The recovery public key file (recovery.pub).", valueName: "file"))
    var key: String

    @Flag(name: .long, help: "Count what would be re-sealed and change nothing.")
    var dryRun = false

    @Option(name: .long, help: "Share versions re-sealed at once (1-64); above 1 helps with an HSM or KMS.")
    var concurrency: Int = 1

    func run() async throws {
        try await Terminal.run {
            let recoveryKey = try RecoveryKeyFile.read(key)
            let store = try await options.openStore(logger: options.makeLogger())
            let report = try await RecoveryKeyFile.enrol(recoveryKey, in: store, dryRun: dryRun, concurrency: concurrency)
            for line in VaultDocuments.recoveryEnrolmentSummary(report, fingerprint: recoveryKey.fingerprintText) {
                print(line)
            }
        }
    }
}

/// Reading a `recovery.pub` file and running an enrolment with progress (also used by `init --recovery-key`).
enum RecoveryKeyFile {
    /// Reads and parses a recovery public key file (public: at most 4 KiB read).
    static func read(_ path: String) throws -> RecoveryPublicKey {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw StrongroomError(.invalidInput, "cannot read the recovery key file \(path)")
        }
        defer { try? handle.close() }
        let data = (try? handle.read(upToCount: 4096)) ?? nil
        return try RecoveryPublicKey(fileContents: Array(data ?? Data()), source: path)
    }

    static func enrol(
        _ key: RecoveryPublicKey, in store: ShareStore, dryRun: Bool, concurrency: Int
    ) async throws -> RecoveryEnrolmentReport {
        let show: @Sendable (RecoveryEnrolmentProgress) -> Void = { progress in
            guard progress.done % 64 == 0 || progress.done == progress.total else { return }
            FileHandle.standardError.write(Data(
                "\rsealing to the recovery key: \(progress.done)/\(progress.total) (re-sealed \(progress.resealed), already \(progress.alreadyEnrolled), failed \(progress.failed))".utf8))
            if progress.done == progress.total { FileHandle.standardError.write(Data("\n".utf8)) }
        }
        return try await store.enrolRecoveryKey(
            key, dryRun: dryRun, concurrency: concurrency, progress: Terminal.standardErrorIsTerminal ? show : nil)
    }
}
