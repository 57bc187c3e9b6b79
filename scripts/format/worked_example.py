#!/usr/bin/env python3
"""Print the tier 1 worked example for docs/format.md.

Builds a tier 1 envelope deterministically from fixed inputs, opens it again with
the same code open_local_blob.py uses (both in memory and through the command-line
path against a temporary vault directory), and prints, in Markdown:

* the inputs, the derived values and every field of the blob, each labelled with
  its field number from the spec;
* the complete blob in hex, 64 hex digits per line.

The last line of output, outside the Markdown, is ``BLOB_HEX=`` followed by the
whole blob as one unbroken lowercase hex string. Exit status is 0 on success and 2
if the self-check fails.
"""

from __future__ import annotations

import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import open_local_blob  # noqa: E402
from strongroom_envelope import (  # noqa: E402
    FIELD_NAMES,
    StrongroomError,
    derive_seed_check,
    open_local,
    parse_envelope,
    seal_local,
)

# --- Fixed inputs (the spec's worked example) ---------------------------------------

ROOT_SEED = bytes(range(0x00, 0x20))  # 32 bytes 00..1f
VAULT_ID = bytes(range(0xA0, 0xB0))  # 16 bytes a0..af
SHARE_ID = "alice-share"
SHARE_VERSION = 1
CREATED_AT = 1767225600
METADATA = b'{"party":"1"}'  # 13 bytes
KEK_VERSION = 1
DEK = bytes(range(0x40, 0x60))  # 32 bytes 40..5f
IV = bytes(range(0xC0, 0xCC))  # 12 bytes c0..cb
PLAINTEXT = b"threshold share #1"  # 18 bytes

HEX_LINE = 64


def wrap_hex(data: bytes, width: int = HEX_LINE) -> str:
    """Lowercase hex of ``data``, ``width`` hex digits per line."""
    h = data.hex()
    return "\n".join(h[i : i + width] for i in range(0, len(h), width)) or "(empty)"


def md_hex(data: bytes) -> str:
    """Hex for a Markdown table cell ("(empty)" for no bytes)."""
    return f"`{data.hex()}`" if data else "(empty)"


def self_check(blob: bytes, seed_check: bytes) -> None:
    """Open ``blob`` with the shared opener, in memory and via open_local_blob's CLI path.

    Raises ``AssertionError`` or :class:`StrongroomError` if anything does not match.
    """
    share = open_local(
        blob,
        seed=ROOT_SEED,
        vault_id=VAULT_ID,
        share_id=SHARE_ID,
        share_version=SHARE_VERSION,
        seed_check=seed_check,
    )
    assert share == PLAINTEXT, "in-memory open returned the wrong plaintext"

    env = parse_envelope(blob)
    assert (env.vault_id, env.share_id, env.share_version) == (VAULT_ID, SHARE_ID, SHARE_VERSION)
    assert (env.created_at, env.metadata, env.kek_version, env.iv) == (
        CREATED_AT,
        METADATA,
        KEK_VERSION,
        IV,
    )

    with tempfile.TemporaryDirectory(prefix="strongroom-example-") as vault:
        with open(os.path.join(vault, "vault.json"), "w", encoding="utf-8") as f:
            json.dump(
                {
                    "vaultID": VAULT_ID.hex(),
                    "seedCheck": seed_check.hex(),
                    "oldestActiveKEKVersion": 1,
                    "currentKEKVersion": 1,
                },
                f,
            )
        seed_path = os.path.join(vault, "root.seed")
        fd = os.open(seed_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(ROOT_SEED)
        share_dir = os.path.join(vault, "shares", SHARE_ID)
        os.makedirs(share_dir)
        with open(os.path.join(share_dir, f"{SHARE_VERSION}.srb"), "wb") as f:
            f.write(blob)
        args = open_local_blob.parse_args(["--vault", vault, "--seed", seed_path, "--id", SHARE_ID])
        assert open_local_blob.run(args) == PLAINTEXT, "CLI path returned the wrong plaintext"


def render(sealed) -> str:
    """Render the worked example as Markdown."""
    blob = sealed.blob
    env = parse_envelope(blob)
    out: list[str] = []
    add = out.append

    add("| # | input | value |")
    add("|---|---|---|")
    add(f"| — | root seed (32 bytes, file `root.seed`) | `{ROOT_SEED.hex()}` (bytes `00`…`1f`) |")
    add(f"| 5 | vault id (16 bytes) | `{VAULT_ID.hex()}` (bytes `a0`…`af`) |")
    add(f"| 7 | share id | `{SHARE_ID}` ({len(SHARE_ID)} bytes) |")
    add(f"| 8 | share version | {SHARE_VERSION} |")
    add(f"| 9 | created at | {CREATED_AT} (2026-01-01T00:00:00Z) |")
    add(f"| 11 | metadata | `{METADATA.decode()}` ({len(METADATA)} bytes) |")
    add(f"| 14 | KEK version | {KEK_VERSION} |")
    add(f"| 17 (sealed) | DEK (32 bytes) | `{DEK.hex()}` (bytes `40`…`5f`) |")
    add(f"| 19 | IV (12 bytes) | `{IV.hex()}` (bytes `c0`…`cb`) |")
    add(f"| 21 (sealed) | share plaintext | ASCII `{PLAINTEXT.decode()}` ({len(PLAINTEXT)} bytes) |")
    add("")
    add("Derived values:")
    add("")
    add("| # | value | hex |")
    add("|---|---|---|")
    add(f"| 14 → | KEK v{KEK_VERSION} = HKDF-SHA256(seed, salt = vault id, "
        f"info = `strongroom/tier1/kek/{KEK_VERSION}`, L = 32) | `{sealed.kek.hex()}` |")
    add(f"| — | seed check = HKDF-SHA256(seed, salt = vault id, "
        f"info = `strongroom/tier1/seed-check`, L = 16) (`vault.json` → `seedCheck`) "
        f"| `{sealed.seed_check.hex()}` |")
    add(f"| 17 | wrapped DEK = RFC 3394 wrap of the DEK under KEK v{KEK_VERSION} "
        f"({len(sealed.wrapped_dek)} bytes) | `{sealed.wrapped_dek.hex()}` |")
    add(f"| 1–11 | AAD = header ({len(sealed.header)} bytes) | `{sealed.header.hex()}` |")
    add(f"| 21 | ciphertext ({len(sealed.ciphertext)} bytes) | `{sealed.ciphertext.hex()}` |")
    add(f"| 22 | tag (16 bytes) | `{sealed.tag.hex()}` |")
    add("")
    add(f"The blob, field by field ({len(blob)} bytes):")
    add("")
    add("| # | field | offset | size | bytes (hex) |")
    add("|---|---|---|---|---|")
    for field, start, end in env.spans:
        add(f"| {field} | {FIELD_NAMES[field]} | {start} | {end - start} | {md_hex(blob[start:end])} |")
    add("")
    add(f"The complete blob ({len(blob)} bytes), `shares/{SHARE_ID}/{SHARE_VERSION}.srb`:")
    add("")
    add("```text")
    add(wrap_hex(blob))
    add("```")
    return "\n".join(out)


def main() -> int:
    """Build, self-check and print the worked example."""
    sealed = seal_local(
        seed=ROOT_SEED,
        vault_id=VAULT_ID,
        share_id=SHARE_ID,
        share_version=SHARE_VERSION,
        created_at=CREATED_AT,
        metadata=METADATA,
        kek_version=KEK_VERSION,
        dek=DEK,
        iv=IV,
        plaintext=PLAINTEXT,
    )
    assert sealed.seed_check == derive_seed_check(ROOT_SEED, VAULT_ID)
    try:
        self_check(sealed.blob, sealed.seed_check)
    except (AssertionError, StrongroomError, OSError) as exc:
        print(f"worked_example: self-check FAILED: {exc}", file=sys.stderr)
        return 2
    print(render(sealed))
    print()
    print(f"BLOB_HEX={sealed.blob.hex()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
