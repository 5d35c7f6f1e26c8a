/*
 * twin's library as a whole: call twin_global_init once per process before anything else.
 */
#ifndef TWIN_TWIN_H
#define TWIN_TWIN_H

#include <stdbool.h>

/* Initialises libsodium and libgit2. With durable, every object, pack and ref write is
 * fsync'ed, so a power cut cannot lose a write that was reported as done. */
int twin_global_init(bool durable);
void twin_global_shutdown(void);

/* Whether every object read is hashed again and compared with its id (on by default). twin
 * verify keeps it on; commands that only read records out (export) may turn it off, as git does
 * outside fsck: the ids were computed from the content when it entered the store. */
int twin_global_hash_reads(bool on);
bool twin_global_hash_reads_enabled(void);

/* Whether writes are fsync'ed (as given to twin_global_init). */
bool twin_global_durable(void);

const char *twin_version(void);

#endif
