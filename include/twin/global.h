/*
 * twin's library as a whole: call twin_global_init once per process before anything else.
 */
#ifndef TWIN_GLOBAL_H
#define TWIN_GLOBAL_H

#include <stdbool.h>
#include <stddef.h>

/* The most a partner may send in one pack, however it is read (twin's indexer or libgit2's). */
#define TWIN_PACK_MAX_BYTES   ((size_t)4 << 30)  /* one received pack */
#define TWIN_PACK_MAX_OBJECTS ((size_t)50000000) /* objects in one received pack */

/* Initialises libsodium and libgit2. With durable, every object, pack and ref write is
 * fsync'ed, so a power cut cannot lose a write that was reported as done. */
int twin_global_init(bool durable);
void twin_global_shutdown(void);

/* Whether writes are fsync'ed (as given to twin_global_init). */
bool twin_global_durable(void);

const char *twin_global_version(void);

#endif
