/* Attachments' names and caps (twin/attachment.h): the path of a file's bytes, what counts as
 * one, the SHA-256 that names it, and the cap a network's policy sets. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "twin/attachment.h"

/* SHA-256 of "abc" (FIPS 180-2, appendix B.1). */
#define ABC "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"

static void the_name_is_the_sha256_of_the_bytes(void **state)
{
    (void)state;
    char hex[TWIN_SHA256_HEX_LEN + 1];
    twin_attachment_sha256_hex(hex, "abc", 3);
    assert_string_equal(hex, ABC);
}

static void the_path_fans_out_by_the_first_two_digits(void **state)
{
    (void)state;
    char path[TWIN_ATTACHMENT_PATH_MAX], hex[TWIN_SHA256_HEX_LEN + 1];
    twin_attachment_path(path, ABC);
    assert_string_equal(path, "attachments/ba/" ABC);
    assert_true(twin_attachment_parse_path(hex, path));
    assert_string_equal(hex, ABC);
}

static void malformed_paths_are_not_attachments(void **state)
{
    (void)state;
    char hex[TWIN_SHA256_HEX_LEN + 1];
    static const char *const bad[] = {
        "attachments/bb/" ABC,     /* the wrong bucket */
        "attachments/ba/" ABC "0", /* too long */
        "attachments/ba/BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD",
        "attachments/ba" ABC, /* no bucket */
        "attachment/ba/" ABC, /* another directory */
        "attachments/ba/ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ag",
        "attachments/ba/x/" ABC,
        "attachments/",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (twin_attachment_parse_path(hex, bad[i]))
            fail_msg("'%s' was taken for an attachment's path", bad[i]);
    assert_false(twin_attachment_hex_valid(""));
    assert_false(twin_attachment_hex_valid(ABC "a"));
    assert_true(twin_attachment_hex_valid(ABC));
}

static void the_cap_is_the_policys_within_25_mib(void **state)
{
    (void)state;
    json_t *net = json_pack("{s:{s:i}}", "policy", "admin_threshold", 1);
    assert_int_equal(twin_attachment_cap(net), TWIN_ATTACHMENT_MAX_BYTES);
    json_object_set_new(json_object_get(net, "policy"), "attachment_max_bytes", json_integer(1024));
    assert_int_equal(twin_attachment_cap(net), 1024);
    /* Above the most twin takes, or not a number: the most. */
    json_object_set_new(json_object_get(net, "policy"), "attachment_max_bytes",
                        json_integer(TWIN_ATTACHMENT_MAX_BYTES + 1));
    assert_int_equal(twin_attachment_cap(net), TWIN_ATTACHMENT_MAX_BYTES);
    json_object_set_new(json_object_get(net, "policy"), "attachment_max_bytes", json_string("1"));
    assert_int_equal(twin_attachment_cap(net), TWIN_ATTACHMENT_MAX_BYTES);
    json_decref(net);
}

static void sizes_read_as_people_write_them(void **state)
{
    (void)state;
    char t[32];
    twin_attachment_size_text(t, sizeof(t), TWIN_ATTACHMENT_MAX_BYTES);
    assert_string_equal(t, "25 MiB");
    twin_attachment_size_text(t, sizeof(t), 3 * 1024 * 1024 / 2);
    assert_string_equal(t, "1.5 MiB");
    twin_attachment_size_text(t, sizeof(t), 1024);
    assert_string_equal(t, "1 KiB");
    twin_attachment_size_text(t, sizeof(t), 1000);
    assert_string_equal(t, "1000 bytes");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_name_is_the_sha256_of_the_bytes),
        cmocka_unit_test(the_path_fans_out_by_the_first_two_digits),
        cmocka_unit_test(malformed_paths_are_not_attachments),
        cmocka_unit_test(the_cap_is_the_policys_within_25_mib),
        cmocka_unit_test(sizes_read_as_people_write_them),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
