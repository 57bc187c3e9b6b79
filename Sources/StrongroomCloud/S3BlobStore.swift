#if canImport(Glibc)
import Glibc
#endif
import AWSClient
import Foundation
import Logging
import SecureCrypto
import StrongroomCore

/// A ``BlobStore`` over an S3 bucket and key prefix.
///
/// A PUT is atomic, so a reader sees the old blob or the new one, never a torn one. `create` is a
/// PUT with `If-None-Match: *` and `replace` one with `If-Match: <ETag>`, so two writers never
/// silently overwrite each other. `destroy` hides the key behind a delete marker first, then deletes
/// every version and delete marker of it (see ``destroy(_:)``).
/// The exclusive lock is a lease object (`<prefix>locks/exclusive.json`) created with
/// `If-None-Match: *`, renewed while held and taken over after it expired, or at once when its holder is provably dead
/// (same host, boot and PID namespace, process gone: see `LeaseHolder`); the shared lock is
/// in-process only (the share store re-checks the vault state after writing instead, see
/// ``BlobStore/sharedLockSpansProcesses``).
public struct S3BlobStore: BlobStore {
    /// The client.
    public let client: S3Client
    /// The key prefix, empty or ending in `/`.
    public let prefix: String
    /// How long to wait for another process's lease.
    public let lockTimeout: Duration
    /// How long a lease lasts without renewal.
    public let leaseDuration: Duration
    let logger: Logger
    /// Test hook: crash points inside ``destroy(_:)``.
    public var faults: FaultInjection = .none
    private let localLock = AsyncReadWriteLock()
    /// Keys asked for per `ListObjectsV2` request (1 to 1,000; S3 returns at most 1,000): the most
    /// names ``forEachChild(of:_:)`` holds at once.
    public var listPageSize = 1000

    /// Creates a store over `client`'s bucket under `prefix` (a `/` is added when missing).
    public init(client: S3Client, prefix: String, lockTimeout: Duration = .seconds(60), leaseDuration: Duration = .seconds(60), logger: Logger) {
        self.client = client
        self.prefix = prefix.isEmpty || prefix.hasSuffix("/") ? prefix : prefix + "/"
        self.lockTimeout = lockTimeout
        self.leaseDuration = leaseDuration
        self.logger = logger
    }

    /// `s3://bucket/prefix`.
    public var location: String { "s3://\(client.configuration.bucket)/\(prefix)" }

    public var sharedLockSpansProcesses: Bool { false }

    func objectKey(_ key: String) throws(StrongroomError) -> String {
        guard S3BlobStore.isSafeRelativeKey(key) else {
            throw StrongroomError(.invalidInput, "blob key \(ShareID.quoted(key)) is not a safe relative path")
        }
        return prefix + key
    }

    public func read(_ key: String) async throws -> StoredBlob? {
        let name = try objectKey(key)
        guard let object = try await CloudErrors.mapping({ () async throws(AWSError) in try await client.getObject(name) }) else { return nil }
        return StoredBlob(bytes: object.bytes, revision: object.etag)
    }

    public func create(_ key: String, _ bytes: [UInt8]) async throws -> Bool {
        let name = try objectKey(key)
        let result = try await CloudErrors.mapping { () async throws(AWSError) in
            try await client.putObject(name, bytes, condition: .ifAbsent)
        }
        return result != .preconditionFailed
    }

    public func replace(_ key: String, _ bytes: [UInt8], ifRevision revision: String?) async throws -> Bool {
        let name = try objectKey(key)
        let result = try await CloudErrors.mapping { () async throws(AWSError) in
            try await client.putObject(name, bytes, condition: revision.map { .ifMatch($0) } ?? .none)
        }
        return result != .preconditionFailed
    }

    public func children(of childPrefix: String) async throws -> [String] {
        let base = try listingBase(childPrefix)
        let pageSize = listPageSize
        let listing = try await CloudErrors.mapping { () async throws(AWSError) in
            try await client.listAll(prefix: base, delimiter: "/", pageSize: pageSize)
        }
        return S3BlobStore.names(keys: listing.keys, commonPrefixes: listing.commonPrefixes, under: base).sorted()
    }

    /// Walks `ListObjectsV2` one page (``listPageSize`` keys) at a time, passing each page's names
    /// before the next page is requested: constant memory for a prefix of any size.
    public func forEachChild(of childPrefix: String, _ body: (String) async throws -> Void) async throws {
        let base = try listingBase(childPrefix)
        let pageSize = listPageSize
        var token: String?
        repeat {
            let after = token
            let page = try await CloudErrors.mapping { () async throws(AWSError) in
                try await client.listObjectsV2(prefix: base, delimiter: "/", continuationToken: after, maxKeys: pageSize)
            }
            for name in S3BlobStore.names(keys: page.keys, commonPrefixes: page.commonPrefixes, under: base).sorted() {
                try await body(name)
            }
            token = page.continuationToken
        } while token != nil
    }

    /// The object key prefix that `childPrefix` (a blob key prefix, "" for the store's root) names.
    private func listingBase(_ childPrefix: String) throws(StrongroomError) -> String {
        childPrefix.isEmpty ? prefix : try objectKey(String(childPrefix.dropLast(childPrefix.hasSuffix("/") ? 1 : 0))) + "/"
    }

    /// The child names a listing under `base` shows, hidden ones left out.
    private static func names(keys: [String], commonPrefixes: [String], under base: String) -> Set<String> {
        var names = Set<String>()
        for key in keys { names.insert(String(key.dropFirst(base.count))) }
        for common in commonPrefixes { names.insert(String(common.dropFirst(base.count).dropLast())) }
        return names.filter { !$0.isEmpty && !$0.hasPrefix(".") }
    }

    /// Deletes every version and delete marker of the object, so that a crash at any instant leaves
    /// it either current and whole or hidden from reads and listings, never an older version of it
    /// current in its place:
    ///
    /// 1. an intent object `<dir>/.erased-<name>` is written (hidden from listings);
    /// 2. a plain `DeleteObject` hides the object at once: in a versioned bucket it puts a delete
    ///    marker on top (reads answer 404, `ListObjectsV2` skips the key), in an unversioned one it
    ///    deletes the object;
    /// 3. `ListObjectVersions`, then `DeleteObject` with the `versionId` of every data version (all
    ///    noncurrent now, so none becomes current), and only then of every delete marker;
    /// 4. the intent object is deleted.
    ///
    /// Deleting versions newest first without step 2 would make the next older version current each
    /// time: a crash in between would leave an older wrap of the blob readable under its key (after
    /// a finished rotation, one naming a retired KEK). A crash after step 2 leaves noncurrent versions
    /// behind a delete marker and the intent object; ``finishInterrupted(under:holdingExclusiveLock:)``
    /// (erase, rotation) deletes them. A crash before step 2 leaves the object as it was.
    public func destroy(_ key: String) async throws {
        let name = try objectKey(key)
        let intent = S3BlobStore.intentKey(for: name)
        try await CloudErrors.mapping { () async throws(AWSError) in
            _ = try await client.putObject(intent, Array(name.utf8), condition: .none)
            try await client.deleteObject(name)
        }
        try faults.check(.destroyNameRemoved)
        try await deleteVersions(of: name)
        try await CloudErrors.mapping { () async throws(AWSError) in _ = try await client.deleteAllVersions(of: intent) }
    }

    /// Hidden names of the intent objects of destroys (see ``destroy(_:)``).
    static let intentPrefix = ".erased-"

    /// `<dir>/.erased-<name>` for the object key `<dir>/<name>`.
    static func intentKey(for name: String) -> String {
        guard let slash = name.lastIndex(of: "/") else { return intentPrefix + name }
        return String(name[...slash]) + intentPrefix + String(name[name.index(after: slash)...])
    }

    /// Deletes every data version of `name`, then every delete marker: while a marker is current no
    /// data version becomes current again.
    private func deleteVersions(of name: String) async throws {
        let versions = try await CloudErrors.mapping { () async throws(AWSError) in
            try await client.listObjectVersions(prefix: name).filter { $0.key == name }
        }
        try await CloudErrors.mapping { () async throws(AWSError) in
            for version in versions where !version.isDeleteMarker {
                try await client.deleteObject(name, versionID: version.versionID)
            }
        }
        try faults.check(.destroyOverwritten)
        try await CloudErrors.mapping { () async throws(AWSError) in
            for version in versions where version.isDeleteMarker {
                try await client.deleteObject(name, versionID: version.versionID)
            }
        }
    }

    /// S3 has no directories.
    public func removePrefix(_ prefix: String) async throws {}

    /// Finishes the destroys a crash interrupted under `prefix`: for each intent object whose object
    /// is hidden (its destroy got past the delete marker), every version and marker of the object is
    /// deleted; an intent whose object is still current (the crash came before the marker, so the
    /// blob still opens) is just removed. Only with the exclusive lock (the lease): a shared holder
    /// could meet a destroy in progress. Single PUTs leave no temporary objects.
    public func finishInterrupted(under childPrefix: String, holdingExclusiveLock: Bool) async throws -> InterruptedWork {
        var work = InterruptedWork()
        guard holdingExclusiveLock else { return work }
        let base = childPrefix.isEmpty ? prefix : try objectKey(String(childPrefix.dropLast(childPrefix.hasSuffix("/") ? 1 : 0))) + "/"
        let listing = try await CloudErrors.mapping { () async throws(AWSError) in
            try await client.listAll(prefix: base, delimiter: "/")
        }
        let current = Set(listing.keys)
        for intent in listing.keys {
            let name = intent.dropFirst(base.count)
            guard name.hasPrefix(S3BlobStore.intentPrefix) else { continue }
            let target = base + String(name.dropFirst(S3BlobStore.intentPrefix.count))
            if !current.contains(target) {
                try await deleteVersions(of: target)
                work.finishedDestroys += 1
                logger.info("finished an interrupted destroy", metadata: ["s3.key": "\(target)"])
            }
            try await CloudErrors.mapping { () async throws(AWSError) in _ = try await client.deleteAllVersions(of: intent) }
        }
        return work
    }

    public func withLock<T: Sendable>(_ mode: BlobLockMode, _ body: () async throws -> T) async throws -> T {
        try await localLock.with(mode) {
            guard mode == .exclusive else { return try await body() }
            let lease = try await acquireLease()
            let renewal = Task { await renew(lease) }
            // The renewal is stopped and awaited before the lease is deleted: a renewal PUT still in
            // flight could otherwise land between the delete's listing and its deletes and leave a
            // fresh lease behind, which the next holder (even this process) would wait out.
            do {
                let result = try await body()
                renewal.cancel()
                await renewal.value
                await release(lease)
                return result
            } catch {
                renewal.cancel()
                await renewal.value
                await release(lease)
                throw error
            }
        }
    }

    // MARK: Lease

    final class Lease: Sendable {
        let key: String
        let owner: String
        let etag: Locked<String>
        init(key: String, owner: String, etag: String) {
            self.key = key
            self.owner = owner
            self.etag = Locked(etag)
        }
    }

    private var leaseKey: String { prefix + "locks/exclusive.json" }

    private func leaseBody(owner: String) -> [UInt8] {
        let expires = Date().timeIntervalSince1970 + Double(leaseDuration.components.seconds)
        var object = LeaseHolder.current.fields
        object["owner"] = owner
        object["expiresAt"] = Int(expires)
        return Array((try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data())
    }

    /// Takes the lease: creates the lease object, or replaces it (`If-Match`) when its holder is
    /// provably dead (``LeaseHolder/isProvablyDead``: same host, boot and PID namespace, process
    /// gone) or stopped renewing it; otherwise waits, saying (from 2 s on, then every 15 s) whose
    /// lease it waits for and when that lease expires, until `lockTimeout`.
    private func acquireLease() async throws -> Lease {
        let owner = Hex.encode(try SecureRandom.bytes(count: 12))
        let key = leaseKey
        let clock = ContinuousClock()
        let started = clock.now
        let deadline = started.advanced(by: lockTimeout)
        var nextReport = started.advanced(by: .seconds(2))
        var pause = Duration.milliseconds(50)
        while true {
            let created = try await CloudErrors.mapping { () async throws(AWSError) in
                try await client.putObject(key, leaseBody(owner: owner), condition: .ifAbsent)
            }
            if case .written(let etag, _) = created { return Lease(key: key, owner: owner, etag: etag) }
            let current = try await CloudErrors.mapping { () async throws(AWSError) in try await client.getObject(key) }
            guard let current else { continue }  // released meanwhile
            let fields = (try? JSONSerialization.jsonObject(with: Data(current.bytes))) as? [String: Any] ?? [:]
            let holder = LeaseHolder(fields: fields)
            let expiresAt = (fields["expiresAt"] as? NSNumber)?.doubleValue ?? 0
            let expired = Date().timeIntervalSince1970 > expiresAt + 5
            let dead = !expired && holder.isProvablyDead
            if expired || dead {
                // The holder crashed: take the lease over, unless someone else does first.
                let taken = try await CloudErrors.mapping { () async throws(AWSError) in
                    try await client.putObject(key, leaseBody(owner: owner), condition: .ifMatch(current.etag))
                }
                if case .written(let etag, _) = taken {
                    logger.warning(
                        dead ? "took over the vault lease of a process that is gone" : "took over an expired vault lease",
                        metadata: ["lease.previous": "\(holder.description)"])
                    return Lease(key: key, owner: owner, etag: etag)
                }
                continue
            }
            // Time left until the lease may be taken over, unless its holder renews it.
            let left = max(0, Int((expiresAt + 5 - Date().timeIntervalSince1970).rounded(.up)))
            guard clock.now < deadline else {
                throw StrongroomError(
                    .vaultBusy,
                    "another process (\(holder.description)) holds the vault lease s3://\(client.configuration.bucket)/\(key) and renewed it within \(leaseDuration); it expires in \(left) s unless renewed. Waited \(lockTimeout); retry when it is done")
            }
            if clock.now >= nextReport {
                logger.warning(
                    "vault busy: waiting for another process's vault lease",
                    metadata: [
                        "lease.holder": "\(holder.description)", "lease.expiresIn": "\(left) s",
                        "lease.waitLeft": "\(max(0, (deadline - clock.now).components.seconds)) s",
                    ])
                nextReport = clock.now.advanced(by: .seconds(15))
            }
            try await Task.sleep(for: pause)
            pause = min(pause * 2, .seconds(1))
        }
    }

    private func renew(_ lease: Lease) async {
        let interval = leaseDuration / 3
        while !Task.isCancelled {
            do {
                try await Task.sleep(for: interval)
            } catch {
                return
            }
            let etag = lease.etag.withLock { $0 }
            do {
                let result = try await client.putObject(lease.key, leaseBody(owner: lease.owner), condition: .ifMatch(etag))
                switch result {
                case .written(let newTag, _): lease.etag.withLock { $0 = newTag }
                case .preconditionFailed:
                    logger.error("the vault lease was taken by another process while held; stop and check for a stuck clock")
                    return
                }
            } catch {
                logger.warning("could not renew the vault lease; will try again", metadata: ["error": "\(error)"])
            }
        }
    }

    private func release(_ lease: Lease) async {
        do {
            _ = try await client.deleteAllVersions(of: lease.key)
        } catch {
            logger.warning(
                "could not delete the vault lease; it expires by itself", metadata: ["error": "\(error)", "lease.key": "\(lease.key)"])
        }
    }
}

/// How AWS failures read as Strongroom errors.
enum CloudErrors {
    /// Runs an S3 or KMS call, turning ``AWSError`` into ``StrongroomError``; `keyName` names the
    /// KMS key in key errors.
    static func mapping<T>(keyName: String? = nil, _ call: () async throws(AWSError) -> T) async throws(StrongroomError) -> T {
        do {
            return try await call()
        } catch {
            throw mapped(error, keyName: keyName)
        }
    }

    /// The service's own message is kept (in the reason where it says what to do, else in the cause),
    /// after ``serverMessage(_:)`` has made sure it cannot carry key material.
    static func mapped(_ error: AWSError, keyName: String? = nil) -> StrongroomError {
        let message = serverMessage(error.message)
        let cause = "\(AWSError(kind: error.kind, operation: error.operation, status: error.status, code: error.code, message: message, requestID: error.requestID, attempts: error.attempts))"
        switch error.kind {
        case .configuration:
            return StrongroomError(.configuration, message)
        case .unreachable:
            return StrongroomError(
                .cloudUnavailable,
                "\(error.operation) failed: the server did not answer after \(error.attempts) attempt(s); nothing was changed by this operation",
                cause: cause)
        case .invalidResponse:
            return StrongroomError(.cloudUnavailable, "\(error.operation) got an answer it could not read", cause: cause)
        case .service:
            if error.isAccessDenied {
                return StrongroomError(
                    .accessDenied,
                    "\(error.operation) was refused: check the access key, secret key and the IAM/bucket/KMS key policies",
                    cause: cause)
            }
            switch error.code {
            case "NoSuchBucket":
                return StrongroomError(.configuration, "the bucket does not exist (\(error.operation))", cause: cause)
            case "NotFoundException", "DisabledException", "KMSInvalidStateException", "KeyUnavailableException":
                return StrongroomError(
                    .keyUnavailable,
                    "KMS key \(keyName ?? "(unknown)") cannot be used: \(error.code): \(message)", cause: cause)
            case "InvalidCiphertextException", "IncorrectKeyException":
                return StrongroomError(
                    .integrityCheckFailed,
                    "KMS refused the wrapped data key: it was altered, swapped, or is bound to another share", cause: cause)
            default:
                if let status = error.status, status >= 500 || status == 429 || AWSError.isThrottling(error.code) {
                    return StrongroomError(.cloudUnavailable, "\(error.operation) kept failing on the server side", cause: cause)
                }
                return StrongroomError(.io, "\(error.operation) failed", cause: cause)
            }
        }
    }
}

extension CloudErrors {
    /// A server's error message as Strongroom shows it: control characters become spaces, it is cut
    /// at 512 characters, and any run of 40 or more base64 or hex characters (a 32-byte key is 44 in
    /// base64, 64 in hex) is replaced by its length. Strongroom never sends a secret in a request,
    /// and secrets come back only in successful answers, so a message should never hold one; this
    /// makes sure that a server or proxy echoing a body cannot put one into an error or a log.
    /// ARNs, key ids, UUIDs and request ids (shorter runs, split by `-`, `:`) are kept.
    static func serverMessage(_ text: String) -> String {
        var out = ""
        var run = ""
        func flush() {
            out += run.count >= 40 ? "<\(run.count) characters removed>" : run
            run = ""
        }
        for scalar in text.unicodeScalars.prefix(512) {
            if scalar.isASCII, scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || "+/=".unicodeScalars.contains(scalar) {
                run.unicodeScalars.append(scalar)
                continue
            }
            flush()
            out.unicodeScalars.append(scalar.properties.generalCategory == .control ? " " : scalar)
        }
        flush()
        if text.unicodeScalars.count > 512 { out += "…" }
        return out
    }
}
