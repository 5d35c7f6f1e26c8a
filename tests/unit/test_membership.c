/* The membership registry (src/rules/membership.c): role and key-state names, member files and
 * the changes allowed to them, the network descriptor and the network id derived from its
 * founding fields, and the membership loaded from a tree or from a node's head. */
#define _XOPEN_SOURCE 700 /* nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "helpers.h"
#include "twin/membership.h"
#include "twin/network.h"
#include "twin/node.h"
#include "twin/record.h"
#include "twin/tree.h"
#include "twin/global.h"

static const struct twin_identity north = {"Ministry of Finance of Exampleland", "XE-EXAMPLE-MOF",
                                           "NL", "north", "10"};
static const struct twin_identity south = {"Revenue Authority of Samplestan", "XE-EXAMPLE-RA", "TZ",
                                           "south", NULL};

/* ---- roles and key states ------------------------------------------------------------------- */

static void roles_and_network_ids_parse(void **state)
{
    enum twin_role r;
    assert_int_equal(twin_membership_role_parse(&r, "admin"), 0);
    assert_int_equal(r, TWIN_ROLE_ADMIN);
    assert_int_equal(twin_membership_role_parse(&r, "observer"), 0);
    assert_int_equal(r, TWIN_ROLE_OBSERVER);
    assert_int_equal(twin_membership_role_parse(&r, "chief"), TWIN_EINVALID);
    assert_string_equal(twin_error_last(), "role 'chief' is not one of admin | editor | observer");
    assert_string_equal(twin_membership_role_name(TWIN_ROLE_EDITOR), "editor");
    assert_string_equal(twin_membership_key_state_name(TWIN_KEY_REVOKED), "revoked");
    /* The network-id half of this case moved with twin_node_network_id_valid to test_node.c
     * (network_ids_are_lowercase_hex). */
}

static void every_role_name_parses_back_to_its_role(void **state)
{
    const enum twin_role roles[] = {TWIN_ROLE_OBSERVER, TWIN_ROLE_EDITOR, TWIN_ROLE_ADMIN};
    const char *const names[] = {"observer", "editor", "admin"};
    for (size_t i = 0; i < 3; i++) {
        enum twin_role r = TWIN_ROLE_ADMIN + 1;
        assert_string_equal(twin_membership_role_name(roles[i]), names[i]);
        assert_int_equal(twin_membership_role_parse(&r, names[i]), 0);
        assert_int_equal(r, roles[i]);
    }
}

static void a_role_is_matched_exactly(void **state)
{
    enum twin_role r = TWIN_ROLE_OBSERVER;
    assert_error(twin_membership_role_parse(&r, "Admin"), TWIN_EINVALID, "role 'Admin'");
    assert_error(twin_membership_role_parse(&r, "admin "), TWIN_EINVALID, "role 'admin '");
    assert_error(twin_membership_role_parse(&r, ""), TWIN_EINVALID,
                 "role '' is not one of admin | editor | observer");
    assert_error(twin_membership_role_parse(&r, NULL), TWIN_EINVALID,
                 "role '' is not one of admin | editor | observer");
    assert_int_equal(r, TWIN_ROLE_OBSERVER); /* untouched on failure */
}

static void every_key_state_has_a_name(void **state)
{
    assert_string_equal(twin_membership_key_state_name(TWIN_KEY_ACTIVE), "active");
    assert_string_equal(twin_membership_key_state_name(TWIN_KEY_REVOKED), "revoked");
    assert_string_equal(twin_membership_key_state_name(TWIN_KEY_RETIRED), "retired");
    /* Never stored, so it is no state a member file may give; its name says why the key is void. */
    assert_non_null(strstr(twin_membership_key_state_name(TWIN_KEY_MEMBER_REMOVED), "removed"));
}

/* ---- member files --------------------------------------------------------------------------- */

static json_t *member_of(const struct twin_identity *who, const char *role)
{
    unsigned char pk[TWIN_PUBKEY_BYTES], sk[crypto_sign_SECRETKEYBYTES];
    crypto_sign_keypair(pk, sk);
    json_t *m = twin_membership_member_json(who, role, pk);
    assert_non_null(m);
    return m;
}

static void assert_member_refused(const json_t *m, const char *file_org_id, const char *message)
{
    assert_int_equal(twin_membership_check_member(m, file_org_id), TWIN_EINVALID);
    assert_string_equal(twin_error_last(), message);
}

static void a_member_file_built_by_twin_is_accepted(void **state)
{
    json_t *m = member_of(&north, "admin");
    assert_int_equal(twin_membership_check_member(m, "XE-EXAMPLE-MOF"), 0);
    assert_string_equal(json_string_value(json_object_get(m, "org_type")), "10");
    json_decref(m);
    m = member_of(&south, "observer");
    assert_int_equal(twin_membership_check_member(m, "XE-EXAMPLE-RA"), 0);
    assert_null(json_object_get(m, "org_type"));
    json_decref(m);
}

static void the_member_json_holds_the_identity_and_one_active_key(void **state)
{
    twin_keypair kp;
    char line[TWIN_OPENSSH_PUB_MAX];
    keypair_from_seed(&kp, 7);
    twin_key_format_openssh(line, kp.pk);
    json_t *m = twin_membership_member_json(&north, "editor", kp.pk);
    assert_non_null(m);
    assert_string_equal(json_string_value(json_object_get(m, "name")), north.name);
    assert_string_equal(json_string_value(json_object_get(m, "org_id")), north.org_id);
    assert_string_equal(json_string_value(json_object_get(m, "country")), "NL");
    assert_string_equal(json_string_value(json_object_get(m, "side")), "north");
    assert_string_equal(json_string_value(json_object_get(m, "role")), "editor");
    assert_int_equal(json_object_size(m), 7);
    json_t *keys = json_object_get(m, "keys");
    assert_int_equal(json_array_size(keys), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(keys, 0), "key")), line);
    assert_string_equal(json_string_value(json_object_get(json_array_get(keys, 0), "state")),
                        "active");
    json_decref(m);
}

static void a_member_file_with_an_unknown_field_is_refused(void **state)
{
    json_t *m = member_of(&south, "editor");
    json_object_set_new(m, "colour", json_string("blue"));
    assert_member_refused(m, "XE-EXAMPLE-RA", "member.colour: unknown field");
    json_decref(m);
}

static void a_member_key_with_an_unknown_field_is_refused(void **state)
{
    json_t *m = member_of(&south, "editor");
    json_object_set_new(json_array_get(json_object_get(m, "keys"), 0), "added", json_integer(1));
    assert_member_refused(m, "XE-EXAMPLE-RA", "member.keys[].added: unknown field");
    json_decref(m);
}

static void a_member_file_with_a_bad_key_is_refused(void **state)
{
    json_t *m = member_of(&south, "editor");
    json_t *k = json_array_get(json_object_get(m, "keys"), 0);
    json_object_set_new(k, "key", json_string("ssh-ed25519 AAAAnotbase64!"));
    assert_member_refused(m, "XE-EXAMPLE-RA", "member.keys[0].key: not an ssh-ed25519 key");
    json_object_set_new(k, "key", json_string("ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ"));
    assert_member_refused(m, "XE-EXAMPLE-RA", "member.keys[0].key: not an ssh-ed25519 key");
    json_object_del(k, "key");
    assert_member_refused(m, "XE-EXAMPLE-RA", "member.keys[0].key: not an ssh-ed25519 key");
    json_decref(m);
}

static void a_member_file_listing_a_key_twice_is_refused(void **state)
{
    json_t *m = member_of(&south, "editor");
    json_t *keys = json_object_get(m, "keys");
    json_array_append_new(keys, json_deep_copy(json_array_get(keys, 0)));
    json_object_set_new(json_array_get(keys, 1), "state", json_string("retired"));
    assert_member_refused(m, "XE-EXAMPLE-RA", "member.keys[1]: the key is listed twice");
    json_decref(m);
}

static void a_member_key_in_an_unknown_state_is_refused(void **state)
{
    json_t *m = member_of(&south, "editor");
    json_t *k = json_array_get(json_object_get(m, "keys"), 0);
    json_object_set_new(k, "state", json_string("lost"));
    assert_member_refused(m, "XE-EXAMPLE-RA",
                          "member.keys[0].state: must be active | revoked | retired");
    json_object_del(k, "state");
    assert_member_refused(m, "XE-EXAMPLE-RA",
                          "member.keys[0].state: must be active | revoked | retired");
    /* The state of a removed member's keys is reported, never stored. */
    json_object_set_new(k, "state",
                        json_string(twin_membership_key_state_name(TWIN_KEY_MEMBER_REMOVED)));
    assert_member_refused(m, "XE-EXAMPLE-RA",
                          "member.keys[0].state: must be active | revoked | retired");
    json_decref(m);
}

static void a_member_file_stored_under_another_org_id_is_refused(void **state)
{
    json_t *m = member_of(&south, "editor");
    assert_member_refused(m, "XE-EXAMPLE-MOF",
                          "member XE-EXAMPLE-RA is stored under the name of XE-EXAMPLE-MOF");
    assert_int_equal(twin_membership_check_member(m, NULL), 0);
    json_decref(m);
}

static void a_member_file_needs_one_to_sixteen_keys(void **state)
{
    json_t *m = member_of(&south, "editor");
    json_t *keys = json_object_get(m, "keys");
    json_array_clear(keys);
    assert_member_refused(m, "XE-EXAMPLE-RA", "member.keys: a list of 1-16 keys");
    for (int i = 0; i < 17; i++) {
        unsigned char pk[TWIN_PUBKEY_BYTES], sk[crypto_sign_SECRETKEYBYTES];
        char line[TWIN_OPENSSH_PUB_MAX];
        crypto_sign_keypair(pk, sk);
        twin_key_format_openssh(line, pk);
        json_array_append_new(keys, json_pack("{s:s, s:s}", "key", line, "state", "retired"));
    }
    assert_member_refused(m, "XE-EXAMPLE-RA", "member.keys: a list of 1-16 keys");
    json_array_remove(keys, 16);
    assert_int_equal(twin_membership_check_member(m, "XE-EXAMPLE-RA"), 0);
    json_array_set_new(keys, 3, json_string("ssh-ed25519 AAAA"));
    assert_member_refused(m, "XE-EXAMPLE-RA", "member.keys[3]: not an object");
    json_object_set_new(m, "keys", json_string("ssh-ed25519 AAAA"));
    assert_member_refused(m, "XE-EXAMPLE-RA", "member.keys: a list of 1-16 keys");
    json_decref(m);
}

static void a_member_file_names_its_bad_role_and_identity(void **state)
{
    json_t *m = member_of(&south, "editor");
    json_object_set_new(m, "role", json_string("chief"));
    assert_member_refused(m, "XE-EXAMPLE-RA",
                          "member.role: role 'chief' is not one of admin | editor | observer");
    json_object_set_new(m, "role", json_string("editor"));
    json_object_set_new(m, "country", json_string("XX"));
    assert_member_refused(m, "XE-EXAMPLE-RA",
                          "member: country 'XX' is not an ISO 3166-1 code (e.g. NL, TZ)");
    json_object_set_new(m, "country", json_string("TZ"));
    json_object_set_new(m, "org_type", json_integer(10));
    assert_member_refused(m, "XE-EXAMPLE-RA", "member.org_type: must be a string");
    json_decref(m);
    m = json_array();
    assert_member_refused(m, NULL, "member: not a JSON object");
    json_decref(m);
    assert_member_refused(NULL, NULL, "member: not a JSON object");
}

static void a_member_may_be_marked_removed_but_only_with_true(void **state)
{
    json_t *m = member_of(&south, "editor");
    json_object_set_new(m, "removed", json_true());
    assert_int_equal(twin_membership_check_member(m, "XE-EXAMPLE-RA"), 0);
    json_object_set_new(m, "removed", json_false());
    assert_member_refused(m, "XE-EXAMPLE-RA", "member.removed: true when present");
    json_object_set_new(m, "removed", json_string("yes"));
    assert_member_refused(m, "XE-EXAMPLE-RA", "member.removed: true when present");
    json_decref(m);
}

static void only_an_editor_may_be_limited_to_its_own_partnerships(void **state)
{
    json_t *m = member_of(&south, "editor");
    json_object_set_new(m, "scope", json_string(TWIN_SCOPE_OWN));
    assert_int_equal(twin_membership_check_member(m, "XE-EXAMPLE-RA"), 0);
    json_object_set_new(m, "scope", json_string("everything"));
    assert_member_refused(m, "XE-EXAMPLE-RA", "member.scope: \"own-partnerships\" when present");
    json_object_set_new(m, "scope", json_integer(1));
    assert_member_refused(m, "XE-EXAMPLE-RA", "member.scope: \"own-partnerships\" when present");
    json_object_set_new(m, "scope", json_string(TWIN_SCOPE_OWN));
    json_object_set_new(m, "role", json_string("admin"));
    assert_member_refused(m, "XE-EXAMPLE-RA",
                          "member.scope: only an editor's writing can be limited");
    json_object_set_new(m, "role", json_string("observer"));
    assert_member_refused(m, "XE-EXAMPLE-RA",
                          "member.scope: only an editor's writing can be limited");
    json_decref(m);
}

/* ---- changes to a member file --------------------------------------------------------------- */

static void add_key(json_t *member, const twin_keypair *kp, const char *state)
{
    char line[TWIN_OPENSSH_PUB_MAX];
    twin_key_format_openssh(line, kp->pk);
    json_array_append_new(json_object_get(member, "keys"),
                          json_pack("{s:s, s:s}", "key", line, "state", state));
}

static void set_key_state(json_t *member, size_t i, const char *state)
{
    json_object_set_new(json_array_get(json_object_get(member, "keys"), i), "state",
                        json_string(state));
}

struct keys {
    twin_keypair a, b, c;
};

static void keys_from_seeds(struct keys *k)
{
    keypair_from_seed(&k->a, 0xa1);
    keypair_from_seed(&k->b, 0xb2);
    keypair_from_seed(&k->c, 0xc3);
}

static void a_member_may_rotate_its_own_key(void **state)
{
    struct keys k;
    keys_from_seeds(&k);
    json_t *old = twin_membership_member_json(&south, "editor", k.a.pk);
    json_t *cur = json_deep_copy(old);
    set_key_state(cur, 0, "retired");
    add_key(cur, &k.b, "active");
    assert_int_equal(twin_membership_check_member(cur, "XE-EXAMPLE-RA"), 0);
    assert_int_equal(twin_membership_check_change(old, cur, false, k.a.pk), 0);
    assert_int_equal(twin_membership_check_change(old, cur, true, k.c.pk), 0);
    json_decref(old);
    json_decref(cur);
}

static void a_rotation_must_retire_the_signing_key_and_add_one_active_key(void **state)
{
    struct keys k;
    keys_from_seeds(&k);
    json_t *old = twin_membership_member_json(&south, "editor", k.a.pk);
    add_key(old, &k.b, "active");
    /* Retiring b while a signs: not the member's own key. */
    json_t *cur = json_deep_copy(old);
    set_key_state(cur, 1, "retired");
    add_key(cur, &k.c, "active");
    assert_error(twin_membership_check_change(old, cur, false, k.a.pk), TWIN_EINVALID,
                 "keys changed beyond a rotation (one new active key added last, the signing key "
                 "retired): a member that is not an admin may change only its own name and org "
                 "type, and rotate its own key");
    json_decref(cur);
    /* The new key must be active. */
    cur = json_deep_copy(old);
    set_key_state(cur, 0, "retired");
    add_key(cur, &k.c, "retired");
    assert_error(twin_membership_check_change(old, cur, false, k.a.pk), TWIN_EINVALID,
                 "one new active key added last");
    json_decref(cur);
    /* Exactly one new key. */
    cur = json_deep_copy(old);
    set_key_state(cur, 0, "retired");
    assert_error(twin_membership_check_change(old, cur, false, k.a.pk), TWIN_EINVALID,
                 "keys changed beyond a rotation: a member that is not an admin may change only "
                 "its own name and org type, and rotate its own key");
    json_decref(cur);
    json_decref(old);
}

static void a_member_may_not_change_its_own_role(void **state)
{
    struct keys k;
    keys_from_seeds(&k);
    json_t *old = twin_membership_member_json(&south, "editor", k.a.pk);
    json_t *cur = json_deep_copy(old);
    set_key_state(cur, 0, "retired");
    add_key(cur, &k.b, "active");
    json_object_set_new(cur, "role", json_string("admin"));
    assert_error(twin_membership_check_change(old, cur, false, k.a.pk), TWIN_EINVALID,
                 "role changed: a member that is not an admin may change only its own name and "
                 "org type, and rotate its own key");
    /* An admin may. */
    assert_int_equal(twin_membership_check_change(old, cur, true, k.c.pk), 0);
    json_decref(old);
    json_decref(cur);
}

static void a_member_may_correct_its_own_name_and_org_type(void **state)
{
    struct keys k;
    keys_from_seeds(&k);
    json_t *old = twin_membership_member_json(&south, "editor", k.a.pk);
    json_t *cur = json_deep_copy(old);
    json_object_set_new(cur, "name", json_string("Revenue Authority of Samplestan (RAS)"));
    json_object_set_new(cur, "org_type", json_string("10"));
    assert_int_equal(twin_membership_check_member(cur, "XE-EXAMPLE-RA"), 0);
    assert_int_equal(twin_membership_check_change(old, cur, false, k.a.pk), 0);
    /* With a rotation of its key in the same change. */
    set_key_state(cur, 0, "retired");
    add_key(cur, &k.b, "active");
    assert_int_equal(twin_membership_check_change(old, cur, false, k.a.pk), 0);
    json_decref(old);
    json_decref(cur);
}

static void a_member_may_not_change_its_own_country_or_side(void **state)
{
    struct keys k;
    keys_from_seeds(&k);
    json_t *old = twin_membership_member_json(&south, "editor", k.a.pk);
    json_t *cur = json_deep_copy(old);
    json_object_set_new(cur, "country", json_string("KE"));
    assert_error(twin_membership_check_change(old, cur, false, k.a.pk), TWIN_EINVALID,
                 "country changed: a member that is not an admin may change only its own name "
                 "and org type, and rotate its own key");
    assert_int_equal(twin_membership_check_change(old, cur, true, k.c.pk), 0);
    json_decref(cur);
    cur = json_deep_copy(old);
    json_object_set_new(cur, "name", json_string("Revenue Authority of Samplestan (RAS)"));
    json_object_set_new(cur, "side", json_string("north"));
    assert_error(twin_membership_check_change(old, cur, false, k.a.pk), TWIN_EINVALID,
                 "side changed: a member that is not an admin");
    assert_int_equal(twin_membership_check_change(old, cur, true, k.c.pk), 0);
    json_decref(cur);
    /* Nor limit or widen its writing by a field the file did not hold. */
    cur = json_deep_copy(old);
    json_object_set_new(cur, "scope", json_string(TWIN_SCOPE_OWN));
    assert_error(twin_membership_check_change(old, cur, false, k.a.pk), TWIN_EINVALID,
                 "scope added: a member that is not an admin");
    json_decref(cur);
    json_decref(old);
}

static void keys_stay_listed_even_for_an_admin(void **state)
{
    struct keys k;
    keys_from_seeds(&k);
    json_t *old = twin_membership_member_json(&south, "editor", k.a.pk);
    add_key(old, &k.b, "retired");
    json_t *cur = twin_membership_member_json(&south, "editor", k.a.pk);
    assert_error(twin_membership_check_change(old, cur, true, k.c.pk), TWIN_EINVALID,
                 "key 2 was removed from the member's list");
    json_decref(old);
    json_decref(cur);
}

static void a_key_that_stopped_being_active_never_returns(void **state)
{
    struct keys k;
    keys_from_seeds(&k);
    json_t *old = twin_membership_member_json(&south, "editor", k.a.pk);
    add_key(old, &k.b, "retired");
    add_key(old, &k.c, "revoked");
    json_t *cur = json_deep_copy(old);
    set_key_state(cur, 1, "active");
    assert_error(twin_membership_check_change(old, cur, true, k.a.pk), TWIN_EINVALID,
                 "a retired key cannot become active again");
    json_decref(cur);
    cur = json_deep_copy(old);
    set_key_state(cur, 2, "active");
    assert_error(twin_membership_check_change(old, cur, true, k.a.pk), TWIN_EINVALID,
                 "a revoked key cannot become active again");
    json_decref(cur);
    cur = json_deep_copy(old);
    set_key_state(cur, 2, "retired");
    assert_error(twin_membership_check_change(old, cur, true, k.a.pk), TWIN_EINVALID,
                 "a revoked key stays revoked");
    json_decref(cur);
    /* Retiring or revoking an active one, and revoking a retired one, are fine for an admin. */
    cur = json_deep_copy(old);
    set_key_state(cur, 0, "revoked");
    set_key_state(cur, 1, "revoked");
    assert_int_equal(twin_membership_check_change(old, cur, true, k.b.pk), 0);
    json_decref(cur);
    json_decref(old);
}

static void a_removed_member_cannot_be_restored(void **state)
{
    struct keys k;
    keys_from_seeds(&k);
    json_t *old = twin_membership_member_json(&south, "editor", k.a.pk);
    json_object_set_new(old, "removed", json_true());
    json_t *cur = twin_membership_member_json(&south, "editor", k.a.pk);
    assert_error(twin_membership_check_change(old, cur, true, k.c.pk), TWIN_EINVALID,
                 "a removed member cannot be restored");
    /* Removing is allowed; staying removed too. */
    assert_int_equal(twin_membership_check_change(cur, old, true, k.c.pk), 0);
    assert_int_equal(twin_membership_check_change(old, old, true, k.c.pk), 0);
    json_decref(old);
    json_decref(cur);
}

/* ---- the network id ------------------------------------------------------------------------- */

static void reference_network_id(char out[TWIN_NETWORK_ID_LEN + 1], const char *const fields[4])
{
    crypto_hash_sha256_state st;
    unsigned char h[crypto_hash_sha256_BYTES];
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const unsigned char *)"twin network id v1\n", 19);
    for (int i = 0; i < 4; i++) {
        crypto_hash_sha256_update(&st, (const unsigned char *)fields[i], strlen(fields[i]));
        crypto_hash_sha256_update(&st, (const unsigned char *)"\n", 1);
    }
    crypto_hash_sha256_final(&st, h);
    sodium_bin2hex(out, TWIN_NETWORK_ID_LEN + 1, h, TWIN_NETWORK_ID_LEN / 2);
}

static void the_network_id_hashes_each_founding_field(void **state)
{
    const char *fields[4] = {"Example Tax Twinning", "2024-01-02T03:04:05Z",
                             "00112233445566778899aabbccddeeff", "ssh-ed25519 AAAAC3Nz"};
    char want[TWIN_NETWORK_ID_LEN + 1], got[TWIN_NETWORK_ID_LEN + 1];
    reference_network_id(want, fields);
    twin_membership_network_id(got, fields[0], fields[1], fields[2], fields[3]);
    assert_string_equal(got, want);
    assert_true(twin_node_network_id_valid(got));
    /* Every field counts, and the newline after each keeps "ab"+"c" apart from "a"+"bc". */
    for (int i = 0; i < 4; i++) {
        char other[TWIN_NETWORK_ID_LEN + 1];
        const char *changed[4] = {fields[0], fields[1], fields[2], fields[3]};
        changed[i] = "x";
        twin_membership_network_id(other, changed[0], changed[1], changed[2], changed[3]);
        assert_string_not_equal(other, got);
    }
    char a[TWIN_NETWORK_ID_LEN + 1], b[TWIN_NETWORK_ID_LEN + 1];
    twin_membership_network_id(a, "ab", "c", "n", "k");
    twin_membership_network_id(b, "a", "bc", "n", "k");
    assert_string_not_equal(a, b);
}

/* ---- the descriptor of a founded network ---------------------------------------------------- */

struct node_fixture {
    struct fixture *tmp;
    twin_node *node;
    json_t *net;     /* network.json of the genesis */
    git_tree *root;  /* the genesis tree */
    git_oid genesis; /* its commit */
};

static int setup_node(void **state)
{
    struct node_fixture *f = calloc(1, sizeof(*f));
    char path[192], *text = NULL;
    size_t len;
    git_commit *commit = NULL;
    void *tmp = NULL;
    if (!f || fixture_setup(&tmp))
        return -1;
    f->tmp = tmp;
    snprintf(path, sizeof(path), "%s/north", f->tmp->dir);
    if (twin_network_create(&f->node, path, &north, "Example Tax Twinning") ||
        twin_node_head(&f->genesis, f->node) ||
        git_commit_lookup(&commit, twin_node_repo(f->node), &f->genesis) < 0 ||
        git_commit_tree(&f->root, commit) < 0 ||
        twin_tree_read(&text, &len, twin_node_repo(f->node), f->root, TWIN_NETWORK_PATH) ||
        twin_record_parse_canonical(&f->net, text, len)) {
        print_error("setup: %s\n", twin_error_last());
        return -1;
    }
    free(text);
    git_commit_free(commit);
    *state = f;
    return 0;
}

static int teardown_node(void **state)
{
    struct node_fixture *f = *state;
    void *tmp = f->tmp;
    json_decref(f->net);
    git_tree_free(f->root);
    twin_node_free(f->node);
    fixture_teardown(&tmp);
    free(f);
    return 0;
}

static void assert_descriptor_refused(const json_t *net, const char *message)
{
    assert_int_equal(twin_membership_check_descriptor(net), TWIN_EINVALID);
    assert_string_equal(twin_error_last(), message);
}

/* The id is the first 16 bytes of SHA-256 over a domain line and the four founding fields, each
 * ended by a newline, in lowercase hex: anyone can recompute it from the genesis alone. */
static void the_network_id_is_derived_from_the_founding_fields(void **state)
{
    struct node_fixture *f = *state;
    crypto_hash_sha256_state st;
    unsigned char h[crypto_hash_sha256_BYTES];
    char hex[2 * crypto_hash_sha256_BYTES + 1];
    const char *fields[] = {"name", "created", "nonce", "founder_key"};
    crypto_hash_sha256_init(&st);
    crypto_hash_sha256_update(&st, (const unsigned char *)"twin network id v1\n", 19);
    for (int i = 0; i < 4; i++) {
        const char *v = json_string_value(json_object_get(f->net, fields[i]));
        assert_non_null(v);
        crypto_hash_sha256_update(&st, (const unsigned char *)v, strlen(v));
        crypto_hash_sha256_update(&st, (const unsigned char *)"\n", 1);
    }
    crypto_hash_sha256_final(&st, h);
    sodium_bin2hex(hex, sizeof(hex), h, TWIN_NETWORK_ID_LEN / 2);
    assert_string_equal(hex, twin_node_network_id(f->node));
}

static void a_tampered_network_id_is_detected(void **state)
{
    struct node_fixture *f = *state;
    char message[200];
    const char *real = twin_node_network_id(f->node);
    json_object_set_new(f->net, "id", json_string("00000000000000000000000000000000"));
    snprintf(message, sizeof(message),
             "network.id: 00000000000000000000000000000000 is not derived from the founding "
             "fields (expected %s)",
             real);
    assert_descriptor_refused(f->net, message);
}

static void a_renamed_network_no_longer_matches_its_id(void **state)
{
    struct node_fixture *f = *state;
    json_object_set_new(f->net, "name", json_string("Another Network"));
    assert_int_equal(twin_membership_check_descriptor(f->net), TWIN_EINVALID);
    assert_non_null(strstr(twin_error_last(), "is not derived from the founding fields"));
}

static void a_descriptor_with_an_unknown_field_is_refused(void **state)
{
    struct node_fixture *f = *state;
    json_object_set_new(f->net, "colour", json_string("blue"));
    assert_descriptor_refused(f->net, "network.colour: unknown field");
}

static void a_descriptor_of_another_format_is_refused(void **state)
{
    struct node_fixture *f = *state;
    json_object_set_new(f->net, "format", json_integer(2));
    assert_descriptor_refused(f->net, "network.format: this twin reads format 1 only");
    json_object_set_new(f->net, "format", json_string("1"));
    assert_descriptor_refused(f->net, "network.format: this twin reads format 1 only");
}

static void a_descriptor_missing_a_founding_field_is_refused(void **state)
{
    struct node_fixture *f = *state;
    json_object_del(f->net, "nonce");
    assert_descriptor_refused(f->net,
                              "network: id, name, created, nonce and founder_key are required");
}

static void a_descriptor_with_a_bad_founder_key_is_refused(void **state)
{
    struct node_fixture *f = *state;
    json_object_set_new(f->net, "founder_key", json_string("ssh-ed25519 AAAA"));
    assert_int_equal(twin_membership_check_descriptor(f->net), TWIN_EINVALID);
    assert_true(strncmp(twin_error_last(), "network.founder_key: ", 21) == 0);
}

static void a_descriptor_without_a_policy_is_refused(void **state)
{
    struct node_fixture *f = *state;
    json_object_del(f->net, "policy");
    assert_descriptor_refused(f->net, "network.policy: required");
}

static void a_descriptor_whose_policy_is_not_an_object_is_refused(void **state)
{
    struct node_fixture *f = *state;
    json_object_set_new(f->net, "policy", json_integer(5));
    assert_int_equal(twin_membership_check_descriptor(f->net), TWIN_EINVALID);
    assert_string_equal(twin_error_last(), "network.policy: must be an object");
}

static void a_policy_admin_threshold_outside_one_to_a_hundred_is_refused(void **state)
{
    struct node_fixture *f = *state;
    json_t *policy = json_object_get(f->net, "policy");
    json_object_set_new(policy, "admin_threshold", json_integer(0));
    assert_descriptor_refused(f->net, "network.policy.admin_threshold: must be 1-100");
    json_object_set_new(policy, "admin_threshold", json_string("2"));
    assert_descriptor_refused(f->net, "network.policy.admin_threshold: must be 1-100");
    json_object_set_new(policy, "admin_threshold", json_integer(2));
    assert_int_equal(twin_membership_check_descriptor(f->net), 0);
    json_object_set_new(policy, "quorum", json_integer(2));
    assert_descriptor_refused(f->net, "network.policy.quorum: unknown field");
}

static void a_policy_admin_threshold_of_one_and_a_hundred_is_accepted(void **state)
{
    struct node_fixture *f = *state;
    json_t *policy = json_object_get(f->net, "policy");
    json_object_set_new(policy, "admin_threshold", json_integer(100));
    assert_int_equal(twin_membership_check_descriptor(f->net), 0);
    json_object_set_new(policy, "admin_threshold", json_integer(101));
    assert_descriptor_refused(f->net, "network.policy.admin_threshold: must be 1-100");
    json_object_del(policy, "admin_threshold");
    assert_descriptor_refused(f->net, "network.policy.admin_threshold: must be 1-100");
    json_object_set_new(policy, "admin_threshold", json_integer(1));
    assert_int_equal(twin_membership_check_descriptor(f->net), 0);
}

static void a_descriptor_that_is_no_object_or_names_badly_is_refused(void **state)
{
    struct node_fixture *f = *state;
    json_t *list = json_array();
    assert_descriptor_refused(list, "network.json: not a JSON object");
    assert_descriptor_refused(NULL, "network.json: not a JSON object");
    json_decref(list);
    /* The name is checked before the id is recomputed, so the message names it. */
    json_object_set_new(f->net, "name", json_string("Tax <Twinning>"));
    assert_descriptor_refused(f->net, "network.name: not a valid name");
    json_object_set_new(f->net, "name", json_integer(1));
    assert_descriptor_refused(f->net,
                              "network: id, name, created, nonce and founder_key are required");
}

/* ---- the membership of a tree --------------------------------------------------------------- */

static void the_genesis_membership_is_the_founder_as_admin(void **state)
{
    struct node_fixture *f = *state;
    git_oid head;
    git_commit *commit = NULL;
    git_tree *tree = NULL;
    struct twin_membership *m = NULL;
    enum twin_key_state key_state;
    assert_int_equal(twin_node_head(&head, f->node), 0);
    assert_int_equal(git_commit_lookup(&commit, twin_node_repo(f->node), &head), 0);
    assert_int_equal(git_commit_tree(&tree, commit), 0);
    assert_int_equal(twin_membership_load(&m, twin_node_repo(f->node), tree), 0);
    assert_string_equal(m->network_id, twin_node_network_id(f->node));
    assert_string_equal(m->network_name, "Example Tax Twinning");
    assert_int_equal(m->admin_threshold, 1);
    assert_int_equal(m->count, 1);
    assert_string_equal(m->members[0].org_id, "XE-EXAMPLE-MOF");
    assert_string_equal(m->members[0].org_type, "10");
    assert_int_equal(m->members[0].role, TWIN_ROLE_ADMIN);
    assert_int_equal(m->members[0].nkeys, 1);
    assert_ptr_equal(twin_membership_find_key(m, twin_node_key(f->node)->pk, &key_state),
                     &m->members[0]);
    assert_int_equal(key_state, TWIN_KEY_ACTIVE);
    assert_ptr_equal(twin_membership_find(m, "XE-EXAMPLE-MOF"), &m->members[0]);
    assert_null(twin_membership_find(m, "XE-EXAMPLE-RA"));
    twin_membership_free(m);
    git_tree_free(tree);
    git_commit_free(commit);
}

/* The genesis tree with files set (text) or removed (NULL). */
struct edit {
    const char *path;
    const char *text;
};

static git_tree *tree_with(struct node_fixture *f, const struct edit *edits, size_t count)
{
    git_repository *repo = twin_node_repo(f->node);
    git_tree_update updates[8];
    git_oid id;
    git_tree *tree = NULL;
    assert_true(count <= 8);
    for (size_t i = 0; i < count; i++) {
        memset(&updates[i], 0, sizeof(updates[i]));
        updates[i].path = edits[i].path;
        updates[i].action = edits[i].text ? GIT_TREE_UPDATE_UPSERT : GIT_TREE_UPDATE_REMOVE;
        updates[i].filemode = GIT_FILEMODE_BLOB;
        if (edits[i].text)
            assert_int_equal(git_blob_create_from_buffer(&updates[i].id, repo, edits[i].text,
                                                         strlen(edits[i].text)),
                             0);
    }
    assert_int_equal(git_tree_create_updated(&id, repo, f->root, count, updates), 0);
    assert_int_equal(git_tree_lookup(&tree, repo, &id), 0);
    return tree;
}

/* Canonical text of j (consumed); free() it. */
static char *canonical(json_t *j)
{
    char *text = NULL;
    size_t len;
    assert_non_null(j);
    assert_int_equal(twin_record_canonical(&text, &len, j), 0);
    json_decref(j);
    return text;
}

static void assert_load_refused(struct node_fixture *f, const struct edit *edits, size_t count,
                                int code, const char *message)
{
    struct twin_membership *m = (struct twin_membership *)1;
    git_tree *tree = tree_with(f, edits, count);
    assert_error(twin_membership_load(&m, twin_node_repo(f->node), tree), code, message);
    assert_null(m);
    git_tree_free(tree);
}

static void a_loaded_membership_reports_roles_scopes_and_key_states(void **state)
{
    struct node_fixture *f = *state;
    struct keys k;
    keys_from_seeds(&k);
    json_t *ra = twin_membership_member_json(&south, "editor", k.a.pk);
    set_key_state(ra, 0, "retired");
    add_key(ra, &k.b, "revoked");
    json_object_set_new(ra, "scope", json_string(TWIN_SCOPE_OWN));
    struct twin_identity gone_who = {"Closed Agency", "XE-EXAMPLE-GONE", "KE", "south", NULL};
    json_t *gone = twin_membership_member_json(&gone_who, "observer", k.c.pk);
    json_object_set_new(gone, "removed", json_true());
    char *ra_text = canonical(ra), *gone_text = canonical(gone);
    const struct edit edits[] = {{"members/XE-EXAMPLE-RA.json", ra_text},
                                 {"members/XE-EXAMPLE-GONE.json", gone_text}};
    git_tree *tree = tree_with(f, edits, 2);
    struct twin_membership *m = NULL;
    enum twin_key_state st;
    assert_int_equal(twin_membership_load(&m, twin_node_repo(f->node), tree), 0);
    assert_int_equal(m->count, 3);

    const struct twin_member *r = twin_membership_find(m, "XE-EXAMPLE-RA");
    assert_non_null(r);
    assert_int_equal(r->role, TWIN_ROLE_EDITOR);
    assert_true(r->own_partnerships);
    assert_false(r->removed);
    assert_null(r->org_type);
    assert_string_equal(r->name, south.name);
    assert_string_equal(r->country, "TZ");
    assert_string_equal(r->side, "south");
    assert_int_equal(r->nkeys, 2);
    assert_ptr_equal(twin_membership_find_key(m, k.a.pk, &st), r);
    assert_int_equal(st, TWIN_KEY_RETIRED);
    assert_ptr_equal(twin_membership_find_key(m, k.b.pk, &st), r);
    assert_int_equal(st, TWIN_KEY_REVOKED);
    assert_ptr_equal(twin_membership_find_key(m, k.b.pk, NULL), r); /* state is optional */

    const struct twin_member *g = twin_membership_find(m, "XE-EXAMPLE-GONE");
    assert_non_null(g);
    assert_true(g->removed);
    assert_false(g->own_partnerships);
    assert_int_equal(g->keys[0].state, TWIN_KEY_ACTIVE); /* as stored */
    assert_ptr_equal(twin_membership_find_key(m, k.c.pk, &st), g);
    assert_int_equal(st, TWIN_KEY_MEMBER_REMOVED); /* as reported */

    twin_keypair stranger;
    keypair_from_seed(&stranger, 0x5e);
    assert_null(twin_membership_find_key(m, stranger.pk, &st));
    assert_null(twin_membership_find(m, "XE-EXAMPLE"));
    assert_null(twin_membership_find(m, ""));
    twin_membership_free(m);
    git_tree_free(tree);
    free(ra_text);
    free(gone_text);
}

static void a_tree_without_members_or_descriptor_has_no_membership(void **state)
{
    struct node_fixture *f = *state;
    char member_file[64];
    snprintf(member_file, sizeof(member_file), "members/%s.json", north.org_id);
    const struct edit no_net[] = {{TWIN_NETWORK_PATH, NULL}};
    assert_load_refused(f, no_net, 1, TWIN_ENOTFOUND, "network.json: not found");
    /* members as a file, not a directory */
    git_repository *repo = twin_node_repo(f->node);
    git_treebuilder *tb = NULL;
    git_oid blob, id;
    git_tree *tree = NULL;
    struct twin_membership *m = NULL;
    assert_int_equal(git_blob_create_from_buffer(&blob, repo, "x\n", 2), 0);
    assert_int_equal(git_treebuilder_new(&tb, repo, f->root), 0);
    assert_int_equal(git_treebuilder_insert(NULL, tb, "members", &blob, GIT_FILEMODE_BLOB), 0);
    assert_int_equal(git_treebuilder_write(&id, tb), 0);
    assert_int_equal(git_tree_lookup(&tree, repo, &id), 0);
    assert_error(twin_membership_load(&m, repo, tree), TWIN_EINVALID, "members/: missing");
    assert_null(m);
    git_tree_free(tree);
    git_treebuilder_free(tb);
    /* Removing the only file of members/ removes the directory too. */
    const struct edit empty[] = {{member_file, NULL}};
    assert_load_refused(f, empty, 1, TWIN_EINVALID, "members/: missing");
}

static void a_bad_member_file_is_named_when_loading(void **state)
{
    struct node_fixture *f = *state;
    const struct edit not_json[] = {{"members/README.txt", "hello\n"}};
    assert_load_refused(f, not_json, 1, TWIN_EINVALID, "members/README.txt: not a member file");
    const struct edit short_name[] = {{"members/.json", "{}\n"}};
    assert_load_refused(f, short_name, 1, TWIN_EINVALID, "members/.json: not a member file");

    char *text = canonical(member_of(&south, "editor"));
    const struct edit misnamed[] = {{"members/XE-EXAMPLE-OTHER.json", text}};
    assert_load_refused(f, misnamed, 1, TWIN_EINVALID,
                        "members/XE-EXAMPLE-OTHER.json: member XE-EXAMPLE-RA is stored under the "
                        "name of XE-EXAMPLE-OTHER");
    free(text);

    const struct edit not_canonical[] = {{"members/XE-EXAMPLE-RA.json", "{\"name\": 1}"}};
    assert_load_refused(f, not_canonical, 1, TWIN_EINVALID, "members/XE-EXAMPLE-RA.json");

    const struct edit bad_net[] = {{TWIN_NETWORK_PATH, "{}\n"}};
    assert_load_refused(f, bad_net, 1, TWIN_EINVALID,
                        "network.format: this twin reads format 1 only");
}

/* A member file that is not in canonical form is named once, with the reason. */
static void a_member_file_that_is_not_canonical_is_named_once(void **state)
{
    struct node_fixture *f = *state;
    const struct edit not_canonical[] = {{"members/XE-EXAMPLE-RA.json", "{\"name\": 1}"}};
    git_tree *tree = tree_with(f, not_canonical, 1);
    struct twin_membership *m = NULL;
    assert_int_equal(twin_membership_load(&m, twin_node_repo(f->node), tree), TWIN_EINVALID);
    assert_string_equal(twin_error_last(),
                        "members/XE-EXAMPLE-RA.json: record is not in canonical form");
    git_tree_free(tree);
}

static void two_members_may_not_share_a_key(void **state)
{
    struct node_fixture *f = *state;
    char *text =
        canonical(twin_membership_member_json(&south, "editor", twin_node_key(f->node)->pk));
    const struct edit shared[] = {{"members/XE-EXAMPLE-RA.json", text}};
    assert_load_refused(f, shared, 1, TWIN_EINVALID,
                        "members XE-EXAMPLE-MOF and XE-EXAMPLE-RA share a key");
    free(text);
}

static void the_membership_at_head_is_the_genesis_one(void **state)
{
    struct node_fixture *f = *state;
    struct twin_membership *m = NULL;
    assert_int_equal(twin_membership_at_head(&m, f->node), 0);
    assert_non_null(m);
    assert_string_equal(m->network_id, twin_node_network_id(f->node));
    assert_int_equal(m->count, 1);
    assert_non_null(twin_membership_find_key(m, twin_node_key(f->node)->pk, NULL));
    twin_membership_free(m);
    twin_membership_free(NULL); /* allowed, like free() */
}

static void a_node_without_history_has_no_membership_at_head(void **state)
{
    struct node_fixture *f = *state;
    char path[192];
    twin_node *joined = NULL;
    struct twin_membership *m = (struct twin_membership *)1;
    snprintf(path, sizeof(path), "%s/south", f->tmp->dir);
    assert_int_equal(
        twin_node_init(&joined, path, &south, NULL, NULL, twin_node_network_id(f->node)), 0);
    assert_error(twin_membership_at_head(&m, joined), TWIN_ENOHISTORY, "no history yet");
    assert_null(m);
    twin_node_free(joined);
}

static int setup_global(void **state)
{
    return twin_global_init(false) == 0 ? 0 : -1;
}

#define NODE_TEST(t) cmocka_unit_test_setup_teardown(t, setup_node, teardown_node)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(roles_and_network_ids_parse),
        cmocka_unit_test(every_role_name_parses_back_to_its_role),
        cmocka_unit_test(a_role_is_matched_exactly),
        cmocka_unit_test(every_key_state_has_a_name),
        cmocka_unit_test(a_member_file_built_by_twin_is_accepted),
        cmocka_unit_test(the_member_json_holds_the_identity_and_one_active_key),
        cmocka_unit_test(a_member_file_with_an_unknown_field_is_refused),
        cmocka_unit_test(a_member_key_with_an_unknown_field_is_refused),
        cmocka_unit_test(a_member_file_with_a_bad_key_is_refused),
        cmocka_unit_test(a_member_file_listing_a_key_twice_is_refused),
        cmocka_unit_test(a_member_key_in_an_unknown_state_is_refused),
        cmocka_unit_test(a_member_file_stored_under_another_org_id_is_refused),
        cmocka_unit_test(a_member_file_needs_one_to_sixteen_keys),
        cmocka_unit_test(a_member_file_names_its_bad_role_and_identity),
        cmocka_unit_test(a_member_may_be_marked_removed_but_only_with_true),
        cmocka_unit_test(only_an_editor_may_be_limited_to_its_own_partnerships),
        cmocka_unit_test(a_member_may_rotate_its_own_key),
        cmocka_unit_test(a_rotation_must_retire_the_signing_key_and_add_one_active_key),
        cmocka_unit_test(a_member_may_not_change_its_own_role),
        cmocka_unit_test(a_member_may_correct_its_own_name_and_org_type),
        cmocka_unit_test(a_member_may_not_change_its_own_country_or_side),
        cmocka_unit_test(keys_stay_listed_even_for_an_admin),
        cmocka_unit_test(a_key_that_stopped_being_active_never_returns),
        cmocka_unit_test(a_removed_member_cannot_be_restored),
        cmocka_unit_test(the_network_id_hashes_each_founding_field),
        NODE_TEST(the_network_id_is_derived_from_the_founding_fields),
        NODE_TEST(a_tampered_network_id_is_detected),
        NODE_TEST(a_renamed_network_no_longer_matches_its_id),
        NODE_TEST(a_descriptor_with_an_unknown_field_is_refused),
        NODE_TEST(a_descriptor_of_another_format_is_refused),
        NODE_TEST(a_descriptor_missing_a_founding_field_is_refused),
        NODE_TEST(a_descriptor_with_a_bad_founder_key_is_refused),
        NODE_TEST(a_descriptor_without_a_policy_is_refused),
        NODE_TEST(a_descriptor_whose_policy_is_not_an_object_is_refused),
        NODE_TEST(a_policy_admin_threshold_outside_one_to_a_hundred_is_refused),
        NODE_TEST(a_policy_admin_threshold_of_one_and_a_hundred_is_accepted),
        NODE_TEST(a_descriptor_that_is_no_object_or_names_badly_is_refused),
        NODE_TEST(the_genesis_membership_is_the_founder_as_admin),
        NODE_TEST(a_loaded_membership_reports_roles_scopes_and_key_states),
        NODE_TEST(a_tree_without_members_or_descriptor_has_no_membership),
        NODE_TEST(a_bad_member_file_is_named_when_loading),
        NODE_TEST(a_member_file_that_is_not_canonical_is_named_once),
        NODE_TEST(two_members_may_not_share_a_key),
        NODE_TEST(the_membership_at_head_is_the_genesis_one),
        NODE_TEST(a_node_without_history_has_no_membership_at_head),
    };
    return cmocka_run_group_tests(tests, setup_global, NULL);
}
