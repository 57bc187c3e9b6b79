#!/usr/bin/env python3
"""An independent verifier of Strongroom audit logs, written from docs/audit.md ("Record format") alone: it
shares no code with the Swift implementation and uses only the Python standard library.

    verify_log.py LOG [--root-seed FILE --vault-id HEX | --mac-key-hex HEX | --no-mac] [--anchor vault.json]

LOG is a directory store's log file (`<vault>/audit/log.jsonl`, tiers 1 and 3) or a directory holding an S3
store's segment objects (`<20-digit first seq>.jsonl`, copied out of the bucket's `audit/` prefix).

Checks every record: the exact encoding (each line is parsed and encoded again from the document's rules, and
the bytes must be the same), seq (1, 2, 3 …), prev (the previous record's hash), hash (SHA-256 of the line's
bytes before `,"hash":"`), one vault id throughout, and each checkpoint's MAC (HMAC-SHA256 over the line's bytes
before `,"mac":"`). The MAC key: tier 1's is derived here with HKDF-SHA256 from the root seed file (the raw 32
bytes the vault's `local.rootSeedFile` holds) and the vault id; `--mac-key-hex` takes the key itself (tests);
`--no-mac` checks the chain only (tiers 2 and 3, whose MAC key never leaves KMS or the token: use
`strongroom audit verify` there). `--anchor vault.json`: the checkpoint named in the vault state must be in the
log with the same seq, hash and MAC, so a log truncated or rolled back before it fails.

Prints `OK records=… checkpoints=… …` and exits 0, or prints `BAD seq=… line=… kind=…: what is wrong` for the
first bad record and exits 1. Bytes after the last newline of a log file are a torn last record (a crash cut an
append short): they are ignored and reported as a warning, not as tampering. Usage errors exit 2.
"""
import argparse
import hashlib
import hmac
import json
import os
import re
import sys

ZERO_HASH = "0" * 64
HASH_MARKER = b',"hash":"'
MAC_MARKER = b',"mac":"'
CHECKPOINT = "audit.checkpoint"
MAC_INFO = b"strongroom/tier1/audit-mac"
ROOT_SEED_SIZE = 32
SEGMENT_NAME = re.compile(r"^[0-9]{20}\.jsonl$")
TIME = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z$")
HEX64 = re.compile(r"^[0-9a-f]{64}$")
LOWER_HEX = re.compile(r"^(?:[0-9a-f]{2})+$")
OPERATION = re.compile(r"^[a-z0-9.-]+$")
RECORD_KEYS = ["v", "seq", "prev", "time", "vault", "tier", "actor", "op", "share", "versions", "kek",
               "outcome", "error", "details"]
CHECKPOINT_KEYS = ["alg", "key", "mac"]
ACTOR_KEYS = ["uid", "pid", "host", "client"]
ERROR_KEYS = ["code", "exit"]


class Bad(Exception):
    """The first bad record: its seq (None when it has none), where it is, and what kind of fault."""

    def __init__(self, seq, where, kind, message):
        super().__init__(message)
        self.seq, self.where, self.kind, self.message = seq, where, kind, message

    def __str__(self):
        seq = "-" if self.seq is None else str(self.seq)
        return f"BAD seq={seq} line={self.where} kind={self.kind}: {self.message}"


# HKDF-SHA256 (RFC 5869), written out: extract, then expand.
def hkdf_sha256(ikm, salt, info, length):
    if length > 255 * 32:
        raise ValueError("HKDF-SHA256 gives at most 8160 bytes")
    prk = hmac.new(salt if salt else bytes(32), ikm, hashlib.sha256).digest()
    okm, block, counter = b"", b"", 1
    while len(okm) < length:
        block = hmac.new(prk, block + info + bytes([counter]), hashlib.sha256).digest()
        okm += block
        counter += 1
    return okm[:length]


def tier1_mac_key(root_seed, vault_id):
    """Tier 1's checkpoint key: HKDF-SHA256(IKM root seed, salt vault id (16 bytes), info
    "strongroom/tier1/audit-mac", 32 bytes)."""
    if len(root_seed) != ROOT_SEED_SIZE:
        raise ValueError(f"a root seed is {ROOT_SEED_SIZE} bytes, this one is {len(root_seed)}")
    if len(vault_id) != 16:
        raise ValueError(f"a vault id is 16 bytes, this one is {len(vault_id)}")
    return hkdf_sha256(root_seed, vault_id, MAC_INFO, 32)


# The canonical encoding (docs/audit.md, "Record format").
def encode_string(value):
    out = ['"']
    for ch in value:
        code = ord(ch)
        if ch == '"':
            out.append('\\"')
        elif ch == "\\":
            out.append("\\\\")
        elif code < 0x20:
            out.append("\\u%04x" % code)
        else:
            out.append(ch)
    out.append('"')
    return "".join(out)


def encode_optional_string(value):
    return "null" if value is None else encode_string(value)


def encode_integers(values):
    return "[" + ",".join(str(value) for value in values) + "]"


def encode_details(details):
    keys = sorted(details, key=lambda key: key.encode("utf-8"))
    return "{" + ",".join(encode_string(key) + ":" + encode_string(details[key]) for key in keys) + "}"


def encode_body(record):
    """The bytes of a record before `,"hash":"` (and, for a checkpoint, its MAC input: the bytes before
    `,"mac":"`), from a dict holding the record's members."""
    actor = record["actor"]
    error = record["error"]
    parts = [
        '{"v":1',
        ',"seq":', str(record["seq"]),
        ',"prev":', encode_string(record["prev"]),
        ',"time":', encode_string(record["time"]),
        ',"vault":', encode_string(record["vault"]),
        ',"tier":', encode_string(record["tier"]),
        ',"actor":{"uid":', str(actor["uid"]),
        ',"pid":', str(actor["pid"]),
        ',"host":', encode_string(actor["host"]),
        ',"client":', encode_optional_string(actor["client"]), "}",
        ',"op":', encode_string(record["op"]),
        ',"share":', encode_optional_string(record["share"]),
        ',"versions":', encode_integers(record["versions"]),
        ',"kek":', encode_integers(record["kek"]),
        ',"outcome":', encode_string(record["outcome"]),
        ',"error":', "null" if error is None else
        '{"code":' + encode_string(error["code"]) + ',"exit":' + str(error["exit"]) + "}",
        ',"details":', encode_details(record["details"]),
    ]
    if "alg" in record:
        parts += [',"alg":', encode_string(record["alg"]), ',"key":', encode_optional_string(record["key"])]
    return "".join(parts).encode("utf-8")


def encode_record(record, mac_key=None):
    """A complete record line (without its newline) for a dict of members; fills in `mac` (checkpoints, from
    `mac_key`, or "" for alg none) and `hash`. Returns (line bytes, hash hex, mac hex or None)."""
    body = encode_body(record)
    mac = None
    if "alg" in record:
        if record["alg"] == "none":
            mac = ""
        else:
            if mac_key is None:
                raise ValueError("a checkpoint with a MAC needs the MAC key")
            mac = hmac.new(mac_key, body, hashlib.sha256).hexdigest()
        body += b',"mac":' + encode_string(mac).encode("utf-8")
    digest = hashlib.sha256(body).hexdigest()
    return body + HASH_MARKER + digest.encode("ascii") + b'"}', digest, mac


# Parsing: every member checked for its type, then the line encoded again and compared byte for byte.
def _object(pairs):
    keys = [key for key, _ in pairs]
    if len(set(keys)) != len(keys):
        raise ValueError("a member appears twice")
    return _Ordered(pairs)


class _Ordered(dict):
    def __init__(self, pairs):
        super().__init__(pairs)
        self.order = [key for key, _ in pairs]


def _is_int(value, low, high):
    return type(value) is int and low <= value <= high


def parse_line(line, seq_hint, where):
    """A dict of the record's members, or Bad(kind "malformed" or "encoding")."""
    def bad(kind, message):
        return Bad(seq_hint, where, kind, message)

    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError:
        raise bad("malformed", "the line is not UTF-8")
    try:
        record = json.loads(text, object_pairs_hook=_object, parse_constant=_refuse_constant)
    except ValueError as error:
        raise bad("malformed", f"not a JSON object ({error})")
    if not isinstance(record, _Ordered):
        raise bad("malformed", "not a JSON object")
    if type(record.get("seq")) is int:
        seq_hint = record["seq"]
    expected = RECORD_KEYS + (CHECKPOINT_KEYS if "alg" in record else []) + ["hash"]
    if record.order != expected:
        raise Bad(seq_hint, where, "malformed", f"members {record.order}, expected {expected} in that order")
    def check(condition, message):
        if not condition:
            raise Bad(seq_hint, where, "malformed", message)

    check(record["v"] == 1 and type(record["v"]) is int, "v is not 1")
    check(_is_int(record["seq"], 1, 2**64 - 1), "seq is not a positive integer")
    check(isinstance(record["prev"], str) and HEX64.match(record["prev"]), "prev is not 64 lowercase hex digits")
    check(isinstance(record["hash"], str) and HEX64.match(record["hash"]), "hash is not 64 lowercase hex digits")
    check(isinstance(record["time"], str) and TIME.match(record["time"]), "time is not YYYY-MM-DDTHH:MM:SS.ffffffZ")
    check(isinstance(record["vault"], str) and re.match(r"^[0-9a-f]{32}$", record["vault"]),
          "vault is not 32 lowercase hex digits")
    check(isinstance(record["tier"], str) and record["tier"], "tier is not a name")
    actor = record["actor"]
    check(isinstance(actor, _Ordered) and actor.order == ACTOR_KEYS, f"actor's members are not {ACTOR_KEYS}")
    check(_is_int(actor["uid"], 0, 2**32 - 1), "actor.uid is not a uid")
    check(_is_int(actor["pid"], 0, 2**31 - 1), "actor.pid is not a pid")
    check(isinstance(actor["host"], str), "actor.host is not a string")
    check(actor["client"] is None or isinstance(actor["client"], str), "actor.client is not a string or null")
    check(isinstance(record["op"], str) and OPERATION.match(record["op"]), "op is not an operation name")
    check(record["share"] is None or isinstance(record["share"], str), "share is not a string or null")
    check(isinstance(record["versions"], list) and all(_is_int(v, 0, 2**64 - 1) for v in record["versions"]),
          "versions is not an array of share versions")
    check(isinstance(record["kek"], list) and all(_is_int(v, 0, 2**32 - 1) for v in record["kek"]),
          "kek is not an array of KEK versions")
    outcome, error = record["outcome"], record["error"]
    check(outcome in ("ok", "error"), 'outcome is not "ok" or "error"')
    if outcome == "ok":
        check(error is None, "an ok record carries an error")
    else:
        check(isinstance(error, _Ordered) and error.order == ERROR_KEYS, f"error's members are not {ERROR_KEYS}")
        check(isinstance(error["code"], str) and _is_int(error["exit"], 0, 255), "error is not {code, exit}")
    details = record["details"]
    check(isinstance(details, _Ordered) and all(isinstance(v, str) for v in details.values()),
          "details is not an object of strings")
    is_checkpoint = record["op"] == CHECKPOINT
    check(is_checkpoint == ("alg" in record), "only checkpoint records carry alg, key and mac")
    if is_checkpoint:
        check(record["share"] is None and record["versions"] == [] and record["kek"] == [] and outcome == "ok"
              and not details, "a checkpoint has share null, versions [], kek [], outcome ok and details {}")
        check(isinstance(record["alg"], str) and isinstance(record["mac"], str), "alg and mac are not strings")
        if record["alg"] == "none":
            check(record["key"] is None and record["mac"] == "", 'alg "none" has key null and mac ""')
        else:
            check(isinstance(record["key"], str) and LOWER_HEX.match(record["mac"]),
                  "key is not a string or mac is not lowercase hex")

    again = encode_body(record)
    if is_checkpoint:
        again += MAC_MARKER + record["mac"].encode("ascii") + b'"'
    again += HASH_MARKER + record["hash"].encode("ascii") + b'"}'
    if again != line:
        at = next((i for i, (a, b) in enumerate(zip(again, line)) if a != b), min(len(again), len(line)))
        raise Bad(seq_hint, where, "encoding",
                  f"the line is not in the canonical encoding (first difference at byte {at}: "
                  f"{line[at:at + 24]!r}, expected {again[at:at + 24]!r})")
    return record


def _refuse_constant(name):
    raise ValueError(f"{name} is not JSON")


# Reading a log: a file (with perhaps a torn tail) or a directory of segments.
def read_lines(path):
    """[(where, line bytes without newline)] and the torn tail's bytes (b"" when none)."""
    if os.path.isdir(path):
        names = sorted(os.listdir(path))
        lines = []
        for name in names:
            if not SEGMENT_NAME.match(name):
                print(f"warning: {name} is not a segment name (<20 digits>.jsonl); ignored", file=sys.stderr)
                continue
            with open(os.path.join(path, name), "rb") as handle:
                data = handle.read()
            if not data.endswith(b"\n"):
                raise Bad(None, f"{name}:end", "segment", f"segment {name} does not end in a newline "
                          "(a segment holds whole records; it was changed after it was written)")
            first = int(name[:20])
            for number, line in enumerate(data[:-1].split(b"\n"), start=1):
                lines.append((f"{name}:{number}", line, first if number == 1 else None))
        return lines, b""
    with open(path, "rb") as handle:
        data = handle.read()
    cut = data.rfind(b"\n") + 1
    complete, torn = data[:cut], data[cut:]
    lines = [] if not complete else [
        (str(number), line, None) for number, line in enumerate(complete[:-1].split(b"\n"), start=1)]
    return lines, torn


def verify(path, mac_key=None, check_mac=True, anchor=None, vault_id=None, tier=None):
    """Verifies the log at `path`; returns a dict of counts or raises Bad for the first bad record.
    `anchor`: the vault state's `audit` entry (a dict with seq, hash, mac), or None."""
    lines, torn = read_lines(path)
    previous_seq, previous_hash = 0, ZERO_HASH
    checkpoints, last_checkpoint_seq = 0, 0
    by_seq = {}
    for where, line, segment_first in lines:
        expected_seq = previous_seq + 1
        record = parse_line(line, expected_seq, where)
        seq = record["seq"]
        if segment_first is not None and seq != segment_first:
            raise Bad(seq, where, "segment", f"segment named for seq {segment_first} starts with seq {seq}")
        if seq != expected_seq:
            what = "deleted" if seq > expected_seq else "inserted, repeated or moved"
            raise Bad(seq, where, "seq", f"seq {seq} where {expected_seq} was expected (a record was {what})")
        if record["prev"] != previous_hash:
            raise Bad(seq, where, "prev", f"prev {record['prev']} is not the hash of record {previous_seq} "
                      f"({previous_hash}): a record before it was changed, deleted or inserted")
        body = line[:line.rindex(HASH_MARKER)]
        digest = hashlib.sha256(body).hexdigest()
        if digest != record["hash"]:
            raise Bad(seq, where, "hash", f"the record's bytes hash to {digest}, not to its hash {record['hash']}: "
                      "the record was changed")
        if vault_id is None:
            vault_id = record["vault"]
        elif record["vault"] != vault_id:
            raise Bad(seq, where, "vault", f"vault {record['vault']} in a log of vault {vault_id}")
        if tier is None:
            tier = record["tier"]
        elif record["tier"] != tier:
            raise Bad(seq, where, "vault", f"tier {record['tier']} in a log of a {tier} vault")
        if record["op"] == CHECKPOINT:
            if record["alg"] == "HMAC-SHA256":
                if check_mac:
                    if mac_key is None:
                        raise ValueError("a checkpoint has a MAC: give the MAC key, or check the chain only")
                    message = line[:line.rindex(MAC_MARKER)]
                    expected = hmac.new(mac_key, message, hashlib.sha256).hexdigest()
                    if not hmac.compare_digest(expected, record["mac"]):
                        raise Bad(seq, where, "mac", "the checkpoint's MAC does not verify: the log up to here was "
                                  "rewritten, or the MAC key (root seed, vault id) is not this vault's")
            elif record["alg"] != "none":
                raise Bad(seq, where, "malformed", f"unknown MAC algorithm {record['alg']!r}")
            checkpoints += 1
            last_checkpoint_seq = seq
        by_seq[seq] = (where, record)
        previous_seq, previous_hash = seq, record["hash"]

    if anchor is not None:
        seq = anchor.get("seq")
        if not _is_int(seq, 1, 2**64 - 1):
            raise Bad(None, "-", "anchor", "the vault state's audit entry has no seq")
        if seq not in by_seq:
            raise Bad(seq, "-", "anchor", f"the vault state names checkpoint seq {seq} but the log ends at seq "
                      f"{previous_seq}: the log was truncated or rolled back")
        where, record = by_seq[seq]
        if record["op"] != CHECKPOINT or record["hash"] != anchor.get("hash") or record["mac"] != anchor.get("mac"):
            raise Bad(seq, where, "anchor", f"record {seq} is not the checkpoint the vault state names (hash "
                      f"{anchor.get('hash')}): the log was rolled back or rewritten")
    return {
        "records": previous_seq,
        "checkpoints": checkpoints,
        "after_last_checkpoint": previous_seq - last_checkpoint_seq,
        "macs": "verified" if check_mac else "not-checked",
        "anchor": anchor["seq"] if anchor is not None else "none",
        "torn_tail_bytes": len(torn),
        "vault": vault_id or "-",
    }


def main(arguments):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("log", help="audit/log.jsonl, or a directory of S3 segment objects")
    keys = parser.add_mutually_exclusive_group(required=True)
    keys.add_argument("--root-seed", metavar="FILE", help="tier 1: the vault's root seed file (32 raw bytes)")
    keys.add_argument("--mac-key-hex", metavar="HEX", help="the HMAC-SHA256 key itself, in hex (tests)")
    keys.add_argument("--no-mac", action="store_true", help="check the chain only, not the checkpoint MACs")
    parser.add_argument("--vault-id", metavar="HEX", help="the vault id (32 hex digits); default: --anchor's")
    parser.add_argument("--anchor", metavar="VAULT_JSON", help="the vault's vault.json: its audit checkpoint")
    options = parser.parse_args(arguments)

    def usage(message):
        print(f"verify_log.py: {message}", file=sys.stderr)
        return 2

    anchor = state_vault = state_tier = None
    if options.anchor:
        try:
            with open(options.anchor, "rb") as handle:
                state = json.loads(handle.read().decode("utf-8"))
        except (OSError, ValueError) as error:
            return usage(f"cannot read {options.anchor}: {error}")
        state_vault = state.get("vaultID")
        state_tier = state.get("tier")
        anchor = state.get("audit")
        if anchor is None:
            print(f"warning: {options.anchor} names no audit checkpoint", file=sys.stderr)
    vault_hex = (options.vault_id or state_vault or "").lower()
    if vault_hex and not re.match(r"^[0-9a-f]{32}$", vault_hex):
        return usage(f"vault id {vault_hex!r} is not 32 hex digits")
    if options.vault_id and state_vault and options.vault_id.lower() != state_vault:
        return usage(f"--vault-id {options.vault_id} is not {options.anchor}'s vault {state_vault}")

    mac_key = None
    if options.root_seed:
        if not vault_hex:
            return usage("--root-seed needs --vault-id (or --anchor) for the HKDF salt")
        try:
            with open(options.root_seed, "rb") as handle:
                seed = handle.read()
            mac_key = tier1_mac_key(seed, bytes.fromhex(vault_hex))
        except (OSError, ValueError) as error:
            return usage(f"root seed file {options.root_seed}: {error}")
    elif options.mac_key_hex:
        try:
            mac_key = bytes.fromhex(options.mac_key_hex)
        except ValueError:
            return usage("--mac-key-hex is not hex")
    if not os.path.exists(options.log):
        return usage(f"{options.log} does not exist")

    try:
        result = verify(options.log, mac_key=mac_key, check_mac=not options.no_mac, anchor=anchor,
                        vault_id=vault_hex or None, tier=state_tier)
    except Bad as bad:
        print(bad)
        return 1
    if result["torn_tail_bytes"]:
        print(f"warning: {result['torn_tail_bytes']} bytes after the last newline are a torn last record "
              "(an append a crash cut short), ignored", file=sys.stderr)
    if options.no_mac and result["checkpoints"]:
        print("warning: checkpoint MACs were not checked (--no-mac)", file=sys.stderr)
    print("OK " + " ".join(f"{key}={value}" for key, value in result.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
