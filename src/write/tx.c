/*
 * Change sets: the only way a node writes records. Blobs are written as they are put; the trees
 * on their paths are rebuilt from the base tree in one pass at commit time; the commit is signed,
 * checked with the validity predicate, and published by the store's compare-and-swap of the
 * branch on its old value.
 */
#include "twin/tx.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "rules/checkrun.h"
#include "twin/batch.h"
#include "twin/error.h"
#include "twin/record.h"
#include "twin/store.h"
#include "twin/tree.h"

#define TX_MAX_CHANGES 1000000

struct tx_change {
    char *path;
    git_oid blob;
};

struct twin_tx {
    twin_node *node;
    twin_batch *batch; /* set: the change goes to this batch */
    bool has_base;
    git_oid base;
    git_commit *base_commit;
    git_tree *base_tree;
    struct tx_change *changes;
    size_t count, cap;
};

int twin_tx_begin(twin_tx **out, twin_node *n)
{
    *out = NULL;
    twin_tx *tx = calloc(1, sizeof(*tx));
    if (!tx)
        return twin_error(TWIN_ERROR, "out of memory");
    tx->node = n;
    int rc = twin_node_head(&tx->base, n);
    if (rc == 0) {
        tx->has_base = true;
        if (git_commit_lookup(&tx->base_commit, twin_node_repo(n), &tx->base) < 0 ||
            git_commit_tree(&tx->base_tree, tx->base_commit) < 0) {
            rc = twin_error_git("reading the head commit");
            twin_tx_free(tx);
            return rc;
        }
    } else if (rc != TWIN_ENOHISTORY) {
        twin_tx_free(tx);
        return rc;
    }
    *out = tx;
    return 0;
}

int twin_tx_begin_batch(twin_tx **out, twin_batch *b)
{
    *out = NULL;
    twin_tx *tx = calloc(1, sizeof(*tx));
    if (!tx)
        return twin_error(TWIN_ERROR, "out of memory");
    tx->node = twin_batch_node(b);
    tx->batch = b;
    *out = tx;
    return 0;
}

bool twin_tx_batched(const twin_tx *tx)
{
    return tx->batch != NULL;
}

int twin_tx_exists(twin_tx *tx, const char *path)
{
    if (tx->batch)
        return twin_batch_exists(tx->batch, path);
    for (size_t i = 0; i < tx->count; i++)
        if (strcmp(tx->changes[i].path, path) == 0)
            return 1;
    git_tree_entry *e = NULL;
    if (!tx->base_tree)
        return 0;
    int rc = twin_tree_entry_at(&e, twin_node_repo(tx->node), tx->base_tree, path);
    git_tree_entry_free(e);
    if (rc == TWIN_ENOTFOUND) {
        twin_error_clear();
        return 0;
    }
    return rc ? rc : 1;
}

const git_oid *twin_tx_base(const twin_tx *tx)
{
    /* A batched change set commits on the batch's tip, which moves with every commit into the
     * batch (and on a flush that rebuilds on a moved branch): ask the batch, not a copy. */
    if (tx->batch)
        return twin_batch_tip(tx->batch);
    return tx->has_base ? &tx->base : NULL;
}

git_tree *twin_tx_base_tree(const twin_tx *tx)
{
    return tx->base_tree;
}

size_t twin_tx_count(const twin_tx *tx)
{
    return tx->count;
}

static int put_blob(twin_tx *tx, const char *path, const git_oid *id);

int twin_tx_put(twin_tx *tx, const char *path, const void *data, size_t len)
{
    if (tx->batch) {
        int rc = twin_batch_put(tx->batch, path, data, len);
        tx->count += rc == 0;
        return rc;
    }
    git_oid blob;
    if (git_blob_create_from_buffer(&blob, twin_node_repo(tx->node), data, len) < 0)
        return twin_error_git("writing a blob");
    return put_blob(tx, path, &blob);
}

int twin_tx_put_blob(twin_tx *tx, const char *path, const git_oid *blob)
{
    if (tx->batch)
        return twin_error(TWIN_EINVALID, "a batched change set takes no stored blob");
    return put_blob(tx, path, blob);
}

static int put_blob(twin_tx *tx, const char *path, const git_oid *id)
{
    git_oid blob = *id;
    for (size_t i = 0; i < tx->count; i++)
        if (strcmp(tx->changes[i].path, path) == 0) {
            tx->changes[i].blob = blob;
            return 0;
        }
    if (tx->count == tx->cap) {
        size_t cap = tx->cap ? tx->cap * 2 : 8;
        if (cap > TX_MAX_CHANGES)
            return twin_error(TWIN_ELIMIT, "more than %d changes in one commit", TX_MAX_CHANGES);
        struct tx_change *c = twin_util_realloc_array(tx->changes, cap, sizeof(*c));
        if (!c)
            return twin_error(TWIN_ERROR, "out of memory");
        tx->changes = c;
        tx->cap = cap;
    }
    char *p = strdup(path);
    if (!p)
        return twin_error(TWIN_ERROR, "out of memory");
    tx->changes[tx->count].path = p;
    tx->changes[tx->count].blob = blob;
    tx->count++;
    return 0;
}

int twin_tx_read(char **out, size_t *out_len, twin_tx *tx, const char *path)
{
    *out = NULL;
    if (tx->batch)
        return twin_batch_read(out, out_len, tx->batch, path, TWIN_RECORD_FILE_MAX_BYTES);
    git_tree_entry *e = NULL;
    const git_oid *id = NULL;
    for (size_t i = tx->count; i-- > 0;)
        if (strcmp(tx->changes[i].path, path) == 0) {
            id = &tx->changes[i].blob;
            break;
        }
    if (!id) {
        if (!tx->base_tree)
            return twin_error(TWIN_ENOTFOUND, "%s: not found", path);
        int err = twin_tree_entry_at(&e, twin_node_repo(tx->node), tx->base_tree, path);
        if (err)
            return err;
        if (git_tree_entry_type(e) != GIT_OBJECT_BLOB) {
            git_tree_entry_free(e);
            return twin_error(TWIN_EINVALID, "%s: not a file", path);
        }
        id = git_tree_entry_id(e);
    }
    int rc = twin_tree_read_blob(out, out_len, twin_node_repo(tx->node), id,
                                 TWIN_RECORD_FILE_MAX_BYTES, path);
    git_tree_entry_free(e);
    return rc;
}

int twin_tx_commit(git_oid *out, twin_tx *tx, const char *message)
{
    git_repository *repo = twin_node_repo(tx->node);
    git_tree_update *updates = NULL;
    git_tree *tree = NULL;
    git_oid tree_id, commit_id;
    char *name = NULL;
    int rc = 0;
    if (tx->count == 0)
        return twin_error(TWIN_EINVALID, "nothing to commit");
    if (tx->batch) {
        rc = twin_batch_commit(out, tx->batch, message);
        tx->count = 0;
        return rc;
    }
    if (!tx->has_base)
        return twin_error(TWIN_ENOHISTORY, "this node has no history to add to yet");
    if (!(updates = calloc(tx->count, sizeof(*updates))))
        return twin_error(TWIN_ERROR, "out of memory");
    for (size_t i = 0; i < tx->count; i++) {
        updates[i].action = GIT_TREE_UPDATE_UPSERT;
        updates[i].id = tx->changes[i].blob;
        updates[i].filemode = GIT_FILEMODE_BLOB;
        updates[i].path = tx->changes[i].path;
    }
    if (git_tree_create_updated(&tree_id, repo, tx->base_tree, tx->count, updates) < 0 ||
        git_tree_lookup(&tree, repo, &tree_id) < 0) {
        rc = twin_error_git("building the tree");
        goto cleanup;
    }
    if ((rc = twin_node_config_get(&name, tx->node, "twin.name")))
        goto cleanup;
    const git_commit *parents[1] = {tx->base_commit};
    if ((rc = twin_store_write_commit(&commit_id, repo, twin_node_key(tx->node), name,
                                      twin_node_org_id(tx->node), tree, parents, 1, message)))
        goto cleanup;
    if ((rc = twin_checkrun_new(repo, &tx->base, &commit_id)) ||
        (rc = twin_store_advance(repo, &tx->base, &commit_id, "twin: commit")))
        goto cleanup;
    *out = commit_id;
cleanup:
    free(name);
    free(updates);
    git_tree_free(tree);
    return rc;
}

void twin_tx_free(twin_tx *tx)
{
    if (!tx)
        return;
    /* A batched change set stages its puts in the batch (tx->changes stays empty, count only
     * counts them): dropping them there is all there is to undo. */
    if (tx->batch && tx->count)
        twin_batch_drop_staged(tx->batch);
    else
        for (size_t i = 0; i < tx->count; i++)
            free(tx->changes[i].path);
    free(tx->changes);
    git_tree_free(tx->base_tree);
    git_commit_free(tx->base_commit);
    free(tx);
}
