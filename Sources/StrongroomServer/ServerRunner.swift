#if canImport(Glibc)
import Glibc
#endif
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import ServiceLifecycle
import StrongroomCore
import StrongroomMetrics
import StrongroomProto
import UnixSignals

/// Runs `strongroom serve`: the gRPC service over one vault on the Unix socket (and TCP with mutual
/// TLS when configured), the metrics endpoint, under a swift-service-lifecycle `ServiceGroup`.
///
/// SIGTERM (or SIGINT) drains: new requests are refused (`draining`), in-flight ones finish for up to
/// `server.drainTimeoutSeconds`, the audit log is checkpointed and ``run(configuration:settings:version:logger:announce:)``
/// returns. SIGHUP reloads the access policy; a file that does not parse is reported on standard
/// error and the old policy stays in force.
public enum ServerRunner {
    /// Starts the server and returns when it has stopped. `announce` receives the one ready line
    /// (`strongroom: serving …`) once every listener accepts connections, and the notes of SIGHUP
    /// reloads. Errors before the ready line (a bad policy, an unusable socket directory, a live
    /// server on the socket, unreadable TLS files, a vault that does not open) are thrown.
    public static func run(
        configuration: StrongroomConfiguration, settings: ServerSettings, version: String, logger: Logger,
        announce: @escaping @Sendable (String) -> Void
    ) async throws {
        let policy = try PolicyHolder(path: settings.policyPath)
        try UnixSocketPath.prepare(settings.socketPath, purpose: "server socket", group: settings.socketGroup)
        if case .unix(let path) = settings.metrics {
            guard path != settings.socketPath else {
                throw StrongroomError(.configuration, "server.metrics and server.socket name the same path \(path); give the metrics endpoint its own socket")
            }
            try UnixSocketPath.prepare(path, purpose: "metrics socket")
        }
        if let tcp = settings.tcp { try ServerTransports.checkTLSFiles(tcp) }
        // Bootstrapped before the store opens, so that the store's own metrics are registered.
        let metrics = settings.metrics.map { _ in PrometheusMetrics.bootstrap() }

        let host = try await VaultHost(configuration: configuration, logger: logger)
        let runtime = ServerRuntime(version: version)
        let service = VaultService(host: host, policy: policy, runtime: runtime, logger: logger)
        var listeners = [GRPCServerService(transport: ServerTransports.unix(settings, runtime: runtime), services: [service], runtime: runtime)]
        if let tcp = settings.tcp {
            listeners.append(GRPCServerService(transport: ServerTransports.tcp(tcp, settings, runtime: runtime), services: [service], runtime: runtime))
        }
        var endpoint: MetricsEndpoint?
        if let listener = settings.metrics, let metrics {
            do {
                endpoint = try await MetricsEndpoint.bind(listener, metrics: metrics)
            } catch let error as StrongroomError {
                throw error
            } catch {
                throw StrongroomError(.serverUnavailable, "cannot listen for metrics on \(listener): \(error)")
            }
        }

        var services: [any Service] = listeners
        services.append(PolicyReloadService(policy: policy, announce: announce))
        var groupConfiguration = ServiceGroupConfiguration(
            services: services.map { .init(service: $0) },
            gracefulShutdownSignals: [.sigterm, .sigint], cancellationSignals: [], logger: logger)
        groupConfiguration.maximumGracefulShutdownDuration = .seconds(settings.drainTimeoutSeconds)
        let group = ServiceGroup(configuration: groupConfiguration)

        let socketPath = settings.socketPath
        let socketGroup = settings.socketGroup
        let sealStatus = host.sealStatus
        let tier = configuration.tier
        let readyEndpoint = endpoint
        let transports = listeners.map(\.transport)
        var bound: (dev: UInt64, ino: UInt64)?
        do {
            try await withThrowingTaskGroup(of: (UInt64, UInt64)?.self) { tasks in
                tasks.addTask {
                    try await group.run()
                    return nil
                }
                tasks.addTask {
                    var shown: [String] = []
                    for (index, transport) in transports.enumerated() {
                        let address = try await transport.listeningAddress
                        if index == 0 {
                            try UnixSocketPath.restrict(socketPath, purpose: "server socket", group: socketGroup)
                            shown.append("unix:\(socketPath)")
                        } else if let ip = address.ipv4 {
                            shown.append("tcp://\(ip.host):\(ip.port) (mutual TLS)")
                        } else if let ip = address.ipv6 {
                            shown.append("tcp://[\(ip.host)]:\(ip.port) (mutual TLS)")
                        }
                    }
                    var line = "strongroom: serving \(tier) vault \(try host.vaultIDForAnnouncement()) on \(shown.joined(separator: ", "))"
                    if let readyEndpoint { line += ", metrics on \(readyEndpoint.address)" }
                    if sealStatus.sealed { line += " (sealed: \(sealStatus.partsReceived) of \(sealStatus.threshold) parts)" }
                    announce(line)
                    var info = stat()
                    guard lstat(socketPath, &info) == 0 else { return nil }
                    return (UInt64(info.st_dev), UInt64(info.st_ino))
                }
                while let result = try await tasks.next() {
                    if let result { bound = result }
                }
            }
        } catch {
            await readyEndpoint?.close()
            removeSocket(socketPath, ifItIs: bound)
            throw error
        }
        await readyEndpoint?.close()
        removeSocket(socketPath, ifItIs: bound)
        if case .unix(let path) = settings.metrics { unlink(path) }
        try await checkpoint(host)
    }

    /// Removes the socket file at exit when it is still the one this server bound.
    private static func removeSocket(_ path: String, ifItIs bound: (dev: UInt64, ino: UInt64)?) {
        guard let bound else { return }
        var info = stat()
        guard lstat(path, &info) == 0, UInt64(info.st_dev) == bound.dev, UInt64(info.st_ino) == bound.ino,
              info.st_mode & S_IFMT == S_IFSOCK
        else { return }
        unlink(path)
    }

    /// Checkpoints the audit log at exit (docs/audit.md); a fail-closed log's failure is thrown.
    private static func checkpoint(_ host: VaultHost) async throws {
        guard let store = try? host.store(), store.auditSettings.mode != .off else { return }
        do {
            try await store.checkpointAudit()
        } catch where store.auditSettings.mode != .failClosed {
            return
        }
    }
}

extension VaultHost {
    /// The vault id for the ready line: the open store's, or the configured one's when sealed.
    fileprivate func vaultIDForAnnouncement() throws -> String {
        if let store = try? store() { return store.vaultID.description }
        return "(sealed)"
    }
}

/// One gRPC server as a service: runs until graceful shutdown, which marks the runtime draining and
/// lets in-flight RPCs finish.
///
/// The server counts its RPCs in the runtime (``RequestMetricsInterceptor``). Once draining, when no
/// RPC is left running, it waits ``settleTime`` for the last answers to reach their sockets and then
/// closes the connections still open (those its transport registered with the runtime) and stops:
/// a Session client that keeps its side of a stream open after the server ended it (an engine
/// waiting for work) must not hold the drain until `server.drainTimeoutSeconds`. (Cancelling
/// `serve()` alone does not do it: grpc-swift waits for each stream's close.)
struct GRPCServerService: Service {
    let server: GRPCServer<HTTP2ServerTransport.Posix>
    let transport: HTTP2ServerTransport.Posix
    let runtime: ServerRuntime
    static let settleTime: Duration = .seconds(1)

    init(transport: HTTP2ServerTransport.Posix, services: [any RegistrableRPCService], runtime: ServerRuntime) {
        self.transport = transport
        self.runtime = runtime
        self.server = GRPCServer(transport: transport, services: services, interceptors: [RequestMetricsInterceptor(runtime: runtime)])
    }

    func run() async throws {
        let server = server, runtime = runtime
        try await withGracefulShutdownHandler {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await server.serve() }
                group.addTask {
                    await runtime.waitUntilDraining()
                    // Also when the drain timeout cancels this task: cancelling serve() alone leaves
                    // it waiting on streams its clients hold open.
                    defer { runtime.closeConnections() }
                    while runtime.activeRPCs > 0, !Task.isCancelled { try? await Task.sleep(for: .milliseconds(20)) }
                    try? await Task.sleep(for: Self.settleTime)
                    while runtime.activeRPCs > 0, !Task.isCancelled { try? await Task.sleep(for: .milliseconds(20)) }
                    runtime.closeConnections()
                    // The server then ends on its own as its connections close (and cancels this).
                    while !Task.isCancelled { try? await Task.sleep(for: .seconds(1)) }
                }
                // The server ends when its connections have closed, on their own or by the watcher.
                try await group.next()
                group.cancelAll()
            }
        } onGracefulShutdown: {
            runtime.beginDraining()
            server.beginGracefulShutdown()
        }
    }
}

/// Reloads the access policy on SIGHUP; a bad file is reported and the old policy kept.
struct PolicyReloadService: Service {
    let policy: PolicyHolder
    let announce: @Sendable (String) -> Void

    func run() async throws {
        for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
            do {
                try policy.reload()
                announce("strongroom: access policy reloaded from \(policy.path)")
            } catch {
                announce("strongroom: access policy \(policy.path) not reloaded, the previous policy stays in force: \(error)")
            }
        }
    }
}
