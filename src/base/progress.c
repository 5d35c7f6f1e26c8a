/*
 * Progress of long operations (include/twin/progress.h): one process-wide function.
 */
#include "twin/progress.h"

#include <stddef.h>

static twin_progress_fn progress_fn;
static void *progress_ctx;

void twin_progress_set(twin_progress_fn fn, void *ctx)
{
    progress_fn = fn;
    progress_ctx = ctx;
}

void twin_progress_report(const char *step, const char *unit, uint64_t done, uint64_t total)
{
    if (!progress_fn)
        return;
    struct twin_progress p = {step, unit, done, total};
    progress_fn(&p, progress_ctx);
}
