import AWSClient
import Foundation
import Logging
import SecureCrypto
import Synchronization
import Testing
import Strongroom
@testable import StrongroomCloud
@testable import StrongroomCore
@testable import StrongroomHSM
@testable import StrongroomLocal

#if canImport(Glibc)
import Glibc
#endif

/// Issue 12 items 1 and 5: a destroy killed at any instant leaves no damaged blob under a valid name
/// and the next operation finishes it; readers carry on past torn files; abandoned temporary files
/// are removed by age and never listed.
@Suite struct CrashSafetyTests {
    /// Where a kill of a destroy can land, and what runs next.
    static let destroyCrashPoints: [FaultPoint] = [.destroyNameRemoved, .destroyOverwritten]
    static let finishers = ["put", "erase", "rotate"]

    @Test(arguments: destroyCrashPoints, finishers)
    func aKilledDestroyLeavesNoDamagedBlobAndTheNextOperationFinishesIt(_ point: FaultPoint, _ finisher: String) async throws {
        let fixture = try await LocalFixture()
        defer { Task { await fixture.tearDown() } }
        let store = try await fixture.open()
        let share = try id("p"), other = try id("q")
        for value in ["v1", "v2", "v3"] { _ = try await store.store(share, secret(value)) }
        _ = try await store.store(other, secret("other"))
        let crashing = try await fixture.open(faults: FaultInjection { if $0 == point { throw SimulatedCrash() } })
        await #expect(throws: SimulatedCrash.self) { try await crashing.erase(share, versions: [3]) }

        // "After the kill": version 3 is gone, not garbage; everything else reads as before.
        let directory = "\(fixture.settings.path)/shares/p"
        let names = try FileManager.default.contentsOfDirectory(atPath: directory)
        #expect(!names.contains("3.srb"), "\(names)")
        let tombstones = names.filter { $0.hasPrefix(".erased-") }
        #expect(tombstones.count == 1, "\(names)")
        if point == .destroyOverwritten, let tombstone = tombstones.first {
            let bytes = try Data(contentsOf: URL(fileURLWithPath: "\(directory)/\(tombstone)"))
            #expect(bytes.range(of: Data("SRSH".utf8)) == nil)
        }
        let restarted = try await fixture.open()
        let versions = try await restarted.versions(share)
        #expect(versions.map(\.version) == [1, 2])
        #expect(versions.allSatisfy { $0.problem == nil })
        #expect(text(try await restarted.load(share)) == "v2")
        #expect(try await restarted.list().map(\.versionCount) == [2, 1])
        #expect(try await restarted.status().problems.isEmpty)

        switch finisher {
        case "put":
            #expect(try await restarted.store(share, secret("v4")) == 3)
        case "erase":
            #expect(try await restarted.erase(share, versions: [1]) == 1)
        default:
            let report = try await restarted.rotateWrappingKey()
            #expect(report.finishedInterrupted.finishedDestroys == 1)
            #expect(report.tornBlobs.isEmpty)
        }
        let after = try FileManager.default.contentsOfDirectory(atPath: directory)
        #expect(!after.contains { $0.hasPrefix(".erased-") }, "\(after)")
        #expect(text(try await restarted.load(share, version: 2)) == "v2")
        #expect(text(try await restarted.load(other)) == "other")
    }

    @Test func aKilledEraseOfAWholeShareIsFinishedByTheNextErase() async throws {
        let fixture = try await LocalFixture()
        defer { Task { await fixture.tearDown() } }
        let store = try await fixture.open()
        let share = try id("whole")
        for value in ["v1", "v2"] { _ = try await store.store(share, secret(value)) }
        let crashing = try await fixture.open(faults: FaultInjection { if $0 == .destroyNameRemoved { throw SimulatedCrash() } })
        await #expect(throws: SimulatedCrash.self) { try await crashing.erase(share) }
        let restarted = try await fixture.open()
        // The first version's destroy was killed: it is gone; the second still opens.
        #expect(try await restarted.versions(share).map(\.version) == [2])
        #expect(text(try await restarted.load(share)) == "v2")
        #expect(try await restarted.erase(share) == 1)
        #expect(!FileManager.default.fileExists(atPath: "\(fixture.settings.path)/shares/whole"))
    }

    // MARK: Torn and foreign files

    /// Random bytes under a valid blob name: what a kill left between overwrite and unlink before
    /// destroys renamed first.
    func plantGarbage(_ fixture: LocalFixture, _ share: String, _ version: Int, _ bytes: [UInt8]? = nil) throws {
        let path = "\(fixture.settings.path)/shares/\(share)/\(version).srb"
        let garbage = try bytes ?? SecureRandom.bytes(count: 300)
        #expect(FileManager.default.createFile(atPath: path, contents: Data(garbage), attributes: [.posixPermissions: 0o600]))
    }

    @Test func loadOfTheNewestVersionSkipsATornFileWithAWarningNamingIt() async throws {
        let fixture = try await LocalFixture()
        defer { Task { await fixture.tearDown() } }
        let sink = LogLines()
        let logger = Logger(label: "test") { _ in RecordingLogHandler(sink: sink) }
        let store = try await LocalVault.open(fixture.settings, logger: logger)
        let share = try id("torn")
        for value in ["v1", "v2"] { _ = try await store.store(share, secret(value)) }
        try plantGarbage(fixture, "torn", 3)
        #expect(text(try await store.load(share)) == "v2")
        #expect(sink.lines.contains { $0.contains("warning") && $0.contains("version 3") && $0.contains("bad magic") }, "\(sink.lines)")
        // Asked for by number, the torn version fails precisely.
        let error = await #expect(throws: StrongroomError.self) { try await store.load(share, version: 3) }
        #expect(error?.code == .integrityCheckFailed)
        #expect(error?.reason.contains("bad magic") == true)
        // `versions` lists it with a problem naming the file, and the good ones as usual.
        let versions = try await store.versions(share)
        #expect(versions.map(\.version) == [1, 2, 3])
        #expect(versions[0].problem == nil && versions[1].problem == nil)
        #expect(versions[2].problem?.contains("shares/torn/3.srb") == true, "\(versions[2].problem ?? "")")
        #expect(versions[2].problem?.contains("not a Strongroom envelope (bad magic)") == true)
        // A put goes on after it.
        #expect(try await store.store(share, secret("v4")) == 4)
        #expect(text(try await store.load(share)) == "v4")
    }

    @Test func anEmptyNewestVersionIsSkippedToo() async throws {
        let fixture = try await LocalFixture()
        defer { Task { await fixture.tearDown() } }
        let store = try await fixture.open()
        let share = try id("empty")
        for value in ["v1", "v2"] { _ = try await store.store(share, secret(value)) }
        try plantGarbage(fixture, "empty", 3, [])
        #expect(text(try await store.load(share)) == "v2")
        #expect(try await store.versions(share)[2].problem?.contains("(empty file)") == true)
    }

    /// A newest version that is an envelope but does not authenticate, or belongs to another share or
    /// version, is never skipped: an altered blob must not roll the share back quietly.
    @Test(arguments: ["tampered", "length", "truncated", "copied", "trailing"])
    func loadOfTheNewestVersionNeverSkipsAnEnvelopeThatFailsItsChecks(_ kind: String) async throws {
        let fixture = try await LocalFixture()
        defer { Task { await fixture.tearDown() } }
        let store = try await fixture.open()
        let share = try id("altered")
        for value in ["v1", "v2"] { _ = try await store.store(share, secret(value)) }
        let directory = "\(fixture.settings.path)/shares/altered"
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: "\(directory)/2.srb")))
        switch kind {
        case "tampered": bytes[bytes.count - 5] ^= 0x01  // in the tag
        case "length": bytes[bytes.count - 20] ^= 0x01  // the ciphertext length: now longer than the file
        case "truncated": bytes.removeLast(5)
        case "copied": bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: "\(directory)/1.srb")))
        default: bytes.append(0)
        }
        try Data(bytes).write(to: URL(fileURLWithPath: "\(directory)/2.srb"))
        let error = await #expect(throws: StrongroomError.self) { try await store.load(share) }
        #expect(error?.code == .integrityCheckFailed)
    }

    @Test func rotationCarriesOnPastATornFileAndReportsIt() async throws {
        let fixture = try await LocalFixture()
        defer { Task { await fixture.tearDown() } }
        let store = try await fixture.open()
        for name in ["a", "b", "c"] { _ = try await store.store(try id(name), secret("\(name)1")) }
        _ = try await store.store(try id("b"), secret("b2"))
        try plantGarbage(fixture, "b", 3)
        let report = try await store.rotateWrappingKey()
        #expect(report.failures.isEmpty)
        #expect(report.rewrapped == 4)
        #expect(report.tornBlobs.count == 1)
        #expect(report.tornBlobs.first?.contains("shares/b/3.srb") == true, "\(report.tornBlobs)")
        let status = try await store.status()
        #expect(status.pendingRotationTarget == nil)
        #expect(status.versionsPerKEKVersion == [2: 4])
        for (name, value) in [("a", "a1"), ("b", "b2"), ("c", "c1")] {
            #expect(text(try await store.load(try id(name))) == value)
        }
        // Erasing the torn version leaves a healthy share.
        #expect(try await store.erase(try id("b"), versions: [3]) == 1)
        #expect(try await store.versions(try id("b")).allSatisfy { $0.problem == nil })
    }

    /// An envelope that fails its checks still holds a rotation back (it may be a share that a
    /// retired KEK would make unreadable for good).
    @Test func rotationStillStopsForAnEnvelopeThatFailsItsChecks() async throws {
        let fixture = try await LocalFixture()
        defer { Task { await fixture.tearDown() } }
        let store = try await fixture.open()
        _ = try await store.store(try id("a"), secret("a1"))
        _ = try await store.store(try id("a"), secret("a2"))
        let directory = "\(fixture.settings.path)/shares/a"
        try FileManager.default.removeItem(atPath: "\(directory)/2.srb")
        try FileManager.default.copyItem(atPath: "\(directory)/1.srb", toPath: "\(directory)/2.srb")
        let error = await #expect(throws: StrongroomError.self) { try await store.rotateWrappingKey() }
        #expect(error?.code == .rotationIncomplete)
    }

    // MARK: Temporary files of killed writes

    /// Sets a file's modification time (not following a link) to `secondsAgo` in the past.
    func age(_ path: String, by secondsAgo: Int) {
        var times = [timespec](repeating: timespec(), count: 2)
        times[0].tv_sec = time(nil) - secondsAgo
        times[1].tv_sec = time(nil) - secondsAgo
        #expect(utimensat(AT_FDCWD, path, &times, AT_SYMLINK_NOFOLLOW) == 0)
    }

    @Test func oldTemporaryFilesAreRemovedAtPutAndYoungOnesKept() async throws {
        let fixture = try await LocalFixture()
        defer { Task { await fixture.tearDown() } }
        let store = try await fixture.open()
        let share = try id("t")
        _ = try await store.store(share, secret("v1"))
        let directory = "\(fixture.settings.path)/shares/t"
        let old = "\(directory)/.tmp-0123456789abcdef", young = "\(directory)/.tmp-fedcba9876543210"
        let outside = "\(fixture.directory.path)/outside"
        #expect(FileManager.default.createFile(atPath: outside, contents: Data("keep me".utf8)))
        let link = "\(directory)/.tmp-1111111111111111"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: outside)
        for path in [old, young] {
            #expect(FileManager.default.createFile(atPath: path, contents: Data("half-written".utf8)))
        }
        age(old, by: 3600)
        age(link, by: 3600)
        #expect(try await store.versions(share).map(\.version) == [1])
        #expect(try await store.list().map(\.versionCount) == [1])

        #expect(try await store.store(share, secret("v2")) == 2)
        #expect(!FileManager.default.fileExists(atPath: old))
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: link)) == nil)
        #expect(FileManager.default.fileExists(atPath: young))
        #expect(try String(contentsOfFile: outside, encoding: .utf8) == "keep me")

        // Under the exclusive lock no write is in flight: rotation removes the young one too.
        let report = try await store.rotateWrappingKey()
        #expect(report.finishedInterrupted.removedTemporaryFiles == 1)
        #expect(!FileManager.default.fileExists(atPath: young))
    }

    @Test func temporaryFilesInTheVaultRootAndRecordsAreSweptByRotation() async throws {
        let fixture = try await LocalFixture()
        defer { Task { await fixture.tearDown() } }
        let store = try await fixture.open()
        try await store.writeRecord(try id("frost.g"), Array("{}".utf8))
        let strays = ["\(fixture.settings.path)/.tmp-aa", "\(fixture.settings.path)/records/.tmp-bb"]
        for path in strays { #expect(FileManager.default.createFile(atPath: path, contents: Data("x".utf8))) }
        let report = try await store.rotateWrappingKey()
        #expect(report.finishedInterrupted.removedTemporaryFiles == 2)
        for path in strays { #expect(!FileManager.default.fileExists(atPath: path)) }
        #expect(try await store.readRecord(try id("frost.g")) == Array("{}".utf8))
    }

    @Test func aLinkInPlaceOfATombstoneIsRemovedNeverFollowed() async throws {
        let fixture = try await LocalFixture()
        defer { Task { await fixture.tearDown() } }
        let store = try await fixture.open()
        _ = try await store.store(try id("s"), secret("v1"))
        let outside = "\(fixture.directory.path)/outside"
        #expect(FileManager.default.createFile(atPath: outside, contents: Data("keep me".utf8)))
        let link = "\(fixture.settings.path)/shares/s/.erased-00"
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: outside)
        let report = try await store.rotateWrappingKey()
        #expect(report.finishedInterrupted.problems.count == 1)
        #expect(report.finishedInterrupted.problems.first?.contains("symbolic link") == true)
        #expect((try? FileManager.default.destinationOfSymbolicLink(atPath: link)) == nil)
        #expect(try String(contentsOfFile: outside, encoding: .utf8) == "keep me")
    }

    @Test func keysNamingHiddenFilesAreRefused() async throws {
        let store = DirectoryBlobStore(root: "/tmp/nowhere")
        for key in ["shares/.erased-x", ".lock", "a/.b", ".tmp-1"] {
            await #expect(throws: StrongroomError.self) { try await store.read(key) }
        }
    }
}

/// The same for S3: a destroy hides the key before deleting versions; erase and rotation finish it.
@Suite(.serialized) struct CloudCrashSafetyTests {
    let environment: CloudTestEnvironment

    init() throws {
        environment = try CloudTestEnvironment.require()
    }

    @Test(arguments: CrashSafetyTests.destroyCrashPoints)
    func aKilledS3DestroyHidesTheKeyAndTheNextExclusiveHolderFinishesIt(_ point: FaultPoint) async throws {
        let prefix = try CloudTestEnvironment.freshPrefix("crash-destroy")
        defer { Task { await environment.removeEverything(under: prefix) } }
        let client = try environment.s3Client()
        var blobs = S3BlobStore(client: client, prefix: prefix, logger: quietLogger)
        let key = "shares/a/1.srb"
        #expect(try await blobs.create(key, Array("first".utf8)))
        for round in 0..<2 { #expect(try await blobs.replace(key, Array("rewrap \(round)".utf8), ifRevision: nil)) }
        #expect(try await blobs.create("shares/a/2.srb", Array("kept".utf8)))
        #expect(try await client.listObjectVersions(prefix: prefix + key).count == 3)

        blobs.faults = FaultInjection { if $0 == point { throw SimulatedCrash() } }
        await #expect(throws: SimulatedCrash.self) { try await blobs.destroy(key) }
        // Hidden at once, never an older version current in its place.
        #expect(try await blobs.read(key) == nil)
        #expect(try await blobs.children(of: "shares/a/") == ["2.srb"])
        #expect(!(try await client.listObjectVersions(prefix: prefix + key)).isEmpty)

        blobs.faults = .none
        #expect(try await blobs.finishInterrupted(under: "shares/a/", holdingExclusiveLock: false).isEmpty)
        let work = try await blobs.finishInterrupted(under: "shares/a/", holdingExclusiveLock: true)
        #expect(work.finishedDestroys == 1)
        #expect(try await client.listObjectVersions(prefix: prefix + "shares/a/").allSatisfy { $0.key == prefix + "shares/a/2.srb" })
        #expect(try await blobs.read("shares/a/2.srb")?.bytes == Array("kept".utf8))
    }

    @Test func anS3DestroyLeavesNoVersionOrIntentBehind() async throws {
        let prefix = try CloudTestEnvironment.freshPrefix("destroy")
        defer { Task { await environment.removeEverything(under: prefix) } }
        let client = try environment.s3Client()
        let blobs = S3BlobStore(client: client, prefix: prefix, logger: quietLogger)
        #expect(try await blobs.create("shares/b/1.srb", Array("one".utf8)))
        #expect(try await blobs.replace("shares/b/1.srb", Array("two".utf8), ifRevision: nil))
        try await blobs.destroy("shares/b/1.srb")
        #expect(try await client.listObjectVersions(prefix: prefix + "shares/b/").isEmpty)
    }
}

final class LogLines: Sendable {
    private let stored = Mutex<[String]>([])
    var lines: [String] { stored.withLock { $0 } }
    func append(_ line: String) { stored.withLock { $0.append(line) } }
}

struct RecordingLogHandler: LogHandler {
    let sink: LogLines
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace
    var metadataProvider: Logger.MetadataProvider?
    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }
    func log(event: LogEvent) {
        let all = metadata.merging(event.metadata ?? [:]) { $1 }
        let rendered = all.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        sink.append("\(event.level) \(event.message) \(rendered)")
    }
}
