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

int cli_start_libgit2(void)
{
    starting = true;
    int rc = twin_global_init(true);
    starting = false;
    return rc;
}
