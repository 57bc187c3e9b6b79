#if canImport(Glibc)
import Glibc
#endif
import ArgumentParser
import Foundation
import SecureCrypto
import Strongroom

/// `strongroom recovery init`: a new recovery key pair whose private key is split among custodians.
struct RecoveryInitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "init",
        abstract: "Create a recovery key pair, its private key split into passphrase-sealed custodian parts.",
        discussion: """
            Generates an X25519 recovery key pair, splits the private key with Shamir's secret sharing so that \
            any THRESHOLD of the CUSTODIANS parts rebuild it, and seals each part under its custodian's \
            passphrase (Argon2id, 3 passes over 64 MiB, then AES-256-GCM). Writes DIR/recovery.pub and \
            DIR/part-<i>-of-<N>.srpart (mode 0600; DIR is created with mode 0700 when missing) and prints the \
            public key's fingerprint. No file holds the private key. Existing key files in DIR are never \
            overwritten: the command refuses and writes nothing.

            Each passphrase (at least \(RecoveryCustodians.minimumPassphraseLength) bytes) is asked on the \
            terminal twice with echo off, or read one per line, custodian 1 first, from --passphrase-fd FD \
            (for automation), never from an argument or the environment. See docs/recovery.md.
            """)

    @Option(name: .long, help: ArgumentHelp("How many custodian parts to make (N, 2 to 255).", valueName: "N"))
    var custodians: Int

    @Option(name: .long, help: ArgumentHelp("How many parts rebuild the key (T, 2 to N).", valueName: "T"))
    var threshold: Int

    @Option(name: .long, help: ArgumentHelp("Directory for recovery.pub and the part files.", valueName: "dir"))
    var out: String

    @Option(
        name: .long,
        help: ArgumentHelp("Read the passphrases from this open file descriptor, one per line.", valueName: "fd"))
    var passphraseFd: Int32?

    func run() async throws {
        try await Terminal.run {
            guard threshold >= 2, threshold <= custodians, custodians <= 255 else {
                throw StrongroomError(
                    .invalidInput,
                    "need 2 <= --threshold <= --custodians <= 255, got --threshold \(threshold) --custodians \(custodians); nothing was written")
            }
            let reader = try PassphraseReader(passphraseFD: passphraseFd)
            let directory = try RecoveryOutputDirectory(path: out)
            defer { directory.close() }
            let names = (1...custodians).map { "part-\($0)-of-\(custodians).srpart" }
            let (publicKey, parts) = try await RecoveryCustodians.create(custodians: custodians, threshold: threshold) {
                index in
                try reader.newPassphrase(for: "custodian \(index) of \(custodians) (\(names[index - 1]))")
            }
            try directory.writeNewFiles(
                names.indices.map { (name: names[$0], bytes: parts[$0]) }
                    + [(name: "recovery.pub", bytes: publicKey.fileContents)])
            print("created recovery key \(publicKey.fingerprintText)")
            print("  public key:   \(directory.display("recovery.pub"))")
            for (index, name) in names.enumerated() {
                print("  part \(index + 1) of \(custodians): \(directory.display(name))")
            }
            print(
                "Any \(threshold) of the \(custodians) parts rebuild the private key. Give each part file to its custodian, keep recovery.pub with the vault's operators, and compare this fingerprint when enrolling the key.")
        }
    }
}

/// The directory `recovery init` writes into: created 0700 when missing; refused when it is a symbolic
/// link, not a directory, owned by someone else, writable by group or others, or already holds a
/// `recovery.pub` or `.srpart` file. Files are created in it with `openat` on a descriptor opened with
/// `O_NOFOLLOW`, so the checked directory is the one written to.
struct RecoveryOutputDirectory {
    let path: String
    let fd: Int32

    init(path given: String) throws {
        // "link/" would resolve through a symbolic link even with O_NOFOLLOW: drop trailing slashes.
        var path = given
        while path.count > 1 && path.hasSuffix("/") { path.removeLast() }
        self.path = path
        var info = stat()
        if lstat(path, &info) != 0 {
            guard errno == ENOENT else {
                throw StrongroomError(.io, "cannot look at \(path)", cause: String(cString: strerror(errno)))
            }
            guard mkdir(path, 0o700) == 0 else {
                throw StrongroomError(.io, "cannot create the directory \(path)", cause: String(cString: strerror(errno)))
            }
            RecoveryOutputDirectory.syncParent(of: path)
        }
        let fd = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            let code = errno
            if code == ELOOP || code == ENOTDIR {
                throw StrongroomError(
                    .unsafeFile, "\(path) is a symbolic link or not a directory; give a real directory for --out; nothing was written")
            }
            throw StrongroomError(.io, "cannot open the directory \(path)", cause: String(cString: strerror(code)))
        }
        self.fd = fd
        do {
            guard fstat(fd, &info) == 0 else {
                throw StrongroomError(.io, "cannot look at \(path)", cause: String(cString: strerror(errno)))
            }
            guard info.st_uid == geteuid() else {
                throw StrongroomError(
                    .insecurePermissions, "\(path) belongs to user \(info.st_uid), not to this user; nothing was written")
            }
            guard info.st_mode & 0o022 == 0 else {
                throw StrongroomError(
                    .insecurePermissions,
                    "\(path) is writable by its group or others (mode \(String(info.st_mode & 0o7777, radix: 8))); chmod 700 it; nothing was written")
            }
            let existing = try FileManager.default.contentsOfDirectory(atPath: path)
                .filter { $0 == "recovery.pub" || $0.hasSuffix(".srpart") }.sorted()
            guard existing.isEmpty else {
                throw StrongroomError(
                    .vaultAlreadyExists,
                    "\(path) already holds recovery key files (\(existing.joined(separator: ", "))); they were left alone and nothing was written: choose an empty directory")
            }
        } catch {
            Glibc.close(fd)
            throw error
        }
    }

    func close() { Glibc.close(fd) }

    func display(_ name: String) -> String { path.hasSuffix("/") ? path + name : "\(path)/\(name)" }

    /// Creates each file (0600, `O_EXCL | O_NOFOLLOW`), writes and fsyncs it, then fsyncs the directory.
    /// If any step fails, the files this call created are removed again, so a failed run leaves no
    /// partial set of parts behind.
    func writeNewFiles(_ files: [(name: String, bytes: [UInt8])]) throws {
        var created: [String] = []
        do {
            for file in files {
                let out = openat(fd, file.name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
                guard out >= 0 else {
                    let code = errno
                    throw StrongroomError(
                        code == EEXIST ? .vaultAlreadyExists : .io,
                        "cannot create \(display(file.name)); nothing was kept", cause: String(cString: strerror(code)))
                }
                created.append(file.name)
                defer { Glibc.close(out) }
                try Terminal.writeAll(file.bytes, fd: out, destination: display(file.name))
            }
            guard fsync(fd) == 0 else {
                throw StrongroomError(.io, "fsync failed for the directory \(path)", cause: String(cString: strerror(errno)))
            }
        } catch {
            for name in created { _ = unlinkat(fd, name, 0) }
            _ = fsync(fd)
            throw error
        }
    }

    /// Makes a new directory's name durable (best effort: a failure here loses nothing written yet).
    private static func syncParent(of path: String) {
        let parent = (path as NSString).deletingLastPathComponent
        let fd = Glibc.open(parent.isEmpty ? "." : parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        Glibc.close(fd)
    }
}
