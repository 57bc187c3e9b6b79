#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Foundation
import Strongroom
import StrongroomServer

struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve the vault over gRPC to engines in any language (docs/server.md).",
        discussion: """
            Listens on the Unix socket server.socket (default /run/strongroom/strongroom.sock: the socket 0600 in \
            a 0700 directory; the caller is known by its uid), and on server.tcp with mutual TLS when set (the \
            caller is known by its certificate's subject). Every request is checked against the access policy \
            file server.policy (required). Prints one line on standard error when ready: \
            `strongroom: serving <tier> vault <id> on unix:<path>[, tcp://host:port (mutual TLS)][, metrics on ...]`.

            SIGTERM drains: new requests are refused, requests in flight finish (up to \
            server.drainTimeoutSeconds), the audit log is checkpointed, exit 0. SIGHUP reloads the policy; a \
            policy file that does not parse is reported and the previous policy stays in force.
            """)

    @OptionGroup var options: GlobalOptions

    func run() async throws {
        // Everything the server creates (sockets, files) is the server user's alone.
        umask(0o077)
        // SIGHUP and SIGTERM are handled by the service group once it runs; until then they must not
        // kill the process (a reload or a stop sent early is taken when the handlers are in place).
        signal(SIGHUP, SIG_IGN)
        signal(SIGPIPE, SIG_IGN)
        try await Terminal.run {
            let logger = options.makeLogger()
            let configuration = try await options.loadConfiguration()
            let settings = try await ServerSettings.load(filePath: options.configPath)
            do {
                try await ServerRunner.run(
                    configuration: configuration, settings: settings, version: StrongroomCommand.versionString,
                    logger: logger, announce: { Terminal.note($0) })
            } catch let error as StrongroomError {
                throw error
            } catch {
                throw StrongroomError(.serverUnavailable, "the server stopped: \(error)")
            }
        }
    }
}
