/* The git format codec (src/git/gitfmt.c) against git and libgit2: tree order as git sorts trees,
 * tree entries as libgit2 reads them, pack and entry headers in packs libgit2 indexes and reads,
 * deltas it resolves, entries' data in zlib's stored form and inflated to exactly their size,
 * pack indexes read back as built (and hostile ones refused, the fault named),
 * and commits byte for byte as libgit2 makes them. Every encoder is read back
 * by the decoder, and every refusal of the decoders is met. */
#define _XOPEN_SOURCE 700 /* nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <git2.h>
#include <libdeflate.h>
#include <zlib.h>

#include "unit/helpers.h"
#include "git/gitfmt.h"
#include "base/sha1.h"
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

static git_repository *repo_in(const struct fixture *f)
{
    char path[200];
    git_repository *repo = NULL;
    snprintf(path, sizeof(path), "%s/repo.git", f->dir);
    assert_int_equal(git_repository_init(&repo, path, 1), 0);
    return repo;
}

static git_oid blob(git_repository *repo, const char *text)
{
    git_oid id;
    assert_int_equal(git_blob_create_from_buffer(&id, repo, text, strlen(text)), 0);
    return id;
}

/* ---- trees ---------------------------------------------------------------------------------- */

static int sign(int c)
{
    return (c > 0) - (c < 0);
}

static int order(const char *a, bool adir, const char *b, bool bdir)
{
    return sign(twin_gitfmt_tree_order(a, strlen(a), adir, b, strlen(b), bdir));
}

/* The cases git's order is made of: a prefix sorts first, unless it names a directory, which
 * sorts as if it ended in '/', between '.' (0x2e) and '0' (0x30). */
static void tree_order_places_directories_as_names_ending_in_slash(void **state)
{
    (void)state;
    assert_int_equal(order("a", false, "a.b", false), -1);
    assert_int_equal(order("a", true, "a.b", false), 1); /* "a/" after "a.b" */
    assert_int_equal(order("a", true, "a0", false), -1); /* "a/" before "a0" */
    assert_int_equal(order("a", false, "a", true), -1);  /* a file and a directory differ */
    assert_int_equal(order("a", true, "a", false), 1);
    assert_int_equal(order("a", true, "a", true), 0);
    assert_int_equal(order("a", false, "a", false), 0);
    assert_int_equal(order("a-b", false, "a", true), -1); /* '-' is 0x2d */
    assert_int_equal(order("a", true, "a/", false), 0);   /* as if it ended in '/' */
    assert_int_equal(order("b", false, "a", true), 1);
    assert_int_equal(order("\xc3\xa9", false, "z", false), 1); /* bytes, unsigned */
    assert_int_equal(order("", false, "a", false), -1);
    /* Names are counted, not ended at a NUL: only the first len bytes count. */
    assert_int_equal(sign(twin_gitfmt_tree_order("abc", 2, false, "abd", 2, false)), 0);
}

struct named {
    char name[16];
    bool dir;
    git_oid id;
};

static int by_codec(const void *x, const void *y)
{
    const struct named *a = x, *b = y;
    return twin_gitfmt_tree_order(a->name, strlen(a->name), a->dir, b->name, strlen(b->name),
                                  b->dir);
}

/* Random names of the characters around '/', some files, some directories: sorted by the codec
 * they are in the order of the tree libgit2 writes of them, and of the tree `git mktree` makes. */
static void tree_order_is_the_order_of_gits_trees(void **state)
{
    struct fixture *f = *state;
    git_repository *repo = repo_in(f);
    git_treebuilder *empty = NULL;
    git_oid file = blob(repo, "x\n"), dir;
    assert_int_equal(git_treebuilder_new(&empty, repo, NULL), 0);
    assert_int_equal(git_treebuilder_write(&dir, empty), 0);
    git_treebuilder_free(empty);
    static const char alphabet[] = ".-/0a_~";
    bool git = have_tool("git");
    for (unsigned seed = 1; seed <= 60; seed++) {
        struct rng r = {seed};
        struct named e[40];
        size_t n = 0;
        git_treebuilder *tb = NULL;
        assert_int_equal(git_treebuilder_new(&tb, repo, NULL), 0);
        while (n < sizeof(e) / sizeof(e[0])) {
            struct named *x = &e[n];
            size_t len = 1 + rnd(&r, 4);
            for (size_t i = 0; i < len; i++) {
                char c = alphabet[rnd(&r, sizeof(alphabet) - 1)];
                x->name[i] = c == '/' ? 'a' : c; /* no '/' in a name */
            }
            x->name[len] = '\0';
            if (strcmp(x->name, ".") == 0 || strcmp(x->name, "..") == 0)
                continue;
            bool seen = false;
            for (size_t k = 0; k < n; k++)
                seen = seen || strcmp(e[k].name, x->name) == 0;
            if (seen)
                continue;
            x->dir = rnd(&r, 2);
            x->id = x->dir ? dir : file;
            assert_int_equal(git_treebuilder_insert(NULL, tb, x->name, &x->id,
                                                    x->dir ? GIT_FILEMODE_TREE : GIT_FILEMODE_BLOB),
                             0);
            n++;
        }
        git_oid tree_id;
        git_tree *tree = NULL;
        assert_int_equal(git_treebuilder_write(&tree_id, tb), 0);
        git_treebuilder_free(tb);
        qsort(e, n, sizeof(e[0]), by_codec);
        assert_int_equal(git_tree_lookup(&tree, repo, &tree_id), 0);
        assert_int_equal(git_tree_entrycount(tree), n);
        for (size_t i = 0; i < n; i++)
            if (strcmp(git_tree_entry_name(git_tree_entry_byindex(tree, i)), e[i].name) != 0)
                fail_msg("seed %u: entry %zu is %s in libgit2's tree, %s by the codec", seed, i,
                         git_tree_entry_name(git_tree_entry_byindex(tree, i)), e[i].name);
        git_tree_free(tree);
        if (!git || seed > 10) /* stock git, on fewer trees: a process each */
            continue;
        char list[200], out[200];
        snprintf(list, sizeof(list), "%s/mktree.in", f->dir);
        snprintf(out, sizeof(out), "%s/mktree.out", f->dir);
        FILE *fp = fopen(list, "w");
        assert_non_null(fp);
        for (size_t i = n; i-- > 0;) /* in reverse: mktree sorts them itself */
            fprintf(fp, "%s %s %s\t%s\n", e[i].dir ? "040000" : "100644",
                    e[i].dir ? "tree" : "blob", git_oid_tostr_s(&e[i].id), e[i].name);
        fclose(fp);
        assert_int_equal(run("git --git-dir='%s/repo.git' mktree <'%s' >'%s'", f->dir, list, out),
                         0);
        char *made = read_text(out, NULL);
        assert_string_equal(strtok(made, "\n"), git_oid_tostr_s(&tree_id));
        free(made);
    }
    git_repository_free(repo);
}

/* Entries of every mode git knows, written by the codec in the codec's order: libgit2 reads the
 * tree as written, and the codec reads back each entry's length and order. */
static void tree_entries_read_in_libgit2_as_written(void **state)
{
    struct fixture *f = *state;
    git_repository *repo = repo_in(f);
    struct {
        const char *name;
        uint32_t mode;
        const char *text;
    } in[] = {
        {"a", 0100644, "file\n"},
        {"a.b", 0100755, "script\n"},
        {"a", 040000, NULL},
        {"a0", 0120000, "target"},
        {"b", 0160000, NULL},
        {"long name x", 0100644, "y"},
        {"\xc3\xa9t\xc3\xa9", 040000, NULL},
    };
    size_t n = sizeof(in) / sizeof(in[0]);
    git_oid ids[sizeof(in) / sizeof(in[0])];
    unsigned char bytes[1024], *p = bytes;
    for (size_t i = 0; i < n; i++) {
        if (in[i].text)
            ids[i] = blob(repo, in[i].text);
        else /* any id: a directory or a submodule's commit need not be read here */
            memset(ids[i].id, (int)(0x11 * (i + 1)), GIT_OID_RAWSZ);
        if (i > 0)
            assert_true(twin_gitfmt_tree_order(in[i - 1].name, strlen(in[i - 1].name),
                                               in[i - 1].mode == 040000, in[i].name,
                                               strlen(in[i].name), in[i].mode == 040000) < 0);
        size_t len =
            twin_gitfmt_tree_entry_put(p, in[i].mode, in[i].name, strlen(in[i].name), ids[i].id);
        assert_true(len <= TWIN_GITFMT_TREE_ENTRY_MAX(strlen(in[i].name)));
        p += len;
    }
    size_t size = (size_t)(p - bytes);
    /* The bytes git writes for the first: the mode without leading zeros. */
    assert_memory_equal(bytes, "100644 a\0", 9);
    git_odb *odb = NULL;
    git_oid tree_id;
    git_tree *tree = NULL;
    assert_int_equal(git_repository_odb(&odb, repo), 0);
    assert_int_equal(git_odb_write(&tree_id, odb, bytes, size, GIT_OBJECT_TREE), 0);
    assert_int_equal(git_tree_lookup(&tree, repo, &tree_id), 0);
    assert_int_equal(git_tree_entrycount(tree), n);
    const unsigned char *at = bytes, *prev = NULL;
    for (size_t i = 0; i < n; i++) {
        const git_tree_entry *e = git_tree_entry_byindex(tree, i);
        assert_string_equal(git_tree_entry_name(e), in[i].name);
        assert_int_equal(git_tree_entry_filemode_raw(e), in[i].mode);
        assert_true(git_oid_equal(git_tree_entry_id(e), &ids[i]));
        size_t len = twin_gitfmt_tree_entry_len(at, (size_t)(bytes + size - at));
        assert_int_equal(len, strlen(in[i].name) + 1 + 20 + (in[i].mode == 040000 ? 6 : 7));
        /* Cut anywhere before its id ends, the entry is not whole. */
        assert_int_equal(twin_gitfmt_tree_entry_len(at, len - 1), 0);
        if (prev)
            assert_true(twin_gitfmt_tree_entry_cmp(prev, at) < 0);
        assert_int_equal(twin_gitfmt_tree_entry_cmp(at, at), 0);
        prev = at;
        at += len;
    }
    assert_ptr_equal(at, bytes + size);
    /* Without a mode there is no order to give. */
    assert_int_equal(twin_gitfmt_tree_entry_cmp((const unsigned char *)"a", bytes), 0);
    git_tree_free(tree);
    git_odb_free(odb);
    git_repository_free(repo);
}

/* ---- pack and entry headers ----------------------------------------------------------------- */

static void pack_headers_read_back(void **state)
{
    (void)state;
    unsigned char h[TWIN_GITFMT_PACK_HEADER];
    uint32_t version, count;
    twin_gitfmt_pack_header_put(h, 70000);
    assert_memory_equal(h, "PACK\0\0\0\2\0\1\x11\x70", 12);
    assert_true(twin_gitfmt_pack_header_get(&version, &count, h));
    assert_int_equal(version, 2);
    assert_int_equal(count, 70000);
    h[3] = 'X';
    h[7] = 3;
    assert_false(twin_gitfmt_pack_header_get(&version, &count, h));
    assert_int_equal(version, 3); /* read all the same */
}

static void entry_headers_read_back(void **state)
{
    (void)state;
    static const uint64_t sizes[] = {0,
                                     1,
                                     15,
                                     16,
                                     127,
                                     2047,
                                     2048,
                                     0x10000,
                                     0xffffffff,
                                     UINT64_C(1) << 40,
                                     (UINT64_C(1) << 60) - 1,
                                     UINT64_C(1) << 60,
                                     UINT64_MAX};
    static const uint64_t distances[] = {1,
                                         127,
                                         128,
                                         129,
                                         16511,
                                         16512,
                                         16513,
                                         0x7fffffff,
                                         UINT64_C(1) << 56,
                                         (UINT64_C(1) << 63) + 127,
                                         (UINT64_C(1) << 63) + 128,
                                         UINT64_MAX,
                                         42};
    unsigned char b[TWIN_GITFMT_ENTRY_HEADER_MAX + 8], alone[16];
    struct twin_gitfmt_entry e;
    for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
        for (int type = 1; type <= 7; type++) {
            if (type == 5)
                continue;
            size_t sized = twin_gitfmt_entry_header_put(b, type, sizes[i]), n = sized;
            assert_true(n >= 1 && n <= 10);
            assert_int_equal(b[0] >> 4 & 7, type);
            assert_int_equal(twin_gitfmt_entry_header_put(alone, type, sizes[i]), sized);
            uint64_t distance = distances[i];
            if (type == TWIN_GITFMT_OFS_DELTA)
                n += twin_gitfmt_ofs_put(b + n, distance);
            if (type == TWIN_GITFMT_REF_DELTA)
                for (int k = 0; k < 20; k++)
                    b[n++] = (unsigned char)(0xa0 + k);
            assert_true(n <= TWIN_GITFMT_ENTRY_HEADER_MAX);
            int got = twin_gitfmt_entry_parse(&e, b, n);
            if (sizes[i] >> 60) { /* a size is read to 64 bits: this one needs more */
                assert_int_equal(got, -1);
                assert_int_equal(e.part, TWIN_GITFMT_AT_SIZE);
                continue;
            }
            if (type == TWIN_GITFMT_OFS_DELTA && distance >= (UINT64_C(1) << 63) + 128) {
                assert_int_equal(got, -1); /* likewise a distance */
                assert_int_equal(e.part, TWIN_GITFMT_AT_BASE);
                continue;
            }
            assert_int_equal(got, (int)n);
            assert_int_equal(e.part, 0);
            assert_int_equal(e.type, type);
            assert_true(e.size == sizes[i]);
            assert_true(e.distance == (type == TWIN_GITFMT_OFS_DELTA ? distance : 0));
            assert_true(type == TWIN_GITFMT_REF_DELTA ? e.base_id == b + n - 20
                                                      : e.base_id == NULL);
            /* Bytes after the header are not its. */
            b[n] = 0xff;
            assert_int_equal(twin_gitfmt_entry_parse(&e, b, n + 1), (int)n);
            /* Every shorter run of its bytes ends before the header does. */
            for (size_t cut = 0; cut < n; cut++) {
                assert_int_equal(twin_gitfmt_entry_parse(&e, b, cut), 0);
                assert_int_equal(e.part, cut < sized ? TWIN_GITFMT_AT_SIZE : TWIN_GITFMT_AT_BASE);
            }
        }
    /* Types 0 and 5 are no entry's. */
    for (int type = 0; type <= 5; type += 5) {
        size_t n = twin_gitfmt_entry_header_put(b, type, 300);
        assert_int_equal(twin_gitfmt_entry_parse(&e, b, n), -1);
        assert_int_equal(e.part, TWIN_GITFMT_AT_TYPE);
        assert_int_equal(e.type, type);
    }
}

/* The first bytes of the encodings, as git's documentation gives them. */
static void entry_headers_are_gits_bytes(void **state)
{
    (void)state;
    unsigned char b[16];
    assert_int_equal(twin_gitfmt_entry_header_put(b, GIT_OBJECT_BLOB, 10), 1);
    assert_int_equal(b[0], 0x3a);
    assert_int_equal(twin_gitfmt_entry_header_put(b, GIT_OBJECT_COMMIT, 300), 2);
    assert_memory_equal(b, "\x9c\x12", 2); /* 300 = 0x12c: low 4 bits c, then 0x12 */
    assert_int_equal(twin_gitfmt_ofs_put(b, 127), 1);
    assert_int_equal(b[0], 0x7f);
    assert_int_equal(twin_gitfmt_ofs_put(b, 128), 2); /* 128 = (0 + 1) << 7 | 0 */
    assert_memory_equal(b, "\x80\x00", 2);
    assert_int_equal(twin_gitfmt_ofs_put(b, 16512), 3); /* the first distance of 3 bytes */
    assert_memory_equal(b, "\x80\x80\x00", 3);
}

/* ---- entry data ----------------------------------------------------------------------------- */

struct collected {
    unsigned char *p;
    size_t len, cap, pieces;
};

static int collect(const void *p, size_t n, void *ctx)
{
    struct collected *c = ctx;
    assert_true(c->len + n <= c->cap);
    memcpy(c->p + c->len, p, n);
    c->len += n;
    c->pieces++;
    return 0;
}

static int refuse_third(const void *p, size_t n, void *ctx)
{
    (void)p;
    (void)n;
    return ++*(int *)ctx == 3 ? 42 : 0;
}

/* Stored entries are zlib's own bytes at level 0 after the entry's header, and read back. */
static void stored_entries_are_zlibs_level_0_and_read_back(void **state)
{
    (void)state;
    static const size_t sizes[] = {0, 1, 100, 65535, 65536, 131071, 200000};
    z_stream z;
    memset(&z, 0, sizeof(z));
    assert_int_equal(deflateInit(&z, Z_NO_COMPRESSION), Z_OK);
    for (size_t k = 0; k < sizeof(sizes) / sizeof(*sizes); k++) {
        size_t len = sizes[k];
        unsigned char *data = malloc(len + 1), *zl = malloc(len + 1024), *back = malloc(len + 1);
        struct collected c = {.cap = len + 1024};
        c.p = malloc(c.cap);
        assert_true(data && zl && back && c.p);
        for (size_t i = 0; i < len; i++)
            data[i] = (unsigned char)(i * 7 + k);
        deflateReset(&z);
        z.next_in = data;
        z.avail_in = (uInt)len;
        z.next_out = zl;
        z.avail_out = (uInt)(len + 1024);
        assert_int_equal(deflate(&z, Z_FINISH), Z_STREAM_END);
        size_t zlen = len + 1024 - z.avail_out;
        assert_int_equal(zlen, twin_gitfmt_stored_len(len));

        int type = k % 2 ? GIT_OBJECT_BLOB : TWIN_GITFMT_OFS_DELTA;
        assert_int_equal(twin_gitfmt_entry_stored_write(type, 300 + k, data, len, collect, &c), 0);
        struct twin_gitfmt_entry e;
        int h = twin_gitfmt_entry_parse(&e, c.p, c.len);
        assert_true(h > 0);
        assert_int_equal(e.type, type);
        assert_int_equal(e.size, len);
        if (type == TWIN_GITFMT_OFS_DELTA)
            assert_int_equal(e.distance, 300 + k);
        assert_int_equal(c.len, (size_t)h + zlen);
        assert_memory_equal(c.p + h, zl, zlen);

        memset(back, 0xee, len + 1);
        assert_int_equal(twin_gitfmt_inflate_exact(NULL, back, len, c.p + h, zlen), 0);
        assert_memory_equal(back, data, len);
        bool sum_ok = false;
        const unsigned char *view = twin_gitfmt_stored_view(&sum_ok, c.p + h, zlen, len);
        if (len <= 0xffff) {
            assert_ptr_equal(view, c.p + h + 7);
            assert_true(sum_ok);
        } else {
            assert_null(view); /* more than one block */
        }
        free(data);
        free(zl);
        free(back);
        free(c.p);
    }
    deflateEnd(&z);
    /* A writer that stops: its return, and nothing after. */
    int calls = 0;
    unsigned char big[70000] = {0};
    assert_int_equal(
        twin_gitfmt_entry_stored_write(GIT_OBJECT_BLOB, 0, big, sizeof(big), refuse_third, &calls),
        42);
    assert_int_equal(calls, 3);
}

/* Streams that do not hold exactly their stated size, or fail their adler32, are refused, each
 * fault named; stored or deflated, with a decompressor of the caller's or not. */
static void inflate_exact_names_each_fault(void **state)
{
    (void)state;
    unsigned char data[3000], out[3002], z[4096];
    for (size_t i = 0; i < sizeof(data); i++)
        data[i] = (unsigned char)(i % 13);
    uLongf dlen = sizeof(z);
    assert_int_equal(compress2(z, &dlen, data, sizeof(data), 9), Z_OK);
    struct collected c = {.p = malloc(4096), .cap = 4096};
    assert_non_null(c.p);
    assert_int_equal(
        twin_gitfmt_entry_stored_write(GIT_OBJECT_BLOB, 0, data, sizeof(data), collect, &c), 0);
    size_t h = c.len - twin_gitfmt_stored_len(sizeof(data));
    const unsigned char *st = c.p + h;
    size_t slen = c.len - h;
    struct libdeflate_decompressor *d = NULL;

    assert_int_equal(twin_gitfmt_inflate_exact(&d, out, sizeof(data), z, dlen), 0);
    assert_non_null(d); /* made on first use, kept */
    assert_memory_equal(out, data, sizeof(data));
    assert_int_equal(twin_gitfmt_inflate_exact(&d, out, sizeof(data), st, slen), 0);
    assert_memory_equal(out, data, sizeof(data));

    /* Its size one more than the stream holds; one less. */
    assert_int_equal(twin_gitfmt_inflate_exact(&d, out, sizeof(data) + 1, z, dlen),
                     TWIN_GITFMT_INFLATE_SHORT);
    assert_int_equal(twin_gitfmt_inflate_exact(&d, out, sizeof(data) + 1, st, slen),
                     TWIN_GITFMT_INFLATE_SHORT);
    assert_int_equal(twin_gitfmt_inflate_exact(&d, out, sizeof(data) - 1, z, dlen),
                     TWIN_GITFMT_INFLATE_LONG);
    assert_int_equal(twin_gitfmt_inflate_exact(NULL, out, sizeof(data) - 1, st, slen),
                     TWIN_GITFMT_INFLATE_LONG);

    /* The adler32 flipped; the stream cut short; not zlib at all. */
    unsigned char bad[4096];
    memcpy(bad, st, slen);
    bad[slen - 1] ^= 1;
    assert_int_equal(twin_gitfmt_inflate_exact(&d, out, sizeof(data), bad, slen),
                     TWIN_GITFMT_INFLATE_SUM);
    memcpy(bad, z, dlen);
    bad[dlen - 1] ^= 1;
    assert_int_equal(twin_gitfmt_inflate_exact(&d, out, sizeof(data), bad, dlen),
                     TWIN_GITFMT_INFLATE_DAMAGED);
    /* (Cut short, a stream is read as if zeros followed: what that makes, libdeflate says.) */
    assert_int_not_equal(twin_gitfmt_inflate_exact(&d, out, sizeof(data), z, dlen - 3), 0);
    assert_int_not_equal(twin_gitfmt_inflate_exact(&d, out, sizeof(data), st, slen - 1), 0);
    memset(bad, 0x55, sizeof(bad));
    assert_int_equal(twin_gitfmt_inflate_exact(NULL, out, sizeof(data), bad, sizeof(bad)),
                     TWIN_GITFMT_INFLATE_DAMAGED);
    libdeflate_free_decompressor(d);
    free(c.p);
}

/* ---- pack indexes --------------------------------------------------------------------------- */

#define IDX_OBJECTS 300

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* IDX_OBJECTS objects of made-up ids (several to a first byte), 100 bytes apart from offset 12;
 * with large, the last two 2 GiB and more in (in a pack of *pack_len bytes). */
static void idx_objects(struct twin_gitfmt_idx_entry *objs, uint64_t *pack_len, bool large)
{
    uint32_t seed = 12345;
    for (size_t i = 0; i < IDX_OBJECTS; i++) {
        for (int b = 0; b < 20; b++) {
            seed = seed * 1103515245u + 12345u;
            objs[i].id[b] = (unsigned char)(seed >> 16);
        }
        objs[i].offset = 12 + 100 * (uint64_t)i;
        objs[i].crc = 0x01020304u * (uint32_t)i;
    }
    *pack_len = 12 + 100 * (uint64_t)IDX_OBJECTS + 20;
    if (large) {
        objs[IDX_OBJECTS - 2].offset = ((uint64_t)1 << 31) + 7;
        objs[IDX_OBJECTS - 1].offset = ((uint64_t)5 << 32) + 9;
        *pack_len = ((uint64_t)5 << 32) + 100;
    }
}

/* The index of idx_objects, built by the codec: *objs sorted by id as it is. */
static unsigned char *idx_made(size_t *len, struct twin_gitfmt_idx_entry *objs, uint64_t *pack_len,
                               bool large)
{
    unsigned char sum[20], *idx = NULL;
    memset(sum, 0xab, sizeof(sum));
    idx_objects(objs, pack_len, large);
    assert_int_equal(twin_gitfmt_idx_build(&idx, len, objs, IDX_OBJECTS, sum), 0);
    return idx;
}

static void indexes_read_back_as_built(void **state)
{
    (void)state;
    for (int large = 0; large <= 1; large++) {
        struct twin_gitfmt_idx_entry objs[IDX_OBJECTS];
        uint64_t pack_len;
        size_t len;
        unsigned char *idx = idx_made(&len, objs, &pack_len, large);
        assert_int_equal(len, 1032 + 28 * IDX_OBJECTS + (large ? 16 : 0) + 40);
        struct twin_gitfmt_idx x;
        char why[TWIN_GITFMT_IDX_WHY] = "";
        assert_int_equal(twin_gitfmt_idx_parse(&x, idx, len, why, sizeof(why)), 0);
        assert_string_equal(why, "");
        assert_int_equal(x.version, 2);
        assert_int_equal(x.count, IDX_OBJECTS);
        assert_int_equal(x.nlarge, large ? 2 : 0);
        assert_true(twin_gitfmt_idx_sum_ok(&x));
        unsigned char sum[20];
        memset(sum, 0xab, sizeof(sum));
        assert_memory_equal(x.pack_sum, sum, 20);
        assert_int_equal(twin_gitfmt_idx_check(&x, pack_len, why, sizeof(why)), 0);
        for (uint32_t i = 0; i < IDX_OBJECTS; i++) {
            uint32_t pos = UINT32_MAX;
            uint64_t off = 0;
            assert_int_equal(twin_gitfmt_idx_find(&pos, &x, objs[i].id), 1);
            assert_int_equal(pos, i); /* the encoder sorted objs */
            assert_memory_equal(twin_gitfmt_idx_id(&x, pos), objs[i].id, 20);
            assert_int_equal(twin_gitfmt_idx_offset(&off, &x, pos, pack_len, NULL, 0), 0);
            assert_int_equal(off, objs[i].offset);
            assert_int_equal(twin_gitfmt_idx_crc(&x, pos), objs[i].crc);
        }
        /* Ids it does not hold: before, between and after its own. */
        unsigned char absent[20];
        uint32_t pos;
        memset(absent, 0, 20);
        assert_int_equal(twin_gitfmt_idx_find(&pos, &x, absent), 0);
        memset(absent, 0xff, 20);
        assert_int_equal(twin_gitfmt_idx_find(&pos, &x, absent), 0);
        memcpy(absent, objs[100].id, 20);
        absent[19] ^= 1;
        assert_int_equal(twin_gitfmt_idx_find(&pos, &x, absent), 0);
        free(idx);
    }
    /* No objects: a fan-out of zeros and the trailer. */
    unsigned char *idx = NULL, sum[20] = {0};
    size_t len;
    struct twin_gitfmt_idx x;
    struct twin_gitfmt_idx_entry none[1];
    assert_int_equal(twin_gitfmt_idx_build(&idx, &len, none, 0, sum), 0);
    assert_int_equal(len, 1032 + 40);
    assert_int_equal(twin_gitfmt_idx_parse(&x, idx, len, NULL, 0), 0);
    assert_int_equal(x.count, 0);
    assert_int_equal(twin_gitfmt_idx_check(&x, 32, NULL, 0), 0);
    free(idx);
}

/* A version-1 index, as git wrote before version 2: read, with offsets and without CRCs. */
static void version_1_indexes_read(void **state)
{
    (void)state;
    struct twin_gitfmt_idx_entry objs[IDX_OBJECTS];
    uint64_t pack_len;
    size_t len;
    unsigned char *v2 = idx_made(&len, objs, &pack_len, false);
    size_t v1_len = 1024 + 24 * IDX_OBJECTS + 40;
    unsigned char *v1 = malloc(v1_len);
    assert_non_null(v1);
    memcpy(v1, v2 + 8, 1024);
    for (size_t i = 0; i < IDX_OBJECTS; i++) {
        put_be32(v1 + 1024 + 24 * i, (uint32_t)objs[i].offset);
        memcpy(v1 + 1024 + 24 * i + 4, objs[i].id, 20);
    }
    memset(v1 + v1_len - 40, 0, 40);
    struct twin_gitfmt_idx x;
    assert_int_equal(twin_gitfmt_idx_parse(&x, v1, v1_len, NULL, 0), 0);
    assert_int_equal(x.version, 1);
    assert_int_equal(x.count, IDX_OBJECTS);
    assert_int_equal(twin_gitfmt_idx_check(&x, pack_len, NULL, 0), 0);
    for (uint32_t i = 0; i < IDX_OBJECTS; i += 7) {
        uint32_t pos;
        uint64_t off;
        assert_int_equal(twin_gitfmt_idx_find(&pos, &x, objs[i].id), 1);
        assert_int_equal(pos, i);
        assert_int_equal(twin_gitfmt_idx_offset(&off, &x, pos, pack_len, NULL, 0), 0);
        assert_int_equal(off, objs[i].offset);
        assert_int_equal(twin_gitfmt_idx_crc(&x, pos), 0);
    }
    assert_int_equal(twin_gitfmt_idx_parse(&x, v1, v1_len - 1, NULL, 0), TWIN_GITFMT_IDX_SIZE);
    free(v1);
    free(v2);
}

/* The parse of idx (len bytes) gives fault, and says why. */
static void parse_refuses(const unsigned char *idx, size_t len, int fault, const char *why_text)
{
    struct twin_gitfmt_idx x;
    char why[TWIN_GITFMT_IDX_WHY] = "";
    assert_int_equal(twin_gitfmt_idx_parse(&x, idx, len, why, sizeof(why)), fault);
    assert_string_equal(why, why_text);
}

/* The parse of idx takes it, and the check of its entries gives fault at entry, saying why. */
static void check_refuses(const unsigned char *idx, size_t len, uint64_t pack_len, int fault,
                          uint32_t entry, const char *why_text)
{
    struct twin_gitfmt_idx x;
    char why[TWIN_GITFMT_IDX_WHY] = "";
    assert_int_equal(twin_gitfmt_idx_parse(&x, idx, len, NULL, 0), 0);
    assert_int_equal(twin_gitfmt_idx_check(&x, pack_len, why, sizeof(why)), fault);
    assert_string_equal(why, why_text);
    /* The entries before it pass one at a time; it does not. */
    for (uint32_t i = 0; i < entry; i++) {
        uint64_t off;
        assert_int_equal(twin_gitfmt_idx_entry_check(&x, i, NULL, 0), 0);
        assert_int_equal(twin_gitfmt_idx_offset(&off, &x, i, pack_len, NULL, 0), 0);
    }
    uint64_t off;
    int at = twin_gitfmt_idx_entry_check(&x, entry, NULL, 0);
    if (!at)
        at = twin_gitfmt_idx_offset(&off, &x, entry, pack_len, NULL, 0);
    assert_int_equal(at, fault);
}

static void hostile_indexes_are_refused_with_the_fault_named(void **state)
{
    (void)state;
    struct twin_gitfmt_idx_entry objs[IDX_OBJECTS];
    uint64_t pack_len;
    size_t len;
    unsigned char *good = idx_made(&len, objs, &pack_len, true), *idx = malloc(len + 16);
    assert_non_null(idx);
    const size_t ids = 1032, offs = ids + 24 * IDX_OBJECTS, large = ids + 28 * IDX_OBJECTS;
    char text[TWIN_GITFMT_IDX_WHY];
    struct twin_gitfmt_idx x;

    /* Another version after the magic; and no magic at all, read as version 1, whose fan-out the
     * magic then begins, and falls. */
    memcpy(idx, good, len);
    idx[7] = 3;
    parse_refuses(idx, len, TWIN_GITFMT_IDX_VERSION,
                  "is an index of version 3; git knows versions 1 and 2");
    memcpy(idx, good, len);
    idx[3] = 'd';
    assert_int_not_equal(twin_gitfmt_idx_parse(&x, idx, len, NULL, 0), 0);
    assert_int_equal(x.version, 1);

    /* Too short for a fan-out and the trailer. */
    parse_refuses(good, 1071, TWIN_GITFMT_IDX_SHORT,
                  "is too short to be a pack index (1071 bytes)");
    parse_refuses(good, 7, TWIN_GITFMT_IDX_SHORT, "is too short to be a pack index (7 bytes)");

    /* A fan-out that falls. */
    memcpy(idx, good, len);
    put_be32(idx + 8 + 4 * 40, IDX_OBJECTS);
    snprintf(text, sizeof(text), "its fan-out falls at entry 41 (%u after %u)",
             (unsigned)(idx[8 + 4 * 41 + 2] << 8 | idx[8 + 4 * 41 + 3]), IDX_OBJECTS);
    parse_refuses(idx, len, TWIN_GITFMT_IDX_FANOUT, text);

    /* Sizes that do not fit the objects: a byte short, a byte over, an 8-byte offset cut short,
     * and more 8-byte offsets than objects after the first. */
    snprintf(text, sizeof(text), "its size (%zu bytes) does not fit its %u objects", len - 1,
             IDX_OBJECTS);
    parse_refuses(good, len - 1, TWIN_GITFMT_IDX_SIZE, text);
    memcpy(idx, good, len);
    idx[len] = 0;
    snprintf(text, sizeof(text), "its size (%zu bytes) does not fit its %u objects", len + 1,
             IDX_OBJECTS);
    parse_refuses(idx, len + 1, TWIN_GITFMT_IDX_SIZE, text);
    unsigned char *small = NULL, sum[20] = {0};
    size_t small_len;
    struct twin_gitfmt_idx_entry one = {.id = {1}, .offset = 12};
    assert_int_equal(twin_gitfmt_idx_build(&small, &small_len, &one, 1, sum), 0);
    unsigned char *padded = calloc(1, small_len + 8);
    assert_non_null(padded);
    memcpy(padded, small, small_len - 40);
    snprintf(text, sizeof(text), "its size (%zu bytes) does not fit its 1 objects", small_len + 8);
    parse_refuses(padded, small_len + 8, TWIN_GITFMT_IDX_SIZE, text);
    free(padded);
    free(small);

    /* Ids out of order: two of one bucket swapped; one twice. */
    uint32_t k = 0;
    while (good[ids + 20 * k] != good[ids + 20 * (k + 1)])
        k++;
    assert_true(k + 1 < IDX_OBJECTS);
    snprintf(text, sizeof(text),
             "entry %u is not after the one before it: the ids are out of order", k + 1);
    memcpy(idx, good, len);
    memcpy(idx + ids + 20 * k, good + ids + 20 * (k + 1), 20);
    memcpy(idx + ids + 20 * (k + 1), good + ids + 20 * k, 20);
    check_refuses(idx, len, pack_len, TWIN_GITFMT_IDX_ORDER, k + 1, text);
    memcpy(idx, good, len);
    memcpy(idx + ids + 20 * (k + 1), good + ids + 20 * k, 20);
    check_refuses(idx, len, pack_len, TWIN_GITFMT_IDX_ORDER, k + 1, text);
    assert_int_equal(twin_gitfmt_idx_parse(&x, idx, len, NULL, 0), 0);
    assert_false(twin_gitfmt_idx_sum_ok(&x));

    /* An id in order, but past its fan-out bucket: its first byte one more, less than the next
     * id's. */
    uint32_t b = 0;
    while (good[ids + 20 * (b + 1)] <= good[ids + 20 * b] + 1)
        b++;
    assert_true(b + 1 < IDX_OBJECTS);
    memcpy(idx, good, len);
    idx[ids + 20 * b]++;
    snprintf(text, sizeof(text), "entry %u lies outside the fan-out bucket of its first byte", b);
    check_refuses(idx, len, pack_len, TWIN_GITFMT_IDX_BUCKET, b, text);

    /* Offsets in the pack's header, in its trailer, past its end (an index without 8-byte
     * offsets, of a pack of plain_len bytes). */
    struct twin_gitfmt_idx_entry plain_objs[IDX_OBJECTS];
    uint64_t plain_len;
    size_t plain_idx_len;
    unsigned char *plain = idx_made(&plain_idx_len, plain_objs, &plain_len, false);
    const uint32_t outside[] = {
        0, 11, (uint32_t)plain_len - 20, (uint32_t)plain_len - 1, (uint32_t)plain_len, 0x7fffffff};
    for (size_t o = 0; o < sizeof(outside) / sizeof(*outside); o++) {
        memcpy(idx, plain, plain_idx_len);
        put_be32(idx + offs + 4 * 5, outside[o]);
        check_refuses(idx, plain_idx_len, plain_len, TWIN_GITFMT_IDX_OUTSIDE, 5,
                      "entry 5 points outside the pack's objects");
        uint64_t off = 0;
        assert_int_equal(twin_gitfmt_idx_parse(&x, idx, plain_idx_len, NULL, 0), 0);
        twin_gitfmt_idx_offset(&off, &x, 5, plain_len, NULL, 0);
        assert_int_equal(off, outside[o]);
    }
    free(plain);

    /* 8-byte offsets: one the table does not hold, and one past the pack. */
    uint32_t first_large = 0;
    while (!(good[offs + 4 * first_large] & 0x80))
        first_large++;
    memcpy(idx, good, len);
    put_be32(idx + offs + 4 * first_large, 0x80000002u);
    snprintf(text, sizeof(text), "entry %u names a large offset the index does not hold",
             first_large);
    check_refuses(idx, len, pack_len, TWIN_GITFMT_IDX_NO_LARGE, first_large, text);
    memcpy(idx, good, len);
    put_be32(idx + large + 8 * 1, 7); /* the second: 7 << 32 and more */
    assert_int_equal(twin_gitfmt_idx_parse(&x, idx, len, NULL, 0), 0);
    assert_int_not_equal(twin_gitfmt_idx_check(&x, pack_len, NULL, 0), 0);
    /* The same bytes, in a pack large enough, are whole. */
    assert_int_equal(twin_gitfmt_idx_check(&x, (uint64_t)8 << 32, NULL, 0), 0);

    /* A pack too short for any object: every offset lies outside it. */
    assert_int_equal(twin_gitfmt_idx_parse(&x, good, len, NULL, 0), 0);
    assert_int_equal(twin_gitfmt_idx_check(&x, 31, NULL, 0), TWIN_GITFMT_IDX_OUTSIDE);
    free(idx);
    free(good);
}

/* ---- a pack written with the codec, read by libgit2 ------------------------------------------ */

struct packbuf {
    unsigned char b[1 << 16];
    size_t len;
};

static size_t add_entry(struct packbuf *p, int type, const void *data, size_t len,
                        uint64_t distance, const git_oid *base)
{
    size_t at = p->len;
    p->len += twin_gitfmt_entry_header_put(p->b + p->len, type, len);
    if (type == TWIN_GITFMT_OFS_DELTA)
        p->len += twin_gitfmt_ofs_put(p->b + p->len, distance);
    if (type == TWIN_GITFMT_REF_DELTA) {
        memcpy(p->b + p->len, base->id, 20);
        p->len += 20;
    }
    uLongf z = (uLongf)(sizeof(p->b) - p->len);
    assert_int_equal(compress2(p->b + p->len, &z, data, (uLong)len, 6), Z_OK);
    p->len += z;
    return at;
}

/* A delta of base into "<base> and more", by the codec's instructions. */
static size_t make_delta(unsigned char *d, size_t base_len, const char *more)
{
    size_t n = 0, more_len = strlen(more);
    n += twin_gitfmt_delta_size_put(d + n, base_len);
    n += twin_gitfmt_delta_size_put(d + n, base_len + more_len);
    n += twin_gitfmt_delta_copy_put(d + n, 0, base_len);
    n += twin_gitfmt_delta_insert_put(d + n, (const unsigned char *)more, more_len);
    return n;
}

static void packs_written_with_the_codec_read_in_libgit2(void **state)
{
    struct fixture *f = *state;
    git_repository *repo = repo_in(f);
    const char *base = "The steering group met on Tuesday and agreed the work plan for the year.";
    char whole[200], second[200];
    snprintf(whole, sizeof(whole), "%s and more", base);
    snprintf(second, sizeof(second), "%s and others", base);
    unsigned char delta[200], tree[200];
    git_oid base_id, whole_id, second_id, tree_id;
    twin_sha1_object(base_id.id, "blob", base, strlen(base));
    twin_sha1_object(whole_id.id, "blob", whole, strlen(whole));
    twin_sha1_object(second_id.id, "blob", second, strlen(second));
    size_t tree_len = twin_gitfmt_tree_entry_put(tree, 0100644, "note", 4, base_id.id);
    twin_sha1_object(tree_id.id, "tree", tree, tree_len);

    struct packbuf *p = calloc(1, sizeof(*p));
    assert_non_null(p);
    twin_gitfmt_pack_header_put(p->b, 4);
    p->len = TWIN_GITFMT_PACK_HEADER;
    size_t at_base = add_entry(p, GIT_OBJECT_BLOB, base, strlen(base), 0, NULL);
    add_entry(p, GIT_OBJECT_TREE, tree, tree_len, 0, NULL);
    size_t dlen = make_delta(delta, strlen(base), " and more");
    size_t at_delta = p->len;
    add_entry(p, TWIN_GITFMT_OFS_DELTA, delta, dlen, at_delta - at_base, NULL);
    dlen = make_delta(delta, strlen(base), " and others");
    add_entry(p, TWIN_GITFMT_REF_DELTA, delta, dlen, 0, &base_id);
    twin_sha1_ctx c;
    twin_sha1_init(&c);
    twin_sha1_update(&c, p->b, p->len);
    twin_sha1_final(&c, p->b + p->len);
    p->len += 20;

    /* The codec reads its own entries back, each where the last one's zlib stream ended. */
    int types[] = {GIT_OBJECT_BLOB, GIT_OBJECT_TREE, TWIN_GITFMT_OFS_DELTA, TWIN_GITFMT_REF_DELTA};
    size_t off = TWIN_GITFMT_PACK_HEADER;
    for (int i = 0; i < 4; i++) {
        struct twin_gitfmt_entry e;
        int n = twin_gitfmt_entry_parse(&e, p->b + off, p->len - off);
        assert_true(n > 0);
        assert_int_equal(e.type, types[i]);
        if (i == 2)
            assert_true(e.distance == at_delta - at_base);
        if (i == 3)
            assert_memory_equal(e.base_id, base_id.id, 20);
        unsigned char out[200];
        z_stream z = {0};
        assert_int_equal(inflateInit(&z), Z_OK);
        z.next_in = p->b + off + n;
        z.avail_in = (uInt)(p->len - off - n);
        z.next_out = out;
        z.avail_out = sizeof(out);
        assert_int_equal(inflate(&z, Z_FINISH), Z_STREAM_END);
        assert_true(z.total_out == e.size);
        off += (size_t)n + z.total_in;
        inflateEnd(&z);
    }
    assert_int_equal(off, p->len - 20);

    /* libgit2 indexes the pack and reads every object out of it. */
    char dir[300];
    snprintf(dir, sizeof(dir), "%s/repo.git/objects/pack", f->dir);
    git_odb *odb = NULL;
    git_indexer *ix = NULL;
    git_indexer_progress stats = {0};
    assert_int_equal(git_repository_odb(&odb, repo), 0);
    assert_int_equal(git_indexer_new(&ix, dir, 0, odb, NULL), 0);
    assert_int_equal(git_indexer_append(ix, p->b, p->len, &stats), 0);
    assert_int_equal(git_indexer_commit(ix, &stats), 0);
    assert_int_equal(stats.indexed_objects, 4);
    git_indexer_free(ix);
    assert_int_equal(git_odb_refresh(odb), 0);
    const git_oid *ids[] = {&base_id, &tree_id, &whole_id, &second_id};
    const void *want[] = {base, tree, whole, second};
    size_t want_len[] = {strlen(base), tree_len, strlen(whole), strlen(second)};
    for (int i = 0; i < 4; i++) {
        git_odb_object *o = NULL;
        assert_int_equal(git_odb_read(&o, odb, ids[i]), 0);
        assert_int_equal(git_odb_object_size(o), want_len[i]);
        assert_memory_equal(git_odb_object_data(o), want[i], want_len[i]);
        git_odb_object_free(o);
    }
    git_odb_free(odb);
    git_repository_free(repo);
    free(p);
}

/* ---- deltas --------------------------------------------------------------------------------- */

static void deltas_apply_as_written(void **state)
{
    (void)state;
    unsigned char base[70000], d[64], out[70100];
    for (size_t i = 0; i < sizeof(base); i++)
        base[i] = (unsigned char)(i * 7 + i / 251);
    /* A copy of 0x10000 bytes (its size written as none: 0 means 65536), one at a far offset,
     * and an insert. */
    size_t n = 0;
    n += twin_gitfmt_delta_size_put(d + n, sizeof(base));
    n += twin_gitfmt_delta_size_put(d + n, 0x10000 + 300 + 3);
    size_t copy = twin_gitfmt_delta_copy_put(d + n, 0, 0x10000);
    assert_int_equal(copy, 2); /* opcode and the size's third byte */
    n += copy;
    n += twin_gitfmt_delta_copy_put(d + n, 69000, 300);
    n += twin_gitfmt_delta_insert_put(d + n, (const unsigned char *)"end", 3);
    size_t src, dst, start;
    assert_int_equal(twin_gitfmt_delta_sizes(&src, &dst, &start, d, n), 0);
    assert_int_equal(src, sizeof(base));
    assert_int_equal(dst, 0x10000 + 303);
    assert_int_equal(start, 6); /* 70000 and 65839 take three bytes each */
    assert_true(twin_gitfmt_delta_can_make(dst, src, n - start));
    assert_int_equal(twin_gitfmt_delta_apply(out, dst, base, src, d, n, start), 0);
    assert_memory_equal(out, base, 0x10000);
    assert_memory_equal(out + 0x10000, base + 69000, 300);
    assert_memory_equal(out + 0x10000 + 300, "end", 3);

    /* Each way a delta can be broken. */
    assert_int_equal(twin_gitfmt_delta_apply(out, dst - 1, base, src, d, n, start), -1);
    assert_int_equal(twin_gitfmt_delta_apply(out, dst + 1, base, src, d, n, start), -1);
    assert_int_equal(twin_gitfmt_delta_apply(out, dst, base, 69299, d, n, start), -1);
    assert_int_equal(twin_gitfmt_delta_apply(out, dst, base, src, d, n - 1, start), -1);
    unsigned char zero[] = {0};
    assert_int_equal(twin_gitfmt_delta_apply(out, 1, base, src, zero, 1, 0), -1);
    unsigned char cut[] = {0x91, 0x05}; /* a copy whose size byte is missing */
    assert_int_equal(twin_gitfmt_delta_apply(out, 1, base, src, cut, 2, 0), -1);
    unsigned char long_size[11];
    memset(long_size, 0x80, sizeof(long_size));
    assert_int_equal(twin_gitfmt_delta_sizes(&src, &dst, &start, long_size, sizeof(long_size)), -1);
    assert_int_equal(twin_gitfmt_delta_sizes(&src, &dst, &start, d, 2), -1); /* cut short */
    assert_false(twin_gitfmt_delta_can_make(1, 100, 0));
}

/* ---- commits -------------------------------------------------------------------------------- */

static void commits_are_the_bytes_libgit2_makes(void **state)
{
    struct fixture *f = *state;
    git_repository *repo = repo_in(f);
    git_treebuilder *tb = NULL;
    git_oid tree_id, parent_ids[2];
    git_tree *tree = NULL;
    assert_int_equal(git_treebuilder_new(&tb, repo, NULL), 0);
    git_oid b = blob(repo, "record\n");
    assert_int_equal(git_treebuilder_insert(NULL, tb, "r.json", &b, GIT_FILEMODE_BLOB), 0);
    assert_int_equal(git_treebuilder_write(&tree_id, tb), 0);
    git_treebuilder_free(tb);
    assert_int_equal(git_tree_lookup(&tree, repo, &tree_id), 0);
    git_signature *who = NULL;
    assert_int_equal(
        git_signature_new(&who, "Water Authority (South)", "XE-EXAMPLE-SWA", 1700000000, 0), 0);
    const git_commit *parents[2] = {NULL, NULL};
    git_commit *owned[2] = {NULL, NULL};
    const char *sig = "-----BEGIN SSH SIGNATURE-----\nU1NIU0lHAAAAAQ\nAAAA==\n"
                      "-----END SSH SIGNATURE-----";
    for (size_t np = 0; np <= 2; np++) {
        const char *message = np == 2 ? "merge\n\nboth sides\n" : "add note\n";
        git_buf buf = GIT_BUF_INIT;
        assert_int_equal(
            git_commit_create_buffer(&buf, repo, who, who, NULL, message, tree, np, parents), 0);
        char *text = NULL, *signed_text = NULL;
        size_t len, signed_len;
        assert_int_equal(twin_gitfmt_commit_text(&text, &len, &tree_id, parent_ids, np,
                                                 "Water Authority (South)", "XE-EXAMPLE-SWA",
                                                 1700000000, message),
                         0);
        assert_int_equal(len, buf.size);
        assert_memory_equal(text, buf.ptr, len);
        assert_int_equal(text[len], '\0');
        /* Signed: the commit libgit2 writes, byte for byte. */
        git_oid by_libgit2, by_codec;
        assert_int_equal(
            git_commit_create_with_signature(&by_libgit2, repo, buf.ptr, sig, "gpgsig"), 0);
        assert_int_equal(
            twin_gitfmt_commit_sign(&signed_text, &signed_len, text, len, sig, strlen(sig)), 0);
        assert_int_equal(signed_text[signed_len], '\0');
        assert_int_equal(git_odb_hash(&by_codec, signed_text, signed_len, GIT_OBJECT_COMMIT), 0);
        assert_true(git_oid_equal(&by_codec, &by_libgit2));
        assert_non_null(strstr(signed_text, "\ngpgsig -----BEGIN SSH SIGNATURE-----\n U1NI"));
        /* The next commit has this one for a parent. */
        if (np < 2) {
            parent_ids[np] = by_libgit2;
            assert_int_equal(git_commit_lookup(&owned[np], repo, &by_libgit2), 0);
            parents[np] = owned[np];
        }
        free(text);
        free(signed_text);
        git_buf_dispose(&buf);
    }
    /* Text with no header is not a commit to sign. */
    char *out = NULL;
    size_t out_len;
    assert_error(twin_gitfmt_commit_sign(&out, &out_len, "tree x\n", 7, sig, strlen(sig)),
                 TWIN_EINVALID, "no header");
    assert_null(out);
    /* A time before the epoch is written as libgit2 writes it. */
    char *text = NULL;
    size_t len;
    assert_int_equal(twin_gitfmt_commit_text(&text, &len, &tree_id, NULL, 0, "N", "E", -5, ""), 0);
    assert_non_null(strstr(text, "\nauthor N <E> -5 +0000\ncommitter N <E> -5 +0000\n\n"));
    free(text);
    git_commit_free(owned[0]);
    git_commit_free(owned[1]);
    git_signature_free(who);
    git_tree_free(tree);
    git_repository_free(repo);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tree_order_places_directories_as_names_ending_in_slash),
        cmocka_unit_test_setup_teardown(tree_order_is_the_order_of_gits_trees, setup, teardown),
        cmocka_unit_test_setup_teardown(tree_entries_read_in_libgit2_as_written, setup, teardown),
        cmocka_unit_test(pack_headers_read_back),
        cmocka_unit_test(entry_headers_read_back),
        cmocka_unit_test(entry_headers_are_gits_bytes),
        cmocka_unit_test(stored_entries_are_zlibs_level_0_and_read_back),
        cmocka_unit_test(inflate_exact_names_each_fault),
        cmocka_unit_test(indexes_read_back_as_built),
        cmocka_unit_test(version_1_indexes_read),
        cmocka_unit_test(hostile_indexes_are_refused_with_the_fault_named),
        cmocka_unit_test_setup_teardown(packs_written_with_the_codec_read_in_libgit2, setup,
                                        teardown),
        cmocka_unit_test(deltas_apply_as_written),
        cmocka_unit_test_setup_teardown(commits_are_the_bytes_libgit2_makes, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
