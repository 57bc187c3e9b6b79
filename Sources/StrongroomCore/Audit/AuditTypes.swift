#if canImport(Glibc)
import Glibc
#endif
import Foundation

// The audit log's public vocabulary (docs/audit.md): what an operation is, who did it, how it ended,
// where records go (``AuditSink``) and which key signs checkpoints (``AuditMACKey``).

/// The name of an audited operation, as written in the `op` field of a record (`store`, `load`,
/// `frost.sign`). Dotted names group related operations: `audit show --op frost` shows every
/// `frost.*` record.
public struct AuditOperation: RawRepresentable, Hashable, Sendable, CustomStringConvertible, ExpressibleByStringLiteral {
    /// The name: lower case ASCII letters, digits, `.` and `-`.
    public let rawValue: String
    /// An operation named `rawValue`.
    public init(rawValue: String) { self.rawValue = rawValue }
    /// An operation named `value`.
    public init(stringLiteral value: String) { self.rawValue = value }
    /// The name.
    public var description: String { rawValue }

    public static let initialise: AuditOperation = "init"
    public static let store: AuditOperation = "store"
    public static let load: AuditOperation = "load"
    public static let list: AuditOperation = "list"
    public static let versions: AuditOperation = "versions"
    public static let erase: AuditOperation = "erase"
    public static let eraseVersions: AuditOperation = "erase-versions"
    public static let status: AuditOperation = "status"
    public static let writeRecord: AuditOperation = "record.write"
    public static let readRecord: AuditOperation = "record.read"
    public static let removeRecord: AuditOperation = "record.remove"
    public static let rotateStart: AuditOperation = "rotate.start"
    public static let rotateFinish: AuditOperation = "rotate.finish"
    public static let importVersion: AuditOperation = "import"
    public static let migrate: AuditOperation = "migrate"
    public static let recover: AuditOperation = "recover"
    public static let recoveryEnrolStart: AuditOperation = "recovery.enrol.start"
    public static let recoveryEnrolFinish: AuditOperation = "recovery.enrol.finish"
    public static let frostKeygen: AuditOperation = "frost.keygen"
    public static let frostSign: AuditOperation = "frost.sign"
    public static let frostRefresh: AuditOperation = "frost.refresh"
    public static let frostErase: AuditOperation = "frost.erase"
    public static let frostRepair: AuditOperation = "frost.repair"
    public static let hsmCheck: AuditOperation = "hsm.check"
    public static let auditVerify: AuditOperation = "audit.verify"
    /// A server request the access policy refused (the identity, the operation and the share in its
    /// record; outcome `access denied`).
    public static let accessDenied: AuditOperation = "access.denied"
    /// A sealed tier 1 vault's root seed was unsealed by custodian parts (a server).
    public static let unseal: AuditOperation = "unseal"
    /// A server wiped the root seed from memory (sealed again).
    public static let seal: AuditOperation = "seal"
    /// A checkpoint record (written by the log itself).
    public static let checkpoint: AuditOperation = "audit.checkpoint"
    /// The log found and cut off a torn last record left by a crash (written by the log itself).
    public static let tornTail: AuditOperation = "audit.torn-tail"
}

/// Who performed an operation: the process's user id, process id and host, and the identity of the
/// client it acted for once a server hosts the store.
public struct AuditActor: Sendable, Hashable {
    /// The real user id of the process.
    public var uid: UInt32
    /// The process id.
    public var pid: Int32
    /// The host name.
    public var host: String
    /// The client identity a server acts for (a peer uid, a certificate subject), or nil.
    public var client: String?

    /// Creates an actor.
    public init(uid: UInt32, pid: Int32, host: String, client: String? = nil) {
        self.uid = uid
        self.pid = pid
        self.host = host
        self.client = client
    }

    /// This process, with the client identity of the current task (``AuditContext/client``).
    public static var current: AuditActor {
        AuditActor(uid: UInt32(getuid()), pid: getpid(), host: AuditActor.hostName, client: AuditContext.client)
    }

    static let hostName: String = {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count - 1) == 0 else { return "unknown" }
        return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }()
}

/// Task-local context for audit records.
public enum AuditContext {
    /// The client identity that operations in this task act for (set by a server around a request).
    @TaskLocal public static var client: String?
    /// The access-policy rule that allowed the operation of this task (set by a server around a
    /// request); recorded as the `policy` detail of the operation's record, so the record of an
    /// allowed request shows who asked and which rule let them.
    @TaskLocal public static var policyRule: String?
}

/// How an operation ended.
public enum AuditOutcome: Sendable, Hashable {
    /// It succeeded.
    case ok
    /// It failed with this error code (``StrongroomError/Code/name``) and exit status.
    case error(code: String, exitStatus: Int32)
}

/// One operation to record: what, on what, and the non-secret details. ``ShareStore`` adds the
/// time, actor, vault id, tier, outcome and chain fields when it writes the record.
public struct AuditEvent: Sendable, Hashable {
    /// The operation.
    public var operation: AuditOperation
    /// The share (or record) id it touched, if one.
    public var shareID: ShareID?
    /// The share versions it touched (stored, loaded, erased), if any.
    public var versions: [UInt64]
    /// The KEK versions involved (sealed under, rotated from and to), if any.
    public var kekVersions: [UInt32]
    /// Other non-secret facts, as short strings (counts, a destination, participant ids). Never a
    /// secret, a PIN, a credential or a configuration line.
    public var details: [String: String]

    /// Creates an event.
    public init(
        _ operation: AuditOperation, shareID: ShareID? = nil, versions: [UInt64] = [], kekVersions: [UInt32] = [],
        details: [String: String] = [:]
    ) {
        self.operation = operation
        self.shareID = shareID
        self.versions = versions
        self.kekVersions = kekVersions
        self.details = details
    }
}

/// What the store does when an audit record cannot be written.
public enum AuditMode: String, Sendable, CaseIterable, CustomStringConvertible {
    /// The default: the operation fails (a load releases nothing) with ``StrongroomError/Code/auditUnavailable``.
    case failClosed = "fail-closed"
    /// The operation goes on and a warning is logged: for tests and drills, never for real keys.
    case bestEffort = "best-effort"
    /// Nothing is recorded (benchmarks' baseline). `status` says so.
    case off
    /// The setting's value.
    public var description: String { rawValue }
}

/// The audit settings (configuration keys `audit.mode`, `audit.recordListings`,
/// `audit.checkpointInterval`; docs/audit.md).
public struct AuditSettings: Sendable, Hashable, CustomStringConvertible {
    /// `audit.mode` (default `fail-closed`).
    public var mode: AuditMode
    /// `audit.recordListings` (default true): whether `list`, `versions` and `status` are recorded.
    public var recordListings: Bool
    /// `audit.checkpointInterval` (default 256): a long-running process writes a MAC checkpoint
    /// after at most this many records (and when the store is closed).
    public var checkpointInterval: Int

    /// Creates settings; the defaults are the secure ones.
    public init(mode: AuditMode = .failClosed, recordListings: Bool = true, checkpointInterval: Int = 256) {
        self.mode = mode
        self.recordListings = recordListings
        self.checkpointInterval = checkpointInterval
    }

    /// The defaults.
    public static let standard = AuditSettings()

    /// `audit.mode: …, audit.recordListings: …, audit.checkpointInterval: …`.
    public var description: String {
        "audit.mode: \(mode), audit.recordListings: \(recordListings), audit.checkpointInterval: \(checkpointInterval)"
    }
}

/// The end of an audit log: the sequence number and hash of its last complete record (0 and 32 zero
/// bytes for an empty log).
public struct AuditTail: Sendable, Hashable {
    /// The last record's `seq` (0: no record yet).
    public var seq: UInt64
    /// SHA-256 of the last record (docs/audit.md), 32 bytes; zeros for an empty log.
    public var hash: [UInt8]
    /// Bytes after the last complete record that a crash left (a torn append), when the sink found
    /// some and will cut them off after `make` returns: the log writes an `audit.torn-tail` record
    /// first. Set only on the tail an ``AuditSink`` passes to `make`; nil otherwise.
    public var tornTail: AuditTornTail?

    /// Creates a tail.
    public init(seq: UInt64, hash: [UInt8]) {
        self.seq = seq
        self.hash = hash
    }

    /// Creates a tail with a torn last record the sink is about to cut off.
    public init(seq: UInt64, hash: [UInt8], tornTail: AuditTornTail?) {
        self.seq = seq
        self.hash = hash
        self.tornTail = tornTail
    }

    /// The tail of an empty log.
    public static let empty = AuditTail(seq: 0, hash: [UInt8](repeating: 0, count: 32))
}

/// The bytes a crash left after the last complete record of a log (an append cut short): how many,
/// and their SHA-256, as the `audit.torn-tail` record states them.
public struct AuditTornTail: Sendable, Hashable {
    /// How many bytes.
    public var bytes: Int
    /// SHA-256 of them, 32 bytes.
    public var sha256: [UInt8]

    /// Creates a description of torn bytes.
    public init(bytes: Int, sha256: [UInt8]) {
        self.bytes = bytes
        self.sha256 = sha256
    }
}

/// Where a vault's audit records are kept: an append-only sequence of record lines (docs/audit.md),
/// shared by every process that opens the vault. ``BlobStore/makeAuditSink()`` supplies it.
///
/// Appends are serialised across processes: ``append(_:)`` gives `make` the current tail and writes
/// what it returns after it, and no other append can come between. An implementation that detects a
/// race instead of preventing it (S3 `If-None-Match`) calls `make` again with the new tail.
public protocol AuditSink: Sendable {
    /// Where the log is (a file path, an S3 prefix), for messages.
    var location: String { get }
    /// Appends the lines `make` returns for the current tail (complete lines, each ending in `\n`,
    /// whose first `seq` is the tail's + 1) and returns the new tail. `durable`: the lines are on
    /// stable storage when this returns; otherwise they are written (a process kill cannot lose
    /// them) and made durable within the sink's stated bound (docs/audit.md).
    func append(durable: Bool, _ make: @Sendable (AuditTail) async throws -> [UInt8]) async throws -> AuditTail
    /// Makes every line appended so far durable.
    func sync() async throws
    /// Checks, before a mutating operation, that the log can be appended to (it exists or can be made,
    /// and is what Strongroom made: no link, no directory in place of a file). Cheap after the first call.
    func checkWritable() async throws
    /// The log's bytes, in order (every line, a torn last line included as it is), for verification
    /// and `audit show`. Calls `body` with consecutive chunks.
    func read(_ body: ([UInt8]) async throws -> Void) async throws
}

/// A key inside the tier's boundary that authenticates audit checkpoints: HMAC-SHA256 (tier 1: from
/// the root seed; tier 3: a non-extractable generic secret on the token; tier 2: a KMS HMAC key).
/// The key never leaves its boundary through this API.
public protocol AuditMACKey: Sendable {
    /// What the key is, for `audit verify` and docs (`tier1 HKDF(root seed, "strongroom/tier1/audit-mac")`,
    /// `PKCS#11 CKK_GENERIC_SECRET 'strongroom-audit-…' CKM_SHA256_HMAC`, `KMS HMAC_256 key arn:…`). No secret.
    var description: String { get }
    /// The algorithm name written into checkpoint records (`HMAC-SHA256`).
    var algorithm: String { get }
    /// The MAC of `message`.
    func mac(_ message: [UInt8]) async throws -> [UInt8]
    /// True when `mac` is `message`'s MAC under this key; false when it is not (never throws for a
    /// wrong MAC; throws only when the key cannot be used).
    func verify(_ message: [UInt8], mac: [UInt8]) async throws -> Bool
}

/// The latest MAC checkpoint of the audit log, kept in `vault.json` too (docs/audit.md), so that a
/// log rolled back or truncated before it is detected.
public struct AuditCheckpoint: Codable, Sendable, Hashable {
    /// The checkpoint record's `seq`.
    public var seq: UInt64
    /// The checkpoint record's hash, 64 hex digits.
    public var hash: String
    /// The checkpoint record's MAC, hex.
    public var mac: String
    /// When it was written, in seconds since 1970.
    public var at: UInt64

    /// Creates a checkpoint entry.
    public init(seq: UInt64, hash: String, mac: String, at: UInt64) {
        self.seq = seq
        self.hash = hash
        self.mac = mac
        self.at = at
    }
}

extension StrongroomError.Code {
    /// The audit record of an operation could not be written while auditing is fail-closed
    /// (`audit.mode`): the operation failed; a load released nothing.
    public static let auditUnavailable = StrongroomError.Code("audit log unavailable", exitStatus: 74)
    /// `audit verify` found a changed, deleted, inserted, reordered or truncated record, a bad MAC
    /// or a rolled-back log.
    public static let auditTampered = StrongroomError.Code("audit log tampered", exitStatus: 65)
}
