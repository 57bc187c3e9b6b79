import ArgumentParser
import Foundation
import Logging
import Strongroom

struct HSMCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hsm", abstract: "Tier 3 tools for PKCS#11 HSMs.", subcommands: [HSMCheckCommand.self])
}

/// Where the HSM is: a configuration file with `tier: hsm`, or these flags (which win).
struct HSMOptions: ParsableArguments {
    @Option(name: .long, help: ArgumentHelp("PKCS#11 module (.so).", valueName: "path"))
    var module: String?

    @Option(name: .long, help: ArgumentHelp("Token label.", valueName: "label"))
    var token: String?

    @Option(name: .long, help: ArgumentHelp("Token serial number (instead of the label).", valueName: "serial"))
    var tokenSerial: String?

    @Option(name: .long, help: ArgumentHelp("C_Initialize pReserved string (NSS softokn needs one).", valueName: "text"))
    var initArgs: String?

    @Option(name: .long, help: ArgumentHelp("File (0600) holding the user PIN; default: $STRONGROOM_HSM_PIN.", valueName: "file"))
    var pinFile: String?

    /// The HSM settings: from the flags when --module and a token are given, else from the configuration.
    func settings(_ global: GlobalOptions) async throws -> StrongroomConfiguration.HSM {
        var settings: StrongroomConfiguration.HSM
        if let module, token != nil || tokenSerial != nil {
            settings = StrongroomConfiguration.HSM(modulePath: module, tokenLabel: token, blobPath: "")
        } else {
            let configuration = try await global.loadConfiguration()
            guard let configured = configuration.settings as? StrongroomConfiguration.HSM else {
                throw StrongroomError(
                    .configuration,
                    "no HSM given: pass --module and --token (or --token-serial), or a configuration with tier: hsm (\(configuration.source) has another tier)")
            }
            settings = configured
            if let module { settings.modulePath = module }
            if let token { settings.tokenLabel = token }
        }
        if let tokenSerial { settings.tokenSerial = tokenSerial }
        if let initArgs { settings.initArgs = initArgs }
        if let pinFile { settings.pinFile = pinFile }
        return settings
    }
}

struct HSMCheckCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Self-test an HSM for tier 3: token, mechanisms, KEK protection, seal/open/rewrap.",
        discussion: """
            Prints one PASS or FAIL line per check and exits 1 if any check fails. It creates two \
            temporary AES-256 KEKs on the token and destroys them at the end. The PIN comes from \
            $STRONGROOM_HSM_PIN (or hsm.pinEnv) or --pin-file, never from an argument.
            """)

    @OptionGroup var options: GlobalOptions
    @OptionGroup var hsm: HSMOptions

    func run() async throws {
        var failed = 0
        try await Terminal.run {
            let logger = options.makeLogger()
            let settings = try await hsm.settings(options)
            let token = settings.tokenSerial.map { "serial \($0)" } ?? "'\(settings.tokenLabel ?? "")'"
            print("strongroom hsm check: module \(settings.modulePath), token \(token)")
            let results = await HSMCheck.run(settings, logger: logger) { result in
                let name = result.name.padding(toLength: 26, withPad: " ", startingAt: 0)
                print("\(result.passed ? "PASS" : "FAIL")  \(name)  \(result.detail)")
            }
            failed = results.filter { !$0.passed }.count
            print("\(results.count) checks: \(results.count - failed) passed, \(failed) failed")
            try await recordCheck(settings: settings, token: token, checks: results.count, failed: failed, logger: logger)
        }
        if failed > 0 { throw ExitCode(1) }
    }

    /// Records the check in the audit log of the configured tier 3 vault, when there is one on this
    /// token (a check run with flags alone, or before `init`, has no vault to record it in).
    private func recordCheck(settings: StrongroomConfiguration.HSM, token: String, checks: Int, failed: Int, logger: Logger) async throws {
        guard let configuration = try? await options.loadConfiguration(),
            let configured = configuration.settings as? StrongroomConfiguration.HSM,
            configured.modulePath == settings.modulePath
        else { return }
        let store: ShareStore
        do {
            store = try await OpenStores.open(configuration: configuration, logger: logger)
        } catch let error as StrongroomError where error.code == .vaultNotInitialised {
            return
        }
        let event = AuditEvent(
            .hsmCheck,
            details: ["hsm.module": settings.modulePath, "hsm.token": token, "checks": "\(checks)", "failed": "\(failed)"])
        try await store.recordAudit(event, outcome: failed == 0 ? .ok : .error(code: "hsm check failed", exitStatus: 1))
    }
}

extension Terminal {
    /// ``warnWeakToken(_:)`` as a value, for `HSMVault.initialise(_:acceptWeakToken:logger:)`.
    static let weakTokenWarning: @Sendable ([String]) -> Void = { warnWeakToken($0) }

    /// The loud warning of `--accept-weak-token`: what the token failed to enforce, on standard error.
    static func warnWeakToken(_ weaknesses: [String]) {
        var lines = ["WARNING: this HSM token does NOT protect the vault's KEK; accepted only because of --accept-weak-token."]
        lines += weaknesses.map { "WARNING:   \($0)" }
        lines.append("WARNING: anyone with the token's PIN can take the KEK out and open every blob. Use such a token for tests only.")
        FileHandle.standardError.write(Data((lines.joined(separator: "\n") + "\n").utf8))
    }
}
