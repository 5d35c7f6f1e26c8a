/*
 * The store's writes below the rules: a commit built and signed with the node key (SSH signature
 * in the gpgsig header) without moving any branch, and the branch moved by a compare-and-swap on
 * its old value under the writer lock. Records are written through change sets (twin/tx.h), which
 * check every commit with the validity predicate before it is published.
 */
#ifndef TWIN_STORE_H
#define TWIN_STORE_H

#include <git2.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "twin/node.h"

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

/* The same, with the commit made by libgit2 (git_commit_create_buffer and
 * git_commit_create_with_signature) instead of twin's codec: the same bytes. The baseline that
 * bench_store measures the codec against, and the reference the tests hold it to. */
int twin_store_write_commit_libgit2(git_oid *out, git_repository *repo, const twin_keypair *key,
                                    const char *signer_name, const char *signer_org_id,
                                    const git_tree *tree, const git_commit *const *parents,
                                    size_t nparents, const char *message, int64_t when);

/* Moves the branch from old (NULL: it must not exist) to new, atomically. TWIN_ECONFLICT when it
 * no longer points at old. */
int twin_store_advance(git_repository *repo, const git_oid *old, const git_oid *new_head,
                       const char *reflog_message);

/* The writer lock (an flock the kernel drops when its holder dies) that every branch move takes;
 * twin_store_advance takes it itself. A ref lock file left by a killed writer is cleared. */
int twin_store_lock(int *fd_out, git_repository *repo);
void twin_store_unlock(int fd);

/* twin_store_advance for a caller that already holds the writer lock. twin writes the ref and its
 * reflogs itself, in git's formats and exactly as libgit2 would (the same files, lines, identity
 * and errors), syncing them together rather than one after another. */
int twin_store_advance_locked(git_repository *repo, const git_oid *old, const git_oid *new_head,
                              const char *reflog_message);

/* The same move through libgit2 (git_reference_create_matching), the baseline twin's own writer
 * replaced: bench_store times the two, and the tests hold them to the same files. */
int twin_store_advance_locked_libgit2(git_repository *repo, const git_oid *old,
                                      const git_oid *new_head, const char *reflog_message);

#endif
