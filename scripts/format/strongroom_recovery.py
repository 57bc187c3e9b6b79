"""Envelope v2's recovery section: open any v2 blob with the vault's recovery private key alone.

Written from the envelope v2 specification (docs/format.md) and RFC 9180, not from the Swift
sources. The recovery section holds the share's 32-byte data key sealed with HPKE base mode,
DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-256-GCM (:mod:`strongroom_hpke`), to the vault's
recovery public key, with

* info = ``"strongroom/recovery/v2"`` || vault id (16) || share id length u8 || share id || share version u64,
* aad = the header (magic through metadata),

and the share itself is sealed under that data key with AES-256-GCM and AAD = header || the whole
recovery section (kind, length, body). No tier key (root seed, KMS key, HSM token) is needed.

Provides :func:`open_with_recovery_key` (the opener), :func:`recovery_info`, :func:`fingerprint`
and a deterministic sealer for worked examples and tests, :func:`seal_local_v2` (tier 1).
"""

from __future__ import annotations

import hashlib
import hmac
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.keywrap import aes_key_wrap

import strongroom_hpke
from strongroom_envelope import (
    DEK_LEN,
    FORMAT_VERSION_V2,
    MECH_AES_KEY_WRAP,
    ROOT_SEED_LEN,
    SECTION_RECOVERY,
    SECTION_TIER,
    TAG_LEN,
    UINT64_MAX,
    VAULT_ID_LEN,
    Envelope,
    IntegrityError,
    UsageError,
    _check_metadata,
    build_body,
    build_header,
    build_key_section,
    build_prefix,
    build_recovery_body,
    build_section,
    derive_kek,
    derive_seed_check,
    local_kek_id,
    parse_envelope,
    validate_share_id,
)

RECOVERY_INFO_LABEL = b"strongroom/recovery/v2"
PRIVATE_KEY_LEN = 32


class WrongRecoveryKeyError(IntegrityError):
    """The blob's recovery section was sealed to another recovery key (its fingerprint differs)."""


def fingerprint(public_key: bytes) -> bytes:
    """A recovery key's fingerprint: SHA-256 of the 32-byte X25519 public key."""
    return hashlib.sha256(public_key).digest()


def recovery_info(vault_id: bytes, share_id: str, share_version: int) -> bytes:
    """HPKE info: "strongroom/recovery/v2" || vault id || share id length u8 || share id || version u64."""
    validate_share_id(share_id)
    if len(vault_id) != VAULT_ID_LEN:
        raise UsageError(f"vault id must be {VAULT_ID_LEN} bytes")
    if not 0 <= share_version <= UINT64_MAX:
        raise UsageError(f"share version out of range: {share_version}")
    sid = share_id.encode("ascii")
    return RECOVERY_INFO_LABEL + vault_id + bytes([len(sid)]) + sid + struct.pack(">Q", share_version)


@dataclass(frozen=True)
class Opened:
    """A share version opened through its recovery section."""

    envelope: Envelope
    plaintext: bytes


def open_with_recovery_key(
    blob: bytes, *, private_key: bytes, vault_id: bytes, share_id: str, share_version: int
) -> Opened:
    """Open a v2 blob for the expected (vault id, share id, share version) with the recovery private key.

    Steps: strict parse; the blob must be v2 with a recovery section and bound to the expected vault,
    share id and version; the section's fingerprint must be SHA-256 of the private key's public key;
    HPKE-open the data key (info from the expected values, aad = the header with fields 1-8 rebuilt
    from them); AES-256-GCM open the share with AAD = header || recovery section.

    Raises :class:`UsageError`, :class:`WrongRecoveryKeyError` or :class:`IntegrityError` (whose
    message says "integrity").
    """
    if len(private_key) != PRIVATE_KEY_LEN:
        raise UsageError(f"a recovery private key is {PRIVATE_KEY_LEN} bytes, got {len(private_key)}")
    info = recovery_info(vault_id, share_id, share_version)  # checks the caller's values first
    env = parse_envelope(blob)
    if env.format_version != FORMAT_VERSION_V2:
        raise IntegrityError(
            f"blob is format version {env.format_version}: it has no recovery section (written before the "
            "vault had a recovery key); only its tier's key opens it"
        )
    if env.recovery is None:
        raise IntegrityError("blob is format version 2 without a recovery section; only its tier's key opens it")
    if env.vault_id != vault_id:
        raise IntegrityError(f"blob belongs to vault {env.vault_id.hex()}, expected {vault_id.hex()}")
    if env.share_id != share_id:
        raise IntegrityError(f"blob is for share id {env.share_id!r}, expected {share_id!r}")
    if env.share_version != share_version:
        raise IntegrityError(f"blob is share version {env.share_version}, expected {share_version}")

    public_key = strongroom_hpke.public_key(private_key)
    if not hmac.compare_digest(fingerprint(public_key), env.recovery.fingerprint):
        raise WrongRecoveryKeyError(
            f"blob was sealed to the recovery key with fingerprint {env.recovery.fingerprint.hex()}, "
            f"this private key's is {fingerprint(public_key).hex()}"
        )

    expected_prefix = build_prefix(env.tier, vault_id, share_id, share_version, FORMAT_VERSION_V2)
    header = expected_prefix + blob[env.prefix_len : len(env.header)]
    try:
        data_key = strongroom_hpke.open_base(
            env.recovery.enc, private_key, info, header, env.recovery.sealed_data_key,
            aead_id=strongroom_hpke.AEAD_AES_256_GCM,
        )
    except strongroom_hpke.HPKEError as exc:
        raise IntegrityError(f"the recovery section does not open (HPKE: {exc}): enc, sealed data key or header altered") from None
    if len(data_key) != DEK_LEN:
        raise IntegrityError(f"the recovery section's data key is {len(data_key)} bytes, expected {DEK_LEN}")
    try:
        plaintext = AESGCM(data_key).decrypt(env.iv, env.ciphertext + env.tag, header + env.recovery_section)
    except InvalidTag:
        raise IntegrityError("AES-GCM authentication of the share failed (tag mismatch)") from None
    return Opened(envelope=env, plaintext=plaintext)


# --- Deterministic sealer (worked example and tests only) --------------------------------------------


@dataclass(frozen=True)
class SealedV2:
    """A v2 blob plus its intermediate values, for the worked example."""

    blob: bytes
    header: bytes  # fields 1-11, the HPKE aad
    info: bytes  # the HPKE info
    tier_section: bytes  # kind 1, length, body
    recovery_section: bytes  # kind 2, length, body
    aad: bytes  # header || recovery section: the share's AES-GCM AAD
    kek: bytes
    seed_check: bytes
    wrapped_dek: bytes
    enc: bytes
    sealed_data_key: bytes
    ciphertext: bytes
    tag: bytes


def seal_local_v2(
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
    recovery_public_key: bytes,
    ephemeral_private_key: bytes,
) -> SealedV2:
    """Deterministically build a tier 1 v2 blob with a recovery section from explicit inputs.

    Real writers draw the data key, the IV and the HPKE ephemeral key at random; this exists for
    the worked example and for tests.
    """
    if len(seed) != ROOT_SEED_LEN or len(dek) != DEK_LEN:
        raise UsageError("root seed and data key must be 32 bytes")
    if len(recovery_public_key) != 32:
        raise UsageError("the recovery public key is 32 bytes")
    _check_metadata(metadata)
    header = build_header(1, vault_id, share_id, share_version, created_at, metadata, FORMAT_VERSION_V2)
    kek = derive_kek(seed, vault_id, kek_version)
    wrapped = aes_key_wrap(kek, dek)
    tier_section = build_section(
        SECTION_TIER, build_key_section(local_kek_id(vault_id), kek_version, MECH_AES_KEY_WRAP, wrapped)
    )
    info = recovery_info(vault_id, share_id, share_version)
    enc, sealed_data_key = strongroom_hpke.seal_base(
        recovery_public_key, info, header, dek, sk_e=ephemeral_private_key, aead_id=strongroom_hpke.AEAD_AES_256_GCM
    )
    recovery_section = build_section(
        SECTION_RECOVERY, build_recovery_body(fingerprint(recovery_public_key), enc, sealed_data_key)
    )
    aad = header + recovery_section
    sealed = AESGCM(dek).encrypt(iv, plaintext, aad)
    ciphertext, tag = sealed[:-TAG_LEN], sealed[-TAG_LEN:]
    blob = header + bytes([2]) + tier_section + recovery_section + build_body(iv, ciphertext, tag)
    return SealedV2(
        blob=blob,
        header=header,
        info=info,
        tier_section=tier_section,
        recovery_section=recovery_section,
        aad=aad,
        kek=kek,
        seed_check=derive_seed_check(seed, vault_id),
        wrapped_dek=wrapped,
        enc=enc,
        sealed_data_key=sealed_data_key,
        ciphertext=ciphertext,
        tag=tag,
    )
