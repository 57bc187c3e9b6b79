import CoreMetrics
import Synchronization

// swift-metrics for every store operation (issue 15; docs/metrics.md lists every metric). The store
// only emits through swift-metrics: the process that hosts it chooses the backend (StrongroomMetrics
// bootstraps Prometheus). Without a backend every handle is swift-metrics' no-op.

extension ShareStore {
    /// Counts the operation by tier, operation and outcome, and records its latency.
    func recordOperationMetrics(_ event: AuditEvent, outcome: AuditOutcome, duration: Duration) {
        let handles = StoreMetrics.operation(tier: tier.name, operation: event.operation.rawValue, outcome: outcome.metricLabel)
        handles.count.increment()
        handles.latency.recordNanoseconds(duration.nanoseconds)
    }

    /// `progress` extended, when a metrics backend is bootstrapped, to set the rotation gauges
    /// (`strongroom_rotation_versions_done` / `_total` / `_rewrapped`, by tier and vault). A handler makes the rotation
    /// count the share versions first (one more listing per share): with metrics on, someone watches.
    func rotationProgressWithMetrics(
        _ progress: (@Sendable (RotationProgress) -> Void)?
    ) -> (@Sendable (RotationProgress) -> Void)? {
        guard StoreMetrics.backendBootstrapped else { return progress }
        // By vault too: a host with several vaults shows which one is rotating.
        let dimensions = [("tier", tier.name), ("vault", vaultID.hex)]
        let done = Gauge(label: StoreMetrics.rotationDone, dimensions: dimensions)
        let total = Gauge(label: StoreMetrics.rotationTotal, dimensions: dimensions)
        let rewrapped = Gauge(label: StoreMetrics.rotationRewrapped, dimensions: dimensions)
        done.record(0)
        rewrapped.record(0)
        return { event in
            total.record(event.total)
            done.record(event.done)
            rewrapped.record(event.rewrapped)
            progress?(event)
        }
    }
}

extension AuditOutcome {
    /// The `outcome` label: `ok`, or the error code's name (`shareNotFound`, `auditUnavailable`…).
    var metricLabel: String {
        switch self {
        case .ok: "ok"
        case .error(let code, _): code
        }
    }
}

extension Duration {
    /// Whole nanoseconds (saturating), for swift-metrics timers.
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (whole, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        return overflow ? (seconds < 0 ? .min : .max) : whole &+ attoseconds / 1_000_000_000
    }
}

/// The store's metric names and its handle cache.
///
/// Making a swift-metrics handle asks the backend (Prometheus: a registry lock and a dictionary
/// lookup), so the hot path makes each label set's handles once and keeps them. Handles are cached
/// only once a real backend is bootstrapped: one made before would stay a no-op for ever.
enum StoreMetrics {
    static let operations = "strongroom_operations_total"
    static let operationDuration = "strongroom_operation_duration_seconds"
    static let rotationDone = "strongroom_rotation_versions_done"
    static let rotationTotal = "strongroom_rotation_versions_total"
    static let rotationRewrapped = "strongroom_rotation_versions_rewrapped"
    static let auditRecords = "strongroom_audit_records_total"
    static let auditFailures = "strongroom_audit_write_failures_total"
    static let auditWriteDuration = "strongroom_audit_write_duration_seconds"

    /// Whether swift-metrics has a backend other than its no-op one.
    static var backendBootstrapped: Bool { !(MetricsSystem.factory is NOOPMetricsHandler) }

    struct OperationKey: Hashable {
        var tier: String
        var operation: String
        var outcome: String
    }

    struct OperationHandles: @unchecked Sendable {
        // @unchecked: swift-metrics' Counter and Timer are immutable classes over Sendable handlers
        // (CoreMetrics marks them `@unchecked Sendable` itself); nothing here is mutated.
        let count: Counter
        let latency: Timer
    }

    struct AuditHandles: @unchecked Sendable {
        // @unchecked: as OperationHandles.
        let records: Counter
        let failures: Counter
        let durableLatency: Timer
        let bufferedLatency: Timer
    }

    private static let operationCache = Mutex<[OperationKey: OperationHandles]>([:])
    private static let auditCache = Mutex<[String: AuditHandles]>([:])

    static func operation(tier: String, operation: String, outcome: String) -> OperationHandles {
        let key = OperationKey(tier: tier, operation: operation, outcome: outcome)
        if let cached = operationCache.withLock({ $0[key] }) { return cached }
        let dimensions = [("tier", tier), ("operation", operation), ("outcome", outcome)]
        let handles = OperationHandles(
            count: Counter(label: operations, dimensions: dimensions),
            latency: Timer(label: operationDuration, dimensions: dimensions))
        guard backendBootstrapped else { return handles }
        return operationCache.withLock { cache in
            if let raced = cache[key] { return raced }
            cache[key] = handles
            return handles
        }
    }

    static func audit(tier: String) -> AuditHandles {
        if let cached = auditCache.withLock({ $0[tier] }) { return cached }
        let handles = AuditHandles(
            records: Counter(label: auditRecords, dimensions: [("tier", tier)]),
            failures: Counter(label: auditFailures, dimensions: [("tier", tier)]),
            durableLatency: Timer(
                label: auditWriteDuration, dimensions: [("tier", tier), ("durable", "true")]),
            bufferedLatency: Timer(
                label: auditWriteDuration, dimensions: [("tier", tier), ("durable", "false")]))
        guard backendBootstrapped else { return handles }
        return auditCache.withLock { cache in
            if let raced = cache[tier] { return raced }
            cache[tier] = handles
            return handles
        }
    }
}

/// An ``AuditSink`` that counts what its sink appends (`strongroom_audit_records_total`: record
/// lines, including checkpoints), the appends that failed (`strongroom_audit_write_failures_total`)
/// and how long appends take (`strongroom_audit_write_duration_seconds`, by `durable`), then
/// forwards everything to the sink. ``ShareStore`` puts it around ``BlobStore/makeAuditSink()``.
final class MeteredAuditSink: AuditSink {
    let base: any AuditSink
    let tier: String

    init(_ base: any AuditSink, tier: String) {
        self.base = base
        self.tier = tier
    }

    var location: String { base.location }

    func append(durable: Bool, _ make: @Sendable (AuditTail) async throws -> [UInt8]) async throws -> AuditTail {
        let handles = StoreMetrics.audit(tier: tier)
        let lines = Locked(0)
        let started = ContinuousClock.now
        do {
            let tail = try await base.append(durable: durable) { tail in
                let bytes = try await make(tail)
                var count = 0
                for byte in bytes where byte == UInt8(ascii: "\n") { count += 1 }
                lines.withLock { $0 = count }  // the lines of the attempt that was written (S3 may retry)
                return bytes
            }
            (durable ? handles.durableLatency : handles.bufferedLatency).recordNanoseconds((ContinuousClock.now - started).nanoseconds)
            handles.records.increment(by: lines.withLock { $0 })
            return tail
        } catch {
            handles.failures.increment()
            throw error
        }
    }

    func sync() async throws {
        do {
            try await base.sync()
        } catch {
            StoreMetrics.audit(tier: tier).failures.increment()
            throw error
        }
    }

    func checkWritable() async throws {
        do {
            try await base.checkWritable()
        } catch {
            StoreMetrics.audit(tier: tier).failures.increment()
            throw error
        }
    }

    func read(_ body: ([UInt8]) async throws -> Void) async throws {
        try await base.read(body)
    }
}
