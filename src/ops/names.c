/*
 * Names of records (include/twin/names.h): each referenced record read once, opened where it is
 * sealed and this node can read it, and its title field kept.
 */
#include "twin/names.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "records/schema.h"
#include "twin/error.h"
#include "twin/ops.h"

struct twin_names {
    twin_node *node;
    git_oid at;
    bool have_at;
    json_t *known; /* "type/id" -> name (a string), or null for a record this node cannot read */
};

int twin_names_new(twin_names **out, twin_node *n, const git_oid *at)
{
    twin_names *nm = calloc(1, sizeof(*nm));
    *out = NULL;
    if (!nm || !(nm->known = json_object())) {
        free(nm);
        return twin_error(TWIN_ERROR, "out of memory");
    }
    nm->node = n;
    if (at) {
        nm->at = *at;
        nm->have_at = true;
    }
    *out = nm;
    return 0;
}

void twin_names_free(twin_names *nm)
{
    if (!nm)
        return;
    json_decref(nm->known);
    free(nm);
}

/* The name of rec, a record of type in the clear: its title field as text. */
static json_t *name_of(const json_t *rec, const char *type)
{
    const struct twin_record_type *t = twin_schema_type(type);
    const json_t *v = t && t->title_field ? json_object_get(rec, t->title_field) : NULL;
    if (json_is_string(v))
        return json_string(json_string_value(v));
    if (json_is_number(v) || json_is_boolean(v)) {
        char *text = json_dumps(v, JSON_ENCODE_ANY);
        json_t *s = json_string(text ? text : "");
        free(text);
        return s;
    }
    return json_string("");
}

int twin_names_get(const char **name, twin_names *nm, const char *type, const char *id)
{
    char key[TWIN_ID_LEN + 40];
    snprintf(key, sizeof(key), "%.32s/%s", type ? type : "", id);
    json_t *known = json_object_get(nm->known, key);
    *name = NULL;
    if (!known) {
        json_t *stored = NULL, *rec = NULL;
        enum twin_sealing how;
        int rc = twin_ops_get(&stored, nm->node, nm->have_at ? &nm->at : NULL, type, id);
        if (rc == 0)
            rc = twin_ops_unseal(&rec, &how, nm->node, stored);
        if (rc == 0) {
            known = how == TWIN_SEALING_CLEAR || how == TWIN_SEALING_OPENED ? name_of(rec, type)
                                                                            : json_null();
            if (!known || json_object_set_new(nm->known, key, known))
                rc = twin_error(TWIN_ERROR, "out of memory");
        }
        json_decref(rec);
        json_decref(stored);
        if (rc)
            return rc;
    }
    *name = json_string_value(known);
    return 0;
}

struct walk {
    twin_names_ref_fn fn;
    void *ctx;
    char path[256];
};

static int walk_value(struct walk *w, size_t at, const struct twin_field *f, const json_t *v);

static int walk_fields(struct walk *w, size_t at, const struct twin_field *fields,
                       const json_t *obj)
{
    int rc = 0;
    for (const struct twin_field *f = fields; rc == 0 && f && f->name; f++) {
        const json_t *v = json_object_get(obj, f->name);
        if (!v)
            continue;
        int n = snprintf(w->path + at, sizeof(w->path) - at, "%s%s", at ? "." : "", f->name);
        if (n < 0 || (size_t)n >= sizeof(w->path) - at)
            continue; /* deeper than any schema goes */
        rc = walk_value(w, at + (size_t)n, f, v);
    }
    return rc;
}

static int walk_value(struct walk *w, size_t at, const struct twin_field *f, const json_t *v)
{
    switch (f->kind) {
    case TWIN_F_REF:
        return json_is_string(v) ? w->fn(w->path, json_string_value(v), f->ref_type, w->ctx) : 0;
    case TWIN_F_OBJECT:
        return json_is_object(v) ? walk_fields(w, at, f->fields, v) : 0;
    case TWIN_F_LIST: {
        size_t i;
        const json_t *item;
        json_array_foreach(v, i, item)
        {
            int n = snprintf(w->path + at, sizeof(w->path) - at, "[%zu]", i);
            if (n < 0 || (size_t)n >= sizeof(w->path) - at)
                return 0;
            int rc = f->item ? walk_value(w, at + (size_t)n, f->item, item) : 0;
            if (rc)
                return rc;
        }
        return 0;
    }
    default:
        return 0;
    }
}

int twin_names_each_ref(const json_t *rec, twin_names_ref_fn fn, void *ctx)
{
    const struct twin_record_type *t =
        twin_schema_type(json_string_value(json_object_get(rec, "type")));
    struct walk w = {fn, ctx, ""};
    return t ? walk_fields(&w, 0, t->fields, rec) : 0;
}
