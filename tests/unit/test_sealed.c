/* Sealing and opening records (src/ops/sealed.c): a record sealed for North and South of a real
 * network opens on both with their keys and their wrap stores, and on no other key; the envelope
 * lists every wrap and holds no byte of the content; an audience outside the membership, or of
 * a removed member, is refused; a wrap that does not open is deleted; an erased envelope does
 * not open; a merged envelope opens with the key of the version it kept. */
#define _XOPEN_SOURCE 700 /* nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <sodium.h>

#include "ops/sealed.h"
#include "base/sha1.h"
#include "records/envelope.h"
#include "twin/global.h"
#include "twin/ops.h"
#include "twin/validity.h"
#include "unit/helpers.h"

static json_t *note(const char *title)
{
    char id[TWIN_ID_LEN + 1];
    twin_record_new_id(id);
    return json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", id, "type", "note", "kind", "risk", "title",
                     title, "body", "The ministry may cut the budget in March.");
}

static twin_wraps *store_of(struct helper_nodes *p, const char *dir)
{
    twin_wraps *w = NULL;
    if (twin_wraps_open(&w, dir))
        fail_msg("wrap store: %s", twin_error_last());
    (void)p;
    return w;
}

static void keep_all(twin_wraps *w, const struct twin_sealed *s)
{
    for (size_t i = 0; i < s->nwraps; i++) {
        struct twin_wrap copy = s->wraps[i];
        bool added;
        assert_int_equal(twin_wraps_add(w, &copy, &added), 0);
    }
}

static void a_sealed_record_opens_for_its_audience_only(void **state)
{
    struct helper_nodes *p = *state;
    struct twin_membership *m = NULL;
    assert_int_equal(twin_ops_members(&m, p->north, NULL), 0);
    const char *audience[] = {helper_north_who.org_id, helper_south_who.org_id};
    json_t *rec = note("Budget risk");
    struct twin_sealed s;
    assert_int_equal(twin_sealed_seal(&s, rec, audience, 2, NULL, m), 0);
    assert_int_equal(s.nwraps, 2); /* one active key each */
    /* The file holds no byte of the content, and lists both wraps. */
    assert_null(strstr(s.text, "Budget"));
    assert_null(strstr(s.text, "ministry"));
    struct twin_envelope e;
    assert_int_equal(twin_envelope_read(&e, s.envelope), 0);
    for (size_t i = 0; i < s.nwraps; i++) {
        unsigned char d[32];
        twin_seal_wrap_digest(d, s.wraps[i].to, s.wraps[i].box);
        assert_true(twin_envelope_lists(&e, d));
        assert_memory_equal(s.wraps[i].blob, s.blob, sizeof(s.blob));
    }
    twin_envelope_clear(&e);
    unsigned char blob[20];
    twin_sha1_object(blob, "blob", s.text, s.text_len);
    assert_memory_equal(blob, s.blob, sizeof(blob));

    twin_wraps *north = store_of(p, p->north_dir), *south = store_of(p, p->south_dir);
    keep_all(north, &s);
    keep_all(south, &s);
    json_t *got = NULL;
    assert_int_equal(
        twin_sealed_open(&got, s.envelope, s.blob, m->network_id, north, twin_node_key(p->north)),
        0);
    assert_true(json_equal(got, rec));
    json_decref(got);
    assert_int_equal(
        twin_sealed_open(&got, s.envelope, s.blob, m->network_id, south, twin_node_key(p->south)),
        0);
    assert_true(json_equal(got, rec));
    json_decref(got);
    /* Another key, even with every wrap at hand, opens nothing. */
    twin_keypair outsider;
    keypair_from_seed(&outsider, 7);
    assert_error(twin_sealed_open(&got, s.envelope, s.blob, m->network_id, north, &outsider),
                 TWIN_ENOTFOUND, "holds no key that opens it");
    assert_null(got);
    /* Another network's additional data does not open it either. */
    assert_int_equal(twin_sealed_open(&got, s.envelope, s.blob, "ffffffffffffffffffffffffffffffff",
                                      north, twin_node_key(p->north)),
                     TWIN_ENOTFOUND);

    /* An erased envelope opens for nobody. */
    json_t *er = NULL;
    assert_int_equal(twin_envelope_erase(&er, s.envelope, "Test erasure"), 0);
    assert_error(twin_sealed_open(&got, er, s.blob, m->network_id, north, twin_node_key(p->north)),
                 TWIN_ENOTFOUND, "was erased: Test erasure");
    json_decref(er);
    twin_wraps_free(north);
    twin_wraps_free(south);
    twin_sealed_clear(&s);
    json_decref(rec);
    twin_membership_free(m);
}

/* A wrap to this node's key that does not open the content (made with another content key) is
 * deleted when tried, and the genuine one after it opens. */
static void a_wrap_that_does_not_open_is_deleted(void **state)
{
    struct helper_nodes *p = *state;
    struct twin_membership *m = NULL;
    assert_int_equal(twin_ops_members(&m, p->north, NULL), 0);
    const char *audience[] = {helper_north_who.org_id};
    json_t *rec = note("Solo");
    struct twin_sealed s;
    assert_int_equal(twin_sealed_seal(&s, rec, audience, 1, NULL, m), 0);
    twin_wraps *w = store_of(p, p->north_dir);
    struct twin_wrap junk = s.wraps[0];
    unsigned char other[TWIN_SEAL_KEY_BYTES];
    randombytes_buf(other, sizeof(other));
    assert_int_equal(twin_seal_wrap(junk.box, other, junk.to), 0);
    junk.signed_by = true; /* a later wrap, as if a member had made it */
    bool added;
    assert_int_equal(twin_wraps_add(w, &junk, &added), 0);
    keep_all(w, &s);
    size_t count;
    assert_int_equal(twin_wraps_count_record(&count, w, s.wraps[0].record), 0);
    assert_int_equal(count, 2);
    json_t *got = NULL;
    assert_int_equal(
        twin_sealed_open(&got, s.envelope, s.blob, m->network_id, w, twin_node_key(p->north)), 0);
    assert_true(json_equal(got, rec));
    json_decref(got);
    assert_int_equal(twin_wraps_count_record(&count, w, s.wraps[0].record), 0);
    assert_int_equal(count, 1);
    twin_wraps_free(w);
    twin_sealed_clear(&s);
    json_decref(rec);
    twin_membership_free(m);
}

static void an_audience_outside_the_membership_is_refused(void **state)
{
    struct helper_nodes *p = *state;
    struct twin_membership *m = NULL;
    assert_int_equal(twin_ops_members(&m, p->north, NULL), 0);
    json_t *rec = note("Nobody");
    struct twin_sealed s;
    const char *stranger[] = {"XE-EXAMPLE-STRANGER"};
    assert_error(twin_sealed_seal(&s, rec, stranger, 1, NULL, m), TWIN_EINVALID,
                 "XE-EXAMPLE-STRANGER is not a member");
    twin_membership_free(m);
    git_oid c;
    assert_int_equal(twin_ops_member_remove(&c, p->north, helper_south_who.org_id), 0);
    assert_int_equal(twin_ops_members(&m, p->north, NULL), 0);
    /* A member who left stays in an audience it was in, and gets no wrap: alone, nobody does. */
    const char *south[] = {helper_south_who.org_id};
    assert_error(twin_sealed_seal(&s, rec, south, 1, NULL, m), TWIN_EINVALID,
                 "no institution of the audience has an active key");
    const char *both[] = {helper_north_who.org_id, helper_south_who.org_id};
    assert_int_equal(twin_sealed_seal(&s, rec, both, 2, NULL, m), 0);
    assert_int_equal(s.nwraps, 1); /* North's key alone */
    twin_sealed_clear(&s);
    twin_membership_free(m);
    json_decref(rec);
}

/* A merge keeps the later version's envelope whole and adds conflicts (SEALED.md 9): a new blob,
 * that no wrap names, opened with the key of the version it kept. A version that only lists
 * another's wrap digests, with content under a key of its own, opens for nobody, and the wraps
 * tried for it stay. */
static void a_merged_envelope_opens_with_the_key_of_the_version_it_kept(void **state)
{
    struct helper_nodes *p = *state;
    struct twin_membership *m = NULL;
    assert_int_equal(twin_ops_members(&m, p->north, NULL), 0);
    const char *audience[] = {helper_north_who.org_id, helper_south_who.org_id};
    json_t *rec = note("Merged risk"), *other = json_deep_copy(rec);
    json_object_set_new(other, "title", json_string("Another risk"));
    struct twin_sealed s, t;
    assert_int_equal(twin_sealed_seal(&s, rec, audience, 2, NULL, m), 0);
    assert_int_equal(twin_sealed_seal(&t, other, audience, 2, NULL, m), 0);
    twin_wraps *north = store_of(p, p->north_dir);
    keep_all(north, &s);
    json_t *merged = json_deep_copy(s.envelope), *got = NULL;
    json_object_set_new(merged, "conflicts",
                        json_pack("[s]", "0123456789abcdef0123456789abcdef01234567"));
    char *text = NULL;
    size_t len;
    unsigned char blob[20];
    assert_int_equal(twin_record_canonical(&text, &len, merged), 0);
    twin_sha1_object(blob, "blob", text, len);
    assert_memory_not_equal(blob, s.blob, sizeof(blob));
    assert_int_equal(
        twin_sealed_open(&got, merged, blob, m->network_id, north, twin_node_key(p->north)), 0);
    assert_true(json_equal(got, rec));
    json_decref(got);
    /* t's envelope with s's digests: s's wrap is tried, does not open it, and is kept. */
    json_t *pretender = json_deep_copy(t.envelope);
    json_object_set(json_object_get(pretender, "sealed"), "wraps",
                    json_object_get(json_object_get(s.envelope, "sealed"), "wraps"));
    size_t before, after;
    assert_int_equal(twin_wraps_count_record(&before, north, s.wraps[0].record), 0);
    assert_error(
        twin_sealed_open(&got, pretender, t.blob, m->network_id, north, twin_node_key(p->north)),
        TWIN_ENOTFOUND, "holds no key that opens it");
    assert_int_equal(twin_wraps_count_record(&after, north, s.wraps[0].record), 0);
    assert_int_equal(after, before);
    json_decref(pretender);
    free(text);
    json_decref(merged);
    twin_wraps_free(north);
    twin_sealed_clear(&t);
    twin_sealed_clear(&s);
    json_decref(other);
    json_decref(rec);
    twin_membership_free(m);
}

static int titled(json_t *rec, void *ctx)
{
    int rc = twin_record_set_path(rec, "title", ctx);
    return rc ? rc : twin_record_set_path(rec, "kind", "risk");
}

static void assert_head_valid(twin_node *n)
{
    git_oid head;
    struct twin_check check;
    assert_int_equal(twin_node_head(&head, n), 0);
    assert_int_equal(twin_validity_check_commit(&check, twin_node_repo(n), &head, NULL), 0);
    if (!check.valid)
        fail_msg("refused: %s", check.reason);
}

/* A member who left stays in the audiences it was in: the record still changes, is withdrawn
 * and erased; only adding a member who left is refused. */
static void a_record_shared_with_a_member_who_left_still_changes(void **state)
{
    struct helper_nodes *p = *state;
    const char *south_only[] = {helper_south_who.org_id};
    const struct twin_audience south = {south_only, 1};
    char id[TWIN_ID_LEN + 1];
    git_oid c;
    assert_int_equal(twin_ops_add_sealed(id, &c, p->north, "note", &south, titled, "Shared"), 0);
    assert_int_equal(twin_ops_member_remove(&c, p->north, helper_south_who.org_id), 0);
    assert_int_equal(twin_ops_update(&c, p->north, id, "set", titled, "Changed"), 0);
    assert_head_valid(p->north);
    assert_error(twin_ops_share(&c, p->north, id, &south), TWIN_EINVALID, "has left the network");
    assert_int_equal(twin_ops_withdraw(&c, p->north, id), 0);
    assert_head_valid(p->north);
    assert_int_equal(twin_ops_erase(&c, p->north, id, "The partner left"), 0);
    assert_head_valid(p->north);
    char other[TWIN_ID_LEN + 1];
    assert_error(twin_ops_add_sealed(other, &c, p->north, "note", &south, titled, "Too late"),
                 TWIN_EINVALID, "XE-EXAMPLE-S has left the network");
}

int main(void)
{
    if (twin_global_init(false))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(a_record_shared_with_a_member_who_left_still_changes,
                                        helper_nodes_setup, helper_nodes_teardown),
        cmocka_unit_test_setup_teardown(a_sealed_record_opens_for_its_audience_only,
                                        helper_nodes_setup, helper_nodes_teardown),
        cmocka_unit_test_setup_teardown(a_wrap_that_does_not_open_is_deleted, helper_nodes_setup,
                                        helper_nodes_teardown),
        cmocka_unit_test_setup_teardown(a_merged_envelope_opens_with_the_key_of_the_version_it_kept,
                                        helper_nodes_setup, helper_nodes_teardown),
        cmocka_unit_test_setup_teardown(an_audience_outside_the_membership_is_refused,
                                        helper_nodes_setup, helper_nodes_teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    twin_global_shutdown();
    return rc;
}
