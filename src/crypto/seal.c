#include "crypto/seal.h"

#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "twin/error.h"

#define WRAP_LABEL     "twin-wrap/1\n"
#define WRAP_LABEL_LEN (sizeof(WRAP_LABEL) - 1)
#define AAD_LABEL      "twin-sealed/1\n"

size_t twin_seal_pad(size_t n)
{
    if (n <= TWIN_SEAL_MIN_PADDED)
        return TWIN_SEAL_MIN_PADDED;
    unsigned e = 0, s = 0;
    while ((n >> (e + 1)) != 0)
        e++; /* floor(log2(n)) */
    while ((e >> (s + 1)) != 0)
        s++; /* floor(log2(e)) */
    s++;
    size_t mask = ((size_t)1 << (e - s)) - 1;
    return (n + mask) & ~mask;
}

bool twin_seal_ciphertext_len_valid(size_t len)
{
    if (len < TWIN_SEAL_MIN_PADDED + TWIN_SEAL_TAG_BYTES ||
        len > twin_seal_pad(TWIN_SEAL_MAX_PLAIN + 4) + TWIN_SEAL_TAG_BYTES)
        return false;
    size_t padded = len - TWIN_SEAL_TAG_BYTES;
    return twin_seal_pad(padded) == padded; /* the sizes pad() makes are those it keeps */
}

int twin_seal_aad(char **out, size_t *len, const char *network_id, const char *type, const char *id,
                  const char *const *audience, size_t naudience)
{
    size_t n = strlen(AAD_LABEL) + strlen(network_id) + strlen(type) + strlen(id) + 4;
    for (size_t i = 0; i < naudience; i++)
        n += strlen(audience[i]) + 1;
    char *a = malloc(n + 1);
    if (!a)
        return twin_error(TWIN_ERROR, "out of memory");
    size_t at = 0;
#define PUT(s)                                                                                     \
    do {                                                                                           \
        size_t l_ = strlen(s);                                                                     \
        memcpy(a + at, s, l_);                                                                     \
        at += l_;                                                                                  \
    } while (0)
    PUT(AAD_LABEL);
    PUT(network_id);
    PUT("\n");
    PUT(type);
    PUT("\n");
    PUT(id);
    PUT("\n");
    for (size_t i = 0; i < naudience; i++) {
        if (i)
            PUT(",");
        PUT(audience[i]);
    }
    PUT("\n");
#undef PUT
    a[at] = '\0';
    *out = a;
    *len = at;
    return 0;
}

int twin_seal_encrypt(unsigned char **ct, size_t *ct_len, unsigned char key[TWIN_SEAL_KEY_BYTES],
                      unsigned char nonce[TWIN_SEAL_NONCE_BYTES], const void *plain, size_t len,
                      const void *aad, size_t aad_len)
{
    *ct = NULL;
    *ct_len = 0;
    if (len > TWIN_SEAL_MAX_PLAIN)
        return twin_error(TWIN_ELIMIT, "a sealed record's content is %zu bytes (at most %zu)", len,
                          TWIN_SEAL_MAX_PLAIN);
    size_t padded = twin_seal_pad(len + 4);
    /* Plain malloc, wiped before it is freed: sodium_malloc's guard pages cost system calls and a
     * TLB flush per record (tools/bench_seal shows it), and the content is in the caller's
     * memory anyway. */
    unsigned char *p = malloc(padded);
    unsigned char *c = malloc(padded + TWIN_SEAL_TAG_BYTES);
    if (!p || !c) {
        free(p);
        free(c);
        return twin_error(TWIN_ERROR, "out of memory");
    }
    p[0] = (unsigned char)(len >> 24);
    p[1] = (unsigned char)(len >> 16);
    p[2] = (unsigned char)(len >> 8);
    p[3] = (unsigned char)len;
    memcpy(p + 4, plain, len);
    memset(p + 4 + len, 0, padded - 4 - len);
    crypto_aead_xchacha20poly1305_ietf_keygen(key);
    randombytes_buf(nonce, TWIN_SEAL_NONCE_BYTES);
    unsigned long long clen = 0;
    crypto_aead_xchacha20poly1305_ietf_encrypt(c, &clen, p, padded, aad, aad_len, NULL, nonce, key);
    sodium_memzero(p, padded);
    free(p);
    *ct = c;
    *ct_len = (size_t)clen;
    return 0;
}

int twin_seal_decrypt(char **plain, size_t *len, const unsigned char key[TWIN_SEAL_KEY_BYTES],
                      const unsigned char nonce[TWIN_SEAL_NONCE_BYTES], const unsigned char *ct,
                      size_t ct_len, const void *aad, size_t aad_len)
{
    *plain = NULL;
    *len = 0;
    if (!twin_seal_ciphertext_len_valid(ct_len))
        return twin_error(TWIN_EINVALID,
                          "a sealed content of %zu bytes is not of a size a writer makes", ct_len);
    size_t padded = ct_len - TWIN_SEAL_TAG_BYTES;
    unsigned char *p = malloc(padded); /* wiped before it is freed, as in twin_seal_encrypt */
    if (!p)
        return twin_error(TWIN_ERROR, "out of memory");
    unsigned long long plen = 0;
    if (crypto_aead_xchacha20poly1305_ietf_decrypt(p, &plen, NULL, ct, ct_len, aad, aad_len, nonce,
                                                   key) != 0) {
        sodium_memzero(p, padded);
        free(p);
        return twin_error(TWIN_EVERIFY, "the key does not open this sealed content");
    }
    size_t l = (size_t)p[0] << 24 | (size_t)p[1] << 16 | (size_t)p[2] << 8 | (size_t)p[3];
    int rc = 0;
    if (l > padded - 4 || l > TWIN_SEAL_MAX_PLAIN)
        rc = twin_error(TWIN_EINVALID, "a sealed content states %zu bytes in %zu", l, padded);
    else if (twin_seal_pad(l + 4) != padded)
        rc = twin_error(TWIN_EINVALID, "a sealed content of %zu bytes is padded to %zu, not to %zu",
                        l, padded, twin_seal_pad(l + 4));
    else
        for (size_t i = 4 + l; i < padded && rc == 0; i++)
            if (p[i])
                rc = twin_error(TWIN_EINVALID,
                                "a sealed content's padding holds a byte other than zero");
    char *out = rc ? NULL : malloc(l + 1);
    if (rc == 0 && !out)
        rc = twin_error(TWIN_ERROR, "out of memory");
    if (rc == 0) {
        memcpy(out, p + 4, l);
        out[l] = '\0';
        *plain = out;
        *len = l;
    }
    sodium_memzero(p, padded);
    free(p);
    return rc;
}

int twin_seal_wrap(unsigned char box[TWIN_SEAL_BOX_BYTES],
                   const unsigned char key[TWIN_SEAL_KEY_BYTES],
                   const unsigned char to[TWIN_PUBKEY_BYTES])
{
    unsigned char x[crypto_box_PUBLICKEYBYTES];
    if (crypto_sign_ed25519_pk_to_curve25519(x, to) != 0)
        return twin_error(TWIN_EINVALID, "a member key has no X25519 form to wrap a key to");
    if (crypto_box_seal(box, key, TWIN_SEAL_KEY_BYTES, x) != 0)
        return twin_error(TWIN_ERROR, "wrapping a content key failed");
    return 0;
}

int twin_seal_unwrap(unsigned char key[TWIN_SEAL_KEY_BYTES],
                     const unsigned char box[TWIN_SEAL_BOX_BYTES], const twin_keypair *kp)
{
    unsigned char xpk[crypto_box_PUBLICKEYBYTES], xsk[crypto_box_SECRETKEYBYTES];
    int rc = 0;
    if (crypto_sign_ed25519_pk_to_curve25519(xpk, kp->pk) != 0 ||
        crypto_sign_ed25519_sk_to_curve25519(xsk, kp->sk) != 0)
        rc = twin_error(TWIN_EINVALID, "this node's key has no X25519 form");
    else if (crypto_box_seal_open(key, box, TWIN_SEAL_BOX_BYTES, xpk, xsk) != 0)
        rc = twin_error(TWIN_EVERIFY, "the wrap was not made to this node's key");
    sodium_memzero(xsk, sizeof(xsk));
    return rc;
}

void twin_seal_wrap_digest(unsigned char out[TWIN_SEAL_DIGEST_BYTES],
                           const unsigned char to[TWIN_PUBKEY_BYTES],
                           const unsigned char box[TWIN_SEAL_BOX_BYTES])
{
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const unsigned char *)WRAP_LABEL, WRAP_LABEL_LEN);
    crypto_hash_sha256_update(&st, to, TWIN_PUBKEY_BYTES);
    crypto_hash_sha256_update(&st, box, TWIN_SEAL_BOX_BYTES);
    crypto_hash_sha256_final(&st, out);
}

/* The bytes a later wrap's signature covers. */
#define SIGNED_BYTES                                                                               \
    (WRAP_LABEL_LEN + TWIN_SEAL_NETWORK_BYTES + TWIN_SEAL_BLOB_BYTES + TWIN_PUBKEY_BYTES +         \
     TWIN_SEAL_BOX_BYTES)

static void signed_bytes(unsigned char m[SIGNED_BYTES],
                         const unsigned char network[TWIN_SEAL_NETWORK_BYTES],
                         const unsigned char blob[TWIN_SEAL_BLOB_BYTES],
                         const unsigned char to[TWIN_PUBKEY_BYTES],
                         const unsigned char box[TWIN_SEAL_BOX_BYTES])
{
    size_t at = 0;
    memcpy(m + at, WRAP_LABEL, WRAP_LABEL_LEN);
    at += WRAP_LABEL_LEN;
    memcpy(m + at, network, TWIN_SEAL_NETWORK_BYTES);
    at += TWIN_SEAL_NETWORK_BYTES;
    memcpy(m + at, blob, TWIN_SEAL_BLOB_BYTES);
    at += TWIN_SEAL_BLOB_BYTES;
    memcpy(m + at, to, TWIN_PUBKEY_BYTES);
    at += TWIN_PUBKEY_BYTES;
    memcpy(m + at, box, TWIN_SEAL_BOX_BYTES);
}

void twin_seal_wrap_sign(unsigned char sig[TWIN_SEAL_SIG_BYTES], const twin_keypair *kp,
                         const unsigned char network[TWIN_SEAL_NETWORK_BYTES],
                         const unsigned char blob[TWIN_SEAL_BLOB_BYTES],
                         const unsigned char to[TWIN_PUBKEY_BYTES],
                         const unsigned char box[TWIN_SEAL_BOX_BYTES])
{
    unsigned char m[SIGNED_BYTES];
    signed_bytes(m, network, blob, to, box);
    crypto_sign_ed25519_detached(sig, NULL, m, sizeof(m), kp->sk);
}

bool twin_seal_wrap_verify(const unsigned char sig[TWIN_SEAL_SIG_BYTES],
                           const unsigned char by[TWIN_PUBKEY_BYTES],
                           const unsigned char network[TWIN_SEAL_NETWORK_BYTES],
                           const unsigned char blob[TWIN_SEAL_BLOB_BYTES],
                           const unsigned char to[TWIN_PUBKEY_BYTES],
                           const unsigned char box[TWIN_SEAL_BOX_BYTES])
{
    unsigned char m[SIGNED_BYTES];
    signed_bytes(m, network, blob, to, box);
    return crypto_sign_ed25519_verify_detached(sig, m, sizeof(m), by) == 0;
}
