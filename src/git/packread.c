#define _POSIX_C_SOURCE 200809L
#include "git/packread.h"

#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <libdeflate.h>
#include <unistd.h>

#include <git2/sys/odb_backend.h>

#include "git/gitfmt.h"
#include "twin/error.h"
#include "twin/global.h"
#include "base/util.h"

#define OBJ_MAX_BYTES ((size_t)1 << 30) /* larger objects are left to libgit2 */
#define CHAIN_MAX     ((size_t)1 << 20) /* deltas on deltas, at most */
#define CACHE_ENTRIES 8192              /* at most; a power of two */
#define CACHE_MIN     16
#define CACHE_BYTES   ((size_t)32 << 20) /* unless twin_packread_lean */
#define TRIM_BYTES    ((size_t)16 << 20)
#define LEAN_CACHE    ((size_t)16 << 20)
#define LEAN_TRIM     ((size_t)1 << 20)
/* What each scattered read is counted as towards letting the pages go: the kernel maps 64 KiB of
 * a file around each fault, and more where the page cache holds the file in large folios. At
 * 512 KiB the first read of every record at 100k records peaked at 67 MB instead of 144 MB, in
 * the same CPU time; more costs time for little. */
#define SCATTERED_READ ((size_t)512 << 10)

struct rpack {
    char name[64];
    size_t dir;   /* the index of its directory among those opened */
    bool trusted; /* its objects were hashed against their ids as they entered the store */
    const unsigned char *idx, *pack;
    size_t pack_len; /* without the trailer */
    size_t map_idx_len, map_pack_len;
    uint32_t count;
    struct twin_gitfmt_idx x; /* idx, read */
    bool borrowed;            /* the caller's bytes (twin_packread_open_mem), not mapped files */
};

struct centry {
    twin_pobj *obj; /* NULL: a free entry */
    uint64_t off;
    uint32_t pack;
    unsigned next;         /* the next entry on the hash chain, plus one */
    unsigned newer, older; /* neighbours in recency, plus one */
};

/* A delta of a chain being resolved: where its data starts and how large it says it is. */
struct link {
    uint32_t pack;
    uint64_t off, data;
    size_t size;
};

/* A reader opened with twin_packread_open_libgit2: an object database per directory, holding
 * that directory's packs only, read through libgit2. */
struct lg_dir {
    git_odb *odb;
    bool trusted;
};

struct twin_packread {
    bool libgit2; /* every get and has goes through libgit2, one database per directory */
    struct lg_dir *lg;
    size_t nlg;
    struct rpack *packs;
    size_t npacks, packs_cap, last;
    char **dirs; /* the directories opened (twin_packread_open_dirs), for a refresh */
    size_t ndirs;
    size_t cache_bytes, trim_bytes;
    size_t since_trim; /* bytes read out of the packs since their pages were last let go */
    size_t per_object; /* counted for each object read besides its size (twin_packread_scattered) */
    struct libdeflate_decompressor *inflater; /* made on first use */
    unsigned char *delta;
    size_t delta_cap;
    struct link *chain;
    size_t chain_cap;
    size_t entries, filled, nfree, bytes;
    unsigned newest, oldest; /* ends of the recency list, plus one */
    unsigned hash_mask;
    unsigned *heads; /* hash_mask + 1 chains */
    unsigned *free;  /* entries dropped, to be used again */
    struct centry *cache;
};

/* Files mapped once per process, however many readers use them: each thread of a check has its
 * reader, and a page of a pack or index mapped twice counts twice in the resident set. In a
 * short-lived process (twin_global_short_lived) a file no reader uses stays mapped, for the next
 * reader and until the process ends. */
struct shared_map {
    dev_t dev;
    ino_t ino;
    size_t len;
    const void *p;
    size_t refs;
    struct shared_map *next;
};

static pthread_mutex_t maps_lock = PTHREAD_MUTEX_INITIALIZER;
static struct shared_map *maps;

static const void *map_file(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    struct stat st;
    const void *out = NULL;
    if (fd < 0)
        return NULL;
    if (fstat(fd, &st) != 0 || st.st_size <= 0) {
        close(fd);
        return NULL;
    }
    pthread_mutex_lock(&maps_lock);
    for (struct shared_map *m = maps; m && !out; m = m->next)
        if (m->dev == st.st_dev && m->ino == st.st_ino && m->len == (size_t)st.st_size) {
            m->refs++;
            out = m->p;
        }
    struct shared_map *m = out ? NULL : malloc(sizeof(*m));
    if (m) {
        void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
        if (p == MAP_FAILED) {
            free(m);
        } else {
            *m = (struct shared_map){st.st_dev, st.st_ino, (size_t)st.st_size, p, 1, maps};
            maps = m;
            out = p;
        }
    }
    pthread_mutex_unlock(&maps_lock);
    close(fd);
    if (out)
        *len = (size_t)st.st_size;
    return out;
}

static void unmap_file(const void *p)
{
    struct shared_map **link = &maps, *gone = NULL;
    pthread_mutex_lock(&maps_lock);
    while (*link && (*link)->p != p)
        link = &(*link)->next;
    if (*link && --(*link)->refs == 0 && !twin_global_is_short_lived()) {
        gone = *link;
        *link = gone->next;
    }
    pthread_mutex_unlock(&maps_lock);
    if (gone) {
        munmap((void *)gone->p, gone->len);
        free(gone);
    }
}

static void unmap_pack(struct rpack *p)
{
    if (p->borrowed) {
        p->idx = p->pack = NULL;
        return;
    }
    if (p->idx)
        unmap_file(p->idx);
    if (p->pack)
        unmap_file(p->pack);
    p->idx = p->pack = NULL;
}

/* Checks the framing of a pack and its index: a version-2 index as twin_gitfmt_idx_parse reads
 * it (fan-out that never falls, its tables whole); a version 2 or 3 pack. Its entries are checked
 * as they are looked up (idx_find), not all on opening: a reader is opened for each thread of a
 * walk and for each sync, many to read a few objects, and a lookup of an id in an index whose ids
 * are out of order can only miss it (libgit2 then reads the object and names the damage). */
static int check_pack(struct rpack *p)
{
    if (!p->idx || !p->pack)
        return -1;
    if (twin_gitfmt_idx_parse(&p->x, p->idx, p->map_idx_len, NULL, 0) || p->x.version != 2)
        return -1;
    p->count = p->x.count;
    uint32_t version, count;
    if (p->map_pack_len < TWIN_GITFMT_PACK_HEADER + 20 ||
        !twin_gitfmt_pack_header_get(&version, &count, p->pack) || (version != 2 && version != 3))
        return -1;
    p->pack_len = p->map_pack_len - 20;
    return 0;
}

/* Maps a pack and its index, and checks them. */
static int map_pack(struct rpack *p, const char *dir)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/%s.idx", dir, p->name);
    p->idx = map_file(path, &p->map_idx_len);
    snprintf(path, sizeof(path), "%s/%s.pack", dir, p->name);
    p->pack = map_file(path, &p->map_pack_len);
    return check_pack(p);
}

static int by_count(const void *a, const void *b)
{
    const struct rpack *x = a, *y = b;
    return x->count > y->count ? -1 : x->count < y->count;
}

static bool holds_pack(const twin_packread *r, size_t dir_index, const char *name, size_t len)
{
    for (size_t i = 0; i < r->npacks; i++)
        if (r->packs[i].dir == dir_index && strlen(r->packs[i].name) == len &&
            memcmp(r->packs[i].name, name, len) == 0)
            return true;
    return false;
}

/* Adds the packs of one directory (with only_new, those the reader does not hold yet). *vanished
 * is set when a pack listed was gone before it was mapped: a join ran beside the scan, and the
 * pack that replaced it may have been missed. */
static int add_dir(twin_packread *r, size_t *cap, const char *dir, size_t dir_index, bool only_new,
                   bool *vanished)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len != 5 + 40 + 4 || strncmp(e->d_name, "pack-", 5) != 0 ||
            strcmp(e->d_name + len - 4, ".idx") != 0)
            continue;
        if (only_new && holds_pack(r, dir_index, e->d_name, len - 4))
            continue;
        if (twin_util_grow((void **)&r->packs, cap, r->npacks + 1, sizeof(*r->packs))) {
            closedir(d);
            return TWIN_ERROR;
        }
        struct rpack *p = &r->packs[r->npacks];
        memset(p, 0, sizeof(*p));
        snprintf(p->name, sizeof(p->name), "%.*s", (int)(len - 4), e->d_name);
        p->dir = dir_index;
        if (map_pack(p, dir) == 0) {
            r->npacks++;
        } else {
            char path[4200];
            struct stat st;
            unmap_pack(p);
            snprintf(path, sizeof(path), "%s/%s.idx", dir, p->name);
            if (stat(path, &st) != 0)
                *vanished = true;
        }
    }
    if (d)
        closedir(d);
    return 0;
}

/* Makes the cache, sized by the objects the packs' indexes list (CACHE_ENTRIES at most): a reader
 * of well-formed packs never keeps more, and one of a few small packs need not take the 352 KiB
 * of the largest cache. Sorts the packs, largest first. */
static int reader_ready(twin_packread *r)
{
    uint64_t objects = 0;
    for (size_t i = 0; i < r->npacks; i++)
        objects += r->packs[i].count;
    size_t entries = CACHE_MIN;
    while (entries < objects && entries < CACHE_ENTRIES)
        entries *= 2;
    r->entries = entries;
    r->hash_mask = (unsigned)(2 * entries - 1);
    r->cache = calloc(entries, sizeof(*r->cache));
    r->free = malloc(entries * sizeof(*r->free));
    r->heads = calloc(2 * entries, sizeof(*r->heads));
    if (!r->cache || !r->free || !r->heads)
        return twin_error(TWIN_ERROR, "out of memory");
    if (r->npacks > 1)
        qsort(r->packs, r->npacks, sizeof(*r->packs), by_count);
    return 0;
}

static twin_packread *reader_new(void)
{
    twin_packread *r = calloc(1, sizeof(*r));
    if (!r) {
        twin_error(TWIN_ERROR, "out of memory");
        return NULL;
    }
    r->cache_bytes = CACHE_BYTES;
    r->trim_bytes = TRIM_BYTES;
    return r;
}

int twin_packread_open_dirs(twin_packread **out, const char *const *dirs, size_t ndirs)
{
    *out = NULL;
    twin_packread *r = reader_new();
    if (!r)
        return TWIN_ERROR;
    size_t cap = 0;
    /* A join publishes its pack before it removes the packs it joined, so a scan that began
     * after a removal sees the new pack: scan again while packs vanish under the scan. */
    for (int attempt = 0;; attempt++) {
        bool vanished = false;
        for (size_t i = 0; i < ndirs; i++)
            if (add_dir(r, &cap, dirs[i], i, false, &vanished)) {
                twin_packread_free(r);
                return TWIN_ERROR;
            }
        if (!vanished || attempt == 8)
            break;
        for (size_t i = 0; i < r->npacks; i++)
            unmap_pack(&r->packs[i]);
        r->npacks = 0;
    }
    r->packs_cap = cap;
    if (reader_ready(r) || !(r->dirs = calloc(ndirs ? ndirs : 1, sizeof(*r->dirs)))) {
        twin_packread_free(r);
        return twin_error(TWIN_ERROR, "out of memory");
    }
    for (; r->ndirs < ndirs; r->ndirs++)
        if (!(r->dirs[r->ndirs] = strdup(dirs[r->ndirs]))) {
            twin_packread_free(r);
            return twin_error(TWIN_ERROR, "out of memory");
        }
    *out = r;
    return 0;
}

/* New packs go after those the reader holds: the cache knows objects by their pack's place. */
int twin_packread_refresh(twin_packread *r)
{
    for (int attempt = 0; attempt <= 8; attempt++) {
        bool vanished = false;
        for (size_t i = 0; i < r->ndirs; i++)
            if (add_dir(r, &r->packs_cap, r->dirs[i], i, true, &vanished))
                return TWIN_ERROR;
        if (!vanished)
            break;
    }
    return 0;
}

int twin_packread_open_mem(twin_packread **out, const struct twin_packread_mem *packs, size_t n)
{
    *out = NULL;
    twin_packread *r = reader_new();
    if (!r)
        return TWIN_ERROR;
    if (n > 0 && !(r->packs = calloc(n, sizeof(*r->packs)))) {
        twin_packread_free(r);
        return twin_error(TWIN_ERROR, "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        struct rpack *p = &r->packs[r->npacks];
        memset(p, 0, sizeof(*p));
        snprintf(p->name, sizeof(p->name), "%s", packs[i].name ? packs[i].name : "pack");
        p->borrowed = true;
        p->idx = packs[i].idx;
        p->map_idx_len = packs[i].idx_len;
        p->pack = packs[i].pack;
        p->map_pack_len = packs[i].pack_len;
        if (check_pack(p) == 0)
            r->npacks++;
    }
    if (reader_ready(r)) {
        twin_packread_free(r);
        return TWIN_ERROR;
    }
    *out = r;
    return 0;
}

int twin_packread_open(twin_packread **out, git_repository *repo)
{
    char dir[4096];
    /* A repository made around an object database (the quarantine's view) has no directory: the
     * reader then holds no packs, and libgit2 reads every object. */
    const char *path = git_repository_path(repo);
    if (!path)
        return twin_packread_open_dirs(out, NULL, 0);
    snprintf(dir, sizeof(dir), "%sobjects/pack", path);
    const char *dirs[] = {dir};
    return twin_packread_open_dirs(out, dirs, 1);
}

/* ---- the baseline: libgit2 ----------------------------------------------------------------- */

/* Adds to odb the packs of dir that twin's reader would open (pack-<40 hex>.idx and its .pack),
 * each through libgit2's reader of one pack. A pack libgit2 cannot open is left out, as twin's
 * reader leaves out one that is not well-formed. */
static int lg_add_dir(git_odb *odb, const char *dir)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int priority = 1;
    while (d && (e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len != 5 + 40 + 4 || strncmp(e->d_name, "pack-", 5) != 0 ||
            strcmp(e->d_name + len - 4, ".idx") != 0)
            continue;
        char path[4200];
        git_odb_backend *b = NULL;
        snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
        if (git_odb_backend_one_pack(&b, path) < 0) {
            git_error_clear();
            continue;
        }
        if (git_odb_add_backend(odb, b, priority++) < 0) {
            b->free(b);
            closedir(d);
            return twin_error_git("opening a pack through libgit2");
        }
    }
    if (d)
        closedir(d);
    return 0;
}

int twin_packread_open_dirs_libgit2(twin_packread **out, const char *const *dirs, size_t ndirs)
{
    *out = NULL;
    twin_packread *r = reader_new();
    if (!r)
        return TWIN_ERROR;
    r->libgit2 = true;
    if (ndirs > 0 && !(r->lg = calloc(ndirs, sizeof(*r->lg)))) {
        twin_packread_free(r);
        return twin_error(TWIN_ERROR, "out of memory");
    }
    for (size_t i = 0; i < ndirs; i++) {
        if (git_odb_new(&r->lg[i].odb) < 0) {
            twin_packread_free(r);
            return twin_error_git("opening an object database");
        }
        r->nlg++;
        if (lg_add_dir(r->lg[i].odb, dirs[i])) {
            twin_packread_free(r);
            return TWIN_ERROR;
        }
    }
    *out = r;
    return 0;
}

int twin_packread_open_libgit2(twin_packread **out, git_repository *repo)
{
    char dir[4096];
    const char *path = git_repository_path(repo);
    if (!path)
        return twin_packread_open_dirs_libgit2(out, NULL, 0);
    snprintf(dir, sizeof(dir), "%sobjects/pack", path);
    const char *dirs[] = {dir};
    return twin_packread_open_dirs_libgit2(out, dirs, 1);
}

static twin_pobj *pobj_new(git_object_t type, size_t size, bool trusted);

/* twin_packread_get through libgit2: the object copied out of libgit2's into a twin_pobj. */
static int lg_get(twin_pobj **out, twin_packread *r, const git_oid *id)
{
    for (size_t i = 0; i < r->nlg; i++) {
        git_odb_object *o = NULL;
        int rc = git_odb_read(&o, r->lg[i].odb, id);
        if (rc == GIT_ENOTFOUND) {
            git_error_clear();
            continue;
        }
        if (rc < 0) {
            const git_error *e = git_error_last();
            if (e && e->klass == GIT_ERROR_NOMEMORY)
                return twin_error(TWIN_ERROR, "out of memory");
            return twin_error_damage("object %s: %s", git_oid_tostr_s(id),
                                     e ? e->message : "libgit2 cannot read it");
        }
        size_t size = git_odb_object_size(o);
        twin_pobj *p = pobj_new(git_odb_object_type(o), size, r->lg[i].trusted);
        if (!p) {
            git_odb_object_free(o);
            return twin_error(TWIN_ERROR, "out of memory");
        }
        memcpy(p->data, git_odb_object_data(o), size);
        p->data[size] = '\0';
        git_odb_object_free(o);
        *out = p;
        return 1;
    }
    return 0;
}

static void cache_drop(twin_packread *r, struct centry *c)
{
    r->bytes -= c->obj->size;
    twin_packread_release(c->obj);
    c->obj = NULL;
}

void twin_packread_free(twin_packread *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->filled; i++)
        if (r->cache[i].obj)
            twin_packread_release(r->cache[i].obj);
    for (size_t i = 0; i < r->npacks; i++)
        unmap_pack(&r->packs[i]);
    free(r->packs);
    for (size_t i = 0; i < r->ndirs; i++)
        free(r->dirs[i]);
    free(r->dirs);
    free(r->cache);
    free(r->free);
    free(r->heads);
    for (size_t i = 0; i < r->nlg; i++)
        git_odb_free(r->lg[i].odb);
    free(r->lg);
    libdeflate_free_decompressor(r->inflater);
    free(r->delta);
    free(r->chain);
    free(r);
}

void twin_packread_lean(twin_packread *r)
{
    twin_packread_lean_to(r, 0);
}

void twin_packread_lean_to(twin_packread *r, size_t cache_bytes)
{
    r->cache_bytes = cache_bytes ? cache_bytes : LEAN_CACHE;
    r->trim_bytes = LEAN_TRIM;
}

void twin_packread_scattered(twin_packread *r)
{
    r->per_object = SCATTERED_READ;
}

void twin_packread_trust(twin_packread *r)
{
    for (size_t i = 0; i < r->npacks; i++)
        r->packs[i].trusted = true;
    for (size_t i = 0; i < r->nlg; i++)
        r->lg[i].trusted = true;
}

void twin_packread_trust_dir(twin_packread *r, size_t dir)
{
    for (size_t i = 0; i < r->npacks; i++)
        if (r->packs[i].dir == dir)
            r->packs[i].trusted = true;
    if (dir < r->nlg)
        r->lg[dir].trusted = true;
}

void twin_packread_release(twin_pobj *o)
{
    if (o && --o->refs == 0)
        free(o);
}

/* ---- indexes ------------------------------------------------------------------------------- */

/* Where pack p holds id: 1 with *off, 0 when it does not, -1 when its index is damaged (the
 * entry names an offset outside the pack). */
static int idx_find(uint64_t *off, const struct rpack *p, const unsigned char *id)
{
    uint32_t pos;
    if (!twin_gitfmt_idx_find(&pos, &p->x, id))
        return 0;
    return twin_gitfmt_idx_offset(off, &p->x, pos, p->map_pack_len, NULL, 0) ? -1 : 1;
}

/* ---- the cache of resolved objects ------------------------------------------------------- */

static unsigned cache_hash(const twin_packread *r, uint32_t pack, uint64_t off)
{
    uint64_t h = (off ^ ((uint64_t)pack << 40)) * 0x9E3779B97F4A7C15u;
    return (unsigned)(h >> 40) & r->hash_mask;
}

static void lru_unlink(twin_packread *r, struct centry *c)
{
    unsigned self = (unsigned)(c - r->cache) + 1;
    if (c->newer)
        r->cache[c->newer - 1].older = c->older;
    else if (r->newest == self)
        r->newest = c->older;
    if (c->older)
        r->cache[c->older - 1].newer = c->newer;
    else if (r->oldest == self)
        r->oldest = c->newer;
    c->newer = c->older = 0;
}

static void lru_push(twin_packread *r, struct centry *c)
{
    unsigned self = (unsigned)(c - r->cache) + 1;
    c->newer = 0;
    c->older = r->newest;
    if (r->newest)
        r->cache[r->newest - 1].newer = self;
    r->newest = self;
    if (!r->oldest)
        r->oldest = self;
}

static twin_pobj *cache_get(twin_packread *r, uint32_t pack, uint64_t off)
{
    for (unsigned i = r->heads[cache_hash(r, pack, off)]; i; i = r->cache[i - 1].next) {
        struct centry *c = &r->cache[i - 1];
        if (c->off == off && c->pack == pack) {
            lru_unlink(r, c);
            lru_push(r, c);
            return c->obj;
        }
    }
    return NULL;
}

static void chain_unlink(twin_packread *r, struct centry *c)
{
    unsigned *link = &r->heads[cache_hash(r, c->pack, c->off)], self = (unsigned)(c - r->cache) + 1;
    while (*link && *link != self)
        link = &r->cache[*link - 1].next;
    if (*link)
        *link = c->next;
    c->next = 0;
}

/* Keeps a reference to o as the object at (pack, off), dropping the least recently used objects
 * to make room. */
static void cache_put(twin_packread *r, uint32_t pack, uint64_t off, twin_pobj *o)
{
    if (o->size > r->cache_bytes / 8)
        return;
    while (r->oldest &&
           (r->bytes + o->size > r->cache_bytes || (r->filled == r->entries && r->nfree == 0))) {
        struct centry *t = &r->cache[r->oldest - 1];
        lru_unlink(r, t);
        chain_unlink(r, t);
        cache_drop(r, t);
        r->free[r->nfree++] = (unsigned)(t - r->cache);
    }
    struct centry *c = r->nfree                 ? &r->cache[r->free[--r->nfree]]
                       : r->filled < r->entries ? &r->cache[r->filled++]
                                                : NULL;
    if (!c)
        return;
    o->refs++;
    r->bytes += o->size;
    unsigned *head = &r->heads[cache_hash(r, pack, off)];
    *c = (struct centry){.obj = o, .off = off, .pack = pack, .next = *head};
    *head = (unsigned)(c - r->cache) + 1;
    lru_push(r, c);
}

/* ---- objects ------------------------------------------------------------------------------- */

struct header {
    int type;
    size_t size;
    uint64_t data;                /* where the compressed data starts */
    uint64_t base;                /* OFS_DELTA: the base's offset */
    const unsigned char *base_id; /* REF_DELTA */
};

static int damaged(const struct rpack *p, uint64_t off, const char *what)
{
    return twin_error_damage("%s.pack: the object at offset %llu %s", p->name,
                             (unsigned long long)off, what);
}

static int read_header(struct header *h, const struct rpack *p, uint64_t off)
{
    uint64_t end = p->pack_len;
    if (off >= end)
        return damaged(p, off, "lies past the end of the pack");
    struct twin_gitfmt_entry e;
    int len = twin_gitfmt_entry_parse(&e, p->pack + off, (size_t)(end - off));
    if (len <= 0)
        return damaged(p, off,
                       e.part == TWIN_GITFMT_AT_TYPE   ? "has an unknown type"
                       : e.part == TWIN_GITFMT_AT_BASE ? "has a malformed delta header"
                                                       : "has a malformed header");
    h->type = e.type;
    h->size = (size_t)e.size;
    h->base_id = e.base_id;
    if (e.type == TWIN_GITFMT_OFS_DELTA) {
        if (e.distance == 0 || e.distance > off - TWIN_GITFMT_PACK_HEADER)
            return damaged(p, off, "names a base outside the pack");
        h->base = off - e.distance;
    }
    uint64_t i = off + (uint64_t)len;
    if (h->size > OBJ_MAX_BYTES)
        return damaged(p, off, "is too large to read here");
    /* Deflate makes at most 1032 bytes of each byte it reads (a match of 258 bytes coded in two
     * bits): a size the rest of the pack could not inflate to is damage, found before memory is
     * taken for it. */
    if (h->size / 1032 > end - i)
        return damaged(p, off, "does not inflate to its stated size");
    h->data = i;
    return 0;
}

/* Inflates exactly size bytes from the pack at data into out (which has size + 1 bytes), and
 * checks the stream's adler32 as git's reads do (zlib checks it at the end of every stream):
 * damage in an object's bytes is named here, whether or not the caller hashes the object. */
static int inflate_exact(twin_packread *r, const struct rpack *p, uint64_t off, uint64_t data,
                         unsigned char *out, size_t size)
{
    switch (
        twin_gitfmt_inflate_exact(&r->inflater, out, size, p->pack + data, p->pack_len - data)) {
    case TWIN_GITFMT_INFLATE_OK:
        return 0;
    case TWIN_GITFMT_INFLATE_SUM:
        return damaged(p, off, "does not match its zlib checksum");
    case TWIN_GITFMT_INFLATE_DAMAGED:
        return damaged(p, off, "is not a zlib stream, or does not match its zlib checksum");
    case TWIN_GITFMT_INFLATE_NOMEM:
        return twin_error(TWIN_ERROR, "out of memory");
    default:
        return damaged(p, off, "does not inflate to its stated size");
    }
}

static twin_pobj *pobj_new(git_object_t type, size_t size, bool trusted)
{
    twin_pobj *o = malloc(sizeof(*o) + size + 1);
    if (o) {
        o->refs = 1;
        o->type = type;
        o->size = size;
        o->trusted = trusted;
    }
    return o;
}

/* Applies git delta d to base: a new object of base's type, or NULL with the error set. */
static twin_pobj *delta_apply(const struct rpack *p, uint64_t off, const twin_pobj *base,
                              const unsigned char *d, size_t len)
{
    size_t src, dst, start;
    if (twin_gitfmt_delta_sizes(&src, &dst, &start, d, len) || src != base->size ||
        dst > OBJ_MAX_BYTES) {
        damaged(p, off, "has a delta that does not fit its base");
        return NULL;
    }
    if (!twin_gitfmt_delta_can_make(dst, base->size, len - start)) {
        damaged(p, off, "has a malformed delta");
        return NULL;
    }
    twin_pobj *o = pobj_new(base->type, dst, p->trusted);
    if (!o) {
        twin_error(TWIN_ERROR, "out of memory");
        return NULL;
    }
    if (twin_gitfmt_delta_apply(o->data, dst, base->data, base->size, d, len, start) == 0)
        return o;
    free(o);
    damaged(p, off, "has a malformed delta");
    return NULL;
}

/* The pack and offset holding id, in any pack: 1, 0, or <0. The packs are searched largest
 * first (they are sorted so when opened), after the one that held the last object found. */
static int locate(uint32_t *pack, uint64_t *off, twin_packread *r, const unsigned char *id)
{
    for (size_t k = 0; k <= r->npacks; k++) {
        size_t i = k == 0 ? r->last : k - 1;
        if (i >= r->npacks || (k > 0 && i == r->last))
            continue;
        int rc = idx_find(off, &r->packs[i], id);
        if (rc < 0)
            return twin_error_damage("%s.idx is damaged", r->packs[i].name);
        if (rc > 0) {
            *pack = (uint32_t)i;
            r->last = i;
            return 1;
        }
    }
    return 0;
}

/* The object at (pack, off): down its chain of deltas to an object that is whole or cached, then
 * up again, applying each delta and keeping each result in the cache. A commit or file asked for
 * and stored whole is not kept: a walk reads each once, where a tree's next version is most
 * often a delta against it, and in a pack git made, a delta's neighbours are deltas against it. */
static int resolve(twin_pobj **out, twin_packread *r, uint32_t pack, uint64_t off)
{
    size_t depth = 0;
    twin_pobj *obj = NULL;
    int rc;
    /* REF_DELTA bases can close a cycle, which no depth short of CHAIN_MAX would end: the
     * position reached at each power-of-two depth is kept, and a cycle returns to it within a few
     * times its length (Brent). */
    uint32_t mark_pack = pack;
    uint64_t mark_off = off;
    for (;;) {
        if ((obj = cache_get(r, pack, off))) {
            obj->refs++;
            break;
        }
        const struct rpack *p = &r->packs[pack];
        struct header h = {0};
        if ((rc = read_header(&h, p, off)))
            return rc;
        if (h.type != TWIN_GITFMT_OFS_DELTA && h.type != TWIN_GITFMT_REF_DELTA) {
            if (!(obj = pobj_new((git_object_t)h.type, h.size, p->trusted)))
                return twin_error(TWIN_ERROR, "out of memory");
            if ((rc = inflate_exact(r, p, off, h.data, obj->data, h.size))) {
                twin_packread_release(obj);
                return rc;
            }
            if (depth > 0 || obj->type == GIT_OBJECT_TREE)
                cache_put(r, pack, off, obj);
            break;
        }
        if (depth >= CHAIN_MAX)
            return damaged(p, off, "ends a chain of deltas too long to follow");
        if (twin_util_grow((void **)&r->chain, &r->chain_cap, depth + 1, sizeof(*r->chain)))
            return TWIN_ERROR;
        r->chain[depth++] = (struct link){.pack = pack, .off = off, .data = h.data, .size = h.size};
        if (h.type == TWIN_GITFMT_OFS_DELTA) {
            off = h.base;
        } else {
            rc = locate(&pack, &off, r, h.base_id);
            if (rc == 0)
                return 0; /* the base is not in these packs: libgit2 reads the object */
            if (rc < 0)
                return rc;
        }
        if (pack == mark_pack && off == mark_off)
            return damaged(&r->packs[pack], off, "is in a cycle of deltas");
        if ((depth & (depth - 1)) == 0) {
            mark_pack = pack;
            mark_off = off;
        }
    }
    while (depth > 0) {
        const struct link *l = &r->chain[--depth];
        const struct rpack *p = &r->packs[l->pack];
        bool sum_ok = false;
        /* A delta stored in one block is read in place, not copied. */
        const unsigned char *delta =
            twin_gitfmt_stored_view(&sum_ok, p->pack + l->data, p->pack_len - l->data, l->size);
        if (delta && !sum_ok) {
            twin_packread_release(obj);
            return damaged(p, l->off, "does not match its zlib checksum");
        }
        if (!delta) {
            if (twin_util_grow((void **)&r->delta, &r->delta_cap, l->size + 1, 1))
                rc = TWIN_ERROR;
            else
                rc = inflate_exact(r, p, l->off, l->data, r->delta, l->size);
            if (rc) {
                twin_packread_release(obj);
                return rc;
            }
            delta = r->delta;
        }
        twin_pobj *next = delta_apply(p, l->off, obj, delta, l->size);
        twin_packread_release(obj);
        if (!(obj = next))
            return TWIN_EVERIFY;
        cache_put(r, l->pack, l->off, obj);
    }
    *out = obj;
    return 1;
}

/* A walk over a long history touches every page of its packs once: after every so many bytes,
 * the pages read so far are let go (they stay in the page cache), so that the process keeps
 * only what it is reading. */
static void trim(twin_packread *r, size_t bytes)
{
    r->since_trim += bytes + r->per_object;
    if (r->since_trim < r->trim_bytes)
        return;
    r->since_trim = 0;
    /* Never the caller's bytes: MADV_DONTNEED would empty memory that is not a file's. */
    for (size_t i = 0; i < r->npacks; i++)
        if (!r->packs[i].borrowed)
            madvise((void *)r->packs[i].pack, r->packs[i].map_pack_len, MADV_DONTNEED);
}

int twin_packread_has(twin_packread *r, const git_oid *id)
{
    uint32_t pack;
    uint64_t off;
    for (size_t i = 0; r->libgit2 && i < r->nlg; i++)
        if (git_odb_exists(r->lg[i].odb, id))
            return 1;
    if (r->libgit2)
        return 0;
    return locate(&pack, &off, r, id->id);
}

int twin_packread_get(twin_pobj **out, twin_packread *r, const git_oid *id)
{
    uint32_t pack;
    uint64_t off;
    *out = NULL;
    if (r->libgit2)
        return lg_get(out, r, id);
    int rc = locate(&pack, &off, r, id->id);
    if (rc == 1)
        rc = resolve(out, r, pack, off);
    if (rc == 1)
        trim(r, (*out)->size);
    if (rc == TWIN_EVERIFY) {
        char hex[GIT_OID_HEXSZ + 1];
        git_oid_tostr(hex, sizeof(hex), id);
        return twin_error_wrap(rc, "object %s", hex);
    }
    return rc;
}

/* ---- as a libgit2 object-database backend -------------------------------------------------- */

struct backend {
    git_odb_backend parent;
    twin_packread *packs;
    pthread_mutex_t lock;
};

static int backend_error(int rc)
{
    if (rc == 0)
        return GIT_ENOTFOUND;
    git_error_set_str(GIT_ERROR_ODB, twin_error_last());
    return GIT_ERROR;
}

/* The object's size and type, and with data a copy of it for libgit2. The reader's objects are
 * counted by reference without atomics: all of it happens under the lock. */
static int backend_fetch(void **data, size_t *len, git_object_t *type, git_odb_backend *b,
                         const git_oid *id)
{
    struct backend *pb = (struct backend *)b;
    twin_pobj *o = NULL;
    pthread_mutex_lock(&pb->lock);
    int rc = twin_packread_get(&o, pb->packs, id);
    if (rc > 0) {
        *len = o->size;
        *type = o->type;
        if (data && (*data = git_odb_backend_data_alloc(b, o->size)))
            memcpy(*data, o->data, o->size);
        else if (data)
            rc = twin_error(TWIN_ERROR, "out of memory");
        twin_packread_release(o);
    }
    pthread_mutex_unlock(&pb->lock);
    return rc > 0 ? 0 : backend_error(rc);
}

static int backend_read(void **data, size_t *len, git_object_t *type, git_odb_backend *b,
                        const git_oid *id)
{
    return backend_fetch(data, len, type, b, id);
}

static int backend_read_header(size_t *len, git_object_t *type, git_odb_backend *b,
                               const git_oid *id)
{
    return backend_fetch(NULL, len, type, b, id);
}

static int backend_exists(git_odb_backend *b, const git_oid *id)
{
    struct backend *pb = (struct backend *)b;
    pthread_mutex_lock(&pb->lock);
    int rc = twin_packread_has(pb->packs, id);
    pthread_mutex_unlock(&pb->lock);
    return rc > 0;
}

static void backend_free(git_odb_backend *b)
{
    struct backend *pb = (struct backend *)b;
    twin_packread_free(pb->packs);
    pthread_mutex_destroy(&pb->lock);
    free(pb);
}

int twin_packread_backend(git_odb_backend **out, twin_packread *r)
{
    struct backend *pb = calloc(1, sizeof(*pb));
    *out = NULL;
    int rc = !pb ? twin_error(TWIN_ERROR, "out of memory")
             : git_odb_init_backend(&pb->parent, GIT_ODB_BACKEND_VERSION) < 0
                 ? twin_error_git("making an object-database backend")
                 : 0;
    if (rc) {
        twin_packread_free(r);
        free(pb);
        return rc;
    }
    pb->packs = r;
    pthread_mutex_init(&pb->lock, NULL);
    pb->parent.read = backend_read;
    pb->parent.read_header = backend_read_header;
    pb->parent.exists = backend_exists;
    pb->parent.free = backend_free;
    *out = &pb->parent;
    return 0;
}
