/* The pack reader (src/git/packread.c) on packs and indexes of any bytes, as a store that has
 * received packs from partners holds them. Each input becomes one or two packs, each the bytes of a
 * .pack and of a version-2 .idx, in buffers of their exact size (so that the sanitizer sees a read
 * past either end), opened with twin_packread_open_mem: the same checks of their framing and the
 * same reads as the files of a repository get from twin_packread_open, without a file per input.
 * Every id of the indexes is read with twin_packread_get, then all again in the other order (now
 * mostly from the cache), then a few ids no index holds.
 *
 * Input:
 *   byte 0       options: bit 0, two packs; bit 1, each pack body is the whole .pack file as
 *                given (otherwise the harness adds the 12-byte "PACK" header, version 2 or 3 by
 *                bit 3, and a 20-byte trailer); bit 2, index entries kept in input order
 *                (otherwise sorted by id)
 *   per pack     one byte n, then n entries of a 20-byte id and a 4-byte big-endian word for the
 *                offset table (top bit set: an index into the large-offset table); one byte m,
 *                then m 8-byte big-endian large offsets
 *   two packs    a 2-byte big-endian length of the first pack body
 *   the rest     the pack body or bodies (offsets count from the start of the .pack file)
 * The fan-out and the other index tables are built from the entries; CRCs and checksums are zero
 * (the reader checks neither).
 *
 * Invariants: every read gives 1 with an object of a real type, 0, or TWIN_EVERIFY, never
 * another error but "out of memory"; an id reads the same both times (result, type, size and
 * bytes) unless both packs hold some id (which copy is read then depends on the reads before).
 * Objects may say they are up to 1 GiB large; the reader refuses one that says more than the rest
 * of its pack could inflate to, or a delta that says more than its instructions could make of its
 * base, before it takes memory for it, so an object of an input of a few KiB costs a few MiB at
 * most, unless it is a delta on a base of MiBs. Run with allocations capped, such objects fail as
 * out of memory, which also runs those paths:
 *   ASAN_OPTIONS=allocator_may_return_null=1:max_allocation_size_mb=64 build-fuzz/fuzz_packread ...
 * fuzz/README.md says how to run a campaign.
 *
 * The seeds git-* and twin-* in fuzz/corpus/packread/ were made by this file from small packs of
 * git (`git pack-objects`, with and without --delta-base-offset; indexes with large offsets by
 * `git index-pack --index-version=2,N`; git-ref-delta-bases-* from a pack whose REF_DELTA objects
 * were moved into a pack of their own) and of twin (single commits, an import, a batch):
 *   cc -DTWIN_FUZZ_SEED_MAIN -Iinclude -Isrc fuzz/fuzz_packread.c build/libtwin.a \
 *      $(pkg-config --libs libgit2 zlib) -lpthread -o seed
 *   ./seed OPTIONS A.pack A.idx [B.pack B.idx] > input */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "git/packread.h"
#include "twin/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define OPT_TWO      1
#define OPT_RAW      2
#define OPT_UNSORTED 4
#define OPT_V3       8
#define ENTRY_BYTES  24
#define MAX_ENTRIES  255
#define MAX_LARGE    255

static const char *const names[2] = {"pack-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
                                     "pack-bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"};

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* One pack's index section of the input. */
struct index {
    size_t n, m;
    const uint8_t *entries, *large;
};

static int take(const uint8_t **p, size_t *left, size_t n, const uint8_t **out)
{
    if (n > *left)
        return -1;
    *out = *p;
    *p += n;
    *left -= n;
    return 0;
}

static int parse_index(struct index *x, const uint8_t **p, size_t *left)
{
    const uint8_t *b;
    if (take(p, left, 1, &b))
        return -1;
    x->n = *b;
    if (take(p, left, x->n * ENTRY_BYTES, &x->entries) || take(p, left, 1, &b))
        return -1;
    x->m = *b;
    return take(p, left, x->m * 8, &x->large);
}

static int by_id(const void *a, const void *b)
{
    return memcmp(a, b, 20);
}

/* Builds the .idx for x into a buffer of its exact size: header, fan-out, ids, CRCs, offsets,
 * large offsets, trailer. */
static unsigned char *build_index(size_t *len, const struct index *x, int sorted)
{
    unsigned char entries[MAX_ENTRIES * ENTRY_BYTES];
    size_t n = x->n, at = 8 + 256 * 4;
    unsigned char *buf = malloc(at + 28 * n + 8 * x->m + 40);
    if (!buf)
        abort();
    memcpy(entries, x->entries, n * ENTRY_BYTES);
    if (sorted)
        qsort(entries, n, ENTRY_BYTES, by_id);
    memcpy(buf, "\377tOc", 4);
    put32(buf + 4, 2);
    uint32_t counts[256] = {0}, total = 0;
    for (size_t i = 0; i < n; i++)
        counts[entries[i * ENTRY_BYTES]]++;
    for (int i = 0; i < 256; i++) {
        total += counts[i];
        put32(buf + 8 + 4 * i, total);
    }
    for (size_t i = 0; i < n; i++, at += 20)
        memcpy(buf + at, entries + i * ENTRY_BYTES, 20);
    memset(buf + at, 0, 4 * n);
    at += 4 * n;
    for (size_t i = 0; i < n; i++, at += 4)
        memcpy(buf + at, entries + i * ENTRY_BYTES + 20, 4);
    memcpy(buf + at, x->large, 8 * x->m);
    at += 8 * x->m;
    memset(buf + at, 0, 40);
    *len = at + 40;
    return buf;
}

/* Builds the .pack into a buffer of its exact size: the body as given, or framed by a header and
 * a trailer. */
static unsigned char *build_pack(size_t *len, const uint8_t *body, size_t blen, uint32_t count,
                                 int options)
{
    size_t extra = options & OPT_RAW ? 0 : 12 + 20;
    unsigned char *buf = malloc(blen + extra ? blen + extra : 1);
    if (!buf)
        abort();
    if (options & OPT_RAW) {
        memcpy(buf, body, blen);
    } else {
        memcpy(buf, "PACK", 4);
        put32(buf + 4, options & OPT_V3 ? 3 : 2);
        put32(buf + 8, count);
        memcpy(buf + 12, body, blen);
        memset(buf + 12 + blen, 0, 20);
    }
    *len = blen + extra;
    return buf;
}

/* Whether the two packs' indexes hold an id in common. The reader answers for such an id (and for
 * a delta whose base it is) from whichever pack it searches first, the one that held the object
 * read last, and the two copies may differ or one be damaged: the answer may then change with the
 * reads before it. */
static int share_an_id(const struct index *x)
{
    unsigned char ids[MAX_ENTRIES * 20];
    for (size_t i = 0; i < x[0].n; i++)
        memcpy(ids + 20 * i, x[0].entries + i * ENTRY_BYTES, 20);
    qsort(ids, x[0].n, 20, by_id);
    for (size_t i = 0; i < x[1].n; i++)
        if (x[0].n && bsearch(x[1].entries + i * ENTRY_BYTES, ids, x[0].n, 20, by_id))
            return 1;
    return 0;
}

/* What one read gave, to hold the second read of the same id to. */
struct result {
    int rc, oom;
    git_object_t type;
    size_t size;
    uLong crc;
};

/* Run under a cap on single allocations, an object that says it is huge fails to be allocated,
 * as it may anywhere memory is short: that is the one other error allowed. */
static int out_of_memory(int rc)
{
    return rc == TWIN_ERROR && strcmp(twin_error_last(), "out of memory") == 0;
}

static struct result read_one(twin_packread *r, const unsigned char *id)
{
    git_oid oid;
    twin_pobj *o = NULL;
    struct result res = {0};
    memcpy(oid.id, id, 20);
    res.rc = twin_packread_get(&o, r, &oid);
    res.oom = out_of_memory(res.rc);
    if (res.rc == 1) {
        if (!o || o->refs < 1 || o->type < GIT_OBJECT_COMMIT || o->type > GIT_OBJECT_TAG)
            abort();
        res.type = o->type;
        res.size = o->size;
        res.crc = crc32(crc32(0, NULL, 0), o->data, (uInt)o->size); /* objects are < 4 GiB */
        twin_packread_release(o);
    } else if (o || (res.rc != 0 && res.rc != TWIN_EVERIFY && !res.oom)) {
        abort();
    }
    return res;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct result first[2 * MAX_ENTRIES];
    struct index x[2];
    const uint8_t *p = data, *b, *body[2];
    size_t left = size, blen[2];
    if (take(&p, &left, 1, &b))
        return 0;
    int options = *b, npacks = options & OPT_TWO ? 2 : 1;
    for (int k = 0; k < npacks; k++)
        if (parse_index(&x[k], &p, &left))
            return 0;
    if (npacks == 2) {
        if (take(&p, &left, 2, &b))
            return 0;
        blen[0] = (size_t)b[0] << 8 | b[1];
        if (blen[0] > left)
            blen[0] = left;
        body[0] = p;
        body[1] = p + blen[0];
        blen[1] = left - blen[0];
    } else {
        body[0] = p;
        blen[0] = left;
    }
    struct twin_packread_mem mem[2];
    for (int k = 0; k < npacks; k++) {
        mem[k].name = names[k];
        mem[k].idx = build_index(&mem[k].idx_len, &x[k], !(options & OPT_UNSORTED));
        mem[k].pack = build_pack(&mem[k].pack_len, body[k], blen[k], (uint32_t)x[k].n, options);
    }

    twin_packread *r = NULL;
    if (twin_packread_open_mem(&r, mem, (size_t)npacks) != 0 || !r)
        abort();
    size_t total = 0;
    for (int k = 0; k < npacks; k++)
        for (size_t i = 0; i < x[k].n; i++)
            first[total++] = read_one(r, x[k].entries + i * ENTRY_BYTES);
    /* Again, last first: now mostly from the cache, and the same (unless an id is in both packs).
     */
    int shared = npacks == 2 && share_an_id(x);
    size_t at = total;
    for (int k = npacks - 1; k >= 0; k--)
        for (size_t i = x[k].n; i-- > 0;) {
            struct result again = read_one(r, x[k].entries + i * ENTRY_BYTES);
            const struct result *was = &first[--at];
            if (again.oom || was->oom || shared)
                continue;
            if (again.rc != was->rc || again.type != was->type || again.size != was->size ||
                again.crc != was->crc)
                abort();
        }
    /* Ids no index is likely to hold: at both ends of the fan-out, and beside a held one. */
    unsigned char id[20];
    memset(id, 0, sizeof(id));
    (void)read_one(r, id);
    memset(id, 0xff, sizeof(id));
    (void)read_one(r, id);
    if (x[0].n) {
        memcpy(id, x[0].entries, 20);
        id[19] ^= 1;
        (void)read_one(r, id);
    }
    twin_packread_free(r);
    for (int k = 0; k < npacks; k++) {
        free((void *)mem[k].idx);
        free((void *)mem[k].pack);
    }
    return 0;
}

#ifdef TWIN_FUZZ_SEED_MAIN
/* Writes an input of the format above for one or two real packs, entries taken from their
 * version-2 indexes. */
static unsigned char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    unsigned char *buf = NULL;
    long n;
    if (!f || fseek(f, 0, SEEK_END) != 0 || (n = ftell(f)) < 0 || fseek(f, 0, SEEK_SET) != 0 ||
        !(buf = malloc((size_t)n + 1)) || fread(buf, 1, (size_t)n, f) != (size_t)n)
        abort();
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

int main(int argc, char **argv)
{
    if (argc != 4 && argc != 6) {
        fprintf(stderr, "usage: %s OPTIONS A.pack A.idx [B.pack B.idx]\n", argv[0]);
        return 2;
    }
    int options = atoi(argv[1]), npacks = argc == 6 ? 2 : 1;
    unsigned char *pack[2], *idx[2];
    size_t plen[2], ilen[2];
    options = (options & ~OPT_TWO) | (npacks == 2 ? OPT_TWO : 0);
    putchar(options);
    for (int k = 0; k < npacks; k++) {
        pack[k] = slurp(argv[2 + 2 * k], &plen[k]);
        idx[k] = slurp(argv[3 + 2 * k], &ilen[k]);
        uint32_t n = get32(idx[k] + 8 + 255 * 4);
        if (ilen[k] < 8 + 256 * 4 + 28 * (size_t)n + 40 || n > MAX_ENTRIES || plen[k] < 32)
            abort();
        const unsigned char *ids = idx[k] + 8 + 256 * 4, *offs = ids + 24 * (size_t)n;
        putchar((int)n);
        for (uint32_t i = 0; i < n; i++) {
            fwrite(ids + 20 * i, 1, 20, stdout);
            fwrite(offs + 4 * i, 1, 4, stdout);
        }
        size_t large = (ilen[k] - (8 + 256 * 4 + 28 * (size_t)n + 40)) / 8;
        if (large > MAX_LARGE)
            abort();
        putchar((int)large);
        fwrite(offs + 4 * (size_t)n, 1, 8 * large, stdout);
    }
    for (int k = 0; k < npacks; k++) {
        const unsigned char *b = pack[k];
        size_t len = plen[k];
        if (!(options & OPT_RAW)) {
            b += 12;
            len -= 32;
        }
        if (k == 0 && npacks == 2) {
            putchar((int)(len >> 8 & 0xff));
            putchar((int)(len & 0xff));
        }
        fwrite(b, 1, len, stdout);
    }
    for (int k = 0; k < npacks; k++) {
        free(pack[k]);
        free(idx[k]);
    }
    return 0;
}
#endif
