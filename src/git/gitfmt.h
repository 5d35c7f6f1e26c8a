/*
 * git's formats, as twin writes and reads them itself: one place for each rule that twin's own
 * writers and readers (the batch writer, the pack writer and reader, the indexer, the pack
 * builder, the tree diff) must agree on with git.
 *
 * - Trees: an entry is "<mode> <name>\0<20-byte id>", the mode in octal without leading zeros;
 *   entries are in git's order, by name as bytes, a directory's name compared as if it ended
 *   in '/'.
 */
#ifndef TWIN_GITFMT_H
#define TWIN_GITFMT_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

/* git's order of two tree entries, given their names (not NUL-terminated: their lengths count)
 * and whether each is a directory: <0 when a comes first, 0 when they are the same entry name,
 * >0 when b does. Inline: the tree diff compares entries in its innermost loops. */
static inline int twin_gitfmt_tree_order(const char *a, size_t alen, bool adir, const char *b,
                                         size_t blen, bool bdir)
{
    size_t n = alen < blen ? alen : blen;
    int c = memcmp(a, b, n);
    if (c)
        return c;
    unsigned ca = alen > n ? (unsigned char)a[n] : adir ? '/' : 0;
    unsigned cb = blen > n ? (unsigned char)b[n] : bdir ? '/' : 0;
    return (int)ca - (int)cb;
}

/* The length of the stored tree entry at p, of at most left bytes: up to and with its id; 0 when
 * the bytes end before its id does. */
size_t twin_gitfmt_tree_entry_len(const unsigned char *p, size_t left);

/* git's order of two stored tree entries (each checked whole by twin_gitfmt_tree_entry_len): as
 * twin_gitfmt_tree_order, a mode starting with '4' (40000) taken for a directory; 0 when either
 * has no mode. */
int twin_gitfmt_tree_entry_cmp(const unsigned char *a, const unsigned char *b);

#endif
