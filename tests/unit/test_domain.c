/* Record rules by version (rules/domain.h): under version 1 nothing beyond the schema; under
 * version 2 a health check's seven scores and an intersectoral partnership's two sector groups.
 * One check per respondent, partnership and date, which reads a tree, is tested with the
 * predicate in test_validity.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rules/domain.h"
#include "twin/error.h"
#include "twin/global.h"

#define ID_GOV  "0190f5a2-7c1e-7a3b-8000-000000000001"
#define ID_GOV2 "0190f5a2-7c1e-7a3b-8000-000000000002"
#define ID_BIZ  "0190f5a2-7c1e-7a3b-8000-000000000003"
#define ID_NONE "0190f5a2-7c1e-7a3b-8000-000000000004"

static json_t *institutions;

static int lookup(json_t **out, const char *type, const char *id, void *ctx)
{
    (void)ctx;
    json_t *rec = json_object_get(institutions, id);
    if (!rec || strcmp(type, "institution") != 0)
        return twin_error(TWIN_ENOTFOUND, "no %s %s", type, id);
    if (out)
        *out = json_incref(rec);
    return 0;
}

static const struct twin_domain_env env = {lookup, NULL, NULL, NULL, NULL, NULL};

static void expect(const json_t *rec, const json_t *old, int rules, const char *fault_start)
{
    char fault[600];
    assert_int_equal(twin_domain_check(fault, sizeof(fault), rec, old, rules, &env), 0);
    if (!fault_start && fault[0])
        fail_msg("expected no fault, got: %s", fault);
    if (fault_start && strncmp(fault, fault_start, strlen(fault_start)) != 0)
        fail_msg("expected a fault beginning '%s', got '%s'", fault_start, fault);
}

static json_t *check_with(size_t nscores)
{
    static const char *const seven[] = {"trust",     "transparency",  "openness",  "understanding",
                                        "integrity", "human_contact", "continuity"};
    json_t *scores = json_object();
    for (size_t i = 0; i < nscores; i++)
        json_object_set_new(scores, seven[i], json_integer(4));
    return json_pack("{s:s, s:s, s:o}", "type", "health_check", "date", "2026-06-30", "scores",
                     scores);
}

static void rules_1_ask_nothing_beyond_the_schema(void **state)
{
    (void)state;
    json_t *hc = check_with(1);
    expect(hc, NULL, 1, NULL);
    json_decref(hc);
}

static void rules_2_want_every_score_and_name_the_first_missing(void **state)
{
    (void)state;
    for (size_t n = 0; n < 7; n++) {
        json_t *hc = check_with(n);
        expect(hc, NULL, 2, "health_check.scores.");
        json_decref(hc);
    }
    json_t *hc = check_with(3);
    expect(hc, NULL, 2, "health_check.scores.understanding: required (record rules 2");
    json_decref(hc);
    hc = check_with(7);
    expect(hc, NULL, 2, NULL);
    json_decref(hc);
}

static json_t *partnership(const char *type, const char *a, const char *b)
{
    json_t *p =
        json_pack("{s:s, s:s, s:[]}", "type", "partnership", "partnership_type", type, "members");
    const char *ids[] = {a, b};
    for (int i = 0; i < 2; i++)
        if (ids[i])
            json_array_append_new(json_object_get(p, "members"),
                                  json_pack("{s:s, s:s}", "institution", ids[i], "side", "north"));
    return p;
}

static void an_intersectoral_partnership_needs_two_sector_groups(void **state)
{
    (void)state;
    json_t *same = partnership("intersectoral", ID_GOV, ID_GOV2);
    expect(same, NULL, 2,
           "partnership.members: an intersectoral partnership has members of at "
           "least two sector groups (record rules 2), and all of its members are "
           "government");
    expect(same, NULL, 1, NULL);
    json_t *unknown = partnership("intersectoral", ID_GOV, ID_NONE);
    expect(unknown, NULL, 2, "partnership.members: an intersectoral partnership");
    json_t *mixed = partnership("intersectoral", ID_GOV, ID_BIZ);
    expect(mixed, NULL, 2, NULL);
    /* one member is a partnership being set up; a twinning is not intersectoral */
    json_t *one = partnership("intersectoral", ID_GOV, NULL);
    expect(one, NULL, 2, NULL);
    json_t *twinning = partnership("twinning", ID_GOV, ID_GOV2);
    expect(twinning, NULL, 2, NULL);
    /* checked when its type or members change, not on every edit */
    json_t *retitled = json_deep_copy(same);
    json_object_set_new(retitled, "title", json_string("Renamed"));
    expect(retitled, same, 2, NULL);
    expect(same, twinning, 2, "partnership.members:");
    json_decref(same);
    json_decref(unknown);
    json_decref(mixed);
    json_decref(one);
    json_decref(twinning);
    json_decref(retitled);
}

static int setup(void **state)
{
    (void)state;
    if (twin_global_init(false))
        return -1;
    institutions = json_pack(
        "{s:{s:s, s:s}, s:{s:s, s:s}, s:{s:s, s:s}, s:{s:s}}", ID_GOV, "type", "institution",
        "sector_group", "government", ID_GOV2, "type", "institution", "sector_group", "government",
        ID_BIZ, "type", "institution", "sector_group", "business", ID_NONE, "type", "institution");
    return institutions ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    json_decref(institutions);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rules_1_ask_nothing_beyond_the_schema),
        cmocka_unit_test(rules_2_want_every_score_and_name_the_first_missing),
        cmocka_unit_test(an_intersectoral_partnership_needs_two_sector_groups),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
