#if canImport(Glibc)
import Glibc
#endif
import StrongroomCore
import Synchronization

/// The checks around a Unix domain socket path the server listens on (`server.socket`, and
/// `server.metrics` when it is `unix:`): its directory is this user's and nobody else's, and the path
/// holds no live socket.
enum UnixSocketPath {
    /// Makes the socket's directory (0700) when it is missing; refuses one that is a symlink, not a
    /// directory, owned by another user, or open to group or others. Then refuses a path that is not
    /// a socket, refuses a socket a server answers on ("another server is listening"), and removes a
    /// stale one (nothing listening).
    static func prepare(_ path: String, purpose: String) throws(StrongroomError) {
        let directory = parent(of: path)
        var info = stat()
        if lstat(directory, &info) != 0 {
            let error = errno
            guard error == ENOENT else {
                throw StrongroomError(.io, "cannot inspect the \(purpose) directory \(directory): \(String(cString: strerror(error)))")
            }
            guard mkdir(directory, 0o700) == 0 else {
                let error = errno
                throw StrongroomError(
                    .io, "cannot create the \(purpose) directory \(directory) (mode 0700): \(String(cString: strerror(error))); create it, owned by the server's user, mode 0700")
            }
            guard lstat(directory, &info) == 0 else {
                throw StrongroomError(.io, "cannot inspect the \(purpose) directory \(directory) just created")
            }
        }
        let kind = info.st_mode & S_IFMT
        if kind == S_IFLNK {
            throw StrongroomError(
                .insecurePermissions,
                "the \(purpose) directory \(directory) is a symbolic link; refusing it (whoever controls the link controls where clients connect): use a real directory, mode 0700")
        }
        guard kind == S_IFDIR else {
            throw StrongroomError(.configuration, "the \(purpose) directory \(directory) is not a directory")
        }
        guard info.st_uid == geteuid() else {
            throw StrongroomError(
                .insecurePermissions,
                "the \(purpose) directory \(directory) belongs to uid \(info.st_uid), not to the server's uid \(geteuid()); refusing it: give it to the server's user, mode 0700")
        }
        guard info.st_mode & 0o077 == 0 else {
            throw StrongroomError(
                .insecurePermissions,
                "the \(purpose) directory \(directory) has mode \(String(info.st_mode & 0o7777, radix: 8)), open to group or others; refusing it: chmod 0700 \(directory)")
        }
        try holdLock(for: path, purpose: purpose)
        try removeStale(path, purpose: purpose)
    }

    /// Takes `<path>.lock` (flock, held until the process exits) so that two servers starting at the
    /// same moment cannot both take the socket for stale and unlink each other's: the second is
    /// refused as "another server is listening". The lock file is left in place (removing it would
    /// let a third process lock a different file under the same name).
    static func holdLock(for path: String, purpose: String) throws(StrongroomError) {
        let lockPath = path + ".lock"
        let fd = open(lockPath, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            let error = errno
            throw StrongroomError(.io, "cannot open the \(purpose) lock \(lockPath): \(String(cString: strerror(error)))")
        }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG, info.st_nlink == 1, info.st_uid == geteuid() else {
            close(fd)
            throw StrongroomError(
                .insecurePermissions, "the \(purpose) lock \(lockPath) is not a plain file of the server's own (one link); remove it")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            close(fd)
            throw StrongroomError(
                .serverAlreadyListening,
                "another server is listening on \(path) (or starting: it holds \(lockPath)); stop it first, or give this one another socket path")
        }
        // Deliberately never closed: the lock lasts as long as the process.
        heldLocks.withLock { $0.append(fd) }
    }

    private static let heldLocks = Mutex<[Int32]>([])

    /// Refuses a path that holds anything but a socket; refuses a live socket; unlinks a stale one.
    static func removeStale(_ path: String, purpose: String) throws(StrongroomError) {
        var info = stat()
        guard lstat(path, &info) == 0 else {
            let error = errno
            guard error == ENOENT else {
                throw StrongroomError(.io, "cannot inspect the \(purpose) path \(path): \(String(cString: strerror(error)))")
            }
            return
        }
        guard info.st_mode & S_IFMT == S_IFSOCK else {
            throw StrongroomError(
                .configuration,
                "the \(purpose) path \(path) exists and is not a socket; refusing to replace it: remove it or choose another path")
        }
        if isListening(path) {
            throw StrongroomError(
                .serverAlreadyListening,
                "another server is listening on \(path); stop it first, or give this one another server.socket")
        }
        guard unlink(path) == 0 || errno == ENOENT else {
            let error = errno
            throw StrongroomError(.io, "cannot remove the stale socket \(path): \(String(cString: strerror(error)))")
        }
    }

    /// Whether something accepts connections on the socket at `path`.
    static func isListening(_ path: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { return false }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let result = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        return result == 0
    }

    /// Sets the socket file's mode to 0600 (the directory already keeps others out).
    static func restrict(_ path: String, purpose: String) throws(StrongroomError) {
        guard chmod(path, 0o600) == 0 else {
            let error = errno
            throw StrongroomError(.io, "cannot set mode 0600 on the \(purpose) \(path): \(String(cString: strerror(error)))")
        }
    }

    static func parent(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let directory = String(path[..<slash])
        return directory.isEmpty ? "/" : directory
    }
}
