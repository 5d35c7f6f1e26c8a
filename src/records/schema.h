/*
 * The declarative schema of twin's record types. record.c walks these tables to validate a
 * record; export code (JSON, CSV, IATI) reads them to know each type's fields.
 */
#ifndef TWIN_SCHEMA_H
#define TWIN_SCHEMA_H

#include <stdbool.h>
#include <stddef.h>

#include "twin/codes.h"

enum twin_field_kind {
    TWIN_F_STRING, /* one line of text */
    TWIN_F_TEXT,   /* free text, newlines allowed */
    TWIN_F_ENUM,   /* one of enum_values */
    TWIN_F_CODE,   /* a code of an IATI codelist */
    TWIN_F_DATE,   /* YYYY-MM-DD, a real calendar date */
    TWIN_F_INT,    /* integer within [min, max] */
    TWIN_F_NUMBER, /* real number within [min, max] */
    TWIN_F_BOOL,
    TWIN_F_REF,    /* the id of a record of ref_type */
    TWIN_F_URL,    /* http:// or https:// */
    TWIN_F_SHA256, /* 64 lowercase hex digits */
    TWIN_F_ORG_ID, /* an IATI organisation identifier */
    TWIN_F_EMAIL,
    TWIN_F_OBJECT, /* an object with fields */
    TWIN_F_LIST,   /* a list whose items are described by item */
    TWIN_F_ANY,    /* any JSON value (the losing value of a merge conflict) */
    TWIN_F_COMMIT, /* a git commit id: 40 lowercase hex digits */
};

struct twin_field {
    const char *name;
    enum twin_field_kind kind;
    bool required;
    const char *const *enum_values;  /* TWIN_F_ENUM, NULL-terminated */
    enum twin_codelist codelist;     /* TWIN_F_CODE */
    const char *ref_type;            /* TWIN_F_REF */
    const struct twin_field *fields; /* TWIN_F_OBJECT: terminated by a NULL name */
    const struct twin_field *item;   /* TWIN_F_LIST: one field describing every item */
    double min, max;                 /* TWIN_F_INT, TWIN_F_NUMBER (both 0: unbounded) */
    /* TWIN_F_STRING, TWIN_F_TEXT: the text may instead be given in several languages, as IATI's
     * narratives are: an object mapping ISO 639-1 codes to text ({"en": "...", "fr": "..."}). */
    bool lang;
};

struct twin_record_type {
    const char *name;
    const struct twin_field *fields; /* terminated by a NULL name */
    const char *title_field;         /* the field that names a record in listings */
};

const struct twin_record_type *twin_schema_type(const char *name);
const struct twin_record_type *const *twin_schema_types(void);

#endif
