#include "treediff.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "twin/error.h"

static int add_change(struct twin_treediff *w, const char *path, const git_tree_entry *o,
                      const git_tree_entry *n)
{
    if (w->count == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 16;
        if (cap > TWIN_TREEDIFF_MAX_CHANGES) {
            snprintf(w->fault, sizeof(w->fault), "changes more than %d files",
                     TWIN_TREEDIFF_MAX_CHANGES);
            return 1;
        }
        struct twin_change *c = realloc(w->changes, cap * sizeof(*c));
        if (!c)
            return twin_error(TWIN_ERROR, "out of memory");
        w->changes = c;
        w->cap = cap;
    }
    struct twin_change *c = &w->changes[w->count++];
    memset(c, 0, sizeof(*c));
    snprintf(c->path, sizeof(c->path), "%s", path);
    if (o) {
        c->has_old = true;
        c->old_id = *git_tree_entry_id(o);
    }
    if (n) {
        c->has_new = true;
        c->new_id = *git_tree_entry_id(n);
    }
    return 0;
}

static int diff_trees(struct twin_treediff *w, const git_tree *old_tree, const git_tree *new_tree,
                      const char *prefix, int depth);

static int diff_entry(struct twin_treediff *w, const git_tree_entry *o, const git_tree_entry *n,
                      const char *prefix, int depth)
{
    char path[512];
    const char *name = git_tree_entry_name(o ? o : n);
    if ((size_t)snprintf(path, sizeof(path), "%s%s", prefix, name) >= sizeof(path)) {
        snprintf(w->fault, sizeof(w->fault), "path too long under %s", prefix);
        return 1;
    }
    git_filemode_t om = o ? git_tree_entry_filemode(o) : 0, nm = n ? git_tree_entry_filemode(n) : 0;
    if ((o && om != GIT_FILEMODE_TREE && om != GIT_FILEMODE_BLOB) ||
        (n && nm != GIT_FILEMODE_TREE && nm != GIT_FILEMODE_BLOB)) {
        snprintf(w->fault, sizeof(w->fault), "%s: only plain files and directories are allowed",
                 path);
        return 1;
    }
    if (o && n && om != nm) {
        snprintf(w->fault, sizeof(w->fault), "%s: changes between file and directory", path);
        return 1;
    }
    if ((o ? om : nm) == GIT_FILEMODE_TREE) {
        git_tree *ot = NULL, *nt = NULL;
        int rc = 0;
        if ((o && git_tree_lookup(&ot, w->repo, git_tree_entry_id(o)) < 0) ||
            (n && git_tree_lookup(&nt, w->repo, git_tree_entry_id(n)) < 0))
            rc = twin_error_git(path);
        else {
            char sub[520];
            snprintf(sub, sizeof(sub), "%s/", path);
            rc = diff_trees(w, ot, nt, sub, depth + 1);
        }
        git_tree_free(ot);
        git_tree_free(nt);
        return rc;
    }
    return add_change(w, path, o, n);
}

static int diff_trees(struct twin_treediff *w, const git_tree *old_tree, const git_tree *new_tree,
                      const char *prefix, int depth)
{
    if (depth > TWIN_TREEDIFF_MAX_DEPTH) {
        snprintf(w->fault, sizeof(w->fault), "%s: directories nested too deep", prefix);
        return 1;
    }
    size_t nn = new_tree ? git_tree_entrycount(new_tree) : 0;
    size_t on = old_tree ? git_tree_entrycount(old_tree) : 0;
    int rc;
    for (size_t i = 0; i < nn; i++) {
        const git_tree_entry *n = git_tree_entry_byindex(new_tree, i);
        const git_tree_entry *o =
            old_tree ? git_tree_entry_byname(old_tree, git_tree_entry_name(n)) : NULL;
        if (o && git_oid_equal(git_tree_entry_id(o), git_tree_entry_id(n)) &&
            git_tree_entry_filemode(o) == git_tree_entry_filemode(n))
            continue;
        if ((rc = diff_entry(w, o, n, prefix, depth)))
            return rc;
    }
    for (size_t i = 0; i < on; i++) {
        const git_tree_entry *o = git_tree_entry_byindex(old_tree, i);
        if (new_tree && git_tree_entry_byname(new_tree, git_tree_entry_name(o)))
            continue;
        if ((rc = diff_entry(w, o, NULL, prefix, depth)))
            return rc;
    }
    return 0;
}

int twin_treediff_run(struct twin_treediff *d, const git_tree *old_tree, const git_tree *new_tree)
{
    return diff_trees(d, old_tree, new_tree, "", 0);
}

void twin_treediff_clear(struct twin_treediff *d)
{
    free(d->changes);
    d->changes = NULL;
    d->count = d->cap = 0;
    d->fault[0] = '\0';
}

bool twin_commit_changed_path(const git_commit *c, const char *path)
{
    git_tree *tree = NULL, *ptree = NULL;
    git_commit *parent = NULL;
    git_tree_entry *a = NULL, *b = NULL;
    bool changed = false;
    if (git_commit_tree(&tree, c) < 0)
        return false;
    int has = git_tree_entry_bypath(&a, tree, path) == 0;
    unsigned int np = git_commit_parentcount(c);
    if (np == 0) {
        changed = has;
    } else {
        /* Changed when it differs from every parent (a merge that takes one side unchanged is
         * not a change of this record). */
        changed = true;
        for (unsigned int i = 0; i < np && changed; i++) {
            if (git_commit_parent(&parent, c, i) == 0 && git_commit_tree(&ptree, parent) == 0) {
                int phas = git_tree_entry_bypath(&b, ptree, path) == 0;
                if (phas == has &&
                    (!has || git_oid_equal(git_tree_entry_id(a), git_tree_entry_id(b))))
                    changed = false;
            }
            git_tree_entry_free(b);
            b = NULL;
            git_tree_free(ptree);
            ptree = NULL;
            git_commit_free(parent);
            parent = NULL;
        }
    }
    git_tree_entry_free(a);
    git_tree_free(tree);
    return changed;
}
