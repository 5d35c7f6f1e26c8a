/*
 * IATI 2.03 export: one iati-activity per partnership, written with libxml2's text writer in
 * the element order the schema requires. Person records, notes and the North/South sides stay
 * out; the node's own institution is the reporting organisation.
 */
#include "twin/iati.h"

#include <libxml/xmlwriter.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "network.h"
#include "twin/error.h"
#include "twin/ops.h"
#include "twin/record.h"

struct iati {
    xmlTextWriterPtr w;
    json_t *by_type; /* type -> array of records at the head */
    const struct twin_member *reporter;
    struct twin_iati_report *report;
};

static int collect(json_t *rec, void *ctx)
{
    json_t *by_type = ctx;
    const char *type = json_string_value(json_object_get(rec, "type"));
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

/* <name [attrs]><narrative>text</narrative></name> */
static int narrative_element(struct iati *x, const char *name, const char *type, const char *text)
{
    int rc;
    if ((rc = start(x, name)) || (rc = attr(x, "type", type)) || (rc = start(x, "narrative")))
        return rc;
    W(xmlTextWriterWriteString(x->w, (const xmlChar *)text));
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
            (rc = narrative_element(x, "title", NULL, str(doc, "title"))) ||
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
    if ((rc = narrative_element(x, "title", NULL, str(ind, "title"))) ||
        (str(ind, "description") &&
         (rc = narrative_element(x, "description", NULL, str(ind, "description")))))
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
         (str(b, "comment") && (rc = narrative_element(x, "comment", NULL, str(b, "comment")))) ||
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
                   (rc = narrative_element(x, "comment", NULL, str(t, "comment")))) ||
                  (rc = end(x))))
            return rc;
        size_t k;
        json_t *a;
        json_array_foreach(json_object_get(period, "actuals"), k, a)
        {
            if ((rc = start(x, "actual")) ||
                (rc = attr_value(x, "value", json_object_get(a, "value"))) ||
                (str(a, "comment") &&
                 (rc = narrative_element(x, "comment", NULL, str(a, "comment")))) ||
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
        if ((rc = narrative_element(x, "title", NULL, str(res, "title"))) ||
            (str(res, "description") &&
             (rc = narrative_element(x, "description", NULL, str(res, "description")))))
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

static int activity(struct iati *x, const json_t *p)
{
    const struct twin_member *r = x->reporter;
    const json_t *d = json_object_get(p, "dates");
    if (!str(d, "planned_start") && !str(d, "actual_start"))
        return twin_error(TWIN_EINVALID,
                          "partnership %s (%s): IATI needs a start date (dates.planned_start or "
                          "dates.actual_start)",
                          str(p, "id"), str(p, "title"));
    if (!str(p, "status"))
        return twin_error(TWIN_EINVALID,
                          "partnership %s (%s): IATI needs an activity status (status)",
                          str(p, "id"), str(p, "title"));
    /* The identifier begins with the reporting organisation's ref (an IATI rule). */
    char ident[400];
    const char *given = str(p, "iati_identifier");
    size_t rlen = strlen(r->org_id);
    if (given && strncmp(given, r->org_id, rlen) == 0 && given[rlen] == '-')
        snprintf(ident, sizeof(ident), "%s", given);
    else
        snprintf(ident, sizeof(ident), "%s-%s", r->org_id, str(p, "id"));
    int rc;
    if ((rc = start(x, "iati-activity")) || (rc = attr(x, "xml:lang", "en")) ||
        (rc = attr(x, "default-currency", str(p, "currency"))) ||
        (rc = start(x, "iati-identifier")))
        return rc;
    W(xmlTextWriterWriteString(x->w, (const xmlChar *)ident));
    if ((rc = end(x)) || (rc = start(x, "reporting-org")) || (rc = attr(x, "ref", r->org_id)) ||
        (rc = attr(x, "type", r->org_type)) || (rc = start(x, "narrative")))
        return rc;
    W(xmlTextWriterWriteString(x->w, (const xmlChar *)r->name));
    if ((rc = end(x)) || (rc = end(x)) ||
        (rc = narrative_element(x, "title", NULL, str(p, "title"))) ||
        (str(p, "summary") && (rc = narrative_element(x, "description", "1", str(p, "summary")))))
        return rc;
    size_t i;
    json_t *o;
    json_array_foreach(json_object_get(p, "objectives"), i, o)
    {
        if ((rc = narrative_element(x, "description", "2", json_string_value(o))))
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
    if ((rc = end(x)) || (rc = end(x)) || (rc = documents(x, p)) || (rc = results(x, p)))
        return rc;
    x->report->activities++;
    return end(x);
}

int twin_export_iati(FILE *out, struct twin_iati_report *report, twin_node *n,
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
                            "the reporting organisation %s has no IATI organisation type "
                            "(--org-type when it was added)",
                            x.reporter->org_id);
    }
    if (rc == 0)
        rc = twin_ops_foreach(n, NULL, NULL, collect, x.by_type);
    /* The selected partnerships, by id. */
    json_t *picked = json_array();
    if (rc == 0 && !picked)
        rc = twin_error(TWIN_ERROR, "out of memory");
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(x.by_type, "partnership"), i, p)
    {
        bool keep = true;
        for (size_t k = 0; keep && k < sel->nwhere; k++) {
            const char *w = sel->where[k], *eq = strchr(w, '=');
            char path[256];
            if (!eq || (size_t)(eq - w) >= sizeof(path)) {
                rc = twin_error(TWIN_EINVALID, "--where %s: give FIELD=VALUE", w);
                break;
            }
            snprintf(path, sizeof(path), "%.*s", (int)(eq - w), w);
            const json_t *v = twin_record_get_path(p, path);
            keep = json_is_string(v) && strcmp(json_string_value(v), eq + 1) == 0;
        }
        if (rc == 0 && keep)
            json_array_append(picked, p);
    }
    char when[32];
    time_t now = time(NULL);
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
