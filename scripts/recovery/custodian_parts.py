#!/usr/bin/env python3
"""An independent reader of Strongroom custodian parts, written from docs/recovery.md ("Custodian parts")
alone: it shares no code with the Swift implementation.

    custodian_parts.py combine --pub DIR/recovery.pub PART...
        Reads one passphrase per part from standard input (one line each, in the order of the parts),
        opens each part (Argon2id from argon2-cffi, AES-256-GCM from `cryptography`), checks that the parts
        agree, rebuilds the X25519 private key by Lagrange interpolation over GF(2^8), derives its public
        key and checks it against recovery.pub and the parts' fingerprint. Prints "ok <public key hex>"
        and, with --print-private-key (tests only), the private key in hex on a second line.

    custodian_parts.py split --threshold T --parts N
        Reads a secret as hex from standard input and prints N lines "<index> <part hex>", any T of which
        rebuild it (for cross-checking Strongroom's Shamir.combine).

Needs: argon2-cffi, cryptography (scripts/bootstrap installs them).
"""
import argparse
import hashlib
import os
import struct
import sys

from argon2.low_level import Type, hash_secret_raw
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

MAGIC = b"SRRP"
HEADER_SIZE = 69
PART_SIZE = 161
MIN_OPSLIMIT, MIN_MEMLIMIT = 3, 64 << 20
MAX_OPSLIMIT, MAX_MEMLIMIT = 64, 4 << 30


# GF(2^8) modulo x^8 + x^4 + x^3 + x + 1. A test tool: plain Python, not constant-time.
def gf_mul(a, b):
    product = 0
    while b:
        if b & 1:
            product ^= a
        a <<= 1
        if a & 0x100:
            a ^= 0x11B
        b >>= 1
    return product


def gf_inv(a):
    if a == 0:
        raise ValueError("0 has no inverse")
    result = 1
    for _ in range(254):
        result = gf_mul(result, a)
    return result


def combine(parts):
    """parts: list of (index, bytes). Lagrange interpolation at x = 0."""
    xs = [x for x, _ in parts]
    if len(set(xs)) != len(xs) or 0 in xs:
        raise ValueError("duplicate or zero index")
    length = len(parts[0][1])
    secret = bytearray(length)
    for i, (xi, yi) in enumerate(parts):
        num, den = 1, 1
        for m, xm in enumerate(xs):
            if m != i:
                num = gf_mul(num, xm)
                den = gf_mul(den, xm ^ xi)
        basis = gf_mul(num, gf_inv(den))
        for j in range(length):
            secret[j] ^= gf_mul(basis, yi[j])
    return bytes(secret)


def split(secret, threshold, count):
    coefficients = [[b] + list(os.urandom(threshold - 1)) for b in secret]
    parts = []
    for x in range(1, count + 1):
        value = bytearray()
        for coeffs in coefficients:
            y, power = 0, 1
            for c in coeffs:
                y ^= gf_mul(c, power)
                power = gf_mul(power, x)
            value.append(y)
        parts.append((x, bytes(value)))
    return parts


def parse_part(data, name):
    if len(data) != PART_SIZE or data[:4] != MAGIC or data[4] != 1:
        raise SystemExit(f"{name}: not a version 1 custodian part of {PART_SIZE} bytes")
    if hashlib.sha256(data[:129]).digest() != data[129:]:
        raise SystemExit(f"{name}: checksum mismatch")
    fingerprint = data[5:37]
    index, count, threshold, kdf = data[37], data[38], data[39], data[40]
    (opslimit,) = struct.unpack(">I", data[41:45])
    (memlimit,) = struct.unpack(">Q", data[45:53])
    salt = data[53:69]
    iv, ciphertext, tag = data[69:81], data[81:113], data[113:129]
    if kdf != 1 or not (1 <= index <= count and 2 <= threshold <= count):
        raise SystemExit(f"{name}: bad header")
    if not (MIN_OPSLIMIT <= opslimit <= MAX_OPSLIMIT and MIN_MEMLIMIT <= memlimit <= MAX_MEMLIMIT):
        raise SystemExit(f"{name}: Argon2id limits out of bounds")
    return dict(fingerprint=fingerprint, index=index, count=count, threshold=threshold, opslimit=opslimit,
                memlimit=memlimit, salt=salt, iv=iv, sealed=ciphertext + tag, header=data[:HEADER_SIZE])


def open_part(part, passphrase):
    key = hash_secret_raw(passphrase, part["salt"], time_cost=part["opslimit"], memory_cost=part["memlimit"] // 1024,
                          parallelism=1, hash_len=32, type=Type.ID, version=19)
    return AESGCM(key).decrypt(part["iv"], part["sealed"], part["header"])


def command_combine(arguments):
    with open(arguments.pub, "rb") as handle:
        line = handle.read().decode().strip()
    prefix = "strongroom-recovery-key v1 "
    if not line.startswith(prefix):
        raise SystemExit("not a recovery.pub file")
    expected = bytes.fromhex(line[len(prefix):])
    passphrases = sys.stdin.buffer.read().split(b"\n")
    parts = []
    for number, path in enumerate(arguments.parts):
        with open(path, "rb") as handle:
            parts.append(parse_part(handle.read(), path))
    first = parts[0]
    for part in parts:
        if (part["fingerprint"], part["count"], part["threshold"]) != (first["fingerprint"], first["count"],
                                                                       first["threshold"]):
            raise SystemExit("the parts disagree")
    if len(parts) < first["threshold"]:
        raise SystemExit(f"{first['threshold']} parts needed, got {len(parts)}")
    values = [(part["index"], open_part(part, passphrases[n].rstrip(b"\r"))) for n, part in enumerate(parts)]
    private_key = combine(values)
    public_key = X25519PrivateKey.from_private_bytes(private_key).public_key().public_bytes(Encoding.Raw,
                                                                                             PublicFormat.Raw)
    if hashlib.sha256(public_key).digest() != first["fingerprint"]:
        raise SystemExit("the rebuilt key does not match the parts' fingerprint")
    if public_key != expected:
        raise SystemExit("the rebuilt key does not match recovery.pub")
    print("ok", public_key.hex())
    if arguments.print_private_key:
        print(private_key.hex())


def command_split(arguments):
    secret = bytes.fromhex(sys.stdin.read().strip())
    for index, value in split(secret, arguments.threshold, arguments.parts):
        print(index, value.hex())


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    combine_parser = commands.add_parser("combine")
    combine_parser.add_argument("--pub", required=True)
    combine_parser.add_argument("--print-private-key", action="store_true")
    combine_parser.add_argument("parts", nargs="+")
    split_parser = commands.add_parser("split")
    split_parser.add_argument("--threshold", type=int, required=True)
    split_parser.add_argument("--parts", type=int, required=True)
    arguments = parser.parse_args()
    if arguments.command == "combine":
        command_combine(arguments)
    else:
        command_split(arguments)


if __name__ == "__main__":
    main()
