/* The sealed records at the head as twin verify reports them (src/audit/sealedcheck.c): what a
 * node reads and what is sealed to others; erasures with their reasons; keys of an erased record
 * that a node still held are found, deleted and reported once; content that breaks its rules is
 * a finding for the audience, while the predicate accepts the commit. */
#define _XOPEN_SOURCE 700 /* nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "ops/sealed.h"
#include "twin/audit.h"
#include "twin/global.h"
#include "twin/ops.h"
#include "twin/validity.h"
#include "unit/helpers.h"

static int note_fields(json_t *rec, void *ctx)
{
    int rc = twin_record_set_path(rec, "title", ctx);
    return rc ? rc : twin_record_set_path(rec, "kind", "risk");
}

static int person_fields(json_t *rec, void *ctx)
{
    return twin_record_set_path(rec, "name", ctx);
}

static struct twin_sealed_report *report(twin_node *n)
{
    struct twin_sealed_report *r = NULL;
    if (twin_sealedcheck_run(&r, n))
        fail_msg("audit: %s", twin_error_last());
    return r;
}

static void counts_erasures_and_held_keys(void **state)
{
    struct helper_nodes *p = *state;
    char clear[TWIN_ID_LEN + 1], mine[TWIN_ID_LEN + 1], person[TWIN_ID_LEN + 1];
    git_oid c;
    const char *north_only[] = {helper_north_who.org_id};
    const struct twin_audience north = {north_only, 1};
    assert_int_equal(twin_ops_add(clear, &c, p->north, "note", note_fields, "A public note"), 0);
    assert_int_equal(
        twin_ops_add_sealed(mine, &c, p->north, "note", &north, note_fields, "For North alone"), 0);
    assert_int_equal(
        twin_ops_add(person, &c, p->north, "person", person_fields, "Ama Mensah-Example"), 0);
    pull(p->south, p->north);
    helper_pass_wraps(p->south, p->north);

    struct twin_sealed_report *r = report(p->north);
    assert_int_equal(r->sealed, 2);
    assert_int_equal(r->opened, 2);
    assert_int_equal(r->closed, 0);
    assert_int_equal(r->nfindings, 0);
    twin_sealedcheck_free(r);
    r = report(p->south); /* the person is every member's; the note North's alone */
    assert_int_equal(r->sealed, 2);
    assert_int_equal(r->opened, 1);
    assert_int_equal(r->closed, 1);
    twin_sealedcheck_free(r);

    /* North erases the person; South gets the history without the upkeep a session does. */
    assert_int_equal(twin_ops_erase(&c, p->north, person, "The person asked"), 0);
    size_t held = 9;
    assert_int_equal(twin_ops_erased_keys(&held, p->north, person, false), 0);
    assert_int_equal(held, 0);
    pull(p->south, p->north);
    assert_int_equal(twin_ops_erased_keys(&held, p->south, person, false), 0);
    assert_int_equal(held, 2); /* one wrap to each member's key */
    r = report(p->south);
    assert_int_equal(r->erased, 1);
    assert_int_equal(r->opened, 0);
    assert_int_equal(r->keys_deleted, 2);
    assert_int_equal(r->nerasures, 1);
    assert_string_equal(r->erasures[0].id, person);
    assert_string_equal(r->erasures[0].reason, "The person asked");
    assert_int_equal(r->nfindings, 1);
    assert_non_null(strstr(r->findings[0].text, "still held 2 of its keys; deleted them now"));
    twin_sealedcheck_free(r);
    r = report(p->south); /* deleted: found no more */
    assert_int_equal(r->keys_deleted, 0);
    assert_int_equal(r->nfindings, 0);
    twin_sealedcheck_free(r);
    assert_int_equal(twin_ops_erased_keys(&held, p->south, person, false), 0);
    assert_int_equal(held, 0);
}

static void content_that_breaks_its_rules_is_a_finding_not_a_fault(void **state)
{
    struct helper_nodes *p = *state;
    struct twin_membership *m = NULL;
    struct twin_sealed s;
    char id[TWIN_ID_LEN + 1], path[128];
    twin_record_new_id(id);
    /* A note without its title: the writer's node would refuse it; a hostile one seals it. */
    json_t *rec = json_pack("{s:s, s:s, s:s}", "id", id, "type", "note", "kind", "risk");
    const char *audience[] = {helper_north_who.org_id};
    assert_int_equal(twin_ops_members(&m, p->north, NULL), 0);
    assert_int_equal(twin_sealed_seal(&s, rec, audience, 1, NULL, m), 0);
    twin_wraps *w = NULL;
    assert_int_equal(twin_node_wraps(&w, p->north), 0);
    for (size_t i = 0; i < s.nwraps; i++) {
        bool added;
        assert_int_equal(twin_wraps_add(w, &s.wraps[i], &added), 0);
    }
    assert_int_equal(twin_record_path(path, sizeof(path), "note", id), 0);
    git_oid c = helper_commit_file(p->north, helper_north_who.name, helper_north_who.org_id, path,
                                   s.text, s.text_len);
    struct twin_check check;
    assert_int_equal(twin_validity_check_commit(&check, twin_node_repo(p->north), &c, NULL), 0);
    if (!check.valid)
        fail_msg("the predicate refused a well-formed envelope: %s", check.reason);
    struct twin_sealed_report *r = report(p->north);
    assert_int_equal(r->opened, 1);
    assert_int_equal(r->nfindings, 1);
    assert_non_null(strstr(r->findings[0].text, "fails its rules"));
    assert_non_null(strstr(r->findings[0].text, "seen by XE-EXAMPLE-N"));
    assert_non_null(strstr(r->findings[0].text, id));
    twin_sealedcheck_free(r);
    twin_sealed_clear(&s);
    twin_membership_free(m);
    json_decref(rec);
}

int main(void)
{
    if (twin_global_init(false))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(counts_erasures_and_held_keys, helper_nodes_setup,
                                        helper_nodes_teardown),
        cmocka_unit_test_setup_teardown(content_that_breaks_its_rules_is_a_finding_not_a_fault,
                                        helper_nodes_setup, helper_nodes_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
