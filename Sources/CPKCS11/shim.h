#ifndef STRONGROOM_CPKCS11_SHIM_H
#define STRONGROOM_CPKCS11_SHIM_H
#include <p11-kit/pkcs11.h>
#include <dlfcn.h>
#endif
