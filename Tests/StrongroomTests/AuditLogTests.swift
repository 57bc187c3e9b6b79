import Foundation
import SecureCrypto
import Testing
import Strongroom
@testable import StrongroomCore
@testable import StrongroomLocal

/// A tier 1 vault in a temporary directory, for the audit log tests.
struct AuditVault {
    let directory: TemporaryDirectory
    let settings: StrongroomConfiguration.Local
    let store: ShareStore

    var logPath: String { "\(settings.path)/audit/log.jsonl" }
    var statePath: String { "\(settings.path)/vault.json" }

    static func make(_ audit: AuditSettings = .standard) async throws -> AuditVault {
        let directory = try TemporaryDirectory()
        let settings = StrongroomConfiguration.Local(path: "\(directory.path)/vault")
        _ = try await LocalVault.initialise(settings, logger: quietLogger)
        let store = try await LocalVault.open(settings, logger: quietLogger)
        store.configureAudit(audit)
        return AuditVault(directory: directory, settings: settings, store: store)
    }

    /// Another store over the same vault directory (as another process would open it).
    func another(_ audit: AuditSettings = .standard) async throws -> ShareStore {
        let store = try await LocalVault.open(settings, logger: quietLogger)
        store.configureAudit(audit)
        return store
    }

    func records() async throws -> [AuditRecord] {
        var result: [AuditRecord] = []
        try await store.auditRecords { result.append($0) }
        return result
    }

    func lines() throws -> [String] {
        let text = try String(contentsOfFile: logPath, encoding: .utf8)
        return text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
    }

    func write(lines: [String]) throws {
        try Data((lines.map { $0 + "\n" }.joined()).utf8).write(to: URL(fileURLWithPath: logPath))
    }
}

/// Replaces a line's hash with the SHA-256 of its new contents, as an attacker without the MAC key can.
func rehash(_ line: String) -> String {
    let marker = #","hash":""#
    guard let range = line.range(of: marker, options: .backwards) else { return line }
    let body = String(line[..<range.lowerBound])
    return body + marker + SHA256.hexHash(Array(body.utf8)) + "\"}"
}

/// Waits (up to 3 s) until `vault.json` names a checkpoint at or after `seq` (automatic checkpoints
/// are anchored in the background).
func waitForAnchor(_ vault: AuditVault, atLeast seq: UInt64) async throws -> AuditCheckpoint? {
    for _ in 0..<60 {
        let state = try VaultState.decode(Array(try Data(contentsOf: URL(fileURLWithPath: vault.statePath))), location: "")
        if let audit = state.audit, audit.seq >= seq { return audit }
        try await Task.sleep(for: .milliseconds(50))
    }
    return nil
}

@Suite struct AuditLogTests {
    @Test func everyOperationWritesItsRecordWithTheRightFields() async throws {
        let vault = try await AuditVault.make()
        defer { vault.directory.cleanup() }
        let store = vault.store
        let alice = try id("alice")
        #expect(try await store.store(alice, secret("one"), metadata: ["k": "v"]) == 1)
        #expect(try await store.store(alice, secret("two")) == 2)
        _ = try await store.load(alice)
        _ = try await store.load(alice, version: 1)
        await #expect(throws: StrongroomError.self) { try await store.load(try id("nobody")) }
        _ = try await store.list()
        _ = try await store.versions(alice)
        _ = try await store.status()
        try await store.writeRecord(try id("group"), Array("public".utf8))
        _ = try await store.readRecord(try id("group"))
        _ = try await store.readUnauthenticatedRecord(try id("group"))
        try await store.removeRecord(try id("group"))
        _ = try await store.rotateWrappingKey()
        #expect(try await store.erase(alice, versions: [1]) == 1)
        let pair = try RecoveryPair()
        _ = try await store.enrolRecoveryKey(pair.publicKey)
        #expect(try await store.erase(alice) == 1)
        let item = MigrationItem(shareID: try id("imported"), version: 3, createdAt: 1_700_000_000, metadata: [])
        #expect(try await store.importVersion(item, secret: secret("imp")) == .created)
        try await store.checkpointAudit()

        let records = try await vault.records()
        #expect(
            records.map(\.event.operation.rawValue) == [
                "store", "store", "load", "load", "load", "list", "versions", "status", "record.write", "record.read",
                "record.read", "record.remove", "rotate.start", "rotate.finish", "erase-versions",
                "recovery.enrol.start", "recovery.enrol.finish", "erase", "import", "audit.checkpoint",
            ])
        #expect(records.map(\.seq) == Array(1...UInt64(records.count)))
        let vaultHex = store.vaultID.hex
        for record in records {
            #expect(record.vaultID == vaultHex)
            #expect(record.tier == "local")
            #expect(record.actor.uid == UInt32(getuid()))
            #expect(record.actor.pid == getpid())
            #expect(!record.actor.host.isEmpty)
            #expect(record.time.count == 27 && record.time.hasSuffix("Z"))
        }
        #expect(records[0].event.shareID == alice)
        #expect(records[0].event.versions == [1])
        #expect(records[0].event.kekVersions == [1])
        #expect(records[0].outcome == .ok)
        #expect(records[1].event.versions == [2])
        #expect(records[2].event.versions == [2])  // the newest, which the load returned
        #expect(records[3].event.versions == [1])
        #expect(records[4].event.shareID == (try id("nobody")))
        #expect(records[4].outcome == .error(code: StrongroomError.Code.shareNotFound.name, exitStatus: 66))
        #expect(records[4].line.contains(#""error":{"code":"share not found","exit":66}"#))
        #expect(records[6].event.versions == [1, 2])
        #expect(records[12].event.kekVersions == [1, 2])
        #expect(records[13].event.kekVersions == [1, 2])
        #expect(records[13].event.details["rewrapped"] == "2")  // alice v1 and v2; the record was removed
        #expect(records[14].event.versions == [1])
        #expect(records[15].event.details["recoveryKey"] == Hex.encode(pair.publicKey.fingerprint))
        #expect(records[17].event.details["erased"] == "1")
        #expect(records[18].event.versions == [3])
        #expect(records[19].mac?.count == 32)
        #expect(records[19].line.contains(#""alg":"HMAC-SHA256","key":"tier1 HKDF-SHA256(root seed"#))
        // The bytes of the first record, member by member (docs/audit.md, "Record format").
        let first = records[0].line
        #expect(first.hasPrefix(#"{"v":1,"seq":1,"prev":"0000000000000000000000000000000000000000000000000000000000000000","time":""#))
        #expect(first.contains(#"","vault":"\#(vaultHex)","tier":"local","actor":{"uid":\#(getuid()),"pid":\#(getpid()),"host":"#))
        #expect(first.contains(#","client":null},"op":"store","share":"alice","versions":[1],"kek":[1],"outcome":"ok","error":null,"details":{},"hash":""#))

        let verification = try await store.verifyAudit()
        #expect(verification.records == UInt64(records.count))
        #expect(verification.checkpoints == 1)
        #expect(verification.recordsAfterLastCheckpoint == 0)
        #expect(verification.stateCheckpoint?.seq == UInt64(records.count))
        #expect(verification.macKey?.contains("strongroom/tier1/audit-mac") == true)
        #expect(try mode(of: vault.logPath) == 0o600)
        #expect(try mode(of: "\(vault.settings.path)/audit") == 0o700)
        // Never a secret byte.
        let log = try String(contentsOfFile: vault.logPath, encoding: .utf8)
        #expect(!log.contains("one") && !log.contains("two") && !log.contains("imp\""))
    }

    @Test func listingsAreRecordedOnlyWhenConfigured() async throws {
        let vault = try await AuditVault.make(AuditSettings(recordListings: false))
        defer { vault.directory.cleanup() }
        _ = try await vault.store.store(try id("a"), secret("x"))
        _ = try await vault.store.list()
        _ = try await vault.store.versions(try id("a"))
        _ = try await vault.store.status()
        _ = try await vault.store.load(try id("a"))
        #expect(try await vault.records().map(\.event.operation) == [.store, .load])
    }

    @Test func chainVerifiesAfterConcurrentOperationsOfTwoStoresOnOneDirectory() async throws {
        let vault = try await AuditVault.make(AuditSettings(checkpointInterval: 16))
        defer { vault.directory.cleanup() }
        let other = try await vault.another(AuditSettings(checkpointInterval: 16))
        try await withThrowingTaskGroup(of: Void.self) { group in
            for task in 0..<24 {
                let store = task.isMultiple(of: 2) ? vault.store : other
                group.addTask {
                    let share = try id("s\(task)")
                    for round in 0..<3 {
                        _ = try await store.store(share, secret("v\(round)"))
                        _ = try await store.load(share)
                    }
                }
            }
            try await group.waitForAll()
        }
        try await other.checkpointAudit()
        try await vault.store.checkpointAudit()
        let verification = try await vault.store.verifyAudit()
        let records = try await vault.records()
        #expect(records.filter { $0.event.operation == .store }.count == 72)
        #expect(records.filter { $0.event.operation == .load }.count == 72)
        #expect(verification.records == UInt64(records.count))
        #expect(verification.checkpoints >= 2)
        #expect(verification.stateCheckpoint?.seq == verification.records)
        #expect(Set(records.map(\.actor.pid)) == [getpid()])
    }

    @Test func automaticCheckpointsAreAnchoredInVaultState() async throws {
        let vault = try await AuditVault.make(AuditSettings(checkpointInterval: 3))
        defer { vault.directory.cleanup() }
        for index in 0..<7 { _ = try await vault.store.store(try id("c\(index)"), secret("x")) }
        let anchored = try await waitForAnchor(vault, atLeast: 8)
        #expect(anchored != nil)
        let records = try await vault.records()
        #expect(records.filter { $0.event.operation == .checkpoint }.map(\.seq) == [4, 8])
        _ = try await vault.store.verifyAudit()
        // A rotation (a state writer) keeps the anchored checkpoint.
        _ = try await vault.store.rotateWrappingKey()
        _ = try await waitForAnchor(vault, atLeast: 8)
        let state = try VaultState.decode(Array(try Data(contentsOf: URL(fileURLWithPath: vault.statePath))), location: "")
        #expect((state.audit?.seq ?? 0) >= 8)
        _ = try await vault.store.verifyAudit()
    }

    // MARK: Tampering

    /// A vault with 12 records: 2 stores, loads, a checkpoint at seq 6 (MAC'd), more, a final
    /// checkpoint at seq 12 anchored in vault.json.
    static func tamperVault() async throws -> AuditVault {
        let vault = try await AuditVault.make(AuditSettings(checkpointInterval: 1_000))
        let store = vault.store
        _ = try await store.store(try id("a"), secret("x"))
        _ = try await store.store(try id("b"), secret("y"))
        _ = try await store.load(try id("a"))
        _ = try await store.load(try id("b"))
        _ = try await store.list()
        try await store.checkpointAudit()  // seq 6
        _ = try await store.store(try id("a"), secret("z"))
        _ = try await store.load(try id("a"))
        _ = try await store.load(try id("b"))
        _ = try await store.versions(try id("a"))
        _ = try await store.list()
        try await store.checkpointAudit()  // seq 12
        #expect(try vault.lines().count == 12)
        _ = try await store.verifyAudit()
        return vault
    }

    static func expectTampered(_ vault: AuditVault, _ fault: String, seq: UInt64?, line: Int?) async {
        let error = await #expect(throws: StrongroomError.self) { try await vault.store.verifyAudit() }
        #expect(error?.code == .auditTampered)
        let reason = error?.reason ?? ""
        #expect(reason.contains(": \(fault): "), "\(reason)")
        if let seq, let line {
            #expect(reason.contains("record seq \(seq) at line \(line):"), "\(reason)")
        }
    }

    @Test func aChangedFieldIsDetected() async throws {
        let vault = try await Self.tamperVault()
        defer { vault.directory.cleanup() }
        var lines = try vault.lines()
        lines[2] = lines[2].replacingOccurrences(of: #""op":"load""#, with: #""op":"list""#)
        try vault.write(lines: lines)
        await Self.expectTampered(vault, "changed", seq: 3, line: 3)
    }

    @Test func aChangedFieldWithItsHashRecomputedIsDetectedAtThatRecord() async throws {
        let vault = try await Self.tamperVault()
        defer { vault.directory.cleanup() }
        var lines = try vault.lines()
        lines[2] = rehash(lines[2].replacingOccurrences(of: #""share":"a""#, with: #""share":"b""#))
        try vault.write(lines: lines)
        await Self.expectTampered(vault, "changed", seq: 3, line: 3)
    }

    @Test func aDeletedRecordIsDetected() async throws {
        let vault = try await Self.tamperVault()
        defer { vault.directory.cleanup() }
        var lines = try vault.lines()
        lines.remove(at: 3)  // seq 4
        try vault.write(lines: lines)
        await Self.expectTampered(vault, "deleted", seq: 5, line: 4)
    }

    @Test func anInsertedRecordIsDetected() async throws {
        let vault = try await Self.tamperVault()
        defer { vault.directory.cleanup() }
        var lines = try vault.lines()
        // A forged seq 4 chained to seq 3, hash recomputed; the real seq 4 follows it.
        let previousHash = String(lines[2].suffix(66).prefix(64))
        var forged = lines[3].replacingOccurrences(of: #""share":"b""#, with: #""share":"a""#)
        let prevRange = forged.range(of: #""prev":""#)!
        let start = prevRange.upperBound
        let end = forged.index(start, offsetBy: 64)
        forged.replaceSubrange(start..<end, with: previousHash)
        lines.insert(rehash(forged), at: 3)
        try vault.write(lines: lines)
        await Self.expectTampered(vault, "inserted", seq: 4, line: 5)
    }

    @Test func twoSwappedRecordsAreDetected() async throws {
        let vault = try await Self.tamperVault()
        defer { vault.directory.cleanup() }
        var lines = try vault.lines()
        lines.swapAt(3, 4)
        try vault.write(lines: lines)
        await Self.expectTampered(vault, "reordered", seq: 5, line: 4)
    }

    @Test func recordsTruncatedPastTheStateCheckpointAreDetected() async throws {
        let vault = try await Self.tamperVault()
        defer { vault.directory.cleanup() }
        let lines = try vault.lines()
        try vault.write(lines: Array(lines.prefix(9)))
        await Self.expectTampered(vault, "truncated or rolled back", seq: nil, line: nil)
    }

    @Test func aLogRolledBackToAnOlderCopyIsDetected() async throws {
        let vault = try await Self.tamperVault()
        defer { vault.directory.cleanup() }
        let older = try Data(contentsOf: URL(fileURLWithPath: vault.logPath))
        _ = try await vault.store.store(try id("c"), secret("w"))
        try await vault.store.checkpointAudit()
        _ = try await vault.store.verifyAudit()
        try older.write(to: URL(fileURLWithPath: vault.logPath))
        await Self.expectTampered(vault, "truncated or rolled back", seq: nil, line: nil)
    }

    @Test func aForgedCheckpointMACIsDetected() async throws {
        let vault = try await Self.tamperVault()
        defer { vault.directory.cleanup() }
        var lines = try vault.lines()
        let macRange = lines[5].range(of: #","mac":""#)!
        let start = macRange.upperBound
        let end = lines[5].index(start, offsetBy: 64)
        lines[5].replaceSubrange(start..<end, with: String(repeating: "ab", count: 32))
        lines[5] = rehash(lines[5])
        try vault.write(lines: lines)
        await Self.expectTampered(vault, "bad MAC", seq: 6, line: 6)
    }

    @Test func anAlteredStateCheckpointIsDetected() async throws {
        let vault = try await Self.tamperVault()
        defer { vault.directory.cleanup() }
        var state = try VaultState.decode(Array(try Data(contentsOf: URL(fileURLWithPath: vault.statePath))), location: "")
        state.audit?.hash = String(repeating: "0", count: 64)
        try Data(try state.encoded()).write(to: URL(fileURLWithPath: vault.statePath))
        await Self.expectTampered(vault, "truncated or rolled back", seq: 12, line: 12)
    }

    // MARK: Torn tail

    @Test func aTornTailIsRecognisedAndRepairedByTheNextAppend() async throws {
        let vault = try await Self.tamperVault()
        defer { vault.directory.cleanup() }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: vault.logPath))
        try handle.seekToEnd()
        let torn = Array(#"{"v":1,"seq":13,"prev":"ab"#.utf8)
        try handle.write(contentsOf: Data(torn))
        try handle.close()
        let verification = try await vault.store.verifyAudit()
        #expect(verification.tornTailBytes == torn.count)
        #expect(verification.records == 12)
        // A second store (a process that never saw the log) appends: it cuts the torn bytes first.
        let other = try await vault.another()
        _ = try await other.store(try id("after"), secret("v"))
        let records = try await vault.records()
        #expect(records.map(\.event.operation).suffix(2) == [.tornTail, .store])
        #expect(records[12].event.details == ["bytes": "\(torn.count)", "sha256": SHA256.hexHash(torn)])
        let repaired = try await vault.store.verifyAudit()
        #expect(repaired.tornTailBytes == 0)
        #expect(repaired.records == 14)
    }

    // MARK: Modes

    @Test func failClosedRefusesAStoreWhenTheLogIsADirectory() async throws {
        let vault = try await AuditVault.make()
        defer { vault.directory.cleanup() }
        _ = try await vault.store.store(try id("first"), secret("x"))
        try FileManager.default.removeItem(atPath: vault.logPath)
        try FileManager.default.createDirectory(atPath: vault.logPath, withIntermediateDirectories: false)
        let error = await #expect(throws: StrongroomError.self) { try await vault.store.store(try id("second"), secret("y")) }
        #expect(error?.code == .auditUnavailable)
        #expect(error?.reason.contains(vault.logPath) == true)
        #expect(error?.reason.contains("a directory") == true)
        #expect(!FileManager.default.fileExists(atPath: "\(vault.settings.path)/shares/second"))
    }

    @Test func failClosedReleasesNothingWhenTheLogIsASymlink() async throws {
        let vault = try await AuditVault.make()
        defer { vault.directory.cleanup() }
        _ = try await vault.store.store(try id("first"), secret("x"))
        let elsewhere = "\(vault.directory.path)/elsewhere.jsonl"
        try FileManager.default.moveItem(atPath: vault.logPath, toPath: elsewhere)
        try FileManager.default.createSymbolicLink(atPath: vault.logPath, withDestinationPath: elsewhere)
        let error = await #expect(throws: StrongroomError.self) { try await vault.store.load(try id("first")) }
        #expect(error?.code == .auditUnavailable)
        #expect(error?.reason.contains("symbolic link") == true)
        let moved = try String(contentsOfFile: elsewhere, encoding: .utf8)
        #expect(moved.split(separator: "\n").count == 1)  // nothing written through the link
    }

    @Test func aSymlinkedAuditDirectoryIsRefused() async throws {
        let vault = try await AuditVault.make()
        defer { vault.directory.cleanup() }
        let elsewhere = "\(vault.directory.path)/elsewhere"
        try FileManager.default.createDirectory(atPath: elsewhere, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        try FileManager.default.createSymbolicLink(atPath: "\(vault.settings.path)/audit", withDestinationPath: elsewhere)
        let error = await #expect(throws: StrongroomError.self) { try await vault.store.store(try id("s"), secret("y")) }
        #expect(error?.code == .auditUnavailable)
        #expect(error?.reason.contains("symbolic link") == true)
        #expect(try FileManager.default.contentsOfDirectory(atPath: elsewhere).isEmpty)
        #expect(!FileManager.default.fileExists(atPath: "\(vault.settings.path)/shares/s"))
    }

    @Test func aHardLinkedLogIsRefused() async throws {
        let vault = try await AuditVault.make()
        defer { vault.directory.cleanup() }
        _ = try await vault.store.store(try id("first"), secret("x"))
        let other = try await vault.another()
        try FileManager.default.linkItem(atPath: vault.logPath, toPath: "\(vault.directory.path)/copy.jsonl")
        let error = await #expect(throws: StrongroomError.self) { try await other.store(try id("s"), secret("y")) }
        #expect(error?.code == .auditUnavailable)
        #expect(error?.reason.contains("2 links") == true)
    }

    @Test func bestEffortGoesOnWithoutTheLog() async throws {
        let vault = try await AuditVault.make(AuditSettings(mode: .bestEffort))
        defer { vault.directory.cleanup() }
        _ = try await vault.store.store(try id("first"), secret("x"))
        try FileManager.default.removeItem(atPath: vault.logPath)
        try FileManager.default.createDirectory(atPath: vault.logPath, withIntermediateDirectories: false)
        #expect(try await vault.store.store(try id("second"), secret("y")) == 1)
        #expect(text(try await vault.store.load(try id("second"))) == "y")
    }

    @Test func offWritesNothing() async throws {
        let vault = try await AuditVault.make(AuditSettings(mode: .off))
        defer { vault.directory.cleanup() }
        _ = try await vault.store.store(try id("first"), secret("x"))
        _ = try await vault.store.load(try id("first"))
        try await vault.store.checkpointAudit()
        #expect(!FileManager.default.fileExists(atPath: vault.logPath))
        let status = try await vault.store.status()
        #expect(status.auditMode == .off)
    }

    @Test func statusShowsTheAuditSettings() async throws {
        let vault = try await AuditVault.make()
        defer { vault.directory.cleanup() }
        _ = try await vault.store.store(try id("a"), secret("x"))
        try await vault.store.checkpointAudit()
        let status = try await vault.store.status()
        #expect(status.auditMode == .failClosed)
        #expect(status.auditLocation == vault.logPath)
        #expect(status.auditRecordCount == 2)
        #expect(status.auditMACKey?.contains("strongroom/tier1/audit-mac") == true)
        #expect(status.auditCheckpoint?.seq == 2)
    }

    // MARK: Configuration

    @Test func configurationParsesTheAuditKeys() async throws {
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let file = "\(directory.path)/c.yaml"
        try Data("tier: local\nlocal:\n  path: /srv/v\naudit:\n  mode: best-effort\n  recordListings: false\n  checkpointInterval: 10\n".utf8)
            .write(to: URL(fileURLWithPath: file))
        let config = try await StrongroomConfiguration.load(filePath: file, environment: [:])
        #expect(config.audit == AuditSettings(mode: .bestEffort, recordListings: false, checkpointInterval: 10))
        let environment = try await StrongroomConfiguration.load(
            filePath: file, environment: ["STRONGROOM_AUDIT_MODE": "off", "STRONGROOM_AUDIT_CHECKPOINT_INTERVAL": "7"])
        #expect(environment.audit == AuditSettings(mode: .off, recordListings: false, checkpointInterval: 7))
        let defaults = try await StrongroomConfiguration.load(filePath: nil, environment: ["STRONGROOM_LOCAL_PATH": "/e"])
        #expect(defaults.audit == .standard)
    }

    @Test(arguments: [
        ("STRONGROOM_AUDIT_MODE", "loudly", "audit.mode"),
        ("STRONGROOM_AUDIT_CHECKPOINT_INTERVAL", "0", "audit.checkpointInterval"),
        ("STRONGROOM_AUDIT_CHECKPOINT_INTERVAL", "1000001", "audit.checkpointInterval"),
        ("STRONGROOM_AUDIT_RECORD_LISTINGS", "sometimes", "audit.recordListings"),
    ])
    func aBadAuditSettingNamesTheKey(_ variable: String, _ value: String, _ key: String) async throws {
        let error = await #expect(throws: StrongroomError.self) {
            try await StrongroomConfiguration.load(filePath: nil, environment: ["STRONGROOM_LOCAL_PATH": "/e", variable: value])
        }
        #expect(error?.code == .configuration)
        #expect(error?.reason.contains("'\(key)'") == true)
        if value == "loudly" || value == "sometimes" { #expect(error?.reason.contains(value) == false) }
    }
}
