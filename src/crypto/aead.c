#include "crypto/aead.h"

#include <limits.h>
#include <sodium.h>
#include <string.h>
#ifdef TWIN_AEAD_OPENSSL
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#endif

int twin_aead_sodium_seal(unsigned char *out, unsigned char tag[static 16], const unsigned char *in,
                          size_t len, const unsigned char *ad, size_t ad_len,
                          const unsigned char nonce[static 12], const unsigned char key[static 32])
{
    return crypto_aead_chacha20poly1305_ietf_encrypt_detached(out, tag, NULL, in, len, ad, ad_len,
                                                              NULL, nonce, key) == 0
               ? 0
               : -1;
}

int twin_aead_sodium_open(unsigned char *out, const unsigned char *in, size_t len,
                          const unsigned char tag[static 16], const unsigned char *ad,
                          size_t ad_len, const unsigned char nonce[static 12],
                          const unsigned char key[static 32])
{
    return crypto_aead_chacha20poly1305_ietf_decrypt_detached(out, NULL, in, len, tag, ad, ad_len,
                                                              nonce, key) == 0
               ? 0
               : -1;
}

#ifdef TWIN_AEAD_OPENSSL

int twin_aead_seal(unsigned char *out, unsigned char tag[static 16], const unsigned char *in,
                   size_t len, const unsigned char *ad, size_t ad_len,
                   const unsigned char nonce[static 12], const unsigned char key[static 32])
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int n = 0;
    int ok = c && len <= INT_MAX && ad_len <= INT_MAX &&
             EVP_CipherInit_ex(c, EVP_chacha20_poly1305(), NULL, key, nonce, 1) == 1 &&
             (ad_len == 0 || EVP_CipherUpdate(c, NULL, &n, ad, (int)ad_len) == 1) &&
             (len == 0 || (EVP_CipherUpdate(c, out, &n, in, (int)len) == 1 && (size_t)n == len)) &&
             EVP_CipherFinal_ex(c, out + len, &n) == 1 &&
             EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, 16, tag) == 1;
    EVP_CIPHER_CTX_free(c);
    if (!ok)
        ERR_clear_error();
    return ok ? 0 : -1;
}

int twin_aead_open(unsigned char *out, const unsigned char *in, size_t len,
                   const unsigned char tag[static 16], const unsigned char *ad, size_t ad_len,
                   const unsigned char nonce[static 12], const unsigned char key[static 32])
{
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    unsigned char t[16];
    memcpy(t, tag, sizeof(t)); /* the tag may lie where out is written */
    int n = 0;
    int ok = c && len <= INT_MAX && ad_len <= INT_MAX &&
             EVP_CipherInit_ex(c, EVP_chacha20_poly1305(), NULL, key, nonce, 0) == 1 &&
             EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, 16, t) == 1 &&
             (ad_len == 0 || EVP_CipherUpdate(c, NULL, &n, ad, (int)ad_len) == 1) &&
             (len == 0 || (EVP_CipherUpdate(c, out, &n, in, (int)len) == 1 && (size_t)n == len)) &&
             EVP_CipherFinal_ex(c, out + len, &n) == 1;
    EVP_CIPHER_CTX_free(c);
    if (!ok) {
        /* OpenSSL decrypts before it checks the tag: what it wrote must not be used. */
        sodium_memzero(out, len);
        ERR_clear_error();
    }
    return ok ? 0 : -1;
}

const char *twin_aead_implementation(void)
{
    return "OpenSSL libcrypto";
}

#else

int twin_aead_seal(unsigned char *out, unsigned char tag[static 16], const unsigned char *in,
                   size_t len, const unsigned char *ad, size_t ad_len,
                   const unsigned char nonce[static 12], const unsigned char key[static 32])
{
    return twin_aead_sodium_seal(out, tag, in, len, ad, ad_len, nonce, key);
}

int twin_aead_open(unsigned char *out, const unsigned char *in, size_t len,
                   const unsigned char tag[static 16], const unsigned char *ad, size_t ad_len,
                   const unsigned char nonce[static 12], const unsigned char key[static 32])
{
    return twin_aead_sodium_open(out, in, len, tag, ad, ad_len, nonce, key);
}

const char *twin_aead_implementation(void)
{
    return "libsodium";
}

#endif
