/* twin get: writes a document's file back, checked against its SHA-256 (README "Attachments"). */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "twin/error.h"
#include "twin/ops.h"

static int write_all(int fd, const unsigned char *p, size_t len)
{
    while (len) {
        ssize_t n = write(fd, p, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Writes the bytes to out whole or not at all: a temporary file beside it, synced, then linked
 * into place (refused when out exists) or, with force, renamed over it. */
static int write_out(const char *out, const unsigned char *data, size_t len, bool force)
{
    size_t n = strlen(out);
    char *tmp = malloc(n + sizeof(".twin-XXXXXX"));
    if (!tmp) {
        fprintf(stderr, "twin: out of memory\n");
        return CLI_CHECK_FAILED;
    }
    snprintf(tmp, n + sizeof(".twin-XXXXXX"), "%s.twin-XXXXXX", out);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        fprintf(stderr, "twin: %s: %s\n", out, strerror(errno));
        free(tmp);
        return CLI_CHECK_FAILED;
    }
    int code = CLI_OK;
    if (fchmod(fd, 0644) < 0 || write_all(fd, data, len) < 0 || fsync(fd) < 0) {
        fprintf(stderr, "twin: %s: %s\n", out, strerror(errno));
        code = CLI_CHECK_FAILED;
    }
    if (close(fd) < 0 && code == CLI_OK) {
        fprintf(stderr, "twin: %s: %s\n", out, strerror(errno));
        code = CLI_CHECK_FAILED;
    }
    if (code == CLI_OK && force && rename(tmp, out) < 0) {
        fprintf(stderr, "twin: %s: %s\n", out, strerror(errno));
        code = CLI_CHECK_FAILED;
    } else if (code == CLI_OK && !force && link(tmp, out) < 0) {
        if (errno == EEXIST) {
            fprintf(stderr, "twin: %s exists: --force replaces it\n", out);
            code = CLI_USAGE;
        } else {
            fprintf(stderr, "twin: %s: %s\n", out, strerror(errno));
            code = CLI_CHECK_FAILED;
        }
    }
    if (code != CLI_OK || !force)
        unlink(tmp);
    free(tmp);
    return code;
}

/* Where twin_ops_attachment hands the checked bytes. */
struct sink {
    const char *out;
    bool force;
    int code;
    size_t len;
};

static int put_bytes(const void *data, size_t len, void *ctx)
{
    struct sink *k = ctx;
    k->len = len;
    if (k->out)
        k->code = write_out(k->out, data, len, k->force);
    else if (write_all(STDOUT_FILENO, data, len) < 0) {
        fprintf(stderr, "twin: writing the file: %s\n", strerror(errno));
        k->code = CLI_CHECK_FAILED;
    }
    return k->code == CLI_OK ? 0 : TWIN_ERROR;
}

int cmd_get(struct cli *c, int argc, char **argv)
{
    const char *out = NULL;
    bool force = false;
    char *id = NULL, idbuf[TWIN_ID_LEN + 1];
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--force") == 0) {
            force = true;
            continue;
        }
        int m = cli_option(&out, &i, argc, argv, "--out");
        if (m < 0)
            return CLI_USAGE;
        if (m)
            continue;
        if (id || argv[i][0] == '-')
            return cli_usage_error("get", "unexpected argument '%s'", argv[i]);
        id = argv[i];
    }
    if (!id)
        return cli_usage_error("get", "give a document's id");
    if (!out && isatty(STDOUT_FILENO))
        return cli_usage_error("get", "standard output is a terminal: give --out FILE, or "
                                      "redirect it to a file or a pipe");
    if (out && !force && access(out, F_OK) == 0) {
        fprintf(stderr, "twin: %s exists: --force replaces it\n", out);
        return CLI_USAGE;
    }
    int code = cli_open(c);
    if (code == CLI_OK)
        code = cli_record_id(idbuf, &id, c->node, NULL);
    if (code)
        return code;
    json_t *file = NULL;
    struct sink k = {out, force, CLI_OK, 0};
    int rc = twin_ops_attachment(&file, put_bytes, &k, c->node, NULL, id);
    if (rc && k.code == CLI_OK)
        return cli_fail(rc);
    code = k.code;
    if (code == CLI_OK && out && !c->quiet)
        fprintf(stderr, "Wrote %s (%zu bytes, sha256 %s) to %s.\n",
                json_string_value(json_object_get(file, "name")), k.len,
                json_string_value(json_object_get(file, "sha256")), out);
    json_decref(file);
    return code;
}
