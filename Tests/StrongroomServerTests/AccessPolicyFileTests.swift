import Foundation
import StrongroomCore
import StrongroomServer
import Testing

/// Reading the policy file: only a safe regular file is read; a reload that fails keeps the old policy.
@Suite struct AccessPolicyFileTests {
    static let policyText = """
        version: 1
        identities:
          operator: {uid: 0}
        rules:
          - name: operator-status
            identity: operator
            operations: [status]
        """

    /// A fresh 0700 directory; removed by the caller.
    func makeDirectory() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("policy-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        return dir
    }

    func write(_ text: String, to path: String, mode: Int = 0o600) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        try FileManager.default.setAttributes([.posixPermissions: mode], ofItemAtPath: path)
    }

    @Test func readsASafeFile() throws {
        let dir = try makeDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("policy.yaml").path
        try write(Self.policyText, to: path, mode: 0o644)
        let policy = try AccessPolicy.load(path: path)
        #expect(policy.source == path)
        #expect(policy.decide(PeerIdentity(.uid(0)), .status, shareID: nil).allowed)
    }

    func expectRefused(_ path: String, _ code: StrongroomError.Code, _ text: String) {
        do {
            _ = try AccessPolicy.load(path: path)
            Issue.record("accepted \(path)")
        } catch {
            #expect(error.code == code, "\(error)")
            #expect(error.description.contains(path), "\(error)")
            #expect(error.description.contains(text), "\(error)")
            #expect(!error.description.contains("operator-status"), "\(error)")
        }
    }

    @Test func refusesUnsafeFiles() throws {
        let dir = try makeDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let real = dir.appendingPathComponent("real.yaml").path
        try write(Self.policyText, to: real)

        let link = dir.appendingPathComponent("link.yaml").path
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: real)
        expectRefused(link, .unsafeFile, "symbolic link")

        let writable = dir.appendingPathComponent("writable.yaml").path
        try write(Self.policyText, to: writable, mode: 0o620)
        expectRefused(writable, .insecurePermissions, "writable by group or others")
        try write(Self.policyText, to: writable, mode: 0o602)
        expectRefused(writable, .insecurePermissions, "writable by group or others")

        let hard = dir.appendingPathComponent("hard.yaml").path
        try FileManager.default.linkItem(atPath: real, toPath: hard)
        expectRefused(hard, .unsafeFile, "2 hard links")
        try FileManager.default.removeItem(atPath: hard)

        let directory = dir.appendingPathComponent("adir.yaml").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: false)
        expectRefused(directory, .unsafeFile, "not a regular file")

        let fifo = dir.appendingPathComponent("fifo.yaml").path
        #expect(mkfifo(fifo, 0o600) == 0)
        expectRefused(fifo, .unsafeFile, "not a regular file")

        expectRefused(dir.appendingPathComponent("missing.yaml").path, .policy, "does not exist")
        expectRefused("relative/policy.yaml", .policy, "absolute path")

        let big = dir.appendingPathComponent("big.yaml").path
        try write(String(repeating: "#", count: AccessPolicy.maximumFileBytes + 1), to: big)
        expectRefused(big, .policy, "the limit is")

        let binary = dir.appendingPathComponent("binary.yaml").path
        try Data([0x76, 0xFF, 0xFE, 0x00]).write(to: URL(fileURLWithPath: binary))
        expectRefused(binary, .policy, "not UTF-8")

        if geteuid() == 0 {
            let foreign = dir.appendingPathComponent("foreign.yaml").path
            try write(Self.policyText, to: foreign)
            #expect(chown(foreign, 4321, 4321) == 0)
            expectRefused(foreign, .insecurePermissions, "owned by uid 4321")
        }

        // The real file itself is fine (only its link count changed back to 1).
        #expect(try AccessPolicy.load(path: real).rules.count == 1)
    }

    @Test func refusesAFileInADirectoryOthersMayWrite() throws {
        let dir = try makeDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("policy.yaml").path
        try write(Self.policyText, to: path)
        try FileManager.default.setAttributes([.posixPermissions: 0o777], ofItemAtPath: dir.path)
        expectRefused(path, .insecurePermissions, "directory that group or others may write to")
        // Sticky (like /tmp): others cannot replace our file.
        try FileManager.default.setAttributes([.posixPermissions: 0o1777], ofItemAtPath: dir.path)
        #expect(try AccessPolicy.load(path: path).rules.count == 1)
    }

    @Test func aReloadThatFailsKeepsTheOldPolicy() throws {
        let dir = try makeDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("policy.yaml").path
        try write(Self.policyText, to: path)
        let holder = try PolicyHolder(path: path)
        let root = PeerIdentity(.uid(0))
        #expect(holder.current.decide(root, .status, shareID: nil).allowed)
        #expect(!holder.current.decide(root, .rotate, shareID: nil).allowed)

        try write(Self.policyText + "\n    bogus: 1\n", to: path)
        #expect(throws: StrongroomError.self) { try holder.reload() }
        #expect(holder.current.decide(root, .status, shareID: nil).allowed)

        try write(Self.policyText.replacingOccurrences(of: "[status]", with: "[status, rotate]"), to: path)
        try holder.reload()
        #expect(holder.current.decide(root, .rotate, shareID: nil).allowed)

        try FileManager.default.removeItem(atPath: path)
        #expect(throws: StrongroomError.self) { try holder.reload() }
        #expect(holder.current.decide(root, .rotate, shareID: nil).allowed)
    }

    @Test func theServerRefusesToStartWithABadPolicy() throws {
        let dir = try makeDirectory()
        defer { try? FileManager.default.removeItem(at: dir) }
        let path = dir.appendingPathComponent("policy.yaml").path
        try write("version: 1\nidentities: {}\nrules: [nonsense]\n", to: path)
        #expect(throws: StrongroomError.self) { try PolicyHolder(path: path) }
    }
}
