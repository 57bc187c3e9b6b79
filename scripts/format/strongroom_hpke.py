#!/usr/bin/env python3
"""HPKE (RFC 9180) base mode, an independent implementation for the recovery section of envelope v2.

Written from RFC 9180 alone (not from the Swift sources, and not with pyhpke, which serves as the
cross-check in Tests/SecureCryptoTests/HPKECrossCheckTests.swift), using only ``cryptography``
primitives: X25519, HMAC-SHA256, HKDF-Expand and AES-GCM.

Suite: KEM DHKEM(X25519, HKDF-SHA256) (0x0020), KDF HKDF-SHA256 (0x0001), AEAD AES-256-GCM
(0x0002, what Strongroom uses) or AES-128-GCM (0x0001, for the RFC's Appendix A.1.1 known
answers). Base mode only (no PSK, no sender authentication).

Run as a script, it checks itself against RFC 9180 Appendix A.1.1 and exits 0 (or 1 on a mismatch).
"""

from __future__ import annotations

import hmac as _hmac
import sys
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDFExpand

KEM_DHKEM_X25519_HKDF_SHA256 = 0x0020
KDF_HKDF_SHA256 = 0x0001
AEAD_AES_128_GCM = 0x0001
AEAD_AES_256_GCM = 0x0002

MODE_BASE = 0x00
N_SECRET = 32  # Nsecret of DHKEM(X25519, HKDF-SHA256)
N_ENC = 32  # Nenc
N_PK = 32  # Npk
N_SK = 32  # Nsk
N_H = 32  # Nh of HKDF-SHA256
N_N = 12  # Nn of both AES-GCM AEADs
N_T = 16  # Nt
AEAD_KEY_SIZE = {AEAD_AES_128_GCM: 16, AEAD_AES_256_GCM: 32}  # Nk

_VERSION_LABEL = b"HPKE-v1"


class HPKEError(Exception):
    """Any HPKE failure: a bad key, a bad ``enc``, or an AEAD authentication failure."""


def i2osp(value: int, length: int) -> bytes:
    """I2OSP (RFC 8017): ``value`` as ``length`` big-endian bytes."""
    return value.to_bytes(length, "big")


# --- KDF: HKDF-SHA256 with the labels of section 4 -------------------------------------------------


def hkdf_extract(salt: bytes, ikm: bytes) -> bytes:
    """HKDF-Extract (RFC 5869): HMAC-SHA256 keyed with ``salt`` (empty salt = Nh zero bytes)."""
    return _hmac.new(salt or bytes(N_H), ikm, "sha256").digest()


def hkdf_expand(prk: bytes, info: bytes, length: int) -> bytes:
    """HKDF-Expand (RFC 5869), from ``cryptography``."""
    return HKDFExpand(algorithm=hashes.SHA256(), length=length, info=info).derive(prk)


def labeled_extract(suite_id: bytes, salt: bytes, label: bytes, ikm: bytes) -> bytes:
    """LabeledExtract(salt, label, ikm) = Extract(salt, "HPKE-v1" || suite_id || label || ikm)."""
    return hkdf_extract(salt, _VERSION_LABEL + suite_id + label + ikm)


def labeled_expand(suite_id: bytes, prk: bytes, label: bytes, info: bytes, length: int) -> bytes:
    """LabeledExpand(prk, label, info, L) = Expand(prk, I2OSP(L, 2) || "HPKE-v1" || suite_id || label || info, L)."""
    return hkdf_expand(prk, i2osp(length, 2) + _VERSION_LABEL + suite_id + label + info, length)


# --- KEM: DHKEM(X25519, HKDF-SHA256), section 4.1 ---------------------------------------------------

KEM_SUITE_ID = b"KEM" + i2osp(KEM_DHKEM_X25519_HKDF_SHA256, 2)


def public_key(private_key: bytes) -> bytes:
    """The X25519 public key (32 bytes) of a 32-byte private key."""
    if len(private_key) != N_SK:
        raise HPKEError(f"an X25519 private key is {N_SK} bytes, got {len(private_key)}")
    return (
        X25519PrivateKey.from_private_bytes(private_key)
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )


def _dh(private_key: bytes, peer_public: bytes) -> bytes:
    """X25519(sk, pk); the all-zero output (a small-order peer key) is refused (section 7.1.4)."""
    if len(peer_public) != N_PK:
        raise HPKEError(f"an X25519 public key is {N_PK} bytes, got {len(peer_public)}")
    try:
        shared = X25519PrivateKey.from_private_bytes(private_key).exchange(
            X25519PublicKey.from_public_bytes(peer_public)
        )
    except ValueError as exc:  # cryptography refuses the all-zero output itself
        raise HPKEError(f"X25519 key agreement failed ({exc})") from None
    if shared == bytes(32):
        raise HPKEError("X25519 key agreement gave the all-zero value: small-order public key")
    return shared


def _extract_and_expand(dh: bytes, kem_context: bytes) -> bytes:
    eae_prk = labeled_extract(KEM_SUITE_ID, b"", b"eae_prk", dh)
    return labeled_expand(KEM_SUITE_ID, eae_prk, b"shared_secret", kem_context, N_SECRET)


def derive_key_pair(ikm: bytes) -> tuple[bytes, bytes]:
    """DeriveKeyPair(ikm) for X25519 (section 7.1.3): (private key, public key)."""
    dkp_prk = labeled_extract(KEM_SUITE_ID, b"", b"dkp_prk", ikm)
    sk = labeled_expand(KEM_SUITE_ID, dkp_prk, b"sk", b"", N_SK)
    return sk, public_key(sk)


def encap(pk_r: bytes, sk_e: bytes) -> tuple[bytes, bytes]:
    """Encap(pkR) with the ephemeral private key ``sk_e`` given: (shared secret, enc)."""
    dh = _dh(sk_e, pk_r)
    enc = public_key(sk_e)
    return _extract_and_expand(dh, enc + pk_r), enc


def decap(enc: bytes, sk_r: bytes) -> bytes:
    """Decap(enc, skR): the shared secret."""
    if len(enc) != N_ENC:
        raise HPKEError(f"enc is {N_ENC} bytes, got {len(enc)}")
    dh = _dh(sk_r, enc)
    return _extract_and_expand(dh, enc + public_key(sk_r))


# --- Key schedule and encryption context, sections 5.1-5.3 ---------------------------------------


def suite_id(aead_id: int) -> bytes:
    """The HPKE suite id: "HPKE" || kem id || kdf id || aead id."""
    return b"HPKE" + i2osp(KEM_DHKEM_X25519_HKDF_SHA256, 2) + i2osp(KDF_HKDF_SHA256, 2) + i2osp(aead_id, 2)


@dataclass
class Context:
    """An encryption context (section 5.2); ``key_schedule_context`` and ``secret`` kept for tests."""

    aead_id: int
    key: bytes
    base_nonce: bytes
    exporter_secret: bytes
    key_schedule_context: bytes
    secret: bytes

    def nonce(self, seq: int) -> bytes:
        """base_nonce XOR I2OSP(seq, Nn)."""
        return bytes(a ^ b for a, b in zip(self.base_nonce, i2osp(seq, N_N)))

    def seal(self, seq: int, aad: bytes, pt: bytes) -> bytes:
        """The AEAD seal of message number ``seq``: ciphertext || tag."""
        return AESGCM(self.key).encrypt(self.nonce(seq), pt, aad)

    def open(self, seq: int, aad: bytes, ct: bytes) -> bytes:
        """The AEAD open of message number ``seq``; :class:`HPKEError` on an authentication failure."""
        if len(ct) < N_T:
            raise HPKEError("ciphertext is shorter than the AEAD tag")
        try:
            return AESGCM(self.key).decrypt(self.nonce(seq), ct, aad)
        except InvalidTag:
            raise HPKEError("AEAD authentication failed") from None

    def export(self, exporter_context: bytes, length: int) -> bytes:
        """Export(exporter_context, L) (section 5.3)."""
        return labeled_expand(suite_id(self.aead_id), self.exporter_secret, b"sec", exporter_context, length)


def key_schedule_base(shared_secret: bytes, info: bytes, aead_id: int) -> Context:
    """KeySchedule(mode_base, shared_secret, info, psk = "", psk_id = "")."""
    if aead_id not in AEAD_KEY_SIZE:
        raise HPKEError(f"unsupported AEAD id 0x{aead_id:04x}")
    sid = suite_id(aead_id)
    psk_id_hash = labeled_extract(sid, b"", b"psk_id_hash", b"")
    info_hash = labeled_extract(sid, b"", b"info_hash", info)
    context = bytes([MODE_BASE]) + psk_id_hash + info_hash
    secret = labeled_extract(sid, shared_secret, b"secret", b"")
    return Context(
        aead_id=aead_id,
        key=labeled_expand(sid, secret, b"key", context, AEAD_KEY_SIZE[aead_id]),
        base_nonce=labeled_expand(sid, secret, b"base_nonce", context, N_N),
        exporter_secret=labeled_expand(sid, secret, b"exp", context, N_H),
        key_schedule_context=context,
        secret=secret,
    )


# --- Single-shot API, section 6.1 ------------------------------------------------------------------


def seal_base(
    pk_r: bytes, info: bytes, aad: bytes, pt: bytes, *, sk_e: bytes, aead_id: int = AEAD_AES_256_GCM
) -> tuple[bytes, bytes]:
    """SealBase(pkR, info, aad, pt) with the ephemeral private key given: (enc, ct || tag).

    Deterministic for known answers and worked examples; a real sealer draws ``sk_e`` at random
    (:func:`seal_base_random`).
    """
    shared, enc = encap(pk_r, sk_e)
    return enc, key_schedule_base(shared, info, aead_id).seal(0, aad, pt)


def seal_base_random(
    pk_r: bytes, info: bytes, aad: bytes, pt: bytes, *, aead_id: int = AEAD_AES_256_GCM
) -> tuple[bytes, bytes]:
    """SealBase with a fresh random ephemeral key."""
    sk_e = X25519PrivateKey.generate().private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption()
    )
    return seal_base(pk_r, info, aad, pt, sk_e=sk_e, aead_id=aead_id)


def open_base(enc: bytes, sk_r: bytes, info: bytes, aad: bytes, ct: bytes, *, aead_id: int = AEAD_AES_256_GCM) -> bytes:
    """OpenBase(enc, skR, info, aad, ct); :class:`HPKEError` on any failure."""
    return key_schedule_base(decap(enc, sk_r), info, aead_id).open(0, aad, ct)


# --- Self-test: RFC 9180 Appendix A.1.1 ----------------------------------------------------------

#: RFC 9180 Appendix A.1.1, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256, AES-128-GCM, mode_base:
#: transcribed from the appendix text of cfrg/draft-irtf-cfrg-hpke at commit b1f7cb0 (the final draft).
RFC9180_A11 = {
    "info": "4f6465206f6e2061204772656369616e2055726e",
    "ikmE": "7268600d403fce431561aef583ee1613527cff655c1343f29812e66706df3234",
    "pkEm": "37fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf4431",
    "skEm": "52c4a758a802cd8b936eceea314432798d5baf2d7e9235dc084ab1b9cfa2f736",
    "ikmR": "6db9df30aa07dd42ee5e8181afdb977e538f5e1fec8a06223f33f7013e525037",
    "pkRm": "3948cfe0ad1ddb695d780e59077195da6c56506b027329794ab02bca80815c4d",
    "skRm": "4612c550263fc8ad58375df3f557aac531d26850903e55a9f23f21d8534e8ac8",
    "enc": "37fda3567bdbd628e88668c3c8d7e97d1d1253b6d4ea6d44c150f741f1bf4431",
    "shared_secret": "fe0e18c9f024ce43799ae393c7e8fe8fce9d218875e8227b0187c04e7d2ea1fc",
    "key_schedule_context": "00725611c9d98c07c03f60095cd32d400d8347d45ed67097bbad50fc56da742d07cb6cffde367bb0565ba28bb02c90744a20f5ef37f30523526106f637abb05449",
    "secret": "12fff91991e93b48de37e7daddb52981084bd8aa64289c3788471d9a9712f397",
    "key": "4531685d41d65f03dc48f6b8302c05b0",
    "base_nonce": "56d890e5accaaf011cff4b7d",
    "exporter_secret": "45ff1c2e220db587171952c0592d5f5ebe103f1561a2614e38f2ffd47e99e3f8",
    "pt": "4265617574792069732074727574682c20747275746820626561757479",
    # (sequence number, aad, nonce, ct || tag)
    "encryptions": [
        (0, "436f756e742d30", "56d890e5accaaf011cff4b7d",
         "f938558b5d72f1a23810b4be2ab4f84331acc02fc97babc53a52ae8218a355a96d8770ac83d07bea87e13c512a"),
        (1, "436f756e742d31", "56d890e5accaaf011cff4b7c",
         "af2d7e9ac9ae7e270f46ba1f975be53c09f8d875bdc8535458c2494e8a6eab251c03d0c22a56b8ca42c2063b84"),
        (2, "436f756e742d32", "56d890e5accaaf011cff4b7f",
         "498dfcabd92e8acedc281e85af1cb4e3e31c7dc394a1ca20e173cb72516491588d96a19ad4a683518973dcc180"),
        (4, "436f756e742d34", "56d890e5accaaf011cff4b79",
         "583bd32bc67a5994bb8ceaca813d369bca7b2a42408cddef5e22f880b631215a09fc0012bc69fccaa251c0246d"),
        (255, "436f756e742d323535", "56d890e5accaaf011cff4b82",
         "7175db9717964058640a3a11fb9007941a5d1757fda1a6935c805c21af32505bf106deefec4a49ac38d71c9e0a"),
        (256, "436f756e742d323536", "56d890e5accaaf011cff4a7d",
         "957f9800542b0b8891badb026d79cc54597cb2d225b54c00c5238c25d05c30e3fbeda97d2e0e1aba483a2df9f2"),
    ],
    # (exporter_context, exported value with L = 32)
    "exports": [
        ("", "3853fe2b4035195a573ffc53856e77058e15d9ea064de3e59f4961d0095250ee"),
        ("00", "2e8f0b54673c7029649d4eb9d5e33bf1872cf76d623ff164ac185da9e88c21a5"),
        ("54657374436f6e74657874", "e9e43065102c3836401bed8c3c3c75ae46be1639869391d62c61f1ec7af54931"),
    ],
}


def self_test() -> list[str]:
    """Check every value of RFC 9180 Appendix A.1.1; return the list of mismatches (empty: all good)."""
    v = {k: (bytes.fromhex(x) if isinstance(x, str) else x) for k, x in RFC9180_A11.items()}
    failures: list[str] = []

    def check(name: str, got: bytes, want: bytes) -> None:
        if got != want:
            failures.append(f"{name}: got {got.hex()}, want {want.hex()}")

    sk_e, pk_e = derive_key_pair(v["ikmE"])
    check("DeriveKeyPair(ikmE).sk", sk_e, v["skEm"])
    check("DeriveKeyPair(ikmE).pk", pk_e, v["pkEm"])
    sk_r, pk_r = derive_key_pair(v["ikmR"])
    check("DeriveKeyPair(ikmR).sk", sk_r, v["skRm"])
    check("DeriveKeyPair(ikmR).pk", pk_r, v["pkRm"])
    shared, enc = encap(v["pkRm"], v["skEm"])
    check("enc", enc, v["enc"])
    check("Encap shared_secret", shared, v["shared_secret"])
    check("Decap shared_secret", decap(v["enc"], v["skRm"]), v["shared_secret"])
    ctx = key_schedule_base(shared, v["info"], AEAD_AES_128_GCM)
    check("key_schedule_context", ctx.key_schedule_context, v["key_schedule_context"])
    check("secret", ctx.secret, v["secret"])
    check("key", ctx.key, v["key"])
    check("base_nonce", ctx.base_nonce, v["base_nonce"])
    check("exporter_secret", ctx.exporter_secret, v["exporter_secret"])
    for seq, aad, nonce, ct in RFC9180_A11["encryptions"]:
        aad, nonce, ct = bytes.fromhex(aad), bytes.fromhex(nonce), bytes.fromhex(ct)
        check(f"nonce[{seq}]", ctx.nonce(seq), nonce)
        check(f"seal[{seq}]", ctx.seal(seq, aad, v["pt"]), ct)
        try:
            check(f"open[{seq}]", ctx.open(seq, aad, ct), v["pt"])
        except HPKEError as exc:
            failures.append(f"open[{seq}]: {exc}")
    for exporter_context, value in RFC9180_A11["exports"]:
        check(f"export({exporter_context!r})", ctx.export(bytes.fromhex(exporter_context), 32), bytes.fromhex(value))
    # The single-shot API is message 0 of the same context.
    enc1, ct1 = seal_base(v["pkRm"], v["info"], bytes.fromhex("436f756e742d30"), v["pt"], sk_e=v["skEm"],
                          aead_id=AEAD_AES_128_GCM)
    check("SealBase enc", enc1, v["enc"])
    check("SealBase ct", ct1, bytes.fromhex(RFC9180_A11["encryptions"][0][3]))
    check("OpenBase", open_base(enc1, v["skRm"], v["info"], bytes.fromhex("436f756e742d30"), ct1,
                                aead_id=AEAD_AES_128_GCM), v["pt"])
    # Every mismatch is refused: another aad, info, enc, tag, or key.
    tampered = [
        ("aad", lambda: open_base(enc1, v["skRm"], v["info"], b"Count-1", ct1, aead_id=AEAD_AES_128_GCM)),
        ("info", lambda: open_base(enc1, v["skRm"], b"", bytes.fromhex("436f756e742d30"), ct1, aead_id=AEAD_AES_128_GCM)),
        ("tag", lambda: open_base(enc1, v["skRm"], v["info"], bytes.fromhex("436f756e742d30"),
                                  ct1[:-1] + bytes([ct1[-1] ^ 1]), aead_id=AEAD_AES_128_GCM)),
        ("key", lambda: open_base(enc1, v["skEm"], v["info"], bytes.fromhex("436f756e742d30"), ct1, aead_id=AEAD_AES_128_GCM)),
        ("small-order enc", lambda: decap(bytes(32), v["skRm"])),
    ]
    for name, attempt in tampered:
        try:
            attempt()
            failures.append(f"a tampered {name} was accepted")
        except HPKEError:
            pass
    # AES-256-GCM round trip (no RFC vector for this suite; cross-checked against pyhpke elsewhere).
    enc2, ct2 = seal_base_random(v["pkRm"], b"info", b"aad", b"\x01" * 32)
    if open_base(enc2, v["skRm"], b"info", b"aad", ct2) != b"\x01" * 32 or len(ct2) != 48:
        failures.append("AES-256-GCM round trip failed")
    return failures


def main() -> int:
    failures = self_test()
    for failure in failures:
        print(f"strongroom_hpke: self-test FAILED: {failure}", file=sys.stderr)
    if failures:
        return 1
    print("strongroom_hpke: RFC 9180 A.1.1 known answers and tamper checks passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
