#!/usr/bin/env python3
"""HPKE seal/open for the Swift cross-check (Tests/SecureCryptoTests/HPKECrossCheckTests.swift).

Two independent implementations of RFC 9180 base mode, DHKEM(X25519, HKDF-SHA256), HKDF-SHA256:
``pyhpke`` (PyPI, installed by scripts/bootstrap) and ``own`` (strongroom_hpke.py, written from the
RFC on ``cryptography`` primitives).

Reads requests from stdin, one per line, all byte strings as lowercase hex ("-" for empty):

    seal <impl> <aead id> <pkR> <info> <aad> <pt> [<skE>]   ->  ok <enc> <ct||tag>
    open <impl> <aead id> <skR> <info> <aad> <enc> <ct||tag> ->  ok <pt>

<impl> is ``pyhpke`` or ``own``; <aead id> is 1 (AES-128-GCM) or 2 (AES-256-GCM); <skE>, a fixed
ephemeral private key, only for ``own``. Writes one answer line per request (``error <reason>`` when
a seal or open fails). Exits 3, with the reason on stderr, when pyhpke cannot be imported: the
cross-check must fail, not skip, where it is missing.
"""

from __future__ import annotations

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import strongroom_hpke  # noqa: E402

try:
    from pyhpke import AEADId, CipherSuite, KDFId, KEMId
except ImportError as exc:
    print(f"hpke_crosscheck: pyhpke is not installed ({exc}); scripts/bootstrap installs it", file=sys.stderr)
    sys.exit(3)

_PYHPKE_AEAD = {1: AEADId.AES128_GCM, 2: AEADId.AES256_GCM}


def _hex(text: str) -> bytes:
    return b"" if text == "-" else bytes.fromhex(text)


def _out(data: bytes) -> str:
    return data.hex() or "-"


def answer(line: str) -> str:
    """Answer one request line."""
    parts = line.split()
    if len(parts) < 3 or parts[0] not in ("seal", "open") or parts[1] not in ("pyhpke", "own"):
        return "error malformed request"
    op, impl, aead = parts[0], parts[1], int(parts[2])
    if aead not in _PYHPKE_AEAD:
        return f"error unsupported AEAD id {aead}"
    args = [_hex(p) for p in parts[3:]]
    try:
        if impl == "pyhpke":
            suite = CipherSuite.new(KEMId.DHKEM_X25519_HKDF_SHA256, KDFId.HKDF_SHA256, _PYHPKE_AEAD[aead])
            if op == "seal" and len(args) == 4:
                pk_r, info, aad, pt = args
                # pyhpke's single-shot seal/open are not implemented: a context, message 0.
                enc, sender = suite.create_sender_context(suite.kem.deserialize_public_key(pk_r), info=info)
                ct = sender.seal(pt, aad=aad)
                return f"ok {_out(enc)} {_out(ct)}"
            if op == "open" and len(args) == 5:
                sk_r, info, aad, enc, ct = args
                recipient = suite.create_recipient_context(enc, suite.kem.deserialize_private_key(sk_r), info=info)
                return f"ok {_out(recipient.open(ct, aad=aad))}"
        else:
            if op == "seal" and len(args) in (4, 5):
                pk_r, info, aad, pt = args[:4]
                if len(args) == 5:
                    enc, ct = strongroom_hpke.seal_base(pk_r, info, aad, pt, sk_e=args[4], aead_id=aead)
                else:
                    enc, ct = strongroom_hpke.seal_base_random(pk_r, info, aad, pt, aead_id=aead)
                return f"ok {_out(enc)} {_out(ct)}"
            if op == "open" and len(args) == 5:
                sk_r, info, aad, enc, ct = args
                return f"ok {_out(strongroom_hpke.open_base(enc, sk_r, info, aad, ct, aead_id=aead))}"
    except Exception as exc:  # noqa: BLE001 - every failure is an answer, the Swift side checks it
        return f"error {type(exc).__name__}: {exc}".replace("\n", " ")
    return "error wrong number of arguments"


def main() -> int:
    for line in sys.stdin:
        if line.strip():
            print(answer(line), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
