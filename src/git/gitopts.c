#include "git/gitopts.h"

#include <git2.h>
#include <pthread.h>
#include <stddef.h>

#include "twin/error.h"

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static size_t unhashed, uncached; /* operations that hold each setting, under lock */

/* Sets libgit2's option for what to on (libgit2's default) or off. */
static int set(unsigned what, int on)
{
    return git_libgit2_opts(what == TWIN_GITOPTS_UNHASHED ? GIT_OPT_ENABLE_STRICT_HASH_VERIFICATION
                                                          : GIT_OPT_ENABLE_CACHING,
                            on);
}

/* Counts one operation more (delta 1) or fewer (-1) holding setting what, and sets libgit2's
 * option when the first comes or the last goes. */
static int count(size_t *held, unsigned what, int delta)
{
    if (delta > 0 && *held == 0 && set(what, 0) < 0)
        return twin_error_git("configuring libgit2");
    if (delta < 0 && *held == 1)
        set(what, 1);
    *held = delta > 0 ? *held + 1 : *held - 1;
    return 0;
}

int twin_gitopts_begin(unsigned what)
{
    int rc = 0;
    pthread_mutex_lock(&lock);
    if (what & TWIN_GITOPTS_UNHASHED)
        rc = count(&unhashed, TWIN_GITOPTS_UNHASHED, 1);
    if (rc == 0 && (what & TWIN_GITOPTS_UNCACHED) &&
        (rc = count(&uncached, TWIN_GITOPTS_UNCACHED, 1)) && (what & TWIN_GITOPTS_UNHASHED))
        count(&unhashed, TWIN_GITOPTS_UNHASHED, -1); /* nothing taken after all */
    pthread_mutex_unlock(&lock);
    return rc;
}

void twin_gitopts_end(unsigned what)
{
    pthread_mutex_lock(&lock);
    if ((what & TWIN_GITOPTS_UNHASHED) && unhashed > 0)
        count(&unhashed, TWIN_GITOPTS_UNHASHED, -1);
    if ((what & TWIN_GITOPTS_UNCACHED) && uncached > 0)
        count(&uncached, TWIN_GITOPTS_UNCACHED, -1);
    pthread_mutex_unlock(&lock);
}
