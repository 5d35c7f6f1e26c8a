/*
 * The files that differ between two trees, found by descending only into subtrees whose ids
 * differ: with records fanned out into buckets, a commit's diff reads a handful of trees.
 */
#ifndef TWIN_TREEDIFF_H
#define TWIN_TREEDIFF_H

#include <git2.h>
#include <stdbool.h>

#define TWIN_TREEDIFF_MAX_CHANGES 200000
#define TWIN_TREEDIFF_MAX_DEPTH   4

struct twin_change {
    char path[512];
    git_oid old_id, new_id;
    bool has_old, has_new;
};

struct twin_treediff {
    git_repository *repo;
    struct twin_change *changes;
    size_t count, cap;
    char fault[400]; /* set when the trees break a rule (not plain files, too deep, too many) */
};

/* Fills d with the changed files from old_tree to new_tree (either may be NULL). Returns <0 on an
 * internal error, 1 when d->fault says which rule the trees break, 0 otherwise. */
int twin_treediff_run(struct twin_treediff *d, const git_tree *old_tree, const git_tree *new_tree);

void twin_treediff_clear(struct twin_treediff *d);

/* True when commit c changed the file at path: it differs from every parent (so a merge that
 * takes one side's version unchanged does not count), or for a root commit, it exists. */
bool twin_commit_changed_path(const git_commit *c, const char *path);

#endif
