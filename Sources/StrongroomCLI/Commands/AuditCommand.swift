import ArgumentParser
import Foundation
import SecureCrypto
import Strongroom
import StrongroomServer

/// `strongroom audit verify|show`: checking and reading the vault's tamper-evident audit log
/// (docs/audit.md, docs/operations.md "Auditing").
struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit", abstract: "Verify or read the vault's tamper-evident audit log.",
        subcommands: [AuditVerifyCommand.self, AuditShowCommand.self])
}

struct AuditVerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Verify the audit log: its hash chain, every checkpoint's MAC, and the checkpoint vault.json names.",
        discussion: """
            Prints a summary and exits 0 when the log verifies. A torn last record (an append a crash cut \
            short) is not tampering: it is reported as a warning, and the next write cuts it off and records \
            that it did. A changed, deleted, inserted, reordered or truncated record, a bad MAC or a log \
            rolled back behind the checkpoint in vault.json exits 65, naming the first bad record; nothing \
            is then written to the log. A verify that passes is itself recorded (`audit.verify`).
            """)

    @OptionGroup var options: GlobalOptions

    @Flag(name: .long, help: "Print the summary as one JSON object.")
    var json = false

    func run() async throws {
        try await Terminal.run {
            let store = try await options.openVault(logger: options.makeLogger())
            let result = try await store.verifyAndRecordAudit()
            if json {
                printJSON(result)
            } else {
                printText(result)
            }
            if let warning = VaultDocuments.tornTailWarning(result) {
                Terminal.note("strongroom: warning: \(warning)")
            }
        }
    }

    private func printText(_ result: AuditVerification) {
        print("audit log verified: \(result.location)")
        print("records:          \(result.records) (last seq \(result.tail.seq), hash \(Hex.encode(result.tail.hash)))")
        print("checkpoints:      \(result.checkpoints), every MAC valid")
        print("MAC key:          \(result.macKey ?? "none (this tier has no MAC key; the chain alone is checked)")")
        if let checkpoint = result.stateCheckpoint {
            print("vault.json:       checkpoint seq \(checkpoint.seq) (\(Terminal.isoDate(checkpoint.at))), found in the log")
        } else {
            print("vault.json:       no checkpoint recorded")
        }
        print("after checkpoint: \(result.recordsAfterLastCheckpoint) record(s) not yet covered by a MAC")
        if result.tornTailBytes > 0 {
            print("torn tail:        \(result.tornTailBytes) byte(s) ignored (WARNING: a crash cut the last append short)")
        } else {
            print("torn tail:        none")
        }
    }

    private func printJSON(_ result: AuditVerification) {
        print(VaultDocuments.auditVerificationJSON(result))
    }
}

struct AuditShowCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "show",
        abstract: "Print the audit log's records, oldest first (reading does not verify: see `audit verify`).",
        discussion: """
            Text: one line per record: time (UTC), seq, actor (uid/pid/client), operation, share, versions \
            (v) and KEK versions (kek), outcome. --json prints each record's stored line as it is (JSON lines, \
            for a SIEM; docs/audit.md gives the format). --since takes an ISO 8601 time \
            (2026-12-01T10:00:00Z, or a date: 2026-12-01, UTC midnight) or an age: 90s, 15m, 2h, 7d. \
            --op frost matches every frost.* operation.
            """)

    @OptionGroup var options: GlobalOptions

    @Option(name: .long, help: ArgumentHelp("Only records of this share (or record) id.", valueName: "id"))
    var share: String?

    @Option(name: .long, help: ArgumentHelp("Only this operation, or a group of them (frost: frost.*).", valueName: "op"))
    var op: String?

    @Option(name: .long, help: ArgumentHelp("Only records written since this time or age (2026-12-01T10:00:00Z, 2026-12-01, 90s, 15m, 2h, 7d).", valueName: "time"))
    var since: String?

    @Flag(name: .long, help: "Print the stored JSON lines.")
    var json = false

    func validate() throws {
        if let since, AuditShowCommand.parseSince(since, now: Date()) == nil {
            throw ValidationError(
                "--since takes an ISO 8601 time (2026-12-01T10:00:00Z), a date (2026-12-01) or an age (90s, 15m, 2h, 7d), got '\(since)'")
        }
        if let op, !VaultDocuments.isOperationFilter(op) {
            throw ValidationError("--op takes an operation name (store, load, frost, frost.sign ...), got '\(op)'")
        }
    }

    func run() async throws {
        try await Terminal.run {
            let filter = AuditFilter(
                shareID: try share.map { try ShareID($0) }, operation: op,
                since: since.flatMap { AuditShowCommand.parseSince($0, now: Date()) })
            let store = try await options.openVault(logger: options.makeLogger())
            Terminal.note("note: `audit show` prints the log as it is and does not verify it; run `strongroom audit verify` to check it has not been tampered with")
            var shown = 0
            try await store.auditRecords(filter) { record in
                shown += 1
                print(json ? record.line : AuditShowCommand.textLine(record))
            }
            if !json && shown == 0 { Terminal.note("no matching records") }
        }
    }

    /// One aligned line: time, seq, actor, operation, share, versions, KEK versions, outcome.
    static func textLine(_ record: AuditRecord) -> String {
        func pad(_ text: String, _ width: Int) -> String {
            text.count >= width ? text : text.padding(toLength: width, withPad: " ", startingAt: 0)
        }
        let seq = String(record.seq)
        let actor = "\(record.actor.uid)/\(record.actor.pid)/\(record.actor.client ?? "-")"
        let versions = record.event.versions.isEmpty ? "-" : "v" + record.event.versions.map(String.init).joined(separator: ",")
        let kek = record.event.kekVersions.isEmpty ? "-" : "kek" + record.event.kekVersions.map(String.init).joined(separator: ",")
        let outcome: String =
            switch record.outcome {
            case .ok: "ok"
            case .error(let code, let status): "error: \(code) (\(status))"
            }
        return record.time + "  " + String(repeating: " ", count: max(0, 6 - seq.count)) + seq + "  " + pad(actor, 18) + "  "
            + pad(record.event.operation.rawValue, 21) + "  " + pad(record.event.shareID?.rawValue ?? "-", 24) + "  "
            + pad(versions, 8) + "  " + pad(kek, 6) + "  " + outcome
    }

    /// `--since`: an ISO 8601 time (fraction optional, `Z` or an offset), a date (UTC midnight), or an
    /// age (`90s`, `15m`, `2h`, `7d`) before `now`. Nil when it is none of these.
    static func parseSince(_ text: String, now: Date) -> Date? {
        VaultDocuments.parseSince(text, now: now)
    }
}
