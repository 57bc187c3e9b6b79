#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Foundation
import Logging
import SecureCrypto
import Strongroom

/// `strongroom recover`: rebuilds the recovery private key from custodian parts and migrates every
/// share version of a copy of a vault's blobs into another vault, through the blobs' recovery sections.
struct RecoverCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "recover",
        abstract: "Recover every share of a vault from a copy of its blobs and T custodian parts, into another vault.",
        discussion: """
            SOURCE is a copy of a vault's blobs (the vault directory of tier 1 or 3, or a backup of it), or \
            s3://BUCKET/PREFIX for a tier 2 vault or a copy of one (endpoint and region from --s3-endpoint and \
            --s3-region or AWS_ENDPOINT_URL and AWS_REGION; credentials from AWS_ACCESS_KEY_ID and \
            AWS_SECRET_ACCESS_KEY). Nothing is written into SOURCE and no tier key is needed: the tier's key \
            may be gone. Each --part is a custodian part file made by `strongroom recovery init`; each \
            custodian's passphrase is asked on the terminal (hidden), or read one per line, in the order of \
            the --part options, from --passphrase-fd FD. The recovery private key is rebuilt in locked memory \
            only, every share version and record is opened through its recovery section and copied into the \
            vault of --to (created with `strongroom init` beforehand, and empty) with its version number, \
            created-at and metadata, loaded back and compared, and the key is wiped. Fewer parts than the \
            threshold, a wrong passphrase or a bad part fail before anything is written. Interrupted, run it \
            again: it resumes (the migration journal in the destination). See docs/recovery.md.
            """)

    @Option(name: .long, help: ArgumentHelp("The copy of the vault's blobs: a directory, or s3://bucket/prefix.", valueName: "source"))
    var from: String

    @Option(name: .long, help: ArgumentHelp("Configuration file of the destination vault.", valueName: "file"))
    var to: String

    @Option(name: .customLong("part"), help: ArgumentHelp("A custodian part file (repeat: at least the threshold).", valueName: "file"))
    var parts: [String] = []

    @Option(name: .long, help: ArgumentHelp("Read the passphrases from this open file descriptor, one per line, in --part order.", valueName: "fd"))
    var passphraseFd: Int32?

    @Flag(name: .long, help: "Rebuild the key and count what would be recovered; write nothing.")
    var dryRun = false

    @Option(name: .long, help: "Share versions recovered at once (1-64).")
    var concurrency: Int = 1

    @Option(name: .long, help: ArgumentHelp("S3 endpoint URL for an s3:// SOURCE (default: AWS_ENDPOINT_URL, else AWS).", valueName: "url"))
    var s3Endpoint: String?

    @Option(name: .long, help: ArgumentHelp("S3 region for an s3:// SOURCE (default: AWS_REGION, else us-east-1).", valueName: "region"))
    var s3Region: String?

    @Flag(name: .long, help: "Allow a plain-HTTP --s3-endpoint (a trusted network or a test server only).")
    var allowInsecureHttp = false

    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel: Logger.Level = .warning

    func run() async throws {
        try await Terminal.run {
            guard !parts.isEmpty else {
                throw StrongroomError(.recoveryPartsInsufficient, "no --part given; pass the part files of at least the threshold of custodians")
            }
            guard (1...64).contains(concurrency) else {
                throw StrongroomError(.invalidInput, "--concurrency must be 1 to 64, got \(concurrency)")
            }
            LoggingSetup.bootstrap(level: logLevel)
            let logger = Logger(label: "strongroom")
            // Everything that can be checked without writing is checked first: the parts (before any
            // passphrase), the passphrases, the rebuilt key, the source, the destination.
            let reader = try PassphraseReader(passphraseFD: passphraseFd)
            let partFiles = try parts.map { path in (source: path, bytes: try RecoverCommand.readPart(path)) }
            let (privateKey, publicKey) = try await RecoveryCustodians.combine(parts: partFiles) { source in
                try reader.passphrase(forPart: source)
            }
            Terminal.note("rebuilt recovery key \(publicKey.fingerprintText)")
            let blobs = try sourceBlobStore(logger: logger)
            let source = try await RecoveryMigrationSource(reader: try RecoveryBlobReader(blobs: blobs, privateKey: privateKey))
            let destinationConfiguration = try await StrongroomConfiguration.load(
                filePath: to, environment: ProcessInfo.processInfo.environment)
            let destination = try await OpenStores.open(configuration: destinationConfiguration, logger: logger)

            let showProgress = Terminal.standardErrorIsTerminal && !dryRun
            let show: @Sendable (MigrationProgress) -> Void = { progress in
                guard progress.done % 64 == 0 || progress.done == progress.total else { return }
                let phase = progress.phase == .finalPass ? "verifying" : "recovering"
                FileHandle.standardError.write(Data("\r\(phase): \(progress.done)/\(progress.total)\u{1B}[K".utf8))
                if progress.done == progress.total { FileHandle.standardError.write(Data("\n".utf8)) }
            }
            let started = ContinuousClock.now
            // The summary goes into the destination's log: the source may be a bare copy of blobs.
            let event = AuditEvent(
                .recover,
                details: [
                    "source": source.location, "recovery.fingerprint": publicKey.fingerprintText,
                    "parts": "\(parts.count)",
                ])
            let report = try await destination.audited(event, mutating: !dryRun) { event in
                let report = try await Migration(
                    from: source, to: destination, concurrency: concurrency, dryRun: dryRun, logger: logger
                ).run(progress: showProgress ? show : nil)
                event.details.merge(report.auditDetails) { $1 }
                return report
            }
            let seconds = (ContinuousClock.now - started).seconds
            let found = "\(report.shares) share(s), \(report.versions) version(s), \(report.records) record(s)"
            if report.dryRun {
                print("dry run: the copy of vault \(report.sourceVaultID) at \(source.location) holds \(found), all opened by recovery key \(publicKey.fingerprintText); \(report.copied) would be recovered into vault \(report.destinationVaultID), \(report.alreadyPresent) already there; nothing written")
                return
            }
            print("recovered vault \(report.sourceVaultID) from \(source.location) into vault \(report.destinationVaultID)\(report.resumed ? " (resumed)" : ""): \(found)")
            print("  recovered \(report.copied), already present \(report.alreadyPresent), verified \(report.verified), in \(String(format: "%.2f", seconds)) s; the recovery key is wiped from memory")
        }
    }

    /// The copy's blob store: a directory (read only) or an S3 prefix.
    private func sourceBlobStore(logger: Logger) throws -> any BlobStore {
        guard from.hasPrefix("s3://") else {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: from, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw StrongroomError(.invalidInput, "--from \(from) is not a directory (nor an s3:// URL)")
            }
            return DirectoryBlobStore(root: from)
        }
        let rest = from.dropFirst("s3://".count)
        let bucket = String(rest.prefix { $0 != "/" })
        var prefix = String(rest.dropFirst(bucket.count + (rest.contains("/") ? 1 : 0)))
        if !prefix.isEmpty && !prefix.hasSuffix("/") { prefix += "/" }
        let environment = ProcessInfo.processInfo.environment
        let region = s3Region ?? environment["AWS_REGION"] ?? environment["AWS_DEFAULT_REGION"] ?? "us-east-1"
        let endpoint = s3Endpoint ?? environment["AWS_ENDPOINT_URL_S3"] ?? environment["AWS_ENDPOINT_URL"]
            ?? "https://s3.\(region).amazonaws.com"
        let storage = StrongroomConfiguration.ObjectStorage(
            endpoint: endpoint, region: region, bucket: bucket, prefix: prefix, addressing: nil,
            allowInsecureHTTP: allowInsecureHttp, accessKeyID: nil, secretAccessKey: nil, sessionToken: nil, maxAttempts: 4)
        return try CloudVault.blobStore(storage, lockTimeout: .seconds(60), logger: logger)
    }

    /// A part file's bytes: a regular file, not followed through a symbolic link, at most 64 KiB.
    static func readPart(_ path: String) throws -> [UInt8] {
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            let reason = errno == ELOOP ? "is a symbolic link" : String(cString: strerror(errno))
            throw StrongroomError(.recoveryPartRejected, "part \(path) cannot be read: \(reason)")
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
            throw StrongroomError(.recoveryPartRejected, "part \(path) is not a regular file")
        }
        guard info.st_size <= 65536 else {
            throw StrongroomError(.recoveryPartRejected, "part \(path) is \(info.st_size) bytes; a custodian part is a few hundred")
        }
        var bytes = [UInt8](repeating: 0, count: Int(info.st_size))
        var done = 0
        while done < bytes.count {
            let n = bytes.withUnsafeMutableBytes { read(fd, $0.baseAddress! + done, $0.count - done) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw StrongroomError(.recoveryPartRejected, "part \(path) could not be read to its end") }
            done += n
        }
        return bytes
    }
}

extension MigrationReport {
    /// The counts of a recovery, for its `recover` audit record (the migration under it records its own `migrate`) (no share, no secret).
    var auditDetails: [String: String] {
        [
            "source.vault": sourceVaultID.hex, "destination.vault": destinationVaultID.hex, "dryRun": "\(dryRun)",
            "resumed": "\(resumed)", "shares": "\(shares)", "versions": "\(versions)", "records": "\(records)",
            "copied": "\(copied)", "alreadyPresent": "\(alreadyPresent)", "verified": "\(verified)",
            "erasedShares": "\(erasedShares)", "erasedVersions": "\(erasedVersions)",
        ]
    }
}
