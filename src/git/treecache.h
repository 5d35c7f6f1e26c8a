/*
 * Trees read recently, as stored bytes with their entries indexed. Walking a history commit by
 * commit, each tree is read once: as the new side of one commit, then as the old side of the
 * next. A cache belongs to one repository and must be freed before it.
 *
 * Indexing a tree decides whether it is in git's canonical form (modes 40000 and 100644 only,
 * entries strictly in git's order, no name twice, no empty, '.', '..' or '.git' name): only such
 * a tree is read on its bytes (by the tree diff, by the validity check); any other is left to
 * libgit2. A new version of a tree takes the entries it shares with the previous one at either
 * end from that one's index.
 *
 * Every tree read is hashed against its id with twin's SHA-1 (the processor's SHA extensions),
 * unless the cache is told its store is trusted: whether it came out of twin's pack reader or out
 * of libgit2, which may or may not have hashed it (gitopts.h).
 *
 * Reading an entry by name or path keeps its baseline behind a switch
 * (twin_treecache_set_libgit2): libgit2's git_tree_lookup and git_tree_entry_bypath, for the tests
 * and tools/bench_read.c.
 */
#ifndef TWIN_TREECACHE_H
#define TWIN_TREECACHE_H

#include <git2.h>
#include <stdbool.h>
#include <stddef.h>

#include "git/gitfmt.h"

struct twin_packread;
struct twin_pobj;

#define TWIN_TREECACHE_SLOTS         512 /* trees kept: the whole path of every busy record */
#define TWIN_TREECACHE_MODE_DIR_LEN  (sizeof(TWIN_GITFMT_MODE_TREE " ") - 1)
#define TWIN_TREECACHE_MODE_FILE_LEN (sizeof(TWIN_GITFMT_MODE_BLOB " ") - 1)

/* One tree entry, from a parsed git_tree or from stored bytes. */
struct twin_treecache_ent {
    const char *name; /* NUL-terminated */
    size_t len;
    git_filemode_t mode; /* as libgit2 normalises it */
    git_oid id;
};

/* A tree in the cache (or indexed on its own, with data and size set). */
struct twin_treecache_tree {
    git_oid id;
    git_odb_object *obj;    /* read by libgit2; or */
    struct twin_pobj *pobj; /* read by twin's pack reader; both NULL: an empty slot */
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

typedef struct twin_treecache twin_treecache;

int twin_treecache_new(twin_treecache **out);
void twin_treecache_free(twin_treecache *c);

/* Trees read through c, and objects read through its pack reader, are taken as the store holds
 * them, without hashing each against its id: for a sender, whose receiver hashes every object it
 * is sent. Verify never does this. */
void twin_treecache_trust_store(twin_treecache *c);

/* Only the objects of the packs of the first directory the cache is bound to (the received pack,
 * whose every id the indexer computed from its content) are taken as they are; the store's are
 * hashed as they are read, since its files may have been damaged since they were written. */
void twin_treecache_trust_first_dir(twin_treecache *c);

/* Has the cache's pack reader keep less in memory (twin_packread_lean). */
void twin_treecache_lean(twin_treecache *c);

/* As twin_treecache_lean, its reader's cache at most cache_bytes (twin_packread_lean_to). */
void twin_treecache_lean_to(twin_treecache *c, size_t cache_bytes);

/* Keeps at most trees trees (1 to TWIN_TREECACHE_SLOTS) instead of TWIN_TREECACHE_SLOTS: for a
 * check on several threads whose caches add up. Only before the first tree is read; after, it
 * does nothing. */
void twin_treecache_keep(twin_treecache *c, size_t trees);

/* The pack reader of the cache for repo (bound to repo from now on, as a diff would bind it), or
 * NULL when there is none. */
struct twin_packread *twin_treecache_packs(twin_treecache *c, git_repository *repo);

/* Binds the cache to repo, with a pack reader on the packs of the directories given (for a
 * repository made around an object database, whose packs twin cannot find by itself). */
int twin_treecache_bind_dirs(twin_treecache *c, git_repository *repo, const char *const *dirs,
                             size_t ndirs);

/* Binds the cache to repo unless it is bound to it already: with a pack reader on repo's packs
 * when reader is true (a cache kept across commits; one made for a single diff does without). */
int twin_treecache_use(twin_treecache *c, git_repository *repo, bool reader);

/* Has the cache's pack reader open the packs written since it opened (twin_packread_refresh). */
int twin_treecache_refresh(twin_treecache *c);

/* The id of the entry called name (a directory when dir) in the tree with id tree, read through
 * c (and hashed, unless c trusts the store): 1 with *out, 0 when the tree has no such entry,
 * TWIN_ENOTFOUND when the tree is not one twin reads on its bytes (ask libgit2), TWIN_EVERIFY
 * when it does not match its id, <0 on other errors. */
int twin_treecache_entry(git_oid *out, twin_treecache *c, git_repository *repo, const git_oid *tree,
                         const char *name, bool dir);

/* The same for a path of directories ending in a file. */
int twin_treecache_path(git_oid *out, twin_treecache *c, git_repository *repo, const git_oid *tree,
                        const char *path);

/* Has twin_treecache_entry and twin_treecache_path look entries up through libgit2 instead, the
 * baseline they replaced: git_tree_lookup (libgit2's object cache), then git_tree_entry_byname or
 * git_tree_entry_bypath. The same answers (but for a name of 256 bytes or more in a path, which
 * twin never finds), except that libgit2 reads every tree, so TWIN_ENOTFOUND never comes back; a
 * tree it cannot read is TWIN_ERROR in libgit2's words, and whether it hashes what it reads is its
 * process-wide setting (gitopts.h), not the cache's. The rest of the cache (twin_treecache_get,
 * for the tree diff) is not changed. */
void twin_treecache_set_libgit2(twin_treecache *c, bool libgit2);

/* ---- reading trees on their bytes (the tree diff) ---- */

/* The tree with this id, from the cache or read into it (c bound first); like: an indexed tree
 * that id is likely a new version of (its index is reused), or NULL. *out is NULL when the object
 * cannot be read as a tree here (libgit2 then says why). <0 when out of memory, or TWIN_EVERIFY
 * when the tree does not match its id or a pack holding it is damaged. */
int twin_treecache_get(struct twin_treecache_tree **out, twin_treecache *c, const git_oid *id,
                       const struct twin_treecache_tree *like);

/* Marks t as replaced by a newer version of its path: the first to go when a slot is wanted. */
void twin_treecache_replaced(twin_treecache *c, struct twin_treecache_tree *t);

/* Entry i of an indexed canonical tree. */
static inline void twin_treecache_ent_at(struct twin_treecache_ent *e,
                                         const struct twin_treecache_tree *t, size_t i)
{
    const char *p = (const char *)t->data + t->offsets[i];
    size_t skip = p[0] == '4' ? TWIN_TREECACHE_MODE_DIR_LEN : TWIN_TREECACHE_MODE_FILE_LEN;
    e->mode = p[0] == '4' ? GIT_FILEMODE_TREE : GIT_FILEMODE_BLOB;
    e->name = p + skip;
    e->len = t->offsets[i + 1] - t->offsets[i] - skip - 1 - GIT_OID_RAWSZ;
    git_oid_fromraw(&e->id, t->data + t->offsets[i + 1] - GIT_OID_RAWSZ);
}

/* The entry named name in t (a directory when dir; t may be NULL), or -1. */
long twin_treecache_find(const struct twin_treecache_tree *t, const char *name, size_t len,
                         bool dir);

/* How many bytes a and b share at their start (at most n). */
size_t twin_treecache_common_prefix(const unsigned char *a, const unsigned char *b, size_t n);

/* How many bytes a (of an) and b (of bn) share at their end, at most limit. */
size_t twin_treecache_common_suffix(const unsigned char *a, size_t an, const unsigned char *b,
                                    size_t bn, size_t limit);

/* The first entry of indexed tree t that starts at or after byte pos. */
size_t twin_treecache_entry_at_or_after(const struct twin_treecache_tree *t, size_t pos);

/* Indexes the entries of t (data and size set) and decides whether it is canonical; keeps t's
 * offsets array for reuse. <0 only when out of memory. */
int twin_treecache_index(struct twin_treecache_tree *t);

/* The same for t, a new version of like (indexed): the entries both share whole at their start
 * and end are taken from like's index, and only those between are read. The same index and the
 * same verdict as twin_treecache_index. */
int twin_treecache_index_like(struct twin_treecache_tree *t,
                              const struct twin_treecache_tree *like);

/* What keeps a tree that twin_treecache_index found not canonical out of git's canonical form,
 * written into why; why is left empty when nothing does (the index gives up early on some rare
 * valid trees, which libgit2 then reads). */
void twin_treecache_fault(char *why, size_t cap, const unsigned char *data, size_t size);

#endif
