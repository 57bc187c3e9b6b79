import ArgumentParser
import Foundation
import Logging
import Strongroom
import StrongroomClient

/// Options every vault command takes.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Configuration file (.yaml, .yml or .json).", valueName: "file"))
    var config: String?

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .warning

    @Option(
        name: .long,
        help: ArgumentHelp(
            "Run the command through a `strongroom serve` at this address (unix:/path, /path, or host:port with mutual TLS); else $STRONGROOM_SERVER. put, get, list, versions, erase, rotate, status and audit take it.",
            valueName: "address"))
    var server: String?

    @Option(name: .customLong("tls-cert"), help: ArgumentHelp("With a TCP --server: this client's certificate (PEM); else $STRONGROOM_CLIENT_TLS_CERT.", valueName: "file"))
    var tlsCert: String?

    @Option(name: .customLong("tls-key"), help: ArgumentHelp("With a TCP --server: this client's private key (PEM); else $STRONGROOM_CLIENT_TLS_KEY.", valueName: "file"))
    var tlsKey: String?

    @Option(name: .customLong("tls-ca"), help: ArgumentHelp("With a TCP --server: the CA that signed the server's certificate (PEM); else $STRONGROOM_CLIENT_TLS_CA.", valueName: "file"))
    var tlsCA: String?

    private static func environment(_ name: String) -> String? {
        ProcessInfo.processInfo.environment[name].flatMap { $0.isEmpty ? nil : $0 }
    }

    /// The server to go through: --server, else $STRONGROOM_SERVER; nil to open the vault here.
    var serverAddress: String? { server ?? Self.environment("STRONGROOM_SERVER") }

    /// The vault a vault command works on: the server's (``RemoteVault``) when --server or
    /// $STRONGROOM_SERVER names one, else the configured store opened in this process.
    func openVault(logger: Logger) async throws -> any VaultAccess {
        guard let text = serverAddress else { return try await openLocalStore(logger: logger) }
        let address = try ServerAddress.parse(text)
        let cert = tlsCert ?? Self.environment("STRONGROOM_CLIENT_TLS_CERT")
        let key = tlsKey ?? Self.environment("STRONGROOM_CLIENT_TLS_KEY")
        let ca = tlsCA ?? Self.environment("STRONGROOM_CLIENT_TLS_CA")
        var tls: ClientTLSFiles?
        switch (cert, key, ca) {
        case (nil, nil, nil):
            tls = nil
        case (let cert?, let key?, let ca?):
            guard case .tcp = address.kind else {
                throw StrongroomError(
                    .invalidInput,
                    "--tls-cert, --tls-key and --tls-ca are for a TCP server; \(address) is a Unix socket, where the server knows you by your uid")
            }
            tls = ClientTLSFiles(certificate: cert, key: key, trustRoots: ca)
        default:
            throw StrongroomError(.invalidInput, "mutual TLS needs all three of --tls-cert, --tls-key and --tls-ca")
        }
        if config != nil {
            throw StrongroomError(
                .invalidInput,
                "--config and --server do not go together: through a server, the server's own configuration names the vault")
        }
        return try RemoteVault.connect(address, tls: tls)
    }

    func makeLogger() -> Logger {
        LoggingSetup.bootstrap(level: logLevel)
        return Logger(label: "strongroom")
    }

    /// The configuration file: --config, else $STRONGROOM_CONFIG.
    var configPath: String? {
        config ?? ProcessInfo.processInfo.environment["STRONGROOM_CONFIG"].flatMap { $0.isEmpty ? nil : $0 }
    }

    func loadConfiguration() async throws -> StrongroomConfiguration {
        if server != nil {
            throw StrongroomError(
                .invalidInput,
                "this command works on a local vault only and does not run through a server; drop --server (put, get, list, versions, erase, rotate, status and audit take it)")
        }
        let environment = ProcessInfo.processInfo.environment
        if configPath == nil && !environment.keys.contains(where: { $0.hasPrefix("STRONGROOM_") && $0 != "STRONGROOM_CONFIG" }) {
            throw StrongroomError(
                .configuration,
                "no configuration: pass --config FILE, set STRONGROOM_CONFIG, or set STRONGROOM_LOCAL_PATH (see README.md)")
        }
        return try await StrongroomConfiguration.load(filePath: configPath, environment: environment)
    }

    /// Opens the configured store; its audit log is checkpointed when the command ends (``OpenStores``).
    /// For commands that work on a local vault only: with --server (or $STRONGROOM_SERVER) they refuse
    /// rather than quietly open a local vault instead.
    func openStore(logger: Logger) async throws -> ShareStore {
        if serverAddress != nil {
            let from = server != nil ? "--server" : "STRONGROOM_SERVER"
            throw StrongroomError(
                .invalidInput,
                "this command works on a local vault only and does not run through a server; drop \(from) (put, get, list, versions, erase, rotate, status and audit take it)")
        }
        return try await openLocalStore(logger: logger)
    }

    private func openLocalStore(logger: Logger) async throws -> ShareStore {
        try await OpenStores.open(configuration: try await loadConfiguration(), logger: logger)
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

enum LoggingSetup {
    /// Bootstraps swift-log to standard error. The CLI runs one command per process, so this runs once;
    /// the library never bootstraps logging, it only takes a Logger.
    static func bootstrap(level: Logger.Level) {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
    }
}
