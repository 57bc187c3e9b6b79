import ArgumentParser
import Foundation
import Strongroom

struct EraseCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "erase",
        abstract: "Destroy every version of a share (overwrite, unlink; the wrapped data keys are gone for good).")

    @OptionGroup var options: GlobalOptions

    @Argument(help: "The share id.")
    var id: String

    @Flag(name: .long, help: "Do not ask for confirmation (required when standard input is not a terminal).")
    var yes = false

    func run() async throws {
        try await Terminal.run {
            let shareID = try ShareID(id)
            if !yes {
                guard Terminal.standardInputIsTerminal else {
                    throw StrongroomError(.invalidInput, "erase cannot be undone; pass --yes to confirm when not at a terminal")
                }
                FileHandle.standardError.write(Data("erase every version of '\(shareID)'? type the share id to confirm: ".utf8))
                guard readLine() == shareID.rawValue else {
                    Terminal.note("not confirmed; nothing erased")
                    throw ExitCode(1)
                }
            }
            let store = try await options.openVault(logger: options.makeLogger())
            let count = try await store.erase(shareID)
            print("erased '\(shareID)': \(count) version(s) destroyed")
        }
    }
}
