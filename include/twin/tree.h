/*
 * Reading git objects out of a node's store: a tree, the entry at a path, a blob of bounded size.
 * An object that cannot be read is an error that names it, never an empty tree or file.
 */
#ifndef TWIN_TREE_H
#define TWIN_TREE_H

#include <git2.h>
#include <stddef.h>

/* Reads a blob of at most max bytes into a malloc'd, NUL-terminated buffer. what names it in
 * errors, with its id. TWIN_ELIMIT when it is larger. */
int twin_tree_read_blob(char **out, size_t *out_len, git_repository *repo, const git_oid *id,
                        size_t max, const char *what);

/* Reads the tree id, reached by path (in messages), into *out. A tree that cannot be read is an
 * error that names it, never an empty tree: the store is damaged, or the object is missing. */
int twin_tree_open(git_tree **out, git_repository *repo, const git_oid *id, const char *path);

/* The entry at path ('/'-separated) under root: 0 with *out (free it with git_tree_entry_free);
 * TWIN_ENOTFOUND when a tree on the way has no such entry or holds a file where a directory
 * would be; another code, naming the tree, when a tree on the way cannot be read. */
int twin_tree_entry_at(git_tree_entry **out, git_repository *repo, const git_tree *root,
                       const char *path);

/* The directory at path under root: 0 with *out (free it), or 0 with *out NULL when there is
 * nothing at path; TWIN_EINVALID when a file is there; another code, naming the tree, when a tree
 * cannot be read. For records/TYPE, which holds no tree while no record of the type exists. */
int twin_tree_open_dir(git_tree **out, git_repository *repo, const git_tree *root,
                       const char *path);

/* Reads the file at path in a tree, of at most TWIN_RECORD_FILE_MAX_BYTES; TWIN_ENOTFOUND when
 * absent. *out is malloc'd, NUL-ended. */
int twin_tree_read(char **out, size_t *out_len, git_repository *repo, const git_tree *root,
                   const char *path);

#endif
