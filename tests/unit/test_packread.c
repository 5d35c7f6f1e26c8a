/* twin's pack reader and its baseline, the same reader served by libgit2
 * (twin_packread_open_libgit2): on a node's history and on packs git writes (deltas of both
 * kinds), every object reads the same either way, or is missing either way; a damaged object is
 * refused by both, and every other object still reads the same. */
#define _XOPEN_SOURCE 700 /* nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "git/packread.h"
#include "twin/global.h"
#include "twin/record.h"
#include "unit/helpers.h"

struct world {
    struct fixture *f;
    twin_node *node;
    char pack_dir[256];
};

static int titled(json_t *rec, void *ctx)
{
    return twin_record_set_path(rec, "title", ctx);
}

static int bodied(json_t *rec, void *ctx)
{
    return twin_record_set_path(rec, "body", ctx);
}

/* A node whose history holds many versions of a few records. */
static int setup(void **state)
{
    struct world *w = calloc(1, sizeof(*w));
    char path[256], id[TWIN_ID_LEN + 1], other[TWIN_ID_LEN + 1], body[200];
    git_oid c;
    assert_non_null(w);
    assert_int_equal(twin_global_init(false), 0);
    assert_int_equal(fixture_setup((void **)&w->f), 0);
    snprintf(path, sizeof(path), "%s/north", w->f->dir);
    struct twin_identity north = {"North Ministry", "XE-EXAMPLE-NORTH", "NL", "north", NULL};
    assert_int_equal(twin_network_create(&w->node, path, &north, "Pack reader test"), 0);
    assert_int_equal(twin_ops_add(id, &c, w->node, "note", titled, "Work plan"), 0);
    for (int i = 0; i < 40; i++) {
        snprintf(body, sizeof(body), "Revision %d: the steering group agreed %d next steps.", i,
                 40 - i);
        assert_int_equal(twin_ops_update(&c, w->node, id, "set", bodied, body), 0);
        if (i % 8 == 0)
            assert_int_equal(twin_ops_add(other, &c, w->node, "note", titled, "Aside"), 0);
    }
    snprintf(w->pack_dir, sizeof(w->pack_dir), "%sobjects/pack",
             git_repository_path(twin_node_repo(w->node)));
    *state = w;
    return 0;
}

static int teardown(void **state)
{
    struct world *w = *state;
    twin_node_free(w->node);
    void *f = w->f;
    fixture_teardown(&f);
    free(w);
    twin_global_shutdown();
    return 0;
}

struct ids {
    git_oid *v;
    size_t n, cap;
};

static int collect(const git_oid *id, void *payload)
{
    struct ids *ids = payload;
    if (ids->n == ids->cap) {
        ids->cap = ids->cap ? ids->cap * 2 : 256;
        ids->v = realloc(ids->v, ids->cap * sizeof(*ids->v));
        assert_non_null(ids->v);
    }
    ids->v[ids->n++] = *id;
    return 0;
}

/* Every object of repo's object database. */
static void all_ids(struct ids *ids, git_repository *repo)
{
    git_odb *odb = NULL;
    assert_int_equal(git_repository_odb(&odb, repo), 0);
    assert_int_equal(git_odb_foreach(odb, collect, ids), 0);
    git_odb_free(odb);
}

struct outcome {
    size_t read, missing, refused;
};

/* Reads every id through both readers and fails on any difference: the same verdict (found,
 * missing, or refused as damage), and for a found object the same type, content and trust. */
static struct outcome compare(twin_packread *own, twin_packread *lg, const struct ids *ids)
{
    struct outcome out = {0, 0, 0};
    for (size_t i = 0; i < ids->n; i++) {
        twin_pobj *a = NULL, *b = NULL;
        char hex[GIT_OID_HEXSZ + 1];
        git_oid_tostr(hex, sizeof(hex), &ids->v[i]);
        int ra = twin_packread_get(&a, own, &ids->v[i]);
        char why[600];
        snprintf(why, sizeof(why), "%s", twin_error_last());
        int rb = twin_packread_get(&b, lg, &ids->v[i]);
        if (ra != rb)
            fail_msg("%s: twin's reader gives %d (%s), libgit2's %d (%s)", hex, ra, why, rb,
                     twin_error_last());
        if (ra == 1) {
            assert_int_equal(a->type, b->type);
            assert_int_equal(a->size, b->size);
            assert_memory_equal(a->data, b->data, a->size);
            assert_int_equal(a->trusted, b->trusted);
            out.read++;
        } else if (ra == 0) {
            out.missing++;
        } else {
            assert_int_equal(ra, TWIN_EVERIFY);
            assert_non_null(strstr(twin_error_last(), hex));
            out.refused++;
        }
        if (ra >= 0)
            assert_int_equal(twin_packread_has(own, &ids->v[i]), twin_packread_has(lg, &ids->v[i]));
        twin_packread_release(a);
        twin_packread_release(b);
    }
    return out;
}

static void a_nodes_history_reads_the_same_through_libgit2(void **state)
{
    struct world *w = *state;
    git_repository *repo = twin_node_repo(w->node);
    struct ids ids = {0};
    twin_packread *own = NULL, *lg = NULL;
    all_ids(&ids, repo);
    /* An object that is not in any pack: loose, and one that is nowhere. */
    git_odb *odb = NULL;
    git_oid loose, nowhere;
    assert_int_equal(git_repository_odb(&odb, repo), 0);
    assert_int_equal(git_odb_write(&loose, odb, "loose\n", 6, GIT_OBJECT_BLOB), 0);
    git_odb_free(odb);
    memset(&nowhere, 0x5a, sizeof(nowhere));
    collect(&loose, &ids);
    collect(&nowhere, &ids);

    assert_int_equal(twin_packread_open(&own, repo), 0);
    assert_int_equal(twin_packread_open_libgit2(&lg, repo), 0);
    struct outcome o = compare(own, lg, &ids);
    assert_true(o.read > 100);
    assert_true(o.missing >= 2); /* and the loose objects of the store's founding */
    assert_int_equal(o.refused, 0);
    /* Read again: what twin's reader serves from its cache is the same too. */
    o = compare(own, lg, &ids);
    assert_true(o.read > 100);
    twin_packread_free(own);
    twin_packread_free(lg);

    /* Trusted the same way. */
    assert_int_equal(twin_packread_open(&own, repo), 0);
    assert_int_equal(twin_packread_open_libgit2(&lg, repo), 0);
    twin_packread_trust(own);
    twin_packread_trust(lg);
    o = compare(own, lg, &ids);
    assert_true(o.read > 100);
    twin_packread_free(own);
    twin_packread_free(lg);

    /* Letting pages go by the objects read (the list cache's reading) changes no object, with
     * the pages let go every few objects on the way. */
    assert_int_equal(twin_packread_open(&own, repo), 0);
    assert_int_equal(twin_packread_open_libgit2(&lg, repo), 0);
    twin_packread_scattered(own);
    twin_packread_lean(own);
    o = compare(own, lg, &ids);
    assert_true(o.read > 100);
    o = compare(own, lg, &ids);
    assert_true(o.read > 100);
    twin_packread_free(own);
    twin_packread_free(lg);
    free(ids.v);
}

/* Packs git writes, with OFS_DELTA and REF_DELTA entries, beside the node's packs: each
 * directory's trust is its own. */
static void git_packs_read_the_same_through_libgit2(void **state)
{
    struct world *w = *state;
    char plain[300], dir[320];
    if (!have_tool("git"))
        skip();
    snprintf(plain, sizeof(plain), "%s/plain", w->f->dir);
    assert_int_equal(
        run("git init -q '%s' && cd '%s' && for i in $(seq 1 30); do seq 1 $((300 + i)) > a.txt "
            "&& seq $i 400 > b.txt && mkdir -p d && seq 5 $((50 + i)) > d/c.txt && git add -A && "
            "git -c user.name=Plain -c user.email=plain@example.org commit -qm \"$i\"; done && "
            "git repack -q -a -d -f --window=10 && "
            "git rev-list --objects --all | git pack-objects -q --no-reuse-delta --window=10 "
            ".git/objects/pack/ref >/dev/null && git verify-pack -v .git/objects/pack/pack-*.idx "
            "| grep -q ' [0-9a-f]\\{40\\}$'",
            plain, plain),
        0);
    /* pack-objects without --delta-base-offset names its bases (REF_DELTA): git-named files. */
    assert_int_equal(run("cd '%s/.git/objects/pack' && for f in ref-*.pack; do h=${f#ref-}; "
                         "h=${h%%.pack}; mv \"$f\" pack-$h.pack; mv ref-$h.idx pack-$h.idx; done",
                         plain),
                     0);
    snprintf(dir, sizeof(dir), "%s/.git/objects/pack", plain);
    git_repository *repo = NULL;
    struct ids ids = {0};
    assert_int_equal(git_repository_open(&repo, plain), 0);
    all_ids(&ids, repo);
    git_repository_free(repo);
    all_ids(&ids, twin_node_repo(w->node));

    const char *dirs[] = {dir, w->pack_dir};
    twin_packread *own = NULL, *lg = NULL;
    assert_int_equal(twin_packread_open_dirs(&own, dirs, 2), 0);
    assert_int_equal(twin_packread_open_dirs_libgit2(&lg, dirs, 2), 0);
    twin_packread_trust_dir(own, 1);
    twin_packread_trust_dir(lg, 1);
    struct outcome o = compare(own, lg, &ids);
    assert_true(o.read > 200);
    assert_int_equal(o.refused, 0);
    twin_packread_free(own);
    twin_packread_free(lg);
    free(ids.v);
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

/* The pack's largest entry that is not the last, from its version-2 index: where it starts and
 * where the next begins. */
static void largest_entry(const char *idx_path, git_oid *id, uint32_t *start, uint32_t *end)
{
    FILE *fp = fopen(idx_path, "rb");
    assert_non_null(fp);
    unsigned char *idx = malloc(1 << 22);
    assert_non_null(idx);
    size_t len = fread(idx, 1, 1 << 22, fp);
    fclose(fp);
    assert_true(len > 8 + 1024);
    uint32_t n = get32(idx + 8 + 4 * 255);
    const unsigned char *ids = idx + 8 + 1024, *offs = ids + 24 * (size_t)n;
    *end = *start = 0;
    for (uint32_t i = 0; i < n; i++) {
        uint32_t at = get32(offs + 4 * i), next = UINT32_MAX;
        for (uint32_t k = 0; k < n; k++)
            if (get32(offs + 4 * k) > at && get32(offs + 4 * k) < next)
                next = get32(offs + 4 * k);
        if (next != UINT32_MAX && next - at > *end - *start) {
            *start = at;
            *end = next;
            git_oid_fromraw(id, ids + 20 * (size_t)i);
        }
    }
    free(idx);
}

static void a_damaged_object_is_refused_by_both(void **state)
{
    struct world *w = *state;
    char dir[300], list[400];
    snprintf(dir, sizeof(dir), "%s/damaged", w->f->dir);
    assert_int_equal(run("mkdir '%s' && cp '%s'/pack-*.pack '%s'/pack-*.idx '%s'/", dir,
                         w->pack_dir, w->pack_dir, dir),
                     0);
    assert_int_equal(run("cd '%s' && ls pack-*.idx | head -1 > which && test -s which", dir), 0);
    snprintf(list, sizeof(list), "%s/which", dir);
    char *which = read_text(list, NULL);
    which[strcspn(which, "\n")] = '\0';
    char idx_path[500], pack_path[500];
    snprintf(idx_path, sizeof(idx_path), "%s/%s", dir, which);
    snprintf(pack_path, sizeof(pack_path), "%s/%.*s.pack", dir, (int)strlen(which) - 4, which);
    free(which);
    git_oid victim;
    uint32_t start, end;
    largest_entry(idx_path, &victim, &start, &end);
    assert_true(end - start > 16);
    /* One byte in the middle of its zlib stream. */
    FILE *fp = fopen(pack_path, "r+b");
    assert_non_null(fp);
    long at = (long)(start + (end - start) / 2);
    assert_int_equal(fseek(fp, at, SEEK_SET), 0);
    int byte = fgetc(fp);
    assert_int_equal(fseek(fp, at, SEEK_SET), 0);
    fputc(byte ^ 0x55, fp);
    fclose(fp);

    struct ids ids = {0};
    all_ids(&ids, twin_node_repo(w->node));
    const char *dirs[] = {dir};
    twin_packread *own = NULL, *lg = NULL;
    assert_int_equal(twin_packread_open_dirs(&own, dirs, 1), 0);
    assert_int_equal(twin_packread_open_dirs_libgit2(&lg, dirs, 1), 0);
    twin_pobj *o = NULL;
    assert_int_equal(twin_packread_get(&o, own, &victim), TWIN_EVERIFY);
    assert_int_equal(twin_packread_get(&o, lg, &victim), TWIN_EVERIFY);
    struct outcome out = compare(own, lg, &ids);
    assert_true(out.refused >= 1);
    assert_true(out.read > 0);
    twin_packread_free(own);
    twin_packread_free(lg);
    free(ids.v);
}

/* A pack written after a reader opened is not read until the reader is refreshed; then its
 * objects read as libgit2 reads them, and those of the packs it held still do. */
static void a_refreshed_reader_reads_packs_written_since(void **state)
{
    struct world *w = *state;
    git_repository *repo = twin_node_repo(w->node);
    struct ids ids = {0};
    twin_packread *own = NULL, *lg = NULL;
    twin_pobj *o = NULL;
    char id[TWIN_ID_LEN + 1];
    git_oid commit;
    assert_int_equal(twin_packread_open(&own, repo), 0);
    assert_int_equal(twin_ops_add(id, &commit, w->node, "note", titled, "Later"), 0);
    assert_int_equal(twin_packread_get(&o, own, &commit), 0);
    assert_int_equal(twin_packread_refresh(own), 0);
    assert_int_equal(twin_packread_get(&o, own, &commit), 1);
    assert_int_equal(o->type, GIT_OBJECT_COMMIT);
    twin_packread_release(o);
    assert_int_equal(twin_packread_refresh(own), 0); /* nothing new: nothing changes */
    all_ids(&ids, repo);
    assert_int_equal(twin_packread_open_libgit2(&lg, repo), 0);
    struct outcome out = compare(own, lg, &ids);
    assert_true(out.read > 100);
    assert_int_equal(out.refused, 0);
    twin_packread_free(own);
    twin_packread_free(lg);
    free(ids.v);
}

/* How many of the process's private mappings are of files in dir: twin's reader maps packs
 * private, libgit2 shared. */
static int mapped_from(const char *dir)
{
    FILE *maps = fopen("/proc/self/maps", "r");
    char line[4608];
    int n = 0;
    assert_non_null(maps);
    while (fgets(line, sizeof(line), maps))
        n += strstr(line, dir) != NULL && strstr(line, " r--p ") != NULL;
    fclose(maps);
    return n;
}

/* A reader's packs are unmapped as it closes; once the process is declared short-lived they stay
 * mapped for the next reader, which reads the same through them. It declares the process
 * short-lived for good: the last test. */
static void a_short_lived_process_keeps_its_packs_mapped(void **state)
{
    struct world *w = *state;
    git_repository *repo = twin_node_repo(w->node);
    struct ids ids = {0};
    twin_packread *own = NULL, *lg = NULL;
    all_ids(&ids, repo);
    assert_int_equal(mapped_from(w->pack_dir), 0);
    assert_int_equal(twin_packread_open(&own, repo), 0);
    int open_maps = mapped_from(w->pack_dir);
    assert_true(open_maps >= 2); /* a pack and its index, at least */
    twin_packread_free(own);
    assert_int_equal(mapped_from(w->pack_dir), 0);

    twin_global_short_lived();
    assert_true(twin_global_is_short_lived());
    assert_int_equal(twin_packread_open(&own, repo), 0);
    twin_packread_free(own);
    assert_int_equal(mapped_from(w->pack_dir), open_maps);
    assert_int_equal(twin_packread_open(&own, repo), 0);
    assert_int_equal(mapped_from(w->pack_dir), open_maps); /* mapped once, not twice */
    assert_int_equal(twin_packread_open_libgit2(&lg, repo), 0);
    struct outcome o = compare(own, lg, &ids);
    assert_true(o.read > 100);
    assert_int_equal(o.refused, 0);
    twin_packread_free(own);
    twin_packread_free(lg);
    free(ids.v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(a_nodes_history_reads_the_same_through_libgit2, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(git_packs_read_the_same_through_libgit2, setup, teardown),
        cmocka_unit_test_setup_teardown(a_damaged_object_is_refused_by_both, setup, teardown),
        cmocka_unit_test_setup_teardown(a_refreshed_reader_reads_packs_written_since, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_short_lived_process_keeps_its_packs_mapped, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
