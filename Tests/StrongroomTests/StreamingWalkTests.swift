import AWSClient
import Foundation
import SecureCrypto
import Synchronization
import Testing
@testable import Strongroom

/// Whole-vault walks (rotation, status) stream the store's listing instead of collecting it: every
/// entry is visited exactly once, however many there are, and what rotation keeps is bounded.
@Suite struct StreamingWalkTests {
    /// Far more entries than one `getdents` buffer of `readdir` holds (32 KiB: about 500 of these).
    static let largeDirectoryEntries = 5_000

    @Test func aDirectoryWalkVisitsEveryEntryOfALargeDirectoryExactlyOnce() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let shares = "\(directory.path)/shares"
        try FileManager.default.createDirectory(atPath: shares, withIntermediateDirectories: false)
        var expected = Set<String>()
        for index in 0..<StreamingWalkTests.largeDirectoryEntries {
            let name = String(format: "share-with-a-longish-name-%06d", index)
            expected.insert(name)
            if index % 2 == 0 {
                try FileManager.default.createDirectory(atPath: "\(shares)/\(name)", withIntermediateDirectories: false)
            } else {
                #expect(FileManager.default.createFile(atPath: "\(shares)/\(name)", contents: Data()))
            }
        }
        for hidden in [".tmp-0123", ".erased-4567", ".lock"] {
            #expect(FileManager.default.createFile(atPath: "\(shares)/\(hidden)", contents: Data()))
        }
        let store = DirectoryBlobStore(root: directory.path)

        var seen: [String: Int] = [:]
        try await store.forEachChild(of: "shares/") { name in
            await Task.yield()  // the walk resumes correctly after the body suspends
            seen[name, default: 0] += 1
        }
        #expect(seen.count == expected.count)
        #expect(Set(seen.keys) == expected)
        #expect(seen.values.allSatisfy { $0 == 1 })
        // The same names as the sorted listing.
        #expect(try await store.children(of: "shares/") == expected.sorted())

        var none = 0
        try await store.forEachChild(of: "missing/") { _ in none += 1 }
        #expect(none == 0)
    }

    @Test func anErrorFromTheBodyEndsTheWalk() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let store = DirectoryBlobStore(root: directory.path)
        for index in 0..<10 { #expect(try await store.create("shares/s\(index)/1.srb", [1])) }
        var visited = 0
        await #expect(throws: SimulatedCrash.self) {
            try await store.forEachChild(of: "shares/") { _ in
                visited += 1
                if visited == 3 { throw SimulatedCrash() }
            }
        }
        #expect(visited == 3)
    }

    @Test(arguments: [1, 4])
    func rotationVisitsEveryShareVersionAndRecordOnce(concurrency: Int) async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let settings = StrongroomConfiguration.Local(path: "\(directory.path)/vault")
        _ = try await LocalVault.initialise(settings, logger: quietLogger)
        let store = try await LocalVault.open(settings, logger: quietLogger)
        var versions = 0
        for index in 0..<600 {
            let share = try id(String(format: "s-%04d", index))
            for round in 0...(index % 3) {
                _ = try await store.store(share, try secret("\(index).\(round)"))
                versions += 1
            }
        }
        try await store.writeRecord(try id("group-a"), Array("record a".utf8))
        try await store.writeRecord(try id("group-b"), Array("record b".utf8))
        versions += 2

        let events = Mutex<[RotationProgress]>([])
        let report = try await store.rotateWrappingKey(concurrency: concurrency) { progress in
            events.withLock { $0.append(progress) }
        }
        #expect(report.rewrapped == versions)
        #expect(report.alreadyCurrent == 0 && report.failedCount == 0 && report.tornBlobCount == 0)
        let seen = events.withLock { $0 }
        #expect(seen.count == versions)
        #expect(seen.map(\.done).sorted() == Array(1...versions))
        #expect(seen.allSatisfy { $0.total == versions })

        let status = try await store.status()
        #expect(status.versionCount == versions - 2)
        #expect(status.shareCount == 600)
        #expect(status.versionsPerKEKVersion == [report.targetVersion: versions - 2])
        #expect(status.problems.isEmpty)
        #expect(text(try await store.load(try id("s-0599"))) == "599.2")
        #expect(try await store.readRecord(try id("group-b")) == Array("record b".utf8))
    }

    @Test func rotationKeepsTheFirstHundredFailuresAndCountsThemAll() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let settings = StrongroomConfiguration.Local(path: "\(directory.path)/vault")
        _ = try await LocalVault.initialise(settings, logger: quietLogger)
        let store = try await LocalVault.open(settings, logger: quietLogger)
        let swapped = 130
        for index in 0...swapped { _ = try await store.store(try id("s-\(index)"), try secret("\(index)")) }
        // Every share but s-0 now holds a copy of s-0's blob: an envelope, but for another share.
        let original = try Data(contentsOf: URL(fileURLWithPath: "\(settings.path)/shares/s-0/1.srb"))
        for index in 1...swapped {
            try original.write(to: URL(fileURLWithPath: "\(settings.path)/shares/s-\(index)/1.srb"))
        }

        let planned = try await store.rotateWrappingKey(dryRun: true)
        #expect(planned.failedCount == swapped)
        #expect(planned.failures.count == 100)
        #expect(planned.failures.allSatisfy { $0.contains("copied or swapped") })
        #expect(planned.rewrapped == 1)

        let error = await #expect(throws: StrongroomError.self) { try await store.rotateWrappingKey(concurrency: 3) }
        #expect(error?.code == .rotationIncomplete)
        #expect(error?.reason.hasPrefix("\(swapped) share version(s) could not be rewrapped") == true)
        #expect(text(try await store.load(try id("s-0"))) == "0")
    }
}

/// The S3 walk asks for one `ListObjectsV2` page at a time, after the previous page's names were passed.
@Suite(.serialized) struct CloudStreamingWalkTests {
    let environment: CloudTestEnvironment

    init() throws {
        environment = try CloudTestEnvironment.require()
    }

    @Test func anS3WalkPagesThroughEveryChildOnceWithASmallPageSize() async throws {
        let prefix = try CloudTestEnvironment.freshPrefix("walk")
        defer { Task { await environment.removeEverything(under: prefix) } }
        var blobs = S3BlobStore(client: try environment.s3Client(), prefix: prefix, logger: quietLogger)
        blobs.listPageSize = 2
        var expected = Set<String>()
        for index in 0..<7 {
            // Shares with two versions: each is one common prefix however many keys it holds.
            #expect(try await blobs.create("shares/s-\(index)/1.srb", [1]))
            #expect(try await blobs.create("shares/s-\(index)/2.srb", [2]))
            expected.insert("s-\(index)")
        }
        #expect(try await blobs.create("shares/loose.srb", [3]))
        expected.insert("loose.srb")
        #expect(try await blobs.create("shares/a-share/1.srb", [4]))
        expected.insert("a-share")
        _ = try await blobs.client.putObject(prefix + "shares/.erased-x", [5])  // hidden: never listed

        var seen: [String: Int] = [:]
        var late = false
        try await blobs.forEachChild(of: "shares/") { name in
            if seen.isEmpty {
                // Written after the first page was listed: a later page must show it, which it does
                // only if pages are requested as the walk goes.
                late = try await blobs.create("shares/zz-late/1.srb", [6])
            }
            seen[name, default: 0] += 1
        }
        #expect(late)
        expected.insert("zz-late")
        #expect(Set(seen.keys) == expected)
        #expect(seen.values.allSatisfy { $0 == 1 })
        #expect(try await blobs.children(of: "shares/") == expected.sorted())
    }
}
