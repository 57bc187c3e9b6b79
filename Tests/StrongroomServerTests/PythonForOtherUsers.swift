#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// The test machine's Python with grpcio, made usable by a client run as another uid (`setpriv
/// --reuid=N --regid=N --clear-groups`): the interpreter may live under /root (0700), whose
/// site-packages another uid cannot read, so `grpc` and its pure-Python needs are copied into a
/// world-readable directory given as PYTHONPATH. Extra packages (the generated client, protobuf)
/// can be added with `copy`.
struct PythonForOtherUsers: Sendable {
    let executable: String
    let path: String

    static func make(packages: [String] = ["grpc", "typing_extensions", "google"]) throws -> PythonForOtherUsers {
        let locate = Process()
        locate.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        let modules = packages.map { "'\($0)'" }.joined(separator: ",")
        locate.arguments = [
            "python3", "-c",
            "import sys, importlib, os\nprint(sys.executable)\nfor m in [\(modules)]:\n  mod = importlib.import_module(m)\n  f = getattr(mod, '__file__', None)\n  print(os.path.dirname(f) if f and f.endswith('__init__.py') else (f or list(mod.__path__)[0]))",
        ]
        let out = Pipe()
        locate.standardOutput = out
        try locate.run()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        locate.waitUntilExit()
        let lines = text.split(separator: "\n").map(String.init)
        guard locate.terminationStatus == 0, lines.count == packages.count + 1 else {
            throw ServerProcessError("python3 with grpcio is not installed (scripts/bootstrap installs it): \(text)")
        }
        let directory = "/tmp/srv-py-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        chmod(directory, 0o755)
        for source in lines.dropFirst() {
            let name = URL(fileURLWithPath: source).lastPathComponent
            try FileManager.default.copyItem(atPath: source, toPath: "\(directory)/\(name)")
        }
        let chmodAll = Process()
        chmodAll.executableURL = URL(fileURLWithPath: "/bin/chmod")
        chmodAll.arguments = ["-R", "a+rX", directory]
        try chmodAll.run()
        chmodAll.waitUntilExit()
        return PythonForOtherUsers(executable: lines[0], path: directory)
    }

    /// Runs `script` as `uid` (gid the same, no supplementary groups).
    func run(script: String, arguments: [String], uid: UInt32, environment: [String: String] = [:]) throws -> (status: Int32, stdout: String, stderr: String) {
        let scriptPath = "\(path)/script-\(UUID().uuidString.prefix(8)).py"
        try script.write(toFile: scriptPath, atomically: true, encoding: .utf8)
        chmod(scriptPath, 0o644)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        process.arguments = ["--reuid=\(uid)", "--regid=\(uid)", "--clear-groups", executable, scriptPath] + arguments
        process.environment = ["PYTHONPATH": path, "PATH": "/usr/bin:/bin", "HOME": "/tmp"].merging(environment) { $1 }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let errBox = ErrBox()
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            errBox.data = err.fileHandleForReading.readDataToEndOfFile()
            done.signal()
        }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        done.wait()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: outData, as: UTF8.self), String(decoding: errBox.data, as: UTF8.self))
    }

    func cleanup() { try? FileManager.default.removeItem(atPath: path) }

    private final class ErrBox: @unchecked Sendable { var data = Data() }  // written before the semaphore, read after
}
