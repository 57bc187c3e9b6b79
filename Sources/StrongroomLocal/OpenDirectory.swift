#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SecureCrypto
import SystemPackage
import StrongroomCore

/// A directory held open: every name below it is resolved relative to this descriptor (`openat`,
/// `fstatat`, `linkat`, `renameat`, `unlinkat`, `mkdirat`), never through a path again, and no
/// symbolic link is followed on the way.
///
/// The descriptor is opened with `O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC`, so the directory cannot be a
/// link, and renaming or replacing its path afterwards does not redirect what is done through it.
/// Files are opened with `O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK` (a pipe planted in the vault cannot
/// make an open hang) and checked with `fstat` on the open descriptor before they are used.
///
/// swift-system has `FileDescriptor`, `Errno` and `fstatat` (`Stat`) but none of the other `*at`
/// calls: those are the small shims below, each checked right after the call.
final class OpenDirectory: Sendable {
    /// The open directory.
    let descriptor: FileDescriptor
    /// The path it was opened at, for messages only (never opened again).
    let path: String

    private init(_ descriptor: FileDescriptor, path: String) {
        self.descriptor = descriptor
        self.path = path
    }

    deinit { try? descriptor.close() }

    /// Opens the directory at `path`, refusing a symbolic link in its place (the ancestors of `path`
    /// are resolved as usual: they are outside the vault). Returns nil when nothing is there.
    /// `what` names the directory in messages ("vault directory").
    static func open(_ path: String, what: String) throws(StrongroomError) -> OpenDirectory? {
        do {
            let fd = try FileDescriptor.open(
                FilePath(path), .readOnly, options: [.directory, .noFollow, .closeOnExec])
            return OpenDirectory(fd, path: path)
        } catch Errno.noSuchFileOrDirectory {
            return nil
        } catch Errno.tooManySymbolicLinkLevels, Errno.notDirectory {
            // Linux answers ENOTDIR for a link opened with O_DIRECTORY | O_NOFOLLOW: look at the name.
            guard let info = try? POSIX.fileInfo(path), (info.st_mode & S_IFMT) == S_IFLNK else {
                throw StrongroomError(.unsafeFile, "\(what) \(path) is not a directory")
            }
            throw StrongroomError(
                .unsafeFile,
                "\(what) \(path) is a symbolic link\(POSIX.linkTarget(path).map { " to \($0)" } ?? ""); Strongroom does not follow links into a vault, so that no file outside it is ever written: set the path to the directory itself")
        } catch {
            throw POSIX.error("open", path, POSIX.errnoValue(of: error))
        }
    }

    /// The subdirectory `name`, opened without following a link; nil when it does not exist and
    /// `creating` is false. With `creating`, a missing one is made (0700) and this directory fsynced.
    func subdirectory(_ name: String, creating: Bool) throws(StrongroomError) -> OpenDirectory? {
        while true {
            let fd = openat(descriptor.rawValue, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            if fd >= 0 { return OpenDirectory(FileDescriptor(rawValue: fd), path: "\(path)/\(name)") }
            let code = errno
            switch code {
            case EINTR:
                continue
            case ENOENT:
                guard creating else { return nil }
                if mkdirat(descriptor.rawValue, name, 0o700) == 0 {
                    try sync()
                } else if errno != EEXIST {  // EEXIST: another writer made it meanwhile
                    throw POSIX.error("mkdirat", "\(path)/\(name)")
                }
            case ELOOP, ENOTDIR:
                let found = (try? status(name)).flatMap { $0 }.map { describe($0, name) } ?? "not a directory"
                throw StrongroomError(
                    .unsafeFile,
                    "\(path)/\(name) is \(found), where a directory Strongroom made belongs; refusing to go through it (nothing was read or written there)")
            default:
                throw POSIX.error("openat", "\(path)/\(name)", code)
            }
        }
    }

    /// What `fstatat` (not following a link) says about `name`; nil when it does not exist.
    func status(_ name: String) throws(StrongroomError) -> Stat? {
        do {
            return try Stat(FilePath(name), relativeTo: descriptor, flags: .symlinkNoFollow)
        } catch .noSuchFileOrDirectory {
            return nil
        } catch {
            throw POSIX.error("fstatat", "\(path)/\(name)", error)
        }
    }

    /// `openat(name)` with `O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK` always added.
    func openFile(_ name: String, _ flags: Int32, permissions: mode_t = 0o600) throws(Errno) -> FileDescriptor {
        while true {
            let fd = openat(descriptor.rawValue, name, flags | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK, permissions)
            if fd >= 0 { return FileDescriptor(rawValue: fd) }
            if errno != EINTR { throw Errno(rawValue: errno) }
        }
    }

    /// Reads the whole regular file `name` (at most `limit` bytes) and its status from the same
    /// descriptor; nil when it does not exist. A link or anything but a regular file is refused.
    func readFile(_ name: String, limit: Int) throws(StrongroomError) -> (bytes: [UInt8], status: Stat)? {
        let fd: FileDescriptor
        do {
            fd = try openFile(name, O_RDONLY)
        } catch .noSuchFileOrDirectory {
            return nil
        } catch .tooManySymbolicLinkLevels {
            throw refusal(name, "is a symbolic link\(linkTarget(name).map { " to \($0)" } ?? ""); it was not followed")
        } catch {
            throw POSIX.error("openat", "\(path)/\(name)", error)
        }
        defer { try? fd.close() }
        let status: Stat
        do { status = try fd.stat() } catch { throw POSIX.error("fstat", "\(path)/\(name)", error) }
        guard status.type == .regular else {
            throw refusal(name, "is \(describe(status, name)), not a regular file; it was not read")
        }
        let size = Int(status.size)
        guard size <= limit else {
            throw StrongroomError(
                .integrityCheckFailed, "\(path)/\(name) is \(size) bytes, more than the \(limit)-byte limit")
        }
        var bytes = [UInt8](repeating: 0, count: size)
        let count: Int
        do {
            count = try bytes.withUnsafeMutableBytes { buffer in
                try POSIX.readFully(fd.rawValue, into: buffer, "\(path)/\(name)")
            }
        } catch let failure as StrongroomError {
            throw failure
        } catch {
            throw POSIX.error("read", "\(path)/\(name)", EIO)
        }
        if count < size { bytes.removeLast(size - count) }
        return (bytes, status)
    }

    /// Writes `buffer` to a new temporary file here (`O_EXCL`, mode 0600), fsyncs it and returns its
    /// name. Temporary names start with `.tmp-`, which blob keys never do.
    func writeTemporary(_ buffer: UnsafeRawBufferPointer) throws(StrongroomError) -> String {
        let suffix = (try? SecureRandom.bytes(count: 8)).map { Hex.encode($0) }
            ?? String(UInt64.random(in: 0...UInt64.max), radix: 16)
        let name = "\(DirectoryBlobStore.temporaryPrefix)\(suffix)"
        let fd: FileDescriptor
        do {
            fd = try openFile(name, O_WRONLY | O_CREAT | O_EXCL)
        } catch {
            throw POSIX.error("openat", "\(path)/\(name)", error)
        }
        do {
            try POSIX.writeAll(fd.rawValue, buffer, "\(path)/\(name)")
            try POSIX.fsync(fd.rawValue, "\(path)/\(name)")
            try? fd.close()
        } catch {
            try? fd.close()
            try? unlink(name)
            throw error
        }
        return name
    }

    /// `linkat`: gives the file `existing` the new name `new`. Returns false when `new` exists (of
    /// any kind, links included: nothing is replaced or followed).
    func link(_ existing: String, to new: String) throws(StrongroomError) -> Bool {
        if linkat(descriptor.rawValue, existing, descriptor.rawValue, new, 0) == 0 { return true }
        if errno == EEXIST { return false }
        throw POSIX.error("linkat", "\(path)/\(new)")
    }

    /// `renameat`: atomically replaces the name `new` (whatever it was, never followed) with `existing`.
    func rename(_ existing: String, to new: String) throws(StrongroomError) {
        guard renameat(descriptor.rawValue, existing, descriptor.rawValue, new) == 0 else {
            throw POSIX.error("renameat", "\(path)/\(new)")
        }
    }

    /// `renameat`, for a new name nothing else uses (a random one): false, changing nothing, when
    /// `existing` is gone.
    func renameIfPresent(_ existing: String, to new: String) throws(StrongroomError) -> Bool {
        if renameat(descriptor.rawValue, existing, descriptor.rawValue, new) == 0 { return true }
        if errno == ENOENT { return false }
        throw POSIX.error("renameat", "\(path)/\(existing)")
    }

    /// `unlinkat`: removes the name `name` (a link itself, never its target); a missing name is fine.
    func unlink(_ name: String) throws(StrongroomError) {
        if unlinkat(descriptor.rawValue, name, 0) != 0 && errno != ENOENT {
            throw POSIX.error("unlinkat", "\(path)/\(name)")
        }
    }

    /// Removes the empty subdirectory `name`; a missing one is fine.
    func removeDirectory(_ name: String) throws(StrongroomError) {
        if unlinkat(descriptor.rawValue, name, AT_REMOVEDIR) != 0 && errno != ENOENT {
            throw POSIX.error("unlinkat", "\(path)/\(name)")
        }
    }

    /// The names in this directory, without `.` and `..`.
    func names() throws(StrongroomError) -> [String] {
        try names { _ in true }
    }

    /// The names in this directory (without `.` and `..`) that `include` accepts; only those are
    /// held, so a large directory of which few names are wanted is read in constant memory.
    func names(where include: (String) -> Bool) throws(StrongroomError) -> [String] {
        let stream = try openStream()
        defer { closedir(stream) }
        var names: [String] = []
        while let name = try nextName(stream) {
            if include(name) { names.append(name) }
        }
        return names
    }

    /// How many names ``forEachName(_:)`` reads ahead and orders by inode before visiting them.
    static let walkBatch = 4096

    /// Calls `body` with each name in this directory (without `.` and `..`), holding at most
    /// ``walkBatch`` names: a directory of any size is walked in constant memory. A name present for
    /// the whole walk is passed exactly once (POSIX `readdir`). Each batch is visited in inode order,
    /// not `readdir`'s (hash) order: inodes made one after another sit together on disk, so a walk
    /// that reads and rewrites what each name holds (rotation) touches the disk in order; ext4's hash
    /// order halved tier 1 rotation's rate.
    func forEachName(_ body: (String) async throws -> Void) async throws {
        let stream = try openStream()
        defer { closedir(stream) }
        var batch: [(inode: UInt64, name: String)] = []
        batch.reserveCapacity(OpenDirectory.walkBatch)
        while true {
            batch.removeAll(keepingCapacity: true)
            while batch.count < OpenDirectory.walkBatch, let entry = try nextEntry(stream) { batch.append(entry) }
            if batch.isEmpty { return }
            batch.sort { $0.inode < $1.inode }
            for entry in batch { try await body(entry.name) }
        }
    }

    /// A `readdir` stream over this directory, from its start; the caller `closedir`s it.
    private func openStream() throws(StrongroomError) -> OpaquePointer {
        // fdopendir takes over the descriptor it is given: give it a duplicate, rewound, since a
        // duplicate shares the directory's read position.
        let copy = fcntl(descriptor.rawValue, F_DUPFD_CLOEXEC, 0)
        guard copy >= 0 else { throw POSIX.error("fcntl(F_DUPFD_CLOEXEC)", path) }
        guard let stream = fdopendir(copy) else {
            let failure = POSIX.error("fdopendir", path)
            _ = Glibc.close(copy)
            throw failure
        }
        rewinddir(stream)
        return stream
    }

    /// The next name `stream` returns, skipping `.` and `..`; nil at the end.
    private func nextName(_ stream: OpaquePointer) throws(StrongroomError) -> String? {
        try nextEntry(stream)?.name
    }

    /// The next name `stream` returns with its inode number, skipping `.` and `..`; nil at the end.
    private func nextEntry(_ stream: OpaquePointer) throws(StrongroomError) -> (inode: UInt64, name: String)? {
        while true {
            errno = 0
            guard let entry = readdir(stream) else {
                if errno != 0 { throw POSIX.error("readdir", path) }
                return nil
            }
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { return (UInt64(entry.pointee.d_ino), name) }
        }
    }

    /// fsyncs the directory, making the names created, renamed or removed in it durable.
    func sync() throws(StrongroomError) {
        try POSIX.fsync(descriptor.rawValue, path)
    }

    /// Where the symbolic link `name` points, quoted for a message; nil when it cannot be read.
    func linkTarget(_ name: String) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX))
        let count = readlinkat(descriptor.rawValue, name, &buffer, buffer.count - 1)
        guard count >= 0 else { return nil }
        return ShareID.quoted(String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }

    /// "a symbolic link to '…'", "a directory", "a regular file with 2 links", for messages.
    func describe(_ status: Stat, _ name: String) -> String {
        switch status.type {
        case .symbolicLink: "a symbolic link\(linkTarget(name).map { " to \($0)" } ?? "")"
        case .directory: "a directory"
        case .fifo: "a named pipe"
        case .socket: "a socket"
        case .characterSpecial, .blockSpecial: "a device"
        case .regular: status.linkCount > 1 ? "a regular file with \(status.linkCount) links" : "a regular file"
        default: "a file of unknown type"
        }
    }

    /// An ``StrongroomError/Code/unsafeFile`` error about `name`.
    func refusal(_ name: String, _ what: String) -> StrongroomError {
        StrongroomError(.unsafeFile, "\(path)/\(name) \(what): it is not a file Strongroom wrote")
    }
}
