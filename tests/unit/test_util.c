/* The helpers several modules share (src/base/util.c): growing arrays, the map of 20-byte ids,
 * whole-file reads and writes, the node's clock with the test skew, and the test stop points. */
#define _XOPEN_SOURCE 700 /* nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <errno.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "base/util.h"
#include "unit/helpers.h"

/* --- twin_util_grow --- */

static void grow_doubles_from_sixteen_and_keeps_the_items(void **state)
{
    uint64_t *a = NULL;
    size_t cap = 0;
    assert_int_equal(twin_util_grow((void **)&a, &cap, 1, sizeof(*a)), 0);
    assert_non_null(a);
    assert_int_equal(cap, 16);
    for (size_t i = 0; i < cap; i++)
        a[i] = i * 7;
    assert_int_equal(twin_util_grow((void **)&a, &cap, 17, sizeof(*a)), 0);
    assert_int_equal(cap, 32);
    assert_int_equal(twin_util_grow((void **)&a, &cap, 1000, sizeof(*a)), 0);
    assert_int_equal(cap, 1024);
    for (size_t i = 16; i < cap; i++)
        a[i] = i * 7;
    for (size_t i = 0; i < cap; i++)
        assert_int_equal(a[i], i * 7);
    free(a);
}

static void grow_leaves_an_array_that_is_large_enough_alone(void **state)
{
    char *a = malloc(40);
    size_t cap = 40;
    assert_non_null(a);
    char *before = a;
    assert_int_equal(twin_util_grow((void **)&a, &cap, 40, 1), 0);
    assert_ptr_equal(a, before);
    assert_int_equal(cap, 40);
    assert_int_equal(twin_util_grow((void **)&a, &cap, 0, 1), 0);
    assert_int_equal(cap, 40);
    /* A capacity that is not a power of two doubles from itself. */
    assert_int_equal(twin_util_grow((void **)&a, &cap, 41, 1), 0);
    assert_int_equal(cap, 80);
    memset(a, 'x', cap);
    free(a);
}

/* need items past what an array may take: refused, with *p and *cap as they were (and *p still
 * a live allocation, which the writes check under AddressSanitizer). */
static void assert_grow_refused(size_t need, size_t elem)
{
    /* Says it holds one item (of however many bytes): every need here is more. */
    unsigned char *a = malloc(16), *before = a;
    size_t cap = 1;
    assert_non_null(a);
    twin_error_clear();
    int rc = twin_util_grow((void **)&a, &cap, need, elem);
    if (rc != TWIN_ELIMIT)
        fail_msg("growing to %zu items of %zu bytes: %d (%s), not TWIN_ELIMIT", need, elem, rc,
                 twin_error_last());
    if (!strstr(twin_error_last(), "larger than"))
        fail_msg("message \"%s\" does not say the array is too large", twin_error_last());
    assert_ptr_equal(a, before);
    assert_int_equal(cap, 1);
    memset(a, 'x', 16);
    free(a);
}

static void grow_refuses_a_size_that_overflows(void **state)
{
    /* need * elem wraps to 0 and to 16: realloc would have shrunk or freed the array. */
    assert_grow_refused(SIZE_MAX / 16 + 1, 16);
    assert_grow_refused(SIZE_MAX / 16 + 2, 16);
    /* Doubling from 16 to reach need would wrap capacity to 0 and loop for ever. */
    assert_grow_refused(SIZE_MAX / 2 + 2, 1);
    assert_grow_refused(SIZE_MAX, 1);
    assert_grow_refused(2, SIZE_MAX);
    /* No wrap in a size_t, but larger than any object C can index. */
    assert_grow_refused(TWIN_ARRAY_BYTES_MAX / 8 + 1, 8);
    assert_grow_refused(TWIN_ARRAY_BYTES_MAX + 1, 1);
}

static void array_bytes_is_the_product_up_to_the_limit(void **state)
{
    size_t bytes = 1;
    assert_int_equal(twin_util_array_bytes(&bytes, 0, 8), 0);
    assert_int_equal(bytes, 0);
    assert_int_equal(twin_util_array_bytes(&bytes, SIZE_MAX, 0), 0);
    assert_int_equal(bytes, 0);
    assert_int_equal(twin_util_array_bytes(&bytes, 1000, 24), 0);
    assert_int_equal(bytes, 24000);
    const size_t elems[] = {1, 2, 3, 8, 20, 24, 4096, 1000003};
    for (size_t i = 0; i < sizeof(elems) / sizeof(*elems); i++) {
        size_t elem = elems[i], most = TWIN_ARRAY_BYTES_MAX / elem;
        assert_int_equal(twin_util_array_bytes(&bytes, most, elem), 0);
        assert_int_equal(bytes, most * elem);
        assert_true(bytes <= TWIN_ARRAY_BYTES_MAX);
        bytes = 42;
        assert_error(twin_util_array_bytes(&bytes, most + 1, elem), TWIN_ELIMIT, "larger than");
        assert_int_equal(bytes, 42);
    }
    assert_error(twin_util_array_bytes(&bytes, SIZE_MAX, SIZE_MAX), TWIN_ELIMIT, "larger than");
    assert_error(twin_util_array_bytes(&bytes, (size_t)1 << 32, (size_t)1 << 32), TWIN_ELIMIT,
                 "larger than");
    assert_int_equal(bytes, 42);
}

static void array_allocators_refuse_an_overflow_and_keep_the_old_array(void **state)
{
    twin_error_clear();
    assert_null(twin_util_malloc_array(SIZE_MAX / 4 + 2, 4));
    assert_string_not_equal(twin_error_last(), "");
    assert_null(twin_util_malloc_array(TWIN_ARRAY_BYTES_MAX / 2 + 1, 2));

    uint32_t *a = twin_util_malloc_array(4, sizeof(*a));
    assert_non_null(a);
    for (uint32_t i = 0; i < 4; i++)
        a[i] = i + 100;
    twin_error_clear();
    /* (SIZE_MAX / 4 + 2) * 4 wraps to 4: a plain realloc would have shrunk the array to one. */
    assert_null(twin_util_realloc_array(a, SIZE_MAX / 4 + 2, sizeof(*a)));
    assert_non_null(strstr(twin_error_last(), "larger than"));
    for (uint32_t i = 0; i < 4; i++)
        assert_int_equal(a[i], i + 100);
    uint32_t *b = twin_util_realloc_array(a, 1000, sizeof(*a));
    assert_non_null(b);
    for (uint32_t i = 0; i < 4; i++)
        assert_int_equal(b[i], i + 100);
    b[999] = 7;
    /* No bytes still gives an allocation, so that NULL always means failure. */
    void *none = twin_util_realloc_array(b, 0, sizeof(*b));
    assert_non_null(none);
    free(none);
    none = twin_util_malloc_array(5, 0);
    assert_non_null(none);
    free(none);
}

/* --- the map of ids --- */

#define IDS 5000

static void idmap_finds_every_entry_through_its_growth(void **state)
{
    /* Ids whose first eight bytes (the part that picks the slot) are shared by pairs, so entries
     * also meet in one slot. */
    unsigned char(*ids)[20] = calloc(IDS, 20);
    struct twin_idmap m = {0};
    assert_non_null(ids);
    for (uint32_t e = 0; e < IDS; e++) {
        uint32_t pair = e / 2;
        memcpy(ids[e], &pair, sizeof(pair));
        ids[e][19] = (unsigned char)(e & 1);
    }
    assert_int_equal(twin_util_idmap_find(&m, ids, 20, ids[0]), -1);
    for (uint32_t e = 0; e < IDS; e++) {
        assert_int_equal(twin_util_idmap_add(&m, ids, 20, e), 0);
        assert_true(m.used * 2 <= m.cap);
    }
    assert_int_equal(m.used, IDS);
    for (uint32_t e = 0; e < IDS; e++)
        assert_int_equal(twin_util_idmap_find(&m, ids, 20, ids[e]), (long)e);
    unsigned char absent[20];
    memcpy(absent, ids[7], 20);
    absent[19] ^= 0x80;
    assert_int_equal(twin_util_idmap_find(&m, ids, 20, absent), -1);
    twin_util_idmap_free(&m);
    assert_null(m.slots);
    assert_int_equal(m.cap, 0);
    assert_int_equal(m.used, 0);
    assert_int_equal(twin_util_idmap_find(&m, ids, 20, ids[0]), -1);
    free(ids);
}

static void idmap_reads_ids_at_the_stride(void **state)
{
    struct item {
        int payload;
        unsigned char id[20];
    } items[3] = {{1, {1}}, {2, {2}}, {3, {3}}};
    struct twin_idmap m = {0};
    const void *base = items[0].id;
    for (uint32_t e = 0; e < 3; e++)
        assert_int_equal(twin_util_idmap_add(&m, base, sizeof(struct item), e), 0);
    for (uint32_t e = 0; e < 3; e++)
        assert_int_equal(twin_util_idmap_find(&m, base, sizeof(struct item), items[e].id), (long)e);
    twin_util_idmap_free(&m);
}

static void idmap_refuses_the_entry_a_slot_cannot_hold(void **state)
{
    unsigned char ids[2][20] = {{1}, {2}};
    struct twin_idmap m = {0};
    assert_int_equal(twin_util_idmap_add(&m, ids, 20, 0), 0);
    /* Entry UINT32_MAX plus one is 0, an empty slot: it would be lost, and used would lie. Its
     * id is never read (it lies far past this array). */
    assert_error(twin_util_idmap_add(&m, ids, 20, UINT32_MAX), TWIN_ELIMIT, "entries below");
    assert_int_equal(m.used, 1);
    assert_int_equal(twin_util_idmap_find(&m, ids, 20, ids[0]), 0);
    assert_int_equal(twin_util_idmap_find(&m, ids, 20, ids[1]), -1);
    twin_util_idmap_free(&m);
}

/* --- whole files --- */

static void read_file_reads_the_whole_file_terminated(void **state)
{
    struct fixture *f = *state;
    char path[160], *text;
    size_t len;
    snprintf(path, sizeof(path), "%s/text", f->dir);
    write_text(path, "one\0two", 7, 0600);
    assert_int_equal(twin_util_read_file(&text, &len, path, 7), 0);
    assert_int_equal(len, 7);
    assert_memory_equal(text, "one\0two", 8);
    free(text);

    write_text(path, "", 0, 0600);
    assert_int_equal(twin_util_read_file(&text, &len, path, 100), 0);
    assert_int_equal(len, 0);
    assert_string_equal(text, "");
    free(text);
}

static void read_file_refuses_a_missing_or_larger_file(void **state)
{
    struct fixture *f = *state;
    char path[160], *text = (char *)"untouched";
    size_t len = 99;
    snprintf(path, sizeof(path), "%s/absent", f->dir);
    assert_error(twin_util_read_file(&text, &len, path, 100), TWIN_ENOTFOUND, "absent");
    assert_null(text);
    assert_int_equal(len, 0);

    snprintf(path, sizeof(path), "%s/big", f->dir);
    write_text(path, "12345678", 8, 0600);
    assert_error(twin_util_read_file(&text, &len, path, 7), TWIN_ELIMIT, "larger than 7 bytes");
    assert_null(text);
}

static void write_all_writes_everything_or_says_why_not(void **state)
{
    struct fixture *f = *state;
    char path[160];
    size_t n = 1 << 20;
    unsigned char *data = malloc(n);
    assert_non_null(data);
    for (size_t i = 0; i < n; i++)
        data[i] = (unsigned char)(i * 31 + (i >> 12));
    snprintf(path, sizeof(path), "%s/out", f->dir);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    assert_int_equal(twin_util_write_all(fd, data, n), 0);
    assert_int_equal(twin_util_write_all(fd, data, 0), 0);
    close(fd);
    char *back;
    size_t len;
    assert_int_equal(twin_util_read_file(&back, &len, path, n), 0);
    assert_int_equal(len, n);
    assert_memory_equal(back, data, n);
    free(back);

    errno = 0;
    assert_int_equal(twin_util_write_all(-1, data, 1), -1);
    assert_int_equal(errno, EBADF);

    int p[2];
    assert_int_equal(pipe(p), 0);
    close(p[0]);
    void (*was)(int) = signal(SIGPIPE, SIG_IGN);
    errno = 0;
    assert_int_equal(twin_util_write_all(p[1], data, 10), -1);
    assert_int_equal(errno, EPIPE);
    signal(SIGPIPE, was);
    close(p[1]);
    free(data);
}

/* --- the clock --- */

static int64_t now_with_skew(const char *skew)
{
    if (skew)
        assert_int_equal(setenv("TWIN_TEST_CLOCK_SKEW", skew, 1), 0);
    else
        unsetenv("TWIN_TEST_CLOCK_SKEW");
    int64_t t = twin_util_clock_now();
    unsetenv("TWIN_TEST_CLOCK_SKEW");
    return t;
}

static void clock_moves_by_the_test_skew_only_when_it_is_a_number_in_range(void **state)
{
    int64_t before = (int64_t)time(NULL);
    int64_t plain = now_with_skew(NULL);
    int64_t ahead = now_with_skew("3600"), behind = now_with_skew("-86400");
    int64_t after = (int64_t)time(NULL);
    assert_in_range(plain, before, after);
    assert_in_range(ahead, before + 3600, after + 3600);
    assert_in_range(behind, before - 86400, after - 86400);
    /* Not a whole decimal number, or beyond any date: no skew. */
    const char *ignored[] = {
        "", "12x", "1e3", "0x10", "1125899906842624", "-1125899906842624", "99999999999999999999"};
    for (size_t i = 0; i < sizeof(ignored) / sizeof(*ignored); i++) {
        int64_t t = now_with_skew(ignored[i]);
        if (t < before || t > (int64_t)time(NULL))
            fail_msg("skew \"%s\" moved the clock to %lld", ignored[i], (long long)t);
    }
}

static void commit_time_stays_within_what_git_can_check(void **state)
{
    int64_t before = (int64_t)time(NULL);
    unsetenv("TWIN_TEST_CLOCK_SKEW");
    assert_in_range(twin_util_commit_time_now(), before, (int64_t)time(NULL));
    assert_int_equal(setenv("TWIN_TEST_CLOCK_SKEW", "-1125899906842623", 1), 0);
    assert_int_equal(twin_util_commit_time_now(), 0);
    assert_int_equal(setenv("TWIN_TEST_CLOCK_SKEW", "1125899906842623", 1), 0);
    assert_int_equal(twin_util_commit_time_now(), TWIN_LAST_DATE);
    assert_true(twin_util_clock_now() > TWIN_LAST_DATE);
    unsetenv("TWIN_TEST_CLOCK_SKEW");
}

/* --- twin_util_format_time --- */

static void format_time_shows_utc_or_the_seconds_past_any_calendar(void **state)
{
    (void)state;
    struct {
        int64_t t;
        const char *text;
    } cases[] = {
        {0, "1970-01-01 00:00:00 UTC"},
        {1795332093, "2026-11-22 07:21:33 UTC"},
        {-1, "1969-12-31 23:59:59 UTC"},
        {TWIN_LAST_DATE, "9999-12-31 23:59:59 UTC"},
        /* Years past what a struct tm holds. */
        {INT64_C(1) << 62, "@4611686018427387904"},
        {INT64_MAX, "@9223372036854775807"},
        {INT64_MIN, "@-9223372036854775808"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(*cases); i++) {
        char out[TWIN_UTIL_TIME_BYTES];
        memset(out, 'x', sizeof(out));
        twin_util_format_time(out, cases[i].t);
        assert_string_equal(out, cases[i].text);
    }
}

/* --- twin_util_utf8_chars --- */

static void parse_date_reads_dates_date_times_seconds_and_spans_ago(void **state)
{
    (void)state;
    int64_t t;
    assert_int_equal(twin_util_parse_date(&t, "2026-11-22", false), 0);
    assert_int_equal(t, 1795305600);
    assert_int_equal(twin_util_parse_date(&t, "2026-11-22", true), 0);
    assert_int_equal(t, 1795305600 + 86399);
    assert_int_equal(twin_util_parse_date(&t, "2024-02-29T07:21:33", true), 0);
    assert_int_equal(t, 1709191293);
    assert_int_equal(twin_util_parse_date(&t, "2024-02-29 07:21", false), 0);
    assert_int_equal(t, 1709191260);
    assert_int_equal(twin_util_parse_date(&t, "2024-02-29T07:21:33Z", false), 0);
    assert_int_equal(t, 1709191293);
    assert_int_equal(twin_util_parse_date(&t, "2024-02-29T09:21:33+02:00", false), 0);
    assert_int_equal(t, 1709191293);
    assert_int_equal(twin_util_parse_date(&t, "2024-02-29T02:21:33-0500", false), 0);
    assert_int_equal(t, 1709191293);
    assert_int_equal(twin_util_parse_date(&t, "1969-12-31T23:59:59Z", false), 0);
    assert_int_equal(t, -1);
    assert_int_equal(twin_util_parse_date(&t, "@1709191293", false), 0);
    assert_int_equal(t, 1709191293);
    assert_int_equal(setenv("TWIN_TEST_CLOCK_SKEW", "-1000000", 1), 0);
    int64_t now = (int64_t)time(NULL) - 1000000;
    assert_int_equal(twin_util_parse_date(&t, "2.weeks.ago", false), 0);
    assert_in_range(t, now - 1209600 - 2, now - 1209600 + 2);
    assert_int_equal(twin_util_parse_date(&t, "1 day ago", false), 0);
    assert_in_range(t, now - 86400 - 2, now - 86400 + 2);
    assert_int_equal(twin_util_parse_date(&t, "90.seconds.ago", false), 0);
    assert_in_range(t, now - 90 - 2, now - 90 + 2);
    assert_int_equal(twin_util_parse_date(&t, "5 minutes ago", false), 0);
    assert_in_range(t, now - 300 - 2, now - 300 + 2);
    assert_int_equal(twin_util_parse_date(&t, "3.hours.ago", false), 0);
    assert_in_range(t, now - 10800 - 2, now - 10800 + 2);
    unsetenv("TWIN_TEST_CLOCK_SKEW");
    assert_error(twin_util_parse_date(&t, "3.months.ago", false), TWIN_EINVALID,
                 "months and years are not of one length");
    assert_error(twin_util_parse_date(&t, "1 year ago", false), TWIN_EINVALID,
                 "months and years are not of one length");
    static const char *const bad[] = {
        "",
        "yesterday",
        "2026-13-01",
        "2026-02-29",
        "2026-04-31",
        "2026-11-22T24:00",
        "2026-11-22T07:60",
        "2026-11-22T07:21:60",
        "2026-11-22T07:21+2",
        "2026-11-22x",
        "26-11-22",
        "2026-11-22T",
        "@",
        "@12x",
        "3..days.ago",
        "3.days",
        "3.days.ago.",
        "3 days.ago",
        "-3.days.ago",
        "3.fortnights.ago",
        "99999999999999999999.days.ago",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_error(twin_util_parse_date(&t, bad[i], false), TWIN_EINVALID, "is not a date");
}

static void utf8_chars_counts_code_points_of_strict_utf8_only(void **state)
{
    assert_int_equal(twin_util_utf8_chars("", 0), 0);
    assert_int_equal(twin_util_utf8_chars("abc", 3), 3);
    assert_int_equal(twin_util_utf8_chars("\xc3\xa8", 2), 1);                /* U+00E8 */
    assert_int_equal(twin_util_utf8_chars("\xe2\x82\xac!", 4), 2);           /* U+20AC */
    assert_int_equal(twin_util_utf8_chars("\xf0\x9d\x90\x80", 4), 1);        /* U+1D400 */
    assert_int_equal(twin_util_utf8_chars("\xf4\x8f\xbf\xbf", 4), 1);        /* U+10FFFF */
    assert_int_equal(twin_util_utf8_chars("\xed\x9f\xbf", 3), 1);            /* U+D7FF */
    assert_int_equal(twin_util_utf8_chars("a\0b", 3), 3);                    /* NUL counts */
    assert_int_equal(twin_util_utf8_chars("\xe8", 1), SIZE_MAX);             /* Latin-1 */
    assert_int_equal(twin_util_utf8_chars("\x80", 1), SIZE_MAX);             /* continuation */
    assert_int_equal(twin_util_utf8_chars("\xc3", 1), SIZE_MAX);             /* cut short */
    assert_int_equal(twin_util_utf8_chars("\xe2\x82\xac", 2), SIZE_MAX);     /* cut by len */
    assert_int_equal(twin_util_utf8_chars("\xe2\x28\xac", 3), SIZE_MAX);     /* bad second */
    assert_int_equal(twin_util_utf8_chars("\xe2\x82\x28", 3), SIZE_MAX);     /* bad third */
    assert_int_equal(twin_util_utf8_chars("\xc0\xaf", 2), SIZE_MAX);         /* overlong */
    assert_int_equal(twin_util_utf8_chars("\xc1\xbf", 2), SIZE_MAX);         /* overlong */
    assert_int_equal(twin_util_utf8_chars("\xe0\x9f\xbf", 3), SIZE_MAX);     /* overlong */
    assert_int_equal(twin_util_utf8_chars("\xf0\x8f\xbf\xbf", 4), SIZE_MAX); /* overlong */
    assert_int_equal(twin_util_utf8_chars("\xed\xa0\x80", 3), SIZE_MAX);     /* surrogate */
    assert_int_equal(twin_util_utf8_chars("\xf4\x90\x80\x80", 4), SIZE_MAX); /* > U+10FFFF */
    assert_int_equal(twin_util_utf8_chars("\xf5\x80\x80\x80", 4), SIZE_MAX);
    assert_int_equal(twin_util_utf8_chars("\xff", 1), SIZE_MAX);
}

/* The offset of the first byte that is not strict UTF-8: where a sequence starts that is bad or
 * cut short, whatever came before it. */
static void utf8_invalid_at_names_the_first_bad_byte(void **state)
{
    assert_int_equal(twin_util_utf8_invalid_at("", 0), 0);
    assert_int_equal(twin_util_utf8_invalid_at("abc", 3), 3);
    assert_int_equal(twin_util_utf8_invalid_at("ab\xe8"
                                               "cd",
                                               5),
                     2);
    assert_int_equal(twin_util_utf8_invalid_at("\xc3\xa8\xed\xa0\x80", 5), 2); /* surrogate */
    assert_int_equal(twin_util_utf8_invalid_at("\xe2\x82\xac\xe2\x82", 5), 3); /* cut short */
    assert_int_equal(twin_util_utf8_invalid_at("x\xf0\x8f\xbf\xbf", 5), 1);    /* overlong */
    assert_int_equal(twin_util_utf8_invalid_at("\xf4\x8f\xbf\xbf", 4), 4);
    /* Every 1-byte and 2-byte input agrees with the count of code points. */
    for (unsigned a = 0; a < 256; a++)
        for (unsigned b = 0; b < 256; b++) {
            unsigned char s[2] = {(unsigned char)a, (unsigned char)b};
            bool valid = twin_util_utf8_invalid_at(s, 2) == 2;
            assert_int_equal(valid, twin_util_utf8_chars((const char *)s, 2) != SIZE_MAX);
        }
}

/* --- stop points --- */

/* How a child that passes the stop points "first" then "second" ends up, with TWIN_TEST_STOP
 * set to at (unset when NULL): its wait status, as waitpid reports a stop too. */
static int child_through_stops(const char *at)
{
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (at)
            setenv("TWIN_TEST_STOP", at, 1);
        else
            unsetenv("TWIN_TEST_STOP");
        twin_util_test_stop("first");
        twin_util_test_stop("second");
        _exit(7);
    }
    int status;
    assert_int_equal(waitpid(pid, &status, WUNTRACED), pid);
    if (WIFSTOPPED(status)) {
        kill(pid, SIGKILL);
        int ignored;
        waitpid(pid, &ignored, 0);
    }
    return status;
}

static void test_stop_stops_the_process_at_the_named_step_only(void **state)
{
    int status = child_through_stops("second");
    assert_true(WIFSTOPPED(status));
    assert_int_equal(WSTOPSIG(status), SIGSTOP);
    status = child_through_stops("elsewhere");
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 7);
    status = child_through_stops(NULL);
    assert_true(WIFEXITED(status));
    assert_int_equal(WEXITSTATUS(status), 7);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(grow_doubles_from_sixteen_and_keeps_the_items),
        cmocka_unit_test(grow_leaves_an_array_that_is_large_enough_alone),
        cmocka_unit_test(grow_refuses_a_size_that_overflows),
        cmocka_unit_test(array_bytes_is_the_product_up_to_the_limit),
        cmocka_unit_test(array_allocators_refuse_an_overflow_and_keep_the_old_array),
        cmocka_unit_test(idmap_finds_every_entry_through_its_growth),
        cmocka_unit_test(idmap_reads_ids_at_the_stride),
        cmocka_unit_test(idmap_refuses_the_entry_a_slot_cannot_hold),
        cmocka_unit_test_setup_teardown(read_file_reads_the_whole_file_terminated, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(read_file_refuses_a_missing_or_larger_file, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(write_all_writes_everything_or_says_why_not, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test(parse_date_reads_dates_date_times_seconds_and_spans_ago),
        cmocka_unit_test(utf8_chars_counts_code_points_of_strict_utf8_only),
        cmocka_unit_test(utf8_invalid_at_names_the_first_bad_byte),
        cmocka_unit_test(clock_moves_by_the_test_skew_only_when_it_is_a_number_in_range),
        cmocka_unit_test(commit_time_stays_within_what_git_can_check),
        cmocka_unit_test(format_time_shows_utc_or_the_seconds_past_any_calendar),
        cmocka_unit_test(test_stop_stops_the_process_at_the_named_step_only),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
