#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import SecureCrypto
import Strongroom

struct PutCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "put",
        abstract: "Store a new version of a share, read from standard input or a file (never an argument).",
        discussion: """
            From a pipe or file the bytes are stored exactly as read (binary-safe). From a terminal, one line \
            is read with echo off. On success prints one line to standard output, `stored '<id>' version <n>`, \
            where <n> is the new version number (1 for a new share); nothing else goes to standard output.
            """)

    @OptionGroup var options: GlobalOptions

    @Argument(help: "The share id (A-Z a-z 0-9 . _ -, up to 128 characters).")
    var id: String

    @Option(name: .long, help: ArgumentHelp("Read the share from this file instead of standard input.", valueName: "path"))
    var file: String?

    @Option(name: .customLong("meta"), help: ArgumentHelp("Non-secret metadata, repeatable.", valueName: "key=value"))
    var metadata: [String] = []

    func run() async throws {
        try await Terminal.run {
            let logger = options.makeLogger()
            let shareID = try ShareID(id)
            var pairs: [String: String] = [:]
            for item in metadata {
                guard let equals = item.firstIndex(of: "="), equals != item.startIndex else {
                    throw StrongroomError(.invalidInput, "--meta takes key=value, got '\(item)'")
                }
                pairs[String(item[..<equals])] = String(item[item.index(after: equals)...])
            }
            let limit = 65536
            let secret: SecretBytes
            if let file {
                let fd = try Terminal.openSecretFile(file, flags: O_RDONLY)
                defer { close(fd) }
                secret = try Terminal.readSecret(fd: fd, limit: limit, source: file, stripNewline: false)
            } else if Terminal.standardInputIsTerminal {
                secret = try Terminal.readHiddenLine(prompt: "share for '\(shareID)' (input hidden): ", limit: limit)
            } else {
                secret = try Terminal.readSecret(fd: STDIN_FILENO, limit: limit, source: "standard input", stripNewline: false)
            }
            let store = try await options.openVault(logger: logger)
            let version = try await store.store(shareID, secret, metadata: pairs)
            print("stored '\(shareID)' version \(version)")
        }
    }
}
