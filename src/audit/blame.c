/*
 * Blame replays a record's versions oldest first (the commits twin_audit_log names for it),
 * flattens each version to its leaf fields, and credits every field to the last change that altered
 * it.
 */
#include "twin/blame.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "twin/audit.h"
#include "twin/error.h"
#include "twin/ops.h"

#define BLAME_MAX_CHANGES 1000000

struct versions {
    struct twin_log_entry *v; /* newest first, as twin_audit_log calls back */
    size_t count, cap;
};

static int collect(const struct twin_log_entry *e, void *ctx)
{
    struct versions *vs = ctx;
    if (vs->count == vs->cap) {
        size_t cap = vs->cap ? vs->cap * 2 : 16;
        if (cap > BLAME_MAX_CHANGES)
            return twin_error(TWIN_ELIMIT, "more than %d changes to one record", BLAME_MAX_CHANGES);
        struct twin_log_entry *v = twin_util_realloc_array(vs->v, cap, sizeof(*v));
        if (!v)
            return twin_error(TWIN_ERROR, "out of memory");
        vs->v = v;
        vs->cap = cap;
    }
    vs->v[vs->count++] = *e;
    return 0;
}

static int cmp_line(const void *a, const void *b)
{
    return strcmp(((const struct twin_blame_line *)a)->field,
                  ((const struct twin_blame_line *)b)->field);
}

int twin_blame(struct twin_blame **out, twin_node *n, const char *id)
{
    struct versions vs = {0};
    json_t *prev = NULL, *credit = json_object(); /* field -> index into vs.v */
    struct twin_blame *b = calloc(1, sizeof(*b));
    json_t *rec = NULL;
    *out = NULL;
    int rc = b && credit ? 0 : twin_error(TWIN_ERROR, "out of memory");
    if (rc == 0)
        rc = twin_ops_get(&rec, n, NULL, NULL, id);
    if (rc == 0) {
        snprintf(b->type, sizeof(b->type), "%s",
                 json_string_value(json_object_get(rec, "type")) ?: "");
        json_decref(rec);
        rec = NULL;
        rc = twin_audit_log(n, id, collect, &vs);
    }
    for (size_t k = vs.count; rc == 0 && k-- > 0;) {
        json_t *flat = json_object();
        if (!flat) {
            rc = twin_error(TWIN_ERROR, "out of memory");
            break;
        }
        json_t *stored = NULL;
        rc = twin_ops_get(&stored, n, &vs.v[k].commit, b->type, id);
        if (rc == TWIN_ENOTFOUND) { /* not there in this commit's tree: nothing to credit */
            twin_error_clear();
            rc = 0;
            json_decref(flat);
            continue;
        }
        if (rc == 0)
            rc = twin_ops_unseal(&rec, &b->sealing, n, stored);
        json_decref(stored);
        if (rc == 0 && (b->sealing == TWIN_SEALING_CLOSED || b->sealing == TWIN_SEALING_ERASED)) {
            /* Its fields are not known here: what the next opened version holds is credited
             * to that version. Never the envelope's: they are not the record's fields. */
            b->unreadable++;
            json_decref(rec);
            rec = NULL;
            json_decref(flat);
            json_decref(prev);
            prev = NULL;
            continue;
        }
        if (rc == 0)
            rc = twin_record_flatten(flat, rec);
        json_decref(rec);
        rec = NULL;
        const char *field;
        json_t *value;
        json_object_foreach(flat, field, value)
        {
            if (rc)
                break;
            if (!prev || !json_equal(value, json_object_get(prev, field)))
                rc = json_object_set_new(credit, field, json_integer((json_int_t)k)) ? TWIN_ERROR
                                                                                     : 0;
        }
        json_decref(prev);
        prev = flat;
    }
    if (rc == 0 && prev) {
        b->lines = calloc(json_object_size(prev) ? json_object_size(prev) : 1, sizeof(*b->lines));
        if (!b->lines)
            rc = twin_error(TWIN_ERROR, "out of memory");
        const char *field;
        json_t *value;
        json_object_foreach(prev, field, value)
        {
            if (rc)
                break;
            struct twin_blame_line *l = &b->lines[b->count];
            json_t *k = json_object_get(credit, field);
            const struct twin_log_entry *e = &vs.v[k ? (size_t)json_integer_value(k) : 0];
            if (!(l->field = strdup(field))) {
                rc = twin_error(TWIN_ERROR, "out of memory");
                break;
            }
            l->value = json_incref(value);
            l->commit = e->commit;
            l->time = e->time;
            snprintf(l->org_id, sizeof(l->org_id), "%s", e->org_id);
            snprintf(l->key, sizeof(l->key), "%s", e->key);
            l->valid = e->valid;
            b->count++;
        }
        qsort(b->lines, b->count, sizeof(*b->lines), cmp_line);
    }
    b ? b->changes = vs.count : 0;
    json_decref(prev);
    json_decref(credit);
    free(vs.v);
    if (rc) {
        twin_blame_free(b);
        return rc;
    }
    *out = b;
    return 0;
}

void twin_blame_free(struct twin_blame *b)
{
    if (!b)
        return;
    for (size_t i = 0; i < b->count; i++) {
        free(b->lines[i].field);
        json_decref(b->lines[i].value);
    }
    free(b->lines);
    free(b);
}
