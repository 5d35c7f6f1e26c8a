/*
 * twin schema [TYPE]: the record types and, for each field, whether it is required, its kind and
 * the values it takes, read from the schema the validity predicate checks records against.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "twin/record.h"
#include "twin/schema.h"

/* Fields every record has, which twin sets: left out of the text, named once below it. */
static bool set_by_twin(const char *path)
{
    return strcmp(path, "id") == 0 || strcmp(path, "type") == 0 || strcmp(path, "withdrawn") == 0 ||
           strncmp(path, "conflicts", 9) == 0;
}

/* What a field takes, in words. */
static void kind_text(char *out, size_t size, const json_t *f)
{
    const char *kind = json_string_value(json_object_get(f, "kind"));
    const json_t *min = json_object_get(f, "min"), *max = json_object_get(f, "max");
    char range[80] = "";
    if (min && max)
        snprintf(range, sizeof(range), " from %g to %g", json_number_value(min),
                 json_number_value(max));
    if (strcmp(kind, "enum") == 0) {
        size_t used = (size_t)snprintf(out, size, "one of:");
        size_t i;
        const json_t *v;
        json_array_foreach(json_object_get(f, "values"), i, v) if (used < size) used +=
            (size_t)snprintf(out + used, size - used, "%s %s", i ? "," : "", json_string_value(v));
    } else if (strcmp(kind, "code") == 0) {
        json_int_t n = json_integer_value(json_object_get(f, "codes"));
        snprintf(out, size, "a code of IATI's %s list (%lld code%s)",
                 json_string_value(json_object_get(f, "codelist")), (long long)n,
                 n == 1 ? "" : "s");
    } else if (strcmp(kind, "ref") == 0) {
        const char *ref = json_string_value(json_object_get(f, "ref"));
        snprintf(out, size, "the id of %s %s", ref && strchr("aeiou", ref[0]) ? "an" : "a", ref);
    } else if (strcmp(kind, "list") == 0) {
        char item[400] = "values";
        const json_t *it = json_object_get(f, "item");
        const char *ik = json_string_value(json_object_get(it, "kind"));
        if (ik && strcmp(ik, "object") == 0)
            snprintf(item, sizeof(item), "objects");
        else if (ik && strcmp(ik, "ref") == 0)
            snprintf(item, sizeof(item), "ids of %s records",
                     json_string_value(json_object_get(it, "ref")));
        else if (it)
            kind_text(item, sizeof(item), it);
        if (ik && strcmp(ik, "enum") == 0) /* "one of: a, b" */
            snprintf(out, size, "a list, each %s", item);
        else
            snprintf(out, size, "a list of %s", item);
    } else {
        static const struct {
            const char *kind, *text;
        } words[] = {
            {"string", "one line of text"},
            {"text", "text"},
            {"date", "a date, YYYY-MM-DD"},
            {"int", "a whole number"},
            {"number", "a number"},
            {"bool", "true or false"},
            {"url", "an http or https URL"},
            {"sha256", "a SHA-256 digest, 64 hex digits"},
            {"org_id", "an IATI organisation identifier"},
            {"email", "an email address"},
            {"object", "an object"},
            {"any", "any JSON value"},
            {"commit", "a commit id, 40 hex digits"},
        };
        const char *text = kind;
        for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
            if (strcmp(words[i].kind, kind) == 0)
                text = words[i].text;
        snprintf(out, size, "%s%s%s", text, range,
                 json_is_true(json_object_get(f, "languages"))
                     ? ", or in several languages ({\"en\": ..., \"fr\": ...})"
                     : "");
    }
}

/* Every field of list (and those inside it) in order, as rows of the text. */
static void each_field(const json_t *list, void (*row)(const json_t *f, void *ctx), void *ctx)
{
    size_t i;
    const json_t *f;
    json_array_foreach(list, i, f)
    {
        row(f, ctx);
        const json_t *item = json_object_get(f, "item");
        each_field(json_object_get(f, "fields"), row, ctx);
        each_field(json_object_get(item, "fields"), row, ctx);
    }
}

static void widest(const json_t *f, void *ctx)
{
    const char *path = json_string_value(json_object_get(f, "path"));
    size_t *w = ctx;
    if (!set_by_twin(path) && strlen(path) > *w)
        *w = strlen(path);
}

static void print_row(const json_t *f, void *ctx)
{
    const char *path = json_string_value(json_object_get(f, "path"));
    if (set_by_twin(path))
        return;
    char kind[1200];
    kind_text(kind, sizeof(kind), f);
    printf("  %-*s  %-8s  %s\n", *(int *)ctx, path,
           json_is_true(json_object_get(f, "required")) ? "required" : "", kind);
}

static void print_type(const json_t *d)
{
    size_t w = 0;
    each_field(json_object_get(d, "fields"), widest, &w);
    printf("%s, named in listings by its %s\n", json_string_value(json_object_get(d, "type")),
           json_string_value(json_object_get(d, "title_field")));
    int width = (int)w;
    each_field(json_object_get(d, "fields"), print_row, &width);
}

int cmd_schema(struct cli *c, int argc, char **argv)
{
    if (argc > 2)
        return cli_usage_error("schema", "unexpected argument '%s'", argv[2]);
    const char *const *types = twin_record_types();
    json_t *all = json_array();
    if (argc == 2) {
        json_t *d = twin_schema_describe(argv[1]);
        if (!d) {
            char names[600];
            size_t used = 0;
            for (size_t i = 0; types[i] && used < sizeof(names); i++)
                used += (size_t)snprintf(names + used, sizeof(names) - used, "%s%s", i ? ", " : "",
                                         types[i]);
            json_decref(all);
            return cli_usage_error("schema", "no record type '%s' (the types: %s)", argv[1], names);
        }
        json_array_append_new(all, d);
    } else {
        for (size_t i = 0; types[i]; i++)
            json_array_append_new(all, twin_schema_describe(types[i]));
    }
    if (c->json) {
        cli_print_json(argc == 2 ? json_array_get(all, 0) : all);
    } else {
        size_t i;
        const json_t *d;
        json_array_foreach(all, i, d)
        {
            if (i)
                printf("\n");
            print_type(d);
        }
        printf("\nEvery record also has id, type, withdrawn and conflicts, which twin sets.\n");
    }
    json_decref(all);
    return CLI_OK;
}
