/*
 * Change sets: the only way a node writes records. A change set is applied to the tree of a base
 * commit, built in memory (blobs, trees, commit) with no working tree, signed with the node key,
 * checked with the validity predicate, and published by the store's compare-and-swap of the
 * branch (twin/store.h).
 */
#ifndef TWIN_TX_H
#define TWIN_TX_H

#include <git2.h>
#include <stdbool.h>
#include <stddef.h>

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
/* Sets path to a blob already in the store (one written as a stream, such as an attachment), in
 * a change set that is not batched. */
int twin_tx_put_blob(twin_tx *tx, const char *path, const git_oid *blob);

/* Reads path as the change set sees it: pending puts first, then the base tree. Returns
 * TWIN_ENOTFOUND when absent. *out is malloc'd and NUL-terminated. */
int twin_tx_read(char **out, size_t *out_len, twin_tx *tx, const char *path);

size_t twin_tx_count(const twin_tx *tx);

/* Builds, signs and publishes the commit. TWIN_ECONFLICT when the branch moved since
 * twin_tx_begin: nothing was published, and the caller starts again on the new head. */
int twin_tx_commit(git_oid *out, twin_tx *tx, const char *message);

void twin_tx_free(twin_tx *tx);

#endif
