/* SSH wire buffers: the reader's bounds, the writer's maximum, the ssh-ed25519 blob, and the
 * armor round trip with its refusals. */
#define _XOPEN_SOURCE 700 /* nftw, in the helpers */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "crypto/sshbuf.h"
#include "unit/helpers.h"

static const struct twin_sshbuf_armor EXAMPLE = {
    .label = "XE EXAMPLE",
    .context = "example",
    .noun = "example blob",
    .text_max = 1024,
    .final_newline = true,
    .trailing_blanks = false,
};

/* --- reading --- */

static void string_whose_declared_length_passes_the_data_is_refused_unconsumed(void **state)
{
    struct twin_sshbuf_reader r;
    struct buf b = {.n = 0};
    const unsigned char *s = NULL;
    size_t len = 0;
    put32(&b, 6);
    put(&b, "XE-EX", 5);
    twin_sshbuf_reader_init(&r, b.b, b.n);
    assert_error(twin_sshbuf_get_string(&r, &s, &len), TWIN_EINVALID,
                 "string length 6 exceeds the 5 bytes left");
    assert_ptr_equal(r.p, b.b);
    assert_int_equal(r.left, 9);
    assert_null(s);
}

static void string_of_the_largest_declared_length_is_refused(void **state)
{
    struct twin_sshbuf_reader r;
    struct buf b = {.n = 0};
    const unsigned char *s;
    size_t len;
    put32(&b, UINT32_MAX);
    put(&b, "XE", 2);
    twin_sshbuf_reader_init(&r, b.b, b.n);
    assert_error(twin_sshbuf_get_string(&r, &s, &len), TWIN_EINVALID,
                 "string length 4294967295 exceeds the 2 bytes left");
    assert_int_equal(r.left, 6);
}

static void string_filling_the_data_is_read_and_consumed(void **state)
{
    struct twin_sshbuf_reader r;
    struct buf b = {.n = 0};
    const unsigned char *s, *empty;
    size_t len, empty_len;
    putstr(&b, "XE-EXAMPLE-1", 12);
    putstr(&b, "", 0);
    twin_sshbuf_reader_init(&r, b.b, b.n);
    assert_int_equal(twin_sshbuf_get_string(&r, &s, &len), 0);
    assert_int_equal(len, 12);
    assert_memory_equal(s, "XE-EXAMPLE-1", 12);
    assert_int_equal(twin_sshbuf_get_string(&r, &empty, &empty_len), 0);
    assert_int_equal(empty_len, 0);
    assert_int_equal(r.left, 0);
    assert_error(twin_sshbuf_get_string(&r, &s, &len), TWIN_EINVALID, "uint32 wanted, 0 bytes");
}

static void integer_needs_four_bytes_and_peek_does_not_consume(void **state)
{
    struct twin_sshbuf_reader r;
    const unsigned char data[] = {0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07};
    uint32_t v = 0;
    twin_sshbuf_reader_init(&r, data, sizeof(data));
    assert_int_equal(twin_sshbuf_peek_u32(&r, &v), 0);
    assert_int_equal(v, 0x01020304);
    assert_int_equal(r.left, 7);
    assert_int_equal(twin_sshbuf_get_u32(&r, &v), 0);
    assert_int_equal(r.left, 3);
    assert_error(twin_sshbuf_get_u32(&r, &v), TWIN_EINVALID, "uint32 wanted, 3 bytes left");
    assert_int_equal(r.left, 3);
    assert_ptr_equal(r.p, data + 4);
}

static void magic_is_consumed_only_when_it_matches(void **state)
{
    struct twin_sshbuf_reader r;
    twin_sshbuf_reader_init(&r, "SSHSIG\0\0\0\1", 10);
    assert_error(twin_sshbuf_get_magic(&r, "SSHSIH", 6), TWIN_EINVALID, "expected magic");
    assert_int_equal(r.left, 10);
    assert_int_equal(twin_sshbuf_get_magic(&r, "SSHSIG", 6), 0);
    assert_int_equal(r.left, 4);
    assert_error(twin_sshbuf_get_magic(&r, "SSHSIG", 6), TWIN_EINVALID, "expected magic");
    assert_int_equal(r.left, 4);
}

static void printable_replaces_control_bytes_and_cuts_long_input(void **state)
{
    char out[TWIN_SSHBUF_PRINTABLE_MAX];
    unsigned char long_input[100];
    memset(long_input, 'x', sizeof(long_input));
    assert_string_equal(twin_sshbuf_printable(out, (const unsigned char *)"ssh\n\x7f-r", 7), "ssh?"
                                                                                             "?-r");
    twin_sshbuf_printable(out, long_input, sizeof(long_input));
    assert_int_equal(strlen(out), 43);
    assert_string_equal(out + 40, "...");
}

/* --- writing --- */

static void writer_grows_to_exactly_its_maximum(void **state)
{
    struct twin_sshbuf b;
    twin_sshbuf_init(&b, 1000);
    for (int i = 0; i < 1000; i++)
        assert_int_equal(twin_sshbuf_put(&b, "x", 1), 0);
    assert_int_equal(b.len, 1000);
    assert_true(b.alloc <= 1000);
    assert_int_equal(b.error, 0);
    twin_sshbuf_free(&b);
}

static void writer_refuses_a_put_past_its_maximum_and_stays_failed(void **state)
{
    struct twin_sshbuf b;
    twin_sshbuf_init(&b, 16);
    assert_int_equal(twin_sshbuf_put(&b, "XE-EXAMPLE-1", 12), 0);
    assert_error(twin_sshbuf_put(&b, "XE-EX", 5), TWIN_ELIMIT,
                 "5 more bytes would pass the maximum of 16 bytes");
    assert_int_equal(b.len, 12);
    assert_memory_equal(b.data, "XE-EXAMPLE-1", 12);
    /* Sticky: a put that would fit still fails, so one check at the end covers a run of puts. */
    assert_int_equal(twin_sshbuf_put(&b, "x", 1), TWIN_ELIMIT);
    assert_int_equal(b.error, TWIN_ELIMIT);
    assert_int_equal(b.len, 12);
    twin_sshbuf_free(&b);
}

static void writer_of_maximum_zero_takes_only_empty_puts(void **state)
{
    struct twin_sshbuf b;
    twin_sshbuf_init(&b, 0);
    assert_int_equal(twin_sshbuf_put(&b, NULL, 0), 0);
    assert_null(b.data);
    assert_error(twin_sshbuf_put(&b, "x", 1), TWIN_ELIMIT, "maximum of 0 bytes");
    twin_sshbuf_free(&b);
}

static void writer_puts_big_endian_integers_and_strings(void **state)
{
    struct twin_sshbuf b;
    twin_sshbuf_init(&b, 64);
    assert_int_equal(twin_sshbuf_put_u32(&b, 0x01020304), 0);
    assert_int_equal(twin_sshbuf_put_string(&b, "XE", 2), 0);
    assert_int_equal(twin_sshbuf_put_string(&b, NULL, 0), 0);
    assert_int_equal(b.len, 4 + 6 + 4);
    assert_memory_equal(b.data, "\1\2\3\4\0\0\0\2XE\0\0\0\0", 14);
    twin_sshbuf_free(&b);
}

static void free_empties_the_writer_for_reuse(void **state)
{
    struct twin_sshbuf b;
    twin_sshbuf_init(&b, 8);
    assert_int_equal(twin_sshbuf_put(&b, "XE-EXAMPLE", 10), TWIN_ELIMIT);
    twin_sshbuf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.error, 0);
    assert_int_equal(b.max, 8);
    assert_int_equal(twin_sshbuf_put(&b, "XE", 2), 0);
    twin_sshbuf_free(&b);
    twin_sshbuf_free(NULL);
}

static void ed25519_blob_is_the_type_string_then_the_body_string(void **state)
{
    unsigned char pk[32], blob[TWIN_SSHBUF_ED25519_BLOB_LEN(32)];
    struct buf want = {.n = 0};
    memset(pk, 0xe5, sizeof(pk));
    putstr(&want, "ssh-ed25519", 11);
    putstr(&want, pk, 32);
    twin_sshbuf_ed25519_blob(blob, pk, sizeof(pk));
    assert_int_equal(sizeof(blob), 51);
    assert_memory_equal(blob, want.b, want.n);
}

/* --- armor --- */

static int dearmor_text(struct twin_sshbuf *out, const struct twin_sshbuf_armor *spec,
                        const char *text)
{
    return twin_sshbuf_dearmor(out, spec, text, strlen(text));
}

static char *armored(const struct twin_sshbuf_armor *spec, const unsigned char *blob, size_t n)
{
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(twin_sshbuf_armor(&text, &len, spec, blob, n), 0);
    assert_int_equal(len, strlen(text));
    return text;
}

static void armor_round_trips_in_70_column_lines(void **state)
{
    unsigned char blob[200];
    struct twin_sshbuf out;
    for (size_t i = 0; i < sizeof(blob); i++)
        blob[i] = (unsigned char)(i * 7);
    char *text = armored(&EXAMPLE, blob, sizeof(blob));
    assert_true(strncmp(text, "-----BEGIN XE EXAMPLE-----\n", 27) == 0);
    assert_string_equal(text + strlen(text) - 26, "\n-----END XE EXAMPLE-----\n");
    for (char *line = text; *line; line = strchr(line, '\n') + 1)
        assert_true(strchr(line, '\n') - line <= 70);
    char *theirs = armor_text("XE EXAMPLE", blob, sizeof(blob), true);
    assert_string_equal(text, theirs); /* the layout ssh-keygen writes */

    twin_sshbuf_init(&out, sizeof(blob));
    assert_int_equal(dearmor_text(&out, &EXAMPLE, text), 0);
    assert_int_equal(out.len, sizeof(blob));
    assert_memory_equal(out.data, blob, sizeof(blob));
    twin_sshbuf_free(&out);
    free(theirs);
    free(text);
}

static void armor_without_final_newline_ends_at_the_dashes(void **state)
{
    struct twin_sshbuf_armor spec = EXAMPLE;
    spec.final_newline = false;
    char *text = armored(&spec, (const unsigned char *)"XE", 2);
    assert_string_equal(text, "-----BEGIN XE EXAMPLE-----\nWEU=\n-----END XE EXAMPLE-----");
    free(text);
}

static void dearmor_refuses_another_label(void **state)
{
    struct twin_sshbuf_armor other = EXAMPLE;
    struct twin_sshbuf out;
    other.label = "XE OTHER";
    char *text = armored(&other, (const unsigned char *)"XE", 2);
    twin_sshbuf_init(&out, 64);
    assert_error(dearmor_text(&out, &EXAMPLE, text), TWIN_EINVALID,
                 "example: armor does not start with \"-----BEGIN XE EXAMPLE-----\"");
    assert_int_equal(out.len, 0);
    twin_sshbuf_free(&out);
    free(text);
}

static void dearmor_refuses_an_end_line_of_another_label(void **state)
{
    struct twin_sshbuf out;
    const char *text = "-----BEGIN XE EXAMPLE-----\nWEU=\n-----END XE OTHER-----\n";
    twin_sshbuf_init(&out, 64);
    assert_error(dearmor_text(&out, &EXAMPLE, text), TWIN_EINVALID,
                 "example: armor is not valid base64");
    text = "-----BEGIN XE EXAMPLE-----\nWEU=\n";
    assert_error(dearmor_text(&out, &EXAMPLE, text), TWIN_EINVALID,
                 "example: missing \"-----END XE EXAMPLE-----\" line");
    assert_int_equal(out.len, 0);
    twin_sshbuf_free(&out);
}

static void dearmor_refuses_text_longer_than_the_limit(void **state)
{
    struct twin_sshbuf out;
    size_t len = EXAMPLE.text_max + 1;
    char *text = malloc(len);
    const char *start = "-----BEGIN XE EXAMPLE-----\n";
    memset(text, '\n', len);
    memcpy(text, start, strlen(start));
    twin_sshbuf_init(&out, 4096);
    assert_error(twin_sshbuf_dearmor(&out, &EXAMPLE, text, len), TWIN_ELIMIT,
                 "example: armored example blob is 1025 bytes, more than 1024");
    twin_sshbuf_free(&out);
    free(text);
}

static void dearmor_refuses_a_blob_larger_than_the_writer_maximum(void **state)
{
    unsigned char blob[100] = {0};
    struct twin_sshbuf out;
    char *text = armored(&EXAMPLE, blob, sizeof(blob));
    twin_sshbuf_init(&out, 50);
    assert_error(dearmor_text(&out, &EXAMPLE, text), TWIN_ELIMIT, "maximum of 50 bytes");
    assert_int_equal(out.len, 0);
    twin_sshbuf_free(&out);
    free(text);
}

static void dearmor_accepts_blank_lines_after_the_end_only_when_allowed(void **state)
{
    struct twin_sshbuf_armor lenient = EXAMPLE;
    struct twin_sshbuf out;
    const char *text = "-----BEGIN XE EXAMPLE-----\r\nWEU=\r\n-----END XE EXAMPLE-----\r\n \n\t\n";
    lenient.trailing_blanks = true;
    twin_sshbuf_init(&out, 64);
    assert_error(dearmor_text(&out, &EXAMPLE, text), TWIN_EINVALID,
                 "example: unexpected text after \"-----END XE EXAMPLE-----\"");
    assert_int_equal(dearmor_text(&out, &lenient, text), 0);
    assert_int_equal(out.len, 2);
    assert_memory_equal(out.data, "XE", 2);
    text = "-----BEGIN XE EXAMPLE-----\nWEU=\n-----END XE EXAMPLE-----\n\nXE\n";
    assert_error(dearmor_text(&out, &lenient, text), TWIN_EINVALID, "unexpected text after");
    twin_sshbuf_free(&out);
}

static void dearmor_refuses_a_blank_line_and_bad_base64_inside(void **state)
{
    struct twin_sshbuf out;
    const char *blank = "-----BEGIN XE EXAMPLE-----\n\nWEU=\n-----END XE EXAMPLE-----\n";
    const char *padding = "-----BEGIN XE EXAMPLE-----\nWEU\n-----END XE EXAMPLE-----\n";
    twin_sshbuf_init(&out, 64);
    assert_error(dearmor_text(&out, &EXAMPLE, blank), TWIN_EINVALID,
                 "example: blank line inside the armor");
    assert_error(dearmor_text(&out, &EXAMPLE, padding), TWIN_EINVALID,
                 "example: armor is not valid base64");
    assert_int_equal(out.len, 0);
    twin_sshbuf_free(&out);
}

static void empty_armor_decodes_to_nothing(void **state)
{
    struct twin_sshbuf out;
    char *text = armored(&EXAMPLE, NULL, 0);
    assert_string_equal(text, "-----BEGIN XE EXAMPLE-----\n-----END XE EXAMPLE-----\n");
    twin_sshbuf_init(&out, 64);
    assert_int_equal(dearmor_text(&out, &EXAMPLE, text), 0);
    assert_int_equal(out.len, 0);
    twin_sshbuf_free(&out);
    free(text);
}

static void armor_refuses_a_blob_whose_text_would_pass_the_limit(void **state)
{
    unsigned char blob[800] = {0};
    char *text = NULL;
    size_t len = 0;
    /* 738 bytes make 984 base64 characters: with 15 line ends and the markers, over 1024. */
    assert_error(twin_sshbuf_armor(&text, &len, &EXAMPLE, blob, 738), TWIN_ELIMIT,
                 "example: armored example blob would be more than 1024 bytes");
    assert_error(twin_sshbuf_armor(&text, &len, &EXAMPLE, blob, sizeof(blob)), TWIN_ELIMIT,
                 "would be more than 1024 bytes");
    assert_null(text);
    assert_int_equal(len, 0);
}

/* The decoder for public blobs reads exactly what libsodium's reads: the same bytes, the same
 * refusals, on random base64 with its padding, alphabet and trailing bits broken now and then. */
static void public_blobs_decode_as_libsodium_decodes_them(void **state)
{
    (void)state;
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    struct twin_sshbuf_armor fast = EXAMPLE;
    fast.public_blob = true;
    unsigned long long seed = 7;
    size_t accepted = 0, refused = 0;
    for (int round = 0; round < 20000; round++) {
        char b64[64], text[256];
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        size_t len = (size_t)(seed >> 33) % 24 + 1;
        for (size_t i = 0; i < len; i++) {
            seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
            unsigned r = (unsigned)(seed >> 33);
            b64[i] = r % 97 == 0 ? '=' : r % 89 == 0 ? '*' : alphabet[r % 64];
        }
        seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
        size_t pad = (size_t)(seed >> 33) % 3;
        for (size_t i = 0; i < pad && i < len; i++)
            b64[len - 1 - i] = '=';
        b64[len] = '\0';
        snprintf(text, sizeof(text), "-----BEGIN XE EXAMPLE-----\n%s\n-----END XE EXAMPLE-----\n",
                 b64);
        struct twin_sshbuf a, b;
        twin_sshbuf_init(&a, 64);
        twin_sshbuf_init(&b, 64);
        int ra = twin_sshbuf_dearmor(&a, &EXAMPLE, text, strlen(text));
        int rb = twin_sshbuf_dearmor(&b, &fast, text, strlen(text));
        if (ra != rb)
            fail_msg("\"%s\": libsodium %d, the public decoder %d", b64, ra, rb);
        if (ra == 0) {
            assert_int_equal(a.len, b.len);
            assert_memory_equal(a.data, b.data, a.len);
            accepted++;
        } else {
            refused++;
        }
        twin_sshbuf_free(&a);
        twin_sshbuf_free(&b);
    }
    assert_true(accepted > 1000 && refused > 1000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(string_whose_declared_length_passes_the_data_is_refused_unconsumed),
        cmocka_unit_test(string_of_the_largest_declared_length_is_refused),
        cmocka_unit_test(string_filling_the_data_is_read_and_consumed),
        cmocka_unit_test(integer_needs_four_bytes_and_peek_does_not_consume),
        cmocka_unit_test(magic_is_consumed_only_when_it_matches),
        cmocka_unit_test(printable_replaces_control_bytes_and_cuts_long_input),
        cmocka_unit_test(writer_grows_to_exactly_its_maximum),
        cmocka_unit_test(writer_refuses_a_put_past_its_maximum_and_stays_failed),
        cmocka_unit_test(writer_of_maximum_zero_takes_only_empty_puts),
        cmocka_unit_test(writer_puts_big_endian_integers_and_strings),
        cmocka_unit_test(free_empties_the_writer_for_reuse),
        cmocka_unit_test(ed25519_blob_is_the_type_string_then_the_body_string),
        cmocka_unit_test(armor_round_trips_in_70_column_lines),
        cmocka_unit_test(armor_without_final_newline_ends_at_the_dashes),
        cmocka_unit_test(dearmor_refuses_another_label),
        cmocka_unit_test(dearmor_refuses_an_end_line_of_another_label),
        cmocka_unit_test(dearmor_refuses_text_longer_than_the_limit),
        cmocka_unit_test(dearmor_refuses_a_blob_larger_than_the_writer_maximum),
        cmocka_unit_test(dearmor_accepts_blank_lines_after_the_end_only_when_allowed),
        cmocka_unit_test(dearmor_refuses_a_blank_line_and_bad_base64_inside),
        cmocka_unit_test(empty_armor_decodes_to_nothing),
        cmocka_unit_test(armor_refuses_a_blob_whose_text_would_pass_the_limit),
        cmocka_unit_test(public_blobs_decode_as_libsodium_decodes_them),
    };
    if (sodium_init() < 0)
        return 1;
    return cmocka_run_group_tests(tests, NULL, NULL);
}
