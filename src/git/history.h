/*
 * Commits as git writes them, read without libgit2: a commit's header, and the walk over a whole
 * history that verify starts from.
 *
 * The walk's baseline stays beside it: twin_history_walk_libgit2 lists the same commits with
 * libgit2's revwalk (GIT_SORT_TOPOLOGICAL | GIT_SORT_REVERSE), so that tools/bench_read.c can
 * measure the gain and the tests can hold the two to each other.
 */
#ifndef TWIN_HISTORY_H
#define TWIN_HISTORY_H

#include <git2.h>
#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

struct twin_commit_head {
    git_oid tree;
    unsigned nparents;   /* all of them */
    git_oid parents[2];  /* the first two */
    const char *parent0; /* where the "parent " lines start (48 bytes each), in the parsed data */
    int64_t time;        /* the committer's time, seconds since the epoch */
    /* Set by twin_history_head_parse only: the author's email (what stands between '<' and '>',
     * cut at 127 bytes, with its whole length), and whether the committer's "Name <email>" is
     * the author's. */
    char author_email[128];
    size_t author_email_len;
    bool committer_is_author;
};

/* Reads the header of a commit: "tree", "parent" lines, "author", "committer", in that order and
 * nothing between, each person with a time, as libgit2 reads it (fuzz/fuzz_commit_head.c holds
 * the two to that). 0, or -1 when it is not in that form. h->parent0 points into data. */
int twin_history_head_parse(struct twin_commit_head *h, const char *data, size_t len);

/* Only the tree and parent lines at its start, which is all a walk needs: 0, or -1. A commit
 * whose header is otherwise not in git's form is still walked, and the check says what is wrong
 * with it; h->time is 0. */
int twin_history_links_parse(struct twin_commit_head *h, const char *data, size_t len);

/* Reads commit id's header through packs, or odb when no pack holds it: twin_history_head_parse
 * on its bytes, with h->parent0 NULL (h->parents holds the first two). TWIN_EVERIFY when it is
 * not a commit in that form. */
struct twin_packread;
int twin_history_read_head(struct twin_commit_head *h, struct twin_packread *packs, git_odb *odb,
                           const git_oid *id);

/* Parent i (any, below h->nparents) of a header parsed from data that is still held. */
void twin_history_head_parent(git_oid *out, const struct twin_commit_head *h, unsigned i);

/* Every commit reachable from head, each after all of its parents (first parents first), read
 * through twin's pack reader and libgit2 for what no pack holds. The commits are not hashed
 * against their ids here: the check of each does that. *ids is the caller's to free. */
int twin_history_walk(git_oid **ids, size_t *count, git_repository *repo, const git_oid *head);

/* The same commits through libgit2's revwalk, the baseline twin_history_walk replaced: each after
 * its parents and head last, but not always in the same order. twin's is the depth-first order
 * that takes first parents first; libgit2's list is the same on a line of commits, but not always
 * across merges: for a merge of B and M, where M merged A and B, twin lists B (the first parent)
 * before A, and libgit2 A before B. Whether libgit2 hashes each commit
 * it reads is its process-wide setting (gitopts.h). A commit that cannot be found is TWIN_ERROR,
 * named in libgit2's words ("no match for id (...)"); any other failure is TWIN_EVERIFY. (libgit2
 * 1.5 leaks the commits it listed when a walk fails part way.) */
int twin_history_walk_libgit2(git_oid **ids, size_t *count, git_repository *repo,
                              const git_oid *head);

/* The same over the commits that packs hold: a commit they do not hold ends the walk there and
 * is listed in *stops (the caller's to free) instead of *ids. Nothing is read through libgit2. */
int twin_history_walk_packed(git_oid **ids, size_t *count, git_oid **stops, size_t *nstops,
                             struct twin_packread *packs, const git_oid *head);

/* The commits reachable from head, newest first, read through twin's pack reader and libgit2 for
 * what no pack holds, one at a time:
 * - whole: each before its parents, and of the commits whose children have all been given, the
 *   one with the latest committer time first: the order of libgit2's revwalk with
 *   GIT_SORT_TOPOLOGICAL | GIT_SORT_TIME, commits of the same second included. Every commit is
 *   read (its header, a few dozen bytes kept) before the first is given.
 * - otherwise: by committer time alone, as git log gives them, reading only as far as the
 *   commits given: of the commits met (the head, then the parents of those given), the latest
 *   first. With clocks that disagree a parent can come before its child.
 * A commit whose header is not in git's form counts as dated 0 here; the check names it. */
typedef struct twin_history_iter twin_history_iter;
int twin_history_iter_new(twin_history_iter **out, git_repository *repo, const git_oid *head,
                          bool whole);
/* The next commit and its committer time: 0, 1 after the last, or an error naming a commit that
 * cannot be read. */
int twin_history_iter_next(git_oid *id, int64_t *time, twin_history_iter *it);
/* Commit id's summary, as git_commit_summary gives it (its message's first paragraph on one
 * line), cut to fit size, read as the walk reads commits: not through libgit2's caches. */
int twin_history_iter_summary(char *out, size_t size, twin_history_iter *it, const git_oid *id);
void twin_history_iter_free(twin_history_iter *it);

/* For a walk of libgit2's from head that failed (its error is the last): twin's walk names the
 * commit that cannot be read where libgit2 may not. Returns the error, under context. */
int twin_history_walk_failed(git_repository *repo, const git_oid *head, const char *context);

#endif
