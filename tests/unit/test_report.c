/* The contributions report: pledged and delivered sums per partnership, institution, kind and
 * currency or unit, confirmed and unconfirmed apart; corrections counted with their own status,
 * cancelled entries nowhere, records that cannot be counted refused one by one; and the report of
 * a real node, with names, a partnership chosen, and what it skipped. */
#define _XOPEN_SOURCE 700 /* nftw, in helpers.h */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "helpers.h"
#include "twin/error.h"
#include "twin/global.h"
#include "twin/ops.h"
#include "twin/record.h"
#include "twin/report.h"

#define P1 "0190f5a2-7c1e-7a3b-8000-000000000001"
#define P2 "0190f5a2-7c1e-7a3b-8000-000000000002"
#define I1 "0190f5a2-7c1e-7a3b-8000-0000000000a1"
#define I2 "0190f5a2-7c1e-7a3b-8000-0000000000a2"

/* JSON written with single quotes, so the records below stay readable. */
static json_t *J(const char *text)
{
    size_t n = strlen(text);
    char *copy = malloc(n + 1);
    json_error_t err;
    assert_non_null(copy);
    for (size_t i = 0; i <= n; i++)
        copy[i] = text[i] == '\'' ? '"' : text[i];
    json_t *j = json_loads(copy, 0, &err);
    if (!j)
        fail_msg("test JSON does not parse: %s in %s", err.text, copy);
    free(copy);
    return j;
}

static void add(twin_report *r, const char *text)
{
    json_t *rec = J(text);
    if (twin_report_add(r, rec))
        fail_msg("not counted: %s: %s", twin_error_last(), text);
    json_decref(rec);
}

#define C(p, i) "{'type':'contribution','id':'x','partnership':'" p "','institution':'" i "',"

/* The figures of one line of the report: partnership p, institution i, kind, currency or unit
 * m; each of pledged/delivered x confirmed/unconfirmed. */
static const json_t *line_of(const json_t *data, const char *p, const char *i, const char *kind,
                             const char *m)
{
    size_t a, b, c;
    json_t *pj, *ij, *aj;
    json_array_foreach(json_object_get(data, "partnerships"), a, pj)
    {
        if (strcmp(json_string_value(json_object_get(pj, "id")), p) != 0)
            continue;
        json_array_foreach(json_object_get(pj, "institutions"), b, ij)
        {
            if (strcmp(json_string_value(json_object_get(ij, "id")), i) != 0)
                continue;
            json_array_foreach(json_object_get(ij, "amounts"), c, aj)
            {
                const char *mm = json_string_value(json_object_get(aj, "currency"));
                if (!mm)
                    mm = json_string_value(json_object_get(aj, "unit"));
                if (strcmp(json_string_value(json_object_get(aj, "kind")), kind) == 0 &&
                    strcmp(mm, m) == 0)
                    return aj;
            }
        }
    }
    fail_msg("no line for %s %s %s %s", p, i, kind, m);
    return NULL;
}

static double fig(const json_t *line, const char *which, const char *conf)
{
    const json_t *v = json_object_get(json_object_get(line, which), conf);
    assert_true(json_is_number(v));
    return json_number_value(v);
}

/* Expects the four figures of a line: pledged confirmed, unconfirmed; delivered confirmed,
 * unconfirmed. */
static void expect_line(const json_t *data, const char *p, const char *i, const char *kind,
                        const char *m, double pc, double pu, double dc, double du)
{
    const json_t *l = line_of(data, p, i, kind, m);
    if (fig(l, "pledged", "confirmed") != pc || fig(l, "pledged", "unconfirmed") != pu ||
        fig(l, "delivered", "confirmed") != dc || fig(l, "delivered", "unconfirmed") != du)
        fail_msg("%s %s %s %s: expected %g %g %g %g, got %g %g %g %g", p, i, kind, m, pc, pu, dc,
                 du, fig(l, "pledged", "confirmed"), fig(l, "pledged", "unconfirmed"),
                 fig(l, "delivered", "confirmed"), fig(l, "delivered", "unconfirmed"));
}

static void pledged_counts_delivered_too_and_cancelled_counts_nowhere(void **state)
{
    (void)state;
    twin_report *r = NULL;
    assert_int_equal(twin_report_new(&r), 0);
    add(r, C(P1, I1) "'kind':'cash','value':1000,'currency':'EUR','status':'pledged'}");
    add(r, C(P1, I1) "'kind':'cash','value':250,'currency':'EUR','status':'delivered'}");
    add(r, C(P1, I1) "'kind':'cash','value':9999,'currency':'EUR','status':'cancelled'}");
    json_t *data = twin_report_json(r);
    expect_line(data, P1, I1, "cash", "EUR", 0, 1250, 0, 250);
    json_decref(data);
    twin_report_free(r);
}

static void confirmed_is_apart_and_only_at_the_status(void **state)
{
    (void)state;
    twin_report *r = NULL;
    assert_int_equal(twin_report_new(&r), 0);
    add(r, C(P1, I1) "'kind':'cash','value':100,'currency':'EUR','status':'pledged',"
                     "'confirmed':'pledged'}");
    /* Delivered since it was confirmed as pledged: unconfirmed, pledged and delivered alike. */
    add(r, C(P1, I1) "'kind':'cash','value':40,'currency':'EUR','status':'delivered',"
                     "'confirmed':'pledged'}");
    add(r, C(P1, I1) "'kind':'cash','value':7,'currency':'EUR','status':'delivered',"
                     "'confirmed':'delivered'}");
    json_t *data = twin_report_json(r);
    expect_line(data, P1, I1, "cash", "EUR", 107, 40, 7, 40);
    json_decref(data);
    twin_report_free(r);
}

static void a_correction_counts_with_its_own_status(void **state)
{
    (void)state;
    twin_report *r = NULL;
    assert_int_equal(twin_report_new(&r), 0);
    add(r, C(P1, I1) "'kind':'in_kind','quantity':20,'unit':'days','status':'delivered',"
                     "'confirmed':'delivered'}");
    /* Two days fewer than recorded, delivered, not yet confirmed. */
    add(r, C(P1, I1) "'kind':'in_kind','quantity':-2,'unit':'days','status':'delivered',"
                     "'corrects':'y'}");
    /* A correction still pledged counts as pledged only; a cancelled one nowhere. */
    add(r, C(P1, I1) "'kind':'in_kind','quantity':-1.5,'unit':'days','status':'pledged',"
                     "'corrects':'y'}");
    add(r, C(P1, I1) "'kind':'in_kind','quantity':-10,'unit':'days','status':'cancelled',"
                     "'corrects':'y'}");
    json_t *data = twin_report_json(r);
    expect_line(data, P1, I1, "in_kind", "days", 20, -3.5, 20, -2);
    json_decref(data);
    twin_report_free(r);
}

static void currencies_units_kinds_institutions_and_partnerships_stay_apart(void **state)
{
    (void)state;
    twin_report *r = NULL;
    assert_int_equal(twin_report_new(&r), 0);
    add(r, C(P1, I1) "'kind':'cash','value':0.1,'currency':'EUR','status':'pledged'}");
    add(r, C(P1, I1) "'kind':'cash','value':0.2,'currency':'EUR','status':'pledged'}");
    add(r, C(P1, I1) "'kind':'cash','value':300,'currency':'USD','status':'pledged'}");
    /* In kind with a value counts in its currency, not its unit. */
    add(r, C(P1, I1) "'kind':'in_kind','quantity':3,'unit':'days','value':900,"
                     "'currency':'EUR','status':'pledged'}");
    add(r, C(P1, I1) "'kind':'in_kind','quantity':2,'unit':'laptops','status':'pledged'}");
    add(r, C(P1, I2) "'kind':'cash','value':5,'currency':'EUR','status':'pledged'}");
    add(r, C(P2, I1) "'kind':'cash','value':6,'currency':'EUR','status':'pledged'}");
    json_t *data = twin_report_json(r);
    expect_line(data, P1, I1, "cash", "EUR", 0, 0.3, 0, 0);
    expect_line(data, P1, I1, "cash", "USD", 0, 300, 0, 0);
    expect_line(data, P1, I1, "in_kind", "EUR", 0, 900, 0, 0);
    expect_line(data, P1, I1, "in_kind", "laptops", 0, 2, 0, 0);
    expect_line(data, P1, I2, "cash", "EUR", 0, 5, 0, 0);
    expect_line(data, P2, I1, "cash", "EUR", 0, 6, 0, 0);
    /* Sums rounded to six decimals: 0.1 + 0.2 is 0.3, and whole sums are integers. */
    assert_true(json_is_real(json_object_get(
        json_object_get(line_of(data, P1, I1, "cash", "EUR"), "pledged"), "unconfirmed")));
    assert_true(json_is_integer(json_object_get(
        json_object_get(line_of(data, P1, I1, "cash", "USD"), "pledged"), "unconfirmed")));
    /* Order: partnerships and institutions by id; cash before in kind, currencies before units. */
    json_t *p1 = json_array_get(json_object_get(data, "partnerships"), 0);
    assert_string_equal(json_string_value(json_object_get(p1, "id")), P1);
    json_t *amounts =
        json_object_get(json_array_get(json_object_get(p1, "institutions"), 0), "amounts");
    assert_int_equal(json_array_size(amounts), 4);
    assert_string_equal(json_string_value(json_object_get(json_array_get(amounts, 1), "currency")),
                        "USD");
    assert_string_equal(json_string_value(json_object_get(json_array_get(amounts, 3), "unit")),
                        "laptops");
    json_decref(data);
    twin_report_free(r);
}

static void what_cannot_be_counted_is_refused_and_counts_nothing(void **state)
{
    (void)state;
    static const char *const bad[][2] = {
        {"{'type':'note','id':'x','title':'t'}", "is not a contribution"},
        {C(P1, I1) "'kind':'cash','value':1,'currency':'EUR','status':'pledged','withdrawn':true}",
         "is withdrawn"},
        {"{'type':'contribution','id':'x','sealed':{'audience':['A']}}", "is sealed"},
        {C(P1, I1) "'kind':'cash','value':1,'currency':'EUR'}", "has no status"},
        {"{'type':'contribution','id':'x','institution':'" I1
         "','kind':'cash','value':1,'currency':'EUR','status':'pledged'}",
         "has no partnership"},
        {C(P1, I1) "'kind':'cash','value':1,'status':'pledged'}", "has no amount"},
        {C(P1, I1) "'kind':'cash','value':1,'currency':'EUR','status':'promised'}",
         "counts nowhere"},
    };
    twin_report *r = NULL;
    assert_int_equal(twin_report_new(&r), 0);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        json_t *rec = J(bad[i][0]);
        assert_error(twin_report_add(r, rec), TWIN_EINVALID, bad[i][1]);
        json_decref(rec);
    }
    json_t *data = twin_report_json(r);
    assert_int_equal(json_array_size(json_object_get(data, "partnerships")), 0);
    json_decref(data);
    twin_report_free(r);
}

/* ---- the report of a node ------------------------------------------------------------------- */

static int set_fields(json_t *rec, void *ctx)
{
    for (const char *const *f = ctx; *f; f += 2) {
        int rc = twin_record_set_path(rec, f[0], f[1]);
        if (rc)
            return rc;
    }
    return 0;
}
#define FIELDS(...) ((void *)(const char *const[]){__VA_ARGS__, NULL})

static void added(char id[static TWIN_ID_LEN + 1], twin_node *n, const char *type, void *fields)
{
    git_oid commit;
    if (twin_ops_add(id, &commit, n, type, set_fields, fields))
        fail_msg("add %s: %s", type, twin_error_last());
}

static void a_nodes_report_names_its_partnerships_and_institutions(void **state)
{
    struct helper_nodes *h = *state;
    char p1[TWIN_ID_LEN + 1], p2[TWIN_ID_LEN + 1], north[TWIN_ID_LEN + 1], south[TWIN_ID_LEN + 1],
        c[TWIN_ID_LEN + 1];
    added(p1, h->north, "partnership",
          FIELDS("title", "Tax twinning", "partnership_type", "twinning"));
    added(p2, h->north, "partnership",
          FIELDS("title", "Audit twinning", "partnership_type", "twinning"));
    added(north, h->north, "institution",
          FIELDS("name", "Ministry North", "org_id", "XE-EXAMPLE-N"));
    added(south, h->north, "institution",
          FIELDS("name", "Ministry South", "org_id", "XE-EXAMPLE-S"));
    added(c, h->north, "contribution",
          FIELDS("partnership", p1, "institution", north, "kind", "cash", "category", "funding",
                 "value", "5000", "currency", "EUR", "date", "2026-03-01", "status", "delivered"));
    added(c, h->north, "contribution",
          FIELDS("partnership", p1, "institution", south, "kind", "in_kind", "category",
                 "expert_days", "quantity", "20", "unit", "days", "date", "2026-03-01", "status",
                 "pledged"));
    json_t *data = NULL;
    assert_int_equal(twin_report_contributions(&data, h->north, NULL), 0);
    assert_int_equal(json_integer_value(json_object_get(data, "skipped")), 0);
    assert_int_equal(json_array_size(json_object_get(data, "partnerships")), 1);
    json_t *p = json_array_get(json_object_get(data, "partnerships"), 0);
    assert_string_equal(json_string_value(json_object_get(p, "title")), "Tax twinning");
    /* North wrote its own entry, confirmed as written; South's waits for South. */
    expect_line(data, p1, north, "cash", "EUR", 5000, 0, 5000, 0);
    expect_line(data, p1, south, "in_kind", "days", 0, 20, 0, 0);
    json_t *inst = json_array_get(json_object_get(p, "institutions"), 0);
    const char *first = strcmp(north, south) < 0 ? "Ministry North" : "Ministry South";
    assert_string_equal(json_string_value(json_object_get(inst, "name")), first);
    assert_non_null(json_string_value(json_object_get(inst, "org_id")));
    json_decref(data);

    /* One partnership: that one alone, even with no contributions. */
    assert_int_equal(twin_report_contributions(&data, h->north, p2), 0);
    assert_int_equal(json_array_size(json_object_get(data, "partnerships")), 1);
    p = json_array_get(json_object_get(data, "partnerships"), 0);
    assert_string_equal(json_string_value(json_object_get(p, "title")), "Audit twinning");
    assert_int_equal(json_array_size(json_object_get(p, "institutions")), 0);
    json_decref(data);
    assert_error(twin_report_contributions(&data, h->north, north), TWIN_ENOTFOUND,
                 "no partnership");
    assert_null(data);
}

static int setup_global(void **state)
{
    (void)state;
    return twin_global_init(false) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(pledged_counts_delivered_too_and_cancelled_counts_nowhere),
        cmocka_unit_test(confirmed_is_apart_and_only_at_the_status),
        cmocka_unit_test(a_correction_counts_with_its_own_status),
        cmocka_unit_test(currencies_units_kinds_institutions_and_partnerships_stay_apart),
        cmocka_unit_test(what_cannot_be_counted_is_refused_and_counts_nothing),
        cmocka_unit_test_setup_teardown(a_nodes_report_names_its_partnerships_and_institutions,
                                        helper_nodes_setup, helper_nodes_teardown),
    };
    return cmocka_run_group_tests(tests, setup_global, NULL);
}
