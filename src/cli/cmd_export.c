#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "twin/error.h"
#include "twin/signers.h"

int cmd_export(struct cli *c, int argc, char **argv)
{
    const char *what = NULL, *out_path = NULL;
    for (int i = 1; i < argc; i++) {
        int m = cli_option(&out_path, &i, argc, argv, "--out");
        if (m < 0)
            return CLI_USAGE;
        if (m)
            continue;
        if (what)
            return cli_usage_error("export", "unexpected argument '%s'", argv[i]);
        what = argv[i];
    }
    if (!what || strcmp(what, "allowed-signers") != 0)
        return cli_usage_error("export", "say what to export: allowed-signers");
    int code = cli_open(c);
    if (code)
        return code;
    FILE *out = out_path ? fopen(out_path, "w") : stdout;
    if (!out) {
        fprintf(stderr, "twin: cannot write %s: %s\n", out_path, strerror(errno));
        return CLI_CHECK_FAILED;
    }
    int rc = twin_allowed_signers(out, c->node);
    if (out != stdout && fclose(out) != 0 && rc == 0)
        rc = twin_error(TWIN_ERROR, "writing %s failed", out_path);
    return rc ? cli_fail(rc) : CLI_OK;
}
