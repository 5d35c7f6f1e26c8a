/*
 * The validity check of many commits on every core, for verify and for the check of received
 * history. Each commit's verdict depends only on the commit and its parents, so threads take the
 * commits in chunks, oldest first, each with its own repository handle (re-deriving a merge
 * writes objects, and libgit2 1.5 does not guard a database's list of packs against reads from
 * other threads while one writes) and its own cache. Chunks are long enough that a thread finds
 * the previous version of most trees in its cache.
 */
#ifndef TWIN_CHECKRUN_H
#define TWIN_CHECKRUN_H

#include <git2.h>
#include <stddef.h>

#include "git/treecache.h"
#include "twin/validity.h"

/* Each thread's repository and cache, kept from one run to the next by a caller that checks a
 * long history a run at a time (the log, a window at a time): what one run read (trees, the pack
 * reader's cache, the membership) serves the next, and each thread's repository is opened and
 * its membership read through libgit2 once, not once a run. */
typedef struct twin_checkrun_kept twin_checkrun_kept;

int twin_checkrun_kept_new(twin_checkrun_kept **out);

/* Frees each kept cache and closes each kept repository with the close (and ctx) of the run that
 * opened it. */
void twin_checkrun_kept_free(twin_checkrun_kept *k);

struct twin_checkrun {
    const git_oid *ids;
    size_t count;
    int threads; /* at most; 0: one per core */
    /* Each thread's repository: opened with open (extra is passed back to close), and its cache
     * set up with bind when not NULL. */
    int (*open)(git_repository **repo, void **extra, void *ctx);
    void (*close)(git_repository *repo, void *extra, void *ctx);
    int (*bind)(twin_check_cache *cache, git_repository *repo, void *ctx);
    /* Each verdict, from the thread that reached it. */
    void (*result)(size_t index, const struct twin_check *check, void *ctx);
    /* When not NULL, called from the calling thread about every 50 ms with the number of commits
     * checked so far; a non-zero return stops the threads at the end of their chunks and is
     * returned. */
    int (*progress)(size_t done, void *ctx);
    void *ctx;
    /* When not NULL, thread i takes its repository and cache from kept (opening and binding them
     * when kept has none yet) and leaves them there for the next run. */
    twin_checkrun_kept *kept;
};

/* Checks every commit of run. 0, or the first error that stopped the check; *done: how many
 * commits were checked. */
int twin_checkrun(size_t *done, const struct twin_checkrun *run);

/* Checks the commits base..tip (a first-parent line this node just wrote, oldest first) with
 * the validity predicate before they are published: TWIN_EVERIFY, naming the commit and the
 * rule, when one is refused. A node never moves its branch to a commit its partners would
 * refuse. A short line is checked on the calling thread through repo itself; a long one on every
 * core, each thread with a handle of its own. */
int twin_checkrun_new(git_repository *repo, const git_oid *base, const git_oid *tip);

/* The same, where the writer of the line read the trees it changed through trees (bound to repo,
 * refreshed with the packs just written): a short line is checked through it, and finds the
 * trees its commits' parents hold already read and hashed. */
int twin_checkrun_new_with(git_repository *repo, twin_treecache *trees, const git_oid *base,
                           const git_oid *tip);

#endif
