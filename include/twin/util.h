/*
 * What the front ends share with the library of its small helpers (src/base/util.c): how a time
 * is shown.
 */
#ifndef TWIN_UTIL_PUBLIC_H
#define TWIN_UTIL_PUBLIC_H

#include <stdint.h>

/* The bytes twin_util_format_time writes at most, with the NUL. */
#define TWIN_UTIL_TIME_BYTES 32

/* A time in seconds since the epoch (a commit's, an invite's, a peer's last sync) as text, in UTC:
 * "2026-11-22 07:21:33 UTC". A commit time is whatever its signer wrote, up to 2^63: past what a
 * calendar year holds, the seconds are shown, as "@SECONDS". */
void twin_util_format_time(char out[static TWIN_UTIL_TIME_BYTES], int64_t t);

#endif
