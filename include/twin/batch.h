/*
 * Group commit: many signed commits written as one pack and published by one compare-and-swap.
 *
 * A batch keeps the trees on the paths it touches in memory, names objects itself and appends
 * them to a pack being built, with each changed tree stored as a delta against its previous
 * version. Every commit is an ordinary signed commit, one per change, exactly as a single write
 * makes it; only the way they reach the disk differs. Nothing is visible to other readers until
 * twin_batch_flush, which writes the pack, its index and the branch in that order, so a killed
 * process leaves the branch at its last flushed commit.
 *
 * If the branch moved since the batch began (another writer, a sync), the flush rebuilds the
 * pending commits on the new head, provided no record they change was changed there too; if one
 * was, nothing of the batch is written and TWIN_ECONFLICT names the record.
 *
 * A batch changes records only (paths under records/): membership changes go through the single
 * write path, so the writer's authority is checked once, at the start and again on a rebuild.
 */
#ifndef TWIN_BATCH_H
#define TWIN_BATCH_H

#include <git2.h>
#include <stdbool.h>
#include <stddef.h>

#include "twin/node.h"

typedef struct twin_batch twin_batch;

/* Checks that the node may write on a history whose head tree is given. */
typedef int (*twin_batch_check_fn)(twin_node *n, git_tree *head_tree);

/* Starts a batch on the node's head. check runs now and again on a rebuild. flush_every > 0 makes
 * twin_batch_commit flush by itself after that many pending commits. */
int twin_batch_begin(twin_batch **out, twin_node *n, twin_batch_check_fn check, size_t flush_every);

/* Has the batch write its packs through libgit2 (libgit2 true) or through twin's own pack writer
 * (the default), from now on: libgit2's way is the baseline twin's writer replaced, kept for
 * benchmarks and tests. The commits, the records and the branch are the same either way; only
 * the packs' bytes differ. TWIN_EINVALID while commits or changes are pending. */
int twin_batch_set_libgit2(twin_batch *b, bool libgit2);

/* Has the batch read the branch's trees through libgit2 (libgit2 true: git_tree_lookup) or
 * through a tree cache on twin's pack reader (the default), from now on, the trees it holds read
 * again. Through the tree cache, the check of a flush's new commits reads through it too, and
 * finds the trees their parents hold read and hashed already; through libgit2, the baseline, the
 * check reads them again. The commits are the same either way. TWIN_EINVALID while commits or
 * changes are pending. */
int twin_batch_read_libgit2(twin_batch *b, bool libgit2);

/* Reads a file as the batch sees it (pending commits included). TWIN_ENOTFOUND when absent. */
int twin_batch_read(char **out, size_t *out_len, twin_batch *b, const char *path, size_t max);
/* 1 when path exists as the batch sees it, 0 when not, <0 when a tree on the way cannot be
 * read. */
int twin_batch_exists(twin_batch *b, const char *path);

/* Whether path has a change staged for the next commit. */
bool twin_batch_staged(const twin_batch *b, const char *path);

/* Stages path = data for the next commit. */
int twin_batch_put(twin_batch *b, const char *path, const void *data, size_t len);

/* Forgets the changes staged since the last commit. */
void twin_batch_drop_staged(twin_batch *b);

/* Makes the staged changes one signed commit on the batch's tip. Hands back its id, which stays
 * final unless a flush has to rebuild on a moved branch. */
int twin_batch_commit(git_oid *out, twin_batch *b, const char *message);

/* Writes the pending commits and moves the branch to the batch's tip. */
int twin_batch_flush(twin_batch *b);

size_t twin_batch_pending(const twin_batch *b);
twin_node *twin_batch_node(twin_batch *b);

/* The newest commit of the batch: after a flush, the head the branch was moved to. */
const git_oid *twin_batch_tip(const twin_batch *b);

/* Discards whatever was not flushed. */
void twin_batch_free(twin_batch *b);

/* Joins small packs when there are many (called by flushes; exposed for maintenance). */
int twin_batch_repack(git_repository *repo);

#endif
