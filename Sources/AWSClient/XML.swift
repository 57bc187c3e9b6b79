/// A minimal XML reader for S3's answers (error documents, listings): elements, attributes
/// skipped, text with the five predefined entities and numeric character references, comments and
/// the declaration ignored, namespace prefixes dropped. No DTDs, so no entity expansion attacks.
struct XMLElement: Sendable {
    var name: String
    var text: String = ""
    var children: [XMLElement] = []

    /// The first child named `name`.
    func child(_ name: String) -> XMLElement? { children.first { $0.name == name } }
    /// Every child named `name`.
    func children(_ name: String) -> [XMLElement] { children.filter { $0.name == name } }
    /// The text of the first child named `name`.
    func value(_ name: String) -> String? { child(name)?.text }

    struct Malformed: Error, CustomStringConvertible {
        let description: String
    }

    /// The `<Error>` element of an error answer: the root (S3), or the `<Error>` child of an
    /// `<ErrorResponse>` root (the query-protocol form some KMS-compatible servers answer with).
    static func errorElement(_ bytes: [UInt8]) -> XMLElement? {
        guard let root = try? parse(bytes) else { return nil }
        if root.name == "Error" { return root }
        guard root.name == "ErrorResponse", var error = root.child("Error") else { return nil }
        if error.child("RequestId") == nil, let requestID = root.child("RequestId") { error.children.append(requestID) }
        return error
    }

    /// Parses a document and returns its root element.
    static func parse(_ bytes: [UInt8]) throws(Malformed) -> XMLElement {
        var parser = Parser(bytes: bytes)
        return try parser.document()
    }

    private struct Parser {
        let bytes: [UInt8]
        var index = 0

        mutating func document() throws(Malformed) -> XMLElement {
            while true {
                skipWhitespace()
                if starts("<?") {
                    try skip(past: "?>")
                } else if starts("<!--") {
                    try skip(past: "-->")
                } else if starts("<!") {
                    throw Malformed(description: "DTDs are not accepted")
                } else {
                    break
                }
            }
            guard index < bytes.count, bytes[index] == UInt8(ascii: "<") else {
                throw Malformed(description: "no root element")
            }
            return try element(depth: 0)
        }

        mutating func element(depth: Int) throws(Malformed) -> XMLElement {
            guard depth < 32 else { throw Malformed(description: "nested too deeply") }
            index += 1  // "<"
            let name = readName()
            guard !name.isEmpty else { throw Malformed(description: "empty element name") }
            var element = XMLElement(name: XMLElement.localName(name))
            // Attributes are not needed: skip to the end of the start tag, minding quotes.
            var quote: UInt8? = nil
            while index < bytes.count {
                let byte = bytes[index]
                if let open = quote {
                    if byte == open { quote = nil }
                } else if byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "'") {
                    quote = byte
                } else if byte == UInt8(ascii: ">") {
                    break
                }
                index += 1
            }
            guard index < bytes.count else { throw Malformed(description: "unterminated start tag <\(name)") }
            if bytes[index - 1] == UInt8(ascii: "/") {
                index += 1
                return element
            }
            index += 1
            var text: [UInt8] = []
            while true {
                guard index < bytes.count else { throw Malformed(description: "unterminated element <\(name)>") }
                if starts("</") {
                    index += 2
                    let closing = readName()
                    guard closing == name else { throw Malformed(description: "<\(name)> closed by </\(closing)>") }
                    skipWhitespace()
                    guard index < bytes.count, bytes[index] == UInt8(ascii: ">") else {
                        throw Malformed(description: "bad end tag </\(closing)")
                    }
                    index += 1
                    element.text = String(decoding: text, as: UTF8.self)
                    return element
                } else if starts("<!--") {
                    try skip(past: "-->")
                } else if starts("<![CDATA[") {
                    index += 9
                    let start = index
                    try skip(past: "]]>")
                    text += bytes[start..<(index - 3)]
                } else if bytes[index] == UInt8(ascii: "<") {
                    element.children.append(try self.element(depth: depth + 1))
                } else if bytes[index] == UInt8(ascii: "&") {
                    text += try entity()
                } else {
                    text.append(bytes[index])
                    index += 1
                }
            }
        }

        mutating func entity() throws(Malformed) -> [UInt8] {
            guard let end = bytes[index...].prefix(12).firstIndex(of: UInt8(ascii: ";")) else {
                throw Malformed(description: "unterminated entity")
            }
            let name = String(decoding: bytes[(index + 1)..<end], as: UTF8.self)
            index = end + 1
            switch name {
            case "amp": return [UInt8(ascii: "&")]
            case "lt": return [UInt8(ascii: "<")]
            case "gt": return [UInt8(ascii: ">")]
            case "quot": return [UInt8(ascii: "\"")]
            case "apos": return [UInt8(ascii: "'")]
            default:
                var value: UInt32?
                if name.hasPrefix("#x") { value = UInt32(name.dropFirst(2), radix: 16) }
                else if name.hasPrefix("#") { value = UInt32(name.dropFirst()) }
                guard let value, let scalar = Unicode.Scalar(value) else {
                    throw Malformed(description: "unknown entity &\(name);")
                }
                return Array(String(Character(scalar)).utf8)
            }
        }

        func starts(_ text: StaticString) -> Bool {
            let count = text.utf8CodeUnitCount
            guard bytes.count - index >= count else { return false }
            return text.withUTF8Buffer { prefix in
                for offset in 0..<count where bytes[index + offset] != prefix[offset] { return false }
                return true
            }
        }

        mutating func skip(past terminator: StaticString) throws(Malformed) {
            while index < bytes.count {
                if starts(terminator) {
                    index += terminator.utf8CodeUnitCount
                    return
                }
                index += 1
            }
            throw Malformed(description: "unterminated markup")
        }

        mutating func skipWhitespace() {
            while index < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[index]) { index += 1 }
        }

        mutating func readName() -> String {
            let start = index
            while index < bytes.count {
                let byte = bytes[index]
                if [0x20, 0x09, 0x0A, 0x0D, UInt8(ascii: ">"), UInt8(ascii: "/")].contains(byte) { break }
                index += 1
            }
            return String(decoding: bytes[start..<index], as: UTF8.self)
        }
    }

    static func localName(_ name: String) -> String {
        if let colon = name.lastIndex(of: ":") { return String(name[name.index(after: colon)...]) }
        return name
    }
}
