/* Records: the schema of every type, the messages validation gives, allowed transitions, the
 * canonical form stored in git, parse bounds, field paths and the leaves two records differ in,
 * ids and storage paths. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "records/schema.h"
#include "twin/error.h"
#include "twin/record.h"
#include "twin/schema.h"
#include "twin/global.h"

/* Invented ids: the record under test and the records it refers to. */
#define ID_SELF     "0190f5a2-7c1e-7a3b-9c4d-5e6f7a8b9c0d"
#define ID_OTHER    "0190f5a2-7c1e-7a3b-9c4d-5e6f7a8b9c0e"
#define ID_PART     "0190f5a2-7c1e-7a3b-8000-000000000001"
#define ID_INST     "0190f5a2-7c1e-7a3b-8000-000000000002"
#define ID_PERSON_A "0190f5a2-7c1e-7a3b-8000-000000000003"
#define ID_PERSON_B "0190f5a2-7c1e-7a3b-8000-000000000004"
#define ID_POST     "0190f5a2-7c1e-7a3b-8000-000000000005"
#define ID_RESULT   "0190f5a2-7c1e-7a3b-8000-000000000006"
#define ID_DOC      "0190f5a2-7c1e-7a3b-8000-000000000007"

/* JSON written with single quotes, so the specifications below stay readable. */
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

static void assert_valid(const json_t *rec)
{
    int rc = twin_record_validate(rec, NULL, NULL, NULL);
    if (rc)
        fail_msg("expected a valid record, got %d: %s", rc, twin_error_last());
}

static void assert_invalid(const json_t *rec, const json_t *old, const char *message)
{
    assert_int_equal(twin_record_validate(rec, old, NULL, NULL), TWIN_EINVALID);
    assert_string_equal(twin_error_last(), message);
}

/* Validation refuses rec with a message that begins with start. */
static void assert_invalid_from(const json_t *rec, const char *start)
{
    assert_int_equal(twin_record_validate(rec, NULL, NULL, NULL), TWIN_EINVALID);
    if (strncmp(twin_error_last(), start, strlen(start)) != 0)
        fail_msg("\"%s\" does not begin with \"%s\"", twin_error_last(), start);
}

/* Validates text and checks the exact message (the record is freed). */
static void assert_text_invalid(const char *text, const char *message)
{
    json_t *rec = J(text);
    assert_invalid(rec, NULL, message);
    json_decref(rec);
}

static void assert_text_valid(const char *text)
{
    json_t *rec = J(text);
    assert_valid(rec);
    json_decref(rec);
}

/* ---- every record type ---------------------------------------------------------------------- */

struct type_case {
    const char *type;
    const char *minimal;     /* the smallest valid record */
    const char *required[8]; /* its required fields, id and type aside */
};

static const struct type_case cases[] = {
    {"institution",
     "{'id':'" ID_SELF "','type':'institution','name':'Ministry of Example'}",
     {"name"}},
    {"partnership",
     "{'id':'" ID_SELF "','type':'partnership','title':'Tax twinning','partnership_type':"
     "'twinning'}",
     {"title", "partnership_type"}},
    {"activity",
     "{'id':'" ID_SELF "','type':'activity','partnership':'" ID_PART "','kind':'workshop',"
     "'title':'Kick-off'}",
     {"partnership", "kind", "title"}},
    {"person", "{'id':'" ID_SELF "','type':'person','name':'Ada Example'}", {"name"}},
    {"post",
     "{'id':'" ID_SELF "','type':'post','title':'Liaison officer','institution':'" ID_INST "'}",
     {"title", "institution"}},
    {"assignment",
     "{'id':'" ID_SELF "','type':'assignment','person':'" ID_PERSON_A "','post':'" ID_POST "',"
     "'start':'2026-01-05'}",
     {"person", "post", "start"}},
    {"handover",
     "{'id':'" ID_SELF "','type':'handover','post':'" ID_POST "','date':'2026-03-01',"
     "'summary':'Files and contacts passed on'}",
     {"post", "date", "summary"}},
    {"people_link",
     "{'id':'" ID_SELF "','type':'people_link','person_a':'" ID_PERSON_A
     "','person_b':'" ID_PERSON_B "','kind':'counterpart'}",
     {"person_a", "person_b", "kind"}},
    {"result",
     "{'id':'" ID_SELF "','type':'result','partnership':'" ID_PART "','result_type':'1',"
     "'title':'Audit manual adopted'}",
     {"partnership", "result_type", "title"}},
    {"indicator",
     "{'id':'" ID_SELF "','type':'indicator','result':'" ID_RESULT "','title':'Audits done',"
     "'measure':'1'}",
     {"result", "title", "measure"}},
    {"health_check",
     "{'id':'" ID_SELF "','type':'health_check','partnership':'" ID_PART "','date':'2026-06-30',"
     "'scores':{}}",
     {"partnership", "date", "scores"}},
    {"document",
     "{'id':'" ID_SELF "','type':'document','title':'MoU','kind':'mou'}",
     {"title", "kind"}},
    {"note",
     "{'id':'" ID_SELF "','type':'note','kind':'decision','title':'Meet monthly'}",
     {"kind", "title"}},
    {"contribution",
     "{'id':'" ID_SELF "','type':'contribution','partnership':'" ID_PART "','institution':'" ID_INST
     "','kind':'in_kind','category':'venue','quantity':2,'unit':'days','date':'2026-03-01',"
     "'status':'pledged'}",
     {"partnership", "institution", "kind", "category", "date", "status"}},
    {"budget",
     "{'id':'" ID_SELF "','type':'budget','partnership':'" ID_PART "','budget_type':'original',"
     "'period_start':'2026-01-01','period_end':'2026-12-31','value':1000,'currency':'EUR'}",
     {"partnership", "budget_type", "period_start", "period_end", "value", "currency"}},
    {"transaction",
     "{'id':'" ID_SELF "','type':'transaction','partnership':'" ID_PART "','transaction_type':'3',"
     "'value':500,'currency':'EUR','date':'2026-04-01'}",
     {"partnership", "transaction_type", "value", "currency", "date"}},
    {"recommendation",
     "{'id':'" ID_SELF "','type':'recommendation','title':'Share audit plans','text':'Publish "
     "the annual audit plan to both partners.','document':'" ID_DOC "','addressee':'" ID_INST "'}",
     {"title", "text", "addressee"}},
};
#define NCASES (sizeof(cases) / sizeof(cases[0]))

static void the_seventeen_record_types_are_listed_in_order(void **state)
{
    const char *const *types = twin_record_types();
    size_t i = 0;
    for (; types[i]; i++) {
        assert_true(i < NCASES);
        assert_string_equal(types[i], cases[i].type);
        assert_true(twin_record_type_known(types[i]));
    }
    assert_int_equal(i, 17);
    assert_false(twin_record_type_known("meeting"));
    assert_false(twin_record_type_known(NULL));
}

static void every_type_has_the_required_fields_this_test_specifies(void **state)
{
    for (size_t i = 0; i < NCASES; i++) {
        const struct twin_record_type *t = twin_schema_type(cases[i].type);
        size_t schema_required = 0, listed = 0;
        assert_non_null(t);
        for (const struct twin_field *f = t->fields; f->name; f++) {
            if (!f->required || strcmp(f->name, "id") == 0 || strcmp(f->name, "type") == 0)
                continue;
            schema_required++;
            bool found = false;
            for (size_t k = 0; cases[i].required[k]; k++)
                found = found || strcmp(cases[i].required[k], f->name) == 0;
            if (!found)
                fail_msg("%s.%s is required by the schema but not by this test", t->name, f->name);
        }
        while (listed < 8 && cases[i].required[listed])
            listed++;
        assert_int_equal(schema_required, listed);
    }
}

static void every_type_accepts_its_minimal_record(void **state)
{
    for (size_t i = 0; i < NCASES; i++)
        assert_text_valid(cases[i].minimal);
}

static void every_type_names_each_missing_required_field(void **state)
{
    for (size_t i = 0; i < NCASES; i++) {
        for (size_t k = 0; cases[i].required[k]; k++) {
            char expect[128];
            json_t *rec = J(cases[i].minimal);
            assert_int_equal(json_object_del(rec, cases[i].required[k]), 0);
            snprintf(expect, sizeof(expect), "%s.%s: required", cases[i].type,
                     cases[i].required[k]);
            assert_invalid(rec, NULL, expect);
            json_decref(rec);
        }
    }
}

static void every_type_names_a_missing_id(void **state)
{
    for (size_t i = 0; i < NCASES; i++) {
        char expect[128];
        json_t *rec = J(cases[i].minimal);
        json_object_del(rec, "id");
        snprintf(expect, sizeof(expect), "%s.id: required", cases[i].type);
        assert_invalid(rec, NULL, expect);
        json_decref(rec);
    }
}

static void a_record_without_a_type_is_named_as_record(void **state)
{
    assert_text_invalid("{'id':'" ID_SELF "','title':'Meet monthly'}", "record.type: required");
    assert_text_invalid("{'id':'" ID_SELF "','type':'meeting'}",
                        "record.type: unknown record type 'meeting'");
}

static void every_type_names_an_unknown_field(void **state)
{
    for (size_t i = 0; i < NCASES; i++) {
        char expect[128];
        json_t *rec = J(cases[i].minimal);
        json_object_set_new(rec, "colour", json_string("blue"));
        snprintf(expect, sizeof(expect),
                 "%s.colour: unknown field (the fields here: ", cases[i].type);
        assert_invalid_from(rec, expect);
        json_decref(rec);
    }
}

static void an_unknown_field_inside_an_object_is_named_by_its_path(void **state)
{
    assert_text_invalid("{'id':'" ID_SELF "','type':'partnership','title':'T','partnership_type':"
                        "'twinning','dates':{'planned_start':'2026-01-01','colour':'blue'}}",
                        "partnership.dates.colour: unknown field (the fields here: planned_start, "
                        "planned_end, actual_start, actual_end)");
}

/* An unknown field near a known one names it, and the error lists the fields there are (not
 * those twin sets); one near none lists them only. */
static void an_unknown_field_is_told_the_nearest_and_the_fields_there_are(void **state)
{
    assert_text_invalid("{'id':'" ID_SELF "','type':'note','kind':'note','titel':'T'}",
                        "note.titel: unknown field; did you mean 'title'? (the fields here: "
                        "kind, title, body, partnership, date, activity, owner_person, "
                        "owner_institution, due, status)");
    json_t *rec = J("{'id':'" ID_SELF "','type':'note','kind':'note','title':'T','bdoy':'B'}");
    assert_invalid_from(rec, "note.bdoy: unknown field; did you mean 'body'?");
    json_decref(rec);
    assert_text_invalid("{'id':'" ID_SELF "','type':'note','kind':'note','title':'T','when':'x'}",
                        "note.when: unknown field (the fields here: kind, title, body, "
                        "partnership, date, activity, owner_person, owner_institution, due, "
                        "status)");
    rec = J("{'id':'" ID_SELF "','type':'partnership','title':'T','partnership_type':"
            "'twinning','dates':{'planed_start':'2026-01-01'}}");
    assert_invalid_from(rec, "partnership.dates.planed_start: unknown field; did you mean "
                             "'planned_start'?");
    json_decref(rec);
}

/* A partnership's form and its members' roles take the values intersectoral practice names. */
static void a_partnership_has_a_form_and_its_members_roles(void **state)
{
    (void)state;
    assert_text_valid("{'id':'" ID_SELF "','type':'partnership','title':'T','partnership_type':"
                      "'intersectoral','form':'taskforce','members':[{'institution':'" ID_OTHER
                      "','side':'south','roles':['convener','funder']}]}");
    assert_text_invalid("{'id':'" ID_SELF "','type':'partnership','title':'T','partnership_type':"
                        "'intersectoral','form':'forever'}",
                        "partnership.form: 'forever' is not one of permanent | semi_permanent | "
                        "taskforce");
    assert_text_invalid("{'id':'" ID_SELF "','type':'partnership','title':'T','partnership_type':"
                        "'twinning','members':[{'institution':'" ID_OTHER "','side':'south',"
                        "'roles':['chair']}]}",
                        "partnership.members[0].roles[0]: 'chair' is not one of convener | "
                        "secretariat | sector_representative | funder | implementer | broker");
}

/* An action has an owner, a due date and a status; a note of another kind has none of them. */
static void only_an_action_has_an_owner_due_date_and_status(void **state)
{
    (void)state;
    assert_text_valid("{'id':'" ID_SELF "','type':'note','kind':'action','title':'T','due':"
                      "'2027-01-31','status':'open','owner_institution':'" ID_OTHER
                      "','activity':'" ID_OTHER "'}");
    assert_text_invalid("{'id':'" ID_SELF "','type':'note','kind':'decision','title':'T','due':"
                        "'2027-01-31'}",
                        "note.due: only an action has an owner, a due date and a status (this "
                        "note's kind is decision)");
    assert_text_invalid("{'id':'" ID_SELF "','type':'note','kind':'action','title':'T','status':"
                        "'late'}",
                        "note.status: 'late' is not one of open | done | dropped");
}

static void a_malformed_id_is_named(void **state)
{
    assert_text_invalid("{'id':'0190F5A2-7C1E-7A3B-9C4D-5E6F7A8B9C0D','type':'note','kind':'note',"
                        "'title':'T'}",
                        "note.id: '0190F5A2-7C1E-7A3B-9C4D-5E6F7A8B9C0D' is not a record id");
}

static void null_is_not_a_value(void **state)
{
    assert_text_invalid("{'id':'" ID_SELF "','type':'note','kind':'note','title':'T','body':null}",
                        "note.body: null is not a value; leave the field out instead");
}

static void a_required_string_must_not_be_empty(void **state)
{
    assert_text_invalid("{'id':'" ID_SELF "','type':'note','kind':'note','title':''}",
                        "note.title: must not be empty");
}

static void a_one_line_field_refuses_a_newline(void **state)
{
    assert_text_invalid("{'id':'" ID_SELF "','type':'note','kind':'note','title':'a\\nb'}",
                        "note.title: must be one line without control characters");
    assert_text_valid("{'id':'" ID_SELF "','type':'note','kind':'note','title':'T','body':"
                      "'line one\\nline two'}");
}

static void text_refuses_characters_that_hide_or_reorder_it(void **state)
{
    assert_text_invalid("{'id':'" ID_SELF "','type':'note','kind':'note','title':'pay \u202edcba'}",
                        "note.title: contains U+202E (a bidirectional control), which can hide or "
                        "reorder text");
    assert_text_invalid("{'id':'" ID_SELF "','type':'note','kind':'note','title':'T','body':"
                        "'a\u2066b'}",
                        "note.body: contains U+2066 (a bidirectional control), which can hide or "
                        "reorder text");
    assert_text_invalid("{'id':'" ID_SELF "','type':'note','kind':'note','title':'a\u200bb'}",
                        "note.title: contains U+200B (zero width space), which can hide or "
                        "reorder text");
    assert_text_invalid("{'id':'" ID_SELF "','type':'note','kind':'note','title':'a\ufeffb'}",
                        "note.title: contains U+FEFF (zero width no-break space), which can hide "
                        "or reorder text");
    assert_text_invalid("{'id':'" ID_SELF "','type':'note','kind':'note','title':'a\u2060b'}",
                        "note.title: contains U+2060 (an invisible character), which can hide or "
                        "reorder text");
    /* Joiners and direction marks that scripts need stay allowed. */
    assert_text_valid("{'id':'" ID_SELF "','type':'note','kind':'note','title':'a\u200cb\u200db"
                      "\u200eb\u200fb \u202f\u2065'}");
}

static void an_enum_field_lists_the_allowed_values(void **state)
{
    assert_text_invalid("{'id':'" ID_SELF "','type':'note','kind':'memo','title':'T'}",
                        "note.kind: 'memo' is not one of note | decision | action | risk | issue | "
                        "lesson_learned");
}

static void a_field_of_the_wrong_json_kind_is_named(void **state)
{
    assert_text_invalid("{'id':'" ID_SELF "','type':'note','kind':'note','title':2026}",
                        "note.title: must be a string or a map of languages to text ({\"en\": "
                        "\"...\", \"fr\": \"...\"})");
    assert_text_invalid("{'id':'" ID_SELF "','type':'note','kind':'note','title':'T',"
                        "'withdrawn':'yes'}",
                        "note.withdrawn: must be true or false");
    assert_text_invalid("{'id':'" ID_SELF "','type':'partnership','title':'T','partnership_type':"
                        "'twinning','sectors':{}}",
                        "partnership.sectors: must be a list (a JSON array)");
    assert_text_invalid("{'id':'" ID_SELF "','type':'health_check','partnership':'" ID_PART
                        "','date':'2026-06-30','scores':[]}",
                        "health_check.scores: must be an object");
}

static void a_score_outside_one_to_five_is_refused(void **state)
{
    assert_text_invalid("{'id':'" ID_SELF "','type':'health_check','partnership':'" ID_PART
                        "','date':'2026-06-30','scores':{'trust':6}}",
                        "health_check.scores.trust: 6 is outside 1-5");
    assert_text_invalid("{'id':'" ID_SELF "','type':'health_check','partnership':'" ID_PART
                        "','date':'2026-06-30','scores':{'trust':4.5}}",
                        "health_check.scores.trust: must be a whole number");
}

static void url_sha256_org_id_and_email_fields_are_checked(void **state)
{
    assert_text_invalid("{'id':'" ID_SELF "','type':'document','title':'MoU','kind':'mou',"
                        "'url':'ftp://files.example.org/mou.pdf'}",
                        "document.url: 'ftp://files.example.org/mou.pdf' is not an http(s) URL");
    assert_text_invalid("{'id':'" ID_SELF "','type':'document','title':'MoU','kind':'mou',"
                        "'sha256':'ABCDEF'}",
                        "document.sha256: must be 64 lowercase hex digits");
    assert_text_invalid("{'id':'" ID_SELF "','type':'institution','name':'N','org_id':'-XE'}",
                        "institution.org_id: '-XE' is not an organisation identifier (letters, "
                        "digits, '-', '_', '.')");
    assert_text_invalid("{'id':'" ID_SELF "','type':'person','name':'Ada','email':'ada.example'}",
                        "person.email: 'ada.example' is not an e-mail address");
    assert_text_valid("{'id':'" ID_SELF "','type':'person','name':'Ada','email':"
                      "'ada@north.example.org'}");
}

/* ---- codes ---------------------------------------------------------------------------------- */

#define PARTNERSHIP_WITH(extra)                                                                    \
    "{'id':'" ID_SELF "','type':'partnership','title':'Tax twinning','partnership_type':"          \
    "'twinning'," extra "}"

static void an_activity_status_outside_the_codelist_is_refused(void **state)
{
    assert_text_invalid(PARTNERSHIP_WITH("'status':'9'"),
                        "partnership.status: 9 is not an IATI activity status (1-6)");
    assert_text_valid(PARTNERSHIP_WITH("'status':'2'"));
}

static void an_unknown_country_is_refused(void **state)
{
    assert_text_invalid("{'id':'" ID_SELF "','type':'institution','name':'N','country':'XX'}",
                        "institution.country: 'XX' is not an IATI Country code");
    assert_text_invalid("{'id':'" ID_SELF "','type':'institution','name':'N','country':'nl'}",
                        "institution.country: 'nl' is not an IATI Country code");
    assert_text_valid("{'id':'" ID_SELF "','type':'institution','name':'N','country':'TZ'}");
}

static void an_unknown_sector_is_refused(void **state)
{
    assert_text_invalid(PARTNERSHIP_WITH("'sectors':[{'code':'99999'}]"),
                        "partnership.sectors[0].code: '99999' is not an IATI Sector code");
    assert_text_valid(PARTNERSHIP_WITH("'sectors':[{'code':'15111'}]"));
}

static void an_unknown_currency_or_language_is_refused(void **state)
{
    assert_text_invalid(PARTNERSHIP_WITH("'currency':'XYZ'"),
                        "partnership.currency: 'XYZ' is not an IATI Currency code");
    assert_text_invalid(PARTNERSHIP_WITH("'language':'zz'"),
                        "partnership.language: 'zz' is not an IATI Language code");
    assert_text_valid(PARTNERSHIP_WITH("'currency':'EUR','language':'sw'"));
}

static void an_unknown_organisation_type_is_refused(void **state)
{
    assert_text_invalid("{'id':'" ID_SELF "','type':'institution','name':'N','org_type':'99'}",
                        "institution.org_type: '99' is not an IATI OrganisationType code");
    assert_text_valid("{'id':'" ID_SELF "','type':'institution','name':'N','org_type':'10'}");
}

/* ---- dates ---------------------------------------------------------------------------------- */

static void the_thirtieth_of_february_is_not_a_date(void **state)
{
    assert_text_invalid(PARTNERSHIP_WITH("'dates':{'planned_start':'2026-02-30'}"),
                        "partnership.dates.planned_start: '2026-02-30' is not a date (YYYY-MM-DD)");
}

static void month_thirteen_is_not_a_date(void **state)
{
    assert_text_invalid(PARTNERSHIP_WITH("'dates':{'planned_start':'2026-13-01'}"),
                        "partnership.dates.planned_start: '2026-13-01' is not a date (YYYY-MM-DD)");
}

static void a_two_digit_year_is_not_a_date(void **state)
{
    assert_text_invalid(PARTNERSHIP_WITH("'dates':{'planned_start':'26-01-01'}"),
                        "partnership.dates.planned_start: '26-01-01' is not a date (YYYY-MM-DD)");
}

static void leap_days_follow_the_gregorian_calendar(void **state)
{
    assert_text_valid(PARTNERSHIP_WITH("'dates':{'planned_start':'2024-02-29'}"));
    assert_text_valid(PARTNERSHIP_WITH("'dates':{'planned_start':'2000-02-29'}"));
    assert_text_invalid(PARTNERSHIP_WITH("'dates':{'planned_start':'2100-02-29'}"),
                        "partnership.dates.planned_start: '2100-02-29' is not a date (YYYY-MM-DD)");
    assert_text_invalid(PARTNERSHIP_WITH("'dates':{'planned_start':'2026-04-31'}"),
                        "partnership.dates.planned_start: '2026-04-31' is not a date (YYYY-MM-DD)");
}

static void a_planned_end_before_the_planned_start_is_refused(void **state)
{
    assert_text_invalid(
        PARTNERSHIP_WITH("'dates':{'planned_start':'2026-06-01','planned_end':'2026-01-01'}"),
        "partnership.dates.planned_end: 2026-01-01 is before planned_start 2026-06-01");
    assert_text_valid(
        PARTNERSHIP_WITH("'dates':{'planned_start':'2026-06-01','planned_end':'2026-06-01'}"));
}

static void an_actual_end_before_the_actual_start_is_refused(void **state)
{
    assert_text_invalid(
        PARTNERSHIP_WITH("'dates':{'actual_start':'2026-06-01','actual_end':'2026-05-31'}"),
        "partnership.dates.actual_end: 2026-05-31 is before actual_start 2026-06-01");
}

static void an_assignment_ending_before_it_starts_is_refused(void **state)
{
    assert_text_invalid("{'id':'" ID_SELF "','type':'assignment','person':'" ID_PERSON_A
                        "','post':'" ID_POST "','start':'2026-01-05','end':'2025-12-31'}",
                        "assignment.end: 2025-12-31 is before start 2026-01-05");
}

static void an_indicator_period_ending_before_it_starts_is_refused(void **state)
{
    assert_text_invalid("{'id':'" ID_SELF "','type':'indicator','result':'" ID_RESULT
                        "','title':'Audits','measure':'1','periods':[{'start':'2026-01-01',"
                        "'end':'2026-12-31'},{'start':'2027-12-31','end':'2027-01-01'}]}",
                        "indicator.periods[1].end: 2027-01-01 is before start 2027-12-31");
}

/* ---- shares --------------------------------------------------------------------------------- */

static void sector_percentages_must_sum_to_one_hundred(void **state)
{
    assert_text_invalid(PARTNERSHIP_WITH("'sectors':[{'code':'15111','percentage':40},"
                                         "{'code':'15114','percentage':20}]"),
                        "partnership.sectors: percentages sum to 60, not 100");
}

static void sector_percentages_summing_to_one_hundred_are_accepted(void **state)
{
    assert_text_valid(PARTNERSHIP_WITH("'sectors':[{'code':'15111','percentage':33.33},"
                                       "{'code':'15114','percentage':33.33},"
                                       "{'code':'15110','percentage':33.34}]"));
    assert_text_valid(PARTNERSHIP_WITH("'sectors':[{'code':'15111'},{'code':'15114'}]"));
}

static void sectors_give_a_percentage_for_all_or_none(void **state)
{
    assert_text_invalid(PARTNERSHIP_WITH("'sectors':[{'code':'15111','percentage':100},"
                                         "{'code':'15114'}]"),
                        "partnership.sectors: give a percentage for every item or for none");
}

static void a_sector_listed_twice_is_refused(void **state)
{
    assert_text_invalid(PARTNERSHIP_WITH("'sectors':[{'code':'15111','percentage':50},"
                                         "{'code':'15111','percentage':50}]"),
                        "partnership.sectors[1].code: '15111' is listed twice");
}

static void a_percentage_above_one_hundred_is_refused(void **state)
{
    assert_text_invalid(PARTNERSHIP_WITH("'sectors':[{'code':'15111','percentage':120}]"),
                        "partnership.sectors[0].percentage: 120 is outside 0-100");
}

static void recipient_country_percentages_must_sum_to_one_hundred(void **state)
{
    assert_text_invalid(PARTNERSHIP_WITH("'recipient_countries':[{'code':'TZ','percentage':40},"
                                         "{'code':'KE','percentage':20}]"),
                        "partnership.recipient_countries: percentages sum to 60, not 100");
    assert_text_valid(PARTNERSHIP_WITH("'recipient_countries':[{'code':'TZ','percentage':60},"
                                       "{'code':'KE','percentage':40}]"));
}

static void recipient_countries_give_a_percentage_for_all_or_none(void **state)
{
    assert_text_invalid(PARTNERSHIP_WITH("'recipient_countries':[{'code':'TZ'},"
                                         "{'code':'KE','percentage':100}]"),
                        "partnership.recipient_countries: give a percentage for every item or "
                        "for none");
}

static void a_recipient_country_listed_twice_is_refused(void **state)
{
    assert_text_invalid(PARTNERSHIP_WITH("'recipient_countries':[{'code':'TZ'},{'code':'KE'},"
                                         "{'code':'TZ'}]"),
                        "partnership.recipient_countries[2].code: 'TZ' is listed twice");
}

/* ---- references ----------------------------------------------------------------------------- */

struct known {
    const char *type, *id;
};

static const struct known store[] = {
    {"partnership", ID_PART}, {"institution", ID_INST}, {"person", ID_PERSON_A},
    {"person", ID_PERSON_B},  {"post", ID_POST},        {"result", ID_RESULT},
};

static int lookup_store(json_t **out, const char *type, const char *id, void *ctx)
{
    int *calls = ctx;
    if (calls)
        (*calls)++;
    if (out)
        *out = NULL;
    for (size_t i = 0; i < sizeof(store) / sizeof(store[0]); i++)
        if (strcmp(store[i].type, type) == 0 && strcmp(store[i].id, id) == 0)
            return 0;
    return TWIN_ENOTFOUND;
}

static int lookup_broken(json_t **out, const char *type, const char *id, void *ctx)
{
    return twin_error(TWIN_ERROR, "store unreadable");
}

static void a_reference_to_an_existing_record_is_accepted(void **state)
{
    json_t *rec = J(cases[2].minimal); /* activity -> partnership ID_PART */
    int calls = 0;
    assert_int_equal(twin_record_validate(rec, NULL, lookup_store, &calls), 0);
    assert_int_equal(calls, 1);
    json_decref(rec);
}

static void a_reference_to_a_missing_record_is_named(void **state)
{
    json_t *rec = J("{'id':'" ID_SELF "','type':'activity','partnership':'" ID_OTHER
                    "','kind':'workshop','title':'Kick-off'}");
    assert_int_equal(twin_record_validate(rec, NULL, lookup_store, NULL), TWIN_EINVALID);
    assert_string_equal(twin_error_last(), "activity.partnership: no partnership " ID_OTHER);
    json_decref(rec);
}

static void a_reference_to_a_record_of_another_type_is_refused(void **state)
{
    /* ID_INST exists, but as an institution, not a partnership. */
    json_t *rec = J("{'id':'" ID_SELF "','type':'activity','partnership':'" ID_INST
                    "','kind':'workshop','title':'Kick-off'}");
    assert_int_equal(twin_record_validate(rec, NULL, lookup_store, NULL), TWIN_EINVALID);
    assert_string_equal(twin_error_last(), "activity.partnership: no partnership " ID_INST);
    json_decref(rec);
}

static void a_reference_inside_a_list_is_named_by_its_path(void **state)
{
    json_t *rec = J(PARTNERSHIP_WITH("'members':[{'institution':'" ID_INST "','side':'north'},"
                                     "{'institution':'" ID_OTHER "','side':'south'}]"));
    assert_int_equal(twin_record_validate(rec, NULL, lookup_store, NULL), TWIN_EINVALID);
    assert_string_equal(twin_error_last(),
                        "partnership.members[1].institution: no institution " ID_OTHER);
    json_decref(rec);
}

static void a_reference_that_is_not_an_id_is_refused_even_without_lookup(void **state)
{
    assert_text_invalid("{'id':'" ID_SELF "','type':'activity','partnership':'tax-twinning',"
                        "'kind':'workshop','title':'Kick-off'}",
                        "activity.partnership: 'tax-twinning' is not a record id");
}

static void without_a_lookup_references_are_not_checked_for_existence(void **state)
{
    assert_text_valid("{'id':'" ID_SELF "','type':'activity','partnership':'" ID_OTHER
                      "','kind':'workshop','title':'Kick-off'}");
}

static void a_failing_lookup_is_passed_on(void **state)
{
    json_t *rec = J(cases[2].minimal);
    assert_int_equal(twin_record_validate(rec, NULL, lookup_broken, NULL), TWIN_ERROR);
    assert_string_equal(twin_error_last(), "store unreadable");
    json_decref(rec);
}

/* ---- transitions ---------------------------------------------------------------------------- */

#define NOTE(extra) "{'id':'" ID_SELF "','type':'note','kind':'note','title':'Meet'" extra "}"

static void an_unchanged_record_is_an_allowed_transition(void **state)
{
    json_t *old = J(NOTE("")), *rec = J(NOTE(""));
    assert_int_equal(twin_record_validate(rec, old, NULL, NULL), 0);
    json_decref(old);
    json_decref(rec);
}

static void a_changed_id_is_refused(void **state)
{
    json_t *old = J(NOTE(""));
    json_t *rec = J("{'id':'" ID_OTHER "','type':'note','kind':'note','title':'Meet'}");
    assert_invalid(rec, old, "note.id: a record's id and type never change");
    json_decref(old);
    json_decref(rec);
}

static void a_changed_type_is_refused(void **state)
{
    json_t *old = J(NOTE(""));
    json_t *rec = J("{'id':'" ID_SELF "','type':'document','kind':'other','title':'Meet'}");
    assert_invalid(rec, old, "document.id: a record's id and type never change");
    json_decref(old);
    json_decref(rec);
}

static void a_withdrawn_record_cannot_change(void **state)
{
    json_t *old = J(NOTE(",'withdrawn':true"));
    json_t *rec = J("{'id':'" ID_SELF "','type':'note','kind':'note','title':'Meet weekly',"
                    "'withdrawn':true}");
    assert_invalid(rec, old, "note.withdrawn: the record is withdrawn and can no longer change");
    json_decref(old);
    json_decref(rec);
}

static void a_withdrawn_record_cannot_be_reinstated(void **state)
{
    json_t *old = J(NOTE(",'withdrawn':true"));
    json_t *rec = J(NOTE(",'withdrawn':false"));
    assert_invalid(rec, old, "note.withdrawn: the record is withdrawn and can no longer change");
    json_decref(rec);
    rec = J(NOTE(""));
    assert_invalid(rec, old, "note.withdrawn: the record is withdrawn and can no longer change");
    json_decref(old);
    json_decref(rec);
}

#define INDICATOR(periods)                                                                         \
    "{'id':'" ID_SELF "','type':'indicator','result':'" ID_RESULT "','title':'Audits done',"       \
    "'measure':'1','periods':[" periods "]}"
#define Y2026 "'start':'2026-01-01','end':'2026-12-31'"
#define Y2027 "'start':'2027-01-01','end':'2027-12-31'"

static void an_indicator_actual_may_be_appended(void **state)
{
    json_t *old = J(INDICATOR("{" Y2026 ",'actuals':[{'value':3}]}"));
    json_t *rec = J(INDICATOR("{" Y2026 ",'actuals':[{'value':3},{'value':5,"
                              "'recorded':'2026-09-30'}]}"));
    assert_int_equal(twin_record_validate(rec, old, NULL, NULL), 0);
    json_decref(old);
    json_decref(rec);
}

static void an_indicator_actual_cannot_be_edited(void **state)
{
    json_t *old = J(INDICATOR("{" Y2026 ",'actuals':[{'value':3},{'value':5}]}"));
    json_t *rec = J(INDICATOR("{" Y2026 ",'actuals':[{'value':3},{'value':6}]}"));
    assert_invalid(rec, old,
                   "indicator.periods[0].actuals: recorded actual 1 cannot be edited; add a new "
                   "one instead");
    json_decref(old);
    json_decref(rec);
}

static void an_indicator_actual_cannot_be_removed(void **state)
{
    json_t *old = J(INDICATOR("{" Y2026 ",'actuals':[{'value':3},{'value':5}]}"));
    json_t *rec = J(INDICATOR("{" Y2026 ",'actuals':[{'value':3}]}"));
    assert_invalid(rec, old,
                   "indicator.periods[0].actuals: recorded actuals cannot be removed; add a new "
                   "one instead");
    json_decref(old);
    json_decref(rec);
}

static void a_period_with_actuals_cannot_be_removed(void **state)
{
    json_t *old = J(INDICATOR("{" Y2026 "},{" Y2027 ",'actuals':[{'value':1}]}"));
    json_t *rec = J(INDICATOR("{" Y2026 "}"));
    assert_invalid(rec, old,
                   "indicator.periods[1].actuals: a period with recorded actuals cannot be "
                   "removed");
    json_decref(old);
    json_decref(rec);
}

static void a_period_without_actuals_may_be_removed_and_periods_reordered(void **state)
{
    json_t *old = J(INDICATOR("{" Y2026 ",'actuals':[{'value':3}]},{" Y2027 "}"));
    json_t *rec = J(INDICATOR("{" Y2026 ",'actuals':[{'value':3}]}"));
    assert_int_equal(twin_record_validate(rec, old, NULL, NULL), 0);
    json_decref(rec);
    json_decref(old);
    old = J(INDICATOR("{" Y2027 "},{" Y2026 ",'actuals':[{'value':3}]}"));
    rec = J(INDICATOR("{" Y2026 ",'actuals':[{'value':3}]},{" Y2027 "}"));
    assert_int_equal(twin_record_validate(rec, old, NULL, NULL), 0);
    json_decref(old);
    json_decref(rec);
}

/* ---- canonical form ------------------------------------------------------------------------- */

static char *canonical(const json_t *rec, size_t *len)
{
    char *text = NULL;
    size_t n = 0;
    assert_int_equal(twin_record_canonical(&text, &n, rec), 0);
    assert_non_null(text);
    assert_int_equal(strlen(text), n);
    if (len)
        *len = n;
    return text;
}

static void the_canonical_form_sorts_keys_indents_by_two_and_ends_with_a_newline(void **state)
{
    json_t *rec = J("{'type':'partnership','title':'Tax twinning','id':'" ID_SELF "',"
                    "'partnership_type':'twinning','sectors':[{'percentage':100,'code':'15111'}],"
                    "'dates':{'planned_start':'2026-01-01'}}");
    char *text = canonical(rec, NULL);
    assert_string_equal(text, "{\n"
                              "  \"dates\": {\n"
                              "    \"planned_start\": \"2026-01-01\"\n"
                              "  },\n"
                              "  \"id\": \"" ID_SELF "\",\n"
                              "  \"partnership_type\": \"twinning\",\n"
                              "  \"sectors\": [\n"
                              "    {\n"
                              "      \"code\": \"15111\",\n"
                              "      \"percentage\": 100\n"
                              "    }\n"
                              "  ],\n"
                              "  \"title\": \"Tax twinning\",\n"
                              "  \"type\": \"partnership\"\n"
                              "}\n");
    free(text);
    json_decref(rec);
}

static void the_canonical_form_keeps_utf8_unescaped(void **state)
{
    json_t *rec = J(NOTE(",'body':'Überblick – Dar es Salaam, 東京'"));
    char *text = canonical(rec, NULL);
    assert_non_null(strstr(text, "\"body\": \"Überblick – Dar es Salaam, 東京\""));
    assert_null(strstr(text, "\\u"));
    free(text);
    json_decref(rec);
}

static void the_canonical_form_writes_reals_briefly_and_apart_from_integers(void **state)
{
    json_t *rec = J("{'a':0.1,'b':100.0,'c':100,'d':-2.5,'e':1e21}");
    char *text = canonical(rec, NULL);
    assert_string_equal(text, "{\n"
                              "  \"a\": 0.1,\n"
                              "  \"b\": 100.0,\n"
                              "  \"c\": 100,\n"
                              "  \"d\": -2.5,\n"
                              "  \"e\": 1e21\n"
                              "}\n");
    free(text);
    json_decref(rec);
}

/* The stored record is the record that was validated: a real number is held at the canonical
 * precision (15 significant digits) from the moment it is read, so it keeps its value. */
static void a_real_number_keeps_its_value_through_the_canonical_form(void **state)
{
    static const char input[] =
        "{\"id\":\"0193a5c2-7b1e-7cc0-8d5e-1f2a3b4c5d6e\",\"type\":\"note\","
        "\"kind\":\"note\",\"title\":\"x\",\"score\":0.30000000000000004}";
    json_t *rec = NULL, *back = NULL;
    size_t len;
    assert_int_equal(twin_record_parse(&rec, input, sizeof(input) - 1), 0);
    assert_true(json_real_value(json_object_get(rec, "score")) == 0.3);
    char *text = canonical(rec, &len);
    assert_int_equal(twin_record_parse_canonical(&back, text, len), 0);
    if (!json_equal(rec, back))
        fail_msg("the value changed on the way through: %s", strstr(text, "\"score\""));
    free(text);
    json_decref(back);
    json_decref(rec);
}

static void a_canonical_record_parses_back_to_the_same_record(void **state)
{
    for (size_t i = 0; i < NCASES; i++) {
        json_t *rec = J(cases[i].minimal), *back = NULL;
        size_t len;
        char *text = canonical(rec, &len);
        assert_int_equal(twin_record_parse_canonical(&back, text, len), 0);
        assert_true(json_equal(rec, back));
        free(text);
        json_decref(back);
        json_decref(rec);
    }
}

static void assert_not_canonical(const char *text)
{
    json_t *out = (json_t *)1;
    assert_int_equal(twin_record_parse_canonical(&out, text, strlen(text)), TWIN_EINVALID);
    assert_string_equal(twin_error_last(), "record is not in canonical form");
}

static void parse_canonical_refuses_an_extra_space(void **state)
{
    assert_not_canonical("{\n  \"id\":  \"" ID_SELF "\",\n  \"kind\": \"note\",\n"
                         "  \"title\": \"Meet\",\n  \"type\": \"note\"\n}\n");
    assert_not_canonical("{\n  \"id\": \"" ID_SELF "\",\n  \"kind\": \"note\",\n"
                         "  \"title\": \"Meet\",\n  \"type\": \"note\"\n}\n ");
}

static void parse_canonical_refuses_unsorted_keys(void **state)
{
    assert_not_canonical("{\n  \"kind\": \"note\",\n  \"id\": \"" ID_SELF "\",\n"
                         "  \"title\": \"Meet\",\n  \"type\": \"note\"\n}\n");
}

static void parse_canonical_refuses_a_missing_final_newline(void **state)
{
    assert_not_canonical("{\n  \"id\": \"" ID_SELF "\",\n  \"kind\": \"note\",\n"
                         "  \"title\": \"Meet\",\n  \"type\": \"note\"\n}");
}

static void parse_canonical_refuses_crlf_and_escaped_utf8(void **state)
{
    assert_not_canonical("{\r\n  \"id\": \"" ID_SELF "\",\r\n  \"kind\": \"note\",\r\n"
                         "  \"title\": \"Meet\",\r\n  \"type\": \"note\"\r\n}\r\n");
    assert_not_canonical("{\n  \"id\": \"" ID_SELF "\",\n  \"kind\": \"note\",\n"
                         "  \"title\": \"\\u00dcberblick\",\n  \"type\": \"note\"\n}\n");
}

static void parse_canonical_accepts_exactly_the_canonical_bytes(void **state)
{
    const char *text = "{\n  \"id\": \"" ID_SELF "\",\n  \"kind\": \"note\",\n"
                       "  \"title\": \"Meet\",\n  \"type\": \"note\"\n}\n";
    json_t *out = NULL;
    assert_int_equal(twin_record_parse_canonical(&out, text, strlen(text)), 0);
    assert_string_equal(json_string_value(json_object_get(out, "title")), "Meet");
    json_decref(out);
}

/* ---- parse bounds --------------------------------------------------------------------------- */

static void parse_accepts_a_record_of_exactly_the_maximum_size(void **state)
{
    char *buf = malloc(TWIN_RECORD_MAX_BYTES);
    json_t *out = NULL;
    assert_non_null(buf);
    memset(buf, ' ', TWIN_RECORD_MAX_BYTES);
    memcpy(buf, "{}", 2);
    assert_int_equal(twin_record_parse(&out, buf, TWIN_RECORD_MAX_BYTES), 0);
    assert_true(json_is_object(out));
    json_decref(out);
    free(buf);
}

static void parse_refuses_a_record_over_the_maximum_size(void **state)
{
    char *buf = malloc(TWIN_RECORD_MAX_BYTES + 1);
    json_t *out = (json_t *)1;
    assert_non_null(buf);
    memset(buf, ' ', TWIN_RECORD_MAX_BYTES + 1);
    memcpy(buf, "{}", 2);
    assert_int_equal(twin_record_parse(&out, buf, TWIN_RECORD_MAX_BYTES + 1), TWIN_ELIMIT);
    assert_null(out);
    assert_string_equal(twin_error_last(), "record is larger than 1048576 bytes");
    free(buf);
}

/* The record object holding `levels` nested containers: {"a":[[...]]}. */
static char *nested(int levels)
{
    char *s = malloc((size_t)levels * 2 + 16);
    size_t n = 0;
    assert_non_null(s);
    memcpy(s, "{\"a\":", 5);
    n = 5;
    for (int i = 0; i < levels; i++)
        s[n++] = '[';
    for (int i = 0; i < levels; i++)
        s[n++] = ']';
    s[n++] = '}';
    s[n] = '\0';
    return s;
}

static void parse_accepts_nesting_up_to_the_limit(void **state)
{
    char *text = nested(TWIN_RECORD_MAX_DEPTH);
    json_t *out = NULL;
    assert_int_equal(twin_record_parse(&out, text, strlen(text)), 0);
    json_decref(out);
    free(text);
}

static void parse_refuses_nesting_deeper_than_the_limit(void **state)
{
    char *text = nested(TWIN_RECORD_MAX_DEPTH + 1);
    json_t *out = (json_t *)1;
    assert_int_equal(twin_record_parse(&out, text, strlen(text)), TWIN_ELIMIT);
    assert_null(out);
    assert_string_equal(twin_error_last(), "record is nested deeper than 8 levels");
    free(text);
}

static void parse_refuses_very_deep_nesting_as_over_the_limit(void **state)
{
    char *text = nested(5000);
    json_t *out = (json_t *)1;
    assert_int_equal(twin_record_parse(&out, text, strlen(text)), TWIN_ELIMIT);
    assert_null(out);
    free(text);
}

static void parse_refuses_duplicate_keys(void **state)
{
    const char *text = "{\"title\": \"a\", \"title\": \"b\"}";
    json_t *out = (json_t *)1;
    assert_int_equal(twin_record_parse(&out, text, strlen(text)), TWIN_EINVALID);
    assert_null(out);
    assert_non_null(strstr(twin_error_last(), "duplicate object key"));
}

static void parse_refuses_json_that_is_not_an_object(void **state)
{
    const char *scalars[] = {"\"note\"", "42", "null", "true"};
    json_t *out = (json_t *)1;
    assert_int_equal(twin_record_parse(&out, "[]", 2), TWIN_EINVALID);
    assert_null(out);
    assert_string_equal(twin_error_last(), "a record must be a JSON object");
    for (size_t i = 0; i < sizeof(scalars) / sizeof(scalars[0]); i++) {
        out = (json_t *)1;
        assert_int_equal(twin_record_parse(&out, scalars[i], strlen(scalars[i])), TWIN_EINVALID);
        assert_null(out);
        assert_non_null(strstr(twin_error_last(), "'[' or '{' expected"));
    }
}

static void parse_refuses_invalid_utf8(void **state)
{
    const char *text = "{\"title\": \"caf\xc3\"}";
    json_t *out = (json_t *)1;
    assert_int_equal(twin_record_parse(&out, text, strlen(text)), TWIN_EINVALID);
    assert_null(out);
    assert_true(strncmp(twin_error_last(), "not valid JSON (line 1, column ", 31) == 0);
}

static void parse_refuses_an_embedded_nul_and_trailing_garbage(void **state)
{
    const char nul[] = "{\"title\": \"a\\u0000b\"}";
    const char with_zero_byte[] = "{\"title\": \"a\"}\0";
    const char garbage[] = "{\"title\": \"a\"} x";
    json_t *out = NULL;
    assert_int_equal(twin_record_parse(&out, nul, sizeof(nul) - 1), TWIN_EINVALID);
    assert_int_equal(twin_record_parse(&out, with_zero_byte, sizeof(with_zero_byte) - 1),
                     TWIN_EINVALID);
    assert_int_equal(twin_record_parse(&out, garbage, sizeof(garbage) - 1), TWIN_EINVALID);
    assert_int_equal(twin_record_parse(&out, "", 0), TWIN_EINVALID);
}

/* ---- field paths ---------------------------------------------------------------------------- */

static json_t *fresh(const char *type)
{
    return json_pack("{s:s, s:s}", "id", ID_SELF, "type", type);
}

static void set_ok(json_t *rec, const char *path, const char *value)
{
    int rc = twin_record_set_path(rec, path, value);
    if (rc)
        fail_msg("set %s=%s: %d %s", path, value, rc, twin_error_last());
}

static void a_text_field_keeps_a_value_that_looks_like_a_number(void **state)
{
    json_t *rec = fresh("partnership");
    set_ok(rec, "title", "2026");
    assert_true(json_is_string(json_object_get(rec, "title")));
    assert_string_equal(json_string_value(json_object_get(rec, "title")), "2026");
    set_ok(rec, "summary", "true");
    assert_string_equal(json_string_value(json_object_get(rec, "summary")), "true");
    set_ok(rec, "subtype", "[1, 2]");
    assert_string_equal(json_string_value(json_object_get(rec, "subtype")), "[1, 2]");
    json_decref(rec);
}

static void a_code_or_date_field_keeps_its_text(void **state)
{
    json_t *rec = fresh("partnership");
    set_ok(rec, "status", "2");
    assert_string_equal(json_string_value(json_object_get(rec, "status")), "2");
    set_ok(rec, "dates.planned_start", "2026-01-01");
    assert_string_equal(json_string_value(twin_record_get_path(rec, "dates.planned_start")),
                        "2026-01-01");
    json_decref(rec);
}

static void json_kinds_take_numbers_booleans_lists_and_objects(void **state)
{
    json_t *rec = fresh("health_check");
    set_ok(rec, "scores.trust", "4");
    assert_true(json_is_integer(twin_record_get_path(rec, "scores.trust")));
    assert_int_equal(json_integer_value(twin_record_get_path(rec, "scores.trust")), 4);
    json_decref(rec);

    rec = fresh("partnership");
    set_ok(rec, "objectives", "[\"Audit manual\", \"Training plan\"]");
    assert_int_equal(json_array_size(json_object_get(rec, "objectives")), 2);
    set_ok(rec, "dates", "{\"planned_start\": \"2026-01-01\"}");
    assert_true(json_is_object(json_object_get(rec, "dates")));
    set_ok(rec, "withdrawn", "true");
    assert_true(json_is_true(json_object_get(rec, "withdrawn")));
    json_decref(rec);

    rec = fresh("indicator");
    set_ok(rec, "baseline.value", "0.5");
    assert_true(json_is_real(twin_record_get_path(rec, "baseline.value")));
    json_decref(rec);
}

static void a_dotted_path_creates_the_objects_on_its_way(void **state)
{
    json_t *rec = fresh("activity");
    set_ok(rec, "location.place", "Dodoma");
    assert_true(json_is_object(json_object_get(rec, "location")));
    assert_string_equal(json_string_value(twin_record_get_path(rec, "location.place")), "Dodoma");
    set_ok(rec, "location.country", "TZ");
    assert_int_equal(json_object_size(json_object_get(rec, "location")), 2);
    json_decref(rec);
}

static void null_removes_a_field(void **state)
{
    json_t *rec = fresh("note");
    set_ok(rec, "title", "Meet");
    set_ok(rec, "title", "null");
    assert_null(json_object_get(rec, "title"));
    set_ok(rec, "dates.planned_start", "null");
    assert_null(json_object_get(rec, "dates"));
    json_decref(rec);
}

static void id_and_type_cannot_be_set(void **state)
{
    json_t *rec = fresh("note");
    assert_int_equal(twin_record_set_path(rec, "id", ID_OTHER), TWIN_EINVALID);
    assert_string_equal(twin_error_last(), "id: set by twin, cannot be given");
    assert_int_equal(twin_record_set_path(rec, "type", "document"), TWIN_EINVALID);
    assert_string_equal(twin_error_last(), "type: set by twin, cannot be given");
    assert_string_equal(json_string_value(json_object_get(rec, "id")), ID_SELF);
    assert_string_equal(json_string_value(json_object_get(rec, "type")), "note");
    json_decref(rec);
}

static void malformed_paths_are_refused(void **state)
{
    const char *paths[] = {"", ".a", "a..b", "a."};
    json_t *rec = fresh("note");
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        char expect[96];
        assert_int_equal(twin_record_set_path(rec, paths[i], "x"), TWIN_EINVALID);
        snprintf(expect, sizeof(expect), "'%s' is not a field path (", paths[i]);
        assert_memory_equal(twin_error_last(), expect, strlen(expect));
    }
    assert_int_equal(json_object_size(rec), 2);
    json_decref(rec);
}

static void a_path_through_a_value_that_is_not_an_object_is_refused(void **state)
{
    json_t *rec = fresh("note");
    set_ok(rec, "kind", "note");
    assert_int_equal(twin_record_set_path(rec, "kind.x", "1"), TWIN_EINVALID);
    assert_string_equal(twin_error_last(), "kind.x: 'kind' is not an object");
    json_decref(rec);
}

static void a_list_field_refuses_text_that_is_not_json(void **state)
{
    json_t *rec = fresh("partnership");
    assert_int_equal(twin_record_set_path(rec, "objectives", "Audit manual"), TWIN_EINVALID);
    assert_true(strncmp(twin_error_last(), "objectives: expects a JSON list: ", 33) == 0);
    assert_int_equal(twin_record_set_path(rec, "dates", "[1"), TWIN_EINVALID);
    assert_true(strncmp(twin_error_last(), "dates: expects a JSON object: ", 30) == 0);
    assert_null(json_object_get(rec, "objectives"));
    json_decref(rec);
}

static void an_unknown_field_is_set_and_then_refused_by_validation(void **state)
{
    json_t *rec = fresh("note");
    set_ok(rec, "kind", "note");
    set_ok(rec, "title", "Meet");
    set_ok(rec, "colour", "blue");
    assert_string_equal(json_string_value(json_object_get(rec, "colour")), "blue");
    assert_invalid_from(rec, "note.colour: unknown field (");
    json_decref(rec);
}

static void a_value_over_the_field_limit_is_refused(void **state)
{
    char *big = malloc(TWIN_FIELD_MAX_BYTES + 2);
    json_t *rec = fresh("note");
    assert_non_null(big);
    memset(big, 'a', TWIN_FIELD_MAX_BYTES + 1);
    big[TWIN_FIELD_MAX_BYTES + 1] = '\0';
    assert_int_equal(twin_record_set_path(rec, "body", big), TWIN_ELIMIT);
    assert_string_equal(twin_error_last(), "body: value longer than 65536 bytes");
    big[TWIN_FIELD_MAX_BYTES] = '\0';
    set_ok(rec, "body", big);
    free(big);
    json_decref(rec);
}

static void a_value_that_is_not_utf8_is_refused(void **state)
{
    json_t *rec = fresh("note");
    assert_int_equal(twin_record_set_path(rec, "title", "caf\xc3"), TWIN_EINVALID);
    assert_string_equal(twin_error_last(), "title: value is not valid UTF-8");
    assert_int_equal(twin_record_set_path(rec, "colour", "caf\xc3"), TWIN_EINVALID);
    assert_string_equal(twin_error_last(), "colour: value is not valid UTF-8");
    json_decref(rec);
}

static void a_final_path_segment_that_is_not_utf8_is_refused_as_invalid(void **state)
{
    json_t *rec = fresh("note");
    assert_int_equal(twin_record_set_path(rec, "ti\xfftle", "Meet"), TWIN_EINVALID);
    assert_int_equal(json_object_size(rec), 2);
    json_decref(rec);
}

/* Run in a child: the fault this guards against is a use after free, which may crash. */
static void an_inner_path_segment_that_is_not_utf8_is_refused_as_invalid(void **state)
{
    fflush(NULL);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        json_t *rec = fresh("note");
        int rc = twin_record_set_path(rec, "\xff.a", "1");
        bool untouched = json_object_size(rec) == 2;
        json_decref(rec);
        _exit(rc == TWIN_EINVALID && untouched ? 0 : rc == 0 ? 100 : -rc);
    }
    int status = 0;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    if (WIFSIGNALED(status))
        fail_msg("set_path(\"\\xff.a\", \"1\") crashed with signal %d", WTERMSIG(status));
    if (WEXITSTATUS(status) != 0)
        fail_msg("set_path(\"\\xff.a\", \"1\") returned %d, not TWIN_EINVALID (%d)",
                 WEXITSTATUS(status) == 100 ? 0 : -WEXITSTATUS(status), TWIN_EINVALID);
}

/* ---- list items in paths -------------------------------------------------------------------- */

#define TWO_PERIODS INDICATOR("{" Y2026 "},{" Y2027 "}")

/* set_path or append_path refuses with exactly message, and rec is as it was. */
static void assert_path_refused(json_t *rec, const char *path, bool append, const char *value,
                                const char *message)
{
    json_t *before = json_deep_copy(rec);
    int rc =
        append ? twin_record_append_path(rec, path, value) : twin_record_set_path(rec, path, value);
    if (rc != TWIN_EINVALID)
        fail_msg("%s%s%s: expected TWIN_EINVALID, got %d", path, append ? "+=" : "=", value, rc);
    assert_string_equal(twin_error_last(), message);
    assert_true(json_equal(before, rec));
    json_decref(before);
}

static void assign_ok(json_t *rec, const char *text)
{
    int rc = twin_record_assign(rec, text);
    if (rc)
        fail_msg("%s: %d %s", text, rc, twin_error_last());
}

static void an_index_sets_a_field_inside_an_item(void **state)
{
    json_t *rec = J(TWO_PERIODS);
    assign_ok(rec, "periods[1].target.value=40");
    json_t *target = json_object_get(json_array_get(json_object_get(rec, "periods"), 1), "target");
    assert_true(json_is_integer(json_object_get(target, "value")));
    assert_int_equal(json_integer_value(json_object_get(target, "value")), 40);
    assert_null(json_object_get(json_array_get(json_object_get(rec, "periods"), 0), "target"));
    assert_valid(rec);
    json_decref(rec);
}

static void append_adds_an_item_to_a_nested_list_it_creates(void **state)
{
    json_t *rec = J(TWO_PERIODS), *old = J(TWO_PERIODS);
    assign_ok(rec, "periods[0].actuals+={\"value\":12,\"recorded\":\"2026-03-31\"}");
    assign_ok(rec, "periods[0].actuals+={\"value\":15.5}");
    json_t *actuals =
        json_object_get(json_array_get(json_object_get(rec, "periods"), 0), "actuals");
    assert_int_equal(json_array_size(actuals), 2);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(actuals, 0), "value")), 12);
    assert_string_equal(json_string_value(json_object_get(json_array_get(actuals, 0), "recorded")),
                        "2026-03-31");
    assert_true(json_is_real(json_object_get(json_array_get(actuals, 1), "value")));
    assert_int_equal(twin_record_validate(rec, old, NULL, NULL), 0);
    json_decref(old);
    json_decref(rec);
}

static void append_creates_an_absent_list_and_the_objects_on_its_way(void **state)
{
    json_t *rec = fresh("partnership");
    assign_ok(rec, "objectives+=Audit manual");
    assign_ok(rec, "objectives+=2026");
    json_t *objectives = json_object_get(rec, "objectives");
    assert_int_equal(json_array_size(objectives), 2);
    assert_string_equal(json_string_value(json_array_get(objectives, 0)), "Audit manual");
    assert_string_equal(json_string_value(json_array_get(objectives, 1)), "2026");
    json_decref(rec);

    rec = fresh("note");
    assign_ok(rec, "extra.tags+=[1]");
    assert_int_equal(json_array_size(json_array_get(twin_record_get_path(rec, "extra.tags"), 0)),
                     1);
    json_decref(rec);
}

static void an_item_is_replaced_and_an_item_removed_by_index(void **state)
{
    json_t *rec = fresh("partnership");
    set_ok(rec, "objectives", "[\"Audit manual\", \"Training plan\", \"Study tour\"]");
    set_ok(rec, "objectives[0]", "Revised audit manual");
    set_ok(rec, "objectives[1]", "null");
    json_t *objectives = json_object_get(rec, "objectives");
    assert_int_equal(json_array_size(objectives), 2);
    assert_string_equal(json_string_value(json_array_get(objectives, 0)), "Revised audit manual");
    assert_string_equal(json_string_value(json_array_get(objectives, 1)), "Study tour");
    set_ok(rec, "objectives[1]", "null");
    set_ok(rec, "objectives[0]", "null");
    assert_int_equal(json_array_size(json_object_get(rec, "objectives")), 0);
    json_decref(rec);
}

static void a_whole_item_is_replaced_from_json(void **state)
{
    json_t *rec = J(TWO_PERIODS);
    set_ok(rec, "periods[1]", "{\"start\":\"2028-01-01\",\"end\":\"2028-12-31\"}");
    assert_string_equal(json_string_value(twin_record_get_path(
                            json_array_get(json_object_get(rec, "periods"), 1), "start")),
                        "2028-01-01");
    assert_int_equal(twin_record_set_path(rec, "periods[1]", "next year"), TWIN_EINVALID);
    assert_true(strncmp(twin_error_last(), "periods[1]: expects a JSON object: ", 35) == 0);
    json_decref(rec);
}

static void a_deep_path_reaches_a_field_of_an_item_of_an_item(void **state)
{
    json_t *rec = J(INDICATOR("{" Y2026 ",'actuals':[{'value':3},{'value':5}]}"));
    set_ok(rec, "periods[0].actuals[1].comment", "Counted in Dodoma — ሰላም ✓");
    json_t *actual = json_array_get(
        json_object_get(json_array_get(json_object_get(rec, "periods"), 0), "actuals"), 1);
    assert_string_equal(json_string_value(json_object_get(actual, "comment")),
                        "Counted in Dodoma — ሰላም ✓");
    assign_ok(rec, "periods[0].actuals+={\"value\":7,\"comment\":\"Ukaguzi — ✓ 監査\"}");
    actual = json_array_get(
        json_object_get(json_array_get(json_object_get(rec, "periods"), 0), "actuals"), 2);
    assert_string_equal(json_string_value(json_object_get(actual, "comment")), "Ukaguzi — ✓ 監査");
    assert_valid(rec);
    json_decref(rec);
}

static void an_index_past_the_end_or_into_an_absent_list_is_refused(void **state)
{
    json_t *rec = J(TWO_PERIODS);
    assert_path_refused(rec, "periods[2].target.value", false, "40",
                        "periods[2].target.value: no item 2: 'periods' has 2 items (add one "
                        "with periods+=VALUE)");
    assert_path_refused(rec, "periods[2]", false, "null",
                        "periods[2]: no item 2: 'periods' has 2 items (add one with "
                        "periods+=VALUE)");
    assert_path_refused(rec, "periods[99999999999]", false, "{}",
                        "periods[99999999999]: no item 99999999999: 'periods' has 2 items (add "
                        "one with periods+=VALUE)");
    assert_path_refused(rec, "periods[0].actuals[0].value", false, "1",
                        "periods[0].actuals[0].value: no item 0: 'periods[0].actuals' is absent "
                        "(add an item with periods[0].actuals+=VALUE)");
    assert_path_refused(rec, "periods[0].actuals[0]", false, "null",
                        "periods[0].actuals[0]: no item 0: 'periods[0].actuals' is absent (add "
                        "an item with periods[0].actuals+=VALUE)");
    json_decref(rec);
}

static void a_negative_or_non_numeric_index_is_refused(void **state)
{
    const char *indexes[] = {"-1", "x", "", "01", "1.5", " 1", "+1"};
    json_t *rec = J(TWO_PERIODS);
    for (size_t i = 0; i < sizeof(indexes) / sizeof(indexes[0]); i++) {
        char path[64], message[200];
        snprintf(path, sizeof(path), "periods[%s].start", indexes[i]);
        snprintf(message, sizeof(message),
                 "%s: [%s] is not an item number (items are numbered 0, 1, 2, ... from the "
                 "first)",
                 path, indexes[i]);
        if (strchr(indexes[i], '.')) /* the '.' ends the index before its ']' */
            snprintf(message, sizeof(message), "'%s' is not a field path (", path);
        int rc = twin_record_set_path(rec, path, "2026-02-01");
        assert_int_equal(rc, TWIN_EINVALID);
        if (strncmp(twin_error_last(), message, strlen(message)) != 0)
            fail_msg("%s: \"%s\" does not begin with \"%s\"", path, twin_error_last(), message);
    }
    json_decref(rec);
}

static void malformed_list_paths_are_refused(void **state)
{
    const char *paths[] = {"[0]",         "periods[0",   "periods]",     "periods[0]x",
                           "periods.[0]", "periods[0].", "periods[[0]]", "periods[0]]"};
    json_t *rec = J(TWO_PERIODS);
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        char expect[96];
        assert_int_equal(twin_record_set_path(rec, paths[i], "x"), TWIN_EINVALID);
        snprintf(expect, sizeof(expect), "'%s' is not a field path (", paths[i]);
        if (strncmp(twin_error_last(), expect, strlen(expect)) != 0)
            fail_msg("\"%s\" does not begin with \"%s\"", twin_error_last(), expect);
    }
    json_decref(rec);
}

static void append_to_what_is_not_a_list_is_refused(void **state)
{
    json_t *rec = J(TWO_PERIODS);
    assert_path_refused(rec, "title", true, "x",
                        "title: 'title' is not a list: += appends an item to a list");
    assert_path_refused(rec, "periods[0].target", true, "{\"value\":1}",
                        "periods[0].target: 'periods[0].target' is not a list: += appends an "
                        "item to a list");
    assert_path_refused(rec, "periods[0]", true, "{}",
                        "periods[0]: 'periods[0]' is not a list: += appends an item to a list");
    json_decref(rec);

    rec = fresh("note");
    set_ok(rec, "colour", "blue");
    assert_path_refused(rec, "colour", true, "red",
                        "colour: 'colour' is not a list: += appends an item to a list");
    json_decref(rec);
}

static void an_index_into_what_is_not_a_list_is_refused(void **state)
{
    json_t *rec = J(TWO_PERIODS);
    assert_path_refused(rec, "title[0]", false, "x", "title[0]: 'title' is not a list");
    assert_path_refused(rec, "periods[0].start[1]", false, "x",
                        "periods[0].start[1]: 'periods[0].start' is not a list");
    assert_path_refused(rec, "periods[0].target.value.x", false, "1",
                        "periods[0].target.value.x: 'periods[0].target.value' is not an object");
    json_decref(rec);

    rec = fresh("note");
    set_ok(rec, "colour", "blue");
    assert_path_refused(rec, "colour[0]", false, "x", "colour[0]: 'colour' is not a list");
    set_ok(rec, "shades", "[\"red\"]");
    assert_path_refused(rec, "shades.dark", false, "x", "shades.dark: 'shades' is not an object");
    json_decref(rec);
}

static void null_is_not_an_item_to_append(void **state)
{
    json_t *rec = fresh("partnership");
    assert_path_refused(rec, "objectives", true, "null",
                        "objectives: null is not a list item (objectives[N]=null removes item "
                        "N)");
    json_decref(rec);
}

static void id_and_type_cannot_be_reached_by_any_path(void **state)
{
    json_t *rec = fresh("note");
    assert_path_refused(rec, "id[0]", false, "x", "id[0]: set by twin, cannot be given");
    assert_path_refused(rec, "type", true, "x", "type: set by twin, cannot be given");
    assert_path_refused(rec, "type.x", false, "x", "type.x: set by twin, cannot be given");
    json_decref(rec);
}

static void an_appended_actual_is_still_checked_by_validation(void **state)
{
    json_t *rec = J(TWO_PERIODS);
    assign_ok(rec, "periods[0].actuals+={\"value\":\"many\"}");
    assert_invalid(rec, NULL, "indicator.periods[0].actuals[0].value: must be a number");
    json_decref(rec);

    json_t *old = J(INDICATOR("{" Y2026 ",'actuals':[{'value':3}]}"));
    rec = json_deep_copy(old);
    set_ok(rec, "periods[0].actuals[0]", "null");
    assert_invalid(rec, old,
                   "indicator.periods[0].actuals: recorded actuals cannot be removed; add a new "
                   "one instead");
    json_decref(old);
    json_decref(rec);
}

static void an_assignment_splits_at_its_first_equals_sign(void **state)
{
    struct twin_record_assignment a;
    assert_int_equal(twin_record_assignment_parse(&a, "periods[0].actuals+={\"value\":12}"), 0);
    assert_string_equal(a.path, "periods[0].actuals");
    assert_true(a.append);
    assert_string_equal(a.value, "{\"value\":12}");
    assert_int_equal(twin_record_assignment_parse(&a, "body=a=b+=c"), 0);
    assert_string_equal(a.path, "body");
    assert_false(a.append);
    assert_string_equal(a.value, "a=b+=c");
    assert_int_equal(twin_record_assignment_parse(&a, "title="), 0);
    assert_string_equal(a.value, "");
    const char *bad[] = {"title", "=x", "+=x", ""};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char expect[64];
        assert_int_equal(twin_record_assignment_parse(&a, bad[i]), TWIN_EINVALID);
        snprintf(expect, sizeof(expect), "'%s' is not FIELD=VALUE or LIST+=VALUE", bad[i]);
        assert_string_equal(twin_error_last(), expect);
    }
    json_t *rec = fresh("note");
    assert_int_equal(twin_record_assign(rec, "ti+tle=x"), TWIN_EINVALID);
    assert_true(strncmp(twin_error_last(), "'ti+tle' is not a field path (", 30) == 0);
    assert_int_equal(json_object_size(rec), 2);
    json_decref(rec);
}

static void get_path_reads_nested_values(void **state)
{
    json_t *rec = J(PARTNERSHIP_WITH("'dates':{'planned_start':'2026-01-01'}"));
    assert_string_equal(json_string_value(twin_record_get_path(rec, "dates.planned_start")),
                        "2026-01-01");
    assert_null(twin_record_get_path(rec, "dates.planned_end"));
    assert_null(twin_record_get_path(rec, "title.x"));
    assert_ptr_equal(twin_record_get_path(rec, ""), rec);
    json_decref(rec);
}

static void flatten_gives_every_leaf_at_its_dotted_path(void **state)
{
    json_t *rec = J(PARTNERSHIP_WITH("'dates':{'planned_start':'2026-01-01'},'agreements':[],"
                                     "'sectors':[{'code':'14010','percentage':100}]"));
    json_object_set_new(json_object_get(rec, "dates"), "actual", json_object());
    json_t *flat = json_object();
    assert_int_equal(twin_record_flatten(flat, rec), 0);
    assert_string_equal(json_string_value(json_object_get(flat, "dates.planned_start")),
                        "2026-01-01");
    assert_true(json_is_object(json_object_get(flat, "dates.actual")));     /* empty: a leaf */
    assert_int_equal(json_array_size(json_object_get(flat, "sectors")), 1); /* lists whole */
    assert_non_null(json_object_get(flat, "agreements"));
    assert_string_equal(json_string_value(json_object_get(flat, "title")), "Tax twinning");
    assert_null(json_object_get(flat, "dates"));
    json_decref(flat);
    json_decref(rec);
}

static void diff_names_the_leaves_that_differ_in_order(void **state)
{
    json_t *a = J(PARTNERSHIP_WITH("'status':'2','dates':{'planned_start':'2026-01-01'}"));
    json_t *b = J(PARTNERSHIP_WITH("'summary':'Tax','dates':{'planned_start':'2026-02-01'}"));
    json_t *d = twin_record_diff(a, b);
    assert_non_null(d);
    assert_int_equal(json_array_size(d), 3);
    assert_string_equal(json_string_value(json_array_get(d, 0)), "dates.planned_start");
    assert_string_equal(json_string_value(json_array_get(d, 1)), "status");  /* only in a */
    assert_string_equal(json_string_value(json_array_get(d, 2)), "summary"); /* only in b */
    json_decref(d);
    d = twin_record_diff(a, a);
    assert_int_equal(json_array_size(d), 0);
    json_decref(d);
    json_decref(a);
    json_decref(b);
}

/* ---- defaults and titles -------------------------------------------------------------------- */

static void a_new_note_is_of_kind_note_unless_given(void **state)
{
    json_t *rec = fresh("note");
    assert_int_equal(twin_record_apply_defaults(rec), 0);
    assert_string_equal(json_string_value(json_object_get(rec, "kind")), "note");
    json_object_set_new(rec, "kind", json_string("decision"));
    assert_int_equal(twin_record_apply_defaults(rec), 0);
    assert_string_equal(json_string_value(json_object_get(rec, "kind")), "decision");
    json_decref(rec);

    rec = fresh("document");
    assert_int_equal(twin_record_apply_defaults(rec), 0);
    assert_null(json_object_get(rec, "kind"));
    json_decref(rec);
}

static void the_title_is_the_field_that_names_the_record(void **state)
{
    json_t *rec = J(cases[0].minimal);
    assert_string_equal(twin_record_title(rec), "Ministry of Example");
    json_decref(rec);
    rec = J(cases[6].minimal);
    assert_string_equal(twin_record_title(rec), "Files and contacts passed on");
    json_decref(rec);
    rec = J("{'type':'meeting'}");
    assert_string_equal(twin_record_title(rec), "");
    json_decref(rec);
}

/* ---- ids and paths -------------------------------------------------------------------------- */

static void a_new_id_is_a_version_7_uuid(void **state)
{
    char id[TWIN_ID_LEN + 1];
    twin_record_new_id(id);
    assert_int_equal(strlen(id), TWIN_ID_LEN);
    assert_true(twin_record_id_valid(id));
    assert_int_equal(id[14], '7');
    assert_non_null(strchr("89ab", id[19]));
}

static int compare_ids(const void *a, const void *b)
{
    return strcmp(a, b);
}

static void ten_thousand_new_ids_are_unique_and_time_ordered(void **state)
{
    enum { N = 10000 };
    char(*ids)[TWIN_ID_LEN + 1] = malloc(N * sizeof(*ids));
    assert_non_null(ids);
    for (int i = 0; i < N; i++) {
        twin_record_new_id(ids[i]);
        assert_int_equal(ids[i][14], '7');
        assert_non_null(strchr("89ab", ids[i][19]));
        /* The first 48 bits (13 characters with the hyphen) are the time in milliseconds. */
        if (i > 0)
            assert_true(memcmp(ids[i - 1], ids[i], 13) <= 0);
    }
    qsort(ids, N, sizeof(*ids), compare_ids);
    for (int i = 1; i < N; i++)
        assert_string_not_equal(ids[i - 1], ids[i]);
    free(ids);
}

static void id_valid_wants_the_lowercase_8_4_4_4_12_form(void **state)
{
    assert_true(twin_record_id_valid(ID_SELF));
    assert_false(twin_record_id_valid(NULL));
    assert_false(twin_record_id_valid(""));
    assert_false(twin_record_id_valid("0190F5A2-7C1E-7A3B-9C4D-5E6F7A8B9C0D"));
    assert_false(twin_record_id_valid("0190f5a2-7c1e-7a3b-9c4d-5e6f7a8b9c0"));
    assert_false(twin_record_id_valid("0190f5a2-7c1e-7a3b-9c4d-5e6f7a8b9c0d0"));
    assert_false(twin_record_id_valid("0190f5a27-c1e-7a3b-9c4d-5e6f7a8b9c0d"));
    assert_false(twin_record_id_valid("0190f5a2-7c1e-7a3b-9c4d-5e6f7a8b9c0g"));
    assert_false(twin_record_id_valid("0190f5a2x7c1e-7a3b-9c4d-5e6f7a8b9c0d"));
}

static void the_path_buckets_by_the_last_two_hex_digits_and_parses_back(void **state)
{
    for (size_t i = 0; i < NCASES; i++) {
        char id[TWIN_ID_LEN + 1], path[128], expect[128], type[32], id_back[TWIN_ID_LEN + 1];
        twin_record_new_id(id);
        assert_int_equal(twin_record_path(path, sizeof(path), cases[i].type, id), 0);
        snprintf(expect, sizeof(expect), "records/%s/%s/%s.json", cases[i].type, id + 34, id);
        assert_string_equal(path, expect);
        assert_int_equal(twin_record_parse_path(type, id_back, path), 0);
        assert_string_equal(type, cases[i].type);
        assert_string_equal(id_back, id);
    }
    char path[128];
    assert_int_equal(twin_record_path(path, sizeof(path), "note", ID_SELF), 0);
    assert_string_equal(path, "records/note/0d/" ID_SELF ".json");
}

static void a_path_is_refused_for_an_unknown_type_a_bad_id_or_a_small_buffer(void **state)
{
    char path[128];
    assert_int_equal(twin_record_path(path, sizeof(path), "meeting", ID_SELF), TWIN_EINVALID);
    assert_string_equal(twin_error_last(), "unknown record type 'meeting'");
    assert_int_equal(twin_record_path(path, sizeof(path), "note", "kick-off"), TWIN_EINVALID);
    assert_string_equal(twin_error_last(), "'kick-off' is not a record id");
    assert_int_equal(twin_record_path(path, 20, "note", ID_SELF), TWIN_ELIMIT);
}

static void malformed_record_paths_are_refused(void **state)
{
    const char *paths[] = {
        "",
        "records/",
        "records/note/0d/" ID_SELF,
        "records/note/0d/" ID_SELF ".json/",
        "records/note/0e/" ID_SELF ".json",
        "records/meeting/0d/" ID_SELF ".json",
        "records/note/0d0d/" ID_SELF ".json",
        "records/note/" ID_SELF ".json",
        "records/note/0D/0190F5A2-7C1E-7A3B-9C4D-5E6F7A8B9C0D.json",
        "records/note/0d/" ID_SELF ".JSON",
        "records/note//" ID_SELF ".json",
        "records/note/0d/x" ID_SELF ".jso",
        "/records/note/0d/" ID_SELF ".json",
        "members/note/0d/" ID_SELF ".json",
        "records/notes-and-more-than-thirty-two-characters/0d/" ID_SELF ".json",
    };
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        char type[32], id[TWIN_ID_LEN + 1], expect[256];
        if (twin_record_parse_path(type, id, paths[i]) != TWIN_EINVALID)
            fail_msg("'%s' was taken for a record path", paths[i]);
        snprintf(expect, sizeof(expect),
                 "'%s' is not a record path (records/<type>/<xx>/<id>.json)", paths[i]);
        assert_string_equal(twin_error_last(), expect);
    }
}

/* Records a recommendation refers to, by id (the ctx of lookup_kinds). */
static int lookup_kinds(json_t **out, const char *type, const char *id, void *ctx)
{
    json_t *rec = json_object_get(ctx, id);
    if (out)
        *out = NULL;
    if (!rec || strcmp(json_string_value(json_object_get(rec, "type")), type) != 0)
        return TWIN_ENOTFOUND;
    if (out)
        *out = json_incref(rec);
    return 0;
}

static void
a_recommendation_comes_from_an_evaluation_or_review_and_follows_up_with_actions(void **state)
{
    (void)state;
    json_t *known = J("{'" ID_DOC "':{'type':'document','kind':'evaluation'},"
                      "'" ID_OTHER "':{'type':'document','kind':'minutes'},"
                      "'" ID_PART "':{'type':'activity','kind':'review'},"
                      "'" ID_RESULT "':{'type':'note','kind':'action'},"
                      "'" ID_POST "':{'type':'note','kind':'risk'},"
                      "'" ID_INST "':{'type':'institution'}}");
    static const struct {
        const char *fields, *message;
    } rcases[] = {
        {"'document':'" ID_DOC "'", NULL},
        {"'activity':'" ID_PART "'", NULL},
        {"'document':'" ID_DOC "','activity':'" ID_PART "','actions':['" ID_RESULT "']", NULL},
        {"'response':{'decision':'partially','comment':'Half of it'},'document':'" ID_DOC "'",
         NULL},
        {"'title':'x'", "recommendation.document: a recommendation comes from an evaluation "
                        "document or a review activity: give document, activity or both"},
        {"'document':'" ID_OTHER "'",
         "recommendation.document: a recommendation comes from an evaluation document, and "
         "document " ID_OTHER " is a minutes"},
        {"'document':'" ID_DOC "','actions':['" ID_POST "']",
         "recommendation.actions[0]: a follow-up is a note of kind action, and note " ID_POST
         " is a risk"},
        {"'document':'" ID_DOC "','response':{'decision':'maybe'}",
         "recommendation.response.decision: 'maybe' is not one of accepted | partially | rejected"},
    };
    for (size_t i = 0; i < sizeof(rcases) / sizeof(rcases[0]); i++) {
        char text[1024];
        snprintf(text, sizeof(text),
                 "{'id':'" ID_SELF "','type':'recommendation','title':'Publish the plan',"
                 "'text':'Share it','addressee':'" ID_INST "',%s}",
                 rcases[i].fields);
        json_t *rec = J(text);
        json_object_set_new(rec, "title", json_string("Publish the plan"));
        int rc = twin_record_validate(rec, NULL, lookup_kinds, known);
        if (!rcases[i].message && rc)
            fail_msg("case %zu: expected valid, got: %s", i, twin_error_last());
        if (rcases[i].message) {
            assert_int_equal(rc, TWIN_EINVALID);
            assert_string_equal(twin_error_last(), rcases[i].message);
        }
        json_decref(rec);
    }
    json_decref(known);
}

static int setup_global(void **state)
{
    return twin_global_init(false) == 0 ? 0 : -1;
}

/* The words of a record are its text fields' (within objects and lists too) but its title, id
 * and type; codes, dates, references and numbers are not words. */
static void a_records_words_are_its_text(void **state)
{
    (void)state;
    json_t *rec = json_pack("{s:s, s:s, s:s, s:s, s:s, s:[s, s], s:{s:s}}", "id",
                            "01a25238-ef54-767d-8f20-627028448766", "type", "partnership", "title",
                            "Tax twinning", "partnership_type", "twinning", "summary",
                            "Peer support", "objectives", "Faster refunds", "Fewer audits", "dates",
                            "planned_start", "2026-01-01");
    assert_non_null(rec);
    char *words = twin_record_words(rec);
    assert_string_equal(words, "Peer support\nFaster refunds\nFewer audits\n");
    free(words);
    json_decref(rec);
    rec = json_pack("{s:s}", "type", "no such type");
    words = twin_record_words(rec);
    assert_string_equal(words, "");
    free(words);
    json_decref(rec);
}

/* title, summary, description and body may be given in several languages, as IATI's narratives
 * are: each text checked as the plain string would be, the codes ISO 639-1's. */
static void a_text_may_be_given_in_several_languages(void **state)
{
    (void)state;
    assert_text_valid("{'id':'" ID_SELF "','type':'note','kind':'note','title':{'en':'Kick-off',"
                      "'fr':'Lancement'},'body':{'fr':'Deux lignes\\nici'}}");
    assert_text_invalid("{'id':'" ID_SELF
                        "','type':'note','kind':'note','title':{'xx':'Kick-off'}}",
                        "note.title.xx: 'xx' is not a language code (ISO 639-1)");
    assert_text_invalid("{'id':'" ID_SELF
                        "','type':'note','kind':'note','title':{'EN':'Kick-off'}}",
                        "note.title.EN: 'EN' is not a language code (ISO 639-1)");
    assert_text_invalid("{'id':'" ID_SELF "','type':'note','kind':'note','title':{}}",
                        "note.title: a map of languages needs at least one");
    assert_text_invalid("{'id':'" ID_SELF "','type':'note','kind':'note','title':{'en':'a\\nb'}}",
                        "note.title.en: must be one line without control characters");
    assert_text_invalid("{'id':'" ID_SELF "','type':'note','kind':'note','title':{'en':''}}",
                        "note.title.en: must not be empty");
    assert_text_invalid("{'id':'" ID_SELF "','type':'note','kind':'note','title':{'en':3}}",
                        "note.title.en: must be a string");
    /* a field of another name keeps to plain text */
    assert_text_invalid("{'id':'" ID_SELF "','type':'person','name':{'en':'Ana Example'}}",
                        "person.name: must be a string");
    json_t *rec = J("{'id':'" ID_SELF "','type':'note','kind':'note','title':{}}");
    json_t *map = json_object_get(rec, "title");
    static const char *const codes[] = {"aa", "ab", "af", "ak", "am", "an", "ar", "as", "av",
                                        "ay", "az", "ba", "be", "bg", "bh", "bi", "bm", "bn",
                                        "bo", "br", "bs", "ca", "ce", "ch", "co", "cr", "cs",
                                        "dz", "cv", "cy", "da", "de", "dv"};
    for (size_t i = 0; i < 32; i++)
        json_object_set_new(map, codes[i], json_string("Kick-off"));
    assert_valid(rec);
    json_object_set_new(map, codes[32], json_string("Kick-off"));
    assert_invalid(rec, NULL, "note.title: 33 languages, more than the 32 a text may have");
    json_decref(rec);
    /* twin schema says which fields take languages */
    json_t *d = twin_schema_describe("note");
    size_t i;
    json_t *f;
    int with = 0;
    json_array_foreach(json_object_get(d, "fields"), i, f)
    {
        const char *name = json_string_value(json_object_get(f, "name"));
        bool lang = json_is_true(json_object_get(f, "languages"));
        assert_int_equal(lang, strcmp(name, "title") == 0 || strcmp(name, "body") == 0);
        with += lang;
    }
    assert_int_equal(with, 2);
    json_decref(d);
}

/* value equals the JSON text (single quotes for double) */
static void assert_json_is(const json_t *value, const char *text)
{
    json_t *want = J(text);
    bool same = json_equal((json_t *)value, want);
    json_decref(want);
    assert_true(same);
}

/* The text shown of one in several languages: the one asked for, else the partnership's
 * language, else English, else the first in code order. */
static void the_text_shown_is_the_language_asked_for_or_a_fallback(void **state)
{
    (void)state;
    json_t *map = J("{'fr':'Lancement','de':'Auftakt','en':'Kick-off'}");
    const char *chosen = NULL;
    assert_string_equal(twin_record_text(map, "fr", "de", &chosen), "Lancement");
    assert_string_equal(chosen, "fr");
    assert_string_equal(twin_record_text(map, "es", "de", &chosen), "Auftakt");
    assert_string_equal(chosen, "de");
    assert_string_equal(twin_record_text(map, "es", "pt", &chosen), "Kick-off");
    assert_string_equal(chosen, "en");
    assert_string_equal(twin_record_text(map, NULL, NULL, &chosen), "Kick-off");
    json_object_del(map, "en");
    assert_string_equal(twin_record_text(map, "es", NULL, &chosen), "Auftakt");
    assert_string_equal(chosen, "de"); /* the first in code order, whatever the map's order */
    json_decref(map);
    json_t *plain = json_string("Kick-off");
    assert_string_equal(twin_record_text(plain, "fr", NULL, &chosen), "Kick-off");
    assert_null(chosen);
    json_decref(plain);
    assert_null(twin_record_text(NULL, "fr", NULL, NULL));

    /* a partnership falls back to its own language; other records to none of their own */
    json_t *rec = J("{'type':'partnership','language':'fr','title':{'en':'Tax twinning',"
                    "'fr':'Jumelage fiscal'}}");
    assert_string_equal(twin_record_title(rec), "Jumelage fiscal");
    assert_string_equal(twin_record_title_in(rec, "en", NULL), "Tax twinning");
    json_decref(rec);
    rec = J("{'type':'note','title':{'es':'Acta','fr':'Compte rendu'},'body':{'fr':'Texte'}}");
    assert_string_equal(twin_record_title(rec), "Acta");
    assert_string_equal(twin_record_title_in(rec, "de", "fr"), "Compte rendu");
    /* the title's other languages are words too: search finds it by any of them */
    char *words = twin_record_words(rec);
    assert_string_equal(words, "Compte rendu\nTexte\n");
    free(words);
    json_t *shown = twin_record_localise(rec, "fr", NULL, NULL, NULL);
    assert_string_equal(json_string_value(json_object_get(shown, "title")), "Compte rendu");
    assert_string_equal(json_string_value(json_object_get(shown, "body")), "Texte");
    assert_true(json_is_object(json_object_get(rec, "title"))); /* rec itself unchanged */
    json_decref(shown);
    json_decref(rec);
}

static void one_language_of_a_text_is_set_by_its_code(void **state)
{
    (void)state;
    json_t *rec = J("{'id':'" ID_SELF "','type':'note','kind':'note','title':'Kick-off'}");
    set_ok(rec, "title.fr", "Lancement");
    assert_json_is(json_object_get(rec, "title"), "{'en':'Kick-off','fr':'Lancement'}");
    assert_int_equal(twin_record_assign_in(rec, "body.de=Text", "fr"), 0);
    assert_json_is(json_object_get(rec, "body"), "{'de':'Text'}");
    assert_int_equal(twin_record_assign_in(rec, "title.es=Acta", "fr"), 0);
    assert_int_equal(json_object_size(json_object_get(rec, "title")), 3);
    assert_valid(rec);
    set_ok(rec, "title.xx", "Nope");
    assert_invalid(rec, NULL, "note.title.xx: 'xx' is not a language code (ISO 639-1)");
    set_ok(rec, "title", "Plain again");
    assert_string_equal(json_string_value(json_object_get(rec, "title")), "Plain again");
    /* a plain title kept in the partnership's own language when it has one */
    json_t *p = J("{'id':'" ID_SELF "','type':'partnership','language':'fr','title':'Jumelage'}");
    set_ok(p, "title.en", "Twinning");
    assert_json_is(json_object_get(p, "title"), "{'fr':'Jumelage','en':'Twinning'}");
    set_ok(p, "summary", "{\"en\": \"Peer support\", \"fr\": \"Appui\"}");
    assert_true(json_is_object(json_object_get(p, "summary")));
    /* text that only looks like JSON stays text */
    set_ok(p, "summary", "{\"sealed\": {}}");
    assert_string_equal(json_string_value(json_object_get(p, "summary")), "{\"sealed\": {}}");
    /* a field that takes no languages has no name below it */
    assert_int_equal(twin_record_set_path(p, "subtype.fr", "x"), TWIN_EINVALID);
    assert_string_equal(twin_error_last(), "subtype.fr: 'subtype' is not an object");
    json_decref(p);
    json_decref(rec);
}

/* A CSV export's columns: a text in several languages is one, its map whole; blame and diff
 * go down to each language. */
static void a_text_in_several_languages_flattens_whole_for_csv(void **state)
{
    (void)state;
    json_t *rec = J("{'type':'note','title':{'en':'A','fr':'B'},'kind':'note'}");
    json_t *flat = json_object();
    assert_int_equal(twin_record_flatten_texts(flat, rec), 0);
    assert_int_equal(json_object_size(flat), 3);
    assert_json_is(json_object_get(flat, "title"), "{'en':'A','fr':'B'}");
    json_decref(flat);
    flat = json_object();
    assert_int_equal(twin_record_flatten(flat, rec), 0);
    assert_string_equal(json_string_value(json_object_get(flat, "title.fr")), "B");
    json_decref(flat);
    json_decref(rec);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_text_in_several_languages_flattens_whole_for_csv),
        cmocka_unit_test(the_text_shown_is_the_language_asked_for_or_a_fallback),
        cmocka_unit_test(one_language_of_a_text_is_set_by_its_code),
        cmocka_unit_test(a_text_may_be_given_in_several_languages),
        cmocka_unit_test(a_records_words_are_its_text),
        cmocka_unit_test(a_partnership_has_a_form_and_its_members_roles),
        cmocka_unit_test(only_an_action_has_an_owner_due_date_and_status),
        cmocka_unit_test(
            a_recommendation_comes_from_an_evaluation_or_review_and_follows_up_with_actions),
        cmocka_unit_test(the_seventeen_record_types_are_listed_in_order),
        cmocka_unit_test(every_type_has_the_required_fields_this_test_specifies),
        cmocka_unit_test(every_type_accepts_its_minimal_record),
        cmocka_unit_test(every_type_names_each_missing_required_field),
        cmocka_unit_test(every_type_names_a_missing_id),
        cmocka_unit_test(a_record_without_a_type_is_named_as_record),
        cmocka_unit_test(every_type_names_an_unknown_field),
        cmocka_unit_test(an_unknown_field_inside_an_object_is_named_by_its_path),
        cmocka_unit_test(an_unknown_field_is_told_the_nearest_and_the_fields_there_are),
        cmocka_unit_test(a_malformed_id_is_named),
        cmocka_unit_test(null_is_not_a_value),
        cmocka_unit_test(a_required_string_must_not_be_empty),
        cmocka_unit_test(a_one_line_field_refuses_a_newline),
        cmocka_unit_test(text_refuses_characters_that_hide_or_reorder_it),
        cmocka_unit_test(an_enum_field_lists_the_allowed_values),
        cmocka_unit_test(a_field_of_the_wrong_json_kind_is_named),
        cmocka_unit_test(a_score_outside_one_to_five_is_refused),
        cmocka_unit_test(url_sha256_org_id_and_email_fields_are_checked),
        cmocka_unit_test(an_activity_status_outside_the_codelist_is_refused),
        cmocka_unit_test(an_unknown_country_is_refused),
        cmocka_unit_test(an_unknown_sector_is_refused),
        cmocka_unit_test(an_unknown_currency_or_language_is_refused),
        cmocka_unit_test(an_unknown_organisation_type_is_refused),
        cmocka_unit_test(the_thirtieth_of_february_is_not_a_date),
        cmocka_unit_test(month_thirteen_is_not_a_date),
        cmocka_unit_test(a_two_digit_year_is_not_a_date),
        cmocka_unit_test(leap_days_follow_the_gregorian_calendar),
        cmocka_unit_test(a_planned_end_before_the_planned_start_is_refused),
        cmocka_unit_test(an_actual_end_before_the_actual_start_is_refused),
        cmocka_unit_test(an_assignment_ending_before_it_starts_is_refused),
        cmocka_unit_test(an_indicator_period_ending_before_it_starts_is_refused),
        cmocka_unit_test(sector_percentages_must_sum_to_one_hundred),
        cmocka_unit_test(sector_percentages_summing_to_one_hundred_are_accepted),
        cmocka_unit_test(sectors_give_a_percentage_for_all_or_none),
        cmocka_unit_test(a_sector_listed_twice_is_refused),
        cmocka_unit_test(a_percentage_above_one_hundred_is_refused),
        cmocka_unit_test(recipient_country_percentages_must_sum_to_one_hundred),
        cmocka_unit_test(recipient_countries_give_a_percentage_for_all_or_none),
        cmocka_unit_test(a_recipient_country_listed_twice_is_refused),
        cmocka_unit_test(a_reference_to_an_existing_record_is_accepted),
        cmocka_unit_test(a_reference_to_a_missing_record_is_named),
        cmocka_unit_test(a_reference_to_a_record_of_another_type_is_refused),
        cmocka_unit_test(a_reference_inside_a_list_is_named_by_its_path),
        cmocka_unit_test(a_reference_that_is_not_an_id_is_refused_even_without_lookup),
        cmocka_unit_test(without_a_lookup_references_are_not_checked_for_existence),
        cmocka_unit_test(a_failing_lookup_is_passed_on),
        cmocka_unit_test(an_unchanged_record_is_an_allowed_transition),
        cmocka_unit_test(a_changed_id_is_refused),
        cmocka_unit_test(a_changed_type_is_refused),
        cmocka_unit_test(a_withdrawn_record_cannot_change),
        cmocka_unit_test(a_withdrawn_record_cannot_be_reinstated),
        cmocka_unit_test(an_indicator_actual_may_be_appended),
        cmocka_unit_test(an_indicator_actual_cannot_be_edited),
        cmocka_unit_test(an_indicator_actual_cannot_be_removed),
        cmocka_unit_test(a_period_with_actuals_cannot_be_removed),
        cmocka_unit_test(a_period_without_actuals_may_be_removed_and_periods_reordered),
        cmocka_unit_test(the_canonical_form_sorts_keys_indents_by_two_and_ends_with_a_newline),
        cmocka_unit_test(the_canonical_form_keeps_utf8_unescaped),
        cmocka_unit_test(the_canonical_form_writes_reals_briefly_and_apart_from_integers),
        cmocka_unit_test(a_real_number_keeps_its_value_through_the_canonical_form),
        cmocka_unit_test(a_canonical_record_parses_back_to_the_same_record),
        cmocka_unit_test(parse_canonical_refuses_an_extra_space),
        cmocka_unit_test(parse_canonical_refuses_unsorted_keys),
        cmocka_unit_test(parse_canonical_refuses_a_missing_final_newline),
        cmocka_unit_test(parse_canonical_refuses_crlf_and_escaped_utf8),
        cmocka_unit_test(parse_canonical_accepts_exactly_the_canonical_bytes),
        cmocka_unit_test(parse_accepts_a_record_of_exactly_the_maximum_size),
        cmocka_unit_test(parse_refuses_a_record_over_the_maximum_size),
        cmocka_unit_test(parse_accepts_nesting_up_to_the_limit),
        cmocka_unit_test(parse_refuses_nesting_deeper_than_the_limit),
        cmocka_unit_test(parse_refuses_very_deep_nesting_as_over_the_limit),
        cmocka_unit_test(parse_refuses_duplicate_keys),
        cmocka_unit_test(parse_refuses_json_that_is_not_an_object),
        cmocka_unit_test(parse_refuses_invalid_utf8),
        cmocka_unit_test(parse_refuses_an_embedded_nul_and_trailing_garbage),
        cmocka_unit_test(a_text_field_keeps_a_value_that_looks_like_a_number),
        cmocka_unit_test(a_code_or_date_field_keeps_its_text),
        cmocka_unit_test(json_kinds_take_numbers_booleans_lists_and_objects),
        cmocka_unit_test(a_dotted_path_creates_the_objects_on_its_way),
        cmocka_unit_test(null_removes_a_field),
        cmocka_unit_test(id_and_type_cannot_be_set),
        cmocka_unit_test(malformed_paths_are_refused),
        cmocka_unit_test(a_path_through_a_value_that_is_not_an_object_is_refused),
        cmocka_unit_test(a_list_field_refuses_text_that_is_not_json),
        cmocka_unit_test(an_unknown_field_is_set_and_then_refused_by_validation),
        cmocka_unit_test(a_value_over_the_field_limit_is_refused),
        cmocka_unit_test(a_value_that_is_not_utf8_is_refused),
        cmocka_unit_test(a_final_path_segment_that_is_not_utf8_is_refused_as_invalid),
        cmocka_unit_test(an_inner_path_segment_that_is_not_utf8_is_refused_as_invalid),
        cmocka_unit_test(an_index_sets_a_field_inside_an_item),
        cmocka_unit_test(append_adds_an_item_to_a_nested_list_it_creates),
        cmocka_unit_test(append_creates_an_absent_list_and_the_objects_on_its_way),
        cmocka_unit_test(an_item_is_replaced_and_an_item_removed_by_index),
        cmocka_unit_test(a_whole_item_is_replaced_from_json),
        cmocka_unit_test(a_deep_path_reaches_a_field_of_an_item_of_an_item),
        cmocka_unit_test(an_index_past_the_end_or_into_an_absent_list_is_refused),
        cmocka_unit_test(a_negative_or_non_numeric_index_is_refused),
        cmocka_unit_test(malformed_list_paths_are_refused),
        cmocka_unit_test(append_to_what_is_not_a_list_is_refused),
        cmocka_unit_test(an_index_into_what_is_not_a_list_is_refused),
        cmocka_unit_test(null_is_not_an_item_to_append),
        cmocka_unit_test(id_and_type_cannot_be_reached_by_any_path),
        cmocka_unit_test(an_appended_actual_is_still_checked_by_validation),
        cmocka_unit_test(an_assignment_splits_at_its_first_equals_sign),
        cmocka_unit_test(get_path_reads_nested_values),
        cmocka_unit_test(flatten_gives_every_leaf_at_its_dotted_path),
        cmocka_unit_test(diff_names_the_leaves_that_differ_in_order),
        cmocka_unit_test(a_new_note_is_of_kind_note_unless_given),
        cmocka_unit_test(the_title_is_the_field_that_names_the_record),
        cmocka_unit_test(a_new_id_is_a_version_7_uuid),
        cmocka_unit_test(ten_thousand_new_ids_are_unique_and_time_ordered),
        cmocka_unit_test(id_valid_wants_the_lowercase_8_4_4_4_12_form),
        cmocka_unit_test(the_path_buckets_by_the_last_two_hex_digits_and_parses_back),
        cmocka_unit_test(a_path_is_refused_for_an_unknown_type_a_bad_id_or_a_small_buffer),
        cmocka_unit_test(malformed_record_paths_are_refused),
    };
    return cmocka_run_group_tests(tests, setup_global, NULL);
}
