#!/usr/bin/env python3
"""Benchmark peer for Strongroom tier 3 (hsm), written with Python 3 + `python-pkcs11`.

It does per share the same work as Strongroom's tier 3, against the same PKCS#11 token (SoftHSM2 in
tests), so `strongroom bench --tier hsm` and this script can be compared on one machine in one run (see
scripts/bench/compare). Everything runs in one thread on one logged-in read/write session, so its
figures stand beside Strongroom's at concurrency 1. The envelope, the file operations and the driver
are peer_local.py's (imported, not copied); only the keyring differs.

  KEK v          an AES-256 token object generated in the HSM (CKM_AES_KEY_GEN; CKA_VALUE_LEN 32) with
                 CKA_TOKEN, CKA_PRIVATE, CKA_SENSITIVE, CKA_WRAP, CKA_UNWRAP true and CKA_EXTRACTABLE,
                 CKA_ENCRYPT, CKA_DECRYPT false, CKA_LABEL "strongroom/<vault id hex>/kek/<v>", CKA_ID the
                 16 vault id bytes then v (4 bytes, big-endian); looked up by label first and only
                 generated when absent. Found by label (C_FindObjects) once per version and cached. The
                 envelope's KEK id (field 13) is the label prefix "strongroom/<vault id hex>".
  store_durable  C_GenerateKey (CKM_AES_KEY_GEN) of a session DEK (CKA_TOKEN false, CKA_PRIVATE true,
                 CKA_SENSITIVE true, CKA_EXTRACTABLE true, CKA_ENCRYPT and CKA_DECRYPT true, CKA_VALUE_LEN
                 32); a 12-byte IV from os.urandom; C_Encrypt with CKM_AES_GCM of the 32-byte share
                 (AAD = envelope header, fields 1-11; 128-bit tag); C_WrapKey with CKM_AES_KEY_WRAP
                 (RFC 3394) of the DEK under the current KEK (40 bytes); C_DestroyObject of the DEK;
                 envelope v1 with tier byte 3 (docs/format.md); then peer_local.py's durable create
                 (temp file + fsync, link(2), fsync of the share directory).
  load           list the share directory, newest <version>.srb, read, parse, check (tier 3, vault, KEK
                 id, share id, version, mechanism 0x2109, 40-byte wrapped DEK); C_UnwrapKey with
                 CKM_AES_KEY_WRAP under the KEK into a session key (CKA_CLASS secret key, CKA_KEY_TYPE AES,
                 CKA_TOKEN false, CKA_PRIVATE true, CKA_SENSITIVE true, CKA_EXTRACTABLE false, CKA_DECRYPT
                 true, CKA_ENCRYPT false); C_Decrypt with CKM_AES_GCM and the header as AAD;
                 C_DestroyObject of the session key.
  rotate         generate KEK 2; for every blob: read, parse, check; C_UnwrapKey under KEK 1 with
                 CKA_EXTRACTABLE true and CKA_DECRYPT false (a key to wrap, not to use; otherwise the load
                 template); C_WrapKey under KEK 2; C_UnwrapKey of the new wrapped DEK under KEK 2 (the
                 load template) and C_Decrypt of the ciphertext with it, to verify before committing;
                 C_DestroyObject of both session keys; rewrite the key section, temp file + fsync, rename
                 over the blob, fsync the share directory. Then C_DestroyObject of KEK 1. All of it is
                 timed.

How python-pkcs11 (0.10) maps onto those calls, read from its source (pkcs11/_pkcs11.pyx):
  - CKM_AES_GCM takes pkcs11.mechanisms.GCMParams(nonce, aad, tag_bits), which fills CK_GCM_PARAMS as
    pIv/ulIvLen = nonce (12 bytes), ulIvBits = 96, pAAD/ulAADLen = aad, ulTagBits = tag_bits. (It is not
    a tuple; python-pkcs11 releases without GCMParams cannot do AES-GCM at all.) C_Encrypt returns the
    ciphertext followed by the 16-byte tag; C_Decrypt takes them the same way.
  - CKM_AES_KEY_WRAP with no parameter passes a NULL pParameter: RFC 3394's default IV.
  - Templates: python-pkcs11 builds them from `capabilities` (every one of CKA_ENCRYPT, CKA_DECRYPT,
    CKA_WRAP, CKA_UNWRAP, CKA_SIGN, CKA_VERIFY, CKA_DERIVE set true or false explicitly), `store`
    (CKA_TOKEN) and `template`, which wins; pkcs11.constants.DEFAULT drops an attribute it would add
    (its empty CKA_ID and CKA_LABEL on a DEK). So the templates above carry CKA_SIGN, CKA_VERIFY and
    CKA_DERIVE false as well, which Strongroom's leave to the token's defaults.

Not mirrored, or done differently:
  - python-pkcs11's own costs, which Strongroom does not have: after every C_GenerateKey and
    C_UnwrapKey it reads the new object's attributes (two C_GetAttributeValue calls) and builds a Python
    class for it; C_Encrypt, C_Decrypt and C_WrapKey are each called twice, first for the output length.
  - As in peer_local.py: Strongroom's store also takes a shared flock and reads vault.json per call;
    Strongroom keeps secrets in locked memory; rotation also journals in vault.json and sweeps temp files.
  - Concurrency: one session, one thread. Strongroom's bench also runs at concurrency 2 and 4; this
    peer has no figures for those.
  - The peer uses its own random vault id, so its KEK labels never clash with Strongroom's on a shared
    token, and it destroys the KEKs it made when it ends, on error too.

The user PIN comes from the environment variable STRONGROOM_HSM_PIN only (never an argument, never
printed). SoftHSM finds its tokens through SOFTHSM2_CONF (scripts/softhsm-init prints it).

Output: one JSON object per line on stdout:
  {"impl":"python-pkcs11","tier":"hsm","op":...,"concurrency":1,"count":N,"seconds":S,"ops_per_s":X}
(rotate adds "peak_rss_mib"), and a human-readable line per operation on stderr.
Usage: STRONGROOM_HSM_PIN=... peer_pkcs11.py --token LABEL --dir DIR [--module SO] [--count 2000]
       [--load-count 20000] [--rotate-count 10000]
"""

import argparse
import os
import struct
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import peer_local  # noqa: E402  (envelope, durable files, driver)
from peer_local import Malformed, fsync_dir  # noqa: E402

try:
    import pkcs11
    from pkcs11 import Attribute, KeyType, Mechanism, MechanismFlag, ObjectClass
    from pkcs11.constants import DEFAULT
except ImportError:
    sys.exit("peer_pkcs11.py: the Python package python-pkcs11 is missing (scripts/bootstrap installs it)")
try:
    from pkcs11.mechanisms import GCMParams
except ImportError:
    sys.exit("peer_pkcs11.py: this python-pkcs11 has no AES-GCM (pkcs11.mechanisms.GCMParams); "
             "upgrade it (0.10 has it)")

IMPL = "python-pkcs11"
TIER_HSM = 3
WRAPPED_DEK_BYTES = 40
TAG_BYTES = 16

# KEK: a token object that can only wrap and unwrap, never leaves the HSM. CKA_LABEL and CKA_ID are
# added per version (HsmKeyring.generate).
KEK_TEMPLATE = {
    Attribute.CLASS: ObjectClass.SECRET_KEY,
    Attribute.KEY_TYPE: KeyType.AES,
    Attribute.TOKEN: True,
    Attribute.PRIVATE: True,
    Attribute.SENSITIVE: True,
    Attribute.EXTRACTABLE: False,
    Attribute.WRAP: True,
    Attribute.UNWRAP: True,
    Attribute.ENCRYPT: False,
    Attribute.DECRYPT: False,
}
KEK_CAPABILITIES = MechanismFlag.WRAP | MechanismFlag.UNWRAP

# DEK of a store: a session object that seals one share and is then wrapped (so extractable).
DEK_TEMPLATE = {
    Attribute.CLASS: ObjectClass.SECRET_KEY,
    Attribute.KEY_TYPE: KeyType.AES,
    Attribute.TOKEN: False,
    Attribute.PRIVATE: True,
    Attribute.SENSITIVE: True,
    Attribute.EXTRACTABLE: True,
    Attribute.ENCRYPT: True,
    Attribute.DECRYPT: True,
    Attribute.ID: DEFAULT,
    Attribute.LABEL: DEFAULT,
}
DEK_CAPABILITIES = MechanismFlag.ENCRYPT | MechanismFlag.DECRYPT

# Unwrapped DEK, to decrypt with (load, and the check of a rewrap) or to wrap again (rewrap): never
# both. CKA_CLASS and CKA_KEY_TYPE come from unwrap_key's arguments.
UNWRAP_TEMPLATE = {
    Attribute.TOKEN: False,
    Attribute.PRIVATE: True,
    Attribute.SENSITIVE: True,
    Attribute.EXTRACTABLE: False,
    Attribute.DECRYPT: True,
    Attribute.ENCRYPT: False,
}
UNWRAP_CAPABILITIES = MechanismFlag.DECRYPT
UNWRAP_EXTRACTABLE_TEMPLATE = {**UNWRAP_TEMPLATE, Attribute.EXTRACTABLE: True, Attribute.DECRYPT: False}
UNWRAP_EXTRACTABLE_CAPABILITIES = 0


class HsmKeyring:
    """peer_local.Keyring's interface (kek_id, seal, open, rewrap) with the keys inside the token."""

    def __init__(self, session, vault_id: bytes):
        self.session = session
        self.vault_id = vault_id
        self.kek_id = "strongroom/" + vault_id.hex()
        self._cache = {}
        self.made = []  # labels of the KEKs this run generated, destroyed at the end

    def label(self, version: int) -> str:
        return "%s/kek/%d" % (self.kek_id, version)

    def generate(self, version: int) -> None:
        """Creates KEK version unless it exists (found by label first, as Strongroom's prepareKEK)."""
        label = self.label(version)
        # list() runs the search to its end, so C_FindObjectsFinal is called before the next operation.
        if list(self.session.get_objects({Attribute.CLASS: ObjectClass.SECRET_KEY, Attribute.LABEL: label})):
            return
        self.made.append(label)
        key_id = self.vault_id + struct.pack(">I", version)
        self.session.generate_key(KeyType.AES, 256, label=label, id=key_id, store=True,
                                  capabilities=KEK_CAPABILITIES, template=KEK_TEMPLATE)

    def kek(self, version: int):
        if version < 1:
            raise Malformed("KEK version 0 does not exist")
        key = self._cache.get(version)
        if key is None:
            key = self.session.get_key(object_class=ObjectClass.SECRET_KEY, key_type=KeyType.AES,
                                       label=self.label(version))
            if len(self._cache) < 64:
                self._cache[version] = key
        return key

    def destroy(self, version: int) -> None:
        self._cache.pop(version, None)
        label = self.label(version)
        for key in list(self.session.get_objects({Attribute.LABEL: label})):
            key.destroy()
        if label in self.made:
            self.made.remove(label)

    def destroy_made(self) -> None:
        """Destroys the KEKs this run generated that still exist; reports (by label) any it cannot."""
        self._cache.clear()
        for label in list(self.made):
            try:
                for key in list(self.session.get_objects({Attribute.LABEL: label})):
                    key.destroy()
                self.made.remove(label)
            except pkcs11.PKCS11Error as error:
                print("peer_pkcs11.py: could not destroy the KEK %s: %s" % (label, type(error).__name__),
                      file=sys.stderr)

    def _unwrap(self, kek, wrapped: bytes, extractable: bool = False):
        if extractable:
            capabilities, template = UNWRAP_EXTRACTABLE_CAPABILITIES, UNWRAP_EXTRACTABLE_TEMPLATE
        else:
            capabilities, template = UNWRAP_CAPABILITIES, UNWRAP_TEMPLATE
        return kek.unwrap_key(ObjectClass.SECRET_KEY, KeyType.AES, wrapped, mechanism=Mechanism.AES_KEY_WRAP,
                              store=False, capabilities=capabilities, template=template)

    def seal(self, version: int, secret: bytes, aad: bytes):
        kek = self.kek(version)
        dek = self.session.generate_key(KeyType.AES, 256, store=False, capabilities=DEK_CAPABILITIES,
                                        template=DEK_TEMPLATE)
        try:
            iv = os.urandom(12)
            sealed = dek.encrypt(secret, mechanism=Mechanism.AES_GCM,
                                 mechanism_param=GCMParams(iv, aad, TAG_BYTES * 8))
            wrapped = kek.wrap_key(dek, mechanism=Mechanism.AES_KEY_WRAP)
        finally:
            dek.destroy()
        return wrapped, iv, sealed[:-TAG_BYTES], sealed[-TAG_BYTES:]

    def open(self, env, aad: bytes) -> bytes:
        dek = self._unwrap(self.kek(env.kek_version), env.wrapped)
        try:
            return dek.decrypt(env.ct + env.tag, mechanism=Mechanism.AES_GCM,
                               mechanism_param=GCMParams(env.iv, aad, TAG_BYTES * 8))
        finally:
            dek.destroy()

    def rewrap(self, env, aad: bytes, target: int) -> bytes:
        new_kek = self.kek(target)
        old = self._unwrap(self.kek(env.kek_version), env.wrapped, extractable=True)
        try:
            wrapped = new_kek.wrap_key(old, mechanism=Mechanism.AES_KEY_WRAP)
            check = self._unwrap(new_kek, wrapped)
            try:  # prove the rewrapped DEK opens this ciphertext before the blob is replaced
                check.decrypt(env.ct + env.tag, mechanism=Mechanism.AES_GCM,
                              mechanism_param=GCMParams(env.iv, aad, TAG_BYTES * 8))
            finally:
                check.destroy()
        finally:
            old.destroy()
        return wrapped


class HsmVault(peer_local.Vault):
    tier = TIER_HSM

    def checked(self, raw: bytes, sid: bytes, version: int):
        env = super().checked(raw, sid, version)
        if len(env.wrapped) != WRAPPED_DEK_BYTES:
            raise Malformed("wrapped DEK is %d bytes, expected %d" % (len(env.wrapped), WRAPPED_DEK_BYTES))
        return env

    def rotate(self) -> int:
        target = self.current_kek + 1
        self.keyring.generate(target)
        done = super().rotate()  # rewraps every blob, then makes target current
        self.keyring.destroy(target - 1)
        return done


def main() -> int:
    ap = argparse.ArgumentParser(
        description="Strongroom tier 3 benchmark peer (Python + python-pkcs11); the user PIN is read from "
                    "the environment variable STRONGROOM_HSM_PIN", allow_abbrev=False)
    peer_local.add_arguments(ap)
    ap.add_argument("--module", default=os.environ.get("STRONGROOM_SOFTHSM_MODULE"),
                    help="PKCS#11 module (.so); default: $STRONGROOM_SOFTHSM_MODULE")
    ap.add_argument("--token", default=os.environ.get("STRONGROOM_HSM_TOKEN"),
                    help="token label; default: $STRONGROOM_HSM_TOKEN")
    ap.add_argument("--pin", nargs="?", const="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.pin is not None:
        ap.error("the PIN is never a command-line argument: set STRONGROOM_HSM_PIN")
    if not args.module:
        ap.error("no PKCS#11 module: give --module or set STRONGROOM_SOFTHSM_MODULE")
    if not args.token:
        ap.error("no token: give --token or set STRONGROOM_HSM_TOKEN")
    pin = os.environ.get("STRONGROOM_HSM_PIN")
    if not pin:
        ap.error("set STRONGROOM_HSM_PIN to the token's user PIN")

    root = peer_local.empty_root(args.dir, "peer_pkcs11.py")
    if root is None:
        return 2

    try:
        lib = pkcs11.lib(args.module)
        token = lib.get_token(token_label=args.token)
    except pkcs11.NoSuchToken:
        print("peer_pkcs11.py: no token labelled %r in %s (for SoftHSM: is SOFTHSM2_CONF set?)"
              % (args.token, args.module), file=sys.stderr)
        return 1
    except pkcs11.MultipleTokensReturned:
        print("peer_pkcs11.py: more than one token is labelled %r" % args.token, file=sys.stderr)
        return 1
    except (RuntimeError, OSError, pkcs11.PKCS11Error) as error:
        print("peer_pkcs11.py: cannot load the PKCS#11 module %s: %s" % (args.module, error), file=sys.stderr)
        return 1

    try:
        session = token.open(user_pin=pin, rw=True)
    except pkcs11.PinIncorrect:
        print("peer_pkcs11.py: the token refused the PIN in STRONGROOM_HSM_PIN", file=sys.stderr)
        return 1
    del pin
    with session:
        # Setup (untimed): vault id, KEK 1, shares/ directory.
        vault_id = os.urandom(16)
        keyring = HsmKeyring(session, vault_id)
        try:
            vault = HsmVault(root, vault_id, keyring)
            os.mkdir(vault.shares, 0o700)
            fsync_dir(root)
            keyring.generate(1)
            keyring.kek(1)
            peer_local.run(vault, args, name="peer_pkcs11.py", impl=IMPL, tier="hsm", concurrency=1)
        finally:
            keyring.destroy_made()
    return 0


if __name__ == "__main__":
    sys.exit(main())
