#!/usr/bin/env python3
"""Benchmark peer for Strongroom tier 1 (local), written with Python 3 + `cryptography`.

It does per share the same work as Strongroom's tier 1, so `strongroom bench --tier local` and this
script can be compared on one machine in one run (see scripts/bench/compare):

  store_durable  random 32-byte DEK and 12-byte IV; AES-256-GCM seal with the envelope header as AAD;
                 AES key wrap (RFC 3394) of the DEK under KEK 1; envelope v1 (docs/format.md); then the
                 durable create of DirectoryBlobStore: mkdir shares/<id> (0700, fsync shares/ when new),
                 temp file (O_CREAT|O_EXCL, 0600) + fsync, link(2) to <version>.srb (create if absent),
                 unlink temp, fsync the share directory.
  load           list the share directory, pick the newest <version>.srb, read, parse, check vault/tier/
                 KEK id/share id/version, unwrap the DEK (KEK cached), AES-GCM open with the header as AAD.
  rotate         for every blob: read, parse, check, unwrap with KEK 1, AES-GCM open (Strongroom's rewrap
                 proves the DEK opens the ciphertext before committing), wrap with KEK 2, unwrap again to
                 verify, rewrite the key section, temp file + fsync, rename over the blob, fsync the
                 share directory.

KEK v = HKDF-SHA256(ikm = root seed, salt = vault id, info = "strongroom/tier1/kek/<v>", L = 32), derived
once per version and cached, as LocalKeyring does.

Not mirrored (all small next to the fsyncs): Strongroom's store also takes a shared flock on <dir>/.lock
and reads vault.json per call; Strongroom keeps secrets in locked (mlock'd) memory; rotation also
journals the rotation in vault.json (two durable writes per run) and sweeps temp files per share.

Output: one JSON object per line on stdout:
  {"impl":"python-cryptography","tier":"local","op":...,"count":N,"seconds":S,"ops_per_s":X}
(rotate adds "peak_rss_mib"), and a human-readable line per operation on stderr.
Usage: peer_local.py --dir DIR [--count 2000] [--load-count 20000] [--rotate-count 10000]
"""

import argparse
import errno
import json
import os
import resource
import struct
import sys
import time

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.keywrap import aes_key_unwrap, aes_key_wrap

IMPL = "python-cryptography"
MAGIC = b"SRSH"
FORMAT_VERSION = 1
TIER_LOCAL = 1
MECH_AES_KEY_WRAP = 0x2109
MAX_METADATA = 4096
MAX_SHARE = 65536
READ_LIMIT = 1 << 20
SHARE_BYTES = 32


class Malformed(Exception):
    pass


# ---------------------------------------------------------------------------------------------------
# Keyring (tier 1)


class Keyring:
    def __init__(self, vault_id: bytes, seed: bytes):
        self.vault_id = vault_id
        self.seed = seed
        self.kek_id = vault_id.hex()
        self._cache = {}

    def kek(self, version: int) -> bytes:
        if version < 1:
            raise Malformed("KEK version 0 does not exist")
        key = self._cache.get(version)
        if key is None:
            key = HKDF(
                algorithm=hashes.SHA256(),
                length=32,
                salt=self.vault_id,
                info=b"strongroom/tier1/kek/%d" % version,
            ).derive(self.seed)
            if len(self._cache) < 64:  # bounded, like LocalKeyring
                self._cache[version] = key
        return key

    # The three operations Vault needs from a keyring (peer_pkcs11.py's HsmKeyring has the same ones).

    def seal(self, version: int, secret: bytes, aad: bytes):
        """(wrapped DEK, iv, ciphertext, tag): a fresh DEK seals the secret and is wrapped by KEK version."""
        kek = self.kek(version)
        dek = os.urandom(32)
        iv = os.urandom(12)
        sealed = AESGCM(dek).encrypt(iv, secret, aad)
        return aes_key_wrap(kek, dek), iv, sealed[:-16], sealed[-16:]

    def open(self, env: "Envelope", aad: bytes) -> bytes:
        dek = aes_key_unwrap(self.kek(env.kek_version), env.wrapped)
        return AESGCM(dek).decrypt(env.iv, env.ct + env.tag, aad)

    def rewrap(self, env: "Envelope", aad: bytes, target: int) -> bytes:
        """The DEK of env wrapped by KEK version target, verified both ways before it is returned."""
        dek = aes_key_unwrap(self.kek(env.kek_version), env.wrapped)
        AESGCM(dek).decrypt(env.iv, env.ct + env.tag, aad)  # prove the DEK opens this ciphertext
        new_kek = self.kek(target)
        wrapped = aes_key_wrap(new_kek, dek)
        if aes_key_unwrap(new_kek, wrapped) != dek:
            raise RuntimeError("rewrapped data key did not round-trip")
        return wrapped


# ---------------------------------------------------------------------------------------------------
# Envelope v1 (docs/format.md)


def header(vault_id: bytes, share_id: bytes, version: int, created: int, metadata: bytes = b"",
           tier: int = TIER_LOCAL) -> bytes:
    return b"".join((
        MAGIC,
        struct.pack(">BBH", FORMAT_VERSION, tier, 0),
        vault_id,
        struct.pack(">B", len(share_id)),
        share_id,
        struct.pack(">QQH", version, created, len(metadata)),
        metadata,
    ))


def key_section(kek_id: bytes, kek_version: int, wrapped: bytes, mechanism: int = MECH_AES_KEY_WRAP) -> bytes:
    """Fields 12-17; the wrap mechanism is AES key wrap unless given (peer_cloud.py's KMS mechanism)."""
    return b"".join((
        struct.pack(">B", len(kek_id)),
        kek_id,
        struct.pack(">IIH", kek_version, mechanism, len(wrapped)),
        wrapped,
    ))


def body(iv: bytes, ct: bytes, tag: bytes) -> bytes:
    return b"".join((struct.pack(">B", len(iv)), iv, struct.pack(">I", len(ct)), ct, tag))


class Envelope:
    __slots__ = (
        "tier", "vault_id", "share_id", "version", "created", "metadata", "header_end",
        "kek_id", "kek_version", "mechanism", "wrapped", "iv", "ct", "tag", "raw",
    )

    @classmethod
    def parse(cls, raw: bytes) -> "Envelope":
        e = cls()
        e.raw = raw
        n = len(raw)
        o = 0

        def take(k: int) -> int:
            nonlocal o
            if k < 0 or n - o < k:
                raise Malformed("truncated")
            start = o
            o += k
            return start

        p = take(4)
        if raw[p:p + 4] != MAGIC:
            raise Malformed("bad magic")
        p = take(4)
        fmt, e.tier, flags = struct.unpack_from(">BBH", raw, p)
        if fmt != FORMAT_VERSION:
            raise Malformed("unknown format version %d" % fmt)
        if e.tier not in (1, 2, 3):
            raise Malformed("unknown tier code")
        if flags != 0:
            raise Malformed("reserved flags are set")
        p = take(16)
        e.vault_id = raw[p:p + 16]
        id_len = raw[take(1)]
        p = take(id_len)
        e.share_id = raw[p:p + id_len]
        p = take(18)
        e.version, e.created, meta_len = struct.unpack_from(">QQH", raw, p)
        if meta_len > MAX_METADATA:
            raise Malformed("metadata too long")
        p = take(meta_len)
        e.metadata = raw[p:p + meta_len]
        e.header_end = o
        kek_len = raw[take(1)]
        if kek_len == 0:
            raise Malformed("invalid KEK id")
        p = take(kek_len)
        e.kek_id = raw[p:p + kek_len]
        p = take(10)
        e.kek_version, e.mechanism, wrapped_len = struct.unpack_from(">IIH", raw, p)
        p = take(wrapped_len)
        e.wrapped = raw[p:p + wrapped_len]
        iv_len = raw[take(1)]
        if iv_len != 12:
            raise Malformed("IV length %d, expected 12" % iv_len)
        p = take(12)
        e.iv = raw[p:p + 12]
        p = take(4)
        (ct_len,) = struct.unpack_from(">I", raw, p)
        if ct_len > MAX_SHARE:
            raise Malformed("ciphertext too long")
        p = take(ct_len)
        e.ct = raw[p:p + ct_len]
        p = take(16)
        e.tag = raw[p:p + 16]
        if o != n:
            raise Malformed("trailing bytes after the tag")
        return e

    def header_bytes(self) -> bytes:
        return self.raw[:self.header_end]


# ---------------------------------------------------------------------------------------------------
# Durable file operations (DirectoryBlobStore)


def fsync_dir(path: str) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_temporary(directory: str, data: bytes) -> str:
    tmp = "%s/.tmp-%s" % (directory, os.urandom(8).hex())
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    os.close(fd)
    return tmp


def read_file(path: str):
    """(bytes, revision) or None when absent; revision = ino:size:mtime_ns, as DirectoryBlobStore."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    try:
        st = os.fstat(fd)
        if st.st_size > READ_LIMIT:
            raise Malformed("%s is larger than %d bytes" % (path, READ_LIMIT))
        chunks = []
        left = st.st_size
        while left > 0:
            chunk = os.read(fd, left)
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks), (st.st_ino, st.st_size, st.st_mtime_ns)
    finally:
        os.close(fd)


def revision(path: str):
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return (st.st_ino, st.st_size, st.st_mtime_ns)


def create_blob(shares_dir: str, share_dir: str, name: str, data: bytes) -> bool:
    """Durable create-if-absent. False when the name already exists."""
    try:
        os.mkdir(share_dir, 0o700)
        fsync_dir(shares_dir)
    except FileExistsError:
        pass
    tmp = write_temporary(share_dir, data)
    try:
        try:
            os.link(tmp, "%s/%s" % (share_dir, name))
        except FileExistsError:
            return False
        os.unlink(tmp)
        tmp = None
        fsync_dir(share_dir)
        return True
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def replace_blob(share_dir: str, path: str, data: bytes) -> None:
    tmp = write_temporary(share_dir, data)
    try:
        os.rename(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    fsync_dir(share_dir)


def version_numbers(share_dir: str):
    try:
        names = os.listdir(share_dir)
    except FileNotFoundError:
        return []
    out = []
    for name in names:
        if name.startswith(".") or not name.endswith(".srb"):
            continue
        digits = name[:-4]
        if digits and digits[0] != "0" and digits.isdigit() and digits.isascii():
            out.append(int(digits))
    out.sort()
    return out


# ---------------------------------------------------------------------------------------------------
# Store, load, rewrap


class Vault:
    tier = TIER_LOCAL  # the envelope's tier byte (peer_pkcs11.py's subclass sets 3)

    def __init__(self, root: str, vault_id: bytes, keyring: Keyring):
        self.root = root
        self.shares = os.path.join(root, "shares")
        self.vault_id = vault_id
        self.keyring = keyring
        self.kek_id = keyring.kek_id.encode()
        self.current_kek = 1

    def store(self, share_id: str, secret: bytes) -> int:
        if not 1 <= len(secret) <= MAX_SHARE:
            raise ValueError("share size")
        sid = share_id.encode()
        share_dir = "%s/%s" % (self.shares, share_id)
        existing = version_numbers(share_dir)
        version = (existing[-1] if existing else 0) + 1
        while True:
            created = int(time.time())
            aad = header(self.vault_id, sid, version, created, tier=self.tier)
            wrapped, iv, ct, tag = self.keyring.seal(self.current_kek, secret, aad)
            blob = b"".join((
                aad,
                key_section(self.kek_id, self.current_kek, wrapped),
                body(iv, ct, tag),
            ))
            if create_blob(self.shares, share_dir, "%d.srb" % version, blob):
                return version
            version += 1  # another writer took this version number first

    def checked(self, raw: bytes, sid: bytes, version: int) -> Envelope:
        env = Envelope.parse(raw)
        if env.tier != self.tier or env.vault_id != self.vault_id or env.kek_id != self.kek_id:
            raise Malformed("blob sealed for another vault, tier or KEK")
        if env.share_id != sid or env.version != version:
            raise Malformed("blob belongs to another share id or version")
        if env.mechanism != MECH_AES_KEY_WRAP:
            raise Malformed("wrap mechanism is not AES key wrap")
        return env

    def load(self, share_id: str) -> bytes:
        share_dir = "%s/%s" % (self.shares, share_id)
        versions = version_numbers(share_dir)
        if not versions:
            raise KeyError(share_id)
        version = versions[-1]
        got = read_file("%s/%d.srb" % (share_dir, version))
        if got is None:
            raise KeyError(share_id)
        env = self.checked(got[0], share_id.encode(), version)
        # The header's fields 1-8 were checked equal to the expected ones, so the blob's header bytes
        # are the AAD (docs/format.md, "Associated data").
        return self.keyring.open(env, env.header_bytes())

    def rewrap_blob(self, share_id: str, version: int, target: int) -> bool:
        share_dir = "%s/%s" % (self.shares, share_id)
        path = "%s/%d.srb" % (share_dir, version)
        got = read_file(path)
        if got is None:
            return False
        raw, rev = got
        env = self.checked(raw, share_id.encode(), version)
        if env.kek_version == target:
            return False
        aad = env.header_bytes()
        wrapped = self.keyring.rewrap(env, aad, target)
        blob = b"".join((aad, key_section(self.kek_id, target, wrapped), body(env.iv, env.ct, env.tag)))
        if revision(path) != rev:  # replace(ifRevision:)
            raise RuntimeError("the blob changed while it was being rewrapped")
        replace_blob(share_dir, path, blob)
        return True

    def rotate(self) -> int:
        target = self.current_kek + 1
        work = []
        for name in sorted(os.listdir(self.shares)):
            if name.startswith("."):
                continue
            work.append((name, version_numbers("%s/%s" % (self.shares, name))))
        done = 0
        for share_id, versions in work:
            for version in versions:
                if self.rewrap_blob(share_id, version, target):
                    done += 1
        self.current_kek = target
        return done


# ---------------------------------------------------------------------------------------------------
# Benchmark driver


def emit(op: str, count: int, seconds: float, *, impl: str = IMPL, tier: str = "local",
         concurrency=None, **extra) -> None:
    """One JSON line on stdout and one human line on stderr; concurrency, when given, follows op."""
    rate = count / seconds if seconds > 0 else 0.0
    record = {"impl": impl, "tier": tier, "op": op}
    if concurrency is not None:
        record["concurrency"] = concurrency
    record.update({"count": count, "seconds": round(seconds, 6), "ops_per_s": round(rate, 3)})
    record.update(extra)
    print(json.dumps(record, separators=(",", ":")), flush=True)
    more = "".join(", %s %s" % (k, v) for k, v in extra.items())
    print("%s %s %-13s %7d ops in %9.3f s = %10.1f ops/s%s" % (impl, tier, op, count, seconds, rate, more),
          file=sys.stderr, flush=True)


def positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def add_arguments(ap: argparse.ArgumentParser) -> None:
    """The options every peer takes (peer_pkcs11.py adds its own)."""
    ap.add_argument("--dir", required=True, help="empty or absent directory to hold the peer's vault")
    ap.add_argument("--count", type=positive, default=2000, help="shares stored durably (timed)")
    ap.add_argument("--load-count", type=positive, default=20000, help="loads, cycling through the shares")
    ap.add_argument("--rotate-count", type=positive, default=10000,
                    help="shares in the vault when rotating (extra ones stored untimed)")


def empty_root(path: str, name: str):
    """The absolute path of an empty directory (created 0700 when absent), or None (reported) if not empty."""
    root = os.path.abspath(path)
    os.makedirs(root, mode=0o700, exist_ok=True)
    if os.listdir(root):
        print("%s: %s is not empty" % (name, root), file=sys.stderr)
        return None
    return root


def run(vault: Vault, args, name: str = "peer_local.py", **labels) -> None:
    """The timed operations on a set-up vault, each reported with emit(..., **labels)."""
    ids = ["s-%06d" % i for i in range(args.count)]
    secrets = [os.urandom(SHARE_BYTES) for _ in ids]

    # store_durable
    t0 = time.perf_counter()
    for share_id, secret in zip(ids, secrets):
        vault.store(share_id, secret)
    emit("store_durable", len(ids), time.perf_counter() - t0, **labels)

    # load: cycle through the stored shares.
    n = len(ids)
    t0 = time.perf_counter()
    for i in range(args.load_count):
        vault.load(ids[i % n])
    emit("load", args.load_count, time.perf_counter() - t0, **labels)

    step = max(1, n // 64)
    for i in range(0, n, step):  # untimed correctness check on a sample
        if vault.load(ids[i]) != secrets[i]:
            raise SystemExit("%s: share %s did not round-trip" % (name, ids[i]))

    # rotate: the vault holds max(count, rotate-count) shares; extra ones are stored untimed.
    for i in range(args.count, args.rotate_count):
        vault.store("s-%06d" % i, os.urandom(SHARE_BYTES))
    t0 = time.perf_counter()
    rotated = vault.rotate()
    seconds = time.perf_counter() - t0
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    emit("rotate", rotated, seconds, peak_rss_mib=round(peak_kib / 1024.0, 1), **labels)

    for i in range(0, n, step):  # untimed: shares still open, now under KEK 2
        if vault.load(ids[i]) != secrets[i]:
            raise SystemExit("%s: share %s did not survive rotation" % (name, ids[i]))


def main() -> int:
    ap = argparse.ArgumentParser(description="Strongroom tier 1 benchmark peer (Python + cryptography)")
    add_arguments(ap)
    args = ap.parse_args()

    root = empty_root(args.dir, "peer_local.py")
    if root is None:
        return 2

    # Setup (untimed): vault id, root seed, shares/ directory.
    vault_id = os.urandom(16)
    keyring = Keyring(vault_id, os.urandom(32))
    vault = Vault(root, vault_id, keyring)
    os.mkdir(vault.shares, 0o700)
    fsync_dir(root)
    keyring.kek(1)

    run(vault, args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
