/*
 * IETF ChaCha20-Poly1305 (RFC 8439) with a detached 16-byte tag: the Noise ChaChaPoly cipher.
 *
 * twin_aead_seal and twin_aead_open use OpenSSL's libcrypto when twin is built with
 * TWIN_AEAD_OPENSSL (the default), and libsodium's otherwise. Both compute the same function, so
 * the bytes on the wire do not depend on the build; OpenSSL's code is the faster one on processors
 * with wide vector units. The libsodium functions are always built, so that tests can hold either
 * implementation to the other.
 */
#ifndef TWIN_AEAD_H
#define TWIN_AEAD_H

#include <stddef.h>

/* Encrypts len bytes of in into out (out may equal in) and writes the tag. 0, or -1 when the
 * cipher failed. */
int twin_aead_seal(unsigned char *out, unsigned char tag[static 16], const unsigned char *in,
                   size_t len, const unsigned char *ad, size_t ad_len,
                   const unsigned char nonce[static 12], const unsigned char key[static 32]);

/* Decrypts len bytes of in into out (out may equal in) if tag verifies. 0, or -1 when it does
 * not; out then holds no plaintext. */
int twin_aead_open(unsigned char *out, const unsigned char *in, size_t len,
                   const unsigned char tag[static 16], const unsigned char *ad, size_t ad_len,
                   const unsigned char nonce[static 12], const unsigned char key[static 32]);

/* The same, always by libsodium. */
int twin_aead_sodium_seal(unsigned char *out, unsigned char tag[static 16], const unsigned char *in,
                          size_t len, const unsigned char *ad, size_t ad_len,
                          const unsigned char nonce[static 12], const unsigned char key[static 32]);
int twin_aead_sodium_open(unsigned char *out, const unsigned char *in, size_t len,
                          const unsigned char tag[static 16], const unsigned char *ad,
                          size_t ad_len, const unsigned char nonce[static 12],
                          const unsigned char key[static 32]);

/* "OpenSSL libcrypto" or "libsodium": which code twin_aead_seal and twin_aead_open run. */
const char *twin_aead_implementation(void);

#endif
