/*
 * Interchange: records out as JSON or CSV, and in from them in bulk.
 *
 * CSV has one file per record type. Its header names the columns: `id`, `type`, then every
 * other field present in any record of the type, sorted, nested fields as dotted paths
 * (`dates.planned_start`). A cell holds a text value as it is and any other value (number,
 * boolean, list, object) as JSON; an empty cell is an absent field.
 *
 * An import of one file or many is atomic: every row is checked against the schema and the
 * records it points at (including rows of the same import, in any file and order), and either
 * all of them land in one signed commit or nothing does, with every invalid row reported.
 */
#ifndef TWIN_INTERCHANGE_H
#define TWIN_INTERCHANGE_H

#include <git2.h>
#include <stdbool.h>
#include <stdio.h>

#include "twin/node.h"
#include "twin/ops.h"

#define TWIN_IMPORT_MAX_BYTES (512 * 1024 * 1024) /* an import file */
#define TWIN_IMPORT_MAX_ROWS  1000000             /* of a file, and of an import of several */
#define TWIN_IMPORT_MAX_FILES 10000
#define TWIN_IMPORT_MAX_NOTES 1000  /* IATI elements skipped that are named one by one */
#define TWIN_CSV_CELL_MAX     65536 /* bytes of one CSV cell */
#define TWIN_CSV_COLUMNS_MAX  1000

enum twin_format { TWIN_FORMAT_JSON, TWIN_FORMAT_CSV, TWIN_FORMAT_IATI };

/* Writes the selected records at the head as a JSON array of records as stored. Sealed records
 * (proto/SEALED.md) are left out. */
int twin_interchange_export_json(FILE *out, twin_node *n, const struct twin_selection *sel);

/* Writes the selected records of one type (sel->type is required) as CSV. Hands back the number
 * of rows written. Sealed records are left out. */
int twin_interchange_export_csv(FILE *out, size_t *rows, twin_node *n,
                                const struct twin_selection *sel);

/* What an export does with sealed records: they are left out and counted (left_out: those of the
 * selected types, withdrawn ones only with sel->all, whatever the where filters), unless include
 * is set; then the content of those this node can open is selected as any record's (where
 * filters apply to it), and the rest are left out and counted. An envelope is never exported. */
struct twin_export_sealed {
    bool include;
    size_t left_out;
};

/* twin_interchange_export_json and _csv, with sealed records as *sealed says. */
int twin_interchange_export_json_sealed(FILE *out, twin_node *n, const struct twin_selection *sel,
                                        struct twin_export_sealed *sealed);
int twin_interchange_export_csv_sealed(FILE *out, size_t *rows, twin_node *n,
                                       const struct twin_selection *sel,
                                       struct twin_export_sealed *sealed);

struct twin_import_error {
    size_t file; /* its index in the report's files */
    size_t row;  /* CSV: the row number in a spreadsheet (the header is row 1); JSON: 1-based */
    char message[600];
};

struct twin_import_report {
    size_t rows;      /* records read */
    size_t created;   /* new records */
    size_t changed;   /* existing records whose content changed */
    size_t unchanged; /* rows equal to the record already stored */
    size_t skipped;   /* IATI: elements and values twin does not keep */
    char **notes;     /* IATI: each element skipped that twin cannot represent, named (the first
                         TWIN_IMPORT_MAX_NOTES) */
    size_t nnotes, notes_left_out;
    struct twin_import_error *errors;
    size_t nerrors, errors_cap;
    bool committed;
    git_oid commit;
    char **files; /* the files read, in order */
    size_t nfiles;
};

typedef void (*twin_import_progress_fn)(size_t rows_done, void *ctx);

/* How twin_interchange_import_paths reads its paths. */
struct twin_import_options {
    bool format_given; /* every file is in format; otherwise each file's name says (.csv, .json,
                        * .xml for IATI) and a directory's CSV files are read */
    enum twin_format format;
    const char *type; /* NULL: a CSV row's type is its "type" cell, else the file's name (as
                       * export writes it: activity.csv); given, every type cell must agree */
    bool dry_run;     /* check everything, write nothing */
    twin_import_progress_fn progress;
    void *progress_ctx;
};

/* Imports the files at paths as one batch: each path is a file, or a directory of which every
 * file named *.csv (*.json with format JSON, *.xml with IATI) is read, in name order; other
 * files and subdirectories, and names that begin with a dot, are left alone. Every record is
 * checked against the schema and the records it points at, those of the whole batch included
 * whatever their order, and all land in one signed commit or none does. An IATI import reads
 * one file. Returns 0 when the import ran, whether or not rows were invalid (see
 * report->nerrors, each naming its file and row); an error code when a path or a file cannot
 * be read as its format (the message names the file and the place). */
int twin_interchange_import_paths(struct twin_import_report **out, twin_node *n,
                                  const char *const *paths, size_t npaths,
                                  const struct twin_import_options *opt);

/* twin_interchange_import_paths of the one file at path, in format. */
int twin_interchange_import(struct twin_import_report **out, twin_node *n, const char *path,
                            enum twin_format format, const char *type, bool dry_run,
                            twin_import_progress_fn progress, void *progress_ctx);
void twin_interchange_import_report_free(struct twin_import_report *r);

/* Parses CSV text into rows of cells (the reader of twin_interchange_import, exposed for the fuzz
 * target). Calls row_fn for each row; stops at the first fault with TWIN_EINVALID or TWIN_ELIMIT
 * naming the row. */
typedef int (*twin_csv_row_fn)(size_t row, char **cells, size_t ncells, void *ctx);
int twin_interchange_csv_read(const char *data, size_t len, twin_csv_row_fn row_fn, void *ctx);

#endif
