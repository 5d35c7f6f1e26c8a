/*
 * Small helpers several modules share: growing arrays, and reading and writing whole files.
 */
#ifndef TWIN_UTIL_H
#define TWIN_UTIL_H

#include <stddef.h>
#include <stdint.h>

/* Grows the array *p of elem-sized items so it holds at least need (doubling), updating *cap. */
int twin_grow(void **p, size_t *cap, size_t need, size_t elem);

/* Entries named by 20-byte ids, which the caller keeps in an array (entry e's id at
 * ids + e * stride), found by open addressing on the id's first bytes. Slots hold the entry plus
 * one, and stay at most half full. */
struct twin_idmap {
    uint32_t *slots;
    size_t cap, used;
};

/* The entry named id, or -1. */
long twin_idmap_find(const struct twin_idmap *m, const void *ids, size_t stride,
                     const unsigned char id[20]);

/* Adds entry e, whose id is already in the array and not yet in the map. */
int twin_idmap_add(struct twin_idmap *m, const void *ids, size_t stride, uint32_t e);

void twin_idmap_free(struct twin_idmap *m);

/* Reads the file at path into a malloc'd, NUL-terminated buffer of at most max bytes:
 * TWIN_ENOTFOUND when it cannot be opened, TWIN_ELIMIT when it is larger. */
int twin_read_file(char **out, size_t *len, const char *path, size_t max);

/* Writes all len bytes to fd, through short writes and interruptions: 0, or -1 with errno set. */
int twin_write_all(int fd, const void *data, size_t len);

/* The time of day by this node's clock, in seconds since the epoch: what twin dates its commits,
 * checkpoint statements, invites and logs by, and what it compares dates in history with. It is
 * time(NULL), moved by TWIN_TEST_CLOCK_SKEW seconds when that environment variable holds a
 * decimal integer: tests run nodes with clocks that are wrong by a known amount with it. */
int64_t twin_clock_now(void);

/* The last second git can check a signature at: 9999-12-31T23:59:59Z (ssh-keygen reads the time
 * git gives it with a four-digit year). */
#define TWIN_LAST_DATE INT64_C(253402300799)

/* The committer time of a commit this node makes now: twin_clock_now(), kept within 0 and
 * TWIN_LAST_DATE, since a commit time is digits without a sign and git could not check a later
 * one. */
int64_t twin_commit_time_now(void);

/* For tests that must act between two steps of an operation: when the environment variable
 * TWIN_TEST_STOP names this step, the process stops itself (SIGSTOP) here, to be continued or
 * killed by the test. Steps are named in tests/integration/README.md. */
void twin_test_stop(const char *step);

#endif
