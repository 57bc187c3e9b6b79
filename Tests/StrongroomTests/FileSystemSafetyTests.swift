import Foundation
import SecureCrypto
import Testing
import Strongroom
@testable import StrongroomCloud
@testable import StrongroomCore
@testable import StrongroomHSM
@testable import StrongroomLocal

/// Links and other files Strongroom did not write, planted inside a vault: nothing outside the vault
/// is ever read, written or created through them, and the operation says what it found.
@Suite struct FileSystemSafetyTests {
    /// A decoy file outside the vault with known bytes, standing for a file an attacker wants
    /// Strongroom to overwrite.
    struct Decoy {
        let path: String
        let bytes: Data
        init(in directory: TemporaryDirectory, name: String = "decoy") throws {
            path = "\(directory.path)/\(name)"
            bytes = Data((0..<512).map { UInt8(truncatingIfNeeded: $0 &* 37 &+ 11) })
            try bytes.write(to: URL(fileURLWithPath: path))
        }
        var isUntouched: Bool { (try? Data(contentsOf: URL(fileURLWithPath: path))) == bytes }
    }

    private func exists(_ path: String) -> Bool {
        var info = stat()
        return lstat(path, &info) == 0
    }

    @Test func eraseDoesNotWriteThroughABlobReplacedByASymlink() async throws {
        let fixture = try await LocalFixture()
        defer { Task { await fixture.tearDown() } }
        let store = try await fixture.open()
        _ = try await store.store(try id("victim"), secret("one"))
        _ = try await store.store(try id("victim"), secret("two"))
        let decoy = try Decoy(in: fixture.directory)
        let blob = "\(fixture.settings.path)/shares/victim/1.srb"
        try FileManager.default.removeItem(atPath: blob)
        try FileManager.default.createSymbolicLink(atPath: blob, withDestinationPath: decoy.path)

        let error = await #expect(throws: StrongroomError.self) { try await store.erase(try id("victim")) }
        #expect(error?.code == .unsafeFile)
        #expect(error?.reason.contains("1.srb was a symbolic link") == true, "\(error?.reason ?? "")")
        #expect(error?.reason.contains("nothing was written") == true)
        #expect(decoy.isUntouched)
        // The names are gone all the same: the share is erased from the vault.
        #expect(!exists("\(fixture.settings.path)/shares/victim"))
        await #expect(throws: StrongroomError.self) { try await store.load(try id("victim")) }
    }

    /// Erasing some versions (what a FROST refresh does to the old key package) treats a planted link
    /// like a whole erase does: the decoy is untouched, the other doomed versions are still erased,
    /// the kept version still opens, and the refusal is reported.
    @Test func partialEraseDoesNotWriteThroughASymlinkedVersion() async throws {
        let fixture = try await LocalFixture()
        defer { Task { await fixture.tearDown() } }
        let store = try await fixture.open()
        for text in ["one", "two", "three"] { _ = try await store.store(try id("victim"), secret(text)) }
        let decoy = try Decoy(in: fixture.directory)
        let blob = "\(fixture.settings.path)/shares/victim/1.srb"
        try FileManager.default.removeItem(atPath: blob)
        try FileManager.default.createSymbolicLink(atPath: blob, withDestinationPath: decoy.path)

        let error = await #expect(throws: StrongroomError.self) {
            try await store.erase(try id("victim"), versions: [1, 2])
        }
        #expect(error?.code == .unsafeFile)
        #expect(error?.reason.contains("1.srb was a symbolic link") == true, "\(error?.reason ?? "")")
        #expect(decoy.isUntouched)
        #expect(!exists(blob))
        #expect(!exists("\(fixture.settings.path)/shares/victim/2.srb"))
        #expect(try await store.versions(try id("victim")).map(\.version) == [3])
        #expect(text(try await store.load(try id("victim"))) == "three")
    }

    @Test func eraseDoesNotOverwriteAHardLinkedBlob() async throws {
        let fixture = try await LocalFixture()
        defer { Task { await fixture.tearDown() } }
        let store = try await fixture.open()
        _ = try await store.store(try id("victim"), secret("one"))
        let decoy = try Decoy(in: fixture.directory)
        let blob = "\(fixture.settings.path)/shares/victim/1.srb"
        try FileManager.default.removeItem(atPath: blob)
        try FileManager.default.linkItem(atPath: decoy.path, toPath: blob)

        let error = await #expect(throws: StrongroomError.self) { try await store.erase(try id("victim")) }
        #expect(error?.code == .unsafeFile)
        #expect(error?.reason.contains("a regular file with 2 links") == true, "\(error?.reason ?? "")")
        #expect(error?.reason.contains("-inum") == true)
        #expect(decoy.isUntouched)
        #expect(!exists(blob))
    }

    @Test func aSymlinkedShareDirectoryIsNeverFollowed() async throws {
        let fixture = try await LocalFixture()
        defer { Task { await fixture.tearDown() } }
        let store = try await fixture.open()
        _ = try await store.store(try id("victim"), secret("one"))
        // The decoy directory holds what looks like the share's blob: following the link would
        // overwrite it and remove the directory.
        let decoyDirectory = "\(fixture.directory.path)/elsewhere"
        try FileManager.default.createDirectory(atPath: decoyDirectory, withIntermediateDirectories: false)
        let decoy = try Decoy(in: fixture.directory, name: "elsewhere/1.srb")
        let shareDirectory = "\(fixture.settings.path)/shares/victim"
        try FileManager.default.removeItem(atPath: shareDirectory)
        try FileManager.default.createSymbolicLink(atPath: shareDirectory, withDestinationPath: decoyDirectory)

        let load = await #expect(throws: StrongroomError.self) { try await store.load(try id("victim")) }
        #expect(load?.code == .unsafeFile)
        #expect(load?.reason.contains("shares/victim is a symbolic link") == true, "\(load?.reason ?? "")")
        let store2 = await #expect(throws: StrongroomError.self) { try await store.store(try id("victim"), secret("x")) }
        #expect(store2?.code == .unsafeFile)
        let erase = await #expect(throws: StrongroomError.self) { try await store.erase(try id("victim")) }
        #expect(erase?.code == .unsafeFile)
        #expect(erase?.reason.contains("the name was removed") == true || erase?.reason.contains("its name was removed") == true, "\(erase?.reason ?? "")")
        #expect(decoy.isUntouched)
        #expect(try FileManager.default.contentsOfDirectory(atPath: decoyDirectory) == ["1.srb"])
        #expect(!exists(shareDirectory))
    }

    @Test func aSymlinkedDirectoryOnTheWayIsRefused() async throws {
        let fixture = try await LocalFixture()
        defer { Task { await fixture.tearDown() } }
        let store = try await fixture.open()
        let outside = "\(fixture.directory.path)/outside"
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: false)
        try FileManager.default.createSymbolicLink(atPath: "\(fixture.settings.path)/shares", withDestinationPath: outside)
        let error = await #expect(throws: StrongroomError.self) { try await store.store(try id("new"), secret("v")) }
        #expect(error?.code == .unsafeFile)
        #expect(try FileManager.default.contentsOfDirectory(atPath: outside).isEmpty)
    }

    @Test func aBlobThatIsASymlinkOrAPipeIsNotRead() async throws {
        let fixture = try await LocalFixture()
        defer { Task { await fixture.tearDown() } }
        let store = try await fixture.open()
        _ = try await store.store(try id("a"), secret("one"))
        _ = try await store.store(try id("b"), secret("two"))
        // A link to a genuine copy of the blob: the bytes would open, the link must still be refused.
        let blob = "\(fixture.settings.path)/shares/a/1.srb"
        let copy = "\(fixture.directory.path)/copy.srb"
        try FileManager.default.moveItem(atPath: blob, toPath: copy)
        try FileManager.default.createSymbolicLink(atPath: blob, withDestinationPath: copy)
        let link = await #expect(throws: StrongroomError.self) { try await store.load(try id("a")) }
        #expect(link?.code == .unsafeFile)
        #expect(link?.reason.contains("is a symbolic link") == true, "\(link?.reason ?? "")")
        // A named pipe: opening it for reading would wait for a writer forever.
        let pipe = "\(fixture.settings.path)/shares/b/1.srb"
        try FileManager.default.removeItem(atPath: pipe)
        #expect(mkfifo(pipe, 0o600) == 0)
        let fifo = await #expect(throws: StrongroomError.self) { try await store.load(try id("b")) }
        #expect(fifo?.code == .unsafeFile)
        #expect(fifo?.reason.contains("named pipe") == true, "\(fifo?.reason ?? "")")
    }

    @Test func theLockFileSymlinkIsNotFollowed() async throws {
        let fixture = try await LocalFixture()
        defer { Task { await fixture.tearDown() } }
        let store = try await fixture.open()
        let target = "\(fixture.directory.path)/created-through-the-lock"
        let lock = "\(fixture.settings.path)/.lock"
        try? FileManager.default.removeItem(atPath: lock)
        try FileManager.default.createSymbolicLink(atPath: lock, withDestinationPath: target)
        let error = await #expect(throws: StrongroomError.self) { try await store.store(try id("x"), secret("v")) }
        #expect(error?.code == .unsafeFile)
        #expect(error?.reason.contains(".lock is a symbolic link") == true, "\(error?.reason ?? "")")
        #expect(!exists(target))
    }

    @Test func aRootSeedThatIsASymlinkIsRefused() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let settings = StrongroomConfiguration.Local(path: "\(directory.path)/vault")
        _ = try await LocalVault.initialise(settings, logger: quietLogger)
        let real = "\(directory.path)/real.seed"
        try FileManager.default.moveItem(atPath: settings.rootSeedFile, toPath: real)
        try FileManager.default.createSymbolicLink(atPath: settings.rootSeedFile, withDestinationPath: real)
        let error = await #expect(throws: StrongroomError.self) { try await LocalVault.open(settings, logger: quietLogger) }
        #expect(error?.code == .unsafeFile)
        #expect(error?.reason.contains("is a symbolic link") == true, "\(error?.reason ?? "")")
        #expect(error?.reason.contains("local.rootSeedFile") == true)
        // The file itself opens the vault.
        let direct = StrongroomConfiguration.Local(path: settings.path, rootSeedFile: real)
        _ = try await LocalVault.open(direct, logger: quietLogger)
    }

    @Test func anHSMPINFileThatIsASymlinkIsRefused() throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let real = "\(directory.path)/pin"
        _ = FileManager.default.createFile(atPath: real, contents: Data("1234\n".utf8), attributes: [.posixPermissions: 0o600])
        #expect(try HSMVault.readPINFile(real).count == 4)
        let link = "\(directory.path)/pin-link"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: real)
        let error = #expect(throws: StrongroomError.self) { try HSMVault.readPINFile(link) }
        #expect(error?.code == .unsafeFile)
        #expect(error?.reason.contains("is a symbolic link") == true, "\(error?.reason ?? "")")
        #expect(error?.reason.contains("hsm.pinFile") == true)
    }

    @Test func aVaultDirectoryThatIsASymlinkIsRefusedWithoutChmodAdvice() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let real = StrongroomConfiguration.Local(path: "\(directory.path)/vault")
        _ = try await LocalVault.initialise(real, logger: quietLogger)
        let link = "\(directory.path)/vault-link"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: real.path)
        let settings = StrongroomConfiguration.Local(path: link, rootSeedFile: real.rootSeedFile)
        let error = await #expect(throws: StrongroomError.self) { try await LocalVault.open(settings, logger: quietLogger) }
        #expect(error?.code == .unsafeFile)
        #expect(error?.reason.contains("vault directory \(link) is a symbolic link") == true, "\(error?.reason ?? "")")
        #expect(error?.reason.contains("chmod") == false)
        // `init` on a link is refused the same way, and creates nothing behind it.
        let other = "\(directory.path)/empty"
        try FileManager.default.createDirectory(atPath: other, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        let otherLink = "\(directory.path)/empty-link"
        try FileManager.default.createSymbolicLink(atPath: otherLink, withDestinationPath: other)
        let initError = await #expect(throws: StrongroomError.self) {
            try await LocalVault.initialise(StrongroomConfiguration.Local(path: otherLink), logger: quietLogger)
        }
        #expect(initError?.reason.contains("chmod") == false)
        #expect(try FileManager.default.contentsOfDirectory(atPath: other).isEmpty)
    }
}
