import Foundation
import SecureCrypto
import Testing
import Strongroom
@testable import StrongroomCloud
@testable import StrongroomCore
@testable import StrongroomHSM
@testable import StrongroomLocal

@Suite struct LocalTierTests {
    @Test func initCreatesPrivateDirectoryAndSeedAndRefusesToOverwrite() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let settings = StrongroomConfiguration.Local(path: "\(directory.path)/a/b/vault")
        let vault = try await LocalVault.initialise(settings, logger: quietLogger)
        #expect(vault.hex.count == 32)
        #expect(try mode(of: settings.path) == 0o700)
        #expect(try mode(of: "\(directory.path)/a") == 0o700)
        #expect(try mode(of: settings.rootSeedFile) == 0o600)
        #expect(try FileManager.default.attributesOfItem(atPath: settings.rootSeedFile)[.size] as? Int == 32)
        let seedBefore = try Data(contentsOf: URL(fileURLWithPath: settings.rootSeedFile))

        let store = try await LocalVault.open(settings, logger: quietLogger)
        _ = try await store.store(try id("x"), secret("value"))
        #expect(try mode(of: "\(settings.path)/shares") == 0o700)
        #expect(try mode(of: "\(settings.path)/shares/x") == 0o700)
        #expect(try mode(of: "\(settings.path)/shares/x/1.srb") == 0o600)
        #expect(try mode(of: "\(settings.path)/vault.json") == 0o600)

        let again = await #expect(throws: StrongroomError.self) { try await LocalVault.initialise(settings, logger: quietLogger) }
        #expect(again?.code == .vaultAlreadyExists)
        // A root seed file that exists without a vault is not overwritten either.
        let other = StrongroomConfiguration.Local(path: "\(directory.path)/other", rootSeedFile: settings.rootSeedFile)
        let seedExists = await #expect(throws: StrongroomError.self) { try await LocalVault.initialise(other, logger: quietLogger) }
        #expect(seedExists?.code == .vaultAlreadyExists)
        #expect(try Data(contentsOf: URL(fileURLWithPath: settings.rootSeedFile)) == seedBefore)
    }

    @Test(arguments: [0o644, 0o640, 0o604, 0o660])
    func rootSeedReadableByOthersIsRefused(_ permissions: Int) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let settings = StrongroomConfiguration.Local(path: "\(directory.path)/vault")
        _ = try await LocalVault.initialise(settings, logger: quietLogger)
        try FileManager.default.setAttributes([.posixPermissions: permissions], ofItemAtPath: settings.rootSeedFile)
        let error = await #expect(throws: StrongroomError.self) { try await LocalVault.open(settings, logger: quietLogger) }
        #expect(error?.code == .insecurePermissions)
        #expect(error?.reason.contains("chmod 600 \(settings.rootSeedFile)") == true)
        #expect(error?.reason.contains(String(permissions, radix: 8)) == true)
    }

    @Test func vaultDirectoryReadableByOthersIsRefused() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let settings = StrongroomConfiguration.Local(path: "\(directory.path)/vault")
        _ = try await LocalVault.initialise(settings, logger: quietLogger)
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: settings.path)
        let error = await #expect(throws: StrongroomError.self) { try await LocalVault.open(settings, logger: quietLogger) }
        #expect(error?.code == .insecurePermissions)
    }

    @Test func missingVaultAndMissingOrShortSeedAreClearErrors() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let missing = StrongroomConfiguration.Local(path: "\(directory.path)/nothing")
        let notThere = await #expect(throws: StrongroomError.self) { try await LocalVault.open(missing, logger: quietLogger) }
        #expect(notThere?.code == .vaultNotInitialised)
        #expect(notThere?.reason.contains("strongroom init") == true)

        let settings = StrongroomConfiguration.Local(path: "\(directory.path)/vault")
        _ = try await LocalVault.initialise(settings, logger: quietLogger)
        let noSeed = StrongroomConfiguration.Local(path: settings.path, rootSeedFile: "\(directory.path)/absent.seed")
        let absent = await #expect(throws: StrongroomError.self) { try await LocalVault.open(noSeed, logger: quietLogger) }
        #expect(absent?.code == .wrongRootSeed)
        let short = "\(directory.path)/short.seed"
        _ = FileManager.default.createFile(atPath: short, contents: Data(count: 16), attributes: [.posixPermissions: 0o600])
        let shortError = await #expect(throws: StrongroomError.self) {
            try await LocalVault.open(StrongroomConfiguration.Local(path: settings.path, rootSeedFile: short), logger: quietLogger)
        }
        #expect(shortError?.code == .wrongRootSeed)
    }

    @Test func eraseOverwritesTheBytesBeforeUnlinking() async throws {
        let fixture = try await LocalFixture()
        defer { Task { await fixture.tearDown() } }
        let store = try await fixture.open()
        let share = try id("doomed")
        _ = try await store.store(share, secret("first"))
        _ = try await store.store(share, secret("second"))
        // An open descriptor keeps the inode reachable after erase unlinks the blob, so the test can
        // see what erase left in the file's blocks. (A second hard link would not do: erase refuses to
        // overwrite a file with other links, see FileSystemSafetyTests.)
        var witnesses: [(FileHandle, Data)] = []
        for version in 1...2 {
            let path = "\(fixture.settings.path)/shares/doomed/\(version).srb"
            let handle = try #require(FileHandle(forReadingAtPath: path))
            witnesses.append((handle, try Data(contentsOf: URL(fileURLWithPath: path))))
        }
        #expect(try await store.erase(share) == 2)
        #expect(!FileManager.default.fileExists(atPath: "\(fixture.settings.path)/shares/doomed"))
        for (witness, original) in witnesses {
            try witness.seek(toOffset: 0)
            let after = try witness.readToEnd() ?? Data()
            try witness.close()
            #expect(after.count == original.count)
            #expect(after != original)
            #expect(after.range(of: Data("SRSH".utf8)) == nil)
        }
    }

    @Test func leftoverTemporaryFilesAreIgnoredAndSwept() async throws {
        let fixture = try await LocalFixture()
        defer { Task { await fixture.tearDown() } }
        let store = try await fixture.open()
        let share = try id("t")
        _ = try await store.store(share, secret("v"))
        let stray = "\(fixture.settings.path)/shares/t/.tmp-deadbeef"
        _ = FileManager.default.createFile(atPath: stray, contents: Data("half-written".utf8))
        #expect(try await store.versions(share).map(\.version) == [1])
        #expect(text(try await store.load(share)) == "v")
        _ = try await store.rotateWrappingKey()
        #expect(!FileManager.default.fileExists(atPath: stray))
    }

    @Test func aWriterWaitsForTheExclusiveLockAndGivesUpClearly() async throws {
        let fixture = try await LocalFixture()
        defer { Task { await fixture.tearDown() } }
        let impatient = try await LocalVault.open(
            fixture.settings, lockTimeout: .milliseconds(200), logger: quietLogger, faults: .none)
        let holder = DirectoryBlobStore(root: fixture.settings.path)
        let error = try await holder.withLock(.exclusive) { () async throws -> StrongroomError? in
            do {
                _ = try await impatient.store(try id("blocked"), secret("v"))
                return nil
            } catch let error as StrongroomError {
                return error
            }
        }
        #expect(error?.code == .vaultBusy)
        #expect(error?.reason.contains(".lock") == true)
        // Once the lock is free the same store succeeds.
        #expect(try await impatient.store(try id("blocked"), secret("v")) == 1)
    }

    @Test func keysThatEscapeTheDirectoryAreRefused() async throws {
        let store = DirectoryBlobStore(root: "/tmp/nowhere")
        for key in ["../x", "/etc/passwd", "a/../../b", "a//b", "", "a/./b", "shares/.tmp-x"] {
            await #expect(throws: StrongroomError.self) { try await store.read(key) }
        }
    }
}

@Suite struct ShareIDTests {
    @Test(arguments: ["a", "alice", "party-1.share_2", "A9", String(repeating: "x", count: 128), "a.b"])
    func acceptsValidIDs(_ text: String) throws {
        #expect(try ShareID(text).rawValue == text)
    }

    @Test(arguments: [
        ("", "is empty"), ("..", "contains '..'"), ("../etc", "contains '..'"), ("a/../b", "contains '/'"),
        ("/etc/passwd", "contains '/'"), (".hidden", "hidden"), ("a..b", "contains '..'"), ("-rf", "starts with '-'"),
        ("sp ace", "outside"), ("nul\u{0}", "outside"), ("ünï", "outside"), (String(repeating: "x", count: 129), "limit is 128"),
        ("a\\b", "outside"),
    ])
    func rejectsInvalidIDsWithTheRuleBroken(_ text: String, _ rule: String) {
        let error = #expect(throws: StrongroomError.self) { try ShareID(text) }
        #expect(error?.code == .invalidShareID)
        #expect(error?.reason.contains(rule) == true, "\(error?.reason ?? "")")
        #expect(error?.reason.contains("\u{0}") == false)
    }
}
