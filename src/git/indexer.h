/*
 * twin's indexer for received packs. It takes a pack as it arrives, in pieces of any size, and
 * names each object as soon as its bytes, and for a delta its base, are in: the receiver hashes
 * while the sender is still sending, where libgit2's indexer resolves every delta only once the
 * whole pack is in. Every object is hashed with libgit2's SHA-1 (git_odb_hash), which detects
 * collision attacks, as git's and libgit2's indexers do.
 *
 * At the end it checks the pack's checksum, names the deltas whose base came later in the pack,
 * and writes the pack and its version-2 index. It accepts what git accepts, within bounds: a pack
 * of version 2 (not 3, which libgit2 cannot read), at most TWIN_PACK_MAX_BYTES and
 * TWIN_PACK_MAX_OBJECTS; objects of at most 256 MiB; chains of at most 1,024 deltas; at most
 * 1 GiB plus 16 bytes per byte received of objects rebuilt from bases read back out of the pack.
 * It refuses a delta whose base is not in the pack (a thin pack), a delta of fewer than 4 bytes
 * (git does) and an object that appears twice.
 *
 * The baseline it replaced stays beside it: twin_indexer_new_libgit2 starts an indexer with the
 * same interface whose work is done by libgit2's (git_indexer), for tests that hold the two to
 * the same result (the same pack name, files libgit2 reads either way) and for
 * tools/bench_read.c. The checks made outside the engine hold for it too: the pack's version (2
 * only) and declared count, TWIN_PACK_MAX_BYTES, no bytes after an error. Everything else is
 * libgit2's, which checks less (twin_indexer_new_libgit2).
 */
#ifndef TWIN_INDEXER_H
#define TWIN_INDEXER_H

#include <stddef.h>

typedef struct twin_indexer twin_indexer;

/* Starts a pack to be written into the directory dir. */
int twin_indexer_new(twin_indexer **out, const char *dir);

/* Starts a pack to be written into dir by libgit2's indexer. It refuses a pack that breaks the
 * format, does not match its checksum, or is thin, as twin's does, in libgit2's words
 * (TWIN_EINVALID). But libgit2 1.5's indexer takes packs twin's refuses, and
 * writes an index for them: an object of the reserved type 5; an object whose zlib stream
 * inflates to fewer or more bytes than its header states; a zlib stream padded far beyond its
 * content; a delta of fewer than 4 bytes; chains of more than 1,024 deltas, and any cost of
 * rebuilding bases (it resolves every delta only once the whole pack is in). It cannot keep a
 * pack in memory. */
int twin_indexer_new_libgit2(twin_indexer **out, const char *dir);

/* Starts a pack to be kept in memory, never written: the same reading and the same checks as
 * twin_indexer_new, the pack's bytes (TWIN_PACK_MAX_BYTES at most) held by ix until it is freed.
 * Finish it with twin_indexer_finish_mem. */
int twin_indexer_new_mem(twin_indexer **out);

/* Takes the next len bytes of the pack. TWIN_EINVALID when they break the pack format (the error
 * names the object and what is wrong), TWIN_ELIMIT past a bound; after an error the indexer takes
 * nothing more. */
int twin_indexer_append(twin_indexer *ix, const void *data, size_t len);

/* After the last byte: names the objects left, checks the pack's checksum, and writes
 * pack-<name>.pack and pack-<name>.idx into the directory, name being the 40 hex digits of the
 * pack's checksum (written into name). */
int twin_indexer_finish(twin_indexer *ix, char name[41]);

/* The same for a pack started with twin_indexer_new_mem: the checks and the name, and the bytes of
 * the version-2 index twin_indexer_finish would write, in *idx (*idx_len bytes, for the caller to
 * free) instead of a file. */
int twin_indexer_finish_mem(twin_indexer *ix, char name[41], unsigned char **idx, size_t *idx_len);

/* Frees ix; the file of a pack that was not finished is removed. */
void twin_indexer_free(twin_indexer *ix);

#endif
