import Logging
import SecureCrypto

/// A vault's audit log: writes hash-chained records to its ``AuditSink``, MAC checkpoints with the
/// tier's ``AuditMACKey`` (also kept in `vault.json`), and verifies and reads the log
/// (docs/audit.md). One per ``ShareStore``; shared by its tasks.
///
/// Appends of one process are serialised by ``AuditWriter`` (an actor) with group commit: records
/// that arrive while an append is in flight go out together in the next one (one `write`, one
/// `fsync` when any of them must be durable). Appends of several processes are serialised by the
/// sink (a file lock, or create-if-absent segments).
public final class AuditLog: Sendable {
    /// Where records go.
    public let sink: any AuditSink
    let keyring: any Keyring
    let vaultID: VaultID
    let tier: Tier
    let logger: Logger
    let settingsBox = Locked<AuditSettings>(.standard)
    /// The vault's blob store, where checkpoints are anchored (`vault.json`'s `audit`).
    let blobs: any BlobStore
    let encoder: AuditRecordEncoder
    let writer = AuditWriter()
    /// Whether a background sync is due (a non-durable append since the last one began).
    let syncScheduled = Locked(false)
    /// The background syncs and anchors in flight, which ``finishBackgroundWork()`` waits for: a
    /// process must not exit while one runs (the runtime tears down under it).
    let background = AuditBackgroundWork()

    init(sink: any AuditSink, keyring: any Keyring, vaultID: VaultID, tier: Tier, logger: Logger, blobs: any BlobStore) {
        self.sink = sink
        self.keyring = keyring
        self.vaultID = vaultID
        self.tier = tier
        self.logger = logger
        self.blobs = blobs
        self.encoder = AuditRecordEncoder(vaultID: vaultID, tier: tier)
    }

    /// The settings in force.
    public var settings: AuditSettings { settingsBox.withLock { $0 } }

    /// Writes the record of `event` with `outcome`. `durable`: wait until it is on stable storage
    /// (mutations); reads are made durable within the sink's bound. Throws when the record could not be
    /// written; the caller applies the mode (``ShareStore/audited(_:_:)``).
    func write(_ event: AuditEvent, outcome: AuditOutcome, durable: Bool) async throws {
        let entry = AuditWriter.Entry(
            kind: .record(event, outcome), time: AuditTime.now(), actor: .current, durable: durable)
        _ = try await writer.submit(entry, log: self)
    }

    /// Appends a checkpoint record now (durably) and anchors it in `vault.json`; returns it.
    @discardableResult
    func checkpoint() async throws -> AuditCheckpoint {
        let entry = AuditWriter.Entry(kind: .checkpoint, time: AuditTime.now(), actor: .current, durable: true)
        guard let checkpoint = try await writer.submit(entry, log: self) else {
            throw StrongroomError(.io, "the audit checkpoint was written but not returned")  // not reached
        }
        try await anchor(checkpoint)
        return checkpoint
    }

    // MARK: Appending a batch

    /// The MAC key, fetched once (a tier may make it on first use).
    func macKey() async throws -> (any AuditMACKey)? {
        if let known = await writer.knownKey { return known.key }
        let key = try await keyring.auditKey()
        await writer.remember(key)
        return key
    }

    /// Appends `entries` (and a checkpoint after them when `checkpointAfter`) in one sink append.
    /// Returns the checkpoint records written, in order (one per `.checkpoint` entry, then the automatic one).
    func append(_ entries: [AuditWriter.Entry], checkpointAfter: Bool) async throws -> [AuditCheckpoint] {
        let needsKey = checkpointAfter || entries.contains { if case .checkpoint = $0.kind { true } else { false } }
        let key = needsKey ? try await macKey() : nil
        let durable = checkpointAfter || entries.contains(where: \.durable)
        let checkpoints = Locked<[AuditCheckpoint]>([])
        let encoder = self.encoder
        let floor = try await anchoredFloor()
        let location = sink.location
        _ = try await sink.append(durable: durable) { tail in
            try AuditLog.checkNotBehind(tail, floor, location)
            var out: [UInt8] = []
            var seq = tail.seq
            var previous = tail.hash
            var made: [AuditCheckpoint] = []
            if let torn = tail.tornTail {
                let event = AuditEvent(
                    .tornTail, details: ["bytes": "\(torn.bytes)", "sha256": Hex.encode(torn.sha256)])
                seq += 1
                var line = encoder.body(
                    seq: seq, previous: previous, time: AuditTime.now(), actor: .current, event: event, outcome: .ok,
                    checkpoint: nil)
                previous = AuditRecordEncoder.finish(&line)
                out += line
            }
            func appendCheckpoint(_ time: AuditTime, _ actor: AuditActor) async throws {
                seq += 1
                var line = encoder.body(
                    seq: seq, previous: previous, time: time, actor: actor, event: AuditEvent(.checkpoint), outcome: .ok,
                    checkpoint: .init(algorithm: key?.algorithm ?? "none", description: key?.description))
                let mac = try await key?.mac(line) ?? []
                AuditRecordEncoder.appendMAC(mac, to: &line)
                previous = AuditRecordEncoder.finish(&line)
                out += line
                made.append(AuditCheckpoint(seq: seq, hash: Hex.encode(previous), mac: Hex.encode(mac), at: time.seconds))
            }
            for entry in entries {
                switch entry.kind {
                case .record(let event, let outcome):
                    seq += 1
                    var line = encoder.body(
                        seq: seq, previous: previous, time: entry.time, actor: entry.actor, event: event, outcome: outcome,
                        checkpoint: nil)
                    previous = AuditRecordEncoder.finish(&line)
                    out += line
                case .checkpoint:
                    try await appendCheckpoint(entry.time, entry.actor)
                }
            }
            if checkpointAfter { try await appendCheckpoint(AuditTime.now(), .current) }
            checkpoints.withLock { $0 = made }
            return out
        }
        scheduleSyncIfNeeded(durable: durable)
        return checkpoints.withLock { $0 }
    }

    /// After a non-durable append: the sink is synced within a second (docs/audit.md, "Durability").
    private func scheduleSyncIfNeeded(durable: Bool) {
        guard !durable, syncScheduled.withLock({ scheduled in
            if scheduled { return false }
            scheduled = true
            return true
        }) else { return }
        background.run(cancelWhenFinishing: true) { [self] in
            try? await Task.sleep(for: .milliseconds(500))  // cut short by finishBackgroundWork()
            syncScheduled.withLock { $0 = false }
            do {
                // Not cancelled with the wait: the sync itself always runs to its end.
                let sink = self.sink
                try await Task.detached { try await sink.sync() }.value
            } catch {
                logger.warning(
                    "could not sync the audit log", metadata: ["audit.location": "\(sink.location)", "error": "\(error)"])
            }
        }
    }

    // MARK: Rolled-back logs

    /// A log that ends before the checkpoint vault.json names was truncated or rolled back:
    /// appending would move the anchor past the gap and hide it, so nothing is appended.
    static func checkNotBehind(_ tail: AuditTail, _ floor: (seq: UInt64, hash: [UInt8]), _ location: String) throws {
        guard tail.seq < floor.seq || (tail.seq == floor.seq && !floor.hash.isEmpty && tail.hash != floor.hash) else { return }
        throw StrongroomError(
            .auditTampered,
            "the audit log \(location) ends at record #\(tail.seq), but vault.json's checkpoint names record #\(floor.seq)"
                + (tail.seq == floor.seq ? " with another hash" : "")
                + ": it was truncated or rolled back, so no record is appended to it; run `strongroom audit verify`, "
                + "and restore the log from a copy (docs/audit.md, \"A rolled-back log\")")
    }

    private struct ProbeDone: Error {}

    /// Before a mutating operation: the log can be appended to, and is not behind vault.json's
    /// checkpoint, so that the operation is refused before it changes anything (nothing is written).
    func checkBeforeMutation() async throws {
        try await sink.checkWritable()
        let floor = try await anchoredFloor()
        guard floor.seq > 0 else { return }
        let location = sink.location
        do {
            _ = try await sink.append(durable: false) { tail in
                try AuditLog.checkNotBehind(tail, floor, location)
                throw ProbeDone()
            }
        } catch is ProbeDone {}
    }

    // MARK: Anchoring checkpoints in vault.json

    /// The checkpoint `vault.json` named when this process first appended, raised by each anchor it
    /// writes: the log's tail must never be behind it.
    let floorBox = Locked<(seq: UInt64, hash: [UInt8])?>(nil)

    func anchoredFloor() async throws -> (seq: UInt64, hash: [UInt8]) {
        if let floor = floorBox.withLock({ $0 }) { return floor }
        var floor: (seq: UInt64, hash: [UInt8]) = (0, [])
        if let blob = try await blobs.read(VaultState.key),
            let checkpoint = try VaultState.decode(blob.bytes, location: blobs.location).audit
        {
            floor = (checkpoint.seq, Hex.decode(checkpoint.hash) ?? [])
        }
        raiseFloor(floor)
        return floorBox.withLock { $0 } ?? floor
    }

    func raiseFloor(_ floor: (seq: UInt64, hash: [UInt8])) {
        floorBox.withLock { current in
            if let existing = current, existing.seq >= floor.seq { return }
            current = floor
        }
    }

    /// Records `checkpoint` as `vault.json`'s `audit` entry by compare-and-swap, unless the file
    /// already names a later one. Holds the vault's shared lock, so no state writer (rotation,
    /// enrolment: exclusive holders) runs meanwhile.
    func anchor(_ checkpoint: AuditCheckpoint) async throws {
        try await blobs.withLock(.shared) {
            for _ in 0..<20 {
                guard let blob = try await blobs.read(VaultState.key) else {
                    throw StrongroomError(.vaultNotInitialised, "no vault at \(blobs.location)")
                }
                var state = try VaultState.decode(blob.bytes, location: blobs.location)
                if let existing = state.audit, existing.seq >= checkpoint.seq { return }
                state.audit = checkpoint
                if try await blobs.replace(VaultState.key, try state.encoded(), ifRevision: blob.revision) {
                    raiseFloor((checkpoint.seq, Hex.decode(checkpoint.hash) ?? []))
                    return
                }
            }
            throw StrongroomError(
                .io, "\(blobs.location)/\(VaultState.key) kept changing while the audit checkpoint was recorded in it")
        }
    }

    /// Anchors an automatic checkpoint in the background: the record that triggered it may be written
    /// by a task holding the vault's exclusive lock, which the anchor waits for.
    func anchorInBackground(_ checkpoint: AuditCheckpoint) {
        background.run(cancelWhenFinishing: false) { [self] in
            do {
                try await anchor(checkpoint)
            } catch {
                logger.warning(
                    "could not record the audit checkpoint in vault.json",
                    metadata: ["audit.seq": "\(checkpoint.seq)", "error": "\(error)"])
            }
        }
    }
}

/// Background tasks of an ``AuditLog`` that must end before the process does.
final class AuditBackgroundWork: Sendable {
    private struct Pending: Sendable {
        var next: UInt64 = 0
        var tasks: [UInt64: (task: Task<Void, Never>, cancel: Bool)] = [:]
    }
    private let pending = Locked(Pending())

    /// Runs `body` in a task of its own, tracked until it ends. `cancelWhenFinishing`: a task that
    /// only waits (the delayed sync) is cancelled by ``finish()``, so it does its work at once.
    func run(cancelWhenFinishing: Bool, _ body: @escaping @Sendable () async -> Void) {
        pending.withLock { pending in
            let id = pending.next
            pending.next += 1
            // The task removes itself under the same mutex, so it cannot do so before it is inserted.
            let task = Task { [weak self] in
                await body()
                self?.pending.withLock { _ = $0.tasks.removeValue(forKey: id) }
            }
            pending.tasks[id] = (task, cancelWhenFinishing)
        }
    }

    /// Waits for every tracked task, including those started meanwhile, cancelling the waiting ones.
    func finish() async {
        while true {
            let tasks = pending.withLock { Array($0.tasks.values) }
            if tasks.isEmpty { return }
            for entry in tasks where entry.cancel { entry.task.cancel() }
            for entry in tasks { await entry.task.value }
        }
    }
}

/// Serialises one process's appends to an ``AuditLog`` with group commit: the first caller becomes the
/// leader and appends its record together with every record queued meanwhile, until the queue is empty.
actor AuditWriter {
    struct Entry: Sendable {
        enum Kind: Sendable {
            case record(AuditEvent, AuditOutcome)
            case checkpoint
        }
        var kind: Kind
        var time: AuditTime
        var actor: AuditActor
        var durable: Bool
    }

    struct KnownKey: Sendable { var key: (any AuditMACKey)? }

    private var waiting: [(Entry, CheckedContinuation<AuditCheckpoint?, any Error>)] = []
    private var writing = false
    private var recordsSinceCheckpoint = 0
    private(set) var knownKey: KnownKey?

    func remember(_ key: (any AuditMACKey)?) { knownKey = KnownKey(key: key) }

    /// Appends `entry` (with whatever else is queued) and returns the checkpoint it wrote, for a
    /// `.checkpoint` entry. The first caller appends its own entry at once; entries that arrive
    /// meanwhile wait and go out together in the next append, which a background task makes.
    func submit(_ entry: Entry, log: AuditLog) async throws -> AuditCheckpoint? {
        if writing {
            return try await withCheckedThrowingContinuation { waiting.append((entry, $0)) }
        }
        writing = true
        let own = await run([(entry, nil)], log: log)
        if waiting.isEmpty {
            writing = false
        } else {
            Task { await drain(log: log) }
        }
        return try own.get()
    }

    private func drain(log: AuditLog) async {
        while !waiting.isEmpty {
            let batch = waiting.map { ($0.0, Optional($0.1)) }
            waiting.removeAll()
            _ = await run(batch, log: log)
        }
        writing = false
    }

    /// Appends one batch and resumes its waiters; returns the result of the entry without a waiter.
    private func run(
        _ batch: [(Entry, CheckedContinuation<AuditCheckpoint?, any Error>?)], log: AuditLog
    ) async -> Result<AuditCheckpoint?, any Error> {
        var own: Result<AuditCheckpoint?, any Error> = .success(nil)
        let interval = max(1, log.settings.checkpointInterval)
        let records = batch.count { if case .record = $0.0.kind { true } else { false } }
        let explicit = batch.contains { if case .checkpoint = $0.0.kind { true } else { false } }
        let due = !explicit && recordsSinceCheckpoint + records >= interval
        do {
            var checkpoints = try await log.append(batch.map(\.0), checkpointAfter: due)
            if explicit || due {
                recordsSinceCheckpoint = 0
            } else {
                recordsSinceCheckpoint += records
            }
            if due, let automatic = checkpoints.popLast() { log.anchorInBackground(automatic) }
            var index = 0
            for (queued, continuation) in batch {
                var result: AuditCheckpoint?
                if case .checkpoint = queued.kind {
                    result = index < checkpoints.count ? checkpoints[index] : nil
                    index += 1
                }
                if let continuation { continuation.resume(returning: result) } else { own = .success(result) }
            }
        } catch {
            for (_, continuation) in batch {
                if let continuation { continuation.resume(throwing: error) } else { own = .failure(error) }
            }
        }
        return own
    }
}
