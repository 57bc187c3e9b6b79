import Foundation
import StrongroomCore
import StrongroomServer
import Testing

/// The policy format and its decisions (docs/server.md, "Access policy"), without a server.
@Suite struct AccessPolicyTests {
    static let example = """
        version: 1
        identities:
          operator: {uid: 0}
          engine-a: {uid: 1001}
          engine-b: {subject: "CN=engine-b,O=Example"}
          auditor: {uid: 1003}
        rules:
          - name: engine-a-shares
            identity: engine-a
            operations: [store, load, list, versions]
            shares: ["engine-a.*"]
          - name: engine-b-one-share
            identity: engine-b
            operations: [load]
            shares: [engine-b.key]
          - name: operator-all
            identity: operator
            operations: [store, load, list, versions, erase, rotate, status, unseal, seal, audit, recovery, migrate]
            shares: ["*"]
          - name: status-for-all
            identities: [engine-a, engine-b, auditor]
            operations: [status]
        """

    static let engineA = PeerIdentity(.uid(1001), pid: 42)
    static let engineB = PeerIdentity(.certificateSubject("CN=engine-b,O=Example"))
    static let root = PeerIdentity(.uid(0))
    static let auditor = PeerIdentity(.uid(1003))
    static let stranger = PeerIdentity(.uid(4242))

    func policy(_ text: String = example) throws -> AccessPolicy {
        try AccessPolicy.parse(text, source: "/etc/strongroom/policy.yaml")
    }

    @Test func eachIdentityGetsExactlyWhatItsRulesGrant() throws {
        let policy = try policy()
        for operation in PolicyOperation.allCases {
            for share in ["engine-a.k1", "engine-b.key", "engine-b.other", "operator.root"] {
                let a = policy.decide(Self.engineA, operation, shareID: share)
                let expectA = [.store, .load, .list, .versions].contains(operation) && share.hasPrefix("engine-a.")
                    || operation == .status
                #expect(a.allowed == expectA, "engine-a \(operation) \(share)")
                #expect(a.rule == (expectA ? (operation == .status ? "status-for-all" : "engine-a-shares") : nil))

                let b = policy.decide(Self.engineB, operation, shareID: share)
                let expectB = (operation == .load && share == "engine-b.key") || operation == .status
                #expect(b.allowed == expectB, "engine-b \(operation) \(share)")

                let op = policy.decide(Self.root, operation, shareID: share)
                #expect(op.allowed && op.rule == "operator-all", "operator \(operation) \(share)")

                #expect(policy.decide(Self.auditor, operation, shareID: share).allowed == (operation == .status))
                #expect(!policy.decide(Self.stranger, operation, shareID: share).allowed)
                #expect(!policy.decide(nil, operation, shareID: share).allowed)
            }
        }
    }

    @Test func listWithoutAShareAsksWhetherAnyShareMayBeListed() throws {
        let policy = try policy()
        #expect(policy.decide(Self.engineA, .list, shareID: nil).allowed)
        #expect(!policy.decide(Self.engineB, .list, shareID: nil).allowed)
        #expect(!policy.decide(Self.auditor, .list, shareID: nil).allowed)
    }

    @Test func refusalNamesIdentityOperationAndShareButNotThePolicyFile() throws {
        let decision = try policy().decide(Self.engineA, .load, shareID: "engine-b.key")
        #expect(!decision.allowed)
        #expect(decision.reason.contains("uid:1001"))
        #expect(decision.reason.contains("engine-a"))
        #expect(decision.reason.contains("load"))
        #expect(decision.reason.contains("engine-b.key"))
        #expect(!decision.reason.contains("policy.yaml"))
        let unknown = try policy().decide(Self.stranger, .status, shareID: nil)
        #expect(unknown.reason.contains("no identity for uid:4242"))
        #expect(try policy().decide(nil, .status, shareID: nil).reason.contains("no identity"))
    }

    @Test func subjectsMatchExactly() throws {
        let policy = try policy()
        #expect(!policy.decide(PeerIdentity(.certificateSubject("CN=engine-b,O=Example2")), .load, shareID: "engine-b.key").allowed)
        #expect(!policy.decide(PeerIdentity(.certificateSubject("cn=engine-b,o=example")), .load, shareID: "engine-b.key").allowed)
        #expect(!policy.decide(PeerIdentity(.certificateSubject("CN=engine-b")), .load, shareID: "engine-b.key").allowed)
        // A subject that looks like a uid is not that uid.
        #expect(!policy.decide(PeerIdentity(.certificateSubject("uid:1001")), .load, shareID: "engine-a.k").allowed)
    }

    @Test(arguments: [
        ("*", ["a", "engine-a.k", "Z_9"], [String]()),
        ("engine-a.*", ["engine-a.k", "engine-a.", "engine-a.x.y"], ["engine-a", "engine-ab.k", "xengine-a.k"]),
        ("engine-a*", ["engine-a", "engine-a.k", "engine-ab"], ["engine-", "Engine-a"]),
        ("engine-a.key", ["engine-a.key"], ["engine-a.key2", "engine-a.ke", "engine-a"]),
    ])
    func sharePatterns(pattern: String, matching: [String], notMatching: [String]) throws {
        let parsed = try SharePattern(pattern)
        for id in matching { #expect(parsed.matches(id), "\(pattern) ~ \(id)") }
        for id in notMatching { #expect(!parsed.matches(id), "\(pattern) !~ \(id)") }
        #expect(parsed.description == pattern)
    }

    @Test(arguments: ["", "engine-a/*", "a*b", "**", "*a", "../x", ".hidden", "-x", "sp ace*", "a\u{e9}*"])
    func badSharePatternsAreRefused(_ pattern: String) {
        #expect(throws: PolicyPatternError.self) { try SharePattern(pattern) }
    }

    @Test func userNamesResolveAtLoad() throws {
        let policy = try policy("""
            version: 1
            identities:
              boss: {uid: root}
            rules:
              - {name: r, identity: boss, operations: [status]}
            """)
        #expect(policy.identities.first?.match == .uid(0))
        #expect(policy.decide(Self.root, .status, shareID: nil).allowed)
    }

    /// Nested aliases: 10^7 nodes when expanded.
    static let laughs: String = {
        var text = "version: 1\nidentities: {}\nrules: []\nl0: &l0 [SECRETVALUE, SECRETVALUE]\n"
        for level in 1...7 {
            text += "l\(level): &l\(level) [" + Array(repeating: "*l\(level - 1)", count: 10).joined(separator: ", ") + "]\n"
        }
        return text
    }()

    /// (document, line the error must name, text the message must contain)
    static let badDocuments: [(String, Int?, String)] = [
        ("", nil, "is empty"),
        ("version: 2\nidentities: {}\nrules: []\n", 1, "version must be 1"),
        ("identities: {}\nrules: []\n", 1, "has no version"),
        ("version: 1\nrules: []\n", 1, "has no identities"),
        ("version: 1\nidentities: {}\n", 1, "has no rules"),
        ("version: 1\nidentities: {}\nrules: []\nextra: SECRETVALUE\n", 4, "unknown key in the top level"),
        ("version: 1\nidentities:\n  a: {uid: 5, colour: SECRETVALUE}\nrules: []\n", 3, "unknown key in an identity"),
        ("version: 1\nidentities:\n  a: {uid: 5}\nrules:\n  - name: r\n    identity: a\n    operations: [load, SECRETVALUE]\n    shares: ['*']\n",
         7, "unknown operation"),
        ("version: 1\nidentities:\n  a: {uid: 5}\nrules:\n  - name: r\n    identity: SECRETVALUE\n    operations: [status]\n",
         6, "not one of those under identities"),
        ("version: 1\nidentities:\n  a: {uid: 5}\nrules:\n  - name: r\n    identity: a\n    operations: [load]\n", 5,
         "needs shares"),
        ("version: 1\nidentities:\n  a: {uid: 5}\nrules:\n  - name: r\n    identity: a\n    operations: [status]\n    shares: ['*']\n",
         8, "applies only to"),
        ("version: 1\nidentities:\n  a: {uid: 5}\nrules:\n  - name: r\n    identity: a\n    operations: [load]\n    shares: ['SECRETVALUE/*']\n",
         8, "contains '/'"),
        ("version: 1\nidentities:\n  a: {uid: 5}\n  b: {uid: 5}\nrules: []\n", 4, "same caller as the identity on line 3"),
        ("version: 1\nidentities:\n  a: {uid: 5}\n  a: {uid: 6}\nrules: []\n", 3, "same key twice"),
        ("version: 1\nidentities:\n  a: {uid: 5, subject: 'CN=x'}\nrules: []\n", 3, "not both"),
        ("version: 1\nidentities:\n  a: {uid: SECRETVALUEnosuchuser}\nrules: []\n", 3, "user this host does not know"),
        ("version: 1\nidentities:\n  a: {uid: -1}\nrules: []\n", 3, "a number or a user name"),
        ("version: 1\nidentities:\n  a: {subject: SECRETVALUE}\nrules: []\n", 3, "RFC 4514"),
        ("version: 1\nidentities:\n  a: {uid: 5}\nrules:\n  - {name: r, identity: a, operations: [status]}\n  - {name: r, identity: a, operations: [status]}\n",
         6, "same name as the rule on line 5"),
        ("version: 1\nidentities:\n  a: &x {uid: 5}\n  b: *x\nrules: []\n", 4, "same caller as the identity on line 3"),
        (AccessPolicyTests.laughs, nil, "more than 100000 YAML nodes"),
        ("version: 1\nidentities: {a: {uid: 5}}\nrules:\n  - name: r\n    identity: a\n  operations: [SECRETVALUE\n", 6, "not valid YAML"),
        ("version: 1\nidentities: {a: {uid: 5}}\nrules: {SECRETVALUE: 1}\n", 3, "must be a list"),
        ("version: 1\nidentities: {a: {uid: 5}}\nrules:\n  - {name: r, identity: a, operations: []}\n", 4, "operations list is empty"),
    ]

    @Test(arguments: badDocuments)
    func badDocumentsNameFileAndLineAndNeverEchoAValue(document: String, line: Int?, text: String) {
        do {
            _ = try AccessPolicy.parse(document, source: "/etc/strongroom/policy.yaml")
            Issue.record("accepted: \(document)")
        } catch {
            #expect(error.code == .policy)
            #expect(error.description.contains("/etc/strongroom/policy.yaml"))
            if let line { #expect(error.description.contains("line \(line):"), "\(error)") }
            #expect(error.description.contains(text), "\(error)")
            #expect(!error.description.contains("SECRETVALUE"), "\(error)")
        }
    }
}
