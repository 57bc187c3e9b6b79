import SecureCrypto

/// The fixed parts of an audit record line (docs/audit.md, "Record format") that sinks need without
/// parsing a whole record: its `seq` (the line starts `{"v":1,"seq":<decimal>,`) and its hash (the
/// line ends `,"hash":"<64 hex>"}`).
public enum AuditLine {
    /// `{"v":1,"seq":` — every record line starts with these bytes.
    public static let prefix: [UInt8] = Array(#"{"v":1,"seq":"#.utf8)
    /// `,"hash":"` — the last member of every record; the hash covers the bytes before it.
    public static let hashMarker: [UInt8] = Array(#","hash":""#.utf8)

    /// The seq and hash a complete record line (without its newline) declares, or nil when the line
    /// does not have the record shape. Nothing is verified: ``ShareStore/verifyAudit()`` does that.
    public static func tail<Line: RandomAccessCollection<UInt8>>(of line: Line) -> AuditTail? where Line.Index == Int {
        let bytes = Array(line)
        guard bytes.count > prefix.count + hashMarker.count + 64 + 2, bytes.starts(with: prefix) else { return nil }
        var seq: UInt64 = 0
        var index = prefix.count
        while index < bytes.count, bytes[index] >= 0x30, bytes[index] <= 0x39 {
            let (times, o1) = seq.multipliedReportingOverflow(by: 10)
            let (sum, o2) = times.addingReportingOverflow(UInt64(bytes[index] - 0x30))
            guard !o1, !o2 else { return nil }
            seq = sum
            index += 1
        }
        guard index > prefix.count, index < bytes.count, bytes[index] == 0x2C, seq > 0 else { return nil }
        let end = bytes.count - 2  // `"}`
        guard bytes[end] == 0x22, bytes[end + 1] == 0x7D else { return nil }
        let hexStart = end - 64
        guard Array(bytes[(hexStart - hashMarker.count)..<hexStart]) == hashMarker,
            let hash = Hex.decode(String(decoding: bytes[hexStart..<end], as: UTF8.self)), hash.count == 32
        else { return nil }
        return AuditTail(seq: seq, hash: hash)
    }

    /// The seq and hash of the last line of `lines` (complete lines, the last ending in `\n`), or nil.
    public static func lastTail(of lines: [UInt8]) -> AuditTail? {
        guard lines.last == 0x0A else { return nil }
        let end = lines.count - 1
        let start = lines[..<end].lastIndex(of: 0x0A).map { $0 + 1 } ?? 0
        return tail(of: lines[start..<end])
    }

    /// The 20-digit zero-padded decimal of `seq`: segment object names (`audit/<seq>.jsonl`) sort in seq order.
    public static func segmentName(firstSeq seq: UInt64) -> String {
        let digits = String(seq)
        return String(repeating: "0", count: max(0, 20 - digits.count)) + digits + ".jsonl"
    }
}
