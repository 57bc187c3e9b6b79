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
#endif
