/*
 * Small helpers several modules share: growing arrays, and reading and writing whole files.
 */
#ifndef TWIN_UTIL_H
#define TWIN_UTIL_H

#include <stddef.h>

/* Grows the array *p of elem-sized items so it holds at least need (doubling), updating *cap. */
int twin_grow(void **p, size_t *cap, size_t need, size_t elem);

/* Reads the file at path into a malloc'd, NUL-terminated buffer of at most max bytes:
 * TWIN_ENOTFOUND when it cannot be opened, TWIN_ELIMIT when it is larger. */
int twin_read_file(char **out, size_t *len, const char *path, size_t max);

/* Writes all len bytes to fd, through short writes and interruptions: 0, or -1 with errno set. */
int twin_write_all(int fd, const void *data, size_t len);

#endif
