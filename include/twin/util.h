/*
 * What the front ends share with the library of its small helpers (src/base/util.c): how a time
 * is shown, and how a date a person gives is read.
 */
#ifndef TWIN_UTIL_PUBLIC_H
#define TWIN_UTIL_PUBLIC_H

#include <stdbool.h>
#include <stdint.h>

/* The bytes twin_util_format_time writes at most, with the NUL. */
#define TWIN_UTIL_TIME_BYTES 32

/* A time in seconds since the epoch (a commit's, an invite's, a peer's last sync) as text, in UTC:
 * "2026-11-22 07:21:33 UTC". A commit time is whatever its signer wrote, up to 2^63: past what a
 * calendar year holds, the seconds are shown, as "@SECONDS". */
void twin_util_format_time(char out[static TWIN_UTIL_TIME_BYTES], int64_t t);

/* Reads a date as a person gives one, into seconds since the epoch:
 * - "2026-11-22": that day in UTC, its first second, or with end its last (so that a bound of
 *   whole days takes the day in);
 * - "2026-11-22T07:21", "2026-11-22T07:21:33" (or a space for the T): in UTC, or at the offset
 *   that follows ("Z", "+02:00", "-0500");
 * - "@1795000000": seconds since the epoch;
 * - "3.days.ago", "3 days ago": that long before this node's clock, in seconds, minutes, hours,
 *   days or weeks (singular or plural); months and years, whose length varies, are refused.
 * 0, or TWIN_EINVALID (with the message naming the text) when it is none of these. */
int twin_util_parse_date(int64_t *out, const char *text, bool end);

#endif
