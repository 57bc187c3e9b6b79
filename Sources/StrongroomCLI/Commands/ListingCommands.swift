import ArgumentParser
import Foundation
import Strongroom
import StrongroomServer

struct ListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List share ids with their newest version.")

    @OptionGroup var options: GlobalOptions

    func run() async throws {
        try await Terminal.run {
            let store = try await options.openVault(logger: options.makeLogger())
            let shares = try await store.list()
            if shares.isEmpty {
                Terminal.note("no shares in \(store.vaultName)")
                return
            }
            let width = max(8, shares.map(\.id.rawValue.count).max() ?? 0)
            print("SHARE".padding(toLength: width, withPad: " ", startingAt: 0) + "  LATEST  VERSIONS")
            for share in shares {
                print(share.id.rawValue.padding(toLength: width, withPad: " ", startingAt: 0)
                    + "  " + String(share.latestVersion).padding(toLength: 6, withPad: " ", startingAt: 0)
                    + "  \(share.versionCount)")
            }
        }
    }
}

struct VersionsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "versions", abstract: "List the stored versions of a share (headers only; nothing is decrypted).",
        discussion: """
            A version whose blob cannot be used (unreadable, belonging to another share, vault or tier, or naming \
            a KEK version outside the vault's active range) is listed as UNUSABLE with the reason, after which the \
            command exits 65; the other versions are listed as usual.
            """)

    @OptionGroup var options: GlobalOptions

    @Argument(help: "The share id.")
    var id: String

    func run() async throws {
        try await Terminal.run {
            let shareID = try ShareID(id)
            let store = try await options.openVault(logger: options.makeLogger())
            print("VERSION  KEK  CREATED               BYTES  METADATA")
            let infos = try await store.versions(shareID)
            for info in infos {
                let version = String(info.version).padding(toLength: 7, withPad: " ", startingAt: 0)
                if let problem = info.problem {
                    print(version + "  " + (info.kekVersion == 0 ? "?" : String(info.kekVersion)).padding(toLength: 3, withPad: " ", startingAt: 0)
                        + "  " + "-".padding(toLength: 20, withPad: " ", startingAt: 0)
                        + "  " + String(info.blobSize).padding(toLength: 5, withPad: " ", startingAt: 0)
                        + "  UNUSABLE: \(problem)")
                    continue
                }
                let metadata = info.metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
                print(version
                    + "  " + String(info.kekVersion).padding(toLength: 3, withPad: " ", startingAt: 0)
                    + "  " + Terminal.isoDate(info.createdAt)
                    + "  " + String(info.blobSize).padding(toLength: 5, withPad: " ", startingAt: 0)
                    + "  " + metadata)
            }
            let unusable = infos.filter { $0.problem != nil }.map(\.version)
            if !unusable.isEmpty {
                throw StrongroomError(
                    .integrityCheckFailed,
                    "version(s) \(unusable.map(String.init).joined(separator: ", ")) of '\(shareID)' cannot be used (marked UNUSABLE above); the other versions are sound. Restore the blob(s) from a backup, or erase the share")
            }
        }
    }
}

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Show the vault's KEK versions and its share versions per KEK version.",
        discussion: """
            Reads envelope headers only. Blobs that cannot be used (unreadable, foreign, or naming a KEK version \
            outside the active range, such as a blob put back from before a finished rotation) are listed under \
            "problems", one line each, and the command then exits 65.
            """)

    @OptionGroup var options: GlobalOptions

    @Flag(name: .long, help: "Print the status as one JSON object.")
    var json = false

    func run() async throws {
        try await Terminal.run {
            let store = try await options.openVault(logger: options.makeLogger())
            let status = try await store.status()
            if json {
                try printJSON(status)
                guard status.problems.isEmpty else {
                    throw StrongroomError(
                        .integrityCheckFailed, "\(status.problems.count) blob(s) in vault \(status.vaultID) cannot be used")
                }
                return
            }
            print("vault:            \(status.vaultID) (tier \(status.tier))")
            print("current KEK:      version \(status.currentKEKVersion)")
            print("oldest active:    version \(status.oldestActiveKEKVersion)")
            if let pending = status.pendingRotationTarget {
                print("rotation:         PENDING to version \(pending); run `strongroom rotate` to finish it")
            } else {
                print("rotation:         none pending")
            }
            if let pending = status.pendingRecoveryFingerprint {
                print("recovery key:     \(status.recoveryFingerprint ?? "none") (enrolment of \(pending) PENDING; run `strongroom recovery enrol` to finish it)")
            } else {
                print("recovery key:     \(status.recoveryFingerprint ?? "none")")
            }
            if status.recoveryFingerprint != nil || status.pendingRecoveryFingerprint != nil {
                print("without recovery: \(status.versionsWithoutRecovery) share version(s) and record(s)")
            }
            print("audit:            \(status.auditMode) (\(status.auditRecordCount) records in \(status.auditLocation))")
            print("audit MAC key:    \(status.auditMACKey ?? "none (checkpoints are hash-only)")")
            if let checkpoint = status.auditCheckpoint {
                print("audit checkpoint: seq \(checkpoint.seq) at \(checkpoint.at) (seconds since 1970)")
            } else {
                print("audit checkpoint: none yet")
            }
            print("shares:           \(status.shareCount) (\(status.versionCount) versions)")
            for (kek, count) in status.versionsPerKEKVersion.sorted(by: { $0.key < $1.key }) {
                print("  KEK version \(kek): \(count) share version(s)")
            }
            guard status.problems.isEmpty else {
                print("problems:         \(status.problems.count) blob(s) cannot be used")
                for problem in status.problems { print("  \(problem)") }
                throw StrongroomError(
                    .integrityCheckFailed,
                    "\(status.problems.count) blob(s) in vault \(status.vaultID) cannot be used (listed above): altered, foreign, or from before a finished rotation. Restore them from a backup or erase them")
            }
            print("problems:         none")
        }
    }
}

extension StatusCommand {
    /// `status --json`: the same facts as the text, for scripts (the document the server's Status sends).
    func printJSON(_ status: VaultStatus) throws {
        print(try VaultDocuments.statusJSON(status))
    }
}
