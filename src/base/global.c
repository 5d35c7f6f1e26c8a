#include "twin/global.h"

#include <git2.h>
#include <sodium.h>
#ifdef TWIN_AEAD_OPENSSL
#include <openssl/crypto.h>
#endif

#include "twin/error.h"

static bool global_durable = true;
static bool global_short_lived;

bool twin_global_durable(void)
{
    return global_durable;
}

void twin_global_short_lived(void)
{
    global_short_lived = true;
}

bool twin_global_is_short_lived(void)
{
    return global_short_lived;
}

#define TWIN_OPEN_PACKS_MAX 32

int twin_global_init(bool durable)
{
    global_durable = durable;
    if (sodium_init() < 0)
        return twin_error(TWIN_ERROR, "libsodium failed to initialise");
#ifdef TWIN_AEAD_OPENSSL
    /* Before libgit2, which may start OpenSSL too. No clean-up at exit: OpenSSL's exit handler
     * frees what a thread still running at that moment may hold, and can hang the process on
     * its locks. The process's end frees it all. */
    if (OPENSSL_init_crypto(OPENSSL_INIT_NO_ATEXIT, NULL) != 1)
        return twin_error(TWIN_ERROR, "the cipher library failed to initialise");
#endif
    if (git_libgit2_init() < 0)
        return twin_error_git("initialising libgit2");
    if (git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, durable ? 1 : 0) < 0 ||
        git_libgit2_opts(GIT_OPT_SET_PACK_MAX_OBJECTS, (size_t)TWIN_PACK_MAX_OBJECTS) < 0 ||
        /* libgit2 keeps a pack file open once read, even after a join has removed it; past this
         * many it closes the least recently used, so a long-running writer's open files stay
         * bounded however many packs it writes and joins away. */
        git_libgit2_opts(GIT_OPT_SET_MWINDOW_FILE_LIMIT, (size_t)TWIN_OPEN_PACKS_MAX) < 0)
        return twin_error_git("configuring libgit2");
    return 0;
}

void twin_global_shutdown(void)
{
    git_libgit2_shutdown();
}

const char *twin_global_version(void)
{
    return TWIN_VERSION;
}
