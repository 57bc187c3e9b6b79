import AWSClient
import Foundation
import SecureCrypto
import StrongroomMetrics
import Testing
import Strongroom
@testable import StrongroomCore
@testable import StrongroomLocal

/// The store's swift-metrics through the real Prometheus backend (docs/metrics.md).
///
/// `MetricsSystem` can be bootstrapped once per process, and the other suites of this process run
/// beside these tests (also on tier 1), so every test bootstraps through the idempotent
/// ``PrometheusMetrics/bootstrap()`` and asserts on differences between two expositions: counters
/// of label sets other tests also use grow by at least what this test did; gauges carry the vault.
@Suite struct MetricsTests {
    @Test func storeLoadEraseAndAFailedLoadAreCountedByTierOperationAndOutcome() async throws {
        let metrics = PrometheusMetrics.bootstrap()
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let settings = StrongroomConfiguration.Local(path: "\(directory.path)/vault")
        _ = try await LocalVault.initialise(settings, logger: quietLogger)
        let store = try await LocalVault.open(settings, logger: quietLogger)
        let before = Exposition(metrics.exposition())

        let share = try id("metrics-share")
        _ = try await store.store(share, secret("one"))
        _ = try await store.store(share, secret("two"))
        _ = try await store.store(try id("metrics-other"), secret("three"))
        #expect(text(try await store.load(share)) == "two")
        #expect(text(try await store.load(share, version: 1)) == "one")
        #expect(try await store.erase(share) == 2)
        let missing = await #expect(throws: StrongroomError.self) { try await store.load(share) }
        #expect(missing?.code == .shareNotFound)

        let after = Exposition(metrics.exposition())
        func grew(_ operation: String, _ outcome: String, by expected: Double) {
            let labels = ["tier": "local", "operation": operation, "outcome": outcome]
            let counted = after.value("strongroom_operations_total", labels) - before.value("strongroom_operations_total", labels)
            let timed = after.value("strongroom_operation_duration_seconds_count", labels)
                - before.value("strongroom_operation_duration_seconds_count", labels)
            #expect(counted >= expected, "\(operation) \(outcome): counted \(counted), expected at least \(expected)")
            #expect(timed >= expected, "\(operation) \(outcome): \(timed) latencies, expected at least \(expected)")
        }
        grew("store", "ok", by: 3)
        grew("load", "ok", by: 2)
        grew("erase", "ok", by: 1)
        grew("load", StrongroomError.Code.shareNotFound.name, by: 1)
        // The families are declared with their Prometheus types, and the histogram has its buckets.
        #expect(after.types["strongroom_operations_total"] == "counter")
        #expect(after.types["strongroom_operation_duration_seconds"] == "histogram")
        let bucket = ["tier": "local", "operation": "load", "outcome": "ok", "le": "0.001"]
        #expect(after.samples.contains { $0.name == "strongroom_operation_duration_seconds_bucket" && $0.labels == bucket })
        // Audit records (fail-closed, the default) were written for each of the operations.
        let records = after.value("strongroom_audit_records_total", ["tier": "local"])
            - before.value("strongroom_audit_records_total", ["tier": "local"])
        #expect(records >= 7, "audit records written: \(records)")
    }

    @Test func rotationGaugesReachTheTotal() async throws {
        let metrics = PrometheusMetrics.bootstrap()
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let settings = StrongroomConfiguration.Local(path: "\(directory.path)/vault")
        let vaultID = try await LocalVault.initialise(settings, logger: quietLogger)
        let store = try await LocalVault.open(settings, logger: quietLogger)
        for index in 0..<5 { _ = try await store.store(try id("rotated-\(index % 3)"), secret("share \(index)")) }

        let seen = Locked<[RotationProgress]>([])
        let report = try await store.rotateWrappingKey(concurrency: 2) { event in seen.withLock { $0.append(event) } }
        #expect(report.rewrapped == 5)
        // The caller's own handler still gets every event.
        #expect(seen.withLock { $0.count } == 5)

        let labels = ["tier": "local", "vault": vaultID.hex]
        let exposition = Exposition(metrics.exposition())
        #expect(exposition.types["strongroom_rotation_versions_total"] == "gauge")
        #expect(exposition.value("strongroom_rotation_versions_total", labels) == 5)
        #expect(exposition.value("strongroom_rotation_versions_done", labels) == 5)
        #expect(exposition.value("strongroom_rotation_versions_rewrapped", labels) == 5)

        // Without a progress handler of its own the rotation still counts the versions for the gauges.
        _ = try await store.store(try id("rotated-new"), secret("six"))
        #expect(try await store.rotateWrappingKey().rewrapped == 6)
        let again = Exposition(metrics.exposition())
        #expect(again.value("strongroom_rotation_versions_total", labels) == 6)
        #expect(again.value("strongroom_rotation_versions_done", labels) == 6)
    }

    /// A request that cannot connect is retried as the policy says, and each retry is counted with
    /// its service, action and reason, and its pause recorded.
    @Test func s3RetriesAreCountedByServiceActionAndReason() async throws {
        let metrics = PrometheusMetrics.bootstrap()
        // Port 1 on loopback: nothing listens, every attempt is refused at once.
        let configuration = try S3Configuration(
            endpoint: try AWSEndpoint("http://127.0.0.1:1"), region: "us-east-1", bucket: "metrics-retries",
            credentials: AWSCredentials(accessKeyID: "AKIDMETRICSTEST", secretAccessKey: try secret("not a real secret key")),
            retry: RetryPolicy(maxAttempts: 3, baseDelay: .milliseconds(1), maximumDelay: .milliseconds(5)))
        let client = S3Client(configuration, logger: quietLogger)
        let labels = ["service": "s3", "action": "GetObject", "reason": "connection"]
        let before = Exposition(metrics.exposition())
        let error = await #expect(throws: AWSError.self) { _ = try await client.getObject("retried") }
        #expect(error?.attempts == 3)
        let after = Exposition(metrics.exposition())
        // Three attempts: two retries (other suites may add their own).
        #expect(after.value("strongroom_aws_retries_total", labels) - before.value("strongroom_aws_retries_total", labels) >= 2)
        let delays = after.value("strongroom_aws_retry_delay_seconds_count", ["service": "s3"])
            - before.value("strongroom_aws_retry_delay_seconds_count", ["service": "s3"])
        #expect(delays >= 2)
        #expect(after.types["strongroom_aws_retries_total"] == "counter")
    }
}

/// A Prometheus text exposition, parsed: samples (name, labels, value) and `# TYPE` lines.
struct Exposition {
    struct Sample {
        var name: String
        var labels: [String: String]
        var value: Double
    }

    var samples: [Sample] = []
    var types: [String: String] = [:]

    init(_ text: String) {
        for line in text.split(separator: "\n").map(String.init) {
            if line.hasPrefix("# TYPE ") {
                let parts = line.dropFirst(7).split(separator: " ")
                if parts.count == 2 { types[String(parts[0])] = String(parts[1]) }
                continue
            }
            guard !line.hasPrefix("#"), let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...])
            else { continue }
            let series = line[..<space]
            guard let brace = series.firstIndex(of: "{") else {
                samples.append(Sample(name: String(series), labels: [:], value: value))
                continue
            }
            var labels: [String: String] = [:]
            // name{a="x",b="y"}: label values here hold no `"`, `,` or `}`.
            for pair in series[series.index(after: brace)..<series.index(before: series.endIndex)].split(separator: ",") {
                let kv = pair.split(separator: "=", maxSplits: 1)
                guard kv.count == 2 else { continue }
                labels[String(kv[0])] = String(kv[1].dropFirst().dropLast())
            }
            samples.append(Sample(name: String(series[..<brace]), labels: labels, value: value))
        }
    }

    /// The value of the sample `name` with exactly `labels` (0 when there is none yet).
    func value(_ name: String, _ labels: [String: String]) -> Double {
        samples.first { $0.name == name && $0.labels == labels }?.value ?? 0
    }
}
