#if canImport(Glibc)
import Glibc
#endif
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import StrongroomClient
import StrongroomProto
@testable import StrongroomServer
import Testing

/// Certificates made with the openssl CLI for one test: a CA, a server certificate for 127.0.0.1,
/// a client certificate `CN=engine-a,O=Example` from that CA, and a client from an unknown CA.
struct TestPKI {
    let directory: String

    init(in directory: String) throws {
        self.directory = directory
        try openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
                     "-subj", "/CN=Strongroom Test CA", "-keyout", "ca.key", "-out", "ca.pem",
                     "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        try openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
                     "-subj", "/CN=Rogue CA", "-keyout", "rogue-ca.key", "-out", "rogue-ca.pem",
                     "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        try issue("server", subject: "/CN=strongroom-server", ca: "ca", extensions: "subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n")
        try issue("engine-a", subject: "/O=Example/CN=engine-a", ca: "ca", extensions: "extendedKeyUsage=clientAuth\n")
        try issue("rogue", subject: "/O=Example/CN=engine-a", ca: "rogue-ca", extensions: "extendedKeyUsage=clientAuth\n")
        for key in ["ca", "rogue-ca", "server", "engine-a", "rogue"] { chmod(path("\(key).key"), 0o600) }
    }

    func path(_ name: String) -> String { "\(directory)/\(name)" }

    private func issue(_ name: String, subject: String, ca: String, extensions: String) throws {
        try extensions.write(toFile: path("\(name).ext"), atomically: true, encoding: .utf8)
        try openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", subject,
                     "-keyout", "\(name).key", "-out", "\(name).csr"])
        try openssl(["x509", "-req", "-in", "\(name).csr", "-CA", "\(ca).pem", "-CAkey", "\(ca).key", "-CAcreateserial",
                     "-days", "2", "-extfile", "\(name).ext", "-out", "\(name).pem"])
    }

    private func openssl(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        process.arguments = arguments
        process.currentDirectoryURL = URL(fileURLWithPath: directory)
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        try process.run()
        let message = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        guard process.terminationStatus == 0 else { throw ServerProcessError("openssl \(arguments.first ?? "") failed: \(message)") }
    }
}

@Suite struct ServerCoreTLSTests {
    /// The port in the ready line's `tcp://127.0.0.1:PORT (mutual TLS)`.
    func tcpPort(_ line: String) throws -> Int {
        let part = try #require(line.split(separator: " ").first { $0.hasPrefix("tcp://127.0.0.1:") })
        return try #require(Int(part.dropFirst("tcp://127.0.0.1:".count).prefix { $0.isNumber }))
    }

    func tlsServer() throws -> (ServerProcess, TestPKI, Int) {
        let workspace = try ServerProcess.Workspace()
        try workspace.write("strongroom.yaml", workspace.localConfig)
        let created = try workspace.run(["init", "--config", workspace.configPath])
        try #require(created.status == 0, "\(created.stderr)")
        let pki = try TestPKI(in: workspace.directory)
        let server = try ServerProcess.start(
            in: workspace, config: workspace.localConfig, policy: ServerProcess.allowAll(),
            serverSettings: """
                  tcp: 127.0.0.1:0
                  tls:
                    certificate: \(pki.path("server.pem"))
                    key: \(pki.path("server.key"))
                    clientCA: \(pki.path("ca.pem"))
                """, removeWorkspace: true)
        return (server, pki, try tcpPort(server.readyLine))
    }

    func health(port: Int, tls: ClientTLSFiles) async throws -> Strongroom_V1_HealthResponse {
        try await StrongroomClient.withVault(ServerAddress(.tcp(host: "127.0.0.1", port: port)), tls: tls) { vault in
            try await vault.health(Strongroom_V1_HealthRequest(), options: { var o = CallOptions.defaults; o.timeout = .seconds(60); return o }())
        }
    }

    @Test func servesMutualTLSClientsOfItsCA() async throws {
        let (server, pki, port) = try tlsServer()
        defer { server.stop() }
        #expect(server.readyLine.contains(", tcp://127.0.0.1:\(port) (mutual TLS)"))
        let tls = ClientTLSFiles(certificate: pki.path("engine-a.pem"), key: pki.path("engine-a.key"), trustRoots: pki.path("ca.pem"), serverHostname: "localhost")
        #expect(try await health(port: port, tls: tls).state == .serving)
    }

    @Test func refusesAClientOfAnUnknownCA() async throws {
        let (server, pki, port) = try tlsServer()
        defer { server.stop() }
        let tls = ClientTLSFiles(certificate: pki.path("rogue.pem"), key: pki.path("rogue.key"), trustRoots: pki.path("ca.pem"), serverHostname: "localhost")
        await #expect(throws: (any Error).self) { try await health(port: port, tls: tls) }
    }

    @Test func refusesAClientWithoutACertificate() async throws {
        let (server, pki, port) = try tlsServer()
        defer { server.stop() }
        let transport = try HTTP2ClientTransport.Posix(
            target: .ipv4(address: "127.0.0.1", port: port),
            transportSecurity: .tls { $0.trustRoots = .certificates([.file(path: pki.path("ca.pem"), format: .pem)]) })
        await #expect(throws: (any Error).self) {
            try await withGRPCClient(transport: transport) { client in
                var options = CallOptions.defaults
                options.timeout = .seconds(20)
                return try await Strongroom_V1_Vault.Client(wrapping: client).health(Strongroom_V1_HealthRequest(), options: options)
            }
        }
    }

    @Test func refusesTCPWithoutTheTLSFiles() throws {
        let workspace = try ServerProcess.Workspace()
        defer { workspace.cleanup() }
        try workspace.write("policy.yaml", ServerProcess.allowAll())
        try workspace.write("strongroom.yaml", workspace.localConfig + "server:\n  socket: \(workspace.socket)\n  policy: \(workspace.policyPath)\n  tcp: 127.0.0.1:0\n")
        let result = try workspace.run(["serve", "--config", workspace.configPath])
        #expect(result.status == 78)
        #expect(result.stderr.contains("needs 'server.tls.certificate' too: TCP is served with mutual TLS only"), "\(result.stderr)")
    }

    @Test func refusesATLSKeyOthersCanRead() throws {
        let workspace = try ServerProcess.Workspace()
        defer { workspace.cleanup() }
        let pki = try TestPKI(in: workspace.directory)
        chmod(pki.path("server.key"), 0o644)
        try workspace.write("policy.yaml", ServerProcess.allowAll())
        try workspace.write("strongroom.yaml", workspace.localConfig + """
            server:
              socket: \(workspace.socket)
              policy: \(workspace.policyPath)
              tcp: 127.0.0.1:0
              tls:
                certificate: \(pki.path("server.pem"))
                key: \(pki.path("server.key"))
                clientCA: \(pki.path("ca.pem"))

            """)
        let result = try workspace.run(["serve", "--config", workspace.configPath])
        #expect(result.status == 77)
        #expect(result.stderr.contains("server.tls.key \(pki.path("server.key")) has mode 644"), "\(result.stderr)")
    }

    /// The identity of a mutual TLS client is its certificate's subject (in-process, with the
    /// server's own TCP transport and a method answering the identity).
    @Test func theClientCertificateSubjectIsTheIdentity() async throws {
        let directory = "/tmp/srv-tls-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let pki = try TestPKI(in: directory)
        let listener = ServerSettings.TCPListener(
            host: "127.0.0.1", port: 0, certificate: pki.path("server.pem"), key: pki.path("server.key"), clientCA: pki.path("ca.pem"))
        let transport = ServerTransports.tcp(listener, ServerSettings(policyPath: "/nonexistent"))
        let server = GRPCServer(transport: transport, services: [ServerCoreIdentityTests.IdentityService()])
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await server.serve() }
            defer { server.beginGracefulShutdown() }
            let port = try #require(try await transport.listeningAddress.ipv4).port
            let client = try StrongroomClient.makeTransport(
                ServerAddress(.tcp(host: "127.0.0.1", port: port)),
                tls: ClientTLSFiles(certificate: pki.path("engine-a.pem"), key: pki.path("engine-a.key"), trustRoots: pki.path("ca.pem"), serverHostname: "localhost"))
            let answer = try await withGRPCClient(transport: client) { client in
                var metadata: Metadata = [:]
                metadata.addString(PeerCredentialHeader.value(uid: 0, pid: 1), forKey: PeerCredentialHeader.name)
                return try await client.unary(
                    request: ClientRequest(message: "", metadata: metadata), descriptor: ServerCoreIdentityTests.who,
                    serializer: ServerCoreIdentityTests.Text(), deserializer: ServerCoreIdentityTests.Text(), options: .defaults
                ) { try $0.message }
            }
            #expect(answer == "subject:CN=engine-a,O=Example pid=-")
            server.beginGracefulShutdown()
            try await group.waitForAll()
        }
    }
}
