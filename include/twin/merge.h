/*
 * The record-aware three-way merge of two lines of history. It is symmetric and depends only on
 * the two commits and their history, so anyone can re-derive a merge commit's tree from its
 * parents and check that it adds nothing.
 *
 * Rule: files changed on one side only are taken from that side. A record changed on both sides
 * is merged field by field (into nested objects); a field changed differently on both sides takes
 * the value of the side whose last change to that record is later (committer time, then the
 * greater commit id), and the other value is kept in the record's "conflicts" list with the commit
 * that set it. Member files merge keys by union, a key's state never moving back from revoked or
 * retired to active.
 */
#ifndef TWIN_MERGE_H
#define TWIN_MERGE_H

#include <git2.h>

#include "twin/node.h"

struct twin_merge_result {
    git_oid tree;        /* the merged tree, written to the repository */
    git_oid base;        /* the merge base used */
    size_t merged_files; /* files changed on both sides and merged */
    size_t conflicts;    /* field conflicts settled by the rule */
};

/* Computes the merged tree of commits a and b. TWIN_EINVALID when they share no history. */
int twin_merge_compute(struct twin_merge_result *out, git_repository *repo, const git_oid *a,
                       const git_oid *b);

/* Computes and writes the merge commit of a and b (parents in that order), signed with the
 * node's key, in repo (NULL: the node's repository; during sync, the quarantine's view). */
int twin_merge_commit(git_oid *out, struct twin_merge_result *result, twin_node *n,
                      git_repository *repo, const git_oid *a, const git_oid *b);

#endif
