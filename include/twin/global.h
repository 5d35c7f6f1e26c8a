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

/* Declares the process short-lived (a one-shot command): files mapped to read the store stay
 * mapped once a reader has closed, until the process ends, and the next reader of the same file
 * maps it no more. Each unmapping flushes the processor's address translations, which a virtual
 * machine makes tens of microseconds; the process's end drops every mapping at once. A
 * long-running process (a node's service) does not declare it: it would keep packs joined away
 * mapped, and their space on disk held. */
void twin_global_short_lived(void);
bool twin_global_is_short_lived(void);

const char *twin_global_version(void);

#endif
