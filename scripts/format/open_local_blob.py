#!/usr/bin/env python3
"""Open a Strongroom tier 1 ("local") blob, written from docs/format.md alone.

Usage:
    open_local_blob.py --vault DIR [--seed FILE] --id SHARE_ID [--version N] [--hex]
    open_local_blob.py --vault DIR [--seed FILE] --record NAME [--hex]

Reads DIR/vault.json ("vaultID", "seedCheck", the active KEK range), the raw 32-byte root seed (default
DIR/root.seed; refused if its mode grants any group/other access), checks the seed
check value, picks DIR/shares/<id>/<version>.srb (the newest version when --version
is omitted), opens it strictly per the spec and writes the share's plaintext to
stdout (or lowercase hex plus a newline with --hex). With --record it opens the
sealed record DIR/records/NAME.srb instead (share version 0, docs/format.md
"Records"), e.g. a FROST group record (NAME frost.<group>), and prints its JSON.

v1 and v2 blobs open (a v2 blob through its tier section; see open_recovery_blob.py for
the recovery section). Every error is one line on stderr and exit status 2; authentication and
structural failures of the blob say "integrity".
"""

from __future__ import annotations

import argparse
import json
import os
import re
import stat
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from strongroom_envelope import (  # noqa: E402
    ROOT_SEED_LEN,
    SEED_CHECK_LEN,
    VAULT_ID_LEN,
    StrongroomError,
    UsageError,
    active_kek_range,
    check_seed,
    open_local,
    validate_share_id,
)

EXIT_ERROR = 2
# Largest possible v1 share blob is about 140 KiB, a record blob (1 MiB of ciphertext) about 1.1 MiB;
# anything bigger is not a blob.
MAX_BLOB_BYTES = (1 << 20) + (128 << 10)
_VERSION_FILE_RE = re.compile(r"([1-9][0-9]*)\.srb")


def load_vault(vault_dir: str) -> tuple[bytes, bytes, tuple[int, int]]:
    """Return (vault id bytes, seed check bytes, active KEK range) from ``vault_dir/vault.json``."""
    path = os.path.join(vault_dir, "vault.json")
    try:
        with open(path, "rb") as f:
            state = json.loads(f.read().decode("utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{path}: not found (is {vault_dir} a Strongroom local vault?)") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise UsageError(f"{path}: not valid JSON ({exc})") from None
    if not isinstance(state, dict):
        raise UsageError(f"{path}: not a JSON object")

    def hex_field(name: str, nbytes: int) -> bytes:
        value = state.get(name)
        if not isinstance(value, str) or not re.fullmatch(r"[0-9A-Fa-f]{%d}" % (2 * nbytes), value):
            raise UsageError(f"{path}: {name!r} must be {2 * nbytes} hex digits")
        return bytes.fromhex(value)

    for name in ("oldestActiveKEKVersion", "currentKEKVersion"):
        if not isinstance(state.get(name), int) or state[name] < 1:
            raise UsageError(f"{path}: {name!r} must be a positive integer")
    return hex_field("vaultID", VAULT_ID_LEN), hex_field("seedCheck", SEED_CHECK_LEN), active_kek_range(state)


def read_seed(path: str) -> bytes:
    """Read the raw root seed, refusing a non-regular file or group/other-accessible mode."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise UsageError(f"root seed file {path}: not found") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise UsageError(f"root seed file {path}: not a regular file")
        if st.st_mode & 0o077:
            raise UsageError(
                f"root seed file {path}: mode {stat.S_IMODE(st.st_mode):04o} allows group/other "
                "access; refusing to use it (chmod 600)"
            )
        with os.fdopen(fd, "rb") as f:
            fd = -1
            seed = f.read(ROOT_SEED_LEN + 1)
    finally:
        if fd >= 0:
            os.close(fd)
    if len(seed) != ROOT_SEED_LEN:
        raise UsageError(
            f"root seed file {path}: must hold exactly {ROOT_SEED_LEN} raw bytes"
            + (" (got more)" if len(seed) > ROOT_SEED_LEN else f" (got {len(seed)})")
        )
    return seed


def select_blob(vault_dir: str, share_id: str, version: int | None) -> tuple[str, int]:
    """Return (blob path, share version) for the requested or newest version.

    Only names of the form ``<decimal without leading zeros>.srb`` count as versions;
    ``.tmp-*`` files and anything else in the share directory are ignored.
    """
    share_dir = os.path.join(vault_dir, "shares", share_id)
    if version is not None:
        path = os.path.join(share_dir, f"{version}.srb")
        if not os.path.isfile(path):
            raise UsageError(f"share {share_id!r} has no version {version} ({path} not found)")
        return path, version
    try:
        names = os.listdir(share_dir)
    except FileNotFoundError:
        raise UsageError(f"no share {share_id!r} in this vault ({share_dir} not found)") from None
    versions = [
        int(m.group(1))
        for name in names
        if (m := _VERSION_FILE_RE.fullmatch(name)) and os.path.isfile(os.path.join(share_dir, name))
    ]
    if not versions:
        raise UsageError(f"share {share_id!r} has no stored versions in {share_dir}")
    newest = max(versions)
    return os.path.join(share_dir, f"{newest}.srb"), newest


def read_blob(path: str) -> bytes:
    """Read a blob file, refusing absurdly large files."""
    with open(path, "rb") as f:
        data = f.read(MAX_BLOB_BYTES + 1)
    if len(data) > MAX_BLOB_BYTES:
        raise UsageError(f"{path}: larger than {MAX_BLOB_BYTES} bytes, not a Strongroom blob")
    return data


def _version_arg(text: str) -> int:
    if not re.fullmatch(r"[1-9][0-9]*", text) or int(text) > 2**64 - 1:
        raise argparse.ArgumentTypeError(f"invalid share version {text!r} (1, 2, 3, ...)")
    return int(text)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line (argparse exits with status 2 on usage errors)."""
    p = argparse.ArgumentParser(
        description="Open a Strongroom tier 1 (local) blob and print the share.",
    )
    p.add_argument("--vault", required=True, metavar="DIR", help="local vault directory (local.path)")
    p.add_argument("--seed", metavar="FILE", help="raw 32-byte root seed file (default: DIR/root.seed)")
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--id", metavar="SHARE_ID", dest="share_id", help="share id")
    which.add_argument("--record", metavar="NAME", help="open the sealed record NAME (records/NAME.srb)")
    p.add_argument("--version", type=_version_arg, metavar="N", help="share version (default: newest)")
    p.add_argument("--hex", action="store_true", help="print the share as lowercase hex + newline")
    return p.parse_args(argv)


def run(args: argparse.Namespace) -> bytes:
    """Do the work for parsed arguments and return the share plaintext."""
    name = args.record if args.record is not None else args.share_id
    validate_share_id(name)  # before it is used as a path component
    vault_id, seed_check, active = load_vault(args.vault)
    seed = read_seed(args.seed or os.path.join(args.vault, "root.seed"))
    check_seed(seed, vault_id, seed_check)
    if args.record is not None:
        path, version = os.path.join(args.vault, "records", f"{name}.srb"), 0
        if not os.path.isfile(path):
            raise UsageError(f"no record {name!r} in this vault ({path} not found)")
    else:
        path, version = select_blob(args.vault, name, args.version)
    blob = read_blob(path)
    try:
        return open_local(
            blob,
            seed=seed,
            vault_id=vault_id,
            share_id=name,
            share_version=version,
            active_kek_versions=active,
        )
    except StrongroomError as exc:
        exc.blob_path = path
        raise


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    args = parse_args(argv)
    try:
        share = run(args)
    except StrongroomError as exc:
        where = getattr(exc, "blob_path", None)
        print(f"open_local_blob: error: {where + ': ' if where else ''}{exc}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as exc:
        print(f"open_local_blob: error: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_ERROR
    out = sys.stdout.buffer
    if args.hex:
        out.write(share.hex().encode("ascii") + b"\n")
    else:
        out.write(share)
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
