#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SecureCrypto
import StrongroomCore
import Synchronization
import SystemPackage

/// A vault directory's audit log: one file, `<vault>/audit/log.jsonl` (directory 0700, file 0600),
/// appended to with `O_APPEND` (docs/audit.md, "Storage").
///
/// Each append takes `flock(LOCK_EX)` on the file (polled, as the vault lock is), reads the log's
/// tail, writes the new complete lines with one `write(2)` and, for a durable append, `fsync`s
/// before unlocking; other processes' appends are thereby serialised with this one's. The tail is
/// cached with the file's size and modification time, so an append after one of our own reads
/// nothing. Bytes after the last newline (an append a crash cut short) are cut off under the lock,
/// after the log has written an `audit.torn-tail` record for them.
///
/// The file is opened without following links (`O_NOFOLLOW`, relative to the vault and audit
/// directories held open), and refused (``StrongroomError/Code/unsafeFile``) when it is not a
/// regular file with one link owned by this user with mode 0600 or stricter: a symbolic link, a hard
/// link, a directory or a pipe in its place. Before each append the path is checked to still name
/// the open file, so a log replaced behind the store's back is opened (or refused) again.
public final class AppendFileAuditSink: AuditSink {
    /// The vault directory.
    public let root: String
    /// Where `fsync` runs.
    let pool: BlockingPool
    let lockTimeout: Duration
    private let state = Mutex<State>(State())

    struct State {
        var handle: LogHandle?
        /// The tail as of the file's (size, mtime) after our last append.
        var cached: (size: Int64, mtime: timespec, tail: AuditTail)?
        var dirty = false
    }

    /// An open log file; closed when the last user lets go of it. Immutable: `Sendable`.
    final class LogHandle: Sendable {
        let fd: Int32
        let device: UInt64
        let inode: UInt64

        init(fd: Int32, device: UInt64, inode: UInt64) {
            self.fd = fd
            self.device = device
            self.inode = inode
        }

        deinit { _ = Glibc.close(fd) }
    }

    /// The directory under the vault that holds the log.
    public static let directoryName = "audit"
    /// The log file's name.
    public static let fileName = "log.jsonl"

    /// The sink of the vault directory `root`.
    public init(root: String, lockTimeout: Duration = .seconds(60), pool: BlockingPool = .shared()) {
        self.root = root
        self.lockTimeout = lockTimeout
        self.pool = pool
    }

    /// The log file's path.
    public var location: String { "\(root)/\(AppendFileAuditSink.directoryName)/\(AppendFileAuditSink.fileName)" }

    // MARK: Opening

    /// The open log, checked: reused while the path still names it, else opened (and made) again.
    func handle() throws(StrongroomError) -> LogHandle {
        if let current = state.withLock({ $0.handle }) {
            var info = stat()
            if lstat(location, &info) == 0, UInt64(info.st_dev) == current.device, UInt64(info.st_ino) == current.inode {
                return current
            }
        }
        let opened = try open()
        state.withLock {
            $0.handle = opened
            $0.cached = nil
        }
        return opened
    }

    private func open() throws(StrongroomError) -> LogHandle {
        guard let vault = try OpenDirectory.open(root, what: "vault directory") else {
            throw StrongroomError(.vaultNotInitialised, "vault directory \(root) does not exist")
        }
        guard let directory = try vault.subdirectory(AppendFileAuditSink.directoryName, creating: true) else {
            throw StrongroomError(.io, "could not make \(root)/\(AppendFileAuditSink.directoryName)")
        }
        var info = stat()
        guard fstat(directory.descriptor.rawValue, &info) == 0 else { throw POSIX.error("fstat", directory.path) }
        guard info.st_uid == geteuid(), info.st_mode & 0o077 == 0 else {
            throw StrongroomError(
                .unsafeFile,
                "audit directory \(directory.path) belongs to uid \(info.st_uid) with mode 0\(String(info.st_mode & 0o7777, radix: 8)); it must be this user's (uid \(geteuid())) with mode 0700: it is not the directory Strongroom made")
        }
        let name = AppendFileAuditSink.fileName
        let fd: Int32
        do {
            fd = try directory.openFile(name, O_RDWR | O_APPEND | O_CREAT).rawValue
        } catch {
            if let status = try directory.status(name), status.type != .regular {
                throw directory.refusal(
                    name, "is \(directory.describe(status, name)), where the audit log belongs; nothing was written there. Remove it (keep a copy) and find out who put it there")
            }
            throw POSIX.error("openat", location, error.rawValue)
        }
        guard fstat(fd, &info) == 0 else {
            _ = Glibc.close(fd)
            throw POSIX.error("fstat", location)
        }
        let handle = LogHandle(fd: fd, device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
        guard info.st_mode & S_IFMT == S_IFREG, info.st_nlink == 1 else {
            throw directory.refusal(
                name, "is \(info.st_mode & S_IFMT == S_IFREG ? "a regular file with \(info.st_nlink) links" : "not a regular file"), where the audit log belongs; nothing was written to it")
        }
        guard info.st_uid == geteuid(), info.st_mode & 0o077 == 0 else {
            throw StrongroomError(
                .unsafeFile,
                "audit log \(location) belongs to uid \(info.st_uid) with mode 0\(String(info.st_mode & 0o7777, radix: 8)); it must be this user's (uid \(geteuid())) with mode 0600: it is not the file Strongroom made, and nothing was written to it")
        }
        if info.st_size == 0 { try directory.sync() }  // a new log's name is durable before its first record
        return handle
    }

    public func checkWritable() async throws {
        _ = try handle()
    }

    // MARK: Appending

    public func append(durable: Bool, _ make: @Sendable (AuditTail) async throws -> [UInt8]) async throws -> AuditTail {
        // flock excludes other open file descriptions only: two appends of this process share the
        // descriptor, so they take turns here first (the first one's unlock would free the other's).
        await gate.enter()
        do {
            let tail = try await appendTakingTurns(durable: durable, make)
            await gate.leave()
            return tail
        } catch {
            await gate.leave()
            throw error
        }
    }

    private let gate = AppendGate()

    private func appendTakingTurns(durable: Bool, _ make: @Sendable (AuditTail) async throws -> [UInt8]) async throws -> AuditTail {
        let log = try handle()
        try await lock(log)
        defer { _ = flock(log.fd, LOCK_UN) }
        var info = stat()
        guard fstat(log.fd, &info) == 0 else { throw POSIX.error("fstat", location) }
        let size = Int64(info.st_size)
        let tail: AuditTail
        var keep = size
        if let cached = state.withLock({ $0.cached }), cached.size == size, cached.mtime.tv_sec == info.st_mtim.tv_sec,
            cached.mtime.tv_nsec == info.st_mtim.tv_nsec
        {
            tail = cached.tail
        } else {
            (tail, keep) = try readTail(log.fd, size: size)
        }
        let lines = try await make(tail)
        if keep < size {
            guard ftruncate(log.fd, off_t(keep)) == 0 else { throw POSIX.error("ftruncate", location) }
            try POSIX.fsync(log.fd, location)
        }
        try lines.withUnsafeBytes { buffer in try POSIX.writeAll(log.fd, buffer, location) }
        if durable {
            let path = location
            try await pool.run { try POSIX.fsync(log.fd, path) }
        }
        let newTail = AuditLine.lastTail(of: lines) ?? AuditTail(seq: tail.seq, hash: tail.hash)
        guard fstat(log.fd, &info) == 0 else { throw POSIX.error("fstat", location) }
        state.withLock {
            $0.cached = (Int64(info.st_size), info.st_mtim, newTail)
            if !durable { $0.dirty = true }
        }
        return newTail
    }

    /// Takes the append lock on the log (other processes' appends), polling like the vault lock.
    private func lock(_ log: LogHandle) async throws {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: lockTimeout)
        var pause = Duration.microseconds(200)
        while flock(log.fd, LOCK_EX | LOCK_NB) != 0 {
            guard errno == EWOULDBLOCK || errno == EINTR else { throw POSIX.error("flock", location) }
            guard clock.now < deadline else {
                throw StrongroomError(
                    .vaultBusy, "another process held the audit log \(location) locked for more than \(lockTimeout)")
            }
            try await Task.sleep(for: pause)
            pause = min(pause * 2, .milliseconds(20))
        }
    }

    /// The tail of the log file of `size` bytes: the last complete record's seq and hash, with any
    /// torn bytes after it; and the length to keep (the end of the last complete line).
    private func readTail(_ fd: Int32, size: Int64) throws -> (AuditTail, Int64) {
        guard size > 0 else { return (.empty, 0) }
        var window = min(size, 65_536)
        while true {
            var bytes = [UInt8](repeating: 0, count: Int(window))
            let offset = size - window
            let count = try bytes.withUnsafeMutableBytes { buffer in
                try AppendFileAuditSink.preadFully(fd, buffer, offset: offset, location)
            }
            guard count == Int(window) else {
                throw StrongroomError(.io, "audit log \(location) shrank while it was read")
            }
            let lastNewline = bytes.lastIndex(of: 0x0A)
            let lineStart = lastNewline.flatMap { end in bytes[..<end].lastIndex(of: 0x0A).map { $0 + 1 } }
            if lastNewline == nil || lineStart == nil, window < size {
                window = min(size, window * 4)
                continue
            }
            let keep = lastNewline.map { offset + Int64($0) + 1 } ?? 0
            let torn = lastNewline.map { Array(bytes[($0 + 1)...]) } ?? bytes
            let tornTail = torn.isEmpty ? nil : AuditTornTail(bytes: torn.count, sha256: SHA256.hash(torn))
            guard let lastNewline else { return (AuditTail(seq: 0, hash: AuditTail.empty.hash, tornTail: tornTail), keep) }
            let line = bytes[(lineStart ?? 0)..<lastNewline]
            guard let tail = AuditLine.tail(of: Array(line)) else {
                throw StrongroomError(
                    .auditTampered,
                    "the last record of audit log \(location) is not a record line, so no record can be chained after it; run `strongroom audit verify`")
            }
            return (AuditTail(seq: tail.seq, hash: tail.hash, tornTail: tornTail), keep)
        }
    }

    static func preadFully(_ fd: Int32, _ buffer: UnsafeMutableRawBufferPointer, offset: Int64, _ path: String) throws(StrongroomError) -> Int {
        var done = 0
        while done < buffer.count {
            let n = pread(fd, buffer.baseAddress! + done, buffer.count - done, off_t(offset) + off_t(done))
            if n < 0 {
                if errno == EINTR { continue }
                throw POSIX.error("pread", path)
            }
            if n == 0 { break }
            done += n
        }
        return done
    }

    /// The tail the last line of `lines` declares.
    // MARK: Sync and read

    public func sync() async throws {
        guard let log = state.withLock({ state -> LogHandle? in
            guard state.dirty else { return nil }
            state.dirty = false
            return state.handle
        }) else { return }
        let path = location
        try await pool.run { try POSIX.fsync(log.fd, path) }
    }

    public func read(_ body: ([UInt8]) async throws -> Void) async throws {
        guard let vault = try OpenDirectory.open(root, what: "vault directory"),
            let directory = try vault.subdirectory(AppendFileAuditSink.directoryName, creating: false)
        else { return }
        let name = AppendFileAuditSink.fileName
        let fd: Int32
        do {
            fd = try directory.openFile(name, O_RDONLY).rawValue
        } catch .noSuchFileOrDirectory {
            return
        } catch {
            if let status = try directory.status(name), status.type != .regular {
                throw directory.refusal(name, "is \(directory.describe(status, name)), where the audit log belongs; it was not read")
            }
            throw POSIX.error("openat", location, error.rawValue)
        }
        defer { _ = Glibc.close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0 else { throw POSIX.error("fstat", location) }
        guard info.st_mode & S_IFMT == S_IFREG else {
            throw StrongroomError(.unsafeFile, "audit log \(location) is not a regular file; it was not read")
        }
        var offset: Int64 = 0
        var buffer = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let count = try buffer.withUnsafeMutableBytes { raw in
                try AppendFileAuditSink.preadFully(fd, raw, offset: offset, location)
            }
            if count == 0 { break }
            try await body(Array(buffer[..<count]))
            offset += Int64(count)
        }
    }
}

/// One append at a time in this process, in arrival order.
actor AppendGate {
    private var busy = false
    private var waiting: [CheckedContinuation<Void, Never>] = []

    func enter() async {
        guard busy else {
            busy = true
            return
        }
        await withCheckedContinuation { waiting.append($0) }  // `busy` stays true: handed over
    }

    func leave() {
        if waiting.isEmpty {
            busy = false
        } else {
            waiting.removeFirst().resume()
        }
    }
}
