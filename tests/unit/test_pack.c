/* twin's pack writer (src/git/pack.c) as a unit: the deltas it chooses apply to what they were
 * made of, the packs and indexes it writes are those libgit2 reads and writes, its files reach
 * their place read-only or not at all, and joining packs keeps every object readable while
 * leaving git's own packs alone. The writer that goes through libgit2 (the switch back to the
 * library) writes a pack of the same objects. */
#define _XOPEN_SOURCE 700 /* nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <dirent.h>
#include <git2.h>

#include "unit/helpers.h"
#include "git/gitfmt.h"
#include "git/pack.h"
#include "base/sha1.h"
#include "twin/global.h"

struct repo_fixture {
    struct fixture *f;
    char pack_dir[200];
    git_repository *repo;
};

static int setup(void **state)
{
    struct repo_fixture *r = calloc(1, sizeof(*r));
    void *f = NULL;
    char path[200];
    assert_non_null(r);
    assert_int_equal(twin_global_init(false), 0);
    assert_int_equal(fixture_setup(&f), 0);
    r->f = f;
    snprintf(path, sizeof(path), "%s/repo.git", r->f->dir);
    snprintf(r->pack_dir, sizeof(r->pack_dir), "%s/objects/pack", path);
    assert_int_equal(git_repository_init(&r->repo, path, 1), 0);
    *state = r;
    return 0;
}

static int teardown(void **state)
{
    struct repo_fixture *r = *state;
    void *f = r->f;
    git_repository_free(r->repo);
    free(r);
    fixture_teardown(&f);
    twin_global_shutdown();
    return 0;
}

/* A tree of n files "r<i>" (33 bytes each) with ids from seed, in git's order. */
#define ENTRY_BYTES 33
static size_t make_tree(unsigned char *out, size_t n, unsigned seed)
{
    size_t len = 0;
    for (size_t i = 0; i < n; i++) {
        char name[32];
        unsigned char id[20];
        snprintf(name, sizeof(name), "r%04zu", i);
        for (int k = 0; k < 20; k++)
            id[k] = (unsigned char)(seed * 31 + i * 7 + (size_t)k);
        len += twin_gitfmt_tree_entry_put(out + len, 0100644, name, strlen(name), id);
    }
    assert_int_equal(len, n * ENTRY_BYTES);
    return len;
}

static void apply(unsigned char *out, size_t out_len, const unsigned char *base, size_t base_len,
                  const unsigned char *d, size_t dlen)
{
    size_t src, dst, start;
    assert_int_equal(twin_gitfmt_delta_sizes(&src, &dst, &start, d, dlen), 0);
    assert_int_equal(src, base_len);
    assert_int_equal(dst, out_len);
    assert_int_equal(twin_gitfmt_delta_apply(out, dst, base, src, d, dlen, start), 0);
}

/* ---- deltas --------------------------------------------------------------------------------- */

static void deltas_apply_to_give_what_they_were_made_of(void **state)
{
    (void)state;
    static unsigned char base[20000], data[20000], out[20000];
    unsigned char *d = NULL;
    size_t cap = 0;
    /* A tree with one entry changed, one added and one removed, far apart: the delta copies the
     * runs between them and stays small. */
    size_t base_len = make_tree(base, 300, 1);
    memcpy(data, base, base_len);
    size_t len = base_len;
    data[200 * ENTRY_BYTES + 20] ^= 1; /* an id byte of an entry */
    unsigned char extra[64];
    unsigned char id[20] = {9};
    size_t elen = twin_gitfmt_tree_entry_put(extra, 0100644, "r0150x", 6, id);
    size_t at = 151 * ENTRY_BYTES; /* after r0150 */
    memmove(data + at + elen, data + at, len - at);
    memcpy(data + at, extra, elen);
    len += elen;
    memmove(data + ENTRY_BYTES, data + 2 * ENTRY_BYTES, len - 2 * ENTRY_BYTES); /* r0001 gone */
    len -= ENTRY_BYTES;
    size_t dlen = twin_pack_delta_make(&d, &cap, GIT_OBJECT_TREE, base, base_len, data, len);
    assert_true(dlen > 0 && dlen < 200);
    apply(out, len, base, base_len, d, dlen);
    assert_memory_equal(out, data, len);

    /* Any other object: its common start and end are copied. */
    memset(base, 'x', 5000);
    memcpy(data, base, 5000);
    memcpy(data + 2500, "a change in the middle", 22);
    dlen = twin_pack_delta_make(&d, &cap, GIT_OBJECT_BLOB, base, 5000, data, 5000);
    assert_true(dlen > 0 && dlen < 60);
    apply(out, 5000, base, 5000, d, dlen);
    assert_memory_equal(out, data, 5000);

    /* No delta where it would not pay: objects under 64 bytes, or more than half changed. */
    assert_int_equal(twin_pack_delta_make(&d, &cap, GIT_OBJECT_BLOB, base, 63, data, 63), 0);
    for (int i = 0; i < 5000; i++)
        data[i] = (unsigned char)(i * 131 + 7);
    assert_int_equal(twin_pack_delta_make(&d, &cap, GIT_OBJECT_BLOB, base, 5000, data, 5000), 0);
    free(d);
}

/* ---- packs and their indexes ---------------------------------------------------------------- */

struct obj {
    git_object_t type;
    unsigned char data[12000];
    size_t len;
    git_oid id;
};

/* Objects of every kind, each tree a new version of the one before (a delta against it). */
static struct obj *some_objects(size_t *n)
{
    struct obj *o = calloc(12, sizeof(*o));
    assert_non_null(o);
    for (size_t i = 0; i < 12; i++) {
        if (i % 3 == 0) { /* the first tree with entry 10 * i / 3 changed */
            o[i].type = GIT_OBJECT_TREE;
            o[i].len = make_tree(o[i].data, 300, 1);
            o[i].data[i / 3 * 10 * ENTRY_BYTES + 25] ^= (unsigned char)i;
        } else {
            o[i].type = i % 3 == 1 ? GIT_OBJECT_BLOB : GIT_OBJECT_COMMIT;
            o[i].len = (size_t)snprintf((char *)o[i].data, sizeof(o[i].data),
                                        "tree %040zu\nauthor object %zu\n\nmessage %zu\n", i, i, i);
        }
        twin_sha1_object(o[i].id.id, git_object_type2string(o[i].type), o[i].data, o[i].len);
    }
    *n = 12;
    return o;
}

static void read_file(unsigned char **out, size_t *len, const char *path)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    assert_int_equal(fseek(fp, 0, SEEK_END), 0);
    *len = (size_t)ftell(fp);
    rewind(fp);
    assert_non_null(*out = malloc(*len ? *len : 1));
    assert_int_equal(fread(*out, 1, *len, fp), *len);
    fclose(fp);
}

/* The name (pack-<hex>) of the one pack in dir whose name is not skip. */
static void only_pack(char *name, size_t size, const char *dir, const char *skip)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int found = 0;
    assert_non_null(d);
    while ((e = readdir(d)))
        if (strlen(e->d_name) == 49 && strcmp(e->d_name + 45, ".idx") == 0 &&
            (!skip || strncmp(e->d_name, skip, 45) != 0)) {
            snprintf(name, size, "%.45s", e->d_name);
            found++;
        }
    closedir(d);
    assert_int_equal(found, 1);
}

static void packs_written_are_read_by_libgit2(void **state)
{
    struct repo_fixture *r = *state;
    size_t n;
    struct obj *o = some_objects(&n);
    twin_packw *w = NULL;
    assert_int_equal(twin_pack_writer_new(&w), 0);
    assert_int_equal(twin_pack_writer_count(w), 0);
    assert_int_equal(twin_pack_writer_bytes(w), TWIN_GITFMT_PACK_HEADER);
    size_t last_tree = 0;
    for (size_t i = 0; i < n; i++) {
        size_t index;
        bool tree = o[i].type == GIT_OBJECT_TREE;
        assert_int_equal(twin_pack_writer_add(w, &index, o[i].type, &o[i].id, o[i].data, o[i].len,
                                              tree && i ? (long)last_tree : -1,
                                              tree && i ? o[last_tree].data : NULL,
                                              tree && i ? o[last_tree].len : 0),
                         0);
        assert_int_equal(index, i);
        if (tree)
            last_tree = i;
    }
    assert_int_equal(twin_pack_writer_count(w), n);
    /* The trees after the first are deltas: far fewer bytes than the trees themselves. */
    assert_true(twin_pack_writer_bytes(w) < 2 * o[0].len);
    assert_int_equal(twin_pack_count(r->repo), 0);
    assert_int_equal(twin_pack_writer_write(w, r->repo, false), 0);
    assert_int_equal(twin_pack_count(r->repo), 1);
    assert_int_equal(twin_pack_writer_count(w), 0);                 /* emptied for reuse */
    assert_int_equal(twin_pack_writer_write(w, r->repo, false), 0); /* nothing: no pack */
    assert_int_equal(twin_pack_count(r->repo), 1);
    twin_pack_writer_free(w);

    git_odb *odb = NULL;
    assert_int_equal(git_repository_odb(&odb, r->repo), 0);
    for (size_t i = 0; i < n; i++) {
        git_odb_object *x = NULL;
        assert_int_equal(git_odb_read(&x, odb, &o[i].id), 0);
        assert_int_equal(git_odb_object_type(x), o[i].type);
        assert_int_equal(git_odb_object_size(x), o[i].len);
        assert_memory_equal(git_odb_object_data(x), o[i].data, o[i].len);
        git_odb_object_free(x);
    }

    /* The index is the one libgit2's indexer writes for the same pack, byte for byte. */
    char name[64], path[400], other[300];
    unsigned char *pack, *idx, *theirs;
    size_t pack_len, idx_len, theirs_len;
    only_pack(name, sizeof(name), r->pack_dir, NULL);
    snprintf(path, sizeof(path), "%s/%s.pack", r->pack_dir, name);
    read_file(&pack, &pack_len, path);
    snprintf(path, sizeof(path), "%s/%s.idx", r->pack_dir, name);
    read_file(&idx, &idx_len, path);
    snprintf(other, sizeof(other), "%s/libgit2", r->f->dir);
    assert_int_equal(mkdir(other, 0700), 0);
    git_indexer *ix = NULL;
    git_indexer_progress stats = {0};
    assert_int_equal(git_indexer_new(&ix, other, 0, NULL, NULL), 0);
    assert_int_equal(git_indexer_append(ix, pack, pack_len, &stats), 0);
    assert_int_equal(git_indexer_commit(ix, &stats), 0);
    snprintf(path, sizeof(path), "%s/pack-%s.idx", other, git_indexer_name(ix));
    assert_string_equal(name + 5, git_indexer_name(ix)); /* named by its checksum */
    git_indexer_free(ix);
    read_file(&theirs, &theirs_len, path);
    assert_int_equal(idx_len, theirs_len);
    assert_memory_equal(idx, theirs, idx_len);

    /* twin_gitfmt_idx_build makes it from the entries and the checksum. */
    struct twin_gitfmt_idx_entry *entries = calloc(n, sizeof(*entries));
    unsigned char *built = NULL;
    size_t built_len = 0;
    assert_non_null(entries);
    const unsigned char *ids = idx + 8 + 1024, *crcs = ids + 20 * n, *offs = crcs + 4 * n;
    for (size_t i = n; i-- > 0;) { /* in any order: it sorts them */
        memcpy(entries[i].id, ids + 20 * i, 20);
        entries[i].crc = (uint32_t)crcs[4 * i] << 24 | (uint32_t)crcs[4 * i + 1] << 16 |
                         (uint32_t)crcs[4 * i + 2] << 8 | crcs[4 * i + 3];
        entries[i].offset = (uint32_t)offs[4 * i] << 24 | (uint32_t)offs[4 * i + 1] << 16 |
                            (uint32_t)offs[4 * i + 2] << 8 | offs[4 * i + 3];
    }
    struct twin_gitfmt_idx_entry swap = entries[0];
    entries[0] = entries[n - 1];
    entries[n - 1] = swap;
    assert_int_equal(twin_gitfmt_idx_build(&built, &built_len, entries, n, pack + pack_len - 20),
                     0);
    assert_int_equal(built_len, idx_len);
    assert_memory_equal(built, idx, idx_len);
    /* Offsets of 2 GiB and more go to the table of large offsets, as git writes them. */
    entries[0].offset = (uint64_t)5 << 31;
    free(built);
    assert_int_equal(twin_gitfmt_idx_build(&built, &built_len, entries, n, pack + pack_len - 20),
                     0);
    assert_int_equal(built_len, idx_len + 8);
    size_t k = 0; /* where the moved entry sorts */
    while (memcmp(built + 8 + 1024 + 20 * k, entries[0].id, 20) != 0)
        k++;
    const unsigned char *slot = built + 8 + 1024 + 24 * n + 4 * k;
    assert_memory_equal(slot, "\x80\0\0\0", 4);
    assert_memory_equal(built + 8 + 1024 + 28 * n, "\0\0\0\x02\x80\0\0\0", 8);
    free(built);
    free(entries);
    free(theirs);
    free(idx);
    free(pack);
    git_odb_free(odb);
    free(o);

    /* The pack is one of twin's own: listed for joining. */
    snprintf(path, sizeof(path), "%s/repo.git/twin-packs", r->f->dir);
    char *list = read_text(path, NULL);
    char line[80];
    snprintf(line, sizeof(line), "%s\n", name);
    assert_string_equal(list, line);
    free(list);
    assert_int_equal(twin_pack_register(r->repo, "pack-0123"), 0);
    list = read_text(path, NULL);
    assert_non_null(strstr(list, "pack-0123\n"));
    free(list);
}

/* ---- files ---------------------------------------------------------------------------------- */

/* Every object id of a repository's object database, sorted. */
struct ids {
    git_oid v[64];
    size_t n;
};

static int add_id(const git_oid *id, void *payload)
{
    struct ids *ids = payload;
    if (ids->n == sizeof(ids->v) / sizeof(ids->v[0]))
        return -1;
    ids->v[ids->n++] = *id;
    return 0;
}

static int cmp_oid(const void *a, const void *b)
{
    return git_oid_cmp(a, b);
}

static void all_ids(struct ids *ids, git_repository *repo)
{
    git_odb *odb = NULL;
    ids->n = 0;
    assert_int_equal(git_repository_odb(&odb, repo), 0);
    assert_int_equal(git_odb_refresh(odb), 0);
    assert_int_equal(git_odb_foreach(odb, add_id, ids), 0);
    git_odb_free(odb);
    qsort(ids->v, ids->n, sizeof(ids->v[0]), cmp_oid);
}

/* The writer that goes through libgit2 takes the same calls and writes a pack of the same
 * objects, listed as twin's own; each object is named again by libgit2, and one whose id does
 * not match its content is refused. */
static void libgit2s_writer_writes_the_same_objects(void **state)
{
    struct repo_fixture *r = *state;
    size_t n;
    struct obj *o = some_objects(&n);
    git_repository *twins = NULL;
    char path[300];
    snprintf(path, sizeof(path), "%s/twins.git", r->f->dir);
    assert_int_equal(git_repository_init(&twins, path, 1), 0);
    for (int way = 0; way < 2; way++) {
        twin_packw *w = NULL;
        assert_int_equal(way ? twin_pack_writer_new_libgit2(&w) : twin_pack_writer_new(&w), 0);
        size_t last_tree = 0;
        for (size_t i = 0; i < n; i++) {
            size_t index;
            bool tree = o[i].type == GIT_OBJECT_TREE;
            assert_int_equal(twin_pack_writer_add(w, &index, o[i].type, &o[i].id, o[i].data,
                                                  o[i].len, tree && i ? (long)last_tree : -1,
                                                  tree && i ? o[last_tree].data : NULL,
                                                  tree && i ? o[last_tree].len : 0),
                             0);
            assert_int_equal(index, i);
            if (tree)
                last_tree = i;
        }
        assert_int_equal(twin_pack_writer_count(w), n);
        git_repository *to = way ? r->repo : twins;
        assert_int_equal(twin_pack_writer_write(w, to, false), 0);
        assert_int_equal(twin_pack_count(to), 1);
        assert_int_equal(twin_pack_writer_count(w), 0);            /* emptied for reuse */
        assert_int_equal(twin_pack_writer_write(w, to, false), 0); /* nothing: no pack */
        assert_int_equal(twin_pack_count(to), 1);
        if (way) {
            git_oid wrong = o[1].id;
            wrong.id[0] ^= 1;
            assert_error(
                twin_pack_writer_add(w, NULL, o[1].type, &wrong, o[1].data, o[1].len, -1, NULL, 0),
                TWIN_ERROR, "libgit2 names object");
        }
        twin_pack_writer_free(w);
    }
    /* The same objects, each read back as it was written. */
    struct ids a, b;
    all_ids(&a, twins);
    all_ids(&b, r->repo);
    assert_int_equal(a.n, n);
    assert_int_equal(b.n, n);
    assert_memory_equal(a.v, b.v, n * sizeof(a.v[0]));
    git_odb *odb = NULL;
    assert_int_equal(git_repository_odb(&odb, r->repo), 0);
    for (size_t i = 0; i < n; i++) {
        git_odb_object *x = NULL;
        assert_int_equal(git_odb_read(&x, odb, &o[i].id), 0);
        assert_int_equal(git_odb_object_type(x), o[i].type);
        assert_int_equal(git_odb_object_size(x), o[i].len);
        assert_memory_equal(git_odb_object_data(x), o[i].data, o[i].len);
        git_odb_object_free(x);
    }
    git_odb_free(odb);
    /* libgit2's pack is listed as twin's own, to be joined like the packs twin writes. */
    char name[64], line[80];
    only_pack(name, sizeof(name), r->pack_dir, NULL);
    snprintf(path, sizeof(path), "%s/repo.git/twin-packs", r->f->dir);
    char *list = read_text(path, NULL);
    snprintf(line, sizeof(line), "%s\n", name);
    assert_string_equal(list, line);
    free(list);
    git_repository_free(twins);
    free(o);
}

static void files_reach_their_place_read_only_or_not_at_all(void **state)
{
    struct repo_fixture *r = *state;
    char tmp[300], final[300];
    struct stat st;
    int fd = twin_pack_open_temp(tmp, sizeof(tmp), r->f->dir);
    assert_true(fd >= 0);
    assert_non_null(strstr(tmp, "/tmp_twin_"));
    assert_int_equal(write(fd, "data", 4), 4);
    snprintf(final, sizeof(final), "%s/final", r->f->dir);
    assert_int_equal(twin_pack_finish_file(fd, tmp, final, true), 0);
    assert_int_equal(stat(final, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0444);
    assert_int_equal(st.st_size, 4);
    assert_int_not_equal(stat(tmp, &st), 0);

    /* A file that cannot be moved into place is removed. */
    fd = twin_pack_open_temp(tmp, sizeof(tmp), r->f->dir);
    assert_true(fd >= 0);
    snprintf(final, sizeof(final), "%s/no/such/dir/final", r->f->dir);
    assert_error(twin_pack_finish_file(fd, tmp, final, false), TWIN_ERROR, "cannot move");
    assert_int_not_equal(stat(tmp, &st), 0);

    char missing[300];
    snprintf(missing, sizeof(missing), "%s/missing", r->f->dir);
    assert_error(twin_pack_open_temp(tmp, sizeof(tmp), missing), TWIN_ERROR, "cannot create");
}

/* ---- joining packs -------------------------------------------------------------------------- */

static void joined_packs_keep_every_object_and_leave_gits_packs(void **state)
{
    struct repo_fixture *r = *state;
    git_odb *odb = NULL;
    git_oid ids[40];
    assert_int_equal(git_repository_odb(&odb, r->repo), 0);
    git_oid loose;
    char gits[64];
    /* Eight of twin's packs, the last two repeating objects of the first two; after the first,
     * which starts twin's list of its packs, one of git's own (libgit2's packbuilder). */
    for (size_t p = 0; p < 8; p++) {
        twin_packw *w = NULL;
        if (p == 1) {
            git_packbuilder *pb = NULL;
            assert_int_equal(git_odb_write(&loose, odb, "git's own\n", 10, GIT_OBJECT_BLOB), 0);
            assert_int_equal(git_packbuilder_new(&pb, r->repo), 0);
            assert_int_equal(git_packbuilder_insert(pb, &loose, NULL), 0);
            assert_int_equal(git_packbuilder_write(pb, NULL, 0, NULL, NULL), 0);
            snprintf(gits, sizeof(gits), "pack-%s", git_packbuilder_name(pb));
            git_packbuilder_free(pb);
        }
        assert_int_equal(twin_pack_writer_new(&w), 0);
        for (size_t i = 0; i < 5; i++) {
            char text[64];
            size_t k = p < 6 ? 5 * p + i : i < 4 ? 5 * (p - 6) + i : 30 + (p - 6);
            int len = snprintf(text, sizeof(text), "object %zu\n", k);
            twin_sha1_object(ids[k].id, "blob", text, (size_t)len);
            assert_int_equal(twin_pack_writer_add(w, NULL, GIT_OBJECT_BLOB, &ids[k], text,
                                                  (size_t)len, -1, NULL, 0),
                             0);
        }
        assert_int_equal(twin_pack_writer_write(w, r->repo, false), 0);
        twin_pack_writer_free(w);
    }
    assert_int_equal(twin_pack_count(r->repo), 9);
    assert_int_equal(twin_pack_consolidate(r->repo, 10, false), 0); /* under the limit: kept */
    assert_int_equal(twin_pack_count(r->repo), 9);
    assert_int_equal(twin_pack_consolidate(r->repo, 2, false), 0);
    size_t left = twin_pack_count(r->repo);
    assert_true(left >= 2 && left <= 3); /* git's, and at most two of twin's */
    char path[300];
    struct stat st;
    snprintf(path, sizeof(path), "%s/%s.pack", r->pack_dir, gits);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(git_odb_refresh(odb), 0);
    for (size_t k = 0; k < 32; k++)
        assert_true(git_odb_exists(odb, &ids[k]));
    assert_true(git_odb_exists(odb, &loose));
    /* No pack holds an object twice: each index lists its ids strictly ascending. */
    DIR *d = opendir(r->pack_dir);
    struct dirent *e;
    size_t indexes = 0;
    assert_non_null(d);
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 4 || strcmp(e->d_name + len - 4, ".idx") != 0)
            continue;
        unsigned char *idx;
        size_t idx_len;
        snprintf(path, sizeof(path), "%s/%s", r->pack_dir, e->d_name);
        read_file(&idx, &idx_len, path);
        uint32_t count = (uint32_t)idx[8 + 1020] << 24 | (uint32_t)idx[8 + 1021] << 16 |
                         (uint32_t)idx[8 + 1022] << 8 | idx[8 + 1023];
        for (uint32_t i = 1; i < count; i++)
            assert_true(memcmp(idx + 8 + 1024 + 20 * (i - 1), idx + 8 + 1024 + 20 * i, 20) < 0);
        free(idx);
        indexes++;
    }
    closedir(d);
    assert_int_equal(indexes, left);
    git_odb_free(odb);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(deltas_apply_to_give_what_they_were_made_of),
        cmocka_unit_test_setup_teardown(packs_written_are_read_by_libgit2, setup, teardown),
        cmocka_unit_test_setup_teardown(libgit2s_writer_writes_the_same_objects, setup, teardown),
        cmocka_unit_test_setup_teardown(files_reach_their_place_read_only_or_not_at_all, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(joined_packs_keep_every_object_and_leave_gits_packs, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
