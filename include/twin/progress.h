/*
 * Progress of long operations (verify, sync and join, export, log, blame, import), for a front
 * end that shows it. The library reports how far a step has come; the front end decides whether
 * and how to show it. Reports come from the thread of the operation (a sync with several peers
 * runs a thread per session, so the function must be safe to call from several). Nothing is
 * reported until a function is set, and a report then costs one call and a test of one pointer.
 */
#ifndef TWIN_PROGRESS_H
#define TWIN_PROGRESS_H

#include <stdint.h>

/* What a step counts: a number of things ("commits", "records"), or bytes. */
struct twin_progress {
    const char *step; /* "checking commits", "receiving history": the same text all along */
    const char *unit; /* "commits", "records", "changes"; "bytes" is shown as a size */
    uint64_t done;
    uint64_t total; /* 0: not known beforehand */
};

typedef void (*twin_progress_fn)(const struct twin_progress *p, void *ctx);

/* Sets the process's progress function (NULL: none), before the operation starts. */
void twin_progress_set(twin_progress_fn fn, void *ctx);

/* Reports a step's progress to the function set, if any. Steps report at their own pace (each
 * item, or every so often); the function throttles what it shows. */
void twin_progress_report(const char *step, const char *unit, uint64_t done, uint64_t total);

#endif
