#if canImport(Glibc)
import Glibc
#endif
import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import StrongroomClient
import StrongroomCore
import StrongroomProto
import Testing

/// `strongroom serve` through the real binary and real sockets: where and how it listens, what it
/// refuses at start, how it stops and reloads.
@Suite struct ServerCoreTests {
    func health(_ address: ServerAddress, tls: ClientTLSFiles? = nil) async throws -> Strongroom_V1_HealthResponse {
        try await StrongroomClient.withVault(address, tls: tls) { vault in
            try await vault.health(Strongroom_V1_HealthRequest())
        }
    }

    func mode(_ path: String) -> mode_t? {
        var info = stat()
        guard lstat(path, &info) == 0 else { return nil }
        return info.st_mode
    }

    @Test func serveHelpNamesTheSocketThePolicyAndTheSignals() throws {
        let workspace = try ServerProcess.Workspace()
        defer { workspace.cleanup() }
        let help = try workspace.run(["serve", "--help"])
        #expect(help.status == 0)
        let flat = help.stdout.split(whereSeparator: \.isWhitespace).joined(separator: " ")
        for text in ["--config", "server.socket", "server.policy", "SIGTERM drains", "SIGHUP reloads the policy"] {
            #expect(flat.contains(text), "serve --help lacks \(text)")
        }
        #expect(try workspace.run(["--help"]).stdout.contains("  serve"))
    }

    @Test func servesHealthOnItsSocketWithModes0600In0700() async throws {
        let server = try ServerProcess.start()
        defer { server.stop() }
        #expect(server.readyLine.hasPrefix("strongroom: serving local vault "))
        #expect(server.readyLine.hasSuffix(" on unix:\(server.socketPath)"))
        let socketMode = try #require(mode(server.socketPath))
        #expect(socketMode & S_IFMT == S_IFSOCK)
        #expect(socketMode & 0o777 == 0o600)
        #expect(try #require(mode(server.workspace.directory + "/run")) & 0o777 == 0o700)
        let answer = try await health(server.address)
        #expect(answer.state == .serving)
        #expect(answer.version == "0.1.0")
    }

    /// A start that must fail: returns (status, stderr).
    func refusedStart(_ workspace: ServerProcess.Workspace, serverSettings: String = "", policy: String? = ServerProcess.allowAll()) throws -> (Int32, String) {
        do {
            let server = try ServerProcess.start(in: workspace, config: workspace.localConfig, policy: policy, serverSettings: serverSettings)
            let status = server.stop()
            Issue.record("the server started: \(server.readyLine)")
            return (status, server.stderr)
        } catch let error as ServerProcessError {
            return (-1, error.description)
        }
    }

    func initialised() throws -> ServerProcess.Workspace {
        let workspace = try ServerProcess.Workspace()
        try workspace.write("strongroom.yaml", workspace.localConfig)
        let created = try workspace.run(["init", "--config", workspace.configPath])
        try #require(created.status == 0, "\(created.stderr)")
        return workspace
    }

    @Test func refusesASymlinkedSocketDirectory() throws {
        let workspace = try initialised()
        defer { workspace.cleanup() }
        try FileManager.default.createDirectory(atPath: workspace.directory + "/elsewhere", withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        try FileManager.default.createSymbolicLink(atPath: workspace.directory + "/run", withDestinationPath: workspace.directory + "/elsewhere")
        let (_, stderr) = try refusedStart(workspace)
        #expect(stderr.contains("server socket directory \(workspace.directory)/run is a symbolic link"), "\(stderr)")
        #expect(!FileManager.default.fileExists(atPath: workspace.directory + "/elsewhere/strongroom.sock"))
    }

    @Test func refusesASocketDirectoryOpenToOthers() throws {
        let workspace = try initialised()
        defer { workspace.cleanup() }
        try FileManager.default.createDirectory(atPath: workspace.directory + "/run", withIntermediateDirectories: false, attributes: [.posixPermissions: 0o750])
        chmod(workspace.directory + "/run", 0o750)
        let (_, stderr) = try refusedStart(workspace)
        #expect(stderr.contains("has mode 750, open to group or others"), "\(stderr)")
    }

    @Test func refusesASocketDirectoryOfAnotherUser() throws {
        try #require(geteuid() == 0, "giving a directory to another uid needs root")
        let workspace = try initialised()
        defer { workspace.cleanup() }
        try FileManager.default.createDirectory(atPath: workspace.directory + "/run", withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        chown(workspace.directory + "/run", 4242, 4242)
        let (_, stderr) = try refusedStart(workspace)
        #expect(stderr.contains("belongs to uid 4242, not to the server's uid 0"), "\(stderr)")
    }

    @Test func refusesToStartWithoutAPolicy() throws {
        let workspace = try initialised()
        defer { workspace.cleanup() }
        let (_, stderr) = try refusedStart(workspace, policy: nil)
        #expect(stderr.contains("missing required setting 'server.policy'"), "\(stderr)")
        let status = try workspace.run(["serve", "--config", workspace.configPath]).status
        #expect(status == 78)
    }

    @Test func replacesAStaleSocket() async throws {
        let workspace = try initialised()
        try FileManager.default.createDirectory(atPath: workspace.directory + "/run", withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        // A socket file nobody listens on (a server killed with SIGKILL leaves one).
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            let bytes = Array(workspace.socket.utf8)
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        close(fd)
        try #require(bound == 0)
        let server = try ServerProcess.start(in: workspace, config: workspace.localConfig, policy: ServerProcess.allowAll(), removeWorkspace: true)
        defer { server.stop() }
        #expect(try await health(server.address).state == .serving)
    }

    @Test func refusesASocketAnotherServerListensOn() async throws {
        let first = try ServerProcess.start()
        defer { first.stop() }
        let workspace = first.workspace
        let second = try workspace.run(["serve", "--config", workspace.configPath])
        #expect(second.status == 75)
        #expect(second.stderr.contains("another server is listening on \(first.socketPath)"), "\(second.stderr)")
        #expect(try await health(first.address).state == .serving)
    }

    @Test func refusesASocketSomethingElseListensOn() throws {
        let workspace = try initialised()
        defer { workspace.cleanup() }
        try FileManager.default.createDirectory(atPath: workspace.directory + "/run", withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        // A listener that is not a strongroom server (it holds no lock file).
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            let bytes = Array(workspace.socket.utf8)
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        try #require(bound == 0 && listen(fd, 4) == 0)
        let (_, stderr) = try refusedStart(workspace)
        #expect(stderr.contains("another server is listening on \(workspace.socket)"), "\(stderr)")
        #expect(mode(workspace.socket).map { $0 & S_IFMT } == S_IFSOCK)
    }

    @Test func refusesANonSocketAtTheSocketPath() throws {
        let workspace = try initialised()
        defer { workspace.cleanup() }
        try FileManager.default.createDirectory(atPath: workspace.directory + "/run", withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        try workspace.write("run/strongroom.sock", "precious")
        let (_, stderr) = try refusedStart(workspace)
        #expect(stderr.contains("exists and is not a socket"), "\(stderr)")
        #expect(try String(contentsOfFile: workspace.socket, encoding: .utf8) == "precious")
    }

    @Test func sigtermStopsWithExit0AndRemovesTheSocket() async throws {
        let server = try ServerProcess.start()
        defer { server.stop() }
        #expect(try await health(server.address).state == .serving)
        let status = server.stop(signal: SIGTERM)
        #expect(status == 0, "\(server.stderr)")
        #expect(mode(server.socketPath) == nil)
    }

    @Test func sighupReloadsThePolicy() throws {
        let server = try ServerProcess.start()
        defer { server.stop() }
        server.signal(SIGHUP)
        let line = try server.waitForStderr(containing: "access policy", timeout: .seconds(20))
        #expect(line == "strongroom: access policy reloaded from \(server.workspace.policyPath)")
        server.signal(SIGHUP)
        usleep(300_000)
        #expect(server.process.isRunning)
    }

    @Test(.disabled("until lane policy's AccessPolicy.load reads the file (the skeleton accepts anything)"))
    func sighupWithABadPolicyKeepsTheOldOne() async throws {
        let server = try ServerProcess.start()
        defer { server.stop() }
        try server.workspace.write("policy.yaml", "rules: [ this is not a policy")
        server.signal(SIGHUP)
        let line = try server.waitForStderr(containing: "access policy", timeout: .seconds(20))
        #expect(line.contains("not reloaded, the previous policy stays in force"), "\(line)")
        #expect(try await health(server.address).state == .serving)
    }
}
