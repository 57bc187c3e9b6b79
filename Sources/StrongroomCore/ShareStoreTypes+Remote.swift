/// Public factories of the store's result types, for a client that rebuilds them from a server's
/// answers (the CLI's `--server`) so that it prints them exactly as it prints local results. (Factories,
/// not initialisers: the types' own memberwise initialisers, internal, have the same labels.)

extension ShareSummary {
    /// A share's summary as a server reported it.
    public static func reported(id: ShareID, latestVersion: UInt64, versionCount: Int) -> ShareSummary {
        ShareSummary(id: id, latestVersion: latestVersion, versionCount: versionCount)
    }
}

extension ShareVersionInfo {
    /// A stored version as a server reported it.
    public static func reported(
        version: UInt64, kekVersion: UInt32, createdAt: UInt64, metadata: [String: String], blobSize: Int,
        problem: String?
    ) -> ShareVersionInfo {
        ShareVersionInfo(
            version: version, kekVersion: kekVersion, createdAt: createdAt, metadata: metadata, blobSize: blobSize,
            problem: problem)
    }
}

extension RotationProgress {
    /// Rotation progress as a server reported it.
    public static func reported(done: Int, total: Int, rewrapped: Int, alreadyCurrent: Int, failed: Int) -> RotationProgress {
        RotationProgress(done: done, total: total, rewrapped: rewrapped, alreadyCurrent: alreadyCurrent, failed: failed)
    }
}

extension RotationReport {
    /// A rotation report as a server reported it.
    public static func reported(
        fromVersions: [UInt32], targetVersion: UInt32, resumed: Bool, dryRun: Bool, rewrapped: Int,
        alreadyCurrent: Int, failures: [String], failedCount: Int
    ) -> RotationReport {
        var report = RotationReport(
            fromVersions: fromVersions, targetVersion: targetVersion, resumed: resumed, dryRun: dryRun,
            rewrapped: rewrapped, alreadyCurrent: alreadyCurrent, failures: failures)
        report.failedCount = failedCount
        return report
    }
}

extension VaultStatus {
    /// A vault's status as a server reported it; the other facts keep their defaults until set.
    public static func reported(
        vaultID: VaultID, tier: Tier, kekID: String, currentKEKVersion: UInt32, oldestActiveKEKVersion: UInt32,
        pendingRotationTarget: UInt32?, shareCount: Int, versionCount: Int, versionsPerKEKVersion: [UInt32: Int],
        unreadableBlobs: Int
    ) -> VaultStatus {
        VaultStatus(
            vaultID: vaultID, tier: tier, kekID: kekID, currentKEKVersion: currentKEKVersion,
            oldestActiveKEKVersion: oldestActiveKEKVersion, pendingRotationTarget: pendingRotationTarget,
            shareCount: shareCount, versionCount: versionCount, versionsPerKEKVersion: versionsPerKEKVersion,
            unreadableBlobs: unreadableBlobs)
    }
}

extension AuditRecord {
    /// Parses one stored audit record line (docs/audit.md); nil when it is not one. Nothing is verified.
    public init?(line: String) {
        guard let record = AuditLog.parse(Array(line.utf8)) else { return nil }
        self = record
    }
}
