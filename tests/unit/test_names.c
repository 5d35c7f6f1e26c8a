/* Names of records: the title field of each record referenced, at the head or at a commit; a
 * sealed record named where this node reads it and left unnamed where it does not; a record
 * that is not there; every reference a record holds, with its path, in field order; and
 * references given as prefixes of ids made whole. */
#define _XOPEN_SOURCE 700 /* nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "helpers.h"
#include "twin/error.h"
#include "twin/global.h"
#include "twin/names.h"
#include "twin/network.h"
#include "twin/node.h"
#include "twin/ops.h"
#include "twin/record.h"

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

static void add(char id[static TWIN_ID_LEN + 1], twin_node *n, const char *type, void *fields)
{
    git_oid commit;
    if (twin_ops_add(id, &commit, n, type, set_fields, fields))
        fail_msg("add %s: %s", type, twin_error_last());
}

static void names_are_title_fields_at_the_head_or_at_a_commit(void **state)
{
    struct helper_nodes *p = *state;
    char part[TWIN_ID_LEN + 1], note[TWIN_ID_LEN + 1], missing[TWIN_ID_LEN + 1];
    add(part, p->north, "partnership",
        FIELDS("title", "Tax twinning", "partnership_type", "twinning"));
    git_oid before = helper_head(p->north);
    git_oid commit;
    assert_int_equal(twin_ops_update(&commit, p->north, part, "set", set_fields,
                                     FIELDS("title", "Tax and customs twinning")),
                     0);
    add(note, p->north, "note", FIELDS("kind", "note", "title", "Kick-off"));

    twin_names *now = NULL, *then = NULL;
    const char *name = NULL;
    assert_int_equal(twin_names_new(&now, p->north, NULL), 0);
    assert_int_equal(twin_names_new(&then, p->north, &before), 0);
    assert_int_equal(twin_names_get(&name, now, "partnership", part), 0);
    assert_string_equal(name, "Tax and customs twinning");
    assert_int_equal(twin_names_get(&name, then, "partnership", part), 0);
    assert_string_equal(name, "Tax twinning");
    assert_int_equal(twin_names_get(&name, now, "note", note), 0);
    assert_string_equal(name, "Kick-off");
    /* Kept: a second lookup gives the same text without reading again. */
    const char *again = NULL;
    assert_int_equal(twin_names_get(&again, now, "note", note), 0);
    assert_ptr_equal(again, name);
    /* Not there: at an older commit, of another type, or no such id. */
    assert_int_equal(twin_names_get(&name, then, "note", note), TWIN_ENOTFOUND);
    assert_int_equal(twin_names_get(&name, now, "activity", note), TWIN_ENOTFOUND);
    twin_record_new_id(missing);
    assert_int_equal(twin_names_get(&name, now, "note", missing), TWIN_ENOTFOUND);
    twin_names_free(now);
    twin_names_free(then);
}

static void a_sealed_record_is_named_only_where_it_is_read(void **state)
{
    struct helper_nodes *p = *state;
    char id[TWIN_ID_LEN + 1];
    git_oid commit;
    const char *own[] = {"XE-EXAMPLE-N"};
    struct twin_audience audience = {own, 1};
    assert_int_equal(twin_ops_add_sealed(id, &commit, p->north, "note", &audience, set_fields,
                                         FIELDS("kind", "note", "title", "Budget worries")),
                     0);
    pull(p->south, p->north);
    helper_pass_wraps(p->south, p->north);

    twin_names *north = NULL, *south = NULL;
    const char *name = "unset";
    assert_int_equal(twin_names_new(&north, p->north, NULL), 0);
    assert_int_equal(twin_names_new(&south, p->south, NULL), 0);
    assert_int_equal(twin_names_get(&name, north, "note", id), 0);
    assert_string_equal(name, "Budget worries");
    assert_int_equal(twin_names_get(&name, south, "note", id), 0);
    assert_null(name);
    twin_names_free(north);
    twin_names_free(south);
}

struct seen {
    char text[1024];
};

static int note_ref(const char *path, const char *id, const char *type, void *ctx)
{
    struct seen *s = ctx;
    size_t used = strlen(s->text);
    snprintf(s->text + used, sizeof(s->text) - used, "%s=%s:%.8s;", path, type, id);
    return 0;
}

static int stop_at_first(const char *path, const char *id, const char *type, void *ctx)
{
    ++*(int *)ctx;
    return 7;
}

static void each_ref_gives_every_reference_with_its_path_in_field_order(void **state)
{
    (void)state;
    json_t *rec =
        json_pack("{s:s, s:s, s:s, s:s, s:s, s:[{s:s, s:s}, {s:s}, {s:s}], s:{s:s}}", "id",
                  "01a2b3c4-0000-7000-8000-000000000001", "type", "activity", "kind", "workshop",
                  "title", "Audit workshop", "partnership", "01a2b3c4-0000-7000-8000-0000000000aa",
                  "participants", "person", "01a2b3c4-0000-7000-8000-0000000000bb", "institution",
                  "01a2b3c4-0000-7000-8000-0000000000cc", "role", "trainer", "person",
                  "01a2b3c4-0000-7000-8000-0000000000dd", "location", "place", "Dodoma");
    assert_non_null(rec);
    struct seen s = {""};
    assert_int_equal(twin_names_each_ref(rec, note_ref, &s), 0);
    assert_string_equal(s.text, "partnership=partnership:01a2b3c4;"
                                "participants[0].person=person:01a2b3c4;"
                                "participants[0].institution=institution:01a2b3c4;"
                                "participants[2].person=person:01a2b3c4;");
    int calls = 0;
    assert_int_equal(twin_names_each_ref(rec, stop_at_first, &calls), 7);
    assert_int_equal(calls, 1);
    json_decref(rec);
    /* A record of no known type holds no references twin knows of. */
    json_t *odd = json_pack("{s:s, s:s}", "type", "spaceship", "partnership", "x");
    s.text[0] = '\0';
    assert_int_equal(twin_names_each_ref(odd, note_ref, &s), 0);
    assert_string_equal(s.text, "");
    json_decref(odd);
}

static void prefixes_in_references_become_whole_ids_of_the_fields_type(void **state)
{
    struct helper_nodes *p = *state;
    char part[TWIN_ID_LEN + 1], note[TWIN_ID_LEN + 1], prefix[TWIN_ID_LEN], wrong[TWIN_ID_LEN];
    add(part, p->north, "partnership",
        FIELDS("title", "Tax twinning", "partnership_type", "twinning"));
    add(note, p->north, "note", FIELDS("kind", "note", "title", "Kick-off"));
    snprintf(prefix, sizeof(prefix), "%.20s", part);
    snprintf(wrong, sizeof(wrong), "%.20s", note);
    json_t *rec = json_pack("{s:s, s:s, s:s, s:s, s:[{s:s}, {s:s}]}", "type", "activity",
                            "partnership", prefix, "kind", "workshop", "title", "Audit",
                            "participants", "institution", "XE-EXAMPLE-N", "person", "Ana");
    assert_int_equal(twin_names_resolve_refs(rec, p->north), 0);
    assert_string_equal(json_string_value(json_object_get(rec, "partnership")), part);
    /* Values that cannot begin an id are left for validation to judge. */
    assert_string_equal(json_string_value(json_object_get(
                            json_array_get(json_object_get(rec, "participants"), 1), "person")),
                        "Ana");
    /* A prefix of a record of another type, one too short, and one of no record. */
    json_object_set_new(rec, "partnership", json_string(wrong));
    assert_int_equal(twin_names_resolve_refs(rec, p->north), TWIN_EINVALID);
    assert_non_null(strstr(twin_error_last(), "names the note"));
    json_object_set_new(rec, "partnership", json_string("01a2"));
    assert_int_equal(twin_names_resolve_refs(rec, p->north), TWIN_EINVALID);
    assert_non_null(strstr(twin_error_last(), "partnership"));
    json_object_set_new(rec, "partnership", json_string("ffffffff-ff"));
    assert_int_equal(twin_names_resolve_refs(rec, p->north), TWIN_ENOTFOUND);
    json_decref(rec);
}

static int setup_global(void **state)
{
    return twin_global_init(false) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(names_are_title_fields_at_the_head_or_at_a_commit,
                                        helper_nodes_setup, helper_nodes_teardown),
        cmocka_unit_test_setup_teardown(a_sealed_record_is_named_only_where_it_is_read,
                                        helper_nodes_setup, helper_nodes_teardown),
        cmocka_unit_test(each_ref_gives_every_reference_with_its_path_in_field_order),
        cmocka_unit_test_setup_teardown(prefixes_in_references_become_whole_ids_of_the_fields_type,
                                        helper_nodes_setup, helper_nodes_teardown),
    };
    return cmocka_run_group_tests(tests, setup_global, NULL);
}
