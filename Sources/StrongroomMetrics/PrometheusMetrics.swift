import CoreMetrics
import Prometheus
import Synchronization

/// The Prometheus backend of swift-metrics for a process that hosts a store (the CLI's
/// `bench --metrics`, a server): one registry per process, bootstrapped as the `MetricsSystem`
/// backend, rendered in the Prometheus text exposition format (docs/metrics.md lists the metrics).
///
/// `MetricsSystem` can be bootstrapped once per process, so ``bootstrap()`` is idempotent: the first
/// call installs the registry and every later call returns the same one. A process that bootstrapped
/// another backend itself cannot use this type (``bootstrap()`` would crash in swift-metrics).
public final class PrometheusMetrics: Sendable {
    /// The registry that holds every metric made through swift-metrics in this process.
    public let registry: PrometheusCollectorRegistry

    private static let shared = Mutex<PrometheusMetrics?>(nil)

    private init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
    }

    /// Installs a Prometheus registry as the process's `MetricsSystem` backend (on the first call) and
    /// returns it. Call it before the first store is opened: metric handles are cached once a real
    /// backend is in place, and operations before it are not counted.
    public static func bootstrap() -> PrometheusMetrics {
        shared.withLock { shared in
            if let shared { return shared }
            let registry = PrometheusCollectorRegistry()
            var factory = PrometheusMetricsFactory(registry: registry)
            factory.durationHistogramBuckets = durationBuckets
            MetricsSystem.bootstrap(factory)
            let metrics = PrometheusMetrics(registry: registry)
            shared = metrics
            return metrics
        }
    }

    /// The process's registry if ``bootstrap()`` has run, else nil.
    public static var bootstrapped: PrometheusMetrics? { shared.withLock { $0 } }

    /// Every metric in the Prometheus text exposition format (version 0.0.4), as an HTTP `/metrics`
    /// endpoint serves it (content type `text/plain; version=0.0.4`).
    public func exposition() -> String {
        registry.emitToString()
    }

    /// The content type of ``exposition()``.
    public static let contentType = "text/plain; version=0.0.4; charset=utf-8"

    /// Histogram buckets of the store's timers: store operations take from tens of microseconds
    /// (tier 1 load) to seconds (a KMS call over a slow link), and pool waits and retries as long.
    static let latencyBuckets: [Duration] = [
        .microseconds(50), .microseconds(100), .microseconds(250), .microseconds(500),
        .milliseconds(1), .milliseconds(2.5), .milliseconds(5), .milliseconds(10), .milliseconds(25),
        .milliseconds(50), .milliseconds(100), .milliseconds(250), .milliseconds(500),
        .seconds(1), .seconds(2.5), .seconds(5), .seconds(10), .seconds(30),
    ]

    static let durationBuckets: [String: [Duration]] = [
        "strongroom_operation_duration_seconds": latencyBuckets,
        "strongroom_hsm_session_wait_seconds": latencyBuckets,
        "strongroom_aws_retry_delay_seconds": latencyBuckets,
        "strongroom_audit_write_duration_seconds": latencyBuckets,
    ]
}
