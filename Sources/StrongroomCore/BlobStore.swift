/// A stored blob and the revision it was read at.
public struct StoredBlob: Sendable, Hashable {
    /// The blob's bytes.
    public var bytes: [UInt8]
    /// An opaque revision (file identity and time, or an S3 ETag) for conditional replacement.
    public var revision: String
    /// Creates a stored blob.
    public init(bytes: [UInt8], revision: String) {
        self.bytes = bytes
        self.revision = revision
    }
}

/// How a ``BlobStore`` lock is held.
public enum BlobLockMode: Sendable {
    /// Many holders at once: share writes.
    case shared
    /// One holder: rotation, erase, state changes.
    case exclusive
}

/// Where a tier keeps its bytes: named blobs under `/`-separated keys, written atomically and durably.
/// Keys are built by the store from validated share ids; implementations still refuse keys that
/// could escape their root.
public protocol BlobStore: Sendable {
    /// A human description of where blobs live (a directory, a bucket), for messages and logs.
    var location: String { get }
    /// Reads a blob, or returns nil when there is none.
    func read(_ key: String) async throws -> StoredBlob?
    /// Writes a new blob durably; returns false, writing nothing, when the key already exists.
    func create(_ key: String, _ bytes: [UInt8]) async throws -> Bool
    /// Atomically replaces a blob durably, provided it is still at `revision` (nil: create or replace
    /// unconditionally). Returns false, writing nothing, when the blob changed or vanished.
    func replace(_ key: String, _ bytes: [UInt8], ifRevision revision: String?) async throws -> Bool
    /// The names directly under `prefix` (a key ending in `/`), sorted; hidden names (temporary
    /// files, tombstones of interrupted destroys, anything starting with `.`) are skipped.
    func children(of prefix: String) async throws -> [String]
    /// Calls `body` once with each name directly under `prefix` (a key ending in `/`), in no particular
    /// order, skipping hidden names as ``children(of:)`` does, and holding at most one page of names
    /// in memory whatever the number of children: the walk for work over a whole vault (rotation,
    /// migration), where a sorted listing would hold every name at once.
    ///
    /// A name present for the whole walk is passed exactly once; one created or removed during the
    /// walk may or may not be. `body` runs before the next name is read; an error it throws ends the
    /// walk and is rethrown. The default implementation walks ``children(of:)``, which holds every
    /// name: stores that can list in pages implement this.
    func forEachChild(of prefix: String, _ body: (String) async throws -> Void) async throws
    /// Destroys every copy of a blob the store can reach; a missing blob is not an error. Crash-atomic:
    /// a crash at any instant leaves the blob either whole under its key or gone from `read` and
    /// `children`, never damaged under its key; what the crash left hidden is finished by
    /// ``finishInterrupted(under:holdingExclusiveLock:)``.
    func destroy(_ key: String) async throws
    /// Removes an empty prefix (a directory), if the store has such a thing.
    func removePrefix(_ prefix: String) async throws
    /// Finishes what crashes left directly under `prefix` (a key ending in `/`, or "" for the root):
    /// interrupted destroys are completed and abandoned temporary files of writes deleted. With
    /// `holdingExclusiveLock` false (a shared-lock holder), only what cannot belong to a live
    /// operation is touched. Never lists or returns a blob.
    func finishInterrupted(under prefix: String, holdingExclusiveLock: Bool) async throws -> InterruptedWork
    /// Runs `body` holding the store-wide lock in `mode`, across processes where the store can.
    func withLock<T: Sendable>(_ mode: BlobLockMode, _ body: () async throws -> T) async throws -> T
    /// True when the shared lock also excludes other processes' exclusive holders (a file lock).
    /// When false (S3), the share store checks after each write that no rotation began meanwhile.
    var sharedLockSpansProcesses: Bool { get }
    /// Checks, when a vault opens, that no one else can read or change the store's location (a
    /// directory store: a real directory, mode 0700). A bucket's access is the account's policy.
    func checkPrivate() async throws
    /// The vault's audit log beside the blobs (docs/audit.md). The default keeps it as immutable
    /// segment objects under `audit/` made with ``create(_:_:)`` (``SegmentAuditSink``); a directory
    /// store appends to one file with `O_APPEND` instead.
    func makeAuditSink() -> any AuditSink
}

extension BlobStore {
    /// A file lock spans processes; stores whose shared lock does not say so.
    public var sharedLockSpansProcesses: Bool { true }

    /// Nothing to check.
    public func checkPrivate() async throws {}

    /// Immutable segments under `audit/`, created if absent.
    public func makeAuditSink() -> any AuditSink { SegmentAuditSink(blobs: self) }

    /// True when `key` is a relative `/`-separated key no component of which is empty, `.`, `..` or
    /// hidden (starts with `.`), with no NUL: a key the store built from validated ids, which cannot
    /// reach outside a store's root. Every store refuses other keys.
    public static func isSafeRelativeKey(_ key: String) -> Bool {
        guard !key.isEmpty, !key.hasPrefix("/"), !key.utf8.contains(0) else { return false }
        return key.split(separator: "/", omittingEmptySubsequences: false).allSatisfy { component in
            !component.isEmpty && component != "." && component != ".." && !component.hasPrefix(".")
        }
    }

    /// Walks ``children(of:)``: correct for any store, but holds every name at once.
    public func forEachChild(of prefix: String, _ body: (String) async throws -> Void) async throws {
        for name in try await children(of: prefix) { try await body(name) }
    }

    /// Deletes what interrupted writes and destroys left under `prefix`; call only while holding the
    /// exclusive lock.
    public func removeAbandonedWrites(under prefix: String) async throws {
        _ = try await finishInterrupted(under: prefix, holdingExclusiveLock: true)
    }
}

/// What ``BlobStore/finishInterrupted(under:holdingExclusiveLock:)`` found and did.
public struct InterruptedWork: Sendable, Hashable {
    /// Destroys a crash interrupted after the blob had left its key, finished now.
    public var finishedDestroys = 0
    /// Temporary files of interrupted writes, deleted.
    public var removedTemporaryFiles = 0
    /// Leftovers that were not what Strongroom leaves (a link or hard link in place of a tombstone,
    /// a directory with a temporary file's name), one line each; their names were removed or left,
    /// never followed or written.
    public var problems: [String] = []

    /// Nothing found.
    public init() {}

    /// Adds another directory's findings.
    public mutating func add(_ other: InterruptedWork) {
        finishedDestroys += other.finishedDestroys
        removedTemporaryFiles += other.removedTemporaryFiles
        problems += other.problems
    }

    /// True when nothing was found.
    public var isEmpty: Bool { finishedDestroys == 0 && removedTemporaryFiles == 0 && problems.isEmpty }
}
