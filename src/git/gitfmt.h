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
 *   encodings); a delta against an object named by id (REF_DELTA), the base's 20-byte id. The
 *   entry's data (the object, or the delta's instructions) follows as a zlib stream that inflates
 *   to exactly the size its header states, checked to its end (its adler32) as git reads it.
 *   twin stores most data in stored blocks, zlib's uncompressed form: a zlib header (78 01),
 *   blocks of at most 65535 bytes, each after a byte that says whether it is the last and its
 *   length and the length's complement (16 bits each, least significant first), then the
 *   adler32 of the data, most significant first: the bytes zlib makes at level 0.
 * - Pack indexes (version 2): "\377tOc" and the version (2), 4 bytes each; a fan-out of 256
 *   counts, entry b the number of objects whose id's first byte is b or less, its last entry the
 *   number of objects; their ids, in order, no id twice; a CRC-32 of each one's stored bytes (its
 *   entry header and zlib stream); each one's offset in the pack in 4 bytes, or, for offsets of
 *   2^31 and more, bit 31 set and the others the position in a table of 8-byte offsets that
 *   follows; the pack's checksum; the SHA-1 of all of the index before it. All big-endian. A
 *   version-1 index (which git still reads, and twin's check of a store with it) has no magic and
 *   no version: the fan-out, then for each object its 4-byte offset and id, then the trailer.
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

/* ---- entry data: zlib streams ---- */

/* Where the pieces of a written entry go, in order: 0, or non-zero to stop the writing. */
typedef int (*twin_gitfmt_put_fn)(const void *p, size_t n, void *ctx);

/* The bytes of the zlib stream of stored blocks that holds len bytes. */
static inline size_t twin_gitfmt_stored_len(size_t len)
{
    return 2 + 5 * (len ? (len + 0xfffe) / 0xffff : 1) + len + 4;
}

/* Writes an entry whose data is stored: its header (type, len; for an OFS_DELTA, distance back
 * to its base) and the zlib stream of stored blocks holding the len bytes of data, handing the
 * pieces to put in order (data in place, never copied: the bytes of the header and of each
 * block's framing are fewer than 32 at a time). 0, or put's first non-zero return. */
int twin_gitfmt_entry_stored_write(int type, uint64_t distance, const unsigned char *data,
                                   size_t len, twin_gitfmt_put_fn put, void *ctx);

/* Writes an entry's header with, for an OFS_DELTA, the distance back to its base: the number of
 * bytes written, TWIN_GITFMT_ENTRY_HEADER_MAX at most. */
size_t twin_gitfmt_entry_head_put(unsigned char *out, int type, uint64_t size, uint64_t distance);

/* The size bytes a zlib stream of one stored block holds, as twin writes entries of up to 65535
 * bytes, read in place: a pointer into z (avail bytes), with *sum_ok telling whether the
 * stream's adler32 matches them; NULL for any other stream. */
const unsigned char *twin_gitfmt_stored_view(bool *sum_ok, const unsigned char *z, size_t avail,
                                             size_t size);

/* What inflating an entry's data found. */
enum twin_gitfmt_inflate_fault {
    TWIN_GITFMT_INFLATE_OK = 0,
    TWIN_GITFMT_INFLATE_SUM,     /* a stored block whose adler32 does not match its bytes */
    TWIN_GITFMT_INFLATE_DAMAGED, /* not a zlib stream, or its adler32 does not match */
    TWIN_GITFMT_INFLATE_LONG,    /* it inflates to more bytes than the size */
    TWIN_GITFMT_INFLATE_SHORT,   /* it ends before the size */
    TWIN_GITFMT_INFLATE_NOMEM,   /* no decompressor could be had */
};

struct libdeflate_decompressor;

/* Inflates the zlib stream at z (of avail bytes at most; what follows it is not read) into out,
 * where it must make exactly size bytes, checked to its end and its adler32: a stream of one
 * stored block is copied (twin_gitfmt_stored_view), any other inflated whole by libdeflate
 * (twice zlib's speed on the small objects of a store), which checks the zlib header and the
 * adler32 as zlib does. *d is the caller's decompressor, made on first use (the caller frees it
 * with libdeflate_free_decompressor); with d NULL, one is made and freed for this stream only.
 * TWIN_GITFMT_INFLATE_OK, or the fault. For whole buffers: a reader of a stream that arrives in
 * pieces, or too large to hold, inflates it with zlib a piece at a time. */
int twin_gitfmt_inflate_exact(struct libdeflate_decompressor **d, unsigned char *out, size_t size,
                              const unsigned char *z, size_t avail);

/* ---- pack indexes ---- */

#define TWIN_GITFMT_IDX_HEADER (8 + 256 * 4) /* magic, version and fan-out of version 2 */
#define TWIN_GITFMT_IDX_LARGE  0x80000000u   /* an offset held in the table of 8-byte offsets */

/* An object of a pack, for its index. */
struct twin_gitfmt_idx_entry {
    unsigned char id[20];
    uint64_t offset;
    uint32_t crc;
};

/* Writes the version-2 index of the count objects of objs (sorted here by id) of the pack whose
 * checksum is pack_sum, in a malloc'd buffer (*out, *out_len bytes). */
int twin_gitfmt_idx_build(unsigned char **out, size_t *out_len, struct twin_gitfmt_idx_entry *objs,
                          size_t count, const unsigned char pack_sum[20]);

/* What is wrong with an index, as its reading finds it. */
enum twin_gitfmt_idx_fault {
    TWIN_GITFMT_IDX_OK = 0,
    TWIN_GITFMT_IDX_VERSION,  /* the magic of version 2, and another version */
    TWIN_GITFMT_IDX_SHORT,    /* shorter than a fan-out and the trailer */
    TWIN_GITFMT_IDX_FANOUT,   /* the fan-out falls */
    TWIN_GITFMT_IDX_SIZE,     /* the size does not fit the number of objects */
    TWIN_GITFMT_IDX_ORDER,    /* an id is not after the one before it */
    TWIN_GITFMT_IDX_BUCKET,   /* an id lies outside the fan-out's bucket of its first byte */
    TWIN_GITFMT_IDX_NO_LARGE, /* an entry names an 8-byte offset the table does not hold */
    TWIN_GITFMT_IDX_OUTSIDE,  /* an offset lies outside the pack's objects */
};

/* The bytes of a message about a fault, with its NUL, at most. */
#define TWIN_GITFMT_IDX_WHY 96

/* An index, read in place: its tables within the bytes it was read from. */
struct twin_gitfmt_idx {
    int version;                   /* 1 or 2 */
    uint32_t count;                /* objects */
    const unsigned char *fan;      /* 256 counts */
    const unsigned char *ids;      /* object i's id at ids + i * stride */
    size_t stride;                 /* 20, or 24 in version 1 (each id after its offset) */
    const unsigned char *crcs;     /* version 2: a CRC-32 for each object */
    const unsigned char *offs;     /* each object's 4-byte offset: 4 bytes apart, 24 in version 1 */
    const unsigned char *large;    /* version 2: the table of 8-byte offsets */
    size_t nlarge;                 /* the entries of that table */
    const unsigned char *pack_sum; /* the pack's checksum in the trailer; NULL when too short */
    const unsigned char *bytes;    /* all of it */
    size_t len;
};

/* Reads the index of len bytes at p into x: its version, header, fan-out (never falling) and size
 * (that of its tables, whole, for the objects the fan-out counts). TWIN_GITFMT_IDX_OK; or the
 * first fault (VERSION, SHORT, FANOUT, SIZE), with a message saying it in why (why_size bytes,
 * TWIN_GITFMT_IDX_WHY at most needed; why may be NULL) to follow the index's name, as "is too
 * short to be a pack index (30 bytes)". x->version, x->pack_sum, x->bytes and x->len are set
 * whatever it finds; x->count and the tables only with TWIN_GITFMT_IDX_OK. O(256): the entries
 * are checked one at a time by twin_gitfmt_idx_entry_check and twin_gitfmt_idx_offset, or all by
 * twin_gitfmt_idx_check. It does not check the index's own checksum (twin_gitfmt_idx_sum_ok). */
int twin_gitfmt_idx_parse(struct twin_gitfmt_idx *x, const unsigned char *p, size_t len, char *why,
                          size_t why_size);

/* Whether the index's last 20 bytes are the SHA-1 of the bytes before them (x->len >= 20). */
bool twin_gitfmt_idx_sum_ok(const struct twin_gitfmt_idx *x);

/* Checks entry i (< x->count) of an index read whole: its id after the one before it (so none
 * twice) and within its fan-out bucket. TWIN_GITFMT_IDX_OK, ORDER or BUCKET, as the parse. */
int twin_gitfmt_idx_entry_check(const struct twin_gitfmt_idx *x, uint32_t i, char *why,
                                size_t why_size);

/* The offset in the pack of entry i (< x->count) into *off, checked against a pack of pack_len
 * bytes (the whole file: its objects lie between its header and its trailer).
 * TWIN_GITFMT_IDX_OK; NO_LARGE (*off untouched), or OUTSIDE (*off set), as the parse. */
int twin_gitfmt_idx_offset(uint64_t *off, const struct twin_gitfmt_idx *x, uint32_t i,
                           uint64_t pack_len, char *why, size_t why_size);

/* Every entry as twin_gitfmt_idx_entry_check and twin_gitfmt_idx_offset check them: the first
 * fault, or TWIN_GITFMT_IDX_OK. */
int twin_gitfmt_idx_check(const struct twin_gitfmt_idx *x, uint64_t pack_len, char *why,
                          size_t why_size);

/* Where the index holds id: 1 with *pos, or 0. Found by halving within id's fan-out bucket, so
 * an index whose entries were not checked is read safely, and answers at worst that it does not
 * hold an id. */
int twin_gitfmt_idx_find(uint32_t *pos, const struct twin_gitfmt_idx *x, const unsigned char *id);

static inline const unsigned char *twin_gitfmt_idx_id(const struct twin_gitfmt_idx *x, uint32_t i)
{
    return x->ids + (size_t)i * x->stride;
}

/* Entry i's CRC-32 (0 in version 1, which has none). */
static inline uint32_t twin_gitfmt_idx_crc(const struct twin_gitfmt_idx *x, uint32_t i)
{
    if (!x->crcs)
        return 0;
    const unsigned char *p = x->crcs + 4 * (size_t)i;
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

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
