#define _XOPEN_SOURCE 700
#include "git/indexer.h"

#include <errno.h>
#include <git2.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "git/gitfmt.h"
#include "git/pack.h"
#include "base/sha1.h"
#include "twin/error.h"
#include "twin/global.h"
#include "base/util.h"

#define IX_OBJECT_MAX ((size_t)256 << 20) /* the largest object taken */
#define IX_CHAIN_MAX  1024                /* deltas followed to reach a whole object */
/* Rebuilding bases read back from the pack may cost at most this many bytes of objects, plus
 * IX_REBUILD_PER_BYTE for each byte received: a small pack of long chains of large objects could
 * otherwise cost as much as their number times their size times their depth. */
#define IX_REBUILD_BASE     ((uint64_t)1 << 30)
#define IX_REBUILD_PER_BYTE 16
#define IX_HEAD_MAX         32                 /* an entry's header: type, size, base */
#define IX_CACHE_BYTES      ((size_t)32 << 20) /* objects kept named, as bases for what follows */
#define IX_CACHE_SLOTS      8192 /* at most; no more than the objects the pack declares */
#define IX_BATCH_MAX        256  /* objects hashed together, on two threads */
#define IX_BATCH_BYTES      (IX_CACHE_BYTES / 4)

enum { ST_PACK_HEADER, ST_ENTRY_HEADER, ST_ENTRY_DATA, ST_TRAILER, ST_DONE };

struct ix_entry {
    unsigned char id[TWIN_SHA1_BYTES]; /* once named */
    uint64_t off;
    uint64_t base;  /* a delta's base: its offset (OFS_DELTA), or its index in refs (REF_DELTA) */
    uint32_t crc;   /* of the entry's bytes as stored, for the index */
    uint32_t slot;  /* 1 + its slot in the cache, 0 when not cached */
    uint16_t depth; /* deltas below it down to a whole object, once named */
    uint8_t kind;   /* as stored: 1-4 a whole object, or a delta */
    uint8_t type;   /* the object's type once its content is known; 0 before */
    bool named;     /* id holds its name */
};

/* An object whose content is known, waiting to be hashed with the others of its batch. Its data
 * is the cache's, or owned here: when too large for the cache, or when the cache let it go
 * before it was hashed. */
struct ix_pending {
    uint32_t entry;
    uint8_t type;
    const unsigned char *data;
    size_t size;
    unsigned char *owned;
    git_oid id;
    int rc;
};

/* A second thread that hashes half of each batch. */
struct ix_hasher {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t go, done;
    struct ix_pending *items;
    size_t from, to;
    bool busy, quit;
};

/* Objects named recently, oldest first, within IX_CACHE_BYTES: the bases of the deltas that
 * follow them are most often among them. */
struct ix_slot {
    unsigned char *data;
    size_t size;
    uint32_t entry;
};

struct twin_indexer {
    git_indexer *lg; /* twin_indexer_new_libgit2: libgit2's indexer does the work */
    git_indexer_progress lg_progress; /* libgit2 keeps its count of objects here between calls */
    char dir[4096], tmp[4200];
    int fd;
    bool in_memory; /* twin_indexer_new_mem: the pack's bytes are kept in mem, not in a file */
    unsigned char *mem;
    size_t mem_len, mem_cap;
    bool failed;
    uint64_t received;
    twin_sha1_ctx sum; /* of every byte before the trailer */
    int state;
    unsigned char buf[IX_HEAD_MAX]; /* the pack's header, an entry's header, or the trailer */
    size_t buf_len;
    uint32_t declared;
    uint64_t off; /* bytes of the pack read, trailer aside: where the next entry starts */
    /* The entry being read. */
    struct ix_entry cur;
    unsigned char cur_ref[TWIN_SHA1_BYTES];
    size_t cur_size;
    unsigned char *data; /* what the entry inflated to so far */
    size_t data_cap;
    z_stream z;
    bool z_ready;
    /* Every entry so far, in the order (and so of the offsets) of the pack. */
    struct ix_entry *v;
    size_t n, cap;
    uint64_t rebuilt; /* bytes of objects rebuilt from what was read back (bounded) */
    unsigned char (*refs)[TWIN_SHA1_BYTES]; /* the bases REF_DELTAs name */
    size_t nrefs, refs_cap;
    struct twin_idmap map; /* named entries by id */
    uint32_t *deferred;    /* deltas whose base was not named when they came */
    size_t ndeferred, deferred_cap;
    struct ix_slot *slots; /* nslots, made when the pack's header says how many objects come */
    size_t nslots, head, tail, cached, cached_bytes;
    unsigned char *raw; /* an entry read back from the pack */
    size_t raw_cap;
    struct ix_pending pending[IX_BATCH_MAX];
    size_t npending, pending_bytes;
    struct ix_hasher hasher;
    int hasher_state; /* 0 not started, 1 running, -1 none (one core, or it failed to start) */
};

static int bad(twin_indexer *ix, uint64_t off, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int bad(twin_indexer *ix, uint64_t off, const char *fmt, ...)
{
    char what[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    ix->failed = true;
    return twin_error(TWIN_EINVALID, "received pack: the object at offset %llu %s",
                      (unsigned long long)off, what);
}

/* Starts ix, whose file (or memory) is set up: the inflater and the checksum. */
static int start(twin_indexer **out, twin_indexer *ix)
{
    if (inflateInit(&ix->z) != Z_OK) {
        twin_indexer_free(ix);
        return twin_error(TWIN_ERROR, "out of memory");
    }
    ix->z_ready = true;
    twin_sha1_init(&ix->sum);
    *out = ix;
    return 0;
}

int twin_indexer_new(twin_indexer **out, const char *dir)
{
    *out = NULL;
    twin_indexer *ix = calloc(1, sizeof(*ix));
    if (!ix)
        return twin_error(TWIN_ERROR, "out of memory");
    snprintf(ix->dir, sizeof(ix->dir), "%s", dir);
    ix->fd = twin_pack_open_temp(ix->tmp, sizeof(ix->tmp), dir);
    if (ix->fd < 0) {
        int rc = ix->fd;
        free(ix);
        return rc;
    }
    return start(out, ix);
}

int twin_indexer_new_libgit2(twin_indexer **out, const char *dir)
{
    *out = NULL;
    twin_indexer *ix = calloc(1, sizeof(*ix));
    if (!ix)
        return twin_error(TWIN_ERROR, "out of memory");
    ix->fd = -1;
    snprintf(ix->dir, sizeof(ix->dir), "%s", dir);
    git_indexer_options opts = GIT_INDEXER_OPTIONS_INIT;
    if (git_indexer_new(&ix->lg, dir, 0, NULL, &opts) < 0) {
        free(ix);
        return twin_error_git("starting libgit2's indexer");
    }
    *out = ix;
    return 0;
}

int twin_indexer_new_mem(twin_indexer **out)
{
    *out = NULL;
    twin_indexer *ix = calloc(1, sizeof(*ix));
    if (!ix)
        return twin_error(TWIN_ERROR, "out of memory");
    ix->fd = -1;
    ix->in_memory = true;
    return start(out, ix);
}

void twin_indexer_free(twin_indexer *ix)
{
    if (!ix)
        return;
    git_indexer_free(ix->lg);
    if (ix->fd >= 0) {
        close(ix->fd);
        unlink(ix->tmp);
    }
    if (ix->hasher_state == 1) {
        pthread_mutex_lock(&ix->hasher.lock);
        ix->hasher.quit = true;
        pthread_cond_signal(&ix->hasher.go);
        pthread_mutex_unlock(&ix->hasher.lock);
        pthread_join(ix->hasher.thread, NULL);
        pthread_mutex_destroy(&ix->hasher.lock);
        pthread_cond_destroy(&ix->hasher.go);
        pthread_cond_destroy(&ix->hasher.done);
    }
    for (size_t i = 0; i < ix->npending; i++)
        free(ix->pending[i].owned);
    if (ix->z_ready)
        inflateEnd(&ix->z);
    /* Only the slots from tail on hold data: the others were emptied when let go. */
    for (size_t i = 0; i < ix->cached; i++)
        free(ix->slots[(ix->tail + i) % ix->nslots].data);
    free(ix->slots);
    free(ix->data);
    free(ix->v);
    free(ix->refs);
    twin_util_idmap_free(&ix->map);
    free(ix->deferred);
    free(ix->raw);
    free(ix->mem);
    free(ix);
}

/* ---- named objects -------------------------------------------------------------------------- */

#define ENTRY_IDS(ix) ((const unsigned char *)(ix)->v + offsetof(struct ix_entry, id))

/* The entry named id, or -1. */
static long find_id(const twin_indexer *ix, const unsigned char *id)
{
    return twin_util_idmap_find(&ix->map, ENTRY_IDS(ix), sizeof(*ix->v), id);
}

static int map_insert(twin_indexer *ix, size_t entry)
{
    return twin_util_idmap_add(&ix->map, ENTRY_IDS(ix), sizeof(*ix->v), (uint32_t)entry);
}

/* An object's content: held by the cache, or owned by the holder (then freed by blob_done). */
struct blob {
    const unsigned char *data;
    size_t size;
    unsigned char *owned;
};

static void blob_done(struct blob *b)
{
    free(b->owned);
    *b = (struct blob){0};
}

static void hash_range(struct ix_pending *items, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++)
        items[i].rc =
            git_odb_hash(&items[i].id, items[i].data, items[i].size, (git_object_t)items[i].type);
}

static void *hasher_main(void *arg)
{
    struct ix_hasher *h = arg;
    pthread_mutex_lock(&h->lock);
    for (;;) {
        while (!h->busy && !h->quit)
            pthread_cond_wait(&h->go, &h->lock);
        if (h->quit)
            break;
        size_t from = h->from, to = h->to;
        pthread_mutex_unlock(&h->lock);
        hash_range(h->items, from, to);
        pthread_mutex_lock(&h->lock);
        h->busy = false;
        pthread_cond_signal(&h->done);
    }
    pthread_mutex_unlock(&h->lock);
    return NULL;
}

static bool hasher_ready(twin_indexer *ix)
{
    if (ix->hasher_state == 0) {
        ix->hasher_state = -1;
        if (sysconf(_SC_NPROCESSORS_ONLN) < 2)
            return false;
        struct ix_hasher *h = &ix->hasher;
        h->items = ix->pending;
        pthread_mutex_init(&h->lock, NULL);
        pthread_cond_init(&h->go, NULL);
        pthread_cond_init(&h->done, NULL);
        if (pthread_create(&h->thread, NULL, hasher_main, h) != 0) {
            pthread_mutex_destroy(&h->lock);
            pthread_cond_destroy(&h->go);
            pthread_cond_destroy(&h->done);
            return false;
        }
        ix->hasher_state = 1;
    }
    return ix->hasher_state == 1;
}

/* Hashes the objects waiting (with collision detection), half on the second thread, and names
 * them in the order they came. */
static int flush(twin_indexer *ix)
{
    size_t m = ix->npending, half = m;
    if (m == 0)
        return 0;
    struct ix_hasher *h = &ix->hasher;
    if (m >= 16 && hasher_ready(ix)) {
        half = m / 2;
        pthread_mutex_lock(&h->lock);
        h->from = half;
        h->to = m;
        h->busy = true;
        pthread_cond_signal(&h->go);
        pthread_mutex_unlock(&h->lock);
    }
    hash_range(ix->pending, 0, half);
    if (half < m) {
        pthread_mutex_lock(&h->lock);
        while (h->busy)
            pthread_cond_wait(&h->done, &h->lock);
        pthread_mutex_unlock(&h->lock);
    }
    int rc = 0;
    for (size_t i = 0; i < m; i++) {
        struct ix_pending *p = &ix->pending[i];
        struct ix_entry *en = &ix->v[p->entry];
        if (rc == 0 && p->rc < 0) {
            git_oid again; /* hashed again here, for libgit2's message on this thread */
            git_odb_hash(&again, p->data, p->size, (git_object_t)p->type);
            rc = bad(ix, en->off, "cannot be hashed: %s",
                     git_error_last() ? git_error_last()->message : "libgit2 error");
        }
        if (rc == 0 && find_id(ix, p->id.id) >= 0)
            rc = bad(ix, en->off, "is %s, which the pack holds twice", git_oid_tostr_s(&p->id));
        if (rc == 0) {
            memcpy(en->id, p->id.id, TWIN_SHA1_BYTES);
            en->named = true;
            rc = map_insert(ix, p->entry);
        }
        free(p->owned);
    }
    ix->npending = 0;
    ix->pending_bytes = 0;
    return rc;
}

static void blob_keep(twin_indexer *ix, size_t e, struct blob *b);

/* Entry e's content is b, of type: kept in the cache when it fits, and named with its batch. */
static int name(twin_indexer *ix, size_t e, int type, struct blob *b)
{
    ix->v[e].type = (uint8_t)type;
    blob_keep(ix, e, b);
    ix->pending[ix->npending++] = (struct ix_pending){.entry = (uint32_t)e,
                                                      .type = (uint8_t)type,
                                                      .data = b->data,
                                                      .size = b->size,
                                                      .owned = b->owned};
    ix->pending_bytes += b->size;
    *b = (struct blob){0};
    return ix->npending == IX_BATCH_MAX || ix->pending_bytes >= IX_BATCH_BYTES ? flush(ix) : 0;
}

/* Keeps data as the content of entry e (the cache owns it from then on), dropping the oldest
 * objects kept to make room: true, or false when it is too large to keep (the caller still owns
 * it). */
static bool cache_put(twin_indexer *ix, size_t e, unsigned char *data, size_t size)
{
    if (size > IX_CACHE_BYTES / 8)
        return false;
    while (ix->cached > 0 &&
           (ix->cached == ix->nslots || ix->cached_bytes + size > IX_CACHE_BYTES)) {
        struct ix_slot *s = &ix->slots[ix->tail];
        ix->v[s->entry].slot = 0;
        ix->cached_bytes -= s->size;
        /* An object still waiting to be hashed keeps its data: bases read back in a long chain
         * can push even the newest objects out. */
        for (size_t i = 0; s->data && !ix->v[s->entry].named && i < ix->npending; i++)
            if (ix->pending[i].entry == s->entry && ix->pending[i].data == s->data) {
                ix->pending[i].owned = s->data;
                s->data = NULL;
            }
        free(s->data);
        s->data = NULL;
        ix->tail = (ix->tail + 1) % ix->nslots;
        ix->cached--;
    }
    struct ix_slot *s = &ix->slots[ix->head];
    *s = (struct ix_slot){data, size, (uint32_t)e};
    ix->v[e].slot = (uint32_t)ix->head + 1;
    ix->head = (ix->head + 1) % ix->nslots;
    ix->cached++;
    ix->cached_bytes += size;
    return true;
}

/* Keeps what b owns in the cache as entry e's content when it fits. */
static void blob_keep(twin_indexer *ix, size_t e, struct blob *b)
{
    if (b->owned && cache_put(ix, e, b->owned, b->size))
        b->owned = NULL;
}

/* ---- entries -------------------------------------------------------------------------------- */

/* Parses an entry's header from b: 1 when complete (the fields set), 0 when more bytes are needed,
 * -1 when malformed. */
static int parse_entry_header(struct ix_entry *e, size_t *size, unsigned char *ref,
                              const unsigned char *b, size_t len, size_t *used)
{
    struct twin_gitfmt_entry h;
    int n = twin_gitfmt_entry_parse(&h, b, len);
    if (n <= 0)
        return n;
    e->kind = (uint8_t)h.type;
    *size = (size_t)h.size;
    if (h.type == TWIN_GITFMT_OFS_DELTA) {
        if (h.distance == 0 || h.distance > e->off - TWIN_GITFMT_PACK_HEADER)
            return -1;
        e->base = e->off - h.distance;
    } else if (h.type == TWIN_GITFMT_REF_DELTA) {
        memcpy(ref, h.base_id, TWIN_SHA1_BYTES);
    }
    *used = (size_t)n;
    return 1;
}

/* The index of the entry at offset off, or -1. */
static long entry_at(const twin_indexer *ix, uint64_t off)
{
    size_t lo = 0, hi = ix->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (ix->v[mid].off < off)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < ix->n && ix->v[lo].off == off ? (long)lo : -1;
}

/* The index of the base of delta entry e, once the base is named; -1 when it is not (yet). */
static long base_of(const twin_indexer *ix, const struct ix_entry *e)
{
    long b =
        e->kind == TWIN_GITFMT_OFS_DELTA ? entry_at(ix, e->base) : find_id(ix, ix->refs[e->base]);
    return b >= 0 && ix->v[b].type ? b : -1; /* by id: named; by offset: its content known */
}

/* Entry e's stored data (an object, or a delta), read back from the pack and inflated. */
static int read_back(twin_indexer *ix, size_t e, unsigned char **out, size_t *out_size)
{
    const struct ix_entry *en = &ix->v[e];
    uint64_t end = e + 1 < ix->n ? ix->v[e + 1].off : ix->off;
    size_t len = (size_t)(end - en->off);
    if (twin_util_grow((void **)&ix->raw, &ix->raw_cap, len, 1))
        return TWIN_ERROR;
    if (ix->in_memory) {
        if (en->off > ix->mem_len || len > ix->mem_len - en->off)
            return twin_error(TWIN_ERROR, "cannot read the received pack back: %s",
                              "it is shorter than written");
        memcpy(ix->raw, ix->mem + en->off, len);
    }
    for (size_t got = 0; !ix->in_memory && got < len;) {
        ssize_t r = pread(ix->fd, ix->raw + got, len - got, (off_t)(en->off + got));
        if (r < 0 && errno == EINTR)
            continue;
        if (r <= 0)
            return twin_error(TWIN_ERROR, "cannot read the received pack back: %s",
                              r < 0 ? strerror(errno) : "it is shorter than written");
        got += (size_t)r;
    }
    struct ix_entry h = {.off = en->off};
    size_t size, used;
    unsigned char ref[TWIN_SHA1_BYTES];
    if (parse_entry_header(&h, &size, ref, ix->raw, len, &used) != 1 || h.kind != en->kind)
        return bad(ix, en->off, "reads back other than it was received");
    unsigned char *data = malloc(size + 1);
    if (!data)
        return twin_error(TWIN_ERROR, "out of memory");
    int zr = twin_gitfmt_inflate_exact(NULL, data, size, ix->raw + used, len - used);
    if (zr) {
        free(data);
        return zr == TWIN_GITFMT_INFLATE_NOMEM
                   ? twin_error(TWIN_ERROR, "out of memory")
                   : bad(ix, en->off, "reads back other than it was received");
    }
    *out = data;
    *out_size = size;
    return 0;
}

/* Applies delta (of entry e) to base: a new buffer of the result. */
static int apply(twin_indexer *ix, size_t e, struct blob *out, const struct blob *base,
                 const unsigned char *delta, size_t delta_size)
{
    size_t src, dst, start;
    /* git refuses a delta of fewer than 4 bytes (patch_delta's DELTA_SIZE_MIN), even one that
     * applies, as 2 bytes that empty a base of under 128 bytes do; libgit2 takes it. */
    if (delta_size < 4)
        return bad(ix, ix->v[e].off, "has a delta of %zu bytes, fewer than git's 4", delta_size);
    if (twin_gitfmt_delta_sizes(&src, &dst, &start, delta, delta_size) || src != base->size)
        return bad(ix, ix->v[e].off, "has a delta that does not fit its base");
    if (dst > IX_OBJECT_MAX)
        return bad(ix, ix->v[e].off, "would be more than %zu bytes", IX_OBJECT_MAX);
    if (!twin_gitfmt_delta_can_make(dst, base->size, delta_size - start))
        return bad(ix, ix->v[e].off, "has a malformed delta");
    unsigned char *result = malloc(dst ? dst : 1);
    if (!result)
        return twin_error(TWIN_ERROR, "out of memory");
    if (twin_gitfmt_delta_apply(result, dst, base->data, base->size, delta, delta_size, start)) {
        free(result);
        return bad(ix, ix->v[e].off, "has a malformed delta");
    }
    *out = (struct blob){result, dst, result};
    return 0;
}

/* The content of named entry e: from the cache, or read back from the pack with its chain of
 * bases (and kept in the cache when it fits). */
static int content(twin_indexer *ix, size_t e, struct blob *out, unsigned depth)
{
    const struct ix_entry *en = &ix->v[e];
    *out = (struct blob){0};
    if (en->slot) {
        out->data = ix->slots[en->slot - 1].data;
        out->size = ix->slots[en->slot - 1].size;
        return 0;
    }
    if (depth > IX_CHAIN_MAX)
        return bad(ix, en->off, "ends a chain of more than %d deltas", IX_CHAIN_MAX);
    unsigned char *raw;
    size_t raw_size;
    int rc = read_back(ix, e, &raw, &raw_size);
    if (rc)
        return rc;
    if (en->kind != TWIN_GITFMT_OFS_DELTA && en->kind != TWIN_GITFMT_REF_DELTA) {
        *out = (struct blob){raw, raw_size, raw};
    } else {
        long b = base_of(ix, en);
        struct blob base;
        if (b < 0)
            rc = bad(ix, en->off, "lost its base");
        else if ((rc = content(ix, (size_t)b, &base, depth + 1)) == 0) {
            rc = apply(ix, e, out, &base, raw, raw_size);
            blob_done(&base);
        }
        free(raw);
        if (rc)
            return rc;
    }
    ix->rebuilt += out->size;
    if (ix->rebuilt > IX_REBUILD_BASE + IX_REBUILD_PER_BYTE * ix->off) {
        blob_done(out);
        return bad(ix, en->off, "takes more rebuilding of its bases than a pack of %llu bytes may",
                   (unsigned long long)ix->off);
    }
    blob_keep(ix, e, out);
    return 0;
}

/* Names delta entry e, whose base b is named, from its delta bytes. */
static int name_delta(twin_indexer *ix, size_t e, size_t b, const unsigned char *delta,
                      size_t delta_size)
{
    struct blob base, result;
    if (ix->v[b].depth >= IX_CHAIN_MAX)
        return bad(ix, ix->v[e].off, "ends a chain of more than %d deltas", IX_CHAIN_MAX);
    ix->v[e].depth = (uint16_t)(ix->v[b].depth + 1);
    int rc = content(ix, b, &base, 0);
    if (rc)
        return rc;
    rc = apply(ix, e, &result, &base, delta, delta_size);
    blob_done(&base);
    if (rc)
        return rc;
    return name(ix, e, ix->v[b].type, &result);
}

/* The entry just read in full: named now if it can be, else left for the end. */
static int entry_done(twin_indexer *ix)
{
    if (twin_util_grow((void **)&ix->v, &ix->cap, ix->n + 1, sizeof(*ix->v)))
        return TWIN_ERROR;
    size_t e = ix->n++;
    ix->v[e] = ix->cur;
    struct ix_entry *en = &ix->v[e];
    en->depth = 0;
    struct blob data = {ix->data, ix->cur_size, ix->data};
    ix->data = NULL;
    ix->data_cap = 0;
    int rc = 0;
    if (en->kind != TWIN_GITFMT_OFS_DELTA && en->kind != TWIN_GITFMT_REF_DELTA)
        return name(ix, e, en->kind, &data);
    if (en->kind == TWIN_GITFMT_OFS_DELTA && entry_at(ix, en->base) < 0)
        rc = bad(ix, en->off, "names a base at offset %llu, where no object starts",
                 (unsigned long long)en->base);
    else if (en->kind == TWIN_GITFMT_REF_DELTA &&
             twin_util_grow((void **)&ix->refs, &ix->refs_cap, ix->nrefs + 1, sizeof(*ix->refs)))
        rc = TWIN_ERROR;
    if (rc == 0 && en->kind == TWIN_GITFMT_REF_DELTA) {
        memcpy(ix->refs[ix->nrefs], ix->cur_ref, TWIN_SHA1_BYTES);
        en->base = ix->nrefs++;
    }
    long b = rc == 0 ? base_of(ix, en) : -1;
    if (rc == 0 && b >= 0)
        rc = name_delta(ix, e, (size_t)b, data.data, data.size);
    else if (rc == 0 && twin_util_grow((void **)&ix->deferred, &ix->deferred_cap, ix->ndeferred + 1,
                                       sizeof(*ix->deferred)))
        rc = TWIN_ERROR;
    else if (rc == 0)
        ix->deferred[ix->ndeferred++] = (uint32_t)e;
    blob_done(&data);
    return rc;
}

/* ---- the stream ----------------------------------------------------------------------------- */

/* The pack's header (in ix->buf): its version and the objects it declares, within bounds. The
 * indexer of libgit2's checks it here too, before its engine sees it. */
static int check_pack_header(twin_indexer *ix, uint32_t *count)
{
    uint32_t version;
    bool magic = twin_gitfmt_pack_header_get(&version, count, ix->buf);
    /* git takes version 3 too, but libgit2, which reads the packs of the store, takes only 2: a
     * version-3 pack written into the store would hold objects the store cannot find. */
    if (!magic || version != 2) {
        ix->failed = true;
        return twin_error(TWIN_EINVALID, "received bytes are not a git pack of version 2");
    }
    if (*count > TWIN_PACK_MAX_OBJECTS) {
        ix->failed = true;
        return twin_error(TWIN_ELIMIT, "received pack declares more than %zu objects",
                          (size_t)TWIN_PACK_MAX_OBJECTS);
    }
    return 0;
}

static int take_pack_header(twin_indexer *ix)
{
    uint32_t count;
    int rc = check_pack_header(ix, &count);
    if (rc)
        return rc;
    /* An object is kept once at most: a slot for each, up to IX_CACHE_SLOTS. */
    ix->nslots = count == 0 ? 1 : count < IX_CACHE_SLOTS ? count : IX_CACHE_SLOTS;
    if (!(ix->slots = calloc(ix->nslots, sizeof(*ix->slots)))) {
        ix->failed = true;
        return twin_error(TWIN_ERROR, "out of memory");
    }
    ix->declared = count;
    ix->off = TWIN_GITFMT_PACK_HEADER;
    ix->buf_len = 0;
    ix->state = count ? ST_ENTRY_HEADER : ST_TRAILER;
    return 0;
}

/* Takes bytes of an entry's header, one at a time: a header is a few bytes. */
static int take_entry_header(twin_indexer *ix, const unsigned char *p, size_t len, size_t *took)
{
    *took = 0;
    while (*took < len) {
        ix->buf[ix->buf_len++] = p[(*took)++];
        ix->cur = (struct ix_entry){.off = ix->off};
        size_t used;
        int r =
            parse_entry_header(&ix->cur, &ix->cur_size, ix->cur_ref, ix->buf, ix->buf_len, &used);
        if (r < 0 || (r == 0 && ix->buf_len == IX_HEAD_MAX))
            return bad(ix, ix->off, "has a malformed header");
        if (r == 0)
            continue;
        if (ix->cur_size > IX_OBJECT_MAX)
            return bad(ix, ix->off, "is %zu bytes, more than %zu", ix->cur_size, IX_OBJECT_MAX);
        /* The buffer grows as the data inflates: a header alone, however large the size it
         * states, costs little. One byte more than stated shows a stream that runs long. */
        ix->data_cap = ix->cur_size + 1 < 65536 ? ix->cur_size + 1 : 65536;
        if (!(ix->data = malloc(ix->data_cap)))
            return twin_error(TWIN_ERROR, "out of memory");
        if (inflateReset(&ix->z) != Z_OK)
            return twin_error(TWIN_ERROR, "zlib: cannot reset");
        ix->z.next_out = ix->data;
        ix->z.avail_out = (uInt)ix->data_cap;
        ix->cur.crc = (uint32_t)crc32(0, ix->buf, (uInt)ix->buf_len);
        ix->state = ST_ENTRY_DATA;
        return 0;
    }
    return 0;
}

/* Takes bytes of an entry's zlib stream, inflating them with zlib as they come: the stream
 * arrives in pieces of any size and ends where the next entry begins, which only inflating finds.
 * read_back, which has the whole stream, uses the codec's twin_gitfmt_inflate_exact instead. */
static int take_entry_data(twin_indexer *ix, const unsigned char *p, size_t len, size_t *took)
{
    size_t in = len > UINT32_MAX ? UINT32_MAX : len;
    ix->z.next_in = (unsigned char *)p;
    ix->z.avail_in = (uInt)in;
    int zr;
    for (;;) {
        zr = inflate(&ix->z, Z_NO_FLUSH);
        if (zr != Z_OK && zr != Z_BUF_ERROR)
            break;
        if (ix->z.avail_out > 0 || ix->data_cap == ix->cur_size + 1)
            break;
        /* Output full, stated size not reached: grow towards it and go on. */
        size_t used = ix->data_cap;
        size_t cap = used * 2 < ix->cur_size + 1 ? used * 2 : ix->cur_size + 1;
        unsigned char *grown = realloc(ix->data, cap);
        if (!grown)
            return twin_error(TWIN_ERROR, "out of memory");
        ix->data = grown;
        ix->data_cap = cap;
        ix->z.next_out = ix->data + used;
        ix->z.avail_out = (uInt)(cap - used);
    }
    *took = in - ix->z.avail_in;
    ix->cur.crc = (uint32_t)crc32(ix->cur.crc, p, (uInt)*took);
    /* zlib never needs much more room than the data (5 bytes a stored block of 64 KiB); a stream
     * padded far beyond that would cost its whole length each time it is read back. */
    if (ix->z.total_in > ix->cur_size + ix->cur_size / 16 + 65536)
        return bad(ix, ix->cur.off, "is stored in %lu bytes, far more than the %zu it holds",
                   ix->z.total_in, ix->cur_size);
    if (zr == Z_STREAM_END) {
        if (ix->z.total_out != ix->cur_size)
            return bad(ix, ix->cur.off, "inflates to %lu bytes, not the %zu its header states",
                       ix->z.total_out, ix->cur_size);
        ix->off += ix->buf_len + ix->z.total_in;
        ix->buf_len = 0;
        int rc = entry_done(ix);
        if (rc)
            return rc;
        ix->state = ix->n == ix->declared ? ST_TRAILER : ST_ENTRY_HEADER;
        return 0;
    }
    if (zr == Z_OK || (zr == Z_BUF_ERROR && ix->z.avail_in == 0)) {
        if (ix->z.avail_out == 0)
            return bad(ix, ix->cur.off, "inflates to more than the %zu bytes its header states",
                       ix->cur_size);
        return 0; /* more input wanted */
    }
    return bad(ix, ix->cur.off, "is not a valid zlib stream (%s)",
               ix->z.msg ? ix->z.msg : "zlib error");
}

/* ---- the baseline: libgit2's indexer -------------------------------------------------------- */

/* libgit2's error, as twin's indexer reports a pack it refuses. */
static int lg_failed(twin_indexer *ix, const char *doing)
{
    const git_error *e = git_error_last();
    ix->failed = true;
    if (e && e->klass == GIT_ERROR_NOMEMORY)
        return twin_error(TWIN_ERROR, "out of memory");
    return twin_error(TWIN_EINVALID, "received pack: libgit2's indexer %s: %s", doing,
                      e ? e->message : "failed");
}

/* The pack's header is checked as twin's indexer checks it (libgit2 takes version 3, and any
 * count); the rest, header included, goes to libgit2's indexer as it comes. */
static int lg_append(twin_indexer *ix, const unsigned char *p, size_t len)
{
    if (ix->buf_len < TWIN_GITFMT_PACK_HEADER) {
        size_t took = TWIN_GITFMT_PACK_HEADER - ix->buf_len < len
                          ? TWIN_GITFMT_PACK_HEADER - ix->buf_len
                          : len;
        uint32_t count;
        int rc;
        memcpy(ix->buf + ix->buf_len, p, took);
        ix->buf_len += took;
        if (ix->buf_len == TWIN_GITFMT_PACK_HEADER && (rc = check_pack_header(ix, &count)))
            return rc;
    }
    if (len > 0 && git_indexer_append(ix->lg, p, len, &ix->lg_progress) < 0)
        return lg_failed(ix, "refused it");
    return 0;
}

static int lg_finish(twin_indexer *ix, char name_out[41])
{
    if (ix->failed)
        return twin_error(TWIN_EINVALID, "received pack: finished after an error");
    if (git_indexer_commit(ix->lg, &ix->lg_progress) < 0)
        return lg_failed(ix, "refused it at its end");
    snprintf(name_out, 41, "%s", git_indexer_name(ix->lg));
    return 0;
}

int twin_indexer_append(twin_indexer *ix, const void *data, size_t len)
{
    if (ix->failed)
        return twin_error(TWIN_EINVALID, "received pack: more bytes after an error");
    if (len > TWIN_PACK_MAX_BYTES - ix->received) {
        ix->failed = true;
        return twin_error(TWIN_ELIMIT, "received pack is larger than %zu bytes",
                          (size_t)TWIN_PACK_MAX_BYTES);
    }
    ix->received += len;
    const unsigned char *p = data;
    if (ix->lg)
        return lg_append(ix, p, len);
    if (ix->in_memory && len > 0) {
        if (twin_util_grow((void **)&ix->mem, &ix->mem_cap, ix->mem_len + len, 1)) {
            ix->failed = true;
            return TWIN_ERROR;
        }
        memcpy(ix->mem + ix->mem_len, p, len);
        ix->mem_len += len;
    } else if (!ix->in_memory && twin_util_write_all(ix->fd, p, len) != 0) {
        ix->failed = true;
        return twin_error(TWIN_ERROR, "cannot write the received pack: %s", strerror(errno));
    }
    while (len > 0) {
        size_t took = 0;
        int rc = 0, was = ix->state;
        switch (ix->state) {
        case ST_PACK_HEADER:
            took = TWIN_GITFMT_PACK_HEADER - ix->buf_len < len
                       ? TWIN_GITFMT_PACK_HEADER - ix->buf_len
                       : len;
            memcpy(ix->buf + ix->buf_len, p, took);
            ix->buf_len += took;
            if (ix->buf_len == TWIN_GITFMT_PACK_HEADER)
                rc = take_pack_header(ix);
            break;
        case ST_ENTRY_HEADER:
            rc = take_entry_header(ix, p, len, &took);
            break;
        case ST_ENTRY_DATA:
            rc = take_entry_data(ix, p, len, &took);
            break;
        case ST_TRAILER:
            took = TWIN_SHA1_BYTES - ix->buf_len < len ? TWIN_SHA1_BYTES - ix->buf_len : len;
            memcpy(ix->buf + ix->buf_len, p, took);
            ix->buf_len += took;
            if (ix->buf_len == TWIN_SHA1_BYTES)
                ix->state = ST_DONE;
            break;
        default:
            ix->failed = true;
            return twin_error(TWIN_EINVALID, "received pack: bytes after its checksum");
        }
        if (rc) {
            ix->failed = true;
            return rc;
        }
        if (was != ST_TRAILER) /* the checksum covers everything before itself */
            twin_sha1_update(&ix->sum, p, took);
        p += took;
        len -= took;
    }
    return 0;
}

/* ---- the end -------------------------------------------------------------------------------- */

/* A deferred delta by what it waits on: 0 and its base's offset (OFS_DELTA), or 1 and its base's
 * id (REF_DELTA). */
struct ix_wait {
    unsigned char key[1 + TWIN_SHA1_BYTES];
    uint32_t e;
};

static void wait_key(unsigned char *key, bool ref, uint64_t off, const unsigned char *id)
{
    memset(key, 0, 1 + TWIN_SHA1_BYTES);
    key[0] = ref;
    if (ref)
        memcpy(key + 1, id, TWIN_SHA1_BYTES);
    else
        for (int i = 0; i < 8; i++)
            key[1 + i] = (unsigned char)(off >> (56 - 8 * i));
}

static int wait_cmp(const void *a, const void *b)
{
    return memcmp(((const struct ix_wait *)a)->key, ((const struct ix_wait *)b)->key,
                  1 + TWIN_SHA1_BYTES);
}

/* Names the deltas whose base came after them. Each is named as soon as its base is, found among
 * the others by what it waits on (as git's index-pack does): rounds over all of them until none is
 * left would cost as many rounds as deltas when each waits on the one after it. */
static int name_deferred(twin_indexer *ix)
{
    size_t n = ix->ndeferred, nready = 0;
    int rc = flush(ix); /* the names of the bases hashed so far */
    if (rc || n == 0)
        return rc;
    struct ix_wait *w = malloc(n * sizeof(*w));
    uint32_t *ready = malloc(n * sizeof(*ready)); /* each delta once, when its base is named */
    if (!w || !ready) {
        free(w);
        free(ready);
        return twin_error(TWIN_ERROR, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        const struct ix_entry *en = &ix->v[ix->deferred[i]];
        bool ref = en->kind == TWIN_GITFMT_REF_DELTA;
        wait_key(w[i].key, ref, en->base, ref ? ix->refs[en->base] : NULL);
        w[i].e = ix->deferred[i];
        if (base_of(ix, en) >= 0)
            ready[nready++] = ix->deferred[i];
    }
    qsort(w, n, sizeof(*w), wait_cmp);
    while (rc == 0 && nready > 0) {
        size_t e = ready[--nready];
        unsigned char *delta;
        size_t delta_size;
        if ((rc = read_back(ix, e, &delta, &delta_size)))
            break;
        rc = name_delta(ix, e, (size_t)base_of(ix, &ix->v[e]), delta, delta_size);
        free(delta);
        if (rc == 0)
            rc = flush(ix); /* its name, for the deltas that name it */
        /* The deltas waiting on e: none was ready before, and an id is named only once. */
        for (int ref = 0; rc == 0 && ref < 2; ref++) {
            unsigned char key[1 + TWIN_SHA1_BYTES];
            wait_key(key, ref, ix->v[e].off, ix->v[e].id);
            size_t lo = 0, hi = n;
            while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (memcmp(w[mid].key, key, sizeof(key)) < 0)
                    lo = mid + 1;
                else
                    hi = mid;
            }
            for (; lo < n && nready < n && memcmp(w[lo].key, key, sizeof(key)) == 0; lo++)
                ready[nready++] = w[lo].e;
        }
    }
    free(w);
    free(ready);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        const struct ix_entry *en = &ix->v[ix->deferred[i]];
        if (en->type)
            continue;
        if (en->kind == TWIN_GITFMT_REF_DELTA) {
            git_oid id;
            memcpy(id.id, ix->refs[en->base], TWIN_SHA1_BYTES);
            return bad(ix, en->off, "is a delta against %s, which is not in the pack",
                       git_oid_tostr_s(&id));
        }
        return bad(ix, en->off, "is a delta whose base cannot be named");
    }
    ix->ndeferred = 0;
    return rc;
}

/* All of twin_indexer_finish but the files: the checks, the names of the objects left, the
 * pack's name (from its checksum, into sum and name_out) and its index. */
static int finish_index(twin_indexer *ix, char name_out[41], unsigned char sum[TWIN_SHA1_BYTES],
                        unsigned char **idx, size_t *idx_len)
{
    int rc = 0;
    if (ix->failed)
        return twin_error(TWIN_EINVALID, "received pack: finished after an error");
    if (ix->state != ST_DONE) {
        ix->failed = true;
        return twin_error(TWIN_EINVALID,
                          "received pack is incomplete: it ends after %zu of its %u objects", ix->n,
                          ix->declared);
    }
    twin_sha1_final(&ix->sum, sum);
    if (memcmp(sum, ix->buf, TWIN_SHA1_BYTES) != 0) {
        ix->failed = true;
        return twin_error(TWIN_EINVALID, "received pack does not match its checksum");
    }
    if ((rc = name_deferred(ix)))
        return rc;
    for (size_t i = 0; i < ix->n; i++)
        if (!ix->v[i].named)
            return bad(ix, ix->v[i].off, "was never named"); /* cannot happen */
    struct twin_gitfmt_idx_entry *objs = malloc((ix->n ? ix->n : 1) * sizeof(*objs));
    if (!objs)
        return twin_error(TWIN_ERROR, "out of memory");
    for (size_t i = 0; i < ix->n; i++) {
        memcpy(objs[i].id, ix->v[i].id, TWIN_SHA1_BYTES);
        objs[i].offset = ix->v[i].off;
        objs[i].crc = ix->v[i].crc;
    }
    rc = twin_gitfmt_idx_build(idx, idx_len, objs, ix->n, sum);
    free(objs);
    if (rc)
        return rc;
    static const char hexdigits[] = "0123456789abcdef";
    for (int i = 0; i < TWIN_SHA1_BYTES; i++) {
        name_out[2 * i] = hexdigits[sum[i] >> 4];
        name_out[2 * i + 1] = hexdigits[sum[i] & 15];
    }
    name_out[40] = '\0';
    return 0;
}

int twin_indexer_finish(twin_indexer *ix, char name_out[41])
{
    if (ix->in_memory)
        return twin_error(TWIN_ERROR, "received pack: kept in memory, it has no files to finish");
    if (ix->lg)
        return lg_finish(ix, name_out);
    unsigned char sum[TWIN_SHA1_BYTES];
    unsigned char *idx = NULL;
    size_t idx_len = 0;
    int rc = finish_index(ix, name_out, sum, &idx, &idx_len);
    if (rc)
        return rc;
    char final[4300], idx_tmp[4200];
    snprintf(final, sizeof(final), "%s/pack-%s.pack", ix->dir, name_out);
    int fd = ix->fd;
    ix->fd = -1;
    if ((rc = twin_pack_finish_file(fd, ix->tmp, final, twin_global_durable()))) {
        free(idx);
        return rc;
    }
    int ifd = twin_pack_open_temp(idx_tmp, sizeof(idx_tmp), ix->dir);
    if (ifd < 0) {
        free(idx);
        return ifd;
    }
    if (twin_util_write_all(ifd, idx, idx_len) != 0) {
        rc = twin_error(TWIN_ERROR, "cannot write the received pack's index: %s", strerror(errno));
        close(ifd);
        unlink(idx_tmp);
        free(idx);
        return rc;
    }
    free(idx);
    snprintf(final, sizeof(final), "%s/pack-%s.idx", ix->dir, name_out);
    return twin_pack_finish_file(ifd, idx_tmp, final, twin_global_durable());
}

int twin_indexer_finish_mem(twin_indexer *ix, char name_out[41], unsigned char **idx,
                            size_t *idx_len)
{
    *idx = NULL;
    *idx_len = 0;
    if (!ix->in_memory)
        return twin_error(TWIN_ERROR, "received pack: written to a file, it is finished there");
    unsigned char sum[TWIN_SHA1_BYTES];
    return finish_index(ix, name_out, sum, idx, idx_len);
}
