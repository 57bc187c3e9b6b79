#!/usr/bin/env python3
"""Open Strongroom envelope v2 blobs with the vault's recovery private key alone, from docs/format.md.

No tier key is needed: not the root seed, the KMS key or the HSM token. Any tier's blobs open, as
long as they were written after the vault's recovery key was enrolled (format version 2 with a
recovery section).

Usage:
    open_recovery_blob.py --private-key-file F --vault-id HEX --share-id ID --version N [--hex] BLOB
    open_recovery_blob.py --private-key-file F --vault DIR [--vault-id HEX] [--out OUTDIR]

The private key file holds the 32-byte X25519 recovery private key, raw or as 64 hex digits (a
newline after them is allowed); it is refused if its mode grants any group/other access.

The first form opens one blob file for the expected vault id, share id and share version (0 for a
record) and writes the share to stdout (lowercase hex and a newline with --hex).

The second form walks a copy of a vault's blobs (DIR/shares/<id>/<version>.srb and
DIR/records/<name>.srb, as tier 1 stores them and as a copy of a tier 2 prefix lays them out),
takes the vault id from DIR/vault.json unless --vault-id is given, and opens every version. Without
--out it prints one JSON object per line: {"share", "version", "createdAt", "metadata", "hex"} (the
share in hex; records have version 0). With --out it writes each share to OUTDIR/<id>/<version>
(directories 0700, files 0600, never over an existing file) and prints the same lines without "hex".
Every blob that does not open is one line on stderr; the walk goes on and exits 2 at the end.

Every error is one line on stderr and exit status 2; authentication and structural failures of a
blob say "integrity".
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
    VAULT_ID_LEN,
    StrongroomError,
    UsageError,
    validate_share_id,
)
from strongroom_recovery import PRIVATE_KEY_LEN, open_with_recovery_key  # noqa: E402

EXIT_ERROR = 2
MAX_BLOB_BYTES = (1 << 20) + (128 << 10)  # a record blob (1 MiB of ciphertext) and its header
MAX_KEY_FILE_BYTES = 4096
_VERSION_FILE_RE = re.compile(r"(0|[1-9][0-9]*)\.srb")
_RECORD_FILE_RE = re.compile(r"(.+)\.srb")


def _open_regular(path: str, what: str) -> int:
    """Open ``path`` read-only without following a final symlink or blocking on a FIFO; a regular file only."""
    flags = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise UsageError(f"{what} {path}: not found") from None
    except OSError as exc:
        raise UsageError(f"{what} {path}: cannot open ({exc.strerror}; a symbolic link?)") from None
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise UsageError(f"{what} {path}: not a regular file")
    return fd


def read_private_key(path: str) -> bytes:
    """Read the recovery private key (raw 32 bytes or 64 hex digits), refusing a group/other-readable file."""
    fd = _open_regular(path, "private key file")
    with os.fdopen(fd, "rb") as f:
        mode = stat.S_IMODE(os.fstat(f.fileno()).st_mode)
        if mode & 0o077:
            raise UsageError(
                f"private key file {path}: mode {mode:04o} allows group/other access; refusing to use it (chmod 600)"
            )
        data = f.read(MAX_KEY_FILE_BYTES + 1)
    if len(data) == PRIVATE_KEY_LEN:
        return data
    text = data.rstrip(b"\r\n")
    if len(text) == 2 * PRIVATE_KEY_LEN and re.fullmatch(rb"[0-9A-Fa-f]+", text):
        return bytes.fromhex(text.decode("ascii"))
    raise UsageError(
        f"private key file {path}: must hold the {PRIVATE_KEY_LEN}-byte recovery private key, raw or as "
        f"{2 * PRIVATE_KEY_LEN} hex digits"
    )


def read_blob(path: str) -> bytes:
    """Read a blob file (a regular file, not through a symlink), refusing absurdly large ones."""
    fd = _open_regular(path, "blob")
    with os.fdopen(fd, "rb") as f:
        data = f.read(MAX_BLOB_BYTES + 1)
    if len(data) > MAX_BLOB_BYTES:
        raise UsageError(f"blob {path}: larger than {MAX_BLOB_BYTES} bytes, not a Strongroom blob")
    return data


def vault_id_from(vault_dir: str) -> bytes:
    """The vault id of DIR/vault.json ("vaultID", 32 hex digits)."""
    path = os.path.join(vault_dir, "vault.json")
    try:
        with open(path, "rb") as f:
            state = json.loads(f.read().decode("utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{path}: not found; give the vault id with --vault-id") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise UsageError(f"{path}: not valid JSON ({exc})") from None
    value = state.get("vaultID") if isinstance(state, dict) else None
    if not isinstance(value, str) or not re.fullmatch(r"[0-9A-Fa-f]{%d}" % (2 * VAULT_ID_LEN), value):
        raise UsageError(f"{path}: 'vaultID' must be {2 * VAULT_ID_LEN} hex digits")
    return bytes.fromhex(value)


def walk(vault_dir: str) -> list[tuple[str, int, str]]:
    """Every (share id, version, blob path) of a copied vault: shares/<id>/<n>.srb and records/<name>.srb.

    Sorted by share id, then version; names that are not blob names (``.tmp-*`` and the like) are
    ignored, and so are symbolic links.
    """
    found: list[tuple[str, int, str]] = []
    shares = os.path.join(vault_dir, "shares")
    if os.path.isdir(shares):
        for share_id in sorted(os.listdir(shares)):
            directory = os.path.join(shares, share_id)
            if os.path.islink(directory) or not os.path.isdir(directory):
                continue
            try:
                validate_share_id(share_id)
            except UsageError:
                continue
            for name in os.listdir(directory):
                m = _VERSION_FILE_RE.fullmatch(name)
                path = os.path.join(directory, name)
                if m and not os.path.islink(path) and os.path.isfile(path):
                    found.append((share_id, int(m.group(1)), path))
    records = os.path.join(vault_dir, "records")
    if os.path.isdir(records):
        for name in os.listdir(records):
            m = _RECORD_FILE_RE.fullmatch(name)
            path = os.path.join(records, name)
            if not m or os.path.islink(path) or not os.path.isfile(path):
                continue
            try:
                validate_share_id(m.group(1))
            except UsageError:
                continue
            found.append((m.group(1), 0, path))
    return sorted(found, key=lambda item: (item[0], item[1]))


def write_new_file(path: str, data: bytes) -> None:
    """Write ``data`` to a new file, mode 0600, never over an existing file or through a symlink."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0), 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def _make_private_dir(path: str) -> None:
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        if os.path.islink(path) or not os.path.isdir(path):
            raise UsageError(f"{path}: exists and is not a directory") from None


def _version_arg(text: str) -> int:
    if not re.fullmatch(r"0|[1-9][0-9]*", text) or int(text) > 2**64 - 1:
        raise argparse.ArgumentTypeError(f"invalid share version {text!r} (0 for a record, 1, 2, 3, ...)")
    return int(text)


def _vault_id_arg(text: str) -> bytes:
    if not re.fullmatch(r"[0-9A-Fa-f]{%d}" % (2 * VAULT_ID_LEN), text):
        raise argparse.ArgumentTypeError(f"invalid vault id {text!r}: {2 * VAULT_ID_LEN} hex digits")
    return bytes.fromhex(text)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Parse the command line (argparse exits with status 2 on usage errors)."""
    p = argparse.ArgumentParser(
        description="Open Strongroom v2 blobs with the vault's recovery private key (no tier key needed).",
    )
    p.add_argument("--private-key-file", required=True, metavar="F",
                   help="the 32-byte recovery private key, raw or 64 hex digits (mode 0600)")
    p.add_argument("--vault-id", type=_vault_id_arg, metavar="HEX", help="the vault id (32 hex digits)")
    p.add_argument("--share-id", metavar="ID", help="one blob: its share id (or record name)")
    p.add_argument("--version", type=_version_arg, metavar="N", help="one blob: its share version (0: a record)")
    p.add_argument("--hex", action="store_true", help="one blob: print the share as lowercase hex + newline")
    p.add_argument("--vault", metavar="DIR", help="walk a copy of a vault's blobs instead of one blob")
    p.add_argument("--out", metavar="OUTDIR", help="with --vault: write each share to OUTDIR/<id>/<version>")
    p.add_argument("blob", nargs="?", metavar="BLOB", help="one blob file")
    args = p.parse_args(argv)
    if args.vault is None:
        missing = [name for name, value in (("--vault-id", args.vault_id), ("--share-id", args.share_id),
                                            ("--version", args.version), ("BLOB", args.blob)) if value is None]
        if missing:
            p.error(f"opening one blob needs {', '.join(missing)} (or walk a copy with --vault DIR)")
        if args.out is not None:
            p.error("--out goes with --vault")
    elif args.blob is not None or args.share_id is not None or args.version is not None or args.hex:
        p.error("--vault walks a whole copy: BLOB, --share-id, --version and --hex go without it")
    return args


def open_one(args: argparse.Namespace, private_key: bytes) -> bytes:
    """The single-blob form: the share's plaintext."""
    validate_share_id(args.share_id)
    blob = read_blob(args.blob)
    try:
        return open_with_recovery_key(
            blob, private_key=private_key, vault_id=args.vault_id, share_id=args.share_id, share_version=args.version
        ).plaintext
    except StrongroomError as exc:
        exc.blob_path = args.blob
        raise


def open_all(args: argparse.Namespace, private_key: bytes, out, err) -> int:
    """The walk form: opens every version, writes one line per version; returns the exit status."""
    vault_id = args.vault_id if args.vault_id is not None else vault_id_from(args.vault)
    if args.out is not None:
        _make_private_dir(args.out)
    failures = 0
    opened = 0
    for share_id, version, path in walk(args.vault):
        try:
            result = open_with_recovery_key(
                read_blob(path), private_key=private_key, vault_id=vault_id, share_id=share_id, share_version=version
            )
        except StrongroomError as exc:
            failures += 1
            print(f"open_recovery_blob: error: {path}: {exc}", file=err)
            continue
        line = {
            "share": share_id,
            "version": version,
            "createdAt": result.envelope.created_at,
            "metadata": result.envelope.metadata.decode("utf-8"),
        }
        if args.out is not None:
            directory = os.path.join(args.out, share_id)
            _make_private_dir(directory)
            write_new_file(os.path.join(directory, str(version)), result.plaintext)
        else:
            line["hex"] = result.plaintext.hex()
        out.write(json.dumps(line, sort_keys=True) + "\n")
        opened += 1
    out.flush()
    print(f"open_recovery_blob: opened {opened} blob(s), {failures} failed", file=err)
    if opened == 0 and failures == 0:
        print(f"open_recovery_blob: error: no blobs found under {args.vault}", file=err)
        return EXIT_ERROR
    return EXIT_ERROR if failures else 0


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the process exit status."""
    args = parse_args(argv)
    try:
        private_key = read_private_key(args.private_key_file)
        if args.vault is not None:
            return open_all(args, private_key, sys.stdout, sys.stderr)
        share = open_one(args, private_key)
    except StrongroomError as exc:
        where = getattr(exc, "blob_path", None)
        print(f"open_recovery_blob: error: {where + ': ' if where else ''}{exc}", file=sys.stderr)
        return EXIT_ERROR
    except OSError as exc:
        print(f"open_recovery_blob: error: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_ERROR
    stdout = sys.stdout.buffer
    stdout.write(share.hex().encode("ascii") + b"\n" if args.hex else share)
    stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
