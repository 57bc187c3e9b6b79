#!/usr/bin/env python3
"""Unit tests of the independent envelope v2 implementation (run by EnvelopeV2InteropTests, or
``python3 scripts/format/test_envelope_v2.py``): the strict parser refuses every malformed v2
layout, the recovery opener refuses every mismatch, and v1 blobs still parse and open."""

from __future__ import annotations

import os
import struct
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import strongroom_hpke  # noqa: E402
import worked_example  # noqa: E402
import worked_example_v2 as ex  # noqa: E402
from strongroom_envelope import (  # noqa: E402
    IntegrityError,
    UsageError,
    build_body,
    build_section,
    open_local,
    parse_envelope,
    seal_local,
)
from strongroom_recovery import (  # noqa: E402
    WrongRecoveryKeyError,
    open_with_recovery_key,
    recovery_info,
)

SEALED = ex.build()
BLOB = SEALED.blob
HEADER_END = len(SEALED.header)  # 67
TIER_START = HEADER_END + 1  # after the section count
RECOVERY_START = TIER_START + len(SEALED.tier_section)  # 154
BODY_START = RECOVERY_START + len(SEALED.recovery_section)  # 275
BODY = BLOB[BODY_START:]

V1_EXAMPLE_HEX = (
    "5352534801010000a0a1a2a3a4a5a6a7a8a9aaabacadaeaf0b616c6963652d7368617265000000000000000100000000"
    "6955b900000d7b227061727479223a2231227d2061306131613261336134613561366137613861396161616261636164"
    "6165616600000001000021090028e629e079f718c422fc2c0b2d476f5673b98e8ddaf66d75cef867709f06bf1f7ca6d2"
    "de3a61ba84960cc0c1c2c3c4c5c6c7c8c9cacb000000122b2c42ab09f252871099575ecad1c7edbcc4f039737785e5a9"
    "88deb03945a72c15f4"
)


def open_recovery(blob: bytes, **overrides):
    args = dict(private_key=ex.RECOVERY_PRIVATE_KEY, vault_id=ex.VAULT_ID, share_id=ex.SHARE_ID,
                share_version=ex.SHARE_VERSION)
    args.update(overrides)
    return open_with_recovery_key(blob, **args).plaintext


class ParserTests(unittest.TestCase):
    def assertRefused(self, blob: bytes, text: str) -> None:
        with self.assertRaises(IntegrityError) as caught:
            parse_envelope(blob)
        self.assertIn(text, str(caught.exception))
        self.assertIn("integrity", str(caught.exception))

    def test_parses_the_example(self):
        env = parse_envelope(BLOB)
        self.assertEqual(env.format_version, 2)
        self.assertEqual(env.recovery_section, SEALED.recovery_section)
        self.assertEqual(env.share_aad, SEALED.aad)
        self.assertEqual(env.recovery.enc, SEALED.enc)
        self.assertEqual(env.kek_version, 1)

    def test_v1_still_parses_and_opens(self):
        blob = seal_local(seed=ex.ROOT_SEED, vault_id=ex.VAULT_ID, share_id=ex.SHARE_ID, share_version=1,
                          created_at=ex.CREATED_AT, metadata=ex.METADATA, kek_version=1, dek=ex.DEK, iv=ex.IV,
                          plaintext=ex.PLAINTEXT).blob
        self.assertEqual(parse_envelope(blob).format_version, 1)
        self.assertIsNone(parse_envelope(blob).recovery)
        self.assertEqual(open_local(blob, seed=ex.ROOT_SEED, vault_id=ex.VAULT_ID, share_id=ex.SHARE_ID,
                                    share_version=1), ex.PLAINTEXT)
        with self.assertRaisesRegex(IntegrityError, "format version 1: it has no recovery section"):
            open_recovery(blob)

    def test_refuses_bad_section_counts(self):
        for count in (0, 3, 255):
            self.assertRefused(BLOB[:HEADER_END] + bytes([count]) + BLOB[TIER_START:], "section count")

    def test_refuses_sections_out_of_order_or_twice(self):
        swapped = BLOB[:TIER_START] + SEALED.recovery_section + SEALED.tier_section + BODY
        self.assertRefused(swapped, "must be the tier section")
        twice = BLOB[:TIER_START] + SEALED.tier_section + SEALED.tier_section + BODY
        self.assertRefused(twice, "must be the recovery section")
        unknown = BLOB[:RECOVERY_START] + bytes([3]) + BLOB[RECOVERY_START + 1:]
        self.assertRefused(unknown, "kind 3")

    def test_refuses_a_tier_section_length_that_does_not_fit(self):
        for delta in (-1, 1):
            length = len(SEALED.tier_section) - 3 + delta
            blob = BLOB[:TIER_START + 1] + struct.pack(">H", length) + BLOB[TIER_START + 3:]
            with self.assertRaises(IntegrityError):
                parse_envelope(blob)

    def test_refuses_a_recovery_section_of_another_size_or_suite(self):
        body = SEALED.recovery_section[3:]
        self.assertRefused(BLOB[:RECOVERY_START] + build_section(2, body + b"\0") + BODY, "must be 118")
        self.assertRefused(BLOB[:RECOVERY_START] + build_section(2, body[:-1]) + BODY, "must be 118")
        for offset, value in ((0, b"\x00\x21"), (2, b"\x00\x02"), (4, b"\x00\x01"), (4, b"\x00\x03")):
            changed = body[:offset] + value + body[offset + 2:]
            self.assertRefused(BLOB[:RECOVERY_START] + build_section(2, changed) + BODY, "HPKE suite")

    def test_refuses_truncation_and_trailing_bytes_everywhere(self):
        for end in range(len(BLOB)):
            with self.assertRaises(IntegrityError, msg=f"truncated at {end}"):
                parse_envelope(BLOB[:end])
        self.assertRefused(BLOB + b"\0", "trailing bytes")

    def test_refuses_format_version_3(self):
        self.assertRefused(BLOB[:4] + b"\x03" + BLOB[5:], "unsupported format version 3")


class RecoveryOpenTests(unittest.TestCase):
    def test_opens_the_example(self):
        self.assertEqual(open_recovery(BLOB), ex.PLAINTEXT)

    def test_info_binds_vault_share_and_version(self):
        self.assertEqual(SEALED.info, b"strongroom/recovery/v2" + ex.VAULT_ID + b"\x0balice-share" + b"\0" * 7 + b"\x01")
        self.assertEqual(recovery_info(ex.VAULT_ID, "r", 0), b"strongroom/recovery/v2" + ex.VAULT_ID + b"\x01r" + b"\0" * 8)

    def test_refuses_another_key_share_version_or_vault(self):
        with self.assertRaisesRegex(WrongRecoveryKeyError, "fingerprint"):
            open_recovery(BLOB, private_key=bytes(range(32)))
        with self.assertRaisesRegex(IntegrityError, "expected 'bob'"):
            open_recovery(BLOB, share_id="bob")
        with self.assertRaisesRegex(IntegrityError, "expected 2"):
            open_recovery(BLOB, share_version=2)
        with self.assertRaisesRegex(IntegrityError, "belongs to vault"):
            open_recovery(BLOB, vault_id=bytes(16))
        with self.assertRaises(UsageError):
            open_recovery(BLOB, private_key=b"short")

    def test_every_flip_outside_the_tier_section_is_refused(self):
        for offset in list(range(TIER_START)) + list(range(RECOVERY_START, len(BLOB))):
            blob = bytearray(BLOB)
            blob[offset] ^= 0x01
            with self.assertRaises(IntegrityError, msg=f"offset {offset}"):
                open_recovery(bytes(blob))

    def test_every_flip_is_refused_by_the_tier_1_opener(self):
        for offset in range(len(BLOB)):
            blob = bytearray(BLOB)
            blob[offset] ^= 0x01
            with self.assertRaises(IntegrityError, msg=f"offset {offset}"):
                open_local(bytes(blob), seed=ex.ROOT_SEED, vault_id=ex.VAULT_ID, share_id=ex.SHARE_ID,
                           share_version=ex.SHARE_VERSION)

    def test_a_swapped_recovery_section_is_refused(self):
        # The recovery section of another share version of the same vault, same key.
        other = ex.seal_local_v2(
            seed=ex.ROOT_SEED, vault_id=ex.VAULT_ID, share_id=ex.SHARE_ID, share_version=2, created_at=ex.CREATED_AT,
            metadata=ex.METADATA, kek_version=1, dek=ex.DEK, iv=ex.IV, plaintext=ex.PLAINTEXT,
            recovery_public_key=strongroom_hpke.public_key(ex.RECOVERY_PRIVATE_KEY),
            ephemeral_private_key=ex.EPHEMERAL_PRIVATE_KEY)
        swapped = BLOB[:RECOVERY_START] + other.recovery_section + BODY
        with self.assertRaisesRegex(IntegrityError, "recovery section does not open"):
            open_recovery(swapped)
        with self.assertRaisesRegex(IntegrityError, "AES-GCM"):
            open_local(swapped, seed=ex.ROOT_SEED, vault_id=ex.VAULT_ID, share_id=ex.SHARE_ID, share_version=1)

    def test_stripping_the_recovery_section_is_refused_by_the_tier_opener(self):
        stripped = BLOB[:HEADER_END] + b"\x01" + SEALED.tier_section + BODY
        with self.assertRaisesRegex(IntegrityError, "AES-GCM"):
            open_local(stripped, seed=ex.ROOT_SEED, vault_id=ex.VAULT_ID, share_id=ex.SHARE_ID, share_version=1)
        with self.assertRaisesRegex(IntegrityError, "without a recovery section"):
            open_recovery(stripped)

    def test_v1_worked_example_is_unchanged(self):
        sealed = seal_local(seed=worked_example.ROOT_SEED, vault_id=worked_example.VAULT_ID,
                            share_id=worked_example.SHARE_ID, share_version=1, created_at=worked_example.CREATED_AT,
                            metadata=worked_example.METADATA, kek_version=1, dek=worked_example.DEK,
                            iv=worked_example.IV, plaintext=worked_example.PLAINTEXT)
        # docs/format.md's v1 example, as EnvelopeFormatTests has it.
        self.assertEqual(sealed.blob.hex(), V1_EXAMPLE_HEX)
        self.assertEqual(build_body(worked_example.IV, sealed.ciphertext, sealed.tag), sealed.blob[-(1 + 12 + 4 + 18 + 16):])


if __name__ == "__main__":
    unittest.main()
