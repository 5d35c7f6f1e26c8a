/* SHA-1 (src/base/sha1.c), on the x86 SHA extensions and on the portable code alike: the
 * known-answer vectors of FIPS 180 and RFC 3174, every padding boundary, streaming in odd-sized
 * pieces against one shot, git object ids against libgit2's, and (where the library links
 * OpenSSL) raw digests against OpenSSL's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <git2.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#ifdef TWIN_AEAD_OPENSSL
#include <openssl/evp.h>
#endif

#include "base/sha1.h"

static void hex(char out[2 * TWIN_SHA1_BYTES + 1], const unsigned char *d)
{
    for (int i = 0; i < TWIN_SHA1_BYTES; i++)
        snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void one_shot(unsigned char out[TWIN_SHA1_BYTES], const void *data, size_t len)
{
    twin_sha1_ctx c;
    twin_sha1_init(&c);
    twin_sha1_update(&c, data, len);
    twin_sha1_final(&c, out);
}

/* The digest of data given to update in pieces of the sizes in steps, cycled. */
static void in_pieces(unsigned char out[TWIN_SHA1_BYTES], const unsigned char *data, size_t len,
                      const size_t *steps, size_t nsteps)
{
    twin_sha1_ctx c;
    twin_sha1_init(&c);
    for (size_t at = 0, k = 0; at < len; k++) {
        size_t n = steps[k % nsteps];
        if (n > len - at)
            n = len - at;
        twin_sha1_update(&c, data + at, n);
        at += n;
    }
    twin_sha1_final(&c, out);
}

static void assert_digest(const unsigned char *got, const char *want, const char *what)
{
    char text[2 * TWIN_SHA1_BYTES + 1];
    hex(text, got);
    if (strcmp(text, want) != 0)
        fail_msg("%s (%s): %s, expected %s", what,
                 twin_sha1_accelerated() ? "SHA extensions" : "portable", text, want);
}

/* Runs check on the portable code, then on the SHA extensions where the processor has them. */
static void on_each_path(void (*check)(void))
{
    int hardware = twin_sha1_accelerated();
    twin_sha1_use_hardware(0);
    assert_false(twin_sha1_accelerated());
    check();
    twin_sha1_use_hardware(1);
    assert_int_equal(twin_sha1_accelerated(), hardware);
    if (hardware)
        check();
    else
        print_message("no SHA extensions on this processor: the portable code only\n");
}

/* --- known answers --- */

static const struct {
    const char *name, *text, *digest;
} vectors[] = {
    /* FIPS 180-2, appendix A.1, and RFC 3174 TEST1 */
    {"abc", "abc", "a9993e364706816aba3e25717850c26c9cd0d89d"},
    /* the empty message */
    {"empty", "", "da39a3ee5e6b4b0d3255bfef95601890afd80709"},
    /* FIPS 180-2, appendix A.2, and RFC 3174 TEST2: 448 bits, so the padding needs a block of
     * its own */
    {"448-bit", "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
     "84983e441c3bd26ebaae4aa1f95129e5e54670f1"},
    /* the 896-bit message of the SHA-2 examples (FIPS 180-2's long vector for SHA-512) */
    {"896-bit",
     "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmno"
     "pqrsmnopqrstnopqrstu",
     "a49b2446a02c645bf419f995b67091253a04a259"},
    {"fox", "The quick brown fox jumps over the lazy dog",
     "2fd4e1c67a2d28fced849ee1bb76e7391b93eb12"},
};

static void check_vectors(void)
{
    unsigned char d[TWIN_SHA1_BYTES];
    for (size_t i = 0; i < sizeof(vectors) / sizeof(*vectors); i++) {
        one_shot(d, vectors[i].text, strlen(vectors[i].text));
        assert_digest(d, vectors[i].digest, vectors[i].name);
        /* A byte at a time: every update lands in the partial block. */
        size_t one = 1;
        in_pieces(d, (const unsigned char *)vectors[i].text, strlen(vectors[i].text), &one, 1);
        assert_digest(d, vectors[i].digest, vectors[i].name);
    }
}

static void fips_and_rfc_vectors(void **state)
{
    on_each_path(check_vectors);
}

static void check_million_a(void)
{
    size_t n = 1000000;
    unsigned char *a = malloc(n), d[TWIN_SHA1_BYTES];
    assert_non_null(a);
    memset(a, 'a', n);
    /* FIPS 180-2, appendix A.3, and RFC 3174 TEST3 */
    one_shot(d, a, n);
    assert_digest(d, "34aa973cd4c4daa4f61eeb2bdbad27316534016f", "a million 'a's");
    const size_t odd[] = {1, 3, 7, 61, 63, 64, 65, 127, 1000, 4099};
    in_pieces(d, a, n, odd, sizeof(odd) / sizeof(*odd));
    assert_digest(d, "34aa973cd4c4daa4f61eeb2bdbad27316534016f", "a million 'a's in pieces");
    free(a);
}

static void a_million_a(void **state)
{
    on_each_path(check_million_a);
}

static void check_rfc3174_test4(void)
{
    /* RFC 3174 TEST4: "01234567" eight times, the whole repeated ten times. */
    const char *unit = "0123456701234567012345670123456701234567012345670123456701234567";
    unsigned char d[TWIN_SHA1_BYTES];
    twin_sha1_ctx c;
    twin_sha1_init(&c);
    for (int i = 0; i < 10; i++)
        twin_sha1_update(&c, unit, 64);
    twin_sha1_final(&c, d);
    assert_digest(d, "dea356a2cddd90c7a7ecedc5ebb563934f460452", "RFC 3174 TEST4");
}

static void rfc3174_whole_blocks(void **state)
{
    on_each_path(check_rfc3174_test4);
}

/* --- streaming against one shot --- */

static unsigned char data[4096];

static void fill_data(void)
{
    uint32_t x = 2463534242u;
    for (size_t i = 0; i < sizeof(data); i++) {
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        data[i] = (unsigned char)x;
    }
}

static void check_streaming(void)
{
    const size_t a[] = {1}, b[] = {3, 5, 7}, c[] = {63}, d[] = {65}, e[] = {64},
                 f[] = {13, 127, 1, 200}, g[] = {55, 56, 57};
    const struct {
        const size_t *steps;
        size_t n;
    } ways[] = {{a, 1}, {b, 3}, {c, 1}, {d, 1}, {e, 1}, {f, 4}, {g, 3}};
    /* Every length around the padding boundaries (55, 56, 63, 64 bytes in the last block) and
     * whole blocks, up to several blocks. */
    for (size_t len = 0; len <= 300; len++) {
        unsigned char whole[TWIN_SHA1_BYTES], pieces[TWIN_SHA1_BYTES];
        one_shot(whole, data, len);
        for (size_t w = 0; w < sizeof(ways) / sizeof(*ways); w++) {
            in_pieces(pieces, data, len, ways[w].steps, ways[w].n);
            if (memcmp(whole, pieces, sizeof(whole)) != 0)
                fail_msg("%zu bytes: in pieces (way %zu) differs from one shot", len, w);
        }
    }
    /* An empty update changes nothing, wherever it falls. */
    unsigned char with[TWIN_SHA1_BYTES], without[TWIN_SHA1_BYTES];
    twin_sha1_ctx ctx;
    twin_sha1_init(&ctx);
    twin_sha1_update(&ctx, data, 0);
    twin_sha1_update(&ctx, data, 10);
    twin_sha1_update(&ctx, data + 10, 0);
    twin_sha1_update(&ctx, data + 10, 100);
    twin_sha1_final(&ctx, with);
    one_shot(without, data, 110);
    assert_memory_equal(with, without, sizeof(with));
}

static void streaming_in_odd_pieces_matches_one_shot(void **state)
{
    fill_data();
    on_each_path(check_streaming);
}

/* The two paths give the same digest for the same bytes, at every length. */
static void hardware_and_portable_agree(void **state)
{
    if (!twin_sha1_accelerated()) {
        print_message("no SHA extensions on this processor: nothing to compare\n");
        skip();
    }
    fill_data();
    for (size_t len = 0; len <= sizeof(data); len += len < 200 ? 1 : 61) {
        unsigned char hw[TWIN_SHA1_BYTES], sw[TWIN_SHA1_BYTES];
        one_shot(hw, data, len);
        twin_sha1_use_hardware(0);
        one_shot(sw, data, len);
        twin_sha1_use_hardware(1);
        if (memcmp(hw, sw, sizeof(hw)) != 0)
            fail_msg("%zu bytes: the SHA extensions and the portable code differ", len);
    }
}

/* --- against other implementations --- */

static void check_objects_against_libgit2(void)
{
    const char *types[] = {"blob", "tree", "commit", "tag"};
    const git_object_t kinds[] = {GIT_OBJECT_BLOB, GIT_OBJECT_TREE, GIT_OBJECT_COMMIT,
                                  GIT_OBJECT_TAG};
    /* Sizes whose decimal length changes, and sizes that put the header across block edges. */
    const size_t lens[] = {0, 1, 9, 10, 11, 43, 44, 45, 52, 53, 54, 99, 100, 101, 999, 1000, 4096};
    for (size_t t = 0; t < 4; t++)
        for (size_t i = 0; i < sizeof(lens) / sizeof(*lens); i++) {
            unsigned char ours[TWIN_SHA1_BYTES];
            git_oid theirs;
            twin_sha1_object(ours, types[t], data, lens[i]);
            assert_int_equal(git_odb_hash(&theirs, data, lens[i], kinds[t]), 0);
            if (memcmp(ours, theirs.id, TWIN_SHA1_BYTES) != 0)
                fail_msg("%s of %zu bytes: not the id libgit2 gives", types[t], lens[i]);
        }
    unsigned char d[TWIN_SHA1_BYTES];
    twin_sha1_object(d, "blob", "", 0);
    assert_digest(d, "e69de29bb2d1d6434b8b29ae775ad8c2e48c5391", "the empty blob");
    twin_sha1_object(d, "tree", "", 0);
    assert_digest(d, "4b825dc642cb6eb9a060e54bf8d69288fbee4904", "the empty tree");
    twin_sha1_object(d, "blob", "hello world\n", 12);
    assert_digest(d, "3b18e512dba79e4c8300dd08aeb37f8e728b8dad", "blob \"hello world\\n\"");
}

static void object_ids_match_libgit2(void **state)
{
    fill_data();
    on_each_path(check_objects_against_libgit2);
}

#ifdef TWIN_AEAD_OPENSSL
static void check_against_openssl(void)
{
    for (size_t len = 0; len <= sizeof(data); len += len < 300 ? 1 : 127) {
        unsigned char ours[TWIN_SHA1_BYTES], theirs[EVP_MAX_MD_SIZE];
        unsigned int n = 0;
        one_shot(ours, data, len);
        assert_int_equal(EVP_Digest(data, len, theirs, &n, EVP_sha1(), NULL), 1);
        assert_int_equal(n, TWIN_SHA1_BYTES);
        if (memcmp(ours, theirs, TWIN_SHA1_BYTES) != 0)
            fail_msg("%zu bytes: not the digest OpenSSL gives", len);
    }
}
#endif

static void raw_digests_match_openssl(void **state)
{
#ifdef TWIN_AEAD_OPENSSL
    fill_data();
    on_each_path(check_against_openssl);
#else
    print_message("built without OpenSSL: no second implementation of raw SHA-1 to compare\n");
    skip();
#endif
}

static int setup(void **state)
{
    return git_libgit2_init() > 0 ? 0 : -1;
}

static int teardown(void **state)
{
    twin_sha1_use_hardware(1);
    git_libgit2_shutdown();
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fips_and_rfc_vectors),
        cmocka_unit_test(a_million_a),
        cmocka_unit_test(rfc3174_whole_blocks),
        cmocka_unit_test(streaming_in_odd_pieces_matches_one_shot),
        cmocka_unit_test(hardware_and_portable_agree),
        cmocka_unit_test(object_ids_match_libgit2),
        cmocka_unit_test(raw_digests_match_openssl),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
