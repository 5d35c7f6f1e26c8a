#ifndef TWIN_CLI_FIELDS_H
#define TWIN_CLI_FIELDS_H

#include <jansson.h>
#include <stddef.h>

#include "twin/node.h"

/* Applies FIELD=VALUE and LIST+=VALUE arguments (twin_record_assign_in), in order; with node n,
 * a plain text that takes a language (title.fr=...) keeps its text in the partnership's. */
int cli_apply_assignments(json_t *rec, int argc, char **argv, twin_node *n);

/* Reads a file (or stdin for "-"), at most one record's worth of bytes. */
int cli_read_input(char **out, size_t *out_len, const char *path);

/* Copies the fields of from into rec; id and type may only repeat rec's own. */
int cli_merge_fields(json_t *rec, const json_t *from);

#endif
