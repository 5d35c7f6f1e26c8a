/*
 * Small helpers several modules share: growing arrays and reading whole files, both bounded and
 * reporting through twin's error message.
 */
#ifndef TWIN_UTIL_H
#define TWIN_UTIL_H

#include <stddef.h>

/* Grows the array *p of elem-sized items so it holds at least need (doubling), updating *cap. */
int twin_grow(void **p, size_t *cap, size_t need, size_t elem);

/* Reads the file at path into a malloc'd, NUL-terminated buffer of at most max bytes:
 * TWIN_ENOTFOUND when it cannot be opened, TWIN_ELIMIT when it is larger. */
int twin_read_file(char **out, size_t *len, const char *path, size_t max);

#endif
