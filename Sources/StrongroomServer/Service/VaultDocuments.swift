import Foundation
import SecureCrypto
import StrongroomCore

/// The documents and summary lines the CLI prints and the service sends, written in one place so that a
/// command run locally and the same command run through a server (`--server`) say the same thing.
public enum VaultDocuments {
    /// `strongroom status --json`: the vault's status as one JSON object (sorted keys, indented).
    public static func statusJSON(_ status: VaultStatus) throws -> String {
        var object: [String: Any] = [
            "vaultID": status.vaultID.hex, "tier": status.tier.name, "kekID": status.kekID,
            "currentKEKVersion": status.currentKEKVersion, "oldestActiveKEKVersion": status.oldestActiveKEKVersion,
            "shareCount": status.shareCount, "versionCount": status.versionCount,
            "versionsPerKEKVersion": Dictionary(
                uniqueKeysWithValues: status.versionsPerKEKVersion.map { (String($0.key), $0.value) }),
            "unreadableBlobs": status.unreadableBlobs, "problems": status.problems,
            "recoveryKeyFingerprint": status.recoveryFingerprint ?? NSNull(),
            "pendingRecoveryKeyFingerprint": status.pendingRecoveryFingerprint ?? NSNull(),
            "versionsWithoutRecovery": status.versionsWithoutRecovery,
        ]
        object["pendingRotationTarget"] = status.pendingRotationTarget ?? NSNull()
        object["audit"] = [
            "mode": status.auditMode.rawValue, "location": status.auditLocation, "records": status.auditRecordCount,
            "macKey": status.auditMACKey ?? NSNull(),
            "checkpoint": status.auditCheckpoint.map { ["seq": $0.seq, "hash": $0.hash, "at": $0.at] as [String: Any] }
                ?? NSNull(),
        ] as [String: Any]
        let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys, .prettyPrinted])
        return String(decoding: data, as: UTF8.self)
    }

    /// `strongroom audit verify --json`: a verified log's summary as one JSON object on one line.
    public static func auditVerificationJSON(_ result: AuditVerification) -> String {
        var object: [String: Any] = [
            "verified": true, "location": result.location, "records": result.records, "checkpoints": result.checkpoints,
            "tailSeq": result.tail.seq, "tailHash": Hex.encode(result.tail.hash),
            "recordsAfterLastCheckpoint": result.recordsAfterLastCheckpoint, "macKey": result.macKey ?? NSNull(),
            "tornTailBytes": result.tornTailBytes,
        ]
        if let checkpoint = result.stateCheckpoint {
            object["stateCheckpoint"] = ["seq": checkpoint.seq, "hash": checkpoint.hash, "mac": checkpoint.mac, "at": checkpoint.at]
        } else {
            object["stateCheckpoint"] = NSNull()
        }
        let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
        return String(decoding: data, as: UTF8.self)
    }

    /// The `audit.verify` record a verification that passed writes (the CLI's and the server's).
    public static func auditVerifyEvent(_ result: AuditVerification) -> AuditEvent {
        AuditEvent(
            .auditVerify,
            details: [
                "records": "\(result.records)", "checkpoints": "\(result.checkpoints)",
                "tornTailBytes": "\(result.tornTailBytes)",
            ])
    }

    /// The warning a verified log with a torn last record gets (not tampering), or nil.
    public static func tornTailWarning(_ result: AuditVerification) -> String? {
        guard result.tornTailBytes > 0 else { return nil }
        return "the audit log ends in a torn record (\(result.tornTailBytes) bytes after the last newline): a crash cut an append short. It is not tampering and was ignored; the next write cuts it off and records an audit.torn-tail record"
    }

    /// `audit show --since`: an ISO 8601 time (fraction optional, `Z` or an offset), a date (UTC
    /// midnight), or an age (`90s`, `15m`, `2h`, `7d`) before `now`. Nil when it is none of these.
    public static func parseSince(_ text: String, now: Date) -> Date? {
        if let unit = text.last, let count = UInt64(text.dropLast()), count <= 100 * 365 * 86400 {
            let seconds: UInt64? =
                switch unit {
                case "s": count
                case "m": count * 60
                case "h": count * 3600
                case "d": count * 86400
                default: nil
                }
            if let seconds { return now.addingTimeInterval(-TimeInterval(seconds)) }
        }
        let full = ISO8601DateFormatter()
        if let date = full.date(from: text) { return date }
        let fractional = ISO8601DateFormatter()
        fractional.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = fractional.date(from: text) { return date }
        let day = ISO8601DateFormatter()
        day.formatOptions = [.withFullDate]
        day.timeZone = TimeZone(identifier: "UTC")
        if text.count == 10, let date = day.date(from: text) { return date }
        return nil
    }

    /// Whether `text` is an operation name `audit show --op` accepts (lower case letters, digits, `.`, `-`).
    public static func isOperationFilter(_ text: String) -> Bool {
        !text.isEmpty && text.allSatisfy { $0.isLowercase || $0.isNumber || $0 == "." || $0 == "-" }
    }

    /// The summary `strongroom recovery enrol` prints for `report` (one string per line).
    public static func recoveryEnrolmentSummary(_ report: RecoveryEnrolmentReport, fingerprint: String) -> [String] {
        if report.dryRun {
            return [
                "dry run: \(report.resealed) share version(s) and record(s) would be sealed to recovery key \(fingerprint); \(report.alreadyEnrolled) already are; nothing changed"
            ]
        }
        var lines = [
            "enrolled recovery key \(fingerprint)\(report.resumed ? " (resumed)" : "")",
            "  \(report.resealed) share version(s) and record(s) re-sealed, \(report.alreadyEnrolled) already sealed to it",
        ]
        if let replaced = report.replacedFingerprint { lines.append("  replaced recovery key \(replaced)") }
        if report.tornBlobCount > 0 {
            lines.append("  \(report.tornBlobCount) blob(s) skipped: not envelopes (torn or foreign files)")
            lines += report.tornBlobs.map { "    \($0)" }
        }
        return lines
    }

    /// The summary `strongroom migrate` prints for `report` (one string per line); `seconds` is how
    /// long the run took.
    public static func migrationSummary(_ report: MigrationReport, seconds: Double, eraseSource: Bool) -> [String] {
        let found = "\(report.shares) share(s), \(report.versions) version(s), \(report.records) record(s)"
        if report.dryRun {
            var lines = [
                "dry run: vault \(report.sourceVaultID) holds \(found); \(report.copied) would be copied to vault \(report.destinationVaultID), \(report.alreadyPresent) already there; nothing written"
            ]
            lines += report.planned.map { "  would copy \($0)" }
            if report.copied > report.planned.count { lines.append("  ... and \(report.copied - report.planned.count) more") }
            return lines
        }
        var lines = [
            "migrated vault \(report.sourceVaultID) to vault \(report.destinationVaultID)\(report.resumed ? " (resumed)" : ""): \(found)",
            "  copied \(report.copied) (\(report.caughtInFinalPass) in the final pass), already present \(report.alreadyPresent), verified \(report.verified), in \(String(format: "%.2f", seconds)) s",
        ]
        if eraseSource {
            lines.append(
                "  erased from the source: \(report.erasedShares) share(s), \(report.erasedVersions) version(s), \(report.erasedRecords) record(s)")
        }
        return lines
    }
}
