#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import SecureCrypto
import Strongroom

struct GetCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "get",
        abstract: "Load a share into a new file (created 0600) or, with --stdout, to standard output.")

    @OptionGroup var options: GlobalOptions

    @Argument(help: "The share id.")
    var id: String

    @Option(name: .long, help: "The version to load (default: the newest).")
    var version: UInt64?

    @Option(name: [.short, .long], help: ArgumentHelp("Write the share to this new file (mode 0600).", valueName: "path"))
    var output: String?

    @Flag(name: .long, help: "Write the share to standard output.")
    var stdout = false

    func validate() throws {
        if output == nil && !stdout {
            throw ValidationError("say where the share goes: --output FILE (created 0600) or --stdout")
        }
        if output != nil && stdout {
            throw ValidationError("use either --output or --stdout, not both")
        }
    }

    func run() async throws {
        try await Terminal.run {
            let logger = options.makeLogger()
            let shareID = try ShareID(id)
            let store = try await options.openVault(logger: logger)
            let secret = try await store.load(shareID, version: version)
            if let output {
                let fd = try Terminal.createOutputFile(output)
                defer { close(fd) }
                try Terminal.writeSecret(secret, fd: fd, destination: output)
                guard fsync(fd) == 0 else { throw StrongroomError(.io, "fsync failed for \(output)") }
                Terminal.note("wrote '\(shareID)' (\(secret.count) bytes) to \(output)")
            } else {
                try Terminal.writeSecret(secret, fd: STDOUT_FILENO, destination: "standard output")
            }
        }
    }
}
