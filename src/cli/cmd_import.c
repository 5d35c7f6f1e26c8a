#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "twin/error.h"
#include "twin/interchange.h"
#include "twin/progress.h"

/* The rows read so far, for the progress display (src/cli/display.c). */
static void show_progress(size_t rows, void *ctx)
{
    (void)ctx;
    twin_progress_report("reading rows", "rows", rows, 0);
}

/* How a row is named: by its file when the import read several. */
static void print_place(const struct twin_import_report *r, const struct twin_import_error *e)
{
    if (r->nfiles > 1)
        fprintf(stderr, "  %s row %zu: %s\n", r->files[e->file], e->row, e->message);
    else
        fprintf(stderr, "  row %zu: %s\n", e->row, e->message);
}

int cmd_import(struct cli *c, int argc, char **argv)
{
    const char *format = NULL, *type = NULL;
    const char **paths = calloc((size_t)argc, sizeof(*paths));
    size_t npaths = 0;
    bool dry_run = false;
    if (!paths)
        return CLI_CHECK_FAILED;
    for (int i = 1; i < argc; i++) {
        int m;
        if ((m = cli_option(&format, &i, argc, argv, "--format")) ||
            (m = cli_option(&type, &i, argc, argv, "--type"))) {
            if (m < 0) {
                free(paths);
                return CLI_USAGE;
            }
            continue;
        }
        if (strcmp(argv[i], "--dry-run") == 0) {
            dry_run = true;
            continue;
        }
        if (argv[i][0] == '-') {
            free(paths);
            return cli_usage_error("import", "unexpected argument '%s'", argv[i]);
        }
        paths[npaths++] = argv[i];
    }
    struct twin_import_options opt = {.type = type, .dry_run = dry_run};
    if (!npaths) {
        free(paths);
        return cli_usage_error("import", "give the files or directories to import");
    }
    if (format) {
        opt.format_given = true;
        if (strcmp(format, "csv") == 0)
            opt.format = TWIN_FORMAT_CSV;
        else if (strcmp(format, "json") == 0)
            opt.format = TWIN_FORMAT_JSON;
        else if (strcmp(format, "iati") == 0)
            opt.format = TWIN_FORMAT_IATI;
        else {
            free(paths);
            return cli_usage_error("import", "--format takes csv, json or iati");
        }
    }
    int code = cli_open(c);
    if (code) {
        free(paths);
        return code;
    }
    struct twin_import_report *r = NULL;
    opt.progress = show_progress;
    int rc = twin_interchange_import_paths(&r, c->node, paths, npaths, &opt);
    if (r && r->rows) /* the step ends before the report is printed */
        twin_progress_report("reading rows", "rows", r->rows, r->rows);
    if (rc) {
        free(paths);
        return cli_fail(rc);
    }
    bool iati = opt.format_given && opt.format == TWIN_FORMAT_IATI;
    for (size_t i = 0; i < r->nfiles; i++) {
        const char *dot = strrchr(r->files[i], '.');
        iati = iati || (!opt.format_given && dot && strcmp(dot, ".xml") == 0);
    }
    const char *what = npaths == 1 ? paths[0] : "the import";
    if (c->json) {
        json_t *errors = json_array(), *files = json_array();
        for (size_t i = 0; i < r->nfiles; i++)
            json_array_append_new(files, json_string(r->files[i]));
        for (size_t i = 0; i < r->nerrors; i++)
            json_array_append_new(
                errors, json_pack("{s:s, s:I, s:s}", "file", r->files[r->errors[i].file], "row",
                                  (json_int_t)r->errors[i].row, "message", r->errors[i].message));
        json_t *j = json_pack("{s:o, s:I, s:I, s:I, s:I, s:b, s:b, s:o}", "files", files, "rows",
                              (json_int_t)r->rows, "created", (json_int_t)r->created, "changed",
                              (json_int_t)r->changed, "unchanged", (json_int_t)r->unchanged,
                              "dry_run", dry_run, "committed", r->committed, "errors", errors);
        if (r->committed)
            json_object_set_new(j, "commit", json_string(git_oid_tostr_s(&r->commit)));
        if (iati) {
            json_t *notes = json_array();
            for (size_t i = 0; i < r->nnotes; i++)
                json_array_append_new(notes, json_string(r->notes[i]));
            json_object_set_new(j, "skipped", json_integer((json_int_t)r->skipped));
            json_object_set_new(j, "skipped_elements", notes);
        }
        cli_print_json(j);
        json_decref(j);
    } else if (r->nerrors) {
        fprintf(stderr, "twin: %s: %zu invalid row%s; nothing was imported\n", what, r->nerrors,
                r->nerrors == 1 ? "" : "s");
        for (size_t i = 0; i < r->nerrors; i++)
            print_place(r, &r->errors[i]);
    } else if (dry_run) {
        printf("%zu row%s %s valid: %zu would be new, %zu changed, %zu unchanged (nothing "
               "written).\n",
               r->rows, cli_s(r->rows), r->rows == 1 ? "is" : "are", r->created, r->changed,
               r->unchanged);
    } else if (r->committed) {
        char from[64] = "";
        if (r->nfiles > 1)
            snprintf(from, sizeof(from), " from %zu files", r->nfiles);
        printf("Imported %zu record%s%s in commit %s: %zu new, %zu changed, %zu unchanged.\n",
               r->rows, cli_s(r->rows), from, git_oid_tostr_s(&r->commit), r->created, r->changed,
               r->unchanged);
        if (r->skipped)
            printf("Skipped %zu IATI element%s and value%s twin does not keep.\n", r->skipped,
                   cli_s(r->skipped), cli_s(r->skipped));
    } else {
        printf(r->rows == 1 ? "Nothing to import: its %zu row equals the record already stored.\n"
                            : "Nothing to import: all %zu rows equal the records already stored.\n",
               r->rows);
    }
    if (!c->json && !r->nerrors) {
        for (size_t i = 0; i < r->nnotes; i++)
            fprintf(stderr, "twin: %s\n", r->notes[i]);
        if (r->notes_left_out)
            fprintf(stderr, "twin: and %zu more IATI element%s skipped\n", r->notes_left_out,
                    cli_s(r->notes_left_out));
    }
    code = r->nerrors ? CLI_USAGE : CLI_OK;
    twin_interchange_import_report_free(r);
    free(paths);
    return code;
}
