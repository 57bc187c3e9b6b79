#if canImport(Glibc)
import Glibc
#endif
import Foundation
import SecureCrypto
import Strongroom

/// Reads custodians' passphrases: on the terminal (`/dev/tty`, echo off, the prompt on standard error),
/// or one line per passphrase from a file descriptor the caller opened (`--passphrase-fd FD`), never
/// from an argument or the environment. The bytes go straight from `read(2)` into locked memory
/// (``SecretBytes``), never through a `String`. A trailing "\r" before the newline is dropped.
///
/// `strongroom recovery init` asks each custodian twice (``newPassphrase(for:)``); `strongroom recover`
/// asks once per part (``passphrase(forPart:)``).
struct PassphraseReader {
    /// Where passphrases come from.
    enum Source {
        /// The controlling terminal, with echo off.
        case terminal
        /// One passphrase per line from this descriptor (a pipe or file the caller opened).
        case fileDescriptor(Int32)
    }

    let source: Source
    /// The longest passphrase read, in bytes.
    let limit: Int

    init(source: Source, limit: Int = RecoveryCustodians.maximumPassphraseLength) {
        self.source = source
        self.limit = limit
    }

    /// A reader for `--passphrase-fd FD` when given (checked to be an open descriptor), else the terminal.
    init(passphraseFD: Int32?) throws {
        if let fd = passphraseFD {
            guard fd >= 0, fcntl(fd, F_GETFD) != -1 else {
                throw StrongroomError(
                    .invalidInput, "--passphrase-fd \(fd) is not an open file descriptor; open it in the calling shell, e.g. 3<passphrases")
            }
            self.init(source: .fileDescriptor(fd))
        } else {
            self.init(source: .terminal)
        }
    }

    /// The passphrase of the custodian of a part, for opening it: "passphrase for part FILE: ".
    func passphrase(forPart file: String) throws -> SecretBytes {
        try read(prompt: "passphrase for part \(file): ", what: "the passphrase for part \(file)")
    }

    /// A new passphrase for custodian `custodian` of a part being created: on the terminal asked twice
    /// (both must match) and at least `RecoveryCustodians.minimumPassphraseLength` bytes, asked again
    /// (three tries) when not; from a descriptor, one line, refused when too short.
    func newPassphrase(for custodian: String) throws -> SecretBytes {
        let minimum = RecoveryCustodians.minimumPassphraseLength
        switch source {
        case .fileDescriptor:
            let secret = try read(prompt: "", what: "the passphrase for \(custodian)")
            guard secret.count >= minimum else {
                throw StrongroomError(
                    .invalidInput,
                    "the passphrase for \(custodian) (line from --passphrase-fd) is \(secret.count) bytes; at least \(minimum) are needed")
            }
            return secret
        case .terminal:
            for _ in 0..<3 {
                let first = try read(prompt: "new passphrase for \(custodian) (at least \(minimum) characters): ", what: "the passphrase for \(custodian)")
                guard first.count >= minimum else {
                    Terminal.note("too short: at least \(minimum) bytes; try again")
                    continue
                }
                let second = try read(prompt: "the same passphrase again: ", what: "the passphrase for \(custodian)")
                if first == second { return first }
                Terminal.note("the two passphrases differ; try again")
            }
            throw StrongroomError(.invalidInput, "no passphrase was agreed for \(custodian) in three tries; nothing was written")
        }
    }

    /// Reads one line: from the descriptor as is, or from the terminal with echo off.
    private func read(prompt: String, what: String) throws -> SecretBytes {
        switch source {
        case .fileDescriptor(let fd):
            return try PassphraseReader.readLine(fd: fd, limit: limit, what: what, source: "--passphrase-fd \(fd)")
        case .terminal:
            let tty = Glibc.open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)
            guard tty >= 0 else {
                throw StrongroomError(
                    .invalidInput, "there is no terminal to ask \(what) on; pass the passphrases with --passphrase-fd FD")
            }
            defer { close(tty) }
            var saved = termios()
            guard tcgetattr(tty, &saved) == 0 else {
                throw StrongroomError(.io, "cannot read the terminal's settings", cause: String(cString: strerror(errno)))
            }
            var quiet = saved
            quiet.c_lflag &= ~tcflag_t(ECHO | ECHONL)
            EchoGuard.arm(fd: tty, saved: saved)
            // Echo off first (TCSAFLUSH drops anything typed before), then the prompt: what is typed
            // after the prompt appears is read, and never echoed.
            _ = tcsetattr(tty, TCSAFLUSH, &quiet)
            _ = prompt.utf8CString.withUnsafeBufferPointer { write(tty, $0.baseAddress, $0.count - 1) }
            defer {
                _ = tcsetattr(tty, TCSAFLUSH, &saved)
                EchoGuard.disarm()
                _ = write(tty, "\n", 1)
            }
            return try PassphraseReader.readLine(fd: tty, limit: limit, what: what, source: "the terminal")
        }
    }

    /// Reads bytes up to a newline (not consuming anything after it) into locked memory. End of input
    /// before any byte is an error; a line longer than `limit` too.
    static func readLine(fd: Int32, limit: Int, what: String, source: String) throws -> SecretBytes {
        try SecretBytes(capacity: limit + 1) { buffer in
            var total = 0
            var sawNewline = false
            while true {
                let n = Glibc.read(fd, buffer.baseAddress! + total, 1)
                if n < 0 {
                    if errno == EINTR { continue }
                    throw StrongroomError(.io, "could not read \(what) from \(source)", cause: String(cString: strerror(errno)))
                }
                if n == 0 { break }
                if buffer[total] == 0x0A {
                    buffer[total] = 0
                    sawNewline = true
                    break
                }
                total += 1
                guard total <= limit else {
                    throw StrongroomError(.invalidInput, "\(what) from \(source) is longer than \(limit) bytes")
                }
            }
            if total > 0 && buffer[total - 1] == 0x0D {
                total -= 1
                buffer[total] = 0
            }
            guard total > 0 else {
                throw StrongroomError(
                    .invalidInput, sawNewline ? "\(what) from \(source) is empty" : "\(source) ended before \(what)")
            }
            return total
        }
    }
}

/// Puts the terminal's echo back if the process is interrupted (SIGINT, SIGTERM, SIGHUP) while a
/// passphrase is being typed, then lets the signal end the process as it would have.
private enum EchoGuard {
    // nonisolated(unsafe): written only by the one thread asking for a passphrase, before the handlers
    // are installed and after they are removed; the handler only reads them.
    nonisolated(unsafe) static var fd: Int32 = -1
    nonisolated(unsafe) static var saved = termios()
    static let signals: [Int32] = [SIGINT, SIGTERM, SIGHUP]

    static func arm(fd: Int32, saved: termios) {
        EchoGuard.fd = fd
        EchoGuard.saved = saved
        for signal in signals {
            Glibc.signal(signal) { number in
                _ = tcsetattr(EchoGuard.fd, TCSANOW, &EchoGuard.saved)
                Glibc.signal(number, SIG_DFL)
                raise(number)
            }
        }
    }

    static func disarm() {
        for signal in signals { Glibc.signal(signal, SIG_DFL) }
        fd = -1
    }
}
