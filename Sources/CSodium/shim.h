#ifndef STRONGROOM_CSODIUM_SHIM_H
#define STRONGROOM_CSODIUM_SHIM_H
#include <sodium.h>
#endif
