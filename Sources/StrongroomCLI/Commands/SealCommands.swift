#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Foundation
import GRPCCore
import SecureCrypto
import Strongroom
import StrongroomClient
import StrongroomProto

/// `strongroom seal-seed`: converts a tier 1 vault's plain root seed file into a sealed one, crash-safely.
struct SealSeedCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "seal-seed",
        abstract: "Seal an existing tier 1 vault's plain root seed file to T of N custodian parts.",
        discussion: """
            Asks each custodian for a new passphrase (terminal, twice, hidden; or one per line from \
            --passphrase-fd FD), splits a new key into N passphrase-sealed parts (any T unseal), writes the \
            seed sealed to that key beside the seed file, reads it back and opens it with the parts, writes \
            the parts into DIR, renames the sealed file over the plain one and overwrites the old plain bytes. \
            Killed at any point, nothing is lost: before the rename the plain seed is in place (run again: \
            it resumes when DIR holds the parts of the interrupted run, else starts afresh), after it the \
            vault is sealed. Then set local.seal: sealed; the vault opens only in `strongroom serve`, \
            unsealed with `strongroom unseal`. See docs/server.md.
            """)

    @OptionGroup var options: GlobalOptions

    @Option(name: .long, help: ArgumentHelp("How many custodian parts to make (N, 2 to 255).", valueName: "N"))
    var custodians: Int

    @Option(name: .long, help: ArgumentHelp("How many parts unseal the vault (T, 2 to N).", valueName: "T"))
    var threshold: Int

    @Option(name: .long, help: ArgumentHelp("Directory for the part files (created 0700; must hold none).", valueName: "dir"))
    var partsDir: String

    @Option(
        name: .long,
        help: ArgumentHelp("Read the passphrases from this open file descriptor, one per line.", valueName: "fd"))
    var passphraseFd: Int32?

    /// Test hook: `STRONGROOM_TEST_SEAL_SEED_KILL_AFTER=<step>` kills the process with SIGKILL right after
    /// that step (sealed-written, parts-written, renamed, wiped), for the crash tests.
    static func killHook() -> (RootSeedSealing.Step) -> Void {
        let target = ProcessInfo.processInfo.environment["STRONGROOM_TEST_SEAL_SEED_KILL_AFTER"]
        return { step in
            if step.rawValue == target { kill(getpid(), SIGKILL) }
        }
    }

    func run() async throws {
        try await Terminal.run {
            let logger = options.makeLogger()
            let configuration = try await options.loadConfiguration()
            guard let local = configuration.settings as? StrongroomConfiguration.Local else {
                throw StrongroomError(.invalidInput, "seal-seed is for tier 1 (local) vaults; this configuration is tier \(configuration.tier)")
            }
            guard threshold >= 2, threshold <= custodians, custodians <= 255 else {
                throw StrongroomError(
                    .invalidInput,
                    "need 2 <= --threshold <= --custodians <= 255, got --threshold \(threshold) --custodians \(custodians); nothing was changed")
            }
            if let pending = try RootSeedSealing.pending(local) {
                if try await resume(local, pending: pending) { return }
                try RootSeedSealing.discardPending(local)
                Terminal.note("removed \(RootSeedSealing.pendingPath(local)), left by an interrupted run that wrote no parts; starting afresh")
            }
            if try POSIX_isSealed(local.rootSeedFile) {
                throw StrongroomError(
                    .vaultAlreadyExists,
                    "root seed file \(local.rootSeedFile) is already sealed; nothing was changed (set local.seal: sealed and unseal it through `strongroom serve`)")
            }
            let directory = try RecoveryOutputDirectory(path: partsDir)
            defer { directory.close() }
            let split = try await CustodianSplit.make(custodians: custodians, threshold: threshold, passphraseFd: passphraseFd)
            let sealed = try await RootSeedSealing.seal(
                local, to: split.publicKey, custodians: custodians, threshold: threshold,
                verify: { sealed in try await split.open(sealed, source: RootSeedSealing.pendingPath(local)) },
                writeParts: { try split.write(into: directory) }, step: SealSeedCommand.killHook(), logger: logger)
            print("sealed root seed \(local.rootSeedFile) to \(sealed.threshold) of \(sealed.custodians) custodian parts")
            print("  custodians' key: \(split.publicKey.fingerprintText)")
            split.printParts(directory)
            print(
                "The plain seed was overwritten. Set local.seal: sealed in the configuration: the vault now opens only in `strongroom serve`, unsealed by any \(threshold) custodians with `strongroom unseal`.")
        }
    }

    /// Finishes an interrupted run whose parts are all in --parts-dir; false when they are not there.
    private func resume(_ local: StrongroomConfiguration.Local, pending: SealedRootSeed) async throws -> Bool {
        let names = (1...pending.custodians).map { "part-\($0)-of-\(pending.custodians).srpart" }
        let paths = names.map { partsDir.hasSuffix("/") ? partsDir + $0 : "\(partsDir)/\($0)" }
        var parts: [(source: String, bytes: [UInt8])] = []
        for path in paths {
            guard FileManager.default.fileExists(atPath: path), let bytes = try? RecoverCommand.readPart(path),
                let info = try? RecoveryCustodians.inspect(bytes, source: path), info.keyFingerprint == pending.keyFingerprint
            else { return false }
            parts.append((path, bytes))
        }
        Terminal.note("resuming an interrupted seal-seed: \(RootSeedSealing.pendingPath(local)) and its parts in \(partsDir)")
        let reader = try PassphraseReader(passphraseFD: passphraseFd)
        let chosen = Array(parts.prefix(pending.threshold))
        try await RootSeedSealing.resume(
            local,
            verify: { sealed in
                let (privateKey, _) = try await RecoveryCustodians.combine(parts: chosen) { source in
                    try reader.passphrase(forPart: source)
                }
                return try sealed.open(privateKey: privateKey, source: RootSeedSealing.pendingPath(local))
            }, step: SealSeedCommand.killHook())
        print("sealed root seed \(local.rootSeedFile) to \(pending.threshold) of \(pending.custodians) custodian parts (resumed)")
        print("  custodians' key: \(pending.fingerprintText)")
        print("Set local.seal: sealed in the configuration: the vault now opens only in `strongroom serve`.")
        return true
    }
}

/// Whether a seed file holds a sealed seed (by its size; a plain seed is never read here).
private func POSIX_isSealed(_ path: String) throws -> Bool {
    var info = stat()
    guard lstat(path, &info) == 0 else { return false }
    return Int(info.st_size) == SealedRootSeed.size
}

/// `--server` and the mutual TLS files of a command that runs through a server.
struct ServerConnectionOptions: ParsableArguments {
    @Option(
        name: .long,
        help: ArgumentHelp("The server: unix:/path, /path, or host:port (mutual TLS). Default: $STRONGROOM_SERVER.", valueName: "address"))
    var server: String?

    @Option(name: .customLong("tls-cert"), help: ArgumentHelp("Client certificate (PEM) for a TCP server; else $STRONGROOM_CLIENT_TLS_CERT.", valueName: "file"))
    var tlsCert: String?

    @Option(name: .customLong("tls-key"), help: ArgumentHelp("Client private key (PEM) for a TCP server; else $STRONGROOM_CLIENT_TLS_KEY.", valueName: "file"))
    var tlsKey: String?

    @Option(name: .customLong("tls-ca"), help: ArgumentHelp("CA certificate (PEM) the server's certificate must chain to; else $STRONGROOM_CLIENT_TLS_CA.", valueName: "file"))
    var tlsCA: String?

    func address() throws -> (ServerAddress, ClientTLSFiles?) {
        guard let text = server ?? ProcessInfo.processInfo.environment["STRONGROOM_SERVER"].flatMap({ $0.isEmpty ? nil : $0 }) else {
            throw StrongroomError(.invalidInput, "no server: pass --server ADDRESS (unix:/path or host:port) or set STRONGROOM_SERVER")
        }
        let address = try ServerAddress.parse(text)
        // The same variables as the global --tls-* options read.
        let environment = ProcessInfo.processInfo.environment
        func fallback(_ name: String) -> String? { environment[name].flatMap { $0.isEmpty ? nil : $0 } }
        let cert = tlsCert ?? fallback("STRONGROOM_CLIENT_TLS_CERT")
        let key = tlsKey ?? fallback("STRONGROOM_CLIENT_TLS_KEY")
        let ca = tlsCA ?? fallback("STRONGROOM_CLIENT_TLS_CA")
        var tls: ClientTLSFiles?
        if let cert, let key, let ca {
            tls = ClientTLSFiles(certificate: cert, key: key, trustRoots: ca)
        } else if cert != nil || key != nil || ca != nil {
            throw StrongroomError(.invalidInput, "--tls-cert, --tls-key and --tls-ca go together; give all three")
        }
        return (address, tls)
    }

    /// Runs `body` with the vault client; a gRPC error becomes the Strongroom error it carries.
    func withVault<T: Sendable>(_ body: @Sendable (StrongroomClient.Vault) async throws -> T) async throws -> T {
        let (address, tls) = try address()
        do {
            return try await StrongroomClient.withVault(address, tls: tls, body)
        } catch let error as RPCError {
            throw RPCErrorMapping.strongroomError(error)
        }
    }
}

/// `strongroom unseal`: hands one custodian part to a sealed server.
struct UnsealCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "unseal",
        abstract: "Give a sealed server one custodian part (its passphrase asked on the terminal).",
        discussion: """
            Reads the part file, asks its custodian's passphrase on the terminal (hidden) or reads one line \
            from --passphrase-fd FD, and sends both to the server, which opens the part at once: a wrong \
            passphrase or part is told now and counted (after seal.maxAttempts wrong parts unsealing is \
            locked for a growing delay). Prints the progress; the server unseals when T parts have arrived.
            """)

    @OptionGroup var connection: ServerConnectionOptions

    @Option(name: .customLong("part"), help: ArgumentHelp("The custodian part file.", valueName: "file"))
    var part: String

    @Option(name: .long, help: ArgumentHelp("Read the passphrase from this open file descriptor (one line).", valueName: "fd"))
    var passphraseFd: Int32?

    func run() async throws {
        try await Terminal.run {
            let bytes = try RecoverCommand.readPart(part)
            // The header is checked here too, so a file that is not a part never reaches the server.
            let info = try RecoveryCustodians.inspect(bytes, source: part)
            let passphrase = try PassphraseReader(passphraseFD: passphraseFd).passphrase(forPart: part)
            let source = (part as NSString).lastPathComponent
            let response = try await connection.withVault { vault in
                var request = Strongroom_V1_UnsealRequest()
                request.part = Data(bytes)
                request.passphrase = passphrase.withUnsafeBytes { Data($0) }
                request.source = source
                defer { request.passphrase.resetBytes(in: 0..<request.passphrase.count) }
                return try await vault.unseal(request)
            }
            if response.unsealed {
                print("unsealed: part \(info.index) of \(info.custodians) accepted; the vault is open")
            } else {
                print(
                    "part \(info.index) of \(info.custodians) accepted: \(response.partsReceived) of \(response.threshold) parts received; the vault is still sealed")
            }
        }
    }
}

/// `strongroom seal`: returns a server to the sealed state at once.
struct SealCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "seal",
        abstract: "Seal a server: it drops the root seed from memory at once and answers only Health and Unseal.")

    @OptionGroup var connection: ServerConnectionOptions

    func run() async throws {
        try await Terminal.run {
            let response = try await connection.withVault { vault in
                try await vault.seal(Strongroom_V1_SealRequest())
            }
            print(response.wasUnsealed ? "sealed: the server dropped the root seed" : "the server was already sealed")
        }
    }
}
