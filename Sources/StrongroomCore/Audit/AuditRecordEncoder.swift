#if canImport(Glibc)
import Glibc
#endif
import SecureCrypto

/// Writes record lines in the exact byte form of docs/audit.md ("Record format") by hand: a
/// JSONEncoder would neither keep the member order nor be fast enough to sit on every load.
struct AuditRecordEncoder {
    /// The constant part of every line of this log after `"time":"…",`: vault and tier.
    let vaultAndTier: [UInt8]

    init(vaultID: VaultID, tier: Tier) {
        var bytes: [UInt8] = []
        bytes += Array(#""vault":"#.utf8)
        AuditRecordEncoder.appendString(vaultID.hex, to: &bytes)
        bytes += Array(#","tier":"#.utf8)
        AuditRecordEncoder.appendString(tier.name, to: &bytes)
        bytes.append(0x2C)
        self.vaultAndTier = bytes
    }

    /// What a checkpoint record adds before its MAC: the algorithm and the key's description
    /// (nil: no MAC key, `"alg":"none","key":null`).
    struct CheckpointKey {
        var algorithm: String
        var description: String?
    }

    /// The bytes of one record up to (not including) `,"mac":"` for a checkpoint, or `,"hash":"` for
    /// any other record.
    func body(
        seq: UInt64, previous: [UInt8], time: AuditTime, actor: AuditActor, event: AuditEvent, outcome: AuditOutcome,
        checkpoint: CheckpointKey?
    ) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(384)
        out += AuditLine.prefix
        AuditRecordEncoder.appendDecimal(seq, to: &out)
        out += Array(#","prev":""#.utf8)
        AuditRecordEncoder.appendHex(previous, to: &out)
        out += Array(#"","time":""#.utf8)
        out += time.bytes
        out += Array(#"","#.utf8)
        out += vaultAndTier
        out += Array(#""actor":{"uid":"#.utf8)
        AuditRecordEncoder.appendDecimal(UInt64(actor.uid), to: &out)
        out += Array(#","pid":"#.utf8)
        AuditRecordEncoder.appendSigned(Int64(actor.pid), to: &out)
        out += Array(#","host":"#.utf8)
        AuditRecordEncoder.appendString(actor.host, to: &out)
        out += Array(#","client":"#.utf8)
        AuditRecordEncoder.appendOptionalString(actor.client, to: &out)
        out += Array(#"},"op":"#.utf8)
        AuditRecordEncoder.appendString(event.operation.rawValue, to: &out)
        out += Array(#","share":"#.utf8)
        AuditRecordEncoder.appendOptionalString(event.shareID?.rawValue, to: &out)
        out += Array(#","versions":["#.utf8)
        for (index, version) in event.versions.enumerated() {
            if index > 0 { out.append(0x2C) }
            AuditRecordEncoder.appendDecimal(version, to: &out)
        }
        out += Array(#"],"kek":["#.utf8)
        for (index, version) in event.kekVersions.enumerated() {
            if index > 0 { out.append(0x2C) }
            AuditRecordEncoder.appendDecimal(UInt64(version), to: &out)
        }
        switch outcome {
        case .ok:
            out += Array(#"],"outcome":"ok","error":null,"details":{"#.utf8)
        case .error(let code, let exitStatus):
            out += Array(#"],"outcome":"error","error":{"code":"#.utf8)
            AuditRecordEncoder.appendString(code, to: &out)
            out += Array(#","exit":"#.utf8)
            AuditRecordEncoder.appendSigned(Int64(exitStatus), to: &out)
            out += Array(#"},"details":{"#.utf8)
        }
        if !event.details.isEmpty {
            // Keys sorted by their UTF-8 bytes (Swift's String order is by unicode scalars, which
            // orders UTF-8 the same way, but say it exactly).
            let keys = event.details.keys.sorted { Array($0.utf8).lexicographicallyPrecedes(Array($1.utf8)) }
            for (index, key) in keys.enumerated() {
                if index > 0 { out.append(0x2C) }
                AuditRecordEncoder.appendString(key, to: &out)
                out.append(0x3A)
                AuditRecordEncoder.appendString(event.details[key] ?? "", to: &out)
            }
        }
        out.append(0x7D)
        if let checkpoint {
            out += Array(#","alg":"#.utf8)
            AuditRecordEncoder.appendString(checkpoint.algorithm, to: &out)
            out += Array(#","key":"#.utf8)
            AuditRecordEncoder.appendOptionalString(checkpoint.description, to: &out)
        }
        return out
    }

    static let macMarker: [UInt8] = Array(#","mac":""#.utf8)

    /// Appends `,"mac":"<hex>"` to a checkpoint body.
    static func appendMAC(_ mac: [UInt8], to out: inout [UInt8]) {
        out += macMarker
        appendHex(mac, to: &out)
        out.append(0x22)
    }

    /// Ends a record: `,"hash":"<SHA-256 of everything before>"}` and the newline. Returns the hash.
    static func finish(_ out: inout [UInt8]) -> [UInt8] {
        let hash = SHA256.hash(out)
        out += AuditLine.hashMarker
        appendHex(hash, to: &out)
        out += [0x22, 0x7D, 0x0A]
        return hash
    }

    // MARK: Primitives

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    static func appendHex(_ bytes: [UInt8], to out: inout [UInt8]) {
        for byte in bytes {
            out.append(hexDigits[Int(byte >> 4)])
            out.append(hexDigits[Int(byte & 0x0F)])
        }
    }

    static func appendDecimal(_ value: UInt64, to out: inout [UInt8]) {
        if value < 10 {
            out.append(0x30 + UInt8(value))
            return
        }
        var digits: [UInt8] = []
        var rest = value
        while rest > 0 {
            digits.append(0x30 + UInt8(rest % 10))
            rest /= 10
        }
        out += digits.reversed()
    }

    static func appendSigned(_ value: Int64, to out: inout [UInt8]) {
        if value < 0 {
            out.append(0x2D)
            appendDecimal(value.magnitude, to: &out)
        } else {
            appendDecimal(UInt64(value), to: &out)
        }
    }

    static func appendOptionalString(_ value: String?, to out: inout [UInt8]) {
        if let value { appendString(value, to: &out) } else { out += [0x6E, 0x75, 0x6C, 0x6C] }  // null
    }

    /// A JSON string: `"` and `\` escaped with a backslash, U+0000…U+001F as `\u00xx` (lower-case
    /// hex), everything else as its UTF-8 bytes.
    static func appendString(_ value: String, to out: inout [UInt8]) {
        out.append(0x22)
        for byte in value.utf8 {
            switch byte {
            case 0x22: out += [0x5C, 0x22]
            case 0x5C: out += [0x5C, 0x5C]
            case 0x00..<0x20: out += [0x5C, 0x75, 0x30, 0x30, hexDigits[Int(byte >> 4)], hexDigits[Int(byte & 0x0F)]]
            default: out.append(byte)
            }
        }
        out.append(0x22)
    }
}

/// A record's time: `YYYY-MM-DDTHH:MM:SS.ffffffZ` (UTC, always six fraction digits), and the whole
/// seconds since 1970.
struct AuditTime: Sendable {
    let bytes: [UInt8]
    let seconds: UInt64

    /// The current time.
    static func now() -> AuditTime {
        var clock = timespec()
        clock_gettime(CLOCK_REALTIME, &clock)
        return AuditTime(seconds: Int(clock.tv_sec), microseconds: Int(clock.tv_nsec / 1000))
    }

    init(seconds: Int, microseconds: Int) {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        var out: [UInt8] = []
        out.reserveCapacity(27)
        func put(_ value: Int, _ width: Int) {
            var digits = [UInt8](repeating: 0x30, count: width)
            var rest = value
            for index in stride(from: width - 1, through: 0, by: -1) {
                digits[index] = 0x30 + UInt8(rest % 10)
                rest /= 10
            }
            out += digits
        }
        put(Int(parts.tm_year) + 1900, 4)
        out.append(0x2D)
        put(Int(parts.tm_mon) + 1, 2)
        out.append(0x2D)
        put(Int(parts.tm_mday), 2)
        out.append(0x54)
        put(Int(parts.tm_hour), 2)
        out.append(0x3A)
        put(Int(parts.tm_min), 2)
        out.append(0x3A)
        put(Int(parts.tm_sec), 2)
        out.append(0x2E)
        put(microseconds, 6)
        out.append(0x5A)
        self.bytes = out
        self.seconds = UInt64(max(0, seconds))
    }
}
