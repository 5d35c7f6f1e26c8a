#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "twin/error.h"
#include "twin/iati.h"
#include "twin/interchange.h"
#include "twin/record.h"
#include "twin/signers.h"
#include "twin/global.h"

/* Opens path for writing (stdout when NULL). */
static FILE *open_out(const char *path)
{
    FILE *f = path ? fopen(path, "w") : stdout;
    if (!f)
        fprintf(stderr, "twin: cannot write %s: %s\n", path, strerror(errno));
    return f;
}

static int close_out(FILE *f, const char *path, int rc)
{
    if (f != stdout && fclose(f) != 0 && rc == 0)
        rc = twin_error(TWIN_ERROR, "writing %s failed: %s", path, strerror(errno));
    return rc;
}

/* CSV of every type that has records: DIR/<type>.csv each. When one cannot be written whole
 * (a damaged store, a full disk), none is left: no partial export passes for a whole one. */
static int export_csv_dir(struct cli *c, const char *dir, struct twin_selection *sel,
                          struct twin_export_sealed *sealed)
{
    size_t left_out = 0;
    struct stat st;
    if (stat(dir, &st) != 0 && mkdir(dir, 0777) != 0)
        return twin_error(TWIN_ERROR, "cannot create %s: %s", dir, strerror(errno));
    int rc = 0;
    size_t files = 0;
    const char *const *t;
    for (t = twin_record_types(); rc == 0 && *t; t++) {
        char path[4096];
        size_t rows = 0;
        snprintf(path, sizeof(path), "%s/%s.csv", dir, *t);
        FILE *f = fopen(path, "w");
        if (!f) {
            rc = twin_error(TWIN_ERROR, "cannot write %s: %s", path, strerror(errno));
            break;
        }
        sel->type = *t;
        rc = close_out(f, path, twin_interchange_export_csv_sealed(f, &rows, c->node, sel, sealed));
        left_out += sealed->left_out;
        if (rc || rows == 0)
            unlink(path); /* no records of this type: no file */
        files += rows > 0;
    }
    for (const char *const *u = twin_record_types(); rc && u != t; u++) {
        char path[4096];
        snprintf(path, sizeof(path), "%s/%s.csv", dir, *u);
        unlink(path);
    }
    if (rc == 0 && !c->json)
        fprintf(stderr, "twin: wrote %zu CSV file%s in %s\n", files, cli_s(files), dir);
    sealed->left_out = left_out;
    return rc;
}

int cmd_export(struct cli *c, int argc, char **argv)
{
    const char *what = NULL, *out_path = NULL, *format = NULL, *type = NULL;
    const char **where = calloc((size_t)argc, sizeof(*where));
    size_t nwhere = 0;
    bool all = false;
    struct twin_export_sealed sealed = {0};
    if (!where)
        return CLI_CHECK_FAILED;
    for (int i = 1; i < argc; i++) {
        const char *w = NULL;
        int m;
        if ((m = cli_option(&out_path, &i, argc, argv, "--out")) ||
            (m = cli_option(&format, &i, argc, argv, "--format")) ||
            (m = cli_option(&type, &i, argc, argv, "--type")) ||
            (m = cli_option(&w, &i, argc, argv, "--where"))) {
            if (m < 0) {
                free(where);
                return CLI_USAGE;
            }
            if (w)
                where[nwhere++] = w;
            continue;
        }
        if (strcmp(argv[i], "--all") == 0) {
            all = true;
            continue;
        }
        if (strcmp(argv[i], "--sealed") == 0) {
            sealed.include = true;
            continue;
        }
        if (what) {
            free(where);
            return cli_usage_error("export", "unexpected argument '%s'", argv[i]);
        }
        what = argv[i];
    }
    int rc = 0, code;
    if (what && strcmp(what, "allowed-signers") == 0 && !format) {
        free(where);
        if ((code = cli_open(c)))
            return code;
        FILE *out = open_out(out_path);
        if (!out)
            return CLI_CHECK_FAILED;
        rc = close_out(out, out_path, twin_signers_allowed(out, c->node));
        return rc ? cli_fail(rc) : CLI_OK;
    }
    if (what || !format ||
        (strcmp(format, "json") != 0 && strcmp(format, "csv") != 0 &&
         strcmp(format, "iati") != 0)) {
        free(where);
        return cli_usage_error("export", "say what to export: --format json|csv|iati, or "
                                         "allowed-signers");
    }
    struct twin_selection sel = {type, where, nwhere, all};
    if ((code = cli_open(c))) {
        free(where);
        return code;
    }
    twin_node_read_out(c->node); /* reading out, as git does outside fsck: verify checks */
    if (strcmp(format, "iati") == 0 && sealed.include) {
        free(where);
        return cli_usage_error("export", "an IATI export never holds sealed records: --sealed is "
                                         "for JSON and CSV");
    }
    if (strcmp(format, "iati") == 0) {
        FILE *out = open_out(out_path);
        struct twin_iati_report rep;
        rc = out ? twin_iati_export(out, &rep, c->node, &sel) : TWIN_ERROR;
        if (out)
            rc = close_out(out, out_path, rc);
        if (rc == 0 && !c->json)
            fprintf(stderr, "twin: %zu IATI %s, checked against the IATI 2.03 schema: valid\n",
                    rep.activities, rep.activities == 1 ? "activity" : "activities");
        if (rc == 0 && !c->json && (rep.skipped_documents || rep.skipped_results))
            fprintf(stderr,
                    "twin: left out %zu document%s without a URL and %zu result%s without an "
                    "indicator (IATI needs both)\n",
                    rep.skipped_documents, cli_s(rep.skipped_documents), rep.skipped_results,
                    cli_s(rep.skipped_results));
        if (rc == 0 && !c->json && rep.sealed)
            fprintf(stderr,
                    "twin: left out %zu sealed record%s (an IATI export never holds them)\n",
                    rep.sealed, rep.sealed == 1 ? "" : "s");
        if (out && rc && out_path)
            unlink(out_path);
    } else if (strcmp(format, "csv") == 0 && !type) {
        if (!out_path) {
            free(where);
            return cli_usage_error("export", "CSV holds one record type: give --type, or --out "
                                             "DIR for a file per type");
        }
        rc = export_csv_dir(c, out_path, &sel, &sealed);
    } else {
        if (!out_path) /* records stream to standard output as they are read */
            cli_progress_off_on_terminal_output();
        FILE *out = open_out(out_path);
        if (!out) {
            free(where);
            return CLI_CHECK_FAILED;
        }
        size_t rows;
        rc = strcmp(format, "json") == 0
                 ? twin_interchange_export_json_sealed(out, c->node, &sel, &sealed)
                 : twin_interchange_export_csv_sealed(out, &rows, c->node, &sel, &sealed);
        rc = close_out(out, out_path, rc);
        if (rc && out_path)
            unlink(out_path); /* no partial export left to pass for a whole one */
    }
    free(where);
    if (rc == 0 && sealed.left_out && !c->json) {
        size_t k = sealed.left_out;
        if (sealed.include)
            fprintf(stderr, "twin: left out %zu sealed record%s this node cannot read\n", k,
                    k == 1 ? "" : "s");
        else
            fprintf(stderr,
                    "twin: left out %zu sealed record%s (--sealed includes those this node can "
                    "read)\n",
                    k, k == 1 ? "" : "s");
    }
    return rc ? cli_fail(rc) : CLI_OK;
}
