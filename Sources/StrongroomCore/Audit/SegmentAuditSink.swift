/// An audit log kept as immutable segment objects `audit/<seq>.jsonl` in a ``BlobStore``, each
/// created only if absent (S3 `If-None-Match: *`), so two appenders can never overwrite each other:
/// the loser re-reads the tail and tries again (docs/audit.md).
///
/// A segment is named after the 20-digit seq of its first record (``AuditLine/segmentName(firstSeq:)``)
/// and holds one or more consecutive complete records, each ending in `\n`. Strongroom never replaces
/// or deletes a segment.
///
/// In one process the appends of every task go through one appender (an actor): `make` calls run one
/// at a time, each on the tail the previous one produced, and the lines made while a segment is being
/// written are written together as the next segment (group commit: one `create` for many records).
/// The tail is cached; a new process finds it by reading forward from the segment the hint object
/// `audit/tail-hint` names (rewritten every 16 records or so), or, without a usable hint, by listing
/// `audit/` for the greatest segment name; after a lost race, by reading the segments that follow the
/// cached tail (segments are contiguous: each starts at the seq after the last one's end). Every append returns after its segment's `create` returned, which is durable in every store
/// (S3 PUT, fsynced directory link), so ``sync()`` has nothing to do.
public struct SegmentAuditSink: AuditSink {
    /// The store the segments live in.
    public let blobs: any BlobStore
    private let appender: SegmentAppender

    /// A sink over `blobs`.
    public init(blobs: any BlobStore) {
        self.blobs = blobs
        self.appender = SegmentAppender(blobs: blobs)
    }

    public var location: String { "\(SegmentAuditSink.base(blobs))/audit/" }

    /// The store's location without a trailing `/` (an S3 prefix ends in one), for messages.
    static func base(_ blobs: any BlobStore) -> String {
        var location = blobs.location
        while location.hasSuffix("/") { location.removeLast() }
        return location
    }

    /// The blob key prefix segments live under.
    static let prefix = "audit/"

    /// The blob key of the segment whose first record has `seq`.
    static func key(firstSeq seq: UInt64) -> String { prefix + AuditLine.segmentName(firstSeq: seq) }

    /// The blob key of the tail hint: the name of a recent segment, so that a new process finds the
    /// tail by reading forward from it instead of listing every segment. Not a segment name, so not
    /// part of the log; only a shortcut (a stale, missing or wrong hint costs a listing, nothing more).
    static let hintKey = prefix + "tail-hint"

    /// A hint is written after a segment that reaches a multiple of this seq: a reader walks at most
    /// about this many segments forward from it.
    static let hintInterval: UInt64 = 16

    /// The first seq a segment name declares (20 digits + `.jsonl`), or nil for any other name.
    static func firstSeq(ofSegment name: String) -> UInt64? {
        let bytes = Array(name.utf8)
        guard bytes.count == 26, name.hasSuffix(".jsonl"), bytes.prefix(20).allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }),
            let seq = UInt64(String(decoding: bytes.prefix(20), as: UTF8.self)), seq > 0
        else { return nil }
        return seq
    }

    public func append(durable: Bool, _ make: @Sendable (AuditTail) async throws -> [UInt8]) async throws -> AuditTail {
        try await appender.append(make)
    }

    /// Nothing: every append returned only after its segment was created durably.
    public func sync() async throws {}

    /// Nothing to check beyond what an earlier append found: a log whose last segment does not end in
    /// a record (damaged) refuses appends until it is repaired.
    public func checkWritable() async throws {
        if let problem = await appender.problem { throw problem }
    }

    /// Every segment in seq order (one segment in memory at a time; the names of all segments are
    /// listed first). Names under `audit/` that are not segment names are not part of the log and are
    /// skipped. A segment whose bytes do not end in `\n` cannot be a torn append (a segment is written
    /// whole), so a newline is added after it: its cut line then reads as a damaged record, not as a
    /// torn tail.
    public func read(_ body: ([UInt8]) async throws -> Void) async throws {
        let names = try await blobs.children(of: SegmentAuditSink.prefix).filter {
            SegmentAuditSink.firstSeq(ofSegment: $0) != nil
        }
        for name in names {  // sorted: 20-digit names sort in seq order
            guard let blob = try await blobs.read(SegmentAuditSink.prefix + name) else { continue }  // never deleted by us
            var bytes = blob.bytes
            if let last = bytes.last, last != 0x0A { bytes.append(0x0A) }
            if !bytes.isEmpty { try await body(bytes) }
        }
    }
}

/// The in-process side of a ``SegmentAuditSink``: serialises `make` calls, batches their lines into
/// segments and caches the tail.
actor SegmentAppender {
    let blobs: any BlobStore

    /// Lines made but not yet being written: the next segment.
    final class Batch {
        let firstSeq: UInt64
        var bytes: [UInt8] = []
        var tail: AuditTail
        /// Set once the segment was written (nil), lost a race, or failed.
        var outcome: Outcome?
        var waiters: [CheckedContinuation<Void, Never>] = []
        init(after base: AuditTail) {
            firstSeq = base.seq + 1
            tail = base
        }
    }

    enum Outcome {
        case written
        /// Another process created the segment first, or an earlier batch this one chained on failed:
        /// the lines must be made again on the new tail.
        case retry
        case failed(any Error)
    }

    /// The last record known to be in the store (nil: unknown, read it).
    private var known: AuditTail?
    /// A tail that was in the store once, when `known` was dropped: the new tail is found by reading
    /// the segments after it (segments are contiguous), without listing `audit/` again.
    private var stale: AuditTail?
    /// Bumped whenever `known` is dropped: lines made on an older tail are made again.
    private var epoch: UInt64 = 0
    private var pending: Batch?
    private var inFlight: Batch?
    private var flushing = false
    private var making = false
    private var makeQueue: [CheckedContinuation<Void, Never>] = []
    /// Why the log cannot be appended to (its last segment does not end in a record), once found.
    private(set) var problem: StrongroomError?

    init(blobs: any BlobStore) { self.blobs = blobs }

    func append(_ make: @Sendable (AuditTail) async throws -> [UInt8]) async throws -> AuditTail {
        var attempts = 0
        while true {
            attempts += 1
            guard attempts <= 64 else {
                throw StrongroomError(
                    .auditUnavailable,
                    "another process kept taking the next audit segment in \(SegmentAuditSink.base(blobs))/audit/ (64 attempts); the record was not written")
            }
            await lockMaking()
            let batch: Batch
            let tail: AuditTail
            do {
                let base = try await currentTail()
                let started = epoch
                let lines = try await make(base)
                guard epoch == started else {  // an earlier segment failed meanwhile: make again
                    unlockMaking()
                    continue
                }
                tail = try SegmentAppender.tail(of: lines, after: base)
                if pending == nil { pending = Batch(after: base) }
                batch = pending!
                batch.bytes += lines
                batch.tail = tail
            } catch {
                unlockMaking()
                throw error
            }
            unlockMaking()
            while batch.outcome == nil {
                if flushing {
                    await withCheckedContinuation { batch.waiters.append($0) }
                } else {
                    await flush()
                }
            }
            switch batch.outcome! {
            case .written: return tail
            case .retry: continue
            case .failed(let error): throw error
            }
        }
    }

    /// Writes pending batches, one segment each, until none is left.
    private func flush() async {
        flushing = true
        defer { flushing = false }
        while let batch = pending {
            pending = nil
            inFlight = batch
            let outcome: Outcome
            do {
                let created = try await blobs.create(SegmentAuditSink.key(firstSeq: batch.firstSeq), batch.bytes)
                outcome = created ? .written : .retry
            } catch {
                outcome = .failed(
                    StrongroomError(
                        .auditUnavailable,
                        "could not write audit segment \(SegmentAuditSink.base(blobs))/\(SegmentAuditSink.key(firstSeq: batch.firstSeq))",
                        cause: "\(error)"))
            }
            inFlight = nil
            if case .written = outcome {
                known = batch.tail
                if batch.tail.seq / SegmentAuditSink.hintInterval != (batch.firstSeq - 1) / SegmentAuditSink.hintInterval {
                    // Best effort: a hint that is not written only makes the next process list.
                    let name = Array(AuditLine.segmentName(firstSeq: batch.firstSeq).utf8)
                    _ = try? await blobs.replace(SegmentAuditSink.hintKey, name, ifRevision: nil)
                }
            } else {
                // The tail is not what we thought (or not known): read it again, and make the lines
                // chained on this batch again.
                stale = known ?? stale
                known = nil
                epoch &+= 1
                if let next = pending {
                    pending = nil
                    finish(next, .retry)
                }
            }
            finish(batch, outcome)
        }
    }

    private func finish(_ batch: Batch, _ outcome: Outcome) {
        batch.outcome = outcome
        let waiters = batch.waiters
        batch.waiters = []
        for waiter in waiters { waiter.resume() }
    }

    private func lockMaking() async {
        if !making {
            making = true
            return
        }
        await withCheckedContinuation { makeQueue.append($0) }
    }

    private func unlockMaking() {
        if makeQueue.isEmpty {
            making = false
        } else {
            makeQueue.removeFirst().resume()  // `making` stays true: handed over
        }
    }

    /// The tail the next lines chain on: after the pending and in-flight batches, else the known tail,
    /// else the store's.
    private func currentTail() async throws -> AuditTail {
        if let pending { return pending.tail }
        if let inFlight { return inFlight.tail }
        if let known { return known }
        let found = try await readTail()
        if pending == nil, inFlight == nil { known = found }
        return found
    }

    /// The store's tail: the last record of the greatest segment, then any segments after it (written
    /// by others since the listing).
    private func readTail() async throws -> AuditTail {
        var tail = AuditTail.empty
        var next: UInt64
        if let stale {
            tail = stale
            next = stale.seq + 1
        } else if let hinted = try await hintedSegment() {
            next = hinted
        } else {
            var greatest: UInt64?
            try await blobs.forEachChild(of: SegmentAuditSink.prefix) { name in
                if let seq = SegmentAuditSink.firstSeq(ofSegment: name), seq > (greatest ?? 0) { greatest = seq }
            }
            guard let greatest else { return .empty }
            next = greatest
        }
        while let blob = try await blobs.read(SegmentAuditSink.key(firstSeq: next)) {
            tail = try lastRecord(of: blob.bytes, segment: next)
            next = tail.seq + 1
        }
        return tail
    }

    /// The first seq of the segment the tail hint names, when that segment exists.
    private func hintedSegment() async throws -> UInt64? {
        guard let hint = try await blobs.read(SegmentAuditSink.hintKey),
            let seq = SegmentAuditSink.firstSeq(ofSegment: String(decoding: hint.bytes, as: UTF8.self)),
            try await blobs.read(SegmentAuditSink.key(firstSeq: seq)) != nil
        else { return nil }
        return seq
    }

    /// The seq and hash of a segment's last record; throws (and remembers) when it does not end in one
    /// whose seq is at least the segment's first.
    private func lastRecord(of bytes: [UInt8], segment firstSeq: UInt64) throws -> AuditTail {
        var end = bytes.count
        if end > 0, bytes[end - 1] == 0x0A { end -= 1 }
        let start = bytes[..<end].lastIndex(of: 0x0A).map { $0 + 1 } ?? 0
        guard bytes.last == 0x0A, let tail = AuditLine.tail(of: bytes[start..<end]), tail.seq >= firstSeq else {
            let error = StrongroomError(
                .auditTampered,
                "audit segment \(SegmentAuditSink.base(blobs))/\(SegmentAuditSink.key(firstSeq: firstSeq)) does not end in a complete record, so no record can be chained after it; run `strongroom audit verify`")
            problem = error
            throw error
        }
        return tail
    }

    /// The tail after `lines` (complete lines made on `base`): their last record's seq and hash.
    static func tail(of lines: [UInt8], after base: AuditTail) throws -> AuditTail {
        guard lines.last == 0x0A else {
            throw StrongroomError(.auditUnavailable, "an audit record to append does not end in a newline")
        }
        let firstEnd = lines.firstIndex(of: 0x0A) ?? (lines.count - 1)
        guard let first = AuditLine.tail(of: lines[0..<firstEnd]), first.seq == base.seq + 1,
            let last = AuditLine.lastTail(of: lines)
        else {
            throw StrongroomError(.auditUnavailable, "the audit records to append do not start at seq \(base.seq + 1)")
        }
        return last
    }
}
