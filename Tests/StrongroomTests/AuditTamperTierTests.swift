import Foundation
import SecureCrypto
import Testing
import Strongroom
@testable import StrongroomCloud
@testable import StrongroomCore
@testable import StrongroomHSM
@testable import StrongroomLocal

/// Tamper evidence on tiers 2 and 3 through the ShareStore API: every kind of change to the log
/// (tier 2: its S3 segments; tier 3: its log file) is found by `verifyAudit`, naming the first bad
/// record, and the untouched log verifies again once the bytes are put back.
@Suite(.serialized) struct AuditTamperTierTests {
    // MARK: Log surgery (what an attacker with write access to the storage, but not the MAC key, can do)

    /// `line` with its hash recomputed and its prev set to `previous` (no newline in or out).
    static func rehash(_ line: [UInt8], previous: [UInt8]) -> [UInt8] {
        var text = String(decoding: line, as: UTF8.self)
        let prevStart = text.range(of: #""prev":""#)!.upperBound
        let prevEnd = text.index(prevStart, offsetBy: 64)
        text.replaceSubrange(prevStart..<prevEnd, with: Hex.encode(previous))
        let marker = text.range(of: #","hash":""#, options: .backwards)!
        let body = String(text[..<marker.lowerBound])
        return Array((body + #","hash":"\#(SHA256.hexHash(Array(body.utf8)))"}"#).utf8)
    }

    /// Lines with line `index` replaced by `edit` of it, and it and every later line re-chained: the
    /// hash chain holds again; only a MAC can tell.
    static func rechained(_ lines: [[UInt8]], editing index: Int, _ edit: ([UInt8]) -> [UInt8]) -> [[UInt8]] {
        var out = lines
        out[index] = edit(out[index])
        var previous = index == 0 ? [UInt8](repeating: 0, count: 32) : AuditLine.tail(of: out[index - 1])!.hash
        for position in index..<out.count {
            out[position] = rehash(out[position], previous: previous)
            previous = AuditLine.tail(of: out[position])!.hash
        }
        return out
    }

    /// `line` with the first occurrence of `old` replaced by `new` (same length or not).
    static func replacing(_ line: [UInt8], _ old: String, _ new: String) -> [UInt8] {
        let text = String(decoding: line, as: UTF8.self)
        let range = text.range(of: old)!
        return Array(text.replacingCharacters(in: range, with: new).utf8)
    }

    /// The 1-based positions of checkpoint records among `lines`.
    static func checkpointPositions(_ lines: [[UInt8]]) -> [Int] {
        lines.indices.filter { String(decoding: lines[$0], as: UTF8.self).contains(#""op":"audit.checkpoint""#) }.map { $0 + 1 }
    }

    /// `verifyAudit` must fail with `auditTampered` naming `fault` at record `seq` (line `line`), or the
    /// log as a whole when `seq` is nil.
    static func expectTampered(
        _ store: ShareStore, _ fault: String, seq: UInt64?, line: Int? = nil, _ comment: Comment
    ) async {
        let error = await #expect(throws: StrongroomError.self, comment) { try await store.verifyAudit() }
        #expect(error?.code == .auditTampered, comment)
        let reason = error?.reason ?? ""
        #expect(reason.contains(": \(fault): "), "\(comment): \(reason)")
        if let seq {
            #expect(reason.contains("record seq \(seq) at line \(line ?? Int(seq)):"), "\(comment): \(reason)")
        }
    }

    /// Stores, loads and two checkpoints: a log of at least ten records with a checkpoint in the middle
    /// and one at the end (which `vault.json` names).
    static func makeHistory(_ store: ShareStore) async throws {
        for index in 1...4 { _ = try await store.store(try ShareID("s\(index)"), try secret("value \(index)")) }
        try await store.checkpointAudit()
        _ = try await store.load(try ShareID("s1"))
        _ = try await store.store(try ShareID("s5"), try secret("value 5"))
        _ = try await store.store(try ShareID("s1"), try secret("value 1b"))
        _ = try await store.erase(try ShareID("s2"))
        try await store.checkpointAudit()
    }

    // MARK: Tier 2: S3 segments

    @Test func tier2SegmentTamperingIsFoundAndNamed() async throws {
        let environment = try CloudTestEnvironment.require()
        let prefix = try CloudTestEnvironment.freshPrefix("audit-tamper")
        let settings = try environment.settings(prefix: prefix)
        _ = try await CloudVault.initialise(settings, logger: quietLogger)
        defer { Task { await environment.removeEverything(under: prefix) } }
        let store = try await CloudVault.open(settings, logger: quietLogger)
        try await AuditTamperTierTests.makeHistory(store)
        let blobs = store.blobs

        // The segments as written: one per append (sequential operations), names in seq order.
        let names = try await blobs.children(of: "audit/")
        var original: [String: [UInt8]] = [:]
        var lines: [[UInt8]] = []
        var segmentOfLine: [String] = []
        for name in names {
            let bytes = try #require(try await blobs.read("audit/" + name)).bytes
            original[name] = bytes
            for line in bytes.split(separator: 0x0A) {
                lines.append(Array(line))
                segmentOfLine.append(name)
            }
        }
        let checkpoints = AuditTamperTierTests.checkpointPositions(lines)
        try #require(checkpoints.count == 2 && checkpoints[1] == lines.count, "\(checkpoints) of \(lines.count)")
        let first = checkpoints[0]
        // Records 2 and 3 (stores: durable, so each its own append) are one segment each.
        for index in 1...2 { try #require(segmentOfLine.filter { $0 == segmentOfLine[index] }.count == 1, "\(segmentOfLine)") }
        try #require(segmentOfLine[0] != segmentOfLine[1])
        let verified = try await store.verifyAudit()
        #expect(verified.records == UInt64(lines.count) && verified.checkpoints == 2)
        #expect(verified.macKey?.hasPrefix("KMS HMAC_256 key ") == true)
        #expect(verified.stateCheckpoint?.seq == UInt64(lines.count))

        /// Writes segments as `lines` lays them out again (each line back into the segment it came
        /// from), runs the check, then puts every segment back as it was and removes any added.
        func tamper(
            _ segments: [String: [UInt8]], removing: [String] = [], _ check: () async throws -> Void
        ) async throws {
            for (name, bytes) in segments { #expect(try await blobs.replace("audit/" + name, bytes, ifRevision: nil)) }
            for name in removing { try await blobs.destroy("audit/" + name) }
            try await check()
            for (name, bytes) in original { #expect(try await blobs.replace("audit/" + name, bytes, ifRevision: nil)) }
            for name in Set(segments.keys).subtracting(original.keys) { try await blobs.destroy("audit/" + name) }
            #expect(try await store.verifyAudit().records == UInt64(lines.count), "restored")
        }
        func segments(of changed: [[UInt8]]) -> [String: [UInt8]] {
            var out: [String: [UInt8]] = [:]
            for (index, line) in changed.enumerated() { out[segmentOfLine[index], default: []] += line + [0x0A] }
            return out.filter { original[$0.key] != $0.value }
        }
        let store2 = try await CloudVault.open(settings, logger: quietLogger)  // another process verifies

        // Changed: one byte of record 2 (its hash no longer matches).
        var changed = lines
        changed[1] = AuditTamperTierTests.replacing(lines[1], #""op":"store""#, #""op":"stora""#)
        try await tamper(segments(of: changed)) {
            await AuditTamperTierTests.expectTampered(store2, "changed", seq: 2, "a changed record")
        }
        // Changed and the chain recomputed after it: the first checkpoint's MAC no longer verifies.
        let rewritten = AuditTamperTierTests.rechained(lines, editing: 1) {
            AuditTamperTierTests.replacing($0, #""op":"store""#, #""op":"stora""#)
        }
        try await tamper(segments(of: rewritten)) {
            await AuditTamperTierTests.expectTampered(store2, "bad MAC", seq: UInt64(first), "a changed record, chain recomputed")
        }
        // Deleted: the segment of record 3 (record 4 is then line 3).
        try await tamper([:], removing: [segmentOfLine[2]]) {
            await AuditTamperTierTests.expectTampered(store2, "deleted", seq: 4, line: 3, "a deleted segment")
        }
        // Inserted: record 2 copied into record 3's segment, before it.
        try await tamper([segmentOfLine[2]: lines[1] + [0x0A] + original[segmentOfLine[2]]!]) {
            await AuditTamperTierTests.expectTampered(store2, "inserted", seq: 2, line: 3, "an inserted record")
        }
        // Reordered: segments 2 and 3 swap contents.
        try await tamper([segmentOfLine[1]: original[segmentOfLine[2]]!, segmentOfLine[2]: original[segmentOfLine[1]]!]) {
            await AuditTamperTierTests.expectTampered(store2, "reordered", seq: 3, line: 2, "reordered segments")
        }
        // Rolled back: every segment after the first checkpoint deleted (vault.json names the second).
        let after = Array(Set(segmentOfLine[first...]))
        try await tamper([:], removing: after) {
            await AuditTamperTierTests.expectTampered(store2, "truncated or rolled back", seq: nil, "a rolled-back log")
        }
        // A forged MAC on the first checkpoint, the chain recomputed so that only the MAC is wrong.
        let forged = AuditTamperTierTests.rechained(lines, editing: first - 1) { line in
            let text = String(decoding: line, as: UTF8.self)
            let mac = text.range(of: #","mac":""#)!.upperBound
            let end = text.index(mac, offsetBy: 64)
            let flipped = text[mac..<end].first == "0" ? "1" : "0"
            return Array((text[..<mac] + flipped + text[text.index(after: mac)...]).utf8)
        }
        try await tamper(segments(of: forged)) {
            await AuditTamperTierTests.expectTampered(store2, "bad MAC", seq: UInt64(first), "a forged KMS MAC")
        }
        // The segments were never replaced by Strongroom: a new append goes after them.
        _ = try await store2.store(try ShareID("s6"), try secret("value 6"))
        try await store2.checkpointAudit()
        #expect(try await store.verifyAudit().records == UInt64(lines.count + 2))
        for (name, bytes) in original { #expect(try await blobs.read("audit/" + name)?.bytes == bytes) }
    }

    // MARK: Tier 3: the log file beside the vault's blobs

    @Test func tier3LogTamperingIsFoundAndNamed() async throws {
        let hsm = try HSMTestEnvironment.require()
        let directory = try TemporaryDirectory()
        defer { directory.cleanup() }
        let settings = hsm.settings(blobPath: "\(directory.path)/vault")
        _ = try await HSMVault.initialise(settings, logger: quietLogger)
        defer { Task { try? await HSMVault.destroyKeys(settings, logger: quietLogger) } }
        let store = try await HSMVault.open(settings, logger: quietLogger)
        try await AuditTamperTierTests.makeHistory(store)
        let path = "\(settings.blobPath)/audit/log.jsonl"
        let original = try Array(Data(contentsOf: URL(fileURLWithPath: path)))
        let lines = original.split(separator: 0x0A).map(Array.init)
        let checkpoints = AuditTamperTierTests.checkpointPositions(lines)
        try #require(checkpoints.count == 2 && checkpoints[1] == lines.count, "\(checkpoints) of \(lines.count)")
        let first = checkpoints[0]
        let verified = try await store.verifyAudit()
        #expect(verified.records == UInt64(lines.count) && verified.checkpoints == 2)
        #expect(verified.macKey?.hasPrefix("PKCS#11 CKK_GENERIC_SECRET 'strongroom/") == true)

        /// Overwrites the log file in place (same inode, mode and owner), runs the check, puts it back.
        func tamper(_ bytes: [UInt8], _ check: () async throws -> Void) async throws {
            let handle = try #require(FileHandle(forWritingAtPath: path))
            try handle.truncate(atOffset: 0)
            try handle.write(contentsOf: Data(bytes))
            try handle.close()
            try await check()
            let restore = try #require(FileHandle(forWritingAtPath: path))
            try restore.truncate(atOffset: 0)
            try restore.write(contentsOf: Data(original))
            try restore.close()
            #expect(try await store.verifyAudit().records == UInt64(lines.count), "restored")
        }
        func joined(_ lines: [[UInt8]]) -> [UInt8] { lines.flatMap { $0 + [0x0A] } }
        let store2 = try await HSMVault.open(settings, logger: quietLogger)

        var changed = lines
        changed[1] = AuditTamperTierTests.replacing(lines[1], #""op":"store""#, #""op":"stora""#)
        try await tamper(joined(changed)) {
            await AuditTamperTierTests.expectTampered(store2, "changed", seq: 2, "a changed record")
        }
        let rewritten = AuditTamperTierTests.rechained(lines, editing: 1) {
            AuditTamperTierTests.replacing($0, #""op":"store""#, #""op":"stora""#)
        }
        try await tamper(joined(rewritten)) {
            await AuditTamperTierTests.expectTampered(store2, "bad MAC", seq: UInt64(first), "a changed record, chain recomputed")
        }
        var deleted = lines
        deleted.remove(at: 2)
        try await tamper(joined(deleted)) {
            await AuditTamperTierTests.expectTampered(store2, "deleted", seq: 4, line: 3, "a deleted record")
        }
        var inserted = lines
        inserted.insert(lines[1], at: 2)
        try await tamper(joined(inserted)) {
            await AuditTamperTierTests.expectTampered(store2, "inserted", seq: 2, line: 3, "an inserted record")
        }
        var reordered = lines
        reordered.swapAt(1, 2)
        try await tamper(joined(reordered)) {
            await AuditTamperTierTests.expectTampered(store2, "reordered", seq: 3, line: 2, "reordered records")
        }
        // Truncated after the first checkpoint: vault.json names the second.
        try await tamper(joined(Array(lines.prefix(first)))) {
            await AuditTamperTierTests.expectTampered(store2, "truncated or rolled back", seq: nil, "a truncated log")
        }
        // Truncated inside the last record: a torn tail, but vault.json's checkpoint is gone with it.
        try await tamper(Array(original.prefix(original.count - 40))) {
            await AuditTamperTierTests.expectTampered(store2, "truncated or rolled back", seq: nil, "a cut last record")
        }
        let forged = AuditTamperTierTests.rechained(lines, editing: first - 1) { line in
            let text = String(decoding: line, as: UTF8.self)
            let mac = text.range(of: #","mac":""#)!.upperBound
            let flipped = text[mac] == "0" ? "1" : "0"
            return Array((text[..<mac] + flipped + text[text.index(after: mac)...]).utf8)
        }
        try await tamper(joined(forged)) {
            await AuditTamperTierTests.expectTampered(store2, "bad MAC", seq: UInt64(first), "a forged HSM MAC")
        }
    }
}
