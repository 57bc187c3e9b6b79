import Foundation
import Testing

/// scripts/client/python/test_client.py (a unittest suite using the generated Python client) against
/// the real server: as the operator (root) and as an engine (uid 1001 via setpriv) that the policy
/// lets touch only its own shares — proof that a program in another language can use the service.
@Suite(.serialized) struct PolicyPythonClientSocketTests {
    static let policy = """
        version: 1
        identities:
          operator: {uid: 0}
          engine-a: {uid: 1001}
        rules:
          - name: engine-a-shares
            identity: engine-a
            operations: [store, load, list, versions]
            shares: ["engine-a.*"]
          - name: operator
            identity: operator
            operations: [store, load, list, versions, erase, rotate, status, audit]
            shares: ["*"]
        """

    @Test func pythonSuitePassesAsTheOperatorAndAsAnEngine() throws {
        let setup = try PolicyServerSetup(serverUID: 1001, policy: Self.policy)
        defer { setup.cleanup() }
        let server = try setup.start()
        defer { server.stop() }

        let runs: [(uid: UInt32, env: [String: String])] = [
            (0, ["STRONGROOM_TEST_PREFIX": "ops.", "STRONGROOM_TEST_DENIED_SHARE": "none", "STRONGROOM_TEST_OPERATOR": "1"]),
            (1001, ["STRONGROOM_TEST_PREFIX": "engine-a.", "STRONGROOM_TEST_DENIED_SHARE": "ops.secret", "STRONGROOM_TEST_OPERATOR": "0"]),
        ]
        // A share the engine must not reach, stored by the operator.
        #expect(try setup.probe(["store:ops.secret"], uid: 0)["store:ops.secret"] == "ok")
        for run in runs {
            let result = try setup.python(["-m", "unittest", "-v", "test_client"], uid: run.uid, environment: run.env)
            #expect(result.status == 0, "uid \(run.uid): \(result.stderr)")
            #expect(result.stderr.contains("Ran 7 tests"), "uid \(run.uid): \(result.stderr)")
            #expect(result.stderr.contains("\nOK"), "uid \(run.uid): \(result.stderr)")
            // Nothing skipped except the refusals the operator is not subject to.
            #expect(!result.stderr.contains("skipped") || run.uid == 0, "uid \(run.uid): \(result.stderr)")
        }
        // The engine's refused store left nothing behind, and the operator's share is intact.
        let check = try setup.probe(["load:ops.secret", "versions:ops.secret"], uid: 0)
        #expect(check["load:ops.secret"] == "ok")
        #expect(!server.stderr.contains("probe bytes"), "a share reached the server's log")
    }
}
