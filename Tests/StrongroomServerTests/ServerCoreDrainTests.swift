#if canImport(Glibc)
import Glibc
#endif
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import Logging
import ServiceLifecycle
@testable import StrongroomServer
import Synchronization
import Testing

/// Graceful shutdown (what SIGTERM triggers in `strongroom serve`): the runtime turns draining and a
/// request in flight still gets its answer. In-process, with the server's own service wrapper and
/// transport, and a method that takes a while.
@Suite struct ServerCoreDrainTests {
    static let slow = MethodDescriptor(fullyQualifiedService: "strongroom.test.Identity", method: "Slow")

    /// How many slow calls the handler has begun (the test waits for its call to be in flight).
    static let begun = Mutex(0)

    struct SlowService: RegistrableRPCService {
        func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
            router.registerHandler(
                forMethod: ServerCoreDrainTests.slow, deserializer: ServerCoreIdentityTests.Text(),
                serializer: ServerCoreIdentityTests.Text()
            ) { _, _ in
                ServerCoreDrainTests.begun.withLock { $0 += 1 }
                try await Task.sleep(for: .milliseconds(1500))
                return StreamingServerResponse(single: ServerResponse(message: "done"))
            }
        }
    }

    /// A fresh directory for one test's socket.
    static func temporaryDirectory() throws -> String {
        let directory = "/tmp/srv-drain-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        return directory
    }

    /// One unary call of `method` (empty text in, text out) to the server on `socket`.
    static func call(_ method: MethodDescriptor, on socket: String) async throws -> String {
        let client = try HTTP2ClientTransport.Posix(target: .unixDomainSocket(path: socket), transportSecurity: .plaintext)
        return try await withGRPCClient(transport: client) { client in
            try await client.unary(
                request: ClientRequest(message: ""), descriptor: method, serializer: ServerCoreIdentityTests.Text(),
                deserializer: ServerCoreIdentityTests.Text(), options: .defaults
            ) { try $0.message }
        }
    }

    @Test func gracefulShutdownLetsTheRequestInFlightFinish() async throws {
        let directory = try ServerCoreDrainTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var settings = ServerSettings(policyPath: "/nonexistent")
        settings.socketPath = "\(directory)/s.sock"
        let transport = ServerTransports.unix(settings)
        let runtime = ServerRuntime(version: "test")
        let group = ServiceGroup(
            services: [GRPCServerService(transport: transport, services: [SlowService()], runtime: runtime)], logger: Logger(label: "test"))
        let socket = settings.socketPath
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            _ = try await transport.listeningAddress
            let answer = Task { try await Self.call(Self.slow, on: socket) }
            let inFlight = ContinuousClock.now + .seconds(30)
            while Self.begun.withLock({ $0 }) == 0 && ContinuousClock.now < inFlight { try await Task.sleep(for: .milliseconds(10)) }
            try #require(Self.begun.withLock { $0 } == 1, "the slow call never reached the handler")
            #expect(!runtime.draining)
            await group.triggerGracefulShutdown()
            // The service group runs the shutdown handlers on its own task: wait for it.
            let deadline = ContinuousClock.now + .seconds(5)
            while !runtime.draining && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(10)) }
            #expect(runtime.draining)
            #expect(try await answer.value == "done")
            try await tasks.waitForAll()
        }
    }
}

/// A unary call whose client goes away while its handler runs is counted out of the running RPCs all
/// the same (grpc-swift then never runs the response producer the count hangs on), so a later drain
/// does not wait on it: the server stops within about a second instead of its drain timeout.
@Suite struct ServerCoreDrainCountTests {
    static let slow = MethodDescriptor(fullyQualifiedService: "strongroom.test.Identity", method: "SlowAbandoned")
    static let begun = Mutex(0)
    static let finished = Mutex(0)

    struct AbandonedService: RegistrableRPCService {
        func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
            router.registerHandler(
                forMethod: ServerCoreDrainCountTests.slow, deserializer: ServerCoreIdentityTests.Text(),
                serializer: ServerCoreIdentityTests.Text()
            ) { _, _ in
                ServerCoreDrainCountTests.begun.withLock { $0 += 1 }
                // Not cancellable: the work runs to its end as a store would.
                await Task { try? await Task.sleep(for: .milliseconds(1500)) }.value
                ServerCoreDrainCountTests.finished.withLock { $0 += 1 }
                return StreamingServerResponse(single: ServerResponse(message: "done"))
            }
        }
    }

    @Test func anAbandonedCallIsCountedOutAndTheDrainEndsPromptly() async throws {
        let directory = try ServerCoreDrainTests.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var settings = ServerSettings(policyPath: "/nonexistent")
        settings.socketPath = "\(directory)/s.sock"
        let runtime = ServerRuntime(version: "test")
        let transport = ServerTransports.unix(settings, runtime: runtime)
        var configuration = ServiceGroupConfiguration(
            services: [.init(service: GRPCServerService(transport: transport, services: [AbandonedService()], runtime: runtime))],
            logger: Logger(label: "test"))
        configuration.maximumGracefulShutdownDuration = .seconds(120)
        let group = ServiceGroup(configuration: configuration)
        let socket = settings.socketPath
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            _ = try await transport.listeningAddress
            let call = Task { try await ServerCoreDrainTests.call(Self.slow, on: socket) }
            let inFlight = ContinuousClock.now + .seconds(30)
            while Self.begun.withLock({ $0 }) == 0 && ContinuousClock.now < inFlight { try await Task.sleep(for: .milliseconds(10)) }
            try #require(Self.begun.withLock { $0 } == 1, "the slow call never reached the handler")
            #expect(runtime.activeRPCs == 1)
            call.cancel()  // the client goes away while the handler runs
            _ = await call.result
            let done = ContinuousClock.now + .seconds(20)
            while (Self.finished.withLock({ $0 }) == 0 || runtime.activeRPCs > 0) && ContinuousClock.now < done {
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(Self.finished.withLock { $0 } == 1)
            #expect(runtime.activeRPCs == 0, "the abandoned call is still counted as running")
            let began = ContinuousClock.now
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            #expect(ContinuousClock.now - began < .seconds(15), "the drain waited on the abandoned call")
        }
    }
}
