"""Strongroom envelope formats v1 and v2: an independent implementation from docs/format.md.

This module is written from the specification text alone (docs/format.md), not from
the Swift sources, so that it can serve as a second implementation of the blob
format. It provides:

* the tier 1 ("local") key derivations (KEK version *v*, seed check),
* a strict parser for envelope v1 and v2 blobs (:func:`parse_envelope`); v2 has a list of key
  sections: the tier's, then optionally the recovery section (the data key sealed with HPKE to the
  vault's recovery public key, see :mod:`strongroom_recovery`),
* a tier 1 opener (:func:`open_local`, v1 and v2) that checks the binding of the blob to the
  expected vault / share id / share version and decrypts the share,
* a deterministic tier 1 sealer (:func:`seal_local`) used by the worked example and
  the tests (it takes the DEK and IV as arguments; it is not a key generator).

Only the standard library and ``cryptography`` are used.
"""

from __future__ import annotations

import hmac
import json
import re
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from cryptography.hazmat.primitives.keywrap import (
    InvalidUnwrap,
    aes_key_unwrap,
    aes_key_wrap,
)

# --- Constants from the spec -------------------------------------------------

MAGIC = b"SRSH"  # field 1
FORMAT_VERSION = 1  # field 2
FORMAT_VERSION_V2 = 2  # field 2 of an envelope with key sections
SECTION_TIER, SECTION_RECOVERY = 1, 2  # v2 key section kinds
TIER_LOCAL, TIER_CLOUD, TIER_HSM = 1, 2, 3  # field 3
FLAGS = 0  # field 4 (reserved)
VAULT_ID_LEN = 16  # field 5
SHARE_ID_MAX = 128  # field 6
METADATA_MAX = 4096  # field 10
KEK_ID_MAX = 255  # field 12
MECH_AES_KEY_WRAP = 0x00002109  # field 15, CKM_AES_KEY_WRAP (RFC 3394)
DEK_LEN = 32  # AES-256 data key
WRAPPED_DEK_LEN = 40  # field 16 for a 32-byte DEK under RFC 3394
IV_LEN = 12  # fields 18/19
CIPHERTEXT_MAX = 65536  # field 20
RECORD_VERSION = 0  # field 8 of a record (docs/format.md, "Records")
RECORD_CIPHERTEXT_MAX = 1 << 20  # field 20 of a record
TAG_LEN = 16  # field 22
ROOT_SEED_LEN = 32
SEED_CHECK_LEN = 16

KEK_INFO_PREFIX = b"strongroom/tier1/kek/"
SEED_CHECK_INFO = b"strongroom/tier1/seed-check"

UINT64_MAX = 2**64 - 1
UINT32_MAX = 2**32 - 1

#: Field number -> name, as in the layout table of docs/format.md.
FIELD_NAMES = {
    1: "magic",
    2: "format version",
    3: "tier",
    4: "flags",
    5: "vault id",
    6: "share id length",
    7: "share id",
    8: "share version",
    9: "created at",
    10: "metadata length",
    11: "metadata",
    12: "KEK id length",
    13: "KEK id",
    14: "KEK version",
    15: "wrap mechanism",
    16: "wrapped DEK length",
    17: "wrapped DEK",
    18: "IV length",
    19: "IV",
    20: "ciphertext length",
    21: "ciphertext",
    22: "tag",
}

#: Envelope v2 fields that v1 has not; spans name them by these strings (v1 fields keep their numbers).
V2_FIELDS = (
    "section count",
    "section kind",
    "section length",
    "KEM id",
    "KDF id",
    "AEAD id",
    "recovery key fingerprint",
    "enc",
    "sealed data key",
)
FIELD_NAMES.update({name: name for name in V2_FIELDS})

_SHARE_ID_RE = re.compile(r"[A-Za-z0-9._-]{1,128}")


# --- Errors ------------------------------------------------------------------


class StrongroomError(Exception):
    """Base class for every error this module raises on purpose."""


class IntegrityError(StrongroomError):
    """The blob is malformed, not bound to the expected share, or fails authentication.

    The message always contains the word "integrity".
    """

    def __init__(self, detail: str):
        super().__init__(f"integrity check failed: {detail}")
        self.detail = detail


class WrongSeedError(StrongroomError):
    """The root seed does not match the vault's seed check value."""

    def __init__(self) -> None:
        super().__init__("wrong root seed")


class UsageError(StrongroomError):
    """Bad caller-supplied input (share id, version, vault id, ...)."""


# --- Field validation ----------------------------------------------------------


def validate_share_id(share_id: str) -> None:
    """Check a share id against field 7's rules; raise :class:`UsageError` if invalid.

    Rules: 1..128 ASCII characters from ``[A-Za-z0-9._-]``, not starting with ``.``
    or ``-``, and not containing ``..``.
    """
    if not isinstance(share_id, str) or not _SHARE_ID_RE.fullmatch(share_id):
        raise UsageError(
            f"invalid share id {share_id!r}: must be 1..128 characters of [A-Za-z0-9._-]"
        )
    if share_id[0] in ".-":
        raise UsageError(f"invalid share id {share_id!r}: must not start with '.' or '-'")
    if ".." in share_id:
        raise UsageError(f"invalid share id {share_id!r}: must not contain '..'")


def _check_metadata(raw: bytes) -> None:
    """Check field 11: empty, or a UTF-8 JSON object mapping strings to strings.

    Duplicate keys are refused. The byte-level canonical form (key order, escaping)
    is deliberately not re-derived here; the bytes are authenticated through the AAD.
    """
    if not raw:
        return

    def _no_duplicates(pairs):
        obj = {}
        for key, value in pairs:
            if key in obj:
                raise ValueError(f"duplicate key {key!r}")
            obj[key] = value
        return obj

    try:
        text = raw.decode("utf-8", errors="strict")
        obj = json.loads(text, object_pairs_hook=_no_duplicates)
    except (UnicodeDecodeError, ValueError) as exc:
        raise IntegrityError(f"metadata is not valid UTF-8 JSON ({exc})") from None
    if not isinstance(obj, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in obj.items()
    ):
        raise IntegrityError("metadata is not a JSON object of string to string")


def canonical_metadata(metadata: dict[str, str]) -> bytes:
    """Encode a string->string dict as field 11 bytes: sorted keys, no spaces, UTF-8.

    An empty dict encodes as empty bytes. Non-ASCII characters are written as raw
    UTF-8 and "/" is not escaped (see the report: the spec does not fix escaping).
    """
    if not metadata:
        return b""
    return json.dumps(
        metadata, sort_keys=True, separators=(",", ":"), ensure_ascii=False
    ).encode("utf-8")


# --- Key derivation (tier 1) -----------------------------------------------------


def _hkdf(seed: bytes, vault_id: bytes, info: bytes, length: int) -> bytes:
    """HKDF-SHA256 (RFC 5869) with IKM = root seed, salt = vault id bytes."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=vault_id, info=info).derive(seed)


def derive_kek(seed: bytes, vault_id: bytes, kek_version: int) -> bytes:
    """Derive tier 1 KEK version *v*: info = ``strongroom/tier1/kek/<v in decimal>``, L = 32."""
    if not 1 <= kek_version <= UINT32_MAX:
        raise UsageError(f"KEK version out of range: {kek_version}")
    info = KEK_INFO_PREFIX + str(kek_version).encode("ascii")
    return _hkdf(seed, vault_id, info, 32)


def derive_seed_check(seed: bytes, vault_id: bytes) -> bytes:
    """Derive the 16-byte seed check value (info = ``strongroom/tier1/seed-check``)."""
    return _hkdf(seed, vault_id, SEED_CHECK_INFO, SEED_CHECK_LEN)


def check_seed(seed: bytes, vault_id: bytes, expected_check: bytes) -> None:
    """Raise :class:`WrongSeedError` unless the seed's check value equals ``expected_check``."""
    if not hmac.compare_digest(derive_seed_check(seed, vault_id), expected_check):
        raise WrongSeedError()


# --- Envelope structure ------------------------------------------------------------


@dataclass(frozen=True)
class Envelope:
    """A structurally valid v1 or v2 envelope, as parsed from blob bytes.

    ``header`` is the blob's bytes of fields 1-11 (offset 0 up to the end of field 11).
    ``prefix_len`` is the length of fields 1-8 (the part the reader rebuilds itself).
    ``spans`` gives each field's byte range in the blob, in order.
    """

    tier: int
    flags: int
    vault_id: bytes
    share_id: str
    share_version: int
    created_at: int
    metadata: bytes
    kek_id: str
    kek_version: int
    mechanism: int
    wrapped_dek: bytes
    iv: bytes
    ciphertext: bytes
    tag: bytes
    header: bytes
    prefix_len: int
    spans: tuple[tuple[int | str, int, int], ...]  # (field number or v2 field name, start, end)
    format_version: int = FORMAT_VERSION
    #: v2: the recovery section, or None (v1, or a v2 blob without one).
    recovery: "RecoverySection | None" = None
    #: v2: the recovery section's bytes as stored (kind, length, body), b"" when there is none.
    recovery_section: bytes = b""

    @property
    def share_aad(self) -> bytes:
        """The share's AES-256-GCM AAD as stored: the header, then (v2) the whole recovery section."""
        return self.header + self.recovery_section


@dataclass(frozen=True)
class RecoverySection:
    """Envelope v2 key section kind 2: the data key sealed with HPKE to the recovery public key."""

    kem_id: int
    kdf_id: int
    aead_id: int
    fingerprint: bytes  # SHA-256 of the recovery public key
    enc: bytes  # HPKE encapsulated key (32)
    sealed_data_key: bytes  # AES-256-GCM ciphertext of the 32-byte data key, then its tag (48)


def _field_label(field: int | str) -> str:
    return f"{FIELD_NAMES[field]} (field {field})" if isinstance(field, int) else f"the v2 {field}"


class _Reader:
    """Bounds-checked big-endian cursor over blob bytes that records each field's span."""

    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0
        self.spans: list[tuple[int, int, int]] = []  # (field number, start, end)

    def take(self, n: int, field: int | str) -> bytes:
        if self.pos + n > len(self.data):
            raise IntegrityError(
                f"blob truncated in {_field_label(field)}: need {n} bytes "
                f"at offset {self.pos}, blob is {len(self.data)} bytes"
            )
        out = self.data[self.pos : self.pos + n]
        self.spans.append((field, self.pos, self.pos + n))
        self.pos += n
        return out

    def uint(self, size: int, field: int | str) -> int:
        return int.from_bytes(self.take(size, field), "big")


RECOVERY_KEM_ID = 0x0020  # DHKEM(X25519, HKDF-SHA256)
RECOVERY_KDF_ID = 0x0001  # HKDF-SHA256
RECOVERY_AEAD_ID = 0x0002  # AES-256-GCM
FINGERPRINT_LEN = 32  # SHA-256 of the recovery public key
ENC_LEN = 32  # HPKE enc: the ephemeral X25519 public key
SEALED_DATA_KEY_LEN = DEK_LEN + TAG_LEN  # 48
RECOVERY_BODY_LEN = 2 + 2 + 2 + FINGERPRINT_LEN + ENC_LEN + SEALED_DATA_KEY_LEN  # 118


def _parse_tier_key_fields(r: _Reader, end: int | None) -> tuple[str, int, int, bytes]:
    """Fields 12-17 (v1's key section, v2's tier section body); ``end``: where a v2 body must end."""
    k = r.uint(1, 12)
    if k < 1:
        raise IntegrityError("KEK id length (field 12) is 0, must be 1..255")
    raw_kek_id = r.take(k, 13)
    try:
        kek_id = raw_kek_id.decode("utf-8", errors="strict")
    except UnicodeDecodeError:
        raise IntegrityError("KEK id (field 13) is not valid UTF-8") from None
    kek_version = r.uint(4, 14)
    if kek_version < 1:
        raise IntegrityError("KEK version (field 14) is 0, must be >= 1")
    mechanism = r.uint(4, 15)
    w = r.uint(2, 16)
    wrapped_dek = r.take(w, 17)
    if end is not None and r.pos != end:
        raise IntegrityError(
            f"the v2 tier section's length says it ends at offset {end}, its fields end at {r.pos}"
        )
    return kek_id, kek_version, mechanism, wrapped_dek


def _parse_recovery_body(r: _Reader, length: int) -> RecoverySection:
    """The body of a v2 recovery section (kind 2): only the one suite Strongroom defines is accepted."""
    if length != RECOVERY_BODY_LEN:
        raise IntegrityError(f"the v2 recovery section is {length} bytes, must be {RECOVERY_BODY_LEN}")
    kem, kdf, aead = r.uint(2, "KEM id"), r.uint(2, "KDF id"), r.uint(2, "AEAD id")
    if (kem, kdf, aead) != (RECOVERY_KEM_ID, RECOVERY_KDF_ID, RECOVERY_AEAD_ID):
        raise IntegrityError(
            f"the v2 recovery section names the HPKE suite KEM 0x{kem:04x}, KDF 0x{kdf:04x}, AEAD 0x{aead:04x}; "
            f"only 0x{RECOVERY_KEM_ID:04x}/0x{RECOVERY_KDF_ID:04x}/0x{RECOVERY_AEAD_ID:04x} "
            "(DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM) is defined"
        )
    return RecoverySection(
        kem_id=kem,
        kdf_id=kdf,
        aead_id=aead,
        fingerprint=r.take(FINGERPRINT_LEN, "recovery key fingerprint"),
        enc=r.take(ENC_LEN, "enc"),
        sealed_data_key=r.take(SEALED_DATA_KEY_LEN, "sealed data key"),
    )


def parse_envelope(blob: bytes) -> Envelope:
    """Parse a v1 or v2 blob with strict structural checks; raise :class:`IntegrityError` on any defect.

    Checks every fixed value and range in the layout table that does not depend on
    the tier's key material. Tier-specific checks (KEK id, mechanism, wrapped DEK
    length) are left to the tier opener. v2: a section count of 1 or 2; exactly one tier
    section (kind 1), first, whose fields fill its length exactly; at most one recovery
    section (kind 2), after it, of the one defined suite and size.
    """
    r = _Reader(blob)
    if r.take(4, 1) != MAGIC:
        raise IntegrityError("bad magic (field 1): not a Strongroom blob")
    fmt = r.uint(1, 2)
    if fmt not in (FORMAT_VERSION, FORMAT_VERSION_V2):
        raise IntegrityError(f"unsupported format version {fmt} (field 2); this reader knows 1 and 2")
    tier = r.uint(1, 3)
    if tier not in (TIER_LOCAL, TIER_CLOUD, TIER_HSM):
        raise IntegrityError(f"unknown tier {tier} (field 3)")
    flags = r.uint(2, 4)
    if flags != FLAGS:
        raise IntegrityError(f"reserved flags (field 4) are 0x{flags:04x}, must be 0")
    vault_id = r.take(VAULT_ID_LEN, 5)
    n = r.uint(1, 6)
    if not 1 <= n <= SHARE_ID_MAX:
        raise IntegrityError(f"share id length (field 6) {n} out of range 1..{SHARE_ID_MAX}")
    raw_share_id = r.take(n, 7)
    try:
        share_id = raw_share_id.decode("ascii")
        validate_share_id(share_id)
    except (UnicodeDecodeError, UsageError):
        raise IntegrityError(f"share id (field 7) {raw_share_id!r} is not a valid share id") from None
    share_version = r.uint(8, 8)  # 0: a record
    prefix_len = r.pos
    created_at = r.uint(8, 9)
    m = r.uint(2, 10)
    if m > METADATA_MAX:
        raise IntegrityError(f"metadata length (field 10) {m} exceeds {METADATA_MAX}")
    metadata = r.take(m, 11)
    _check_metadata(metadata)
    header = blob[: r.pos]

    recovery: RecoverySection | None = None
    recovery_section = b""
    if fmt == FORMAT_VERSION:
        kek_id, kek_version, mechanism, wrapped_dek = _parse_tier_key_fields(r, None)
    else:
        count = r.uint(1, "section count")
        if count not in (1, 2):
            raise IntegrityError(f"the v2 section count is {count}, must be 1 or 2")
        kind = r.uint(1, "section kind")
        if kind != SECTION_TIER:
            raise IntegrityError(f"the first v2 key section is of kind {kind}, must be the tier section (kind 1)")
        length = r.uint(2, "section length")
        kek_id, kek_version, mechanism, wrapped_dek = _parse_tier_key_fields(r, r.pos + length)
        if count == 2:
            start = r.pos
            kind = r.uint(1, "section kind")
            if kind != SECTION_RECOVERY:
                raise IntegrityError(
                    f"the second v2 key section is of kind {kind}, must be the recovery section (kind 2)"
                )
            length = r.uint(2, "section length")
            recovery = _parse_recovery_body(r, length)
            recovery_section = blob[start : r.pos]

    iv_len = r.uint(1, 18)
    if iv_len != IV_LEN:
        raise IntegrityError(f"IV length (field 18) is {iv_len}, must be {IV_LEN}")
    iv = r.take(IV_LEN, 19)
    c = r.uint(4, 20)
    limit = RECORD_CIPHERTEXT_MAX if share_version == RECORD_VERSION else CIPHERTEXT_MAX
    if not 1 <= c <= limit:
        raise IntegrityError(f"ciphertext length (field 20) {c} out of range 1..{limit}")
    ciphertext = r.take(c, 21)
    tag = r.take(TAG_LEN, 22)
    if r.pos != len(blob):
        raise IntegrityError(f"{len(blob) - r.pos} trailing bytes after the tag (field 22)")

    return Envelope(
        tier=tier,
        flags=flags,
        vault_id=vault_id,
        share_id=share_id,
        share_version=share_version,
        created_at=created_at,
        metadata=metadata,
        kek_id=kek_id,
        kek_version=kek_version,
        mechanism=mechanism,
        wrapped_dek=wrapped_dek,
        iv=iv,
        ciphertext=ciphertext,
        tag=tag,
        header=header,
        prefix_len=prefix_len,
        spans=tuple(r.spans),
        format_version=fmt,
        recovery=recovery,
        recovery_section=recovery_section,
    )


def build_prefix(
    tier: int, vault_id: bytes, share_id: str, share_version: int, format_version: int = FORMAT_VERSION
) -> bytes:
    """Build fields 1-8 from the values the reader expects (not from the blob)."""
    if format_version not in (FORMAT_VERSION, FORMAT_VERSION_V2):
        raise UsageError(f"unknown format version {format_version}")
    validate_share_id(share_id)
    if len(vault_id) != VAULT_ID_LEN:
        raise UsageError(f"vault id must be {VAULT_ID_LEN} bytes")
    if not 0 <= share_version <= UINT64_MAX:  # 0: a record
        raise UsageError(f"share version out of range: {share_version}")
    sid = share_id.encode("ascii")
    return (
        MAGIC
        + bytes([format_version, tier])
        + struct.pack(">H", FLAGS)
        + vault_id
        + bytes([len(sid)])
        + sid
        + struct.pack(">Q", share_version)
    )


def build_header(
    tier: int,
    vault_id: bytes,
    share_id: str,
    share_version: int,
    created_at: int,
    metadata: bytes,
    format_version: int = FORMAT_VERSION,
) -> bytes:
    """Build the header (fields 1-11): v1's AES-GCM AAD, v2's HPKE aad and the start of its AAD."""
    if not 0 <= created_at <= UINT64_MAX:
        raise UsageError(f"created at out of range: {created_at}")
    if len(metadata) > METADATA_MAX:
        raise UsageError(f"metadata longer than {METADATA_MAX} bytes")
    return (
        build_prefix(tier, vault_id, share_id, share_version, format_version)
        + struct.pack(">Q", created_at)
        + struct.pack(">H", len(metadata))
        + metadata
    )


def build_key_section(kek_id: str, kek_version: int, mechanism: int, wrapped_dek: bytes) -> bytes:
    """Build the key section (fields 12-17)."""
    kid = kek_id.encode("utf-8")
    if not 1 <= len(kid) <= KEK_ID_MAX:
        raise UsageError("KEK id must be 1..255 bytes")
    return (
        bytes([len(kid)])
        + kid
        + struct.pack(">I", kek_version)
        + struct.pack(">I", mechanism)
        + struct.pack(">H", len(wrapped_dek))
        + wrapped_dek
    )


def build_section(kind: int, body: bytes) -> bytes:
    """Build a v2 key section: kind u8, body length u16, body."""
    if kind not in (SECTION_TIER, SECTION_RECOVERY) or len(body) > 0xFFFF:
        raise UsageError("a v2 key section is of kind 1 or 2 with a body of at most 65535 bytes")
    return bytes([kind]) + struct.pack(">H", len(body)) + body


def build_recovery_body(fingerprint: bytes, enc: bytes, sealed_data_key: bytes) -> bytes:
    """Build a v2 recovery section body (the one defined HPKE suite)."""
    if (len(fingerprint), len(enc), len(sealed_data_key)) != (FINGERPRINT_LEN, ENC_LEN, SEALED_DATA_KEY_LEN):
        raise UsageError("recovery section: fingerprint 32, enc 32 and sealed data key 48 bytes")
    return (
        struct.pack(">HHH", RECOVERY_KEM_ID, RECOVERY_KDF_ID, RECOVERY_AEAD_ID) + fingerprint + enc + sealed_data_key
    )


def build_body(iv: bytes, ciphertext: bytes, tag: bytes) -> bytes:
    """Build fields 18-22 (IV length, IV, ciphertext length, ciphertext, tag)."""
    if len(iv) != IV_LEN or len(tag) != TAG_LEN:
        raise UsageError("IV must be 12 bytes and tag 16 bytes")
    if not 1 <= len(ciphertext) <= CIPHERTEXT_MAX:
        raise UsageError(f"share must be 1..{CIPHERTEXT_MAX} bytes")
    return bytes([IV_LEN]) + iv + struct.pack(">I", len(ciphertext)) + ciphertext + tag


# --- Tier 1 --------------------------------------------------------------------------


def local_kek_id(vault_id: bytes) -> str:
    """Tier 1 KEK id (field 13): the vault id as 32 lowercase hex digits."""
    return vault_id.hex()


@dataclass(frozen=True)
class SealedLocal:
    """A tier 1 blob plus the intermediate values, for the worked example."""

    blob: bytes
    kek: bytes
    seed_check: bytes
    header: bytes  # fields 1-11 == AAD
    key_section: bytes  # fields 12-17
    wrapped_dek: bytes
    ciphertext: bytes
    tag: bytes


def seal_local(
    *,
    seed: bytes,
    vault_id: bytes,
    share_id: str,
    share_version: int,
    created_at: int,
    metadata: bytes,
    kek_version: int,
    dek: bytes,
    iv: bytes,
    plaintext: bytes,
) -> SealedLocal:
    """Deterministically build a tier 1 blob from explicit inputs (DEK and IV included).

    Real writers must draw the DEK and IV at random; this function exists for the
    worked example and for tests.
    """
    if len(seed) != ROOT_SEED_LEN:
        raise UsageError("root seed must be 32 bytes")
    if len(dek) != DEK_LEN:
        raise UsageError("DEK must be 32 bytes")
    _check_metadata(metadata)
    header = build_header(TIER_LOCAL, vault_id, share_id, share_version, created_at, metadata)
    kek = derive_kek(seed, vault_id, kek_version)
    wrapped = aes_key_wrap(kek, dek)
    key_section = build_key_section(local_kek_id(vault_id), kek_version, MECH_AES_KEY_WRAP, wrapped)
    sealed = AESGCM(dek).encrypt(iv, plaintext, header)
    ciphertext, tag = sealed[:-TAG_LEN], sealed[-TAG_LEN:]
    blob = header + key_section + build_body(iv, ciphertext, tag)
    return SealedLocal(
        blob=blob,
        kek=kek,
        seed_check=derive_seed_check(seed, vault_id),
        header=header,
        key_section=key_section,
        wrapped_dek=wrapped,
        ciphertext=ciphertext,
        tag=tag,
    )


def active_kek_range(state: dict) -> tuple[int, int]:
    """The active KEK versions (oldest, newest) of a parsed ``vault.json``: from
    ``oldestActiveKEKVersion`` to the larger of ``currentKEKVersion`` and a pending
    ``rotation.target``."""
    oldest = state["oldestActiveKEKVersion"]
    newest = max(oldest, state["currentKEKVersion"], (state.get("rotation") or {}).get("target", 0))
    return oldest, newest


def open_local(
    blob: bytes,
    *,
    seed: bytes,
    vault_id: bytes,
    share_id: str,
    share_version: int,
    seed_check: bytes | None = None,
    active_kek_versions: tuple[int, int] | None = None,
) -> bytes:
    """Open a tier 1 blob for the expected (vault id, share id, share version).

    ``active_kek_versions`` is the vault's active KEK range (oldest, newest) from
    ``vault.json`` (see :func:`active_kek_range`); a blob naming a KEK version outside
    it is refused, as every reader must (docs/format.md).

    Opens v1 and v2 blobs (a v2 blob's tier section is v1's key section; its AAD also covers the
    recovery section when there is one).

    Steps, per docs/format.md: optional seed check; strict parse; check tier 1 and
    the binding of fields 1-8 to the expected values; check KEK id == vault id hex,
    mechanism 0x2109 and a 40-byte wrapped DEK; derive the KEK of field 14; unwrap
    the DEK (RFC 3394); AES-256-GCM decrypt with AAD = expected fields 1-8 followed
    by the blob's fields 9-11. Returns the share plaintext.

    Raises :class:`WrongSeedError`, :class:`IntegrityError` or :class:`UsageError`.
    """
    if len(seed) != ROOT_SEED_LEN:
        raise UsageError(f"root seed must be {ROOT_SEED_LEN} bytes, got {len(seed)}")
    if seed_check is not None:
        check_seed(seed, vault_id, seed_check)
    build_prefix(TIER_LOCAL, vault_id, share_id, share_version)  # the caller's values, checked first
    env = parse_envelope(blob)
    expected_prefix = build_prefix(TIER_LOCAL, vault_id, share_id, share_version, env.format_version)
    if env.tier != TIER_LOCAL:
        raise IntegrityError(f"blob is tier {env.tier}, expected tier 1 (local)")
    if env.vault_id != vault_id:
        raise IntegrityError(
            f"blob belongs to vault {env.vault_id.hex()}, expected {vault_id.hex()}"
        )
    if env.share_id != share_id:
        raise IntegrityError(f"blob is for share id {env.share_id!r}, expected {share_id!r}")
    if env.share_version != share_version:
        raise IntegrityError(
            f"blob is share version {env.share_version}, expected {share_version}"
        )
    # Belt and braces: with the checks above this always holds.
    if blob[: env.prefix_len] != expected_prefix:
        raise IntegrityError("header fields 1-8 do not match the expected share")
    if env.kek_id != local_kek_id(vault_id):
        raise IntegrityError(
            f"KEK id (field 13) {env.kek_id!r} is not the vault id in lowercase hex"
        )
    if env.mechanism != MECH_AES_KEY_WRAP:
        raise IntegrityError(
            f"wrap mechanism (field 15) 0x{env.mechanism:08x}, expected 0x{MECH_AES_KEY_WRAP:08x}"
        )
    if len(env.wrapped_dek) != WRAPPED_DEK_LEN:
        raise IntegrityError(
            f"wrapped DEK length (field 16) {len(env.wrapped_dek)}, expected {WRAPPED_DEK_LEN}"
        )

    if active_kek_versions is not None:
        oldest, newest = active_kek_versions
        if not oldest <= env.kek_version <= newest:
            raise IntegrityError(
                f"KEK version (field 14) {env.kek_version} is outside the vault's active range "
                f"{oldest}..{newest}: altered, or put back from before a finished rotation"
            )

    aad = expected_prefix + blob[env.prefix_len : len(env.header)] + env.recovery_section
    kek = derive_kek(seed, vault_id, env.kek_version)
    try:
        dek = aes_key_unwrap(kek, env.wrapped_dek)
    except InvalidUnwrap:
        raise IntegrityError(
            "key unwrap failed (RFC 3394 integrity check): wrapped DEK or KEK version altered"
        ) from None
    if len(dek) != DEK_LEN:
        raise IntegrityError(f"unwrapped DEK is {len(dek)} bytes, expected {DEK_LEN}")
    try:
        return AESGCM(dek).decrypt(env.iv, env.ciphertext + env.tag, aad)
    except InvalidTag:
        raise IntegrityError("AES-GCM authentication failed (tag mismatch)") from None
