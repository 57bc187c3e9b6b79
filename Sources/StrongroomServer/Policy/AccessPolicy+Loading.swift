import Foundation
import StrongroomCore
import Yams

#if canImport(Glibc)
import Glibc
#endif

extension StrongroomError.Code {
    /// The access policy file is missing, unsafe, or does not parse; the message names the file and
    /// the line and never repeats a value from it.
    public static let policy = StrongroomError.Code("access policy error", exitStatus: 78)
}

extension AccessPolicy {
    /// The largest policy file read.
    public static let maximumFileBytes = 1 << 20

    /// Reads and checks a policy file. Errors name the file and the line, never echo a value.
    ///
    /// The file must be a regular file with one link, not a symbolic link, owned by the server's user
    /// or root and not writable by group or others, in a directory that is not writable by group or
    /// others either (unless it is sticky) — whoever can change the policy can grant themselves any
    /// share.
    public static func load(path: String) throws(StrongroomError) -> AccessPolicy {
        let text = try readPolicyFile(path)
        return try parse(text, source: path)
    }

    /// Parses a policy document. `source` names it in errors.
    public static func parse(_ text: String, source: String) throws(StrongroomError) -> AccessPolicy {
        let parser = PolicyParser(source: source)
        return try parser.parse(text)
    }

    private static func readPolicyFile(_ path: String) throws(StrongroomError) -> String {
        func fail(_ code: StrongroomError.Code, _ what: String, errno err: Int32? = nil) -> StrongroomError {
            let cause = err.map { "errno \($0): \(String(cString: strerror($0)))" }
            return StrongroomError(code, "access policy file \(path) \(what)", cause: cause)
        }
        guard path.hasPrefix("/") else {
            throw fail(.policy, "is not an absolute path; give server.policy as an absolute path")
        }
        var linkStat = stat()
        guard lstat(path, &linkStat) == 0 else {
            let err = errno
            throw fail(err == ENOENT ? .policy : .io, err == ENOENT ? "does not exist" : "cannot be examined", errno: err)
        }
        if linkStat.st_mode & S_IFMT == S_IFLNK {
            throw fail(.unsafeFile, "is a symbolic link; point server.policy at the file itself")
        }
        let directory = (path as NSString).deletingLastPathComponent
        var dirStat = stat()
        guard stat(directory.isEmpty ? "/" : directory, &dirStat) == 0 else {
            let err = errno
            throw fail(.io, "is in a directory that cannot be examined", errno: err)
        }
        let sticky = dirStat.st_mode & S_ISVTX != 0
        if dirStat.st_mode & 0o022 != 0 && !sticky {
            throw fail(.insecurePermissions, "is in a directory that group or others may write to (anyone who can replace the file can change the policy); chmod go-w \(directory)")
        }
        let fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        guard fd >= 0 else {
            let err = errno
            if err == ELOOP { throw fail(.unsafeFile, "is a symbolic link; point server.policy at the file itself") }
            throw fail(err == EACCES ? .accessDenied : .io, "cannot be opened", errno: err)
        }
        defer { close(fd) }
        var fileStat = stat()
        guard fstat(fd, &fileStat) == 0 else {
            let err = errno
            throw fail(.io, "cannot be examined", errno: err)
        }
        guard fileStat.st_dev == linkStat.st_dev, fileStat.st_ino == linkStat.st_ino else {
            throw fail(.unsafeFile, "was replaced while it was being opened; try again")
        }
        guard fileStat.st_mode & S_IFMT == S_IFREG else {
            throw fail(.unsafeFile, "is not a regular file")
        }
        guard fileStat.st_nlink == 1 else {
            throw fail(.unsafeFile, "has \(fileStat.st_nlink) hard links; a policy file must have exactly one name")
        }
        guard fileStat.st_uid == geteuid() || fileStat.st_uid == 0 else {
            throw fail(.insecurePermissions, "is owned by uid \(fileStat.st_uid), neither the server's user (uid \(geteuid())) nor root")
        }
        guard fileStat.st_mode & 0o022 == 0 else {
            throw fail(.insecurePermissions, "is writable by group or others (mode \(String(fileStat.st_mode & 0o7777, radix: 8))); chmod go-w \(path)")
        }
        guard fileStat.st_size <= maximumFileBytes else {
            throw fail(.policy, "is \(fileStat.st_size) bytes long; the limit is \(maximumFileBytes)")
        }
        var bytes = [UInt8](repeating: 0, count: Int(fileStat.st_size) + 1)
        var filled = 0
        while filled < bytes.count {
            let count = bytes.withUnsafeMutableBytes { buffer in
                read(fd, buffer.baseAddress! + filled, buffer.count - filled)
            }
            if count < 0 {
                let err = errno
                if err == EINTR { continue }
                throw fail(.io, "cannot be read", errno: err)
            }
            if count == 0 { break }
            filled += count
        }
        guard filled <= maximumFileBytes else {
            throw fail(.policy, "grew past \(maximumFileBytes) bytes while it was read")
        }
        guard let text = String(validating: bytes[..<filled], as: UTF8.self) else {
            throw fail(.policy, "is not UTF-8 text")
        }
        return text
    }
}

/// Turns the YAML of a policy file into an ``AccessPolicy``, refusing anything it does not know.
struct PolicyParser {
    let source: String

    init(source: String) { self.source = source }

    private func fail(_ line: Int?, _ what: String) -> StrongroomError {
        let at = line.map { ", line \($0)" } ?? ""
        return StrongroomError(.policy, "access policy \(source)\(at): \(what)")
    }

    private func line(_ node: Node) -> Int? { node.mark?.line }

    func parse(_ text: String) throws(StrongroomError) -> AccessPolicy {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch let error as YamlError {
            switch error {
            case .scanner(_, let problem, let mark, _), .parser(_, let problem, let mark, _),
                 .composer(_, let problem, let mark, _):
                throw fail(mark.line, "is not valid YAML (\(problem))")
            case .duplicatedKeysInMapping(_, let context):
                throw fail(context.mark.line, "a mapping has the same key twice")
            default:
                throw fail(nil, "is not valid YAML")
            }
        } catch {
            throw fail(nil, "is not valid YAML")
        }
        guard let root else { throw fail(nil, "is empty; a policy needs version: 1, identities and rules") }
        var budget = Self.maximumNodes
        guard Self.fits(root, budget: &budget) else {
            throw fail(nil, "has more than \(Self.maximumNodes) YAML nodes (counting each use of an alias); a policy is far smaller")
        }
        let top = try mapping(root, "the document")
        try refuseUnknownKeys(top, allowed: ["version", "identities", "rules"], in: "the top level")
        guard let versionNode = top["version"] else {
            throw fail(line(root), "has no version; write version: 1 at the top")
        }
        guard try scalar(versionNode, "version") == "1" else {
            throw fail(line(versionNode), "version must be 1 (the only policy format this server knows)")
        }
        guard let identitiesNode = top["identities"] else {
            throw fail(line(root), "has no identities section")
        }
        let identities = try parseIdentities(identitiesNode)
        guard let rulesNode = top["rules"] else { throw fail(line(root), "has no rules section") }
        let rules = try parseRules(rulesNode, identities: identities)
        return AccessPolicy(source: source, identities: identities, rules: rules)
    }

    private func parseIdentities(_ node: Node) throws(StrongroomError) -> [AccessPolicy.Identity] {
        let map = try mapping(node, "identities")
        var identities: [AccessPolicy.Identity] = []
        var seen: [PeerIdentity.Kind: Int] = [:]
        for (keyNode, valueNode) in map {
            let name = try scalar(keyNode, "an identity's name")
            guard Self.isName(name) else {
                throw fail(line(keyNode), "an identity's name must be 1 to 64 characters from A-Z a-z 0-9 . _ -")
            }
            let body = try mapping(valueNode, "an identity")
            try refuseUnknownKeys(body, allowed: ["uid", "subject"], in: "an identity")
            let kind: PeerIdentity.Kind
            switch (body["uid"], body["subject"]) {
            case (let uidNode?, nil):
                kind = .uid(try uid(uidNode))
            case (nil, let subjectNode?):
                let subject = try scalar(subjectNode, "subject")
                guard !subject.isEmpty, subject.contains("=") else {
                    throw fail(line(subjectNode), "subject must be a certificate subject in RFC 4514 form, such as CN=engine-b,O=Example")
                }
                kind = .certificateSubject(subject)
            case (nil, nil):
                throw fail(line(valueNode), "an identity needs uid (a number or a user name) or subject (a certificate subject)")
            default:
                throw fail(line(valueNode), "an identity has either uid or subject, not both; name them as two identities")
            }
            if let first = seen[kind] {
                throw fail(line(keyNode), "this identity is the same caller as the identity on line \(first); each caller has one name")
            }
            seen[kind] = line(keyNode) ?? 0
            identities.append(AccessPolicy.Identity(name: name, match: kind))
        }
        return identities
    }

    private func uid(_ node: Node) throws(StrongroomError) -> UInt32 {
        let text = try scalar(node, "uid")
        if !text.isEmpty, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
            guard let value = UInt32(text), value != UInt32.max else {
                throw fail(line(node), "uid is out of range")
            }
            return value
        }
        guard Self.isUserName(text) else {
            throw fail(line(node), "uid must be a number or a user name")
        }
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16384)
        let status = getpwnam_r(text, &entry, &buffer, buffer.count, &result)
        guard status == 0, let found = result else {
            throw fail(line(node), "uid names a user this host does not know; give the number or create the user")
        }
        return found.pointee.pw_uid
    }

    private func parseRules(_ node: Node, identities: [AccessPolicy.Identity]) throws(StrongroomError) -> [AccessPolicy.Rule] {
        guard case .sequence(let list) = node else {
            throw fail(line(node), "rules must be a list of rules (each starting with '- name:')")
        }
        try refuseAnchor(node)
        let known = Set(identities.map(\.name))
        var rules: [AccessPolicy.Rule] = []
        var names: [String: Int] = [:]
        for ruleNode in list {
            let body = try mapping(ruleNode, "a rule")
            try refuseUnknownKeys(body, allowed: ["name", "identity", "identities", "operations", "shares"], in: "a rule")
            guard let nameNode = body["name"] else { throw fail(line(ruleNode), "a rule needs a name") }
            let name = try scalar(nameNode, "a rule's name")
            guard Self.isName(name) else {
                throw fail(line(nameNode), "a rule's name must be 1 to 64 characters from A-Z a-z 0-9 . _ -")
            }
            if let first = names[name] {
                throw fail(line(nameNode), "this rule has the same name as the rule on line \(first)")
            }
            names[name] = line(nameNode) ?? 0

            var who: [String] = []
            switch (body["identity"], body["identities"]) {
            case (let one?, nil):
                who = [try scalar(one, "identity")]
                for name in who where !known.contains(name) {
                    throw fail(line(one), "the rule's identity is not one of those under identities")
                }
            case (nil, let many?):
                for item in try sequence(many, "identities") {
                    let name = try scalar(item, "an identity")
                    guard known.contains(name) else {
                        throw fail(line(item), "the rule names an identity that is not under identities")
                    }
                    who.append(name)
                }
                guard !who.isEmpty else { throw fail(line(many), "the rule's identities list is empty") }
            case (nil, nil):
                throw fail(line(ruleNode), "a rule needs identity (one name) or identities (a list)")
            default:
                throw fail(line(ruleNode), "a rule has identity or identities, not both")
            }

            guard let operationsNode = body["operations"] else {
                throw fail(line(ruleNode), "a rule needs operations (a list such as [load, list])")
            }
            var operations = Set<PolicyOperation>()
            for item in try sequence(operationsNode, "operations") {
                let text = try scalar(item, "an operation")
                guard let operation = PolicyOperation(rawValue: text) else {
                    throw fail(line(item), "unknown operation; the operations are \(PolicyOperation.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                operations.insert(operation)
            }
            guard !operations.isEmpty else { throw fail(line(operationsNode), "the rule's operations list is empty") }

            var shares: [SharePattern] = []
            let grantsShares = operations.contains(where: \.namesShare)
            if let sharesNode = body["shares"] {
                guard grantsShares else {
                    throw fail(line(sharesNode), "shares applies only to store, load, list, versions and erase, and this rule grants none of them")
                }
                for item in try sequence(sharesNode, "shares") {
                    let text = try scalar(item, "a share pattern")
                    do throws(PolicyPatternError) {
                        shares.append(try SharePattern(text))
                    } catch {
                        throw fail(line(item), "the share pattern \(error.reason)")
                    }
                }
                guard !shares.isEmpty else { throw fail(line(sharesNode), "the rule's shares list is empty") }
            } else if grantsShares {
                throw fail(line(ruleNode), "a rule that grants store, load, list, versions or erase needs shares (patterns such as engine-a.* or '*')")
            }
            rules.append(AccessPolicy.Rule(name: name, identities: who, operations: operations, shares: shares))
        }
        return rules
    }

    // MARK: Node helpers

    /// The most YAML nodes a policy may have, aliases expanded (a document of nested aliases would
    /// otherwise take the walk below exponentially long).
    static let maximumNodes = 100_000

    /// Whether `node` has at most `budget` nodes; stops counting as soon as it has not.
    static func fits(_ node: Node, budget: inout Int) -> Bool {
        budget -= 1
        guard budget >= 0 else { return false }
        switch node {
        case .scalar, .alias: return true
        case .sequence(let list): return list.allSatisfy { fits($0, budget: &budget) }
        case .mapping(let map): return map.allSatisfy { fits($0.key, budget: &budget) && fits($0.value, budget: &budget) }
        }
    }

    private func refuseAnchor(_ node: Node) throws(StrongroomError) {
        if case .alias = node { throw fail(line(node), "YAML aliases are not supported here") }
    }

    private func mapping(_ node: Node, _ what: String) throws(StrongroomError) -> Node.Mapping {
        try refuseAnchor(node)
        guard case .mapping(let map) = node else { throw fail(line(node), "\(what) must be a mapping (key: value lines)") }
        return map
    }

    private func sequence(_ node: Node, _ what: String) throws(StrongroomError) -> [Node] {
        try refuseAnchor(node)
        guard case .sequence(let list) = node else { throw fail(line(node), "\(what) must be a list ([a, b] or '- a' lines)") }
        return Array(list)
    }

    private func scalar(_ node: Node, _ what: String) throws(StrongroomError) -> String {
        try refuseAnchor(node)
        guard case .scalar(let value) = node else { throw fail(line(node), "\(what) must be a single value, not a list or mapping") }
        return value.string
    }

    private func refuseUnknownKeys(_ map: Node.Mapping, allowed: Set<String>, in what: String) throws(StrongroomError) {
        for (key, _) in map {
            guard case .scalar(let value) = key, allowed.contains(value.string) else {
                throw fail(line(key), "unknown key in \(what); the keys are \(allowed.sorted().joined(separator: ", "))")
            }
        }
    }

    static func isName(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= 64 && text.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == 0x2E || byte == 0x5F || byte == 0x2D
        }
    }

    static func isUserName(_ text: String) -> Bool {
        !text.isEmpty && text.utf8.count <= 64 && text.utf8.first != 0x2D && text.utf8.allSatisfy { byte in
            (byte >= 0x30 && byte <= 0x39) || (byte >= 0x41 && byte <= 0x5A) || (byte >= 0x61 && byte <= 0x7A)
                || byte == 0x2E || byte == 0x5F || byte == 0x2D || byte == 0x24
        }
    }
}
