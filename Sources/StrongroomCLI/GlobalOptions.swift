import ArgumentParser
import Foundation
import Logging
import Strongroom

/// Options every vault command takes.
struct GlobalOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("Configuration file (.yaml, .yml or .json).", valueName: "file"))
    var config: String?

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .warning

    func makeLogger() -> Logger {
        LoggingSetup.bootstrap(level: logLevel)
        return Logger(label: "strongroom")
    }

    /// The configuration file: --config, else $STRONGROOM_CONFIG.
    var configPath: String? {
        config ?? ProcessInfo.processInfo.environment["STRONGROOM_CONFIG"].flatMap { $0.isEmpty ? nil : $0 }
    }

    func loadConfiguration() async throws -> StrongroomConfiguration {
        let environment = ProcessInfo.processInfo.environment
        if configPath == nil && !environment.keys.contains(where: { $0.hasPrefix("STRONGROOM_") && $0 != "STRONGROOM_CONFIG" }) {
            throw StrongroomError(
                .configuration,
                "no configuration: pass --config FILE, set STRONGROOM_CONFIG, or set STRONGROOM_LOCAL_PATH (see README.md)")
        }
        return try await StrongroomConfiguration.load(filePath: configPath, environment: environment)
    }

    /// Opens the configured store; its audit log is checkpointed when the command ends (``OpenStores``).
    func openStore(logger: Logger) async throws -> ShareStore {
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
