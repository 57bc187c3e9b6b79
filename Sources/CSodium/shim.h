#ifndef STRONGROOM_CSODIUM_SHIM_H
#define STRONGROOM_CSODIUM_SHIM_H
#include <sodium.h>

#if defined(__linux__)
#include <sys/prctl.h>
/* prctl is variadic, so Swift cannot call it: SecureCrypto's process hardening goes through this.
   Returns 0, or -1 with errno set. */
static inline int strongroom_prctl_set_not_dumpable(void) {
    return prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}
/* 1 when the process is dumpable, 0 when not, -1 with errno set. */
static inline int strongroom_prctl_get_dumpable(void) {
    return prctl(PR_GET_DUMPABLE, 0, 0, 0, 0);
}
#endif
/* crypto_pwhash with Argon2id v1.3 (crypto_pwhash_ALG_ARGON2ID13) on untyped buffers: its password is a
   `const char *` and its output and salt `unsigned char *`, which Swift cannot pass from raw buffers
   without binding memory. Returns 0, or -1 (limits out of range, or out of memory). */
static inline int strongroom_pwhash_argon2id(void *out, unsigned long long outlen, const void *passwd,
                                             unsigned long long passwdlen, const void *salt,
                                             unsigned long long opslimit, size_t memlimit) {
    return crypto_pwhash((unsigned char *)out, outlen, (const char *)passwd, passwdlen,
                         (const unsigned char *)salt, opslimit, memlimit, crypto_pwhash_ALG_ARGON2ID13);
}
#endif
