// CONTRACT (issue 15, lane "metrics"): swift-metrics for every store operation.

extension ShareStore {
    /// Counts the operation by tier, operation and outcome, and records its latency.
    func recordOperationMetrics(_ event: AuditEvent, outcome: AuditOutcome, duration: Duration) {
        // lane metrics
    }
}
