/*
 * git's formats, as twin writes and reads them itself: one place for each rule that twin's own
 * writers and readers (the batch writer, the pack writer and reader, the indexer, the pack
 * builder, the tree diff) must agree on with git.
 *
 * - Trees: an entry is "<mode> <name>\0<20-byte id>", the mode in octal without leading zeros;
 *   entries are in git's order, by name as bytes, a directory's name compared as if it ended
 *   in '/'.
 * - Packs: a header of 12 bytes ("PACK", the version, the number of entries, big-endian), the
 *   entries, then the SHA-1 of all that. An entry's header gives its type and size: the type in
 *   bits 4-6 of the first byte, the size's low 4 bits below it, its other bits 7 a byte after,
 *   least significant first, bit 7 of each byte saying that another follows. A delta against an
 *   earlier entry (OFS_DELTA) then gives the distance back to its base, 7 bits a byte, most
 *   significant first, each byte that is followed adding one (so that no distance has two
 *   encodings); a delta against an object named by id (REF_DELTA), the base's 20-byte id.
 * - Deltas: the base's size and the result's, each 7 bits a byte, least significant first, then
 *   instructions: a copy from the base (bit 7 set; bits 0-3 say which of the offset's 4 bytes
 *   follow, bits 4-6 which of the size's 3, least significant first; a size of 0 means 65536),
 *   or an insert of the 1-127 bytes that follow (the byte is their number; 0 is reserved).
 * - Commits, as twin writes them: "tree <id>", a "parent <id>" line for each parent, "author" and
 *   "committer" lines ("<name> <<email>> <seconds since the epoch> +0000"), a blank line, the
 *   message. A signature goes in a "gpgsig" header line after the committer's, each of its lines
 *   after the first indented by one space: the bytes git and libgit2 make of the same commit.
 */
#ifndef TWIN_GITFMT_H
#define TWIN_GITFMT_H

#include <git2.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
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

/* The modes of the two kinds of entry twin writes, as a tree holds them. */
#define TWIN_GITFMT_MODE_TREE "40000"
#define TWIN_GITFMT_MODE_BLOB "100644"

/* The most bytes a tree entry whose name has n bytes takes: a mode of 32 bits in octal (11
 * digits), a space, the name, its NUL, the id. */
#define TWIN_GITFMT_TREE_ENTRY_MAX(n) (11 + 1 + (n) + 1 + 20)

/* Writes a tree entry of the given mode (git_filemode_t), name and 20-byte id: the number of
 * bytes written, TWIN_GITFMT_TREE_ENTRY_MAX(name_len) at most. */
size_t twin_gitfmt_tree_entry_put(unsigned char *out, uint32_t mode, const char *name,
                                  size_t name_len, const unsigned char *id);

/* The length of the stored tree entry at p, of at most left bytes: up to and with its id; 0 when
 * the bytes end before its id does. */
size_t twin_gitfmt_tree_entry_len(const unsigned char *p, size_t left);

/* git's order of two stored tree entries (each checked whole by twin_gitfmt_tree_entry_len): as
 * twin_gitfmt_tree_order, a mode starting with '4' (40000) taken for a directory; 0 when either
 * has no mode. */
int twin_gitfmt_tree_entry_cmp(const unsigned char *a, const unsigned char *b);

/* ---- packs ---- */

#define TWIN_GITFMT_PACK_HEADER 12
/* The longest entry header: a size of 64 bits (10 bytes), then a base's id (20). */
#define TWIN_GITFMT_ENTRY_HEADER_MAX 30

/* The entry types of a pack: those of the objects (git_object_t's values), and the deltas. */
enum { TWIN_GITFMT_OFS_DELTA = 6, TWIN_GITFMT_REF_DELTA = 7 };

/* Writes the header of a version-2 pack of count entries. */
void twin_gitfmt_pack_header_put(unsigned char out[TWIN_GITFMT_PACK_HEADER], uint32_t count);

/* Reads a pack's header: whether it starts with "PACK"; *version and *count are read either way
 * (which versions to take is the reader's choice). */
bool twin_gitfmt_pack_header_get(uint32_t *version, uint32_t *count,
                                 const unsigned char b[TWIN_GITFMT_PACK_HEADER]);

/* Writes the type and size of an entry: the number of bytes written, 10 at most. */
size_t twin_gitfmt_entry_header_put(unsigned char *out, int type, uint64_t size);

/* Writes an OFS_DELTA's distance back to its base (> 0): the number of bytes written, 10 at
 * most. */
size_t twin_gitfmt_ofs_put(unsigned char *out, uint64_t distance);

/* An entry's header, as read. */
struct twin_gitfmt_entry {
    int type;                     /* an object's type (1-4), or TWIN_GITFMT_*_DELTA */
    uint64_t size;                /* of the object, or of the delta's instructions */
    uint64_t distance;            /* OFS_DELTA: how far before the entry its base starts */
    const unsigned char *base_id; /* REF_DELTA: the base's id, within the bytes read */
    int part;                     /* where reading stopped, when it did: TWIN_GITFMT_AT_* */
};

enum { TWIN_GITFMT_AT_SIZE = 1, TWIN_GITFMT_AT_BASE, TWIN_GITFMT_AT_TYPE };

/* Reads the header of the entry that starts at b (len bytes at most): its length; 0 when the
 * bytes end first (e->part: in the type and size, or in the base); -1 when it is malformed
 * (e->part: a size, or a distance, that needs more than 64 bits, or a type that is neither an
 * object's nor a delta's). A distance is not checked against where the entry lies: 0, or more
 * than the bytes before it, names no base, which the caller says as it sees fit. */
int twin_gitfmt_entry_parse(struct twin_gitfmt_entry *e, const unsigned char *b, size_t len);

/* ---- deltas ---- */

#define TWIN_GITFMT_DELTA_COPY_MAX   0xffffff /* the largest size a copy instruction holds */
#define TWIN_GITFMT_DELTA_INSERT_MAX 127      /* the most bytes one insert instruction holds */

/* Writes a delta's base or result size: the number of bytes written, 10 at most. */
size_t twin_gitfmt_delta_size_put(unsigned char *out, uint64_t size);

/* Writes an instruction to copy size bytes (1 to TWIN_GITFMT_DELTA_COPY_MAX) from offset (less
 * than 2^32) of the base: the number of bytes written, 8 at most. */
size_t twin_gitfmt_delta_copy_put(unsigned char *out, uint64_t offset, size_t size);

/* Writes an instruction to insert the n bytes (1 to TWIN_GITFMT_DELTA_INSERT_MAX) at data: n + 1
 * bytes. */
size_t twin_gitfmt_delta_insert_put(unsigned char *out, const unsigned char *data, size_t n);

/* The sizes a delta starts with (its base's, then its result's), and where its instructions
 * begin. 0, or -1 when the sizes are malformed. */
int twin_gitfmt_delta_sizes(size_t *base_size, size_t *result_size, size_t *start,
                            const unsigned char *d, size_t len);

/* Whether instructions of len bytes could make a result of result_size bytes out of a base of
 * base_size: each takes a byte at least, and gives at most the base (a copy, 16 MiB at most) or a
 * byte for each byte it takes (an insert). A delta that says more is malformed, which this finds
 * before memory is taken for its result. */
bool twin_gitfmt_delta_can_make(size_t result_size, size_t base_size, size_t len);

/* Applies the instructions of delta d (from start on) to base, filling out with exactly
 * result_size bytes. 0, or -1 when an instruction is malformed, reaches outside base or past
 * result_size, or the result falls short of it. */
int twin_gitfmt_delta_apply(unsigned char *out, size_t result_size, const unsigned char *base,
                            size_t base_size, const unsigned char *d, size_t len, size_t start);

/* ---- commits ---- */

/* The text of an unsigned commit of tree and parents, by name <email> as author and committer at
 * when, with message, in a malloc'd buffer (*out, *len bytes, NUL-terminated after them). name
 * and email must be one line each, without '<' or '>' (git_signature_new checks them). */
int twin_gitfmt_commit_text(char **out, size_t *len, const git_oid *tree, const git_oid *parents,
                            size_t nparents, const char *name, const char *email, int64_t when,
                            const char *message);

/* The commit of text signed with sig: sig's lines in a gpgsig header after the committer line,
 * in a malloc'd buffer (*out, *len bytes, NUL-terminated after them). TWIN_EINVALID when text
 * has no header ending in a blank line. */
int twin_gitfmt_commit_sign(char **out, size_t *len, const char *text, size_t text_len,
                            const char *sig, size_t sig_len);

#endif
