import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import SecureCrypto
import Strongroom
import StrongroomClient
import StrongroomProto
import Synchronization

/// A vault reached through `strongroom serve` (`--server ADDRESS`): each call is one RPC, its answer
/// rebuilt into the library's result type, and a server's error rebuilt into the same
/// ``StrongroomError`` (code and exit status) the command would have met locally.
final class RemoteVault: VaultAccess {
    let address: ServerAddress
    private let client: GRPCClient<HTTP2ClientTransport.Posix>
    private let vault: StrongroomClient.Vault
    private let connections: Task<Void, Never>

    /// Every remote vault this process opened, closed by ``closeAll()`` when the command ends.
    private static let opened = Mutex<[RemoteVault]>([])

    private init(address: ServerAddress, client: GRPCClient<HTTP2ClientTransport.Posix>) {
        self.address = address
        self.client = client
        self.vault = StrongroomClient.Vault(wrapping: client)
        self.connections = Task { try? await client.runConnections() }
    }

    /// Connects (lazily: the first call opens the connection) to the server at `address`.
    static func connect(_ address: ServerAddress, tls: ClientTLSFiles?) throws -> RemoteVault {
        let transport: HTTP2ClientTransport.Posix
        do {
            transport = try StrongroomClient.makeTransport(address, tls: tls)
        } catch let error as StrongroomError {
            throw error
        } catch {
            throw StrongroomError(.configuration, "cannot set up the connection to server \(address): \(error)")
        }
        let remote = RemoteVault(address: address, client: GRPCClient(transport: transport))
        opened.withLock { $0.append(remote) }
        return remote
    }

    /// Closes every connection this process opened (a GOAWAY, then the connection ends).
    static func closeAll() async {
        let all = opened.withLock { opened in
            defer { opened.removeAll() }
            return opened
        }
        for remote in all {
            remote.client.beginGracefulShutdown()
            await remote.connections.value
        }
    }

    var vaultName: String { "the vault of server \(address)" }

    /// Runs one RPC, turning the errors gRPC raises into ``StrongroomError``.
    private func call<T>(_ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch let error as RPCError {
            throw RPCErrorMapping.strongroomError(error)
        }
    }

    func store(_ id: ShareID, _ secret: SecretBytes, metadata: [String: String]) async throws -> UInt64 {
        var request = Strongroom_V1_StoreRequest()
        request.shareID = id.rawValue
        request.metadata = metadata
        // The share has to leave locked memory to be sent; the copy is overwritten once it is gone.
        request.secret = secret.withUnsafeBytes { Data($0) }
        defer { RemoteVault.wipe(&request.secret) }
        let message = request
        return try await call { try await vault.store(message) }.version
    }

    func load(_ id: ShareID, version: UInt64?) async throws -> SecretBytes {
        var request = Strongroom_V1_LoadRequest()
        request.shareID = id.rawValue
        request.version = version ?? 0
        return try await call {
            try await vault.load(request) { response in
                var message = try response.message
                defer { RemoteVault.wipe(&message.secret) }
                return try message.secret.withUnsafeBytes { try SecretBytes(copying: $0) }
            }
        }
    }

    /// Overwrites a buffer that held a share (best effort: the gRPC library's own copies are beyond reach).
    static func wipe(_ data: inout Data) {
        data.withUnsafeMutableBytes { buffer in
            guard let base = buffer.baseAddress else { return }
            memset(base, 0, buffer.count)
        }
    }

    func list() async throws -> [ShareSummary] {
        let response = try await call { try await vault.list(Strongroom_V1_ListRequest()) }
        return try response.shares.map { summary in
            ShareSummary.reported(
                id: try ShareID(summary.shareID), latestVersion: summary.latestVersion,
                versionCount: Int(summary.versionCount))
        }
    }

    func versions(_ id: ShareID) async throws -> [ShareVersionInfo] {
        var request = Strongroom_V1_VersionsRequest()
        request.shareID = id.rawValue
        let response = try await call { try await vault.versions(request) }
        return response.versions.map { info in
            ShareVersionInfo.reported(
                version: info.version, kekVersion: info.kekVersion, createdAt: info.createdAt, metadata: info.metadata,
                blobSize: Int(info.blobSize), problem: info.problem.isEmpty ? nil : info.problem)
        }
    }

    func erase(_ id: ShareID) async throws -> Int {
        var request = Strongroom_V1_EraseRequest()
        request.shareID = id.rawValue
        return Int(try await call { try await vault.erase(request) }.erasedVersions)
    }

    func rotateWrappingKey(
        dryRun: Bool, concurrency: Int, progress: (@Sendable (RotationProgress) -> Void)?
    ) async throws -> RotationReport {
        var request = Strongroom_V1_RotateRequest()
        request.dryRun = dryRun
        request.concurrency = UInt32(clamping: concurrency)
        let report = try await call {
            try await vault.rotate(request) { response in
                var last: Strongroom_V1_RotationReport?
                for try await event in response.messages {
                    switch event.event {
                    case .progress(let step):
                        progress?(RotationProgress.reported(
                            done: Int(step.done), total: Int(step.total), rewrapped: Int(step.rewrapped),
                            alreadyCurrent: Int(step.alreadyCurrent), failed: Int(step.failed)))
                    case .report(let report):
                        last = report
                    case nil:
                        continue
                    }
                }
                return last
            }
        }
        guard let report else {
            throw StrongroomError(.io, "server \(address) ended the rotation without a report; run `strongroom rotate` again (it resumes)")
        }
        let result = RotationReport.reported(
            fromVersions: report.fromVersions, targetVersion: report.targetVersion, resumed: report.resumed,
            dryRun: report.dryRun, rewrapped: Int(report.rewrapped), alreadyCurrent: Int(report.alreadyCurrent),
            failures: report.failures, failedCount: Int(report.failed))
        return result
    }

    func status() async throws -> VaultStatus {
        let response = try await call { try await vault.status(Strongroom_V1_StatusRequest()) }
        // The typed fields first; the facts only the JSON document carries come from it when it parses.
        let document = (try? JSONSerialization.jsonObject(with: Data(response.json.utf8))) as? [String: Any] ?? [:]
        guard let vaultID = VaultID(hex: response.vaultID) else {
            throw StrongroomError(.io, "server \(address) sent a status without a valid vault id")
        }
        var perKEK: [UInt32: Int] = [:]
        for (key, value) in document["versionsPerKEKVersion"] as? [String: Any] ?? [:] {
            if let kek = UInt32(key), let count = (value as? NSNumber)?.intValue { perKEK[kek] = count }
        }
        var status = VaultStatus.reported(
            vaultID: vaultID, tier: Tier(name: response.tier, code: 0), kekID: response.kekID,
            currentKEKVersion: response.currentKekVersion, oldestActiveKEKVersion: response.oldestActiveKekVersion,
            pendingRotationTarget: response.pendingRotationTarget == 0 ? nil : response.pendingRotationTarget,
            shareCount: Int(response.shareCount), versionCount: Int(response.versionCount),
            versionsPerKEKVersion: perKEK, unreadableBlobs: Int(response.unreadableBlobs))
        status.problems = response.problems
        status.recoveryFingerprint = response.recoveryFingerprint.isEmpty ? nil : response.recoveryFingerprint
        status.pendingRecoveryFingerprint = document["pendingRecoveryKeyFingerprint"] as? String
        status.versionsWithoutRecovery = (document["versionsWithoutRecovery"] as? NSNumber)?.intValue ?? 0
        status.auditMode = AuditMode(rawValue: response.auditMode) ?? status.auditMode
        status.auditLocation = response.auditLocation
        status.auditRecordCount = response.auditRecordCount
        status.auditMACKey = response.auditMacKey.isEmpty ? nil : response.auditMacKey
        if let audit = document["audit"] as? [String: Any], let checkpoint = audit["checkpoint"] as? [String: Any],
           let seq = (checkpoint["seq"] as? NSNumber)?.uint64Value, let hash = checkpoint["hash"] as? String,
           let at = (checkpoint["at"] as? NSNumber)?.uint64Value {
            status.auditCheckpoint = AuditCheckpoint(seq: seq, hash: hash, mac: checkpoint["mac"] as? String ?? "", at: at)
        }
        return status
    }

    func verifyAndRecordAudit() async throws -> AuditVerification {
        let response = try await call { try await vault.auditVerify(Strongroom_V1_AuditVerifyRequest()) }
        guard response.ok else {
            throw StrongroomError(
                StrongroomError.Code("audit log tampered", exitStatus: 65),
                "the audit log of server \(address) does not verify: \(response.problem)")
        }
        let document = (try? JSONSerialization.jsonObject(with: Data(response.json.utf8))) as? [String: Any] ?? [:]
        func number(_ key: String) -> UInt64? { (document[key] as? NSNumber)?.uint64Value }
        let tail = AuditTail(
            seq: number("tailSeq") ?? (response.records == 0 ? 0 : response.records - 1),
            hash: (document["tailHash"] as? String).flatMap(Hex.decode) ?? [])
        var checkpoint: AuditCheckpoint?
        if let state = document["stateCheckpoint"] as? [String: Any], let seq = (state["seq"] as? NSNumber)?.uint64Value {
            checkpoint = AuditCheckpoint(
                seq: seq, hash: state["hash"] as? String ?? "", mac: state["mac"] as? String ?? "",
                at: (state["at"] as? NSNumber)?.uint64Value ?? 0)
        }
        return AuditVerification(
            location: document["location"] as? String ?? "server \(address)", records: response.records,
            checkpoints: number("checkpoints") ?? 0, tail: tail, stateCheckpoint: checkpoint,
            recordsAfterLastCheckpoint: number("recordsAfterLastCheckpoint") ?? 0,
            macKey: document["macKey"] as? String, tornTailBytes: Int(number("tornTailBytes") ?? 0))
    }

    func auditRecords(_ filter: AuditFilter, _ body: (AuditRecord) async throws -> Void) async throws {
        var request = Strongroom_V1_AuditShowRequest()
        request.shareID = filter.shareID?.rawValue ?? ""
        request.op = filter.operation ?? ""
        if let since = filter.since { request.since = ISO8601DateFormatter().string(from: since) }
        let address = self.address
        // The stream is read to its end inside the call; the records are handed on after it.
        let lines = try await call {
            try await vault.auditShow(request) { response in
                var lines: [String] = []
                for try await line in response.messages { lines.append(line.line) }
                return lines
            }
        }
        for line in lines {
            guard let record = AuditRecord(line: line) else {
                throw StrongroomError(.io, "server \(address) sent an audit record that does not parse")
            }
            try await body(record)
        }
    }
}
