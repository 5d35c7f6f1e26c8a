/* The git format codec (src/git/gitfmt.c) against git and libgit2: tree order as git sorts trees,
 * tree entries as libgit2 reads them, pack and entry headers in packs libgit2 indexes and reads,
 * deltas it resolves, and commits byte for byte as libgit2 makes them. Every encoder is read back
 * by the decoder, and every refusal of the decoders is met. */
#define _XOPEN_SOURCE 700 /* nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <git2.h>
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
        cmocka_unit_test_setup_teardown(packs_written_with_the_codec_read_in_libgit2, setup,
                                        teardown),
        cmocka_unit_test(deltas_apply_as_written),
        cmocka_unit_test_setup_teardown(commits_are_the_bytes_libgit2_makes, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
