#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "twin/error.h"

static void error_returns_its_code_and_keeps_the_message(void **state)
{
    assert_int_equal(twin_error(TWIN_EINVALID, "note.title: %s", "required"), TWIN_EINVALID);
    assert_string_equal(twin_error_last(), "note.title: required");
}

static void wrap_prefixes_context(void **state)
{
    twin_error(TWIN_ENOTFOUND, "no record 42");
    assert_int_equal(twin_error_wrap(TWIN_ENOTFOUND, "show"), TWIN_ENOTFOUND);
    assert_string_equal(twin_error_last(), "show: no record 42");
}

static void long_messages_are_truncated_not_overflowed(void **state)
{
    char big[4096];
    memset(big, 'x', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    twin_error(TWIN_ERROR, "%s", big);
    assert_true(strlen(twin_error_last()) < sizeof(big));
    twin_error_clear();
    assert_string_equal(twin_error_last(), "");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(error_returns_its_code_and_keeps_the_message),
        cmocka_unit_test(wrap_prefixes_context),
        cmocka_unit_test(long_messages_are_truncated_not_overflowed),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
