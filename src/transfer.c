/*
 * Packs out, quarantine in. The quarantine is a directory under objects/ that libgit2's normal
 * object lookup never scans; the view used for checking opens the store plus that one pack.
 */
#define _XOPEN_SOURCE 700
#include "twin/transfer.h"

#include <git2/sys/odb_backend.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "twin/error.h"
#include "twin/validity.h"

/* ---- building ------------------------------------------------------------------------------- */

struct sink_ctx {
    twin_pack_sink sink;
    void *ctx;
    int rc;
};

static int forward_chunk(void *buf, size_t size, void *payload)
{
    struct sink_ctx *s = payload;
    s->rc = s->sink(buf, size, s->ctx);
    return s->rc ? -1 : 0;
}

static int setup_walk(git_revwalk **out, git_repository *repo, const git_oid *wants, size_t nwants,
                      const git_oid *haves, size_t nhaves)
{
    git_revwalk *walk = NULL;
    git_odb *odb = NULL;
    int rc = 0;
    if (git_revwalk_new(&walk, repo) < 0 || git_repository_odb(&odb, repo) < 0) {
        rc = twin_error_git("preparing a pack");
        goto cleanup;
    }
    for (size_t i = 0; i < nwants; i++)
        if (git_revwalk_push(walk, &wants[i]) < 0) {
            rc = twin_error(TWIN_ENOTFOUND, "this node does not have commit %s",
                            git_oid_tostr_s(&wants[i]));
            goto cleanup;
        }
    /* Hiding an object we lack fails, so only ids present here are hidden. */
    for (size_t i = 0; i < nhaves; i++)
        if (git_odb_exists_ext(odb, &haves[i], GIT_ODB_LOOKUP_NO_REFRESH) &&
            git_revwalk_hide(walk, &haves[i]) < 0) {
            rc = twin_error_git("preparing a pack");
            goto cleanup;
        }
    *out = walk;
    walk = NULL;
cleanup:
    git_odb_free(odb);
    git_revwalk_free(walk);
    return rc;
}

/* Git's tree order: names compare as bytes, a tree's name as if it ended in '/'. */
static int entry_cmp(const git_tree_entry *a, const git_tree_entry *b)
{
    const char *x = git_tree_entry_name(a), *y = git_tree_entry_name(b);
    size_t i = 0;
    while (x[i] && x[i] == y[i])
        i++;
    unsigned char cx = (unsigned char)x[i], cy = (unsigned char)y[i];
    if (!cx && git_tree_entry_type(a) == GIT_OBJECT_TREE)
        cx = '/';
    if (!cy && git_tree_entry_type(b) == GIT_OBJECT_TREE)
        cy = '/';
    return (int)cx - (int)cy;
}

struct changed_walk {
    git_repository *repo;
    git_packbuilder *pb;
    char path[4096];
};

/* Inserts every object of tree `now` (at path, of length len) that differs from its version in
 * `before` (NULL: every object), with its path, so the packbuilder deltas each file and tree
 * against the other versions of the same path. Walking the two trees side by side in git's order
 * costs one comparison per entry; unchanged subtrees are never opened. */
static int insert_changed(struct changed_walk *w, const git_tree *before, const git_tree *now,
                          size_t len)
{
    size_t n = git_tree_entrycount(now), m = before ? git_tree_entrycount(before) : 0, j = 0;
    for (size_t i = 0; i < n; i++) {
        const git_tree_entry *e = git_tree_entry_byindex(now, i), *old = NULL;
        while (j < m) {
            const git_tree_entry *o = git_tree_entry_byindex(before, j);
            int c = entry_cmp(o, e);
            if (c > 0)
                break;
            j++;
            if (c == 0) {
                old = o;
                break;
            }
        }
        if (old && git_oid_equal(git_tree_entry_id(old), git_tree_entry_id(e)))
            continue;
        git_object_t type = git_tree_entry_type(e);
        if (type != GIT_OBJECT_TREE && type != GIT_OBJECT_BLOB)
            continue; /* a submodule's commit lives elsewhere */
        const char *name = git_tree_entry_name(e);
        size_t nlen = strlen(name), sub = len + (len ? 1 : 0) + nlen;
        if (sub >= sizeof(w->path))
            return twin_error(TWIN_ELIMIT, "a path in the history is too long");
        if (len)
            w->path[len] = '/';
        memcpy(w->path + len + (len ? 1 : 0), name, nlen + 1);
        if (git_packbuilder_insert(w->pb, git_tree_entry_id(e), w->path) < 0)
            return twin_error_git("building a pack");
        if (type == GIT_OBJECT_TREE) {
            git_tree *t = NULL, *ot = NULL;
            int rc = 0;
            if (git_tree_lookup(&t, w->repo, git_tree_entry_id(e)) < 0 ||
                (old && git_tree_entry_type(old) == GIT_OBJECT_TREE &&
                 git_tree_lookup(&ot, w->repo, git_tree_entry_id(old)) < 0))
                rc = twin_error_git("reading a tree for a pack");
            else
                rc = insert_changed(w, ot, t, sub);
            git_tree_free(ot);
            git_tree_free(t);
            if (rc)
                return rc;
        }
        w->path[len] = '\0';
    }
    return 0;
}

/* Inserts a commit, its tree, and whatever its tree changed against its first parent's. Every
 * commit of the set is inserted, and a first parent outside the set is one the receiver holds, so
 * by induction the receiver ends up with every object of every commit. */
static int insert_commit(struct changed_walk *w, const git_oid *id)
{
    git_commit *c = NULL, *parent = NULL;
    git_tree *tree = NULL, *before = NULL;
    int rc = 0;
    if (git_commit_lookup(&c, w->repo, id) < 0 || git_commit_tree(&tree, c) < 0 ||
        (git_commit_parentcount(c) > 0 &&
         (git_commit_parent(&parent, c, 0) < 0 || git_commit_tree(&before, parent) < 0))) {
        rc = twin_error_git("reading a commit for a pack");
        goto done;
    }
    if (git_packbuilder_insert(w->pb, id, NULL) < 0 ||
        (!(before && git_oid_equal(git_tree_id(before), git_tree_id(tree))) &&
         git_packbuilder_insert(w->pb, git_tree_id(tree), "") < 0)) {
        rc = twin_error_git("building a pack");
        goto done;
    }
    w->path[0] = '\0';
    rc = insert_changed(w, before, tree, 0);
done:
    git_tree_free(before);
    git_tree_free(tree);
    git_commit_free(parent);
    git_commit_free(c);
    return rc;
}

int twin_pack_build(size_t *commits, git_repository *repo, const git_oid *wants, size_t nwants,
                    const git_oid *haves, size_t nhaves, twin_pack_sink sink, void *ctx)
{
    git_revwalk *walk = NULL;
    struct changed_walk w = {.repo = repo};
    git_oid id;
    int rc;
    *commits = 0;
    if ((rc = setup_walk(&walk, repo, wants, nwants, haves, nhaves)))
        return rc;
    if (git_packbuilder_new(&w.pb, repo) < 0) {
        rc = twin_error_git("building a pack");
        goto cleanup;
    }
    git_packbuilder_set_threads(w.pb, 0); /* one per core for the delta search */
    while ((rc = git_revwalk_next(&id, walk)) == 0) {
        (*commits)++;
        if ((rc = insert_commit(&w, &id)))
            goto cleanup;
    }
    if (rc != GIT_ITEROVER) {
        rc = twin_error_git("walking the commits for a pack");
        goto cleanup;
    }
    rc = 0;
    struct sink_ctx s = {sink, ctx, 0};
    if (git_packbuilder_foreach(w.pb, forward_chunk, &s) < 0)
        rc = s.rc ? s.rc : twin_error_git("building a pack");
cleanup:
    git_packbuilder_free(w.pb);
    git_revwalk_free(walk);
    return rc;
}

/* ---- receiving ------------------------------------------------------------------------------ */

struct twin_quarantine {
    git_repository *repo;
    char dir[4096];
    git_indexer *indexer;
    git_indexer_progress progress;
    size_t received;
    char name[GIT_OID_HEXSZ + 1];
    char loose[4200];
    bool finished, accepted;
    git_odb *view_odb;
    git_repository *view;
};

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

int twin_quarantine_new(twin_quarantine **out, git_repository *repo)
{
    *out = NULL;
    twin_quarantine *q = calloc(1, sizeof(*q));
    if (!q)
        return twin_error(TWIN_ERROR, "out of memory");
    q->repo = repo;
    snprintf(q->dir, sizeof(q->dir), "%sobjects/incoming-XXXXXX", git_repository_path(repo));
    if (!mkdtemp(q->dir)) {
        int rc =
            twin_error(TWIN_ERROR, "cannot create a quarantine directory: %s", strerror(errno));
        free(q);
        return rc;
    }
    git_indexer_options opts = GIT_INDEXER_OPTIONS_INIT;
    opts.verify = 0;
    if (git_indexer_new(&q->indexer, q->dir, 0, NULL, &opts) < 0) {
        int rc = twin_error_git("starting to receive a pack");
        twin_quarantine_free(q);
        return rc;
    }
    *out = q;
    return 0;
}

int twin_quarantine_append(twin_quarantine *q, const void *data, size_t len)
{
    if (q->finished)
        return twin_error(TWIN_EINVALID, "pack data after the pack was finished");
    if (len > TWIN_PACK_MAX_BYTES - q->received)
        return twin_error(TWIN_ELIMIT, "received pack is larger than %zu bytes",
                          (size_t)TWIN_PACK_MAX_BYTES);
    q->received += len;
    if (git_indexer_append(q->indexer, data, len, &q->progress) < 0)
        return twin_error(TWIN_EINVALID, "received bytes are not a valid pack: %s",
                          git_error_last() ? git_error_last()->message : "indexer error");
    if (q->progress.total_objects > TWIN_PACK_MAX_OBJECTS)
        return twin_error(TWIN_ELIMIT, "received pack declares more than %zu objects",
                          (size_t)TWIN_PACK_MAX_OBJECTS);
    return 0;
}

int twin_quarantine_finish(twin_quarantine *q)
{
    char objects[4096], idx[4200];
    git_odb_backend *pack = NULL;
    if (q->finished)
        return 0;
    if (git_indexer_commit(q->indexer, &q->progress) < 0)
        return twin_error(TWIN_EINVALID, "received pack is incomplete or corrupt: %s",
                          git_error_last() ? git_error_last()->message : "indexer error");
    q->finished = true;
    snprintf(q->name, sizeof(q->name), "%s", git_indexer_name(q->indexer));
    snprintf(objects, sizeof(objects), "%sobjects", git_repository_path(q->repo));
    snprintf(idx, sizeof(idx), "%s/pack-%s.idx", q->dir, q->name);
    if (git_odb_open(&q->view_odb, objects) < 0 || git_odb_backend_one_pack(&pack, idx) < 0)
        return twin_error_git("opening the quarantined pack");
    if (git_odb_add_backend(q->view_odb, pack, 1) < 0) {
        pack->free(pack); /* not owned by the odb when adding failed */
        return twin_error_git("opening the quarantined pack");
    }
    /* Objects made while checking (re-derived merges, a received merge commit) are written here,
     * so they too stay out of the store until the whole set is accepted. */
    git_odb_backend *loose = NULL;
    snprintf(q->loose, sizeof(q->loose), "%s/loose", q->dir);
    if (mkdir(q->loose, 0700) != 0 || git_odb_backend_loose(&loose, q->loose, -1, 0, 0, 0) < 0)
        return twin_error_git("opening the quarantine's object directory");
    if (git_odb_add_backend(q->view_odb, loose, 10) < 0) {
        loose->free(loose);
        return twin_error_git("opening the quarantine's object directory");
    }
    if (git_repository_wrap_odb(&q->view, q->view_odb) < 0)
        return twin_error_git("opening the quarantined pack");
    return 0;
}

git_repository *twin_quarantine_view(twin_quarantine *q)
{
    return q->view;
}

int twin_quarantine_check(size_t *checked, size_t *bad, git_oid *first_bad, char *reason,
                          size_t reason_size, twin_quarantine *q, const git_oid *tip,
                          const git_oid *base)
{
    git_revwalk *walk = NULL;
    twin_check_cache *cache = NULL;
    git_oid id;
    int rc = 0;
    *checked = *bad = 0;
    reason[0] = '\0';
    if (!q->view)
        return twin_error(TWIN_EINVALID, "the pack is not finished");
    if ((rc = twin_check_cache_new(&cache)))
        return rc;
    if (git_revwalk_new(&walk, q->view) < 0 ||
        git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL | GIT_SORT_REVERSE) < 0) {
        rc = twin_error_git("walking received commits");
        goto cleanup;
    }
    if (git_revwalk_push(walk, tip) < 0) {
        rc = twin_error(TWIN_EINVALID, "the peer's head %s is not in what it sent",
                        git_oid_tostr_s(tip));
        goto cleanup;
    }
    if (base && git_revwalk_hide(walk, base) < 0) {
        rc = twin_error_git("walking received commits");
        goto cleanup;
    }
    while ((rc = git_revwalk_next(&id, walk)) == 0) {
        struct twin_check chk;
        (*checked)++;
        if ((rc = twin_check_commit(&chk, q->view, &id, cache))) {
            rc = twin_error_wrap(rc, "checking received commit %s", git_oid_tostr_s(&id));
            goto cleanup;
        }
        if (!chk.valid) {
            if (*bad == 0) {
                *first_bad = id;
                snprintf(reason, reason_size, "%s", chk.reason);
            }
            (*bad)++;
        }
    }
    if (rc == GIT_ITEROVER)
        rc = 0;
    else
        rc = twin_error(TWIN_EINVALID, "received history is incomplete: %s",
                        git_error_last() ? git_error_last()->message : "a commit is missing");
cleanup:
    twin_check_cache_free(cache);
    git_revwalk_free(walk);
    return rc;
}

static int sync_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

static bool is_hex_name(const char *name, size_t len)
{
    if (strlen(name) != len)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
            return false;
    return true;
}

/* Moves the quarantine's loose objects (objects/xx/yyyy...) into the store's. */
static int move_loose(twin_quarantine *q)
{
    char objects[4200];
    snprintf(objects, sizeof(objects), "%sobjects", git_repository_path(q->repo));
    DIR *top = opendir(q->loose);
    if (!top)
        return 0;
    struct dirent *fan;
    int rc = 0;
    while (rc == 0 && (fan = readdir(top))) {
        if (!is_hex_name(fan->d_name, 2))
            continue;
        char from_dir[4300], to_dir[4300];
        snprintf(from_dir, sizeof(from_dir), "%s/%s", q->loose, fan->d_name);
        snprintf(to_dir, sizeof(to_dir), "%s/%s", objects, fan->d_name);
        if (mkdir(to_dir, 0755) != 0 && errno != EEXIST) {
            rc = twin_error(TWIN_ERROR, "cannot create %s: %s", to_dir, strerror(errno));
            break;
        }
        DIR *d = opendir(from_dir);
        struct dirent *e;
        while (rc == 0 && d && (e = readdir(d))) {
            if (!is_hex_name(e->d_name, GIT_OID_HEXSZ - 2))
                continue; /* a temporary file of a write that did not finish */
            char from[4400], to[4400];
            snprintf(from, sizeof(from), "%s/%s", from_dir, e->d_name);
            snprintf(to, sizeof(to), "%s/%s", to_dir, e->d_name);
            if (sync_path(from) != 0 || rename(from, to) != 0)
                rc = twin_error(TWIN_ERROR, "cannot move an object into the store: %s",
                                strerror(errno));
        }
        if (d)
            closedir(d);
        if (rc == 0 && sync_path(to_dir) != 0)
            rc = twin_error(TWIN_ERROR, "cannot sync %s: %s", to_dir, strerror(errno));
    }
    closedir(top);
    return rc;
}

int twin_quarantine_accept(twin_quarantine *q)
{
    char from[4200], to[4200], packdir[4096];
    const char *exts[2] = {"pack", "idx"}; /* the index last: a pack counts once it is indexed */
    if (!q->finished)
        return twin_error(TWIN_EINVALID, "the pack is not finished");
    if (q->accepted)
        return 0;
    snprintf(packdir, sizeof(packdir), "%sobjects/pack", git_repository_path(q->repo));
    for (int i = 0; i < 2; i++) {
        snprintf(from, sizeof(from), "%s/pack-%s.%s", q->dir, q->name, exts[i]);
        snprintf(to, sizeof(to), "%s/pack-%s.%s", packdir, q->name, exts[i]);
        if (sync_path(from) != 0 || rename(from, to) != 0)
            return twin_error(TWIN_ERROR, "cannot move the received pack into the store: %s",
                              strerror(errno));
    }
    if (sync_path(packdir) != 0)
        return twin_error(TWIN_ERROR, "cannot sync the pack directory: %s", strerror(errno));
    int rc = move_loose(q);
    if (rc)
        return rc;
    q->accepted = true;
    git_odb *odb = NULL;
    if (git_repository_odb(&odb, q->repo) < 0 || git_odb_refresh(odb) < 0) {
        git_odb_free(odb);
        return twin_error_git("refreshing the object store");
    }
    git_odb_free(odb);
    return 0;
}

void twin_quarantine_free(twin_quarantine *q)
{
    if (!q)
        return;
    git_repository_free(q->view);
    git_odb_free(q->view_odb);
    git_indexer_free(q->indexer);
    if (q->dir[0])
        nftw(q->dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
    free(q);
}

void twin_quarantine_sweep(git_repository *repo)
{
    char objects[4096];
    snprintf(objects, sizeof(objects), "%sobjects", git_repository_path(repo));
    DIR *d = opendir(objects);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (strncmp(e->d_name, "incoming-", 9) != 0)
            continue;
        char path[4400];
        snprintf(path, sizeof(path), "%s/%s", objects, e->d_name);
        nftw(path, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
    }
    if (d)
        closedir(d);
}
