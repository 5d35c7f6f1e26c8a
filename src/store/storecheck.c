#include "store/storecheck.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libdeflate.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "base/sha1.h"
#include "git/gitfmt.h"
#include "twin/error.h"
#include "base/util.h"

#define WHOLE_MAX  ((size_t)64 << 20) /* larger objects are inflated a piece at a time */
#define TRIM_BYTES ((size_t)16 << 20) /* pages of a pack let go after this many bytes */

struct checker {
    twin_store_damage_fn fn;
    void *ctx;
    struct twin_store_stats *stats;
    int stop; /* what fn returned to stop the check */
    const char *file;
    size_t in_file, left_out; /* damages of this file reported, and not reported */
    struct libdeflate_decompressor *inflater;
    unsigned char *buf;
    size_t cap;
};

static void begin_file(struct checker *c, const char *file)
{
    c->file = file;
    c->in_file = c->left_out = 0;
}

static void report_v(struct checker *c, const git_oid *obj, bool has_offset, uint64_t offset,
                     const char *fmt, va_list ap) __attribute__((format(printf, 5, 0)));
static void report_v(struct checker *c, const git_oid *obj, bool has_offset, uint64_t offset,
                     const char *fmt, va_list ap)
{
    c->stats->damages++;
    if (c->stop)
        return;
    if (c->in_file >= TWIN_STORE_DAMAGES_PER_FILE) {
        c->left_out++;
        return;
    }
    c->in_file++;
    struct twin_store_damage d = {
        .has_object = obj != NULL, .has_offset = has_offset, .offset = offset};
    snprintf(d.file, sizeof(d.file), "%s", c->file);
    if (obj)
        d.object = *obj;
    vsnprintf(d.what, sizeof(d.what), fmt, ap);
    c->stop = c->fn(&d, c->ctx);
}

static void report(struct checker *c, const git_oid *obj, bool has_offset, uint64_t offset,
                   const char *fmt, ...) __attribute__((format(printf, 5, 6)));
static void report(struct checker *c, const git_oid *obj, bool has_offset, uint64_t offset,
                   const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    report_v(c, obj, has_offset, offset, fmt, ap);
    va_end(ap);
}

static void end_file(struct checker *c)
{
    if (c->left_out) {
        size_t more = c->left_out;
        c->in_file = 0; /* room for this one line */
        c->stats->damages--;
        report(c, NULL, false, 0, "and %zu more damages in this file", more);
    }
}

static int grow_buf(struct checker *c, size_t n)
{
    return twin_util_grow((void **)&c->buf, &c->cap, n ? n : 1, 1);
}

/* The whole file, mapped read-only; NULL with *len 0 when it is empty or cannot be read (*err set
 * to errno). */
static const unsigned char *map_whole(size_t *len, int *err, const char *path)
{
    *len = 0;
    *err = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0) {
        *err = errno;
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    void *p = NULL;
    if (st.st_size > 0) {
        p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            *err = errno;
            p = NULL;
        } else {
            *len = (size_t)st.st_size;
            madvise(p, *len, MADV_SEQUENTIAL);
        }
    }
    close(fd);
    return p;
}

/* ---- the index -------------------------------------------------------------------------- */

struct idx {
    const unsigned char *p;
    size_t len;
    bool usable; /* its tables can be read: x is set */
    struct twin_gitfmt_idx x;
};

static git_oid idx_oid(const struct idx *x, uint32_t i)
{
    git_oid id;
    memcpy(id.id, twin_gitfmt_idx_id(&x->x, i), GIT_OID_RAWSZ);
    return id;
}

/* Reads the index's framing and checks its checksum, fan-out, size and order of ids. */
static void check_index(struct checker *c, struct idx *x)
{
    char why[TWIN_GITFMT_IDX_WHY];
    x->usable = false;
    int fault = twin_gitfmt_idx_parse(&x->x, x->p, x->len, why, sizeof(why));
    if (fault == TWIN_GITFMT_IDX_VERSION || fault == TWIN_GITFMT_IDX_SHORT) {
        report(c, NULL, false, 0, "%s", why);
        return;
    }
    if (!twin_gitfmt_idx_sum_ok(&x->x))
        report(c, NULL, false, 0, "its SHA-1 checksum does not match its content");
    if (fault) {
        report(c, NULL, false, 0, "%s", why);
        return;
    }
    x->usable = true;
    for (uint32_t i = 0; i < x->x.count; i++)
        if (twin_gitfmt_idx_entry_check(&x->x, i, why, sizeof(why))) {
            git_oid oid = idx_oid(x, i);
            report(c, &oid, false, 0, "%s", why);
        }
}

/* ---- the pack ---------------------------------------------------------------------------- */

struct entry {
    uint64_t off;
    uint32_t index, crc;
};

/* Sorts the n entries of e by offset, up to max: a radix sort, 16 bits a pass (qsort took a tenth
 * of the check of a pack of 600,000 objects). */
static int sort_by_offset(struct entry *e, size_t n, uint64_t max)
{
    struct entry *tmp = twin_util_malloc_array(n, sizeof(*tmp)), *from = e, *to = tmp;
    size_t *at = malloc(65536 * sizeof(*at));
    if (!tmp || !at) {
        free(tmp);
        free(at);
        return twin_error(TWIN_ERROR, "out of memory");
    }
    for (unsigned shift = 0; shift < 64 && (max >> shift) != 0; shift += 16) {
        memset(at, 0, 65536 * sizeof(*at));
        for (size_t i = 0; i < n; i++)
            at[(from[i].off >> shift) & 0xffff]++;
        for (size_t d = 0, sum = 0; d < 65536; d++) {
            size_t k = at[d];
            at[d] = sum;
            sum += k;
        }
        for (size_t i = 0; i < n; i++)
            to[at[(from[i].off >> shift) & 0xffff]++] = from[i];
        struct entry *t = from;
        from = to;
        to = t;
    }
    if (from != e)
        memcpy(e, from, n * sizeof(*e));
    free(tmp);
    free(at);
    return 0;
}

static bool starts_object(const struct entry *e, size_t n, uint64_t off)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (e[mid].off == off)
            return true;
        if (e[mid].off < off)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

/* Inflates the zlib stream at z (at most avail bytes) that must hold exactly size bytes, and
 * hashes them as an object of type when type is not NULL. NULL when all is well, else what is
 * wrong. */
static const char *inflate_object(struct checker *c, unsigned char hash[TWIN_SHA1_BYTES],
                                  const char *type, const unsigned char *z, size_t avail,
                                  size_t size)
{
    if (size <= WHOLE_MAX) {
        if (grow_buf(c, size))
            return "cannot be checked: out of memory";
        switch (twin_gitfmt_inflate_exact(&c->inflater, c->buf, size, z, avail)) {
        case TWIN_GITFMT_INFLATE_OK:
            break;
        case TWIN_GITFMT_INFLATE_NOMEM:
            return "cannot be checked: out of memory";
        case TWIN_GITFMT_INFLATE_LONG:
            return "inflates to more bytes than its header states";
        case TWIN_GITFMT_INFLATE_SHORT:
            return "inflates to fewer bytes than its header states";
        default:
            return "its zlib stream is damaged, or does not match its adler32";
        }
        if (type)
            twin_sha1_object(hash, type, c->buf, size);
        return NULL;
    }
    /* A large object: zlib, a piece at a time, hashing as it goes. Not
     * twin_gitfmt_inflate_exact, which takes the whole object's bytes at once: a check of a store
     * of large files would hold each whole. */
    z_stream s;
    memset(&s, 0, sizeof(s));
    if (avail > UINT32_MAX)
        avail = UINT32_MAX;
    if (inflateInit(&s) != Z_OK || grow_buf(c, (size_t)1 << 20))
        return "cannot be checked: out of memory";
    twin_sha1_ctx sha;
    if (type) {
        char header[64];
        int n = snprintf(header, sizeof(header), "%s %zu", type, size);
        twin_sha1_init(&sha);
        twin_sha1_update(&sha, header, (size_t)n + 1);
    }
    const char *bad = NULL;
    size_t total = 0;
    int zr = Z_OK;
    s.next_in = (unsigned char *)z;
    s.avail_in = (uInt)avail;
    while (zr == Z_OK && !bad) {
        s.next_out = c->buf;
        s.avail_out = (uInt)(c->cap > UINT32_MAX ? UINT32_MAX : c->cap);
        size_t room = s.avail_out;
        zr = inflate(&s, Z_NO_FLUSH);
        size_t out = room - s.avail_out;
        total += out;
        if (type)
            twin_sha1_update(&sha, c->buf, out);
        if (total > size)
            bad = "inflates to more bytes than its header states";
    }
    if (!bad && zr != Z_STREAM_END)
        bad = "its zlib stream is damaged, or does not match its adler32";
    if (!bad && total != size)
        bad = "inflates to fewer bytes than its header states";
    inflateEnd(&s);
    if (!bad && type)
        twin_sha1_final(&sha, hash);
    return bad;
}

static const char *const type_names[] = {NULL, "commit", "tree", "blob", "tag"};

/* Checks one object of the pack, whose bytes run from e->off to end. */
static void check_object(struct checker *c, const struct idx *x, const unsigned char *pack,
                         const struct entry *e, uint64_t end, const struct entry *all, size_t n)
{
    git_oid oid = idx_oid(x, e->index);
    uint64_t off = e->off, i = off;
    c->stats->packed_objects++;
    if (x->x.version == 2 && libdeflate_crc32(0, pack + off, (size_t)(end - off)) != e->crc)
        report(c, &oid, true, off, "its CRC32 does not match the index's");
    /* The header: type and size, then an offset delta's base offset or a ref delta's base. */
    struct twin_gitfmt_entry h;
    int hlen = twin_gitfmt_entry_parse(&h, pack + off, (size_t)(end - off));
    if (hlen <= 0) {
        if (h.part == TWIN_GITFMT_AT_TYPE)
            report(c, &oid, true, off, "has an unknown type (%d)", h.type);
        else
            report(c, &oid, true, off, "has a malformed %sheader",
                   h.part == TWIN_GITFMT_AT_BASE ? "delta " : "");
        return;
    }
    i += (uint64_t)hlen;
    int type = h.type;
    uint64_t size = h.size, back = h.distance;
    if (type == TWIN_GITFMT_OFS_DELTA &&
        (back == 0 || back > off || !starts_object(all, n, off - back))) {
        report(c, &oid, true, off, "names a delta base %llu bytes back, where no object starts",
               (unsigned long long)back);
        return;
    }
    if (size > SIZE_MAX / 2) {
        report(c, &oid, true, off, "states a size too large to read (%llu bytes)",
               (unsigned long long)size);
        return;
    }
    bool whole = type >= 1 && type <= 4;
    unsigned char hash[TWIN_SHA1_BYTES];
    const char *bad = inflate_object(c, hash, whole ? type_names[type] : NULL, pack + i,
                                     (size_t)(end - i), (size_t)size);
    if (bad)
        report(c, &oid, true, off, "%s", bad);
    else if (whole && memcmp(hash, oid.id, GIT_OID_RAWSZ) != 0)
        report(c, &oid, true, off, "its content does not match its id");
}

/* Lets go of the pages of a mapping below upto (they stay in the page cache): a pass over a
 * large pack then keeps only what it is reading. */
static void trim_below(const unsigned char *p, uint64_t upto)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE), bytes = (size_t)upto / page * page;
    if (bytes)
        madvise((void *)p, bytes, MADV_DONTNEED);
}

/* The pack's objects in the order of the pack, with its checksum computed on the way. */
static int check_objects(struct checker *c, const struct idx *x, const char *pack_file,
                         const unsigned char *pack, size_t pack_len, twin_sha1_ctx *sha)
{
    uint64_t body_end = pack_len - 20, hashed = 0, trimmed = 0;
    struct entry *e = NULL;
    size_t n = 0;
    if (x->usable && x->x.count && !(e = twin_util_malloc_array(x->x.count, sizeof(*e))))
        return twin_error(TWIN_ERROR, "out of memory");
    /* Entries whose offsets lie inside the pack's objects (the others are named in the index). */
    begin_file(c, pack_file);
    for (uint32_t k = 0; x->usable && k < x->x.count; k++) {
        uint64_t off;
        if (twin_gitfmt_idx_offset(&off, &x->x, k, pack_len, NULL, 0) == TWIN_GITFMT_IDX_OK)
            e[n++] = (struct entry){off, k, twin_gitfmt_idx_crc(&x->x, k)};
    }
    if (n > 1 && sort_by_offset(e, n, body_end)) {
        free(e);
        return TWIN_ERROR;
    }
    for (size_t k = 0; k < n && !c->stop; k++) {
        if (k + 8 < n) /* the ids are read in the order of the pack, not of the index */
            __builtin_prefetch(twin_gitfmt_idx_id(&x->x, e[k + 8].index));
        if (k + 1 < n && e[k + 1].off == e[k].off) {
            git_oid oid = idx_oid(x, e[k].index);
            report(c, &oid, true, e[k].off, "shares its offset with another entry of the index");
            continue;
        }
        uint64_t end = k + 1 < n ? e[k + 1].off : body_end;
        twin_sha1_update(sha, pack + hashed, (size_t)(end - hashed));
        hashed = end;
        check_object(c, x, pack, &e[k], end, e, n);
        if (end - trimmed >= TRIM_BYTES) {
            trim_below(pack, end);
            trimmed = end;
        }
    }
    if (!c->stop)
        twin_sha1_update(sha, pack + hashed, (size_t)(body_end - hashed));
    free(e);
    return 0;
}

/* Reports the offsets of the index that lie outside the pack's objects. */
static void check_offsets(struct checker *c, const struct idx *x, size_t pack_len)
{
    char why[TWIN_GITFMT_IDX_WHY];
    for (uint32_t k = 0; x->usable && k < x->x.count; k++) {
        uint64_t off = 0;
        int fault = twin_gitfmt_idx_offset(&off, &x->x, k, pack_len, why, sizeof(why));
        if (fault) {
            git_oid oid = idx_oid(x, k);
            report(c, &oid, fault == TWIN_GITFMT_IDX_OUTSIDE, off, "%s", why);
        }
    }
}

int twin_storecheck_pack(struct twin_store_stats *stats, const char *dir, const char *name,
                         twin_store_damage_fn fn, void *ctx)
{
    struct checker c = {.fn = fn, .ctx = ctx, .stats = stats};
    char path[4200], idx_file[96], pack_file[96];
    struct idx x = {0};
    size_t pack_len = 0;
    int idx_err = 0, pack_err = 0, rc = 0;
    snprintf(idx_file, sizeof(idx_file), "%s.idx", name);
    snprintf(pack_file, sizeof(pack_file), "%s.pack", name);
    stats->packs++;

    snprintf(path, sizeof(path), "%s/%s", dir, idx_file);
    x.p = map_whole(&x.len, &idx_err, path);
    snprintf(path, sizeof(path), "%s/%s", dir, pack_file);
    const unsigned char *pack = map_whole(&pack_len, &pack_err, path);
    if (idx_err == ENOENT || pack_err == ENOENT) {
        /* Removed since the directory was listed: a pack joined into another, not damage. */
        if (x.p)
            munmap((void *)x.p, x.len);
        if (pack)
            munmap((void *)pack, pack_len);
        stats->packs--;
        return 0;
    }

    begin_file(&c, idx_file);
    if (!x.p)
        report(&c, NULL, false, 0, "cannot be read: %s",
               idx_err ? strerror(idx_err) : "it is empty");
    else
        check_index(&c, &x);
    check_offsets(&c, &x, pack_len);
    if (x.p && pack && pack_len >= 32 && x.x.pack_sum &&
        memcmp(x.x.pack_sum, pack + pack_len - 20, 20) != 0)
        report(&c, NULL, false, 0, "names another pack checksum than %s ends with", pack_file);
    end_file(&c);

    begin_file(&c, pack_file);
    if (!pack && pack_err) {
        report(&c, NULL, false, 0, "cannot be read: %s", strerror(pack_err));
    } else if (pack_len < 32) {
        report(&c, NULL, false, 0, "is too short to be a pack (%zu bytes)", pack_len);
    } else {
        uint32_t version, count;
        if (!twin_gitfmt_pack_header_get(&version, &count, pack))
            report(&c, NULL, true, 0, "does not begin with \"PACK\"");
        else if (version != 2 && version != 3)
            report(&c, NULL, true, 4, "is a pack of version %u; git knows versions 2 and 3",
                   version);
        if (x.usable && count != x.x.count)
            report(&c, NULL, true, 8, "its header counts %u objects, its index %u", count,
                   x.x.count);
        twin_sha1_ctx sha;
        unsigned char sum[TWIN_SHA1_BYTES];
        twin_sha1_init(&sha);
        rc = check_objects(&c, &x, pack_file, pack, pack_len, &sha);
        if (rc == 0 && !c.stop) {
            twin_sha1_final(&sha, sum);
            if (memcmp(sum, pack + pack_len - 20, 20) != 0)
                report(&c, NULL, true, pack_len - 20,
                       "its SHA-1 checksum does not match its content");
        }
    }
    end_file(&c);
    if (x.p)
        munmap((void *)x.p, x.len);
    if (pack)
        munmap((void *)pack, pack_len);
    libdeflate_free_decompressor(c.inflater);
    free(c.buf);
    return rc ? rc : c.stop;
}

/* ---- loose objects ----------------------------------------------------------------------- */

/* Reads the whole file into c->buf's successor: a malloc'd buffer, or NULL with errno. */
static unsigned char *read_file(size_t *len, const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    unsigned char *out = NULL;
    *len = 0;
    if (fd < 0)
        return NULL;
    if (fstat(fd, &st) == 0 && (out = malloc(st.st_size > 0 ? (size_t)st.st_size : 1))) {
        size_t got = 0;
        while (got < (size_t)st.st_size) {
            ssize_t r = read(fd, out + got, (size_t)st.st_size - got);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                break;
            got += (size_t)r;
        }
        *len = got;
    }
    close(fd);
    return out;
}

/* One loose object: the whole file inflated (nothing may follow the stream), its header read
 * ("<type> <size>", then a NUL), and its content hashed against the id its path names. */
static void check_loose(struct checker *c, const char *path, const git_oid *id)
{
    size_t len;
    int saved;
    unsigned char *file = read_file(&len, path);
    saved = errno;
    if (!file && saved == ENOENT)
        return; /* removed since the directory was listed (git prune): not damage */
    c->stats->loose_objects++;
    if (!file) {
        report(c, id, false, 0, "cannot be read: %s", strerror(saved));
        return;
    }
    z_stream s;
    memset(&s, 0, sizeof(s));
    const char *bad = NULL;
    size_t total = 0;
    if (inflateInit(&s) != Z_OK || grow_buf(c, 4096)) {
        free(file);
        report(c, id, false, 0, "cannot be checked: out of memory");
        return;
    }
    s.next_in = file;
    s.avail_in = len > UINT32_MAX ? UINT32_MAX : (uInt)len;
    int zr = Z_OK;
    while (zr == Z_OK) {
        if (total == c->cap && grow_buf(c, c->cap * 2)) {
            bad = "cannot be checked: out of memory";
            break;
        }
        s.next_out = c->buf + total;
        s.avail_out = (uInt)(c->cap - total > UINT32_MAX ? UINT32_MAX : c->cap - total);
        size_t before = s.avail_out;
        zr = inflate(&s, Z_NO_FLUSH);
        total += before - s.avail_out;
        if (zr == Z_BUF_ERROR && s.avail_in > 0 && total == c->cap)
            zr = Z_OK; /* room was short: grow and go on */
    }
    if (!bad && zr != Z_STREAM_END)
        bad = "its zlib stream is damaged, or does not match its adler32";
    else if (!bad && s.avail_in != 0)
        bad = "has bytes after its zlib stream";
    inflateEnd(&s);
    free(file);
    if (bad) {
        report(c, id, false, 0, "%s", bad);
        return;
    }
    const unsigned char *nul = memchr(c->buf, 0, total < 64 ? total : 64);
    const char *sp = nul ? memchr(c->buf, ' ', (size_t)(nul - c->buf)) : NULL;
    int type = 0;
    for (int t = 1; sp && t <= 4; t++)
        if ((size_t)(sp - (const char *)c->buf) == strlen(type_names[t]) &&
            memcmp(c->buf, type_names[t], strlen(type_names[t])) == 0)
            type = t;
    uint64_t size = 0;
    bool digits = sp && sp + 1 < (const char *)nul;
    for (const char *d = sp ? sp + 1 : NULL; digits && d < (const char *)nul; d++) {
        if (!isdigit((unsigned char)*d) || size > UINT64_MAX / 10 - 9)
            digits = false;
        else
            size = size * 10 + (uint64_t)(*d - '0');
    }
    size_t content = nul ? total - (size_t)(nul + 1 - c->buf) : 0;
    unsigned char hash[TWIN_SHA1_BYTES];
    if (!type || !digits)
        report(c, id, false, 0, "its header is not \"<type> <size>\" of a git object");
    else if (size != content)
        report(c, id, false, 0, "its header states %llu bytes, it holds %zu",
               (unsigned long long)size, content);
    else {
        twin_sha1_object(hash, type_names[type], nul + 1, content);
        if (memcmp(hash, id->id, GIT_OID_RAWSZ) != 0)
            report(c, id, false, 0, "its content does not match its id");
    }
}

static bool is_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!isxdigit((unsigned char)s[i]) || isupper((unsigned char)s[i]))
            return false;
    return s[n] == '\0';
}

static int check_loose_dir(struct checker *c, const char *objects_dir, const char *sub)
{
    char dir[4200];
    snprintf(dir, sizeof(dir), "%s/%s", objects_dir, sub);
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && !c->stop && (e = readdir(d))) {
        char hex[GIT_OID_HEXSZ + 1], path[4300], file[96];
        git_oid id;
        if (!is_hex(e->d_name, GIT_OID_HEXSZ - 2))
            continue;
        snprintf(hex, sizeof(hex), "%s%s", sub, e->d_name);
        if (git_oid_fromstr(&id, hex) < 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        snprintf(file, sizeof(file), "objects/%s/%s", sub, e->d_name);
        begin_file(c, file);
        check_loose(c, path, &id);
    }
    if (d)
        closedir(d);
    return 0;
}

/* ---- the whole store ---------------------------------------------------------------------- */

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The packs of objects_dir/pack (names without .pack or .idx) that have their index, as git
 * opens them (an index without its pack, or a pack without its index, is not a pack of the
 * store), in order of name, into *names (free each and the array); dir gets the directory. */
static int list_packs(char ***out, size_t *count, char dir[4200], const char *objects_dir)
{
    char **names = NULL;
    size_t n = 0, cap = 0;
    int rc = 0;
    snprintf(dir, 4200, "%s/pack", objects_dir);
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && rc == 0 && (e = readdir(d))) {
        size_t len = strlen(e->d_name);
        char pack[4300];
        struct stat st;
        if (len < 9 || strncmp(e->d_name, "pack-", 5) != 0 ||
            strcmp(e->d_name + len - 4, ".idx") != 0)
            continue;
        snprintf(pack, sizeof(pack), "%s/%.*s.pack", dir, (int)(len - 4), e->d_name);
        if (stat(pack, &st) != 0)
            continue;
        if (twin_util_grow((void **)&names, &cap, n + 1, sizeof(*names)) ||
            !(names[n] = strndup(e->d_name, len - 4)))
            rc = twin_error(TWIN_ERROR, "out of memory");
        else
            n++;
    }
    if (d)
        closedir(d);
    if (n)
        qsort(names, n, sizeof(*names), by_name);
    *out = names;
    *count = n;
    return rc;
}

static void free_names(char **names, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
}

static int count_damage(const struct twin_store_damage *d, void *ctx)
{
    (void)d;
    (*(size_t *)ctx)++;
    return 0;
}

int twin_storecheck_indexes(bool *sound, const char *objects_dir)
{
    char dir[4200], path[4400];
    char **names = NULL;
    size_t n = 0, damages = 0;
    struct twin_store_stats stats = {0};
    int rc = list_packs(&names, &n, dir, objects_dir);
    for (size_t i = 0; rc == 0 && i < n; i++) {
        struct checker c = {.fn = count_damage, .ctx = &damages, .stats = &stats};
        struct idx x = {0};
        size_t pack_len = 0;
        int idx_err = 0;
        struct stat st;
        snprintf(path, sizeof(path), "%s/%s.pack", dir, names[i]);
        if (stat(path, &st) != 0)
            continue; /* joined into another since it was listed */
        pack_len = (size_t)st.st_size;
        snprintf(path, sizeof(path), "%s/%s.idx", dir, names[i]);
        x.p = map_whole(&x.len, &idx_err, path);
        if (!x.p && idx_err == ENOENT)
            continue;
        begin_file(&c, names[i]);
        if (!x.p)
            damages++;
        else
            check_index(&c, &x);
        check_offsets(&c, &x, pack_len);
        if (x.p)
            munmap((void *)x.p, x.len);
    }
    free_names(names, n);
    *sound = damages == 0;
    return rc;
}

int twin_storecheck_run(struct twin_store_stats *stats, const char *objects_dir,
                        twin_store_damage_fn fn, void *ctx)
{
    char dir[4200];
    char **names = NULL;
    size_t n = 0;
    memset(stats, 0, sizeof(*stats));
    int rc = list_packs(&names, &n, dir, objects_dir);
    for (size_t i = 0; rc == 0 && i < n; i++)
        rc = twin_storecheck_pack(stats, dir, names[i], fn, ctx);
    free_names(names, n);
    if (rc)
        return rc;
    struct checker c = {.fn = fn, .ctx = ctx, .stats = stats};
    for (int i = 0; i < 256 && !c.stop; i++) {
        char sub[3];
        snprintf(sub, sizeof(sub), "%02x", i);
        check_loose_dir(&c, objects_dir, sub);
    }
    free(c.buf);
    return c.stop;
}
