#!/usr/bin/env python3
"""Benchmark peer for Strongroom tier 2 (cloud), written with Python 3 + boto3 + `cryptography`.

It does per share the same work as Strongroom's tier 2, one request after another as a typical script
would (one boto3 client per service, default retries, one thread), against S3 and KMS at one endpoint
(scripts/bench/compare --tier cloud points it at a local moto server):

  store      ListObjectsV2 of <prefix>shares/<id>/ for the newest <n>.srb; KMS GenerateDataKey(KeyId =
             the current KMS key, KeySpec AES_256, EncryptionContext = ctx); AES-256-GCM seal in process
             with the 32-byte Plaintext as the data key, a random 12-byte IV and the envelope header as
             AAD; envelope v1 (docs/format.md) with tier byte 2, KEK id = the vault id as 32 lowercase
             hex digits, wrap mechanism 0x80004B4D and the CiphertextBlob as the wrapped key; PutObject
             of <prefix>shares/<id>/<n+1>.srb with If-None-Match: * (on 412 PreconditionFailed, or 409
             ConditionalRequestConflict, the next version number is taken and the store tried again).
  load       ListObjectsV2 for the newest version; GetObject; parse and check (tier 2, vault, KEK id,
             share id, version, mechanism); KMS Decrypt(CiphertextBlob, EncryptionContext = ctx);
             AES-GCM open with the header as AAD.
  rotate     KMS CreateKey (KEK version n+1); ListObjectsV2 of every share version under
             <prefix>shares/; for each: GetObject (keeping its ETag), parse, check; KMS ReEncrypt
             (SourceEncryptionContext = ctx, DestinationKeyId = the new key, DestinationEncryptionContext
             = ctx); the key section rewritten with the new KEK version and CiphertextBlob (header, IV,
             ciphertext and tag unchanged); PutObject with If-Match: <ETag>. Then (untimed)
             ScheduleKeyDeletion of the old key with a 7-day window.
  get_plain  GetObject of one small existing object in a loop: the server's own request rate as a boto3
             client sees it, the reference the other rates can be read against.

ctx = {"strongroom:vault": vault id hex, "strongroom:share": share id, "strongroom:version": share
version in decimal}: KMS binds the wrapped data key to the share version it seals.

Not mirrored: Strongroom's connection handling, concurrency (its bench also runs at concurrency 8; this
peer has figures at 1 only) and locked memory for secrets; as in peer_local.py, Strongroom's store also
reads the vault's state per call.

Set-up and cleanup are untimed: KMS key 1 is made first; at the end every object version and delete
marker under the prefix is deleted (the prefix must be empty at the start, so all of them are this
run's) and every KMS key the run made is scheduled for deletion, on error too.

Credentials come from the standard AWS chain (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, as
scripts/moto-server prints them); they are never arguments.

Output: one JSON object per line on stdout:
  {"impl":"boto3","tier":"cloud","op":...,"concurrency":1,"count":N,"seconds":S,"ops_per_s":X}
(rotate adds "peak_rss_mib"), and a human-readable line per operation on stderr.
Usage: peer_cloud.py --endpoint URL --bucket B [--region us-east-1] [--prefix P/] [--count 200]
       [--load-count 300] [--rotate-count 200] [--get-count 500]
"""

import argparse
import os
import resource
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peer_local  # noqa: E402  (envelope, emit, argument checks)
from peer_local import Envelope, Malformed, body, emit, header, key_section, positive  # noqa: E402

try:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError
except ImportError:
    sys.exit("peer_cloud.py: the Python package boto3 is missing (scripts/bootstrap installs it)")
from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: E402

IMPL = "boto3"
TIER_CLOUD = 2
MECH_KMS = 0x80004B4D  # wrapped DEK = a KMS CiphertextBlob
DELETION_WINDOW_DAYS = 7  # KMS's shortest


def error_code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


def http_status(error: ClientError) -> int:
    return int(error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))


def version_of(name: str):
    """n for an object name "<n>.srb" (no sign, no leading zero), else None."""
    if not name.endswith(".srb"):
        return None
    digits = name[:-4]
    if digits and digits[0] != "0" and digits.isdigit() and digits.isascii():
        return int(digits)
    return None


class CloudVault:
    def __init__(self, s3, kms, bucket: str, prefix: str, vault_id: bytes):
        self.s3 = s3
        self.kms = kms
        self.bucket = bucket
        self.prefix = prefix
        self.shares = prefix + "shares/"
        self.vault_id = vault_id
        self.vault_hex = vault_id.hex()
        self.kek_id = self.vault_hex.encode()
        self.keys = {}  # KEK version -> KMS key id
        self.current_kek = 0
        self.made_keys = []  # every KMS key this run created, scheduled for deletion at the end
        self.scheduled = set()

    # --- KMS keys ---------------------------------------------------------------------------------

    def new_kek(self) -> int:
        """Creates a KMS key as the next KEK version and returns that version (not yet current)."""
        version = self.current_kek + 1
        key_id = self.kms.create_key(Description="strongroom peer_cloud.py vault %s KEK %d"
                                     % (self.vault_hex, version))["KeyMetadata"]["KeyId"]
        self.made_keys.append(key_id)
        self.keys[version] = key_id
        return version

    def retire(self, version: int) -> None:
        key_id = self.keys.get(version)
        if key_id is not None and key_id not in self.scheduled:
            self.kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=DELETION_WINDOW_DAYS)
            self.scheduled.add(key_id)

    # --- Objects ----------------------------------------------------------------------------------

    def context(self, share_id: str, version: int) -> dict:
        return {"strongroom:vault": self.vault_hex, "strongroom:share": share_id,
                "strongroom:version": str(version)}

    def object_key(self, share_id: str, version: int) -> str:
        return "%s%s/%d.srb" % (self.shares, share_id, version)

    def list_keys(self, prefix: str):
        """Every object key under prefix (ListObjectsV2, page by page)."""
        keys = []
        request = {"Bucket": self.bucket, "Prefix": prefix}
        while True:
            page = self.s3.list_objects_v2(**request)
            keys.extend(entry["Key"] for entry in page.get("Contents", []))
            if not page.get("IsTruncated"):
                return keys
            request["ContinuationToken"] = page["NextContinuationToken"]

    def versions(self, share_id: str):
        start = "%s%s/" % (self.shares, share_id)
        found = []
        for key in self.list_keys(start):
            name = key[len(start):]
            if "/" not in name:
                version = version_of(name)
                if version is not None:
                    found.append(version)
        found.sort()
        return found

    def checked(self, raw: bytes, share_id: str, version: int) -> Envelope:
        env = Envelope.parse(raw)
        if env.tier != TIER_CLOUD or env.vault_id != self.vault_id or env.kek_id != self.kek_id:
            raise Malformed("blob sealed for another vault, tier or KEK")
        if env.share_id != share_id.encode() or env.version != version:
            raise Malformed("blob belongs to another share id or version")
        if env.mechanism != MECH_KMS:
            raise Malformed("wrap mechanism is not KMS (0x%08X)" % env.mechanism)
        if not env.wrapped:
            raise Malformed("empty wrapped key")
        if env.kek_version not in self.keys:
            raise Malformed("unknown KEK version %d" % env.kek_version)
        return env

    # --- Store, load, rotate ------------------------------------------------------------------------

    def store(self, share_id: str, secret: bytes) -> int:
        if not 1 <= len(secret) <= peer_local.MAX_SHARE:
            raise ValueError("share size")
        sid = share_id.encode()
        existing = self.versions(share_id)
        version = (existing[-1] if existing else 0) + 1
        kek = self.current_kek
        while True:
            data_key = self.kms.generate_data_key(KeyId=self.keys[kek], KeySpec="AES_256",
                                                  EncryptionContext=self.context(share_id, version))
            aad = header(self.vault_id, sid, version, int(time.time()), tier=TIER_CLOUD)
            iv = os.urandom(12)
            sealed = AESGCM(data_key["Plaintext"]).encrypt(iv, secret, aad)
            blob = b"".join((
                aad,
                key_section(self.kek_id, kek, data_key["CiphertextBlob"], mechanism=MECH_KMS),
                body(iv, sealed[:-16], sealed[-16:]),
            ))
            try:
                self.s3.put_object(Bucket=self.bucket, Key=self.object_key(share_id, version), Body=blob,
                                   IfNoneMatch="*")
                return version
            except ClientError as error:
                if error_code(error) in ("PreconditionFailed", "ConditionalRequestConflict") \
                        or http_status(error) == 412:
                    version += 1  # another writer took this version number first
                    continue
                raise

    def load(self, share_id: str) -> bytes:
        versions = self.versions(share_id)
        if not versions:
            raise KeyError(share_id)
        version = versions[-1]
        raw = self.s3.get_object(Bucket=self.bucket, Key=self.object_key(share_id, version))["Body"].read()
        env = self.checked(raw, share_id, version)
        data_key = self.kms.decrypt(CiphertextBlob=env.wrapped,
                                    EncryptionContext=self.context(share_id, version))["Plaintext"]
        # Fields 1-8 of the header were checked equal to the expected ones, so the blob's header bytes
        # are the AAD (docs/format.md, "Associated data").
        return AESGCM(data_key).decrypt(env.iv, env.ct + env.tag, env.header_bytes())

    def rewrap_blob(self, share_id: str, version: int, target: int) -> bool:
        key = self.object_key(share_id, version)
        got = self.s3.get_object(Bucket=self.bucket, Key=key)
        raw, etag = got["Body"].read(), got["ETag"]
        env = self.checked(raw, share_id, version)
        if env.kek_version == target:
            return False
        ctx = self.context(share_id, version)
        wrapped = self.kms.re_encrypt(CiphertextBlob=env.wrapped, SourceEncryptionContext=ctx,
                                      DestinationKeyId=self.keys[target],
                                      DestinationEncryptionContext=ctx)["CiphertextBlob"]
        blob = b"".join((env.header_bytes(), key_section(self.kek_id, target, wrapped, mechanism=MECH_KMS),
                         body(env.iv, env.ct, env.tag)))
        self.s3.put_object(Bucket=self.bucket, Key=key, Body=blob, IfMatch=etag)
        return True

    def rotate(self) -> int:
        """Rewraps every share version under a new KMS key; the old key is retired by the caller."""
        target = self.new_kek()
        work = []
        for key in self.list_keys(self.shares):
            share_id, _, name = key[len(self.shares):].partition("/")
            version = version_of(name)
            if share_id and version is not None:
                work.append((share_id, version))
        done = 0
        for share_id, version in work:
            if self.rewrap_blob(share_id, version, target):
                done += 1
        self.current_kek = target
        return done

    # --- Cleanup ----------------------------------------------------------------------------------

    def prefix_is_empty(self) -> bool:
        page = self.s3.list_object_versions(Bucket=self.bucket, Prefix=self.prefix, MaxKeys=1)
        return not page.get("Versions") and not page.get("DeleteMarkers")

    def delete_everything(self) -> int:
        """Deletes every object version and delete marker under the prefix; returns how many."""
        deleted = 0
        request = {"Bucket": self.bucket, "Prefix": self.prefix}
        while True:
            page = self.s3.list_object_versions(**request)
            batch = [{"Key": entry["Key"], "VersionId": entry["VersionId"]}
                     for entry in page.get("Versions", []) + page.get("DeleteMarkers", [])]
            if batch:  # a listing page holds at most 1000 entries, DeleteObjects' limit too
                result = self.s3.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
                if result.get("Errors"):
                    first = result["Errors"][0]
                    raise RuntimeError("DeleteObjects failed for %d objects (first: %s %s)"
                                       % (len(result["Errors"]), first.get("Key"), first.get("Code")))
                deleted += len(batch)
            if not page.get("IsTruncated"):
                return deleted
            request["KeyMarker"] = page.get("NextKeyMarker")
            request["VersionIdMarker"] = page.get("NextVersionIdMarker")

    def retire_made_keys(self) -> None:
        for key_id in self.made_keys:
            if key_id in self.scheduled:
                continue
            try:
                self.kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=DELETION_WINDOW_DAYS)
                self.scheduled.add(key_id)
            except (ClientError, BotoCoreError) as error:
                print("peer_cloud.py: could not schedule the deletion of KMS key %s: %s" % (key_id, error),
                      file=sys.stderr)


def run(vault: CloudVault, args) -> None:
    labels = {"impl": IMPL, "tier": "cloud", "concurrency": 1}
    ids = ["s-%06d" % i for i in range(args.count)]
    secrets = [os.urandom(peer_local.SHARE_BYTES) for _ in ids]

    t0 = time.perf_counter()
    for share_id, secret in zip(ids, secrets):
        vault.store(share_id, secret)
    emit("store", len(ids), time.perf_counter() - t0, **labels)

    n = len(ids)
    t0 = time.perf_counter()
    for i in range(args.load_count):
        vault.load(ids[i % n])
    emit("load", args.load_count, time.perf_counter() - t0, **labels)

    step = max(1, n // 64)
    for i in range(0, n, step):  # untimed correctness check on a sample
        if vault.load(ids[i]) != secrets[i]:
            raise SystemExit("peer_cloud.py: share %s did not round-trip" % ids[i])

    # rotate: the bucket holds max(count, rotate-count) share versions; extra ones are stored untimed.
    for i in range(args.count, args.rotate_count):
        vault.store("s-%06d" % i, os.urandom(peer_local.SHARE_BYTES))
    old = vault.current_kek
    t0 = time.perf_counter()
    rotated = vault.rotate()
    seconds = time.perf_counter() - t0
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    emit("rotate", rotated, seconds, peak_rss_mib=round(peak_kib / 1024.0, 1), **labels)
    vault.retire(old)  # untimed

    for i in range(0, n, step):  # untimed: shares still open, now under the new key
        if vault.load(ids[i]) != secrets[i]:
            raise SystemExit("peer_cloud.py: share %s did not survive rotation" % ids[i])

    plain_key = vault.object_key(ids[0], vault.versions(ids[0])[-1])
    t0 = time.perf_counter()
    for _ in range(args.get_count):
        vault.s3.get_object(Bucket=vault.bucket, Key=plain_key)["Body"].read()
    emit("get_plain", args.get_count, time.perf_counter() - t0, **labels)


def main() -> int:
    ap = argparse.ArgumentParser(
        description="Strongroom tier 2 benchmark peer (Python + boto3 + cryptography); credentials come "
                    "from the standard AWS environment variables", allow_abbrev=False)
    ap.add_argument("--endpoint", default=os.environ.get("STRONGROOM_TEST_S3_ENDPOINT"),
                    help="S3 and KMS endpoint URL, e.g. http://127.0.0.1:PORT for moto; "
                         "default: $STRONGROOM_TEST_S3_ENDPOINT")
    ap.add_argument("--bucket", default=os.environ.get("STRONGROOM_TEST_S3_BUCKET"),
                    help="versioned bucket; default: $STRONGROOM_TEST_S3_BUCKET")
    ap.add_argument("--region", default="us-east-1", help="region (default us-east-1)")
    ap.add_argument("--prefix", help="object key prefix ending in '/', empty at the start "
                                     "(default: bench-peer-<random>/)")
    ap.add_argument("--count", type=positive, default=200, help="shares stored (timed)")
    ap.add_argument("--load-count", type=positive, default=300, help="loads, cycling through the shares")
    ap.add_argument("--rotate-count", type=positive, default=200,
                    help="share versions in the bucket when rotating (extra ones stored untimed)")
    ap.add_argument("--get-count", type=positive, default=500, help="plain GetObject calls (timed)")
    args = ap.parse_args()
    if not args.endpoint:
        ap.error("no endpoint: give --endpoint or set STRONGROOM_TEST_S3_ENDPOINT")
    if not args.bucket:
        ap.error("no bucket: give --bucket or set STRONGROOM_TEST_S3_BUCKET")
    prefix = args.prefix if args.prefix is not None else "bench-peer-%s/" % os.urandom(6).hex()
    if not prefix.endswith("/") or prefix.startswith("/"):
        ap.error("--prefix must end with '/' and not start with one (got %r)" % prefix)

    # Path-style addressing: the endpoint is an address, not a domain with a bucket subdomain.
    config = Config(s3={"addressing_style": "path"})
    session = boto3.session.Session(region_name=args.region)
    s3 = session.client("s3", endpoint_url=args.endpoint, config=config)
    kms = session.client("kms", endpoint_url=args.endpoint, config=config)
    vault = CloudVault(s3, kms, args.bucket, prefix, os.urandom(16))

    try:
        if not vault.prefix_is_empty():
            print("peer_cloud.py: s3://%s/%s is not empty; give an unused --prefix" % (args.bucket, prefix),
                  file=sys.stderr)
            return 2
    except NoCredentialsError:
        print("peer_cloud.py: no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY "
              "(scripts/moto-server prints them)", file=sys.stderr)
        return 2
    except (ClientError, BotoCoreError) as error:
        print("peer_cloud.py: cannot list s3://%s/%s at %s: %s" % (args.bucket, prefix, args.endpoint, error),
              file=sys.stderr)
        return 1

    try:
        vault.current_kek = vault.new_kek()  # set-up (untimed): KMS key 1
        run(vault, args)
    except (ClientError, BotoCoreError) as error:
        print("peer_cloud.py: request failed: %s" % error, file=sys.stderr)
        return 1
    finally:
        try:
            removed = vault.delete_everything()
            print("peer_cloud.py: removed %d object versions and delete markers under s3://%s/%s"
                  % (removed, args.bucket, prefix), file=sys.stderr)
        except (ClientError, BotoCoreError, RuntimeError) as error:
            print("peer_cloud.py: cleanup of s3://%s/%s failed: %s" % (args.bucket, prefix, error),
                  file=sys.stderr)
        vault.retire_made_keys()
    return 0


if __name__ == "__main__":
    sys.exit(main())
