import Foundation

/// Where keys are in a configuration file, for error messages that point at a line and column
/// without ever quoting the file: a configuration file may hold an AWS secret key or a PIN, and the
/// parsers' own error descriptions (Yams, JSONSerialization) quote the offending line.
struct ConfigurationFilePositions {
    /// A 1-based line and column.
    struct Position: Comparable, CustomStringConvertible {
        var line: Int
        var column: Int
        static func < (a: Position, b: Position) -> Bool { (a.line, a.column) < (b.line, b.column) }
        var description: String { "line \(line), column \(column)" }
    }

    /// Every key path found, dotted (`cloud.secretAccessKey`), with where its key starts.
    private(set) var keys: [(path: String, position: Position)] = []

    /// Every name that appears in a known setting's key (`cloud`, `secretAccessKey`, …): the core's
    /// and those of every registered tier.
    let settingNames: Set<String>

    /// Reads `path` and finds its keys; an unreadable file gives no keys.
    init(path: String, settingKeys: [String]) {
        settingNames = Set((ConfigurationFilePositions.coreSettingKeys + settingKeys).flatMap { $0.split(separator: ".").map(String.init) })
        guard let data = FileManager.default.contents(atPath: path) else { return }
        let text = String(decoding: data, as: UTF8.self)
        if path.lowercased().hasSuffix(".json") {
            scanJSON(text)
        } else {
            scanYAML(text)
        }
    }

    /// Where `key` is, if the file has it.
    func position(of key: String) -> Position? {
        keys.first { $0.path == key }?.position
    }

    /// The last key that starts at or before `position`: the one a syntax error is in or after.
    func key(before position: Position) -> String? {
        guard let path = keys.last(where: { $0.position <= position })?.path else { return nil }
        // A key is named only when it is a setting Strongroom knows: in a broken file a secret value
        // can read as a key (a value on a line of its own, a missing colon), and must not be echoed.
        let known = path.split(separator: ".").allSatisfy { settingNames.contains(String($0)) }
        return known ? path : nil
    }

    /// The settings the core reads itself.
    static let coreSettingKeys = ["tier", "lockTimeoutSeconds", "blockingThreads"]

    /// The line and column a parser's error names, read from its description as digits only (the
    /// description itself quotes the file and is never shown). Yams writes `L:C: error: …` or
    /// `… in line L, column C`; Foundation's JSON parser `… line L, column C`.
    static func position(inParserError error: any Error, path: String) -> Position? {
        let description = "\(error)" + " " + "\((error as NSError).userInfo)"
        // Foundation's JSON parser on Linux gives a 0-based offset: `around character N`.
        if let expression = try? NSRegularExpression(pattern: #"around character (\d+)"#),
            let match = expression.firstMatch(in: description, range: NSRange(description.startIndex..., in: description)),
            let range = Range(match.range(at: 1), in: description), let offset = Int(description[range]),
            let data = FileManager.default.contents(atPath: path), offset <= data.count
        {
            var position = Position(line: 1, column: 1)
            for byte in data.prefix(offset) {
                if byte == UInt8(ascii: "\n") {
                    position = Position(line: position.line + 1, column: 1)
                } else if byte & 0xC0 != 0x80 {
                    position.column += 1
                }
            }
            return position
        }
        let patterns = [#"^(\d+):(\d+): error:"#, #"line (\d+), column (\d+)"#]
        for pattern in patterns {
            guard let expression = try? NSRegularExpression(pattern: pattern),
                let match = expression.firstMatch(
                    in: description, range: NSRange(description.startIndex..., in: description)),
                let lineRange = Range(match.range(at: 1), in: description),
                let columnRange = Range(match.range(at: 2), in: description),
                let line = Int(description[lineRange]), let column = Int(description[columnRange])
            else { continue }
            return Position(line: line, column: column)
        }
        return nil
    }

    /// Block-style YAML (what the documentation shows): `key:` lines nested by indentation.
    private mutating func scanYAML(_ text: String) {
        var stack: [(indent: Int, name: String)] = []
        for (index, line) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let indent = line.prefix { $0 == " " }.count
            let rest = line.dropFirst(indent)
            guard let first = rest.first, first != "#", first != "-" else { continue }
            let nameEnd = rest.firstIndex { !($0.isLetter || $0.isNumber || $0 == "_" || $0 == "-") } ?? rest.endIndex
            let name = rest[rest.startIndex..<nameEnd]
            guard !name.isEmpty, rest[nameEnd...].drop(while: { $0 == " " }).first == ":" else { continue }
            while let last = stack.last, last.indent >= indent { stack.removeLast() }
            stack.append((indent, String(name)))
            keys.append((stack.map(\.name).joined(separator: "."), Position(line: index + 1, column: indent + 1)))
        }
    }

    /// JSON objects: a string followed by `:` is a key at the current object depth.
    private mutating func scanJSON(_ text: String) {
        var stack: [String?] = []  // one entry per open container: the key it was opened under
        var pendingKey: String?
        var lastString: (name: String, position: Position)?
        var line = 1
        var column = 0
        var characters = text.makeIterator()
        while let character = characters.next() {
            column += 1
            switch character {
            case "\n":
                line += 1
                column = 0
            case "\"":
                let start = Position(line: line, column: column)
                var name = ""
                var escaped = false
                while let next = characters.next() {
                    column += 1
                    if next == "\n" { line += 1; column = 0 }
                    if escaped { escaped = false; name.append(next); continue }
                    if next == "\\" { escaped = true; continue }
                    if next == "\"" { break }
                    name.append(next)
                }
                lastString = (name, start)
            case ":":
                if let string = lastString {
                    pendingKey = string.name
                    let path = (stack.compactMap { $0 } + [string.name]).joined(separator: ".")
                    keys.append((path, string.position))
                }
                lastString = nil
            case "{", "[":
                stack.append(pendingKey)
                pendingKey = nil
                lastString = nil
            case "}", "]":
                if !stack.isEmpty { stack.removeLast() }
                lastString = nil
            case ",":
                pendingKey = nil
                lastString = nil
            default:
                break
            }
        }
    }
}
