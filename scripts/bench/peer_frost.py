#!/usr/bin/env python3
"""Reference peer for `strongroom bench --frost`: single-party Ed25519 signatures from other programs.

FROST's benchmark target is stated against one single-party Ed25519 signature with libsodium. This
peer measures that signature from outside Strongroom, in the same run, so the reference does not rest
on Strongroom's own measurement alone:

  ed25519_sign_libsodium_ctypes  crypto_sign_detached from the system libsodium, called through ctypes
                                 (includes Python's call overhead, ~1 us)
  ed25519_sign_cryptography      Ed25519PrivateKey.sign from `cryptography` (OpenSSL)
  ed25519_verify_libsodium_ctypes crypto_sign_verify_detached, for scale

Output: one JSON object per line on stdout:
  {"impl":"python-peer","tier":"local","op":...,"count":N,"seconds":S,"ops_per_s":X}
Usage: peer_frost.py [--count 20000]
"""
import argparse
import ctypes
import ctypes.util
import json
import sys
import time


def report(op, count, seconds):
    print(json.dumps({"impl": "python-peer", "tier": "local", "op": op, "count": count,
                      "seconds": round(seconds, 6), "ops_per_s": round(count / seconds, 1)}))
    print(f"{op:34s} {count / seconds:12,.0f} ops/s  ({count} in {seconds:.3f} s)", file=sys.stderr)


def timed(op, count, body):
    body()  # warm up
    start = time.perf_counter()
    for _ in range(count):
        body()
    report(op, count, time.perf_counter() - start)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=20000)
    args = parser.parse_args()
    message = b"strongroom benchmark message"

    path = ctypes.util.find_library("sodium")
    if path is None:
        sys.exit("peer_frost: libsodium not found (apt-get install libsodium23)")
    sodium = ctypes.CDLL(path)
    if sodium.sodium_init() < 0:
        sys.exit("peer_frost: sodium_init failed")
    pk = ctypes.create_string_buffer(32)
    sk = ctypes.create_string_buffer(64)
    sodium.crypto_sign_keypair(pk, sk)
    sig = ctypes.create_string_buffer(64)
    sign = sodium.crypto_sign_detached
    mlen = ctypes.c_ulonglong(len(message))
    timed("ed25519_sign_libsodium_ctypes", args.count, lambda: sign(sig, None, message, mlen, sk))
    verify = sodium.crypto_sign_verify_detached
    assert verify(sig, message, mlen, pk) == 0
    timed("ed25519_verify_libsodium_ctypes", args.count, lambda: verify(sig, message, mlen, pk))

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    key = Ed25519PrivateKey.generate()
    timed("ed25519_sign_cryptography", args.count, lambda: key.sign(message))


if __name__ == "__main__":
    main()
