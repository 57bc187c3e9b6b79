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
        _ = try #require(setup.tcpPort)
        let stored = try setup.tlsCLI(["put", "engine-b.k"], stem: "engine-b", stdin: Data("over tls".utf8))
        #expect(stored.status == 0 && stored.stdout == "stored 'engine-b.k' version 1\n", "\(stored.stderr)")
        let loaded = try setup.tlsCLI(["get", "engine-b.k", "--stdout"], stem: "engine-b")
        #expect(loaded.stdoutBytes == Data("over tls".utf8), "\(loaded.stderr)")
        let listed = try setup.tlsCLI(["list"], stem: "engine-b")
        #expect(listed.status == 0 && listed.stdout.contains("engine-b.k"), "\(listed.stderr)")

        // The policy grants engine-b nothing outside engine-b.*, and nothing at all to engine-c.
        let outside = try setup.tlsCLI(["put", "ops.k"], stem: "engine-b", stdin: Data("x".utf8))
        #expect(outside.status == 77 && outside.stderr.contains("access denied"), "\(outside.stderr)")
        let status = try setup.tlsCLI(["status"], stem: "engine-b")
        #expect(status.status == 77, "\(status.stderr)")
        let stranger = try setup.tlsCLI(["get", "engine-b.k", "--stdout"], stem: "engine-c")
        #expect(stranger.status == 77 && stranger.stdout.isEmpty, "\(stranger.stderr)")
        #expect(stranger.stderr.contains("CN=engine-c,O=Example"), "\(stranger.stderr)")

        // A certificate from another CA with engine-b's subject does not get through the handshake.
        let rogue = try setup.tlsCLI(["get", "engine-b.k", "--stdout"], stem: "rogue")
        #expect(rogue.status != 0 && rogue.stdout.isEmpty, "\(rogue.stderr)")
    }

    static let sealPolicy = """
        version: 1
        identities:
          custodian: {subject: "CN=engine-b,O=Example"}
          engine-c: {subject: "CN=engine-c,O=Example"}
        rules:
          - name: custodians
            identity: custodian
            operations: [unseal, seal, store, load]
            shares: ["*"]
          - name: engine-c
            identity: engine-c
            operations: [load]
            shares: ["*"]
        """

    /// A sealed vault unsealed and sealed over TCP with mutual TLS: `strongroom unseal` and `strongroom
    /// seal` with a client certificate the policy grants unseal and seal; a certificate without the grant
    /// is refused (and its part not counted); another CA's certificate does not get through the handshake.
    @Test func aSealedVaultIsUnsealedAndSealedOverMutualTLS() throws {
        let setup = try PolicyServerSetup(serverUID: nil, policy: Self.sealPolicy, tls: true)
        defer { setup.cleanup() }
        // Seal the plain seed `init` made to 2 of 3 custodian parts, then serve it sealed.
        let passphrases = (1...3).map { "tls custodian passphrase \($0)" }
        let parts = setup.base + "/parts"
        let sealed = try PolicyHarness.run(
            [PolicyHarness.binary, "seal-seed", "--config", setup.config, "--custodians", "3", "--threshold", "2",
             "--parts-dir", parts, "--passphrase-fd", "0"],
            environment: setup.environment, stdin: Data(passphrases.map { $0 + "\n" }.joined().utf8))
        try #require(sealed.status == 0, "\(sealed.stderr)")
        let config = try String(contentsOfFile: setup.config, encoding: .utf8)
        let vaultLine = "  path: \(setup.serverDir)/vault\n"
        try #require(config.contains(vaultLine))
        try Data(config.replacingOccurrences(of: vaultLine, with: vaultLine + "  seal: sealed\n").utf8)
            .write(to: URL(fileURLWithPath: setup.config))
        let server = try setup.start()
        defer { server.stop() }
        _ = try #require(setup.tcpPort)
        func unseal(_ part: Int, stem: String) throws -> PolicyHarness.Result {
            try setup.tlsCLI(["unseal", "--part", "\(parts)/part-\(part)-of-3.srpart", "--passphrase-fd", "0"], stem: stem,
                    stdin: Data((passphrases[part - 1] + "\n").utf8))
        }

        // Sealed: loads are refused with "vault sealed", even for a caller the policy lets load.
        let early = try setup.tlsCLI(["get", "any.k", "--stdout"], stem: "engine-c")
        #expect(early.status == 75 && early.stderr.contains("vault sealed"), "\(early.stderr)")
        // engine-c may not unseal: refused by the policy, and its part is not counted.
        let refused = try unseal(1, stem: "engine-c")
        #expect(refused.status == 77 && refused.stderr.contains("CN=engine-c,O=Example"), "\(refused.stderr)")
        // Another CA's certificate with the custodian's subject does not get through the handshake.
        let rogue = try unseal(1, stem: "rogue")
        #expect(rogue.status != 0 && !rogue.stdout.contains("accepted"), "\(rogue.stderr)")

        let first = try unseal(1, stem: "engine-b")
        #expect(first.status == 0 && first.stdout.contains("1 of 2 parts received"), "\(first.stdout) \(first.stderr)")
        let second = try unseal(3, stem: "engine-b")
        #expect(second.status == 0 && second.stdout.contains("unsealed"), "\(second.stdout) \(second.stderr)")

        let stored = try setup.tlsCLI(["put", "engine-b.k"], stem: "engine-b", stdin: Data("after a tls unseal".utf8))
        #expect(stored.status == 0, "\(stored.stderr)")
        let loaded = try setup.tlsCLI(["get", "engine-b.k", "--stdout"], stem: "engine-c")
        #expect(loaded.stdoutBytes == Data("after a tls unseal".utf8), "\(loaded.stderr)")

        // engine-c may not seal; the custodian may, and the next load is refused at once.
        let noSeal = try setup.tlsCLI(["seal"], stem: "engine-c")
        #expect(noSeal.status == 77, "\(noSeal.stderr)")
        let resealed = try setup.tlsCLI(["seal"], stem: "engine-b")
        #expect(resealed.status == 0 && resealed.stdout.contains("sealed: the server dropped the root seed"), "\(resealed.stdout) \(resealed.stderr)")
        let after = try setup.tlsCLI(["get", "engine-b.k", "--stdout"], stem: "engine-c")
        #expect(after.status == 75 && after.stdout.isEmpty, "\(after.stderr)")
    }
}
