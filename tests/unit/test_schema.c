/* The declarative schema of the record types (src/records/schema.c): every type listed once and
 * found by name, tables that are well formed (names, enums, codelists, references, bounds), the
 * fields every record carries, and that validation follows the tables: a record built from a
 * type's table is valid, and leaving out a required field or giving one a value of the wrong
 * kind is refused naming it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "records/schema.h"
#include "twin/codes.h"
#include "twin/error.h"
#include "twin/record.h"
#include "twin/schema.h"
#include "twin/global.h"

static size_t type_count(void)
{
    size_t n = 0;
    while (twin_schema_types()[n])
        n++;
    return n;
}

static const struct twin_field *field_of(const struct twin_field *fields, const char *name)
{
    for (const struct twin_field *f = fields; f->name; f++)
        if (strcmp(f->name, name) == 0)
            return f;
    return NULL;
}

static const struct twin_field *field(const char *type, const char *name)
{
    const struct twin_record_type *t = twin_schema_type(type);
    assert_non_null(t);
    const struct twin_field *f = field_of(t->fields, name);
    if (!f)
        fail_msg("%s has no field %s", type, name);
    return f;
}

/* ---- the list of types ---------------------------------------------------------------------- */

static void every_type_is_listed_once_in_the_order_records_use(void **state)
{
    const struct twin_record_type *const *types = twin_schema_types();
    const char *const *names = twin_record_types();
    const char *const expected[] = {
        "institution", "partnership",  "activity", "person",      "post",          "assignment",
        "handover",    "people_link",  "result",   "indicator",   "health_check",  "document",
        "note",        "contribution", "budget",   "transaction", "recommendation"};
    size_t n = type_count();
    assert_int_equal(n, sizeof(expected) / sizeof(expected[0]));
    /* record.c copies the names into a table of 31 and a NULL. */
    assert_true(n <= 31);
    for (size_t i = 0; i < n; i++) {
        assert_non_null(types[i]->name);
        assert_string_equal(types[i]->name, expected[i]);
        assert_string_equal(names[i], types[i]->name);
        for (size_t j = 0; j < i; j++)
            assert_string_not_equal(types[i]->name, types[j]->name);
    }
    assert_null(names[n]);
    assert_ptr_equal(twin_schema_types(), types); /* one table, not a copy per call */
}

static void a_type_is_found_by_its_exact_name(void **state)
{
    const struct twin_record_type *const *types = twin_schema_types();
    for (size_t i = 0; types[i]; i++) {
        assert_ptr_equal(twin_schema_type(types[i]->name), types[i]);
        assert_true(twin_record_type_known(types[i]->name));
    }
    assert_null(twin_schema_type(""));
    assert_null(twin_schema_type("Note"));
    assert_null(twin_schema_type("notes"));
    assert_null(twin_schema_type("note "));
    assert_null(twin_schema_type("member"));
    assert_false(twin_record_type_known(NULL));
}

/* ---- the tables ----------------------------------------------------------------------------- */

static void every_record_starts_with_the_common_fields(void **state)
{
    const struct twin_record_type *const *types = twin_schema_types();
    for (size_t i = 0; types[i]; i++) {
        const struct twin_field *f = types[i]->fields;
        assert_string_equal(f[0].name, "id");
        assert_int_equal(f[0].kind, TWIN_F_STRING);
        assert_true(f[0].required);
        assert_string_equal(f[1].name, "type");
        assert_int_equal(f[1].kind, TWIN_F_STRING);
        assert_true(f[1].required);
        assert_string_equal(f[2].name, "withdrawn");
        assert_int_equal(f[2].kind, TWIN_F_BOOL);
        assert_false(f[2].required);
        assert_string_equal(f[3].name, "conflicts");
        assert_int_equal(f[3].kind, TWIN_F_LIST);
        assert_false(f[3].required);
        /* A conflict entry: the field, the losing value and the commit that last set it. */
        const struct twin_field *item = f[3].item;
        assert_non_null(item);
        assert_int_equal(item->kind, TWIN_F_OBJECT);
        const struct twin_field *c = item->fields;
        assert_true(field_of(c, "field")->required);
        assert_int_equal(field_of(c, "field")->kind, TWIN_F_STRING);
        assert_false(field_of(c, "value")->required);
        assert_int_equal(field_of(c, "value")->kind, TWIN_F_ANY);
        assert_true(field_of(c, "from")->required);
        assert_int_equal(field_of(c, "from")->kind, TWIN_F_COMMIT);
    }
}

static void every_title_field_is_a_plain_field_of_its_type(void **state)
{
    const struct twin_record_type *const *types = twin_schema_types();
    for (size_t i = 0; types[i]; i++) {
        const struct twin_record_type *t = types[i];
        assert_non_null(t->title_field);
        const struct twin_field *f = field_of(t->fields, t->title_field);
        if (!f)
            fail_msg("%s: title field %s is not one of its fields", t->name, t->title_field);
        if (f->kind != TWIN_F_STRING && f->kind != TWIN_F_TEXT && f->kind != TWIN_F_DATE &&
            f->kind != TWIN_F_ENUM)
            fail_msg("%s: title field %s is no text", t->name, t->title_field);
        if (!f->required)
            fail_msg("%s: title field %s is optional", t->name, t->title_field);
    }
}

static bool identifier(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_'))
            return false;
    return true;
}

/* Checks one object's fields, and the objects and lists under it; *deepest gets the nesting. */
static void check_fields(const char *where, const struct twin_field *fields, int depth,
                         int *deepest)
{
    if (depth > *deepest)
        *deepest = depth;
    assert_non_null(fields);
    assert_non_null(fields[0].name); /* no object without fields */
    for (const struct twin_field *f = fields; f->name; f++) {
        char at[256];
        snprintf(at, sizeof(at), "%s.%s", where, f->name);
        if (!*f->name)
            fail_msg("%s: a field without a name", where);
        for (const struct twin_field *g = fields; g < f; g++)
            if (strcmp(g->name, f->name) == 0)
                fail_msg("%s: listed twice", at);
        if ((f->min != 0 || f->max != 0) && f->kind != TWIN_F_INT && f->kind != TWIN_F_NUMBER)
            fail_msg("%s: bounds on a field that is no number", at);
        if (f->min > f->max)
            fail_msg("%s: min %g above max %g", at, f->min, f->max);
        switch (f->kind) {
        case TWIN_F_ENUM:
            assert_non_null(f->enum_values);
            if (!f->enum_values[0])
                fail_msg("%s: an enum with no value", at);
            for (const char *const *e = f->enum_values; *e; e++) {
                if (!identifier(*e))
                    fail_msg("%s: enum value '%s' is no identifier", at, *e);
                for (const char *const *d = f->enum_values; d < e; d++)
                    if (strcmp(*d, *e) == 0)
                        fail_msg("%s: enum value %s listed twice", at, *e);
            }
            break;
        case TWIN_F_CODE:
            if ((int)f->codelist < 0 || f->codelist >= TWIN_CODES__COUNT)
                fail_msg("%s: no such codelist %d", at, (int)f->codelist);
            assert_true(twin_codes_list_size(f->codelist) > 0);
            break;
        case TWIN_F_REF:
            if (!f->ref_type || !twin_schema_type(f->ref_type))
                fail_msg("%s: refers to unknown type %s", at, f->ref_type ? f->ref_type : "NULL");
            break;
        case TWIN_F_OBJECT:
            check_fields(at, f->fields, depth + 1, deepest);
            break;
        case TWIN_F_LIST: {
            char item_name[128];
            assert_non_null(f->item);
            /* The item is described by one field named after the list. */
            snprintf(item_name, sizeof(item_name), "%s[]", f->name);
            if (strcmp(f->item->name, item_name) != 0 && strcmp(f->item->name, "[]") != 0)
                fail_msg("%s: item named %s", at, f->item->name);
            assert_int_not_equal(f->item->kind, TWIN_F_LIST); /* no list of lists */
            if (f->item->kind == TWIN_F_OBJECT)
                check_fields(at, f->item->fields, depth + 2, deepest);
            break;
        }
        default:
            break;
        }
    }
}

static void every_table_is_well_formed(void **state)
{
    const struct twin_record_type *const *types = twin_schema_types();
    for (size_t i = 0; types[i]; i++) {
        int deepest = 0;
        check_fields(types[i]->name, types[i]->fields, 1, &deepest);
        /* A record built to its schema is never refused for depth. */
        if (deepest > TWIN_RECORD_MAX_DEPTH)
            fail_msg("%s nests %d deep", types[i]->name, deepest);
    }
}

static void references_and_bounds_are_the_domain_ones(void **state)
{
    assert_string_equal(field("activity", "partnership")->ref_type, "partnership");
    assert_true(field("activity", "partnership")->required);
    assert_string_equal(field("indicator", "result")->ref_type, "result");
    assert_string_equal(field("assignment", "person")->ref_type, "person");
    assert_string_equal(field("assignment", "post")->ref_type, "post");
    assert_int_equal(field("institution", "country")->codelist, TWIN_CODES_COUNTRY);
    assert_int_equal(field("institution", "org_type")->codelist, TWIN_CODES_ORGANISATION_TYPE);
    assert_int_equal(field("institution", "org_id")->kind, TWIN_F_ORG_ID);
    assert_int_equal(field("person", "email")->kind, TWIN_F_EMAIL);
    assert_int_equal(field("document", "sha256")->kind, TWIN_F_SHA256);
    assert_int_equal(field("document", "url")->kind, TWIN_F_URL);
    assert_int_equal(field("result", "result_type")->codelist, TWIN_CODES_RESULT_TYPE);
    assert_int_equal(field("indicator", "measure")->codelist, TWIN_CODES_INDICATOR_MEASURE);
    /* Health-check scores run from 1 to 5. */
    const struct twin_field *scores = field("health_check", "scores");
    assert_true(scores->required);
    for (const struct twin_field *s = scores->fields; s->name; s++) {
        assert_int_equal(s->kind, TWIN_F_INT);
        assert_true(s->min == 1 && s->max == 5);
    }
    /* Shares are percentages. */
    const struct twin_field *sectors = field("partnership", "sectors");
    const struct twin_field *pct = field_of(sectors->item->fields, "percentage");
    assert_non_null(pct);
    assert_int_equal(pct->kind, TWIN_F_NUMBER);
    assert_true(pct->min == 0 && pct->max == 100);
    assert_int_equal(field_of(sectors->item->fields, "code")->codelist, TWIN_CODES_SECTOR);
    const struct twin_field *baseline = field("indicator", "baseline");
    const struct twin_field *year = field_of(baseline->fields, "year");
    assert_true(year->min == 1900 && year->max == 2200);
    /* The withdrawal tombstone is the same everywhere; a note's kind has a default value. */
    const char *const *kinds = field("note", "kind")->enum_values;
    bool has_note = false;
    for (; *kinds; kinds++)
        has_note = has_note || strcmp(*kinds, "note") == 0;
    assert_true(has_note);
}

/* ---- validation follows the tables ---------------------------------------------------------- */

static const char *sample_code(enum twin_codelist list)
{
    static const char *const samples[TWIN_CODES__COUNT] = {
        [TWIN_CODES_ACTIVITY_STATUS] = "2",    [TWIN_CODES_ORGANISATION_TYPE] = "10",
        [TWIN_CODES_ORGANISATION_ROLE] = "1",  [TWIN_CODES_SECTOR] = "15111",
        [TWIN_CODES_COUNTRY] = "NL",           [TWIN_CODES_CURRENCY] = "EUR",
        [TWIN_CODES_LANGUAGE] = "en",          [TWIN_CODES_RESULT_TYPE] = "1",
        [TWIN_CODES_INDICATOR_MEASURE] = "1",  [TWIN_CODES_DOCUMENT_CATEGORY] = "A01",
        [TWIN_CODES_ACTIVITY_DATE_TYPE] = "1", [TWIN_CODES_TRANSACTION_TYPE] = "3",
    };
    const char *code = samples[list];
    if (!code || !twin_codes_valid(list, code))
        fail_msg("no valid sample code for %s", twin_codes_list_name(list));
    return code;
}

static json_t *object_for(const struct twin_field *fields, bool all);

/* A valid value of field f's kind. */
static json_t *value_for(const struct twin_field *f, bool all)
{
    char id[TWIN_ID_LEN + 1];
    switch (f->kind) {
    case TWIN_F_STRING:
    case TWIN_F_TEXT:
        return json_string("Kick-off");
    case TWIN_F_ENUM:
        return json_string(f->enum_values[0]);
    case TWIN_F_CODE:
        return json_string(sample_code(f->codelist));
    case TWIN_F_DATE:
        return json_string("2024-02-29");
    case TWIN_F_INT:
        return json_integer(f->min || f->max ? (json_int_t)f->min : 3);
    case TWIN_F_NUMBER:
        return json_real(f->min || f->max ? f->max : 2.5); /* a lone share is 100 per cent */
    case TWIN_F_BOOL:
        return json_true();
    case TWIN_F_REF:
        twin_record_new_id(id);
        return json_string(id);
    case TWIN_F_URL:
        return json_string("https://example.org/report");
    case TWIN_F_SHA256:
        return json_string("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    case TWIN_F_ORG_ID:
        return json_string("XE-EXAMPLE-MOF");
    case TWIN_F_EMAIL:
        return json_string("desk@example.org");
    case TWIN_F_OBJECT:
        return object_for(f->fields, all);
    case TWIN_F_LIST: {
        json_t *list = json_array();
        if (all)
            json_array_append_new(list, value_for(f->item, all));
        return list;
    }
    case TWIN_F_ANY:
        return json_string("anything");
    case TWIN_F_COMMIT:
        return json_string("0123456789abcdef0123456789abcdef01234567");
    }
    fail_msg("field %s of unknown kind %d", f->name, (int)f->kind);
    return NULL;
}

/* An object with the required fields of fields, or all of them. */
static json_t *object_for(const struct twin_field *fields, bool all)
{
    json_t *o = json_object();
    for (const struct twin_field *f = fields; f->name; f++)
        if (f->required || all)
            json_object_set_new(o, f->name, value_for(f, all));
    return o;
}

/* A record of type t with the required fields, or all of them (no conflict entries: only
 * merges write those). */
static json_t *record_for(const struct twin_record_type *t, bool all)
{
    char id[TWIN_ID_LEN + 1];
    json_t *rec = object_for(t->fields, all);
    twin_record_new_id(id);
    json_object_set_new(rec, "id", json_string(id));
    json_object_set_new(rec, "type", json_string(t->name));
    json_object_del(rec, "conflicts");
    json_object_del(rec, "withdrawn");
    /* An owner, a due date and a status are an action's. */
    if (all && strcmp(t->name, "note") == 0)
        json_object_set_new(rec, "kind", json_string("action"));
    /* A recommendation comes from somewhere. */
    if (!all && strcmp(t->name, "recommendation") == 0) {
        char src[TWIN_ID_LEN + 1];
        twin_record_new_id(src);
        json_object_set_new(rec, "document", json_string(src));
    }
    /* A sealed document's file key is base64 of 32 bytes (proto/SEALED.md 10). */
    if (all && strcmp(t->name, "document") == 0)
        json_object_set_new(json_object_get(rec, "file"), "key",
                            json_string("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="));
    /* A contribution in cash (the first kind) states its value. */
    if (!all && strcmp(t->name, "contribution") == 0) {
        json_object_set_new(rec, "value", json_real(2.5));
        json_object_set_new(rec, "currency", json_string("EUR"));
    }
    return rec;
}

static void assert_record_valid(const json_t *rec, const char *what)
{
    if (twin_record_validate(rec, NULL, NULL, NULL)) {
        char *text = json_dumps(rec, JSON_SORT_KEYS);
        fail_msg("%s: %s\n%s", what, twin_error_last(), text);
    }
}

static void a_record_built_from_its_table_is_valid(void **state)
{
    const struct twin_record_type *const *types = twin_schema_types();
    for (size_t i = 0; types[i]; i++) {
        json_t *rec = record_for(types[i], false);
        assert_record_valid(rec, types[i]->name);
        json_decref(rec);
        rec = record_for(types[i], true);
        assert_record_valid(rec, types[i]->name);
        json_decref(rec);
    }
}

static void leaving_out_a_required_field_is_refused_naming_it(void **state)
{
    const struct twin_record_type *const *types = twin_schema_types();
    for (size_t i = 0; types[i]; i++)
        for (const struct twin_field *f = types[i]->fields + 2; f->name; f++) {
            if (!f->required)
                continue;
            char message[200];
            json_t *rec = record_for(types[i], false);
            json_object_del(rec, f->name);
            snprintf(message, sizeof(message), "%s.%s: required", types[i]->name, f->name);
            assert_int_equal(twin_record_validate(rec, NULL, NULL, NULL), TWIN_EINVALID);
            assert_string_equal(twin_error_last(), message);
            json_decref(rec);
        }
}

/* A JSON value that is not of field f's kind. */
static json_t *wrong_value_for(const struct twin_field *f)
{
    switch (f->kind) {
    case TWIN_F_INT:
    case TWIN_F_NUMBER:
    case TWIN_F_BOOL:
    case TWIN_F_OBJECT:
    case TWIN_F_LIST:
        return json_string("7");
    default:
        return json_integer(7);
    }
}

static void a_value_of_the_wrong_kind_is_refused_naming_its_field(void **state)
{
    const struct twin_record_type *const *types = twin_schema_types();
    for (size_t i = 0; types[i]; i++)
        for (const struct twin_field *f = types[i]->fields + 2; f->name; f++) {
            if (f->kind == TWIN_F_ANY)
                continue;
            char prefix[200];
            json_t *rec = record_for(types[i], true);
            json_object_set_new(rec, f->name, wrong_value_for(f));
            snprintf(prefix, sizeof(prefix), "%s.%s", types[i]->name, f->name);
            int rc = twin_record_validate(rec, NULL, NULL, NULL);
            if (rc != TWIN_EINVALID || strncmp(twin_error_last(), prefix, strlen(prefix)) != 0)
                fail_msg("%s = 7: %d \"%s\"", prefix, rc, twin_error_last());
            json_decref(rec);
        }
}

static void a_field_no_table_lists_is_refused(void **state)
{
    const struct twin_record_type *const *types = twin_schema_types();
    for (size_t i = 0; types[i]; i++) {
        char message[200];
        json_t *rec = record_for(types[i], false);
        json_object_set_new(rec, "colour", json_string("blue"));
        snprintf(message, sizeof(message), "%s.colour: unknown field (", types[i]->name);
        assert_int_equal(twin_record_validate(rec, NULL, NULL, NULL), TWIN_EINVALID);
        assert_true(strncmp(twin_error_last(), message, strlen(message)) == 0);
        json_decref(rec);
    }
}

static int setup_global(void **state)
{
    return twin_global_init(false) == 0 ? 0 : -1;
}

/* The field with this path in a description's fields (and those inside them), or NULL. */
static const json_t *described(const json_t *fields, const char *path)
{
    size_t i;
    const json_t *f;
    json_array_foreach(fields, i, f)
    {
        if (strcmp(json_string_value(json_object_get(f, "path")), path) == 0)
            return f;
        const json_t *in = described(json_object_get(f, "fields"), path);
        if (!in)
            in = described(json_object_get(json_object_get(f, "item"), "fields"), path);
        if (in)
            return in;
    }
    return NULL;
}

/* What `twin schema` shows: each type's fields from its table, with the paths `twin set` takes,
 * whether each is required, its kind and its values. */
static void each_type_is_described_from_its_table(void **state)
{
    for (size_t i = 0; twin_schema_types()[i]; i++) {
        const struct twin_record_type *t = twin_schema_types()[i];
        json_t *d = twin_schema_describe(t->name);
        assert_non_null(d);
        assert_string_equal(json_string_value(json_object_get(d, "type")), t->name);
        assert_string_equal(json_string_value(json_object_get(d, "title_field")), t->title_field);
        size_t n = 0;
        while (t->fields[n].name)
            n++;
        assert_int_equal(json_array_size(json_object_get(d, "fields")), n);
        json_decref(d);
    }
    assert_null(twin_schema_describe("meeting"));
    assert_null(twin_schema_describe(NULL));

    json_t *d = twin_schema_describe("indicator");
    const json_t *fields = json_object_get(d, "fields");
    const json_t *f = described(fields, "measure");
    assert_string_equal(json_string_value(json_object_get(f, "kind")), "code");
    assert_true(json_is_true(json_object_get(f, "required")));
    assert_string_equal(json_string_value(json_object_get(f, "codelist")), "IndicatorMeasure");
    assert_int_equal(json_integer_value(json_object_get(f, "codes")), 5);
    f = described(fields, "result");
    assert_string_equal(json_string_value(json_object_get(f, "ref")), "result");
    f = described(fields, "baseline.year");
    assert_int_equal(json_integer_value(json_object_get(f, "min")), 1900);
    assert_int_equal(json_integer_value(json_object_get(f, "max")), 2200);
    f = described(fields, "periods");
    assert_string_equal(json_string_value(json_object_get(f, "kind")), "list");
    assert_string_equal(json_string_value(json_object_get(json_object_get(f, "item"), "kind")),
                        "object");
    f = described(fields, "periods[].actuals[].value");
    assert_non_null(f);
    assert_string_equal(json_string_value(json_object_get(f, "name")), "value");
    assert_string_equal(json_string_value(json_object_get(f, "kind")), "number");
    assert_true(json_is_true(json_object_get(f, "required")));
    json_decref(d);

    d = twin_schema_describe("note");
    f = described(json_object_get(d, "fields"), "kind");
    assert_string_equal(json_string_value(json_object_get(f, "kind")), "enum");
    assert_string_equal(json_string_value(json_array_get(json_object_get(f, "values"), 0)), "note");
    json_decref(d);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_type_is_listed_once_in_the_order_records_use),
        cmocka_unit_test(a_type_is_found_by_its_exact_name),
        cmocka_unit_test(every_record_starts_with_the_common_fields),
        cmocka_unit_test(every_title_field_is_a_plain_field_of_its_type),
        cmocka_unit_test(every_table_is_well_formed),
        cmocka_unit_test(references_and_bounds_are_the_domain_ones),
        cmocka_unit_test(a_record_built_from_its_table_is_valid),
        cmocka_unit_test(leaving_out_a_required_field_is_refused_naming_it),
        cmocka_unit_test(a_value_of_the_wrong_kind_is_refused_naming_its_field),
        cmocka_unit_test(a_field_no_table_lists_is_refused),
        cmocka_unit_test(each_type_is_described_from_its_table),
    };
    return cmocka_run_group_tests(tests, setup_global, NULL);
}
