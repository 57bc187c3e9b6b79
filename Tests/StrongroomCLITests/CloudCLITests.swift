import Foundation
import Testing

/// `strongroom` against the moto server scripts/test starts: tier 2 init, put/get/rotate/erase,
/// and the refused-credentials and unreachable-server exits.
@Suite struct CloudCLITests: CloudServerSuite {
    let server: CloudTestServer

    init() throws { server = try CloudTestServer() }

    @Test func tier2LifecycleThroughTheCLI() throws {
        var cli = try CLI()
        defer { cli.cleanup() }
        cli.environment["AWS_ACCESS_KEY_ID"] = accessKey
        cli.environment["AWS_SECRET_ACCESS_KEY"] = secretKey
        let prefix = "cli-\(UUID().uuidString.prefix(8).lowercased())/"
        let config = try cli.writeConfig(
            "cloud.yaml", "tier: cloud\ncloud:\n  endpoint: \(endpoint)\n  bucket: \(bucket)\n  prefix: \(prefix)\n  keyDeletionWindowDays: 7\n")
        let created = try cli.run(["init", "--config", config])
        #expect(created.status == 0, "\(created.stderr)")
        #expect(created.stdout.contains("s3://\(bucket)/\(prefix)"))
        #expect(try cli.run(["init", "--config", config]).status == 73)
        #expect(try cli.run(["put", "--config", config, "alice"], stdin: Data("cloud secret".utf8)).status == 0)
        #expect(try cli.run(["get", "--config", config, "--stdout", "alice"]).stdout == "cloud secret")
        let rotated = try cli.run(["rotate", "--config", config])
        #expect(rotated.status == 0, "\(rotated.stderr)")
        #expect(try cli.run(["get", "--config", config, "--stdout", "alice"]).stdout == "cloud secret")
        #expect(try cli.run(["status", "--config", config]).stdout.contains("cloud"))

        // Refused credentials exit 77 and never print the secret; an unreachable endpoint exits 69.
        let refused = try cli.run(
            ["get", "--config", config, "--stdout", "alice"],
            environment: ["AWS_SECRET_ACCESS_KEY": "definitely-wrong-secret", "STRONGROOM_CLOUD_MAX_ATTEMPTS": "1"])
        #expect(refused.status == 77, "\(refused.stderr)")
        #expect(!refused.stderr.contains("definitely-wrong-secret"))
        let down = try cli.run(
            ["get", "--config", config, "--stdout", "alice"],
            environment: ["STRONGROOM_CLOUD_ENDPOINT": "http://127.0.0.1:9", "STRONGROOM_CLOUD_MAX_ATTEMPTS": "2"])
        #expect(down.status == 69, "\(down.stderr)")
        #expect(down.stderr.contains("did not answer after 2 attempt(s)"))
        let insecure = try cli.run(
            ["get", "--config", config, "--stdout", "alice"], environment: ["STRONGROOM_CLOUD_ENDPOINT": "http://s3.example.com"])
        #expect(insecure.status == 78)

        #expect(try cli.run(["erase", "--config", config, "--yes", "alice"]).status == 0)
        #expect(try cli.run(["get", "--config", config, "--stdout", "alice"]).status == 66)
    }
}

/// The moto server scripts/test starts, as the tier 2 CLI tests see it.
struct CloudTestServer {
    let endpoint: String
    let bucket: String
    let accessKey: String
    let secretKey: String
    let region: String

    init() throws {
        let environment = ProcessInfo.processInfo.environment
        func value(_ name: String) throws -> String {
            try #require(environment[name].flatMap { $0.isEmpty ? nil : $0 }, "\(name) is not set: run the suite with scripts/test")
        }
        endpoint = try value("STRONGROOM_TEST_S3_ENDPOINT")
        bucket = try value("STRONGROOM_TEST_S3_BUCKET")
        accessKey = try value("AWS_ACCESS_KEY_ID")
        secretKey = try value("AWS_SECRET_ACCESS_KEY")
        region = environment["AWS_DEFAULT_REGION"] ?? "us-east-1"
    }
}

/// A suite that runs against ``CloudTestServer``, with its settings by name.
protocol CloudServerSuite {
    var server: CloudTestServer { get }
}

extension CloudServerSuite {
    var endpoint: String { server.endpoint }
    var bucket: String { server.bucket }
    var accessKey: String { server.accessKey }
    var secretKey: String { server.secretKey }
    var region: String { server.region }
}
