/*
 * Noise_XK_25519_ChaChaPoly_SHA256 (Noise Protocol Framework, revision 34) on libsodium.
 *
 * Test builds may fix the ephemeral keys: compiled with TWIN_NOISE_TEST_HOOKS defined, this file
 * also defines twin_noise_test_push_ephemeral() (crypto/noise.h). The library itself is compiled
 * without it, so no production path can choose an ephemeral key.
 */
#include "twin/noise.h"

#include <sodium.h>
#include <string.h>

#include "crypto/aead.h"
#include "twin/error.h"

#define PROLOGUE_TAG "twin/1"

#ifdef TWIN_NOISE_TEST_HOOKS
#include "crypto/noise.h"

static _Thread_local struct {
    unsigned char sk[4][TWIN_NOISE_DH_BYTES];
    int count, next;
} test_ephemerals;

void twin_noise_test_push_ephemeral(const unsigned char sk[static TWIN_NOISE_DH_BYTES])
{
    if (test_ephemerals.count < 4)
        memcpy(test_ephemerals.sk[test_ephemerals.count++], sk, TWIN_NOISE_DH_BYTES);
}
#endif

static int generate_ephemeral(twin_noise_handshake *hs)
{
#ifdef TWIN_NOISE_TEST_HOOKS
    if (test_ephemerals.next < test_ephemerals.count) {
        memcpy(hs->e_sk, test_ephemerals.sk[test_ephemerals.next++], TWIN_NOISE_DH_BYTES);
        if (test_ephemerals.next == test_ephemerals.count)
            test_ephemerals.next = test_ephemerals.count = 0;
    } else
#endif
        randombytes_buf(hs->e_sk, sizeof(hs->e_sk));
    if (crypto_scalarmult_base(hs->e_pk, hs->e_sk) != 0)
        return twin_error(TWIN_ERROR, "noise: cannot derive the ephemeral public key");
    return 0;
}

/* X25519 with the checks Noise leaves to the implementation: libsodium refuses a low-order
 * point (all-zero result), and we check the output again so no caller can miss it. */
static int dh(unsigned char out[static TWIN_NOISE_DH_BYTES],
              const unsigned char sk[static TWIN_NOISE_DH_BYTES],
              const unsigned char pk[static TWIN_NOISE_DH_BYTES])
{
    if (crypto_scalarmult(out, sk, pk) != 0 || sodium_is_zero(out, TWIN_NOISE_DH_BYTES)) {
        sodium_memzero(out, TWIN_NOISE_DH_BYTES);
        return twin_error(TWIN_EVERIFY, "noise: Diffie-Hellman with a low-order public key");
    }
    return 0;
}

static void hmac_sha256(unsigned char out[static 32], const unsigned char key[static 32],
                        const unsigned char *a, size_t a_len, const unsigned char *b, size_t b_len)
{
    crypto_auth_hmacsha256_state st;
    crypto_auth_hmacsha256_init(&st, key, 32);
    if (a_len)
        crypto_auth_hmacsha256_update(&st, a, a_len);
    if (b_len)
        crypto_auth_hmacsha256_update(&st, b, b_len);
    crypto_auth_hmacsha256_final(&st, out);
    sodium_memzero(&st, sizeof(st));
}

/* HKDF as Noise defines it, with two outputs. */
static void hkdf2(unsigned char out1[static 32], unsigned char out2[static 32],
                  const unsigned char ck[static 32], const unsigned char *ikm, size_t ikm_len)
{
    unsigned char temp[32];
    const unsigned char one = 0x01, two = 0x02;
    hmac_sha256(temp, ck, ikm, ikm_len, NULL, 0);
    hmac_sha256(out1, temp, &one, 1, NULL, 0);
    hmac_sha256(out2, temp, out1, 32, &two, 1);
    sodium_memzero(temp, sizeof(temp));
}

static void mix_hash(twin_noise_handshake *hs, const unsigned char *data, size_t len)
{
    crypto_hash_sha256_state st;
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, hs->h, sizeof(hs->h));
    if (len)
        crypto_hash_sha256_update(&st, data, len);
    crypto_hash_sha256_final(&st, hs->h);
}

static void mix_key(twin_noise_handshake *hs, const unsigned char ikm[static 32])
{
    unsigned char ck[32], k[32];
    hkdf2(ck, k, hs->ck, ikm, 32);
    memcpy(hs->ck, ck, 32);
    memcpy(hs->cs.k, k, 32);
    hs->cs.n = 0;
    hs->cs.has_key = 1;
    sodium_memzero(ck, sizeof(ck));
    sodium_memzero(k, sizeof(k));
}

static void nonce_bytes(unsigned char nonce[static 12], uint64_t n)
{
    memset(nonce, 0, 4);
    for (int i = 0; i < 8; i++)
        nonce[4 + i] = (unsigned char)(n >> (8 * i));
}

static int encrypt_ad(twin_noise_cipher *c, unsigned char *out, const unsigned char *ad,
                      size_t ad_len, const unsigned char *in, size_t len)
{
    unsigned char nonce[12];
    if (c->n == UINT64_MAX)
        return twin_error(TWIN_ELIMIT, "noise: nonces exhausted, the session must be rekeyed");
    nonce_bytes(nonce, c->n);
    if (twin_aead_seal(out, out + len, in, len, ad, ad_len, nonce, c->k) != 0)
        return twin_error(TWIN_ERROR, "noise: the cipher failed");
    c->n++;
    return 0;
}

static int decrypt_ad(twin_noise_cipher *c, unsigned char *out, const unsigned char *ad,
                      size_t ad_len, const unsigned char *in, size_t len)
{
    unsigned char nonce[12];
    if (len < TWIN_NOISE_TAG_BYTES)
        return twin_error(TWIN_EINVALID, "noise: ciphertext of %zu bytes is shorter than its tag",
                          len);
    if (c->n == UINT64_MAX)
        return twin_error(TWIN_ELIMIT, "noise: nonces exhausted, the session must be rekeyed");
    nonce_bytes(nonce, c->n);
    size_t plain = len - TWIN_NOISE_TAG_BYTES;
    if (twin_aead_open(out, in, plain, in + plain, ad, ad_len, nonce, c->k) != 0)
        return twin_error(TWIN_EVERIFY, "noise: frame failed authentication (tampered, replayed "
                                        "or out of order)");
    c->n++;
    return 0;
}

int twin_noise_encrypt(twin_noise_cipher *c, unsigned char *out, const unsigned char *in,
                       size_t len)
{
    if (!c->has_key)
        return twin_error(TWIN_EINVALID, "noise: cipher has no key");
    return encrypt_ad(c, out, NULL, 0, in, len);
}

int twin_noise_decrypt(twin_noise_cipher *c, unsigned char *out, const unsigned char *in,
                       size_t len)
{
    if (!c->has_key)
        return twin_error(TWIN_EINVALID, "noise: cipher has no key");
    return decrypt_ad(c, out, NULL, 0, in, len);
}

void twin_noise_cipher_wipe(twin_noise_cipher *c)
{
    sodium_memzero(c, sizeof(*c));
}

void twin_noise_handshake_wipe(twin_noise_handshake *hs)
{
    sodium_memzero(hs, sizeof(*hs));
}

/* EncryptAndHash: out receives len bytes, plus a tag once a key is set. */
static int encrypt_and_hash(twin_noise_handshake *hs, unsigned char *out, size_t out_cap,
                            size_t *out_len, const unsigned char *in, size_t len)
{
    size_t need = len + (hs->cs.has_key ? TWIN_NOISE_TAG_BYTES : 0);
    if (need < len || need > out_cap)
        return twin_error(TWIN_ELIMIT, "noise: handshake message does not fit its buffer");
    if (hs->cs.has_key) {
        int rc = encrypt_ad(&hs->cs, out, hs->h, sizeof(hs->h), in, len);
        if (rc)
            return rc;
    } else if (len) {
        memmove(out, in, len);
    }
    mix_hash(hs, out, need);
    *out_len = need;
    return 0;
}

static int decrypt_and_hash(twin_noise_handshake *hs, unsigned char *out, size_t out_cap,
                            size_t *out_len, const unsigned char *in, size_t len)
{
    size_t plain = len;
    if (hs->cs.has_key) {
        if (len < TWIN_NOISE_TAG_BYTES)
            return twin_error(TWIN_EINVALID, "noise: handshake field shorter than its tag");
        plain = len - TWIN_NOISE_TAG_BYTES;
    }
    if (plain > out_cap)
        return twin_error(TWIN_ELIMIT, "noise: handshake payload of %zu bytes does not fit %zu",
                          plain, out_cap);
    unsigned char h_before[TWIN_NOISE_HASH_BYTES];
    memcpy(h_before, hs->h, sizeof(h_before));
    mix_hash(hs, in, len); /* over the ciphertext, before out may overwrite it */
    if (hs->cs.has_key) {
        if (decrypt_ad(&hs->cs, out, h_before, sizeof(h_before), in, len) != 0) {
            hs->auth_failed = 1;
            return twin_error(TWIN_EVERIFY, "noise: handshake message failed authentication");
        }
    } else if (plain) {
        memmove(out, in, plain);
    }
    *out_len = plain;
    return 0;
}

int twin_noise_xk_init(twin_noise_handshake *hs, int initiator, const unsigned char *prologue,
                       size_t prologue_len, const unsigned char s_sk[static TWIN_NOISE_DH_BYTES],
                       const unsigned char *rs)
{
    static const char name[] = TWIN_NOISE_PROTOCOL_NAME;
    memset(hs, 0, sizeof(*hs));
    if (sodium_init() < 0)
        return twin_error(TWIN_ERROR, "noise: libsodium failed to initialise");
    if (initiator && !rs)
        return twin_error(TWIN_EINVALID, "noise: XK initiator needs the responder's static key");

    /* The name is exactly HASHLEN bytes, so h is the name itself. */
    _Static_assert(sizeof(name) - 1 == TWIN_NOISE_HASH_BYTES, "protocol name is HASHLEN bytes");
    memcpy(hs->h, name, TWIN_NOISE_HASH_BYTES);
    memcpy(hs->ck, hs->h, TWIN_NOISE_HASH_BYTES);
    mix_hash(hs, prologue, prologue_len);

    hs->initiator = initiator ? 1 : 0;
    memcpy(hs->s_sk, s_sk, TWIN_NOISE_DH_BYTES);
    if (crypto_scalarmult_base(hs->s_pk, hs->s_sk) != 0) {
        twin_noise_handshake_wipe(hs);
        return twin_error(TWIN_EINVALID, "noise: static private key gives no public key");
    }
    /* Pre-message pattern "<- s". */
    if (initiator) {
        memcpy(hs->rs, rs, TWIN_NOISE_DH_BYTES);
        hs->has_rs = 1;
        mix_hash(hs, hs->rs, TWIN_NOISE_DH_BYTES);
    } else {
        mix_hash(hs, hs->s_pk, TWIN_NOISE_DH_BYTES);
    }
    return 0;
}

static int check_turn(twin_noise_handshake *hs, int writing)
{
    if (hs->failed)
        return twin_error(TWIN_EINVALID, "noise: handshake already failed");
    if (hs->step >= TWIN_NOISE_HANDSHAKE_MSGS)
        return twin_error(TWIN_EINVALID, "noise: handshake already complete");
    /* Messages 1 and 3 go from initiator to responder, message 2 back. */
    int initiator_writes = (hs->step % 2) == 0;
    if (writing != (initiator_writes == hs->initiator))
        return twin_error(TWIN_EINVALID, "noise: not this side's turn to %s message %d",
                          writing ? "write" : "read", hs->step + 1);
    return 0;
}

int twin_noise_xk_write(twin_noise_handshake *hs, unsigned char *out, size_t out_cap,
                        size_t *out_len, const unsigned char *payload, size_t payload_len)
{
    unsigned char shared[TWIN_NOISE_DH_BYTES];
    size_t pos = 0, n = 0;
    int rc = check_turn(hs, 1);
    if (rc)
        return rc;
    switch (hs->step) {
    case 0: /* -> e, es */
    case 1: /* <- e, ee */
        if ((rc = generate_ephemeral(hs)) != 0)
            goto cleanup;
        if (out_cap < TWIN_NOISE_DH_BYTES) {
            rc = twin_error(TWIN_ELIMIT, "noise: handshake message does not fit its buffer");
            goto cleanup;
        }
        memcpy(out, hs->e_pk, TWIN_NOISE_DH_BYTES);
        pos = TWIN_NOISE_DH_BYTES;
        mix_hash(hs, hs->e_pk, TWIN_NOISE_DH_BYTES);
        if ((rc = dh(shared, hs->e_sk, hs->step == 0 ? hs->rs : hs->re)) != 0)
            goto cleanup;
        mix_key(hs, shared);
        break;
    case 2: /* -> s, se */
        if ((rc = encrypt_and_hash(hs, out, out_cap, &n, hs->s_pk, TWIN_NOISE_DH_BYTES)) != 0)
            goto cleanup;
        pos = n;
        if ((rc = dh(shared, hs->s_sk, hs->re)) != 0)
            goto cleanup;
        mix_key(hs, shared);
        break;
    }
    if ((rc = encrypt_and_hash(hs, out + pos, out_cap - pos, &n, payload, payload_len)) != 0)
        goto cleanup;
    *out_len = pos + n;
    hs->step++;

cleanup:
    sodium_memzero(shared, sizeof(shared));
    if (rc)
        hs->failed = 1;
    return rc;
}

int twin_noise_xk_read(twin_noise_handshake *hs, unsigned char *payload, size_t payload_cap,
                       size_t *payload_len, const unsigned char *msg, size_t msg_len)
{
    unsigned char shared[TWIN_NOISE_DH_BYTES];
    size_t pos = 0, n = 0;
    int rc = check_turn(hs, 0);
    if (rc)
        return rc;
    switch (hs->step) {
    case 0: /* -> e, es (responder reads) */
    case 1: /* <- e, ee (initiator reads) */
        if (msg_len < TWIN_NOISE_DH_BYTES) {
            rc = twin_error(TWIN_EINVALID, "noise: message %d truncated before its ephemeral key",
                            hs->step + 1);
            goto cleanup;
        }
        memcpy(hs->re, msg, TWIN_NOISE_DH_BYTES);
        hs->has_re = 1;
        pos = TWIN_NOISE_DH_BYTES;
        mix_hash(hs, hs->re, TWIN_NOISE_DH_BYTES);
        if ((rc = dh(shared, hs->step == 0 ? hs->s_sk : hs->e_sk, hs->re)) != 0)
            goto cleanup;
        mix_key(hs, shared);
        break;
    case 2: { /* -> s, se (responder reads) */
        const size_t s_len = TWIN_NOISE_DH_BYTES + TWIN_NOISE_TAG_BYTES;
        if (msg_len < s_len) {
            rc = twin_error(TWIN_EINVALID, "noise: message 3 truncated before the static key");
            goto cleanup;
        }
        if ((rc = decrypt_and_hash(hs, hs->rs, sizeof(hs->rs), &n, msg, s_len)) != 0)
            goto cleanup;
        hs->has_rs = 1;
        pos = s_len;
        if ((rc = dh(shared, hs->e_sk, hs->rs)) != 0)
            goto cleanup;
        mix_key(hs, shared);
        break;
    }
    }
    if ((rc = decrypt_and_hash(hs, payload, payload_cap, &n, msg + pos, msg_len - pos)) != 0)
        goto cleanup;
    *payload_len = n;
    hs->step++;

cleanup:
    sodium_memzero(shared, sizeof(shared));
    if (rc) {
        hs->failed = 1;
        hs->has_rs = hs->initiator ? hs->has_rs : 0;
    }
    return rc;
}

int twin_noise_split(twin_noise_cipher *send, twin_noise_cipher *recv,
                     unsigned char hash[static TWIN_NOISE_HASH_BYTES], twin_noise_handshake *hs)
{
    unsigned char k1[32], k2[32];
    if (hs->failed || hs->step != TWIN_NOISE_HANDSHAKE_MSGS)
        return twin_error(TWIN_EINVALID, "noise: split before the handshake completed");
    hkdf2(k1, k2, hs->ck, NULL, 0);
    /* The first key protects initiator-to-responder traffic. */
    memset(send, 0, sizeof(*send));
    memset(recv, 0, sizeof(*recv));
    memcpy(send->k, hs->initiator ? k1 : k2, 32);
    memcpy(recv->k, hs->initiator ? k2 : k1, 32);
    send->has_key = recv->has_key = 1;
    memcpy(hash, hs->h, TWIN_NOISE_HASH_BYTES);
    sodium_memzero(k1, sizeof(k1));
    sodium_memzero(k2, sizeof(k2));
    /* Keep what the caller may still ask about the peer; wipe every secret. */
    sodium_memzero(hs->ck, sizeof(hs->ck));
    sodium_memzero(hs->s_sk, sizeof(hs->s_sk));
    sodium_memzero(hs->e_sk, sizeof(hs->e_sk));
    sodium_memzero(&hs->cs, sizeof(hs->cs));
    return 0;
}

const unsigned char *twin_noise_remote_static(const twin_noise_handshake *hs)
{
    return hs->has_rs ? hs->rs : NULL;
}

/* --- twin's handshake ------------------------------------------------------------------- */

static int hex_value(int c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

int twin_noise_network_id_parse(unsigned char out[static TWIN_NETWORK_ID_BYTES],
                                const char *network_id)
{
    unsigned char tmp[TWIN_NETWORK_ID_BYTES];
    if (!network_id)
        return twin_error(TWIN_EINVALID, "network id: missing");
    size_t len = strnlen(network_id, TWIN_NETWORK_ID_LEN + 1);
    if (len != TWIN_NETWORK_ID_LEN)
        return twin_error(TWIN_EINVALID, "network id: expected %d lowercase hex characters",
                          TWIN_NETWORK_ID_LEN);
    for (size_t i = 0; i < TWIN_NETWORK_ID_BYTES; i++) {
        int hi = hex_value((unsigned char)network_id[2 * i]);
        int lo = hex_value((unsigned char)network_id[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return twin_error(TWIN_EINVALID,
                              "network id: character %zu is not a lowercase hex digit",
                              hi < 0 ? 2 * i + 1 : 2 * i + 2);
        tmp[i] = (unsigned char)(hi << 4 | lo);
    }
    memcpy(out, tmp, sizeof(tmp));
    return 0;
}

int twin_noise_prologue(unsigned char out[static TWIN_NOISE_PROLOGUE_BYTES], const char *network_id)
{
    unsigned char id[TWIN_NETWORK_ID_BYTES];
    int rc = twin_noise_network_id_parse(id, network_id);
    if (rc)
        return rc;
    _Static_assert(sizeof(PROLOGUE_TAG) + TWIN_NETWORK_ID_BYTES == TWIN_NOISE_PROLOGUE_BYTES,
                   "prologue layout");
    memcpy(out, PROLOGUE_TAG, sizeof(PROLOGUE_TAG)); /* with its NUL */
    memcpy(out + sizeof(PROLOGUE_TAG), id, sizeof(id));
    return 0;
}

int twin_noise_start(twin_noise_handshake *hs, int initiator, const twin_keypair *self,
                     const unsigned char *peer_node, const char *network_id)
{
    unsigned char prologue[TWIN_NOISE_PROLOGUE_BYTES];
    unsigned char s_sk[TWIN_NOISE_DH_BYTES], rs[TWIN_NOISE_DH_BYTES];
    int rc;

    memset(hs, 0, sizeof(*hs));
    if (sodium_init() < 0)
        return twin_error(TWIN_ERROR, "noise: libsodium failed to initialise");
    if (initiator && !peer_node)
        return twin_error(TWIN_EINVALID, "handshake: the initiator needs the peer's node key");
    if ((rc = twin_noise_prologue(prologue, network_id)) != 0)
        return rc;
    /* A pair whose halves differ would yield a static key no peer expects. */
    if (sodium_memcmp(self->sk + 32, self->pk, TWIN_PUBKEY_BYTES) != 0)
        return twin_error(TWIN_EINVALID, "handshake: the node key pair's halves do not match");
    if (crypto_sign_ed25519_sk_to_curve25519(s_sk, self->sk) != 0) {
        rc = twin_error(TWIN_EINVALID, "handshake: node secret key does not convert to X25519");
        goto cleanup;
    }
    if (initiator && crypto_sign_ed25519_pk_to_curve25519(rs, peer_node) != 0) {
        rc =
            twin_error(TWIN_EINVALID, "handshake: peer node key is not a valid Ed25519 public key");
        goto cleanup;
    }
    if ((rc = twin_noise_xk_init(hs, initiator, prologue, sizeof(prologue), s_sk,
                                 initiator ? rs : NULL)) != 0)
        goto cleanup;
    hs->twin = 1;
    memcpy(hs->self_node, self->pk, TWIN_PUBKEY_BYTES);
    if (initiator) {
        memcpy(hs->peer_node, peer_node, TWIN_PUBKEY_BYTES);
        hs->has_peer_node = 1;
    }

cleanup:
    sodium_memzero(s_sk, sizeof(s_sk));
    sodium_memzero(rs, sizeof(rs));
    return rc;
}

size_t twin_noise_message_size(int index)
{
    switch (index) {
    case 1:
        return TWIN_NOISE_MSG1_BYTES;
    case 2:
        return TWIN_NOISE_MSG2_BYTES;
    case 3:
        return TWIN_NOISE_MSG3_BYTES;
    default:
        return 0;
    }
}

int twin_noise_my_turn(const twin_noise_handshake *hs)
{
    return hs->step < TWIN_NOISE_HANDSHAKE_MSGS && ((hs->step % 2) == 0) == hs->initiator;
}

int twin_noise_done(const twin_noise_handshake *hs)
{
    return !hs->failed && hs->step == TWIN_NOISE_HANDSHAKE_MSGS;
}

const unsigned char *twin_noise_peer_node(const twin_noise_handshake *hs)
{
    return hs->has_peer_node ? hs->peer_node : NULL;
}

int twin_noise_write_next(twin_noise_handshake *hs, unsigned char *out, size_t out_cap,
                          size_t *out_len)
{
    if (!hs->twin)
        return twin_error(TWIN_EINVALID, "handshake: not started with twin_noise_start");
    /* Only message 3 carries a payload: the initiator's Ed25519 node key, sent once the static
     * key is encrypted so the responder learns who is calling, and no one else does. */
    int third = hs->step == 2;
    size_t n = 0;
    int rc = twin_noise_xk_write(hs, out, out_cap, &n, third ? hs->self_node : NULL,
                                 third ? TWIN_PUBKEY_BYTES : 0);
    if (rc)
        return twin_error_wrap(rc, "handshake: writing message %d", hs->step + 1);
    *out_len = n;
    return 0;
}

int twin_noise_read_next(twin_noise_handshake *hs, const unsigned char *msg, size_t msg_len)
{
    unsigned char payload[TWIN_PUBKEY_BYTES], expect[TWIN_NOISE_DH_BYTES];
    size_t n = 0;
    int index = hs->step + 1, rc;

    if (!hs->twin)
        return twin_error(TWIN_EINVALID, "handshake: not started with twin_noise_start");
    if (hs->failed)
        return twin_error(TWIN_EINVALID, "handshake: already failed");
    if (msg_len != twin_noise_message_size(index)) {
        hs->failed = 1;
        return twin_error(TWIN_EINVALID, "handshake: message %d is %zu bytes, expected %zu", index,
                          msg_len, twin_noise_message_size(index));
    }
    rc = twin_noise_xk_read(hs, payload, sizeof(payload), &n, msg, msg_len);
    if (rc) {
        if (hs->auth_failed && index == 1)
            return twin_error(TWIN_EVERIFY,
                              "handshake: message 1 failed authentication (the caller expects "
                              "another node key or belongs to another network)");
        if (hs->auth_failed && index == 2)
            return twin_error(TWIN_EVERIFY, "handshake: message 2 failed authentication");
        return twin_error_wrap(rc, "handshake: message %d", index);
    }
    if (index != 3)
        goto cleanup; /* the exact length already proved the payload empty */
    if (n != TWIN_PUBKEY_BYTES) {
        rc = twin_error(TWIN_EINVALID, "handshake: message 3 payload is %zu bytes, expected %d", n,
                        TWIN_PUBKEY_BYTES);
        goto cleanup;
    }
    /* The payload names the caller's Ed25519 key; it must be the key behind the Noise static
     * key that message 3 just authenticated. */
    if (crypto_sign_ed25519_pk_to_curve25519(expect, payload) != 0) {
        rc = twin_error(TWIN_EVERIFY, "handshake: message 3 carries an invalid Ed25519 node key");
        goto cleanup;
    }
    if (sodium_memcmp(expect, hs->rs, TWIN_NOISE_DH_BYTES) != 0) {
        rc = twin_error(TWIN_EVERIFY, "handshake: message 3 node key does not match the Noise "
                                      "static key");
        goto cleanup;
    }
    memcpy(hs->peer_node, payload, TWIN_PUBKEY_BYTES);
    hs->has_peer_node = 1;

cleanup:
    if (rc)
        hs->failed = 1;
    return rc;
}
