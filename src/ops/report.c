/*
 * The contributions report: every contribution at the head summed per partnership, institution,
 * kind and currency (or unit), pledged and delivered, confirmed and unconfirmed apart. The sums
 * are kept as doubles and rounded to six decimals when given out, so that amounts written with
 * cents or fractions of days add up as they were written.
 */
#include "twin/report.h"

#include <math.h> /* isfinite, a macro */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "records/envelope.h"
#include "twin/error.h"
#include "twin/ops.h"
#include "twin/record.h"

/* One line of figures: one partnership, institution, kind and currency or unit. */
struct line {
    char partnership[TWIN_ID_LEN + 1], institution[TWIN_ID_LEN + 1];
    bool in_kind;  /* else cash */
    bool per_unit; /* a quantity in unit, else a value in currency */
    char *measure; /* the currency or unit */
    /* [0] pledged, [1] delivered; [.][0] confirmed, [.][1] unconfirmed */
    double sums[2][2];
};

struct twin_report {
    struct line *lines;
    size_t n, cap;
};

int twin_report_new(twin_report **out)
{
    *out = calloc(1, sizeof(**out));
    return *out ? 0 : twin_error(TWIN_ERROR, "out of memory");
}

void twin_report_free(twin_report *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        free(r->lines[i].measure);
    free(r->lines);
    free(r);
}

static const char *str(const json_t *rec, const char *field)
{
    return json_string_value(json_object_get(rec, field));
}

/* The line for these keys, made when there is none yet; NULL when out of memory. */
static struct line *line_for(twin_report *r, const char *partnership, const char *institution,
                             bool in_kind, bool per_unit, const char *measure)
{
    for (size_t i = 0; i < r->n; i++) {
        struct line *l = &r->lines[i];
        if (l->in_kind == in_kind && l->per_unit == per_unit &&
            strcmp(l->partnership, partnership) == 0 && strcmp(l->institution, institution) == 0 &&
            strcmp(l->measure, measure) == 0)
            return l;
    }
    if (r->n == r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 16;
        struct line *grown = realloc(r->lines, cap * sizeof(*grown));
        if (!grown)
            return NULL;
        r->lines = grown;
        r->cap = cap;
    }
    struct line *l = &r->lines[r->n];
    memset(l, 0, sizeof(*l));
    if (!(l->measure = strdup(measure)))
        return NULL;
    snprintf(l->partnership, sizeof(l->partnership), "%s", partnership);
    snprintf(l->institution, sizeof(l->institution), "%s", institution);
    l->in_kind = in_kind;
    l->per_unit = per_unit;
    r->n++;
    return l;
}

int twin_report_add(twin_report *r, const json_t *rec)
{
    const char *type = str(rec, "type"), *id = str(rec, "id");
    id = id ? id : "(no id)";
    if (!type || strcmp(type, "contribution") != 0)
        return twin_error(TWIN_EINVALID, "%s is not a contribution", id);
    if (twin_envelope_is(rec))
        return twin_error(TWIN_EINVALID, "contribution %s is sealed", id);
    if (json_is_true(json_object_get(rec, "withdrawn")))
        return twin_error(TWIN_EINVALID, "contribution %s is withdrawn", id);
    const char *partnership = str(rec, "partnership"), *institution = str(rec, "institution");
    const char *kind = str(rec, "kind"), *status = str(rec, "status");
    const char *missing = !partnership   ? "partnership"
                          : !institution ? "institution"
                          : !kind        ? "kind"
                          : !status      ? "status"
                                         : NULL;
    if (missing)
        return twin_error(TWIN_EINVALID, "contribution %s has no %s", id, missing);
    if (strlen(partnership) > TWIN_ID_LEN || strlen(institution) > TWIN_ID_LEN)
        return twin_error(TWIN_EINVALID, "contribution %s names a record by no id", id);
    const json_t *value = json_object_get(rec, "value"),
                 *quantity = json_object_get(rec, "quantity");
    const char *currency = str(rec, "currency"), *unit = str(rec, "unit");
    bool per_unit = !(json_is_number(value) && currency);
    const json_t *amount = per_unit ? quantity : value;
    const char *measure = per_unit ? unit : currency;
    if (!json_is_number(amount) || !measure || !isfinite(json_number_value(amount)))
        return twin_error(TWIN_EINVALID,
                          "contribution %s has no amount: neither a value and currency nor a "
                          "quantity and unit",
                          id);
    bool delivered = strcmp(status, "delivered") == 0;
    if (!delivered && strcmp(status, "pledged") != 0) {
        if (strcmp(status, "cancelled") == 0)
            return 0; /* counts nowhere */
        return twin_error(TWIN_EINVALID, "contribution %s has status '%s', which counts nowhere",
                          id, status);
    }
    struct line *l =
        line_for(r, partnership, institution, strcmp(kind, "in_kind") == 0, per_unit, measure);
    if (!l)
        return twin_error(TWIN_ERROR, "out of memory");
    const char *confirmed = str(rec, "confirmed");
    int unconfirmed = confirmed && strcmp(confirmed, status) == 0 ? 0 : 1;
    double a = json_number_value(amount);
    l->sums[0][unconfirmed] += a;
    if (delivered)
        l->sums[1][unconfirmed] += a;
    return 0;
}

static int by_keys(const void *pa, const void *pb)
{
    const struct line *a = pa, *b = pb;
    int c = strcmp(a->partnership, b->partnership);
    if (!c)
        c = strcmp(a->institution, b->institution);
    if (!c)
        c = (int)a->in_kind - (int)b->in_kind;
    if (!c)
        c = (int)a->per_unit - (int)b->per_unit;
    return c ? c : strcmp(a->measure, b->measure);
}

/* A sum rounded to six decimals: an integer when whole. Sums past a trillion are given as
 * they are. */
static json_t *figure(double x)
{
    if (!(x < 1e12 && x > -1e12))
        return json_real(x);
    double scaled = x * 1e6;
    long long micro = (long long)(scaled + (scaled < 0 ? -0.5 : 0.5));
    if (micro % 1000000 == 0)
        return json_integer((json_int_t)(micro / 1000000));
    return json_real((double)micro / 1e6);
}

static json_t *pair(const double sums[2])
{
    return json_pack("{s:o, s:o}", "confirmed", figure(sums[0]), "unconfirmed", figure(sums[1]));
}

/* The last item of list, when it is an object whose "id" is id; else a new such object holding
 * an empty list under sub, appended to list. NULL when out of memory. */
static json_t *group(json_t *list, const char *id, const char *sub)
{
    json_t *last = json_array_get(list, json_array_size(list) - 1);
    if (last && strcmp(str(last, "id"), id) == 0)
        return last;
    json_t *g = json_pack("{s:s, s:[]}", "id", id, sub);
    if (!g || json_array_append_new(list, g))
        return NULL;
    return g;
}

json_t *twin_report_json(twin_report *r)
{
    if (r->n)
        qsort(r->lines, r->n, sizeof(*r->lines), by_keys);
    json_t *out = json_pack("{s:[]}", "partnerships");
    for (size_t i = 0; out && i < r->n; i++) {
        const struct line *l = &r->lines[i];
        json_t *p = group(json_object_get(out, "partnerships"), l->partnership, "institutions");
        json_t *inst =
            p ? group(json_object_get(p, "institutions"), l->institution, "amounts") : NULL;
        json_t *a = json_pack("{s:s, s:s, s:o, s:o}", "kind", l->in_kind ? "in_kind" : "cash",
                              l->per_unit ? "unit" : "currency", l->measure, "pledged",
                              pair(l->sums[0]), "delivered", pair(l->sums[1]));
        if (!inst || !a || json_array_append_new(json_object_get(inst, "amounts"), a)) {
            json_decref(out);
            out = NULL;
        }
    }
    return out;
}

struct gather {
    twin_report *report;
    const char *partnership;
    size_t skipped;
};

static int gather_one(json_t *rec, void *ctx)
{
    struct gather *g = ctx;
    const char *p = str(rec, "partnership");
    if (g->partnership && (!p || strcmp(p, g->partnership) != 0))
        return 0;
    int rc = twin_report_add(g->report, rec);
    if (rc == TWIN_EINVALID) {
        twin_error_clear();
        g->skipped++;
        return 0;
    }
    return rc;
}

/* Record id of type as this node reads it: the record, its opened content when sealed, NULL
 * when it is not there or this node cannot read it. */
static int read_named(json_t **out, twin_node *n, const char *type, const char *id)
{
    json_t *stored = NULL;
    enum twin_sealing how;
    *out = NULL;
    int rc = twin_ops_get(&stored, n, NULL, type, id);
    if (rc == TWIN_ENOTFOUND || rc == TWIN_EINVALID) {
        twin_error_clear();
        return 0;
    }
    if (rc == 0)
        rc = twin_ops_unseal(out, &how, n, stored);
    json_decref(stored);
    if (rc == 0 && how != TWIN_SEALING_CLEAR && how != TWIN_SEALING_OPENED) {
        json_decref(*out);
        *out = NULL;
    }
    return rc;
}

/* Adds the names of the partnerships and institutions to the report's data. */
static int add_names(json_t *data, twin_node *n)
{
    size_t i, k;
    json_t *p, *inst, *rec;
    int rc = 0;
    json_array_foreach(json_object_get(data, "partnerships"), i, p)
    {
        if ((rc = read_named(&rec, n, "partnership", str(p, "id"))))
            return rc;
        const char *title = twin_record_title(rec);
        json_object_set_new(p, "title", title ? json_string(title) : json_null());
        json_decref(rec);
        json_array_foreach(json_object_get(p, "institutions"), k, inst)
        {
            if ((rc = read_named(&rec, n, "institution", str(inst, "id"))))
                return rc;
            json_object_set_new(inst, "name",
                                str(rec, "name") ? json_string(str(rec, "name")) : json_null());
            json_object_set_new(inst, "org_id",
                                str(rec, "org_id") ? json_string(str(rec, "org_id")) : json_null());
            json_decref(rec);
        }
    }
    return 0;
}

int twin_report_contributions(json_t **out, twin_node *n, const char *partnership)
{
    struct gather g = {.partnership = partnership};
    json_t *data = NULL;
    *out = NULL;
    if (partnership) {
        json_t *p = NULL;
        int rc = twin_ops_get(&p, n, NULL, "partnership", partnership);
        json_decref(p);
        if (rc == TWIN_EINVALID)
            rc = twin_error(TWIN_ENOTFOUND, "no partnership %s", partnership);
        if (rc)
            return rc;
    }
    int rc = twin_report_new(&g.report);
    if (rc == 0)
        rc = twin_ops_foreach(n, NULL, "contribution", gather_one, &g);
    if (rc == 0 && !(data = twin_report_json(g.report)))
        rc = twin_error(TWIN_ERROR, "out of memory");
    if (rc == 0 && partnership && json_array_size(json_object_get(data, "partnerships")) == 0)
        json_array_append_new(json_object_get(data, "partnerships"),
                              json_pack("{s:s, s:[]}", "id", partnership, "institutions"));
    if (rc == 0)
        rc = add_names(data, n);
    if (rc == 0)
        json_object_set_new(data, "skipped", json_integer((json_int_t)g.skipped));
    twin_report_free(g.report);
    if (rc)
        json_decref(data);
    else
        *out = data;
    return rc;
}
