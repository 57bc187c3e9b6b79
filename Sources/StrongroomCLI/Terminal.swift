#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import FROST
import Foundation
import SecureCrypto
import Strongroom

/// Writing to the user, mapping errors to exit codes, and moving secrets between files and memory
/// without passing through `String`, `Data` or `Array`.
enum Terminal {
    static var standardErrorIsTerminal: Bool { isatty(STDERR_FILENO) == 1 }
    static var standardInputIsTerminal: Bool { isatty(STDIN_FILENO) == 1 }

    static func error(_ message: String) {
        FileHandle.standardError.write(Data("strongroom: error: \(message)\n".utf8))
    }

    static func note(_ message: String) {
        FileHandle.standardError.write(Data("\(message)\n".utf8))
    }

    /// The exit code for an error; see the root command's help for the table.
    static func exitCode(for error: StrongroomError) -> Int32 {
        error.code.exitStatus
    }

    /// Runs a command body, printing a Strongroom error as one line and exiting with its code.
    /// Every store the body opened (``OpenStores``) gets its audit checkpoint before this returns,
    /// on success and on failure; a checkpoint that fails under fail-closed auditing fails a command
    /// that had succeeded.
    static func run(_ body: () async throws -> Void) async throws {
        do {
            do {
                try await body()
            } catch {
                await RemoteVault.closeAll()
                if let failure = await OpenStores.checkpointAll() {
                    Terminal.error("the audit checkpoint failed too: \(failure)")
                }
                throw error
            }
            await RemoteVault.closeAll()
            if let failure = await OpenStores.checkpointAll() { throw failure }
        } catch let error as StrongroomError {
            Terminal.error(error.description)
            throw ExitCode(exitCode(for: error))
        } catch let error as CryptoError {
            Terminal.error(error.description)
            throw ExitCode(70)
        } catch let error as FROSTError {
            Terminal.error(error.description)
            throw ExitCode(exitCode(for: error))
        }
    }

    /// The exit code for an engine error.
    static func exitCode(for error: FROSTError) -> Int32 {
        switch error.code {
        case .malformedEncoding, .invalidSignatureShare, .invalidSignature, .invalidPackage: 65
        case .shareGone, .groupState: 66
        case .sessionUsed, .sessionExpired, .refreshIncomplete: 75
        default: 64
        }
    }

    /// Reads a secret (at most `limit` bytes) from a file descriptor straight into locked memory.
    static func readSecret(fd: Int32, limit: Int, source: String, stripNewline: Bool) throws -> SecretBytes {
        try SecretBytes(capacity: limit + 1) { buffer in
            var total = 0
            while total < buffer.count {
                let n = read(fd, buffer.baseAddress! + total, buffer.count - total)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw StrongroomError(.io, "could not read the share from \(source)", cause: String(cString: strerror(errno)))
                }
                if n == 0 { break }
                total += n
            }
            guard total <= limit else {
                throw StrongroomError(.invalidInput, "the share from \(source) is longer than \(limit) bytes")
            }
            if stripNewline {
                while total > 0 && (buffer[total - 1] == 0x0A || buffer[total - 1] == 0x0D) { total -= 1 }
            }
            guard total > 0 else { throw StrongroomError(.invalidInput, "the share from \(source) is empty") }
            return total
        }
    }

    /// Reads one line from the terminal with echo turned off.
    static func readHiddenLine(prompt: String, limit: Int) throws -> SecretBytes {
        FileHandle.standardError.write(Data(prompt.utf8))
        var saved = termios()
        let haveTerminal = tcgetattr(STDIN_FILENO, &saved) == 0
        if haveTerminal {
            var quiet = saved
            quiet.c_lflag &= ~tcflag_t(ECHO)
            _ = tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet)
        }
        defer {
            if haveTerminal { _ = tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved) }
            FileHandle.standardError.write(Data("\n".utf8))
        }
        return try SecretBytes(capacity: limit + 1) { buffer in
            var total = 0
            var byte: UInt8 = 0
            while read(STDIN_FILENO, &byte, 1) == 1 {
                if byte == 0x0A { break }
                guard total < limit else { throw StrongroomError(.invalidInput, "the share is longer than \(limit) bytes") }
                buffer[total] = byte
                total += 1
            }
            byte = 0
            guard total > 0 else { throw StrongroomError(.invalidInput, "no share was entered") }
            return total
        }
    }

    /// Writes a secret to a file descriptor.
    static func writeSecret(_ secret: SecretBytes, fd: Int32, destination: String) throws {
        try secret.withUnsafeBytes { bytes in
            var offset = 0
            while offset < bytes.count {
                let n = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw StrongroomError(.io, "could not write the share to \(destination)", cause: String(cString: strerror(errno)))
                }
                offset += n
            }
        }
    }

    static func openSecretFile(_ path: String, flags: Int32, mode: mode_t = 0o600) throws -> Int32 {
        let fd = open(path, flags | O_CLOEXEC, mode)
        guard fd >= 0 else {
            let code = errno
            if code == EEXIST {
                throw StrongroomError(
                    .invalidInput,
                    "\(path) already exists; choose a new file name (Strongroom never writes over an existing file, nor through a symbolic link)")
            }
            throw StrongroomError(.io, "cannot open \(path)", cause: String(cString: strerror(code)))
        }
        return fd
    }

    /// Creates a new output file (mode 0600) for writing: `O_CREAT | O_EXCL | O_NOFOLLOW`, so an
    /// existing file, or a symbolic link even to nowhere, is refused (exit 64) and never written.
    static func createOutputFile(_ path: String) throws -> Int32 {
        try openSecretFile(path, flags: O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW)
    }

    /// Writes non-secret bytes (a signature) to a file descriptor and fsyncs it.
    static func writeAll(_ bytes: [UInt8], fd: Int32, destination: String) throws {
        try bytes.withUnsafeBytes { buffer in
            var offset = 0
            while offset < buffer.count {
                let n = write(fd, buffer.baseAddress! + offset, buffer.count - offset)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw StrongroomError(.io, "could not write \(destination)", cause: String(cString: strerror(errno)))
                }
                offset += n
            }
        }
        guard fsync(fd) == 0 else { throw StrongroomError(.io, "fsync failed for \(destination)") }
    }

    static func isoDate(_ seconds: UInt64) -> String {
        ISO8601DateFormatter().string(from: Date(timeIntervalSince1970: TimeInterval(seconds)))
    }
}
