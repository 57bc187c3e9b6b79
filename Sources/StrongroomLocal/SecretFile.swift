#if canImport(Glibc)
import Glibc
#endif
import SecureCrypto
import StrongroomCore
import SystemPackage

/// Secret files and private directories, opened without following links: the root seed file, a
/// PIN file, a vault or blob directory. Tier 1 uses them, and any tier that keeps a secret or its
/// blobs in local files (tier 3's PIN file and blob directory) uses the same checks.
public enum SecretFile {
    /// Opens a secret file (root seed, PIN) for reading: `O_NOFOLLOW`, then `fstat` on the open
    /// descriptor, which the caller reads from. It must be a regular file readable by its owner only.
    /// A symbolic link is refused rather than followed, so that a link cannot point Strongroom at
    /// another file; for a Kubernetes secret volume, whose files are links, name the file inside
    /// `..data/` instead (see docs/security.md). `what` names the file in messages, `setting` is the
    /// key that points at it, and `unreadable` is the code when it cannot be opened or is not a
    /// regular file.
    public static func openOwnerOnly(
        _ path: String, what: String, setting: String, unreadable: StrongroomError.Code
    ) throws(StrongroomError) -> (fd: Int32, info: Glibc.stat) {
        var fd: Int32 = -1
        while fd < 0 {
            // O_NONBLOCK: opening a named pipe planted in place of the file does not hang.
            fd = Glibc.open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)
            guard fd < 0 else { break }
            let code = errno
            if code == EINTR { continue }
            if code == ELOOP {
                // The same code as a link inside the vault: a file-system layout Strongroom refuses.
                throw StrongroomError(
                    .unsafeFile,
                    "\(what) \(path) is a symbolic link\(POSIX.linkTarget(path).map { " to \($0)" } ?? ""); secret files are opened without following links: set \(setting) to the file itself (in a Kubernetes secret volume, <mount>/..data/<key>)")
            }
            throw StrongroomError(
                unreadable, "cannot open \(what) \(path); check \(setting)", cause: POSIX.error("open", path, code).cause)
        }
        var info = Glibc.stat()
        do throws(StrongroomError) {
            guard fstat(fd, &info) == 0 else { throw POSIX.error("fstat", path) }
            guard (info.st_mode & S_IFMT) == S_IFREG else {
                throw StrongroomError(.unsafeFile, "\(what) \(path) is not a regular file")
            }
            let mode = info.st_mode & 0o777
            guard mode & 0o077 == 0 else {
                throw StrongroomError(
                    .insecurePermissions,
                    "\(what) \(path) has mode \(String(mode, radix: 8)); it must be readable by its owner only (chmod 600 \(path))")
            }
        } catch {
            POSIX.close(fd)
            throw error
        }
        return (fd, info)
    }

    /// Refuses a vault directory that is a symbolic link, or that others can read or enter. The mode
    /// is read with `fstat` from the directory opened with `O_NOFOLLOW`, so the `chmod` the message
    /// advises acts on the directory itself, never on a link's target.
    public static func checkPrivateDirectory(_ path: String) throws(StrongroomError) {
        guard let directory = try OpenDirectory.open(path, what: "vault directory") else {
            throw StrongroomError(.vaultNotInitialised, "vault directory \(path) does not exist")
        }
        let info: Stat
        do { info = try directory.descriptor.stat() } catch { throw POSIX.error("fstat", path, error) }
        let mode = info.permissions.rawValue & 0o777
        guard mode & 0o077 == 0 else {
            throw StrongroomError(
                .insecurePermissions,
                "vault directory \(path) has mode \(String(mode, radix: 8)); it must be 0700 (chmod 700 \(path))")
        }
    }

    /// Reads a secret file (a PIN file) of `sizes` bytes straight into locked memory, through
    /// ``openOwnerOnly(_:what:setting:unreadable:)``; with `trimmingNewlines`, trailing CR and LF are
    /// not part of the secret, which must then still hold a byte.
    public static func read(
        _ path: String, what: String, setting: String, unreadable: StrongroomError.Code, sizes: ClosedRange<Int>,
        trimmingNewlines: Bool
    ) throws -> SecretBytes {
        let (fd, info) = try openOwnerOnly(path, what: what, setting: setting, unreadable: unreadable)
        defer { POSIX.close(fd) }
        guard sizes.contains(Int(info.st_size)) else {
            throw StrongroomError(unreadable, "\(what) \(path) must hold \(sizes.lowerBound) to \(sizes.upperBound) bytes")
        }
        let size = Int(info.st_size)
        return try SecretBytes(capacity: size) { buffer in
            let read = try POSIX.readFully(fd, into: buffer, path)
            var length = read
            if trimmingNewlines {
                while length > 0, buffer[length - 1] == 0x0A || buffer[length - 1] == 0x0D { length -= 1 }
            }
            guard length > 0 else { throw StrongroomError(unreadable, "\(what) \(path) is empty") }
            return length
        }
    }

    /// Creates `path` and its missing parents (0700), then checks it with
    /// ``checkPrivateDirectory(_:)``.
    public static func makePrivateDirectory(_ path: String) throws(StrongroomError) {
        try POSIX.makeDirectories(path)
        try checkPrivateDirectory(path)
    }
}
