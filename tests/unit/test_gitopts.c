/* libgit2's process-wide settings, taken for as long as an operation runs (src/git/gitopts.c):
 * libgit2 stops hashing what it reads while any operation holds UNHASHED, and hashes again once
 * the last one has ended; packs are mapped in small windows while any holds SMALL_WINDOWS. */
#define _XOPEN_SOURCE 700 /* nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <git2.h>
#include <zlib.h>

#include "unit/helpers.h"
#include "git/gitopts.h"
#include "twin/global.h"

static int setup(void **state)
{
    assert_int_equal(twin_global_init(false), 0);
    return fixture_setup(state);
}

static int teardown(void **state)
{
    fixture_teardown(state);
    twin_global_shutdown();
    return 0;
}

/* Whether libgit2 reads the object stored loose under id, whose content does not match it. */
static bool reads(git_odb *odb, const git_oid *id)
{
    git_odb_object *o = NULL;
    int rc = git_odb_read(&o, odb, id);
    git_odb_object_free(o);
    return rc == 0;
}

static void libgit2_hashes_again_once_the_last_operation_ends(void **state)
{
    struct fixture *f = *state;
    char path[300], hex[GIT_OID_HEXSZ + 1];
    git_repository *repo = NULL;
    git_odb *odb = NULL;
    snprintf(path, sizeof(path), "%s/repo.git", f->dir);
    assert_int_equal(git_repository_init(&repo, path, 1), 0);
    assert_int_equal(git_repository_odb(&odb, repo), 0);
    /* "hello" stored as a loose blob under the id of "world". */
    git_oid id;
    assert_int_equal(git_odb_hash(&id, "world", 5, GIT_OBJECT_BLOB), 0);
    git_oid_tostr(hex, sizeof(hex), &id);
    unsigned char z[64];
    uLongf zlen = sizeof(z);
    assert_int_equal(compress(z, &zlen, (const Bytef *)"blob 5\0hello", 12), Z_OK);
    snprintf(path, sizeof(path), "%s/repo.git/objects/%.2s", f->dir, hex);
    assert_int_equal(mkdir(path, 0755), 0);
    snprintf(path, sizeof(path), "%s/repo.git/objects/%.2s/%s", f->dir, hex, hex + 2);
    write_text(path, z, zlen, 0444);

    assert_false(reads(odb, &id)); /* libgit2's default: it hashes */
    /* Held throughout, so that what is read is never kept in libgit2's cache. */
    assert_int_equal(twin_gitopts_begin(TWIN_GITOPTS_UNCACHED), 0);
    assert_int_equal(twin_gitopts_begin(TWIN_GITOPTS_UNHASHED | TWIN_GITOPTS_UNCACHED), 0);
    assert_true(reads(odb, &id));
    assert_int_equal(twin_gitopts_begin(TWIN_GITOPTS_UNHASHED), 0); /* a second operation */
    twin_gitopts_end(TWIN_GITOPTS_UNHASHED | TWIN_GITOPTS_UNCACHED);
    assert_true(reads(odb, &id)); /* the second still runs */
    twin_gitopts_end(TWIN_GITOPTS_UNHASHED);
    assert_false(reads(odb, &id));
    twin_gitopts_end(TWIN_GITOPTS_UNHASHED); /* one end too many changes nothing */
    assert_false(reads(odb, &id));
    twin_gitopts_end(TWIN_GITOPTS_UNCACHED);
    assert_false(reads(odb, &id));
    git_odb_free(odb);
    git_repository_free(repo);
}

static void windows(size_t *window, size_t *mapped, ssize_t *cache)
{
    ssize_t current = 0;
    assert_int_equal(git_libgit2_opts(GIT_OPT_GET_MWINDOW_SIZE, window), 0);
    assert_int_equal(git_libgit2_opts(GIT_OPT_GET_MWINDOW_MAPPED_LIMIT, mapped), 0);
    assert_int_equal(git_libgit2_opts(GIT_OPT_GET_CACHED_MEMORY, &current, cache), 0);
}

/* Long walks map packs in small windows only while one runs: what was set before (here made-up
 * figures, not libgit2's defaults) comes back when the last of them ends. */
static void small_windows_hold_while_a_walk_runs(void **state)
{
    size_t window, mapped;
    ssize_t cache;
    assert_int_equal(git_libgit2_opts(GIT_OPT_SET_MWINDOW_SIZE, (size_t)48 << 20), 0);
    assert_int_equal(git_libgit2_opts(GIT_OPT_SET_MWINDOW_MAPPED_LIMIT, (size_t)96 << 20), 0);
    assert_int_equal(git_libgit2_opts(GIT_OPT_SET_CACHE_MAX_SIZE, (ssize_t)40 << 20), 0);
    assert_int_equal(twin_gitopts_begin(TWIN_GITOPTS_SMALL_WINDOWS | TWIN_GITOPTS_UNHASHED), 0);
    windows(&window, &mapped, &cache);
    assert_int_equal(window, (size_t)16 << 20);
    assert_int_equal(mapped, (size_t)32 << 20);
    assert_int_equal(cache, (ssize_t)16 << 20);
    assert_int_equal(twin_gitopts_begin(TWIN_GITOPTS_SMALL_WINDOWS), 0); /* a second walk */
    twin_gitopts_end(TWIN_GITOPTS_SMALL_WINDOWS | TWIN_GITOPTS_UNHASHED);
    windows(&window, &mapped, &cache);
    assert_int_equal(window, (size_t)16 << 20); /* the second still runs */
    twin_gitopts_end(TWIN_GITOPTS_SMALL_WINDOWS);
    windows(&window, &mapped, &cache);
    assert_int_equal(window, (size_t)48 << 20);
    assert_int_equal(mapped, (size_t)96 << 20);
    assert_int_equal(cache, (ssize_t)40 << 20);
    twin_gitopts_end(TWIN_GITOPTS_SMALL_WINDOWS); /* one end too many changes nothing */
    windows(&window, &mapped, &cache);
    assert_int_equal(window, (size_t)48 << 20);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(libgit2_hashes_again_once_the_last_operation_ends, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(small_windows_hold_while_a_walk_runs, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
