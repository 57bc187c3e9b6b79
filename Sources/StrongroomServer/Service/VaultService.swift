import Foundation
import GRPCCore
import Logging
import SecureCrypto
import StrongroomCore
import StrongroomProto

/// The `strongroom.v1.Vault` service over one vault (docs/server.md, "API").
///
/// Every RPC but Health goes through ``admit(_:shareID:metadata:context:whileSealed:)``: the caller's
/// identity (from the request metadata the transport filled in, or the TLS client certificate), the
/// draining and sealed states, then the access policy; a refusal is recorded as `access.denied`. An
/// admitted request runs as its caller (``AuditContext``), so the store's record of it names the client
/// and the policy rule. Store, Erase, Rotate, EnrolRecovery and Migrate run to their end even when the
/// client goes away, so nothing is left half-done.
public struct VaultService: Strongroom_V1_Vault.ServiceProtocol {
    let host: VaultHost
    let policy: PolicyHolder
    let runtime: ServerRuntime
    let logger: Logger

    /// A service over the vault `host` serves, deciding with `policy`.
    public init(host: VaultHost, policy: PolicyHolder, runtime: ServerRuntime, logger: Logger) {
        self.host = host
        self.policy = policy
        self.runtime = runtime
        self.logger = logger
    }

    // MARK: Shares

    public func store(
        request: ServerRequest<Strongroom_V1_StoreRequest>, context: ServerContext
    ) async throws -> ServerResponse<Strongroom_V1_StoreResponse> {
        // The share goes into locked memory before anything else can fail and leave it in the message.
        let secret: SecretBytes
        do {
            secret = try SecretTransfer.take(request.message.secret)
        } catch {
            throw ServiceErrors.rpcError(error)
        }
        return try await ServiceErrors.mapping {
            let id = try ShareID(request.message.shareID)
            let metadata = request.message.metadata
            let admission = try await admit(.store, shareID: id, metadata: request.metadata, context: context)
            let store = try host.store()
            let version = try await admission.runToCompletion { try await store.store(id, secret, metadata: metadata) }
            var response = Strongroom_V1_StoreResponse()
            response.version = version
            return ServerResponse(message: response)
        }
    }

    public func load(
        request: ServerRequest<Strongroom_V1_LoadRequest>, context: ServerContext
    ) async throws -> ServerResponse<Strongroom_V1_LoadResponse> {
        try await ServiceErrors.mapping {
            let id = try ShareID(request.message.shareID)
            let version = request.message.version
            let admission = try await admit(.load, shareID: id, metadata: request.metadata, context: context)
            let store = try host.store()
            let secret = try await admission.run { try await store.load(id, version: version == 0 ? nil : version) }
            var response = Strongroom_V1_LoadResponse()
            response.secret = SecretTransfer.responseBytes(secret)
            return ServerResponse(message: response)
        }
    }

    public func list(
        request: ServerRequest<Strongroom_V1_ListRequest>, context: ServerContext
    ) async throws -> ServerResponse<Strongroom_V1_ListResponse> {
        try await ServiceErrors.mapping {
            let prefix = request.message.prefix
            let admission = try await admit(.list, shareID: nil, metadata: request.metadata, context: context)
            let store = try host.store()
            let summaries = try await admission.run { try await store.list() }
            // Only what this caller may list, under the same policy the request was admitted with.
            var response = Strongroom_V1_ListResponse()
            response.shares = summaries.filter { summary in
                summary.id.rawValue.hasPrefix(prefix)
                    && admission.policy.decide(admission.identity, .list, shareID: summary.id.rawValue).allowed
            }.map { summary in
                var share = Strongroom_V1_ShareSummary()
                share.shareID = summary.id.rawValue
                share.latestVersion = summary.latestVersion
                share.versionCount = UInt64(summary.versionCount)
                return share
            }
            return ServerResponse(message: response)
        }
    }

    public func versions(
        request: ServerRequest<Strongroom_V1_VersionsRequest>, context: ServerContext
    ) async throws -> ServerResponse<Strongroom_V1_VersionsResponse> {
        try await ServiceErrors.mapping {
            let id = try ShareID(request.message.shareID)
            let admission = try await admit(.versions, shareID: id, metadata: request.metadata, context: context)
            let store = try host.store()
            let infos = try await admission.run { try await store.versions(id) }
            var response = Strongroom_V1_VersionsResponse()
            response.versions = infos.map { info in
                var version = Strongroom_V1_ShareVersion()
                version.version = info.version
                version.kekVersion = info.kekVersion
                version.createdAt = info.createdAt
                version.metadata = info.metadata
                version.blobSize = UInt64(info.blobSize)
                version.problem = info.problem ?? ""
                return version
            }
            return ServerResponse(message: response)
        }
    }

    public func erase(
        request: ServerRequest<Strongroom_V1_EraseRequest>, context: ServerContext
    ) async throws -> ServerResponse<Strongroom_V1_EraseResponse> {
        try await ServiceErrors.mapping {
            let id = try ShareID(request.message.shareID)
            let versions = request.message.versions
            if versions.contains(0) {
                throw StrongroomError(.invalidInput, "share versions start at 1; the erase request names version 0")
            }
            let admission = try await admit(.erase, shareID: id, metadata: request.metadata, context: context)
            let store = try host.store()
            let erased = try await admission.runToCompletion {
                if versions.isEmpty { return try await store.erase(id) }
                return try await store.erase(id, versions: versions)
            }
            var response = Strongroom_V1_EraseResponse()
            response.erasedVersions = UInt64(erased)
            return ServerResponse(message: response)
        }
    }

    // MARK: The vault

    public func status(
        request: ServerRequest<Strongroom_V1_StatusRequest>, context: ServerContext
    ) async throws -> ServerResponse<Strongroom_V1_StatusResponse> {
        try await ServiceErrors.mapping {
            let admission = try await admit(.status, shareID: nil, metadata: request.metadata, context: context)
            let store = try host.store()
            let status = try await admission.run { try await store.status() }
            var response = Strongroom_V1_StatusResponse()
            response.vaultID = status.vaultID.hex
            response.tier = status.tier.name
            response.kekID = status.kekID
            response.currentKekVersion = status.currentKEKVersion
            response.oldestActiveKekVersion = status.oldestActiveKEKVersion
            response.pendingRotationTarget = status.pendingRotationTarget ?? 0
            response.shareCount = UInt64(status.shareCount)
            response.versionCount = UInt64(status.versionCount)
            response.unreadableBlobs = UInt64(status.unreadableBlobs)
            response.problems = status.problems
            response.recoveryFingerprint = status.recoveryFingerprint ?? ""
            response.auditMode = status.auditMode.rawValue
            response.auditLocation = status.auditLocation
            response.auditRecordCount = status.auditRecordCount
            response.auditMacKey = status.auditMACKey ?? ""
            response.json = try VaultDocuments.statusJSON(status)
            return ServerResponse(message: response)
        }
    }

    public func health(
        request: ServerRequest<Strongroom_V1_HealthRequest>, context: ServerContext
    ) async throws -> ServerResponse<Strongroom_V1_HealthResponse> {
        let seal = host.sealStatus
        var response = Strongroom_V1_HealthResponse()
        response.state = runtime.draining ? .draining : (seal.sealed ? .sealed : .serving)
        response.tier = host.configuration.tier.name
        response.vaultID = (try? host.store())?.vaultID.hex ?? ""
        response.version = runtime.version
        if seal.sealed {
            response.unsealPartsReceived = UInt32(clamping: seal.partsReceived)
            response.unsealThreshold = UInt32(clamping: seal.threshold)
        }
        return ServerResponse(message: response)
    }

    public func unseal(
        request: ServerRequest<Strongroom_V1_UnsealRequest>, context: ServerContext
    ) async throws -> ServerResponse<Strongroom_V1_UnsealResponse> {
        let passphrase: SecretBytes
        do {
            passphrase = try SecretTransfer.take(request.message.passphrase)
        } catch {
            throw ServiceErrors.rpcError(error)
        }
        return try await ServiceErrors.mapping {
            let part = [UInt8](request.message.part)
            let source = request.message.source.isEmpty ? "a part given over the API" : request.message.source
            let admission = try await admit(.unseal, shareID: nil, metadata: request.metadata, context: context, whileSealed: true)
            let host = self.host
            let identity = admission.identity
            let status = try await admission.runToCompletion {
                try await host.unseal(part: part, passphrase: passphrase, source: source, identity: identity)
            }
            var response = Strongroom_V1_UnsealResponse()
            response.unsealed = !status.sealed
            response.partsReceived = UInt32(clamping: status.partsReceived)
            response.threshold = UInt32(clamping: status.threshold)
            response.custodians = UInt32(clamping: status.custodians)
            return ServerResponse(message: response)
        }
    }

    public func seal(
        request: ServerRequest<Strongroom_V1_SealRequest>, context: ServerContext
    ) async throws -> ServerResponse<Strongroom_V1_SealResponse> {
        try await ServiceErrors.mapping {
            let admission = try await admit(.seal, shareID: nil, metadata: request.metadata, context: context, whileSealed: true)
            let host = self.host
            let identity = admission.identity
            let wasUnsealed = try await admission.runToCompletion { try await host.seal(identity: identity) }
            var response = Strongroom_V1_SealResponse()
            response.wasUnsealed = wasUnsealed
            return ServerResponse(message: response)
        }
    }
}
