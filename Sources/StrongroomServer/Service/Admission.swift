import GRPCCore
import Logging
import StrongroomCore

/// A request the service let in: who asked, the policy rule that allowed it, and the policy it was
/// decided under (List filters with the same one).
struct Admission: Sendable {
    let identity: PeerIdentity
    let rule: String?
    let policy: AccessPolicy

    /// Runs `body` as this caller: the store's records of what `body` does name the identity as the
    /// client and the rule as their `policy` detail.
    func run<T: Sendable>(_ body: () async throws -> T) async throws -> T {
        try await AuditContext.$client.withValue(identity.description) {
            try await AuditContext.$policyRule.withValue(rule) {
                try await body()
            }
        }
    }

    /// Runs `body` as this caller in a task of its own that a cancelled request does not cancel: a
    /// store, an erase or a rotation that began runs to its end (acknowledged or not), so a client that
    /// goes away mid-request leaves the vault as a finished operation leaves it, never half-changed.
    /// (gRPC itself does not cancel handler tasks; this also covers a server shutting down its tasks.)
    func runToCompletion<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let identity = identity.description
        let rule = rule
        let task = Task {
            try await AuditContext.$client.withValue(identity) {
                try await AuditContext.$policyRule.withValue(rule) {
                    try await body()
                }
            }
        }
        return try await task.value
    }
}

extension VaultService {
    /// Decides whether a request gets in, in the order docs/server.md "API" gives: an identity
    /// (UNAUTHENTICATED without), not draining (UNAVAILABLE), unsealed unless `whileSealed`
    /// (FAILED_PRECONDITION), and the policy (PERMISSION_DENIED, recorded as `access.denied` when the
    /// vault's audit log is open).
    func admit(
        _ operation: PolicyOperation, shareID: ShareID?, metadata: Metadata, context: ServerContext,
        whileSealed: Bool = false
    ) async throws(RPCError) -> Admission {
        guard let identity = PeerIdentity.of(metadata: metadata, context: context) else {
            await recordDenial(nil, operation, shareID, reason: "no identity")
            logger.notice("request refused: no identity", metadata: ["rpc.operation": "\(operation.rawValue)"])
            throw ServiceErrors.unauthenticated(operation)
        }
        if runtime.draining {
            throw ServiceErrors.rpcError(StrongroomError(
                .draining, "the server is shutting down and takes no new requests; retry against the restarted server"))
        }
        if !whileSealed && host.sealStatus.sealed {
            throw ServiceErrors.rpcError(StrongroomError(
                .sealed, "the vault is sealed: unseal it with `strongroom unseal --server …`"))
        }
        let policy = self.policy.current
        let decision = policy.decide(identity, operation, shareID: shareID?.rawValue)
        guard decision.allowed else {
            await recordDenial(identity, operation, shareID, reason: decision.reason)
            throw ServiceErrors.rpcError(StrongroomError(.accessDenied, Self.denial(identity, operation, shareID, decision)))
        }
        return Admission(identity: identity, rule: decision.rule, policy: policy)
    }

    /// The refusal's message: identity, operation, share and the policy's (secret-free) reason.
    static func denial(_ identity: PeerIdentity, _ operation: PolicyOperation, _ shareID: ShareID?, _ decision: PolicyDecision) -> String {
        let what = shareID.map { "\(operation.rawValue) share \(ShareID.quoted($0.rawValue))" } ?? operation.rawValue
        return "\(identity) may not \(what): \(decision.reason)"
    }

    /// Writes the `access.denied` record of a refused request, when the vault (and so its audit log) is
    /// open. A record that cannot be written is logged; the caller is refused either way.
    func recordDenial(_ identity: PeerIdentity?, _ operation: PolicyOperation, _ shareID: ShareID?, reason: String) async {
        var metadata: Logger.Metadata = [
            "rpc.operation": "\(operation.rawValue)", "client": "\(identity?.description ?? "unidentified")",
        ]
        if let shareID { metadata["share.id"] = "\(shareID)" }
        logger.notice("request refused by the access policy", metadata: metadata)
        guard let store = try? host.store() else { return }
        let event = AuditEvent(.accessDenied, shareID: shareID, details: ["operation": operation.rawValue, "reason": reason])
        let code = StrongroomError.Code.accessDenied
        do {
            try await AuditContext.$client.withValue(identity?.description ?? "unidentified") {
                try await store.recordAudit(event, outcome: .error(code: code.name, exitStatus: code.exitStatus), durable: false)
            }
        } catch {
            logger.error("could not record a refused request in the audit log", metadata: metadata.merging(["error": "\(error)"]) { $1 })
        }
    }
}
