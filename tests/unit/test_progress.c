/* Progress reports: nothing is reported without a function; with one, each report reaches it
 * whole (step, unit, done, total) with its context; setting NULL stops the reports. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "twin/progress.h"

struct seen {
    int calls;
    struct twin_progress last;
};

static void keep(const struct twin_progress *p, void *ctx)
{
    struct seen *s = ctx;
    s->calls++;
    s->last = *p;
}

static void reports_reach_the_function_set_and_only_it(void **state)
{
    (void)state;
    struct seen s = {0};
    twin_progress_report("checking commits", "commits", 1, 10); /* none set: nothing happens */
    twin_progress_set(keep, &s);
    twin_progress_report("checking commits", "commits", 3, 10);
    assert_int_equal(s.calls, 1);
    assert_string_equal(s.last.step, "checking commits");
    assert_string_equal(s.last.unit, "commits");
    assert_int_equal(s.last.done, 3);
    assert_int_equal(s.last.total, 10);
    twin_progress_report("receiving history", "bytes", (uint64_t)5 << 32, 0);
    assert_int_equal(s.calls, 2);
    assert_string_equal(s.last.unit, "bytes");
    assert_true(s.last.done == (uint64_t)5 << 32);
    assert_int_equal(s.last.total, 0);
    twin_progress_set(NULL, NULL);
    twin_progress_report("checking commits", "commits", 4, 10);
    assert_int_equal(s.calls, 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reports_reach_the_function_set_and_only_it),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
