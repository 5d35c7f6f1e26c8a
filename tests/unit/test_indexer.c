#define _XOPEN_SOURCE 700
/* twin's indexer of received packs: the same index as libgit2's and git's for the same pack, fed
 * in pieces of any size, and a clear refusal of every kind of bad pack. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <dirent.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "git/indexer.h"
#include "base/sha1.h"
#include "twin/error.h"
#include "twin/network.h"
#include "twin/ops.h"
#include "twin/record.h"
#include "twin/store.h"
#include "git/packbuild.h"
#include "twin/global.h"

struct fixture {
    char dir[256];
    twin_node *node;
};

struct bytes {
    unsigned char *p;
    size_t len, cap;
};

static int rm_entry(const char *p, const struct stat *s, int f, struct FTW *w)
{
    return remove(p);
}

static int titled(json_t *rec, void *ctx)
{
    return twin_record_set_path(rec, "title", ctx);
}

static int bodied(json_t *rec, void *ctx)
{
    return twin_record_set_path(rec, "body", ctx);
}

static int setup(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    char path[300];
    assert_non_null(f);
    assert_int_equal(twin_global_init(false), 0);
    snprintf(f->dir, sizeof(f->dir), "%s/twin-indexer-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    assert_non_null(mkdtemp(f->dir));
    struct twin_identity north = {"North Ministry", "XE-EXAMPLE-NORTH", "NL", "north", NULL};
    snprintf(path, sizeof(path), "%s/north", f->dir);
    assert_int_equal(twin_network_create(&f->node, path, &north, "Indexer test"), 0);
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;
    twin_node_free(f->node);
    nftw(f->dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    twin_global_shutdown();
    return 0;
}

static void put(struct bytes *b, const void *p, size_t n)
{
    if (b->len + n > b->cap) {
        b->cap = (b->len + n) * 2;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->len, p, n);
    b->len += n;
}

static int to_bytes(const void *data, size_t len, void *ctx)
{
    put(ctx, data, len);
    return 0;
}

static void read_file(struct bytes *b, const char *path)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    unsigned char buf[65536];
    size_t n;
    while ((n = fread(buf, 1, sizeof(buf), fp)) > 0)
        put(b, buf, n);
    fclose(fp);
}

/* A history with many versions of a few records, and the pack twin sends of it. */
static void history_pack(struct fixture *f, struct bytes *pack)
{
    char id[TWIN_ID_LEN + 1], body[300];
    git_oid c, head;
    assert_int_equal(twin_ops_add(id, &c, f->node, "note", titled, "Work plan"), 0);
    for (int i = 0; i < 80; i++) {
        char other[TWIN_ID_LEN + 1];
        snprintf(body, sizeof(body), "Revision %d: the steering group agreed %d next steps.", i,
                 80 - i);
        assert_int_equal(twin_ops_update(&c, f->node, id, "set", bodied, body), 0);
        if (i % 8 == 0)
            assert_int_equal(twin_ops_add(other, &c, f->node, "note", titled, "Aside"), 0);
    }
    assert_int_equal(twin_node_head(&head, f->node), 0);
    size_t commits = 0;
    assert_int_equal(
        twin_packbuild_stream(&commits, twin_node_repo(f->node), &head, 1, NULL, 0, to_bytes, pack),
        0);
}

/* Feeds pack to ix in pieces of step bytes (0: pieces of varying size). */
static int feed(twin_indexer *ix, const struct bytes *pack, size_t step)
{
    int rc = 0;
    size_t at = 0, k = 0;
    while (rc == 0 && at < pack->len) {
        size_t n = step ? step : 1 + (k * 7919) % 9000;
        k++;
        if (n > pack->len - at)
            n = pack->len - at;
        rc = twin_indexer_append(ix, pack->p + at, n);
        at += n;
    }
    return rc;
}

/* Indexes pack with twin's indexer, fed in pieces of step bytes (0: pieces of varying size), into
 * dir; the index's bytes go to idx. The same pack indexed in memory gives the same: the same
 * error, or the same name and index. Returns the indexer's result. */
static int twin_index(struct bytes *idx, const struct bytes *pack, const char *dir, size_t step)
{
    twin_indexer *ix = NULL;
    char name[41], path[600], error[600] = "";
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(twin_indexer_new(&ix, dir), 0);
    int rc = feed(ix, pack, step);
    if (rc == 0)
        rc = twin_indexer_finish(ix, name);
    twin_indexer_free(ix);
    if (rc)
        snprintf(error, sizeof(error), "%s", twin_error_last());

    twin_indexer *mx = NULL;
    char mem_name[41];
    unsigned char *mem_idx = NULL;
    size_t mem_idx_len = 0;
    assert_int_equal(twin_indexer_new_mem(&mx), 0);
    int mem_rc = feed(mx, pack, step);
    if (mem_rc == 0)
        mem_rc = twin_indexer_finish_mem(mx, mem_name, &mem_idx, &mem_idx_len);
    twin_indexer_free(mx);
    assert_int_equal(mem_rc, rc);
    if (rc) {
        assert_string_equal(twin_error_last(), error);
        assert_null(mem_idx);
    } else {
        assert_string_equal(mem_name, name);
    }

    if (rc == 0) {
        snprintf(path, sizeof(path), "%s/pack-%s.idx", dir, name);
        read_file(idx, path);
        assert_int_equal(mem_idx_len, idx->len);
        assert_memory_equal(mem_idx, idx->p, idx->len);
        free(mem_idx);
        snprintf(path, sizeof(path), "%s/pack-%s.pack", dir, name);
        struct bytes copy = {0};
        read_file(&copy, path);
        assert_int_equal(copy.len, pack->len);
        assert_memory_equal(copy.p, pack->p, pack->len);
        free(copy.p);
    }
    return rc;
}

/* The same pack indexed by libgit2's indexer. */
static void libgit2_index(struct bytes *idx, const struct bytes *pack, const char *dir)
{
    git_indexer *ix = NULL;
    git_indexer_options opts = GIT_INDEXER_OPTIONS_INIT;
    git_indexer_progress progress;
    char path[600];
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(git_indexer_new(&ix, dir, 0, NULL, &opts), 0);
    assert_int_equal(git_indexer_append(ix, pack->p, pack->len, &progress), 0);
    assert_int_equal(git_indexer_commit(ix, &progress), 0);
    snprintf(path, sizeof(path), "%s/pack-%s.idx", dir, git_indexer_name(ix));
    read_file(idx, path);
    git_indexer_free(ix);
}

/* The number of entries of dir (. and .. aside). */
static size_t entries_in(const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    size_t n = 0;
    assert_non_null(d);
    while ((e = readdir(d)))
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(d);
    return n;
}

/* The same pack through twin's indexer with libgit2's engine (twin_indexer_new_libgit2), fed the
 * same way, into dir: its result. On success the pack must be named as twin names it (the hex of
 * its checksum) and written as it came, and its index's bytes go to idx; on a refusal nothing is
 * left in dir. */
static int libgit2_engine_index(struct bytes *idx, const struct bytes *pack, const char *dir,
                                size_t step)
{
    twin_indexer *ix = NULL;
    char name[41], want[41] = "", path[600];
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(twin_indexer_new_libgit2(&ix, dir), 0);
    int rc = feed(ix, pack, step);
    if (rc == 0)
        rc = twin_indexer_finish(ix, name);
    twin_indexer_free(ix);
    if (rc) {
        assert_int_equal(entries_in(dir), 0);
        return rc;
    }
    for (int i = 0; i < 20 && pack->len >= 20; i++)
        snprintf(want + 2 * i, 3, "%02x", pack->p[pack->len - 20 + i]);
    assert_string_equal(name, want);
    snprintf(path, sizeof(path), "%s/pack-%s.idx", dir, name);
    read_file(idx, path);
    struct bytes copy = {0};
    snprintf(path, sizeof(path), "%s/pack-%s.pack", dir, name);
    read_file(&copy, path);
    assert_int_equal(copy.len, pack->len);
    assert_memory_equal(copy.p, pack->p, pack->len);
    free(copy.p);
    return 0;
}

static void twin_packs_index_as_libgit2_indexes_them(void **state)
{
    struct fixture *f = *state;
    struct bytes pack = {0}, want = {0};
    char dir[400];
    history_pack(f, &pack);
    snprintf(dir, sizeof(dir), "%s/libgit2", f->dir);
    libgit2_index(&want, &pack, dir);
    size_t steps[] = {0, 1, 13, 65536, SIZE_MAX / 2};
    for (size_t i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
        struct bytes got = {0};
        snprintf(dir, sizeof(dir), "%s/twin-%zu", f->dir, i);
        assert_int_equal(
            twin_index(&got, &pack, dir, steps[i] == SIZE_MAX / 2 ? pack.len : steps[i]), 0);
        assert_int_equal(got.len, want.len);
        assert_memory_equal(got.p, want.p, want.len);
        free(got.p);
        /* The libgit2 engine behind twin's interface: the same name and the same files. */
        got = (struct bytes){0};
        snprintf(dir, sizeof(dir), "%s/engine-%zu", f->dir, i);
        if (libgit2_engine_index(&got, &pack, dir, steps[i] == SIZE_MAX / 2 ? pack.len : steps[i]))
            fail_msg("libgit2's engine: %s", twin_error_last());
        assert_int_equal(got.len, want.len);
        assert_memory_equal(got.p, want.p, want.len);
        free(got.p);
    }
    free(pack.p);
    free(want.p);
}

/* Packs git writes: compressed, with REF_DELTA bases (git's default) or OFS_DELTA ones. */
static void git_packs_index_as_git_indexes_them(void **state)
{
    struct fixture *f = *state;
    char cmd[3000], dir[400], path[600];
    if (system("command -v git >/dev/null 2>&1") != 0)
        skip();
    snprintf(
        cmd, sizeof(cmd),
        "cd '%s' && git init -q plain && cd plain && for i in $(seq 1 40); do "
        "seq 1 $((200 + i)) > list.txt && seq $i 300 > other.txt && git add -A && "
        "git -c user.name=Plain -c user.email=plain@example.org commit -qm \"$i\"; done && "
        "git rev-list --objects --all | git pack-objects -q --window=10 --stdout > ../ref.pack "
        "&& git rev-list --objects --all | git pack-objects -q --delta-base-offset --stdout "
        "> ../ofs.pack && cd .. && git init -q --bare check.git && "
        "git -C check.git index-pack -o \"$PWD/ref.idx\" \"$PWD/ref.pack\" >/dev/null && "
        "git -C check.git index-pack -o \"$PWD/ofs.idx\" \"$PWD/ofs.pack\" >/dev/null && "
        "git verify-pack -v ref.idx | grep -q '^[0-9a-f]\\{40\\} blob .* [0-9a-f]\\{40\\}$'",
        f->dir);
    assert_int_equal(system(cmd), 0);
    const char *kinds[] = {"ref", "ofs"};
    for (int k = 0; k < 2; k++) {
        struct bytes pack = {0}, want = {0}, got = {0};
        snprintf(path, sizeof(path), "%s/%s.pack", f->dir, kinds[k]);
        read_file(&pack, path);
        snprintf(path, sizeof(path), "%s/%s.idx", f->dir, kinds[k]);
        read_file(&want, path);
        snprintf(dir, sizeof(dir), "%s/twin-%s", f->dir, kinds[k]);
        assert_int_equal(twin_index(&got, &pack, dir, 0), 0);
        assert_int_equal(got.len, want.len);
        assert_memory_equal(got.p, want.p, want.len);
        free(pack.p);
        free(want.p);
        free(got.p);
    }
}

/* Appends the pack's checksum: the SHA-1 of everything before it. */
static void seal(struct bytes *pack)
{
    twin_sha1_ctx c;
    unsigned char sum[TWIN_SHA1_BYTES];
    twin_sha1_init(&c);
    twin_sha1_update(&c, pack->p, pack->len);
    twin_sha1_final(&c, sum);
    put(pack, sum, sizeof(sum));
}

/* A pack of the given entries (type, content) with a correct header and checksum. */
static void make_pack(struct bytes *pack, int n, const int *types, const char *const *contents)
{
    unsigned char hdr[12] = {'P', 'A', 'C', 'K', 0, 0, 0, 2, 0, 0, 0, (unsigned char)n};
    put(pack, hdr, sizeof(hdr));
    for (int i = 0; i < n; i++) {
        size_t len = strlen(contents[i]);
        unsigned char h[16], z[512];
        size_t k = 0, v = len >> 4;
        h[k++] = (unsigned char)((types[i] << 4) | (len & 15) | (v ? 0x80 : 0));
        for (; v; v >>= 7)
            h[k++] = (unsigned char)((v & 0x7f) | (v >> 7 ? 0x80 : 0));
        uLongf zlen = sizeof(z);
        assert_int_equal(compress2(z, &zlen, (const Bytef *)contents[i], len, 6), Z_OK);
        put(pack, h, k);
        put(pack, z, zlen);
    }
    seal(pack);
}

/* What libgit2's engine does with a pack twin refuses. ENGINE_TAKES_HEAVY: it takes it, after
 * rebuilding hundreds of MB of objects, which the sanitizer builds do not wait for (the outcome
 * is the same; the plain build checks it). */
enum engine { ENGINE_REFUSES, ENGINE_TAKES, ENGINE_TAKES_HEAVY };

#if defined(__SANITIZE_ADDRESS__)
#define SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#ifndef SANITIZED
#define SANITIZED 0
#endif

/* twin's indexer refuses pack with code, naming words. libgit2's engine behind the same interface
 * refuses it with the same code, or (ENGINE_TAKES) takes it: the checks of its own that it lacks
 * (indexer.h). A check made outside the engine (the header, the bounds) gives the same message. */
static void refuses(struct fixture *f, const struct bytes *pack, const char *tag, int code,
                    const char *words, enum engine engine)
{
    char dir[400], own[600];
    struct bytes idx = {0};
    snprintf(dir, sizeof(dir), "%s/bad-%s", f->dir, tag);
    int rc = twin_index(&idx, pack, dir, 0);
    if (rc != code || !strstr(twin_error_last(), words))
        fail_msg("%s: got %d (%s), wanted %d naming '%s'", tag, rc, twin_error_last(), code, words);
    assert_null(idx.p);
    snprintf(own, sizeof(own), "%s", twin_error_last());
    if (engine == ENGINE_TAKES_HEAVY && SANITIZED)
        return;
    snprintf(dir, sizeof(dir), "%s/engine-bad-%s", f->dir, tag);
    rc = libgit2_engine_index(&idx, pack, dir, 0);
    if (engine != ENGINE_REFUSES) {
        if (rc != 0)
            fail_msg("%s: libgit2's engine refused it (%s)", tag, twin_error_last());
        free(idx.p);
        return;
    }
    if (rc != code)
        fail_msg("%s: libgit2's engine gave %d (%s), wanted %d", tag, rc, twin_error_last(), code);
    if (!strstr(twin_error_last(), "libgit2") && strcmp(twin_error_last(), own) != 0)
        fail_msg("%s: outside the engine \"%s\", twin's \"%s\"", tag, twin_error_last(), own);
}

static void bad_packs_are_refused_with_a_reason(void **state)
{
    struct fixture *f = *state;
    struct bytes good = {0}, b = {0};
    history_pack(f, &good);

    put(&b, good.p, good.len - 30);
    refuses(f, &b, "truncated", TWIN_EINVALID, "incomplete", ENGINE_REFUSES);
    b.len = 0;

    put(&b, good.p, good.len);
    b.p[b.len / 2] ^= 0x40;
    refuses(f, &b, "flipped", TWIN_EINVALID, "received pack", ENGINE_REFUSES);
    b.len = 0;

    put(&b, good.p, good.len);
    b.p[b.len - 1] ^= 1;
    refuses(f, &b, "checksum", TWIN_EINVALID, "checksum", ENGINE_REFUSES);
    b.len = 0;

    put(&b, good.p, good.len);
    put(&b, "x", 1);
    refuses(f, &b, "trailing", TWIN_EINVALID, "after its checksum", ENGINE_REFUSES);
    b.len = 0;

    put(&b, "PACK\0\0\0\4\0\0\0\1", 12);
    refuses(f, &b, "version", TWIN_EINVALID, "version 2", ENGINE_REFUSES);
    b.len = 0;

    /* Version 3: git takes it, but libgit2, which reads the store's packs, does not. */
    put(&b, "PACK\0\0\0\3\0\0\0\0", 12);
    seal(&b);
    refuses(f, &b, "version-3", TWIN_EINVALID, "version 2", ENGINE_REFUSES);
    b.len = 0;

    put(&b, "PACK\0\0\0\2\xff\xff\xff\xff", 12);
    refuses(f, &b, "count", TWIN_ELIMIT, "objects", ENGINE_REFUSES);
    b.len = 0;

    /* A blob that states 2^40 bytes: refused at its header, nothing that size allocated. */
    put(&b, "PACK\0\0\0\2\0\0\0\1\xb0\x80\x80\x80\x80\x80\x01", 19);
    refuses(f, &b, "huge", TWIN_EINVALID, "more than", ENGINE_REFUSES);
    b.len = 0;

    int twice_types[] = {GIT_OBJECT_BLOB, GIT_OBJECT_BLOB};
    const char *twice[] = {"the same record\n", "the same record\n"};
    make_pack(&b, 2, twice_types, twice);
    refuses(f, &b, "twice", TWIN_EINVALID, "twice", ENGINE_REFUSES);
    b.len = 0;

    int bad_types[] = {5};
    const char *bad_type[] = {"reserved type\n"};
    make_pack(&b, 1, bad_types, bad_type);
    refuses(f, &b, "type", TWIN_EINVALID, "malformed header", ENGINE_TAKES);
    b.len = 0;

    /* A 5-byte blob whose zlib stream is padded with 20,000 empty stored blocks. */
    put(&b, "PACK\0\0\0\2\0\0\0\1\x35\x78\x01", 15);
    for (int i = 0; i < 20000; i++)
        put(&b, "\0\0\0\xff\xff", 5);
    put(&b, "\x01\x05\0\xfa\xffhello", 10);
    uLong adler = adler32(1, (const Bytef *)"hello", 5);
    unsigned char ad[4] = {(unsigned char)(adler >> 24), (unsigned char)(adler >> 16),
                           (unsigned char)(adler >> 8), (unsigned char)adler};
    put(&b, ad, 4);
    seal(&b);
    refuses(f, &b, "padded", TWIN_EINVALID, "far more than", ENGINE_TAKES);
    b.len = 0;

    /* A REF_DELTA whose base is not in the pack (a thin pack). */
    unsigned char ref[] = "PACK\0\0\0\2\0\0\0\1\x75"
                          "0123456789abcdefghij";
    put(&b, ref, 12 + 1 + 20);
    unsigned char delta[] = {5, 5, 0x91, 0, 5}, z[64]; /* copy the base's 5 bytes */
    uLongf zlen = sizeof(z);
    assert_int_equal(compress2(z, &zlen, delta, sizeof(delta), 6), Z_OK);
    put(&b, z, zlen);
    seal(&b);
    refuses(f, &b, "thin", TWIN_EINVALID, "not in the pack", ENGINE_REFUSES);
    b.len = 0;

    /* An OFS_DELTA of 2 bytes that makes an empty blob of a 5-byte one: libgit2 applies it, git
     * refuses any delta of fewer than 4 bytes. */
    put(&b, "PACK\0\0\0\2\0\0\0\2\x35", 13);
    zlen = sizeof(z);
    assert_int_equal(compress2(z, &zlen, (const Bytef *)"hello", 5, 6), Z_OK);
    put(&b, z, zlen);
    unsigned char ofs[] = {0x62, (unsigned char)(b.len - 12)}, tiny[] = {5, 0};
    put(&b, ofs, sizeof(ofs));
    zlen = sizeof(z);
    assert_int_equal(compress2(z, &zlen, tiny, sizeof(tiny), 6), Z_OK);
    put(&b, z, zlen);
    seal(&b);
    refuses(f, &b, "short-delta", TWIN_EINVALID, "fewer than git's 4", ENGINE_TAKES);
    b.len = 0;

    /* An OFS_DELTA that says it makes 200 MiB of a 5-byte base with 5 bytes of instructions:
     * malformed, and refused before the 200 MiB are taken. */
    put(&b, "PACK\0\0\0\2\0\0\0\2\x35", 13);
    zlen = sizeof(z);
    assert_int_equal(compress2(z, &zlen, (const Bytef *)"hello", 5, 6), Z_OK);
    put(&b, z, zlen);
    unsigned char far[] = {5, 0x80, 0x80, 0x80, 0x64, 0x91, 0, 5, 1, '!'}; /* 100 << 21 bytes */
    unsigned char ofs_far[] = {0x60 | sizeof(far), (unsigned char)(b.len - 12)};
    put(&b, ofs_far, sizeof(ofs_far));
    zlen = sizeof(z);
    assert_int_equal(compress2(z, &zlen, far, sizeof(far), 6), Z_OK);
    put(&b, z, zlen);
    seal(&b);
    refuses(f, &b, "impossible-delta", TWIN_EINVALID, "malformed delta", ENGINE_REFUSES);

    free(b.p);
    free(good.p);
}

/* ---- packs of long chains, built entry by entry ------------------------------------------- */

struct crafted {
    struct bytes b;
    size_t offs[1200];
    int n;
};

static void crafted_entry(struct crafted *c, int type, size_t size, const unsigned char *base_rel,
                          size_t base_len, const unsigned char *data, size_t len)
{
    if (c->n == 0)
        put(&c->b, "PACK\0\0\0\2\0\0\0\0", 12);
    assert_true(c->n < (int)(sizeof(c->offs) / sizeof(c->offs[0])));
    c->offs[c->n++] = c->b.len;
    unsigned char h[16];
    size_t k = 0, v = size >> 4;
    h[k++] = (unsigned char)((type << 4) | (size & 15) | (v ? 0x80 : 0));
    for (; v; v >>= 7)
        h[k++] = (unsigned char)((v & 0x7f) | (v >> 7 ? 0x80 : 0));
    put(&c->b, h, k);
    if (base_len)
        put(&c->b, base_rel, base_len);
    uLongf zlen = compressBound(len);
    unsigned char *z = malloc(zlen);
    assert_non_null(z);
    assert_int_equal(compress2(z, &zlen, data, len, 1), Z_OK);
    put(&c->b, z, zlen);
    free(z);
}

static int crafted_whole(struct crafted *c, const unsigned char *data, size_t len)
{
    crafted_entry(c, GIT_OBJECT_BLOB, len, NULL, 0, data, len);
    return c->n - 1;
}

/* An OFS_DELTA against entry base whose result is base with its first 4 bytes replaced by tag
 * (base_len < 16 MiB). */
static int crafted_retag(struct crafted *c, int base, size_t base_len, uint32_t tag)
{
    unsigned char d[32], rel[10];
    size_t k = 0, r = 0, back = c->b.len - c->offs[base];
    for (int pass = 0; pass < 2; pass++) /* the base's size, then the result's: the same */
        for (size_t v = base_len;;) {
            d[k++] = (unsigned char)((v & 0x7f) | (v >> 7 ? 0x80 : 0));
            if (!(v >>= 7))
                break;
        }
    d[k++] = 4;
    memcpy(d + k, &tag, 4);
    k += 4;
    size_t n = base_len - 4; /* copy from offset 4, n bytes: offset byte 0, size bytes 0..2 */
    d[k++] = 0x80 | 0x01 | 0x10 | 0x20 | 0x40;
    d[k++] = 4;
    d[k++] = (unsigned char)n, d[k++] = (unsigned char)(n >> 8), d[k++] = (unsigned char)(n >> 16);
    /* The offset to the base, git's way: 7 bits at a time, each more significant group less 1. */
    unsigned char tmp[10];
    size_t t = 0;
    tmp[t++] = (unsigned char)(back & 0x7f);
    while (back >>= 7)
        tmp[t++] = (unsigned char)(0x80 | (--back & 0x7f));
    while (t)
        rel[r++] = tmp[--t];
    crafted_entry(c, 6, k, rel, r, d, k);
    return c->n - 1;
}

static void crafted_seal(struct crafted *c)
{
    c->b.p[8] = (unsigned char)(c->n >> 24), c->b.p[9] = (unsigned char)(c->n >> 16);
    c->b.p[10] = (unsigned char)(c->n >> 8), c->b.p[11] = (unsigned char)c->n;
    seal(&c->b);
}

/* Bases over the cache's size for one object are read back from the pack, each time with its
 * chain: the objects still waiting to be hashed keep their data meanwhile, and the index is
 * libgit2's, byte for byte. */
static void long_chains_of_large_objects_index_as_libgit2_indexes_them(void **state)
{
    struct fixture *f = *state;
    struct crafted c = {0};
    const size_t big = 4089446; /* just under the cache's limit for one object */
    unsigned char *data = calloc(1, big);
    assert_non_null(data);
    data[0] = 'A';
    int chain[21];
    chain[0] = crafted_whole(&c, data, big);
    for (uint32_t i = 1; i <= 20; i++)
        chain[i] = crafted_retag(&c, chain[i - 1], big, i);
    crafted_whole(&c, (const unsigned char *)"a small object, waiting\n", 24);
    crafted_retag(&c, chain[10], big, 0x44444444);
    crafted_seal(&c);
    char a[400], b[400];
    struct bytes ours = {0}, theirs = {0};
    snprintf(a, sizeof(a), "%s/chain-twin", f->dir);
    snprintf(b, sizeof(b), "%s/chain-libgit2", f->dir);
    assert_int_equal(twin_index(&ours, &c.b, a, 65536), 0);
    libgit2_index(&theirs, &c.b, b);
    assert_int_equal(ours.len, theirs.len);
    assert_memory_equal(ours.p, theirs.p, ours.len);
    free(ours.p);
    free(theirs.p);
    free(c.b.p);
    free(data);
}

/* A chain deeper than 1,024 deltas is refused however small its objects, and a pack whose bases
 * would have to be rebuilt many times over (a chain of objects too large to keep) is refused once
 * the rebuilding passes what its size allows, not after hours. */
static void chains_too_deep_or_too_costly_are_refused(void **state)
{
    struct fixture *f = *state;
    struct crafted c = {0};
    unsigned char small[200];
    memset(small, 'C', sizeof(small)); /* no tag below makes its first 4 bytes "CCCC" */
    int prev = crafted_whole(&c, small, sizeof(small));
    for (uint32_t i = 1; i <= 1100; i++)
        prev = crafted_retag(&c, prev, sizeof(small), i);
    crafted_seal(&c);
    refuses(f, &c.b, "deep", TWIN_EINVALID, "chain of more than 1024 deltas", ENGINE_TAKES_HEAVY);
    free(c.b.p);

    struct crafted d = {0};
    const size_t large = (size_t)5 << 20;
    unsigned char *data = calloc(1, large);
    assert_non_null(data);
    prev = crafted_whole(&d, data, large);
    for (uint32_t i = 1; i <= 60; i++)
        prev = crafted_retag(&d, prev, large, i);
    crafted_seal(&d);
    refuses(f, &d.b, "costly", TWIN_EINVALID, "more rebuilding of its bases", ENGINE_TAKES_HEAVY);
    free(d.b.p);
    free(data);
}

/* Entries that break the format, each in a pack otherwise sound: the refusal names what is wrong
 * and where. */
static void malformed_entries_are_refused_with_a_reason(void **state)
{
    struct fixture *f = *state;
    const unsigned char text[] = "a file of some length, to delta against\n";
    const size_t len = sizeof(text) - 1;

    /* A whole object whose header states more bytes than its data inflates to. */
    struct crafted c = {0};
    crafted_entry(&c, GIT_OBJECT_BLOB, len + 5, NULL, 0, text, len);
    crafted_seal(&c);
    refuses(f, &c.b, "short", TWIN_EINVALID, "its header states", ENGINE_TAKES);
    free(c.b.p);

    /* ... and fewer. */
    c = (struct crafted){0};
    crafted_entry(&c, GIT_OBJECT_BLOB, len - 5, NULL, 0, text, len);
    crafted_seal(&c);
    refuses(f, &c.b, "long", TWIN_EINVALID, "its header states", ENGINE_TAKES);
    free(c.b.p);

    /* A delta that states another base size than its base has. */
    c = (struct crafted){0};
    int base = crafted_whole(&c, text, len);
    crafted_retag(&c, base, len + 1, 7);
    crafted_seal(&c);
    refuses(f, &c.b, "misfit", TWIN_EINVALID, "does not fit its base", ENGINE_REFUSES);
    free(c.b.p);

    /* A delta whose copy reaches past its base. */
    c = (struct crafted){0};
    base = crafted_whole(&c, text, len);
    const unsigned char past[] = {(unsigned char)len, (unsigned char)len, 0x91, 8,
                                  (unsigned char)len};
    unsigned char rel = (unsigned char)(c.b.len - c.offs[base]);
    crafted_entry(&c, 6, sizeof(past), &rel, 1, past, sizeof(past));
    crafted_seal(&c);
    refuses(f, &c.b, "past", TWIN_EINVALID, "malformed delta", ENGINE_REFUSES);
    free(c.b.p);

    /* An offset delta whose base offset falls inside another entry. */
    c = (struct crafted){0};
    base = crafted_whole(&c, text, len);
    const unsigned char keep[] = {(unsigned char)len, (unsigned char)len, 0x90, (unsigned char)len};
    rel = (unsigned char)(c.b.len - c.offs[base] - 1);
    crafted_entry(&c, 6, sizeof(keep), &rel, 1, keep, sizeof(keep));
    crafted_seal(&c);
    refuses(f, &c.b, "inside", TWIN_EINVALID, "where no object starts", ENGINE_REFUSES);
    free(c.b.p);
}

/* A pack kept in memory writes no file and is finished only in memory; a pack written to a file
 * only there. */
static void packs_in_memory_are_finished_in_memory(void **state)
{
    struct fixture *f = *state;
    struct bytes pack = {0};
    char dir[400], name[41];
    unsigned char *idx = NULL;
    size_t idx_len = 0;
    history_pack(f, &pack);

    twin_indexer *ix = NULL;
    assert_int_equal(twin_indexer_new_mem(&ix), 0);
    assert_int_equal(feed(ix, &pack, 0), 0);
    assert_int_equal(twin_indexer_finish(ix, name), TWIN_ERROR);
    assert_non_null(strstr(twin_error_last(), "kept in memory"));
    assert_int_equal(twin_indexer_finish_mem(ix, name, &idx, &idx_len), 0);
    assert_int_equal(strlen(name), 40);
    assert_true(idx_len > 8 + 256 * 4 + 40);
    assert_memory_equal(idx, "\377tOc\0\0\0\2", 8);
    twin_indexer_free(ix);
    free(idx);

    snprintf(dir, sizeof(dir), "%s/file", f->dir);
    assert_int_equal(mkdir(dir, 0700), 0);
    assert_int_equal(twin_indexer_new(&ix, dir), 0);
    assert_int_equal(feed(ix, &pack, 0), 0);
    assert_int_equal(twin_indexer_finish_mem(ix, name, &idx, &idx_len), TWIN_ERROR);
    assert_non_null(strstr(twin_error_last(), "written to a file"));
    assert_null(idx);
    assert_int_equal(twin_indexer_finish(ix, name), 0);
    twin_indexer_free(ix);
    free(pack.p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(twin_packs_index_as_libgit2_indexes_them, setup, teardown),
        cmocka_unit_test_setup_teardown(packs_in_memory_are_finished_in_memory, setup, teardown),
        cmocka_unit_test_setup_teardown(git_packs_index_as_git_indexes_them, setup, teardown),
        cmocka_unit_test_setup_teardown(bad_packs_are_refused_with_a_reason, setup, teardown),
        cmocka_unit_test_setup_teardown(long_chains_of_large_objects_index_as_libgit2_indexes_them,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(chains_too_deep_or_too_costly_are_refused, setup, teardown),
        cmocka_unit_test_setup_teardown(malformed_entries_are_refused_with_a_reason, setup,
                                        teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
