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
#include "twin/record.h"

struct twin_names {
    twin_node *node;
    git_oid at;
    bool have_at;
    json_t *known; /* "type/id" -> name (a string), or null for a record this node cannot read */
    json_t *langs; /* partnership id -> its language (a string), or null when it has none */
    const char *lang;
};

int twin_names_new(twin_names **out, twin_node *n, const git_oid *at)
{
    twin_names *nm = calloc(1, sizeof(*nm));
    *out = NULL;
    if (!nm || !(nm->known = json_object()) || !(nm->langs = json_object())) {
        if (nm)
            json_decref(nm->known);
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
    json_decref(nm->langs);
    free(nm);
}

void twin_names_set_lang(twin_names *nm, const char *lang)
{
    nm->lang = lang;
}

const char *twin_names_lang(twin_names *nm, const json_t *rec)
{
    const char *own = twin_record_own_lang(rec),
               *type = json_string_value(json_object_get(rec, "type"));
    if (own || (type && strcmp(type, "partnership") == 0))
        return own;
    const char *id = json_string_value(json_object_get(rec, "partnership"));
    if (!id || !twin_record_id_valid(id))
        return NULL;
    json_t *known = json_object_get(nm->langs, id);
    if (!known) {
        json_t *stored = NULL, *p = NULL;
        enum twin_sealing how;
        const char *lang = NULL;
        if (twin_ops_get(&stored, nm->node, nm->have_at ? &nm->at : NULL, "partnership", id) == 0 &&
            twin_ops_unseal(&p, &how, nm->node, stored) == 0 &&
            (how == TWIN_SEALING_CLEAR || how == TWIN_SEALING_OPENED))
            lang = twin_record_own_lang(p);
        twin_error_clear(); /* a language only helps: the texts are shown without */
        known = lang ? json_string(lang) : json_null();
        json_decref(p);
        json_decref(stored);
        if (!known || json_object_set_new(nm->langs, id, known))
            return NULL;
    }
    return json_string_value(known);
}

/* The name of rec, a record of type in the clear: its title field as text, in nm's language. */
static json_t *name_of(twin_names *nm, const json_t *rec, const char *type)
{
    const struct twin_record_type *t = twin_schema_type(type);
    const json_t *v = t && t->title_field ? json_object_get(rec, t->title_field) : NULL;
    if (json_is_object(v))
        return json_string(twin_record_title_in(rec, nm->lang, twin_names_lang(nm, rec)));
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
            known = how == TWIN_SEALING_CLEAR || how == TWIN_SEALING_OPENED ? name_of(nm, rec, type)
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

/* A prefix of an id: what twin_ops_resolve_id would look up rather than take as it is. */
static bool looks_like_prefix(const char *v)
{
    size_t len = strlen(v);
    if (len == 0 || len >= TWIN_ID_LEN || twin_record_id_valid(v))
        return false;
    for (const char *p = v; *p; p++)
        if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') || (*p >= 'A' && *p <= 'F') ||
              *p == '-'))
            return false;
    return true;
}

static int resolve_value(twin_node *n, const char *path, const struct twin_field *f, json_t *v,
                         json_t **replace);

static int resolve_fields(twin_node *n, const char *path, const struct twin_field *fields,
                          json_t *obj)
{
    int rc = 0;
    for (const struct twin_field *f = fields; rc == 0 && f && f->name; f++) {
        json_t *v = json_object_get(obj, f->name), *whole = NULL;
        char sub[256];
        if (!v)
            continue;
        snprintf(sub, sizeof(sub), "%s%s%s", path, *path ? "." : "", f->name);
        if ((rc = resolve_value(n, sub, f, v, &whole)) == 0 && whole &&
            json_object_set_new(obj, f->name, whole))
            rc = twin_error(TWIN_ERROR, "out of memory");
    }
    return rc;
}

/* Resolves the references in v, a value of field f at path; *replace gets a whole id to put in
 * v's place when v itself was a prefix. */
static int resolve_value(twin_node *n, const char *path, const struct twin_field *f, json_t *v,
                         json_t **replace)
{
    switch (f->kind) {
    case TWIN_F_REF: {
        const char *text = json_string_value(v);
        char id[TWIN_ID_LEN + 1];
        const char *type = NULL;
        if (!text || !looks_like_prefix(text))
            return 0;
        int rc = twin_ops_resolve_id(id, &type, n, NULL, text);
        if (rc)
            return twin_error_wrap(rc, "%s", path);
        if (!type || strcmp(type, f->ref_type) != 0)
            return twin_error(TWIN_EINVALID,
                              "%s: %s names the %s %s; the field takes a record of type %s", path,
                              text, type ? type : "record", id, f->ref_type);
        *replace = json_string(id);
        return *replace ? 0 : twin_error(TWIN_ERROR, "out of memory");
    }
    case TWIN_F_OBJECT:
        return json_is_object(v) ? resolve_fields(n, path, f->fields, v) : 0;
    case TWIN_F_LIST: {
        size_t i;
        json_t *item;
        json_array_foreach(v, i, item)
        {
            char sub[256];
            json_t *whole = NULL;
            snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
            int rc = f->item ? resolve_value(n, sub, f->item, item, &whole) : 0;
            if (rc == 0 && whole && json_array_set_new(v, i, whole))
                rc = twin_error(TWIN_ERROR, "out of memory");
            if (rc)
                return rc;
        }
        return 0;
    }
    default:
        return 0;
    }
}

int twin_names_resolve_refs(json_t *rec, twin_node *n)
{
    const struct twin_record_type *t =
        twin_schema_type(json_string_value(json_object_get(rec, "type")));
    return t ? resolve_fields(n, "", t->fields, rec) : 0;
}
