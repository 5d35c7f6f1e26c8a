/*
 * Small helpers several modules share: growing arrays, and reading and writing whole files.
 */
#ifndef TWIN_UTIL_H
#define TWIN_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "twin/util.h"

/* The most bytes one array may take: PTRDIFF_MAX, since C subtracts pointers only within an
 * object no larger (and the C library refuses a larger request anyway). */
#define TWIN_ARRAY_BYTES_MAX ((size_t)PTRDIFF_MAX)

/* Sets *bytes to n * elem: 0, or TWIN_ELIMIT when that is more than TWIN_ARRAY_BYTES_MAX (or does
 * not fit in a size_t), *bytes then untouched. */
int twin_util_array_bytes(size_t *bytes, size_t n, size_t elem);

/* malloc and realloc for an array of n elem-sized items, refusing a size that twin_util_array_bytes
 * refuses instead of wrapping it: NULL then, with p untouched and TWIN_ELIMIT's message set, as
 * when the memory cannot be had (an "out of memory" message). An array of no bytes takes one, so
 * that NULL always means failure. */
void *twin_util_malloc_array(size_t n, size_t elem);
void *twin_util_realloc_array(void *p, size_t n, size_t elem);

/* Grows the array *p of elem-sized items so it holds at least need (doubling), updating *cap:
 * 0; TWIN_ELIMIT when need items would be more than TWIN_ARRAY_BYTES_MAX; TWIN_ERROR when out of
 * memory. On failure *p and *cap are as they were. */
int twin_util_grow(void **p, size_t *cap, size_t need, size_t elem);

/* Entries named by 20-byte ids, which the caller keeps in an array (entry e's id at
 * ids + e * stride), found by open addressing on the id's first bytes. Slots hold the entry plus
 * one, and stay at most half full. */
struct twin_idmap {
    uint32_t *slots;
    size_t cap, used;
};

/* The entry named id, or -1. */
long twin_util_idmap_find(const struct twin_idmap *m, const void *ids, size_t stride,
                          const unsigned char id[20]);

/* Adds entry e, whose id is already in the array and not yet in the map: 0, or TWIN_ELIMIT for
 * e UINT32_MAX, which a slot cannot hold. */
int twin_util_idmap_add(struct twin_idmap *m, const void *ids, size_t stride, uint32_t e);

void twin_util_idmap_free(struct twin_idmap *m);

/* Reads the file at path into a malloc'd, NUL-terminated buffer of at most max bytes:
 * TWIN_ENOTFOUND when it cannot be opened, TWIN_ELIMIT when it is larger. */
int twin_util_read_file(char **out, size_t *len, const char *path, size_t max);

/* Writes all len bytes to fd, through short writes and interruptions: 0, or -1 with errno set. */
int twin_util_write_all(int fd, const void *data, size_t len);

/* The number of characters (code points) in the len bytes at s, or SIZE_MAX when they are not
 * strict UTF-8 (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF, no character
 * cut short). */
size_t twin_util_utf8_chars(const char *s, size_t len);

/* The offset of the first byte of the len bytes at data that is not strict UTF-8 (as above), or
 * len when they all are. */
size_t twin_util_utf8_invalid_at(const void *data, size_t len);

/* The time of day by this node's clock, in seconds since the epoch: what twin dates its commits,
 * checkpoint statements, invites and logs by, and what it compares dates in history with. It is
 * time(NULL), moved by TWIN_TEST_CLOCK_SKEW seconds when that environment variable holds a
 * decimal integer: tests run nodes with clocks that are wrong by a known amount with it. */
int64_t twin_util_clock_now(void);

/* The last second git can check a signature at: 9999-12-31T23:59:59Z (ssh-keygen reads the time
 * git gives it with a four-digit year). */
#define TWIN_LAST_DATE INT64_C(253402300799)

/* The committer time of a commit this node makes now: twin_util_clock_now(), kept within 0 and
 * TWIN_LAST_DATE, since a commit time is digits without a sign and git could not check a later
 * one. */
int64_t twin_util_commit_time_now(void);

/* For tests that must act between two steps of an operation: when the environment variable
 * TWIN_TEST_STOP names this step, the process stops itself (SIGSTOP) here, to be continued or
 * killed by the test. Steps are named in tests/integration/README.md. */
void twin_util_test_stop(const char *step);

/* Takes an flock on path (created when missing), waiting while another process holds it; closing
 * the descriptor releases it. */
int twin_util_flock(int *fd_out, const char *path);

/* Removes path, a git lock file, once it is a second old or has been waited on for a second.
 * Called under the twin lock that guards the file it locks: then only plain git, which finishes
 * within that second, or a killed twin process can have left it. */
void twin_util_clear_stale_lock(const char *path);

/* Starts writing fd's changed pages to the disk without waiting for them (sync_file_range where
 * the system has it, else nothing). It makes no write durable: an fsync must follow. Started on
 * several files before the first fsync, their writes go to the disk together, and each fsync
 * then waits for what is left of them rather than for the whole of its file in turn. */
void twin_util_start_writeback(int fd);

/* fsyncs the directory dir, so that the names created or renamed in it last: 0, or -1 with errno
 * set. */
int twin_util_sync_dir(const char *dir);

#endif
