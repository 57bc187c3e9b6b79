import ArgumentParser
import Foundation
import Strongroom

struct ListCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List share ids with their newest version.")

    @OptionGroup var options: GlobalOptions

    func run() async throws {
        try await Terminal.run {
            let store = try await options.openStore(logger: options.makeLogger())
            let shares = try await store.list()
            if shares.isEmpty {
                Terminal.note("no shares in vault \(store.vaultID)")
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
        commandName: "versions", abstract: "List the stored versions of a share (headers only; nothing is decrypted).")

    @OptionGroup var options: GlobalOptions

    @Argument(help: "The share id.")
    var id: String

    func run() async throws {
        try await Terminal.run {
            let shareID = try ShareID(id)
            let store = try await options.openStore(logger: options.makeLogger())
            print("VERSION  KEK  CREATED               BYTES  METADATA")
            for info in try await store.versions(shareID) {
                let metadata = info.metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
                print(String(info.version).padding(toLength: 7, withPad: " ", startingAt: 0)
                    + "  " + String(info.kekVersion).padding(toLength: 3, withPad: " ", startingAt: 0)
                    + "  " + Terminal.isoDate(info.createdAt)
                    + "  " + String(info.blobSize).padding(toLength: 5, withPad: " ", startingAt: 0)
                    + "  " + metadata)
            }
        }
    }
}

struct StatusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status", abstract: "Show the vault's KEK versions and its share versions per KEK version.")

    @OptionGroup var options: GlobalOptions

    func run() async throws {
        try await Terminal.run {
            let store = try await options.openStore(logger: options.makeLogger())
            let status = try await store.status()
            print("vault:            \(status.vaultID) (tier \(status.tier))")
            print("current KEK:      version \(status.currentKEKVersion)")
            print("oldest active:    version \(status.oldestActiveKEKVersion)")
            if let pending = status.pendingRotationTarget {
                print("rotation:         PENDING to version \(pending); run `strongroom rotate` to finish it")
            } else {
                print("rotation:         none pending")
            }
            print("shares:           \(status.shareCount) (\(status.versionCount) versions)")
            for (kek, count) in status.versionsPerKEKVersion.sorted(by: { $0.key < $1.key }) {
                print("  KEK version \(kek): \(count) share version(s)")
            }
            if status.unreadableBlobs > 0 {
                print("unreadable blobs: \(status.unreadableBlobs) (corrupted or foreign; see `versions`)")
            }
        }
    }
}
