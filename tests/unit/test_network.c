/* The network descriptor and the membership registry: member files, the network id derived from
 * the founding fields, and the membership loaded from a tree. Identity checks are tested with
 * their module in test_node.c. */
#define _XOPEN_SOURCE 700 /* nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <ftw.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "twin/network.h"
#include "twin/error.h"
#include "twin/tree.h"
#include "twin/node.h"
#include "twin/record.h"
#include "twin/twin.h"

static const struct twin_identity north = {"Ministry of Finance of Exampleland", "XE-EXAMPLE-MOF",
                                           "NL", "north", "10"};
static const struct twin_identity south = {"Revenue Authority of Samplestan", "XE-EXAMPLE-RA", "TZ",
                                           "south", NULL};

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
}

/* ---- the descriptor of a founded network ---------------------------------------------------- */

struct fixture {
    char dir[128];
    twin_node *node;
    json_t *net; /* network.json of the genesis */
};

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static int setup_node(void **state)
{
    struct fixture *f = calloc(1, sizeof(*f));
    const char *tmp = getenv("TMPDIR");
    char path[160], *text = NULL;
    size_t len;
    git_oid head;
    git_commit *commit = NULL;
    git_tree *tree = NULL;
    if (!f)
        return -1;
    snprintf(f->dir, sizeof(f->dir), "%s/twin-network-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(path, sizeof(path), "%s/north", f->dir);
    if (twin_network_create(&f->node, path, &north, "Example Tax Twinning") ||
        twin_node_head(&head, f->node) ||
        git_commit_lookup(&commit, twin_node_repo(f->node), &head) < 0 ||
        git_commit_tree(&tree, commit) < 0 ||
        twin_tree_read(&text, &len, twin_node_repo(f->node), tree, TWIN_NETWORK_PATH) ||
        twin_record_parse_canonical(&f->net, text, len)) {
        print_error("setup: %s\n", twin_error_last());
        return -1;
    }
    free(text);
    git_tree_free(tree);
    git_commit_free(commit);
    *state = f;
    return 0;
}

static int teardown_node(void **state)
{
    struct fixture *f = *state;
    json_decref(f->net);
    twin_node_free(f->node);
    nftw(f->dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    free(f);
    return 0;
}

static void assert_descriptor_refused(const json_t *net, const char *message)
{
    assert_int_equal(twin_membership_check_descriptor(net), TWIN_EINVALID);
    assert_string_equal(twin_error_last(), message);
}

static void the_founded_descriptor_is_accepted_and_names_the_network(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(twin_membership_check_descriptor(f->net), 0);
    assert_string_equal(json_string_value(json_object_get(f->net, "id")),
                        twin_node_network_id(f->node));
    assert_string_equal(json_string_value(json_object_get(f->net, "name")), "Example Tax Twinning");
    assert_int_equal(json_integer_value(json_object_get(f->net, "format")), 1);
}

/* The id is the first 16 bytes of SHA-256 over a domain line and the four founding fields, each
 * ended by a newline, in lowercase hex: anyone can recompute it from the genesis alone. */
static void the_network_id_is_derived_from_the_founding_fields(void **state)
{
    struct fixture *f = *state;
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
    struct fixture *f = *state;
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
    struct fixture *f = *state;
    json_object_set_new(f->net, "name", json_string("Another Network"));
    assert_int_equal(twin_membership_check_descriptor(f->net), TWIN_EINVALID);
    assert_non_null(strstr(twin_error_last(), "is not derived from the founding fields"));
}

static void a_descriptor_with_an_unknown_field_is_refused(void **state)
{
    struct fixture *f = *state;
    json_object_set_new(f->net, "colour", json_string("blue"));
    assert_descriptor_refused(f->net, "network.colour: unknown field");
}

static void a_descriptor_of_another_format_is_refused(void **state)
{
    struct fixture *f = *state;
    json_object_set_new(f->net, "format", json_integer(2));
    assert_descriptor_refused(f->net, "network.format: this twin reads format 1 only");
}

static void a_descriptor_missing_a_founding_field_is_refused(void **state)
{
    struct fixture *f = *state;
    json_object_del(f->net, "nonce");
    assert_descriptor_refused(f->net,
                              "network: id, name, created, nonce and founder_key are required");
}

static void a_descriptor_with_a_bad_founder_key_is_refused(void **state)
{
    struct fixture *f = *state;
    json_object_set_new(f->net, "founder_key", json_string("ssh-ed25519 AAAA"));
    assert_int_equal(twin_membership_check_descriptor(f->net), TWIN_EINVALID);
    assert_true(strncmp(twin_error_last(), "network.founder_key: ", 21) == 0);
}

static void a_descriptor_without_a_policy_is_refused(void **state)
{
    struct fixture *f = *state;
    json_object_del(f->net, "policy");
    assert_descriptor_refused(f->net, "network.policy: required");
}

static void a_descriptor_whose_policy_is_not_an_object_is_refused(void **state)
{
    struct fixture *f = *state;
    json_object_set_new(f->net, "policy", json_integer(5));
    assert_int_equal(twin_membership_check_descriptor(f->net), TWIN_EINVALID);
}

static void a_policy_admin_threshold_outside_one_to_a_hundred_is_refused(void **state)
{
    struct fixture *f = *state;
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

static void the_genesis_membership_is_the_founder_as_admin(void **state)
{
    struct fixture *f = *state;
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

static int setup_global(void **state)
{
    return twin_global_init(false) == 0 ? 0 : -1;
}

#define NODE_TEST(t) cmocka_unit_test_setup_teardown(t, setup_node, teardown_node)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(roles_and_network_ids_parse),
        cmocka_unit_test(a_member_file_built_by_twin_is_accepted),
        cmocka_unit_test(a_member_file_with_an_unknown_field_is_refused),
        cmocka_unit_test(a_member_key_with_an_unknown_field_is_refused),
        cmocka_unit_test(a_member_file_with_a_bad_key_is_refused),
        cmocka_unit_test(a_member_file_listing_a_key_twice_is_refused),
        cmocka_unit_test(a_member_key_in_an_unknown_state_is_refused),
        cmocka_unit_test(a_member_file_stored_under_another_org_id_is_refused),
        cmocka_unit_test(a_member_file_needs_one_to_sixteen_keys),
        cmocka_unit_test(a_member_file_names_its_bad_role_and_identity),
        NODE_TEST(the_founded_descriptor_is_accepted_and_names_the_network),
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
        NODE_TEST(the_genesis_membership_is_the_founder_as_admin),
    };
    return cmocka_run_group_tests(tests, setup_global, NULL);
}
