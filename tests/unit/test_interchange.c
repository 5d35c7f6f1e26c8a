/* Interchange: records out as JSON and CSV (every cell quoted, quotes doubled, line breaks,
 * commas and any Unicode kept), the CSV reader on its own (quoting, NUL bytes, UTF-8, the column
 * and cell limits), and imports: one commit for every row or nothing at all, each invalid row
 * named by its row number, dry runs, updates, JSON imports and the progress callback; imports of
 * several files and directories as one batch, sealed records imported again, and money records
 * (contributions, budgets, transactions, corrections below zero) through JSON and CSV. */
#define _XOPEN_SOURCE 700 /* nftw, open_memstream */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <sys/stat.h>

#include "helpers.h"
#include "twin/interchange.h"
#include "twin/network.h"
#include "twin/node.h"
#include "twin/ops.h"
#include "twin/record.h"
#include "twin/global.h"

static const struct twin_identity who = {"Ministry of Finance of Exampleland", "XE-EXAMPLE-MOF",
                                         "NL", "north", "10"};

/* Text that CSV and JSON must carry unchanged: a comma, quotes, non-Latin scripts, an emoji. */
#define TRICKY_TITLE "Budget, \"final\" – ünïcödé 日本語 ✓ 🇳🇱"
#define TRICKY_BODY  "line one\nline \"two\", with a comma\n\tand a tab"

struct env {
    struct fixture *f;
    char dir[160];
    twin_node *node;
};

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));
    if (!e || fixture_setup((void **)&e->f))
        return -1;
    snprintf(e->dir, sizeof(e->dir), "%s/node", e->f->dir);
    if (twin_network_create(&e->node, e->dir, &who, "Example Tax Twinning")) {
        print_error("create: %s\n", twin_error_last());
        return -1;
    }
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;
    twin_node_free(e->node);
    void *f = e->f;
    fixture_teardown(&f);
    free(e);
    return 0;
}

/* ---- records -------------------------------------------------------------------------------- */

static int set_fields(json_t *rec, void *ctx)
{
    for (const char *const *f = ctx; *f; f += 2) {
        int rc = twin_record_set_path(rec, f[0], f[1]);
        if (rc)
            return rc;
    }
    return 0;
}
#define FIELDS(...) ((void *)(const char *const[]){__VA_ARGS__, NULL})

static void add(char id[TWIN_ID_LEN + 1], twin_node *n, const char *type, void *fields)
{
    git_oid commit;
    if (twin_ops_add(id, &commit, n, type, set_fields, fields))
        fail_msg("add %s: %s", type, twin_error_last());
}

static git_oid head_of(twin_node *n)
{
    git_oid head;
    assert_int_equal(twin_node_head(&head, n), 0);
    return head;
}

static int count_one(json_t *rec, void *ctx)
{
    (*(size_t *)ctx)++;
    return 0;
}

static size_t count_type(twin_node *n, const char *type)
{
    size_t count = 0;
    assert_int_equal(twin_ops_foreach(n, NULL, type, count_one, &count), 0);
    return count;
}

static json_t *get(twin_node *n, const char *id)
{
    json_t *rec = NULL;
    if (twin_ops_get(&rec, n, NULL, NULL, id))
        fail_msg("get %s: %s", id, twin_error_last());
    return rec;
}

/* ---- exports into memory -------------------------------------------------------------------- */

struct out {
    char *text;
    size_t len;
    FILE *fp;
};

static FILE *out_open(struct out *o)
{
    memset(o, 0, sizeof(*o));
    o->fp = open_memstream(&o->text, &o->len);
    assert_non_null(o->fp);
    return o->fp;
}

static char *out_close(struct out *o)
{
    fclose(o->fp);
    return o->text;
}

static char *export_csv(twin_node *n, const struct twin_selection *sel, size_t *rows)
{
    struct out o;
    int rc = twin_interchange_export_csv(out_open(&o), rows, n, sel);
    char *text = out_close(&o);
    if (rc)
        fail_msg("export csv: %s", twin_error_last());
    return text;
}

static json_t *export_json(twin_node *n, const struct twin_selection *sel)
{
    struct out o;
    int rc = twin_interchange_export_json(out_open(&o), n, sel);
    char *text = out_close(&o);
    if (rc)
        fail_msg("export json: %s", twin_error_last());
    json_error_t err;
    json_t *j = json_loads(text, 0, &err);
    if (!json_is_array(j))
        fail_msg("the export is not a JSON array: %s\n%s", err.text, text);
    free(text);
    return j;
}

/* ---- the CSV reader ------------------------------------------------------------------------- */

#define MAX_ROWS 8

struct rows {
    size_t count;
    size_t ncells[MAX_ROWS];
    char *cells[MAX_ROWS][8];
    size_t stop_at; /* a row number at which the callback fails (0: never) */
};

static int keep_row(size_t row, char **cells, size_t ncells, void *ctx)
{
    struct rows *r = ctx;
    assert_int_equal(row, r->count + 1); /* numbered from 1, in order */
    if (r->stop_at && row == r->stop_at)
        return twin_error(TWIN_EINVALID, "row %zu: stopped by the callback", row);
    if (r->count < MAX_ROWS) {
        r->ncells[r->count] = ncells;
        for (size_t i = 0; i < ncells && i < 8; i++)
            r->cells[r->count][i] = strdup(cells[i]);
    }
    r->count++;
    return 0;
}

static void rows_free(struct rows *r)
{
    for (size_t i = 0; i < r->count && i < MAX_ROWS; i++)
        for (size_t k = 0; k < r->ncells[i] && k < 8; k++)
            free(r->cells[i][k]);
    memset(r, 0, sizeof(*r));
}

static int read_csv(struct rows *r, const char *text, size_t len)
{
    memset(r, 0, sizeof(*r));
    return twin_interchange_csv_read(text, len, keep_row, r);
}

#define READ_CSV(r, lit) read_csv((r), (lit), sizeof(lit) - 1)

static void csv_rows_and_cells_are_read_as_written(void **state)
{
    struct rows r;
    /* A byte-order mark, quoted cells with commas, doubled quotes and line breaks (CRLF kept as
     * a plain line break), empty cells, CRLF line ends and no final newline. */
    assert_int_equal(READ_CSV(&r, "\xef\xbb\xbfid,title,body\r\n"
                                  "1,\"a, b\",\"say \"\"hi\"\"\"\r\n"
                                  "2,,\"two\r\nlines\"\r\n"
                                  "3,\"日本語 ✓\",plain"),
                     0);
    assert_int_equal(r.count, 4);
    assert_int_equal(r.ncells[0], 3);
    assert_string_equal(r.cells[0][0], "id"); /* no byte-order mark in the first cell */
    assert_string_equal(r.cells[1][1], "a, b");
    assert_string_equal(r.cells[1][2], "say \"hi\"");
    assert_string_equal(r.cells[2][1], "");
    assert_string_equal(r.cells[2][2], "two\nlines");
    assert_string_equal(r.cells[3][1], "日本語 ✓");
    assert_string_equal(r.cells[3][2], "plain");
    rows_free(&r);

    /* A line break alone inside quotes stays as it is; rows may differ in length. */
    assert_int_equal(READ_CSV(&r, "a,\"x\ny\"\nb\n"), 0);
    assert_int_equal(r.count, 2);
    assert_string_equal(r.cells[0][1], "x\ny");
    assert_int_equal(r.ncells[1], 1);
    rows_free(&r);

    assert_int_equal(READ_CSV(&r, ""), 0);
    assert_int_equal(r.count, 0);
}

static void malformed_quoting_is_refused_naming_the_line(void **state)
{
    struct rows r;
    assert_error(READ_CSV(&r, "id,title\n1,\"closed\"then more\n"), TWIN_EINVALID,
                 "line 2: malformed CSV (");
    rows_free(&r);
    assert_error(READ_CSV(&r, "id,title\n1,ok\n2,ok\n3,a\"b\n"), TWIN_EINVALID,
                 "line 4: malformed CSV (");
    rows_free(&r);
    assert_error(READ_CSV(&r, "id,title\n1,\"never closed\n"), TWIN_EINVALID,
                 "the file ends inside a quoted cell (");
    rows_free(&r);
    /* A NUL byte: not a text file, whatever the quoting. */
    assert_error(read_csv(&r, "id\n1\n2\0\n", 8), TWIN_EINVALID,
                 "line 3: a NUL byte (not a text file)");
    assert_int_equal(r.count, 0); /* refused before any row is handed on */
    rows_free(&r);
}

static void cells_that_are_not_utf8_are_refused_naming_row_and_column(void **state)
{
    struct rows r;
    const char *bad[] = {
        "id,title\n1,\xff\n",             /* not a UTF-8 byte at all */
        "id,title\n1,\xc0\xaf\n",         /* an overlong '/' */
        "id,title\n1,\xed\xa0\x80\n",     /* a surrogate */
        "id,title\n1,\xe6\x97\n",         /* cut short */
        "id,title\n1,\xf4\x90\x80\x80\n", /* beyond U+10FFFF */
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        assert_error(read_csv(&r, bad[i], strlen(bad[i])), TWIN_EINVALID,
                     "row 2, column 2: not valid UTF-8");
        rows_free(&r);
    }
}

static char *repeat_cells(size_t n, const char *cell)
{
    size_t len = n * (strlen(cell) + 1) + 2;
    char *text = malloc(len), *p = text;
    assert_non_null(text);
    for (size_t i = 0; i < n; i++)
        p += sprintf(p, "%s%s", i ? "," : "", cell);
    strcpy(p, "\n");
    return text;
}

static void rows_beyond_the_column_limit_are_refused(void **state)
{
    struct rows r;
    char *most = repeat_cells(TWIN_CSV_COLUMNS_MAX, "c");
    assert_int_equal(read_csv(&r, most, strlen(most)), 0);
    assert_int_equal(r.ncells[0], TWIN_CSV_COLUMNS_MAX);
    rows_free(&r);
    char *too_many = repeat_cells(TWIN_CSV_COLUMNS_MAX + 1, "c");
    assert_error(read_csv(&r, too_many, strlen(too_many)), TWIN_ELIMIT,
                 "row 1: more than 1000 columns");
    rows_free(&r);
    free(most);
    free(too_many);
}

static void a_cell_beyond_its_limit_is_refused(void **state)
{
    struct rows r;
    size_t big = TWIN_CSV_CELL_MAX + 1;
    char *text = malloc(big + 16);
    assert_non_null(text);
    /* The largest cell is read whole, quoted or not. */
    strcpy(text, "a\n\"");
    memset(text + 3, 'x', TWIN_CSV_CELL_MAX);
    strcpy(text + 3 + TWIN_CSV_CELL_MAX, "\"\n");
    assert_int_equal(read_csv(&r, text, strlen(text)), 0);
    assert_int_equal(strlen(r.cells[1][0]), TWIN_CSV_CELL_MAX);
    rows_free(&r);
    /* One byte more is refused by row and column. */
    strcpy(text, "a,b\nz,");
    memset(text + 6, 'x', big);
    strcpy(text + 6 + big, "\n");
    assert_error(read_csv(&r, text, strlen(text)), TWIN_ELIMIT,
                 "row 2, column 2: a cell of more than 65536 bytes");
    rows_free(&r);
    free(text);
}

static void the_callbacks_error_stops_the_reading(void **state)
{
    struct rows r;
    memset(&r, 0, sizeof(r));
    r.stop_at = 2;
    const char text[] = "a\nb\nc\nd\n";
    assert_error(twin_interchange_csv_read(text, sizeof(text) - 1, keep_row, &r), TWIN_EINVALID,
                 "row 2: stopped by the callback");
    assert_int_equal(r.count, 1);
    rows_free(&r);
}

/* ---- exports -------------------------------------------------------------------------------- */

static void json_export_holds_the_selected_records_by_type_then_id(void **state)
{
    struct env *e = *state;
    char n1[TWIN_ID_LEN + 1], n2[TWIN_ID_LEN + 1], n3[TWIN_ID_LEN + 1], doc[TWIN_ID_LEN + 1];
    git_oid commit;
    add(n1, e->node, "note", FIELDS("title", TRICKY_TITLE, "body", TRICKY_BODY));
    add(doc, e->node, "document", FIELDS("title", "MoU", "kind", "mou"));
    add(n2, e->node, "note", FIELDS("title", "Decided", "kind", "decision"));
    add(n3, e->node, "note", FIELDS("title", "Gone"));
    assert_int_equal(twin_ops_withdraw(&commit, e->node, n3), 0);

    struct twin_selection sel = {0};
    json_t *all = export_json(e->node, &sel);
    assert_int_equal(json_array_size(all), 3); /* the withdrawn one left out */
    assert_string_equal(json_string_value(json_object_get(json_array_get(all, 0), "id")), doc);
    assert_string_equal(json_string_value(json_object_get(json_array_get(all, 1), "id")), n1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(all, 2), "id")), n2);
    /* Each record as stored, text unchanged. */
    json_t *stored = get(e->node, n1);
    assert_true(json_equal(json_array_get(all, 1), stored));
    assert_string_equal(json_string_value(json_object_get(stored, "title")), TRICKY_TITLE);
    assert_string_equal(json_string_value(json_object_get(stored, "body")), TRICKY_BODY);
    json_decref(stored);
    json_decref(all);

    sel.all = true;
    all = export_json(e->node, &sel);
    assert_int_equal(json_array_size(all), 4);
    json_decref(all);

    const char *where[] = {"kind=decision"};
    struct twin_selection decisions = {.type = "note", .where = where, .nwhere = 1};
    all = export_json(e->node, &decisions);
    assert_int_equal(json_array_size(all), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(all, 0), "id")), n2);
    json_decref(all);

    struct out o;
    struct twin_selection unknown = {.type = "meeting"};
    assert_error(twin_interchange_export_json(out_open(&o), e->node, &unknown), TWIN_EINVALID,
                 "unknown record type 'meeting'");
    free(out_close(&o));
}

static void csv_export_quotes_every_cell_and_keeps_any_text(void **state)
{
    struct env *e = *state;
    char a[TWIN_ID_LEN + 1], b[TWIN_ID_LEN + 1];
    add(a, e->node, "note", FIELDS("title", TRICKY_TITLE, "body", TRICKY_BODY));
    add(b, e->node, "note", FIELDS("title", "Plain", "kind", "risk"));
    size_t rows = 99;
    struct twin_selection sel = {.type = "note"};
    char *text = export_csv(e->node, &sel, &rows);
    assert_int_equal(rows, 2);

    /* id and type first, then the other columns in order; a field a record lacks is an empty
     * cell; every cell in quotes, the quotes in it doubled. */
    char row_a[512], row_b[128], expect[1024];
    snprintf(row_a, sizeof(row_a),
             "\"%s\",\"note\",\"line one\nline \"\"two\"\", with a comma\n\tand a tab\","
             "\"note\",\"Budget, \"\"final\"\" – ünïcödé 日本語 ✓ 🇳🇱\"\n",
             a);
    snprintf(row_b, sizeof(row_b), "\"%s\",\"note\",\"\",\"risk\",\"Plain\"\n", b);
    bool a_first = strcmp(a, b) < 0; /* rows are in id order */
    snprintf(expect, sizeof(expect), "\"id\",\"type\",\"body\",\"kind\",\"title\"\n%s%s",
             a_first ? row_a : row_b, a_first ? row_b : row_a);
    assert_string_equal(text, expect);

    /* The reader gives back every cell as it was. */
    struct rows r;
    assert_int_equal(read_csv(&r, text, strlen(text)), 0);
    assert_int_equal(r.count, 3);
    size_t tricky = a_first ? 1 : 2;
    assert_string_equal(r.cells[tricky][2], TRICKY_BODY);
    assert_string_equal(r.cells[tricky][4], TRICKY_TITLE);
    rows_free(&r);
    free(text);
}

static void csv_export_writes_nested_fields_as_paths_and_other_values_as_json(void **state)
{
    struct env *e = *state;
    char p[TWIN_ID_LEN + 1], gone[TWIN_ID_LEN + 1];
    git_oid commit;
    add(p, e->node, "partnership",
        FIELDS("title", "Tax twinning", "partnership_type", "twinning", "dates.planned_start",
               "2026-01-01", "dates.planned_end", "2027-06-30"));
    add(gone, e->node, "partnership", FIELDS("title", "Dropped", "partnership_type", "other"));
    assert_int_equal(twin_ops_withdraw(&commit, e->node, gone), 0);
    size_t rows = 0;
    struct twin_selection sel = {.type = "partnership", .all = true};
    char *text = export_csv(e->node, &sel, &rows);
    assert_int_equal(rows, 2);
    /* Nested fields as dotted paths, in order with the others; withdrawn is a column once any
     * selected record has it. */
    const char *header = "\"id\",\"type\",\"dates.planned_end\",\"dates.planned_start\","
                         "\"partnership_type\",\"title\",\"withdrawn\"\n";
    if (strncmp(text, header, strlen(header)) != 0)
        fail_msg("export:\n%s", text);
    struct rows r;
    size_t start = 3, withdrawn = 6;
    assert_int_equal(read_csv(&r, text, strlen(text)), 0);
    assert_int_equal(r.count, 3);
    size_t row_p = strcmp(r.cells[1][0], p) == 0 ? 1 : 2;
    assert_string_equal(r.cells[row_p][start], "2026-01-01");
    assert_string_equal(r.cells[row_p][withdrawn], "");
    assert_string_equal(r.cells[3 - row_p][withdrawn], "true"); /* a boolean, as JSON */
    assert_string_equal(r.cells[3 - row_p][start], "");
    rows_free(&r);
    free(text);
}

/* Without a type there is no one header to write (and nothing is left allocated). */
static void csv_export_needs_a_type(void **state)
{
    struct env *e = *state;
    struct out o;
    struct twin_selection any = {0};
    size_t rows = 7;
    assert_error(twin_interchange_export_csv(out_open(&o), &rows, e->node, &any), TWIN_EINVALID,
                 "CSV holds one record type: say which");
    assert_int_equal(rows, 0);
    free(out_close(&o));
}

/* ---- imports -------------------------------------------------------------------------------- */

static void file_with(struct env *e, char path[256], const char *name, const char *text)
{
    snprintf(path, 256, "%s/%s", e->f->dir, name);
    write_text(path, text, strlen(text), 0644);
}

static struct twin_import_report *import_ok(struct env *e, const char *path,
                                            enum twin_format format, const char *type, bool dry)
{
    struct twin_import_report *r = NULL;
    if (twin_interchange_import(&r, e->node, path, format, type, dry, NULL, NULL))
        fail_msg("import: %s", twin_error_last());
    assert_non_null(r);
    return r;
}

struct titles {
    size_t count;
    char seen[8][128];
};

static int note_title(json_t *rec, void *ctx)
{
    struct titles *t = ctx;
    if (t->count < 8)
        snprintf(t->seen[t->count], sizeof(t->seen[0]), "%s",
                 json_string_value(json_object_get(rec, "title")));
    t->count++;
    return 0;
}

static bool has_title(twin_node *n, const char *title)
{
    struct titles t = {0};
    assert_int_equal(twin_ops_foreach(n, NULL, "note", note_title, &t), 0);
    for (size_t i = 0; i < t.count && i < 8; i++)
        if (strcmp(t.seen[i], title) == 0)
            return true;
    return false;
}

static void a_csv_import_lands_in_one_signed_commit(void **state)
{
    struct env *e = *state;
    char path[256];
    git_oid before = head_of(e->node);
    file_with(e, path, "notes.csv",
              "title,kind,body\n"
              "\""
              "Budget, \"\"final\"\" – ünïcödé 日本語 ✓ 🇳🇱"
              "\",decision,\"line one\nline "
              "\"\"two\"\", with a comma\n\tand a tab\"\n"
              "Second,,\n"
              "\n"
              "Third,risk,x\n");
    struct twin_import_report *r = import_ok(e, path, TWIN_FORMAT_CSV, "note", false);
    assert_int_equal(r->rows, 3); /* the blank line is no row */
    assert_int_equal(r->created, 3);
    assert_int_equal(r->changed, 0);
    assert_int_equal(r->nerrors, 0);
    assert_true(r->committed);

    /* One commit on the old head, which is the new head. */
    git_oid after = head_of(e->node);
    assert_true(git_oid_equal(&after, &r->commit));
    git_commit *c = NULL;
    assert_int_equal(git_commit_lookup(&c, twin_node_repo(e->node), &after), 0);
    assert_int_equal(git_commit_parentcount(c), 1);
    assert_true(git_oid_equal(git_commit_parent_id(c, 0), &before));
    assert_string_equal(git_commit_message(c),
                        "import 3 records from notes.csv: 3 new, 0 changed\n\nImport: csv\n");
    git_commit_free(c);
    assert_int_equal(count_type(e->node, "note"), 3);
    assert_true(has_title(e->node, TRICKY_TITLE));
    assert_true(has_title(e->node, "Second"));
    twin_interchange_import_report_free(r);
}

static void an_invalid_row_is_named_by_number_and_nothing_is_written(void **state)
{
    struct env *e = *state;
    char path[256];
    git_oid before = head_of(e->node);
    file_with(e, path, "notes.csv",
              "title,kind\n"
              "Fine,note\n"
              "Gossip,gossip\n" /* row 3: no such kind */
              "Also fine,risk\n"
              ",decision\n" /* row 5: no title */
              "Fine too,note\n");
    struct twin_import_report *r = import_ok(e, path, TWIN_FORMAT_CSV, "note", false);
    assert_int_equal(r->rows, 5);
    assert_int_equal(r->nerrors, 2);
    assert_int_equal(r->errors[0].row, 3);
    assert_non_null(strstr(r->errors[0].message, "note.kind"));
    assert_non_null(strstr(r->errors[0].message, "gossip"));
    assert_int_equal(r->errors[1].row, 5);
    assert_string_equal(r->errors[1].message, "note.title: required");
    assert_false(r->committed);
    git_oid after = head_of(e->node);
    assert_true(git_oid_equal(&before, &after));
    assert_int_equal(count_type(e->node, "note"), 0);
    twin_interchange_import_report_free(r);
}

static void rows_that_do_not_fit_the_file_are_named(void **state)
{
    struct env *e = *state;
    char path[256], text[1024], existing[TWIN_ID_LEN + 1], fresh[TWIN_ID_LEN + 1];
    add(existing, e->node, "note", FIELDS("title", "Kept"));
    twin_record_new_id(fresh);
    git_oid before = head_of(e->node);
    snprintf(text, sizeof(text),
             "id,type,title\n"
             ",note,Fine\n"
             ",note\n"                          /* row 3: a field short */
             "kick-off,note,Bad id\n"           /* row 4 */
             "%s,note,Once\n"                   /* row 5 */
             "%s,note,Twice\n"                  /* row 6: the same id again */
             ",document,Wrong type\n"           /* row 7 */
             ",note,\"not valid \x01 text\"\n", /* row 8: a control character */
             fresh, fresh);
    file_with(e, path, "notes.csv", text);
    struct twin_import_report *r = import_ok(e, path, TWIN_FORMAT_CSV, "note", false);
    struct {
        size_t row;
        const char *message;
    } want[] = {
        {3, "the row has 2 fields, the header 3"},
        {4, "id: 'kick-off' is not a record id"},
        {6, "appears twice in the import"},
        {7, "type: the record says document, --type says note"},
        {8, "note.title: must be one line without control characters"},
    };
    for (size_t i = 0; i < r->nerrors; i++)
        print_message("row %zu: %s\n", r->errors[i].row, r->errors[i].message);
    assert_int_equal(r->nerrors, sizeof(want) / sizeof(want[0]));
    for (size_t i = 0; i < r->nerrors; i++) {
        assert_int_equal(r->errors[i].row, want[i].row);
        if (!strstr(r->errors[i].message, want[i].message))
            fail_msg("row %zu: \"%s\" lacks \"%s\"", want[i].row, r->errors[i].message,
                     want[i].message);
    }
    assert_false(r->committed);
    git_oid after = head_of(e->node);
    assert_true(git_oid_equal(&before, &after));
    assert_int_equal(count_type(e->node, "note"), 1);
    twin_interchange_import_report_free(r);
}

static void a_file_that_cannot_be_read_as_its_format_is_refused(void **state)
{
    struct env *e = *state;
    char path[256], missing[256];
    struct twin_import_report *r = (struct twin_import_report *)&r;
    git_oid before = head_of(e->node);
    file_with(e, path, "notes.csv", "title\nok\n");
    assert_error(
        twin_interchange_import(&r, e->node, path, TWIN_FORMAT_CSV, NULL, false, NULL, NULL),
        TWIN_EINVALID, "notes.csv: row 1: no type column, and the file's name is no record type's");
    assert_null(r);
    assert_error(
        twin_interchange_import(&r, e->node, path, TWIN_FORMAT_CSV, "meeting", false, NULL, NULL),
        TWIN_EINVALID, "unknown record type 'meeting'");
    snprintf(missing, sizeof(missing), "%s/absent.csv", e->f->dir);
    assert_int_not_equal(
        twin_interchange_import(&r, e->node, missing, TWIN_FORMAT_CSV, "note", false, NULL, NULL),
        0);
    assert_non_null(strstr(twin_error_last(), "absent.csv"));

    const struct {
        const char *text;
        int code;
        const char *message;
    } bad[] = {
        {"title\nok\n\"open\n", TWIN_EINVALID, "the file ends inside a quoted cell"},
        {"title\nok\nx\"y\n", TWIN_EINVALID, "line 3: malformed CSV"},
        {"title,title\nok,ok\n", TWIN_EINVALID, "row 1: column 'title' appears twice"},
        {"title,,kind\nok,,note\n", TWIN_EINVALID, "row 1, column 2: a column without a name"},
        {"title\n\xff\n", TWIN_EINVALID, "row 2, column 1: not valid UTF-8"},
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        file_with(e, path, "bad.csv", bad[i].text);
        assert_error(
            twin_interchange_import(&r, e->node, path, TWIN_FORMAT_CSV, "note", false, NULL, NULL),
            bad[i].code, bad[i].message);
        assert_null(r);
    }
    git_oid after = head_of(e->node);
    assert_true(git_oid_equal(&before, &after));
}

static void a_dry_run_checks_everything_and_writes_nothing(void **state)
{
    struct env *e = *state;
    char path[256], text[512], existing[TWIN_ID_LEN + 1], same[TWIN_ID_LEN + 1];
    add(existing, e->node, "note", FIELDS("title", "Old title"));
    add(same, e->node, "note", FIELDS("title", "Unchanged"));
    git_oid before = head_of(e->node);
    snprintf(text, sizeof(text),
             "id,title,kind\n"
             "%s,New title,note\n"
             "%s,Unchanged,note\n"
             ",Brand new,note\n",
             existing, same);
    file_with(e, path, "notes.csv", text);
    struct twin_import_report *r = import_ok(e, path, TWIN_FORMAT_CSV, "note", true);
    assert_int_equal(r->rows, 3);
    assert_int_equal(r->created, 1);
    assert_int_equal(r->changed, 1);
    assert_int_equal(r->unchanged, 1);
    assert_int_equal(r->nerrors, 0);
    assert_false(r->committed);
    git_oid after = head_of(e->node);
    assert_true(git_oid_equal(&before, &after));
    json_t *rec = get(e->node, existing);
    assert_string_equal(json_string_value(json_object_get(rec, "title")), "Old title");
    json_decref(rec);
    twin_interchange_import_report_free(r);

    /* The same import for real changes one record, adds one, and leaves the third alone. */
    r = import_ok(e, path, TWIN_FORMAT_CSV, "note", false);
    assert_true(r->committed);
    assert_int_equal(r->changed, 1);
    assert_int_equal(r->created, 1);
    assert_int_equal(r->unchanged, 1);
    rec = get(e->node, existing);
    assert_string_equal(json_string_value(json_object_get(rec, "title")), "New title");
    json_decref(rec);
    assert_int_equal(count_type(e->node, "note"), 3);
    twin_interchange_import_report_free(r);
}

/* An export imported again changes nothing, and makes no commit: the text survived. */
static void an_export_imported_again_is_unchanged(void **state)
{
    struct env *e = *state;
    char a[TWIN_ID_LEN + 1], b[TWIN_ID_LEN + 1], path[256];
    add(a, e->node, "note", FIELDS("title", TRICKY_TITLE, "body", TRICKY_BODY));
    add(b, e->node, "note", FIELDS("title", "Plain", "kind", "lesson_learned"));
    git_oid before = head_of(e->node);
    size_t rows = 0;
    struct twin_selection sel = {.type = "note"};
    char *csv = export_csv(e->node, &sel, &rows);
    file_with(e, path, "notes.csv", csv);
    struct twin_import_report *r = import_ok(e, path, TWIN_FORMAT_CSV, "note", false);
    assert_int_equal(r->rows, 2);
    assert_int_equal(r->unchanged, 2);
    assert_int_equal(r->created + r->changed, 0);
    assert_false(r->committed);
    twin_interchange_import_report_free(r);
    free(csv);

    struct out o;
    assert_int_equal(twin_interchange_export_json(out_open(&o), e->node, &sel), 0);
    char *json = out_close(&o);
    file_with(e, path, "notes.json", json);
    r = import_ok(e, path, TWIN_FORMAT_JSON, NULL, false);
    assert_int_equal(r->unchanged, 2);
    assert_false(r->committed);
    twin_interchange_import_report_free(r);
    free(json);
    git_oid after = head_of(e->node);
    assert_true(git_oid_equal(&before, &after));
}

static void a_json_import_checks_references_among_its_own_records(void **state)
{
    struct env *e = *state;
    char path[256], text[1024], part[TWIN_ID_LEN + 1], missing[TWIN_ID_LEN + 1];
    twin_record_new_id(part);
    twin_record_new_id(missing);
    /* An activity that points at a partnership of the same file, and notes without a type. */
    snprintf(text, sizeof(text),
             "[{\"id\": \"%s\", \"type\": \"partnership\", \"title\": \"Tax twinning\","
             " \"partnership_type\": \"twinning\"},"
             " {\"type\": \"activity\", \"partnership\": \"%s\", \"kind\": \"workshop\","
             " \"title\": \"Kick-off\"},"
             " {\"type\": \"note\", \"title\": \"Typed\"}]",
             part, part);
    file_with(e, path, "records.json", text);
    struct twin_import_report *r = import_ok(e, path, TWIN_FORMAT_JSON, NULL, false);
    assert_int_equal(r->nerrors, 0);
    assert_int_equal(r->created, 3);
    assert_true(r->committed);
    git_commit *c = NULL;
    assert_int_equal(git_commit_lookup(&c, twin_node_repo(e->node), &r->commit), 0);
    assert_string_equal(git_commit_message(c),
                        "import 3 records from records.json: 3 new, 0 changed\n\nImport: json\n");
    git_commit_free(c);
    twin_interchange_import_report_free(r);
    assert_int_equal(count_type(e->node, "activity"), 1);

    /* A reference to nothing, an item that is no object, a record without a type: each named
     * by its place in the array (those the file itself gets wrong first, then those the
     * records' checks find), and nothing written. */
    git_oid before = head_of(e->node);
    snprintf(text, sizeof(text),
             "[{\"type\": \"note\", \"title\": \"Fine\"},"
             " {\"type\": \"activity\", \"partnership\": \"%s\", \"kind\": \"workshop\","
             " \"title\": \"Orphan\"},"
             " 42,"
             " {\"title\": \"No type\"}]",
             missing);
    file_with(e, path, "records.json", text);
    r = import_ok(e, path, TWIN_FORMAT_JSON, NULL, false);
    for (size_t i = 0; i < r->nerrors; i++)
        print_message("item %zu: %s\n", r->errors[i].row, r->errors[i].message);
    assert_int_equal(r->rows, 3);
    assert_int_equal(r->nerrors, 3);
    char expect[128];
    snprintf(expect, sizeof(expect), "activity.partnership: no partnership %s", missing);
    assert_int_equal(r->errors[0].row, 3);
    assert_string_equal(r->errors[0].message, "not a JSON object");
    assert_int_equal(r->errors[1].row, 4);
    assert_string_equal(r->errors[1].message,
                        "type: missing (give it in the record or with --type)");
    assert_int_equal(r->errors[2].row, 2);
    assert_string_equal(r->errors[2].message, expect);
    assert_false(r->committed);
    git_oid after = head_of(e->node);
    assert_true(git_oid_equal(&before, &after));
    twin_interchange_import_report_free(r);

    /* Not an array, not JSON. */
    struct twin_import_report *none = NULL;
    file_with(e, path, "records.json", "{\"type\": \"note\"}");
    assert_error(
        twin_interchange_import(&none, e->node, path, TWIN_FORMAT_JSON, NULL, false, NULL, NULL),
        TWIN_EINVALID, "a JSON import is an array of records");
    file_with(e, path, "records.json", "[\n{\"title\": }]");
    assert_error(
        twin_interchange_import(&none, e->node, path, TWIN_FORMAT_JSON, NULL, false, NULL, NULL),
        TWIN_EINVALID, "not valid JSON (line 2, column ");
    assert_null(none);
}

/* ---- imports of several files ---------------------------------------------------------------- */

static struct twin_import_report *import_paths_ok(struct env *e, const char *const *paths,
                                                  size_t npaths, bool dry)
{
    struct twin_import_report *r = NULL;
    struct twin_import_options opt = {.dry_run = dry};
    if (twin_interchange_import_paths(&r, e->node, paths, npaths, &opt))
        fail_msg("import: %s", twin_error_last());
    assert_non_null(r);
    return r;
}

static char *commit_message(twin_node *n, const git_oid *id)
{
    git_commit *c = NULL;
    assert_int_equal(git_commit_lookup(&c, twin_node_repo(n), id), 0);
    char *message = strdup(git_commit_message(c));
    git_commit_free(c);
    return message;
}

static void several_files_are_one_batch_whose_references_resolve_in_any_order(void **state)
{
    struct env *e = *state;
    char part[TWIN_ID_LEN + 1], doc[TWIN_ID_LEN + 1], result[TWIN_ID_LEN + 1], text[1024], dir[256],
        path[256];
    twin_record_new_id(part);
    twin_record_new_id(doc);
    twin_record_new_id(result);
    snprintf(dir, sizeof(dir), "%s/export", e->f->dir);
    assert_int_equal(mkdir(dir, 0755), 0);
    /* The indicator file has no type column (its name says it) and comes first by name; it
     * points at a result of a later file, which points at the partnership of the last file, and
     * the partnership and its document point at each other. */
    snprintf(text, sizeof(text), "result,title,measure\n%s,Water lost (%%),2\n", result);
    file_with(e, path, "export/indicator.csv", text);
    snprintf(text, sizeof(text),
             "id,type,partnership,title,result_type\n%s,result,%s,Less water lost,2\n"
             ",document,%s,MoU,\n",
             result, part, part);
    file_with(e, path, "export/mixed.csv", text);
    snprintf(text, sizeof(text),
             "[{\"id\": \"%s\", \"type\": \"document\", \"kind\": \"mou\", \"title\": \"Signed\","
             " \"partnership\": \"%s\"},"
             " {\"id\": \"%s\", \"type\": \"partnership\", \"title\": \"Utility twinning\","
             " \"partnership_type\": \"twinning\","
             " \"agreements\": [{\"kind\": \"mou\", \"document\": \"%s\"}]}]",
             doc, part, part, doc);
    file_with(e, path, "partnership.json", text);
    git_oid before = head_of(e->node);

    const char *paths[] = {dir, path};
    struct twin_import_report *r = import_paths_ok(e, paths, 2, false);
    for (size_t i = 0; i < r->nerrors; i++)
        print_message("%s row %zu: %s\n", r->files[r->errors[i].file], r->errors[i].row,
                      r->errors[i].message);
    /* The document of mixed.csv has no kind: its row is named with its file. */
    assert_int_equal(r->nerrors, 1);
    assert_int_equal(r->errors[0].file, 1);
    assert_int_equal(r->errors[0].row, 3);
    assert_string_equal(r->errors[0].message, "document.kind: required");
    assert_false(r->committed);
    assert_int_equal(r->nfiles, 3);
    assert_non_null(strstr(r->files[0], "export/indicator.csv"));
    assert_non_null(strstr(r->files[1], "export/mixed.csv"));
    assert_string_equal(r->files[2], path);
    git_oid after = head_of(e->node);
    assert_true(git_oid_equal(&before, &after));
    twin_interchange_import_report_free(r);

    snprintf(text, sizeof(text),
             "id,type,partnership,title,result_type,kind\n%s,result,%s,Less water lost,2,\n"
             ",document,%s,MoU,,mou\n",
             result, part, part);
    file_with(e, path, "export/mixed.csv", text);
    snprintf(path, sizeof(path), "%s/partnership.json", e->f->dir);
    r = import_paths_ok(e, paths, 2, false);
    assert_int_equal(r->nerrors, 0);
    assert_int_equal(r->rows, 5);
    assert_int_equal(r->created, 5);
    assert_true(r->committed);
    after = head_of(e->node);
    assert_true(git_oid_equal(&after, &r->commit));
    git_commit *c = NULL;
    assert_int_equal(git_commit_lookup(&c, twin_node_repo(e->node), &after), 0);
    assert_int_equal(git_commit_parentcount(c), 1);
    assert_true(git_oid_equal(git_commit_parent_id(c, 0), &before));
    assert_string_equal(git_commit_message(c), "import 5 records from 3 files: 5 new, 0 changed"
                                               "\n\nImport: json, csv\n");
    git_commit_free(c);
    twin_interchange_import_report_free(r);
    assert_int_equal(count_type(e->node, "indicator"), 1);
    assert_int_equal(count_type(e->node, "document"), 2);
    json_t *p = get(e->node, part);
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(p, "agreements"), 0), "document")),
                        doc);
    json_decref(p);

    /* The directory alone, again: the row with an id is unchanged, those without are new. */
    r = import_paths_ok(e, paths, 1, true);
    assert_int_equal(r->unchanged, 1);
    assert_int_equal(r->created, 2);
    assert_false(r->committed);
    twin_interchange_import_report_free(r);
}

/* Money and staff time: a contribution, a budget and a transaction, each with a correction that
 * takes away (a negative value), come out as JSON and as CSV and back into another network's
 * node exactly as recorded, corrections still naming the entries they correct; into their own
 * node they change nothing. */
static const char *const money_types[] = {"institution", "partnership", "contribution", "budget",
                                          "transaction"};
#define N_MONEY_TYPES (sizeof(money_types) / sizeof(money_types[0]))

static twin_node *another_node(struct env *e, const char *name)
{
    char dir[256];
    twin_node *n = NULL;
    snprintf(dir, sizeof(dir), "%s/%s", e->f->dir, name);
    if (twin_network_create(&n, dir, &who, "Example Money Twinning"))
        fail_msg("create %s: %s", name, twin_error_last());
    return n;
}

/* Every record of the money types in a is in b, equal. */
static void same_records(twin_node *a, twin_node *b, size_t expected)
{
    struct twin_selection any = {0};
    json_t *all = export_json(a, &any);
    size_t i, n = 0;
    json_t *rec;
    json_array_foreach(all, i, rec)
    {
        json_t *there = get(b, json_string_value(json_object_get(rec, "id")));
        if (!json_equal(rec, there)) {
            char *x = json_dumps(rec, JSON_SORT_KEYS), *y = json_dumps(there, JSON_SORT_KEYS);
            fail_msg("changed on the way:\n%s\n%s", x, y);
        }
        json_decref(there);
        n++;
    }
    assert_int_equal(n, expected);
    json_decref(all);
}

static void money_records_round_trip_through_json_and_csv(void **state)
{
    struct env *e = *state;
    char inst[TWIN_ID_LEN + 1], part[TWIN_ID_LEN + 1], c1[TWIN_ID_LEN + 1], c2[TWIN_ID_LEN + 1],
        b1[TWIN_ID_LEN + 1], b2[TWIN_ID_LEN + 1], t1[TWIN_ID_LEN + 1], t2[TWIN_ID_LEN + 1];
    add(inst, e->node, "institution",
        FIELDS("name", "Water Authority South", "org_id", "XE-EXAMPLE-WAS"));
    add(part, e->node, "partnership",
        FIELDS("title", "Water twinning", "partnership_type", "twinning", "currency", "EUR"));
    add(c1, e->node, "contribution",
        FIELDS("partnership", part, "institution", inst, "kind", "in_kind", "category",
               "expert_days", "quantity", "20", "unit", "days", "value", "12000.5", "currency",
               "EUR", "date", "2026-02-01", "status", "pledged", "description", TRICKY_TITLE));
    add(c2, e->node, "contribution",
        FIELDS("partnership", part, "institution", inst, "kind", "in_kind", "category",
               "expert_days", "quantity", "-2.5", "unit", "days", "value", "-1500.25", "currency",
               "EUR", "date", "2026-02-03", "status", "pledged", "corrects", c1));
    add(b1, e->node, "budget",
        FIELDS("partnership", part, "budget_type", "original", "status", "committed",
               "period_start", "2026-01-01", "period_end", "2026-12-31", "value", "120000",
               "currency", "EUR", "value_date", "2026-01-15", "description", TRICKY_BODY));
    add(b2, e->node, "budget",
        FIELDS("partnership", part, "budget_type", "original", "period_start", "2026-01-01",
               "period_end", "2026-12-31", "value", "-20000", "currency", "EUR", "corrects", b1));
    add(t1, e->node, "transaction",
        FIELDS("partnership", part, "transaction_type", "3", "value", "50000", "currency", "EUR",
               "date", "2026-03-01", "receiver", inst));
    add(t2, e->node, "transaction",
        FIELDS("partnership", part, "transaction_type", "3", "value", "-0.75", "currency", "EUR",
               "date", "2026-03-02", "value_date", "2026-03-01", "corrects", t1));
    json_t *rec = get(e->node, b2);
    assert_int_equal(json_integer_value(json_object_get(rec, "value")), -20000);
    json_decref(rec);
    struct twin_selection any = {0};
    size_t total = 0;
    for (size_t i = 0; i < N_MONEY_TYPES; i++)
        total += count_type(e->node, money_types[i]);
    assert_int_equal(total, 8);

    /* JSON, all types in one file, into another network's node. */
    struct out o;
    assert_int_equal(twin_interchange_export_json(out_open(&o), e->node, &any), 0);
    char *json = out_close(&o), path[256], dir[256];
    file_with(e, path, "all.json", json);
    free(json);
    twin_node *n2 = another_node(e, "json-node");
    struct twin_import_report *r = NULL;
    if (twin_interchange_import(&r, n2, path, TWIN_FORMAT_JSON, NULL, false, NULL, NULL))
        fail_msg("json import: %s", twin_error_last());
    assert_int_equal(r->nerrors, 0);
    assert_int_equal(r->created, 8);
    twin_interchange_import_report_free(r);
    same_records(e->node, n2, 8);
    twin_node_free(n2);

    /* CSV, one file per type, as one import into a third node. */
    snprintf(dir, sizeof(dir), "%s/csv", e->f->dir);
    assert_int_equal(mkdir(dir, 0755), 0);
    for (size_t i = 0; i < N_MONEY_TYPES; i++) {
        struct twin_selection sel = {.type = money_types[i]};
        size_t rows = 0;
        char *csv = export_csv(e->node, &sel, &rows), name[64];
        snprintf(name, sizeof(name), "csv/%s.csv", money_types[i]);
        file_with(e, path, name, csv);
        free(csv);
    }
    twin_node *n3 = another_node(e, "csv-node");
    const char *paths[] = {dir};
    struct twin_import_options opt = {0};
    r = NULL;
    if (twin_interchange_import_paths(&r, n3, paths, 1, &opt))
        fail_msg("csv import: %s", twin_error_last());
    for (size_t i = 0; i < r->nerrors; i++)
        print_message("%s row %zu: %s\n", r->files[r->errors[i].file], r->errors[i].row,
                      r->errors[i].message);
    assert_int_equal(r->nerrors, 0);
    assert_int_equal(r->created, 8);
    twin_interchange_import_report_free(r);
    same_records(e->node, n3, 8);
    rec = get(n3, t2);
    assert_true(json_number_value(json_object_get(rec, "value")) == -0.75);
    assert_string_equal(json_string_value(json_object_get(rec, "corrects")), t1);
    json_decref(rec);
    twin_node_free(n3);

    /* Into their own node: nothing changes. */
    git_oid before = head_of(e->node);
    r = import_paths_ok(e, paths, 1, false);
    assert_int_equal(r->unchanged, 8);
    assert_int_equal(r->created + r->changed, 0);
    assert_false(r->committed);
    twin_interchange_import_report_free(r);
    git_oid after = head_of(e->node);
    assert_true(git_oid_equal(&before, &after));
}

static void a_directory_gives_its_files_of_the_format_and_nothing_else(void **state)
{
    struct env *e = *state;
    char dir[256], path[256], sub[256];
    snprintf(dir, sizeof(dir), "%s/in", e->f->dir);
    snprintf(sub, sizeof(sub), "%s/in/sub.csv", e->f->dir);
    assert_int_equal(mkdir(dir, 0755), 0);
    assert_int_equal(mkdir(sub, 0755), 0);
    file_with(e, path, "in/b.csv", "type,title\nnote,Second\n");
    file_with(e, path, "in/a.csv", "type,title\nnote,First\n");
    file_with(e, path, "in/.hidden.csv", "type,title\nnote,Hidden\n");
    file_with(e, path, "in/readme.txt", "not records\n");
    file_with(e, path, "in/notes.json", "[{\"type\": \"note\", \"title\": \"From JSON\"}]");
    const char *paths[] = {dir};
    struct twin_import_report *r = import_paths_ok(e, paths, 1, false);
    assert_int_equal(r->nerrors, 0);
    assert_int_equal(r->nfiles, 2);
    assert_non_null(strstr(r->files[0], "in/a.csv"));
    assert_non_null(strstr(r->files[1], "in/b.csv"));
    assert_int_equal(r->created, 2);
    char *message = commit_message(e->node, &r->commit);
    assert_string_equal(message, "import 2 records from in (2 files): 2 new, 0 changed\n\nImport: "
                                 "csv\n");
    free(message);
    twin_interchange_import_report_free(r);

    /* With a format given, a directory gives its files of that format. */
    struct twin_import_options opt = {.format_given = true, .format = TWIN_FORMAT_JSON};
    r = NULL;
    assert_int_equal(twin_interchange_import_paths(&r, e->node, paths, 1, &opt), 0);
    assert_int_equal(r->nfiles, 1);
    assert_int_equal(r->created, 1);
    twin_interchange_import_report_free(r);

    /* What cannot be read as a batch is refused whole, naming the path. */
    git_oid before = head_of(e->node);
    opt.format = TWIN_FORMAT_IATI;
    assert_error(twin_interchange_import_paths(&r, e->node, paths, 1, &opt), TWIN_EINVALID,
                 "holds no .xml file to import");
    assert_null(r);
    char x1[256], x2[256];
    file_with(e, x1, "one.xml", "<iati-activities/>");
    file_with(e, x2, "two.xml", "<iati-activities/>");
    const char *two[] = {x1, x2};
    opt.format_given = false;
    assert_error(twin_interchange_import_paths(&r, e->node, two, 2, &opt), TWIN_EINVALID,
                 "an IATI import reads one file at a time, not 2 files");
    const char *txt[] = {path};
    snprintf(path, sizeof(path), "%s/in/readme.txt", e->f->dir);
    assert_error(twin_interchange_import_paths(&r, e->node, txt, 1, &opt), TWIN_EINVALID,
                 "readme.txt: say its format with --format csv|json|iati");
    file_with(e, path, "in/b.csv", "type,title\nnote,\"open\n");
    assert_error(twin_interchange_import_paths(&r, e->node, paths, 1, &opt), TWIN_EINVALID,
                 "in/b.csv: the file ends inside a quoted cell");
    assert_null(r);
    git_oid after = head_of(e->node);
    assert_true(git_oid_equal(&before, &after));
}

static void a_sealed_record_imported_again_as_its_content_is_unchanged(void **state)
{
    struct env *e = *state;
    char id[TWIN_ID_LEN + 1], path[256];
    add(id, e->node, "person", FIELDS("name", "Imani Example", "email", "imani@example.org"));
    json_t *stored = get(e->node, id);
    assert_non_null(json_object_get(stored, "sealed")); /* personal data: sealed */
    json_decref(stored);
    struct twin_selection sel = {.type = "person"};
    struct twin_export_sealed sealed = {.include = true};
    struct out o;
    size_t rows = 0;
    assert_int_equal(
        twin_interchange_export_csv_sealed(out_open(&o), &rows, e->node, &sel, &sealed), 0);
    char *csv = out_close(&o);
    assert_int_equal(rows, 1);
    file_with(e, path, "person.csv", csv);
    git_oid before = head_of(e->node);
    const char *paths[] = {path};
    struct twin_import_report *r = import_paths_ok(e, paths, 1, false);
    assert_int_equal(r->nerrors, 0);
    assert_int_equal(r->unchanged, 1);
    assert_false(r->committed);
    twin_interchange_import_report_free(r);

    /* A change to it is refused: an import does not reseal. */
    char *at = strstr(csv, "Imani Example");
    assert_non_null(at);
    memcpy(at, "Imani Changed", 13);
    file_with(e, path, "person.csv", csv);
    r = import_paths_ok(e, paths, 1, false);
    assert_int_equal(r->nerrors, 1);
    assert_non_null(strstr(r->errors[0].message, "is sealed; an import cannot change it"));
    assert_false(r->committed);
    twin_interchange_import_report_free(r);
    free(csv);
    git_oid after = head_of(e->node);
    assert_true(git_oid_equal(&before, &after));
}

static void progress(size_t rows_done, void *ctx)
{
    size_t *calls = ctx;
    assert_true(calls[0] < 8);
    calls[1 + calls[0]++] = rows_done;
}

static void progress_is_reported_every_thousand_rows(void **state)
{
    struct env *e = *state;
    char path[256];
    size_t size = 16 + 2500 * 16, len = 0;
    char *text = malloc(size);
    assert_non_null(text);
    len += (size_t)snprintf(text, size, "title\n");
    for (int i = 0; i < 2500; i++)
        len += (size_t)snprintf(text + len, size - len, "Note %d\n", i);
    file_with(e, path, "many.csv", text);
    free(text);
    size_t calls[9] = {0};
    struct twin_import_report *r = NULL;
    assert_int_equal(
        twin_interchange_import(&r, e->node, path, TWIN_FORMAT_CSV, "note", true, progress, calls),
        0);
    assert_int_equal(r->rows, 2500);
    assert_int_equal(r->created, 2500);
    assert_int_equal(calls[0], 2);
    assert_int_equal(calls[1], 1000);
    assert_int_equal(calls[2], 2000);
    twin_interchange_import_report_free(r);
}

static int setup_global(void **state)
{
    return twin_global_init(false) == 0 ? 0 : -1;
}

static int teardown_global(void **state)
{
    twin_global_shutdown();
    return 0;
}

#define ENV_TEST(t) cmocka_unit_test_setup_teardown(t, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(csv_rows_and_cells_are_read_as_written),
        cmocka_unit_test(malformed_quoting_is_refused_naming_the_line),
        cmocka_unit_test(cells_that_are_not_utf8_are_refused_naming_row_and_column),
        cmocka_unit_test(rows_beyond_the_column_limit_are_refused),
        cmocka_unit_test(a_cell_beyond_its_limit_is_refused),
        cmocka_unit_test(the_callbacks_error_stops_the_reading),
        ENV_TEST(json_export_holds_the_selected_records_by_type_then_id),
        ENV_TEST(csv_export_quotes_every_cell_and_keeps_any_text),
        ENV_TEST(csv_export_writes_nested_fields_as_paths_and_other_values_as_json),
        ENV_TEST(csv_export_needs_a_type),
        ENV_TEST(a_csv_import_lands_in_one_signed_commit),
        ENV_TEST(an_invalid_row_is_named_by_number_and_nothing_is_written),
        ENV_TEST(rows_that_do_not_fit_the_file_are_named),
        ENV_TEST(a_file_that_cannot_be_read_as_its_format_is_refused),
        ENV_TEST(a_dry_run_checks_everything_and_writes_nothing),
        ENV_TEST(an_export_imported_again_is_unchanged),
        ENV_TEST(a_json_import_checks_references_among_its_own_records),
        ENV_TEST(several_files_are_one_batch_whose_references_resolve_in_any_order),
        ENV_TEST(a_directory_gives_its_files_of_the_format_and_nothing_else),
        ENV_TEST(money_records_round_trip_through_json_and_csv),
        ENV_TEST(a_sealed_record_imported_again_as_its_content_is_unchanged),
        ENV_TEST(progress_is_reported_every_thousand_rows),
    };
    return cmocka_run_group_tests(tests, setup_global, teardown_global);
}
