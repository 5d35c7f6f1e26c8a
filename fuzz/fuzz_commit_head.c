/* twin's reading of a commit's header (src/git/history.c) against libgit2's reading of the whole
 * commit, on commit objects of any bytes. twin may refuse a commit libgit2 reads (it is the
 * stricter of the two), never the reverse: whatever twin reads, libgit2 reads too, with the same
 * tree, the same parents in the same order and the same committer time. That is what keeps the
 * validity check from judging another commit than the one git, libgit2 and every other part of
 * twin see.
 *
 * Input: the bytes of a commit object. The seeds in fuzz/corpus/commit_head/ are commits twin
 * writes (signed, a merge, the genesis), git's forms twin does not write (an octopus merge, two
 * authors, an encoding header) and forms both or one refuse. */
#include <git2.h>
#include <git2/sys/mempack.h>
#include <git2/sys/repository.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "git/history.h"

static git_repository *repo;
static git_odb *odb;
static git_odb_backend *mempack;

static void fail(const char *what, size_t size)
{
    fprintf(stderr, "commit_head: %s (input of %zu bytes)\n", what, size);
    abort();
}

static void setup(void)
{
    git_libgit2_init();
    if (git_odb_new(&odb) < 0 || git_mempack_new(&mempack) < 0 ||
        git_odb_add_backend(odb, mempack, 1) < 0 || git_repository_wrap_odb(&repo, odb) < 0)
        fail("cannot set up an object database in memory", 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (!repo)
        setup();
    struct twin_commit_head h;
    int ours = twin_history_head_parse(&h, (const char *)data, size);
    git_oid id;
    git_commit *c = NULL;
    if (git_odb_write(&id, odb, data, size, GIT_OBJECT_COMMIT) < 0)
        fail("cannot store the input", size);
    int theirs = git_commit_lookup(&c, repo, &id);
    if (ours == 0) {
        if (theirs < 0) {
            const git_error *e = git_error_last();
            fprintf(stderr, "commit_head: libgit2 says: %s\n", e ? e->message : "nothing");
            fail("twin reads a commit libgit2 refuses", size);
        }
        if (!git_oid_equal(&h.tree, git_commit_tree_id(c)))
            fail("another tree", size);
        if (h.nparents != git_commit_parentcount(c))
            fail("another number of parents", size);
        for (unsigned i = 0; i < h.nparents; i++) {
            git_oid p;
            twin_history_head_parent(&p, &h, i);
            if (!git_oid_equal(&p, git_commit_parent_id(c, i)) ||
                (i < 2 && !git_oid_equal(&h.parents[i], &p)))
                fail("another parent", size);
        }
        if (h.time != (int64_t)git_commit_time(c))
            fail("another committer time", size);
    } else if (ours != -1) {
        fail("a result other than 0 or -1", size);
    }
    git_commit_free(c);
    git_mempack_reset(mempack);
    return 0;
}
