/*
 * Money and staff time are recorded, not overwritten, as an indicator's actuals are. Every node
 * checks these rules, so a partner cannot quietly change an amount another partner relies on:
 * the fields that state an amount never change after it is recorded, a correction is a new
 * entry naming the one it corrects (and only a correction may be negative), and such records
 * are never withdrawn. A contribution's status only moves forward: pledged, then delivered or
 * cancelled.
 */
#include "records/money.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "twin/error.h"

static int fail(const char *type, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static int fail(const char *type, const char *field, const char *fmt, ...)
{
    char rule[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(rule, sizeof(rule), fmt, ap);
    va_end(ap);
    return twin_error(TWIN_EINVALID, "%s.%s: %s", type, field, rule);
}

/* The fields that state what was recorded, per type: they never change. */
static const char *const contribution_fixed[] = {"partnership", "institution", "kind",  "category",
                                                 "quantity",    "unit",        "value", "currency",
                                                 "date",        "corrects",    NULL};
static const char *const budget_fixed[] = {"partnership", "budget_type", "period_start",
                                           "period_end",  "value",       "currency",
                                           "value_date",  "corrects",    NULL};
static const char *const transaction_fixed[] = {
    "partnership", "transaction_type", "value",    "currency", "date",
    "value_date",  "provider",         "receiver", "corrects", NULL};

/* The fields a correction shares with the entry it corrects, so that the two add up. */
static const char *const contribution_same[] = {"partnership", "institution", "kind", "category",
                                                "unit",        "currency",    NULL};
static const char *const budget_same[] = {"partnership", "budget_type", "period_start",
                                          "period_end",  "currency",    NULL};
static const char *const transaction_same[] = {"partnership", "transaction_type", "currency", NULL};

struct money_type {
    const char *name;
    const char *const *fixed;
    const char *const *same;
};

static const struct money_type money_types[] = {
    {"contribution", contribution_fixed, contribution_same},
    {"budget", budget_fixed, budget_same},
    {"transaction", transaction_fixed, transaction_same},
};

static const struct money_type *money_type_of(const char *type)
{
    for (size_t i = 0; type && i < sizeof(money_types) / sizeof(money_types[0]); i++)
        if (strcmp(money_types[i].name, type) == 0)
            return &money_types[i];
    return NULL;
}

bool twin_money_type(const char *type)
{
    return money_type_of(type) != NULL;
}

/* Whether rec and other hold the same value of field, both having none counting as the same
 * (jansson's json_equal calls two missing values different). */
static bool same(const json_t *rec, const json_t *other, const char *field)
{
    const json_t *a = json_object_get(rec, field), *b = json_object_get(other, field);
    return (!a && !b) || (a && b && json_equal((json_t *)a, (json_t *)b));
}

static const char *str(const json_t *rec, const char *field)
{
    return json_string_value(json_object_get(rec, field));
}

/* Two fields that go together: each needs the other. */
static int check_pair(const char *type, const json_t *rec, const char *a, const char *b)
{
    bool has_a = json_object_get(rec, a) != NULL, has_b = json_object_get(rec, b) != NULL;
    if (has_a && !has_b)
        return fail(type, b, "required with %s", a);
    if (has_b && !has_a)
        return fail(type, a, "required with %s", b);
    return 0;
}

/* One version on its own: amounts that go with their units, signs, and what a kind needs. */
static int check_version(const struct money_type *t, const json_t *rec)
{
    const char *type = t->name;
    bool correction = json_object_get(rec, "corrects") != NULL;
    int rc;
    if ((rc = check_pair(type, rec, "value", "currency")))
        return rc;
    if (strcmp(type, "contribution") == 0) {
        if ((rc = check_pair(type, rec, "quantity", "unit")))
            return rc;
        const char *kind = str(rec, "kind");
        if (kind && strcmp(kind, "cash") == 0 && !json_object_get(rec, "value"))
            return fail(type, "value", "required for a contribution in cash");
        if (kind && strcmp(kind, "in_kind") == 0 && !json_object_get(rec, "value") &&
            !json_object_get(rec, "quantity"))
            return fail(type, "quantity",
                        "a contribution in kind needs a quantity and unit, a value and currency, "
                        "or both");
    }
    static const char *const amounts[] = {"value", "quantity"};
    for (size_t i = 0; i < 2; i++) {
        const json_t *a = json_object_get(rec, amounts[i]);
        if (a && json_number_value(a) < 0 && !correction)
            return fail(type, amounts[i],
                        "%g is negative; only a correction (corrects=ID) may take away",
                        json_number_value(a));
    }
    if (json_is_true(json_object_get(rec, "withdrawn")))
        return fail(type, "withdrawn",
                    "a %s is never withdrawn; record a correction (corrects=ID) instead%s", type,
                    strcmp(type, "contribution") == 0 ? ", or set status=cancelled" : "");
    const char *id = str(rec, "id"), *corrects = str(rec, "corrects");
    if (id && corrects && strcmp(id, corrects) == 0)
        return fail(type, "corrects", "a %s cannot correct itself", type);
    if (strcmp(type, "budget") == 0) {
        const char *s = str(rec, "period_start"), *e = str(rec, "period_end");
        if (s && e && strcmp(s, e) > 0)
            return fail(type, "period_end", "%s is before period_start %s", e, s);
    }
    return 0;
}

/* A correction adds up with the entry it corrects: they agree on what they count. */
static int check_correction(const struct money_type *t, const json_t *rec,
                            int (*lookup)(json_t **, const char *, const char *, void *), void *ctx)
{
    const char *corrects = str(rec, "corrects");
    if (!corrects || !lookup)
        return 0;
    json_t *target = NULL;
    int rc = lookup(&target, t->name, corrects, ctx);
    if (rc == TWIN_ENOTFOUND) {
        twin_error_clear();
        return fail(t->name, "corrects", "no %s %s", t->name, corrects);
    }
    if (rc)
        return rc;
    for (const char *const *f = t->same; *f; f++)
        if (!same(target, rec, *f)) {
            const char *mine = str(rec, *f), *theirs = str(target, *f);
            rc = fail(t->name, *f,
                      "a correction counts what the entry it corrects counts: %s %s has %s "
                      "'%s', this has '%s'",
                      t->name, corrects, *f, theirs ? theirs : "(none)", mine ? mine : "(none)");
            break;
        }
    json_decref(target);
    return rc;
}

static int status_rank(const char *s)
{
    return !s ? -1 : strcmp(s, "pledged") == 0 ? 0 : 1;
}

int twin_money_check(const json_t *rec, const json_t *old,
                     int (*lookup)(json_t **out, const char *type, const char *id, void *ctx),
                     void *lookup_ctx)
{
    const struct money_type *t = money_type_of(str(rec, "type"));
    if (!t)
        return 0;
    int rc = check_version(t, rec);
    if (rc)
        return rc;
    if (!old) /* a correction is checked against its entry once, when it is recorded */
        return check_correction(t, rec, lookup, lookup_ctx);
    for (const char *const *f = t->fixed; *f; f++)
        if (!same(old, rec, *f))
            return fail(t->name, *f,
                        "what a %s records never changes once written; record a correction "
                        "(corrects=%s) instead",
                        t->name, str(rec, "id"));
    if (strcmp(t->name, "contribution") == 0) {
        const char *was = str(old, "status"), *now = str(rec, "status");
        if (was && now && strcmp(was, now) != 0 && status_rank(was) >= status_rank(now))
            return fail(t->name, "status",
                        "a %s contribution stays %s (a status moves from pledged to delivered "
                        "or cancelled, never back)",
                        was, was);
    }
    return 0;
}
