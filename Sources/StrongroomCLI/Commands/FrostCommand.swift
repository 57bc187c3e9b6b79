#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import FROST
import Foundation
import Logging
import SecureCrypto
import Strongroom

struct FrostCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "frost",
        abstract: "FROST (RFC 9591) threshold signing with key shares kept in Strongroom.",
        discussion: """
            Every participant's key package is a share in a vault (`frost.<group>.p<i>`), and the group's \
            public data is a record next to it. By default every participant uses the vault of --config; \
            --participant-config I=FILE puts participant I in another vault or tier. These commands act as \
            every participant and as the coordinator, in one process; `frost participant` and `frost coordinator` \
            act as one of them, exchanging message files with the others. See docs/frost.md.
            """,
        subcommands: [
            FrostKeygen.self, FrostSign.self, FrostVerify.self, FrostRefresh.self, FrostInfo.self, FrostErase.self, FrostUpgrade.self, FrostRepair.self,
            FrostParticipantCommand.self, FrostCoordinatorCommand.self,
        ])
}

/// Options naming a group and where its participants keep their shares.
struct FrostGroupOptions: ParsableArguments {
    @OptionGroup var global: GlobalOptions

    @Option(name: .long, help: "The group's name (1-64 characters: A-Z a-z 0-9 _ -).")
    var group: String

    @Option(
        name: .customLong("participant-config"),
        help: ArgumentHelp("Participant I keeps its share in the vault of FILE instead (repeatable).", valueName: "I=FILE"))
    var participantConfigs: [String] = []

    @Option(name: .long, help: "Signing session lifetime in seconds.")
    var sessionLifetime: Double = 30

    func overrides() throws -> [ParticipantID: String] {
        var result: [ParticipantID: String] = [:]
        for entry in participantConfigs {
            let parts = entry.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, let id = ParticipantID(parts[0]), id >= 1, !parts[1].isEmpty else {
                throw FROSTError(.invalidInput, "--participant-config takes I=FILE (e.g. 2=hsm.yaml), not '\(entry)'")
            }
            result[id] = parts[1]
        }
        return result
    }

    /// Opens the stores of participants `ids` (each distinct configuration once).
    func openGroup(_ ids: [ParticipantID], logger: Logger) async throws -> FROSTGroup {
        let overrides = try overrides()
        var opened: [String: ShareStore] = [:]
        var stores: [ParticipantID: ShareStore] = [:]
        for id in ids {
            let key = overrides[id] ?? ""
            if opened[key] == nil {
                if let path = overrides[id] {
                    let configuration = try await StrongroomConfiguration.load(filePath: path, environment: ProcessInfo.processInfo.environment)
                    opened[key] = try await OpenStores.open(configuration: configuration, logger: logger)
                } else {
                    opened[key] = try await global.openStore(logger: logger)
                }
            }
            stores[id] = opened[key]
        }
        return try FROSTGroup(name: group, stores: stores, sessionLifetime: .milliseconds(Int64(sessionLifetime * 1000)), logger: logger)
    }

    /// Opens an existing group: its participants come from the record in the default vault.
    func openExisting(logger: Logger, allowingUnauthenticated: Bool = false) async throws -> FROSTGroup {
        let overrides = try overrides()
        let probe: ShareStore
        if configuredDefault || overrides.isEmpty {
            probe = try await global.openStore(logger: logger)
        } else {
            let configuration = try await StrongroomConfiguration.load(filePath: overrides.values.sorted().first!, environment: ProcessInfo.processInfo.environment)
            probe = try await OpenStores.open(configuration: configuration, logger: logger)
        }
        let members = try await FROSTGroup.members(ofGroup: group, in: probe, allowingUnauthenticated: allowingUnauthenticated)
        return try await openGroup(members, logger: logger)
    }

    var configuredDefault: Bool {
        global.configPath != nil || ProcessInfo.processInfo.environment.keys.contains { $0.hasPrefix("STRONGROOM_") && $0 != "STRONGROOM_CONFIG" }
    }
}

/// The message to sign or verify.
struct MessageOptions: ParsableArguments {
    @Option(name: .long, help: "The message, as UTF-8 text.")
    var message: String?

    @Option(name: .long, help: ArgumentHelp("Read the message's bytes from a file.", valueName: "path"))
    var messageFile: String?

    func bytes() throws -> [UInt8] {
        switch (message, messageFile) {
        case (let text?, nil): return Array(text.utf8)
        case (nil, let path?):
            guard let data = FileManager.default.contents(atPath: path) else {
                throw StrongroomError(.io, "cannot read the message file \(path)")
            }
            return Array(data)
        default:
            throw FROSTError(.invalidInput, "pass exactly one of --message or --message-file")
        }
    }
}

struct FrostKeygen: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keygen", abstract: "Generate a t-of-n group and store every participant's key package.")

    @OptionGroup var options: FrostGroupOptions

    @Option(name: .long, help: "Signatures need this many participants (t >= 2).")
    var threshold: UInt16

    @Option(name: .long, help: "Number of participants n (identifiers 1...n).")
    var participants: UInt16

    @Option(name: .long, help: "ed25519 or secp256k1.")
    var ciphersuite: String = "ed25519"

    @Option(name: .long, help: "dkg (Pedersen DKG, no dealer ever holds the group secret) or dealer (trusted dealer).")
    var method: String = "dkg"

    func run() async throws {
        try await Terminal.run {
            guard let suite = Ciphersuite(name: ciphersuite) else {
                throw FROSTError(.invalidInput, "unknown ciphersuite '\(ciphersuite)'; use ed25519 or secp256k1")
            }
            guard let generation = FROSTGroup.KeyGeneration(rawValue: method) else {
                throw FROSTError(.invalidInput, "unknown key generation method '\(method)'; use dkg or dealer")
            }
            guard participants >= 2, participants <= 255 else {
                throw FROSTError(.invalidInput, "--participants must be 2...255")
            }
            let logger = options.global.makeLogger()
            let group = try await options.openGroup(Array(1...participants), logger: logger)
            let publicKeys = try await group.create(suite: suite, minSigners: threshold, method: generation)
            print("group '\(group.name)': \(suite), \(threshold)-of-\(participants), keys by \(generation == .distributed ? "DKG" : "trusted dealer")")
            print("group public key: \(publicKeys.groupKey)")
            for id in publicKeys.participants {
                let store = group.stores[id]!
                print("  participant \(id): \(try group.shareID(id)) in \(store.tier) vault \(store.vaultID), verifying share \(publicKeys.verifyingShares[id]!)")
            }
        }
    }
}

struct FrostSign: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sign", abstract: "Sign a message with the given participants; prints the signature as hex.")

    @OptionGroup var options: FrostGroupOptions
    @OptionGroup var message: MessageOptions

    @Option(name: .long, help: "Comma-separated participant identifiers (at least the threshold).")
    var signers: String

    @Option(name: .long, help: ArgumentHelp("Also write the raw signature bytes to this new file (mode 0600; never an existing file or a link).", valueName: "path"))
    var out: String?

    func run() async throws {
        try await Terminal.run {
            let ids = try signers.split(separator: ",").map { part -> ParticipantID in
                guard let id = ParticipantID(part.trimmingCharacters(in: .whitespaces)) else {
                    throw FROSTError(.invalidInput, "--signers takes identifiers like 1,3, not '\(signers)'")
                }
                return id
            }
            // The output file is created first (O_EXCL | O_NOFOLLOW, as `get --output`), so an
            // existing file or a link there stops the command before anything is signed.
            let outputFD = try out.map { try Terminal.createOutputFile($0) }
            defer { if let outputFD { close(outputFD) } }
            do {
                let logger = options.global.makeLogger()
                let group = try await options.openExisting(logger: logger)
                let signature = try await group.sign(message: try message.bytes(), signers: ids).serialized()
                if let out, let outputFD { try Terminal.writeAll(signature, fd: outputFD, destination: out) }
                print(Hex.encode(signature))
            } catch {
                if let out { unlink(out) }  // the empty file this command created
                throw error
            }
        }
    }
}

struct FrostVerify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify", abstract: "Verify a signature under the group's key (exit 0 valid, 65 invalid).",
        discussion: """
            The group key comes from the group's record, which the vault's tier authenticates; a record that \
            does not authenticate (altered, or a clear-text record of an earlier version) is refused with an \
            integrity error (exit 65) and nothing is verified.
            """)

    @OptionGroup var options: FrostGroupOptions
    @OptionGroup var message: MessageOptions

    @Option(name: .long, help: "The signature as hex.")
    var signature: String

    func run() async throws {
        try await Terminal.run {
            guard let bytes = Hex.decode(signature.trimmingCharacters(in: .whitespacesAndNewlines)) else {
                throw FROSTError(.malformedEncoding, "--signature is not hex")
            }
            let logger = options.global.makeLogger()
            let group = try await options.openExisting(logger: logger)
            guard try await group.verify(signature: bytes, message: try message.bytes()) else {
                throw FROSTError(.invalidSignature, "the signature does not verify under group '\(group.name)''s key")
            }
            print("valid: signature verifies under group '\(group.name)''s key")
        }
    }
}

struct FrostRefresh: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "refresh",
        abstract: "Give every participant new shares of the same group key; finishes an interrupted refresh first.")

    @OptionGroup var options: FrostGroupOptions

    func run() async throws {
        try await Terminal.run {
            let logger = options.global.makeLogger()
            let group = try await options.openExisting(logger: logger)
            let report = try await group.refresh()
            if report.resumedInterrupted {
                print("finished an interrupted refresh: group '\(group.name)' is at epoch \(report.epoch); \(report.erasedVersions) old share version(s) destroyed")
            } else {
                if report.rolledBackInterrupted { print("rolled back an interrupted refresh whose new shares were not all stored") }
                print("refreshed group '\(group.name)' to epoch \(report.epoch): new shares stored and confirmed by a test signature, \(report.erasedVersions) old version(s) destroyed")
            }
        }
    }
}

struct FrostInfo: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "info", abstract: "Show a group's public data.",
        discussion: "Shows only a record the vault's tier authenticates; any other is refused (exit 65).")

    @OptionGroup var options: FrostGroupOptions

    func run() async throws {
        try await Terminal.run {
            let logger = options.global.makeLogger()
            let summary = try await options.openExisting(logger: logger).summary()
            print("group '\(summary.name)': \(summary.suite), \(summary.minSigners)-of-\(summary.maxSigners), epoch \(summary.epoch)")
            print("group public key: \(summary.groupKey)")
            for member in summary.members {
                let state = member.erased ? "ERASED" : "version \(member.version)"
                print("  participant \(member.identifier): \(member.shareID) (\(member.tier), \(state)), verifying share \(member.verifyingShare)")
            }
            if let pending = summary.pendingRefreshEpoch {
                print("an interrupted refresh to epoch \(pending) has not finished: run `strongroom frost refresh --group \(summary.name)` to finish or roll it back")
            }
        }
    }
}

struct FrostErase: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "erase", abstract: "Destroy every version of one participant's key share.")

    @OptionGroup var options: FrostGroupOptions

    @Option(name: .long, help: "The participant whose share is destroyed.")
    var participant: ParticipantID

    @Flag(name: .long, help: "Do not ask for confirmation (required when standard input is not a terminal).")
    var yes = false

    func run() async throws {
        try await Terminal.run {
            if !yes {
                guard Terminal.standardInputIsTerminal else {
                    throw StrongroomError(.invalidInput, "erase cannot be undone; pass --yes to confirm when not at a terminal")
                }
                FileHandle.standardError.write(Data("destroy participant \(participant)'s share of group '\(options.group)'? type the group name to confirm: ".utf8))
                guard readLine() == options.group else {
                    Terminal.note("not confirmed; nothing erased")
                    throw ExitCode(1)
                }
            }
            let logger = options.global.makeLogger()
            let group = try await options.openExisting(logger: logger)
            let count = try await group.erase(participant)
            print("erased participant \(participant)'s key share of group '\(group.name)': \(count) version(s) destroyed")
        }
    }
}

struct FrostUpgrade: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "upgrade",
        abstract: "Seal a group record written in clear text by an earlier version, after checking it.",
        discussion: """
            Earlier versions kept records/frost.<group>.json in the clear, unauthenticated; this version refuses \
            such a record. This command checks it against every participant's sealed key package (identifier, \
            ciphersuite, threshold, epoch, group key, verifying share) and, if all match, stores it sealed by the \
            vault's tier and removes the clear-text file. A record that does not match is left alone (exit 65). \
            It needs every participant's store, like refresh. See docs/frost.md, "Migration".
            """)

    @OptionGroup var options: FrostGroupOptions

    func run() async throws {
        try await Terminal.run {
            let logger = options.global.makeLogger()
            let group = try await options.openExisting(logger: logger, allowingUnauthenticated: true)
            let count = try await group.upgradeRecords()
            if count == 0 {
                print("group '\(group.name)''s records are already sealed; nothing to do")
            } else {
                print("sealed group '\(group.name)''s record in \(count) store(s) after checking it against the key packages")
            }
        }
    }
}
