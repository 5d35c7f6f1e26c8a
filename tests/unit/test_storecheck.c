/* The check of a store's files (src/store/storecheck.c): a sound store of twin's packs, git's packs
 * (offset and reference deltas, version-1 indexes, large offsets) and loose objects has no
 * damage; damage that git fsck reports is named with its file, object and offset, in packs no
 * commit reaches as in the others; a pack joined away while the check runs is not damage; and no
 * file floods the report. */
#define _XOPEN_SOURCE 700 /* nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/storecheck.h"
#include "twin/network.h"
#include "twin/node.h"
#include "twin/ops.h"
#include "twin/global.h"
#include "unit/helpers.h"

static const struct twin_identity who = {"Ministry of Finance of Exampleland", "XE-EXAMPLE-MOF",
                                         "NL", "north", "10"};

struct found {
    size_t n;
    struct twin_store_damage d[64];
};

static int keep(const struct twin_store_damage *d, void *ctx)
{
    struct found *f = ctx;
    if (f->n < 64)
        f->d[f->n++] = *d;
    return 0;
}

/* The damages of the store of node n. */
static struct found check_store(twin_node *n, struct twin_store_stats *stats)
{
    char objects[4200];
    struct found f = {0};
    struct twin_store_stats s;
    snprintf(objects, sizeof(objects), "%sobjects", git_repository_path(twin_node_repo(n)));
    assert_int_equal(twin_storecheck_run(stats ? stats : &s, objects, keep, &f), 0);
    return f;
}

static void print_found(const struct found *f)
{
    for (size_t i = 0; i < f->n; i++)
        print_message("%s: %s%s: %s\n", f->d[i].file, f->d[i].has_object ? "object " : "",
                      f->d[i].has_object ? git_oid_tostr_s(&f->d[i].object) : "", f->d[i].what);
}

/* Whether some damage is in a file whose name ends with suffix and says what. */
static bool named(const struct found *f, const char *suffix, const char *what)
{
    for (size_t i = 0; i < f->n; i++) {
        size_t fl = strlen(f->d[i].file), sl = strlen(suffix);
        if (fl >= sl && strcmp(f->d[i].file + fl - sl, suffix) == 0 && strstr(f->d[i].what, what))
            return true;
    }
    print_found(f);
    return false;
}

static int fill(json_t *rec, void *ctx)
{
    char title[32];
    snprintf(title, sizeof(title), "Note %u", *(unsigned *)ctx);
    return json_object_set_new(rec, "title", json_string(title)) ? TWIN_ERROR : 0;
}

static twin_node *node_with_notes(struct fixture *f, unsigned count)
{
    char path[192];
    twin_node *n = NULL;
    snprintf(path, sizeof(path), "%s/node", f->dir);
    if (twin_network_create(&n, path, &who, "Example Partnership"))
        fail_msg("init: %s", twin_error_last());
    for (unsigned i = 0; i < count; i++) {
        char id[TWIN_ID_LEN + 1];
        if (twin_ops_add(id, NULL, n, "note", fill, &i))
            fail_msg("add: %s", twin_error_last());
    }
    return n;
}

static const char *gitdir(twin_node *n)
{
    return git_repository_path(twin_node_repo(n));
}

/* Adds git's pack of the whole history to the store, indexed with index-pack OPTIONS, and
 * leaves its name (pack-<hex>) in name. */
static void add_git_pack(twin_node *n, const char *pack_options, const char *index_options,
                         char name[64], const char *tmp)
{
    char list[256];
    snprintf(list, sizeof(list), "%s/name", tmp);
    assert_int_equal(
        run("cd '%s' && git --git-dir=. rev-list --objects main | "
            "git --git-dir=. pack-objects -q %s '%s/p' > '%s' && "
            "h=$(cat '%s') && git --git-dir=. index-pack %s -o objects/pack/pack-$h.idx "
            "'%s/p-'$h.pack >/dev/null && cp '%s/p-'$h.pack objects/pack/pack-$h.pack",
            gitdir(n), pack_options, tmp, list, list, index_options, tmp, tmp),
        0);
    char *hex = read_text(list, NULL);
    snprintf(name, 64, "pack-%.40s", hex);
    free(hex);
}

static void flip(const char *path, long off)
{
    assert_int_equal(run("f='%s' && chmod u+w \"$f\" && b=$(od -An -tu1 -j %ld -N1 \"$f\") && "
                         "printf \"$(printf '\\\\%%03o' $((b ^ 0x55)))\" | "
                         "dd of=\"$f\" bs=1 seek=%ld conv=notrunc status=none",
                         path, off, off),
                     0);
}

static void a_sound_store_has_no_damage(void **state)
{
    struct fixture *f = *state;
    twin_node *n = node_with_notes(f, 10);
    char ofs[64], ref[64];
    add_git_pack(n, "--delta-base-offset", "--index-version=2,64", ofs, f->dir);
    add_git_pack(n, "", "--index-version=1", ref, f->dir);
    assert_int_equal(
        run("git --git-dir='%s' fsck --full --strict --no-progress 2>/dev/null", gitdir(n)), 0);
    struct twin_store_stats stats;
    struct found found = check_store(n, &stats);
    print_found(&found);
    assert_int_equal(found.n, 0);
    assert_int_equal(stats.damages, 0);
    assert_true(stats.packs >= 3);
    assert_true(stats.packed_objects >= 3 * 10 * 6);
    assert_true(stats.loose_objects >= 3); /* the genesis writes its objects loose */
    twin_node_free(n);
}

static void damage_is_named_where_git_fsck_finds_it(void **state)
{
    struct fixture *f = *state;
    twin_node *n = node_with_notes(f, 6);
    char ofs[64], path[512];
    add_git_pack(n, "--delta-base-offset", "--index-version=2,64", ofs, f->dir);
    /* A pack of git's whose every object has another copy, so that no read needs it: its
     * header's object count. */
    snprintf(path, sizeof(path), "%sobjects/pack/%s.pack", gitdir(n), ofs);
    flip(path, 11);
    struct found found = check_store(n, NULL);
    assert_true(named(&found, ".pack", "its header counts"));
    assert_true(named(&found, ".pack", "its SHA-1 checksum does not match"));
    assert_int_not_equal(
        run("git --git-dir='%s' fsck --full --no-progress >/dev/null 2>&1", gitdir(n)), 0);
    flip(path, 11);

    /* Its large-offset table (every offset above 64 is there): an offset that points off. */
    snprintf(path, sizeof(path), "%sobjects/pack/%s.idx", gitdir(n), ofs);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    flip(path, (long)st.st_size - 41);
    found = check_store(n, NULL);
    assert_true(named(&found, ".idx", "its SHA-1 checksum does not match"));
    assert_true(named(&found, ".idx", "points outside the pack's objects") ||
                named(&found, ".pack", "its CRC32 does not match the index's"));
    flip(path, (long)st.st_size - 41);

    /* Its fan-out. */
    flip(path, 8 + 4 * 200 + 3);
    found = check_store(n, NULL);
    assert_true(named(&found, ".idx", "its fan-out falls"));
    flip(path, 8 + 4 * 200 + 3);

    /* A loose object with bytes after its zlib stream: git fsck calls it garbage. */
    assert_int_equal(run("cd '%s' && f=$(find objects -path objects/pack -prune -o -type f -print "
                         "| head -1) && chmod u+w $f && printf x >> $f",
                         gitdir(n)),
                     0);
    found = check_store(n, NULL);
    assert_true(named(&found, "", "has bytes after its zlib stream"));
    assert_int_not_equal(
        run("git --git-dir='%s' fsck --full --no-progress >/dev/null 2>&1", gitdir(n)), 0);
    twin_node_free(n);
}

/* The indexes alone, checked before anything reads through them: sound on a sound store, and
 * not once a version-1 index's offset points past its pack's end, or its fan-out breaks; the
 * packs' contents are not their business. */
static void damaged_indexes_are_told_before_any_read(void **state)
{
    struct fixture *f = *state;
    twin_node *n = node_with_notes(f, 6);
    char ref[64], path[512], objects[512];
    bool sound = false;
    add_git_pack(n, "", "--index-version=1", ref, f->dir);
    snprintf(objects, sizeof(objects), "%sobjects", gitdir(n));
    assert_int_equal(twin_storecheck_indexes(&sound, objects), 0);
    assert_true(sound);
    /* The second byte of the first entry's offset: 0x55 << 16 bytes further, past the end. */
    snprintf(path, sizeof(path), "%sobjects/pack/%s.idx", gitdir(n), ref);
    flip(path, 1024 + 1);
    assert_int_equal(twin_storecheck_indexes(&sound, objects), 0);
    assert_false(sound);
    flip(path, 1024 + 1);
    assert_int_equal(twin_storecheck_indexes(&sound, objects), 0);
    assert_true(sound);
    flip(path, 4 * 200 + 3); /* the fan-out */
    assert_int_equal(twin_storecheck_indexes(&sound, objects), 0);
    assert_false(sound);
    flip(path, 4 * 200 + 3);
    /* A pack's object damaged, its index whole: for the full check to name. */
    snprintf(path, sizeof(path), "%sobjects/pack/%s.pack", gitdir(n), ref);
    flip(path, 40);
    assert_int_equal(twin_storecheck_indexes(&sound, objects), 0);
    assert_true(sound);
    twin_node_free(n);
}

static void a_pack_without_its_index_is_not_checked(void **state)
{
    struct fixture *f = *state;
    twin_node *n = node_with_notes(f, 3);
    char ofs[64];
    add_git_pack(n, "--delta-base-offset", "", ofs, f->dir);
    /* What a join leaves for a moment, and git ignores: an index whose pack is gone, and a
     * pack whose index is gone. */
    assert_int_equal(run("cd '%s'objects/pack && rm %s.pack && "
                         "p=$(ls -S pack-*.pack | head -1) && rm ${p%%.pack}.idx",
                         gitdir(n), ofs),
                     0);
    struct found found = check_store(n, NULL);
    print_found(&found);
    assert_int_equal(found.n, 0);
    twin_node_free(n);
}

static void each_file_reports_a_bounded_number(void **state)
{
    struct fixture *f = *state;
    twin_node *n = node_with_notes(f, 12);
    char ofs[64], path[512];
    add_git_pack(n, "--delta-base-offset", "", ofs, f->dir);
    snprintf(path, sizeof(path), "%sobjects/pack/%s.idx", gitdir(n), ofs);
    /* Every CRC32 of the index damaged: one line per object would flood the report. */
    assert_int_equal(run("f='%s' && chmod u+w \"$f\" && n=$(git show-index < \"$f\" | wc -l) && "
                         "for i in $(seq 0 $((n - 1))); do "
                         "printf '\\377' | dd of=\"$f\" bs=1 seek=$((1032 + 20 * n + 4 * i)) "
                         "conv=notrunc status=none; done",
                         path),
                     0);
    struct twin_store_stats stats;
    struct found found = check_store(n, &stats);
    assert_true(stats.damages > TWIN_STORE_DAMAGES_PER_FILE);
    size_t in_pack = 0;
    for (size_t i = 0; i < found.n; i++)
        in_pack += strstr(found.d[i].file, ofs) && strstr(found.d[i].file, ".pack") != NULL;
    assert_int_equal(in_pack, TWIN_STORE_DAMAGES_PER_FILE + 1);
    assert_true(named(&found, ".pack", "more damages in this file"));
    twin_node_free(n);
}

int main(void)
{
    if (twin_global_init(false))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(a_sound_store_has_no_damage, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(damage_is_named_where_git_fsck_finds_it, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(damaged_indexes_are_told_before_any_read, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(a_pack_without_its_index_is_not_checked, fixture_setup,
                                        fixture_teardown),
        cmocka_unit_test_setup_teardown(each_file_reports_a_bounded_number, fixture_setup,
                                        fixture_teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    twin_global_shutdown();
    return rc;
}
