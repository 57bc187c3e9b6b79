import Foundation
import StrongroomCore
import StrongroomServer
import Testing

/// `server.*` read from a real configuration file and the environment.
@Suite struct ServerCoreSettingsTests {
    func load(_ yaml: String, environment: [String: String] = [:]) async throws -> ServerSettings {
        let workspace = try ServerProcess.Workspace()
        defer { workspace.cleanup() }
        let path = try workspace.write("strongroom.yaml", yaml)
        return try await ServerSettings.load(filePath: path, environment: environment)
    }

    func refusal(_ yaml: String, environment: [String: String] = [:]) async -> String {
        do {
            _ = try await load(yaml, environment: environment)
            return "accepted"
        } catch {
            return "\(error)"
        }
    }

    @Test func defaultsApplyWhenOnlyThePolicyIsGiven() async throws {
        let settings = try await load("tier: local\nserver:\n  policy: /etc/strongroom/policy.yaml\n")
        #expect(settings.policyPath == "/etc/strongroom/policy.yaml")
        #expect(settings.socketPath == "/run/strongroom/strongroom.sock")
        #expect(settings.tcp == nil && settings.metrics == nil)
        #expect(settings.maxMessageBytes == 1_048_576 && settings.maxConcurrentStreams == 256)
        #expect(settings.drainTimeoutSeconds == 30 && settings.idleTimeoutSeconds == 300)
    }

    @Test func theEnvironmentWins() async throws {
        let settings = try await load(
            "server:\n  policy: /p.yaml\n  maxMessageBytes: 2048\n",
            environment: ["STRONGROOM_SERVER_MAX_MESSAGE_BYTES": "4096", "STRONGROOM_SERVER_METRICS": "127.0.0.1:9464"])
        #expect(settings.maxMessageBytes == 4096)
        #expect(settings.metrics == .tcp(host: "127.0.0.1", port: 9464))
    }

    @Test func badValuesAreRefusedByKeyAndLine() async {
        #expect(await refusal("server:\n  socket: /run/s.sock\n") .contains("missing required setting 'server.policy'"))
        let name = await refusal("server:\n  policy: /p.yaml\n  tcp: localhost:8443\n")
        #expect(name.contains("setting 'server.tcp'") && name.contains("line 3") && name.contains("numeric address"), "\(name)")
        let streams = await refusal("server:\n  policy: /p.yaml\n  maxConcurrentStreams: 0\n")
        #expect(streams.contains("setting 'server.maxConcurrentStreams'") && streams.contains("must be 1 to 65536, got 0"), "\(streams)")
        let relative = await refusal("server:\n  policy: /p.yaml\n  socket: run/s.sock\n")
        #expect(relative.contains("setting 'server.socket'") && relative.contains("absolute path"), "\(relative)")
        let orphan = await refusal("server:\n  policy: /p.yaml\n  tls:\n    key: /k.pem\n")
        #expect(orphan.contains("'server.tls.key'") && orphan.contains("server.tcp is not"), "\(orphan)")
        let metrics = await refusal("server:\n  policy: /p.yaml\n  metrics: unix:relative\n")
        #expect(metrics.contains("setting 'server.metrics'"), "\(metrics)")
    }
}
