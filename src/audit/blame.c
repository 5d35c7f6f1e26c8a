/*
 * Blame replays a record's versions oldest first (the commits twin_audit_log names for it) and
 * keeps, beside each version, a tree of credits of the same shape: every value in the record, a
 * list item or a field at any depth, is credited to the change that last altered it. A value equal
 * to the one before keeps its credit; an object's fields are compared one by one; a list's items
 * are matched between versions (below) so that an item keeps its credit when items before it are
 * added or removed.
 */
#include "twin/blame.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "twin/audit.h"
#include "twin/error.h"
#include "twin/ops.h"
#include "twin/progress.h"

#define BLAME_MAX_CHANGES 1000000
/* Lists whose changed middle needs a longer table are matched by position. */
#define BLAME_MAX_MATCH_CELLS (1u << 20)

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

/* ---- credits -----------------------------------------------------------------------------------
 * A credit is {"k": K} for a value last changed by version K (an index into versions), with
 * "c": the credits of an object's fields (an object) or of a list's items (an array). */

static json_t *credit_of(const json_t *now, const json_t *before, json_t *before_credit,
                         json_int_t k);

/* For each item of now, the item of before it is compared with (-1: none, a new item). Items
 * equal at the start and at the end are matched; in between, the longest run of equal items in
 * order, and the items left between two matched ones are paired in order, as an item changed in
 * place. Returns NULL when out of memory. */
static long *match_items(const json_t *now, const json_t *before)
{
    size_t n = json_array_size(now), m = json_array_size(before), pre = 0, suf = 0;
    long *match = calloc(n ? n : 1, sizeof(*match));
    if (!match)
        return NULL;
    while (pre < n && pre < m && json_equal(json_array_get(now, pre), json_array_get(before, pre)))
        pre++;
    while (suf < n - pre && suf < m - pre &&
           json_equal(json_array_get(now, n - 1 - suf), json_array_get(before, m - 1 - suf)))
        suf++;
    for (size_t i = 0; i < pre; i++)
        match[i] = (long)i;
    for (size_t i = 0; i < suf; i++)
        match[n - 1 - i] = (long)(m - 1 - i);
    size_t a = n - pre - suf, b = m - pre - suf; /* the middles: now[pre..pre+a), before[...] */
    for (size_t i = 0; i < a; i++)
        match[pre + i] = -1;
    uint32_t *len = NULL; /* len[i*(b+1)+j]: the longest run of equal items in now[pre+i..],
                           * before[pre+j..] */
    if (a > 0 && b > 0 && (a + 1) * (b + 1) <= BLAME_MAX_MATCH_CELLS) {
        len = calloc((a + 1) * (b + 1), sizeof(*len));
        if (!len) {
            free(match);
            return NULL;
        }
        for (size_t i = a; i-- > 0;)
            for (size_t j = b; j-- > 0;) {
                uint32_t *cell = &len[i * (b + 1) + j];
                if (json_equal(json_array_get(now, pre + i), json_array_get(before, pre + j)))
                    *cell = len[(i + 1) * (b + 1) + j + 1] + 1;
                else
                    *cell = len[(i + 1) * (b + 1) + j] > len[i * (b + 1) + j + 1]
                                ? len[(i + 1) * (b + 1) + j]
                                : len[i * (b + 1) + j + 1];
            }
    }
    /* Walk the middles: equal items matched, the unmatched between them paired in order. */
    size_t i = 0, j = 0, gap_i = 0, gap_j = 0;
    for (;;) {
        bool end = i == a || j == b;
        bool equal = !end && len &&
                     json_equal(json_array_get(now, pre + i), json_array_get(before, pre + j)) &&
                     len[i * (b + 1) + j] == len[(i + 1) * (b + 1) + j + 1] + 1;
        if (end || equal || !len) {
            size_t stop_i = end || !len ? a : i, stop_j = end || !len ? b : j;
            for (size_t x = gap_i, y = gap_j; x < stop_i && y < stop_j; x++, y++)
                match[pre + x] = (long)(pre + y);
            if (end || !len)
                break;
            match[pre + i] = (long)(pre + j);
            gap_i = ++i;
            gap_j = ++j;
        } else if (len[(i + 1) * (b + 1) + j] >= len[i * (b + 1) + j + 1]) {
            i++;
        } else {
            j++;
        }
    }
    free(len);
    return match;
}

static json_t *credit_of(const json_t *now, const json_t *before, json_t *before_credit,
                         json_int_t k)
{
    if (before && before_credit && json_equal(now, before))
        return json_incref(before_credit);
    json_t *node = json_pack("{s:I}", "k", k), *children = NULL;
    if (!node)
        return NULL;
    json_t *before_children = json_object_get(before_credit, "c");
    if (json_is_object(now) && json_object_size(now) > 0) {
        children = json_object();
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)now, key, v)
        {
            json_t *c =
                children
                    ? credit_of(v, json_is_object(before) ? json_object_get(before, key) : NULL,
                                json_object_get(before_children, key), k)
                    : NULL;
            if (!c || json_object_set_new(children, key, c)) {
                json_decref(children);
                children = NULL;
                break;
            }
        }
    } else if (json_is_array(now) && json_array_size(now) > 0) {
        long *match = json_is_array(before) ? match_items(now, before) : NULL;
        children = json_is_array(before) && !match ? NULL : json_array();
        size_t i;
        json_t *v;
        json_array_foreach((json_t *)now, i, v)
        {
            long j = match ? match[i] : -1;
            json_t *c =
                children ? credit_of(v, j >= 0 ? json_array_get(before, (size_t)j) : NULL,
                                     j >= 0 ? json_array_get(before_children, (size_t)j) : NULL, k)
                         : NULL;
            if (!c || json_array_append_new(children, c)) {
                json_decref(children);
                children = NULL;
                break;
            }
        }
        free(match);
    } else {
        return node;
    }
    if (!children || json_object_set_new(node, "c", children)) {
        json_decref(node);
        return NULL;
    }
    return node;
}

/* ---- lines -------------------------------------------------------------------------------------
 */

struct lines {
    struct twin_blame *b;
    size_t cap;
    const struct versions *vs;
};

static int add_line(struct lines *ls, const char *field, const json_t *value, const json_t *credit)
{
    struct twin_blame *b = ls->b;
    if (b->count == ls->cap) {
        size_t cap = ls->cap ? ls->cap * 2 : 32;
        struct twin_blame_line *l = twin_util_realloc_array(b->lines, cap, sizeof(*l));
        if (!l)
            return twin_error(TWIN_ERROR, "out of memory");
        b->lines = l;
        ls->cap = cap;
    }
    struct twin_blame_line *l = &b->lines[b->count];
    json_int_t k = json_integer_value(json_object_get(credit, "k"));
    const struct twin_log_entry *e = &ls->vs->v[k >= 0 && (size_t)k < ls->vs->count ? k : 0];
    memset(l, 0, sizeof(*l));
    if (!(l->field = strdup(field)))
        return twin_error(TWIN_ERROR, "out of memory");
    l->value = json_incref((json_t *)value);
    l->commit = e->commit;
    l->time = e->time;
    snprintf(l->org_id, sizeof(l->org_id), "%s", e->org_id);
    snprintf(l->key, sizeof(l->key), "%s", e->key);
    l->valid = e->valid;
    b->count++;
    return 0;
}

static int cmp_key(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Lines for value at path: a line for every leaf (a value that is not an object or a list, or an
 * empty one) and for every list item; fields by name, items in order. */
static int add_lines(struct lines *ls, const char *path, const json_t *value, const json_t *credit,
                     bool item, int depth)
{
    json_t *children = json_object_get(credit, "c");
    bool object = json_is_object(value) && json_object_size(value) > 0;
    bool list = json_is_array(value) && json_array_size(value) > 0;
    if (!(object || list) || depth > 16)
        return add_line(ls, path, value, credit);
    int rc = item ? add_line(ls, path, value, credit) : 0;
    char sub[512];
    if (list) {
        for (size_t i = 0; rc == 0 && i < json_array_size(value); i++) {
            snprintf(sub, sizeof(sub), "%s[%zu]", path, i);
            rc = add_lines(ls, sub, json_array_get(value, i), json_array_get(children, i), true,
                           depth + 1);
        }
        return rc;
    }
    size_t n = json_object_size(value), i = 0;
    const char **keys = calloc(n, sizeof(*keys));
    if (!keys)
        return twin_error(TWIN_ERROR, "out of memory");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)value, key, v) keys[i++] = key;
    qsort(keys, n, sizeof(*keys), cmp_key);
    for (i = 0; rc == 0 && i < n; i++) {
        snprintf(sub, sizeof(sub), "%s%s%s", path, *path ? "." : "", keys[i]);
        rc = add_lines(ls, sub, json_object_get(value, keys[i]), json_object_get(children, keys[i]),
                       false, depth + 1);
    }
    free(keys);
    return rc;
}

int twin_blame(struct twin_blame **out, twin_node *n, const char *id)
{
    struct versions vs = {0};
    json_t *prev = NULL, *credit = NULL; /* the last version read, and its credits */
    struct twin_blame *b = calloc(1, sizeof(*b));
    json_t *rec = NULL;
    *out = NULL;
    int rc = b ? 0 : twin_error(TWIN_ERROR, "out of memory");
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
        json_t *stored = NULL;
        twin_progress_report("reading versions", "versions", vs.count - k - 1, vs.count);
        rc = twin_ops_get(&stored, n, &vs.v[k].commit, b->type, id);
        if (rc == TWIN_ENOTFOUND) { /* not there in this commit's tree: nothing to credit */
            twin_error_clear();
            rc = 0;
            continue;
        }
        if (rc == 0)
            rc = twin_ops_unseal(&rec, &b->sealing, n, stored);
        json_decref(stored);
        if (rc)
            break;
        if (b->sealing == TWIN_SEALING_CLOSED || b->sealing == TWIN_SEALING_ERASED) {
            /* Its fields are not known here: what the next opened version holds is credited
             * to that version. Never the envelope's: they are not the record's fields. */
            b->unreadable++;
            json_decref(rec);
            rec = NULL;
            json_decref(prev);
            json_decref(credit);
            prev = credit = NULL;
            continue;
        }
        json_t *next = credit_of(rec, prev, credit, (json_int_t)k);
        json_decref(credit);
        json_decref(prev);
        credit = next;
        prev = rec;
        rec = NULL;
        if (!credit)
            rc = twin_error(TWIN_ERROR, "out of memory");
    }
    if (rc == 0 && vs.count)
        twin_progress_report("reading versions", "versions", vs.count, vs.count);
    if (rc == 0 && prev) {
        struct lines ls = {b, 0, &vs};
        rc = add_lines(&ls, "", prev, credit, false, 0);
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
