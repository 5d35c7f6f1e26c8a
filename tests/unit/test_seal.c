/* The cryptography of sealed records (src/crypto/seal.c, proto/SEALED.md 2 and 3): Padmé sizes,
 * content that opens only with its key, nonce and additional data, padding checked on opening
 * (contents padded otherwise are built here with libsodium directly), wraps that open only with
 * the key they were made to, their digests, and the signatures of later wraps. */
#define _XOPEN_SOURCE 700 /* nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <sodium.h>

#include "crypto/seal.h"
#include "twin/error.h"
#include "unit/helpers.h"

#define NETWORK "0123456789abcdef0123456789abcdef"
#define RECORD  "0193a5c2-7d1e-7000-8000-3f2a9c41b7e0"

static const char *const audience[] = {"XE-EXAMPLE-NORTH", "XE-EXAMPLE-SOUTH"};

static char *aad_of(size_t *len, const char *type, const char *const *aud, size_t n)
{
    char *a = NULL;
    assert_int_equal(twin_seal_aad(&a, len, NETWORK, type, RECORD, aud, n), 0);
    return a;
}

static void the_additional_data_is_the_documented_text(void **state)
{
    size_t len;
    char *a = aad_of(&len, "note", audience, 2);
    const char *want =
        "twin-sealed/1\n" NETWORK "\nnote\n" RECORD "\nXE-EXAMPLE-NORTH,XE-EXAMPLE-SOUTH\n";
    assert_string_equal(a, want);
    assert_int_equal(len, strlen(want));
    free(a);
}

/* The sizes of SEALED.md 2, worked by hand: at least 256; above it, rounded up to a multiple of
 * 2^(E - S). */
static void padded_sizes_follow_padme(void **state)
{
    assert_int_equal(twin_seal_pad(0), 256);
    assert_int_equal(twin_seal_pad(256), 256);
    assert_int_equal(twin_seal_pad(257), 272);   /* E 8, S 4: multiples of 16 */
    assert_int_equal(twin_seal_pad(1000), 1024); /* E 9, S 4: multiples of 32 */
    assert_int_equal(twin_seal_pad(990), 992);
    assert_int_equal(twin_seal_pad(1024), 1024);
    assert_int_equal(twin_seal_pad(1025), 1088);   /* E 10, S 4: multiples of 64 */
    assert_int_equal(twin_seal_pad(70000), 71680); /* E 16, S 5: multiples of 2048 */
    assert_int_equal(twin_seal_pad(((size_t)1 << 20) + 4), 1081344);
    /* At most 12% more than asked, and every size it makes it keeps. */
    for (size_t n = 4; n <= ((size_t)1 << 20) + 4; n += 97) {
        size_t p = twin_seal_pad(n);
        assert_true(p >= n);
        assert_true(p <= 256 || (double)p <= (double)n * 1.12);
        assert_int_equal(twin_seal_pad(p), p);
        assert_true(twin_seal_ciphertext_len_valid(p + TWIN_SEAL_TAG_BYTES));
    }
    assert_false(twin_seal_ciphertext_len_valid(255 + TWIN_SEAL_TAG_BYTES));
    assert_false(twin_seal_ciphertext_len_valid(257 + TWIN_SEAL_TAG_BYTES));
    assert_false(twin_seal_ciphertext_len_valid(1081344 + 1024 + TWIN_SEAL_TAG_BYTES));
}

static void content_opens_with_its_key_nonce_and_audience_only(void **state)
{
    const char *rec = "{\n  \"id\": \"" RECORD "\",\n  \"kind\": \"risk\",\n  \"title\": \"Budget "
                      "cut\",\n  \"type\": \"note\"\n}\n";
    unsigned char key[TWIN_SEAL_KEY_BYTES], nonce[TWIN_SEAL_NONCE_BYTES], *ct = NULL;
    size_t ct_len, aad_len, len;
    char *aad = aad_of(&aad_len, "note", audience, 2), *plain = NULL;
    assert_int_equal(twin_seal_encrypt(&ct, &ct_len, key, nonce, rec, strlen(rec), aad, aad_len),
                     0);
    assert_int_equal(ct_len, 256 + TWIN_SEAL_TAG_BYTES);
    for (size_t i = 0; i + 6 <= ct_len; i++)
        assert_memory_not_equal(ct + i, "Budget", 6);
    assert_int_equal(twin_seal_decrypt(&plain, &len, key, nonce, ct, ct_len, aad, aad_len), 0);
    assert_int_equal(len, strlen(rec));
    assert_string_equal(plain, rec);
    free(plain);

    /* Another audience, type, key or nonce, or one flipped bit: nothing opens. */
    size_t other_len;
    char *other = aad_of(&other_len, "note", audience, 1);
    assert_error(twin_seal_decrypt(&plain, &len, key, nonce, ct, ct_len, other, other_len),
                 TWIN_EVERIFY, "does not open");
    free(other);
    other = aad_of(&other_len, "person", audience, 2);
    assert_error(twin_seal_decrypt(&plain, &len, key, nonce, ct, ct_len, other, other_len),
                 TWIN_EVERIFY, "does not open");
    free(other);
    key[3] ^= 1;
    assert_int_equal(twin_seal_decrypt(&plain, &len, key, nonce, ct, ct_len, aad, aad_len),
                     TWIN_EVERIFY);
    key[3] ^= 1;
    nonce[0] ^= 0x80;
    assert_int_equal(twin_seal_decrypt(&plain, &len, key, nonce, ct, ct_len, aad, aad_len),
                     TWIN_EVERIFY);
    nonce[0] ^= 0x80;
    ct[100] ^= 4;
    assert_int_equal(twin_seal_decrypt(&plain, &len, key, nonce, ct, ct_len, aad, aad_len),
                     TWIN_EVERIFY);
    ct[100] ^= 4;
    assert_error(twin_seal_decrypt(&plain, &len, key, nonce, ct, ct_len - 1, aad, aad_len),
                 TWIN_EINVALID, "not of a size a writer makes");
    assert_null(plain);

    /* Two seals of one content share no key, nonce or byte pattern. */
    unsigned char key2[TWIN_SEAL_KEY_BYTES], nonce2[TWIN_SEAL_NONCE_BYTES], *ct2 = NULL;
    size_t ct2_len;
    assert_int_equal(
        twin_seal_encrypt(&ct2, &ct2_len, key2, nonce2, rec, strlen(rec), aad, aad_len), 0);
    assert_memory_not_equal(key, key2, sizeof(key));
    assert_memory_not_equal(nonce, nonce2, sizeof(nonce));
    assert_memory_not_equal(ct, ct2, 32);
    free(ct2);
    free(ct);
    free(aad);
}

static void the_bound_and_the_empty_content(void **state)
{
    unsigned char key[TWIN_SEAL_KEY_BYTES], nonce[TWIN_SEAL_NONCE_BYTES], *ct = NULL;
    size_t ct_len, len;
    char *plain = NULL;
    assert_int_equal(twin_seal_encrypt(&ct, &ct_len, key, nonce, "", 0, "a", 1), 0);
    assert_int_equal(twin_seal_decrypt(&plain, &len, key, nonce, ct, ct_len, "a", 1), 0);
    assert_int_equal(len, 0);
    assert_string_equal(plain, "");
    free(plain);
    free(ct);
    char *big = calloc(1, TWIN_SEAL_MAX_PLAIN + 1);
    assert_non_null(big);
    memset(big, 'x', TWIN_SEAL_MAX_PLAIN + 1);
    assert_int_equal(twin_seal_encrypt(&ct, &ct_len, key, nonce, big, TWIN_SEAL_MAX_PLAIN, "a", 1),
                     0);
    assert_int_equal(ct_len, 1081344 + TWIN_SEAL_TAG_BYTES);
    free(ct);
    assert_error(twin_seal_encrypt(&ct, &ct_len, key, nonce, big, TWIN_SEAL_MAX_PLAIN + 1, "a", 1),
                 TWIN_ELIMIT, "at most 1048576");
    assert_null(ct);
    free(big);
}

/* A writer that pads otherwise: p (its first 4 bytes the stated length) sealed as it is. */
static int open_padded(const unsigned char *p, size_t plen)
{
    unsigned char key[TWIN_SEAL_KEY_BYTES], nonce[TWIN_SEAL_NONCE_BYTES];
    unsigned char *ct = malloc(plen + TWIN_SEAL_TAG_BYTES);
    unsigned long long clen;
    char *plain = NULL;
    size_t len;
    assert_non_null(ct);
    crypto_aead_xchacha20poly1305_ietf_keygen(key);
    randombytes_buf(nonce, sizeof(nonce));
    crypto_aead_xchacha20poly1305_ietf_encrypt(ct, &clen, p, plen, (const unsigned char *)"a", 1,
                                               NULL, nonce, key);
    int rc = twin_seal_decrypt(&plain, &len, key, nonce, ct, (size_t)clen, "a", 1);
    free(ct);
    free(plain);
    return rc;
}

static void contents_padded_otherwise_are_refused(void **state)
{
    unsigned char p[272] = {0};
    p[3] = 10; /* 10 bytes stated, padded to 256 */
    memcpy(p + 4, "{\"a\": 1}\n\n", 10);
    assert_int_equal(open_padded(p, 256), 0);
    p[200] = 1;
    assert_error(open_padded(p, 256), TWIN_EINVALID, "padding holds a byte other than zero");
    p[200] = 0;
    p[3] = 253; /* more than the 252 bytes there are */
    assert_error(open_padded(p, 256), TWIN_EINVALID, "states 253 bytes in 256");
    p[3] = 10;
    assert_error(open_padded(p, 272), TWIN_EINVALID, "padded to 272, not to 256");
    p[1] = 0x20; /* 2 MiB stated */
    assert_error(open_padded(p, 256), TWIN_EINVALID, "states");
}

static void wraps_open_only_with_the_key_they_were_made_to(void **state)
{
    twin_keypair north, south;
    keypair_from_seed(&north, 1);
    keypair_from_seed(&south, 2);
    unsigned char key[TWIN_SEAL_KEY_BYTES], got[TWIN_SEAL_KEY_BYTES], box[TWIN_SEAL_BOX_BYTES];
    randombytes_buf(key, sizeof(key));
    assert_int_equal(twin_seal_wrap(box, key, north.pk), 0);
    assert_int_equal(twin_seal_unwrap(got, box, &north), 0);
    assert_memory_equal(got, key, sizeof(key));
    assert_error(twin_seal_unwrap(got, box, &south), TWIN_EVERIFY, "not made to this node's key");
    box[40] ^= 1;
    assert_int_equal(twin_seal_unwrap(got, box, &north), TWIN_EVERIFY);
    /* A key that is no Ed25519 point has no X25519 form. */
    unsigned char bad[TWIN_PUBKEY_BYTES];
    memset(bad, 0xff, sizeof(bad));
    assert_error(twin_seal_wrap(box, key, bad), TWIN_EINVALID, "no X25519 form");
}

/* The digest is SHA-256 of the label, the recipient and the box, computed here in one call. */
static void a_wraps_digest_is_the_documented_hash(void **state)
{
    unsigned char to[TWIN_PUBKEY_BYTES], box[TWIN_SEAL_BOX_BYTES], d[32], want[32];
    unsigned char m[12 + sizeof(to) + sizeof(box)];
    randombytes_buf(to, sizeof(to));
    randombytes_buf(box, sizeof(box));
    memcpy(m, "twin-wrap/1\n", 12);
    memcpy(m + 12, to, sizeof(to));
    memcpy(m + 12 + sizeof(to), box, sizeof(box));
    crypto_hash_sha256(want, m, sizeof(m));
    twin_seal_wrap_digest(d, to, box);
    assert_memory_equal(d, want, sizeof(d));
    box[0] ^= 1;
    twin_seal_wrap_digest(d, to, box);
    assert_memory_not_equal(d, want, sizeof(d));
}

static void a_later_wrap_is_signed_by_its_maker(void **state)
{
    twin_keypair maker, other;
    keypair_from_seed(&maker, 3);
    keypair_from_seed(&other, 4);
    unsigned char network[16], blob[20], box[TWIN_SEAL_BOX_BYTES], sig[64];
    randombytes_buf(network, sizeof(network));
    randombytes_buf(blob, sizeof(blob));
    randombytes_buf(box, sizeof(box));
    twin_seal_wrap_sign(sig, &maker, network, blob, other.pk, box);
    assert_true(twin_seal_wrap_verify(sig, maker.pk, network, blob, other.pk, box));
    assert_false(twin_seal_wrap_verify(sig, other.pk, network, blob, other.pk, box));
    assert_false(twin_seal_wrap_verify(sig, maker.pk, network, blob, maker.pk, box));
    blob[19] ^= 1;
    assert_false(twin_seal_wrap_verify(sig, maker.pk, network, blob, other.pk, box));
    blob[19] ^= 1;
    network[0] ^= 1;
    assert_false(twin_seal_wrap_verify(sig, maker.pk, network, blob, other.pk, box));
}

int main(void)
{
    if (sodium_init() < 0)
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_additional_data_is_the_documented_text),
        cmocka_unit_test(padded_sizes_follow_padme),
        cmocka_unit_test(content_opens_with_its_key_nonce_and_audience_only),
        cmocka_unit_test(the_bound_and_the_empty_content),
        cmocka_unit_test(contents_padded_otherwise_are_refused),
        cmocka_unit_test(wraps_open_only_with_the_key_they_were_made_to),
        cmocka_unit_test(a_wraps_digest_is_the_documented_hash),
        cmocka_unit_test(a_later_wrap_is_signed_by_its_maker),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
