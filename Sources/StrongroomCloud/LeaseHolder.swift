#if canImport(Glibc)
import Glibc
#endif
import Foundation
import StrongroomCore

/// Who holds a vault lease, as written into the lease object, and whether that process is provably
/// dead.
///
/// A holder is provably dead only when it ran on this very machine and boot, in this PID namespace,
/// and its process is gone: the host name, `/proc/sys/kernel/random/boot_id` and the inode of
/// `/proc/self/ns/pid` are all the same as ours, and its PID no longer exists, is a zombie, or now
/// belongs to a process that started at another time (a reused PID). Anything else (another host,
/// a reboot in between, another container, a field missing) counts as alive: its lease is waited
/// out until it expires.
struct LeaseHolder: Sendable, Equatable {
    var host: String
    var bootID: String
    var pidNamespace: String
    var pid: Int32
    var startTime: UInt64?

    /// This process.
    static let current: LeaseHolder = {
        var name = [CChar](repeating: 0, count: 256)
        gethostname(&name, name.count - 1)
        let host = String(decoding: name.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        let boot = (try? String(contentsOfFile: "/proc/sys/kernel/random/boot_id", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? ""
        let namespace = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/ns/pid")) ?? ""
        let pid = getpid()
        return LeaseHolder(host: host, bootID: boot, pidNamespace: namespace, pid: pid, startTime: processStart(pid)?.start)
    }()

    /// The lease object's fields for this holder.
    var fields: [String: Any] {
        var fields: [String: Any] = ["host": host, "pid": Int(pid), "bootID": bootID, "pidNamespace": pidNamespace]
        if let startTime { fields["startTime"] = NSNumber(value: startTime) }
        return fields
    }

    /// The holder a lease object names (nil fields when it was written by an older release).
    init(fields: [String: Any]) {
        host = fields["host"] as? String ?? ""
        bootID = fields["bootID"] as? String ?? ""
        pidNamespace = fields["pidNamespace"] as? String ?? ""
        pid = (fields["pid"] as? NSNumber)?.int32Value ?? 0
        startTime = (fields["startTime"] as? NSNumber)?.uint64Value
    }

    init(host: String, bootID: String, pidNamespace: String, pid: Int32, startTime: UInt64?) {
        self.host = host
        self.bootID = bootID
        self.pidNamespace = pidNamespace
        self.pid = pid
        self.startTime = startTime
    }

    /// `host pid N`, for messages.
    var description: String { "\(host.isEmpty ? "unknown host" : host), pid \(pid)" }

    /// Whether this holder is provably dead (see the type's documentation).
    var isProvablyDead: Bool {
        let me = LeaseHolder.current
        guard !host.isEmpty, host == me.host, !bootID.isEmpty, bootID == me.bootID, !pidNamespace.isEmpty,
            pidNamespace == me.pidNamespace, pid > 0, pid != me.pid
        else { return false }
        guard let process = LeaseHolder.processStart(pid) else {
            // No /proc entry: the process is gone if kill(2) says so.
            return kill(pid, 0) != 0 && errno == ESRCH
        }
        if process.zombie { return true }
        if let startTime, startTime != process.start { return true }  // the PID was reused
        return false
    }

    /// The start time (clock ticks after boot, field 22 of `/proc/<pid>/stat`) of a process, and
    /// whether it is a zombie; nil when there is no such process.
    static func processStart(_ pid: Int32) -> (start: UInt64, zombie: Bool)? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8),
            let close = stat.lastIndex(of: ")")
        else { return nil }
        // After "pid (comm)": field 3 (state) onwards; the command name may hold spaces and parentheses.
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        guard fields.count > 19, let start = UInt64(fields[19]) else { return nil }
        return (start, fields[0] == "Z")
    }
}
