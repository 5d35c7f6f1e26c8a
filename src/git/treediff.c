#include "git/treediff.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "git/gitfmt.h"
#include "git/packread.h"
#include "base/sha1.h"
#include "twin/error.h"
#include "twin/tree.h"
#include "twin/twin.h"
#include "base/util.h"

/* One tree entry, from a parsed git_tree or from stored bytes. */
struct ent {
    const char *name; /* NUL-terminated */
    size_t len;
    git_filemode_t mode; /* as libgit2 normalises it */
    git_oid id;
};

static void ent_of(struct ent *e, const git_tree_entry *te)
{
    e->name = git_tree_entry_name(te);
    e->len = strlen(e->name);
    e->mode = git_tree_entry_filemode(te);
    git_oid_cpy(&e->id, git_tree_entry_id(te));
}

/* ---- trees as stored bytes ------------------------------------------------------------------ */

/* Enough trees for the whole path of every record of a few busy types: the previous version of
 * a bucket was most often last read a few hundred commits earlier. */
#define TREE_SLOTS    512
#define TREE_HASH     1024 /* heads of the id hash chains, a power of two */
#define DIR_DUP_SCAN  16   /* how far back a file of a directory's name is looked for */
#define MODE_DIR      TWIN_GITFMT_MODE_TREE " "
#define MODE_FILE     TWIN_GITFMT_MODE_BLOB " "
#define MODE_DIR_LEN  (sizeof(MODE_DIR) - 1)
#define MODE_FILE_LEN (sizeof(MODE_FILE) - 1)

struct rawtree {
    git_oid id;
    git_odb_object *obj; /* read by libgit2; or */
    twin_pobj *pobj;     /* read by twin's pack reader; both NULL: an empty slot */
    const unsigned char *data;
    size_t size;
    size_t *offsets; /* where each entry starts; offsets[n] == size (when canonical) */
    size_t n, cap;
    bool canonical;  /* else the tree is read by libgit2 instead */
    bool referenced; /* used since the clock hand last passed */
    bool replaced;   /* a newer version of its path was read since it was last used */
    int pinned;      /* in use by a walk further up: not to be evicted */
    unsigned next;   /* the next slot on this id's hash chain, plus one; 0 ends it */
};

/* Slots found by id through hash chains. A new tree takes the slot of one that was replaced by a
 * newer version of its path, else one chosen by the clock algorithm: the cache holds the current
 * version of every path it has seen, as far as it can. */
struct twin_tree_cache {
    git_repository *repo;
    git_odb *odb;
    twin_packread *packs;
    bool trusted;   /* trees are not hashed on reading (see twin_tree_cache_trust_store) */
    bool trust_dir; /* nor the trees of the first directory's packs (trust_first_dir) */
    bool lean;      /* its pack reader is lean (see twin_tree_cache_lean) */
    size_t hand, filled;
    size_t nreplaced;
    unsigned replaced[TREE_SLOTS]; /* slots marked replaced (some since used again) */
    unsigned heads[TREE_HASH];     /* slot index plus one; 0: an empty chain */
    struct rawtree slots[TREE_SLOTS];
};

static unsigned id_hash(const git_oid *id)
{
    return ((unsigned)id->id[0] | (unsigned)id->id[1] << 8) & (TREE_HASH - 1);
}

int twin_tree_cache_new(twin_tree_cache **out)
{
    *out = calloc(1, sizeof(**out));
    return *out ? 0 : twin_error(TWIN_ERROR, "out of memory");
}

/* Empties a slot; its offsets array stays for the next tree unless all is true. The slot must be
 * off its hash chain. */
static void slot_clear(struct rawtree *t, bool all)
{
    size_t *offsets = t->offsets, cap = t->cap;
    git_odb_object_free(t->obj);
    twin_pobj_release(t->pobj);
    if (all)
        free(offsets);
    memset(t, 0, sizeof(*t));
    if (!all) {
        t->offsets = offsets;
        t->cap = cap;
    }
}

static void chain_remove(twin_tree_cache *c, struct rawtree *t)
{
    unsigned *link = &c->heads[id_hash(&t->id)], self = (unsigned)(t - c->slots) + 1;
    while (*link && *link != self)
        link = &c->slots[*link - 1].next;
    if (*link)
        *link = t->next;
    t->next = 0;
}

static void cache_flush(twin_tree_cache *c)
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

void twin_tree_cache_trust_store(twin_tree_cache *c)
{
    c->trusted = true;
    if (c->packs)
        twin_packread_trust(c->packs);
}

void twin_tree_cache_trust_first_dir(twin_tree_cache *c)
{
    c->trust_dir = true;
    if (c->packs)
        twin_packread_trust_dir(c->packs, 0);
}

void twin_tree_cache_lean(twin_tree_cache *c)
{
    c->lean = true;
    if (c->packs)
        twin_packread_lean(c->packs);
}

void twin_tree_cache_free(twin_tree_cache *c)
{
    if (!c)
        return;
    cache_flush(c);
    free(c);
}

static void raw_entry(struct ent *e, const struct rawtree *t, size_t i)
{
    const char *p = (const char *)t->data + t->offsets[i];
    size_t skip = p[0] == '4' ? MODE_DIR_LEN : MODE_FILE_LEN;
    e->mode = p[0] == '4' ? GIT_FILEMODE_TREE : GIT_FILEMODE_BLOB;
    e->name = p + skip;
    e->len = t->offsets[i + 1] - t->offsets[i] - skip - 1 - GIT_OID_RAWSZ;
    git_oid_fromraw(&e->id, t->data + t->offsets[i + 1] - GIT_OID_RAWSZ);
}

/* The name of entry i of an indexed tree. */
static const char *raw_name(const struct rawtree *t, const size_t *off, size_t i, size_t *len)
{
    const char *p = (const char *)t->data + off[i];
    size_t skip = p[0] == '4' ? MODE_DIR_LEN : MODE_FILE_LEN;
    *len = off[i + 1] - off[i] - skip - 1 - GIT_OID_RAWSZ;
    return p + skip;
}

/* How many bytes a and b share at their start (at most n): in blocks with memcmp, which is
 * vectorised, then by words and bytes within the block that differs. */
static size_t common_prefix(const unsigned char *a, const unsigned char *b, size_t n)
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
static size_t common_suffix(const unsigned char *a, size_t an, const unsigned char *b, size_t bn,
                            size_t limit)
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
static size_t entry_at_or_after(const struct rawtree *t, size_t pos)
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
static void tree_fault(char *why, size_t cap, const unsigned char *data, size_t size)
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
        if (twin_grow((void **)&seen, &ncap, n + 1, sizeof(*seen))) {
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
static int index_entry(struct rawtree *t, struct ipos *s)
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
    if (twin_grow((void **)&t->offsets, &t->cap, n + 2, sizeof(*t->offsets)))
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

static int index_done(struct rawtree *t, size_t n)
{
    if (n == 0) {
        if (twin_grow((void **)&t->offsets, &t->cap, 1, sizeof(*t->offsets)))
            return TWIN_ERROR;
        t->offsets[0] = 0;
    }
    t->n = n;
    t->canonical = true;
    return 0;
}

/* Indexes the entries of a tree and decides whether it is canonical. Keeps the slot's offsets
 * array for reuse. Returns <0 only when out of memory. */
static int index_tree(struct rawtree *t)
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
static int index_tree_like(struct rawtree *t, const struct rawtree *like)
{
    if (!like || !like->canonical || like->n == 0 || t->size == 0)
        return index_tree(t);
    t->canonical = false;
    t->n = 0;
    size_t min = t->size < like->size ? t->size : like->size;
    size_t same = common_prefix(t->data, like->data, min);
    size_t k = entry_at_or_after(like, same);
    if (like->offsets[k] > same)
        k--;
    if (twin_grow((void **)&t->offsets, &t->cap, k + 2, sizeof(*t->offsets)))
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
    size_t tail = common_suffix(t->data, t->size, like->data, like->size, min - s.pos);
    size_t j = entry_at_or_after(like, like->size - tail), after = 0;
    bool aligned = false;
#define new_at(j) (like->offsets[j] - like->size + t->size)
    while (s.pos < t->size) {
        if (aligned && after >= DIR_DUP_SCAN) {
            size_t rest = like->n - j;
            if (twin_grow((void **)&t->offsets, &t->cap, s.n + rest + 1, sizeof(*t->offsets)))
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
static struct rawtree *slot_victim(twin_tree_cache *c)
{
    if (c->filled < TREE_SLOTS)
        return &c->slots[c->filled++];
    while (c->nreplaced > 0) {
        struct rawtree *t = &c->slots[c->replaced[--c->nreplaced]];
        if (t->replaced && !t->pinned) {
            chain_remove(c, t);
            return t;
        }
    }
    for (size_t turns = 0; turns < 2 * TREE_SLOTS; turns++) {
        struct rawtree *t = &c->slots[c->hand];
        c->hand = (c->hand + 1) % TREE_SLOTS;
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
static int raw_get(struct rawtree **out, twin_tree_cache *c, const git_oid *id,
                   const struct rawtree *like)
{
    *out = NULL;
    for (unsigned i = c->heads[id_hash(id)]; i; i = c->slots[i - 1].next) {
        struct rawtree *t = &c->slots[i - 1];
        if (memcmp(t->id.id, id->id, GIT_OID_RAWSZ) == 0) {
            t->referenced = true;
            t->replaced = false;
            *out = t;
            return 0;
        }
    }
    /* Trees come from twin's pack reader where it holds them, else from libgit2. Either way each
     * is hashed here unless libgit2 did (with the processor's SHA extensions): every tree of the
     * history passes this way at least once. */
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
    if (!c->trusted && !(pobj && pobj->trusted) && (pobj || !twin_global_hash_reads_enabled())) {
        git_oid actual;
        twin_sha1_object(actual.id, git_object_type2string(type), data, size);
        if (!git_oid_equal(&actual, id)) {
            twin_pobj_release(pobj);
            git_odb_object_free(obj);
            return twin_error_damage(
                "tree %s: its content does not match its id (the store is damaged "
                "or was altered)",
                git_oid_tostr_s(id));
        }
    }
    struct rawtree *victim = type == GIT_OBJECT_TREE ? slot_victim(c) : NULL;
    if (!victim) {
        twin_pobj_release(pobj);
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
    if (index_tree_like(victim, like) < 0) {
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
static long raw_find(const struct rawtree *t, const char *name, size_t len, bool dir)
{
    size_t lo = 0, hi = t ? t->n : 0;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        struct ent e;
        raw_entry(&e, t, mid);
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

/* ---- the walk ------------------------------------------------------------------------------- */

static int add_change(struct twin_treediff *w, const char *path, const struct ent *o,
                      const struct ent *n)
{
    if (w->count == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 16;
        if (cap > TWIN_TREEDIFF_MAX_CHANGES) {
            snprintf(w->fault, sizeof(w->fault), "changes more than %d files",
                     TWIN_TREEDIFF_MAX_CHANGES);
            return 1;
        }
        struct twin_change *c = realloc(w->changes, cap * sizeof(*c));
        if (!c)
            return twin_error(TWIN_ERROR, "out of memory");
        w->changes = c;
        w->cap = cap;
    }
    struct twin_change *c = &w->changes[w->count++];
    size_t len = strlen(path);
    if (len >= sizeof(c->path))
        len = sizeof(c->path) - 1;
    memcpy(c->path, path, len);
    c->path[len] = '\0';
    c->has_old = o != NULL;
    c->has_new = n != NULL;
    c->is_tree = false;
    memset(&c->old_id, 0, sizeof(c->old_id));
    memset(&c->new_id, 0, sizeof(c->new_id));
    if (o)
        c->old_id = o->id;
    if (n)
        c->new_id = n->id;
    return 0;
}

static int diff_trees(struct twin_treediff *w, const git_tree *old_tree, const git_tree *new_tree,
                      const char *prefix, int depth);
static int diff_raw(struct twin_treediff *w, struct rawtree *ot, struct rawtree *nt,
                    const char *prefix, int depth);

/* 0 when the new tree id (read into nt, or NULL when the cache had no slot for it) is in git's
 * canonical form; else 1 with the fault set, or an error. */
static int check_canonical(struct twin_treediff *w, const struct rawtree *nt, const git_oid *id,
                           const char *path)
{
    char why[300];
    if (nt && nt->canonical)
        return 0;
    if (nt) {
        tree_fault(why, sizeof(why), nt->data, nt->size);
    } else {
        git_odb_object *obj = NULL;
        if (git_odb_read(&obj, w->cache->odb, id) < 0)
            return 0; /* missing: the walk below names it */
        tree_fault(why, sizeof(why), git_odb_object_data(obj), git_odb_object_size(obj));
        git_odb_object_free(obj);
    }
    if (!why[0])
        return 0;
    snprintf(w->fault, sizeof(w->fault), "%s%s: tree %.12s is not in git's canonical form: %s",
             path[0] ? "" : "the root tree", path, git_oid_tostr_s(id), why);
    return 1;
}

/* Compares two subtrees (either may be absent): on their bytes when both are canonical, else
 * as libgit2 reads them. */
static int diff_subtrees(struct twin_treediff *w, const git_oid *o, const git_oid *n,
                         const char *path, const char *prefix, int depth)
{
    struct rawtree *ot = NULL, *nt = NULL;
    int rc;
    if (o && (rc = raw_get(&ot, w->cache, o, NULL)) < 0)
        return rc;
    if (ot && !ot->canonical)
        ot = NULL;
    /* Read the new side only when the old one can be compared on its bytes (the old one pinned
     * meanwhile, so that the read cannot take its slot); else read it once anyway, so that it is
     * hashed before libgit2 reads it below. */
    if (ot)
        ot->pinned++;
    rc = (ot || !o || w->canonical_trees) && n ? raw_get(&nt, w->cache, n, ot) : 0;
    if (ot)
        ot->pinned--;
    if (rc < 0)
        return rc;
    /* Every tree a commit changes must be in git's canonical form, so that every git reads it
     * the same way (and git fsck passes): sorted, unique names, modes 40000 and 100644 only,
     * no empty, '.', '..' or '.git' names. */
    if (n && w->canonical_trees && (rc = check_canonical(w, nt, n, path)))
        return rc;
    struct rawtree *probe = NULL;
    if (!(ot || !o) && n && !w->canonical_trees && !twin_global_hash_reads_enabled() &&
        (rc = raw_get(&probe, w->cache, n, NULL)) < 0)
        return rc;
    if ((!o || ot) && (!n || (nt && nt->canonical))) {
        rc = diff_raw(w, ot, nt, prefix, depth);
        /* The new version replaces the old one on this path: the old one is the first to go
         * when a slot is wanted. */
        twin_tree_cache *c = w->cache;
        if (ot && n && !ot->replaced && c->nreplaced < TREE_SLOTS) {
            ot->replaced = true;
            c->replaced[c->nreplaced++] = (unsigned)(ot - c->slots);
        }
        return rc;
    }
    git_tree *a = NULL, *b = NULL;
    rc = o ? twin_tree_open(&a, w->repo, o, *path ? path : "a commit's tree") : 0;
    if (rc == 0 && n)
        rc = twin_tree_open(&b, w->repo, n, *path ? path : "a commit's tree");
    if (rc == 0)
        rc = diff_trees(w, a, b, prefix, depth);
    git_tree_free(a);
    git_tree_free(b);
    return rc;
}

static int diff_entry(struct twin_treediff *w, const struct ent *o, const struct ent *n,
                      const char *prefix, int depth)
{
    char path[512];
    const struct ent *e = o ? o : n;
    size_t plen = strlen(prefix);
    if (plen + e->len >= sizeof(path)) {
        snprintf(w->fault, sizeof(w->fault), "path too long under %s", prefix);
        return 1;
    }
    memcpy(path, prefix, plen);
    memcpy(path + plen, e->name, e->len);
    path[plen + e->len] = '\0';
    git_filemode_t om = o ? o->mode : 0, nm = n ? n->mode : 0;
    if ((o && om != GIT_FILEMODE_TREE && om != GIT_FILEMODE_BLOB) ||
        (n && nm != GIT_FILEMODE_TREE && nm != GIT_FILEMODE_BLOB)) {
        snprintf(w->fault, sizeof(w->fault), "%s: only plain files and directories are allowed",
                 path);
        return 1;
    }
    if (o && n && om != nm) {
        snprintf(w->fault, sizeof(w->fault), "%s: changes between file and directory", path);
        return 1;
    }
    if ((o ? om : nm) == GIT_FILEMODE_TREE) {
        char sub[520];
        int rc;
        if (w->trees && n && (rc = add_change(w, path, o, n)))
            return rc;
        if (w->trees && n)
            w->changes[w->count - 1].is_tree = true;
        memcpy(sub, path, plen + e->len);
        sub[plen + e->len] = '/';
        sub[plen + e->len + 1] = '\0';
        return diff_subtrees(w, o ? &o->id : NULL, n ? &n->id : NULL, path, sub, depth + 1);
    }
    return add_change(w, path, o, n);
}

/* Entry by entry, pairing by name: the order libgit2 gives, whatever the trees hold. */
static int diff_trees(struct twin_treediff *w, const git_tree *old_tree, const git_tree *new_tree,
                      const char *prefix, int depth)
{
    if (depth > TWIN_TREEDIFF_MAX_DEPTH) {
        snprintf(w->fault, sizeof(w->fault), "%s: directories nested too deep", prefix);
        return 1;
    }
    size_t nn = new_tree ? git_tree_entrycount(new_tree) : 0;
    size_t on = old_tree ? git_tree_entrycount(old_tree) : 0;
    int rc;
    for (size_t i = 0; i < nn; i++) {
        const git_tree_entry *n = git_tree_entry_byindex(new_tree, i);
        const git_tree_entry *o =
            old_tree ? git_tree_entry_byname(old_tree, git_tree_entry_name(n)) : NULL;
        if (o && git_oid_equal(git_tree_entry_id(o), git_tree_entry_id(n)) &&
            git_tree_entry_filemode(o) == git_tree_entry_filemode(n))
            continue;
        struct ent oe, ne;
        if (o)
            ent_of(&oe, o);
        ent_of(&ne, n);
        if ((rc = diff_entry(w, o ? &oe : NULL, &ne, prefix, depth)))
            return rc;
    }
    for (size_t i = 0; i < on; i++) {
        const git_tree_entry *o = git_tree_entry_byindex(old_tree, i);
        if (new_tree && git_tree_entry_byname(new_tree, git_tree_entry_name(o)))
            continue;
        struct ent oe;
        ent_of(&oe, o);
        if ((rc = diff_entry(w, &oe, NULL, prefix, depth)))
            return rc;
    }
    return 0;
}

/* The index of the first byte where a and b differ, or n. */
/* Two canonical trees (either may be absent): names are unique, so pairing entries by name is
 * a merge of the two sorted lists, and entries identical in both are unchanged. The changes come
 * in the order the by-name walk gives them: the new tree's entries, then the removed ones. */
static int diff_raw_pinned(struct twin_treediff *w, const struct rawtree *ot,
                           const struct rawtree *nt, const char *prefix, int depth)
{
    if (depth > TWIN_TREEDIFF_MAX_DEPTH) {
        snprintf(w->fault, sizeof(w->fault), "%s: directories nested too deep", prefix);
        return 1;
    }
    size_t on = ot ? ot->n : 0, nn = nt ? nt->n : 0, lo = 0, ohi = on, nhi = nn;
    if (ot && nt) {
        /* Whole entries alike at the start, then at the end. */
        size_t min = ot->size < nt->size ? ot->size : nt->size;
        size_t same = common_prefix(ot->data, nt->data, min);
        lo = entry_at_or_after(ot, same);
        if (lo > 0 && ot->offsets[lo] > same)
            lo--;
        if (lo > on || lo > nn)
            lo = on < nn ? on : nn;
        size_t start = ot->offsets[lo] > nt->offsets[lo] ? ot->offsets[lo] : nt->offsets[lo];
        size_t tail = common_suffix(ot->data, ot->size, nt->data, nt->size, min - start);
        size_t oe = entry_at_or_after(ot, ot->size - tail);
        size_t ne = nn - (on - oe);
        if (oe >= lo && oe <= on && on - oe <= nn && ne >= lo &&
            nt->offsets[ne] == nt->size - (ot->size - ot->offsets[oe])) {
            ohi = oe;
            nhi = ne;
        }
    }
    int rc;
    struct ent o, n;
    size_t i = lo;
    for (size_t j = lo; j < nhi; j++) {
        raw_entry(&n, nt, j);
        int c = 1;
        while (i < ohi) {
            raw_entry(&o, ot, i);
            c = twin_gitfmt_tree_order(o.name, o.len, o.mode == GIT_FILEMODE_TREE, n.name, n.len,
                                       n.mode == GIT_FILEMODE_TREE);
            if (c >= 0)
                break;
            i++;
        }
        if (i < ohi && c == 0) {
            i++;
            if (git_oid_equal(&o.id, &n.id))
                continue; /* same mode: the keys differ between file and directory */
            if ((rc = diff_entry(w, &o, &n, prefix, depth)))
                return rc;
            continue;
        }
        long other = raw_find(ot, n.name, n.len, n.mode != GIT_FILEMODE_TREE);
        if (other >= 0)
            raw_entry(&o, ot, (size_t)other);
        if ((rc = diff_entry(w, other >= 0 ? &o : NULL, &n, prefix, depth)))
            return rc;
    }
    size_t j = lo;
    for (i = lo; i < ohi; i++) {
        raw_entry(&o, ot, i);
        int c = 1;
        while (j < nhi) {
            raw_entry(&n, nt, j);
            c = twin_gitfmt_tree_order(n.name, n.len, n.mode == GIT_FILEMODE_TREE, o.name, o.len,
                                       o.mode == GIT_FILEMODE_TREE);
            if (c >= 0)
                break;
            j++;
        }
        if ((j < nhi && c == 0) || raw_find(nt, o.name, o.len, o.mode != GIT_FILEMODE_TREE) >= 0)
            continue;
        if ((rc = diff_entry(w, &o, NULL, prefix, depth)))
            return rc;
    }
    return 0;
}

static int diff_raw(struct twin_treediff *w, struct rawtree *ot, struct rawtree *nt,
                    const char *prefix, int depth)
{
    if (ot)
        ot->pinned++;
    if (nt)
        nt->pinned++;
    int rc = diff_raw_pinned(w, ot, nt, prefix, depth);
    if (ot)
        ot->pinned--;
    if (nt)
        nt->pinned--;
    return rc;
}

/* Binds the cache to repo: its object database and, when reader is true, a pack reader on the
 * packs of dirs, or of repo when dirs is NULL. */
static int bind(twin_tree_cache *c, git_repository *repo, bool reader, const char *const *dirs,
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
        twin_packread_lean(c->packs);
    c->repo = repo;
    return 0;
}

int twin_tree_cache_bind_dirs(twin_tree_cache *c, git_repository *repo, const char *const *dirs,
                              size_t ndirs)
{
    return bind(c, repo, true, dirs, ndirs);
}

/* A cache kept across commits reads through twin's pack reader; one made for a single diff does
 * not (opening the reader would cost more than it saves). */
struct twin_packread *twin_tree_cache_packs(twin_tree_cache *c, git_repository *repo)
{
    return c && (c->repo == repo || bind(c, repo, true, NULL, 0) == 0) ? c->packs : NULL;
}

int twin_tree_cache_entry(git_oid *out, twin_tree_cache *c, git_repository *repo,
                          const git_oid *tree, const char *name, bool dir)
{
    struct rawtree *t = NULL;
    int rc;
    if (c->repo != repo && (rc = bind(c, repo, true, NULL, 0)))
        return rc;
    if ((rc = raw_get(&t, c, tree, NULL)) < 0)
        return rc;
    if (!t || !t->canonical)
        return TWIN_ENOTFOUND; /* not a tree twin reads on its bytes: libgit2 is asked */
    long i = raw_find(t, name, strlen(name), dir);
    if (i < 0)
        return 0;
    struct ent e;
    raw_entry(&e, t, (size_t)i);
    *out = e.id;
    return 1;
}

int twin_tree_cache_path(git_oid *out, twin_tree_cache *c, git_repository *repo,
                         const git_oid *tree, const char *path)
{
    git_oid at = *tree;
    char name[256];
    for (;;) {
        const char *slash = strchr(path, '/');
        size_t len = slash ? (size_t)(slash - path) : strlen(path);
        if (len == 0 || len >= sizeof(name))
            return 0;
        memcpy(name, path, len);
        name[len] = '\0';
        int rc = twin_tree_cache_entry(&at, c, repo, &at, name, slash != NULL);
        if (rc != 1 || !slash) {
            if (rc == 1)
                *out = at;
            return rc;
        }
        path = slash + 1;
    }
}

int twin_treediff_run(struct twin_treediff *d, const git_tree *old_tree, const git_tree *new_tree)
{
    return twin_treediff_run_ids(d, old_tree ? git_tree_id(old_tree) : NULL,
                                 new_tree ? git_tree_id(new_tree) : NULL);
}

int twin_treediff_run_ids(struct twin_treediff *d, const git_oid *old_tree, const git_oid *new_tree)
{
    twin_tree_cache *own = NULL;
    int rc;
    if (!d->cache) {
        if ((rc = twin_tree_cache_new(&own)))
            return rc;
        d->cache = own;
    }
    if (d->cache->repo != d->repo && (rc = bind(d->cache, d->repo, !own, NULL, 0)))
        goto done;
    rc = diff_subtrees(d, old_tree, new_tree, "", "", 0);
    if (rc == TWIN_EVERIFY) { /* a damaged object is a verdict on the commit */
        snprintf(d->fault, sizeof(d->fault), "%s", twin_error_last());
        rc = 1;
    }
done:
    if (own) {
        twin_tree_cache_free(own);
        d->cache = NULL;
    }
    return rc;
}

void twin_treediff_clear(struct twin_treediff *d)
{
    free(d->changes);
    d->changes = NULL;
    d->count = d->cap = 0;
    d->fault[0] = '\0';
}

/* Whether tree id holds path: 1 with *e, 0 when not, <0 when a tree on the way cannot be read. */
static int holds_path(git_tree_entry **e, git_repository *repo, const git_oid *id, const char *path)
{
    git_tree *tree = NULL;
    int rc = twin_tree_open(&tree, repo, id, "a commit's tree");
    if (rc == 0)
        rc = twin_tree_entry_at(e, repo, tree, path);
    git_tree_free(tree);
    if (rc == TWIN_ENOTFOUND) {
        twin_error_clear();
        return 0;
    }
    return rc ? rc : 1;
}

int twin_commit_changed_path(const git_commit *c, const char *path)
{
    git_repository *repo = git_commit_owner(c);
    git_tree_entry *a = NULL;
    int has = holds_path(&a, repo, git_commit_tree_id(c), path), changed = has;
    unsigned int np = git_commit_parentcount(c);
    /* Changed when it differs from every parent (a merge that takes one side unchanged is not a
     * change of this record); a root commit changed what it holds. */
    if (has >= 0 && np > 0)
        changed = 1;
    for (unsigned int i = 0; has >= 0 && i < np && changed == 1; i++) {
        const git_oid *pid = git_commit_parent_id(c, i);
        git_commit *parent = NULL;
        git_tree_entry *b = NULL;
        if (git_commit_lookup(&parent, repo, pid) < 0) {
            char hex[GIT_OID_HEXSZ + 1];
            git_oid_tostr(hex, sizeof(hex), pid);
            changed = twin_error(TWIN_ERROR, "commit %s cannot be read, the store is damaged: %s",
                                 hex, git_error_last() ? git_error_last()->message : "");
            break;
        }
        int phas = holds_path(&b, repo, git_commit_tree_id(parent), path);
        if (phas < 0)
            changed = phas;
        else if (phas == has && (!has || git_oid_equal(git_tree_entry_id(a), git_tree_entry_id(b))))
            changed = 0;
        git_tree_entry_free(b);
        git_commit_free(parent);
    }
    git_tree_entry_free(a);
    return changed;
}
