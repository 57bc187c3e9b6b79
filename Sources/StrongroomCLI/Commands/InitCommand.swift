import ArgumentParser
import Strongroom

struct InitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init", abstract: "Create a new vault (tier 1: its directory and a fresh root seed file).")

    @OptionGroup var options: GlobalOptions

    func run() async throws {
        try await Terminal.run {
            let logger = options.makeLogger()
            let configuration = try await options.loadConfiguration()
            guard case .local(let local) = configuration.tier else {
                throw StrongroomError(.tierUnavailable, "`init` for this tier is not available in this build yet")
            }
            let vault = try await LocalVault.initialise(local, logger: logger)
            print("created vault \(vault.hex)")
            print("  directory: \(local.path) (0700)")
            print("  root seed: \(local.rootSeedFile) (0600)")
            print("Back up the root seed file somewhere safe and separate: without it no share can be opened.")
        }
    }
}
