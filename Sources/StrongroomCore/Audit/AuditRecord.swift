import Foundation

/// One record of an audit log as read back (docs/audit.md gives the line format).
public struct AuditRecord: Sendable, Hashable {
    /// The record's sequence number, 1 for the first.
    public var seq: UInt64
    /// When it was written (UTC, microseconds), as written: `2026-12-01T22:10:00.123456Z`.
    public var time: String
    /// Who did it.
    public var actor: AuditActor
    /// The vault id in hex.
    public var vaultID: String
    /// The tier's name.
    public var tier: String
    /// The operation, the share, versions, KEK versions and details.
    public var event: AuditEvent
    /// How it ended.
    public var outcome: AuditOutcome
    /// SHA-256 of the previous record, 32 bytes (zeros for the first).
    public var previousHash: [UInt8]
    /// SHA-256 of this record, 32 bytes.
    public var hash: [UInt8]
    /// A checkpoint record's MAC; nil for other records.
    public var mac: [UInt8]?
    /// The record's line as stored, without the newline: the JSON object `audit show --json` prints.
    public var line: String

    /// Creates a record.
    public init(
        seq: UInt64, time: String, actor: AuditActor, vaultID: String, tier: String, event: AuditEvent,
        outcome: AuditOutcome, previousHash: [UInt8], hash: [UInt8], mac: [UInt8]?, line: String
    ) {
        self.seq = seq
        self.time = time
        self.actor = actor
        self.vaultID = vaultID
        self.tier = tier
        self.event = event
        self.outcome = outcome
        self.previousHash = previousHash
        self.hash = hash
        self.mac = mac
        self.line = line
    }
}

/// What `audit verify` found in a log that verified.
public struct AuditVerification: Sendable, Hashable {
    /// Where the log is.
    public var location: String
    /// How many records it holds.
    public var records: UInt64
    /// How many checkpoint records, each of whose MAC verified.
    public var checkpoints: UInt64
    /// The last record's seq and hash.
    public var tail: AuditTail
    /// The checkpoint `vault.json` names (present in the log with that hash and a valid MAC), if any.
    public var stateCheckpoint: AuditCheckpoint?
    /// Records after the last checkpoint: not yet covered by a MAC.
    public var recordsAfterLastCheckpoint: UInt64
    /// The MAC key's description (``AuditMACKey/description``), or nil when the tier has none.
    public var macKey: String?
    /// Bytes of a torn last record (an append a crash cut short), ignored; 0 when none.
    public var tornTailBytes: Int

    /// Creates a result.
    public init(
        location: String, records: UInt64, checkpoints: UInt64, tail: AuditTail, stateCheckpoint: AuditCheckpoint?,
        recordsAfterLastCheckpoint: UInt64, macKey: String?, tornTailBytes: Int
    ) {
        self.location = location
        self.records = records
        self.checkpoints = checkpoints
        self.tail = tail
        self.stateCheckpoint = stateCheckpoint
        self.recordsAfterLastCheckpoint = recordsAfterLastCheckpoint
        self.macKey = macKey
        self.tornTailBytes = tornTailBytes
    }
}

/// Which records `audit show` prints.
public struct AuditFilter: Sendable, Hashable {
    /// Only records of this share id.
    public var shareID: ShareID?
    /// Only records whose operation is this one or starts with it and a dot (`frost` matches `frost.sign`).
    public var operation: String?
    /// Only records written at or after this time.
    public var since: Date?

    /// Creates a filter; nil fields match everything.
    public init(shareID: ShareID? = nil, operation: String? = nil, since: Date? = nil) {
        self.shareID = shareID
        self.operation = operation
        self.since = since
    }
}
