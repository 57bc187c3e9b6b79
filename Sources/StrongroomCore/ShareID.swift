/// A validated share id: 1 to 128 characters from `A-Z a-z 0-9 . _ -`, not starting with `.` or `-`,
/// and never containing `..`. Ids map to directory and object names, so these rules rule out path
/// traversal, absolute paths and hidden files on every tier.
public struct ShareID: Sendable, Hashable, Comparable, CustomStringConvertible {
    /// The id as text.
    public let rawValue: String

    /// The longest id accepted.
    public static let maximumLength = 128

    /// Validates `rawValue`, throwing ``StrongroomError/Code/invalidShareID`` with the rule it broke.
    public init(_ rawValue: String) throws(StrongroomError) {
        func reject(_ rule: String) -> StrongroomError {
            StrongroomError(.invalidShareID, "share id \(ShareID.quoted(rawValue)) \(rule)")
        }
        let utf8 = rawValue.utf8
        guard !utf8.isEmpty else { throw reject("is empty") }
        guard utf8.count <= ShareID.maximumLength else {
            throw reject("is \(utf8.count) bytes long; the limit is \(ShareID.maximumLength)")
        }
        var previous: UInt8 = 0
        for byte in utf8 {
            if byte == 0x2E && previous == 0x2E { throw reject("contains '..'") }
            previous = byte
            let allowed = (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A)
                || (byte >= 0x61 && byte <= 0x7A) || byte == 0x2E || byte == 0x5F || byte == 0x2D
            guard allowed else {
                if byte == 0x2F { throw reject("contains '/'; ids are single names, not paths") }
                throw reject("contains a character outside A-Z a-z 0-9 . _ -")
            }
        }
        guard utf8.first != 0x2E else { throw reject("starts with '.'; hidden names are not allowed") }
        guard utf8.first != 0x2D else { throw reject("starts with '-'") }
        self.rawValue = rawValue
    }

    /// The id as text.
    public var description: String { rawValue }

    /// Orders ids by their text.
    public static func < (lhs: ShareID, rhs: ShareID) -> Bool { lhs.rawValue < rhs.rawValue }

    /// Shows an untrusted id safely in a message: printable ASCII kept, the rest escaped, long ids cut.
    public static func quoted(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars.prefix(64) {
            if scalar.value >= 0x20 && scalar.value < 0x7F && scalar != "'" {
                out.unicodeScalars.append(scalar)
            } else {
                out += "\\u{\(String(scalar.value, radix: 16))}"
            }
        }
        if text.unicodeScalars.count > 64 { out += "…" }
        return "'\(out)'"
    }
}
