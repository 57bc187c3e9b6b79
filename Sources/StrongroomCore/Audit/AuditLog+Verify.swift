import Foundation
import SecureCrypto

// Verifying and reading a log (docs/audit.md, "Verification").

extension AuditLog {
    /// Calls `body` with each complete line (without its newline) and its 1-based line number; returns
    /// the number of bytes after the last newline (a torn last record).
    func forEachLine(_ body: ([UInt8], Int) async throws -> Void) async throws -> Int {
        var carry: [UInt8] = []
        var lineNumber = 0
        try await sink.read { chunk in
            var start = chunk.startIndex
            while let newline = chunk[start...].firstIndex(of: 0x0A) {
                let line: [UInt8]
                if carry.isEmpty {
                    line = Array(chunk[start..<newline])
                } else {
                    line = carry + chunk[start..<newline]
                    carry = []
                }
                lineNumber += 1
                try await body(line, lineNumber)
                start = newline + 1
            }
            carry += chunk[start...]
        }
        return carry.count
    }

    /// What is wrong with a record, as `audit verify` names it.
    enum Fault: String {
        case changed, deleted, inserted, reordered
        case truncated = "truncated or rolled back"
        case badMAC = "bad MAC"
    }

    func tampered(_ fault: Fault, seq: UInt64?, line: Int?, _ detail: String) -> StrongroomError {
        var place = "the log"
        if let seq, let line {
            place = "record seq \(seq) at line \(line)"
        } else if let line {
            place = "the record at line \(line)"
        }
        return StrongroomError(
            .auditTampered,
            "audit log \(sink.location) does not verify: \(place): \(fault.rawValue): \(detail). The records before it verify; keep a copy of the log and find out who changed it")
    }

    /// Verifies the whole log against the chain rules, every checkpoint's MAC and `vault.json`'s
    /// checkpoint (`stateCheckpoint`).
    func verify(stateCheckpoint: AuditCheckpoint?) async throws -> AuditVerification {
        let key = try await macKey()
        var expected: UInt64 = 1
        var previousHash = AuditTail.empty.hash
        var previousLine = 0
        var checkpoints: UInt64 = 0
        var lastCheckpointSeq: UInt64 = 0
        var lastCheckpointMAC = ""
        var stateCheckpointFound = false
        var seenSeqLines: [UInt64: Int] = [:]  // only while looking for where missing records went
        // A gap found: the rest of the log is scanned for the missing seqs (then they were reordered).
        var gap: (missing: ClosedRange<UInt64>, seq: UInt64, line: Int)?
        var reorderedAt: (seq: UInt64, line: Int)?
        let vaultAndTier = encoder.vaultAndTier
        let tornBytes = try await forEachLine { line, number in
            guard reorderedAt == nil else { return }
            guard let tail = AuditLine.tail(of: line) else {
                if gap != nil { return }
                throw tampered(.changed, seq: nil, line: number, "it is not a record line (an edit broke its form)")
            }
            if let found = gap {
                if found.missing.contains(tail.seq) { reorderedAt = (tail.seq, number) }
                seenSeqLines[tail.seq] = number
                return
            }
            let bodyEnd = line.count - 2 - 64 - AuditLine.hashMarker.count
            guard SHA256.hash(Array(line[..<bodyEnd])) == tail.hash else {
                throw tampered(.changed, seq: tail.seq, line: number, "its hash does not match its contents")
            }
            if tail.seq > expected {
                gap = (expected...(tail.seq - 1), tail.seq, number)
                return
            }
            if tail.seq < expected {
                throw tampered(
                    .inserted, seq: tail.seq, line: number,
                    "seq \(tail.seq) comes again after seq \(expected - 1) (line \(previousLine)): a record was inserted or copied into the log")
            }
            // seq is right: the record must chain to the one before it.
            let prevStart = AuditLine.prefix.count + String(tail.seq).utf8.count + #","prev":""#.utf8.count
            guard line.count > prevStart + 64,
                let prev = Hex.decode(String(decoding: line[prevStart..<(prevStart + 64)], as: UTF8.self))
            else {
                throw tampered(.changed, seq: tail.seq, line: number, "its prev field is not 64 hex digits")
            }
            if prev != previousHash {
                if tail.seq == 1 {
                    throw tampered(.changed, seq: 1, line: number, "the first record must name 64 zeros as prev")
                }
                throw tampered(
                    .changed, seq: tail.seq - 1, line: previousLine,
                    "record seq \(tail.seq) (line \(number)) names another hash as its predecessor: the record before it was changed and its hash recomputed, or replaced")
            }
            // The vault and tier follow `"time":"<27 bytes>","`.
            let vaultStart = prevStart + 64 + #"","time":""#.utf8.count + 27 + #"","#.utf8.count
            guard line.count > vaultStart + vaultAndTier.count,
                Array(line[vaultStart..<(vaultStart + vaultAndTier.count)]) == vaultAndTier
            else {
                throw tampered(.changed, seq: tail.seq, line: number, "it does not name this vault (\(vaultID.hex), \(tier)) with a well-formed time")
            }
            if let macAt = AuditLog.lastRange(of: AuditRecordEncoder.macMarker, in: line, before: bodyEnd) {
                try await checkMAC(line, macAt: macAt, bodyEnd: bodyEnd, seq: tail.seq, number: number, key: key)
                let macStart = macAt + AuditRecordEncoder.macMarker.count
                lastCheckpointMAC = String(decoding: line[macStart..<(bodyEnd - 1)], as: UTF8.self)
                checkpoints += 1
                lastCheckpointSeq = tail.seq
            } else if AuditLog.contains(AuditLog.checkpointOp, in: line) {
                throw tampered(.badMAC, seq: tail.seq, line: number, "a checkpoint record without a MAC")
            }
            if let stateCheckpoint, stateCheckpoint.seq == tail.seq {
                guard Hex.encode(tail.hash) == stateCheckpoint.hash.lowercased(), lastCheckpointSeq == tail.seq,
                    lastCheckpointMAC == stateCheckpoint.mac.lowercased()
                else {
                    throw tampered(
                        .truncated, seq: tail.seq, line: number,
                        "vault.json names checkpoint seq \(stateCheckpoint.seq) with hash \(stateCheckpoint.hash), but the log holds another record there (or vault.json's checkpoint was altered): the log was rolled back and rewritten, or replaced")
                }
                stateCheckpointFound = true
            }
            expected = tail.seq + 1
            previousHash = tail.hash
            previousLine = number
        }
        if let reorderedAt, let gap {
            throw tampered(
                .reordered, seq: gap.seq, line: gap.line,
                "seq \(gap.missing.lowerBound) was expected here; it is at line \(reorderedAt.line): records were moved")
        }
        if let gap {
            let missing = gap.missing.count == 1 ? "seq \(gap.missing.lowerBound) is" : "seqs \(gap.missing.lowerBound)–\(gap.missing.upperBound) are"
            throw tampered(
                .deleted, seq: gap.seq, line: gap.line, "\(missing) missing before it: records were deleted")
        }
        if let stateCheckpoint, !stateCheckpointFound {
            throw tampered(
                .truncated, seq: nil, line: nil,
                "vault.json names checkpoint seq \(stateCheckpoint.seq) (written at \(stateCheckpoint.at) s since 1970), but the log ends at seq \(expected - 1)\(previousLine > 0 ? " (line \(previousLine))" : ""): records at its end were removed or an older copy of the log was put back")
        }
        return AuditVerification(
            location: sink.location, records: expected - 1, checkpoints: checkpoints,
            tail: AuditTail(seq: expected - 1, hash: previousHash), stateCheckpoint: stateCheckpoint,
            recordsAfterLastCheckpoint: expected - 1 - lastCheckpointSeq, macKey: key?.description, tornTailBytes: tornBytes)
    }

    static let checkpointOp: [UInt8] = Array(#""op":"audit.checkpoint","#.utf8)

    /// Checks a checkpoint line's algorithm, key and MAC.
    private func checkMAC(
        _ line: [UInt8], macAt: Int, bodyEnd: Int, seq: UInt64, number: Int, key: (any AuditMACKey)?
    ) async throws {
        let macStart = macAt + AuditRecordEncoder.macMarker.count
        guard bodyEnd - 1 >= macStart, line[bodyEnd - 1] == 0x22,
            let mac = Hex.decode(String(decoding: line[macStart..<(bodyEnd - 1)], as: UTF8.self))
        else {
            throw tampered(.badMAC, seq: seq, line: number, "its mac field is not hex")
        }
        let message = Array(line[..<macAt])
        guard let parsed = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
            parsed["op"] as? String == AuditOperation.checkpoint.rawValue, let algorithm = parsed["alg"] as? String
        else {
            throw tampered(.badMAC, seq: seq, line: number, "a MAC on a record that is not a well-formed checkpoint")
        }
        guard let key else {
            guard algorithm == "none", mac.isEmpty else {
                throw tampered(
                    .badMAC, seq: seq, line: number,
                    "it claims a \(algorithm) MAC, but this tier has no audit MAC key to check it with")
            }
            return
        }
        guard algorithm == key.algorithm else {
            throw tampered(
                .badMAC, seq: seq, line: number,
                "it claims algorithm \(algorithm), but the vault's key is \(key.algorithm) (\(key.description))")
        }
        guard try await key.verify(message, mac: mac) else {
            throw tampered(.badMAC, seq: seq, line: number, "its MAC does not verify under \(key.description)")
        }
    }

    /// Where the last occurrence of `marker` in `line[..<end]` starts.
    static func lastRange(of marker: [UInt8], in line: [UInt8], before end: Int) -> Int? {
        var index = end - marker.count
        while index >= 0 {
            if line[index] == marker[0], Array(line[index..<(index + marker.count)]) == marker { return index }
            index -= 1
        }
        return nil
    }

    static func contains(_ marker: [UInt8], in line: [UInt8]) -> Bool {
        guard line.count >= marker.count else { return false }
        for index in 0...(line.count - marker.count) where line[index] == marker[0] {
            if Array(line[index..<(index + marker.count)]) == marker { return true }
        }
        return false
    }

    // MARK: Reading

    /// How many complete lines (records) the log holds.
    func countRecords() async throws -> UInt64 {
        var count: UInt64 = 0
        try await sink.read { chunk in
            for byte in chunk where byte == 0x0A { count += 1 }
        }
        return count
    }

    /// Calls `body` with each parsed record that passes `filter` (lines that are not records are skipped).
    func records(_ filter: AuditFilter, _ body: (AuditRecord) async throws -> Void) async throws {
        let since: String? = filter.since.map { date in
            let seconds = date.timeIntervalSince1970
            let whole = Int(seconds.rounded(.down))
            return String(decoding: AuditTime(seconds: whole, microseconds: Int((seconds - Double(whole)) * 1_000_000)).bytes, as: UTF8.self)
        }
        _ = try await forEachLine { line, _ in
            guard let record = AuditLog.parse(line) else { return }
            if let shareID = filter.shareID, record.event.shareID != shareID { return }
            if let operation = filter.operation {
                let name = record.event.operation.rawValue
                guard name == operation || name.hasPrefix(operation + ".") else { return }
            }
            if let since, record.time < since { return }
            try await body(record)
        }
    }

    /// A record line parsed (nil when it is not one).
    static func parse(_ line: [UInt8]) -> AuditRecord? {
        guard let tail = AuditLine.tail(of: line),
            let object = try? JSONSerialization.jsonObject(with: Data(line)) as? [String: Any],
            let time = object["time"] as? String, let vault = object["vault"] as? String,
            let tier = object["tier"] as? String, let actor = object["actor"] as? [String: Any],
            let op = object["op"] as? String, let prevHex = object["prev"] as? String, let prev = Hex.decode(prevHex)
        else { return nil }
        let share = (object["share"] as? String).flatMap { try? ShareID($0) }
        let versions = (object["versions"] as? [NSNumber] ?? []).map { $0.uint64Value }
        let kek = (object["kek"] as? [NSNumber] ?? []).map { $0.uint32Value }
        let details = object["details"] as? [String: String] ?? [:]
        var outcome = AuditOutcome.ok
        if object["outcome"] as? String == "error" {
            let error = object["error"] as? [String: Any]
            outcome = .error(
                code: error?["code"] as? String ?? "unknown", exitStatus: (error?["exit"] as? NSNumber)?.int32Value ?? 1)
        }
        let who = AuditActor(
            uid: (actor["uid"] as? NSNumber)?.uint32Value ?? 0, pid: (actor["pid"] as? NSNumber)?.int32Value ?? 0,
            host: actor["host"] as? String ?? "", client: actor["client"] as? String)
        return AuditRecord(
            seq: tail.seq, time: time, actor: who, vaultID: vault, tier: tier,
            event: AuditEvent(AuditOperation(rawValue: op), shareID: share, versions: versions, kekVersions: kek, details: details),
            outcome: outcome, previousHash: prev, hash: tail.hash, mac: (object["mac"] as? String).flatMap(Hex.decode),
            line: String(decoding: line, as: UTF8.self))
    }
}
