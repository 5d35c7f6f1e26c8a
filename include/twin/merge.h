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
 *
 * Dates (proto/SYNC.md 7): by rule 2, which twin merges by, a change dated more than a day after
 * the merge commit's own committer time never wins by its date; by rule 1, which merges made
 * before rule 2 followed, every date counts as it is. A merge commit names rule 2 with the line
 * TWIN_MERGE_RULE_LINE in its message; one without it was made by rule 1.
 */
#ifndef TWIN_MERGE_H
#define TWIN_MERGE_H

#include <git2.h>
#include <stdint.h>

#include "twin/node.h"

#define TWIN_MERGE_RULE          2               /* the rule twin makes merges by */
#define TWIN_MERGE_RULE_LINE     "Merge-rule: 2" /* a line of a rule-2 merge's message */
#define TWIN_MERGE_AHEAD_SECONDS 86400           /* how far after the merge a date still counts */

struct twin_merge_rule {
    int version;  /* 1 or 2 */
    int64_t time; /* by rule 2: the merge commit's committer time */
};

/* The rule a merge commit was made by, from the commit object as git stores it (without the
 * "commit <size>" header): 2 when a line of its message is exactly TWIN_MERGE_RULE_LINE, else 1. */
int twin_merge_rule_of(const char *commit, size_t len);

struct twin_merge_result {
    git_oid tree;        /* the merged tree, written to the repository */
    git_oid base;        /* the merge base used */
    size_t merged_files; /* files changed on both sides and merged */
    size_t conflicts;    /* field conflicts settled by the rule */
};

/* Computes the merged tree of commits a and b by rule (see above). TWIN_EINVALID when they share
 * no history. */
int twin_merge_compute(struct twin_merge_result *out, git_repository *repo, const git_oid *a,
                       const git_oid *b, const struct twin_merge_rule *rule);

/* Computes and writes the merge commit of a and b (parents in that order) by rule 2, dated by
 * this node's clock and signed with the node's key, in repo (NULL: the node's repository; during
 * sync, the quarantine's view). */
int twin_merge_commit(git_oid *out, struct twin_merge_result *result, twin_node *n,
                      git_repository *repo, const git_oid *a, const git_oid *b);

#endif
