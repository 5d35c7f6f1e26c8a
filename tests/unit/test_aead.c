/* The cipher (src/crypto/aead.c): the AEAD known answer of RFC 8439 section 2.8.2 through both
 * implementations, the build's (OpenSSL or libsodium) against libsodium's on many lengths, in
 * place and apart, and refusal of every single-bit change to the ciphertext, tag, associated
 * data, nonce or key, with no plaintext left behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/aead.h"
#include "twin/global.h"

/* RFC 8439, section 2.8.2: the test vector for AEAD_CHACHA20_POLY1305. */
static const char rfc_plaintext[] =
    "Ladies and Gentlemen of the class of '99: If I could offer you only one tip for the future, "
    "sunscreen would be it.";
static const char rfc_key[] = "808182838485868788898a8b8c8d8e8f909192939495969798999a9b9c9d9e9f";
static const char rfc_nonce[] = "070000004041424344454647";
static const char rfc_ad[] = "50515253c0c1c2c3c4c5c6c7";
static const char rfc_ciphertext[] =
    "d31a8d34648e60db7b86afbc53ef7ec2a4aded51296e08fea9e2b5a736ee62d63dbea45e8ca9671282fafb69da"
    "92728b1a71de0a9e060b2905d6a5b67ecd3b3692ddbd7f2d778b8c9803aee328091b58fab324e4fad675945585"
    "808b4831d7bc3ff4def08e4b7a9de576d26586cec64b6116";
static const char rfc_tag[] = "1ae10b594f09e26a7e902ecbd0600691";

typedef int (*seal_fn)(unsigned char *, unsigned char[static 16], const unsigned char *, size_t,
                       const unsigned char *, size_t, const unsigned char[static 12],
                       const unsigned char[static 32]);
typedef int (*open_fn)(unsigned char *, const unsigned char *, size_t,
                       const unsigned char[static 16], const unsigned char *, size_t,
                       const unsigned char[static 12], const unsigned char[static 32]);

static const struct impl {
    const char *name;
    seal_fn seal;
    open_fn open;
} impls[] = {
    {"build's", twin_aead_seal, twin_aead_open},
    {"libsodium", twin_aead_sodium_seal, twin_aead_sodium_open},
};

static size_t unhex(unsigned char *out, size_t max, const char *hex)
{
    size_t len = 0;
    assert_int_equal(sodium_hex2bin(out, max, hex, strlen(hex), NULL, &len, NULL), 0);
    return len;
}

static int setup(void **state)
{
    return twin_global_init(false) == 0 ? 0 : -1;
}

static void rfc8439_vector_in_both_implementations(void **state)
{
    unsigned char key[32], nonce[12], ad[12], want[sizeof(rfc_plaintext)], want_tag[16];
    assert_int_equal(unhex(key, sizeof(key), rfc_key), 32);
    assert_int_equal(unhex(nonce, sizeof(nonce), rfc_nonce), 12);
    assert_int_equal(unhex(ad, sizeof(ad), rfc_ad), 12);
    size_t len = unhex(want, sizeof(want), rfc_ciphertext);
    assert_int_equal(len, strlen(rfc_plaintext));
    assert_int_equal(unhex(want_tag, sizeof(want_tag), rfc_tag), 16);
    for (size_t i = 0; i < sizeof(impls) / sizeof(impls[0]); i++) {
        unsigned char ct[sizeof(rfc_plaintext)], tag[16], pt[sizeof(rfc_plaintext)];
        assert_int_equal(impls[i].seal(ct, tag, (const unsigned char *)rfc_plaintext, len, ad,
                                       sizeof(ad), nonce, key),
                         0);
        assert_memory_equal(ct, want, len);
        assert_memory_equal(tag, want_tag, 16);
        assert_int_equal(impls[i].open(pt, want, len, want_tag, ad, sizeof(ad), nonce, key), 0);
        assert_memory_equal(pt, rfc_plaintext, len);
    }
}

static void the_build_agrees_with_libsodium_on_every_length(void **state)
{
    static const size_t lengths[] = {0,  1,   15,  16,   17,   63,    64,
                                     65, 255, 256, 1000, 4096, 65535, (size_t)1 << 20};
    static const size_t ad_lengths[] = {0, 1, 12, 100};
    unsigned char key[32], nonce[12], ad[100];
    size_t max = (size_t)1 << 20;
    unsigned char *pt = malloc(max), *a = malloc(max), *b = malloc(max), *back = malloc(max);
    assert_non_null(pt);
    assert_non_null(a);
    assert_non_null(b);
    assert_non_null(back);
    for (size_t i = 0; i < sizeof(lengths) / sizeof(lengths[0]); i++)
        for (size_t j = 0; j < sizeof(ad_lengths) / sizeof(ad_lengths[0]); j++) {
            size_t len = lengths[i], ad_len = ad_lengths[j];
            unsigned char tag_a[16], tag_b[16];
            randombytes_buf(key, sizeof(key));
            randombytes_buf(nonce, sizeof(nonce));
            randombytes_buf(ad, sizeof(ad));
            randombytes_buf(pt, len);
            assert_int_equal(twin_aead_seal(a, tag_a, pt, len, ad, ad_len, nonce, key), 0);
            assert_int_equal(twin_aead_sodium_seal(b, tag_b, pt, len, ad, ad_len, nonce, key), 0);
            assert_memory_equal(a, b, len);
            assert_memory_equal(tag_a, tag_b, 16);
            /* Each opens what the other sealed. */
            assert_int_equal(twin_aead_open(back, b, len, tag_b, ad, ad_len, nonce, key), 0);
            assert_memory_equal(back, pt, len);
            assert_int_equal(twin_aead_sodium_open(back, a, len, tag_a, ad, ad_len, nonce, key), 0);
            assert_memory_equal(back, pt, len);
        }
    free(pt);
    free(a);
    free(b);
    free(back);
}

static void sealing_and_opening_in_place(void **state)
{
    unsigned char key[32], nonce[12], ad[7], pt[333], buf[333], tag[16], want[333], want_tag[16];
    randombytes_buf(key, sizeof(key));
    randombytes_buf(nonce, sizeof(nonce));
    randombytes_buf(ad, sizeof(ad));
    randombytes_buf(pt, sizeof(pt));
    assert_int_equal(
        twin_aead_sodium_seal(want, want_tag, pt, sizeof(pt), ad, sizeof(ad), nonce, key), 0);
    for (size_t i = 0; i < sizeof(impls) / sizeof(impls[0]); i++) {
        memcpy(buf, pt, sizeof(pt));
        assert_int_equal(impls[i].seal(buf, tag, buf, sizeof(buf), ad, sizeof(ad), nonce, key), 0);
        assert_memory_equal(buf, want, sizeof(buf));
        assert_memory_equal(tag, want_tag, 16);
        assert_int_equal(impls[i].open(buf, buf, sizeof(buf), tag, ad, sizeof(ad), nonce, key), 0);
        assert_memory_equal(buf, pt, sizeof(buf));
    }
}

/* Opens a sealed message after flipping bit `bit` of one input, which must fail and leave no
 * plaintext in out. */
static void refused_after_flip(const struct impl *im, int field, size_t bit)
{
    unsigned char key[32], nonce[12], ad[20], pt[64], ct[64], tag[16], out[64];
    memset(key, 0x11, sizeof(key));
    memset(nonce, 0x22, sizeof(nonce));
    memset(ad, 0x33, sizeof(ad));
    for (size_t i = 0; i < sizeof(pt); i++)
        pt[i] = (unsigned char)(0x40 + i);
    assert_int_equal(twin_aead_sodium_seal(ct, tag, pt, sizeof(pt), ad, sizeof(ad), nonce, key), 0);
    unsigned char *target[] = {ct, tag, ad, nonce, key};
    size_t sizes[] = {sizeof(ct), sizeof(tag), sizeof(ad), sizeof(nonce), sizeof(key)};
    target[field][(bit / 8) % sizes[field]] ^= (unsigned char)(1u << (bit % 8));
    memset(out, 0xee, sizeof(out));
    assert_int_equal(im->open(out, ct, sizeof(ct), tag, ad, sizeof(ad), nonce, key), -1);
    /* Whatever out holds, it is not the plaintext, nor any run of it. */
    for (size_t i = 0; i + 8 <= sizeof(out); i++)
        assert_memory_not_equal(out + i, pt + i, 8);
}

static void every_single_bit_flip_is_refused(void **state)
{
    static const size_t bits[] = {0, 1, 7, 8, 63, 64, 100, 127, 255, 511};
    for (size_t i = 0; i < sizeof(impls) / sizeof(impls[0]); i++)
        for (int field = 0; field < 5; field++)
            for (size_t k = 0; k < sizeof(bits) / sizeof(bits[0]); k++)
                refused_after_flip(&impls[i], field, bits[k]);
}

static void the_implementation_is_named(void **state)
{
#ifdef TWIN_AEAD_OPENSSL
    assert_string_equal(twin_aead_implementation(), "OpenSSL libcrypto");
#else
    assert_string_equal(twin_aead_implementation(), "libsodium");
#endif
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rfc8439_vector_in_both_implementations),
        cmocka_unit_test(the_build_agrees_with_libsodium_on_every_length),
        cmocka_unit_test(sealing_and_opening_in_place),
        cmocka_unit_test(every_single_bit_flip_is_refused),
        cmocka_unit_test(the_implementation_is_named),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
