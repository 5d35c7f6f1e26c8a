/*
 * Writing the shared history: a change set applied to the tree of a base commit, built in memory
 * (blobs, trees, commit) with no working tree, signed with the node key (SSH signature in the
 * gpgsig header), and published by a compare-and-swap of the branch on its old value.
 */
#ifndef TWIN_STORE_H
#define TWIN_STORE_H

#include <git2.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "twin/node.h"

typedef struct twin_tx twin_tx;
typedef struct twin_batch twin_batch;

/* Starts a change set on the current head (or on no history, for the genesis). */
int twin_tx_begin(twin_tx **out, twin_node *n);

/* Starts a change set that commits into a batch (twin/batch.h): reads see the batch's pending
 * commits, and the commit joins the batch instead of moving the branch. */
int twin_tx_begin_batch(twin_tx **out, twin_batch *b);
bool twin_tx_batched(const twin_tx *tx);

/* Whether path exists as the change set sees it: 1 or 0, or an error when a tree on the way
 * cannot be read. */
int twin_tx_exists(twin_tx *tx, const char *path);

/* The commit the change set builds on; NULL for the genesis. */
const git_oid *twin_tx_base(const twin_tx *tx);
git_tree *twin_tx_base_tree(const twin_tx *tx);

/* Sets path to data in the new tree (replacing what was there). */
int twin_tx_put(twin_tx *tx, const char *path, const void *data, size_t len);

/* Reads path as the change set sees it: pending puts first, then the base tree. Returns
 * TWIN_ENOTFOUND when absent. *out is malloc'd and NUL-terminated. */
int twin_tx_read(char **out, size_t *out_len, twin_tx *tx, const char *path);

size_t twin_tx_count(const twin_tx *tx);

/* Builds, signs and publishes the commit. TWIN_ECONFLICT when the branch moved since
 * twin_tx_begin: nothing was published, and the caller starts again on the new head. */
int twin_tx_commit(git_oid *out, twin_tx *tx, const char *message);

void twin_tx_free(twin_tx *tx);

/* Builds and signs a commit object in the repository without moving any branch, dated now by this
 * node's clock. */
int twin_store_write_commit(git_oid *out, git_repository *repo, const twin_keypair *key,
                            const char *signer_name, const char *signer_org_id,
                            const git_tree *tree, const git_commit *const *parents, size_t nparents,
                            const char *message);

/* The same, with author and committer time when (seconds since the epoch, UTC). */
int twin_store_write_commit_at(git_oid *out, git_repository *repo, const twin_keypair *key,
                               const char *signer_name, const char *signer_org_id,
                               const git_tree *tree, const git_commit *const *parents,
                               size_t nparents, const char *message, int64_t when);

/* Checks the commits base..tip (a first-parent line this node just wrote, oldest first) with
 * the validity predicate before they are published: TWIN_EVERIFY, naming the commit and the
 * rule, when one is refused. A node never moves its branch to a commit its partners would
 * refuse. */
int twin_store_check_new(git_repository *repo, const git_oid *base, const git_oid *tip);

/* Moves the branch from old (NULL: it must not exist) to new, atomically. TWIN_ECONFLICT when it
 * no longer points at old. */
int twin_store_advance(git_repository *repo, const git_oid *old, const git_oid *new_head,
                       const char *reflog_message);

/* The writer lock (an flock the kernel drops when its holder dies) that every branch move takes;
 * twin_store_advance takes it itself. A ref lock file left by a killed writer is cleared. */
int twin_store_lock(int *fd_out, git_repository *repo);
void twin_store_unlock(int fd);

/* twin_store_advance for a caller that already holds the writer lock. */
int twin_store_advance_locked(git_repository *repo, const git_oid *old, const git_oid *new_head,
                              const char *reflog_message);

#endif
