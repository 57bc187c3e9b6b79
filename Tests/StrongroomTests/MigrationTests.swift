import Foundation
import SecureCrypto
import Strongroom
import Testing
@testable import StrongroomCore
@testable import StrongroomLocal

/// The migration library on tier 1 vaults: importVersion's create-if-absent and conflict, the journal,
/// the refusals, and the final pass catching a share stored while the copy ran.
@Suite struct MigrationTests {
    func vault(_ directory: TemporaryDirectory, _ name: String) async throws -> ShareStore {
        let settings = StrongroomConfiguration.Local(path: "\(directory.path)/\(name)")
        _ = try await LocalVault.initialise(settings, logger: quietLogger)
        return try await LocalVault.open(settings, logger: quietLogger)
    }

    @Test func importVersionCreatesThatVersionAndRefusesADifferentOne() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let store = try await vault(directory, "v")
        let item = MigrationItem(shareID: try id("alice"), version: 7, createdAt: 1_700_000_000, metadata: Array(#"{"a":"b"}"#.utf8))
        #expect(try await store.importVersion(item, secret: secret("seven")) == .created)
        #expect(text(try await store.load(try id("alice"), version: 7)) == "seven")
        let info = try #require(try await store.versions(try id("alice")).first)
        #expect(info.version == 7 && info.createdAt == 1_700_000_000 && info.metadata == ["a": "b"])
        // The same again: already present, nothing written.
        #expect(try await store.importVersion(item, secret: secret("seven")) == .alreadyPresent)
        // Other bytes, other created-at, other metadata: a conflict naming share and version.
        let blob = "\(directory.path)/v/shares/alice/7.srb"
        let before = try Data(contentsOf: URL(fileURLWithPath: blob))
        for (changed, bytes) in [
            (item, "other"),
            (MigrationItem(shareID: item.shareID, version: 7, createdAt: 1, metadata: item.metadata), "seven"),
            (MigrationItem(shareID: item.shareID, version: 7, createdAt: item.createdAt, metadata: []), "seven"),
        ] {
            let error = await #expect(throws: StrongroomError.self) { try await store.importVersion(changed, secret: secret(bytes)) }
            #expect(error?.code == .migrationConflict)
            #expect(error?.reason.contains("share 'alice' version 7") == true)
            #expect(error?.code.exitStatus == 65)
        }
        #expect(try Data(contentsOf: URL(fileURLWithPath: blob)) == before)
        // A record (version 0) imports too.
        let record = MigrationItem(shareID: try id("group.g"), version: 0, createdAt: 1_600_000_000, metadata: [])
        #expect(try await store.importVersion(record, secret: secret("public record")) == .created)
        #expect(try await store.readRecord(try id("group.g")) == Array("public record".utf8))
    }

    @Test func migratesEverythingWritesTheJournalAndRefusesMixing() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let source = try await vault(directory, "source")
        let destination = try await vault(directory, "destination")
        for index in 0..<5 {
            for version in 0...(index % 3) {
                _ = try await source.store(try id("s\(index)"), secret("s\(index)v\(version)"), metadata: ["i": "\(index)"])
            }
        }
        try await source.writeRecord(try id("group.x"), Array("record".utf8))

        let dry = try await Migration(from: source, to: destination, dryRun: true).run()
        #expect(dry.copied == 10 && dry.shares == 5 && dry.versions == 9 && dry.records == 1)
        #expect(try await destination.list().isEmpty)
        #expect(!FileManager.default.fileExists(atPath: "\(directory.path)/destination/migration.json"))

        let report = try await Migration(from: source, to: destination, concurrency: 4).run()
        #expect(report.copied == 10 && report.verified == 10 && !report.resumed)
        let journal = try MigrationJournal.decode(
            Array(try Data(contentsOf: URL(fileURLWithPath: "\(directory.path)/destination/migration.json"))), location: "")
        #expect(journal.phase == .done && journal.sourceVaultID == source.vaultID.hex && journal.copied == 10)
        for summary in try await source.list() {
            for info in try await source.versions(summary.id) {
                #expect(try await destination.load(summary.id, version: info.version) == source.load(summary.id, version: info.version))
            }
            #expect(try await destination.versions(summary.id).map { [$0.version, $0.createdAt] }
                == source.versions(summary.id).map { [$0.version, $0.createdAt] })
        }
        #expect(try await destination.readRecord(try id("group.x")) == Array("record".utf8))

        // Again: everything already present (a resumed or repeated run).
        let again = try await Migration(from: source, to: destination).run()
        #expect(again.copied == 0 && again.alreadyPresent == 10 && again.resumed)

        // A third vault into this destination: refused, as is the source into itself.
        let other = try await vault(directory, "other")
        _ = try await other.store(try id("z"), secret("z"))
        let mixed = await #expect(throws: StrongroomError.self) { try await Migration(from: other, to: destination).run() }
        #expect(mixed?.code == .migrationRefused)
        let itself = await #expect(throws: StrongroomError.self) { try await Migration(from: source, to: source).run() }
        #expect(itself?.code == .migrationRefused)
        // A non-empty destination without a journal: refused.
        let fresh = try await vault(directory, "fresh")
        _ = try await fresh.store(try id("y"), secret("y"))
        let notEmpty = await #expect(throws: StrongroomError.self) { try await Migration(from: source, to: fresh).run() }
        #expect(notEmpty?.code == .migrationRefused)
        #expect(notEmpty?.reason.contains("share 'y'") == true)

        // Erase the source: gone there, all still in the destination.
        let erased = try await Migration(from: source, to: destination, eraseSource: true).run()
        #expect(erased.erasedShares == 5 && erased.erasedVersions == 9 && erased.erasedRecords == 1)
        #expect(try await source.list().isEmpty)
        #expect(try await source.readRecord(try id("group.x")) == nil)
        #expect(text(try await destination.load(try id("s2"), version: 3)) == "s2v2")
    }

    @Test func theFinalPassCatchesAShareStoredDuringTheCopy() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let source = try await vault(directory, "source")
        let destination = try await vault(directory, "destination")
        for index in 0..<3 { _ = try await source.store(try id("s\(index)"), secret("v\(index)")) }
        let late = LateWriter(store: source)
        let report = try await Migration(from: late, to: destination).run()
        #expect(late.wrote.withLock { $0 })
        #expect(text(try await destination.load(try id("late"))) == "late value")
        #expect(report.versions == 4 && report.verified == 4 && report.caughtInFinalPass == 1 && report.copied == 4)
    }
}

/// A source that stores a new share into its store as the copy pass's walk ends (the first walk only),
/// as an application writing during a migration would.
final class LateWriter: MigrationSource {
    let store: ShareStore
    let wrote = Locked(false)
    init(store: ShareStore) { self.store = store }
    var vaultID: VaultID { store.vaultID }
    var location: String { store.location }
    func forEachShareVersion(_ body: (MigrationItem) async throws -> Void) async throws {
        let first = !wrote.withLock { $0 }
        var visited = 0
        try await store.forEachShareVersion { item in
            try await body(item)
            visited += 1
        }
        // After the copy pass's walk: only the final pass can find it.
        if first && visited > 0 {
            _ = try await store.store(try id("late"), secret("late value"))
            wrote.withLock { $0 = true }
        }
    }
    func open(_ item: MigrationItem) async throws -> SecretBytes { try await store.open(item) }
    func withFinalPassLock<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        try await store.withFinalPassLock(body)
    }
}
