/* Reading git objects out of a node's store through libgit2: a tree, the entry at a path, a blob of
 * bounded size. An object that cannot be read is an error that names it and the path it was
 * reached by, never an empty tree: the store is damaged, or the object is missing. */
#include "twin/tree.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "twin/error.h"
#include "twin/record.h"

/* An object that cannot be read: named with the path it was reached by and libgit2's reason. */
static int unreadable(const char *kind, const git_oid *id, const char *path)
{
    const git_error *e = git_error_last();
    char hex[GIT_OID_HEXSZ + 1];
    git_oid_tostr(hex, sizeof(hex), id);
    return twin_error(TWIN_ERROR, "%s %s (%s) cannot be read, the store is damaged: %s", kind, hex,
                      path, e && e->message ? e->message : "libgit2 error");
}

int twin_tree_open(git_tree **out, git_repository *repo, const git_oid *id, const char *path)
{
    *out = NULL;
    return git_tree_lookup(out, repo, id) < 0 ? unreadable("tree", id, path) : 0;
}

int twin_tree_open_dir(git_tree **out, git_repository *repo, const git_tree *root, const char *path)
{
    git_tree_entry *e = NULL;
    *out = NULL;
    int rc = twin_tree_entry_at(&e, repo, root, path);
    if (rc == TWIN_ENOTFOUND) {
        twin_error_clear();
        return 0;
    }
    if (rc == 0 && git_tree_entry_type(e) != GIT_OBJECT_TREE)
        rc = twin_error(TWIN_EINVALID, "%s: not a directory", path);
    if (rc == 0)
        rc = twin_tree_open(out, repo, git_tree_entry_id(e), path);
    git_tree_entry_free(e);
    return rc;
}

int twin_tree_entry_at(git_tree_entry **out, git_repository *repo, const git_tree *root,
                       const char *path)
{
    const git_tree *t = root;
    git_tree *owned = NULL;
    const char *p = path;
    int rc;
    *out = NULL;
    for (;;) {
        const char *slash = strchr(p, '/');
        size_t len = slash ? (size_t)(slash - p) : strlen(p);
        char name[256];
        const git_tree_entry *e = NULL;
        if (len > 0 && len < sizeof(name)) {
            memcpy(name, p, len);
            name[len] = '\0';
            e = git_tree_entry_byname(t, name);
        }
        if (!e || (slash && git_tree_entry_type(e) != GIT_OBJECT_TREE)) {
            rc = twin_error(TWIN_ENOTFOUND, "%s: not found", path);
            break;
        }
        if (!slash) {
            rc = git_tree_entry_dup(out, e) < 0 ? twin_error(TWIN_ERROR, "out of memory") : 0;
            break;
        }
        char prefix[4096];
        git_tree *sub = NULL;
        snprintf(prefix, sizeof(prefix), "%.*s", (int)(slash - path), path);
        if ((rc = twin_tree_open(&sub, repo, git_tree_entry_id(e), prefix)))
            break;
        git_tree_free(owned);
        t = owned = sub;
        p = slash + 1;
    }
    git_tree_free(owned);
    return rc;
}

int twin_tree_read_blob(char **out, size_t *out_len, git_repository *repo, const git_oid *id,
                        size_t max, const char *what)
{
    git_blob *blob = NULL;
    *out = NULL;
    if (git_blob_lookup(&blob, repo, id) < 0)
        return unreadable("blob", id, what);
    int rc = 0;
    size_t n = (size_t)git_blob_rawsize(blob);
    char *buf = NULL;
    if (n > max)
        rc = twin_error(TWIN_ELIMIT, "%s: larger than %zu bytes", what, max);
    else if (!(buf = malloc(n + 1)))
        rc = twin_error(TWIN_ERROR, "out of memory");
    if (rc == 0) {
        memcpy(buf, git_blob_rawcontent(blob), n);
        buf[n] = '\0';
        *out = buf;
        *out_len = n;
    }
    git_blob_free(blob);
    return rc;
}

int twin_tree_read(char **out, size_t *out_len, git_repository *repo, const git_tree *root,
                   const char *path)
{
    *out = NULL;
    git_tree_entry *e = NULL;
    int rc = twin_tree_entry_at(&e, repo, root, path);
    if (rc)
        return rc;
    rc = git_tree_entry_type(e) != GIT_OBJECT_BLOB
             ? twin_error(TWIN_EINVALID, "%s: not a file", path)
             : twin_tree_read_blob(out, out_len, repo, git_tree_entry_id(e),
                                   TWIN_RECORD_FILE_MAX_BYTES, path);
    git_tree_entry_free(e);
    return rc;
}
