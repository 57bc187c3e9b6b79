import Foundation
import Testing

/// The CLI's `--server`: put, get, list, versions, erase, rotate, status, audit verify and audit show
/// through a real `strongroom serve` print what they print locally and exit with the same status.
@Suite(.serialized) struct RemoteCLITests {
    static let policy = """
        version: 1
        identities:
          operator: {uid: 0}
        rules:
          - name: operator-no-erase-of-kept
            identity: operator
            operations: [store, load, list, versions, rotate, status, audit]
            shares: ["*"]
          - name: operator-erase
            identity: operator
            operations: [erase]
            shares: ["tmp.*"]
        """

    struct Runner {
        let setup: PolicyServerSetup
        var remote: [String] { ["--server", "unix:\(setup.socket)"] }
        var local: [String] { ["--config", setup.config] }

        @discardableResult
        func cli(_ arguments: [String], stdin: Data? = nil, environment extra: [String: String] = [:]) throws -> PolicyHarness.Result {
            try PolicyHarness.run(
                [PolicyHarness.binary] + arguments, environment: setup.environment.merging(extra) { $1 }, stdin: stdin)
        }
    }

    /// `status` text without the lines that change with every operation (the audit record count).
    func stable(_ text: String) -> [Substring] {
        text.split(separator: "\n").filter { !$0.hasPrefix("audit:") && !$0.hasPrefix("audit checkpoint:") }
    }

    @Test func commandsThroughTheServerPrintAndExitAsLocally() throws {
        let setup = try PolicyServerSetup(serverUID: nil, policy: Self.policy)
        defer { setup.cleanup() }
        let server = try setup.start()
        defer { server.stop() }
        let run = Runner(setup: setup)

        // put: the same line, through the server and here.
        let put1 = try run.cli(["put", "kept.k"] + run.remote + ["--meta", "party=1"], stdin: Data("first secret".utf8))
        #expect(put1.status == 0 && put1.stdout == "stored 'kept.k' version 1\n", "\(put1.stderr)")
        let put2 = try run.cli(["put", "kept.k"] + run.local, stdin: Data("second secret".utf8))
        #expect(put2.status == 0 && put2.stdout == "stored 'kept.k' version 2\n", "\(put2.stderr)")
        let put3 = try run.cli(["put", "tmp.x"] + run.remote, stdin: Data([0, 1, 2, 255]))
        #expect(put3.stdout == "stored 'tmp.x' version 1\n")

        // get: the same bytes.
        let newest = try run.cli(["get", "kept.k", "--stdout"] + run.remote)
        #expect(newest.status == 0 && newest.stdoutBytes == Data("second secret".utf8), "\(newest.stderr)")
        let first = try run.cli(["get", "kept.k", "--version", "1", "--stdout"] + run.remote)
        #expect(first.stdoutBytes == Data("first secret".utf8))
        let binary = try run.cli(["get", "tmp.x", "--stdout"] + run.remote)
        #expect(binary.stdoutBytes == Data([0, 1, 2, 255]))
        let outFile = setup.base + "/got.bin"
        let toFile = try run.cli(["get", "kept.k", "-o", outFile] + run.remote)
        #expect(toFile.status == 0)
        #expect(FileManager.default.contents(atPath: outFile) == Data("second secret".utf8))
        #expect((try FileManager.default.attributesOfItem(atPath: outFile)[.posixPermissions] as? Int) == 0o600)

        // list, versions, status: identical output.
        for command in [["list"], ["versions", "kept.k"], ["status", "--json"]] {
            let remote = try run.cli(command + run.remote)
            let local = try run.cli(command + run.local)
            #expect(remote.status == 0 && remote.status == local.status, "\(command): \(remote.stderr)")
            if command[0] == "status" {
                var r = try JSONSerialization.jsonObject(with: remote.stdoutBytes) as? [String: Any] ?? [:]
                var l = try JSONSerialization.jsonObject(with: local.stdoutBytes) as? [String: Any] ?? [:]
                #expect(r["audit"] != nil)
                r["audit"] = nil
                l["audit"] = nil
                #expect(NSDictionary(dictionary: r) == NSDictionary(dictionary: l), "\(remote.stdout)\n\(local.stdout)")
            } else {
                #expect(remote.stdout == local.stdout, "\(command)")
            }
        }
        let statusRemote = try run.cli(["status"] + run.remote)
        let statusLocal = try run.cli(["status"] + run.local)
        #expect(statusRemote.status == 0 && stable(statusRemote.stdout) == stable(statusLocal.stdout), "\(statusRemote.stdout)\n\(statusLocal.stdout)")

        // rotate through the server; the local vault sees the new KEK version.
        let rotated = try run.cli(["rotate"] + run.remote)
        #expect(rotated.status == 0 && rotated.stdout.hasPrefix("rotated to KEK version 2: 3 rewrapped, 0 already current"), "\(rotated.stdout) \(rotated.stderr)")
        let dry = try run.cli(["rotate", "--dry-run"] + run.remote)
        let dryLocal = try run.cli(["rotate", "--dry-run"] + run.local)
        #expect(dry.status == 0 && dry.stdout == dryLocal.stdout, "\(dry.stdout) / \(dryLocal.stdout)")
        #expect(dry.stdout.hasPrefix("dry run: 3 share version(s) would be rewrapped from KEK version(s) [2] to 3"), "\(dry.stdout)")
        #expect(try run.cli(["status"] + run.local).stdout.contains("current KEK:      version 2"))

        // audit verify and show.
        let verify = try run.cli(["audit", "verify"] + run.remote)
        #expect(verify.status == 0 && verify.stdout.hasPrefix("audit log verified: "), "\(verify.stdout) \(verify.stderr)")
        let verifyJSON = try run.cli(["audit", "verify", "--json"] + run.remote)
        let verified = try JSONSerialization.jsonObject(with: verifyJSON.stdoutBytes) as? [String: Any]
        #expect(verified?["verified"] as? Bool == true)
        let show = try run.cli(["audit", "show", "--json", "--share", "kept.k"] + run.remote)
        #expect(show.status == 0)
        let lines = show.stdout.split(separator: "\n")
        #expect(lines.contains { $0.contains("\"client\":\"uid:0\"") && $0.contains("\"op\":\"store\"") }, "\(show.stdout)")
        #expect(!show.stdout.contains("tmp.x"))
        let showText = try run.cli(["audit", "show", "--op", "rotate"] + run.remote)
        #expect(showText.status == 0 && showText.stdout.contains("rotate"), "\(showText.stdout) \(showText.stderr)")

        // erase: allowed on tmp.*, refused by the policy on kept.k (exit 77, as a local access denial).
        let erased = try run.cli(["erase", "tmp.x", "--yes"] + run.remote)
        #expect(erased.status == 0 && erased.stdout == "erased 'tmp.x': 1 version(s) destroyed\n", "\(erased.stderr)")
        let refused = try run.cli(["erase", "kept.k", "--yes"] + run.remote)
        #expect(refused.status == 77, "\(refused.stderr)")
        #expect(refused.stderr.hasPrefix("strongroom: error: access denied: "), "\(refused.stderr)")
        #expect(refused.stdout.isEmpty)
        #expect(try run.cli(["get", "kept.k", "--stdout"] + run.remote).stdoutBytes == Data("second secret".utf8))

        // Errors: the same exit status and message as locally.
        for arguments in [["get", "nope.k", "--stdout"], ["versions", "nope.k"], ["get", "tmp.x", "--stdout"]] {
            let remote = try run.cli(arguments + run.remote)
            let local = try run.cli(arguments + run.local)
            #expect(remote.status == local.status && remote.status == 66, "\(arguments): \(remote.stderr) / \(local.stderr)")
            #expect(remote.stderr.hasPrefix("strongroom: error: share not found"), "\(remote.stderr)")
        }
        let badID = try run.cli(["get", "../x", "--stdout"] + run.remote)
        #expect(badID.status == 64)
    }

    @Test func serverOptionsAreCheckedAndLocalOnlyCommandsRefuseThem() throws {
        let setup = try PolicyServerSetup(serverUID: nil, policy: Self.policy)
        defer { setup.cleanup() }
        let run = Runner(setup: setup)

        // Nothing listens there: unavailable, exit 69, naming the address.
        let down = try run.cli(["list", "--server", "unix:\(setup.base)/none.sock"])
        #expect(down.status == 69, "\(down.stderr)")
        #expect(down.stderr.hasPrefix("strongroom: error: "))
        let viaEnvironment = try run.cli(["list"], environment: ["STRONGROOM_SERVER": "unix:\(setup.base)/none.sock"])
        #expect(viaEnvironment.status == 69, "\(viaEnvironment.stderr)")

        let badAddress = try run.cli(["list", "--server", "unix:relative.sock"])
        #expect(badAddress.status == 64 && badAddress.stderr.contains("server address"), "\(badAddress.stderr)")
        let tcpWithoutTLS = try run.cli(["list", "--server", "127.0.0.1:9"])
        #expect(tcpWithoutTLS.status == 78 && tcpWithoutTLS.stderr.contains("mutual TLS"), "\(tcpWithoutTLS.stderr)")
        let halfTLS = try run.cli(["list", "--server", "127.0.0.1:9", "--tls-cert", "c.pem"])
        #expect(halfTLS.status == 64 && halfTLS.stderr.contains("all three"), "\(halfTLS.stderr)")
        let both = try run.cli(["list", "--server", "unix:\(setup.socket)", "--config", setup.config])
        #expect(both.status == 64 && both.stderr.contains("--config and --server"), "\(both.stderr)")

        // Commands that work on a local vault only say so rather than quietly open one.
        for command in [["init"], ["recovery", "enrol", "--key", "x.pub"], ["migrate", "--to", "x.yaml", "--dry-run"]] {
            let result = try run.cli(command + ["--server", "unix:\(setup.socket)", "--config", setup.config])
            #expect(result.status == 64, "\(command): \(result.stderr)")
        }
        let initRefused = try run.cli(["init", "--server", "unix:\(setup.socket)"])
        #expect(initRefused.status == 64 && initRefused.stderr.contains("local vault only"), "\(initRefused.stderr)")
    }
}
