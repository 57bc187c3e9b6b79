"""The Python client against a running `strongroom serve` (run by the Swift suite PythonClientTests).

The server and what the calling identity may do come from the environment:
  STRONGROOM_TEST_SERVER         the server's address (unix:/path or host:port)
  STRONGROOM_TEST_TLS_CERT/KEY/CA the client's mutual TLS files (TCP only)
  STRONGROOM_TEST_PREFIX         a share-id prefix this identity may store, load, list and see versions of
  STRONGROOM_TEST_DENIED_SHARE   a share id this identity may not store or load (it may exist)
  STRONGROOM_TEST_OPERATOR       "1" when this identity may also erase and rotate, else "0"
Run: PYTHONPATH=GENERATED:scripts/client/python python3 -m unittest -v test_client
"""

import os
import unittest
import uuid

import grpc

import strongroom_client
from strongroom_client import StrongroomError


def env(name, default=None):
    value = os.environ.get(name, default)
    if value is None:
        raise unittest.SkipTest("%s is not set: this suite runs against a server the Swift test starts" % name)
    return value


class ClientTests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.address = env("STRONGROOM_TEST_SERVER")
        cls.prefix = env("STRONGROOM_TEST_PREFIX")
        cls.denied = env("STRONGROOM_TEST_DENIED_SHARE")
        cls.operator = env("STRONGROOM_TEST_OPERATOR", "0") == "1"
        cls.vault = strongroom_client.connect(
            cls.address,
            tls_cert=os.environ.get("STRONGROOM_TEST_TLS_CERT"),
            tls_key=os.environ.get("STRONGROOM_TEST_TLS_KEY"),
            tls_ca=os.environ.get("STRONGROOM_TEST_TLS_CA"),
            server_hostname=os.environ.get("STRONGROOM_TEST_TLS_NAME"))

    @classmethod
    def tearDownClass(cls):
        cls.vault.close()

    def fresh_id(self):
        return self.prefix + "py-" + uuid.uuid4().hex[:12]

    def assertRefused(self, call, *args):
        with self.assertRaises(StrongroomError) as caught:
            call(*args)
        self.assertEqual(caught.exception.code, "access denied")
        self.assertEqual(caught.exception.exit_status, 77)
        self.assertEqual(caught.exception.status, grpc.StatusCode.PERMISSION_DENIED)
        return caught.exception

    def test_health_answers(self):
        health = self.vault.health()
        self.assertEqual(health.state, strongroom_client.pb.HealthResponse.SERVING)
        self.assertTrue(health.version)

    def test_store_then_load_returns_the_same_bytes(self):
        share_id = self.fresh_id()
        secret = bytes(range(256)) + b"\x00tail"
        self.assertEqual(self.vault.store(share_id, secret, {"party": "1"}), 1)
        self.assertEqual(self.vault.store(share_id, b"second"), 2)
        loaded = self.vault.load(share_id)
        self.assertEqual(bytes(loaded), b"second")
        strongroom_client.wipe(loaded)
        self.assertEqual(bytes(loaded), b"\x00" * 6)
        self.assertEqual(bytes(self.vault.load(share_id, version=1)), secret)
        versions = self.vault.versions(share_id)
        self.assertEqual([v.version for v in versions], [1, 2])
        self.assertEqual(dict(versions[0].metadata), {"party": "1"})
        listed = dict((s[0], (s[1], s[2])) for s in self.vault.list(self.prefix))
        self.assertEqual(listed.get(share_id), (2, 2))

    def test_list_shows_only_what_the_identity_may_list(self):
        share_id = self.fresh_id()
        self.vault.store(share_id, b"x")
        ids = [s[0] for s in self.vault.list()]
        self.assertIn(share_id, ids)
        if not self.operator:
            for other in ids:
                self.assertTrue(other.startswith(self.prefix), "listed a share outside the identity's prefix")

    def test_errors_carry_the_cli_code_and_exit_status(self):
        with self.assertRaises(StrongroomError) as missing:
            self.vault.load(self.prefix + "never-stored-" + uuid.uuid4().hex[:8])
        self.assertEqual((missing.exception.code, missing.exception.exit_status), ("share not found", 66))
        self.assertEqual(missing.exception.status, grpc.StatusCode.NOT_FOUND)
        with self.assertRaises(StrongroomError) as bad:
            self.vault.store(self.prefix + "bad id/../x", b"x")
        self.assertIn(bad.exception.exit_status, (64, 77))

    def test_policy_refuses_other_shares(self):
        if self.operator:
            self.skipTest("the operator may touch every share")
        error = self.assertRefused(self.vault.store, self.denied, b"not mine")
        self.assertNotIn("not mine", str(error))
        self.assertRefused(self.vault.load, self.denied)
        self.assertRefused(self.vault.versions, self.denied)

    def test_erase_and_rotate_are_for_the_operator_only(self):
        share_id = self.fresh_id()
        self.vault.store(share_id, b"to erase")
        if self.operator:
            report = self.vault.rotate(concurrency=2)
            self.assertGreaterEqual(report.target_version, 2)
            self.assertEqual(report.failed, 0)
            self.assertEqual(bytes(self.vault.load(share_id)), b"to erase")
            self.assertEqual(self.vault.erase(share_id), 1)
            with self.assertRaises(StrongroomError) as gone:
                self.vault.load(share_id)
            self.assertEqual(gone.exception.exit_status, 66)
        else:
            self.assertRefused(self.vault.erase, share_id)
            self.assertRefused(lambda: self.vault.rotate())
            self.assertEqual(bytes(self.vault.load(share_id)), b"to erase")

    def test_a_session_stores_loads_and_is_refused_without_ending(self):
        share_id = self.fresh_id()
        with self.vault.session() as session:
            self.assertEqual(session.store(share_id, b"first", {"party": "2"}), 1)
            self.assertEqual(session.store(share_id, b"second"), 2)
            loaded = session.load(share_id)
            self.assertEqual(bytes(loaded), b"second")
            strongroom_client.wipe(loaded)
            self.assertEqual(bytes(session.load(share_id, version=1)), b"first")
            self.assertEqual([v.version for v in session.versions(share_id)], [1, 2])
            with self.assertRaises(StrongroomError) as missing:
                session.load(self.prefix + "never-stored-" + uuid.uuid4().hex[:8])
            self.assertEqual((missing.exception.code, missing.exception.exit_status), ("share not found", 66))
            self.assertEqual(missing.exception.status, grpc.StatusCode.NOT_FOUND)
            if not self.operator:
                self.assertRefused(session.load, self.denied)
                self.assertRefused(session.store, self.denied, b"not mine")
                self.assertRefused(session.erase, share_id)
            # The stream goes on after errors and refusals.
            self.assertEqual(bytes(session.load(share_id)), b"second")
            # Health needs no grant, in a session as in its RPC.
            health = session.health()
            self.assertEqual(health.state, strongroom_client.pb.HealthResponse.SERVING)
            self.assertEqual(health.version, self.vault.health().version)
        # What the session stored, the unary calls see.
        self.assertEqual(bytes(self.vault.load(share_id)), b"second")


if __name__ == "__main__":
    unittest.main()
