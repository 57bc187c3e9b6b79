#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import FROST
import Foundation
import Logging
import SecureCrypto
import Strongroom

/// Comma-separated participant identifiers (`--helpers 1,2`).
func parseParticipantList(_ text: String, option: String) throws -> [ParticipantID] {
    try text.split(separator: ",").map { part -> ParticipantID in
        guard let id = ParticipantID(part.trimmingCharacters(in: .whitespaces)), id >= 1 else {
            throw FROSTError(.invalidInput, "\(option) takes identifiers like 1,2, not '\(text)'")
        }
        return id
    }
}

struct FrostRepair: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "repair",
        abstract: "Repair one participant's lost or erased key share with the help of t others; the group key does not change.",
        discussion: """
            The helpers (at least the threshold, not the repaired participant) each split their part of the \
            lost share into random pieces, exchange them sealed, and send the repaired participant sums that \
            add up to its share; nobody learns the share or the group secret. The repaired share is checked \
            against the participant's verifying share before it is stored as a new version. See docs/frost.md, \
            "Repairing a lost share".
            """)

    @OptionGroup var options: FrostGroupOptions

    @Option(name: .long, help: "The participant whose share is repaired.")
    var participant: ParticipantID

    @Option(name: .long, help: "Comma-separated helper identifiers (at least the threshold).")
    var helpers: String

    func run() async throws {
        try await Terminal.run {
            let helperIDs = try parseParticipantList(helpers, option: "--helpers")
            let logger = options.global.makeLogger()
            let group = try await options.openExisting(logger: logger)
            let report = try await group.repair(participant, helpers: helperIDs)
            print("repaired participant \(report.participant)'s key share of group '\(group.name)' with helpers \(report.helpers.map { String($0) }.joined(separator: ",")): checked against its verifying share, stored as version \(report.version) (epoch \(report.epoch))")
        }
    }
}

extension SessionDirectory {
    static func repairCommitments(_ id: ParticipantID) -> String { "repair1.p\(id)" }
    static func repairPart(_ from: ParticipantID, to: ParticipantID) -> String { "repair1.p\(from).to.p\(to)" }
    static func repairSum(_ from: ParticipantID, to: ParticipantID) -> String { "repair2.p\(from).to.p\(to)" }

    /// Every helper's `repair1.p<I>` broadcast.
    func repairCommitments() throws -> [[UInt8]] {
        let found = try files(prefix: "repair1.p")
        guard !found.isEmpty else { throw FROSTError(.invalidInput, "no repair1.p<I> files in \(path); the helpers run repair-help first") }
        return try found.map { try read($0.1) }
    }

    /// The channel key `key.p<id>` of this run, checked to be `id`'s.
    func channelKey(of id: ParticipantID, suite: Ciphersuite, session: SessionID) throws -> [UInt8] {
        let name = Self.channelKey(id)
        let message = try read(name)
        let key = try decoding(name) { try FROSTChannel.decodeKeyMessage(message, suite: suite) }
        guard key.header.sender == id, key.header.session == session else {
            throw FROSTError(.invalidPackage, "\(file(name)) is not participant \(id)'s channel key of session \(session)")
        }
        return key.key
    }

    /// Opens the sealed files `names` with `participant`'s channel key; an error names the file.
    func open(_ names: [String], as participant: FROSTParticipant) async throws -> [SecretBytes] {
        var opened: [SecretBytes] = []
        for name in names {
            let sealed = try read(name)
            do {
                opened.append(try await participant.open(sealed: sealed))
            } catch let error as FROSTError {
                throw FROSTError(error.code, "\(file(name)): \(error.reason)", culprits: error.culprits, underlying: error)
            }
        }
        return opened
    }
}

/// A public key package message file (`--public-keys`).
func readPublicKeys(_ path: String) throws -> PublicKeyPackage {
    guard let data = FileManager.default.contents(atPath: path) else { throw StrongroomError(.io, "cannot read the public key package file \(path)") }
    do {
        let bytes = Array(data)
        return try FROSTMessage.decodePublicKeyPackage(bytes, suite: try FROSTMessage.header(of: bytes).suite).group
    } catch let error as FROSTError {
        throw FROSTError(error.code, "\(path): \(error.reason)", culprits: error.culprits, underlying: error)
    }
}

struct FrostParticipantRepairKey: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "repair-key",
        abstract: "Share repair, first: seal a fresh channel key in the vault and write key.p<I> (every helper and the repaired participant).")

    @OptionGroup var options: FrostParticipantOptions

    @Option(name: .long, help: ArgumentHelp("The group's public key package (a `group` file), when this vault has no record of the group.", valueName: "file"))
    var publicKeys: String?

    func run() async throws {
        try await Terminal.run {
            let directory = options.directory
            let session = try directory.session()
            let participant = try await options.open()
            let suite: Ciphersuite
            if let publicKeys {
                suite = try readPublicKeys(publicKeys).suite
            } else {
                suite = try await participant.publicKeyPackage().suite
            }
            try directory.write(SessionDirectory.channelKey(options.participant), try await participant.channelKey(session: session, suite: suite))
            print("participant \(options.participant): channel key of session \(session) written")
        }
    }
}

struct FrostParticipantRepairHelp: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "repair-help",
        abstract: "Share repair, step one (helper): write repair1.p<I> and, for each helper J, a part sealed to key.p<J> (repair1.p<I>.to.p<J>).")

    @OptionGroup var options: FrostParticipantOptions

    @Option(name: .long, help: "The participant whose share is repaired.")
    var lost: ParticipantID

    @Option(name: .long, help: "Comma-separated helper identifiers, this participant among them (at least the threshold).")
    var helpers: String

    func run() async throws {
        try await Terminal.run {
            let helperIDs = try parseParticipantList(helpers, option: "--helpers")
            let directory = options.directory
            let session = try directory.session()
            let participant = try await options.open()
            let suite = try await participant.publicKeyPackage().suite
            var keys: [ParticipantID: [UInt8]] = [:]
            for id in helperIDs { keys[id] = try directory.channelKey(of: id, suite: suite, session: session) }
            let (commitments, parts) = try await participant.repairHelp(session: session, lost: lost, helpers: helperIDs)
            var sealed: [(String, [UInt8])] = []
            for part in parts {
                let recipient = try FROSTMessage.header(ofSecret: part).recipient
                sealed.append((SessionDirectory.repairPart(options.participant, to: recipient), try FROSTChannel.seal(part, to: keys[recipient]!)))
            }
            for (name, bytes) in sealed { try directory.write(name, bytes) }
            try directory.write(SessionDirectory.repairCommitments(options.participant), commitments)
            print("participant \(options.participant): repair step one for participant \(lost) written (\(parts.count) sealed parts)")
        }
    }
}

struct FrostParticipantRepairCombine: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "repair-combine",
        abstract: "Share repair, step two (helper): check every repair1 file, sum the parts sealed to this participant, write repair2.p<I>.to.p<R> sealed to key.p<R>.")

    @OptionGroup var options: FrostParticipantOptions

    func run() async throws {
        try await Terminal.run {
            let directory = options.directory
            let session = try directory.session()
            let participant = try await options.open()
            let suite = try await participant.publicKeyPackage().suite
            let commitments = try directory.repairCommitments()
            let incoming = try directory.files(prefix: "repair1.p", suffix: ".to.p\(options.participant)").map(\.1)
            let parts = try await directory.open(incoming, as: participant)
            let sum = try await participant.repairCombine(commitments: commitments, parts: parts)
            let target = try FROSTMessage.header(ofSecret: sum).recipient
            let sealed = try FROSTChannel.seal(sum, to: try directory.channelKey(of: target, suite: suite, session: session))
            try directory.write(SessionDirectory.repairSum(options.participant, to: target), sealed)
            for name in incoming { unlink(directory.file(name)) }
            print("participant \(options.participant): repair step two for participant \(target) written")
        }
    }
}

struct FrostParticipantRepairFinish: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "repair-finish",
        abstract: "Share repair, step three (the repaired participant): check and add the repair2 sums, check the share against its verifying share, store it.")

    @OptionGroup var options: FrostParticipantOptions

    @Option(name: .long, help: ArgumentHelp("The group's public key package (a `group` file), when this vault has no record of the group.", valueName: "file"))
    var publicKeys: String?

    func run() async throws {
        try await Terminal.run {
            let directory = options.directory
            let participant = try await options.open()
            let given = try publicKeys.map(readPublicKeys)
            let commitments = try directory.repairCommitments()
            let incoming = try directory.files(prefix: "repair2.p", suffix: ".to.p\(options.participant)").map(\.1)
            let sums = try await directory.open(incoming, as: participant)
            let version = try await participant.repairFinish(commitments: commitments, sums: sums, publicKeys: given)
            for name in incoming { unlink(directory.file(name)) }
            print("participant \(options.participant): repaired key share checked against its verifying share and stored as version \(version) in \(participant.store.tier) vault \(participant.store.vaultID)")
        }
    }
}
