#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#endif
import SecureCrypto
import SystemPackage
import StrongroomCore

/// Thin, checked wrappers over the POSIX calls the local tier needs. Every failure becomes a
/// ``StrongroomError`` naming the call, the path and the errno.
enum POSIX {
    static func error(_ call: String, _ path: String, _ code: Int32 = errno) -> StrongroomError {
        let name = String(cString: strerror(code))
        return StrongroomError(.io, "\(call) failed for \(path)", cause: "errno \(code): \(name)")
    }

    static func error(_ call: String, _ path: String, _ code: Errno) -> StrongroomError {
        error(call, path, code.rawValue)
    }

    /// The errno of an error thrown by swift-system (EIO for anything else).
    static func errnoValue(of error: any Error) -> Int32 {
        (error as? Errno)?.rawValue ?? EIO
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

    static func unlink(_ path: String) throws(StrongroomError) {
        if Glibc.unlink(path) != 0 && errno != ENOENT { throw error("unlink", path) }
    }

    /// Where the symbolic link at `path` points, quoted for a message; nil when it cannot be read.
    static func linkTarget(_ path: String) -> String? {
        var buffer = [CChar](repeating: 0, count: Int(PATH_MAX))
        let count = readlink(path, &buffer, buffer.count - 1)
        guard count >= 0 else { return nil }
        return ShareID.quoted(String(decoding: buffer[..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self))
    }
}
