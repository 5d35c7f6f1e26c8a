/*
 * The receiving side of moving history between nodes: a quarantine for a received pack (the
 * sending side builds it, src/git/packbuild.h). Received objects are indexed into a pack beside
 * the object store, every new commit is checked with the validity predicate in a view that sees
 * both, and only then does the pack join the store and may the branch move.
 */
#ifndef TWIN_QUARANTINE_H
#define TWIN_QUARANTINE_H

#include <git2.h>
#include <stdbool.h>
#include <stddef.h>

#include "twin/global.h"
#include "twin/validity.h"

typedef struct twin_quarantine twin_quarantine;

/* Starts receiving a pack into a temporary directory inside the repository's object store. */
int twin_quarantine_new(twin_quarantine **out, git_repository *repo);

/* Appends received bytes. TWIN_ELIMIT past TWIN_PACK_MAX_BYTES; TWIN_EINVALID when the bytes are
 * not a pack. */
int twin_quarantine_append(twin_quarantine *q, const void *data, size_t len);

/* Finishes the pack (checks its trailer) and opens a view: a repository that sees the store and
 * the quarantined objects, for checking. */
int twin_quarantine_finish(twin_quarantine *q);
git_repository *twin_quarantine_view(twin_quarantine *q);

/* Called during twin_quarantine_check after every TWIN_CHECK_PROGRESS_EVERY commits with the
 * count so far; a non-zero return ends the check with that code. Sync uses it to keep its peer
 * from giving up while a long history is checked. */
#define TWIN_CHECK_PROGRESS_EVERY 256
typedef int (*twin_check_progress_fn)(size_t checked, void *ctx);
void twin_quarantine_on_progress(twin_quarantine *q, twin_check_progress_fn fn, void *ctx);

/* Has the check give fn each version of a sealed record it accepts (twin_validity_sealed_fn),
 * from the checking threads. */
void twin_quarantine_on_sealed(twin_quarantine *q, twin_validity_sealed_fn fn, void *ctx);

/* Checks every commit reachable from tip but not from the receiver's current history (base, may
 * be NULL) with the validity predicate, oldest first, in the view. Returns 0 when the check ran;
 * *bad is then the number of invalid commits (0 when all pass), *first_bad and reason describe the
 * first, and *checked counts the new commits. */
int twin_quarantine_check(size_t *checked, size_t *bad, git_oid *first_bad, char *reason,
                          size_t reason_size, twin_quarantine *q, const git_oid *tip,
                          const git_oid *base);

/* The commits the last twin_quarantine_check of q checked that are dated more than a day ahead of
 * this node's clock (TWIN_AHEAD_SECONDS), oldest first, and how many; q keeps them. */
const struct twin_ahead *twin_quarantine_ahead(const twin_quarantine *q, size_t *count);

/* Whether the last twin_quarantine_check of q, from tip, met base in tip's history: then tip
 * descends from base, and sync need not ask libgit2 (whose answer walks the whole received
 * history). False says nothing either way. */
bool twin_quarantine_reached(const twin_quarantine *q, const git_oid *tip, const git_oid *base);

/* The first commit the last twin_quarantine_check of q checked (oldest first: one without
 * parents, the genesis of a whole history); false when it checked none. */
bool twin_quarantine_first(const twin_quarantine *q, git_oid *out);

/* Moves the quarantined pack into the object store (durably) and refreshes it. */
int twin_quarantine_accept(twin_quarantine *q);

/* Removes whatever was not accepted; safe on NULL. */
void twin_quarantine_free(twin_quarantine *q);

/* Removes quarantines left behind by sessions that were killed. Call only while no quarantine of
 * this repository is in use (sync holds its session lock). */
void twin_quarantine_sweep(git_repository *repo);

#endif
