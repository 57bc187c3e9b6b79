#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import SecureCrypto

/// Thin, checked wrappers over the POSIX calls the local tier needs. Every failure becomes a
/// ``StrongroomError`` naming the call, the path and the errno.
enum POSIX {
    static func error(_ call: String, _ path: String, _ code: Int32 = errno) -> StrongroomError {
        let name = String(cString: strerror(code))
        return StrongroomError(.io, "\(call) failed for \(path)", cause: "errno \(code): \(name)")
    }

    static func open(_ path: String, _ flags: Int32, _ mode: mode_t = 0o600) throws(StrongroomError) -> Int32 {
        while true {
            let fd = Glibc.open(path, flags | O_CLOEXEC, mode)
            if fd >= 0 { return fd }
            if errno != EINTR { throw error("open", path) }
        }
    }

    static func close(_ fd: Int32) { _ = Glibc.close(fd) }

    static func fsync(_ fd: Int32, _ path: String) throws(StrongroomError) {
        guard Glibc.fsync(fd) == 0 else { throw error("fsync", path) }
    }

    static func fsyncDirectory(_ path: String) throws(StrongroomError) {
        let fd = try open(path, O_RDONLY | O_DIRECTORY)
        defer { close(fd) }
        try fsync(fd, path)
    }

    static func writeAll(_ fd: Int32, _ buffer: UnsafeRawBufferPointer, _ path: String) throws(StrongroomError) {
        var offset = 0
        while offset < buffer.count {
            let n = Glibc.write(fd, buffer.baseAddress! + offset, buffer.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw error("write", path)
            }
            offset += n
        }
    }

    /// Reads a whole file, or nil when it does not exist.
    static func readFile(_ path: String, limit: Int) throws(StrongroomError) -> (bytes: [UInt8], info: Glibc.stat)? {
        let fd = Glibc.open(path, O_RDONLY | O_CLOEXEC)
        if fd < 0 {
            if errno == ENOENT || errno == ENOTDIR { return nil }
            throw error("open", path)
        }
        defer { close(fd) }
        var info = Glibc.stat()
        guard fstat(fd, &info) == 0 else { throw error("fstat", path) }
        let size = Int(info.st_size)
        guard size <= limit else {
            throw StrongroomError(.integrityCheckFailed, "\(path) is \(size) bytes, more than the \(limit)-byte limit")
        }
        var bytes = [UInt8](repeating: 0, count: size)
        let offset: Int
        do {
            offset = try bytes.withUnsafeMutableBytes { buffer in try readFully(fd, into: buffer, path) }
        } catch let failure as StrongroomError {
            throw failure
        } catch {
            throw POSIX.error("read", path)
        }
        if offset < size { bytes.removeLast(size - offset) }
        return (bytes, info)
    }

    static func fileInfo(_ path: String) throws(StrongroomError) -> Glibc.stat? {
        var info = Glibc.stat()
        if Glibc.lstat(path, &info) != 0 {
            if errno == ENOENT { return nil }
            throw error("stat", path)
        }
        return info
    }

    /// Creates a directory with mode 0700; returns false when it already exists.
    @discardableResult
    static func makeDirectory(_ path: String) throws(StrongroomError) -> Bool {
        if mkdir(path, 0o700) == 0 { return true }
        if errno == EEXIST { return false }
        throw error("mkdir", path)
    }

    /// Creates `path` and its missing ancestors with mode 0700, fsyncing the parent of each directory
    /// it creates so the new entry is durable. Ancestors no longer than `floor` are never created.
    static func makeDirectories(_ path: String, floor: String = "") throws(StrongroomError) {
        guard path.count > floor.count, try fileInfo(path) == nil else { return }
        let parent = parentDirectory(of: path)
        if !parent.isEmpty && parent != path { try makeDirectories(parent, floor: floor) }
        if try makeDirectory(path), !parent.isEmpty {
            try fsyncDirectory(parent)
        }
    }

    /// The directory part of a path ("" when it has none).
    static func parentDirectory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "" }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }

    /// Reads until `buffer` is full or the file ends; returns the bytes read.
    static func readFully(_ fd: Int32, into buffer: UnsafeMutableRawBufferPointer, _ path: String) throws(StrongroomError) -> Int {
        var offset = 0
        while offset < buffer.count {
            let n = Glibc.read(fd, buffer.baseAddress! + offset, buffer.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw error("read", path)
            }
            if n == 0 { break }
            offset += n
        }
        return offset
    }

    /// Names in a directory, without `.` and `..`; nil when the directory does not exist.
    static func listDirectory(_ path: String) throws(StrongroomError) -> [String]? {
        guard let dir = opendir(path) else {
            if errno == ENOENT || errno == ENOTDIR { return nil }
            throw error("opendir", path)
        }
        defer { closedir(dir) }
        var names: [String] = []
        while let entry = readdir(dir) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
            }
            if name != "." && name != ".." { names.append(name) }
        }
        return names
    }

    static func unlink(_ path: String) throws(StrongroomError) {
        if Glibc.unlink(path) != 0 && errno != ENOENT { throw error("unlink", path) }
    }

    static func removeDirectory(_ path: String) throws(StrongroomError) {
        if rmdir(path) != 0 && errno != ENOENT { throw error("rmdir", path) }
    }

    /// A unique temporary name beside `path`'s final name, hidden from listings.
    static func temporaryName(in directory: String) -> String {
        let suffix = (try? SecureRandom.bytes(count: 8)).map { Hex.encode($0) } ?? String(UInt64.random(in: 0...UInt64.max), radix: 16)
        return "\(directory)/.tmp-\(suffix)"
    }

    /// Writes `bytes` to a new temporary file in `directory` (mode 0600) and fsyncs it.
    static func writeTemporary(in directory: String, _ buffer: UnsafeRawBufferPointer) throws(StrongroomError) -> String {
        let temporary = temporaryName(in: directory)
        let fd = try open(temporary, O_WRONLY | O_CREAT | O_EXCL, 0o600)
        do {
            try writeAll(fd, buffer, temporary)
            try fsync(fd, temporary)
        } catch {
            close(fd)
            try? unlink(temporary)
            throw error
        }
        close(fd)
        return temporary
    }
}
