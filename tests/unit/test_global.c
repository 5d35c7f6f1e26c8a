/* The process set-up (src/base/global.c): libsodium, OpenSSL and libgit2 started, libgit2 told
 * the limits twin keeps (objects in a received pack, pack files held open), durability as asked,
 * the long-walk settings, and the version. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <git2.h>
#include <sodium.h>
#include <string.h>

#include "twin/global.h"

static void init_starts_the_libraries_and_sets_the_limits(void **state)
{
    assert_int_equal(twin_global_init(true), 0);
    assert_true(twin_global_durable());
    /* libsodium is ready: a second sodium_init says so (1) rather than starting it (0). */
    assert_int_equal(sodium_init(), 1);
    size_t files = 0, objects = 0;
    assert_int_equal(git_libgit2_opts(GIT_OPT_GET_MWINDOW_FILE_LIMIT, &files), 0);
    assert_int_equal(files, 32);
    assert_int_equal(git_libgit2_opts(GIT_OPT_GET_PACK_MAX_OBJECTS, &objects), 0);
    assert_int_equal(objects, TWIN_PACK_MAX_OBJECTS);
    twin_global_shutdown();
}

static void durability_is_what_init_was_given(void **state)
{
    assert_int_equal(twin_global_init(false), 0);
    assert_false(twin_global_durable());
    twin_global_shutdown();
    assert_int_equal(twin_global_init(true), 0);
    assert_true(twin_global_durable());
    twin_global_shutdown();
}

static void the_version_is_three_numbers(void **state)
{
    const char *v = twin_global_version();
    assert_non_null(v);
    int dots = 0;
    for (const char *p = v; *p; p++) {
        if (*p == '.')
            dots++;
        else
            assert_true(*p >= '0' && *p <= '9');
    }
    assert_int_equal(dots, 2);
    assert_true(v[0] != '.' && v[strlen(v) - 1] != '.');
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(init_starts_the_libraries_and_sets_the_limits),
        cmocka_unit_test(durability_is_what_init_was_given),
        cmocka_unit_test(the_version_is_three_numbers),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
