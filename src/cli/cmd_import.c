#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "twin/error.h"
#include "twin/interchange.h"

static void show_progress(size_t rows, void *ctx)
{
    fprintf(stderr, "\rtwin: %zu row%s read", rows, cli_s(rows));
    fflush(stderr);
}

int cmd_import(struct cli *c, int argc, char **argv)
{
    const char *file = NULL, *format = NULL, *type = NULL;
    bool dry_run = false;
    for (int i = 1; i < argc; i++) {
        int m;
        if ((m = cli_option(&format, &i, argc, argv, "--format")) ||
            (m = cli_option(&type, &i, argc, argv, "--type"))) {
            if (m < 0)
                return CLI_USAGE;
            continue;
        }
        if (strcmp(argv[i], "--dry-run") == 0) {
            dry_run = true;
            continue;
        }
        if (file || argv[i][0] == '-')
            return cli_usage_error("import", "unexpected argument '%s'", argv[i]);
        file = argv[i];
    }
    if (!file)
        return cli_usage_error("import", "give the file to import");
    if (!format) { /* from the file's name */
        const char *dot = strrchr(file, '.');
        format = dot && strcmp(dot, ".csv") == 0    ? "csv"
                 : dot && strcmp(dot, ".json") == 0 ? "json"
                 : dot && strcmp(dot, ".xml") == 0  ? "iati"
                                                    : NULL;
        if (!format)
            return cli_usage_error("import", "say the format: --format csv|json|iati");
    }
    enum twin_format f;
    if (strcmp(format, "csv") == 0)
        f = TWIN_FORMAT_CSV;
    else if (strcmp(format, "json") == 0)
        f = TWIN_FORMAT_JSON;
    else if (strcmp(format, "iati") == 0)
        f = TWIN_FORMAT_IATI;
    else
        return cli_usage_error("import", "--format takes csv, json or iati");
    int code = cli_open(c);
    if (code)
        return code;
    struct twin_import_report *r = NULL;
    bool tty = isatty(2) && !c->json;
    int rc = twin_interchange_import(&r, c->node, file, f, type, dry_run,
                                     tty ? show_progress : NULL, NULL);
    if (tty)
        fprintf(stderr, "\r\033[K");
    if (rc)
        return cli_fail_context(rc, file);
    if (c->json) {
        json_t *errors = json_array();
        for (size_t i = 0; i < r->nerrors; i++)
            json_array_append_new(errors,
                                  json_pack("{s:I, s:s}", "row", (json_int_t)r->errors[i].row,
                                            "message", r->errors[i].message));
        json_t *j = json_pack("{s:I, s:I, s:I, s:I, s:b, s:b, s:o}", "rows", (json_int_t)r->rows,
                              "created", (json_int_t)r->created, "changed", (json_int_t)r->changed,
                              "unchanged", (json_int_t)r->unchanged, "dry_run", dry_run,
                              "committed", r->committed, "errors", errors);
        if (r->committed)
            json_object_set_new(j, "commit", json_string(git_oid_tostr_s(&r->commit)));
        if (f == TWIN_FORMAT_IATI)
            json_object_set_new(j, "skipped", json_integer((json_int_t)r->skipped));
        cli_print_json(j);
        json_decref(j);
    } else if (r->nerrors) {
        fprintf(stderr, "twin: %s: %zu invalid row%s; nothing was imported\n", file, r->nerrors,
                r->nerrors == 1 ? "" : "s");
        for (size_t i = 0; i < r->nerrors; i++)
            fprintf(stderr, "  row %zu: %s\n", r->errors[i].row, r->errors[i].message);
    } else if (dry_run) {
        printf("%zu row%s %s valid: %zu would be new, %zu changed, %zu unchanged (nothing "
               "written).\n",
               r->rows, cli_s(r->rows), r->rows == 1 ? "is" : "are", r->created, r->changed,
               r->unchanged);
    } else if (r->committed) {
        printf("Imported %zu record%s in commit %s: %zu new, %zu changed, %zu unchanged.\n",
               r->rows, cli_s(r->rows), git_oid_tostr_s(&r->commit), r->created, r->changed,
               r->unchanged);
        if (r->skipped)
            printf("Skipped %zu IATI element%s and value%s twin does not keep.\n", r->skipped,
                   cli_s(r->skipped), cli_s(r->skipped));
    } else {
        printf(r->rows == 1 ? "Nothing to import: its %zu row equals the record already stored.\n"
                            : "Nothing to import: all %zu rows equal the records already stored.\n",
               r->rows);
    }
    code = r->nerrors ? CLI_USAGE : CLI_OK;
    twin_interchange_import_report_free(r);
    return code;
}
