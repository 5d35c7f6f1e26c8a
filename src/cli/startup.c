/*
 * What the twin command leaves out of libgit2's start. Debian's libgit2 1.5 is built with mbedTLS,
 * and git_libgit2_init parses every CA certificate of the system (ca-certificates.crt, about 140
 * certificates in PEM) for its HTTPS transport: about a fifth of a one-shot command's time. twin
 * never fetches or pushes through libgit2 (sync has its own channel), and libgit2 has no setting
 * that skips the load, which it does at a path fixed when it was built. So while the command
 * starts libgit2 (cli_start_libgit2), the certificate file libgit2 asks mbedTLS to parse is not
 * parsed: mbedTLS's function of that name is this one, which the dynamic linker binds libgit2 to
 * before the library's own. Any other call (a later GIT_OPT_SET_SSL_CERT_LOCATIONS) reaches
 * mbedTLS's. libgit2's HTTPS is left with no trusted certificate, so it would refuse every server
 * rather than trust one it could not check.
 *
 * libgit2 also starts libssh2 for its SSH transport, and libssh2 starts its crypto library
 * (OpenSSL, its configuration and engines): a millisecond or two, again for a transport twin never
 * uses. While the command starts libgit2, libssh2_init is this one, which leaves libssh2 as it
 * was; libssh2 starts itself on the first session it makes (none in twin), and its exit, which
 * libgit2 calls at shutdown, does nothing for a library never started. twin starts OpenSSL
 * itself where it uses it (twin_global_init).
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdbool.h>

#include "cli.h"
#include "twin/global.h"

static bool starting;

int mbedtls_x509_crt_parse_file(void *chain, const char *path);

int mbedtls_x509_crt_parse_file(void *chain, const char *path)
{
    static int (*parse)(void *, const char *);
    if (starting)
        return 0; /* the chain stays empty, as mbedtls_x509_crt_init left it */
    if (!parse)
        *(void **)&parse = dlsym(RTLD_NEXT, "mbedtls_x509_crt_parse_file");
    return parse ? parse(chain, path) : -1;
}

int libssh2_init(int flags);

int libssh2_init(int flags)
{
    static int (*init)(int);
    if (starting)
        return 0;
    if (!init)
        *(void **)&init = dlsym(RTLD_NEXT, "libssh2_init");
    return init ? init(flags) : -1;
}

int cli_start_libgit2(void)
{
    starting = true;
    int rc = twin_global_init(true);
    starting = false;
    return rc;
}
