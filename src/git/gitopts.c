#include "git/gitopts.h"

#include <git2.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "twin/error.h"

/* libgit2 maps packs in 1 GiB windows, all of it counted in the resident set once read, and keeps
 * up to 256 MiB of parsed objects (its count leaves out the parsed structures, so the real figure
 * is several times more). A walk over a long history reads in order, so small windows and a
 * small cache serve it as well. */
#define WALK_MWINDOW_SIZE   ((size_t)16 << 20)
#define WALK_MWINDOW_MAPPED ((size_t)32 << 20)
#define WALK_OBJECT_CACHE   ((ssize_t)16 << 20)

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
/* Under lock: the operations that hold each setting, and what SMALL_WINDOWS replaced. */
static size_t unhashed, uncached, small_windows;
static size_t saved_window, saved_mapped;
static ssize_t saved_cache;

/* Sets libgit2's options for one setting: taken (on) or given back. */
static int set(unsigned what, bool on)
{
    if (what == TWIN_GITOPTS_UNHASHED)
        return git_libgit2_opts(GIT_OPT_ENABLE_STRICT_HASH_VERIFICATION, on ? 0 : 1);
    if (what == TWIN_GITOPTS_UNCACHED)
        return git_libgit2_opts(GIT_OPT_ENABLE_CACHING, on ? 0 : 1);
    if (!on)
        return git_libgit2_opts(GIT_OPT_SET_MWINDOW_SIZE, saved_window) < 0 ||
                       git_libgit2_opts(GIT_OPT_SET_MWINDOW_MAPPED_LIMIT, saved_mapped) < 0 ||
                       git_libgit2_opts(GIT_OPT_SET_CACHE_MAX_SIZE, saved_cache) < 0
                   ? -1
                   : 0;
    ssize_t cached = 0;
    if (git_libgit2_opts(GIT_OPT_GET_MWINDOW_SIZE, &saved_window) < 0 ||
        git_libgit2_opts(GIT_OPT_GET_MWINDOW_MAPPED_LIMIT, &saved_mapped) < 0 ||
        git_libgit2_opts(GIT_OPT_GET_CACHED_MEMORY, &cached, &saved_cache) < 0)
        return -1;
    if (git_libgit2_opts(GIT_OPT_SET_MWINDOW_SIZE, WALK_MWINDOW_SIZE) < 0 ||
        git_libgit2_opts(GIT_OPT_SET_MWINDOW_MAPPED_LIMIT, WALK_MWINDOW_MAPPED) < 0 ||
        git_libgit2_opts(GIT_OPT_SET_CACHE_MAX_SIZE, WALK_OBJECT_CACHE) < 0) {
        set(what, false);
        return -1;
    }
    return 0;
}

static size_t *holders(unsigned what)
{
    return what == TWIN_GITOPTS_UNHASHED   ? &unhashed
           : what == TWIN_GITOPTS_UNCACHED ? &uncached
                                           : &small_windows;
}

static const unsigned settings[] = {TWIN_GITOPTS_UNHASHED, TWIN_GITOPTS_UNCACHED,
                                    TWIN_GITOPTS_SMALL_WINDOWS};
#define NSETTINGS (sizeof(settings) / sizeof(settings[0]))

/* One operation fewer holds setting what; the last one gives it back. */
static void release(unsigned what)
{
    size_t *held = holders(what);
    if (*held == 1)
        set(what, false);
    if (*held > 0)
        (*held)--;
}

int twin_gitopts_begin(unsigned what)
{
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < NSETTINGS; i++) {
        size_t *held = holders(settings[i]);
        if (!(what & settings[i]))
            continue;
        if (*held == 0 && set(settings[i], true) < 0) {
            while (i-- > 0) /* nothing taken after all */
                if (what & settings[i])
                    release(settings[i]);
            pthread_mutex_unlock(&lock);
            return twin_error_git("configuring libgit2");
        }
        (*held)++;
    }
    pthread_mutex_unlock(&lock);
    return 0;
}

void twin_gitopts_end(unsigned what)
{
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < NSETTINGS; i++)
        if (what & settings[i])
            release(settings[i]);
    pthread_mutex_unlock(&lock);
}
