/*
 * The layout of the IATI code tables: src/records/codes_table.c (written by tools/gencodes) fills
 * it in, src/records/codes.c searches it. Not part of the public API.
 */
#ifndef TWIN_CODES_TABLE_H
#define TWIN_CODES_TABLE_H

#include <stddef.h>

#include "twin/codes.h"

/* Room for the longest code plus its NUL; the longest active code today is a 5-digit DAC
 * sector. Storing codes in place keeps an entry at 16 bytes on 64-bit machines. */
#define TWIN_CODE_MAX 8

struct twin_code_entry {
    char code[TWIN_CODE_MAX];
    const char *name; /* English name, UTF-8 */
};

struct twin_codelist_table {
    const char *name;                      /* IATI codelist name, "ActivityStatus" */
    const struct twin_code_entry *entries; /* sorted by strcmp, no duplicates */
    size_t count;
};

extern const struct twin_codelist_table twin_codes_tables[TWIN_CODES__COUNT];

#endif
