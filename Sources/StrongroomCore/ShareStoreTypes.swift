/// One share in a listing.
public struct ShareSummary: Sendable, Hashable {
    /// The share id.
    public var id: ShareID
    /// The newest version.
    public var latestVersion: UInt64
    /// How many versions are stored.
    public var versionCount: Int
}

/// One stored version of a share, read from its envelope header (not decrypted).
public struct ShareVersionInfo: Sendable, Hashable {
    /// The version number (from 1).
    public var version: UInt64
    /// The KEK version wrapping its data key.
    public var kekVersion: UInt32
    /// When it was stored (Unix seconds).
    public var createdAt: UInt64
    /// The metadata stored with it (authenticated when the share is loaded).
    public var metadata: [String: String]
    /// The blob's size in bytes.
    public var blobSize: Int
    /// Why this version cannot be used, or nil when its header is sound: unreadable, naming another
    /// share, vault or tier, or a KEK version outside the vault's active range. Loading it fails.
    public var problem: String? = nil
}

/// Progress of a rotation, reported after each share version.
public struct RotationProgress: Sendable, Hashable {
    /// Share versions visited so far.
    public var done: Int
    /// Share versions in the vault when the rotation started (counted before the first is visited).
    public var total: Int
    /// Of those visited, how many were rewrapped now.
    public var rewrapped: Int
    /// Of those visited, how many had already been rewrapped (a resumed rotation).
    public var alreadyCurrent: Int
    /// Of those visited, how many could not be rewrapped.
    public var failed: Int
}

/// What a rotation did (or, for a dry run, would do).
public struct RotationReport: Sendable, Hashable {
    /// The KEK version shares were wrapped under before (the oldest still in use).
    public var fromVersions: [UInt32]
    /// The KEK version every share is wrapped under afterwards.
    public var targetVersion: UInt32
    /// True when this run finished a rotation that an earlier run began.
    public var resumed: Bool
    /// True for a dry run: nothing was changed.
    public var dryRun: Bool
    /// Share versions rewrapped by this run (for a dry run: that would be).
    public var rewrapped: Int
    /// Share versions already under the target KEK.
    public var alreadyCurrent: Int
    /// Share versions that could not be rewrapped, with the reason (empty when the rotation finished);
    /// the first 100 of ``failedCount``.
    public var failures: [String]
    /// How many share versions could not be rewrapped (``failures`` keeps the first 100 reasons).
    public var failedCount = 0
    /// Blobs under a share version's or record's name that are not envelopes at all (torn or foreign
    /// files: empty or without the magic), one line each naming the file; the first 100 of
    /// ``tornBlobCount``. They hold nothing any KEK opens, so they were left as they are and did not
    /// hold the rotation back; erase those versions.
    public var tornBlobs: [String] = []
    /// How many such blobs the rotation found (``tornBlobs`` names the first 100).
    public var tornBlobCount = 0
    /// What crashes had left and this rotation finished: interrupted erases completed, temporary
    /// files of interrupted writes deleted (empty for a dry run).
    public var finishedInterrupted = InterruptedWork()
}

/// A vault's state and its shares per KEK version.
public struct VaultStatus: Sendable, Hashable {
    /// The vault id.
    public var vaultID: VaultID
    /// The tier.
    public var tier: Tier
    /// The KEK id.
    public var kekID: String
    /// The KEK version new shares are sealed under.
    public var currentKEKVersion: UInt32
    /// The oldest KEK version still usable.
    public var oldestActiveKEKVersion: UInt32
    /// The target of an unfinished rotation, if one is pending.
    public var pendingRotationTarget: UInt32?
    /// Number of share ids.
    public var shareCount: Int
    /// Number of stored share versions.
    public var versionCount: Int
    /// Share versions per KEK version.
    public var versionsPerKEKVersion: [UInt32: Int]
    /// Blobs whose header could not be read.
    public var unreadableBlobs: Int
    /// Every blob that cannot be used, one line each naming the share version or record and why:
    /// an unreadable header, one naming another share, vault or tier, or a KEK version outside the
    /// active range. Empty for a healthy vault.
    public var problems: [String] = []
    /// The enrolled recovery key's fingerprint (64 hex digits), or nil when the vault has none.
    public var recoveryFingerprint: String? = nil
    /// The fingerprint of a recovery key whose enrolment began and has not finished, or nil.
    public var pendingRecoveryFingerprint: String? = nil
    /// Share versions and records whose blob has no recovery section for the key new blobs are
    /// sealed to (the pending one, else the enrolled one); 0 when the vault has no recovery key.
    public var versionsWithoutRecovery: Int = 0
    /// `audit.mode` in force.
    public var auditMode: AuditMode = .failClosed
    /// Where the audit log is.
    public var auditLocation: String = ""
    /// How many complete records the audit log holds (before this status call's own record).
    public var auditRecordCount: UInt64 = 0
    /// The audit MAC key's description (``AuditMACKey/description``), or nil when the tier has none
    /// (checkpoints are then hash-only).
    public var auditMACKey: String? = nil
    /// The latest checkpoint recorded in `vault.json`, or nil before the first.
    public var auditCheckpoint: AuditCheckpoint? = nil
}

/// Points where tests make a rotation stop as if the process had crashed (the conformance suite,
/// `StrongroomConformance`, crashes a rotation at each rotation point).
public enum FaultPoint: Sendable, Hashable {
    /// The new KEK version's key was created (tier 2: CreateKey answered) and is not yet recorded.
    case kekCreated
    /// The rotation journal (new target KEK) was written; no share rewrapped yet.
    case rotationJournalWritten
    /// Share number `index` (0-based) was rewrapped in memory but not yet written back.
    case rotationBeforeReplace(index: Int)
    /// Share number `index` was written back.
    case rotationAfterReplace(index: Int)
    /// Every share is rewrapped; old KEKs not yet retired and the journal not yet cleared.
    case rotationBeforeFinish
    /// A recovery key enrolment's journal was written; no blob re-sealed yet.
    case recoveryJournalWritten
    /// Blob number `index` (0-based) of an enrolment was re-sealed in memory but not yet written back.
    case recoveryBeforeReplace(index: Int)
    /// Blob number `index` of an enrolment was written back.
    case recoveryAfterReplace(index: Int)
    /// Every blob carries the new recovery section; the journal is not yet cleared.
    case recoveryBeforeFinish
    /// A load has read its blob and not yet opened it (loads take no lock).
    case loadBlobRead
    /// A destroy has removed the blob's key (a directory store: renamed it to a tombstone; S3: put a
    /// delete marker) and not yet overwritten or deleted its bytes.
    case destroyNameRemoved
    /// A directory store's destroy has overwritten the tombstone and not yet unlinked it; an S3
    /// destroy has deleted the object's data versions and not yet its delete markers.
    case destroyOverwritten
}

/// A test hook that may throw (a simulated crash) or pause at a ``FaultPoint``. Production stores
/// use ``none``; the conformance suite and a tier's own crash tests use the others.
public struct FaultInjection: Sendable {
    let hook: @Sendable (FaultPoint) throws -> Void
    let pause: (@Sendable (FaultPoint) async -> Void)?
    /// A hook that may throw at a point: the operation stops there as if the process died.
    public init(_ hook: @escaping @Sendable (FaultPoint) throws -> Void) {
        self.hook = hook
        self.pause = nil
    }
    /// A hook that can do async work (another store's rotation, say) at a point.
    public init(pausing pause: @escaping @Sendable (FaultPoint) async -> Void) {
        self.hook = { _ in }
        self.pause = pause
    }
    /// No faults.
    public static let none = FaultInjection { _ in }
    /// Calls the hook at `point`: a tier's own code calls this at the points it defines.
    public func check(_ point: FaultPoint) throws { try hook(point) }
    /// Lets a pausing hook run at `point`.
    public func wait(_ point: FaultPoint) async { if let pause { await pause(point) } }
}
