/*
 * The record types and their fields as users look them up (`twin schema`): for each field,
 * whether it is required, its kind, and the values it takes.
 */
#ifndef TWIN_SCHEMA_PUBLIC_H
#define TWIN_SCHEMA_PUBLIC_H

#include <jansson.h>

/* A record type's description: {"type", "title_field", "fields": [FIELD...]}, where a FIELD is
 * {"name", "path" ("periods[].target.value": in each item of periods), "kind", "required"} and,
 * by kind: "values" (enum), "codelist" and "codes" (code: the IATI codelist's name and its
 * number of codes), "ref" (the record type a ref names), "min" and "max" (int, number, when
 * bounded), "fields" (object), "item" (list: a FIELD without name and path of its own). NULL
 * when type is no record type. */
json_t *twin_schema_describe(const char *type);

#endif
