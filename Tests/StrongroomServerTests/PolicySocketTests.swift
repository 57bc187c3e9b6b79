import Foundation
import StrongroomServer
import Testing

/// Every identity gets exactly what the access policy says, through the real server and real sockets:
/// uids over the Unix socket (clients run with setpriv), certificate subjects over mutual TLS
/// (certificates made with the openssl CLI); every refusal is audited.
@Suite(.serialized) struct PolicySocketTests {
    static let policy = """
        version: 1
        identities:
          operator: {uid: 0}
          engine-a: {uid: 1001}
          engine-b: {subject: "CN=engine-b,O=Example"}
        rules:
          - name: engine-a-shares
            identity: engine-a
            operations: [store, load, list, versions]
            shares: ["engine-a.*"]
          - name: engine-b-key
            identity: engine-b
            operations: [load, versions]
            shares: [engine-b.key]
          - name: operator
            identity: operator
            operations: [store, load, list, versions, erase, rotate, status, unseal, seal, audit, recovery, migrate]
            shares: ["*"]
          - name: status
            identities: [engine-a, engine-b]
            operations: [status]
        """

    static let shares = ["engine-a.k", "engine-b.key", "engine-b.other", "ops.root"]
    static let erasable = ["engine-a.erase-me", "engine-b.erase-me"]

    static var steps: [String] {
        var steps: [String] = []
        for op in ["store", "load", "versions"] { steps += shares.map { "\(op):\($0)" } }
        steps += ["list", "rotate", "status", "audit", "health"]
        steps += erasable.map { "erase:\($0)" }
        return steps
    }

    /// Stores every share the probes touch, as the operator (root).
    func seed(_ setup: PolicyServerSetup, environment: [String: String] = [:]) throws {
        let outcome = try setup.probe((Self.shares + Self.erasable).map { "store:\($0)" }, uid: 0)
        #expect(outcome.values.allSatisfy { $0 == "ok" }, "seeding as the operator: \(outcome)")
    }

    /// Checks one identity's probe outcome against the policy's own decisions.
    func check(_ outcome: [String: String], _ identity: PeerIdentity, _ policy: AccessPolicy, label: String) {
        for step in Self.steps {
            let parts = step.split(separator: ":", maxSplits: 1).map(String.init)
            let share = parts.count > 1 ? parts[1] : nil
            guard let got = outcome[step] else {
                Issue.record("\(label): no outcome for \(step)")
                continue
            }
            if parts[0] == "health" {
                #expect(got == "ok", "\(label): health is for everyone, got \(got)")
                continue
            }
            let operation: PolicyOperation = PolicyOperation(rawValue: parts[0])!
            if operation == .list {
                let listed = got.hasPrefix("ok:") ? got.dropFirst(3).split(separator: ",").map(String.init) : nil
                if policy.decide(identity, .list, shareID: nil).allowed {
                    guard let listed else {
                        Issue.record("\(label): list was allowed by the policy but got \(got)")
                        continue
                    }
                    for id in listed { #expect(policy.decide(identity, .list, shareID: id).allowed, "\(label): list showed \(id)") }
                    for id in Self.shares where policy.decide(identity, .list, shareID: id).allowed {
                        #expect(listed.contains(id), "\(label): list left out \(id)")
                    }
                } else {
                    #expect(got == "access denied" || got == "ok:", "\(label): list should show nothing, got \(got)")
                }
                continue
            }
            let allowed = policy.decide(identity, operation, shareID: share).allowed
            #expect(got == (allowed ? "ok" : "access denied"), "\(label): \(step) should be \(allowed ? "allowed" : "refused"), got \(got)")
        }
    }

    /// The operator's view of the audit log: (op, client, policy detail) of every record.
    func auditTrail(_ setup: PolicyServerSetup, environment: [String: String] = [:]) throws -> [(op: String, client: String, policy: String)] {
        let script = """
            import json, os, strongroom_client as sc
            with sc.connect(os.environ["STRONGROOM_TEST_SERVER"], timeout=60) as v:
                for line in v.audit_show():
                    r = json.loads(line)
                    print(json.dumps([r.get("op"), (r.get("actor") or {}).get("client") or "", (r.get("details") or {}).get("policy", "")]))
            """
        let result = try setup.python(["-c", script], uid: 0)
        #expect(result.status == 0, "audit show: \(result.stderr)")
        return result.stdout.split(separator: "\n").compactMap { line in
            guard let item = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String] , item.count == 3 else { return nil }
            return (item[0], item[1], item[2])
        }
    }

    @Test func eachUidGetsExactlyWhatThePolicySays() throws {
        let setup = try PolicyServerSetup(serverUID: 1001, policy: Self.policy)
        defer { setup.cleanup() }
        let server = try setup.start()
        defer { server.stop() }
        let policy = try AccessPolicy.parse(Self.policy, source: "test")

        try seed(setup)
        let engineA = try setup.probe(Self.steps, uid: 1001)
        check(engineA, PeerIdentity(.uid(1001)), policy, label: "uid 1001 (engine-a)")
        // Spelled out too, so that the check above is not only the policy agreeing with itself.
        #expect(engineA["load:engine-a.k"] == "ok")
        #expect(engineA["load:engine-b.key"] == "access denied")
        #expect(engineA["store:ops.root"] == "access denied")
        #expect(engineA["erase:engine-a.erase-me"] == "access denied")
        #expect(engineA["rotate"] == "access denied")
        #expect(engineA["status"] == "ok")

        try seed(setup)
        let root = try setup.probe(Self.steps, uid: 0)
        check(root, PeerIdentity(.uid(0)), policy, label: "uid 0 (operator)")
        #expect(root["rotate"] == "ok" && root["erase:engine-b.erase-me"] == "ok")

        // Every decision is audited: refusals as access.denied with the client, grants with the rule.
        let trail = try auditTrail(setup)
        #expect(trail.contains { $0.op == "access.denied" && $0.client == "uid:1001" })
        #expect(trail.contains { $0.op == "load" && $0.client == "uid:1001" && $0.policy == "engine-a-shares" })
        #expect(trail.contains { $0.op == "rotate.finish" && $0.client == "uid:0" && $0.policy == "operator" } || trail.contains { $0.client == "uid:0" && $0.policy == "operator" })
        #expect(!trail.contains { $0.op == "load" && $0.client == "uid:1001" && $0.policy != "engine-a-shares" })

        // SIGHUP puts a changed policy in force: engine-a may now erase its own shares.
        let widened = Self.policy.replacingOccurrences(
            of: "operations: [store, load, list, versions]\n    shares: [\"engine-a.*\"]",
            with: "operations: [store, load, list, versions, erase]\n    shares: [\"engine-a.*\"]")
        #expect(widened != Self.policy)
        try Data(widened.utf8).write(to: URL(fileURLWithPath: setup.policyPath))
        kill(server.process.processIdentifier, SIGHUP)
        var erased = ""
        for _ in 0..<100 {
            _ = try setup.probe(["store:engine-a.erase-me"], uid: 0)
            erased = try setup.probe(["erase:engine-a.erase-me"], uid: 1001)["erase:engine-a.erase-me"] ?? ""
            if erased == "ok" { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        #expect(erased == "ok", "after SIGHUP: \(server.stderr)")
        #expect(try setup.probe(["erase:engine-b.erase-me"], uid: 1001)["erase:engine-b.erase-me"] == "access denied")
    }

    @Test func eachCertificateSubjectGetsExactlyWhatThePolicySays() throws {
        let setup = try PolicyServerSetup(serverUID: nil, policy: Self.policy, tls: true)
        defer { setup.cleanup() }
        let server = try setup.start()
        defer { server.stop() }
        let policy = try AccessPolicy.parse(Self.policy, source: "test")

        try seed(setup)
        let engineB = try setup.probe(Self.steps, uid: nil, environment: setup.tlsEnvironment("engine-b"))
        check(engineB, PeerIdentity(.certificateSubject("CN=engine-b,O=Example")), policy, label: "subject engine-b")
        #expect(engineB["load:engine-b.key"] == "ok")
        #expect(engineB["load:engine-b.other"] == "access denied")
        #expect(engineB["store:engine-b.key"] == "access denied")
        #expect(engineB["status"] == "ok")

        try seed(setup)
        let engineC = try setup.probe(Self.steps, uid: nil, environment: setup.tlsEnvironment("engine-c"))
        check(engineC, PeerIdentity(.certificateSubject("CN=engine-c,O=Example")), policy, label: "subject engine-c (not in the policy)")
        #expect(engineC.filter { $0.key != "health" && $0.key != "list" }.values.allSatisfy { $0 == "access denied" })

        // The same subject from a certificate another CA signed does not get in at all.
        let rogue = try setup.probe(["health", "load:engine-b.key"], uid: nil, environment: setup.tlsEnvironment("rogue"))
        #expect(rogue["load:engine-b.key"] != "ok" && rogue["load:engine-b.key"] != nil)
        #expect(rogue["health"] != "ok")

        let trail = try auditTrail(setup)
        #expect(trail.contains { $0.op == "access.denied" && $0.client == "subject:CN=engine-c,O=Example" })
        #expect(trail.contains { $0.op == "load" && $0.client == "subject:CN=engine-b,O=Example" && $0.policy == "engine-b-key" })
    }
}
