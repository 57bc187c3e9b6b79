#if canImport(Glibc)
import Glibc
#endif
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
@testable import StrongroomServer
import Testing

/// The Unix socket transport's identity: the uid the kernel reports (SO_PEERCRED) reaches the
/// handler, and a header of the same name the client sends is thrown away. Served in-process with
/// the server's own transport (``ServerTransports/unix(_:)``) and a test method that answers the
/// identity ``PeerIdentity/of(metadata:context:)`` finds, so that the test can forge the header with
/// the process's real header name.
@Suite struct ServerCoreIdentityTests {
    /// The bytes of a UTF-8 string, as a gRPC message.
    struct Text: MessageSerializer, MessageDeserializer {
        func serialize<Bytes: GRPCContiguousBytes>(_ message: String) throws -> Bytes { Bytes(Array(message.utf8)) }
        func deserialize<Bytes: GRPCContiguousBytes>(_ bytes: Bytes) throws -> String {
            bytes.withUnsafeBytes { String(decoding: $0, as: UTF8.self) }
        }
    }

    static let who = MethodDescriptor(fullyQualifiedService: "strongroom.test.Identity", method: "Who")

    /// Answers the caller's identity as the transport established it.
    struct IdentityService: RegistrableRPCService {
        func registerMethods<Transport: ServerTransport>(with router: inout RPCRouter<Transport>) {
            router.registerHandler(forMethod: ServerCoreIdentityTests.who, deserializer: Text(), serializer: Text()) { request, context in
                let identity = PeerIdentity.of(metadata: request.metadata, context: context)
                let described = identity.map { "\($0) pid=\($0.pid.map(String.init) ?? "-")" } ?? "unidentified"
                return StreamingServerResponse(single: ServerResponse(message: described))
            }
        }
    }

    /// Runs `body` with an in-process server on a socket in a fresh directory (0711, socket 0666:
    /// reachable by a client of another uid, which the real server's 0700 directory would refuse).
    func withServer(
        configure: (inout ServerSettings) -> Void = { _ in }, _ body: @Sendable (String) async throws -> Void
    ) async throws {
        let directory = "/tmp/srv-id-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        chmod(directory, 0o711)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var settings = ServerSettings(policyPath: "/nonexistent")
        settings.socketPath = "\(directory)/s.sock"
        configure(&settings)
        let transport = ServerTransports.unix(settings)
        let server = GRPCServer(transport: transport, services: [IdentityService()])
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.serve() }
            defer { server.beginGracefulShutdown() }
            _ = try await transport.listeningAddress
            chmod(settings.socketPath, 0o666)
            try await body(settings.socketPath)
            server.beginGracefulShutdown()
            try await group.waitForAll()
        }
    }

    func ask(_ socket: String, metadata: Metadata = [:]) async throws -> String {
        let transport = try HTTP2ClientTransport.Posix(target: .unixDomainSocket(path: socket), transportSecurity: .plaintext)
        return try await withGRPCClient(transport: transport) { client in
            try await client.unary(
                request: ClientRequest(message: "", metadata: metadata), descriptor: Self.who, serializer: Text(),
                deserializer: Text(), options: .defaults
            ) { try $0.message }
        }
    }

    @Test func theCallersUidReachesTheHandler() async throws {
        try await withServer { socket in
            let answer = try await ask(socket)
            #expect(answer == "uid:\(geteuid()) pid=\(getpid())")
        }
    }

    @Test func aHeaderTheClientSendsIsIgnored() async throws {
        try await withServer { socket in
            // The real header name (this process knows it): a forged uid and pid must not survive.
            var metadata: Metadata = [:]
            metadata.addString(PeerCredentialHeader.value(uid: 4242, pid: 1), forKey: PeerCredentialHeader.name)
            metadata.addString(PeerCredentialHeader.value(uid: 4343, pid: 2), forKey: PeerCredentialHeader.name)
            let answer = try await ask(socket, metadata: metadata)
            #expect(answer == "uid:\(geteuid()) pid=\(getpid())")
        }
    }

    @Test func aClientOfAnotherUidIsKnownByThatUid() async throws {
        try #require(geteuid() == 0, "the test runs clients as another uid with setpriv, which needs root")
        let python = try PythonForOtherUsers.make()
        defer { python.cleanup() }
        try await withServer { socket in
            let script = """
                import grpc, sys
                channel = grpc.insecure_channel('unix:' + sys.argv[1])
                who = channel.unary_unary('/strongroom.test.Identity/Who')
                forged = [(sys.argv[2], 'uid=0,pid=1')]
                print(who(b'', metadata=forged, timeout=20).decode())
                """
            let result = try python.run(script: script, arguments: [socket, PeerCredentialHeader.name], uid: 4242)
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stdout.hasPrefix("uid:4242 pid="), "\(result.stdout) \(result.stderr)")
        }
    }

    @Test func aMessageOverMaxMessageBytesIsRefused() async throws {
        try await withServer(configure: { $0.maxMessageBytes = 1024 }) { socket in
            let transport = try HTTP2ClientTransport.Posix(target: .unixDomainSocket(path: socket), transportSecurity: .plaintext)
            let error = await #expect(throws: RPCError.self) {
                try await withGRPCClient(transport: transport) { client in
                    try await client.unary(
                        request: ClientRequest(message: String(repeating: "x", count: 4096)), descriptor: Self.who,
                        serializer: Text(), deserializer: Text(), options: .defaults
                    ) { try $0.message }
                }
            }
            #expect(error?.code == .resourceExhausted, "\(String(describing: error))")
            #expect(error?.message.contains("request message of 4096 bytes is over the server's limit of 1024 bytes") == true)
            #expect(try await ask(socket) == "uid:\(geteuid()) pid=\(getpid())")
        }
    }

    @Test func aSilentConnectionIsClosedAfterTheIdleTimeout() async throws {
        try await withServer(configure: { $0.idleTimeoutSeconds = 1 }) { socket in
            let fd = Glibc.socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            try #require(fd >= 0)
            defer { close(fd) }
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { raw in
                let bytes = Array(socket.utf8)
                raw.copyBytes(from: bytes)
                raw[bytes.count] = 0
            }
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            try #require(connected == 0)
            var timeout = timeval(tv_sec: 15, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
            let started = ContinuousClock.now
            var buffer = [UInt8](repeating: 0, count: 4096)
            // The server's settings frame may come first; then the close (read returns 0).
            while read(fd, &buffer, buffer.count) > 0 {}
            let waited = ContinuousClock.now - started
            #expect(waited < .seconds(10), "a silent connection stayed open \(waited)")
        }
    }
}
