/*
 * The store's writes: a commit object signed with the node key (SSH signature, namespace "git"),
 * its text made by twin's git codec (src/git/gitfmt.c) and written loose through libgit2,
 * and the branch moved by compare-and-swap on its old value under the writer lock, with a
 * journal of each move.
 */
#include "twin/store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <string.h>
#include <time.h>

#include "git/gitfmt.h"
#include "twin/error.h"
#include "twin/sshsig.h"
#include "base/util.h"

int twin_store_write_commit(git_oid *out, git_repository *repo, const twin_keypair *key,
                            const char *signer_name, const char *signer_org_id,
                            const git_tree *tree, const git_commit *const *parents, size_t nparents,
                            const char *message)
{
    return twin_store_write_commit_at(out, repo, key, signer_name, signer_org_id, tree, parents,
                                      nparents, message, twin_util_commit_time_now());
}

/* The commit's text, unsigned, made by libgit2 (the baseline) or by twin's codec: the same bytes.
 * *text is malloc'd. */
static int commit_text(char **text, size_t *len, git_repository *repo, const git_signature *who,
                       const git_tree *tree, const git_commit *const *parents, size_t nparents,
                       const char *message, bool libgit2)
{
    if (libgit2) {
        git_buf buf = GIT_BUF_INIT;
        int rc = 0;
        if (git_commit_create_buffer(&buf, repo, who, who, NULL, message, tree, nparents,
                                     (const git_commit **)parents) < 0)
            rc = twin_error_git("building the commit");
        else if (!(*text = malloc(buf.size + 1)))
            rc = twin_error(TWIN_ERROR, "out of memory");
        else
            memcpy(*text, buf.ptr, (*len = buf.size) + 1);
        git_buf_dispose(&buf);
        return rc;
    }
    /* What git_commit_create_buffer checks of its arguments. */
    git_oid ids[2], *many = NULL, *parent_ids = ids;
    if (git_tree_owner(tree) != repo)
        return twin_error(TWIN_EINVALID, "building the commit: the tree is in another repository");
    if (nparents > 2 && !(parent_ids = many = calloc(nparents, sizeof(*many))))
        return twin_error(TWIN_ERROR, "out of memory");
    for (size_t i = 0; i < nparents; i++) {
        if (git_commit_owner(parents[i]) != repo) {
            free(many);
            return twin_error(TWIN_EINVALID,
                              "building the commit: a parent is in another repository");
        }
        parent_ids[i] = *git_commit_id(parents[i]);
    }
    int rc = twin_gitfmt_commit_text(text, len, git_tree_id(tree), parent_ids, nparents, who->name,
                                     who->email, (int64_t)who->when.time, message);
    free(many);
    return rc;
}

static int write_commit(git_oid *out, git_repository *repo, const twin_keypair *key,
                        const char *signer_name, const char *signer_org_id, const git_tree *tree,
                        const git_commit *const *parents, size_t nparents, const char *message,
                        int64_t when, bool libgit2)
{
    git_signature *who = NULL;
    git_odb *odb = NULL;
    char *text = NULL, *sig = NULL, *signed_text = NULL;
    size_t len, sig_len, signed_len;
    int rc = 0;
    /* libgit2 checks the identity (no '<' or '>', not empty) and trims it, as git does. */
    if (git_signature_new(&who, signer_name, signer_org_id, (git_time_t)when, 0) < 0) {
        rc = twin_error_git("making the commit identity");
        goto cleanup;
    }
    if ((rc = commit_text(&text, &len, repo, who, tree, parents, nparents, message, libgit2)) ||
        (rc = twin_sshsig_sign(&sig, &sig_len, key, TWIN_SSHSIG_NAMESPACE_GIT, text, len)))
        goto cleanup;
    if (libgit2) {
        /* The signature has no final newline, so libgit2 writes the header exactly as git
         * does. */
        if (git_commit_create_with_signature(out, repo, text, sig, "gpgsig") < 0)
            rc = twin_error_git("writing the signed commit");
        goto cleanup;
    }
    if ((rc = twin_gitfmt_commit_sign(&signed_text, &signed_len, text, len, sig, sig_len)))
        goto cleanup;
    if (git_repository_odb(&odb, repo) < 0 ||
        git_odb_write(out, odb, signed_text, signed_len, GIT_OBJECT_COMMIT) < 0)
        rc = twin_error_git("writing the signed commit");
cleanup:
    git_odb_free(odb);
    free(signed_text);
    free(sig);
    free(text);
    git_signature_free(who);
    return rc;
}

int twin_store_write_commit_at(git_oid *out, git_repository *repo, const twin_keypair *key,
                               const char *signer_name, const char *signer_org_id,
                               const git_tree *tree, const git_commit *const *parents,
                               size_t nparents, const char *message, int64_t when)
{
    return write_commit(out, repo, key, signer_name, signer_org_id, tree, parents, nparents,
                        message, when, false);
}

int twin_store_write_commit_libgit2(git_oid *out, git_repository *repo, const twin_keypair *key,
                                    const char *signer_name, const char *signer_org_id,
                                    const git_tree *tree, const git_commit *const *parents,
                                    size_t nparents, const char *message, int64_t when)
{
    return write_commit(out, repo, key, signer_name, signer_org_id, tree, parents, nparents,
                        message, when, true);
}

/* Appends "<old> <new>" to repo.git/twin-heads after the branch has moved: the heads twin has
 * published, which must all stay in the history (twin verify checks). Written after the move,
 * so a crash can only leave a published head out, never name one the branch did not hold. */
static void journal_head(git_repository *repo, const git_oid *old, const git_oid *new_head)
{
    char path[4096], line[2 * GIT_OID_HEXSZ + 3];
    snprintf(path, sizeof(path), "%stwin-heads", git_repository_path(repo));
    int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0)
        return;
    char a[GIT_OID_HEXSZ + 1] = "0000000000000000000000000000000000000000", b[GIT_OID_HEXSZ + 1];
    if (old)
        git_oid_tostr(a, sizeof(a), old);
    git_oid_tostr(b, sizeof(b), new_head);
    int n = snprintf(line, sizeof(line), "%s %s\n", a, b);
    if (write(fd, line, (size_t)n) != n) {
        /* A short journal only weakens the rewrite check; the write itself has succeeded. */
    }
    close(fd);
}

/* The writer lock: flock on repo.git/twin.lock, which the kernel releases when its holder dies.
 * While twin holds it no other twin process can be inside a ref update, so a ref lock file
 * found then is the remains of a killed writer, and it is removed. Plain git does not take
 * this lock, so a ref lock younger than a second is first given that second to go away. */
int twin_store_lock(int *fd_out, git_repository *repo)
{
    char path[4096];
    snprintf(path, sizeof(path), "%stwin.lock", git_repository_path(repo));
    int rc = twin_util_flock(fd_out, path);
    if (rc == 0) {
        snprintf(path, sizeof(path), "%s%s.lock", git_repository_path(repo), TWIN_BRANCH);
        twin_util_clear_stale_lock(path);
    }
    return rc;
}

void twin_store_unlock(int fd)
{
    if (fd >= 0)
        close(fd); /* releases the flock */
}

int twin_store_advance_locked(git_repository *repo, const git_oid *old, const git_oid *new_head,
                              const char *reflog_message)
{
    git_reference *ref = NULL;
    int rc = 0;
    int err = old ? git_reference_create_matching(&ref, repo, TWIN_BRANCH, new_head, 1, old,
                                                  reflog_message)
                  : git_reference_create(&ref, repo, TWIN_BRANCH, new_head, 0, reflog_message);
    git_reference_free(ref);
    /* With old given, GIT_ENOTFOUND means the branch is gone: it no longer points at old. */
    if (err == GIT_EMODIFIED || err == GIT_EEXISTS || (old && err == GIT_ENOTFOUND))
        rc = twin_error(TWIN_ECONFLICT, "the branch moved while this change was being written");
    else if (err == GIT_ELOCKED)
        rc = twin_error(TWIN_ECONFLICT, "the branch is locked by another program (git?)");
    else if (err < 0)
        rc = twin_error_git("moving the branch");
    else
        journal_head(repo, old, new_head);
    return rc;
}

int twin_store_advance(git_repository *repo, const git_oid *old, const git_oid *new_head,
                       const char *reflog_message)
{
    int fd, rc = twin_store_lock(&fd, repo);
    if (rc)
        return rc;
    rc = twin_store_advance_locked(repo, old, new_head, reflog_message);
    twin_store_unlock(fd);
    return rc;
}
