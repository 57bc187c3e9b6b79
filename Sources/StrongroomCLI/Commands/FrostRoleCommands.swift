#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import FROST
import Foundation
import Logging
import SecureCrypto
import Strongroom

/// The files of one protocol run in a session directory (docs/frost.md, "Participants in separate
/// processes"). Every message file holds one encoded ``FROSTMessage``; files are created once
/// (never overwritten) with mode 0600. No file holds a secret in the clear: DKG round-two shares are
/// sealed to their recipient's channel key.
struct SessionDirectory {
    let path: String

    static let sessionFile = "session"
    static let groupFile = "group"
    static let packageFile = "package"

    func file(_ name: String) -> String { "\(path)/\(name)" }
    static func dkgRound1(_ id: ParticipantID) -> String { "dkg1.p\(id)" }
    static func channelKey(_ id: ParticipantID) -> String { "key.p\(id)" }
    static func dkgRound2(_ from: ParticipantID, to: ParticipantID) -> String { "dkg2.p\(from).to.p\(to)" }
    static func commitments(_ id: ParticipantID) -> String { "commit.p\(id)" }
    static func share(_ id: ParticipantID) -> String { "share.p\(id)" }

    /// The run's session id, from `session`.
    func session() throws -> SessionID {
        guard let data = FileManager.default.contents(atPath: file(Self.sessionFile)) else {
            throw StrongroomError(.invalidInput, "no session id in \(file(Self.sessionFile)); run `strongroom frost coordinator start --session-dir \(path)` first")
        }
        return try SessionID(hex: String(decoding: data, as: UTF8.self))
    }

    /// Names in the directory matching `prefix` followed by a participant id, with that id.
    func files(prefix: String, suffix: String = "") throws -> [(ParticipantID, String)] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: path)
        } catch {
            throw StrongroomError(.io, "cannot list the session directory \(path)")
        }
        return names.compactMap { name -> (ParticipantID, String)? in
            guard name.hasPrefix(prefix), name.hasSuffix(suffix),
                let id = ParticipantID(name.dropFirst(prefix.count).dropLast(suffix.count))
            else { return nil }
            return (id, name)
        }.sorted { $0.0 < $1.0 }
    }

    func read(_ name: String) throws -> [UInt8] {
        guard let data = FileManager.default.contents(atPath: file(name)) else {
            throw StrongroomError(.io, "cannot read the message file \(file(name))")
        }
        return Array(data)
    }

    func write(_ name: String, _ bytes: [UInt8]) throws {
        let fd = try Terminal.createOutputFile(file(name))
        defer { close(fd) }
        try Terminal.writeAll(bytes, fd: fd, destination: file(name))
    }

    /// Runs `body` on the message in file `name`; a FROST error names the file.
    func decoding<T>(_ name: String, _ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as FROSTError {
            throw FROSTError(error.code, "\(file(name)): \(error.reason)", culprits: error.culprits, underlying: error)
        }
    }
}

struct FrostParticipantCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "participant",
        abstract: "Act as one participant, in this process only, exchanging message files with the others.",
        discussion: """
            Each participant runs in its own process with its own vault (--config) and reads and writes only \
            encoded messages in a session directory shared with the other participants and the coordinator. \
            A DKG: `frost coordinator start`, then every participant runs dkg-round1, then dkg-round2, then \
            dkg-finish (and the coordinator dkg-finish). A signature: `frost coordinator start` in a new \
            directory, commit by each signer, `frost coordinator signing-package`, sign by each signer, \
            `frost coordinator aggregate`. Between commit and sign the nonces are sealed in the participant's \
            vault and erased when it signs. DKG round-two files carry secret shares, each sealed to its \
            recipient's channel key (key.p<J>, published in round one; its private half stays in the \
            recipient's vault until dkg-finish). A share repair: `frost coordinator start`, repair-key by every \
            helper and the repaired participant, repair-help then repair-combine by each helper, repair-finish \
            by the repaired participant. See docs/frost.md, "Participants in separate processes".
            """,
        subcommands: [
            FrostParticipantDKGRound1.self, FrostParticipantDKGRound2.self, FrostParticipantDKGFinish.self, FrostParticipantCommit.self,
            FrostParticipantSign.self, FrostParticipantRepairKey.self, FrostParticipantRepairHelp.self, FrostParticipantRepairCombine.self,
            FrostParticipantRepairFinish.self,
        ])
}

/// Options of every participant step.
struct FrostParticipantOptions: ParsableArguments {
    @OptionGroup var global: GlobalOptions

    @Option(name: .long, help: "The group's name (1-64 characters: A-Z a-z 0-9 _ -).")
    var group: String

    @Option(name: .long, help: "This participant's identifier (1...n).")
    var participant: ParticipantID

    @Option(name: .long, help: ArgumentHelp("The directory the run's message files are exchanged in.", valueName: "dir"))
    var sessionDir: String

    var directory: SessionDirectory { SessionDirectory(path: sessionDir) }

    func open() async throws -> FROSTParticipant {
        let logger = global.makeLogger()
        return try FROSTParticipant(group: group, identifier: participant, store: try await global.openStore(logger: logger), logger: logger)
    }
}

struct FrostParticipantDKGRound1: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dkg-round1",
        abstract: "DKG round one: seal a fresh polynomial and channel key in the vault, write dkg1.p<I> and key.p<I>.")

    @OptionGroup var options: FrostParticipantOptions

    @Option(name: .long, help: "Signatures need this many participants (t >= 2).")
    var threshold: UInt16

    @Option(name: .long, help: "Number of participants n (identifiers 1...n).")
    var participants: UInt16

    @Option(name: .long, help: "ed25519 or secp256k1.")
    var ciphersuite: String = "ed25519"

    func run() async throws {
        try await Terminal.run {
            guard let suite = Ciphersuite(name: ciphersuite) else {
                throw FROSTError(.invalidInput, "unknown ciphersuite '\(ciphersuite)'; use ed25519 or secp256k1")
            }
            let directory = options.directory
            let session = try directory.session()
            let participant = try await options.open()
            let message = try await participant.dkgRound1(session: session, suite: suite, minSigners: threshold, maxSigners: participants)
            let key = try await participant.channelKey(session: session, suite: suite)
            try directory.write(SessionDirectory.dkgRound1(options.participant), message)
            try directory.write(SessionDirectory.channelKey(options.participant), key)
            print("participant \(options.participant): DKG round one of session \(session) written")
        }
    }
}

struct FrostParticipantDKGRound2: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dkg-round2",
        abstract: "DKG round two: check every dkg1.p<J>, write dkg2.p<I>.to.p<J>, a share sealed to key.p<J>, for each other participant.")

    @OptionGroup var options: FrostParticipantOptions

    func run() async throws {
        try await Terminal.run {
            let directory = options.directory
            let participant = try await options.open()
            let round1 = try directory.files(prefix: "dkg1.p").map { try directory.read($0.1) }
            let shares = try await participant.dkgRound2(round1: round1)
            for share in shares {
                let header = try FROSTMessage.header(ofSecret: share)
                let name = SessionDirectory.channelKey(header.recipient)
                let keyMessage = try directory.read(name)
                let key = try directory.decoding(name) { try FROSTChannel.decodeKeyMessage(keyMessage, suite: header.suite) }
                guard key.header.sender == header.recipient, key.header.session == header.session else {
                    throw FROSTError(.invalidPackage, "\(directory.file(name)) is not participant \(header.recipient)'s channel key of session \(header.session)")
                }
                try directory.write(SessionDirectory.dkgRound2(options.participant, to: header.recipient), try FROSTChannel.seal(share, to: key.key))
            }
            print("participant \(options.participant): DKG round two written for \(shares.count) participant(s)")
        }
    }
}

struct FrostParticipantDKGFinish: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dkg-finish",
        abstract: "Finish the DKG: check the shares sent to this participant, store its key package and its record of the group.")

    @OptionGroup var options: FrostParticipantOptions

    func run() async throws {
        try await Terminal.run {
            let directory = options.directory
            let participant = try await options.open()
            let round1 = try directory.files(prefix: "dkg1.p").map { try directory.read($0.1) }
            let incoming = try directory.files(prefix: "dkg2.p", suffix: ".to.p\(options.participant)")
            var shares: [SecretBytes] = []
            for (_, name) in incoming {
                let sealed = try directory.read(name)
                do {
                    shares.append(try await participant.open(sealed: sealed))
                } catch let error as FROSTError {
                    throw FROSTError(error.code, "\(directory.file(name)): \(error.reason)", culprits: error.culprits, underlying: error)
                }
            }
            let publicKeys = try await participant.dkgFinish(round1: round1, round2: shares)
            for (_, name) in incoming { unlink(directory.file(name)) }
            print("participant \(options.participant): key package stored in \(participant.store.tier) vault \(participant.store.vaultID)")
            print("group public key: \(publicKeys.groupKey)")
        }
    }
}

struct FrostParticipantCommit: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "commit", abstract: "Signing round one: seal fresh nonces in the vault, write commit.p<I>.")

    @OptionGroup var options: FrostParticipantOptions

    func run() async throws {
        try await Terminal.run {
            let directory = options.directory
            let session = try directory.session()
            let message = try await options.open().commit(session: session)
            try directory.write(SessionDirectory.commitments(options.participant), message)
            print("participant \(options.participant): commitments of session \(session) written")
        }
    }
}

struct FrostParticipantSign: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sign",
        abstract: "Signing round two: sign the coordinator's package with this session's nonces (erased first), write share.p<I>.")

    @OptionGroup var options: FrostParticipantOptions

    func run() async throws {
        try await Terminal.run {
            let directory = options.directory
            let package = try directory.read(SessionDirectory.packageFile)
            let participant = try await options.open()
            let share: [UInt8]
            do {
                share = try await participant.sign(package)
            } catch let error as FROSTError {
                throw FROSTError(error.code, "\(directory.file(SessionDirectory.packageFile)): \(error.reason)", culprits: error.culprits, underlying: error)
            }
            try directory.write(SessionDirectory.share(options.participant), share)
            print("participant \(options.participant): signature share written")
        }
    }
}

struct FrostCoordinatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "coordinator",
        abstract: "Act as the coordinator, in this process only: start runs, keep the group's public data, aggregate.",
        discussion: """
            The coordinator holds no secret. It keeps the group's public data as a sealed record in its own \
            vault (--config), learnt from the DKG's round-one files, builds the signing package from the \
            signers' commitment files, and aggregates their signature share files, naming the sender of any \
            share that does not verify. See `strongroom frost participant --help` and docs/frost.md.
            """,
        subcommands: [FrostCoordinatorStart.self, FrostCoordinatorDKGFinish.self, FrostCoordinatorSigningPackage.self, FrostCoordinatorAggregate.self])
}

struct FrostCoordinatorStart: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "start", abstract: "Start a run: create the session directory's `session` file with a fresh random session id.")

    @Option(name: .long, help: ArgumentHelp("The directory the run's message files are exchanged in (created if missing).", valueName: "dir"))
    var sessionDir: String

    func run() async throws {
        try await Terminal.run {
            do {
                try FileManager.default.createDirectory(atPath: sessionDir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            } catch {
                throw StrongroomError(.io, "cannot create the session directory \(sessionDir)")
            }
            let session = try SessionID.random()
            try SessionDirectory(path: sessionDir).write(SessionDirectory.sessionFile, Array((session.hex + "\n").utf8))
            print("session \(session.hex)")
        }
    }
}

/// Options of every coordinator step that needs the group.
struct FrostCoordinatorOptions: ParsableArguments {
    @OptionGroup var global: GlobalOptions

    @Option(name: .long, help: "The group's name (1-64 characters: A-Z a-z 0-9 _ -).")
    var group: String

    @Option(name: .long, help: ArgumentHelp("The directory the run's message files are exchanged in.", valueName: "dir"))
    var sessionDir: String

    var directory: SessionDirectory { SessionDirectory(path: sessionDir) }
}

struct FrostCoordinatorDKGFinish: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dkg-finish",
        abstract: "Learn the group's public data from every dkg1.p<J> (proofs checked), keep it in the vault, write `group`.")

    @OptionGroup var options: FrostCoordinatorOptions

    func run() async throws {
        try await Terminal.run {
            let directory = options.directory
            let files = try directory.files(prefix: "dkg1.p")
            guard let first = files.first else { throw FROSTError(.invalidInput, "no dkg1.p<J> files in \(directory.path)") }
            let round1 = try files.map { try directory.read($0.1) }
            let suite = try directory.decoding(first.1) { try FROSTMessage.header(of: round1[0]).suite }
            let coordinator = try FROSTCoordinator(group: options.group, dkgRound1: round1, suite: suite)
            let logger = options.global.makeLogger()
            try await coordinator.save(to: try await options.global.openStore(logger: logger))
            try directory.write(SessionDirectory.groupFile, try coordinator.publicKeyMessage())
            let keys = coordinator.publicKeys
            print("group '\(options.group)': \(suite), \(keys.minSigners)-of-\(keys.maxSigners), keys by DKG")
            print("group public key: \(keys.groupKey)")
        }
    }
}

struct FrostCoordinatorSigningPackage: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "signing-package", abstract: "Build the signing package from the commit.p<J> files; write `package`.")

    @OptionGroup var options: FrostCoordinatorOptions
    @OptionGroup var message: MessageOptions

    func run() async throws {
        try await Terminal.run {
            let directory = options.directory
            let logger = options.global.makeLogger()
            let coordinator = try await FROSTCoordinator.open(group: options.group, store: try await options.global.openStore(logger: logger))
            let session = try directory.session()
            let files = try directory.files(prefix: "commit.p")
            var commitments: [[UInt8]] = []
            for (_, name) in files {
                let bytes = try directory.read(name)
                _ = try directory.decoding(name) { try FROSTMessage.decodeSigningCommitments(bytes, suite: coordinator.publicKeys.suite) }
                commitments.append(bytes)
            }
            let package = try coordinator.signingPackage(session: session, message: try message.bytes(), commitments: commitments)
            try directory.write(SessionDirectory.packageFile, package)
            print("signing package for participants \(files.map { String($0.0) }.joined(separator: ",")) written")
        }
    }
}

struct FrostCoordinatorAggregate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "aggregate",
        abstract: "Check every share.p<J> and aggregate them; prints the signature as hex (a bad share is refused, naming its sender).")

    @OptionGroup var options: FrostCoordinatorOptions

    func run() async throws {
        try await Terminal.run {
            let directory = options.directory
            let logger = options.global.makeLogger()
            let coordinator = try await FROSTCoordinator.open(group: options.group, store: try await options.global.openStore(logger: logger))
            let package = try directory.read(SessionDirectory.packageFile)
            var shares: [[UInt8]] = []
            for (_, name) in try directory.files(prefix: "share.p") {
                let bytes = try directory.read(name)
                _ = try directory.decoding(name) { try FROSTMessage.decodeSignatureShare(bytes, suite: coordinator.publicKeys.suite) }
                shares.append(bytes)
            }
            let signature = try coordinator.aggregate(signingPackage: package, shares: shares)
            print(Hex.encode(try signature.serialized()))
        }
    }
}
