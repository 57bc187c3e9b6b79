import Foundation
import Testing

/// The CLI's `--server` over TCP with mutual TLS: the client certificate's subject is the identity the
/// policy sees.
@Suite(.serialized) struct RemoteCLITLSTests {
    static let policy = """
        version: 1
        identities:
          operator: {uid: 0}
          engine-b: {subject: "CN=engine-b,O=Example"}
        rules:
          - name: operator
            identity: operator
            operations: [store, load, list, versions, erase, rotate, status, audit]
            shares: ["*"]
          - name: engine-b
            identity: engine-b
            operations: [store, load, list]
            shares: ["engine-b.*"]
        """

    @Test func aClientCertificateIsTheIdentity() throws {
        let setup = try PolicyServerSetup(serverUID: nil, policy: Self.policy, tls: true)
        defer { setup.cleanup() }
        let server = try setup.start()
        defer { server.stop() }
        let port = try #require(setup.tcpPort)
        func cli(_ arguments: [String], stem: String, stdin: Data? = nil) throws -> PolicyHarness.Result {
            let clients = setup.base + "/clients"
            return try PolicyHarness.run(
                [PolicyHarness.binary] + arguments + [
                    "--server", "localhost:\(port)", "--tls-cert", "\(clients)/\(stem).pem",
                    "--tls-key", "\(clients)/\(stem).key", "--tls-ca", "\(clients)/ca.pem",
                ],
                environment: setup.environment, stdin: stdin)
        }
        let stored = try cli(["put", "engine-b.k"], stem: "engine-b", stdin: Data("over tls".utf8))
        #expect(stored.status == 0 && stored.stdout == "stored 'engine-b.k' version 1\n", "\(stored.stderr)")
        let loaded = try cli(["get", "engine-b.k", "--stdout"], stem: "engine-b")
        #expect(loaded.stdoutBytes == Data("over tls".utf8), "\(loaded.stderr)")
        let listed = try cli(["list"], stem: "engine-b")
        #expect(listed.status == 0 && listed.stdout.contains("engine-b.k"), "\(listed.stderr)")

        // The policy grants engine-b nothing outside engine-b.*, and nothing at all to engine-c.
        let outside = try cli(["put", "ops.k"], stem: "engine-b", stdin: Data("x".utf8))
        #expect(outside.status == 77 && outside.stderr.contains("access denied"), "\(outside.stderr)")
        let status = try cli(["status"], stem: "engine-b")
        #expect(status.status == 77, "\(status.stderr)")
        let stranger = try cli(["get", "engine-b.k", "--stdout"], stem: "engine-c")
        #expect(stranger.status == 77 && stranger.stdout.isEmpty, "\(stranger.stderr)")
        #expect(stranger.stderr.contains("CN=engine-c,O=Example"), "\(stranger.stderr)")

        // A certificate from another CA with engine-b's subject does not get through the handshake.
        let rogue = try cli(["get", "engine-b.k", "--stdout"], stem: "rogue")
        #expect(rogue.status != 0 && rogue.stdout.isEmpty, "\(rogue.stderr)")
    }
}
