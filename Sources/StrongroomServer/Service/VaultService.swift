import GRPCCore
import Logging
import StrongroomCore
import StrongroomProto

/// The `strongroom.v1.Vault` service over one vault.
///
/// SKELETON (lane srv-api replaces this file, keeping the initialiser): every RPC is unimplemented.
/// The real one implements `Strongroom_V1_Vault.ServiceProtocol` (which gives the request metadata,
/// where the caller's uid arrives) and checks every request against the policy.
public struct VaultService: Strongroom_V1_Vault.SimpleServiceProtocol {
    let host: VaultHost
    let policy: PolicyHolder
    let runtime: ServerRuntime
    let logger: Logger

    public init(host: VaultHost, policy: PolicyHolder, runtime: ServerRuntime, logger: Logger) {
        self.host = host
        self.policy = policy
        self.runtime = runtime
        self.logger = logger
    }

    private func unimplemented() -> RPCError { RPCError(code: .unimplemented, message: "not yet") }

    public func store(request: Strongroom_V1_StoreRequest, context: ServerContext) async throws -> Strongroom_V1_StoreResponse { throw unimplemented() }
    public func load(request: Strongroom_V1_LoadRequest, context: ServerContext) async throws -> Strongroom_V1_LoadResponse { throw unimplemented() }
    public func list(request: Strongroom_V1_ListRequest, context: ServerContext) async throws -> Strongroom_V1_ListResponse { throw unimplemented() }
    public func versions(request: Strongroom_V1_VersionsRequest, context: ServerContext) async throws -> Strongroom_V1_VersionsResponse { throw unimplemented() }
    public func erase(request: Strongroom_V1_EraseRequest, context: ServerContext) async throws -> Strongroom_V1_EraseResponse { throw unimplemented() }
    public func rotate(request: Strongroom_V1_RotateRequest, response: RPCWriter<Strongroom_V1_RotateEvent>, context: ServerContext) async throws { throw unimplemented() }
    public func status(request: Strongroom_V1_StatusRequest, context: ServerContext) async throws -> Strongroom_V1_StatusResponse { throw unimplemented() }
    public func health(request: Strongroom_V1_HealthRequest, context: ServerContext) async throws -> Strongroom_V1_HealthResponse {
        var response = Strongroom_V1_HealthResponse()
        response.state = runtime.draining ? .draining : (host.sealStatus.sealed ? .sealed : .serving)
        response.version = runtime.version
        return response
    }
    public func unseal(request: Strongroom_V1_UnsealRequest, context: ServerContext) async throws -> Strongroom_V1_UnsealResponse { throw unimplemented() }
    public func seal(request: Strongroom_V1_SealRequest, context: ServerContext) async throws -> Strongroom_V1_SealResponse { throw unimplemented() }
    public func auditVerify(request: Strongroom_V1_AuditVerifyRequest, context: ServerContext) async throws -> Strongroom_V1_AuditVerifyResponse { throw unimplemented() }
    public func auditShow(request: Strongroom_V1_AuditShowRequest, response: RPCWriter<Strongroom_V1_AuditRecordLine>, context: ServerContext) async throws { throw unimplemented() }
    public func enrolRecovery(request: Strongroom_V1_EnrolRecoveryRequest, response: RPCWriter<Strongroom_V1_EnrolRecoveryEvent>, context: ServerContext) async throws { throw unimplemented() }
    public func migrate(request: Strongroom_V1_MigrateRequest, response: RPCWriter<Strongroom_V1_MigrateEvent>, context: ServerContext) async throws { throw unimplemented() }
}
