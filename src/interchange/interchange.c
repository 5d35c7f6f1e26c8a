/*
 * Export to JSON and CSV, and bulk import from them. CSV is read and written with libcsv; an
 * import stages every row in one batch commit, checks each against the others, and commits only
 * when all are valid.
 */
#include "twin/interchange.h"

#include <csv.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "twin/batch.h"
#include "twin/error.h"
#include "twin/tx.h"
#include "base/util.h"
#include "git/gitopts.h"
#include "twin/progress.h"
#include "twin/iati.h"
#include "twin/ops.h"
#include "twin/record.h"
#include "twin/validity.h"
#include "ops/sealed.h"
#include "records/envelope.h"
#include "store/wraps.h"

#define PROGRESS_EVERY 1000

/* ---- selection ------------------------------------------------------------------------------ */

struct collect {
    twin_node *node;
    const struct twin_selection *sel;
    struct twin_export_sealed *sealed; /* NULL: sealed records as stored (an import's lookups) */
    bool count_left_out;               /* the pass that counts sealed records left out */
};

/* Whether rec is selected: 1 with *chosen the record to export (rec itself, or the content of a
 * sealed record this node opens: a new reference), 0 when it is not, or an error. A sealed record
 * is left out and counted, unless it is asked for and this node opens it: then its content is
 * selected as any record's. */
static int select_one(json_t **chosen, struct collect *c, json_t *rec)
{
    json_t *content = NULL;
    int rc;
    *chosen = NULL;
    if (c->sealed && json_object_get(rec, "sealed")) {
        enum twin_sealing how = TWIN_SEALING_CLOSED;
        if (!c->sel->all && json_is_true(json_object_get(rec, "withdrawn")))
            return 0;
        if (c->sealed->include && (rc = twin_ops_unseal(&content, &how, c->node, rec)))
            return rc;
        if (how != TWIN_SEALING_OPENED) {
            json_decref(content);
            c->sealed->left_out += c->count_left_out;
            return 0;
        }
        rec = content;
    }
    rc = twin_ops_selected(c->sel, rec);
    if (rc > 0)
        *chosen = content ? content : json_incref(rec);
    else
        json_decref(content);
    return rc;
}

/* ---- export --------------------------------------------------------------------------------- */

#define JSON_FLAGS (JSON_SORT_KEYS | JSON_REAL_PRECISION(15))

/* Exports stream: the records are read in the order they are written (by type, then id), one at
 * a time, and libgit2 maps little of the packs at once, so that memory stays small whatever the
 * store's size. */
#define EXPORT_GITOPTS TWIN_GITOPTS_SMALL_WINDOWS

static int write_failed(void)
{
    return twin_error(TWIN_ERROR, "writing the export failed: %s", strerror(errno));
}

struct json_writer {
    struct collect sel;
    FILE *out;
    size_t written, total; /* total: the records the first pass selected */
};

/* Writes a chunk of a record dumped at depth 0 as it stands inside the array: every line one
 * level deeper (a JSON text holds no line break but those of its indentation). */
static int put_indented(const char *buf, size_t size, void *ctx)
{
    FILE *out = ctx;
    for (const char *p = buf, *end = buf + size; p < end;) {
        const char *nl = memchr(p, '\n', (size_t)(end - p));
        size_t run = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);
        if (fwrite(p, 1, run, out) != run || (nl && fputs("  ", out) == EOF))
            return -1;
        p += run;
    }
    return 0;
}

/* One record of the array, as json_dumpf writes an array with JSON_INDENT(2). */
static int write_json_record(json_t *rec, void *ctx)
{
    struct json_writer *w = ctx;
    json_t *chosen;
    int rc = select_one(&chosen, &w->sel, rec);
    if (rc <= 0)
        return rc;
    rc = 0;
    if (fputs(w->written ? ",\n  " : "[\n  ", w->out) == EOF ||
        json_dump_callback(chosen, put_indented, w->out, JSON_INDENT(2) | JSON_FLAGS) != 0)
        rc = write_failed();
    json_decref(chosen);
    if (rc == 0 && ++w->written % PROGRESS_EVERY == 0)
        twin_progress_report("writing records", "records", w->written, w->total);
    return rc;
}

static int count_json_record(json_t *rec, void *ctx)
{
    struct json_writer *w = ctx;
    json_t *chosen;
    int rc = select_one(&chosen, &w->sel, rec);
    if (rc <= 0)
        return rc;
    json_decref(chosen);
    w->total++;
    return 0;
}

int twin_interchange_export_json(FILE *out, twin_node *n, const struct twin_selection *sel)
{
    struct twin_export_sealed sealed = {0};
    return twin_interchange_export_json_sealed(out, n, sel, &sealed);
}

int twin_interchange_export_json_sealed(FILE *out, twin_node *n, const struct twin_selection *sel,
                                        struct twin_export_sealed *sealed)
{
    struct json_writer w = {{n, sel, sealed, true}, out, 0, 0};
    sealed->left_out = 0;
    if (sel->type && !twin_record_type_known(sel->type))
        return twin_error(TWIN_EINVALID, "unknown record type '%s'", sel->type);
    int rc = twin_gitopts_begin(EXPORT_GITOPTS);
    if (rc)
        return rc;
    /* A first pass reads every record, so that a damaged store writes nothing at all (no part of
     * an export passes for a whole one), and counts those selected for the progress. */
    rc = twin_ops_foreach_by_id(n, NULL, sel->type, count_json_record, &w);
    w.sel.count_left_out = false; /* the first pass counted them */
    if (rc == 0)
        rc = twin_ops_foreach_by_id(n, NULL, sel->type, write_json_record, &w);
    twin_gitopts_end(EXPORT_GITOPTS);
    if (rc == 0 && fputs(w.written ? "\n]\n" : "[]\n", out) == EOF)
        rc = write_failed();
    if (rc == 0)
        twin_progress_report("writing records", "records", w.written, w.total);
    return rc;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A cell: text as it is, anything else as compact JSON. */
static char *cell_text(const json_t *v)
{
    if (!v)
        return strdup("");
    if (json_is_string(v))
        return strdup(json_string_value(v));
    return json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_FLAGS);
}

/* A cell, always quoted, quotes doubled (what libcsv's csv_fwrite writes), one fwrite. */
static int put_cell(FILE *out, const char *text, bool first)
{
    char stack[512], *buf = stack;
    size_t len = strlen(text), need = 2 * len + 4, n = 0;
    if (need > sizeof(stack) && !(buf = malloc(need)))
        return twin_error(TWIN_ERROR, "out of memory");
    if (!first)
        buf[n++] = ',';
    buf[n++] = '"';
    for (const char *p = text, *q; *p; p = q + 1) {
        q = strchr(p, '"');
        size_t run = q ? (size_t)(q - p) + 1 : strlen(p);
        memcpy(buf + n, p, run);
        n += run;
        if (!q)
            break;
        buf[n++] = '"';
    }
    buf[n++] = '"';
    int rc = fwrite(buf, 1, n, out) == n ? 0 : write_failed();
    if (buf != stack)
        free(buf);
    return rc;
}

/* Adds to columns the leaf paths of rec (twin_record_flatten_texts: nested objects become dotted
 * paths; lists, empty objects and texts in several languages are leaves). */
static int leaf_paths(json_t *columns, const json_t *rec)
{
    json_t *flat = json_object(), *v;
    int rc = flat ? twin_record_flatten_texts(flat, rec) : twin_error(TWIN_ERROR, "out of memory");
    const char *path;
    json_object_foreach(flat, path, v)
    {
        if (rc == 0 && !json_object_get(columns, path) &&
            json_object_set_new(columns, path, json_true()))
            rc = twin_error(TWIN_ERROR, "out of memory");
    }
    json_decref(flat);
    return rc;
}

int twin_interchange_export_csv(FILE *out, size_t *rows, twin_node *n,
                                const struct twin_selection *sel)
{
    struct twin_export_sealed sealed = {0};
    return twin_interchange_export_csv_sealed(out, rows, n, sel, &sealed);
}

/* CSV is written in two passes over the records, as its header names every column of the type:
 * the first learns the columns (and counts the rows; a damaged record stops it before anything
 * is written), the second writes the rows by id. */
struct csv_writer {
    struct collect sel;
    FILE *out;
    json_t *columns;     /* the first pass: every leaf path seen */
    const char **names;  /* the second: the header's columns */
    size_t ncols, total; /* total: the rows the first pass selected */
    size_t *rows;
};

static int learn_csv_columns(json_t *rec, void *ctx)
{
    struct csv_writer *w = ctx;
    json_t *chosen;
    int rc = select_one(&chosen, &w->sel, rec);
    if (rc <= 0)
        return rc;
    rc = 0;
    rc = leaf_paths(w->columns, chosen);
    json_decref(chosen);
    w->total++;
    return rc;
}

static int write_csv_row(json_t *rec, void *ctx)
{
    struct csv_writer *w = ctx;
    json_t *chosen;
    int rc = select_one(&chosen, &w->sel, rec);
    if (rc <= 0)
        return rc;
    rc = 0;
    for (size_t c = 0; rc == 0 && c < w->ncols; c++) {
        const json_t *cell = c < 2 ? json_object_get(chosen, w->names[c])
                                   : twin_record_get_path(chosen, w->names[c]);
        if (!cell || json_is_string(cell)) { /* most cells: written as they are */
            rc = put_cell(w->out, cell ? json_string_value(cell) : "", c == 0);
            continue;
        }
        char *text = cell_text(cell);
        rc = text ? put_cell(w->out, text, c == 0) : twin_error(TWIN_ERROR, "out of memory");
        free(text);
    }
    json_decref(chosen);
    if (rc == 0 && fputc('\n', w->out) == EOF)
        rc = write_failed();
    if (rc == 0 && ++*w->rows % PROGRESS_EVERY == 0)
        twin_progress_report("writing records", "records", *w->rows, w->total);
    return rc;
}

int twin_interchange_export_csv_sealed(FILE *out, size_t *rows, twin_node *n,
                                       const struct twin_selection *sel,
                                       struct twin_export_sealed *sealed)
{
    *rows = 0;
    sealed->left_out = 0;
    if (!sel->type)
        return twin_error(TWIN_EINVALID, "CSV holds one record type: say which");
    if (!twin_record_type_known(sel->type))
        return twin_error(TWIN_EINVALID, "unknown record type '%s'", sel->type);
    struct csv_writer w = {{n, sel, sealed, true}, out, json_object(), NULL, 0, 0, rows};
    if (!w.columns)
        return twin_error(TWIN_ERROR, "out of memory");
    int rc = twin_gitopts_begin(EXPORT_GITOPTS);
    if (rc) {
        json_decref(w.columns);
        return rc;
    }
    rc = twin_ops_foreach_by_id(n, NULL, sel->type, learn_csv_columns, &w);
    /* id and type first, then every other column in order. */
    size_t k = 2;
    const char *key;
    json_t *v;
    w.ncols = 2;
    json_object_foreach(w.columns, key, v) w.ncols += strcmp(key, "id") && strcmp(key, "type");
    if (rc == 0 && !(w.names = twin_util_malloc_array(w.ncols, sizeof(*w.names))))
        rc = twin_error(TWIN_ERROR, "out of memory");
    if (rc == 0) {
        w.names[0] = "id";
        w.names[1] = "type";
        json_object_foreach(w.columns, key, v) if (strcmp(key, "id") && strcmp(key, "type"))
            w.names[k++] = key;
        qsort(w.names + 2, w.ncols - 2, sizeof(*w.names), cmp_str);
    }
    for (size_t c = 0; rc == 0 && c < w.ncols; c++)
        rc = put_cell(out, w.names[c], c == 0);
    if (rc == 0 && fputc('\n', out) == EOF)
        rc = write_failed();
    w.sel.count_left_out = false; /* the first pass counted them */
    if (rc == 0)
        rc = twin_ops_foreach_by_id(n, NULL, sel->type, write_csv_row, &w);
    twin_gitopts_end(EXPORT_GITOPTS);
    if (rc == 0)
        twin_progress_report("writing records", "records", *rows, w.total);
    free(w.names);
    json_decref(w.columns);
    return rc;
}

/* ---- reading CSV ----------------------------------------------------------------------------- */

struct csv_state {
    char **cells;
    size_t ncells, cap;
    size_t row; /* rows completed */
    int rc;     /* the first fault */
    twin_csv_row_fn fn;
    void *ctx;
};

static void on_field(void *data, size_t len, void *ctx)
{
    struct csv_state *s = ctx;
    if (s->rc)
        return;
    if (len > TWIN_CSV_CELL_MAX) {
        s->rc = twin_error(TWIN_ELIMIT, "row %zu, column %zu: a cell of more than %d bytes",
                           s->row + 1, s->ncells + 1, TWIN_CSV_CELL_MAX);
        return;
    }
    if (twin_util_utf8_invalid_at(data, len) != len) {
        s->rc = twin_error(TWIN_EINVALID, "row %zu, column %zu: not valid UTF-8", s->row + 1,
                           s->ncells + 1);
        return;
    }
    if (s->ncells == TWIN_CSV_COLUMNS_MAX) {
        s->rc = twin_error(TWIN_ELIMIT, "row %zu: more than %d columns", s->row + 1,
                           TWIN_CSV_COLUMNS_MAX);
        return;
    }
    if (s->ncells == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 16;
        char **c = twin_util_realloc_array(s->cells, cap, sizeof(*c));
        if (!c) {
            s->rc = twin_error(TWIN_ERROR, "out of memory");
            return;
        }
        s->cells = c;
        s->cap = cap;
    }
    char *cell = malloc(len + 1);
    if (!cell) {
        s->rc = twin_error(TWIN_ERROR, "out of memory");
        return;
    }
    /* A line break inside a quoted cell is kept as "\n", whichever the file used. */
    size_t out = 0;
    for (size_t i = 0; i < len; i++)
        if (!(((const char *)data)[i] == '\r' && i + 1 < len &&
              ((const char *)data)[i + 1] == '\n'))
            cell[out++] = ((const char *)data)[i];
    cell[out] = '\0';
    s->cells[s->ncells++] = cell;
}

static void drop_cells(struct csv_state *s)
{
    for (size_t i = 0; i < s->ncells; i++)
        free(s->cells[i]);
    s->ncells = 0;
}

static void on_row(int end, void *ctx)
{
    struct csv_state *s = ctx;
    (void)end;
    if (s->rc == 0) {
        if (s->row + 1 > TWIN_IMPORT_MAX_ROWS + 1)
            s->rc = twin_error(TWIN_ELIMIT, "more than %d rows", TWIN_IMPORT_MAX_ROWS);
        else
            s->rc = s->fn(s->row + 1, s->cells, s->ncells, s->ctx);
    }
    drop_cells(s);
    s->row++;
}

int twin_interchange_csv_read(const char *data, size_t len, twin_csv_row_fn row_fn, void *ctx)
{
    struct csv_parser p;
    struct csv_state s = {.fn = row_fn, .ctx = ctx};
    /* A byte-order mark, as spreadsheets write, is not part of the first cell. */
    if (len >= 3 && memcmp(data, "\xef\xbb\xbf", 3) == 0) {
        data += 3;
        len -= 3;
    }
    const char *nul = memchr(data, '\0', len);
    if (nul) {
        size_t line = 1;
        for (const char *q = data; q < nul; q++)
            line += *q == '\n';
        return twin_error(TWIN_EINVALID, "line %zu: a NUL byte (not a text file)", line);
    }
    if (csv_init(&p, CSV_STRICT | CSV_STRICT_FINI | CSV_APPEND_NULL) != 0)
        return twin_error(TWIN_ERROR, "libcsv failed to initialise");
    size_t done = csv_parse(&p, data, len, on_field, on_row, &s);
    int rc = s.rc;
    if (rc == 0 && done != len) {
        size_t line = 1;
        for (size_t i = 0; i < done && i < len; i++)
            line += data[i] == '\n';
        rc = twin_error(TWIN_EINVALID, "line %zu: malformed CSV (%s)", line,
                        csv_strerror(csv_error(&p)));
    }
    if (rc == 0 && csv_fini(&p, on_field, on_row, &s) != 0)
        rc = twin_error(TWIN_EINVALID, "the file ends inside a quoted cell (%s)",
                        csv_strerror(csv_error(&p)));
    if (rc == 0)
        rc = s.rc;
    drop_cells(&s);
    free(s.cells);
    csv_free(&p);
    return rc;
}

/* ---- import --------------------------------------------------------------------------------- */

struct staged_row {
    size_t file, row;
    char path[128];
    char *old_text; /* the stored version it replaces, or NULL for a new record */
    size_t old_len;
    json_t *plain;    /* a new record staged sealed (it holds personal data): its content */
    bool same_sealed; /* a sealed record the row equals: unchanged, checked when it was written */
};

struct importer {
    twin_node *node;
    twin_batch *batch;
    const char *type; /* --type: every record's */
    struct twin_import_report *report;
    struct staged_row *rows;
    size_t nrows, cap;
    size_t file;           /* the file being read: its index in report->files */
    const char *file_type; /* its records' type when a row does not say: --type, or its name */
    char **header;
    size_t ncols;
    bool type_column;
    twin_import_progress_fn progress;
    void *progress_ctx;
    bool dry_run;
    struct twin_membership *members; /* loaded for the first record to seal */
    const char **audience;           /* every member not removed with an active key, sorted */
    size_t naudience;
};

static int report_error(struct twin_import_report *r, size_t file, size_t row, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static int report_error(struct twin_import_report *r, size_t file, size_t row, const char *fmt, ...)
{
    if (r->nerrors == r->errors_cap) {
        size_t cap = r->errors_cap ? r->errors_cap * 2 : 16;
        struct twin_import_error *e = twin_util_realloc_array(r->errors, cap, sizeof(*e));
        if (!e)
            return twin_error(TWIN_ERROR, "out of memory");
        r->errors = e;
        r->errors_cap = cap;
    }
    struct twin_import_error *e = &r->errors[r->nerrors++];
    e->file = file;
    e->row = row;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof(e->message), fmt, ap);
    va_end(ap);
    return 0;
}

static int lookup_batch(json_t **out, const char *type, const char *id, void *ctx)
{
    twin_batch *b = ctx;
    char path[128], *text = NULL;
    size_t len;
    if (out)
        *out = NULL;
    if (twin_record_path(path, sizeof(path), type, id))
        return TWIN_ENOTFOUND;
    if (!out) {
        int present = twin_batch_exists(b, path);
        return present < 0 ? present : present ? 0 : TWIN_ENOTFOUND;
    }
    int rc = twin_batch_read(&text, &len, b, path, TWIN_RECORD_FILE_MAX_BYTES);
    if (rc == 0)
        rc = twin_record_parse_canonical(out, text, len);
    free(text);
    return rc;
}

/* A contribution a row writes in this node's institution's name is confirmed as it is written
 * (twin_ops_confirm_own), once every row is staged and its institution can be found: the row's
 * staged text, *text, is made again when that changes it. */
static int confirm_own_row(char **text, size_t *len, twin_batch *b, const char *path, json_t *rec,
                           const json_t *old, twin_node *n)
{
    bool changed;
    char *made = NULL;
    size_t made_len;
    int rc = twin_ops_confirm_own(&changed, rec, old, n, lookup_batch, b);
    if (rc || !changed)
        return rc;
    if ((rc = twin_record_canonical(&made, &made_len, rec)) ||
        (rc = twin_batch_put(b, path, made, made_len))) {
        free(made);
        return rc;
    }
    free(*text);
    *text = made;
    *len = made_len;
    return 0;
}

/* Whether a stored record's text is a sealed record's envelope (1), and then whether rec is the
 * content this node opens from it (*same). */
static int old_is_sealed(bool *same, twin_node *n, const char *text, size_t len, const json_t *rec)
{
    json_t *old = NULL, *content = NULL;
    enum twin_sealing how = TWIN_SEALING_CLOSED;
    *same = false;
    if (twin_record_parse_canonical(&old, text, len) != 0 || !json_object_get(old, "sealed")) {
        json_decref(old);
        twin_error_clear();
        return 0;
    }
    int rc = twin_ops_unseal(&content, &how, n, old);
    *same = rc == 0 && how == TWIN_SEALING_OPENED && json_equal(content, (json_t *)rec);
    json_decref(content);
    json_decref(old);
    return rc ? rc : 1;
}

static int cmp_org(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* A new record holding personal data is staged sealed for every member, as twin add writes it
 * (proto/SEALED.md 8): *text becomes its envelope, and its wraps are kept (unless a dry run). */
static int seal_staged(struct importer *im, const json_t *rec, char **text, size_t *len)
{
    if (!im->members) {
        int rc = twin_ops_members(&im->members, im->node, NULL);
        if (rc)
            return rc;
        struct twin_membership *m = im->members;
        if (!(im->audience = calloc(m->count ? m->count : 1, sizeof(*im->audience))))
            return twin_error(TWIN_ERROR, "out of memory");
        for (size_t i = 0; i < m->count; i++) {
            bool active = false;
            for (size_t k = 0; k < m->members[i].nkeys; k++)
                active = active || m->members[i].keys[k].state == TWIN_KEY_ACTIVE;
            if (active && !m->members[i].removed)
                im->audience[im->naudience++] = m->members[i].org_id;
        }
        qsort(im->audience, im->naudience, sizeof(*im->audience), cmp_org);
    }
    struct twin_sealed sealed;
    twin_wraps *store = NULL;
    int rc = twin_sealed_seal(&sealed, rec, im->audience, im->naudience, NULL, im->members);
    if (rc)
        return rc;
    if (!im->dry_run && (rc = twin_node_wraps(&store, im->node)) == 0)
        rc = twin_wraps_add_own(store, sealed.wraps, sealed.nwraps);
    if (rc == 0) {
        *text = sealed.text;
        *len = sealed.text_len;
        sealed.text = NULL;
    }
    twin_sealed_clear(&sealed);
    return rc;
}

/* Stages one record read from row `row` (unchecked: the check comes when all are staged). */
static int stage(struct importer *im, size_t row, json_t *rec)
{
    struct twin_import_report *r = im->report;
    const char *type = json_string_value(json_object_get(rec, "type"));
    const char *id = json_string_value(json_object_get(rec, "id"));
    char new_id[TWIN_ID_LEN + 1], path[128], *text = NULL, *old_text = NULL;
    size_t len, old_len = 0;
    if (r->rows == TWIN_IMPORT_MAX_ROWS)
        return twin_error(TWIN_ELIMIT, "more than %d rows in the import", TWIN_IMPORT_MAX_ROWS);
    r->rows++;
    if (im->progress && r->rows % PROGRESS_EVERY == 0)
        im->progress(r->rows, im->progress_ctx);
    if (!type)
        return report_error(r, im->file, row, "type: missing (give it in %s)",
                            im->header
                                ? "a type column, with --type, or as the file's name (TYPE.csv)"
                                : "the record or with --type");
    if (im->type && strcmp(type, im->type) != 0)
        return report_error(r, im->file, row, "type: the record says %s, --type says %s", type,
                            im->type);
    if (!twin_record_type_known(type))
        return report_error(r, im->file, row, "type: unknown record type '%s'", type);
    if (json_object_get(rec, "sealed"))
        return report_error(r, im->file, row,
                            "sealed: this is a sealed record's envelope, which cannot be "
                            "imported (export its content with twin export --sealed)");
    if (!id) {
        twin_record_new_id(new_id);
        json_object_set_new(rec, "id", json_string(new_id));
        id = new_id;
    } else if (!twin_record_id_valid(id)) {
        return report_error(r, im->file, row, "id: '%s' is not a record id", id);
    }
    twin_record_path(path, sizeof(path), type, id);
    if (twin_batch_staged(im->batch, path))
        return report_error(r, im->file, row, "id: %s appears twice in the import", id);
    int rc = twin_batch_exists(im->batch, path);
    if (rc > 0)
        rc = twin_batch_read(&old_text, &old_len, im->batch, path, TWIN_RECORD_FILE_MAX_BYTES);
    else if (rc == 0 && twin_record_apply_defaults(rec))
        return report_error(r, im->file, row, "%s", twin_error_last());
    if (rc)
        return rc;
    bool same = false;
    if (old_text && (rc = old_is_sealed(&same, im->node, old_text, old_len, rec)) < 0) {
        free(old_text);
        return rc;
    }
    if (rc > 0 && !same) {
        free(old_text);
        return report_error(r, im->file, row,
                            "id: %s %s is sealed; an import cannot change it (twin set or twin "
                            "edit can)",
                            type, id);
    }
    /* A sealed record's row equal to its content stays as it is (its envelope staged again, to
     * hold its place in the batch). */
    bool sealed = !old_text && twin_envelope_personal_field(rec);
    if (same && !(text = malloc(old_len ? old_len : 1)))
        rc = twin_error(TWIN_ERROR, "out of memory");
    else if (same) {
        memcpy(text, old_text, old_len);
        len = old_len;
        rc = 0;
    } else
        rc = sealed ? seal_staged(im, rec, &text, &len) : twin_record_canonical(&text, &len, rec);
    if (rc || (rc = twin_batch_put(im->batch, path, text, len))) {
        free(text);
        free(old_text);
        return rc == TWIN_ERROR ? rc : report_error(r, im->file, row, "%s", twin_error_last());
    }
    free(text);
    if (im->nrows == im->cap) {
        size_t cap = im->cap ? im->cap * 2 : 1024;
        struct staged_row *s = twin_util_realloc_array(im->rows, cap, sizeof(*s));
        if (!s) {
            free(old_text);
            return twin_error(TWIN_ERROR, "out of memory");
        }
        im->rows = s;
        im->cap = cap;
    }
    struct staged_row *s = &im->rows[im->nrows++];
    s->file = im->file;
    s->row = row;
    snprintf(s->path, sizeof(s->path), "%s", path);
    s->old_text = old_text;
    s->old_len = old_len;
    s->plain = sealed ? json_incref(rec) : NULL;
    s->same_sealed = same;
    return 0;
}

static int on_csv_row(size_t row, char **cells, size_t ncells, void *ctx)
{
    struct importer *im = ctx;
    if (row == 1) { /* the header */
        if (ncells == 0)
            return twin_error(TWIN_EINVALID, "row 1: the header is empty");
        im->header = calloc(ncells, sizeof(char *));
        if (!im->header)
            return twin_error(TWIN_ERROR, "out of memory");
        for (size_t i = 0; i < ncells; i++) {
            if (!cells[i][0])
                return twin_error(TWIN_EINVALID, "row 1, column %zu: a column without a name",
                                  i + 1);
            for (size_t k = 0; k < i; k++)
                if (strcmp(im->header[k], cells[i]) == 0)
                    return twin_error(TWIN_EINVALID, "row 1: column '%s' appears twice", cells[i]);
            im->header[i] = cells[i];
            cells[i] = NULL; /* kept as the header */
            im->ncols = i + 1;
            im->type_column = im->type_column || strcmp(im->header[i], "type") == 0;
        }
        if (!im->type_column && !im->file_type)
            return twin_error(TWIN_EINVALID,
                              "row 1: no type column, and the file's name is no record type's: "
                              "give --type TYPE, or name the file TYPE.csv (as twin export "
                              "writes it: activity.csv)");
        return 0;
    }
    if (ncells == 1 && !cells[0][0])
        return 0; /* a blank line */
    if (ncells != im->ncols)
        return report_error(im->report, im->file, row, "the row has %zu fields, the header %zu",
                            ncells, im->ncols);
    json_t *rec = im->file_type ? json_pack("{s:s}", "type", im->file_type) : json_object();
    if (!rec)
        return twin_error(TWIN_ERROR, "out of memory");
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < ncells; i++) {
        if (!cells[i][0])
            continue;
        if (strcmp(im->header[i], "id") == 0 || strcmp(im->header[i], "type") == 0) {
            json_object_set_new(rec, im->header[i], json_string(cells[i]));
            continue;
        }
        if (twin_record_set_path(rec, im->header[i], cells[i])) {
            rc =
                report_error(im->report, im->file, row, "%s: %s", im->header[i], twin_error_last());
            json_decref(rec);
            return rc;
        }
    }
    rc = stage(im, row, rec);
    json_decref(rec);
    return rc;
}

static int import_json(struct importer *im, const char *data, size_t len)
{
    json_error_t err;
    json_t *all = json_loadb(data, len, JSON_REJECT_DUPLICATES, &err);
    if (!all && json_error_code(&err) == json_error_stack_overflow)
        return twin_error(TWIN_ELIMIT, "the JSON is nested too deeply (line %d)", err.line);
    if (!all)
        return twin_error(TWIN_EINVALID, "not valid JSON (line %d, column %d): %s", err.line,
                          err.column, err.text);
    if (!json_is_array(all)) {
        json_decref(all);
        return twin_error(TWIN_EINVALID, "a JSON import is an array of records");
    }
    if (json_array_size(all) > TWIN_IMPORT_MAX_ROWS) {
        json_decref(all);
        return twin_error(TWIN_ELIMIT, "more than %d records", TWIN_IMPORT_MAX_ROWS);
    }
    int rc = 0;
    size_t i;
    json_t *item;
    json_array_foreach(all, i, item)
    {
        if (rc)
            break;
        char *text = json_is_object(item) ? json_dumps(item, JSON_COMPACT) : NULL;
        json_t *rec = NULL;
        /* Each record through the record parser: the same limits as any record. */
        if (!text)
            rc = report_error(im->report, im->file, i + 1, "not a JSON object");
        else if (twin_record_parse(&rec, text, strlen(text)))
            rc = report_error(im->report, im->file, i + 1, "%s", twin_error_last());
        else {
            if (!json_object_get(rec, "type") && im->type)
                json_object_set_new(rec, "type", json_string(im->type));
            rc = stage(im, i + 1, rec);
        }
        json_decref(rec);
        free(text);
    }
    json_decref(all);
    return rc;
}

static int iati_record(size_t activity, json_t *rec, void *ctx)
{
    return stage(ctx, activity, rec);
}

/* A budget or transaction's key (see twin_iati_read): the first free of KEY, KEY #2, ... */
static void note_money_key(json_t *known, const char *base, const char *id)
{
    char key[1300];
    snprintf(key, sizeof(key), "%s", base);
    for (long n = 2; json_object_get(known, key); n++)
        snprintf(key, sizeof(key), "%s #%ld", base, n);
    json_object_set_new(known, key, json_string(id));
}

static int note_money(json_t *known, const json_t *rec, const char *type, const char *id,
                      const char *pid)
{
    const char *corrects = json_string_value(json_object_get(rec, "corrects"));
    const char *currency = json_string_value(json_object_get(rec, "currency"));
    double value = json_number_value(json_object_get(rec, "value"));
    char base[1200], k[64];
    if (strcmp(type, "transaction") == 0) {
        snprintf(base, sizeof(base), "trn:%s %s %s %s %.15g", pid,
                 json_string_value(json_object_get(rec, "transaction_type")),
                 json_string_value(json_object_get(rec, "date")), currency, value);
        note_money_key(known, base, id);
    } else if (corrects) { /* added into its budget once all are known */
        snprintf(k, sizeof(k), "fix:%s", id);
        json_object_set_new(known, k, json_string(corrects));
        snprintf(k, sizeof(k), "val:%s", id);
        json_object_set_new(known, k, json_real(value));
    } else {
        snprintf(base, sizeof(base), "bud:%s %s %s %s %s", pid,
                 json_string_value(json_object_get(rec, "budget_type")),
                 json_string_value(json_object_get(rec, "period_start")),
                 json_string_value(json_object_get(rec, "period_end")), currency);
        note_money_key(known, base, id);
        snprintf(k, sizeof(k), "net:%s", id);
        json_object_set_new(known, k, json_real(value));
    }
    return 0;
}

/* An element an IATI import skips, named for the report (the first TWIN_IMPORT_MAX_NOTES). */
static void iati_note(const char *message, void *ctx)
{
    struct importer *im = ctx;
    struct twin_import_report *r = im->report;
    if (r->nnotes == TWIN_IMPORT_MAX_NOTES) {
        r->notes_left_out++;
        return;
    }
    char **notes = twin_util_realloc_array(r->notes, r->nnotes + 1, sizeof(*notes));
    if (!notes)
        return;
    r->notes = notes;
    if ((r->notes[r->nnotes] = strdup(message)))
        r->nnotes++;
}

/* Keys by which an IATI import finds records it made before (see twin_iati_read). */
static int note_known(json_t *rec, void *ctx)
{
    json_t *known = ctx;
    const char *type = json_string_value(json_object_get(rec, "type"));
    const char *id = json_string_value(json_object_get(rec, "id"));
    const char *org = json_string_value(json_object_get(rec, "org_id"));
    const char *name = json_string_value(json_object_get(rec, "name"));
    const json_t *tv = json_object_get(rec, "title");
    const char *title = json_string_value(tv);
    if (json_is_object(tv)) { /* an export writes its narratives in code order: the first's */
        const char *code, *first = NULL;
        json_t *text;
        json_object_foreach((json_t *)tv, code, text)
        {
            if (!first || strcmp(code, first) < 0)
                first = code;
        }
        title = first ? json_string_value(json_object_get(tv, first)) : NULL;
    }
    const char *ident = json_string_value(json_object_get(rec, "iati_identifier"));
    const char *pid = json_string_value(json_object_get(rec, "partnership"));
    const char *url = json_string_value(json_object_get(rec, "url"));
    const char *result = json_string_value(json_object_get(rec, "result"));
    char key[1200] = "";
    if (strcmp(type, "institution") == 0 && (org || name))
        snprintf(key, sizeof(key), "org:%s", org ? org : name);
    else if (strcmp(type, "partnership") == 0 && ident)
        snprintf(key, sizeof(key), "act:%s", ident);
    else if (strcmp(type, "document") == 0 && pid)
        snprintf(key, sizeof(key), "doc:%s %s", pid, url ? url : title);
    else if (strcmp(type, "result") == 0 && pid)
        snprintf(key, sizeof(key), "res:%s %s", pid, title);
    else if (strcmp(type, "indicator") == 0 && result)
        snprintf(key, sizeof(key), "ind:%s %s", result, title);
    else if ((strcmp(type, "budget") == 0 || strcmp(type, "transaction") == 0) && pid)
        return note_money(known, rec, type, id, pid);
    if (key[0] && !json_object_get(known, key))
        json_object_set_new(known, key, json_string(id));
    return 0;
}

/* Adds each budget correction's value into the budget its chain of corrects ends at. */
static void settle_budget_nets(json_t *known)
{
    const char *key;
    json_t *v;
    size_t limit = json_object_size(known);
    json_object_foreach(known, key, v)
    {
        if (strncmp(key, "fix:", 4) != 0)
            continue;
        const char *root = json_string_value(v);
        char k[64];
        for (size_t i = 0; root && i < limit; i++) {
            snprintf(k, sizeof(k), "fix:%s", root);
            const char *up = json_string_value(json_object_get(known, k));
            if (!up)
                break;
            root = up;
        }
        snprintf(k, sizeof(k), "val:%s", key + 4);
        double add = json_number_value(json_object_get(known, k));
        snprintf(k, sizeof(k), "net:%s", root ? root : "");
        json_t *net = json_object_get(known, k);
        if (net)
            json_real_set(net, json_number_value(net) + add);
    }
}

/* IATI: activities into partnerships and the records around them, matching records an earlier
 * import made. */
static int import_iati(struct importer *im, const char *data, size_t len)
{
    json_t *known = json_object();
    int rc = known ? twin_ops_foreach(im->node, NULL, NULL, note_known, known)
                   : twin_error(TWIN_ERROR, "out of memory");
    if (rc == 0) {
        settle_budget_nets(known);
        rc = twin_iati_read(data, len, known, iati_record, iati_note, im, &im->report->skipped);
    }
    json_decref(known);
    return rc;
}

void twin_interchange_import_report_free(struct twin_import_report *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->nfiles; i++)
        free(r->files[i]);
    free(r->files);
    for (size_t i = 0; i < r->nnotes; i++)
        free(r->notes[i]);
    free(r->notes);
    free(r->errors);
    free(r);
}

static const char *format_ext(enum twin_format f)
{
    return f == TWIN_FORMAT_CSV ? ".csv" : f == TWIN_FORMAT_JSON ? ".json" : ".xml";
}

static const char *format_name(enum twin_format f)
{
    return f == TWIN_FORMAT_CSV ? "csv" : f == TWIN_FORMAT_JSON ? "json" : "iati";
}

static bool ends_with(const char *s, const char *end)
{
    size_t n = strlen(s), k = strlen(end);
    return n > k && strcmp(s + n - k, end) == 0;
}

/* The last part of path, without a trailing slash, into buf. */
static const char *last_part(char *buf, size_t size, const char *path)
{
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/')
        len--;
    size_t start = len;
    while (start > 0 && path[start - 1] != '/')
        start--;
    snprintf(buf, size, "%.*s", (int)(len - start), path + start);
    return buf;
}

/* The record type a file's name says (activity.csv: activity), or NULL. */
static const char *type_by_name(const char *path)
{
    char base[256];
    last_part(base, sizeof(base), path);
    char *dot = strrchr(base, '.');
    if (!dot || strcmp(dot, ".csv") != 0)
        return NULL;
    *dot = '\0';
    for (const char *const *t = twin_record_types(); *t; t++)
        if (strcmp(*t, base) == 0)
            return *t;
    return NULL;
}

static int add_file(struct twin_import_report *r, const char *path)
{
    if (r->nfiles == TWIN_IMPORT_MAX_FILES)
        return twin_error(TWIN_ELIMIT, "more than %d files in one import", TWIN_IMPORT_MAX_FILES);
    char **files = twin_util_realloc_array(r->files, r->nfiles + 1, sizeof(*files));
    if (!files)
        return twin_error(TWIN_ERROR, "out of memory");
    r->files = files;
    if (!(r->files[r->nfiles] = strdup(path)))
        return twin_error(TWIN_ERROR, "out of memory");
    r->nfiles++;
    return 0;
}

/* Adds the files path names to r->files: path itself, or a directory's regular files whose
 * names end in ext (and begin with no dot), in name order. */
static int add_path(struct twin_import_report *r, const char *path, const char *ext)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return twin_error(TWIN_ENOTFOUND, "cannot read %s: %s", path, strerror(errno));
    if (!S_ISDIR(st.st_mode))
        return add_file(r, path);
    DIR *d = opendir(path);
    if (!d)
        return twin_error(TWIN_ENOTFOUND, "cannot read %s: %s", path, strerror(errno));
    size_t first = r->nfiles, len = strlen(path);
    const char *sep = len && path[len - 1] == '/' ? "" : "/";
    int rc = 0;
    struct dirent *de;
    errno = 0;
    while (rc == 0 && (de = readdir(d))) {
        char full[4096];
        if (de->d_name[0] == '.' || !ends_with(de->d_name, ext))
            continue;
        if ((size_t)snprintf(full, sizeof(full), "%s%s%s", path, sep, de->d_name) >= sizeof(full))
            rc = twin_error(TWIN_ELIMIT, "%s%s%s: a path too long", path, sep, de->d_name);
        else if (stat(full, &st) == 0 && S_ISREG(st.st_mode))
            rc = add_file(r, full);
        errno = 0;
    }
    if (rc == 0 && errno)
        rc = twin_error(TWIN_ERROR, "cannot read %s: %s", path, strerror(errno));
    closedir(d);
    if (rc == 0 && r->nfiles == first)
        rc = twin_error(TWIN_EINVALID, "%s holds no %s file to import", path, ext);
    if (rc == 0)
        qsort(r->files + first, r->nfiles - first, sizeof(*r->files), cmp_str);
    return rc;
}

/* Reads and stages the records of file f of the import. */
static int import_file(struct importer *im, size_t f, enum twin_format format)
{
    const char *path = im->report->files[f];
    char *data = NULL;
    size_t len = 0;
    im->file = f;
    im->file_type = im->type ? im->type : format == TWIN_FORMAT_CSV ? type_by_name(path) : NULL;
    im->type_column = false;
    int rc = twin_util_read_file(&data, &len, path, TWIN_IMPORT_MAX_BYTES);
    if (rc == 0) {
        rc = format == TWIN_FORMAT_CSV    ? twin_interchange_csv_read(data, len, on_csv_row, im)
             : format == TWIN_FORMAT_IATI ? import_iati(im, data, len)
                                          : import_json(im, data, len);
        if (rc)
            rc = twin_error_wrap(rc, "%s", path);
    }
    for (size_t i = 0; i < im->ncols; i++)
        free(im->header[i]);
    free(im->header);
    im->header = NULL;
    im->ncols = 0;
    free(data);
    return rc;
}

/* The commit message's subject names the file or directory imported, or the count of them. */
static void import_message(char *buf, size_t size, const struct twin_import_report *r,
                           const char *const *paths, size_t npaths, const enum twin_format *formats)
{
    char source[300], base[256];
    size_t k = r->created + r->changed;
    if (npaths == 1 && r->nfiles == 1)
        snprintf(source, sizeof(source), "%.200s", last_part(base, sizeof(base), paths[0]));
    else if (npaths == 1)
        snprintf(source, sizeof(source), "%.200s (%zu files)",
                 last_part(base, sizeof(base), paths[0]), r->nfiles);
    else
        snprintf(source, sizeof(source), "%zu files", r->nfiles);
    bool seen[3] = {false, false, false};
    char kinds[32] = "";
    for (size_t i = 0; i < r->nfiles; i++)
        seen[formats[i]] = true;
    for (int f = 0; f < 3; f++)
        if (seen[f])
            snprintf(kinds + strlen(kinds), sizeof(kinds) - strlen(kinds), "%s%s",
                     kinds[0] ? ", " : "", format_name((enum twin_format)f));
    snprintf(buf, size, "import %zu record%s from %s: %zu new, %zu changed\n\nImport: %s\n", k,
             k == 1 ? "" : "s", source, r->created, r->changed, kinds);
}

int twin_interchange_import_paths(struct twin_import_report **out, twin_node *n,
                                  const char *const *paths, size_t npaths,
                                  const struct twin_import_options *opt)
{
    struct twin_import_report *r = calloc(1, sizeof(*r));
    struct importer im = {.node = n,
                          .type = opt->type,
                          .report = r,
                          .progress = opt->progress,
                          .progress_ctx = opt->progress_ctx,
                          .dry_run = opt->dry_run};
    enum twin_format *formats = NULL;
    *out = NULL;
    if (!r)
        return twin_error(TWIN_ERROR, "out of memory");
    int rc = 0;
    if (npaths == 0)
        rc = twin_error(TWIN_EINVALID, "give the files or directories to import");
    else if (opt->type && !twin_record_type_known(opt->type))
        rc = twin_error(TWIN_EINVALID, "unknown record type '%s'", opt->type);
    const char *dir_ext = format_ext(opt->format_given ? opt->format : TWIN_FORMAT_CSV);
    for (size_t i = 0; rc == 0 && i < npaths; i++)
        rc = add_path(r, paths[i], dir_ext);
    if (rc == 0 && !(formats = twin_util_malloc_array(r->nfiles, sizeof(*formats))))
        rc = twin_error(TWIN_ERROR, "out of memory");
    for (size_t i = 0; rc == 0 && i < r->nfiles; i++) {
        const char *f = r->files[i];
        if (opt->format_given)
            formats[i] = opt->format;
        else if (ends_with(f, ".csv"))
            formats[i] = TWIN_FORMAT_CSV;
        else if (ends_with(f, ".json"))
            formats[i] = TWIN_FORMAT_JSON;
        else if (ends_with(f, ".xml"))
            formats[i] = TWIN_FORMAT_IATI;
        else
            rc = twin_error(TWIN_EINVALID,
                            "%s: say its format with --format csv|json|iati (its name ends in "
                            "none of .csv, .json, .xml)",
                            f);
        if (rc == 0 && formats[i] == TWIN_FORMAT_IATI && r->nfiles > 1)
            rc = twin_error(TWIN_EINVALID,
                            "%s: an IATI import reads one file at a time, not %zu files", f,
                            r->nfiles);
    }
    if (rc == 0)
        rc = twin_ops_batch_begin(&im.batch, n, 0);
    for (size_t f = 0; rc == 0 && f < r->nfiles; f++)
        rc = import_file(&im, f, formats[f]);
    /* Every staged record is checked against all the others and the store. */
    bool limited = twin_node_writer_limited(n);
    for (size_t i = 0; rc == 0 && i < im.nrows; i++) {
        struct staged_row *s = &im.rows[i];
        char *text = NULL, fault[600];
        if (s->same_sealed) {
            r->unchanged++;
            continue;
        }
        size_t tlen;
        json_t *rec = NULL, *old = NULL;
        /* The staged text is twin's own canonical form: parsing it is enough. A record staged
         * sealed is checked on its content. */
        if (s->plain)
            rec = json_incref(s->plain);
        if ((!rec &&
             ((rc = twin_batch_read(&text, &tlen, im.batch, s->path, TWIN_RECORD_FILE_MAX_BYTES)) ||
              (rc = twin_record_parse(&rec, text, tlen)))) ||
            (s->old_text && (rc = twin_record_parse_canonical(&old, s->old_text, s->old_len))))
            ;
        else if (!s->plain && (rc = confirm_own_row(&text, &tlen, im.batch, s->path, rec, old, n)))
            ;
        else if (twin_record_validate(rec, old, lookup_batch, im.batch) ||
                 twin_record_check_conflicts_kept(rec, old))
            rc = report_error(r, s->file, s->row, "%s", twin_error_last());
        else if (!s->plain &&
                 (rc = twin_validity_check_confirmation(fault, sizeof(fault), old, rec,
                                                        twin_node_org_id(n), lookup_batch,
                                                        im.batch)) == 0 &&
                 fault[0])
            rc = report_error(r, s->file, s->row, "%s", fault);
        else if (limited && s->plain)
            rc = report_error(r, s->file, s->row,
                              "%s may write only in its own partnerships, so it writes no "
                              "sealed records, and this record holds personal data (%s)",
                              twin_node_org_id(n), twin_envelope_personal_field(rec));
        else if (limited &&
                 (rc = twin_validity_check_scope(fault, sizeof(fault), old, rec,
                                                 twin_node_org_id(n), lookup_batch, im.batch)) ==
                     0 &&
                 fault[0])
            rc = report_error(r, s->file, s->row, "%s", fault);
        else if (!s->old_text)
            r->created++;
        else if (tlen == s->old_len && memcmp(text, s->old_text, tlen) == 0)
            r->unchanged++;
        else
            r->changed++;
        free(text);
        json_decref(rec);
        json_decref(old);
    }
    if (rc == 0 && r->nerrors == 0 && !opt->dry_run && r->created + r->changed > 0) {
        char message[600];
        import_message(message, sizeof(message), r, paths, npaths, formats);
        if ((rc = twin_batch_commit(&r->commit, im.batch, message)) == 0 &&
            (rc = twin_batch_flush(im.batch)) == 0) {
            r->commit = *twin_batch_tip(im.batch);
            r->committed = true;
        }
    }
    twin_batch_free(im.batch);
    for (size_t i = 0; i < im.nrows; i++) {
        free(im.rows[i].old_text);
        json_decref(im.rows[i].plain);
    }
    free(im.rows);
    free(im.audience);
    twin_membership_free(im.members);
    free(formats);
    if (rc) {
        twin_interchange_import_report_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

int twin_interchange_import(struct twin_import_report **out, twin_node *n, const char *path,
                            enum twin_format format, const char *type, bool dry_run,
                            twin_import_progress_fn progress, void *progress_ctx)
{
    struct twin_import_options opt = {true, format, type, dry_run, progress, progress_ctx};
    return twin_interchange_import_paths(out, n, &path, 1, &opt);
}
