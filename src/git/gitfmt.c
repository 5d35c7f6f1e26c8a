#include "git/gitfmt.h"

#include <inttypes.h>
#include <libdeflate.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/sha1.h"
#include "twin/error.h"

/* ---- trees ---------------------------------------------------------------------------------- */

size_t twin_gitfmt_tree_entry_put(unsigned char *out, uint32_t mode, const char *name,
                                  size_t name_len, const unsigned char *id)
{
    unsigned char *p = out;
    if (mode == 0100644) {
        memcpy(p, TWIN_GITFMT_MODE_BLOB, 6);
        p += 6;
    } else if (mode == 040000) {
        memcpy(p, TWIN_GITFMT_MODE_TREE, 5);
        p += 5;
    } else { /* octal, without leading zeros */
        unsigned char digits[11];
        size_t n = 0;
        do {
            digits[n++] = (unsigned char)('0' + (mode & 7));
            mode >>= 3;
        } while (mode);
        while (n)
            *p++ = digits[--n];
    }
    *p++ = ' ';
    memcpy(p, name, name_len);
    p += name_len;
    *p++ = '\0';
    memcpy(p, id, TWIN_SHA1_BYTES);
    return (size_t)(p - out) + TWIN_SHA1_BYTES;
}

size_t twin_gitfmt_tree_entry_len(const unsigned char *p, size_t left)
{
    const unsigned char *nul = memchr(p, 0, left);
    if (!nul || (size_t)(nul - p) + 1 + TWIN_SHA1_BYTES > left)
        return 0;
    return (size_t)(nul - p) + 1 + TWIN_SHA1_BYTES;
}

int twin_gitfmt_tree_entry_cmp(const unsigned char *a, const unsigned char *b)
{
    const char *an = strchr((const char *)a, ' '), *bn = strchr((const char *)b, ' ');
    if (!an || !bn)
        return 0;
    an++;
    bn++;
    return twin_gitfmt_tree_order(an, strlen(an), a[0] == '4', bn, strlen(bn), b[0] == '4');
}

/* ---- packs ---------------------------------------------------------------------------------- */

static void put32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

static uint32_t get32(const unsigned char *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

void twin_gitfmt_pack_header_put(unsigned char out[TWIN_GITFMT_PACK_HEADER], uint32_t count)
{
    memcpy(out, "PACK", 4);
    put32(out + 4, 2);
    put32(out + 8, count);
}

bool twin_gitfmt_pack_header_get(uint32_t *version, uint32_t *count,
                                 const unsigned char b[TWIN_GITFMT_PACK_HEADER])
{
    *version = get32(b + 4);
    *count = get32(b + 8);
    return memcmp(b, "PACK", 4) == 0;
}

size_t twin_gitfmt_entry_header_put(unsigned char *out, int type, uint64_t size)
{
    size_t n = 0;
    uint64_t rest = size >> 4;
    out[n++] = (unsigned char)((type & 7) << 4 | (size & 15) | (rest ? 0x80 : 0));
    while (rest) {
        out[n] = (unsigned char)(rest & 0x7f);
        rest >>= 7;
        if (rest)
            out[n] |= 0x80;
        n++;
    }
    return n;
}

size_t twin_gitfmt_ofs_put(unsigned char *out, uint64_t distance)
{
    unsigned char enc[10];
    size_t pos = sizeof(enc) - 1;
    enc[pos] = (unsigned char)(distance & 0x7f);
    while (distance >>= 7)
        enc[--pos] = (unsigned char)(0x80 | (--distance & 0x7f));
    memcpy(out, enc + pos, sizeof(enc) - pos);
    return sizeof(enc) - pos;
}

int twin_gitfmt_entry_parse(struct twin_gitfmt_entry *e, const unsigned char *b, size_t len)
{
    size_t i = 0;
    e->part = TWIN_GITFMT_AT_SIZE;
    e->distance = 0;
    e->base_id = NULL;
    if (len == 0)
        return 0;
    unsigned c = b[i++];
    e->type = (c >> 4) & 7;
    e->size = c & 15;
    for (unsigned shift = 4; c & 0x80; shift += 7) {
        if (i >= len)
            return 0;
        if (shift > 56) /* the next 7 bits would pass 64 */
            return -1;
        c = b[i++];
        e->size |= (uint64_t)(c & 0x7f) << shift;
    }
    e->part = TWIN_GITFMT_AT_BASE;
    if (e->type == TWIN_GITFMT_OFS_DELTA) {
        if (i >= len)
            return 0;
        c = b[i++];
        uint64_t back = c & 0x7f;
        while (c & 0x80) {
            if (i >= len)
                return 0;
            if (back >= (UINT64_C(1) << 56))
                return -1;
            c = b[i++];
            back = ((back + 1) << 7) | (c & 0x7f);
        }
        e->distance = back;
    } else if (e->type == TWIN_GITFMT_REF_DELTA) {
        if (len - i < TWIN_SHA1_BYTES)
            return 0;
        e->base_id = b + i;
        i += TWIN_SHA1_BYTES;
    } else if (e->type < 1 || e->type > 4) {
        e->part = TWIN_GITFMT_AT_TYPE;
        return -1;
    }
    e->part = 0;
    return (int)i;
}

/* ---- entry data: zlib streams --------------------------------------------------------------- */

size_t twin_gitfmt_entry_head_put(unsigned char *out, int type, uint64_t size, uint64_t distance)
{
    size_t n = twin_gitfmt_entry_header_put(out, type, size);
    if (type == TWIN_GITFMT_OFS_DELTA)
        n += twin_gitfmt_ofs_put(out + n, distance);
    return n;
}

int twin_gitfmt_entry_stored_write(int type, uint64_t distance, const unsigned char *data,
                                   size_t len, twin_gitfmt_put_fn put, void *ctx)
{
    unsigned char head[TWIN_GITFMT_ENTRY_HEADER_MAX + 2];
    size_t h = twin_gitfmt_entry_head_put(head, type, len, distance);
    head[h++] = 0x78; /* zlib: deflate, 32 KiB window, no dictionary, fastest */
    head[h++] = 0x01;
    int rc = put(head, h, ctx);
    size_t at = 0;
    do {
        size_t take = len - at < 0xffff ? len - at : 0xffff;
        unsigned char blk[5] = {at + take == len ? 1 : 0, (unsigned char)take,
                                (unsigned char)(take >> 8), (unsigned char)~take,
                                (unsigned char)(~take >> 8)};
        if (rc == 0)
            rc = put(blk, sizeof(blk), ctx);
        if (rc == 0 && take)
            rc = put(data + at, take, ctx);
        at += take;
    } while (rc == 0 && at < len);
    unsigned char sum[4];
    put32(sum, (uint32_t)libdeflate_adler32(1, data, len));
    return rc ? rc : put(sum, sizeof(sum), ctx);
}

const unsigned char *twin_gitfmt_stored_view(bool *sum_ok, const unsigned char *z, size_t avail,
                                             size_t size)
{
    if (avail < 11 || size > 0xffff || size > avail - 11 || z[0] != 0x78 ||
        ((unsigned)z[0] << 8 | z[1]) % 31 != 0 || (z[1] & 0x20) || (z[2] & 0x07) != 0x01)
        return NULL;
    unsigned len = (unsigned)z[3] | (unsigned)z[4] << 8,
             nlen = (unsigned)z[5] | (unsigned)z[6] << 8;
    if (len != size || (len ^ nlen) != 0xffff)
        return NULL;
    *sum_ok = libdeflate_adler32(1, z + 7, size) == get32(z + 7 + size);
    return z + 7;
}

int twin_gitfmt_inflate_exact(struct libdeflate_decompressor **d, unsigned char *out, size_t size,
                              const unsigned char *z, size_t avail)
{
    bool sum_ok = false;
    const unsigned char *stored = twin_gitfmt_stored_view(&sum_ok, z, avail, size);
    if (stored) {
        if (!sum_ok)
            return TWIN_GITFMT_INFLATE_SUM;
        memcpy(out, stored, size);
        return TWIN_GITFMT_INFLATE_OK;
    }
    struct libdeflate_decompressor *own = NULL, **use = d ? d : &own;
    if (!*use && !(*use = libdeflate_alloc_decompressor()))
        return TWIN_GITFMT_INFLATE_NOMEM;
    size_t got = 0;
    enum libdeflate_result r = libdeflate_zlib_decompress_ex(*use, z, avail, out, size, NULL, &got);
    libdeflate_free_decompressor(own);
    if (r == LIBDEFLATE_INSUFFICIENT_SPACE)
        return TWIN_GITFMT_INFLATE_LONG;
    if (r != LIBDEFLATE_SUCCESS)
        return TWIN_GITFMT_INFLATE_DAMAGED;
    return got == size ? TWIN_GITFMT_INFLATE_OK : TWIN_GITFMT_INFLATE_SHORT;
}

/* ---- pack indexes --------------------------------------------------------------------------- */

#define IDX_V1_HEADER (256 * 4)

static uint64_t get64(const unsigned char *p)
{
    return (uint64_t)get32(p) << 32 | get32(p + 4);
}

static int cmp_idx_entry(const void *a, const void *b)
{
    return memcmp(((const struct twin_gitfmt_idx_entry *)a)->id,
                  ((const struct twin_gitfmt_idx_entry *)b)->id, TWIN_SHA1_BYTES);
}

int twin_gitfmt_idx_build(unsigned char **out, size_t *out_len, struct twin_gitfmt_idx_entry *objs,
                          size_t count, const unsigned char pack_sum[TWIN_SHA1_BYTES])
{
    qsort(objs, count, sizeof(*objs), cmp_idx_entry);
    size_t large = 0;
    for (size_t i = 0; i < count; i++)
        large += objs[i].offset >= TWIN_GITFMT_IDX_LARGE;
    size_t len =
        TWIN_GITFMT_IDX_HEADER + count * (TWIN_SHA1_BYTES + 8) + large * 8 + 2 * TWIN_SHA1_BYTES;
    unsigned char *idx = malloc(len), *p = idx;
    if (!idx)
        return twin_error(TWIN_ERROR, "out of memory");
    memcpy(p, "\377tOc", 4);
    put32(p + 4, 2);
    p += 8;
    size_t at = 0;
    for (int b = 0; b < 256; b++) {
        while (at < count && objs[at].id[0] == b)
            at++;
        put32(p + 4 * b, (uint32_t)at);
    }
    p += 256 * 4;
    for (size_t i = 0; i < count; i++, p += TWIN_SHA1_BYTES)
        memcpy(p, objs[i].id, TWIN_SHA1_BYTES);
    for (size_t i = 0; i < count; i++, p += 4)
        put32(p, objs[i].crc);
    unsigned char *large_at = p + 4 * count;
    size_t nlarge = 0;
    for (size_t i = 0; i < count; i++, p += 4) {
        if (objs[i].offset < TWIN_GITFMT_IDX_LARGE) {
            put32(p, (uint32_t)objs[i].offset);
            continue;
        }
        put32(p, TWIN_GITFMT_IDX_LARGE | (uint32_t)nlarge);
        put32(large_at + 8 * nlarge, (uint32_t)(objs[i].offset >> 32));
        put32(large_at + 8 * nlarge + 4, (uint32_t)objs[i].offset);
        nlarge++;
    }
    p = large_at + 8 * nlarge;
    memcpy(p, pack_sum, TWIN_SHA1_BYTES);
    p += TWIN_SHA1_BYTES;
    twin_sha1_ctx c;
    twin_sha1_init(&c);
    twin_sha1_update(&c, idx, (size_t)(p - idx));
    twin_sha1_final(&c, p);
    *out = idx;
    *out_len = len;
    return 0;
}

/* Returns fault, with its message in why when there is room for one. */
static int idx_fault(int fault, char *why, size_t why_size, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int idx_fault(int fault, char *why, size_t why_size, const char *fmt, ...)
{
    if (why && why_size) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(why, why_size, fmt, ap);
        va_end(ap);
    }
    return fault;
}

int twin_gitfmt_idx_parse(struct twin_gitfmt_idx *x, const unsigned char *p, size_t len, char *why,
                          size_t why_size)
{
    memset(x, 0, sizeof(*x));
    x->bytes = p;
    x->len = len;
    x->pack_sum = len >= 2 * TWIN_SHA1_BYTES ? p + len - 2 * TWIN_SHA1_BYTES : NULL;
    bool v2 = len >= 8 && memcmp(p, "\377tOc", 4) == 0;
    x->version = v2 ? (int)get32(p + 4) : 1;
    if (v2 && x->version != 2)
        return idx_fault(TWIN_GITFMT_IDX_VERSION, why, why_size,
                         "is an index of version %d; git knows versions 1 and 2", x->version);
    size_t header = v2 ? TWIN_GITFMT_IDX_HEADER : IDX_V1_HEADER;
    if (len < header + 2 * TWIN_SHA1_BYTES)
        return idx_fault(TWIN_GITFMT_IDX_SHORT, why, why_size,
                         "is too short to be a pack index (%zu bytes)", len);
    const unsigned char *fan = p + header - 256 * 4;
    uint32_t prev = 0;
    for (int i = 0; i < 256; i++) {
        uint32_t f = get32(fan + 4 * i);
        if (f < prev)
            return idx_fault(TWIN_GITFMT_IDX_FANOUT, why, why_size,
                             "its fan-out falls at entry %d (%u after %u)", i, f, prev);
        prev = f;
    }
    uint64_t n = prev, tables = len - header - 2 * TWIN_SHA1_BYTES;
    /* Version 2: 28 bytes an object, then whole 8-byte offsets, fewer than the objects (git's
     * bound: only an object after the first can lie 2 GiB in). */
    if (v2 ? tables < 28 * n || (tables - 28 * n) % 8 != 0 ||
                 (tables - 28 * n) / 8 > (n ? n - 1 : 0)
           : tables != 24 * n)
        return idx_fault(TWIN_GITFMT_IDX_SIZE, why, why_size,
                         "its size (%zu bytes) does not fit its %u objects", len, prev);
    x->count = prev;
    x->fan = fan;
    if (v2) {
        x->ids = p + TWIN_GITFMT_IDX_HEADER;
        x->stride = TWIN_SHA1_BYTES;
        x->crcs = x->ids + TWIN_SHA1_BYTES * n;
        x->offs = x->crcs + 4 * n;
        x->large = x->offs + 4 * n;
        x->nlarge = (size_t)(tables - 28 * n) / 8;
    } else {
        x->ids = p + IDX_V1_HEADER + 4;
        x->stride = TWIN_SHA1_BYTES + 4;
        x->offs = p + IDX_V1_HEADER;
    }
    return TWIN_GITFMT_IDX_OK;
}

bool twin_gitfmt_idx_sum_ok(const struct twin_gitfmt_idx *x)
{
    unsigned char sum[TWIN_SHA1_BYTES];
    twin_sha1_ctx c;
    twin_sha1_init(&c);
    twin_sha1_update(&c, x->bytes, x->len - TWIN_SHA1_BYTES);
    twin_sha1_final(&c, sum);
    return memcmp(sum, x->bytes + x->len - TWIN_SHA1_BYTES, TWIN_SHA1_BYTES) == 0;
}

/* The entries whose ids start with byte b: [*lo, *hi). */
static void idx_bucket(uint32_t *lo, uint32_t *hi, const struct twin_gitfmt_idx *x, unsigned b)
{
    *lo = b ? get32(x->fan + 4 * (b - 1)) : 0;
    *hi = get32(x->fan + 4 * b);
}

int twin_gitfmt_idx_entry_check(const struct twin_gitfmt_idx *x, uint32_t i, char *why,
                                size_t why_size)
{
    const unsigned char *id = twin_gitfmt_idx_id(x, i);
    uint32_t lo, hi;
    idx_bucket(&lo, &hi, x, id[0]);
    if (i > 0 && memcmp(twin_gitfmt_idx_id(x, i - 1), id, TWIN_SHA1_BYTES) >= 0)
        return idx_fault(TWIN_GITFMT_IDX_ORDER, why, why_size,
                         "entry %u is not after the one before it: the ids are out of order", i);
    if (i < lo || i >= hi)
        return idx_fault(TWIN_GITFMT_IDX_BUCKET, why, why_size,
                         "entry %u lies outside the fan-out bucket of its first byte", i);
    return TWIN_GITFMT_IDX_OK;
}

int twin_gitfmt_idx_offset(uint64_t *off, const struct twin_gitfmt_idx *x, uint32_t i,
                           uint64_t pack_len, char *why, size_t why_size)
{
    uint32_t v = get32(x->offs + (size_t)i * (x->version == 1 ? 24 : 4));
    uint64_t o = v;
    if (x->version == 2 && (v & TWIN_GITFMT_IDX_LARGE)) {
        if ((v & ~TWIN_GITFMT_IDX_LARGE) >= x->nlarge)
            return idx_fault(TWIN_GITFMT_IDX_NO_LARGE, why, why_size,
                             "entry %u names a large offset the index does not hold", i);
        o = get64(x->large + 8 * (size_t)(v & ~TWIN_GITFMT_IDX_LARGE));
    }
    *off = o;
    if (o < TWIN_GITFMT_PACK_HEADER || pack_len < TWIN_GITFMT_PACK_HEADER + TWIN_SHA1_BYTES ||
        o >= pack_len - TWIN_SHA1_BYTES)
        return idx_fault(TWIN_GITFMT_IDX_OUTSIDE, why, why_size,
                         "entry %u points outside the pack's objects", i);
    return TWIN_GITFMT_IDX_OK;
}

int twin_gitfmt_idx_check(const struct twin_gitfmt_idx *x, uint64_t pack_len, char *why,
                          size_t why_size)
{
    for (uint32_t i = 0; i < x->count; i++) {
        uint64_t off;
        int fault = twin_gitfmt_idx_entry_check(x, i, why, why_size);
        if (!fault)
            fault = twin_gitfmt_idx_offset(&off, x, i, pack_len, why, why_size);
        if (fault)
            return fault;
    }
    return TWIN_GITFMT_IDX_OK;
}

int twin_gitfmt_idx_find(uint32_t *pos, const struct twin_gitfmt_idx *x, const unsigned char *id)
{
    uint32_t lo, hi;
    idx_bucket(&lo, &hi, x, id[0]);
    /* The first 8 bytes compared as a number settle all but a few comparisons. */
    uint64_t want = get64(id);
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        const unsigned char *at = twin_gitfmt_idx_id(x, mid);
        uint64_t have = get64(at);
        int c = have < want ? -1 : have > want ? 1 : memcmp(at + 8, id + 8, TWIN_SHA1_BYTES - 8);
        if (c == 0) {
            *pos = mid;
            return 1;
        }
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return 0;
}

/* ---- deltas --------------------------------------------------------------------------------- */

size_t twin_gitfmt_delta_size_put(unsigned char *out, uint64_t size)
{
    size_t n = 0;
    do {
        unsigned char b = size & 0x7f;
        size >>= 7;
        out[n++] = (unsigned char)(b | (size ? 0x80 : 0));
    } while (size);
    return n;
}

size_t twin_gitfmt_delta_copy_put(unsigned char *out, uint64_t offset, size_t size)
{
    unsigned char *op = out, *p = out + 1;
    *op = 0x80;
    for (int i = 0; i < 4; i++)
        if ((offset >> (8 * i)) & 0xff) {
            *p++ = (unsigned char)(offset >> (8 * i));
            *op |= (unsigned char)(1 << i);
        }
    for (int i = 0; i < 3; i++)
        if ((size >> (8 * i)) & 0xff) {
            *p++ = (unsigned char)(size >> (8 * i));
            *op |= (unsigned char)(0x10 << i);
        }
    return (size_t)(p - op);
}

size_t twin_gitfmt_delta_insert_put(unsigned char *out, const unsigned char *data, size_t n)
{
    out[0] = (unsigned char)n;
    memcpy(out + 1, data, n);
    return n + 1;
}

static int delta_varint(size_t *v, const unsigned char *d, size_t len, size_t *i)
{
    *v = 0;
    for (unsigned shift = 0;; shift += 7) {
        if (*i >= len || shift > 56)
            return -1;
        unsigned char c = d[(*i)++];
        *v |= (size_t)(c & 0x7f) << shift;
        if (!(c & 0x80))
            return 0;
    }
}

int twin_gitfmt_delta_sizes(size_t *base_size, size_t *result_size, size_t *start,
                            const unsigned char *d, size_t len)
{
    *start = 0;
    return delta_varint(base_size, d, len, start) || delta_varint(result_size, d, len, start) ? -1
                                                                                              : 0;
}

bool twin_gitfmt_delta_can_make(size_t result_size, size_t base_size, size_t len)
{
    size_t most = base_size < TWIN_GITFMT_DELTA_COPY_MAX ? base_size : TWIN_GITFMT_DELTA_COPY_MAX;
    if (most < 1) /* one instruction's output */
        most = 1;
    return result_size / most + (result_size % most != 0) <= len;
}

int twin_gitfmt_delta_apply(unsigned char *out, size_t result_size, const unsigned char *base,
                            size_t base_size, const unsigned char *d, size_t len, size_t start)
{
    size_t i = start, at = 0;
    while (i < len) {
        unsigned char cmd = d[i++];
        if (cmd & 0x80) {
            size_t from = 0, n = 0;
            for (int b = 0; b < 4; b++)
                if (cmd & (1u << b)) {
                    if (i >= len)
                        return -1;
                    from |= (size_t)d[i++] << (8 * b);
                }
            for (int b = 0; b < 3; b++)
                if (cmd & (0x10u << b)) {
                    if (i >= len)
                        return -1;
                    n |= (size_t)d[i++] << (8 * b);
                }
            if (n == 0)
                n = 0x10000;
            if (from > base_size || n > base_size - from || n > result_size - at)
                return -1;
            memcpy(out + at, base + from, n);
            at += n;
        } else if (cmd) {
            if (cmd > len - i || cmd > result_size - at)
                return -1;
            memcpy(out + at, d + i, cmd);
            at += cmd;
            i += cmd;
        } else {
            return -1; /* instruction 0 is reserved */
        }
    }
    return at == result_size ? 0 : -1;
}

/* ---- commits -------------------------------------------------------------------------------- */

static char *put_str(char *p, const char *s, size_t n)
{
    memcpy(p, s, n);
    return p + n;
}

static char *put_id_line(char *p, const char *field, size_t field_len, const git_oid *id)
{
    p = put_str(p, field, field_len);
    git_oid_fmt(p, id);
    p += GIT_OID_HEXSZ;
    *p++ = '\n';
    return p;
}

/* "<field> <name> <<email>> <when> +0000\n" */
static char *put_person(char *p, const char *field, size_t field_len, const char *name,
                        size_t name_len, const char *email, size_t email_len, int64_t when)
{
    p = put_str(p, field, field_len);
    p = put_str(p, name, name_len);
    p = put_str(p, " <", 2);
    p = put_str(p, email, email_len);
    p = put_str(p, "> ", 2);
    p += snprintf(p, 21, "%" PRId64, when);
    return put_str(p, " +0000\n", 7);
}

int twin_gitfmt_commit_text(char **out, size_t *len, const git_oid *tree, const git_oid *parents,
                            size_t nparents, const char *name, const char *email, int64_t when,
                            const char *message)
{
    size_t name_len = strlen(name), email_len = strlen(email), msg_len = strlen(message);
    size_t person = 10 + name_len + 2 + email_len + 2 + 20 + 7; /* "committer " ... "\n" */
    size_t cap =
        5 + GIT_OID_HEXSZ + 1 + nparents * (7 + GIT_OID_HEXSZ + 1) + 2 * person + 1 + msg_len + 1;
    char *buf = malloc(cap), *p = buf;
    *out = NULL;
    *len = 0;
    if (!buf)
        return twin_error(TWIN_ERROR, "out of memory");
    p = put_id_line(p, "tree ", 5, tree);
    for (size_t i = 0; i < nparents; i++)
        p = put_id_line(p, "parent ", 7, &parents[i]);
    p = put_person(p, "author ", 7, name, name_len, email, email_len, when);
    p = put_person(p, "committer ", 10, name, name_len, email, email_len, when);
    *p++ = '\n';
    p = put_str(p, message, msg_len);
    *p = '\0';
    *out = buf;
    *len = (size_t)(p - buf);
    return 0;
}

int twin_gitfmt_commit_sign(char **out, size_t *len, const char *text, size_t text_len,
                            const char *sig, size_t sig_len)
{
    *out = NULL;
    *len = 0;
    size_t header = 0; /* up to and with the header's last newline */
    while (header + 1 < text_len && !(text[header] == '\n' && text[header + 1] == '\n'))
        header++;
    if (header + 1 >= text_len)
        return twin_error(TWIN_EINVALID, "a commit to sign has no header");
    header++;
    size_t lines = 1;
    for (size_t i = 0; i < sig_len; i++)
        lines += sig[i] == '\n';
    char *buf = malloc(text_len + 7 + sig_len + lines + 1), *p = buf;
    if (!buf)
        return twin_error(TWIN_ERROR, "out of memory");
    p = put_str(p, text, header);
    p = put_str(p, "gpgsig ", 7);
    for (size_t i = 0; i < sig_len; i++) {
        *p++ = sig[i];
        if (sig[i] == '\n')
            *p++ = ' ';
    }
    *p++ = '\n';
    p = put_str(p, text + header, text_len - header);
    *p = '\0';
    *out = buf;
    *len = (size_t)(p - buf);
    return 0;
}
