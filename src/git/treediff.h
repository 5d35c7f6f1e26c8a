/*
 * The files that differ between two trees, found by descending only into subtrees whose ids
 * differ: with records fanned out into buckets, a commit's diff reads a handful of trees.
 *
 * Trees are compared on their stored bytes: the entries both trees share at their start and end
 * are skipped with one comparison of bytes, and only the entries between are paired. This holds
 * for trees in git's canonical form (modes 40000 and 100644 only, entries strictly in git's
 * order, no name twice); any other tree is compared entry by entry by name, as libgit2 reads it,
 * so the result is the same either way.
 */
#ifndef TWIN_TREEDIFF_H
#define TWIN_TREEDIFF_H

#include <git2.h>
#include <stdbool.h>

#include "git/treecache.h"

#define TWIN_TREEDIFF_MAX_CHANGES 200000
#define TWIN_TREEDIFF_MAX_DEPTH   4

struct twin_change {
    char path[512];
    git_oid old_id, new_id;
    bool has_old, has_new;
    bool is_tree; /* only when the diff was asked for trees */
};

struct twin_treediff {
    git_repository *repo;
    twin_treecache *cache; /* NULL: one just for the run */
    bool trees; /* also list each directory whose tree changed, before the files under it */
    /* Refuse (as a fault) any changed tree that is not in git's canonical form: sorted, unique
     * names, modes 40000 and 100644, no empty, '.', '..' or '.git' name. The validity predicate
     * sets it; without it such trees are read as libgit2 reads them. */
    bool canonical_trees;
    /* Find the changes with libgit2's git_diff_tree_to_tree instead (the baseline, for tests and
     * tools/bench_read.c): for canonical trees the same changes in the same order, the same
     * faults, but for an empty subtree (which git never writes), which libgit2's diff does not
     * see. It hashes no tree it reads (libgit2 may: gitopts.h), and a subtree that cannot be read
     * fails the whole comparison with libgit2's error. cache is not used. */
    bool libgit2;
    struct twin_change *changes;
    size_t count, cap;
    char fault[400]; /* set when the trees break a rule (not plain files, too deep, too many) */
};

/* Fills d with the changed files from old_tree to new_tree (either may be NULL). Returns <0 on an
 * internal error, 1 when d->fault says which rule the trees break, 0 otherwise. */
int twin_treediff_run(struct twin_treediff *d, const git_tree *old_tree, const git_tree *new_tree);

/* The same, with the trees named by id (either may be NULL). */
int twin_treediff_run_ids(struct twin_treediff *d, const git_oid *old_tree,
                          const git_oid *new_tree);

void twin_treediff_clear(struct twin_treediff *d);

/* 1 when commit c changed the file at path: it differs from every parent (so a merge that takes
 * one side's version unchanged does not count), or for a root commit, it exists; 0 when not; <0
 * (naming it) when a commit or tree on the way cannot be read. */
int twin_treediff_changed_path(const git_commit *c, const char *path);

#endif
