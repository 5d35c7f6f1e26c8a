/*
 * IATI 2.03 export: one iati-activity per partnership, written with libxml2's text writer in
 * the element order the schema requires. Person records, notes and the North/South sides stay
 * out; the node's own institution is the reporting organisation.
 */
#include "twin/iati.h"

#include <libxml/parser.h>
#include <libxml/parserInternals.h>
#include <libxml/tree.h>
#include <libxml/xmlschemas.h>
#include <libxml/xmlversion.h>
#include <libxml/xmlwriter.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "twin/membership.h"
#include "twin/codes.h"
#include "twin/error.h"
#include "twin/ops.h"
#include "twin/record.h"
#include "base/util.h"

struct iati {
    xmlTextWriterPtr w;
    json_t *by_type; /* type -> array of records at the head */
    const struct twin_member *reporter;
    struct twin_iati_report *report;
    const char *lang; /* the activity's xml:lang, which its narratives have unless they say */
};

/* The types an export reads: a sealed one of them is left out and counted. */
static bool exported_type(const char *type)
{
    static const char *const types[] = {"partnership", "institution", "document",   "result",
                                        "indicator",   "budget",      "transaction"};
    for (size_t i = 0; type && i < sizeof(types) / sizeof(types[0]); i++)
        if (strcmp(type, types[i]) == 0)
            return true;
    return false;
}

static int collect(json_t *rec, void *ctx)
{
    struct iati *x = ctx;
    json_t *by_type = x->by_type;
    const char *type = json_string_value(json_object_get(rec, "type"));
    /* A sealed record's content is for its audience: an IATI export, published, never holds it,
     * nor reads anything from its envelope. */
    if (json_object_get(rec, "sealed")) {
        x->report->sealed +=
            exported_type(type) && !json_is_true(json_object_get(rec, "withdrawn"));
        return 0;
    }
    json_t *list = json_object_get(by_type, type);
    if (!list) {
        list = json_array();
        if (!list || json_object_set_new(by_type, type, list))
            return twin_error(TWIN_ERROR, "out of memory");
    }
    if (json_is_true(json_object_get(rec, "withdrawn")))
        return 0;
    return json_array_append(list, rec) ? twin_error(TWIN_ERROR, "out of memory") : 0;
}

static const char *str(const json_t *j, const char *key)
{
    return json_string_value(json_object_get(j, key));
}

static const json_t *find(struct iati *x, const char *type, const char *id)
{
    size_t i;
    json_t *rec;
    json_array_foreach(json_object_get(x->by_type, type), i,
                       rec) if (id && strcmp(str(rec, "id"), id) == 0) return rec;
    return NULL;
}

/* libxml2 reports failure with -1; the first failure decides. */
#define W(call)                                                                                    \
    do {                                                                                           \
        if ((call) < 0)                                                                            \
            return twin_error(TWIN_ERROR, "writing the IATI XML failed");                          \
    } while (0)

static int start(struct iati *x, const char *name)
{
    W(xmlTextWriterStartElement(x->w, (const xmlChar *)name));
    return 0;
}

static int end(struct iati *x)
{
    W(xmlTextWriterEndElement(x->w));
    return 0;
}

static int attr(struct iati *x, const char *name, const char *value)
{
    if (value)
        W(xmlTextWriterWriteAttribute(x->w, (const xmlChar *)name, (const xmlChar *)value));
    return 0;
}

/* A JSON number or string as attribute text. */
static int attr_value(struct iati *x, const char *name, const json_t *v)
{
    if (!v)
        return 0;
    if (json_is_string(v))
        return attr(x, name, json_string_value(v));
    char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(15));
    int rc = text ? attr(x, name, text) : twin_error(TWIN_ERROR, "out of memory");
    free(text);
    return rc;
}

static int cmp_codes(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* <name [attrs]><narrative>text</narrative></name>: a text in several languages gives one
 * narrative each, in code order, each with its xml:lang but where it is the activity's. */
static int narrative_element(struct iati *x, const char *name, const char *type,
                             const json_t *value)
{
    int rc;
    if ((rc = start(x, name)) || (rc = attr(x, "type", type)))
        return rc;
    if (json_is_object(value)) {
        const char *codes[TWIN_RECORD_MAX_LANGUAGES], *code;
        size_t n = 0;
        json_t *text;
        json_object_foreach((json_t *)value, code, text)
        {
            if (n < TWIN_RECORD_MAX_LANGUAGES && json_is_string(text))
                codes[n++] = code;
        }
        qsort(codes, n, sizeof(*codes), cmp_codes);
        for (size_t i = 0; i < n; i++) {
            if ((rc = start(x, "narrative")) ||
                (strcmp(codes[i], x->lang) != 0 && (rc = attr(x, "xml:lang", codes[i]))))
                return rc;
            W(xmlTextWriterWriteString(
                x->w, (const xmlChar *)json_string_value(json_object_get(value, codes[i]))));
            if ((rc = end(x)))
                return rc;
        }
        return end(x);
    }
    if ((rc = start(x, "narrative")))
        return rc;
    W(xmlTextWriterWriteString(x->w, (const xmlChar *)json_string_value(value)));
    if ((rc = end(x)))
        return rc;
    return end(x);
}

static int empty_element(struct iati *x, const char *name, const char *a1, const char *v1,
                         const char *a2, const char *v2)
{
    int rc;
    if ((rc = start(x, name)) || (rc = attr(x, a1, v1)) || (a2 && (rc = attr(x, a2, v2))))
        return rc;
    return end(x);
}

/* IATI OrganisationRole by side, where the partnership gives none. */
static const char *default_role(const char *side)
{
    if (side && strcmp(side, "donor") == 0)
        return "1"; /* funding */
    if (side && strcmp(side, "broker") == 0)
        return "3"; /* extending */
    return "4";     /* implementing */
}

static int participating_orgs(struct iati *x, const json_t *p)
{
    size_t i, n = 0;
    json_t *m;
    int rc = 0;
    json_array_foreach(json_object_get(p, "members"), i, m)
    {
        const json_t *inst = find(x, "institution", str(m, "institution"));
        if (!inst)
            continue;
        const char *role = str(m, "iati_role");
        if ((rc = start(x, "participating-org")) || (rc = attr(x, "ref", str(inst, "org_id"))) ||
            (rc = attr(x, "type", str(inst, "org_type"))) ||
            (rc = attr(x, "role", role ? role : default_role(str(m, "side")))) ||
            (rc = start(x, "narrative")))
            return rc;
        W(xmlTextWriterWriteString(x->w, (const xmlChar *)str(inst, "name")));
        if ((rc = end(x)) || (rc = end(x)))
            return rc;
        n++;
    }
    if (n == 0) { /* IATI needs one: the reporting institution implements it */
        const struct twin_member *r = x->reporter;
        if ((rc = start(x, "participating-org")) || (rc = attr(x, "ref", r->org_id)) ||
            (rc = attr(x, "type", r->org_type)) || (rc = attr(x, "role", "4")) ||
            (rc = start(x, "narrative")))
            return rc;
        W(xmlTextWriterWriteString(x->w, (const xmlChar *)r->name));
        if ((rc = end(x)) || (rc = end(x)))
            return rc;
    }
    return 0;
}

static int dates(struct iati *x, const json_t *p)
{
    static const struct {
        const char *field, *type;
    } map[] = {
        {"planned_start", "1"}, {"actual_start", "2"}, {"planned_end", "3"}, {"actual_end", "4"}};
    const json_t *d = json_object_get(p, "dates");
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < sizeof(map) / sizeof(map[0]); i++)
        if (str(d, map[i].field))
            rc = empty_element(x, "activity-date", "type", map[i].type, "iso-date",
                               str(d, map[i].field));
    return rc;
}

static int shares(struct iati *x, const json_t *list, const char *element, const char *vocabulary)
{
    size_t i;
    json_t *s;
    int rc = 0;
    json_array_foreach(list, i, s)
    {
        if ((rc = start(x, element)) || (vocabulary && (rc = attr(x, "vocabulary", vocabulary))) ||
            (rc = attr(x, "code", str(s, "code"))) ||
            (rc = attr_value(x, "percentage", json_object_get(s, "percentage"))) || (rc = end(x)))
            return rc;
    }
    return 0;
}

static int documents(struct iati *x, const json_t *p)
{
    size_t i;
    json_t *doc;
    int rc = 0;
    json_array_foreach(json_object_get(x->by_type, "document"), i, doc)
    {
        const char *pid = str(doc, "partnership"), *url = str(doc, "url");
        if (!pid || strcmp(pid, str(p, "id")) != 0)
            continue;
        if (!url) { /* IATI links documents by URL */
            x->report->skipped_documents++;
            continue;
        }
        const char *category = str(doc, "category");
        if (!category)
            category = strcmp(str(doc, "kind"), "mou") == 0 ? "A09" : "A12";
        if ((rc = start(x, "document-link")) || (rc = attr(x, "url", url)) ||
            (rc = attr(x, "format", "application/octet-stream")) ||
            (rc = narrative_element(x, "title", NULL, json_object_get(doc, "title"))) ||
            (rc = empty_element(x, "category", "code", category, NULL, NULL)) ||
            (str(doc, "language") &&
             (rc = empty_element(x, "language", "code", str(doc, "language"), NULL, NULL))) ||
            (str(doc, "date") &&
             (rc = empty_element(x, "document-date", "iso-date", str(doc, "date"), NULL, NULL))) ||
            (rc = end(x)))
            return rc;
    }
    return 0;
}

static int indicator(struct iati *x, const json_t *ind)
{
    int rc;
    if ((rc = start(x, "indicator")) || (rc = attr(x, "measure", str(ind, "measure"))))
        return rc;
    const json_t *asc = json_object_get(ind, "ascending");
    if (asc && (rc = attr(x, "ascending", json_is_true(asc) ? "1" : "0")))
        return rc;
    if ((rc = narrative_element(x, "title", NULL, json_object_get(ind, "title"))) ||
        (json_object_get(ind, "description") &&
         (rc = narrative_element(x, "description", NULL, json_object_get(ind, "description")))))
        return rc;
    const json_t *b = json_object_get(ind, "baseline");
    char year[8] = "";
    if (json_is_integer(json_object_get(b, "year")))
        snprintf(year, sizeof(year), "%lld",
                 (long long)json_integer_value(json_object_get(b, "year")));
    else if (str(b, "date"))
        snprintf(year, sizeof(year), "%.4s", str(b, "date"));
    if (b && year[0] &&
        ((rc = start(x, "baseline")) || (rc = attr(x, "year", year)) ||
         (rc = attr(x, "iso-date", str(b, "date"))) ||
         (rc = attr_value(x, "value", json_object_get(b, "value"))) ||
         (str(b, "comment") &&
          (rc = narrative_element(x, "comment", NULL, json_object_get(b, "comment")))) ||
         (rc = end(x))))
        return rc;
    size_t i;
    json_t *period;
    json_array_foreach(json_object_get(ind, "periods"), i, period)
    {
        if ((rc = start(x, "period")) ||
            (rc = empty_element(x, "period-start", "iso-date", str(period, "start"), NULL, NULL)) ||
            (rc = empty_element(x, "period-end", "iso-date", str(period, "end"), NULL, NULL)))
            return rc;
        const json_t *t = json_object_get(period, "target");
        if (t && ((rc = start(x, "target")) ||
                  (rc = attr_value(x, "value", json_object_get(t, "value"))) ||
                  (str(t, "comment") &&
                   (rc = narrative_element(x, "comment", NULL, json_object_get(t, "comment")))) ||
                  (rc = end(x))))
            return rc;
        size_t k;
        json_t *a;
        json_array_foreach(json_object_get(period, "actuals"), k, a)
        {
            if ((rc = start(x, "actual")) ||
                (rc = attr_value(x, "value", json_object_get(a, "value"))) ||
                (str(a, "comment") &&
                 (rc = narrative_element(x, "comment", NULL, json_object_get(a, "comment")))) ||
                (rc = end(x)))
                return rc;
        }
        if ((rc = end(x)))
            return rc;
    }
    return end(x);
}

static int results(struct iati *x, const json_t *p)
{
    size_t i;
    json_t *res;
    int rc = 0;
    json_array_foreach(json_object_get(x->by_type, "result"), i, res)
    {
        const char *pid = str(res, "partnership");
        if (!pid || strcmp(pid, str(p, "id")) != 0)
            continue;
        /* IATI wants each result to have an indicator. */
        size_t k, count = 0;
        json_t *ind;
        json_array_foreach(json_object_get(x->by_type, "indicator"), k, ind) count +=
            str(ind, "result") && strcmp(str(ind, "result"), str(res, "id")) == 0;
        if (count == 0) {
            x->report->skipped_results++;
            continue;
        }
        if ((rc = start(x, "result")) || (rc = attr(x, "type", str(res, "result_type"))))
            return rc;
        const json_t *agg = json_object_get(res, "aggregation_status");
        if (agg && (rc = attr(x, "aggregation-status", json_is_true(agg) ? "1" : "0")))
            return rc;
        if ((rc = narrative_element(x, "title", NULL, json_object_get(res, "title"))) ||
            (json_object_get(res, "description") &&
             (rc = narrative_element(x, "description", NULL, json_object_get(res, "description")))))
            return rc;
        json_array_foreach(json_object_get(x->by_type, "indicator"), k, ind)
        {
            if (str(ind, "result") && strcmp(str(ind, "result"), str(res, "id")) == 0 &&
                (rc = indicator(x, ind)))
                return rc;
        }
        if ((rc = end(x)))
            return rc;
    }
    return 0;
}

/* Budgets by period, transactions by date: in the order they happened, then by id. */
static _Thread_local const char *sort_field;
static int by_field_then_id(const void *a, const void *b)
{
    const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
    const char *fx = str(x, sort_field), *fy = str(y, sort_field);
    int c = strcmp(fx ? fx : "", fy ? fy : "");
    return c ? c : strcmp(str(x, "id"), str(y, "id"));
}

static int sort_by(json_t *list, const char *field)
{
    size_t n = json_array_size(list);
    json_t **items = n ? calloc(n, sizeof(*items)) : NULL;
    if (n && !items)
        return twin_error(TWIN_ERROR, "out of memory");
    for (size_t i = 0; i < n; i++)
        items[i] = json_incref(json_array_get(list, i));
    sort_field = field;
    if (n > 1) /* qsort wants a list, and a partnership may have no budget at all */
        qsort(items, n, sizeof(*items), by_field_then_id);
    json_array_clear(list);
    int rc = 0;
    for (size_t i = 0; i < n; i++)
        if (json_array_append_new(list, items[i]) && rc == 0)
            rc = twin_error(TWIN_ERROR, "out of memory");
    free(items);
    return rc;
}

/* A money value as xsd:decimal text, which has no exponent: 1500000, -250.5. */
static int decimal_text(struct iati *x, double v)
{
    char text[64];
    if (v == (double)(long long)v && v > -1e15 && v < 1e15)
        snprintf(text, sizeof(text), "%lld", (long long)v);
    else {
        snprintf(text, sizeof(text), "%.6f", v);
        char *e = text + strlen(text);
        while (e[-1] == '0')
            *--e = '\0';
        if (e[-1] == '.')
            e[-1] = '\0';
    }
    W(xmlTextWriterWriteString(x->w, (const xmlChar *)text));
    return 0;
}

/* <value currency=".." value-date="..">v</value> */
static int money_value(struct iati *x, double v, const char *currency, const char *value_date)
{
    int rc;
    if ((rc = start(x, "value")) || (rc = attr(x, "currency", currency)) ||
        (rc = attr(x, "value-date", value_date)) || (rc = decimal_text(x, v)))
        return rc;
    return end(x);
}

static bool of_partnership(const json_t *rec, const json_t *p)
{
    const char *pid = str(rec, "partnership");
    return pid && strcmp(pid, str(p, "id")) == 0;
}

/* The budget a correction adds into: the end of its chain of corrects (bounded, as a chain
 * cannot be longer than the budgets there are). */
static const json_t *budget_root(struct iati *x, const json_t *b)
{
    size_t n = json_array_size(json_object_get(x->by_type, "budget"));
    for (size_t i = 0; i <= n && str(b, "corrects"); i++) {
        const json_t *up = find(x, "budget", str(b, "corrects"));
        if (!up)
            return NULL;
        b = up;
    }
    return str(b, "corrects") ? NULL : b;
}

/* IATI has no budget reversal: each budget is written with the corrections that reach it
 * added in, as the value it now stands at. */
static int budgets(struct iati *x, const json_t *p)
{
    size_t i, k;
    json_t *b, *c;
    int rc;
    json_t *all = json_object_get(x->by_type, "budget");
    json_array_foreach(all, i, b)
    {
        if (!of_partnership(b, p) || str(b, "corrects"))
            continue;
        double v = json_number_value(json_object_get(b, "value"));
        json_array_foreach(all, k, c) if (str(c, "corrects") && budget_root(x, c) == b) v +=
            json_number_value(json_object_get(c, "value"));
        const char *type = strcmp(str(b, "budget_type"), "revised") == 0 ? "2" : "1";
        const char *status = str(b, "status");
        const char *vdate = str(b, "value_date") ? str(b, "value_date") : str(b, "period_start");
        if ((rc = start(x, "budget")) || (rc = attr(x, "type", type)) ||
            (status && (rc = attr(x, "status", strcmp(status, "committed") == 0 ? "2" : "1"))) ||
            (rc = empty_element(x, "period-start", "iso-date", str(b, "period_start"), NULL,
                                NULL)) ||
            (rc = empty_element(x, "period-end", "iso-date", str(b, "period_end"), NULL, NULL)) ||
            (rc = money_value(x, v, str(b, "currency"), vdate)) || (rc = end(x)))
            return rc;
    }
    return 0;
}

/* provider-org or receiver-org: the institution's org id as ref, its name as narrative. */
static int transaction_org(struct iati *x, const char *element, const char *id)
{
    const json_t *inst = id ? find(x, "institution", id) : NULL;
    if (!inst)
        return 0;
    int rc;
    if ((rc = start(x, element)) || (rc = attr(x, "ref", str(inst, "org_id"))) ||
        (rc = start(x, "narrative")))
        return rc;
    W(xmlTextWriterWriteString(x->w, (const xmlChar *)str(inst, "name")));
    if ((rc = end(x)))
        return rc;
    return end(x);
}

/* Every transaction as recorded: a correction is a transaction of its own, negative when it
 * takes away, as IATI reports reversals. */
static int transactions(struct iati *x, const json_t *p)
{
    size_t i;
    json_t *t;
    int rc;
    json_array_foreach(json_object_get(x->by_type, "transaction"), i, t)
    {
        if (!of_partnership(t, p))
            continue;
        const char *vdate = str(t, "value_date") ? str(t, "value_date") : str(t, "date");
        if ((rc = start(x, "transaction")) ||
            (rc = empty_element(x, "transaction-type", "code", str(t, "transaction_type"), NULL,
                                NULL)) ||
            (rc = empty_element(x, "transaction-date", "iso-date", str(t, "date"), NULL, NULL)) ||
            (rc = money_value(x, json_number_value(json_object_get(t, "value")), str(t, "currency"),
                              vdate)) ||
            (json_object_get(t, "description") &&
             (rc = narrative_element(x, "description", NULL, json_object_get(t, "description")))) ||
            (rc = transaction_org(x, "provider-org", str(t, "provider"))) ||
            (rc = transaction_org(x, "receiver-org", str(t, "receiver"))) || (rc = end(x)))
            return rc;
    }
    return 0;
}

static int activity(struct iati *x, const json_t *p)
{
    const struct twin_member *r = x->reporter;
    const json_t *d = json_object_get(p, "dates");
    if (!str(d, "planned_start") && !str(d, "actual_start"))
        return twin_error(TWIN_EINVALID,
                          "partnership %s (%s): IATI needs a start date (dates.planned_start or "
                          "dates.actual_start)",
                          str(p, "id"), twin_record_title(p));
    if (!str(p, "status"))
        return twin_error(TWIN_EINVALID,
                          "partnership %s (%s): IATI needs an activity status (status)",
                          str(p, "id"), twin_record_title(p));
    /* The identifier begins with the reporting organisation's ref (an IATI rule). */
    char ident[400];
    const char *given = str(p, "iati_identifier");
    size_t rlen = strlen(r->org_id);
    if (given && strncmp(given, r->org_id, rlen) == 0 && given[rlen] == '-')
        snprintf(ident, sizeof(ident), "%s", given);
    else
        snprintf(ident, sizeof(ident), "%s-%s", r->org_id, str(p, "id"));
    int rc;
    /* The activity's language is the partnership's, English where it gives none. */
    x->lang = twin_record_own_lang(p) ? twin_record_own_lang(p) : "en";
    if ((rc = start(x, "iati-activity")) || (rc = attr(x, "xml:lang", x->lang)) ||
        (rc = attr(x, "default-currency", str(p, "currency"))) ||
        (rc = start(x, "iati-identifier")))
        return rc;
    W(xmlTextWriterWriteString(x->w, (const xmlChar *)ident));
    if ((rc = end(x)) || (rc = start(x, "reporting-org")) || (rc = attr(x, "ref", r->org_id)) ||
        (rc = attr(x, "type", r->org_type)) || (rc = start(x, "narrative")))
        return rc;
    W(xmlTextWriterWriteString(x->w, (const xmlChar *)r->name));
    if ((rc = end(x)) || (rc = end(x)) ||
        (rc = narrative_element(x, "title", NULL, json_object_get(p, "title"))) ||
        (json_object_get(p, "summary") &&
         (rc = narrative_element(x, "description", "1", json_object_get(p, "summary")))))
        return rc;
    size_t i;
    json_t *o;
    json_array_foreach(json_object_get(p, "objectives"), i, o)
    {
        if ((rc = narrative_element(x, "description", "2", o)))
            return rc;
    }
    if ((rc = participating_orgs(x, p)) || (rc = start(x, "other-identifier")) ||
        (rc = attr(x, "ref", str(p, "id"))) || (rc = attr(x, "type", "A1")) || (rc = end(x)) ||
        (rc = empty_element(x, "activity-status", "code", str(p, "status"), NULL, NULL)) ||
        (rc = dates(x, p)) ||
        (rc = shares(x, json_object_get(p, "recipient_countries"), "recipient-country", NULL)) ||
        (rc = shares(x, json_object_get(p, "sectors"), "sector", "1")))
        return rc;
    /* The kind of partnership, as a tag of the reporting organisation's own vocabulary. */
    if ((rc = start(x, "tag")) || (rc = attr(x, "vocabulary", "99")) ||
        (rc = attr(x, "code", str(p, "partnership_type"))) || (rc = start(x, "narrative")))
        return rc;
    W(xmlTextWriterWriteString(x->w, (const xmlChar *)str(p, "partnership_type")));
    if ((rc = end(x)) || (rc = end(x)) || (rc = budgets(x, p)) || (rc = transactions(x, p)) ||
        (rc = documents(x, p)) || (rc = results(x, p)))
        return rc;
    x->report->activities++;
    return end(x);
}

/* ---- the IATI 2.03 activity schema, built in ------------------------------------------------ */

/* The activity schema and the two it includes and imports (iati-common.xsd, xml.xsd), from
 * tests/data/iati, embedded at build time by cmake/embed.cmake: each is followed by a NUL. */
extern const size_t twin_iati_schema_count;
extern const char *const twin_iati_schema_names[];
extern const unsigned char *const twin_iati_schema_data[];
extern const size_t twin_iati_schema_sizes[];

/* Where the embedded files seem to be, for libxml2: the activity schema's include and import
 * resolve against its URL to others under this prefix, which only embedded_loader serves. */
#define SCHEMA_BASE "twin-embedded:///iati/"

#if LIBXML_VERSION >= 21200
typedef const xmlError xml_error;
#else
typedef xmlError xml_error;
#endif

/* libxml2's entity loader is one for the process: ours is set only while the schema is parsed,
 * under this lock, and what was set before is put back. */
static pthread_mutex_t loader_lock = PTHREAD_MUTEX_INITIALIZER;
static xmlExternalEntityLoader outer_loader;
static _Thread_local bool loading_schema;

/* Serves the embedded files from memory. While this thread parses the schema, any other URL is
 * refused, so nothing is read from disk or the network; other threads' parses that happen to run
 * meanwhile go to the loader that was set before. */
static xmlParserInputPtr embedded_loader(const char *url, const char *id, xmlParserCtxtPtr ctxt)
{
    size_t base = strlen(SCHEMA_BASE);
    for (size_t i = 0; url && strncmp(url, SCHEMA_BASE, base) == 0 && i < twin_iati_schema_count;
         i++) {
        if (strcmp(url + base, twin_iati_schema_names[i]) != 0)
            continue;
        xmlParserInputPtr in = xmlNewStringInputStream(ctxt, twin_iati_schema_data[i]);
        if (in) /* its URL, against which what it includes and imports resolves */
            in->filename = (const char *)xmlStrdup((const xmlChar *)url);
        return in;
    }
    return loading_schema ? NULL : outer_loader(url, id, ctxt);
}

/* The first error libxml2 reports, with its line and the activity it is in. */
struct first_error {
    bool set;
    int line;
    char message[512];
    char activity[256]; /* the iati-identifier of the iati-activity holding the error, or "" */
};

static void keep_first_error(void *ctx, xml_error *e)
{
    struct first_error *f = ctx;
    if (f->set || !e || e->level < XML_ERR_ERROR)
        return;
    f->set = true;
    f->line = e->line;
    /* An element or attribute of the document checked: up to its iati-activity. */
    const xmlNode *at = e->domain == XML_FROM_SCHEMASV ? e->node : NULL;
    while (at && !(at->type == XML_ELEMENT_NODE && xmlStrEqual(at->name, BAD_CAST "iati-activity")))
        at = at->parent;
    for (const xmlNode *c = at ? at->children : NULL; c; c = c->next)
        if (c->type == XML_ELEMENT_NODE && xmlStrEqual(c->name, BAD_CAST "iati-identifier")) {
            xmlChar *id = xmlNodeGetContent(c);
            snprintf(f->activity, sizeof(f->activity), "%s", id ? (const char *)id : "");
            xmlFree(id);
            break;
        }
    snprintf(f->message, sizeof(f->message), "%s", e->message ? e->message : "unknown error");
    size_t n = strlen(f->message);
    while (n > 0 && (f->message[n - 1] == '\n' || f->message[n - 1] == ' '))
        f->message[--n] = '\0';
}

struct iati_schema {
    xmlDocPtr doc; /* the activity schema's document, which the parsed schema points into */
    xmlSchemaPtr schema;
};

static void schema_free(struct iati_schema *s)
{
    if (s->schema)
        xmlSchemaFree(s->schema);
    if (s->doc)
        xmlFreeDoc(s->doc);
    s->schema = NULL;
    s->doc = NULL;
}

static int schema_load(struct iati_schema *s)
{
    struct first_error err = {0};
    xmlSchemaParserCtxtPtr pc = NULL;
    memset(s, 0, sizeof(*s));
    s->doc = xmlReadMemory((const char *)twin_iati_schema_data[0], (int)twin_iati_schema_sizes[0],
                           SCHEMA_BASE "iati-activities-schema.xsd", NULL,
                           XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (s->doc && (pc = xmlSchemaNewDocParserCtxt(s->doc))) {
        xmlSchemaSetParserStructuredErrors(pc, keep_first_error, &err);
        pthread_mutex_lock(&loader_lock);
        outer_loader = xmlGetExternalEntityLoader();
        xmlSetExternalEntityLoader(embedded_loader);
        loading_schema = true;
        s->schema = xmlSchemaParse(pc);
        loading_schema = false;
        xmlSetExternalEntityLoader(outer_loader);
        pthread_mutex_unlock(&loader_lock);
        xmlSchemaFreeParserCtxt(pc);
    }
    if (!s->schema) {
        schema_free(s);
        return twin_error(TWIN_ERROR, "the built-in IATI 2.03 schema cannot be read (line %d): %s",
                          err.line, err.set ? err.message : "out of memory");
    }
    return 0;
}

int twin_iati_validate(const char *xml, size_t len)
{
    if (len > INT_MAX)
        return twin_error(TWIN_ELIMIT, "the IATI document is too large to check");
    struct iati_schema s;
    int rc = schema_load(&s);
    if (rc)
        return rc;
    xmlParserCtxtPtr pc = xmlNewParserCtxt();
    xmlDocPtr doc =
        pc ? xmlCtxtReadMemory(pc, xml, (int)len, "iati-activities.xml", NULL,
                               XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING)
           : NULL;
    xmlSchemaValidCtxtPtr vc = doc ? xmlSchemaNewValidCtxt(s.schema) : NULL;
    if (!doc) {
        const xmlError *e = pc ? xmlCtxtGetLastError(pc) : NULL;
        rc = twin_error(TWIN_EINVALID, "not well-formed XML (line %d): %s", e ? e->line : 0,
                        e && e->message ? e->message : "out of memory");
    } else if (!vc) {
        rc = twin_error(TWIN_ERROR, "out of memory");
    } else {
        struct first_error err = {0};
        xmlSchemaSetValidStructuredErrors(vc, keep_first_error, &err);
        int v = xmlSchemaValidateDoc(vc, doc);
        if (v != 0 || err.set)
            rc = err.set ? twin_error(TWIN_EINVALID, "line %d%s%s%s: %s", err.line,
                                      err.activity[0] ? " (activity " : "", err.activity,
                                      err.activity[0] ? ")" : "", err.message)
                         : twin_error(TWIN_ERROR, "libxml2 could not check the document (%d)", v);
    }
    if (vc)
        xmlSchemaFreeValidCtxt(vc);
    if (doc)
        xmlFreeDoc(doc);
    if (pc)
        xmlFreeParserCtxt(pc);
    schema_free(&s);
    return rc;
}

int twin_iati_export(FILE *out, struct twin_iati_report *report, twin_node *n,
                     const struct twin_selection *sel)
{
    struct iati x = {.report = report, .by_type = json_object()};
    struct twin_membership *m = NULL;
    git_oid head;
    git_commit *c = NULL;
    git_tree *tree = NULL;
    xmlBufferPtr buf = NULL;
    memset(report, 0, sizeof(*report));
    int rc = x.by_type ? 0 : twin_error(TWIN_ERROR, "out of memory");
    if (rc == 0 && sel->type && strcmp(sel->type, "partnership") != 0)
        rc = twin_error(TWIN_EINVALID, "an IATI export is of partnerships (one activity each)");
    if (rc == 0)
        rc = twin_node_head(&head, n);
    if (rc == 0 &&
        (git_commit_lookup(&c, twin_node_repo(n), &head) < 0 || git_commit_tree(&tree, c) < 0))
        rc = twin_error_git("reading the head");
    if (rc == 0)
        rc = twin_membership_load(&m, twin_node_repo(n), tree);
    if (rc == 0) {
        x.reporter = twin_membership_find_key(m, twin_node_key(n)->pk, NULL);
        if (!x.reporter)
            rc = twin_error(TWIN_EDENIED, "this node is not a member: there is no reporting "
                                          "organisation");
        else if (!x.reporter->org_type)
            rc = twin_error(TWIN_EINVALID,
                            "the reporting organisation %s has no IATI organisation type (set "
                            "it with: twin member set %s --org-type CODE)",
                            x.reporter->org_id, x.reporter->org_id);
    }
    if (rc == 0)
        rc = twin_ops_foreach(n, NULL, NULL, collect, &x);
    if (rc == 0)
        rc = sort_by(json_object_get(x.by_type, "budget"), "period_start");
    if (rc == 0)
        rc = sort_by(json_object_get(x.by_type, "transaction"), "date");
    /* The selected partnerships, by id. */
    json_t *picked = json_array();
    if (rc == 0 && !picked)
        rc = twin_error(TWIN_ERROR, "out of memory");
    size_t i;
    json_t *p;
    if (rc == 0)
        json_array_foreach(json_object_get(x.by_type, "partnership"), i, p)
        {
            int keep = twin_ops_selected(sel, p);
            if (keep < 0) {
                rc = keep;
                break;
            }
            if (keep && json_array_append(picked, p)) {
                rc = twin_error(TWIN_ERROR, "out of memory");
                break;
            }
        }
    if (rc == 0 && json_array_size(picked) == 0)
        rc = twin_error(TWIN_ENOTFOUND, "no partnership to export (IATI needs one activity at "
                                        "least)");
    char when[32];
    time_t now = (time_t)twin_util_clock_now();
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (rc == 0 && (!(buf = xmlBufferCreate()) || !(x.w = xmlNewTextWriterMemory(buf, 0))))
        rc = twin_error(TWIN_ERROR, "out of memory");
    if (rc == 0 && (xmlTextWriterSetIndent(x.w, 1) < 0 ||
                    xmlTextWriterSetIndentString(x.w, (const xmlChar *)"  ") < 0 ||
                    xmlTextWriterStartDocument(x.w, "1.0", "UTF-8", NULL) < 0))
        rc = twin_error(TWIN_ERROR, "writing the IATI XML failed");
    if (rc == 0 && !(rc = start(&x, "iati-activities")) && !(rc = attr(&x, "version", "2.03")))
        rc = attr(&x, "generated-datetime", when);
    json_array_foreach(picked, i, p)
    {
        if (rc)
            break;
        rc = activity(&x, p);
    }
    if (rc == 0 && (rc = end(&x)) == 0 && xmlTextWriterEndDocument(x.w) < 0)
        rc = twin_error(TWIN_ERROR, "writing the IATI XML failed");
    if (x.w)
        xmlFreeTextWriter(x.w);
    /* Checked whole in memory before a byte is written: an invalid document is never written. */
    if (rc == 0 && (rc = twin_iati_validate((const char *)xmlBufferContent(buf),
                                            (size_t)xmlBufferLength(buf))))
        rc = twin_error_wrap(rc, "%s, so nothing was written",
                             rc == TWIN_EINVALID
                                 ? "the export is not valid against the IATI 2.03 schema"
                                 : "the export could not be checked against the IATI 2.03 schema");
    if (rc == 0 && fwrite(xmlBufferContent(buf), 1, (size_t)xmlBufferLength(buf), out) !=
                       (size_t)xmlBufferLength(buf))
        rc = twin_error(TWIN_ERROR, "writing the export failed");
    if (buf)
        xmlBufferFree(buf);
    json_decref(picked);
    json_decref(x.by_type);
    twin_membership_free(m);
    git_tree_free(tree);
    git_commit_free(c);
    return rc;
}

/* ---- reading -------------------------------------------------------------------------------- */

#define IATI_MAX_ACTIVITIES 100000

struct reader {
    json_t *known;   /* "org:<org id or name>", "act:<IATI identifier>", "doc:<partnership> <url or
                        title>", "res:<partnership> <title>", "ind:<result> <title>" -> record id */
    json_t *emitted; /* keys of institutions already given to fn in this import */
    twin_iati_record_fn fn;
    twin_iati_note_fn note;
    void *ctx;
    size_t *skipped;
    size_t activity;
    json_t *seen; /* budget and transaction keys met in this import -> how often */
    json_t *last; /* "<partnership> <type> <currency>" -> [[transaction number, id], ...] of
                     the activity's transactions of those that are not reversals */
};

static bool named(const xmlNode *n, const char *name)
{
    return n->type == XML_ELEMENT_NODE && strcmp((const char *)n->name, name) == 0;
}

/* An attribute's value (malloc'd by libxml2: free with xmlFree), or NULL. */
static char *get(const xmlNode *n, const char *name)
{
    return (char *)xmlGetProp(n, (const xmlChar *)name);
}

/* The trimmed text of one narrative node; malloc'd, or NULL when empty. */
static char *narrative_text(const xmlNode *n)
{
    xmlChar *t = xmlNodeGetContent(n);
    if (!t)
        return NULL;
    char *s = (char *)t, *e = s + strlen(s);
    while (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r')
        s++;
    while (e > s && (e[-1] == ' ' || e[-1] == '\n' || e[-1] == '\t' || e[-1] == '\r'))
        e--;
    char *out = e > s ? strndup(s, (size_t)(e - s)) : NULL;
    xmlFree(t);
    return out;
}

/* The text of the first narrative under n (or of n itself), trimmed; malloc'd, or NULL. */
static char *narrative(const xmlNode *n)
{
    const xmlNode *src = n;
    for (const xmlNode *c = n ? n->children : NULL; c; c = c->next)
        if (named(c, "narrative")) {
            src = c;
            break;
        }
    return src ? narrative_text(src) : NULL;
}

static void set_str(json_t *obj, const char *key, const char *value)
{
    if (value && *value)
        json_object_set_new(obj, key, json_string(value));
}

/* Sets obj's key to the text of element n: with several narratives in distinct languages (each
 * its xml:lang, or the activity's, else English), a map of those languages to their texts;
 * otherwise the first narrative's text, as a plain string. */
static void set_texts(json_t *obj, const char *key, const xmlNode *n)
{
    json_t *map = json_object();
    size_t narratives = 0;
    bool plain = !map;
    for (const xmlNode *c = n ? n->children : NULL; c && !plain; c = c->next) {
        if (!named(c, "narrative"))
            continue;
        narratives++;
        xmlChar *lang = xmlNodeGetLang(c);
        char *text = narrative_text(c);
        const char *code = lang ? (const char *)lang : "en";
        if (!text || !twin_record_lang_valid(code) || json_object_get(map, code) ||
            json_object_size(map) == TWIN_RECORD_MAX_LANGUAGES)
            plain = true; /* not one text a language: the first is kept */
        else
            json_object_set_new(map, code, json_string(text));
        free(text);
        xmlFree(lang);
    }
    if (!plain && narratives > 1) {
        json_object_set_new(obj, key, map);
        return;
    }
    json_decref(map);
    char *t = narrative(n);
    set_str(obj, key, t);
    free(t);
}

/* A number from text, or NULL when it is not one. */
static json_t *number(const char *text)
{
    if (!text || !*text)
        return NULL;
    char *end;
    double d = strtod(text, &end);
    if (*end)
        return NULL;
    json_t *j = json_loads(text, JSON_DECODE_ANY, NULL);
    if (json_is_number(j))
        return j;
    json_decref(j);
    return json_real(d);
}

/* An ISO date's first ten characters, when they look like one. */
static void set_date(json_t *obj, const char *key, const char *iso)
{
    if (iso && strlen(iso) >= 10 && iso[4] == '-' && iso[7] == '-') {
        char d[11];
        memcpy(d, iso, 10);
        d[10] = '\0';
        json_object_set_new(obj, key, json_string(d));
    }
}

/* The id a record of this key had in an earlier import, or a new one (remembered). */
static void id_for(char out[TWIN_ID_LEN + 1], struct reader *r, const char *prefix, const char *a,
                   const char *b)
{
    char key[1200];
    snprintf(key, sizeof(key), "%s:%s%s%s", prefix, a ? a : "", b ? " " : "", b ? b : "");
    const char *known = json_string_value(json_object_get(r->known, key));
    if (known)
        snprintf(out, TWIN_ID_LEN + 1, "%s", known);
    else {
        twin_record_new_id(out);
        json_object_set_new(r->known, key, json_string(out));
    }
}

static int emit(struct reader *r, json_t *rec)
{
    int rc = r->fn(r->activity, rec, r->ctx);
    json_decref(rec);
    return rc;
}

/* The institution for a participating or reporting organisation: found again, or made. */
static int institution(const char **id_out, struct reader *r, const xmlNode *org)
{
    char *ref = get(org, "ref"), *type = get(org, "type"), *name = narrative(org);
    const char *key = ref && twin_record_org_id_valid(ref) ? ref : name;
    int rc = 0;
    *id_out = NULL;
    if (!key || !name) { /* nothing to know it by */
        (*r->skipped)++;
        goto done;
    }
    char okey[400];
    snprintf(okey, sizeof(okey), "org:%s", key);
    if (!json_object_get(r->known, okey) || !json_object_get(r->emitted, okey)) {
        char id[TWIN_ID_LEN + 1];
        id_for(id, r, "org", key, NULL);
        json_t *rec = json_pack("{s:s, s:s, s:s}", "type", "institution", "id", id, "name", name);
        if (key == ref)
            set_str(rec, "org_id", ref);
        if (type && twin_codes_valid(TWIN_CODES_ORGANISATION_TYPE, type))
            set_str(rec, "org_type", type);
        json_object_set_new(r->emitted, okey, json_true());
        if ((rc = emit(r, rec)))
            goto done;
    }
    *id_out = json_string_value(json_object_get(r->known, okey));
done:
    xmlFree(ref);
    xmlFree(type);
    free(name);
    return rc;
}

/* IATI OrganisationRole to a member's side: the side is twin's, IATI has none. */
static const char *side_of(const char *role)
{
    if (role && strcmp(role, "1") == 0)
        return "donor";
    if (role && strcmp(role, "3") == 0)
        return "broker";
    return role && strcmp(role, "2") == 0 ? "north" : "south";
}

/* Percentage lists keep their percentages only when those kept sum to 100 (IATI also counts
 * regions and other vocabularies, which twin does not keep). */
static void settle_percentages(json_t *list, size_t *skipped)
{
    double sum = 0;
    size_t i, with = 0;
    json_t *item;
    json_array_foreach(list, i, item)
    {
        json_t *p = json_object_get(item, "percentage");
        if (p) {
            sum += json_number_value(p);
            with++;
        }
    }
    if (with == 0 || (with == json_array_size(list) && sum > 99.999 && sum < 100.001))
        return;
    json_array_foreach(list, i, item)
    {
        if (json_object_get(item, "percentage")) {
            json_object_del(item, "percentage");
            (*skipped)++;
        }
    }
}

/* An element twin cannot represent: counted, and named to the caller with its activity and
 * line. */
static void skip(struct reader *r, const xmlNode *at, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void skip(struct reader *r, const xmlNode *at, const char *fmt, ...)
{
    (*r->skipped)++;
    if (!r->note)
        return;
    char why[400], msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof(why), fmt, ap);
    va_end(ap);
    snprintf(msg, sizeof(msg), "activity %zu (line %ld): %s: %s; skipped", r->activity,
             xmlGetLineNo(at), (const char *)at->name, why);
    r->note(msg, r->ctx);
}

/* An ISO date's first ten characters into out, when they look like one. */
static bool date10(char out[11], const char *iso)
{
    if (!iso || strlen(iso) < 10 || iso[4] != '-' || iso[7] != '-')
        return false;
    memcpy(out, iso, 10);
    out[10] = '\0';
    return true;
}

static const xmlNode *child(const xmlNode *n, const char *name)
{
    for (const xmlNode *c = n->children; c; c = c->next)
        if (named(c, name))
            return c;
    return NULL;
}

/* The key a budget or transaction is found again by: what it records, with the how-manieth of
 * its kind in this activity, as an activity may repeat one ("... #2"). */
static void money_key(char *key, size_t size, struct reader *r, const char *base)
{
    json_int_t n = json_integer_value(json_object_get(r->seen, base)) + 1;
    json_object_set_new(r->seen, base, json_integer(n));
    if (n > 1)
        snprintf(key, size, "%s #%lld", base, (long long)n);
    else
        snprintf(key, size, "%s", base);
}

/* A budget or transaction's value: its number, currency (the value's, else the activity's) and
 * value date. 0, or 1 when skipped (named). */
struct money {
    json_t *value;
    char currency[8], value_date[11];
};

static int read_value(struct money *m, struct reader *r, const xmlNode *el, const char *fallback)
{
    const xmlNode *v = child(el, "value");
    memset(m, 0, sizeof(*m));
    if (!v) {
        skip(r, el, "no value");
        return 1;
    }
    char *text = narrative(v), *cur = get(v, "currency"), *vdate = get(v, "value-date");
    const char *ccy = cur ? cur : fallback;
    int rc = 0;
    if (!(m->value = number(text))) {
        skip(r, el, "value '%.64s' is not a number", text ? text : "");
        rc = 1;
    } else if (!ccy) {
        skip(r, el, "no currency (neither the value's nor the activity's default-currency)");
        rc = 1;
    } else if (!twin_codes_valid(TWIN_CODES_CURRENCY, ccy) || strlen(ccy) >= sizeof(m->currency)) {
        skip(r, el, "currency '%.16s' is not an ISO 4217 code", ccy);
        rc = 1;
    } else {
        snprintf(m->currency, sizeof(m->currency), "%s", ccy);
        if (!date10(m->value_date, vdate))
            m->value_date[0] = '\0';
    }
    if (rc) {
        json_decref(m->value);
        m->value = NULL;
    }
    free(text);
    xmlFree(cur);
    xmlFree(vdate);
    return rc;
}

/* A budget: a new one, or, when an earlier import brought it, nothing when it still stands at
 * the file's value, else a correction by the difference (what a budget records never changes). */
static int read_budget(struct reader *r, const xmlNode *b, const char *pid, const char *currency)
{
    char *type = get(b, "type"), *status = get(b, "status"), start[11], end_[11];
    const xmlNode *ps = child(b, "period-start"), *pe = child(b, "period-end");
    char *s = ps ? get(ps, "iso-date") : NULL, *e = pe ? get(pe, "iso-date") : NULL;
    const char *btype = !type || strcmp(type, "1") == 0 ? "original"
                        : strcmp(type, "2") == 0        ? "revised"
                                                        : NULL;
    const char *bstatus = !status || strcmp(status, "1") == 0 ? "indicative"
                          : strcmp(status, "2") == 0          ? "committed"
                                                              : NULL;
    struct money m = {0};
    int rc = 0;
    bool dated = date10(start, s) && date10(end_, e);
    if (!btype)
        skip(r, b, "type '%.16s' is not an IATI budget type (1 original, 2 revised)", type);
    else if (!bstatus)
        skip(r, b, "status '%.16s' is not an IATI budget status (1 indicative, 2 committed)",
             status);
    else if (!dated)
        skip(r, b, "needs period-start and period-end dates");
    else if (strcmp(start, end_) > 0)
        skip(r, b, "period-end %s is before period-start %s", end_, start);
    else if (read_value(&m, r, b, currency) == 0) {
        double v = json_number_value(m.value);
        char base[600], key[700], net_key[64];
        snprintf(base, sizeof(base), "bud:%s %s %s %s %s", pid, btype, start, end_, m.currency);
        money_key(key, sizeof(key), r, base);
        const char *known = json_string_value(json_object_get(r->known, key));
        char id[TWIN_ID_LEN + 1], fixed[TWIN_ID_LEN + 1] = "";
        double net = 0;
        if (known) {
            snprintf(fixed, sizeof(fixed), "%s", known);
            snprintf(net_key, sizeof(net_key), "net:%s", fixed);
            net = json_number_value(json_object_get(r->known, net_key));
        }
        if (known && fabs(net - v) < 1e-9) {
            json_decref(m.value); /* as it stands */
        } else if (!known && v < 0) {
            skip(r, b,
                 "value %.15g is negative: IATI has no budget reversal, and twin records a "
                 "reduction as a correction of the budget it reduces (corrects=ID)",
                 v);
            json_decref(m.value);
        } else {
            twin_record_new_id(id);
            if (!known)
                json_object_set_new(r->known, key, json_string(id));
            json_t *rec = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "type", "budget", "id",
                                    id, "partnership", pid, "budget_type", btype, "period_start",
                                    start, "period_end", end_, "currency", m.currency);
            if (status)
                set_str(rec, "status", bstatus);
            if (m.value_date[0])
                set_str(rec, "value_date", m.value_date);
            if (known) {
                set_str(rec, "corrects", fixed);
                double fix = v - net;
                json_object_set_new(rec, "value",
                                    fix == (double)(json_int_t)fix && fabs(fix) < 1e15
                                        ? json_integer((json_int_t)fix)
                                        : json_real(fix));
                json_decref(m.value);
                json_object_set_new(r->known, net_key, json_real(v));
            } else {
                json_object_set_new(rec, "value", m.value);
            }
            rc = emit(r, rec);
        }
    }
    xmlFree(type);
    xmlFree(status);
    xmlFree(s);
    xmlFree(e);
    return rc;
}

/* Whether a transaction's value is a number below zero. */
static bool negative_value(const xmlNode *t)
{
    const xmlNode *v = child(t, "value");
    char *text = v ? narrative(v) : NULL;
    json_t *n = number(text);
    bool neg = n && json_number_value(n) < 0;
    json_decref(n);
    free(text);
    return neg;
}

/* The transaction a reversal (at the activity's transaction number at) corrects: the last one
 * of its type and currency before it, else the first after it. */
static const char *reversed(const json_t *list, size_t at)
{
    const char *before = NULL, *after = NULL;
    size_t i;
    json_t *e;
    json_array_foreach(list, i, e)
    {
        size_t n = (size_t)json_integer_value(json_array_get(e, 0));
        const char *id = json_string_value(json_array_get(e, 1));
        if (n < at)
            before = id;
        else if (!after)
            after = id;
    }
    return before ? before : after;
}

/* A transaction: found again by what it records, or new. A negative one is a reversal, which
 * twin records as a correction of another transaction of its type and currency in the activity
 * (see reversed): those are read first, the reversals after them. */
static int read_transaction(struct reader *r, const xmlNode *t, const char *pid,
                            const char *currency, size_t at)
{
    const xmlNode *tt = child(t, "transaction-type"), *td = child(t, "transaction-date");
    char *code = tt ? get(tt, "code") : NULL, *d = td ? get(td, "iso-date") : NULL, date[11];
    struct money m = {0};
    int rc = 0;
    if (!code)
        skip(r, t, "no transaction-type code");
    else if (!twin_codes_valid(TWIN_CODES_TRANSACTION_TYPE, code))
        skip(r, t, "transaction-type '%.16s' is not an IATI transaction type (1-13)", code);
    else if (!date10(date, d))
        skip(r, t, "no transaction-date");
    else if (read_value(&m, r, t, currency) == 0) {
        double v = json_number_value(m.value);
        char base[600], key[700], last_key[400];
        snprintf(base, sizeof(base), "trn:%s %s %s %s %.15g", pid, code, date, m.currency, v);
        snprintf(last_key, sizeof(last_key), "%s %s %s", pid, code, m.currency);
        money_key(key, sizeof(key), r, base);
        const char *known = json_string_value(json_object_get(r->known, key));
        json_t *list = json_object_get(r->last, last_key);
        if (!list)
            json_object_set_new(r->last, last_key, list = json_array());
        const char *before = v < 0 ? reversed(list, at) : NULL;
        char id[TWIN_ID_LEN + 1];
        if (known) {
            if (v >= 0)
                json_array_append_new(list, json_pack("[I, s]", (json_int_t)at, known));
            json_decref(m.value);
        } else if (v < 0 && !before) {
            skip(r, t,
                 "value %.15g is negative, and the activity has no transaction of type %s in %s "
                 "for it to correct",
                 v, code, m.currency);
            json_decref(m.value);
        } else {
            twin_record_new_id(id);
            json_object_set_new(r->known, key, json_string(id));
            json_t *rec = json_pack("{s:s, s:s, s:s, s:s, s:o, s:s, s:s}", "type", "transaction",
                                    "id", id, "partnership", pid, "transaction_type", code, "value",
                                    m.value, "currency", m.currency, "date", date);
            if (v < 0)
                set_str(rec, "corrects", before);
            if (m.value_date[0])
                set_str(rec, "value_date", m.value_date);
            const xmlNode *desc = child(t, "description");
            char *text = desc ? narrative(desc) : NULL;
            set_str(rec, "description", text);
            free(text);
            static const char *const orgs[][2] = {{"provider-org", "provider"},
                                                  {"receiver-org", "receiver"}};
            for (size_t i = 0; rc == 0 && i < 2; i++) {
                const xmlNode *org = child(t, orgs[i][0]);
                const char *inst = NULL;
                if (org && (rc = institution(&inst, r, org)) == 0 && inst)
                    set_str(rec, orgs[i][1], inst);
            }
            if (v >= 0)
                json_array_append_new(list, json_pack("[I, s]", (json_int_t)at, id));
            if (rc)
                json_decref(rec);
            else
                rc = emit(r, rec);
        }
    }
    xmlFree(code);
    xmlFree(d);
    return rc;
}

static int read_indicator(struct reader *r, const xmlNode *in, const char *result_id)
{
    char id[TWIN_ID_LEN + 1], *measure = get(in, "measure"), *asc = get(in, "ascending");
    char *title0 = NULL;
    for (const xmlNode *c = in->children; c && !title0; c = c->next)
        if (named(c, "title"))
            title0 = narrative(c);
    id_for(id, r, "ind", result_id, title0);
    free(title0);
    json_t *rec = json_pack("{s:s, s:s, s:s}", "type", "indicator", "id", id, "result", result_id);
    json_t *periods = json_array();
    set_str(rec, "measure",
            measure && twin_codes_valid(TWIN_CODES_INDICATOR_MEASURE, measure) ? measure : "1");
    if (asc)
        json_object_set_new(rec, "ascending",
                            json_boolean(strcmp(asc, "1") == 0 || strcmp(asc, "true") == 0));
    for (const xmlNode *c = in->children; c; c = c->next) {
        if (named(c, "title")) {
            set_texts(rec, "title", c);
        } else if (named(c, "description")) {
            set_texts(rec, "description", c);
        } else if (named(c, "baseline") && !json_object_get(rec, "baseline")) {
            char *year = get(c, "year"), *date = get(c, "iso-date"), *value = get(c, "value");
            json_t *b = json_object(), *v = number(value);
            long y = year ? strtol(year, NULL, 10) : 0;
            if (y >= 1900 && y <= 2200)
                json_object_set_new(b, "year", json_integer(y));
            set_date(b, "date", date);
            if (v)
                json_object_set_new(b, "value", v);
            json_object_set_new(rec, "baseline", b);
            xmlFree(year);
            xmlFree(date);
            xmlFree(value);
        } else if (named(c, "period")) {
            json_t *p = json_object(), *actuals = json_array();
            for (const xmlNode *e = c->children; e; e = e->next) {
                char *d =
                    named(e, "period-start") || named(e, "period-end") ? get(e, "iso-date") : NULL;
                if (named(e, "period-start"))
                    set_date(p, "start", d);
                else if (named(e, "period-end"))
                    set_date(p, "end", d);
                else if (named(e, "target") || named(e, "actual")) {
                    char *value = get(e, "value");
                    json_t *v = number(value);
                    if (v && named(e, "target") && !json_object_get(p, "target"))
                        json_object_set_new(p, "target", json_pack("{s:o}", "value", v));
                    else if (v && named(e, "actual"))
                        json_array_append_new(actuals, json_pack("{s:o}", "value", v));
                    else {
                        json_decref(v);
                        (*r->skipped)++;
                    }
                    xmlFree(value);
                }
                xmlFree(d);
            }
            if (json_array_size(actuals))
                json_object_set_new(p, "actuals", actuals);
            else
                json_decref(actuals);
            if (json_object_get(p, "start") && json_object_get(p, "end"))
                json_array_append_new(periods, p);
            else {
                json_decref(p);
                (*r->skipped)++;
            }
        }
    }
    if (json_array_size(periods))
        json_object_set_new(rec, "periods", periods);
    else
        json_decref(periods);
    if (!json_object_get(rec, "title"))
        set_str(rec, "title", "(untitled indicator)");
    xmlFree(measure);
    xmlFree(asc);
    return emit(r, rec);
}

static int read_result(struct reader *r, const xmlNode *res, const char *pid)
{
    char id[TWIN_ID_LEN + 1], *type = get(res, "type"), *agg = get(res, "aggregation-status");
    char *title0 = NULL;
    for (const xmlNode *c = res->children; c && !title0; c = c->next)
        if (named(c, "title"))
            title0 = narrative(c);
    id_for(id, r, "res", pid, title0);
    free(title0);
    json_t *rec = json_pack("{s:s, s:s, s:s}", "type", "result", "id", id, "partnership", pid);
    set_str(rec, "result_type",
            type && twin_codes_valid(TWIN_CODES_RESULT_TYPE, type) ? type : "1");
    if (agg)
        json_object_set_new(rec, "aggregation_status",
                            json_boolean(strcmp(agg, "1") == 0 || strcmp(agg, "true") == 0));
    for (const xmlNode *c = res->children; c; c = c->next)
        if (named(c, "title") || named(c, "description")) {
            set_texts(rec, named(c, "title") ? "title" : "description", c);
        }
    if (!json_object_get(rec, "title"))
        set_str(rec, "title", "(untitled result)");
    xmlFree(type);
    xmlFree(agg);
    int rc = emit(r, rec);
    for (const xmlNode *c = res->children; rc == 0 && c; c = c->next)
        if (named(c, "indicator"))
            rc = read_indicator(r, c, id);
    return rc;
}

static int read_document(struct reader *r, const xmlNode *d, const char *pid)
{
    char id[TWIN_ID_LEN + 1], *url = get(d, "url");
    char *title0 = NULL;
    for (const xmlNode *c = d->children; c && !title0; c = c->next)
        if (named(c, "title"))
            title0 = narrative(c);
    id_for(id, r, "doc", pid, url ? url : title0);
    free(title0);
    json_t *rec = json_pack("{s:s, s:s, s:s}", "type", "document", "id", id, "partnership", pid);
    const char *kind = "other";
    for (const xmlNode *c = d->children; c; c = c->next) {
        if (named(c, "title")) {
            set_texts(rec, "title", c);
        } else if (named(c, "category") && !json_object_get(rec, "category")) {
            char *code = get(c, "code");
            if (code && twin_codes_valid(TWIN_CODES_DOCUMENT_CATEGORY, code)) {
                set_str(rec, "category", code);
                if (strcmp(code, "A09") == 0)
                    kind = "mou";
            }
            xmlFree(code);
        } else if (named(c, "language") && !json_object_get(rec, "language")) {
            char *code = get(c, "code");
            if (code && twin_codes_valid(TWIN_CODES_LANGUAGE, code))
                set_str(rec, "language", code);
            xmlFree(code);
        } else if (named(c, "document-date")) {
            char *date = get(c, "iso-date");
            set_date(rec, "date", date);
            xmlFree(date);
        }
    }
    set_str(rec, "kind", kind);
    if (url && (strncmp(url, "https://", 8) == 0 || strncmp(url, "http://", 7) == 0))
        set_str(rec, "url", url);
    if (!json_object_get(rec, "title"))
        set_str(rec, "title", url ? url : "(untitled document)");
    xmlFree(url);
    return emit(r, rec);
}

/* An activity-date's type: an IATI ActivityDateType code, 1 to 4, in decimal digits only. */
static int date_type(long *out, const char *text, size_t activity, const xmlNode *at)
{
    char *end = NULL;
    long t = 0;
    if (text && *text >= '0' && *text <= '9') {
        errno = 0;
        t = strtol(text, &end, 10);
        if (errno == ERANGE || *end != '\0')
            t = 0;
    }
    if (t < 1 || t > 4)
        return twin_error(TWIN_EINVALID,
                          "activity %zu (line %ld): activity-date type '%.64s' is not an IATI "
                          "activity date type (1-4)",
                          activity, xmlGetLineNo(at), text ? text : "");
    *out = t;
    return 0;
}

static int read_activity(struct reader *r, const xmlNode *a)
{
    json_t *p = json_pack("{s:s}", "type", "partnership");
    json_t *objectives = json_array(), *members = json_array(), *sectors = json_array(),
           *countries = json_array(), *dates = json_object();
    char *currency = get(a, "default-currency");
    int rc = 0;
    const char *ptype = "other";
    for (const xmlNode *c = a->children; rc == 0 && c; c = c->next) {
        if (named(c, "iati-identifier")) {
            char *t = narrative(c);
            set_str(p, "iati_identifier", t);
            free(t);
        } else if (named(c, "title")) {
            set_texts(p, "title", c);
        } else if (named(c, "description")) {
            char *type = get(c, "type"), *t = narrative(c);
            if (t && type && strcmp(type, "2") == 0)
                json_array_append_new(objectives, json_string(t));
            else if (t && !json_object_get(p, "summary"))
                set_texts(p, "summary", c);
            else
                (*r->skipped)++;
            xmlFree(type);
            free(t);
        } else if (named(c, "participating-org")) {
            const char *inst = NULL;
            char *role = get(c, "role");
            if ((rc = institution(&inst, r, c)) == 0 && inst) {
                json_t *m = json_pack("{s:s, s:s}", "institution", inst, "side", side_of(role));
                if (role && twin_codes_valid(TWIN_CODES_ORGANISATION_ROLE, role))
                    set_str(m, "iati_role", role);
                json_array_append_new(members, m);
            }
            xmlFree(role);
        } else if (named(c, "activity-status")) {
            char *code = get(c, "code");
            if (code && twin_codes_valid(TWIN_CODES_ACTIVITY_STATUS, code))
                set_str(p, "status", code);
            xmlFree(code);
        } else if (named(c, "activity-date")) {
            static const char *const keys[] = {NULL, "planned_start", "actual_start", "planned_end",
                                               "actual_end"};
            char *type = get(c, "type"), *date = get(c, "iso-date");
            long t = 0;
            if ((rc = date_type(&t, type, r->activity, c)) == 0)
                set_date(dates, keys[t], date);
            xmlFree(type);
            xmlFree(date);
        } else if (named(c, "recipient-country") || named(c, "sector")) {
            bool sector = named(c, "sector");
            char *code = get(c, "code"), *pct = get(c, "percentage"), *vocab = get(c, "vocabulary");
            bool ok = code && (sector ? (!vocab || strcmp(vocab, "1") == 0) &&
                                            twin_codes_valid(TWIN_CODES_SECTOR, code)
                                      : twin_codes_valid(TWIN_CODES_COUNTRY, code));
            if (ok) {
                json_t *item = json_pack("{s:s}", "code", code), *v = number(pct);
                if (v)
                    json_object_set_new(item, "percentage", v);
                json_array_append_new(sector ? sectors : countries, item);
            } else {
                (*r->skipped)++;
            }
            xmlFree(code);
            xmlFree(pct);
            xmlFree(vocab);
        } else if (named(c, "tag")) {
            char *vocab = get(c, "vocabulary"), *code = get(c, "code");
            static const char *const types[] = {"twinning", "intersectoral", "public_partnership",
                                                NULL};
            for (const char *const *t = types; vocab && code && strcmp(vocab, "99") == 0 && *t; t++)
                if (strcmp(code, *t) == 0)
                    ptype = *t;
            xmlFree(vocab);
            xmlFree(code);
        } else if (named(c, "reporting-org")) {
            const char *inst;
            rc = institution(&inst, r, c);
        } else if (c->type == XML_ELEMENT_NODE && !named(c, "document-link") &&
                   !named(c, "result") && !named(c, "other-identifier") && !named(c, "budget") &&
                   !named(c, "transaction")) {
            (*r->skipped)++; /* locations, planned disbursements...: not kept by twin */
        }
    }
    /* The partnership: the one imported before under this IATI identifier, or a new one. */
    const char *ident = json_string_value(json_object_get(p, "iati_identifier"));
    char id[TWIN_ID_LEN + 1];
    if (ident)
        id_for(id, r, "act", ident, NULL);
    else
        twin_record_new_id(id);
    set_str(p, "id", id);
    set_str(p, "partnership_type", ptype);
    if (currency && twin_codes_valid(TWIN_CODES_CURRENCY, currency))
        set_str(p, "currency", currency);
    if (!json_object_get(p, "title"))
        set_str(p, "title", ident ? ident : "(untitled activity)");
    settle_percentages(sectors, r->skipped);
    settle_percentages(countries, r->skipped);
    json_object_set_new(p, "objectives", objectives);
    json_object_set_new(p, "members", members);
    json_object_set_new(p, "sectors", sectors);
    json_object_set_new(p, "recipient_countries", countries);
    json_object_set_new(p, "dates", dates);
    /* Empty lists and objects are no fields. */
    const char *const maybe_empty[] = {"objectives", "members", "sectors", "recipient_countries",
                                       "dates"};
    for (size_t i = 0; i < sizeof(maybe_empty) / sizeof(maybe_empty[0]); i++) {
        json_t *v = json_object_get(p, maybe_empty[i]);
        if ((json_is_array(v) && json_array_size(v) == 0) ||
            (json_is_object(v) && json_object_size(v) == 0))
            json_object_del(p, maybe_empty[i]);
    }
    if (rc == 0)
        rc = emit(r, p);
    else
        json_decref(p);
    size_t at = 0;
    for (const xmlNode *c = a->children; rc == 0 && c; c = c->next) {
        if (named(c, "document-link"))
            rc = read_document(r, c, id);
        else if (named(c, "result"))
            rc = read_result(r, c, id);
        else if (named(c, "budget"))
            rc = read_budget(r, c, id, currency);
        else if (named(c, "transaction") && !negative_value(c))
            rc = read_transaction(r, c, id, currency, at++);
        else if (named(c, "transaction"))
            at++;
    }
    at = 0; /* then the reversals, which correct transactions read above */
    for (const xmlNode *c = a->children; rc == 0 && c; c = c->next)
        if (named(c, "transaction") && negative_value(c))
            rc = read_transaction(r, c, id, currency, at++);
        else if (named(c, "transaction"))
            at++;
    xmlFree(currency);
    return rc;
}

/* libxml2 prints some faults (encoding errors) even with XML_PARSE_NOERROR: they are reported
 * through twin's own message instead. */
static void quiet(void *ctx, const char *msg, ...)
{
    (void)ctx;
    (void)msg;
}

int twin_iati_read(const char *data, size_t len, json_t *known, twin_iati_record_fn fn,
                   twin_iati_note_fn note, void *ctx, size_t *skipped)
{
    xmlSetGenericErrorFunc(NULL, quiet);
    struct reader r = {known, json_object(), fn,           note, ctx, skipped,
                       0,     json_object(), json_object()};
    if (!r.emitted || !r.seen || !r.last) {
        json_decref(r.emitted);
        json_decref(r.seen);
        json_decref(r.last);
        return twin_error(TWIN_ERROR, "out of memory");
    }
    if (len > INT32_MAX) {
        json_decref(r.emitted);
        json_decref(r.seen);
        json_decref(r.last);
        return twin_error(TWIN_ELIMIT, "the IATI file is too large");
    }
    /* No network, no entity substitution, no DTD loading; a DTD at all is refused below. */
    xmlDocPtr doc = xmlReadMemory(data, (int)len, "iati.xml", NULL,
                                  XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
    if (!doc) {
        const xmlError *e = xmlGetLastError();
        json_decref(r.emitted);
        json_decref(r.seen);
        json_decref(r.last);
        return twin_error(TWIN_EINVALID, "not well-formed XML (line %d): %s", e ? e->line : 0,
                          e && e->message ? e->message : "unreadable");
    }
    int rc = 0;
    xmlNode *root = xmlDocGetRootElement(doc);
    if (doc->intSubset || doc->extSubset)
        rc = twin_error(TWIN_EINVALID, "the file declares a DTD, which twin refuses (no entity "
                                       "is ever expanded)");
    else if (!root || !named(root, "iati-activities"))
        rc = twin_error(TWIN_EINVALID, "not an IATI activity file (no iati-activities element)");
    for (xmlNode *a = root && rc == 0 ? root->children : NULL; rc == 0 && a; a = a->next) {
        if (!named(a, "iati-activity")) {
            if (a->type == XML_ELEMENT_NODE)
                (*skipped)++;
            continue;
        }
        if (++r.activity > IATI_MAX_ACTIVITIES)
            rc = twin_error(TWIN_ELIMIT, "more than %d activities", IATI_MAX_ACTIVITIES);
        else
            rc = read_activity(&r, a);
    }
    xmlFreeDoc(doc);
    json_decref(r.emitted);
    json_decref(r.seen);
    json_decref(r.last);
    return rc;
}
