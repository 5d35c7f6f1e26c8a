/*
 * Pack format (git's pack v2 and index v2): a 12-byte header, the objects one after another,
 * each a type-and-size header then zlib data, and the SHA-1 of all that as trailer. Deltas are
 * OFS_DELTA: the base is named by its distance back in the same pack. The index lists the ids in
 * order with a 256-entry fan-out, each object's CRC-32 and offset, then both checksums.
 */
#include "git/pack.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <git2/sys/mempack.h>
#include <git2/sys/odb_backend.h>
#include <zlib.h>

#include "git/gitfmt.h"
#include "git/packread.h"
#include "base/sha1.h"
#include "base/util.h"
#include "twin/error.h"

#define IDX_MAX_BYTES  ((size_t)1 << 31)
#define MIN_DELTA_GAIN 2 /* store a delta only when it is at most half the object */

struct twin_packw {
    unsigned char *buf; /* the pack so far, header included */
    size_t len, cap;
    struct twin_gitfmt_idx_entry *objs;
    size_t count, objs_cap;
    unsigned char *delta;
    size_t delta_cap;
    z_stream z; /* for whole trees (see twin_pack_writer_new) */
    bool z_ready;
    /* libgit2's way (twin_pack_writer_new_libgit2): objects go into an object database of the
     * writer's own, in memory, and libgit2's packbuilder packs them; objs keeps their ids. */
    git_odb *git_odb;
    git_odb_backend *git_mem;
    git_repository *git_repo;
};

static int git_writer_add(twin_packw *w, size_t *index_out, git_object_t type, const git_oid *id,
                          const void *data, size_t len);
static int git_writer_write(twin_packw *w, git_repository *repo);

int twin_pack_writer_new(twin_packw **out)
{
    twin_packw *w = calloc(1, sizeof(*w));
    *out = NULL;
    if (!w)
        return twin_error(TWIN_ERROR, "out of memory");
    /* Whole trees are deflated. Records, commits and deltas are a few hundred bytes: deflating
     * them saves little and costs more than the rest of a commit (zlib spends microseconds per
     * stream on even a hundred bytes, and as much again to inflate), so they are stored in
     * zlib's uncompressed form (twin_gitfmt_entry_stored_write: the bytes zlib makes at level
     * 0). */
    if (deflateInit2(&w->z, Z_BEST_SPEED, Z_DEFLATED, 15, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        twin_pack_writer_free(w);
        return twin_error(TWIN_ERROR, "zlib failed to initialise");
    }
    w->z_ready = true;
    if (twin_util_grow((void **)&w->buf, &w->cap, 1 << 16, 1)) {
        twin_pack_writer_free(w);
        return TWIN_ERROR;
    }
    w->len = TWIN_GITFMT_PACK_HEADER;
    *out = w;
    return 0;
}

void twin_pack_writer_free(twin_packw *w)
{
    if (!w)
        return;
    if (w->z_ready)
        deflateEnd(&w->z);
    free(w->buf);
    free(w->objs);
    free(w->delta);
    git_repository_free(w->git_repo);
    git_odb_free(w->git_odb); /* and the memory backend it owns */
    free(w);
}

size_t twin_pack_writer_count(const twin_packw *w)
{
    return w->count;
}

size_t twin_pack_writer_bytes(const twin_packw *w)
{
    return w->len;
}

/* Deltas are built as a list of copies from the base and inserted bytes; a copy that continues
 * the previous one extends it. The builder gives up (returns false) once the delta would be
 * larger than limit: then the object is stored whole. */
struct delta {
    unsigned char *p, *end;
    size_t copy_at, copy_len;
    const unsigned char *ins;
    size_t ins_len;
};

static bool delta_flush(struct delta *d)
{
    while (d->copy_len) {
        size_t n =
            d->copy_len < TWIN_GITFMT_DELTA_COPY_MAX ? d->copy_len : TWIN_GITFMT_DELTA_COPY_MAX;
        if (d->end - d->p < 8)
            return false;
        d->p += twin_gitfmt_delta_copy_put(d->p, d->copy_at, n);
        d->copy_at += n;
        d->copy_len -= n;
    }
    while (d->ins_len) {
        size_t n =
            d->ins_len < TWIN_GITFMT_DELTA_INSERT_MAX ? d->ins_len : TWIN_GITFMT_DELTA_INSERT_MAX;
        if ((size_t)(d->end - d->p) < n + 1)
            return false;
        d->p += twin_gitfmt_delta_insert_put(d->p, d->ins, n);
        d->ins += n;
        d->ins_len -= n;
    }
    return true;
}

static bool delta_copy(struct delta *d, size_t at, size_t len)
{
    if (d->ins_len && !delta_flush(d))
        return false;
    if (d->copy_len && d->copy_at + d->copy_len == at) {
        d->copy_len += len;
        return true;
    }
    if (!delta_flush(d))
        return false;
    d->copy_at = at;
    d->copy_len = len;
    return true;
}

static bool delta_insert(struct delta *d, const unsigned char *data, size_t len)
{
    if (d->copy_len && !delta_flush(d))
        return false;
    if (d->ins_len && d->ins + d->ins_len == data) {
        d->ins_len += len;
        return true;
    }
    if (!delta_flush(d))
        return false;
    d->ins = data;
    d->ins_len = len;
    return true;
}

/* A delta between two versions of a tree, entry by entry: runs of equal entries are copied,
 * new and changed entries inserted, so it stays small however far apart the changes lie. */
static bool tree_delta(struct delta *d, const unsigned char *base, size_t base_len,
                       const unsigned char *data, size_t len)
{
    size_t i = 0, j = 0;
    while (j < len) {
        size_t ej = twin_gitfmt_tree_entry_len(data + j, len - j);
        size_t ei = i < base_len ? twin_gitfmt_tree_entry_len(base + i, base_len - i) : 0;
        if (!ej || (i < base_len && !ei))
            return false;
        if (ei == ej && memcmp(base + i, data + j, ej) == 0) {
            if (!delta_copy(d, i, ei))
                return false;
            i += ei;
            j += ej;
            continue;
        }
        int c = ei ? twin_gitfmt_tree_entry_cmp(base + i, data + j) : 1;
        if (c <= 0)
            i += ei; /* gone from the new version, or changed in it */
        if (c >= 0) {
            if (!delta_insert(d, data + j, ej))
                return false;
            j += ej;
        }
    }
    return delta_flush(d);
}

/* Any other object: the common prefix and suffix are copied, the middle inserted. */
static bool plain_delta(struct delta *d, const unsigned char *base, size_t base_len,
                        const unsigned char *data, size_t len)
{
    size_t prefix = 0, limit = base_len < len ? base_len : len;
    while (prefix < limit && base[prefix] == data[prefix])
        prefix++;
    size_t suffix = 0;
    while (suffix < limit - prefix && base[base_len - 1 - suffix] == data[len - 1 - suffix])
        suffix++;
    return (!prefix || delta_copy(d, 0, prefix)) &&
           (prefix + suffix == len || delta_insert(d, data + prefix, len - prefix - suffix)) &&
           (!suffix || delta_copy(d, base_len - suffix, suffix)) && delta_flush(d);
}

size_t twin_pack_delta_make(unsigned char **buf, size_t *cap, git_object_t type,
                            const unsigned char *base, size_t base_len, const unsigned char *data,
                            size_t len)
{
    size_t limit = len / MIN_DELTA_GAIN;
    if (base_len > 0xffffffffu || len < 64 || twin_util_grow((void **)buf, cap, limit, 1))
        return 0;
    struct delta d = {*buf, *buf + limit, 0, 0, NULL, 0};
    d.p += twin_gitfmt_delta_size_put(d.p, base_len);
    d.p += twin_gitfmt_delta_size_put(d.p, len);
    bool ok = type == GIT_OBJECT_TREE ? tree_delta(&d, base, base_len, data, len)
                                      : plain_delta(&d, base, base_len, data, len);
    return ok ? (size_t)(d.p - *buf) : 0;
}

/* Appends n bytes to w->buf, grown beforehand to hold the entry being written. */
static int buf_put(const void *p, size_t n, void *ctx)
{
    twin_packw *w = ctx;
    memcpy(w->buf + w->len, p, n);
    w->len += n;
    return 0;
}

int twin_pack_writer_add(twin_packw *w, size_t *index_out, git_object_t type, const git_oid *id,
                         const void *data, size_t len, long base, const void *base_data,
                         size_t base_len)
{
    if (w->git_odb)
        return git_writer_add(w, index_out, type, id, data, len);
    size_t dlen = 0;
    if (base >= 0 && (size_t)base < w->count)
        dlen = twin_pack_delta_make(&w->delta, &w->delta_cap, type, base_data, base_len, data, len);
    const unsigned char *body = dlen ? w->delta : data;
    size_t body_len = dlen ? dlen : len;
    int ptype = dlen ? TWIN_GITFMT_OFS_DELTA : (int)type;
    bool deflated = type == GIT_OBJECT_TREE && !dlen;
    size_t zbound =
        deflated ? deflateBound(&w->z, (uLong)body_len) : twin_gitfmt_stored_len(body_len);
    if (twin_util_grow((void **)&w->objs, &w->objs_cap, w->count + 1, sizeof(*w->objs)) ||
        twin_util_grow((void **)&w->buf, &w->cap, w->len + TWIN_GITFMT_ENTRY_HEADER_MAX + zbound,
                       1))
        return TWIN_ERROR;
    size_t start = w->len;
    uint64_t distance = dlen ? start - w->objs[base].offset : 0;
    if (!deflated) {
        twin_gitfmt_entry_stored_write(ptype, distance, body, body_len, buf_put, w);
    } else {
        unsigned char *p = w->buf + start;
        p += twin_gitfmt_entry_head_put(p, ptype, body_len, distance);
        deflateReset(&w->z);
        w->z.next_in = (Bytef *)body;
        w->z.avail_in = (uInt)body_len;
        w->z.next_out = p;
        w->z.avail_out = (uInt)zbound;
        if (deflate(&w->z, Z_FINISH) != Z_STREAM_END)
            return twin_error(TWIN_ERROR, "zlib could not compress an object");
        w->len = (size_t)(w->z.next_out - w->buf);
    }
    struct twin_gitfmt_idx_entry *o = &w->objs[w->count];
    memcpy(o->id, id->id, TWIN_SHA1_BYTES);
    o->offset = start;
    o->crc = (uint32_t)crc32(0, w->buf + start, (uInt)(w->len - start));
    if (index_out)
        *index_out = w->count;
    w->count++;
    return 0;
}

/* ---- files ----------------------------------------------------------------------------------- */

int twin_pack_open_temp(char *path, size_t size, const char *dir)
{
    snprintf(path, size, "%s/tmp_twin_XXXXXX", dir);
    int fd = mkstemp(path);
    if (fd < 0)
        return twin_error(TWIN_ERROR, "cannot create a file in %s: %s", dir, strerror(errno));
    return fd;
}

/* Syncs (when durable) and closes a file written under a temporary name, read-only from then on:
 * 0, or an error naming it, the file then removed. */
static int close_temp(int fd, const char *tmp, bool durable)
{
    int rc = 0;
    if ((durable && fsync(fd) != 0) || fchmod(fd, 0444) != 0)
        rc = twin_error(TWIN_ERROR, "cannot write %s: %s", tmp, strerror(errno));
    if (close(fd) != 0 && !rc)
        rc = twin_error(TWIN_ERROR, "cannot write %s: %s", tmp, strerror(errno));
    if (rc)
        unlink(tmp);
    return rc;
}

int twin_pack_finish_file(int fd, const char *tmp, const char *final, bool durable)
{
    int rc = close_temp(fd, tmp, durable);
    if (!rc && rename(tmp, final) != 0) {
        rc = twin_error(TWIN_ERROR, "cannot move %s into place: %s", final, strerror(errno));
        unlink(tmp);
    }
    return rc;
}

#define OWN_PACKS_FILE "twin-packs"

/* Publishes the pack written to pack_tmp (pack_fd still open) as <dir>/pack-<hex>.pack with its
 * index, then refreshes the odb. Both files are written, their writeback started together, then
 * each synced before either is renamed into place, and the directory synced once after both
 * renames: nothing names the pack (the list of twin's packs, a ref) before all of that is on the
 * disk, as when each file was synced, renamed and its directory synced in turn. */
static int publish(git_repository *repo, const char *dir, const char *pack_tmp,
                   const unsigned char sum[TWIN_SHA1_BYTES], struct twin_gitfmt_idx_entry *objs,
                   size_t count, int pack_fd, bool durable)
{
    char hex[2 * TWIN_SHA1_BYTES + 1], pack_final[4200], idx_final[4200], idx_tmp[4200];
    for (int i = 0; i < TWIN_SHA1_BYTES; i++)
        snprintf(hex + 2 * i, 3, "%02x", sum[i]);
    snprintf(pack_final, sizeof(pack_final), "%s/pack-%s.pack", dir, hex);
    snprintf(idx_final, sizeof(idx_final), "%s/pack-%s.idx", dir, hex);
    unsigned char *idx = NULL;
    size_t idx_len = 0;
    int rc = twin_gitfmt_idx_build(&idx, &idx_len, objs, count, sum);
    int idx_fd = rc ? -1 : twin_pack_open_temp(idx_tmp, sizeof(idx_tmp), dir);
    if (!rc && idx_fd < 0)
        rc = idx_fd;
    if (!rc && twin_util_write_all(idx_fd, idx, idx_len) != 0) {
        rc = twin_error(TWIN_ERROR, "cannot write %s: %s", idx_tmp, strerror(errno));
        close(idx_fd);
        unlink(idx_tmp);
    }
    free(idx);
    if (rc) {
        close(pack_fd);
        unlink(pack_tmp);
        return rc;
    }
    if (durable) {
        twin_util_start_writeback(pack_fd);
        twin_util_start_writeback(idx_fd);
    }
    if ((rc = close_temp(pack_fd, pack_tmp, durable))) {
        close(idx_fd); /* its pack is gone: the index is of no use */
        unlink(idx_tmp);
        return rc;
    }
    if ((rc = close_temp(idx_fd, idx_tmp, durable))) {
        unlink(pack_tmp);
        return rc;
    }
    /* The pack first: a reader finds packs by their indexes. */
    if (rename(pack_tmp, pack_final) != 0) {
        rc = twin_error(TWIN_ERROR, "cannot move %s into place: %s", pack_final, strerror(errno));
        unlink(pack_tmp);
        unlink(idx_tmp);
        return rc;
    }
    if (rename(idx_tmp, idx_final) != 0) {
        rc = twin_error(TWIN_ERROR, "cannot move %s into place: %s", idx_final, strerror(errno));
        unlink(idx_tmp);
        return rc;
    }
    if (durable && twin_util_sync_dir(dir) != 0)
        rc = twin_error(TWIN_ERROR, "cannot sync %s: %s", dir, strerror(errno));
    if (!rc) {
        char name[64];
        snprintf(name, sizeof(name), "pack-%s", hex);
        rc = twin_pack_register(repo, name);
    }
    git_odb *odb = NULL;
    if (!rc && (git_repository_odb(&odb, repo) < 0 || git_odb_refresh(odb) < 0))
        rc = twin_error_git("reading the new pack");
    git_odb_free(odb);
    return rc;
}

static void pack_dir(char *out, size_t size, git_repository *repo)
{
    snprintf(out, size, "%sobjects/pack", git_repository_path(repo));
}

int twin_pack_writer_write(twin_packw *w, git_repository *repo, bool durable)
{
    if (w->count == 0)
        return 0;
    if (w->git_odb)
        return git_writer_write(w, repo);
    char dir[4096], tmp[4200];
    pack_dir(dir, sizeof(dir), repo);
    if (twin_util_grow((void **)&w->buf, &w->cap, w->len + TWIN_SHA1_BYTES, 1))
        return TWIN_ERROR;
    twin_gitfmt_pack_header_put(w->buf, (uint32_t)w->count);
    unsigned char sum[TWIN_SHA1_BYTES];
    twin_sha1_ctx c;
    twin_sha1_init(&c);
    twin_sha1_update(&c, w->buf, w->len);
    twin_sha1_final(&c, sum);
    memcpy(w->buf + w->len, sum, TWIN_SHA1_BYTES);
    int fd = twin_pack_open_temp(tmp, sizeof(tmp), dir);
    if (fd < 0)
        return fd;
    if (twin_util_write_all(fd, w->buf, w->len + TWIN_SHA1_BYTES) != 0) {
        int rc = twin_error(TWIN_ERROR, "cannot write a pack in %s: %s", dir, strerror(errno));
        close(fd);
        unlink(tmp);
        return rc;
    }
    int rc = publish(repo, dir, tmp, sum, w->objs, w->count, fd, durable);
    if (rc == 0) {
        w->len = TWIN_GITFMT_PACK_HEADER;
        w->count = 0;
    }
    return rc;
}

/* ---- libgit2's way, the baseline --------------------------------------------------------------
 * The switch back to the library for the same objects: libgit2 names each one again (its
 * collision-detecting SHA-1) as it takes it into memory, and at the write its packbuilder
 * chooses deltas by its window search, deflates everything, and its indexer writes the pack and
 * the index into objects/pack. The pack is registered as twin's own, so it is joined like the
 * packs twin writes. */

int twin_pack_writer_new_libgit2(twin_packw **out)
{
    twin_packw *w = calloc(1, sizeof(*w));
    git_odb_backend *mem = NULL;
    *out = NULL;
    if (!w)
        return twin_error(TWIN_ERROR, "out of memory");
    int rc = 0;
    if (git_odb_new(&w->git_odb) < 0 || git_mempack_new(&mem) < 0)
        rc = twin_error_git("making libgit2's object database in memory");
    else if (git_odb_add_backend(w->git_odb, mem, 1) < 0) {
        rc = twin_error_git("making libgit2's object database in memory");
        mem->free(mem);
    } else {
        w->git_mem = mem; /* the database owns it now */
        if (git_repository_wrap_odb(&w->git_repo, w->git_odb) < 0)
            rc = twin_error_git("making libgit2's object database in memory");
    }
    if (rc) {
        twin_pack_writer_free(w);
        return rc;
    }
    *out = w;
    return 0;
}

static int git_writer_add(twin_packw *w, size_t *index_out, git_object_t type, const git_oid *id,
                          const void *data, size_t len)
{
    git_oid named;
    if (twin_util_grow((void **)&w->objs, &w->objs_cap, w->count + 1, sizeof(*w->objs)))
        return TWIN_ERROR;
    if (git_odb_write(&named, w->git_odb, data, len, type) < 0)
        return twin_error_git("handing an object to libgit2");
    if (!git_oid_equal(&named, id))
        return twin_error(TWIN_ERROR, "libgit2 names object %s otherwise", git_oid_tostr_s(id));
    struct twin_gitfmt_idx_entry *o = &w->objs[w->count];
    memset(o, 0, sizeof(*o));
    memcpy(o->id, id->id, TWIN_SHA1_BYTES);
    w->len += len;
    if (index_out)
        *index_out = w->count;
    w->count++;
    return 0;
}

/* libgit2's indexer syncs what it writes as libgit2's process-wide setting says, which
 * twin_global_init makes twin_global_durable. */
static int git_writer_write(twin_packw *w, git_repository *repo)
{
    char dir[4096], name[64];
    git_packbuilder *pb = NULL;
    int rc = 0;
    pack_dir(dir, sizeof(dir), repo);
    if (git_packbuilder_new(&pb, w->git_repo) < 0)
        rc = twin_error_git("packing objects with libgit2");
    /* Newest first, as libgit2 asks, so that its deltas point back in time. */
    for (size_t i = w->count; rc == 0 && i-- > 0;) {
        git_oid id;
        memcpy(id.id, w->objs[i].id, TWIN_SHA1_BYTES);
        if (git_packbuilder_insert(pb, &id, NULL) < 0)
            rc = twin_error_git("packing objects with libgit2");
    }
    if (rc == 0 && git_packbuilder_write(pb, dir, 0, NULL, NULL) < 0)
        rc = twin_error_git("writing a pack with libgit2");
    if (rc == 0) {
        snprintf(name, sizeof(name), "pack-%s", git_packbuilder_name(pb));
        rc = twin_pack_register(repo, name);
    }
    git_packbuilder_free(pb);
    git_odb *odb = NULL;
    if (rc == 0 && (git_repository_odb(&odb, repo) < 0 || git_odb_refresh(odb) < 0))
        rc = twin_error_git("reading the new pack");
    git_odb_free(odb);
    if (rc == 0 && git_mempack_reset(w->git_mem) < 0)
        rc = twin_error_git("emptying libgit2's object database in memory");
    if (rc == 0) {
        w->len = 0;
        w->count = 0;
    }
    return rc;
}

/* ---- consolidation --------------------------------------------------------------------------- */

struct packfile {
    char name[64]; /* pack-<hex> */
    unsigned char *idx;
    size_t idx_len;
    uint32_t count;
    off_t pack_size;
    struct twin_gitfmt_idx x; /* idx, read */
};

static void free_packs(struct packfile *packs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(packs[i].idx);
    free(packs);
}

static int read_file(unsigned char **out, size_t *out_len, const char *path, size_t max)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    *out = NULL;
    if (fd < 0 || fstat(fd, &st) != 0 || (size_t)st.st_size > max) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    unsigned char *buf = malloc((size_t)st.st_size + 1);
    size_t got = 0;
    while (buf && got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    close(fd);
    if (!buf || got != (size_t)st.st_size) {
        free(buf);
        return -1;
    }
    *out = buf;
    *out_len = got;
    return 0;
}

/* The packs of objects/pack that have an index and no .keep, with their sizes; their indexes are
 * read later, and only for the packs to be joined. */
/* ---- the packs twin wrote ----------------------------------------------------------------------
 * repo.git/twin-packs lists, one name a line, the packs twin wrote or received: only those are
 * ever joined. A pack git made (git gc, git repack) is not listed, and stays as it is with its
 * bitmap and reverse index. A node from before the list existed gets one the first time it is
 * needed, naming every pack then present that has none of the files git writes beside its own
 * packs (.bitmap, .rev, .mtimes, .promisor) and no .keep. */

static void own_list_path(char *out, size_t size, git_repository *repo)
{
    snprintf(out, size, "%s" OWN_PACKS_FILE, git_repository_path(repo));
}

static bool has_git_companion(const char *dir, const char *name)
{
    static const char *const exts[] = {"bitmap", "rev", "mtimes", "promisor", "keep"};
    for (size_t i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
        char path[4200];
        struct stat st;
        snprintf(path, sizeof(path), "%s/%s.%s", dir, name, exts[i]);
        if (stat(path, &st) == 0)
            return true;
    }
    return false;
}

static bool is_pack_index_name(const char *name, size_t len)
{
    return len == 5 + 40 + 4 && strncmp(name, "pack-", 5) == 0 &&
           strcmp(name + len - 4, ".idx") == 0;
}

/* Writes the list anew from the packs present: with prior (the old list's text) only those it
 * names, else every pack that looks twin's. Replaces the file whole. */
static int own_list_write(git_repository *repo, const char *dir, const char *prior)
{
    char path[4200], tmp[4300];
    own_list_path(path, sizeof(path), repo);
    snprintf(tmp, sizeof(tmp), "%s.tmp-XXXXXX", path);
    DIR *d = opendir(dir);
    if (!d)
        return twin_error(TWIN_ERROR, "cannot read %s: %s", dir, strerror(errno));
    int tfd = mkstemp(tmp);
    FILE *f = tfd >= 0 ? fdopen(tfd, "w") : NULL;
    if (!f) {
        if (tfd >= 0) {
            close(tfd);
            unlink(tmp);
        }
        closedir(d);
        return twin_error(TWIN_ERROR, "cannot write %s: %s", path, strerror(errno));
    }
    fchmod(tfd, 0644);
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (!is_pack_index_name(e->d_name, len))
            continue;
        char name[64], line[70];
        snprintf(name, sizeof(name), "%.*s", (int)(len - 4), e->d_name);
        snprintf(line, sizeof(line), "%s\n", name);
        bool own = prior ? strstr(prior, line) != NULL : !has_git_companion(dir, name);
        if (own)
            fputs(line, f);
    }
    closedir(d);
    int rc = fclose(f) == 0 && rename(tmp, path) == 0
                 ? 0
                 : twin_error(TWIN_ERROR, "cannot write %s: %s", path, strerror(errno));
    if (rc)
        unlink(tmp);
    return rc;
}

/* The list's text (malloc'd), made first when the node has none. */
static int own_list_read(char **out, git_repository *repo, const char *dir)
{
    char path[4200];
    size_t len;
    own_list_path(path, sizeof(path), repo);
    int rc = twin_util_read_file(out, &len, path, 4 << 20);
    if (rc == TWIN_ENOTFOUND) {
        twin_error_clear();
        if ((rc = own_list_write(repo, dir, NULL)) == 0)
            rc = twin_util_read_file(out, &len, path, 4 << 20);
    }
    return rc;
}

/* The list's own lock (repo.git/twin-packs.lock): a pack registered by one session while a
 * join rewrites the list must not be lost from it. Released by closing the descriptor. */
static int own_list_lock(git_repository *repo)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s" OWN_PACKS_FILE ".lock", git_repository_path(repo));
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0)
        return twin_error(TWIN_ERROR, "cannot open %s: %s", path, strerror(errno));
    while (flock(fd, LOCK_EX) != 0)
        if (errno != EINTR) {
            int rc = twin_error(TWIN_ERROR, "cannot lock %s: %s", path, strerror(errno));
            close(fd);
            return rc;
        }
    return fd;
}

static int register_locked(git_repository *repo, const char *name);

int twin_pack_register(git_repository *repo, const char *name)
{
    int lock = own_list_lock(repo);
    if (lock < 0)
        return lock;
    int rc = register_locked(repo, name);
    close(lock);
    return rc;
}

static int register_locked(git_repository *repo, const char *name)
{
    char path[4200], dir[4096], line[70], *text = NULL;
    snprintf(dir, sizeof(dir), "%sobjects/pack", git_repository_path(repo));
    own_list_path(path, sizeof(path), repo);
    struct stat st;
    if (stat(path, &st) != 0) {
        /* The first list is made from what is present, this pack included. */
        int rc = own_list_read(&text, repo, dir);
        free(text);
        return rc;
    }
    int fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
    int n = snprintf(line, sizeof(line), "%s\n", name);
    int rc = fd >= 0 && twin_util_write_all(fd, line, (size_t)n) == 0
                 ? 0
                 : twin_error(TWIN_ERROR, "cannot write %s: %s", path, strerror(errno));
    if (fd >= 0)
        close(fd);
    return rc;
}

static int list_packs(struct packfile **out, size_t *n_out, const char *dir, bool sweep)
{
    DIR *d = opendir(dir);
    struct packfile *packs = NULL;
    size_t n = 0, cap = 0;
    *out = NULL;
    *n_out = 0;
    if (!d)
        return twin_error(TWIN_ERROR, "cannot read %s: %s", dir, strerror(errno));
    struct dirent *e;
    while ((e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (sweep && strncmp(e->d_name, "tmp_twin_", 9) == 0) {
            /* Under the writer lock no pack is being written: this one's writer was killed. */
            char path[4200];
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
            unlink(path);
            continue;
        }
        if (len != 5 + 40 + 4 || strncmp(e->d_name, "pack-", 5) != 0 ||
            strcmp(e->d_name + len - 4, ".idx") != 0)
            continue;
        char path[4200];
        struct stat st;
        struct packfile p = {0};
        snprintf(p.name, sizeof(p.name), "%.*s", (int)(len - 4), e->d_name);
        snprintf(path, sizeof(path), "%s/%s.keep", dir, p.name);
        if (stat(path, &st) == 0)
            continue;
        snprintf(path, sizeof(path), "%s/%s.pack", dir, p.name);
        if (stat(path, &st) != 0)
            continue;
        p.pack_size = st.st_size;
        if (twin_util_grow((void **)&packs, &cap, n + 1, sizeof(*packs))) {
            closedir(d);
            free_packs(packs, n);
            return TWIN_ERROR;
        }
        packs[n++] = p;
    }
    closedir(d);
    *out = packs;
    *n_out = n;
    return 0;
}

/* Reads and checks a pack's version-2 index. */
static int load_index(struct packfile *p, const char *dir)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/%s.idx", dir, p->name);
    if (read_file(&p->idx, &p->idx_len, path, IDX_MAX_BYTES) != 0)
        return twin_error(TWIN_ERROR, "cannot read %s", path);
    char why[TWIN_GITFMT_IDX_WHY];
    if (twin_gitfmt_idx_parse(&p->x, p->idx, p->idx_len, why, sizeof(why)))
        return twin_error(TWIN_EINVALID, "%s: %s", path, why);
    if (p->x.version != 2)
        return twin_error(TWIN_EINVALID, "%s is not a version 2 pack index", path);
    p->count = p->x.count;
    return 0;
}

size_t twin_pack_count(git_repository *repo)
{
    char dir[4096];
    struct packfile *packs;
    size_t n;
    pack_dir(dir, sizeof(dir), repo);
    if (list_packs(&packs, &n, dir, false))
        return 0;
    free_packs(packs, n);
    return n;
}

static int cmp_size(const void *a, const void *b)
{
    const struct packfile *x = a, *y = b;
    return x->pack_size < y->pack_size ? -1 : x->pack_size > y->pack_size;
}

/* Appends pack p's objects (its bytes between header and trailer) to fd, checking its trailer. */
static int copy_pack(int fd, twin_sha1_ctx *out_sum, const char *dir, const struct packfile *p)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/%s.pack", dir, p->name);
    int in = open(path, O_RDONLY | O_CLOEXEC);
    if (in < 0)
        return twin_error(TWIN_ERROR, "cannot read %s: %s", path, strerror(errno));
    size_t size = (size_t)p->pack_size, done = 0, cap = 1 << 20;
    unsigned char *buf = malloc(cap), trailer[TWIN_SHA1_BYTES], sum[TWIN_SHA1_BYTES];
    twin_sha1_ctx own;
    twin_sha1_init(&own);
    int rc = buf && size >= TWIN_GITFMT_PACK_HEADER + TWIN_SHA1_BYTES ? 0 : TWIN_ERROR;
    while (rc == 0 && done < size - TWIN_SHA1_BYTES) {
        size_t want = size - TWIN_SHA1_BYTES - done < cap ? size - TWIN_SHA1_BYTES - done : cap;
        ssize_t n = read(in, buf, want);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            rc = TWIN_ERROR;
            break;
        }
        twin_sha1_update(&own, buf, (size_t)n);
        size_t skip = done < TWIN_GITFMT_PACK_HEADER ? TWIN_GITFMT_PACK_HEADER - done : 0;
        if (skip < (size_t)n) {
            twin_sha1_update(out_sum, buf + skip, (size_t)n - skip);
            if (twin_util_write_all(fd, buf + skip, (size_t)n - skip) != 0)
                rc = twin_error(TWIN_ERROR, "cannot write a pack: %s", strerror(errno));
        }
        done += (size_t)n;
    }
    if (rc == 0 && (read(in, trailer, sizeof(trailer)) != (ssize_t)sizeof(trailer) ||
                    (twin_sha1_final(&own, sum), memcmp(sum, trailer, sizeof(sum)) != 0) ||
                    memcmp(trailer, p->x.pack_sum, TWIN_SHA1_BYTES) != 0))
        rc = twin_error(TWIN_EINVALID, "%s is damaged: its checksum does not match", path);
    else if (rc == TWIN_ERROR)
        rc = twin_error(TWIN_ERROR, "cannot read %s", path);
    free(buf);
    close(in);
    return rc;
}

static int cmp_id(const void *a, const void *b)
{
    return memcmp(a, b, TWIN_SHA1_BYTES);
}

/* How many of pack p's objects are already in the sorted list seen[0..n). */
static uint32_t overlaps(const struct packfile *p, const unsigned char *seen, size_t n)
{
    uint32_t dup = 0;
    for (uint32_t i = 0; n && i < p->count; i++)
        if (bsearch(twin_gitfmt_idx_id(&p->x, i), seen, n, TWIN_SHA1_BYTES, cmp_id))
            dup++;
    return dup;
}

/* How a pack takes part in a join. */
enum { JOIN_NONE, JOIN_COPY, JOIN_DROP, JOIN_REWRITE };

/* The objects of the packs to rewrite (those that repeat objects of packs joined before them,
 * as a node that merged what a partner also merged receives), less the repeats, as whole
 * objects in w. A pack's bytes are copied as they are, and a pack must not hold an object twice,
 * so these are read out and written again. */
static int rewrite_objects(twin_packw *w, git_repository *repo, const unsigned char *fresh,
                           size_t nfresh)
{
    twin_packread *r = NULL;
    int rc = twin_packread_open(&r, repo);
    for (size_t i = 0; rc == 0 && i < nfresh; i++) {
        git_oid id;
        twin_pobj *o = NULL;
        memcpy(id.id, fresh + TWIN_SHA1_BYTES * i, TWIN_SHA1_BYTES);
        int got = twin_packread_get(&o, r, &id);
        if (got < 0)
            rc = got;
        else if (got == 0)
            rc = twin_error(TWIN_ENOTFOUND, "object %s is in no pack", git_oid_tostr_s(&id));
        else
            rc = twin_pack_writer_add(w, NULL, o->type, &id, o->data, o->size, -1, NULL, 0);
        twin_packread_release(o);
    }
    twin_packread_free(r);
    return rc;
}

int twin_pack_consolidate(git_repository *repo, size_t max_packs, bool durable)
{
    char dir[4096], path[4200], tmp[4200];
    struct stat st;
    pack_dir(dir, sizeof(dir), repo);
    struct packfile *packs;
    size_t n;
    char *own = NULL;
    int rc = list_packs(&packs, &n, dir, true);
    snprintf(path, sizeof(path), "%s/multi-pack-index", dir);
    /* With a multi-pack-index, git maintains the packs it lists: they are left as they are. */
    if (rc || n <= max_packs || stat(path, &st) == 0 || (rc = own_list_read(&own, repo, dir))) {
        free_packs(packs, n);
        free(own);
        return rc;
    }
    /* Only twin's own packs are joined (and counted against the limit). */
    size_t kept = 0;
    for (size_t i = 0; i < n; i++) {
        char line[70];
        snprintf(line, sizeof(line), "%s\n", packs[i].name);
        if (strstr(own, line))
            packs[kept++] = packs[i];
        else
            free(packs[i].idx);
    }
    n = kept;
    if (n <= max_packs) {
        free_packs(packs, n);
        free(own);
        return 0;
    }
    /* Smallest first; join at least enough to get back under the limit, and then every pack
     * not yet twice the size of what is being joined (git's geometric rule). */
    qsort(packs, n, sizeof(*packs), cmp_size);
    size_t take = n - max_packs + 1;
    uint64_t sum = 0;
    for (size_t i = 0; i < n; i++) {
        if (i >= take && (uint64_t)packs[i].pack_size >= 2 * sum)
            break;
        sum += (uint64_t)packs[i].pack_size;
        if (i >= take)
            take = i + 1;
    }
    /* A pack that repeats an object of one before it is left out: a pack must not hold an
     * object twice, and its bytes are copied as they are. */
    unsigned char *seen = NULL, *fresh = NULL;
    size_t nseen = 0, seen_cap = 0, joined = 0, nfresh = 0, fresh_cap = 0;
    struct twin_gitfmt_idx_entry *objs = NULL;
    size_t objs_cap = 0, count = 0;
    twin_packw *w = NULL;
    unsigned char *use = calloc(n, sizeof(*use));
    if (!use)
        rc = twin_error(TWIN_ERROR, "out of memory");
    for (size_t i = 0; rc == 0 && i < take; i++) {
        struct packfile *p = &packs[i];
        if (load_index(p, dir) != 0) {
            twin_error_clear();
            continue; /* a pack git or libgit2 wrote in some other form stays as it is */
        }
        uint32_t dup = overlaps(p, seen, nseen);
        use[i] = dup == p->count ? JOIN_DROP : dup ? JOIN_REWRITE : JOIN_COPY;
        joined++;
        if (use[i] == JOIN_DROP) /* empty, or every object already joined: nothing to copy */
            continue;
        if (twin_util_grow((void **)&seen, &seen_cap, nseen + p->count, TWIN_SHA1_BYTES) ||
            (dup &&
             twin_util_grow((void **)&fresh, &fresh_cap, nfresh + p->count, TWIN_SHA1_BYTES))) {
            rc = TWIN_ERROR;
            break;
        }
        size_t before = nseen;
        for (uint32_t k = 0; k < p->count; k++) {
            const unsigned char *id = twin_gitfmt_idx_id(&p->x, k);
            if (dup && bsearch(id, seen, before, TWIN_SHA1_BYTES, cmp_id))
                continue;
            memcpy(seen + nseen++ * TWIN_SHA1_BYTES, id, TWIN_SHA1_BYTES);
            if (dup)
                memcpy(fresh + nfresh++ * TWIN_SHA1_BYTES, id, TWIN_SHA1_BYTES);
        }
        qsort(seen, nseen, TWIN_SHA1_BYTES, cmp_id);
    }
    if (rc == 0 && nfresh &&
        ((rc = twin_pack_writer_new(&w)) || (rc = rewrite_objects(w, repo, fresh, nfresh)))) {
        /* Upkeep: a pack that cannot be read out stays as it is, and the others are joined. */
        twin_error_clear();
        rc = 0;
        twin_pack_writer_free(w);
        w = NULL;
        for (size_t i = 0; i < take; i++)
            if (use[i] == JOIN_REWRITE) {
                use[i] = JOIN_NONE;
                joined--;
            }
        nseen -= nfresh;
    }
    size_t ncopy = 0, ndrop = 0;
    for (size_t i = 0; i < take; i++) {
        ncopy += use[i] == JOIN_COPY;
        ndrop += use[i] == JOIN_DROP;
    }
    if (rc || joined < 2)
        goto cleanup;
    if (ncopy + (w != NULL) < 2) {
        /* Nothing to join into a new pack (which would be the one pack copied, under its own
         * name): the packs whose every object is in it only go. */
        for (size_t i = 0; ndrop && i < take; i++)
            if (use[i] != JOIN_DROP)
                use[i] = JOIN_NONE;
        goto remove;
    }
    int fd = twin_pack_open_temp(tmp, sizeof(tmp), dir);
    if (fd < 0) {
        rc = fd;
        goto cleanup;
    }
    twin_sha1_ctx total;
    twin_sha1_init(&total);
    unsigned char header[TWIN_GITFMT_PACK_HEADER];
    twin_gitfmt_pack_header_put(header, (uint32_t)nseen);
    twin_sha1_update(&total, header, sizeof(header));
    rc = twin_util_write_all(fd, header, sizeof(header)) == 0
             ? 0
             : twin_error(TWIN_ERROR, "cannot write a pack: %s", strerror(errno));
    uint64_t shift = 0; /* where the current pack's objects begin in the new one, less 12 */
    for (size_t i = 0; rc == 0 && i < take; i++) {
        if (use[i] != JOIN_COPY)
            continue;
        const struct packfile *p = &packs[i];
        if ((rc = twin_util_grow((void **)&objs, &objs_cap, count + p->count, sizeof(*objs))))
            break;
        for (uint32_t k = 0; k < p->count; k++) {
            uint64_t off;
            char why[TWIN_GITFMT_IDX_WHY];
            if (twin_gitfmt_idx_offset(&off, &p->x, k, (uint64_t)p->pack_size, why, sizeof(why))) {
                rc = twin_error(TWIN_EINVALID, "%s.idx is damaged: %s", p->name, why);
                break;
            }
            memcpy(objs[count].id, twin_gitfmt_idx_id(&p->x, k), TWIN_SHA1_BYTES);
            objs[count].crc = twin_gitfmt_idx_crc(&p->x, k);
            objs[count].offset = off + shift;
            count++;
        }
        if (rc == 0)
            rc = copy_pack(fd, &total, dir, p);
        shift += (uint64_t)p->pack_size - TWIN_GITFMT_PACK_HEADER - TWIN_SHA1_BYTES;
    }
    if (rc == 0 && w && w->count) { /* the rewritten objects follow the copied ones */
        if ((rc = twin_util_grow((void **)&objs, &objs_cap, count + w->count, sizeof(*objs))))
            goto written;
        for (size_t k = 0; k < w->count; k++) {
            objs[count] = w->objs[k];
            objs[count++].offset += shift;
        }
        twin_sha1_update(&total, w->buf + TWIN_GITFMT_PACK_HEADER,
                         w->len - TWIN_GITFMT_PACK_HEADER);
        if (twin_util_write_all(fd, w->buf + TWIN_GITFMT_PACK_HEADER,
                                w->len - TWIN_GITFMT_PACK_HEADER) != 0)
            rc = twin_error(TWIN_ERROR, "cannot write a pack: %s", strerror(errno));
    }
written:;
    unsigned char packsum[TWIN_SHA1_BYTES];
    if (rc == 0 && count != nseen)
        rc = twin_error(TWIN_ERROR, "joining packs: %zu objects written, %zu expected", count,
                        nseen);
    if (rc == 0) {
        twin_sha1_final(&total, packsum);
        if (twin_util_write_all(fd, packsum, sizeof(packsum)) != 0)
            rc = twin_error(TWIN_ERROR, "cannot write a pack: %s", strerror(errno));
    }
    if (rc) {
        close(fd);
        unlink(tmp);
        goto cleanup;
    }
    if ((rc = publish(repo, dir, tmp, packsum, objs, count, fd, durable)))
        goto cleanup;
remove:
    /* Every object is now in the new pack, or was in another already; the old ones can go,
     * index first. */
    for (size_t i = 0; i < take; i++) {
        if (use[i] == JOIN_NONE)
            continue;
        snprintf(path, sizeof(path), "%s/%s.idx", dir, packs[i].name);
        unlink(path);
        snprintf(path, sizeof(path), "%s/%s.pack", dir, packs[i].name);
        unlink(path);
    }
    git_odb *odb = NULL;
    if (git_repository_odb(&odb, repo) == 0)
        git_odb_refresh(odb);
    git_odb_free(odb);
    /* The joined packs leave the list; the new one (published above) stays. */
    {
        char *now = NULL;
        char lpath[4200];
        size_t llen;
        int lock = own_list_lock(repo);
        own_list_path(lpath, sizeof(lpath), repo);
        if (lock >= 0 && twin_util_read_file(&now, &llen, lpath, 4 << 20) == 0)
            rc = own_list_write(repo, dir, now);
        free(now);
        if (lock >= 0)
            close(lock);
    }
cleanup:
    twin_pack_writer_free(w);
    free(fresh);
    free(own);
    free(use);
    free(seen);
    free(objs);
    free_packs(packs, n);
    return rc;
}
