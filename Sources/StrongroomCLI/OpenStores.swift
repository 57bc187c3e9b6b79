import Foundation
import Logging
import Strongroom
import Synchronization

/// Every store this process opened, so that the command's end checkpoints each one's audit log
/// (docs/audit.md: "the CLI checkpoints before it exits"), whether the command succeeded or failed.
/// Commands open stores through ``open(configuration:logger:)`` (``GlobalOptions/openStore(logger:)``
/// does) and ``Terminal/run(_:)`` calls ``checkpointAll()`` when the body returns or throws.
enum OpenStores {
    private static let stores = Mutex<[ShareStore]>([])
    private static let checkpointed = Mutex<Set<ObjectIdentifier>>([])

    /// Opens a store and remembers it for the checkpoint at exit.
    static func open(configuration: StrongroomConfiguration, logger: Logger) async throws -> ShareStore {
        let store = try await ShareStore.open(configuration: configuration, logger: logger)
        stores.withLock { $0.append(store) }
        return store
    }

    /// Leaves `store` out of the checkpoint at exit (its audit log failed verification: nothing is
    /// appended to it).
    static func forget(_ store: ShareStore) {
        _ = checkpointed.withLock { $0.insert(ObjectIdentifier(store)) }
    }

    /// Checkpoints the audit log of every store opened and not yet checkpointed (each once). Returns
    /// the first failure of a fail-closed store; best-effort stores only get a warning.
    ///
    /// The stores stay referenced until the process exits: a store released here would close its
    /// PKCS#11 sessions from whichever thread dropped it last, which can race the module's own
    /// teardown at exit (SoftHSM crashed so, once in a few runs of the HSM suite).
    static func checkpointAll() async -> StrongroomError? {
        let opened = stores.withLock { stores in
            let pending = stores.filter { store in !checkpointed.withLock { $0.contains(ObjectIdentifier(store)) } }
            checkpointed.withLock { done in for store in pending { done.insert(ObjectIdentifier(store)) } }
            return pending
        }
        var seen = Set<ObjectIdentifier>()
        var failure: StrongroomError?
        for store in opened where seen.insert(ObjectIdentifier(store)).inserted {
            guard store.auditSettings.mode != .off else { continue }
            do {
                try await store.checkpointAudit()
            } catch {
                let described = (error as? StrongroomError) ?? StrongroomError(.io, "\(error)")
                if store.auditSettings.mode == .failClosed {
                    failure = failure ?? described
                } else {
                    Terminal.note("strongroom: warning: the audit checkpoint of \(store.tier) vault \(store.vaultID) was not written (audit.mode best-effort): \(described)")
                }
            }
        }
        return failure
    }
}
