#!/usr/bin/env python3
"""Prints the worked example of docs/audit.md ("Worked example"): a three-record tier 1 log (a store, a
failed load, a checkpoint) built with verify_log.py's encoder from a fixed root seed and vault id, with the
intermediate values an independent implementation can check itself against: the MAC key, each record's
hashed bytes and hash, the checkpoint's MAC input and MAC, and the vault state's `audit` entry.

    worked_example.py            the example as it appears in docs/audit.md
    worked_example.py --log DIR  also writes DIR/log.jsonl, DIR/root.seed and DIR/vault.json
"""
import hashlib
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import verify_log  # noqa: E402

ROOT_SEED = bytes(range(32))  # 00 01 02 … 1f
VAULT_ID = bytes.fromhex("5eedf00d00112233445566778899aabb")
ACTOR = {"uid": 1000, "pid": 4242, "host": "build-7", "client": None}
KEY_DESCRIPTION = 'tier1 HKDF-SHA256(root seed, salt = vault id, info = "strongroom/tier1/audit-mac", 32 bytes)'


def records():
    vault = VAULT_ID.hex()
    common = {"v": 1, "vault": vault, "tier": "local", "actor": ACTOR}
    return [
        dict(common, time="2026-12-01T22:10:00.000125Z", op="store", share="alice", versions=[1], kek=[1],
             outcome="ok", error=None, details={}),
        dict(common, time="2026-12-01T22:10:01.500000Z", op="load", share="bob", versions=[], kek=[],
             outcome="error", error={"code": "share not found", "exit": 66}, details={}),
        dict(common, time="2026-12-01T22:10:02.000000Z", op=verify_log.CHECKPOINT, share=None, versions=[],
             kek=[], outcome="ok", error=None, details={}, alg="HMAC-SHA256", key=KEY_DESCRIPTION),
    ]


def build(mac_key):
    """[(line bytes, hash hex, mac hex or None)] with seq and prev filled in."""
    out, previous = [], verify_log.ZERO_HASH
    for seq, record in enumerate(records(), start=1):
        record = dict(record, seq=seq, prev=previous)
        line, digest, mac = verify_log.encode_record(record, mac_key)
        out.append((line, digest, mac))
        previous = digest
    return out


def main(arguments):
    mac_key = verify_log.tier1_mac_key(ROOT_SEED, VAULT_ID)
    built = build(mac_key)
    print(f"root seed (32 bytes)  {ROOT_SEED.hex()}")
    print(f"vault id (16 bytes)   {VAULT_ID.hex()}")
    print(f"MAC key               {mac_key.hex()}")
    print()
    print("log.jsonl:")
    for line, _, _ in built:
        print(line.decode("utf-8"))
    print()
    for seq, (line, digest, mac) in enumerate(built, start=1):
        hashed = line[:line.rindex(verify_log.HASH_MARKER)]
        print(f"record {seq}: {len(hashed)} bytes hashed, hash {digest}")
        assert hashlib.sha256(hashed).hexdigest() == digest
        if mac is not None:
            mac_input = line[:line.rindex(verify_log.MAC_MARKER)]
            print(f"record {seq}: {len(mac_input)} bytes MACed, mac {mac}")
    last_line, last_hash, last_mac = built[-1]
    anchor = {"seq": len(built), "hash": last_hash, "mac": last_mac, "at": 1796163002}
    print()
    print('vault.json "audit": ' + json.dumps(anchor, separators=(",", ":")))
    if len(arguments) == 2 and arguments[0] == "--log":
        directory = arguments[1]
        os.makedirs(directory, mode=0o700, exist_ok=True)
        with open(os.path.join(directory, "log.jsonl"), "wb") as handle:
            handle.write(b"".join(line + b"\n" for line, _, _ in built))
        with open(os.path.join(directory, "root.seed"), "wb") as handle:
            handle.write(ROOT_SEED)
        with open(os.path.join(directory, "vault.json"), "w") as handle:
            json.dump({"vaultID": VAULT_ID.hex(), "tier": "local", "audit": anchor}, handle)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
