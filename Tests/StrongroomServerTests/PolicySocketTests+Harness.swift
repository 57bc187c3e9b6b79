import Foundation
import Synchronization
import Testing

/// Running the real `strongroom` binary (as another uid with setpriv when asked), a real
/// `strongroom serve`, and the Python client, for the policy, Python client and `--server` suites.
enum PolicyHarness {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
        var stdoutBytes: Data
    }

    /// The built binary (beside the test runner, else .build/debug of this checkout).
    static let binary: String = {
        _ = signal(SIGPIPE, SIG_IGN)
        let fromRunner = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        let candidates = [
            fromRunner.appendingPathComponent("strongroom"),
            fromRunner.deletingLastPathComponent().appendingPathComponent("strongroom"),
            repoRoot.appendingPathComponent(".build/debug/strongroom"),
        ]
        return (candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) } ?? candidates[2]).path
    }()

    /// The checkout's root directory.
    static let repoRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    /// The executable and arguments that run `command` as `uid` (and its gid, no supplementary groups).
    static func asUser(_ uid: UInt32?, _ command: [String]) -> (String, [String]) {
        guard let uid else { return (command[0], Array(command.dropFirst())) }
        return ("/usr/bin/setpriv", ["--reuid=\(uid)", "--regid=\(uid)", "--clear-groups"] + command)
    }

    /// Runs a command to its end, draining its output at once.
    @discardableResult
    static func run(
        _ command: [String], uid: UInt32? = nil, environment: [String: String], stdin: Data? = nil,
        directory: String? = nil
    ) throws -> Result {
        let (executable, arguments) = asUser(uid, command)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = environment
        if let directory { process.currentDirectoryURL = URL(fileURLWithPath: directory) }
        let out = Pipe(), err = Pipe(), input = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = input
        try process.run()
        if let stdin { try? input.fileHandleForWriting.write(contentsOf: stdin) }
        try input.fileHandleForWriting.close()
        let (outData, errData) = drain(out, err)
        process.waitUntilExit()
        return Result(
            status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
            stderr: String(decoding: errData, as: UTF8.self), stdoutBytes: outData)
    }

    /// Reads two pipes to their ends concurrently.
    static func drain(_ out: Pipe, _ err: Pipe) -> (Data, Data) {
        let box = Mutex(Data())
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            let data = err.fileHandleForReading.readDataToEndOfFile()
            box.withLock { $0 = data }
            done.signal()
        }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        done.wait()
        return (outData, box.withLock { $0 })
    }

    static func chown(_ path: String, _ uid: UInt32) {
        _ = Glibc.chown(path, uid, uid)
    }

    /// A free TCP port on 127.0.0.1 (bound, read, released).
    static func freePort() throws -> Int {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EIO) }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
        }
        guard bound else { throw POSIXError(.EADDRINUSE) }
        return Int(UInt16(bigEndian: address.sin_port))
    }
}

/// Bytes appended by a reader thread and read by the test.
final class PolicyLockedData: Sendable {
    let data = Mutex(Data())
}

/// A `strongroom serve` for one test: started, waited for (its ready line), always stopped.
final class PolicyServerProcess: @unchecked Sendable {
    // @unchecked: `process` is set once in init; the output buffers are behind Mutexes.
    let process: Process
    private let stderrBuffer = PolicyLockedData()
    private let stdoutBuffer = PolicyLockedData()
    private let readers = DispatchGroup()

    /// Starts `strongroom serve --config config` as `uid` and waits up to `timeout` seconds for the line
    /// `strongroom: serving …` on its standard error.
    init(config: String, uid: UInt32?, environment: [String: String], timeout: Double = 90) throws {
        let (executable, arguments) = PolicyHarness.asUser(uid, [PolicyHarness.binary, "serve", "--config", config])
        process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = environment
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        for (pipe, buffer) in [(out, stdoutBuffer), (err, stderrBuffer)] {
            readers.enter()
            let handle = pipe.fileHandleForReading
            Thread.detachNewThread { [readers] in
                while true {
                    let chunk = handle.availableData
                    if chunk.isEmpty { break }
                    buffer.data.withLock { $0.append(chunk) }
                }
                readers.leave()
            }
        }
        let deadline = Date().addingTimeInterval(timeout)
        while !stderr.contains("strongroom: serving") {
            if !process.isRunning || Date() > deadline {
                stop()
                Issue.record("strongroom serve did not become ready; stderr:\n\(stderr)")
                throw POSIXError(.ETIMEDOUT)
            }
            Thread.sleep(forTimeInterval: 0.05)
        }
    }

    var stderr: String { String(decoding: stderrBuffer.data.withLock { $0 }, as: UTF8.self) }
    var stdout: String { String(decoding: stdoutBuffer.data.withLock { $0 }, as: UTF8.self) }

    /// SIGTERM, up to 30 s to exit, then SIGKILL. Returns the exit status.
    @discardableResult
    func stop() -> Int32 {
        if process.isRunning {
            kill(process.processIdentifier, SIGTERM)
            let deadline = Date().addingTimeInterval(30)
            while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
        }
        process.waitUntilExit()
        readers.wait()
        return process.terminationStatus
    }
}

/// A vault on tier 1 served by `strongroom serve` as `serverUID`, with the given policy, in a fresh
/// directory; optional mutual TLS on 127.0.0.1 with certificates made by the openssl CLI.
struct PolicyServerSetup {
    let base: String
    let serverDir: String
    let serverUID: UInt32?
    let socket: String
    let config: String
    let policyPath: String
    let pythonDir: String
    var tcpPort: Int?
    let environment: [String: String]

    /// The client certificate subjects made when TLS is on, by file stem.
    static let clientSubjects = ["engine-b": "/O=Example/CN=engine-b", "engine-c": "/O=Example/CN=engine-c"]

    init(serverUID: UInt32?, policy: String, tls: Bool = false) throws {
        base = "/tmp/strongroom-policy-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: base, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o755])
        serverDir = base + "/srv"
        try FileManager.default.createDirectory(atPath: serverDir, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        self.serverUID = serverUID
        socket = serverDir + "/run/strongroom.sock"
        config = serverDir + "/strongroom.yaml"
        policyPath = serverDir + "/policy.yaml"
        pythonDir = base + "/py"
        environment = ["PATH": "/usr/bin:/bin", "HOME": base, "LANG": "C.UTF-8"]
        try Data(policy.utf8).write(to: URL(fileURLWithPath: policyPath))
        chmod(policyPath, 0o600)
        var yaml = "tier: local\nlocal:\n  path: \(serverDir)/vault\nserver:\n  socket: \(socket)\n  policy: \(policyPath)\n"
        if tls {
            let port = try PolicyHarness.freePort()
            tcpPort = port
            try makeCertificates()
            yaml += "  tcp: 127.0.0.1:\(port)\n  tls:\n    certificate: \(serverDir)/tls/server.pem\n    key: \(serverDir)/tls/server.key\n    clientCA: \(serverDir)/tls/ca.pem\n"
        }
        try Data(yaml.utf8).write(to: URL(fileURLWithPath: config))
        chmod(config, 0o600)
        if let serverUID {
            for path in [serverDir, policyPath, config] { PolicyHarness.chown(path, serverUID) }
            if tls {
                for name in ["", "/ca.pem", "/server.pem", "/server.key"] { PolicyHarness.chown(serverDir + "/tls" + name, serverUID) }
            }
        }
        let initResult = try PolicyHarness.run(
            [PolicyHarness.binary, "init", "--config", config], uid: serverUID, environment: environment)
        guard initResult.status == 0 else {
            Issue.record("strongroom init failed: \(initResult.stderr)")
            throw POSIXError(.EIO)
        }
        try preparePython()
    }

    /// CA, server certificate (localhost, 127.0.0.1) and client certificates, with the openssl CLI.
    private func makeCertificates() throws {
        let tls = serverDir + "/tls"
        let clients = base + "/clients"
        try FileManager.default.createDirectory(atPath: tls, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        try FileManager.default.createDirectory(atPath: clients, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o755])
        func openssl(_ arguments: [String]) throws {
            let result = try PolicyHarness.run(["/usr/bin/openssl"] + arguments, environment: environment, directory: base)
            guard result.status == 0 else {
                Issue.record("openssl \(arguments.joined(separator: " ")) failed: \(result.stderr)")
                throw POSIXError(.EIO)
            }
        }
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
        for (dir, name) in [(tls, "ca"), (clients, "rogue-ca")] {
            try openssl(["req", "-x509"] + ec + ["-keyout", "\(dir)/\(name).key", "-out", "\(dir)/\(name).pem", "-subj", "/CN=Strongroom test \(name)", "-days", "2"])
        }
        try Data("subjectAltName=DNS:localhost,IP:127.0.0.1\n".utf8).write(to: URL(fileURLWithPath: base + "/server.ext"))
        try openssl(["req"] + ec + ["-keyout", "\(tls)/server.key", "-out", "\(base)/server.csr", "-subj", "/CN=localhost"])
        try openssl(["x509", "-req", "-in", "\(base)/server.csr", "-CA", "\(tls)/ca.pem", "-CAkey", "\(tls)/ca.key", "-CAcreateserial",
                     "-out", "\(tls)/server.pem", "-days", "2", "-extfile", "\(base)/server.ext"])
        var signed = Self.clientSubjects.map { ($0.key, $0.value, "ca", tls) }
        signed.append(("rogue", "/O=Example/CN=engine-b", "rogue-ca", clients))
        for (stem, subject, ca, caDir) in signed {
            try openssl(["req"] + ec + ["-keyout", "\(clients)/\(stem).key", "-out", "\(base)/\(stem).csr", "-subj", subject])
            try openssl(["x509", "-req", "-in", "\(base)/\(stem).csr", "-CA", "\(caDir)/\(ca).pem", "-CAkey", "\(caDir)/\(ca).key",
                         "-CAcreateserial", "-out", "\(clients)/\(stem).pem", "-days", "2"])
        }
        try FileManager.default.copyItem(atPath: "\(tls)/ca.pem", toPath: "\(clients)/ca.pem")
        for entry in try FileManager.default.contentsOfDirectory(atPath: clients) { chmod("\(clients)/\(entry)", 0o644) }
    }

    /// The client TLS environment for a client certificate stem (engine-b, engine-c, rogue).
    func tlsEnvironment(_ stem: String) -> [String: String] {
        [
            "STRONGROOM_TEST_SERVER": "127.0.0.1:\(tcpPort ?? 0)",
            "STRONGROOM_TEST_TLS_CERT": "\(base)/clients/\(stem).pem", "STRONGROOM_TEST_TLS_KEY": "\(base)/clients/\(stem).key",
            "STRONGROOM_TEST_TLS_CA": "\(base)/clients/ca.pem", "STRONGROOM_TEST_TLS_NAME": "localhost",
        ]
    }

    /// Runs the CLI with `arguments` through the server over TCP with mutual TLS, as the client
    /// certificate `stem` (engine-b, engine-c, rogue).
    func tlsCLI(_ arguments: [String], stem: String, stdin: Data? = nil) throws -> PolicyHarness.Result {
        let clients = base + "/clients"
        return try PolicyHarness.run(
            [PolicyHarness.binary] + arguments + [
                "--server", "localhost:\(tcpPort ?? 0)", "--tls-cert", "\(clients)/\(stem).pem",
                "--tls-key", "\(clients)/\(stem).key", "--tls-ca", "\(clients)/ca.pem",
            ],
            environment: environment, stdin: stdin)
    }

    /// Generates the Python gRPC code into py/ and copies the client library, the test suite and the
    /// probe there, all world-readable (clients run as other uids).
    private func preparePython() throws {
        let generate = PolicyHarness.repoRoot.appendingPathComponent("scripts/client/python/generate").path
        // The machine's python3 with grpcio-tools (PATH as the test runner has it), as root.
        let result = try PolicyHarness.run([generate, pythonDir], environment: ProcessInfo.processInfo.environment)
        guard result.status == 0 else {
            Issue.record("scripts/client/python/generate failed: \(result.stderr)")
            throw POSIXError(.EIO)
        }
        for name in ["strongroom_client.py", "test_client.py"] {
            try FileManager.default.copyItem(
                atPath: PolicyHarness.repoRoot.appendingPathComponent("scripts/client/python/\(name)").path,
                toPath: "\(pythonDir)/\(name)")
        }
        try Data(Self.probe.utf8).write(to: URL(fileURLWithPath: "\(pythonDir)/probe.py"))
        // grpcio and protobuf copied where every uid can read them (the interpreter's own site-packages
        // may be under /root, 0700).
        let packages = try PythonForOtherUsers.make()
        for entry in try FileManager.default.contentsOfDirectory(atPath: packages.path) {
            try FileManager.default.moveItem(atPath: "\(packages.path)/\(entry)", toPath: "\(pythonDir)/\(entry)")
        }
        packages.cleanup()
        let enumerator = FileManager.default.enumerator(atPath: pythonDir)
        chmod(pythonDir, 0o755)
        while let entry = enumerator?.nextObject() as? String {
            var isDirectory: ObjCBool = false
            FileManager.default.fileExists(atPath: "\(pythonDir)/\(entry)", isDirectory: &isDirectory)
            chmod("\(pythonDir)/\(entry)", isDirectory.boolValue ? 0o755 : 0o644)
        }
    }

    /// Starts the server (always stop it: `defer { server.stop() }`).
    func start() throws -> PolicyServerProcess {
        try PolicyServerProcess(config: config, uid: serverUID, environment: environment)
    }

    /// The interpreter every uid can run: the machine's python3 unless it lives under /root (0700), then
    /// the system's (same minor version on the test machines, so the copied grpcio loads).
    static let interpreter: String = {
        let which = try? PolicyHarness.run(
            ["/usr/bin/env", "python3", "-c", "import sys; print(sys.executable)"], environment: ProcessInfo.processInfo.environment)
        let path = which?.stdout.trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        return path.isEmpty || path.hasPrefix("/root/") ? "/usr/bin/python3" : path
    }()

    /// Runs the Python client as `uid`: `python3 ARGS` in py/ with the generated code on the path.
    func python(_ arguments: [String], uid: UInt32?, environment extra: [String: String] = [:]) throws -> PolicyHarness.Result {
        var env = environment
        env["PYTHONPATH"] = pythonDir
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        env["STRONGROOM_TEST_SERVER"] = "unix:\(socket)"
        env.merge(extra) { $1 }
        return try PolicyHarness.run([Self.interpreter] + arguments, uid: uid, environment: env, directory: pythonDir)
    }

    /// Runs the probe as `uid` (or over TLS with `extra`): each step is `op` or `op:share`; returns
    /// what each step got: "ok", "ok:<listed ids joined by ,>", or the Strongroom error code's name.
    func probe(_ steps: [String], uid: UInt32?, environment extra: [String: String] = [:]) throws -> [String: String] {
        let result = try python(["probe.py"] + steps, uid: uid, environment: extra)
        guard result.status == 0,
              let object = try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: String]
        else {
            Issue.record("probe failed (\(result.status)): \(result.stdout) \(result.stderr)")
            return [:]
        }
        return object
    }

    func cleanup() { try? FileManager.default.removeItem(atPath: base) }

    /// Tries each step through the Python client and prints a JSON object step -> outcome.
    static let probe = """
        import json, os, sys
        import strongroom_client as sc

        vault = sc.connect(os.environ["STRONGROOM_TEST_SERVER"], tls_cert=os.environ.get("STRONGROOM_TEST_TLS_CERT"),
                           tls_key=os.environ.get("STRONGROOM_TEST_TLS_KEY"), tls_ca=os.environ.get("STRONGROOM_TEST_TLS_CA"),
                           server_hostname=os.environ.get("STRONGROOM_TEST_TLS_NAME"), timeout=60)
        out = {}
        for step in sys.argv[1:]:
            op, _, share = step.partition(":")
            try:
                if op == "store": vault.store(share, b"probe bytes " + share.encode())
                elif op == "load": vault.load(share)
                elif op == "versions": vault.versions(share)
                elif op == "erase": vault.erase(share)
                elif op == "list":
                    out[step] = "ok:" + ",".join(sorted(s[0] for s in vault.list()))
                    continue
                elif op == "rotate": vault.rotate(dry_run=True)
                elif op == "status": vault.status()
                elif op == "audit": vault.audit_verify()
                elif op == "health": vault.health()
                else: raise SystemExit("unknown step " + step)
                out[step] = "ok"
            except sc.StrongroomError as error:
                out[step] = error.code
        vault.close()
        print(json.dumps(out))
        """
}
