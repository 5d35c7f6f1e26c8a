/* Founding a network (src/rules/network.c): the descriptor of the genesis. The membership
 * registry is tested with its module in test_membership.c, identities in test_node.c. */
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

static void the_founded_descriptor_is_accepted_and_names_the_network(void **state)
{
    struct fixture *f = *state;
    assert_int_equal(twin_membership_check_descriptor(f->net), 0);
    assert_string_equal(json_string_value(json_object_get(f->net, "id")),
                        twin_node_network_id(f->node));
    assert_string_equal(json_string_value(json_object_get(f->net, "name")), "Example Tax Twinning");
    assert_int_equal(json_integer_value(json_object_get(f->net, "format")), 1);
}

static int setup_global(void **state)
{
    return twin_global_init(false) == 0 ? 0 : -1;
}

#define NODE_TEST(t) cmocka_unit_test_setup_teardown(t, setup_node, teardown_node)

int main(void)
{
    const struct CMUnitTest tests[] = {
        NODE_TEST(the_founded_descriptor_is_accepted_and_names_the_network),
    };
    return cmocka_run_group_tests(tests, setup_global, NULL);
}
