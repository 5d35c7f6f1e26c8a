/* Money and staff time (contribution, budget, transaction): what an entry records never changes,
 * a correction is a new entry that counts what the entry it corrects counts, only a correction
 * takes away, a contribution's status moves only forward, and none of them is withdrawn. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "records/money.h"
#include "twin/error.h"
#include "twin/global.h"
#include "twin/record.h"

#define ID_SELF  "0190f5a2-7c1e-7a3b-9c4d-5e6f7a8b9c0d"
#define ID_FIRST "0190f5a2-7c1e-7a3b-9c4d-5e6f7a8b9c0e"
#define ID_PART  "0190f5a2-7c1e-7a3b-8000-000000000001"
#define ID_INST  "0190f5a2-7c1e-7a3b-8000-000000000002"
#define ID_INST2 "0190f5a2-7c1e-7a3b-8000-000000000003"

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

/* Every record the tests refer to: the partnership, two institutions and the entry a correction
 * names (the ctx, a JSON object of id to record). */
static int lookup(json_t **out, const char *type, const char *id, void *ctx)
{
    json_t *rec = json_object_get(ctx, id);
    if (!rec || strcmp(json_string_value(json_object_get(rec, "type")), type) != 0)
        return twin_error(TWIN_ENOTFOUND, "no %s %s", type, id);
    if (out)
        *out = json_incref(rec);
    return 0;
}

static json_t *store(const char *first)
{
    json_t *s = json_object();
    json_object_set_new(s, ID_PART, J("{'type':'partnership','id':'" ID_PART "'}"));
    json_object_set_new(s, ID_INST, J("{'type':'institution','id':'" ID_INST "'}"));
    json_object_set_new(s, ID_INST2, J("{'type':'institution','id':'" ID_INST2 "'}"));
    if (first) {
        json_t *f = J(first);
        json_object_set_new(s, json_string_value(json_object_get(f, "id")), f);
    }
    return s;
}

static void expect(const char *rec_text, const char *old_text, const char *first,
                   const char *message)
{
    json_t *rec = J(rec_text), *old = old_text ? J(old_text) : NULL, *s = store(first);
    int rc = twin_record_validate(rec, old, lookup, s);
    if (!message && rc)
        fail_msg("expected valid, got %d: %s", rc, twin_error_last());
    if (message) {
        assert_int_equal(rc, TWIN_EINVALID);
        if (strncmp(twin_error_last(), message, strlen(message)) != 0)
            fail_msg("expected a message beginning '%s', got '%s'", message, twin_error_last());
    }
    json_decref(rec);
    json_decref(old);
    json_decref(s);
}

#define PLEDGE                                                                                     \
    "'type':'contribution','partnership':'" ID_PART "','institution':'" ID_INST "',"               \
    "'kind':'in_kind','category':'expert_days','date':'2026-03-01'"
#define DAYS(id, q, status)                                                                        \
    "{'id':'" id "'," PLEDGE ",'quantity':" q ",'unit':'days','status':'" status "'"

static void a_contribution_in_kind_or_in_cash_is_recorded(void **state)
{
    (void)state;
    expect(DAYS(ID_SELF, "20", "pledged") "}", NULL, NULL, NULL);
    expect("{'id':'" ID_SELF "','type':'contribution','partnership':'" ID_PART
           "','institution':'" ID_INST "','kind':'cash','category':'funding','value':5000,"
           "'currency':'EUR','date':'2026-03-01','status':'delivered'}",
           NULL, NULL, NULL);
}

static void amounts_go_with_their_units_and_kinds_need_theirs(void **state)
{
    (void)state;
    expect("{'id':'" ID_SELF "'," PLEDGE ",'status':'pledged','quantity':3}", NULL, NULL,
           "contribution.unit: required with quantity");
    expect("{'id':'" ID_SELF "'," PLEDGE ",'status':'pledged','value':3}", NULL, NULL,
           "contribution.currency: required with value");
    expect("{'id':'" ID_SELF "'," PLEDGE ",'status':'pledged','currency':'EUR'}", NULL, NULL,
           "contribution.value: required with currency");
    expect("{'id':'" ID_SELF "'," PLEDGE ",'status':'pledged'}", NULL, NULL,
           "contribution.quantity: a contribution in kind needs");
    expect("{'id':'" ID_SELF "','type':'contribution','partnership':'" ID_PART
           "','institution':'" ID_INST "','kind':'cash','category':'funding',"
           "'date':'2026-03-01','status':'pledged'}",
           NULL, NULL, "contribution.value: required for a contribution in cash");
}

static void only_a_correction_takes_away(void **state)
{
    (void)state;
    expect(DAYS(ID_SELF, "-2", "pledged") "}", NULL, NULL,
           "contribution.quantity: -2 is negative; only a correction");
    expect(DAYS(ID_SELF, "-2", "delivered") ",'corrects':'" ID_FIRST "'}", NULL,
           DAYS(ID_FIRST, "20", "delivered") "}", NULL);
    expect("{'id':'" ID_SELF "','type':'budget','partnership':'" ID_PART
           "','budget_type':'original','period_start':'2026-01-01','period_end':'2026-12-31',"
           "'value':-1,'currency':'EUR'}",
           NULL, NULL, "budget.value: -1 is negative; only a correction");
}

static void a_correction_counts_what_its_entry_counts(void **state)
{
    (void)state;
    const char *first = DAYS(ID_FIRST, "20", "pledged") "}";
    /* in hours, against an entry in days: the two would not add up */
    expect("{'id':'" ID_SELF "'," PLEDGE ",'quantity':-2,'unit':'hours','status':'pledged',"
           "'corrects':'" ID_FIRST "'}",
           NULL, first, "contribution.unit: a correction counts what the entry it corrects");
    /* another institution's */
    expect(
        "{'id':'" ID_SELF "','type':'contribution','partnership':'" ID_PART
        "','institution':'" ID_INST2 "','kind':'in_kind','category':'expert_days',"
        "'date':'2026-03-01','quantity':-2,'unit':'days','status':'pledged','corrects':'" ID_FIRST
        "'}",
        NULL, first, "contribution.institution: a correction counts");
    /* an entry that is not there, and itself */
    expect(DAYS(ID_SELF, "-2", "pledged") ",'corrects':'" ID_FIRST "'}", NULL, NULL,
           "contribution.corrects:");
    expect(DAYS(ID_SELF, "-2", "pledged") ",'corrects':'" ID_SELF "'}", NULL,
           DAYS(ID_SELF, "-2", "pledged") ",'corrects':'" ID_SELF "'}",
           "contribution.corrects: a contribution cannot correct itself");
}

static void what_was_recorded_never_changes(void **state)
{
    (void)state;
    const char *old = DAYS(ID_SELF, "20", "pledged") "}";
    expect(DAYS(ID_SELF, "25", "pledged") "}", old, NULL,
           "contribution.quantity: what a contribution records never changes once written");
    /* a field added later is a change too */
    expect(DAYS(ID_SELF, "20", "pledged") ",'value':100,'currency':'EUR'}", old, NULL,
           "contribution.value: what a contribution records never changes");
    /* what describes it may change */
    expect(DAYS(ID_SELF, "20", "pledged") ",'description':'Two tax auditors'}", old, NULL, NULL);
#define TX                                                                                         \
    "{'id':'" ID_SELF "','type':'transaction','partnership':'" ID_PART                             \
    "','transaction_type':'3','value':500,'currency':'EUR','date':'2026-04-01'"
    const char *a = TX "}", *b = TX ",'provider':'" ID_INST "'}";
#undef TX
    expect(b, a, NULL, "transaction.provider: what a transaction records never changes");
}

static void a_status_moves_forward_only(void **state)
{
    (void)state;
    const char *pledged = DAYS(ID_SELF, "20", "pledged") "}";
    const char *delivered = DAYS(ID_SELF, "20", "delivered") "}";
    const char *cancelled = DAYS(ID_SELF, "20", "cancelled") "}";
    expect(delivered, pledged, NULL, NULL);
    expect(cancelled, pledged, NULL, NULL);
    expect(pledged, delivered, NULL, "contribution.status: a delivered contribution stays");
    expect(cancelled, delivered, NULL, "contribution.status: a delivered contribution stays");
    expect(delivered, cancelled, NULL, "contribution.status: a cancelled contribution stays");
}

static void money_is_never_withdrawn(void **state)
{
    (void)state;
    expect(DAYS(ID_SELF, "20", "pledged") ",'withdrawn':true}", DAYS(ID_SELF, "20", "pledged") "}",
           NULL, "contribution.withdrawn: a contribution is never withdrawn");
    expect("{'id':'" ID_SELF "','type':'transaction','partnership':'" ID_PART
           "','transaction_type':'3','value':500,'currency':'EUR','date':'2026-04-01',"
           "'withdrawn':true}",
           NULL, NULL, "transaction.withdrawn: a transaction is never withdrawn");
}

static void a_budget_period_ends_after_it_starts(void **state)
{
    (void)state;
    expect("{'id':'" ID_SELF "','type':'budget','partnership':'" ID_PART
           "','budget_type':'original','period_start':'2026-01-01','period_end':'2025-12-31',"
           "'value':1,'currency':'EUR'}",
           NULL, NULL, "budget.period_end: 2025-12-31 is before period_start 2026-01-01");
    expect("{'id':'" ID_SELF "','type':'transaction','partnership':'" ID_PART
           "','transaction_type':'99','value':500,'currency':'EUR','date':'2026-04-01'}",
           NULL, NULL, "transaction.transaction_type:");
}

static void only_the_money_types_are_money(void **state)
{
    (void)state;
    assert_true(twin_money_type("contribution"));
    assert_true(twin_money_type("budget"));
    assert_true(twin_money_type("transaction"));
    assert_false(twin_money_type("indicator"));
    assert_false(twin_money_type(NULL));
}

static int setup_global(void **state)
{
    (void)state;
    return twin_global_init(false) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_contribution_in_kind_or_in_cash_is_recorded),
        cmocka_unit_test(amounts_go_with_their_units_and_kinds_need_theirs),
        cmocka_unit_test(only_a_correction_takes_away),
        cmocka_unit_test(a_correction_counts_what_its_entry_counts),
        cmocka_unit_test(what_was_recorded_never_changes),
        cmocka_unit_test(a_status_moves_forward_only),
        cmocka_unit_test(money_is_never_withdrawn),
        cmocka_unit_test(a_budget_period_ends_after_it_starts),
        cmocka_unit_test(only_the_money_types_are_money),
    };
    return cmocka_run_group_tests(tests, setup_global, NULL);
}
