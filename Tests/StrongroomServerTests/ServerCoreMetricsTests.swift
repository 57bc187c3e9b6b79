#if canImport(Glibc)
import Glibc
#endif
import Foundation
import StrongroomClient
import StrongroomProto
import Testing

/// The Prometheus endpoint (`server.metrics`) through a real HTTP request.
@Suite struct ServerCoreMetricsTests {
    /// Sends `GET path` over a Unix socket and returns the whole answer (the server closes after it).
    func get(unixSocket path: String, _ target: String = "/metrics", method: String = "GET") throws -> String {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        try #require(fd >= 0)
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            let bytes = Array(path.utf8)
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        try #require(connected == 0, "connect: \(String(cString: strerror(errno)))")
        let request = Array("\(method) \(target) HTTP/1.1\r\nHost: strongroom\r\n\r\n".utf8)
        try #require(write(fd, request, request.count) == request.count)
        var answer: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        while true {
            let count = read(fd, &buffer, buffer.count)
            if count <= 0 { break }
            answer += buffer[0..<count]
        }
        return String(decoding: answer, as: UTF8.self)
    }

    @Test func exposesRequestMetricsOnItsOwnSocket() async throws {
        let workspace = try ServerProcess.Workspace()
        try workspace.write("strongroom.yaml", workspace.localConfig)
        try #require(try workspace.run(["init", "--config", workspace.configPath]).status == 0)
        let metricsSocket = "\(workspace.directory)/metrics/metrics.sock"
        let server = try ServerProcess.start(
            in: workspace, config: workspace.localConfig, policy: ServerProcess.allowAll(),
            serverSettings: "  metrics: unix:\(metricsSocket)\n", removeWorkspace: true)
        defer { server.stop() }
        #expect(server.readyLine.hasSuffix(", metrics on unix:\(metricsSocket)"))
        var info = stat()
        #expect(lstat(metricsSocket, &info) == 0 && info.st_mode & 0o777 == 0o600)
        for _ in 0..<3 {
            _ = try await StrongroomClient.withVault(server.address) { try await $0.health(Strongroom_V1_HealthRequest()) }
        }
        _ = try? await StrongroomClient.withVault(server.address) { try await $0.status(Strongroom_V1_StatusRequest()) }
        let answer = try get(unixSocket: metricsSocket)
        #expect(answer.hasPrefix("HTTP/1.1 200 OK"), "\(answer.prefix(200))")
        #expect(answer.lowercased().contains("content-type: text/plain; version=0.0.4"))
        let lines = answer.split(separator: "\n")
        let healthOK = lines.first { $0.hasPrefix("strongroom_server_requests_total{") && $0.contains("rpc=\"Health\"") && $0.contains("outcome=\"ok\"") }
        #expect(healthOK?.hasSuffix(" 3") == true, "\(answer)")
        #expect(lines.contains { $0.hasPrefix("strongroom_server_requests_total{") && $0.contains("rpc=\"Status\"") && !$0.contains("outcome=\"ok\"") }, "\(answer)")
        #expect(lines.contains { $0.hasPrefix("strongroom_server_request_duration_seconds_count{") && $0.contains("rpc=\"Health\"") }, "\(answer)")
        #expect(lines.contains { $0.hasPrefix("strongroom_server_requests_in_flight") }, "\(answer)")
        #expect(try get(unixSocket: metricsSocket, "/other").hasPrefix("HTTP/1.1 404"))
        #expect(try get(unixSocket: metricsSocket, method: "POST").hasPrefix("HTTP/1.1 405"))
    }
}
