#!/usr/bin/env python3
"""Print the envelope v2 worked example (a tier 1 blob with a recovery section).

Builds the v2 blob deterministically from fixed inputs (the v1 example's, plus a recovery key pair
and the HPKE ephemeral key), opens it again three ways — with the recovery private key in memory,
through open_recovery_blob.py's command-line paths (one blob, and the walk of a temporary vault
directory), and with the root seed through the tier 1 opener — and prints, in Markdown, the
inputs, the derived values and every field of the blob, then the whole blob in hex. The last line
of output, outside the Markdown, is ``BLOB_HEX=`` and the blob as one lowercase hex string.

With ``--swift-fixture`` it prints instead the Swift source of
Tests/StrongroomTests/EnvelopeV2Example.swift (the same values as constants), so that the Swift
side can test that it opens the Python-made blob. Exit status 0, or 2 if the self-check fails.
"""

from __future__ import annotations

import io
import json
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import open_recovery_blob  # noqa: E402
import strongroom_hpke  # noqa: E402
from strongroom_envelope import FIELD_NAMES, StrongroomError, open_local, parse_envelope  # noqa: E402
from strongroom_recovery import fingerprint, open_with_recovery_key, seal_local_v2  # noqa: E402
from worked_example import (  # noqa: E402
    CREATED_AT,
    DEK,
    IV,
    KEK_VERSION,
    METADATA,
    PLAINTEXT,
    ROOT_SEED,
    SHARE_ID,
    SHARE_VERSION,
    VAULT_ID,
    md_hex,
    wrap_hex,
)

RECOVERY_PRIVATE_KEY = bytes(range(0x60, 0x80))  # 32 bytes 60..7f (X25519 clamps it when used)
EPHEMERAL_PRIVATE_KEY = bytes(range(0x80, 0xA0))  # 32 bytes 80..9f, HPKE's skE


def build():
    """The sealed example."""
    return seal_local_v2(
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
        recovery_public_key=strongroom_hpke.public_key(RECOVERY_PRIVATE_KEY),
        ephemeral_private_key=EPHEMERAL_PRIVATE_KEY,
    )


def self_check(sealed) -> None:
    """Open the blob with the recovery key (in memory and via the CLI paths) and with the root seed."""
    blob = sealed.blob
    opened = open_with_recovery_key(
        blob, private_key=RECOVERY_PRIVATE_KEY, vault_id=VAULT_ID, share_id=SHARE_ID, share_version=SHARE_VERSION
    )
    assert opened.plaintext == PLAINTEXT, "recovery open returned the wrong plaintext"
    assert open_local(
        blob, seed=ROOT_SEED, vault_id=VAULT_ID, share_id=SHARE_ID, share_version=SHARE_VERSION,
        seed_check=sealed.seed_check,
    ) == PLAINTEXT, "tier 1 open returned the wrong plaintext"
    # The HPKE step on its own, as a reader following the document would do it.
    data_key = strongroom_hpke.open_base(sealed.enc, RECOVERY_PRIVATE_KEY, sealed.info, sealed.header,
                                         sealed.sealed_data_key)
    assert data_key == DEK, "the recovery section does not hold the data key"

    with tempfile.TemporaryDirectory(prefix="strongroom-example-v2-") as vault:
        key_path = os.path.join(vault, "recovery.key")
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(RECOVERY_PRIVATE_KEY.hex() + "\n")
        share_dir = os.path.join(vault, "copy", "shares", SHARE_ID)
        os.makedirs(share_dir)
        blob_path = os.path.join(share_dir, f"{SHARE_VERSION}.srb")
        with open(blob_path, "wb") as f:
            f.write(blob)
        args = open_recovery_blob.parse_args([
            "--private-key-file", key_path, "--vault-id", VAULT_ID.hex(), "--share-id", SHARE_ID,
            "--version", str(SHARE_VERSION), blob_path,
        ])
        assert open_recovery_blob.open_one(args, open_recovery_blob.read_private_key(key_path)) == PLAINTEXT
        args = open_recovery_blob.parse_args([
            "--private-key-file", key_path, "--vault", os.path.join(vault, "copy"), "--vault-id", VAULT_ID.hex(),
        ])
        out, err = io.StringIO(), io.StringIO()
        status = open_recovery_blob.open_all(args, open_recovery_blob.read_private_key(key_path), out, err)
        assert status == 0, f"walk failed: {err.getvalue()}"
        lines = [json.loads(line) for line in out.getvalue().splitlines()]
        assert lines == [{
            "share": SHARE_ID, "version": SHARE_VERSION, "createdAt": CREATED_AT,
            "metadata": METADATA.decode(), "hex": PLAINTEXT.hex(),
        }], f"walk printed {lines}"


def render(sealed) -> str:
    """Render the worked example as Markdown."""
    blob = sealed.blob
    env = parse_envelope(blob)
    public_key = strongroom_hpke.public_key(RECOVERY_PRIVATE_KEY)
    out: list[str] = []
    add = out.append
    add("The inputs of the v1 example (root seed, vault id, share id, version, created at, metadata, KEK")
    add("version, data key, IV, share), plus:")
    add("")
    add("| input | value |")
    add("|---|---|")
    add(f"| recovery private key (32 bytes) | `{RECOVERY_PRIVATE_KEY.hex()}` (bytes `60`…`7f`) |")
    add(f"| HPKE ephemeral private key skE (32 bytes) | `{EPHEMERAL_PRIVATE_KEY.hex()}` (bytes `80`…`9f`) |")
    add("")
    add("Derived values:")
    add("")
    add("| value | hex |")
    add("|---|---|")
    add(f"| recovery public key (X25519) | `{public_key.hex()}` |")
    add(f"| `recovery.pub` | `strongroom-recovery-key v1 {public_key.hex()}` |")
    add(f"| fingerprint = SHA-256(recovery public key) | `{fingerprint(public_key).hex()}` |")
    add(f"| KEK v{KEK_VERSION} (as in v1) | `{sealed.kek.hex()}` |")
    add(f"| wrapped data key (tier section, as in v1) | `{sealed.wrapped_dek.hex()}` |")
    add(f"| header = HPKE aad ({len(sealed.header)} bytes) | `{sealed.header.hex()}` |")
    add(f"| HPKE info ({len(sealed.info)} bytes) = `strongroom/recovery/v2` ‖ vault id ‖ share id length ‖ "
        f"share id ‖ version | `{sealed.info.hex()}` |")
    add(f"| enc = X25519 public key of skE | `{sealed.enc.hex()}` |")
    add(f"| sealed data key (32 + 16 bytes) | `{sealed.sealed_data_key.hex()}` |")
    add(f"| share AAD = header ‖ recovery section ({len(sealed.aad)} bytes) | `{sealed.aad.hex()}` |")
    add(f"| ciphertext ({len(sealed.ciphertext)} bytes) | `{sealed.ciphertext.hex()}` |")
    add(f"| tag (16 bytes) | `{sealed.tag.hex()}` |")
    add("")
    add(f"The blob, field by field ({len(blob)} bytes):")
    add("")
    add("| # | field | offset | size | bytes (hex) |")
    add("|---|---|---|---|---|")
    for field, start, end in env.spans:
        number = field if isinstance(field, int) else "v2"
        add(f"| {number} | {FIELD_NAMES[field]} | {start} | {end - start} | {md_hex(blob[start:end])} |")
    add("")
    add(f"The complete blob ({len(blob)} bytes), `shares/{SHARE_ID}/{SHARE_VERSION}.srb`:")
    add("")
    add("```text")
    add(wrap_hex(blob))
    add("```")
    return "\n".join(out)


def swift_fixture(sealed) -> str:
    """Tests/StrongroomTests/EnvelopeV2Example.swift: the example's values as Swift constants."""

    def split(text: str, indent: str) -> str:
        chunks = [text[i : i + 96] for i in range(0, len(text), 96)]
        return f'\n{indent}+ '.join(f'"{c}"' for c in chunks)

    public_key = strongroom_hpke.public_key(RECOVERY_PRIVATE_KEY)
    return f'''/// The envelope v2 worked example, made by scripts/format/worked_example_v2.py (an independent
/// implementation written from docs/format.md and RFC 9180): a tier 1 blob with a recovery section.
/// Regenerate with `python3 scripts/format/worked_example_v2.py --swift-fixture`; the Python-side
/// check in EnvelopeV2InteropTests fails when this file and the script disagree.
enum EnvelopeV2Example {{
    static let rootSeedHex = "{ROOT_SEED.hex()}"
    static let vaultIDHex = "{VAULT_ID.hex()}"
    static let shareID = "{SHARE_ID}"
    static let shareVersion: UInt64 = {SHARE_VERSION}
    static let createdAt: UInt64 = {CREATED_AT:_}
    static let metadata = #"{METADATA.decode()}"#
    static let kekVersion: UInt32 = {KEK_VERSION}
    static let dataKeyHex = "{DEK.hex()}"
    static let ivHex = "{IV.hex()}"
    static let plaintext = "{PLAINTEXT.decode()}"
    static let recoveryPrivateKeyHex = "{RECOVERY_PRIVATE_KEY.hex()}"
    static let recoveryPublicKeyHex = "{public_key.hex()}"
    static let fingerprintHex = "{fingerprint(public_key).hex()}"
    static let ephemeralPrivateKeyHex = "{EPHEMERAL_PRIVATE_KEY.hex()}"
    static let encHex = "{sealed.enc.hex()}"
    static let sealedDataKeyHex =
        {split(sealed.sealed_data_key.hex(), "        ")}
    static let hpkeInfoHex =
        {split(sealed.info.hex(), "        ")}
    static let headerHex =
        {split(sealed.header.hex(), "        ")}
    static let blobHex =
        {split(sealed.blob.hex(), "        ")}
}}
'''


def main(argv: list[str]) -> int:
    """Build, self-check and print the worked example (or the Swift fixture)."""
    sealed = build()
    try:
        self_check(sealed)
    except (AssertionError, StrongroomError, OSError, strongroom_hpke.HPKEError) as exc:
        print(f"worked_example_v2: self-check FAILED: {exc}", file=sys.stderr)
        return 2
    if argv[1:] == ["--swift-fixture"]:
        sys.stdout.write(swift_fixture(sealed))
        return 0
    if argv[1:]:
        print("usage: worked_example_v2.py [--swift-fixture]", file=sys.stderr)
        return 2
    print(render(sealed))
    print()
    print(f"BLOB_HEX={sealed.blob.hex()}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
