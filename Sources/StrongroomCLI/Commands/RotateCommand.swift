import ArgumentParser
import Foundation
import Strongroom

struct RotateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "rotate",
        abstract: "Create a new KEK version and rewrap every share's data key under it (resumable).",
        discussion: """
            Share ciphertexts are not touched; only the wrapped data keys change. If the rotation is \
            interrupted, run it again: it resumes where it stopped. Progress goes to standard error when \
            that is a terminal.
            """)

    @OptionGroup var options: GlobalOptions

    @Flag(name: .long, help: "Count what would be rewrapped and change nothing.")
    var dryRun = false

    @Option(name: .long, help: "Share versions rewrapped at once (1-64); above 1 helps with an HSM or KMS.")
    var concurrency: Int = 1

    func run() async throws {
        try await Terminal.run {
            let store = try await options.openVault(logger: options.makeLogger())
            let showProgress = Terminal.standardErrorIsTerminal
            let started = ContinuousClock.now
            // Progress only on a terminal: counting the share versions for it costs a listing per share.
            let show: @Sendable (RotationProgress) -> Void = { progress in
                guard progress.done % 64 == 0 || progress.done == progress.total else { return }
                FileHandle.standardError.write(Data(
                    "\rrewrapping: \(progress.done)/\(progress.total) (rewrapped \(progress.rewrapped), already current \(progress.alreadyCurrent), failed \(progress.failed))".utf8))
                if progress.done == progress.total { FileHandle.standardError.write(Data("\n".utf8)) }
            }
            let report = try await store.rotateWrappingKey(dryRun: dryRun, concurrency: concurrency, progress: showProgress ? show : nil)
            let seconds = (ContinuousClock.now - started).seconds
            let from = report.fromVersions.map(String.init).joined(separator: ", ")
            if report.dryRun {
                print("dry run: \(report.rewrapped) share version(s) would be rewrapped from KEK version(s) [\(from)] to \(report.targetVersion); \(report.alreadyCurrent) already current; nothing changed")
            } else {
                print("rotated to KEK version \(report.targetVersion)\(report.resumed ? " (resumed)" : ""): \(report.rewrapped) rewrapped, \(report.alreadyCurrent) already current, in \(String(format: "%.2f", seconds)) s")
            }
        }
    }
}

extension Duration {
    var seconds: Double {
        let parts = components
        return Double(parts.seconds) + Double(parts.attoseconds) / 1e18
    }
}
