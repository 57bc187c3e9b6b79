import Logging
import SecureCrypto

/// A vault's audit log: writes hash-chained records to its ``AuditSink``, MAC checkpoints with the
/// tier's ``AuditMACKey`` (also kept in `vault.json`), and verifies and reads the log
/// (docs/audit.md). One per ``ShareStore``; shared by its tasks.
///
/// CONTRACT (issue 15, lane "core"): the lane fills in every body below; the signatures stay.
public final class AuditLog: Sendable {
    /// Where records go.
    public let sink: any AuditSink
    let keyring: any Keyring
    let vaultID: VaultID
    let tier: Tier
    let logger: Logger
    let settingsBox = Locked<AuditSettings>(.standard)

    init(sink: any AuditSink, keyring: any Keyring, vaultID: VaultID, tier: Tier, logger: Logger) {
        self.sink = sink
        self.keyring = keyring
        self.vaultID = vaultID
        self.tier = tier
        self.logger = logger
    }

    /// The settings in force.
    public var settings: AuditSettings { settingsBox.withLock { $0 } }

    /// Writes the record of `event` with `outcome`. `durable`: wait until it is on stable storage
    /// (mutations); reads are made durable within the sink's bound. Throws when the record could not be
    /// written; the caller applies the mode (``ShareStore/audited(_:_:)``).
    func write(_ event: AuditEvent, outcome: AuditOutcome, durable: Bool) async throws {
        // lane core
    }
}
