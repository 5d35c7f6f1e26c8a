/*
 * twin's library as a whole: call twin_global_init once per process before anything else.
 */
#ifndef TWIN_TWIN_H
#define TWIN_TWIN_H

#include <stdbool.h>
#include <stddef.h>

/* The most a partner may send in one pack, however it is read (twin's indexer or libgit2's). */
#define TWIN_PACK_MAX_BYTES   ((size_t)4 << 30)  /* one received pack */
#define TWIN_PACK_MAX_OBJECTS ((size_t)50000000) /* objects in one received pack */

/* Initialises libsodium and libgit2. With durable, every object, pack and ref write is
 * fsync'ed, so a power cut cannot lose a write that was reported as done. */
int twin_global_init(bool durable);
void twin_global_shutdown(void);

/* Whether libgit2 hashes every object it reads again and compares it with its id (on by
 * default). Commands that only read records out (export) turn it off, as git does outside fsck:
 * the ids were computed from the content when it entered the store. twin verify turns it off
 * too, and hashes every object it reads itself, faster. Process-wide. */
int twin_global_hash_reads(bool on);
bool twin_global_hash_reads_enabled(void);

/* Whether libgit2 keeps the objects it reads in its object cache (on by default). A walk that
 * reads each object about once (verify) runs faster and in half the memory without it.
 * Process-wide. */
int twin_global_object_cache(bool on);
bool twin_global_object_cache_enabled(void);

/* Sets libgit2 up for walks over a long history (verify, sync): pack files mapped in small
 * windows and a small object cache, so that memory stays bounded. Process-wide. */
int twin_global_long_walks(void);

/* Whether writes are fsync'ed (as given to twin_global_init). */
bool twin_global_durable(void);

const char *twin_version(void);

#endif
