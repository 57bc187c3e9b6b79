import AWSClient
import Foundation
import Logging
import SecureCrypto
import Testing
import Strongroom
@testable import StrongroomCloud
@testable import StrongroomCore
@testable import StrongroomHSM
@testable import StrongroomLocal

/// Tier 2 beyond the conformance suite, against the moto server scripts/test starts (SigV4
/// checked, IAM users for the refusal tests): conditional writes, version-complete erase,
/// pagination, typed errors, outages and restarts, refused credentials, disabled and deleted keys,
/// and tier 3 keeping its blobs in S3.
@Suite(.serialized) struct CloudTierTests {
    let environment: CloudTestEnvironment

    init() throws {
        environment = try CloudTestEnvironment.require()
    }

    /// A fresh vault under its own prefix; removed afterwards.
    func withVault(
        _ label: String, kmsKey: String? = nil, _ body: (StrongroomConfiguration.Cloud, String) async throws -> Void
    ) async throws {
        let prefix = try CloudTestEnvironment.freshPrefix(label)
        let settings = try environment.settings(prefix: prefix, kmsKey: kmsKey)
        _ = try await CloudVault.initialise(settings, logger: quietLogger)
        do {
            try await body(settings, prefix)
        } catch {
            await environment.removeEverything(under: prefix)
            throw error
        }
        await environment.removeEverything(under: prefix)
    }

    @Test func conditionalWritesNeverOverwrite() async throws {
        let client = try environment.s3Client()
        let key = try CloudTestEnvironment.freshPrefix("conditional") + "object"
        defer { Task { _ = try? await client.deleteAllVersions(of: key) } }
        guard case .written(let etag, _) = try await client.putObject(key, Array("one".utf8), condition: .ifAbsent) else {
            Issue.record("the first create did not write")
            return
        }
        #expect(try await client.putObject(key, Array("two".utf8), condition: .ifAbsent) == .preconditionFailed)
        let head = try #require(try await client.headObject(key))
        #expect(head.etag == etag && head.size == 3)
        #expect(try await client.headObject(key + "-absent") == nil)
        guard case .written = try await client.putObject(key, Array("three".utf8), condition: .ifMatch(etag)) else {
            Issue.record("a replace with the current ETag did not write")
            return
        }
        #expect(try await client.putObject(key, Array("four".utf8), condition: .ifMatch(etag)) == .preconditionFailed)
        #expect(try await client.getObject(key)?.bytes == Array("three".utf8))
    }

    /// Two "processes" (two store instances) store the same share at once: every store gets its own
    /// version number and every version opens to what was stored.
    @Test func racingWritersGetDistinctVersions() async throws {
        try await withVault("race") { settings, _ in
            let first = try await CloudVault.open(settings, logger: quietLogger)
            let second = try await CloudVault.open(settings, logger: quietLogger)
            let share = try ShareID("contended")
            let results = try await withThrowingTaskGroup(of: (UInt64, String).self) { group in
                for index in 0..<12 {
                    let store = index % 2 == 0 ? first : second
                    group.addTask {
                        let value = "value \(index)"
                        return (try await store.store(share, try secret(value)), value)
                    }
                }
                var all: [(UInt64, String)] = []
                for try await result in group { all.append(result) }
                return all
            }
            #expect(Set(results.map(\.0)) == Set(1...12))
            for (version, value) in results {
                #expect(text(try await first.load(share, version: version)) == value)
            }
        }
    }

    @Test func eraseDeletesEveryObjectVersionAndDeleteMarker() async throws {
        try await withVault("erase") { settings, prefix in
            let store = try await CloudVault.open(settings, logger: quietLogger)
            let client = try environment.s3Client()
            let share = try ShareID("doomed"), kept = try ShareID("kept")
            for value in ["v1", "v2", "v3"] { _ = try await store.store(share, try secret(value)) }
            _ = try await store.store(kept, try secret("kept"))
            _ = try await store.rotateWrappingKey()  // every blob gets a second object version
            try await client.deleteObject(prefix + "shares/doomed/1.srb")  // and one a delete marker
            let sharePrefix = prefix + "shares/doomed/"
            let before = try await client.listObjectVersions(prefix: sharePrefix)
            #expect(before.count >= 7 && before.contains { $0.isDeleteMarker })
            // Version 1 is hidden behind its delete marker; erase still reaches every version of 2 and 3.
            #expect(try await store.erase(share) == 2)
            let left = try await client.listObjectVersions(prefix: sharePrefix)
            #expect(left.allSatisfy { $0.key == sharePrefix + "1.srb" }, "\(left)")
            // The hidden version is not a share version any more, but erase clears it once it is listed again.
            for version in left { try await client.deleteObject(version.key, versionID: version.versionID) }
            #expect(try await client.listObjectVersions(prefix: sharePrefix).isEmpty)
            #expect(text(try await store.load(kept)) == "kept")
        }
    }

    @Test func listingsFollowPagination() async throws {
        // A bucket of its own: moto's ListObjectVersions copies every key of the bucket, and answers
        // 500 when another test deletes a key meanwhile (a race in moto, not in the pagination).
        var configuration = try environment.s3Client().configuration
        configuration.bucket = "strongroom-pages-\(Hex.encode(try SecureRandom.bytes(count: 6)))"
        let client = S3Client(configuration, logger: quietLogger)
        try await client.createBucket()
        try await client.enableVersioning()
        let prefix = try CloudTestEnvironment.freshPrefix("pages")
        for index in 0..<5 { _ = try await client.putObject("\(prefix)k\(index)", [UInt8(index)]) }
        _ = try await client.putObject("\(prefix)k0", [9])
        let all = try await client.listAll(prefix: prefix, pageSize: 2)
        #expect(all.keys == (0..<5).map { "\(prefix)k\($0)" })
        let versions = try await client.listObjectVersions(prefix: prefix, pageSize: 2)
        #expect(versions.count == 6)
        for key in all.keys { #expect(try await client.deleteAllVersions(of: key) >= 1) }
        #expect(try await client.listObjectVersions(prefix: prefix).isEmpty)
    }

    @Test func s3ErrorsCarryCodeAndRequestID() async throws {
        var configuration = try environment.s3Client().configuration
        configuration.bucket = "strongroom-no-such-bucket"
        let client = S3Client(configuration, logger: quietLogger)
        let error = await #expect(throws: AWSError.self) { try await client.getObject("x") }
        #expect(error?.kind == .service)
        #expect(error?.code == "NoSuchBucket")
        #expect(error?.status == 404)
        #expect(error?.requestID?.isEmpty == false)
        #expect(error?.description.contains("NoSuchBucket") == true)
    }

    /// The server goes away: every operation fails after the bounded retries with a clear error,
    /// nothing hangs, and nothing half-written is left. Then a restart (as clients see it: every
    /// connection reset, new ones refused, then accepted again) and the same store carries on.
    @Test func serverDownThenRestartedMidRun() async throws {
        let port = UInt16(try CloudTestEnvironment.value("STRONGROOM_TEST_MOTO_PORT"))!
        let relay = try TCPRelay(upstreamPort: port)
        defer { relay.cut() }
        let prefix = try CloudTestEnvironment.freshPrefix("outage")
        var configured = try environment.settings(prefix: prefix, endpoint: relay.endpoint, maxAttempts: 3)
        configured.kmsEndpoint = relay.endpoint
        let settings = configured
        _ = try await CloudVault.initialise(settings, logger: quietLogger)
        defer { Task { await environment.removeEverything(under: prefix) } }
        let store = try await CloudVault.open(settings, logger: quietLogger)
        let before = try ShareID("before")
        _ = try await store.store(before, try secret("stored before the outage"))

        // Down: clear errors after three attempts each, quickly.
        relay.cut()
        let clock = ContinuousClock()
        let started = clock.now
        let storeError = await #expect(throws: StrongroomError.self) { try await store.store(try ShareID("during"), try secret("x")) }
        #expect(storeError?.code == .cloudUnavailable)
        #expect(storeError?.reason.contains("after 3 attempt(s)") == true, "\(storeError?.reason ?? "")")
        let loadError = await #expect(throws: StrongroomError.self) { try await store.load(before) }
        #expect(loadError?.code == .cloudUnavailable)
        #expect(clock.now - started < .seconds(10))

        // Restarted while tasks keep working: each operation either succeeds or fails clearly.
        let outcomes = Locked<[String: Result<Int, StrongroomError>]>([:])
        try relay.resume()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for worker in 0..<4 {
                group.addTask {
                    for round in 0..<12 {
                        let id = try ShareID("w\(worker)-r\(round)")
                        do {
                            _ = try await store.store(id, try secret("worker \(worker) round \(round)"))
                            outcomes.withLock { $0[id.rawValue] = .success(1) }
                        } catch let error as StrongroomError {
                            outcomes.withLock { $0[id.rawValue] = .failure(error) }
                        }
                        try await Task.sleep(for: .milliseconds(40))
                    }
                }
            }
            group.addTask {
                try await Task.sleep(for: .milliseconds(300))
                relay.cut()
                try await Task.sleep(for: .milliseconds(1500))
                try relay.resume()
            }
            try await group.waitForAll()
        }
        let results = outcomes.withLock { $0 }
        #expect(results.count == 48)
        for (_, result) in results {
            if case .failure(let error) = result { #expect(error.code == .cloudUnavailable, "\(error)") }
        }
        // After the restart the same store works, and every blob on the server opens: stores that
        // reported success hold exactly their value; a store that failed left nothing or a whole blob.
        #expect(text(try await store.load(before)) == "stored before the outage")
        for summary in try await store.list() where summary.id != before {
            let parts = summary.id.rawValue.dropFirst().split(separator: "-r")
            let value = text(try await store.load(summary.id))
            #expect(value == "worker \(parts[0]) round \(parts[1])")
        }
        for (id, result) in results {
            if case .success = result { #expect(try await store.versions(try ShareID(id)).count == 1) }
        }
        _ = try await store.store(try ShareID("after"), try secret("after"))
        #expect(text(try await store.load(try ShareID("after"))) == "after")
    }

    @Test func wrongCredentialsAndDeniedAccessAreClearErrors() async throws {
        try await withVault("denied") { settings, prefix in
            let store = try await CloudVault.open(settings, logger: quietLogger)
            _ = try await store.store(try ShareID("s"), try secret("v"))
            // An access key the server has never heard of.
            let unknown = try environment.settings(prefix: prefix, accessKeyID: "AKIANOTAREALKEY00000", secret: "whatever", maxAttempts: 1)
            let refused = await #expect(throws: StrongroomError.self) { try await CloudVault.open(unknown, logger: quietLogger) }
            #expect(refused?.code == .accessDenied)
            #expect(refused?.reason.contains("was refused") == true)
            #expect(refused?.description.contains("whatever") == false)
            // A real user whose policy allows reading objects only: no writes, no KMS.
            let denied = try environment.settings(
                prefix: prefix, accessKeyID: try CloudTestEnvironment.value("STRONGROOM_TEST_DENIED_ACCESS_KEY_ID"),
                secret: try CloudTestEnvironment.value("STRONGROOM_TEST_DENIED_SECRET_ACCESS_KEY"), maxAttempts: 1)
            let deniedKMS = await #expect(throws: StrongroomError.self) { try await CloudVault.open(denied, logger: quietLogger) }
            #expect(deniedKMS?.code == .accessDenied)
            #expect(deniedKMS?.reason.contains("KMS") == true, "\(deniedKMS?.reason ?? "")")
            let blobs = try CloudVault.blobStore(denied.storage, lockTimeout: .seconds(5), logger: quietLogger)
            let deniedWrite = await #expect(throws: StrongroomError.self) { try await blobs.create("shares/x/1.srb", [1, 2, 3]) }
            #expect(deniedWrite?.code == .accessDenied)
            #expect(try await store.list().map(\.id.rawValue) == ["s"])
        }
    }

    @Test func disabledOrDeletedKMSKeyIsNamedInTheError() async throws {
        let kms = try environment.kmsClient()
        let key = try await kms.createKey(description: "strongroom test: disabled key")
        try await withVault("disabled", kmsKey: key.keyID) { settings, _ in
            let store = try await CloudVault.open(settings, logger: quietLogger)
            let share = try ShareID("s")
            _ = try await store.store(share, try secret("v"))
            try await kms.disableKey(key.keyID)
            let disabled = await #expect(throws: StrongroomError.self) { try await CloudVault.open(settings, logger: quietLogger) }
            #expect(disabled?.code == .keyUnavailable)
            #expect(disabled?.reason.contains(key.keyID) == true, "\(disabled?.reason ?? "")")
            #expect(disabled?.reason.contains("Disabled") == true)
            try await kms.enableKey(key.keyID)
            #expect(text(try await CloudVault.open(settings, logger: quietLogger).load(share)) == "v")
            try await kms.scheduleKeyDeletion(key.keyID, pendingWindowDays: 7)
            let deleted = await #expect(throws: StrongroomError.self) { try await CloudVault.open(settings, logger: quietLogger) }
            #expect(deleted?.code == .keyUnavailable)
            #expect(deleted?.reason.contains(key.keyID) == true)
            #expect(deleted?.reason.contains("PendingDeletion") == true, "\(deleted?.reason ?? "")")
        }
    }

    @Test func kmsEncryptDecryptAndReEncryptKeepTheContextBinding() async throws {
        let kms = try environment.kmsClient()
        let plaintext = try secret("thirty-two bytes of key material")
        let context = ["strongroom:vault": "test", "strongroom:share": "kms"]
        let blob = try await kms.encrypt(keyID: environment.kmsKey, plaintext: plaintext, context: context)
        let opened = try await kms.decrypt(ciphertextBlob: blob, context: context)
        #expect(opened.plaintext == plaintext)
        #expect(KMSKeyMap.sameKey(opened.keyID, environment.kmsKey))
        let moved = try await kms.reEncrypt(ciphertextBlob: blob, sourceContext: context, destinationKeyID: environment.kmsKeyB, destinationContext: context)
        #expect(KMSKeyMap.sameKey(moved.keyID, environment.kmsKeyB))
        #expect(try await kms.decrypt(ciphertextBlob: moved.ciphertextBlob, context: context).plaintext == plaintext)
        // Another context (another share) does not open it.
        let error = await #expect(throws: AWSError.self) {
            try await kms.decrypt(ciphertextBlob: blob, context: ["strongroom:vault": "test", "strongroom:share": "other"])
        }
        #expect(error?.code == "InvalidCiphertextException")
    }

    @Test func rotationRetiresOnlyKeysStrongroomCreated() async throws {
        try await withVault("retire") { settings, prefix in
            let store = try await CloudVault.open(settings, logger: quietLogger)
            _ = try await store.store(try ShareID("s"), try secret("v"))
            _ = try await store.rotateWrappingKey()
            _ = try await store.rotateWrappingKey()
            let kms = try environment.kmsClient()
            let map = try #require(try await environment.s3Client().getObject(prefix + KMSKeyMap.key))
            let file = try JSONDecoder().decode(KMSKeyMap.File.self, from: Data(map.bytes))
            #expect(file.keys.map(\.version) == [1, 2, 3])
            #expect(file.keys.map(\.retired) == [true, true, false])
            // Version 1 is the operator's key: left enabled. Version 2 was made by the first rotation.
            #expect(try await kms.describeKey(file.keys[0].keyID).keyState == "Enabled")
            #expect(try await kms.describeKey(file.keys[1].keyID).keyState == "PendingDeletion")
            #expect(try await kms.describeKey(file.keys[2].keyID).keyState == "Enabled")
            #expect(text(try await store.load(try ShareID("s"))) == "v")
        }
    }

    /// Tier 3 with `hsm.blobStore: s3`: KEKs in SoftHSM, blobs in the bucket.
    @Test func hsmTierKeepsItsBlobsInS3() async throws {
        let hsm = try HSMTestEnvironment.require()
        let prefix = try CloudTestEnvironment.freshPrefix("hsm-on-s3")
        var configured = hsm.settings(blobPath: "")
        configured.blobStorage = try environment.storage(prefix: prefix)
        let settings = configured
        _ = try await HSMVault.initialise(settings, logger: quietLogger)
        defer {
            Task {
                try? await HSMVault.destroyKeys(settings, logger: quietLogger)
                await environment.removeEverything(under: prefix)
            }
        }
        let store = try await HSMVault.open(settings, logger: quietLogger)
        let share = try ShareID("hsm-share")
        _ = try await store.store(share, try secret("wrapped in the HSM, kept in S3"))
        #expect(store.tier == .hsm)
        #expect(try await environment.s3Client().getObject(prefix + "shares/hsm-share/1.srb") != nil)
        _ = try await store.rotateWrappingKey()
        #expect(text(try await store.load(share)) == "wrapped in the HSM, kept in S3")
        #expect(try await store.erase(share) == 1)
        #expect(try await environment.s3Client().listObjectVersions(prefix: prefix + "shares/").isEmpty)
    }
}
