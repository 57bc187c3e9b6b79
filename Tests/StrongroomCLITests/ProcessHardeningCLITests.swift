import Foundation
import Testing

/// Issue 11 item 3: the CLI turns core dumps off before it reads a secret. Observed from outside on
/// a running `strongroom put` that waits for its share on a pipe kept open: its core size limit in
/// `/proc/<pid>/limits`, and the owner of `/proc/<pid>/status` (root when the process is not
/// dumpable, the process's own user when it is). Started with a non-zero core limit (`prlimit`)
/// and, when the tests run as root, as the unprivileged user `nobody` (`setpriv`), so that both
/// observations can tell the difference; the same observations on `cat` show that they do.
@Suite struct ProcessHardeningCLITests {
    struct Observation {
        var command: String
        var coreLimit: String
        var statusOwner: uid_t
    }

    static let nobody: uid_t = 65534

    /// Starts `arguments` with a 1 MiB core limit (as `nobody` when root), waits until the process
    /// runs `command` and `ready` holds, then reads what `/proc` says about it.
    func observe(_ arguments: [String], command: String, ready: (Observation) -> Bool) throws -> Observation? {
        var wrapped = ["/usr/bin/prlimit", "--core=1048576:unlimited"]
        if geteuid() == 0 {
            wrapped += ["/usr/bin/setpriv", "--reuid=\(Self.nobody)", "--regid=\(Self.nobody)", "--clear-groups"]
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: wrapped[0])
        process.arguments = Array(wrapped.dropFirst()) + arguments
        process.environment = ["PATH": "/usr/bin:/bin", "HOME": "/nonexistent"]
        let input = Pipe()
        process.standardInput = input
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        try process.run()
        defer {
            try? input.fileHandleForWriting.close()
            process.terminate()
            process.waitUntilExit()
        }
        let pid = process.processIdentifier
        var last: Observation?
        var seen = ""
        defer { if last == nil { Issue.record("pid \(pid) (running: \(process.isRunning)) never observed: \(seen)") } }
        for _ in 0..<200 {
            let comm = Self.read("/proc/\(pid)/comm").trimmingCharacters(in: .whitespacesAndNewlines)
            let limits = Self.read("/proc/\(pid)/limits")
            let core = limits.split(separator: "\n").first { $0.hasPrefix("Max core file size") }
                .map { $0.dropFirst("Max core file size".count).split(separator: " ").prefix(2).joined(separator: " ") } ?? ""
            var info = stat()
            seen = "comm '\(comm)', core '\(core)', stat \(stat("/proc/\(pid)/status", &info))"
            if comm == command, !core.isEmpty, stat("/proc/\(pid)/status", &info) == 0 {
                let observation = Observation(command: comm, coreLimit: core, statusOwner: info.st_uid)
                last = observation
                if ready(observation) { return observation }
            }
            usleep(50_000)
        }
        return last
    }

    /// A /proc file's text (they report size 0, so read to the end).
    static func read(_ path: String) -> String {
        guard let handle = FileHandle(forReadingAtPath: path) else { return "" }
        defer { try? handle.close() }
        return String(decoding: (try? handle.readToEnd()) ?? Data(), as: UTF8.self)
    }

    @Test func putWaitingForItsShareIsNotDumpableAndHasNoCoreLimit() throws {
        let runAs = geteuid() == 0 ? Self.nobody : geteuid()
        // The control: a process that does nothing about it is dumpable, with the limit it was given.
        let control = try #require(try observe(["/bin/cat"], command: "cat") { _ in true })
        #expect(control.statusOwner == runAs, "an ordinary process's /proc files belong to its user")
        #expect(control.coreLimit == "1048576 unlimited", "\(control.coreLimit)")

        let hardened = try observe([CLI.binary.path, "put", "waiting-share"], command: "strongroom") {
            $0.coreLimit == "0 0" && $0.statusOwner == 0
        }
        let seen = try #require(hardened, "strongroom put never ran")
        #expect(seen.coreLimit == "0 0", "core limit while waiting for the share: \(seen.coreLimit)")
        #expect(seen.statusOwner == 0, "not dumpable: /proc/<pid>/status belongs to root, not uid \(seen.statusOwner)")
    }
}
