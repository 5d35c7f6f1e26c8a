/* Founding a network (src/rules/network.c): the genesis commit twin_network_found writes, the node
 * twin_network_create makes around it, and a node's settings taken back from its history. The
 * membership registry itself is tested in test_membership.c, identities in test_node.c. */
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
#include "twin/validity.h"

static const struct twin_identity north = {"Ministry of Finance of Exampleland", "XE-EXAMPLE-MOF",
                                           "NL", "north", "10"};
static const struct twin_identity south = {"Revenue Authority of Samplestan", "XE-EXAMPLE-RA", "TZ",
                                           "south", NULL};

/* ---- a node that founded a network ---------------------------------------------------------- */

struct node_fixture {
    struct fixture *tmp;
    char path[192];
    twin_node *node;
    json_t *net; /* network.json of the genesis */
};

static int setup_node(void **state)
{
    struct node_fixture *f = calloc(1, sizeof(*f));
    char *text = NULL;
    size_t len;
    git_oid head;
    git_commit *commit = NULL;
    git_tree *tree = NULL;
    void *tmp = NULL;
    if (!f || fixture_setup(&tmp))
        return -1;
    f->tmp = tmp;
    snprintf(f->path, sizeof(f->path), "%s/north", f->tmp->dir);
    if (twin_network_create(&f->node, f->path, &north, "Example Tax Twinning") ||
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
    struct node_fixture *f = *state;
    void *tmp = f->tmp;
    json_decref(f->net);
    twin_node_free(f->node);
    fixture_teardown(&tmp);
    free(f);
    return 0;
}

static void the_founded_descriptor_is_accepted_and_names_the_network(void **state)
{
    struct node_fixture *f = *state;
    assert_int_equal(twin_membership_check_descriptor(f->net), 0);
    assert_string_equal(json_string_value(json_object_get(f->net, "id")),
                        twin_node_network_id(f->node));
    assert_string_equal(json_string_value(json_object_get(f->net, "name")), "Example Tax Twinning");
    assert_int_equal(json_integer_value(json_object_get(f->net, "format")), 1);
}

static void the_created_node_holds_the_founder_as_its_only_admin(void **state)
{
    struct node_fixture *f = *state;
    struct twin_membership *m = NULL;
    char founder[TWIN_OPENSSH_PUB_MAX];
    twin_key_format_openssh(founder, twin_node_key(f->node)->pk);
    assert_string_equal(json_string_value(json_object_get(f->net, "founder_key")), founder);
    assert_int_equal(twin_membership_at_head(&m, f->node), 0);
    assert_int_equal(m->count, 1);
    assert_int_equal(m->admin_threshold, 1);
    assert_string_equal(m->members[0].org_id, north.org_id);
    assert_string_equal(m->members[0].name, north.name);
    assert_int_equal(m->members[0].role, TWIN_ROLE_ADMIN);
    assert_string_equal(twin_node_org_id(f->node), north.org_id);
    twin_membership_free(m);
}

/* ---- twin_network_found into a bare repository ---------------------------------------------- */

struct repo_fixture {
    struct fixture *tmp;
    git_repository *repo;
    twin_keypair kp;
};

static int setup_repo(void **state)
{
    struct repo_fixture *f = calloc(1, sizeof(*f));
    char path[192];
    void *tmp = NULL;
    if (!f || fixture_setup(&tmp))
        return -1;
    f->tmp = tmp;
    snprintf(path, sizeof(path), "%s/repo.git", f->tmp->dir);
    if (git_repository_init(&f->repo, path, 1) < 0)
        return -1;
    unsigned char seed[32];
    memset(seed, 0x42, sizeof(seed));
    crypto_sign_seed_keypair(f->kp.pk, f->kp.sk, seed);
    *state = f;
    return 0;
}

static int teardown_repo(void **state)
{
    struct repo_fixture *f = *state;
    void *tmp = f->tmp;
    git_repository_free(f->repo);
    fixture_teardown(&tmp);
    free(f);
    return 0;
}

static void founding_writes_one_signed_genesis_commit_on_the_branch(void **state)
{
    struct repo_fixture *f = *state;
    char id[TWIN_NETWORK_ID_LEN + 1];
    git_oid head;
    git_commit *c = NULL;
    git_tree *tree = NULL;
    struct twin_membership *m = NULL;
    struct twin_check check;
    assert_int_equal(twin_network_found(id, f->repo, &f->kp, &south, "Revenue Twinning"), 0);
    assert_true(twin_node_network_id_valid(id));
    assert_int_equal(git_reference_name_to_id(&head, f->repo, TWIN_BRANCH), 0);
    assert_int_equal(git_commit_lookup(&c, f->repo, &head), 0);
    assert_int_equal(git_commit_parentcount(c), 0);
    assert_string_equal(git_commit_author(c)->name, south.name);
    assert_string_equal(git_commit_author(c)->email, south.org_id);
    assert_non_null(strstr(git_commit_message(c), "found network Revenue Twinning"));
    assert_non_null(strstr(git_commit_message(c), id));
    /* The tree holds the descriptor and the founder's member file, nothing else. */
    assert_int_equal(git_commit_tree(&tree, c), 0);
    assert_int_equal(git_tree_entrycount(tree), 2);
    assert_non_null(git_tree_entry_byname(tree, TWIN_NETWORK_PATH));
    assert_non_null(git_tree_entry_byname(tree, TWIN_MEMBERS_DIR));
    assert_int_equal(twin_membership_load(&m, f->repo, tree), 0);
    assert_string_equal(m->network_id, id);
    assert_string_equal(m->network_name, "Revenue Twinning");
    assert_int_equal(m->count, 1);
    assert_string_equal(m->members[0].org_id, south.org_id);
    assert_null(m->members[0].org_type);
    assert_int_equal(m->members[0].role, TWIN_ROLE_ADMIN);
    assert_non_null(twin_membership_find_key(m, f->kp.pk, NULL));
    /* The validity predicate accepts it, signed by the founder. */
    assert_int_equal(twin_validity_check_commit(&check, f->repo, &head, NULL), 0);
    if (!check.valid)
        fail_msg("the genesis is not valid: %s", check.reason);
    assert_string_equal(check.org_id, south.org_id);
    assert_memory_equal(check.signer, f->kp.pk, TWIN_PUBKEY_BYTES);
    twin_membership_free(m);
    git_tree_free(tree);
    git_commit_free(c);
}

static void every_founding_makes_a_new_network_id(void **state)
{
    struct repo_fixture *f = *state;
    char a[TWIN_NETWORK_ID_LEN + 1], b[TWIN_NETWORK_ID_LEN + 1], path[192];
    git_repository *other = NULL;
    snprintf(path, sizeof(path), "%s/other.git", f->tmp->dir);
    assert_int_equal(git_repository_init(&other, path, 1), 0);
    /* Same key, identity and name: the random nonce alone tells the networks apart. */
    assert_int_equal(twin_network_found(a, f->repo, &f->kp, &north, "Same Name"), 0);
    assert_int_equal(twin_network_found(b, other, &f->kp, &north, "Same Name"), 0);
    assert_string_not_equal(a, b);
    git_repository_free(other);
}

static void founding_refuses_a_bad_name_and_writes_no_branch(void **state)
{
    struct repo_fixture *f = *state;
    char id[TWIN_NETWORK_ID_LEN + 1];
    git_oid head;
    /* The last one hides text behind U+202E RIGHT-TO-LEFT OVERRIDE. */
    const char *bad[] = {"", " Leading space", "A <b>", "Two\nlines", "Hidden\u202etext"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        assert_error(twin_network_found(id, f->repo, &f->kp, &north, bad[i]), TWIN_EINVALID,
                     "network name: required, one line of at most 200 characters");
    assert_error(twin_network_found(id, f->repo, &f->kp, &north, NULL), TWIN_EINVALID,
                 "network name");
    assert_int_equal(git_reference_name_to_id(&head, f->repo, TWIN_BRANCH), GIT_ENOTFOUND);
}

static void founding_twice_in_one_repository_is_a_conflict(void **state)
{
    struct repo_fixture *f = *state;
    char first[TWIN_NETWORK_ID_LEN + 1], second[TWIN_NETWORK_ID_LEN + 1] = "";
    git_oid before, after;
    assert_int_equal(twin_network_found(first, f->repo, &f->kp, &north, "First"), 0);
    assert_int_equal(git_reference_name_to_id(&before, f->repo, TWIN_BRANCH), 0);
    assert_error(twin_network_found(second, f->repo, &f->kp, &north, "Second"), TWIN_ECONFLICT,
                 "the branch moved");
    assert_int_equal(git_reference_name_to_id(&after, f->repo, TWIN_BRANCH), 0);
    assert_true(git_oid_equal(&before, &after));
    assert_string_equal(second, ""); /* no id handed back */
}

/* ---- twin_network_create -------------------------------------------------------------------- */

static void creating_refuses_a_bad_name_before_touching_the_disk(void **state)
{
    struct fixture *f = *state;
    char path[192];
    struct stat st;
    twin_node *n = (twin_node *)1;
    snprintf(path, sizeof(path), "%s/node", f->dir);
    assert_error(twin_network_create(&n, path, &north, "Tax <Twinning>"), TWIN_EINVALID,
                 "network name: required");
    assert_null(n);
    assert_int_not_equal(stat(path, &st), 0);
    assert_error(twin_network_create(&n, path, &north, ""), TWIN_EINVALID, "network name");
    assert_int_not_equal(stat(path, &st), 0);
}

static void creating_refuses_a_bad_identity_and_an_existing_node(void **state)
{
    struct fixture *f = *state;
    char path[192];
    struct stat st;
    twin_node *n = NULL;
    struct twin_identity bad = north;
    bad.side = "east";
    snprintf(path, sizeof(path), "%s/node", f->dir);
    assert_error(twin_network_create(&n, path, &bad, "Example"), TWIN_EINVALID, "side 'east'");
    assert_int_not_equal(stat(path, &st), 0);
    assert_int_equal(twin_network_create(&n, path, &north, "Example"), 0);
    twin_node_free(n);
    assert_error(twin_network_create(&n, path, &north, "Example"), TWIN_EEXISTS,
                 "a node already exists in");
    assert_null(n);
}

/* ---- settings from history ------------------------------------------------------------------ */

static const char *const settings[] = {"twin.network", "twin.orgid", "twin.name",
                                       "twin.country", "twin.side",  "twin.orgtype"};

/* Deletes the [twin] settings from the repository of the node in dir (closed). */
static void forget_settings(const char *dir)
{
    char path[256];
    git_repository *repo = NULL;
    git_config *cfg = NULL;
    snprintf(path, sizeof(path), "%s/repo.git", dir);
    assert_int_equal(git_repository_open_bare(&repo, path), 0);
    assert_int_equal(git_repository_config(&cfg, repo), 0);
    for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++)
        git_config_delete_entry(cfg, settings[i]); /* orgtype may be unset */
    git_config_free(cfg);
    git_repository_free(repo);
}

static void settings_come_back_from_history(void **state)
{
    struct node_fixture *f = *state;
    char network_id[TWIN_NETWORK_ID_LEN + 1], *v = NULL;
    twin_node *n = NULL;
    snprintf(network_id, sizeof(network_id), "%s", twin_node_network_id(f->node));
    twin_node_free(f->node);
    f->node = NULL;
    forget_settings(f->path);
    assert_error(twin_node_open(&n, f->path, NULL), TWIN_ENOTFOUND,
                 "node settings: setting twin.network is not set");
    assert_null(n);
    assert_int_equal(twin_node_open(&f->node, f->path, twin_network_settings_from_history), 0);
    assert_string_equal(twin_node_network_id(f->node), network_id);
    assert_string_equal(twin_node_org_id(f->node), north.org_id);
    const char *want[] = {network_id,    north.org_id, north.name,
                          north.country, north.side,   north.org_type};
    for (size_t i = 0; i < sizeof(settings) / sizeof(settings[0]); i++) {
        assert_int_equal(twin_node_config_get(&v, f->node, settings[i]), 0);
        assert_string_equal(v, want[i]);
        free(v);
    }
    assert_int_equal(twin_node_config_get(&v, f->node, "core.logallrefupdates"), 0);
    assert_string_equal(v, "always");
    free(v);
}

static void settings_need_history_to_come_back_from(void **state)
{
    struct node_fixture *f = *state;
    char path[192];
    twin_node *n = NULL;
    snprintf(path, sizeof(path), "%s/south", f->tmp->dir);
    assert_int_equal(twin_node_init(&n, path, &south, NULL, NULL, twin_node_network_id(f->node)),
                     0);
    twin_node_free(n);
    forget_settings(path);
    assert_error(twin_node_open(&n, path, twin_network_settings_from_history), TWIN_ENOTFOUND,
                 "twin.network is not set, and the repository holds no history to take it from");
    assert_null(n);
}

static void settings_need_a_key_that_belongs_to_a_member(void **state)
{
    struct node_fixture *f = *state;
    char key[256];
    twin_keypair stranger;
    twin_node *n = NULL;
    twin_node_free(f->node);
    f->node = NULL;
    forget_settings(f->path);
    snprintf(key, sizeof(key), "%s/node.key", f->path);
    assert_int_equal(unlink(key), 0);
    keypair_from_seed(&stranger, 0x77);
    assert_int_equal(twin_key_save(key, &stranger, "stranger"), 0);
    assert_error(twin_node_open(&n, f->path, twin_network_settings_from_history), TWIN_ENOTFOUND,
                 "node.key belongs to no member of the network in this repository");
    assert_null(n);
}

static int setup_global(void **state)
{
    return twin_global_init(false) == 0 ? 0 : -1;
}

#define NODE_TEST(t) cmocka_unit_test_setup_teardown(t, setup_node, teardown_node)
#define REPO_TEST(t) cmocka_unit_test_setup_teardown(t, setup_repo, teardown_repo)
#define DIR_TEST(t)  cmocka_unit_test_setup_teardown(t, fixture_setup, fixture_teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        NODE_TEST(the_founded_descriptor_is_accepted_and_names_the_network),
        NODE_TEST(the_created_node_holds_the_founder_as_its_only_admin),
        REPO_TEST(founding_writes_one_signed_genesis_commit_on_the_branch),
        REPO_TEST(every_founding_makes_a_new_network_id),
        REPO_TEST(founding_refuses_a_bad_name_and_writes_no_branch),
        REPO_TEST(founding_twice_in_one_repository_is_a_conflict),
        DIR_TEST(creating_refuses_a_bad_name_before_touching_the_disk),
        DIR_TEST(creating_refuses_a_bad_identity_and_an_existing_node),
        NODE_TEST(settings_come_back_from_history),
        NODE_TEST(settings_need_history_to_come_back_from),
        NODE_TEST(settings_need_a_key_that_belongs_to_a_member),
    };
    return cmocka_run_group_tests(tests, setup_global, NULL);
}
