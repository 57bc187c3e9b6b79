#ifndef STRONGROOM_COPENSSL_SHIM_H
#define STRONGROOM_COPENSSL_SHIM_H
#include <openssl/evp.h>
#include <openssl/err.h>
#include <openssl/rand.h>
#include <openssl/kdf.h>
#include <openssl/core_names.h>
#include <openssl/params.h>
#include <openssl/crypto.h>

// Shims take `void *` so that Swift can pass raw buffer pointers without rebinding memory, and wrap
// macros and ctrl calls that Swift cannot import.

static inline int sr_cipher_init(EVP_CIPHER_CTX *ctx, const EVP_CIPHER *cipher, const void *key,
                                 const void *iv, int enc) {
    return EVP_CipherInit_ex2(ctx, cipher, (const unsigned char *)key, (const unsigned char *)iv, enc, NULL);
}

static inline int sr_cipher_update(EVP_CIPHER_CTX *ctx, void *out, int *outl, const void *in, int inl) {
    return EVP_CipherUpdate(ctx, (unsigned char *)out, outl, (const unsigned char *)in, inl);
}

static inline int sr_cipher_final(EVP_CIPHER_CTX *ctx, void *out, int *outl) {
    return EVP_CipherFinal_ex(ctx, (unsigned char *)out, outl);
}

static inline int sr_gcm_set_ivlen(EVP_CIPHER_CTX *ctx, int ivlen) {
    return EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_IVLEN, ivlen, NULL);
}

static inline int sr_gcm_get_tag(EVP_CIPHER_CTX *ctx, void *tag, int len) {
    return EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_GET_TAG, len, tag);
}

static inline int sr_gcm_set_tag(EVP_CIPHER_CTX *ctx, const void *tag, int len) {
    return EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, len, (void *)tag);
}

static inline void sr_cipher_allow_wrap(EVP_CIPHER_CTX *ctx) {
    EVP_CIPHER_CTX_set_flags(ctx, EVP_CIPHER_CTX_FLAG_WRAP_ALLOW);
}

// HKDF-SHA256 on an EVP_KDF context. OSSL_PARAM keeps pointers to its names and values, so the
// parameter array is built here, with C string literals, for the duration of the derive call.
// mode: EVP_KDF_HKDF_MODE_EXTRACT_AND_EXPAND (0), _EXTRACT_ONLY (1) or _EXPAND_ONLY (2).
static inline int sr_hkdf_sha256(EVP_KDF_CTX *ctx, int mode, const void *key, size_t keylen,
                                 const void *salt, size_t saltlen, const void *info, size_t infolen,
                                 void *out, size_t outlen) {
    OSSL_PARAM params[6];
    int n = 0;
    params[n++] = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
    params[n++] = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
    params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)key, keylen);
    if (saltlen > 0) params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt, saltlen);
    if (infolen > 0) params[n++] = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, infolen);
    params[n] = OSSL_PARAM_construct_end();
    return EVP_KDF_derive(ctx, (unsigned char *)out, outlen, params);
}

static inline int sr_rand_priv_bytes(void *out, int len) {
    return RAND_priv_bytes((unsigned char *)out, len);
}

static inline int sr_rand_bytes(void *out, int len) {
    return RAND_bytes((unsigned char *)out, len);
}

// X25519 (RFC 7748) on EVP_PKEY raw keys.
static inline EVP_PKEY *sr_x25519_private(const void *key) {
    return EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, (const unsigned char *)key, 32);
}

static inline EVP_PKEY *sr_x25519_public(const void *key) {
    return EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, (const unsigned char *)key, 32);
}

static inline int sr_x25519_get_public(EVP_PKEY *pkey, void *out) {
    size_t len = 32;
    return EVP_PKEY_get_raw_public_key(pkey, (unsigned char *)out, &len) == 1 && len == 32;
}

// Derives the 32-byte shared secret; returns 1 on success.
static inline int sr_x25519_derive(EVP_PKEY *priv, EVP_PKEY *peer, void *out) {
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(priv, NULL);
    if (ctx == NULL) return 0;
    size_t len = 32;
    int ok = EVP_PKEY_derive_init(ctx) == 1 && EVP_PKEY_derive_set_peer(ctx, peer) == 1 &&
             EVP_PKEY_derive(ctx, (unsigned char *)out, &len) == 1 && len == 32;
    EVP_PKEY_CTX_free(ctx);
    return ok;
}

#endif
