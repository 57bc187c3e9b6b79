import Foundation
import Testing

/// `strongroom bench --metrics` and `--audit-compare` through the real binary: one process per run, so
/// the exposition's counts are exactly what the bench did (docs/metrics.md, docs/benchmarks.md).
@Suite struct BenchMetricsCLITests {
    /// The value of the first sample named `name` whose labels include `labels` (nil when none).
    static func sample(_ exposition: String, _ name: String, _ labels: [String: String]) -> Double? {
        for line in exposition.split(separator: "\n") where line.hasPrefix(name + "{") || line.hasPrefix(name + " ") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            let series = line[..<space]
            if labels.allSatisfy({ series.contains("\($0.key)=\"\($0.value)\"") }) { return value }
        }
        return nil
    }

    @Test func benchMetricsPrintsThePrometheusExpositionWithExactCounts() throws {
        let cli = try CLI()
        defer { cli.cleanup() }
        let result = try cli.run([
            "bench", "--tier", "local", "--dir", "\(cli.directory)/bench", "--count", "20", "--load-count", "40",
            "--rotate-count", "30", "--metrics",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let out = result.stdout
        #expect(out.contains("store_durable") && out.contains("rotate"))
        for family in [
            "# TYPE strongroom_operations_total counter", "# TYPE strongroom_operation_duration_seconds histogram",
            "# TYPE strongroom_rotation_versions_done gauge", "# TYPE strongroom_rotation_versions_total gauge",
            "# TYPE strongroom_audit_records_total counter", "# TYPE strongroom_audit_write_duration_seconds histogram",
        ] {
            #expect(out.contains(family), "no '\(family)' in the output")
        }
        // 20 timed stores, the round-trip sample, 10 more before the rotation; 40 timed loads and two checks.
        let stores = ["tier": "local", "operation": "store", "outcome": "ok"]
        let loads = ["tier": "local", "operation": "load", "outcome": "ok"]
        #expect(Self.sample(out, "strongroom_operations_total", stores) == 31)
        #expect(Self.sample(out, "strongroom_operation_duration_seconds_count", stores) == 31)
        #expect(Self.sample(out, "strongroom_operations_total", loads) == 42)
        #expect(Self.sample(out, "strongroom_operation_duration_seconds_count", loads) == 42)
        // The latency histogram's +Inf bucket holds every load.
        #expect(Self.sample(out, "strongroom_operation_duration_seconds_bucket", loads.merging(["le": "+Inf"]) { $1 }) == 42)
        // The rotation rewrapped all 31 versions and the gauges say so.
        #expect(Self.sample(out, "strongroom_rotation_versions_total", ["tier": "local"]) == 31)
        #expect(Self.sample(out, "strongroom_rotation_versions_done", ["tier": "local"]) == 31)
        // Auditing is on by default: at least one record per store and load.
        #expect((Self.sample(out, "strongroom_audit_records_total", ["tier": "local"]) ?? 0) >= 73)
    }

    @Test func benchAuditCompareTimesBothVaultsAndRecordsOnlyTheAuditedOne() throws {
        let cli = try CLI()
        defer { cli.cleanup() }
        let result = try cli.run([
            "bench", "--tier", "local", "--dir", "\(cli.directory)/bench", "--count", "8", "--load-count", "16",
            "--audit-compare", "--metrics",
        ])
        #expect(result.status == 0, "\(result.stderr)")
        let out = result.stdout
        for op in ["store_durable_audit ", "store_durable_noaudit ", "load_audit ", "load_noaudit ", "audit_ratio "] {
            #expect(out.contains(op), "no \(op) line in:\n\(out)")
        }
        #expect(!out.contains("rotate"))
        // Both vaults: 8 stores and the sample each; 16 loads and the check each.
        #expect(Self.sample(out, "strongroom_operations_total", ["tier": "local", "operation": "store", "outcome": "ok"]) == 18)
        #expect(Self.sample(out, "strongroom_operations_total", ["tier": "local", "operation": "load", "outcome": "ok"]) == 34)
        // Only the audited vault wrote records: its 9 stores and 17 loads (and any checkpoints), not
        // the other vault's 26 operations.
        let records = Self.sample(out, "strongroom_audit_records_total", ["tier": "local"]) ?? 0
        #expect(records >= 26 && records < 52, "audit records: \(records)")

        let json = try cli.run([
            "bench", "--tier", "local", "--dir", "\(cli.directory)/bench-json", "--count", "4", "--load-count", "4",
            "--audit-compare", "--json",
        ])
        #expect(json.status == 0, "\(json.stderr)")
        let ratio = json.stdout.split(separator: "\n").first { $0.contains("\"op\":\"audit_ratio\"") }
        #expect(ratio?.contains("\"store_ratio\":") == true && ratio?.contains("\"load_ratio\":") == true, "\(json.stdout)")
    }

    @Test func auditCompareRefusesModesItDoesNotCombineWith() throws {
        let cli = try CLI()
        defer { cli.cleanup() }
        let result = try cli.run(["bench", "--audit-compare", "--recovery-key"])
        #expect(result.status == 64)
        #expect(result.stderr.contains("--audit-compare times store and load only"), "\(result.stderr)")
    }
}
