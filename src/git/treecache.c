/*
 * The tree cache: trees kept as their stored bytes, their entries indexed, found by id. The index
 * of a tree also decides whether it is in git's canonical form, which the tree diff and the
 * validity check rely on to read it on its bytes.
 */
#include "git/treecache.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "git/gitfmt.h"
#include "git/packread.h"
#include "base/sha1.h"
#include "twin/error.h"
#include "base/util.h"

/* Enough trees for the whole path of every record of a few busy types: the previous version of
 * a bucket was most often last read a few hundred commits earlier. */
#define TREE_SLOTS    TWIN_TREECACHE_SLOTS
#define TREE_HASH     1024 /* heads of the id hash chains, a power of two */
#define DIR_DUP_SCAN  16   /* how far back a file of a directory's name is looked for */
#define MODE_DIR      TWIN_GITFMT_MODE_TREE " "
#define MODE_FILE     TWIN_GITFMT_MODE_BLOB " "
#define MODE_DIR_LEN  TWIN_TREECACHE_MODE_DIR_LEN
#define MODE_FILE_LEN TWIN_TREECACHE_MODE_FILE_LEN

/* Slots found by id through hash chains. A new tree takes the slot of one that was replaced by a
 * newer version of its path, else one chosen by the clock algorithm: the cache holds the current
 * version of every path it has seen, as far as it can. */
struct twin_treecache {
    git_repository *repo;
    git_odb *odb;
    twin_packread *packs;
    bool trusted;      /* trees are not hashed on reading (see twin_treecache_trust_store) */
    bool trust_dir;    /* nor the trees of the first directory's packs (trust_first_dir) */
    bool lean;         /* its pack reader is lean (see twin_treecache_lean) */
    size_t lean_cache; /* with a cache of at most so many bytes (0: the lean reader's own) */
    bool libgit2;      /* entries are looked up by libgit2 (see twin_treecache_set_libgit2) */
    size_t hand, filled;
    size_t nslots; /* slots in use at most: TREE_SLOTS unless twin_treecache_keep said fewer */
    size_t nreplaced;
    unsigned replaced[TREE_SLOTS]; /* slots marked replaced (some since used again) */
    unsigned heads[TREE_HASH];     /* slot index plus one; 0: an empty chain */
    struct twin_treecache_tree slots[TREE_SLOTS];
};

static unsigned id_hash(const git_oid *id)
{
    return ((unsigned)id->id[0] | (unsigned)id->id[1] << 8) & (TREE_HASH - 1);
}

int twin_treecache_new(twin_treecache **out)
{
    *out = calloc(1, sizeof(**out));
    if (!*out)
        return twin_error(TWIN_ERROR, "out of memory");
    (*out)->nslots = TREE_SLOTS;
    return 0;
}

void twin_treecache_keep(twin_treecache *c, size_t trees)
{
    if (c->filled == 0)
        c->nslots = trees < 1 ? 1 : trees > TREE_SLOTS ? TREE_SLOTS : trees;
}

/* Empties a slot; its offsets array stays for the next tree unless all is true. The slot must be
 * off its hash chain. */
static void slot_clear(struct twin_treecache_tree *t, bool all)
{
    size_t *offsets = t->offsets, cap = t->cap;
    git_odb_object_free(t->obj);
    twin_packread_release(t->pobj);
    if (all)
        free(offsets);
    memset(t, 0, sizeof(*t));
    if (!all) {
        t->offsets = offsets;
        t->cap = cap;
    }
}

static void chain_remove(twin_treecache *c, struct twin_treecache_tree *t)
{
    unsigned *link = &c->heads[id_hash(&t->id)], self = (unsigned)(t - c->slots) + 1;
    while (*link && *link != self)
        link = &c->slots[*link - 1].next;
    if (*link)
        *link = t->next;
    t->next = 0;
}

static void cache_flush(twin_treecache *c)
{
    for (size_t i = 0; i < TREE_SLOTS; i++)
        slot_clear(&c->slots[i], true);
    memset(c->heads, 0, sizeof(c->heads));
    c->hand = c->filled = c->nreplaced = 0;
    twin_packread_free(c->packs);
    c->packs = NULL;
    git_odb_free(c->odb);
    c->odb = NULL;
    c->repo = NULL;
}

void twin_treecache_trust_store(twin_treecache *c)
{
    c->trusted = true;
    if (c->packs)
        twin_packread_trust(c->packs);
}

void twin_treecache_trust_first_dir(twin_treecache *c)
{
    c->trust_dir = true;
    if (c->packs)
        twin_packread_trust_dir(c->packs, 0);
}

void twin_treecache_lean(twin_treecache *c)
{
    twin_treecache_lean_to(c, 0);
}

void twin_treecache_lean_to(twin_treecache *c, size_t cache_bytes)
{
    c->lean = true;
    c->lean_cache = cache_bytes;
    if (c->packs)
        twin_packread_lean_to(c->packs, cache_bytes);
}

void twin_treecache_set_libgit2(twin_treecache *c, bool libgit2)
{
    c->libgit2 = libgit2;
}

void twin_treecache_free(twin_treecache *c)
{
    if (!c)
        return;
    cache_flush(c);
    free(c);
}

/* The name of entry i of an indexed tree. */
static const char *raw_name(const struct twin_treecache_tree *t, const size_t *off, size_t i,
                            size_t *len)
{
    const char *p = (const char *)t->data + off[i];
    size_t skip = p[0] == '4' ? MODE_DIR_LEN : MODE_FILE_LEN;
    *len = off[i + 1] - off[i] - skip - 1 - GIT_OID_RAWSZ;
    return p + skip;
}

/* How many bytes a and b share at their start (at most n): in blocks with memcmp, which is
 * vectorised, then by words and bytes within the block that differs. */
size_t twin_treecache_common_prefix(const unsigned char *a, const unsigned char *b, size_t n)
{
    size_t i = 0;
    while (i + 256 <= n && memcmp(a + i, b + i, 256) == 0)
        i += 256;
    for (; i + 8 <= n; i += 8) {
        uint64_t x, y;
        memcpy(&x, a + i, 8);
        memcpy(&y, b + i, 8);
        if (x != y)
            break;
    }
    while (i < n && a[i] == b[i])
        i++;
    return i;
}

/* How many bytes a (of an) and b (of bn) share at their end, at most limit. */
size_t twin_treecache_common_suffix(const unsigned char *a, size_t an, const unsigned char *b,
                                    size_t bn, size_t limit)
{
    size_t i = 0;
    while (i + 256 <= limit && memcmp(a + an - i - 256, b + bn - i - 256, 256) == 0)
        i += 256;
    for (; i + 8 <= limit; i += 8) {
        uint64_t x, y;
        memcpy(&x, a + an - i - 8, 8);
        memcpy(&y, b + bn - i - 8, 8);
        if (x != y)
            break;
    }
    while (i < limit && a[an - 1 - i] == b[bn - 1 - i])
        i++;
    return i;
}

/* The first entry of t that starts at or after byte pos. */
size_t twin_treecache_entry_at_or_after(const struct twin_treecache_tree *t, size_t pos)
{
    size_t lo = 0, hi = t->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (t->offsets[mid] < pos)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* Whether a tree entry's name is one git's fsck accepts: no '/', and not ".", ".." or ".git"
 * (in any case). */
static bool plain_name(const char *name, size_t len)
{
    if (memchr(name, '/', len) || (len == 1 && name[0] == '.') ||
        (len == 2 && name[0] == '.' && name[1] == '.'))
        return false;
    return !(len == 4 && name[0] == '.' && (name[1] | 0x20) == 'g' && (name[2] | 0x20) == 'i' &&
             (name[3] | 0x20) == 't');
}

/* What keeps a tree that index_tree found not canonical out of git's canonical form, written
 * into why; why is left empty when nothing does (index_tree gives up early on some rare valid
 * trees, which libgit2 then reads). Only run on trees index_tree refused, so its cost is of no
 * account. */
void twin_treecache_fault(char *why, size_t cap, const unsigned char *data, size_t size)
{
    const char *p = (const char *)data, *end = p + size, *prev = NULL;
    size_t plen = 0, n = 0, ncap = 0;
    bool pdir = false;
    struct seen {
        const char *name;
        size_t len;
    } *seen = NULL; /* each entry's name, for the look-back below */
    why[0] = '\0';
    while (p < end) {
        const char *sp = memchr(p, ' ', (size_t)(end - p) < 8 ? (size_t)(end - p) : 8);
        if (!sp) {
            snprintf(why, cap, "entry %zu has no mode", n + 1);
            goto done;
        }
        size_t mlen = (size_t)(sp - p);
        bool dir = mlen == MODE_DIR_LEN - 1 && memcmp(p, TWIN_GITFMT_MODE_TREE, mlen) == 0;
        if (!dir && !(mlen == MODE_FILE_LEN - 1 && memcmp(p, TWIN_GITFMT_MODE_BLOB, mlen) == 0)) {
            snprintf(why, cap,
                     "entry %zu has mode %.*s (only 40000 for a directory and 100644 "
                     "for a file are allowed)",
                     n + 1, (int)mlen, p);
            goto done;
        }
        const char *name = sp + 1, *nul = memchr(name, 0, (size_t)(end - name));
        if (!nul || (size_t)(end - nul) < 1 + GIT_OID_RAWSZ) {
            snprintf(why, cap, "the tree is cut short in entry %zu", n + 1);
            goto done;
        }
        size_t len = (size_t)(nul - name);
        if (len == 0 || !plain_name(name, len)) {
            snprintf(why, cap,
                     "entry %zu has a name git refuses (empty, '.', '..', '.git' or "
                     "holding '/')",
                     n + 1);
            goto done;
        }
        if (prev) {
            int c = twin_gitfmt_tree_order(prev, plen, pdir, name, len, dir);
            if (c == 0 || (plen == len && memcmp(prev, name, len) == 0)) {
                snprintf(why, cap, "two entries share the name of entry %zu", n + 1);
                goto done;
            }
            if (c > 0) {
                snprintf(why, cap, "its entries are out of git's order (entry %zu)", n + 1);
                goto done;
            }
        }
        /* A file of a directory's name sorts before it, with only names that continue with a
         * character below '/' between them: look back over those alone. */
        for (size_t k = n; dir && k > 0; k--) {
            const char *e = seen[k - 1].name;
            size_t elen = seen[k - 1].len;
            if (elen < len || memcmp(e, name, len) != 0)
                break;
            if (elen == len) {
                snprintf(why, cap, "two entries share the name of entry %zu", n + 1);
                goto done;
            }
        }
        if (twin_util_grow((void **)&seen, &ncap, n + 1, sizeof(*seen))) {
            twin_error_clear();
            snprintf(why, cap, "the tree could not be checked (out of memory)");
            goto done;
        }
        seen[n].name = name, seen[n].len = len;
        prev = name, plen = len, pdir = dir;
        p = nul + 1 + GIT_OID_RAWSZ;
        n++;
    }
done:
    free(seen);
}

/* How far index_entry has read a tree: the entries indexed and the last one's name. */
struct ipos {
    size_t pos, n, plen;
    const char *pname;
    bool pdir;
};

/* Indexes the entry of t at s->pos: 1, or 0 when the tree is not canonical there (libgit2 then
 * reads it), <0 when out of memory. */
static int index_entry(struct twin_treecache_tree *t, struct ipos *s)
{
    const char *p = (const char *)t->data + s->pos;
    size_t left = t->size - s->pos, skip, n = s->n;
    bool dir;
    if (left > MODE_DIR_LEN && memcmp(p, MODE_DIR, MODE_DIR_LEN) == 0)
        skip = MODE_DIR_LEN, dir = true;
    else if (left > MODE_FILE_LEN && memcmp(p, MODE_FILE, MODE_FILE_LEN) == 0)
        skip = MODE_FILE_LEN, dir = false;
    else
        return 0;
    const char *name = p + skip, *nul = memchr(name, 0, left - skip);
    size_t len = nul ? (size_t)(nul - name) : 0;
    if (!nul || len == 0 || len > UINT16_MAX ||
        (size_t)(t->data + t->size - (const unsigned char *)nul) < 1 + GIT_OID_RAWSZ ||
        !plain_name(name, len))
        return 0;
    if (s->pname && twin_gitfmt_tree_order(s->pname, s->plen, s->pdir, name, len, dir) >= 0)
        return 0;
    if (twin_util_grow((void **)&t->offsets, &t->cap, n + 2, sizeof(*t->offsets)))
        return TWIN_ERROR;
    t->offsets[n] = s->pos;
    s->pos = (size_t)(nul - (const char *)t->data) + 1 + GIT_OID_RAWSZ;
    t->offsets[n + 1] = s->pos;
    /* A file of the same name sorts before the directory, with only names that continue with a
     * character below '/' between them. */
    for (size_t back = 1; dir && back <= n; back++) {
        size_t elen;
        const char *e = raw_name(t, t->offsets, n - back, &elen);
        if (elen < len || memcmp(e, name, len) != 0)
            break;
        if (elen == len || back == DIR_DUP_SCAN)
            return 0;
        if ((unsigned char)e[len] >= '/')
            break;
    }
    s->n = n + 1;
    s->pname = name, s->plen = len, s->pdir = dir;
    return 1;
}

static int index_done(struct twin_treecache_tree *t, size_t n)
{
    if (n == 0) {
        if (twin_util_grow((void **)&t->offsets, &t->cap, 1, sizeof(*t->offsets)))
            return TWIN_ERROR;
        t->offsets[0] = 0;
    }
    t->n = n;
    t->canonical = true;
    return 0;
}

/* Indexes the entries of a tree and decides whether it is canonical. Keeps the slot's offsets
 * array for reuse. Returns <0 only when out of memory. */
int twin_treecache_index(struct twin_treecache_tree *t)
{
    struct ipos s = {0};
    t->canonical = false;
    t->n = 0;
    while (s.pos < t->size) {
        int rc = index_entry(t, &s);
        if (rc <= 0)
            return rc;
    }
    return index_done(t, s.n);
}

/* The same for t, a new version of like (indexed and canonical): the entries both share whole
 * at their start and at their end are taken from like's index, and only those between are read,
 * with the DIR_DUP_SCAN after them whose check looks back into what changed. Each entry taken
 * from like has the same bytes, and before it the same entries, as it had there, so it passes
 * the same checks. A bucket of a few hundred records changes one entry per commit. */
int twin_treecache_index_like(struct twin_treecache_tree *t, const struct twin_treecache_tree *like)
{
    if (!like || !like->canonical || like->n == 0 || t->size == 0)
        return twin_treecache_index(t);
    t->canonical = false;
    t->n = 0;
    size_t min = t->size < like->size ? t->size : like->size;
    size_t same = twin_treecache_common_prefix(t->data, like->data, min);
    size_t k = twin_treecache_entry_at_or_after(like, same);
    if (like->offsets[k] > same)
        k--;
    if (twin_util_grow((void **)&t->offsets, &t->cap, k + 2, sizeof(*t->offsets)))
        return TWIN_ERROR;
    memcpy(t->offsets, like->offsets, (k + 1) * sizeof(*t->offsets));
    struct ipos s = {.pos = like->offsets[k], .n = k};
    if (k > 0) {
        size_t len;
        const char *name = raw_name(like, like->offsets, k - 1, &len);
        s.pname = (const char *)t->data + (name - (const char *)like->data);
        s.plen = len;
        s.pdir = like->data[like->offsets[k - 1]] == '4';
    }
    /* like's entry j starts at new_at(j) in t when it lies in the shared end. */
    size_t tail =
        twin_treecache_common_suffix(t->data, t->size, like->data, like->size, min - s.pos);
    size_t j = twin_treecache_entry_at_or_after(like, like->size - tail), after = 0;
    bool aligned = false;
#define new_at(j) (like->offsets[j] - like->size + t->size)
    while (s.pos < t->size) {
        if (aligned && after >= DIR_DUP_SCAN) {
            size_t rest = like->n - j;
            if (twin_util_grow((void **)&t->offsets, &t->cap, s.n + rest + 1, sizeof(*t->offsets)))
                return TWIN_ERROR;
            for (size_t i = 0; i <= rest; i++)
                t->offsets[s.n + i] = new_at(j + i);
            return index_done(t, s.n + rest);
        }
        int rc = index_entry(t, &s);
        if (rc <= 0)
            return rc;
        if (aligned) {
            j++, after++;
            continue;
        }
        while (j < like->n && new_at(j) < s.pos)
            j++;
        aligned = j < like->n && new_at(j) == s.pos;
    }
#undef new_at
    return index_done(t, s.n);
}

/* The tree with this id, from the cache or read into it. *out is NULL when the object cannot be
 * read as a tree here (the libgit2 path then reports why). Returns <0 only when out of memory. */
/* A slot for a new tree: an empty one, else the first the clock hand finds neither pinned nor
 * used since it last passed. NULL when every slot is pinned. */
static struct twin_treecache_tree *slot_victim(twin_treecache *c)
{
    if (c->filled < c->nslots)
        return &c->slots[c->filled++];
    while (c->nreplaced > 0) {
        struct twin_treecache_tree *t = &c->slots[c->replaced[--c->nreplaced]];
        if (t->replaced && !t->pinned) {
            chain_remove(c, t);
            return t;
        }
    }
    for (size_t turns = 0; turns < 2 * c->nslots; turns++) {
        struct twin_treecache_tree *t = &c->slots[c->hand];
        c->hand = (c->hand + 1) % c->nslots;
        if (t->pinned)
            continue;
        if (t->referenced) {
            t->referenced = false;
            continue;
        }
        chain_remove(c, t);
        return t;
    }
    return NULL;
}

/* like: an indexed tree that id is likely a new version of (its index is reused), or NULL. */
int twin_treecache_get(struct twin_treecache_tree **out, twin_treecache *c, const git_oid *id,
                       const struct twin_treecache_tree *like)
{
    *out = NULL;
    for (unsigned i = c->heads[id_hash(id)]; i; i = c->slots[i - 1].next) {
        struct twin_treecache_tree *t = &c->slots[i - 1];
        if (memcmp(t->id.id, id->id, GIT_OID_RAWSZ) == 0) {
            t->referenced = true;
            t->replaced = false;
            *out = t;
            return 0;
        }
    }
    /* Trees come from twin's pack reader where it holds them, else from libgit2. Either way each
     * is hashed here (with the processor's SHA extensions), unless the store is trusted: libgit2
     * may or may not have hashed it, by a setting of the whole process (gitopts.h). Every tree of
     * the history passes this way at least once. */
    twin_pobj *pobj = NULL;
    git_odb_object *obj = NULL;
    int got = c->packs ? twin_packread_get(&pobj, c->packs, id) : 0;
    if (got < 0)
        return got;
    if (!got && git_odb_read(&obj, c->odb, id) < 0)
        return 0;
    git_object_t type = pobj ? pobj->type : git_odb_object_type(obj);
    const unsigned char *data = pobj ? pobj->data : git_odb_object_data(obj);
    size_t size = pobj ? pobj->size : git_odb_object_size(obj);
    if (!c->trusted && !(pobj && pobj->trusted)) {
        git_oid actual;
        twin_sha1_object(actual.id, git_object_type2string(type), data, size);
        if (!git_oid_equal(&actual, id)) {
            twin_packread_release(pobj);
            git_odb_object_free(obj);
            return twin_error_damage(
                "tree %s: its content does not match its id (the store is damaged "
                "or was altered)",
                git_oid_tostr_s(id));
        }
    }
    struct twin_treecache_tree *victim = type == GIT_OBJECT_TREE ? slot_victim(c) : NULL;
    if (!victim) {
        twin_packread_release(pobj);
        git_odb_object_free(obj); /* every slot in use: libgit2 reads it again instead */
        return 0;
    }
    slot_clear(victim, false);
    victim->id = *id;
    victim->obj = obj;
    victim->pobj = pobj;
    victim->data = data;
    victim->size = size;
    victim->referenced = true;
    if (twin_treecache_index_like(victim, like) < 0) {
        slot_clear(victim, false);
        return TWIN_ERROR;
    }
    unsigned *head = &c->heads[id_hash(id)];
    victim->next = *head;
    *head = (unsigned)(victim - c->slots) + 1;
    *out = victim;
    return 0;
}

/* The entry named name in t (a directory when dir), or -1. */
long twin_treecache_find(const struct twin_treecache_tree *t, const char *name, size_t len,
                         bool dir)
{
    size_t lo = 0, hi = t ? t->n : 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        struct twin_treecache_ent e;
        twin_treecache_ent_at(&e, t, mid);
        int c = twin_gitfmt_tree_order(e.name, e.len, e.mode == GIT_FILEMODE_TREE, name, len, dir);
        if (c == 0)
            return (long)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* Binds the cache to repo: its object database and, when reader is true, a pack reader on the
 * packs of dirs, or of repo when dirs is NULL. */
static int bind(twin_treecache *c, git_repository *repo, bool reader, const char *const *dirs,
                size_t ndirs)
{
    cache_flush(c);
    if (git_repository_odb(&c->odb, repo) < 0)
        return twin_error_git("opening the object database");
    int rc = !reader ? 0
             : dirs  ? twin_packread_open_dirs(&c->packs, dirs, ndirs)
                     : twin_packread_open(&c->packs, repo);
    if (rc) {
        cache_flush(c);
        return rc;
    }
    if (c->packs && c->trusted)
        twin_packread_trust(c->packs);
    if (c->packs && c->trust_dir)
        twin_packread_trust_dir(c->packs, 0);
    if (c->packs && c->lean)
        twin_packread_lean_to(c->packs, c->lean_cache);
    c->repo = repo;
    return 0;
}

int twin_treecache_use(twin_treecache *c, git_repository *repo, bool reader)
{
    return c->repo == repo ? 0 : bind(c, repo, reader, NULL, 0);
}

int twin_treecache_refresh(twin_treecache *c)
{
    return c->packs ? twin_packread_refresh(c->packs) : 0;
}

void twin_treecache_replaced(twin_treecache *c, struct twin_treecache_tree *t)
{
    if (!t->replaced && c->nreplaced < TREE_SLOTS) {
        t->replaced = true;
        c->replaced[c->nreplaced++] = (unsigned)(t - c->slots);
    }
}

int twin_treecache_bind_dirs(twin_treecache *c, git_repository *repo, const char *const *dirs,
                             size_t ndirs)
{
    return bind(c, repo, true, dirs, ndirs);
}

/* A cache kept across commits reads through twin's pack reader; one made for a single diff does
 * not (opening the reader would cost more than it saves). */
struct twin_packread *twin_treecache_packs(twin_treecache *c, git_repository *repo)
{
    return c && (c->repo == repo || bind(c, repo, true, NULL, 0) == 0) ? c->packs : NULL;
}

/* The baseline of twin_treecache_entry and twin_treecache_path (twin_treecache_set_libgit2): the
 * tree through libgit2's git_tree_lookup (and its object cache), then the entry named by path
 * through git_tree_entry_bypath, or by name alone through git_tree_entry_byname. An entry of the
 * other kind (a file where a directory is asked for, or the reverse) is no such entry, as it is in
 * a canonical tree read by twin. A tree libgit2 cannot read is an error in libgit2's words, as
 * where the validity check asks libgit2 itself. */
static int libgit2_entry(git_oid *out, git_repository *repo, const git_oid *tree, const char *path,
                         bool by_path, bool dir)
{
    git_tree *t = NULL;
    git_tree_entry *owned = NULL;
    const git_tree_entry *e = NULL;
    int rc = 0;
    if (git_tree_lookup(&t, repo, tree) < 0)
        return twin_error_git(git_oid_tostr_s(tree));
    if (by_path) {
        int err = git_tree_entry_bypath(&owned, t, path);
        if (err < 0 && err != GIT_ENOTFOUND)
            rc = twin_error_git(path);
        e = owned;
    } else {
        e = git_tree_entry_byname(t, path);
    }
    if (rc == 0 && e && (git_tree_entry_type(e) == GIT_OBJECT_TREE) == dir) {
        *out = *git_tree_entry_id(e);
        rc = 1;
    }
    git_tree_entry_free(owned);
    git_tree_free(t);
    return rc;
}

int twin_treecache_entry(git_oid *out, twin_treecache *c, git_repository *repo, const git_oid *tree,
                         const char *name, bool dir)
{
    struct twin_treecache_tree *t = NULL;
    int rc;
    if (c->libgit2)
        return libgit2_entry(out, repo, tree, name, false, dir);
    if (c->repo != repo && (rc = bind(c, repo, true, NULL, 0)))
        return rc;
    if ((rc = twin_treecache_get(&t, c, tree, NULL)) < 0)
        return rc;
    if (!t || !t->canonical)
        return TWIN_ENOTFOUND; /* not a tree twin reads on its bytes: libgit2 is asked */
    long i = twin_treecache_find(t, name, strlen(name), dir);
    if (i < 0)
        return 0;
    struct twin_treecache_ent e;
    twin_treecache_ent_at(&e, t, (size_t)i);
    *out = e.id;
    return 1;
}

int twin_treecache_path(git_oid *out, twin_treecache *c, git_repository *repo, const git_oid *tree,
                        const char *path)
{
    git_oid at = *tree;
    char name[256];
    if (c->libgit2)
        return libgit2_entry(out, repo, tree, path, true, false);
    for (;;) {
        const char *slash = strchr(path, '/');
        size_t len = slash ? (size_t)(slash - path) : strlen(path);
        if (len == 0 || len >= sizeof(name))
            return 0;
        memcpy(name, path, len);
        name[len] = '\0';
        int rc = twin_treecache_entry(&at, c, repo, &at, name, slash != NULL);
        if (rc != 1 || !slash) {
            if (rc == 1)
                *out = at;
            return rc;
        }
        path = slash + 1;
    }
}
