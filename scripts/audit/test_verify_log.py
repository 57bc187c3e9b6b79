#!/usr/bin/env python3
"""Unit tests of verify_log.py: logs built in Python from the record format verify, and every kind of change
(changed, deleted, inserted, reordered, truncated or rolled-back records, a rewritten chain, a wrong key, a
non-canonical line, a damaged segment) fails naming the first bad record. Standard library only.

    python3 scripts/audit/test_verify_log.py
"""
import io
import json
import os
import subprocess
import sys
import tempfile
import unittest
from contextlib import redirect_stdout

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import verify_log  # noqa: E402
import worked_example  # noqa: E402

KEY = bytes(range(100, 132))
VAULT = "0123456789abcdef0123456789abcdef"


def make_records(count, checkpoints=(), tier="local"):
    """`count` records; the seqs in `checkpoints` are checkpoint records. Varied fields: a client, error
    outcomes, details that need sorting and escaping, non-ASCII text."""
    out = []
    for seq in range(1, count + 1):
        base = {"v": 1, "seq": seq, "time": "2026-12-01T22:%02d:%02d.%06dZ" % (seq // 60 % 60, seq % 60, seq * 7),
                "vault": VAULT, "tier": tier,
                "actor": {"uid": 1000 + seq % 2, "pid": 300 + seq, "host": "hôst-\"q\"",
                          "client": None if seq % 3 else "peer uid 501\\x"}}
        if seq in checkpoints:
            base.update(op=verify_log.CHECKPOINT, share=None, versions=[], kek=[], outcome="ok", error=None,
                        details={}, alg="HMAC-SHA256", key="test key")
        elif seq % 4 == 0:
            base.update(op="load", share="share-%d" % seq, versions=[], kek=[], outcome="error",
                        error={"code": "share not found", "exit": 66}, details={})
        else:
            base.update(op="store" if seq % 2 else "frost.sign", share="share-%d" % seq, versions=[seq, seq + 1],
                        kek=[1, 2], outcome="ok", error=None,
                        details={"zeta": "z", "Alpha": "tab\there\nnewline\x01", "émoji": "✓ /slash", "a": ""})
        out.append(base)
    return out


def chain(records, key=KEY):
    """The lines (bytes, without newline) of `records` with prev, mac and hash filled in; seq as given."""
    lines, previous = [], verify_log.ZERO_HASH
    for record in records:
        record = dict(record, prev=previous)
        line, digest, _ = verify_log.encode_record(record, key)
        lines.append(line)
        previous = digest
    return lines


def anchor_of(lines, seq):
    record = json.loads(lines[seq - 1])
    return {"seq": seq, "hash": record["hash"], "mac": record["mac"], "at": 1}


class LogTestCase(unittest.TestCase):
    def setUp(self):
        self.directory = tempfile.mkdtemp(prefix="audit-verify-")

    def write(self, lines, tail=b"", name="log.jsonl"):
        path = os.path.join(self.directory, name)
        with open(path, "wb") as handle:
            handle.write(b"".join(line + b"\n" for line in lines) + tail)
        return path

    def assertBad(self, path, seq, where, kind, **options):
        options.setdefault("mac_key", KEY)
        with self.assertRaises(verify_log.Bad) as caught:
            verify_log.verify(path, **options)
        bad = caught.exception
        self.assertEqual((bad.seq, bad.where, bad.kind), (seq, where, kind), str(bad))
        return bad


class FormatTests(LogTestCase):
    def test_hkdf_sha256_rfc5869_test_case_1(self):
        # RFC 5869, Appendix A.1 (basic test case with SHA-256).
        okm = verify_log.hkdf_sha256(bytes([0x0B] * 22), bytes(range(13)), bytes(range(0xF0, 0xFA)), 42)
        self.assertEqual(okm.hex(), "3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c"
                                    "5db02d56ecc4c5bf34007208d5b887185865")

    def test_hkdf_sha256_rfc5869_test_case_3_empty_salt(self):
        # RFC 5869, Appendix A.3 (zero-length salt and info).
        okm = verify_log.hkdf_sha256(bytes([0x0B] * 22), b"", b"", 42)
        self.assertEqual(okm.hex(), "8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec"
                                    "3454e5f3c738d2d9d201395faa4b61a96c8")

    def test_string_escaping_follows_the_document(self):
        self.assertEqual(verify_log.encode_string('a"b\\c/d\n\x00\x1f\x7fé'),
                         '"a\\"b\\\\c/d\\u000a\\u0000\\u001f\x7fé"')

    def test_details_are_sorted_by_utf8_bytes(self):
        self.assertEqual(verify_log.encode_details({"b": "1", "é": "2", "Z": "3", "a": "4"}),
                         '{"Z":"3","a":"4","b":"1","é":"2"}')

    def test_built_log_verifies_with_counts(self):
        lines = chain(make_records(9, checkpoints={4, 8}))
        path = self.write(lines)
        result = verify_log.verify(path, mac_key=KEY, anchor=anchor_of(lines, 8))
        self.assertEqual((result["records"], result["checkpoints"], result["after_last_checkpoint"]), (9, 2, 1))
        self.assertEqual(result["torn_tail_bytes"], 0)

    def test_empty_log_verifies(self):
        self.assertEqual(verify_log.verify(self.write([]), mac_key=KEY)["records"], 0)

    def test_checkpoint_without_mac_key_alg_none_verifies(self):
        records = make_records(3)
        records[2].update(op=verify_log.CHECKPOINT, share=None, versions=[], kek=[], outcome="ok", error=None,
                          details={}, alg="none", key=None)
        lines = chain(records)
        self.assertIn(b'"alg":"none","key":null,"mac":""', lines[2])
        self.assertEqual(verify_log.verify(self.write(lines), mac_key=None)["checkpoints"], 1)

    def test_worked_example_verifies_and_is_the_one_in_docs(self):
        mac_key = verify_log.tier1_mac_key(worked_example.ROOT_SEED, worked_example.VAULT_ID)
        built = worked_example.build(mac_key)
        path = self.write([line for line, _, _ in built])
        result = verify_log.verify(path, mac_key=mac_key, anchor={"seq": 3, "hash": built[2][1], "mac": built[2][2]})
        self.assertEqual((result["records"], result["checkpoints"]), (3, 1))
        with open(os.path.join(HERE, "..", "..", "docs", "audit.md"), encoding="utf-8") as handle:
            document = handle.read()
        output = io.StringIO()
        with redirect_stdout(output):
            worked_example.main([])
        self.assertIn(output.getvalue(), document, "docs/audit.md's worked example is not worked_example.py's output")


class TamperTests(LogTestCase):
    def setUp(self):
        super().setUp()
        self.lines = chain(make_records(10, checkpoints={5, 10}))

    def test_changed_record_names_it_by_its_hash(self):
        lines = list(self.lines)
        lines[2] = lines[2].replace(b'"share":"share-3"', b'"share":"share-X"')
        self.assertBad(self.write(lines), 3, "3", "hash")

    def test_changed_record_with_its_hash_recomputed_breaks_the_next_prev(self):
        records = make_records(10, checkpoints={5, 10})
        records[2]["share"] = "share-X"
        rebuilt = chain(records)
        lines = self.lines[:2] + [rebuilt[2]] + self.lines[3:]
        self.assertBad(self.write(lines), 4, "4", "prev")

    def test_rewritten_chain_without_the_key_fails_at_the_checkpoint(self):
        records = make_records(10, checkpoints={5, 10})
        records[1]["outcome"], records[1]["error"] = "error", {"code": "access denied", "exit": 77}
        rewritten = chain(records, key=bytes(32))  # the attacker's guess of the key
        self.assertBad(self.write(rewritten), 5, "5", "mac")

    def test_wrong_key_fails_at_the_first_checkpoint(self):
        self.assertBad(self.write(self.lines), 5, "5", "mac", mac_key=bytes(32))

    def test_no_mac_checks_the_chain_only(self):
        rewritten = chain(make_records(10, checkpoints={5, 10}), key=bytes(32))
        result = verify_log.verify(self.write(rewritten), mac_key=None, check_mac=False)
        self.assertEqual((result["records"], result["macs"]), (10, "not-checked"))

    def test_deleted_record(self):
        self.assertBad(self.write(self.lines[:3] + self.lines[4:]), 5, "4", "seq")

    def test_deleted_first_record(self):
        self.assertBad(self.write(self.lines[1:]), 2, "1", "seq")

    def test_inserted_record(self):
        lines = self.lines[:4] + [self.lines[2]] + self.lines[4:]
        self.assertBad(self.write(lines), 3, "5", "seq")

    def test_reordered_records(self):
        lines = list(self.lines)
        lines[5], lines[6] = lines[6], lines[5]
        self.assertBad(self.write(lines), 7, "6", "seq")

    def test_renumbered_record_fails(self):
        lines = list(self.lines)
        lines[3] = lines[3].replace(b'"seq":4,', b'"seq":40,')
        self.assertBad(self.write(lines), 40, "4", "seq")

    def test_truncated_before_the_anchor(self):
        anchor = anchor_of(self.lines, 10)
        self.assertBad(self.write(self.lines[:7]), 10, "-", "anchor", anchor=anchor)

    def test_truncated_after_the_last_checkpoint_is_not_detectable(self):
        # What the log cannot prove (docs/audit.md): records after the anchored checkpoint can be cut off.
        lines = chain(make_records(8, checkpoints={5}))
        result = verify_log.verify(self.write(lines[:6]), mac_key=KEY, anchor=anchor_of(lines, 5))
        self.assertEqual(result["records"], 6)

    def test_rolled_back_log(self):
        # The log of an earlier moment, grown differently since (another record 10 in place of the anchored one).
        other = make_records(10, checkpoints={5, 10})
        other[8]["share"] = "another"
        rolled = chain(other)
        self.assertBad(self.write(rolled), 10, "10", "anchor", anchor=anchor_of(self.lines, 10))

    def test_torn_tail_is_reported_not_tampering(self):
        path = self.write(self.lines, tail=self.lines[0][:37])
        result = verify_log.verify(path, mac_key=KEY, anchor=anchor_of(self.lines, 10))
        self.assertEqual((result["records"], result["torn_tail_bytes"]), (10, 37))

    def test_whole_record_without_its_newline_is_a_torn_tail(self):
        path = self.write(self.lines[:9], tail=self.lines[9])
        result = verify_log.verify(path, mac_key=KEY)
        self.assertEqual((result["records"], result["torn_tail_bytes"]), (9, len(self.lines[9])))

    def test_non_canonical_whitespace(self):
        lines = list(self.lines)
        lines[1] = lines[1].replace(b'"v":1,"seq":2,', b'"v":1, "seq":2,')
        self.assertBad(self.write(lines), 2, "2", "encoding")

    def test_non_canonical_escape(self):
        lines = list(self.lines)
        self.assertIn(b"\\u000a", lines[0])
        lines[0] = lines[0].replace(b"\\u000a", b"\\n")
        self.assertBad(self.write(lines), 1, "1", "encoding")

    def test_members_out_of_order(self):
        lines = list(self.lines)
        lines[0] = lines[0].replace(b'"v":1,"seq":1,', b'"seq":1,"v":1,')
        self.assertBad(self.write(lines), 1, "1", "malformed")

    def test_garbage_line(self):
        lines = list(self.lines)
        lines[6] = b"not json"
        self.assertBad(self.write(lines), 7, "7", "malformed")

    def test_record_of_another_vault(self):
        records = make_records(10, checkpoints={5, 10})
        records[7]["vault"] = "ffffffffffffffffffffffffffffffff"
        self.assertBad(self.write(chain(records)), 8, "8", "vault")

    def test_checkpoint_mac_stripped_to_alg_none(self):
        records = make_records(10, checkpoints={5, 10})
        records[4].update(alg="none", key=None)
        lines = chain(records)
        # Verifies as a chain; but the anchor (written with the real MAC) no longer matches.
        self.assertBad(self.write(lines), 5, "5", "anchor", anchor=anchor_of(self.lines, 5))


class SegmentTests(LogTestCase):
    def segments(self, lines, splits):
        directory = os.path.join(self.directory, "segments")
        os.makedirs(directory)
        bounds = [0] + list(splits) + [len(lines)]
        for start, end in zip(bounds, bounds[1:]):
            name = "%020d.jsonl" % (start + 1)
            with open(os.path.join(directory, name), "wb") as handle:
                handle.write(b"".join(line + b"\n" for line in lines[start:end]))
        return directory

    def setUp(self):
        super().setUp()
        self.lines = chain(make_records(7, checkpoints={3, 7}))

    def test_segments_verify(self):
        directory = self.segments(self.lines, [1, 3, 6])
        result = verify_log.verify(directory, mac_key=KEY, anchor=anchor_of(self.lines, 7))
        self.assertEqual((result["records"], result["checkpoints"]), (7, 2))

    def test_deleted_segment(self):
        directory = self.segments(self.lines, [1, 3, 6])
        os.remove(os.path.join(directory, "%020d.jsonl" % 2))
        self.assertBad(directory, 4, "%020d.jsonl:1" % 4, "seq")

    def test_renamed_segment(self):
        directory = self.segments(self.lines, [3])
        os.rename(os.path.join(directory, "%020d.jsonl" % 4), os.path.join(directory, "%020d.jsonl" % 5))
        self.assertBad(directory, 4, "%020d.jsonl:1" % 5, "segment")

    def test_segment_cut_short(self):
        directory = self.segments(self.lines, [3])
        path = os.path.join(directory, "%020d.jsonl" % 4)
        with open(path, "r+b") as handle:
            handle.truncate(os.path.getsize(path) - 5)
        self.assertBad(directory, None, "%020d.jsonl:end" % 4, "segment")


class CommandTests(LogTestCase):
    def run_script(self, *arguments):
        process = subprocess.run([sys.executable, os.path.join(HERE, "verify_log.py"), *arguments],
                                 capture_output=True, text=True)
        return process.returncode, process.stdout, process.stderr

    def test_worked_example_with_root_seed_and_anchor(self):
        directory = os.path.join(self.directory, "example")
        with redirect_stdout(io.StringIO()):
            worked_example.main(["--log", directory])
        status, out, _ = self.run_script(os.path.join(directory, "log.jsonl"), "--root-seed",
                                         os.path.join(directory, "root.seed"), "--anchor",
                                         os.path.join(directory, "vault.json"))
        self.assertEqual(status, 0, out)
        self.assertTrue(out.startswith("OK records=3 checkpoints=1 after_last_checkpoint=0 macs=verified anchor=3"),
                        out)

    def test_bad_record_is_named_and_exit_status_is_1(self):
        lines = chain(make_records(6, checkpoints={6}))
        lines[3] = lines[3].replace(b'"pid":304', b'"pid":305')
        status, out, _ = self.run_script(self.write(lines), "--mac-key-hex", KEY.hex())
        self.assertEqual(status, 1)
        self.assertTrue(out.startswith("BAD seq=4 line=4 kind=hash:"), out)

    def test_torn_tail_warns_and_passes(self):
        lines = chain(make_records(3, checkpoints={3}))
        status, out, err = self.run_script(self.write(lines, tail=b'{"v":1,"se'), "--mac-key-hex", KEY.hex())
        self.assertEqual(status, 0, out)
        self.assertIn("torn_tail_bytes=10", out)
        self.assertIn("torn last record", err)

    def test_root_seed_of_wrong_length_is_a_usage_error(self):
        seed = os.path.join(self.directory, "root.seed")
        with open(seed, "wb") as handle:
            handle.write(bytes(31))
        status, _, err = self.run_script(self.write([]), "--root-seed", seed, "--vault-id", VAULT)
        self.assertEqual(status, 2)
        self.assertIn("31", err)


if __name__ == "__main__":
    unittest.main()
