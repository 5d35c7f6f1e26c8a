/* Peers in a node's config: addresses as HOST:PORT or [IPv6]:PORT, node keys in either public
 * form, names safe as config subsections; adding, listing in name order, removing, recording a
 * session's outcome, and all of it read back by a node opened again. */
#define _XOPEN_SOURCE 700 /* nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <time.h>

#include "helpers.h"
#include "twin/network.h"
#include "twin/node.h"
#include "twin/ops.h"
#include "twin/peers.h"
#include "twin/global.h"

static const struct twin_identity who = {"Ministry of Finance of Exampleland", "XE-EXAMPLE-MOF",
                                         "NL", "north", "10"};

struct env {
    struct fixture *f;
    char dir[160];
    twin_node *node;
    twin_keypair a, b, c;
    char a_line[TWIN_OPENSSH_PUB_MAX], b_id[TWIN_NODE_ID_LEN + 1];
};

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));
    if (!e || fixture_setup((void **)&e->f))
        return -1;
    snprintf(e->dir, sizeof(e->dir), "%s/node", e->f->dir);
    if (twin_network_create(&e->node, e->dir, &who, "Example Tax Twinning")) {
        print_error("create: %s\n", twin_error_last());
        return -1;
    }
    keypair_from_seed(&e->a, 0xa1);
    keypair_from_seed(&e->b, 0xb2);
    keypair_from_seed(&e->c, 0xc3);
    twin_key_format_openssh(e->a_line, e->a.pk);
    twin_key_node_id(e->b_id, e->b.pk);
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;
    twin_node_free(e->node);
    void *f = e->f;
    fixture_teardown(&f);
    free(e);
    return 0;
}

static void reopen(struct env *e)
{
    twin_node_free(e->node);
    e->node = NULL;
    if (twin_ops_open(&e->node, e->dir))
        fail_msg("reopen: %s", twin_error_last());
}

static size_t count_peers(twin_node *n)
{
    struct twin_peer *list = NULL;
    size_t count = 0;
    if (twin_peers_list(&list, &count, n))
        fail_msg("list: %s", twin_error_last());
    free(list);
    return count;
}

/* ---- addresses ------------------------------------------------------------------------------ */

static void parse_ok(const char *address, const char *want_host, const char *want_port)
{
    char host[256], port[8];
    memset(host, 'x', sizeof(host));
    memset(port, 'x', sizeof(port));
    if (twin_peers_address_parse(host, port, address))
        fail_msg("'%s' refused: %s", address, twin_error_last());
    assert_string_equal(host, want_host);
    assert_string_equal(port, want_port);
}

static void parse_bad(const char *address)
{
    char host[256], port[8], expect[600];
    snprintf(expect, sizeof(expect), "'%s' is not HOST:PORT (use [ADDRESS]:PORT for IPv6)",
             address);
    int rc = twin_peers_address_parse(host, port, address);
    if (rc != TWIN_EINVALID)
        fail_msg("'%s' gave %d (host '%s', port '%s'), not TWIN_EINVALID", address, rc,
                 rc == 0 ? host : "", rc == 0 ? port : "");
    assert_string_equal(twin_error_last(), expect);
}

static void ipv4_names_and_ipv6_addresses_split_into_host_and_port(void **state)
{
    parse_ok("192.0.2.7:7447", "192.0.2.7", "7447");
    parse_ok("127.0.0.1:1", "127.0.0.1", "1");
    parse_ok("twin.example.org:65535", "twin.example.org", "65535");
    parse_ok("[2001:db8::7]:7447", "2001:db8::7", "7447");
    parse_ok("[::1]:80", "::1", "80");
    parse_ok("[fe80::1%eth0]:7447", "fe80::1%eth0", "7447");
    /* Port 0 (any free port) is for listening, so the parser takes it. */
    parse_ok("127.0.0.1:0", "127.0.0.1", "0");
    parse_ok("[::]:0", "::", "0");

    /* The longest host a name may have. */
    char longest[300], want[256];
    memset(want, 'h', 255);
    want[255] = '\0';
    snprintf(longest, sizeof(longest), "%s:7447", want);
    parse_ok(longest, want, "7447");
}

static void addresses_that_are_not_host_and_port_are_refused_by_name(void **state)
{
    parse_bad("192.0.2.7");         /* no port */
    parse_bad("192.0.2.7:");        /* an empty port */
    parse_bad(":7447");             /* no host */
    parse_bad("");                  /* nothing */
    parse_bad("192.0.2.7:65536");   /* beyond the last port */
    parse_bad("192.0.2.7:123456");  /* six digits */
    parse_bad("192.0.2.7:-1");      /* a sign */
    parse_bad("192.0.2.7:+80");     /* a sign */
    parse_bad("192.0.2.7:80a");     /* not digits */
    parse_bad("192.0.2.7: 80");     /* a space */
    parse_bad("2001:db8::7:7447");  /* IPv6 without brackets */
    parse_bad("[2001:db8::7]");     /* brackets but no port */
    parse_bad("[2001:db8::7]7447"); /* no colon after the bracket */
    parse_bad("[2001:db8::7:7447"); /* no closing bracket */
    parse_bad("[]:7447");           /* an empty IPv6 host */
    parse_bad("[::1]:");            /* an empty port after brackets */
    parse_bad("[::1]:65536");       /* beyond the last port after brackets */
    parse_bad("example.org:80:81"); /* two ports */
    parse_bad("not an address at all");

    /* A host of 256 characters is one too many. */
    char too_long[300];
    memset(too_long, 'h', 256);
    snprintf(too_long + 256, sizeof(too_long) - 256, ":7447");
    parse_bad(too_long);
}

/* ---- adding, listing, removing -------------------------------------------------------------- */

static void added_peers_are_listed_by_name_with_address_and_key(void **state)
{
    struct env *e = *state;
    assert_int_equal(count_peers(e->node), 0);
    /* A key as its OpenSSH line, and one as its node id. */
    assert_int_equal(twin_peers_add(e->node, "south", "192.0.2.7:7447", e->a_line), 0);
    assert_int_equal(twin_peers_add(e->node, "fund.se", "[2001:db8::7]:7448", e->b_id), 0);
    assert_int_equal(twin_peers_add(e->node, "Mid_1-a", "relay.example.org:9", e->b_id), 0);

    struct twin_peer *list = NULL;
    size_t count = 0;
    assert_int_equal(twin_peers_list(&list, &count, e->node), 0);
    assert_int_equal(count, 3);
    assert_string_equal(list[0].name, "Mid_1-a"); /* sorted by name, byte order */
    assert_string_equal(list[1].name, "fund.se");
    assert_string_equal(list[2].name, "south");
    assert_string_equal(list[1].host, "2001:db8::7");
    assert_string_equal(list[1].port, "7448");
    assert_memory_equal(list[1].key, e->b.pk, TWIN_PUBKEY_BYTES);
    assert_string_equal(list[2].host, "192.0.2.7");
    assert_string_equal(list[2].port, "7447");
    assert_memory_equal(list[2].key, e->a.pk, TWIN_PUBKEY_BYTES);
    for (size_t i = 0; i < count; i++) {
        assert_int_equal(list[i].last_time, 0); /* never synced */
        assert_string_equal(list[i].last_result, "");
    }
    free(list);

    struct twin_peer p;
    assert_int_equal(twin_peers_get(&p, e->node, "fund.se"), 0);
    assert_string_equal(p.name, "fund.se");
    assert_string_equal(p.host, "2001:db8::7");
    assert_memory_equal(p.key, e->b.pk, TWIN_PUBKEY_BYTES);
}

static void a_name_already_taken_is_refused_and_the_first_peer_kept(void **state)
{
    struct env *e = *state;
    assert_int_equal(twin_peers_add(e->node, "south", "192.0.2.7:7447", e->a_line), 0);
    assert_error(twin_peers_add(e->node, "south", "192.0.2.8:7447", e->b_id), TWIN_EEXISTS,
                 "a peer named south exists (remove it first)");
    struct twin_peer p;
    assert_int_equal(twin_peers_get(&p, e->node, "south"), 0);
    assert_string_equal(p.host, "192.0.2.7");
    assert_memory_equal(p.key, e->a.pk, TWIN_PUBKEY_BYTES);
    assert_int_equal(count_peers(e->node), 1);
}

static void names_that_are_unsafe_in_a_config_are_refused(void **state)
{
    struct env *e = *state;
    char long_name[TWIN_PEER_NAME_MAX + 2];
    memset(long_name, 'n', TWIN_PEER_NAME_MAX + 1);
    long_name[TWIN_PEER_NAME_MAX + 1] = '\0';
    const char *bad[] = {"",       "-south", ".south", "_south",  "so uth", "so\"uth",
                         "so]uth", "so/uth", "södra",  "so\nuth", long_name};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char expect[200];
        snprintf(expect, sizeof(expect), "peer name '%s': use letters, digits, '-', '_', '.'",
                 bad[i]);
        assert_error(twin_peers_add(e->node, bad[i], "192.0.2.7:7447", e->a_line), TWIN_EINVALID,
                     expect);
    }
    /* The longest name allowed. */
    long_name[TWIN_PEER_NAME_MAX] = '\0';
    assert_int_equal(twin_peers_add(e->node, long_name, "192.0.2.7:7447", e->a_line), 0);
    assert_int_equal(count_peers(e->node), 1);
}

static void a_bad_address_is_refused_and_nothing_written(void **state)
{
    struct env *e = *state;
    assert_error(twin_peers_add(e->node, "south", "192.0.2.7", e->a_line), TWIN_EINVALID,
                 "'192.0.2.7' is not HOST:PORT");
    assert_error(twin_peers_add(e->node, "south", "192.0.2.7:65536", e->a_line), TWIN_EINVALID,
                 "'192.0.2.7:65536' is not HOST:PORT");
    assert_error(twin_peers_add(e->node, "south", "2001:db8::7:7447", e->a_line), TWIN_EINVALID,
                 "use [ADDRESS]:PORT for IPv6");
    /* One listens on port 0, but cannot be reached on it. */
    assert_error(twin_peers_add(e->node, "south", "192.0.2.7:0", e->a_line), TWIN_EINVALID,
                 "'192.0.2.7:0': a peer's port cannot be 0");
    assert_error(twin_peers_add(e->node, "south", "[::1]:0", e->a_line), TWIN_EINVALID,
                 "a peer's port cannot be 0");
    assert_int_equal(count_peers(e->node), 0);
    struct twin_peer p;
    assert_int_equal(twin_peers_get(&p, e->node, "south"), TWIN_ENOTFOUND);
}

/* Port 0 written with more digits is still port 0. */
static void port_zero_with_leading_zeros_is_refused(void **state)
{
    struct env *e = *state;
    assert_error(twin_peers_add(e->node, "south", "192.0.2.7:00", e->a_line), TWIN_EINVALID,
                 "'192.0.2.7:00': a peer's port cannot be 0");
    assert_error(twin_peers_add(e->node, "south", "[::1]:00000", e->a_line), TWIN_EINVALID,
                 "a peer's port cannot be 0");
    /* Leading zeros on a port that is not 0 are only digits: the peer is stored. */
    assert_int_equal(twin_peers_add(e->node, "south", "192.0.2.7:07447", e->a_line), 0);
    struct twin_peer p;
    assert_int_equal(twin_peers_get(&p, e->node, "south"), 0);
    assert_int_equal(strtol(p.port, NULL, 10), 7447);
    assert_int_equal(twin_peers_remove(e->node, "south"), 0);
    assert_int_equal(count_peers(e->node), 0);
}

static void a_bad_node_key_is_refused_naming_the_fault(void **state)
{
    struct env *e = *state;
    char short_id[TWIN_NODE_ID_LEN];
    memcpy(short_id, e->b_id, TWIN_NODE_ID_LEN - 1);
    short_id[TWIN_NODE_ID_LEN - 1] = '\0';
    assert_error(twin_peers_add(e->node, "south", "192.0.2.7:7447", short_id), TWIN_EINVALID,
                 "peer key: node id: 63 hex characters, expected 64");
    assert_error(twin_peers_add(e->node, "south", "192.0.2.7:7447", ""), TWIN_EINVALID,
                 "peer key: expected a node id (64 hex characters) or an OpenSSH public key");
    assert_error(twin_peers_add(e->node, "south", "192.0.2.7:7447", "not a key"), TWIN_EINVALID,
                 "peer key: expected a node id");
    assert_error(twin_peers_add(e->node, "south", "192.0.2.7:7447", "ssh-rsa AAAAB3NzaC1yc2E"),
                 TWIN_EINVALID, "peer key: public key: key type \"ssh-rsa\" is not supported");
    assert_error(twin_peers_add(e->node, "south", "192.0.2.7:7447", "ssh-ed25519 !!!"),
                 TWIN_EINVALID, "peer key: public key: key is not valid base64");
    /* A line cut short: the base64 holds fewer bytes than an ssh-ed25519 key. */
    char damaged[TWIN_OPENSSH_PUB_MAX];
    snprintf(damaged, sizeof(damaged), "%s", e->a_line);
    damaged[strlen(damaged) - 4] = '\0';
    assert_error(twin_peers_add(e->node, "south", "192.0.2.7:7447", damaged), TWIN_EINVALID,
                 "peer key: public key: public key truncated at key bytes");
    /* This node's own key is no peer. */
    char own[TWIN_OPENSSH_PUB_MAX];
    twin_key_format_openssh(own, twin_node_key(e->node)->pk);
    assert_error(twin_peers_add(e->node, "self", "192.0.2.7:7447", own), TWIN_EINVALID,
                 "that is this node's own key");
    assert_int_equal(count_peers(e->node), 0);
}

static void removing_takes_the_peer_and_its_record_away(void **state)
{
    struct env *e = *state;
    assert_int_equal(twin_peers_add(e->node, "south", "192.0.2.7:7447", e->a_line), 0);
    assert_int_equal(twin_peers_add(e->node, "fund", "192.0.2.9:7447", e->b_id), 0);
    assert_int_equal(twin_peers_record(e->node, "south", "ok: 3 commits received"), 0);
    assert_int_equal(twin_peers_remove(e->node, "south"), 0);
    struct twin_peer p;
    assert_error(twin_peers_get(&p, e->node, "south"), TWIN_ENOTFOUND,
                 "no peer named 'south' (see: twin peer list)");
    assert_int_equal(count_peers(e->node), 1);
    assert_int_equal(twin_peers_get(&p, e->node, "fund"), 0);

    /* The name is free again, with no trace of the old peer's sessions. */
    assert_int_equal(twin_peers_add(e->node, "south", "192.0.2.8:7447", e->b_id), 0);
    assert_int_equal(twin_peers_get(&p, e->node, "south"), 0);
    assert_string_equal(p.host, "192.0.2.8");
    assert_int_equal(p.last_time, 0);
    assert_string_equal(p.last_result, "");
}

static void removing_or_getting_an_unknown_peer_is_not_found(void **state)
{
    struct env *e = *state;
    struct twin_peer p;
    assert_error(twin_peers_remove(e->node, "nobody"), TWIN_ENOTFOUND, "no peer named 'nobody'");
    assert_error(twin_peers_get(&p, e->node, "nobody"), TWIN_ENOTFOUND, "no peer named 'nobody'");
    /* A name that could not be a peer's is not found either, without touching the config. */
    assert_error(twin_peers_get(&p, e->node, "no body"), TWIN_ENOTFOUND, "no peer named 'no body'");
    assert_error(twin_peers_remove(e->node, "a.b]c"), TWIN_ENOTFOUND, "no peer named 'a.b]c'");
}

static void removing_one_peer_leaves_a_name_that_differs_in_case(void **state)
{
    struct env *e = *state;
    assert_int_equal(twin_peers_add(e->node, "South", "192.0.2.7:7447", e->a_line), 0);
    assert_int_equal(twin_peers_add(e->node, "south", "192.0.2.8:7447", e->b_id), 0);
    assert_int_equal(count_peers(e->node), 2);
    /* Config subsections, the peer names, are case-sensitive: removing "south" leaves
     * "South" and all its entries. */
    assert_int_equal(twin_peers_remove(e->node, "south"), 0);
    struct twin_peer p;
    assert_int_equal(twin_peers_get(&p, e->node, "South"), 0);
    assert_string_equal(p.host, "192.0.2.7");
    assert_int_equal(count_peers(e->node), 1);
}

/* ---- sessions and persistence --------------------------------------------------------------- */

static void a_session_outcome_is_recorded_with_its_time(void **state)
{
    struct env *e = *state;
    assert_int_equal(twin_peers_add(e->node, "south", "192.0.2.7:7447", e->a_line), 0);
    int64_t before = (int64_t)time(NULL);
    assert_int_equal(twin_peers_record(e->node, "south", "failed: connection refused"), 0);
    struct twin_peer p;
    assert_int_equal(twin_peers_get(&p, e->node, "south"), 0);
    assert_string_equal(p.last_result, "failed: connection refused");
    assert_true(p.last_time >= before);
    assert_true(p.last_time <= (int64_t)time(NULL));
    /* A later outcome replaces it. */
    assert_int_equal(twin_peers_record(e->node, "south", "ok: up to date"), 0);
    assert_int_equal(twin_peers_get(&p, e->node, "south"), 0);
    assert_string_equal(p.last_result, "ok: up to date");
}

static void peers_persist_across_reopening_the_node(void **state)
{
    struct env *e = *state;
    assert_int_equal(twin_peers_add(e->node, "south", "192.0.2.7:7447", e->a_line), 0);
    assert_int_equal(twin_peers_add(e->node, "fund", "[2001:db8::9]:7447", e->b_id), 0);
    assert_int_equal(twin_peers_record(e->node, "fund", "ok: 2 commits sent"), 0);
    reopen(e);
    struct twin_peer *list = NULL;
    size_t count = 0;
    assert_int_equal(twin_peers_list(&list, &count, e->node), 0);
    assert_int_equal(count, 2);
    assert_string_equal(list[0].name, "fund");
    assert_string_equal(list[0].host, "2001:db8::9");
    assert_memory_equal(list[0].key, e->b.pk, TWIN_PUBKEY_BYTES);
    assert_string_equal(list[0].last_result, "ok: 2 commits sent");
    assert_true(list[0].last_time > 0);
    assert_string_equal(list[1].name, "south");
    assert_memory_equal(list[1].key, e->a.pk, TWIN_PUBKEY_BYTES);
    free(list);

    /* A removal persists too. */
    assert_int_equal(twin_peers_remove(e->node, "south"), 0);
    reopen(e);
    assert_int_equal(count_peers(e->node), 1);

    /* The key is stored as an OpenSSH line, whichever form it was given in, in the config of
     * the node's repository, where git itself reads it. */
    char path[256], want[TWIN_OPENSSH_PUB_MAX];
    git_config *c = NULL;
    git_buf buf = GIT_BUF_INIT;
    snprintf(path, sizeof(path), "%s/repo.git/config", e->dir);
    assert_int_equal(git_config_open_ondisk(&c, path), 0);
    assert_int_equal(git_config_get_string_buf(&buf, c, "peer.fund.key"), 0);
    twin_key_format_openssh(want, e->b.pk);
    assert_string_equal(buf.ptr, want);
    git_buf_dispose(&buf);
    git_config_free(c);
}

/* A peer damaged by hand in the config is named when read, and left out of the list. */
static void a_peer_damaged_in_the_config_is_named(void **state)
{
    struct env *e = *state;
    assert_int_equal(twin_peers_add(e->node, "south", "192.0.2.7:7447", e->a_line), 0);
    assert_int_equal(twin_peers_add(e->node, "fund", "192.0.2.9:7447", e->b_id), 0);
    char path[256];
    git_config *c = NULL;
    snprintf(path, sizeof(path), "%s/repo.git/config", e->dir);
    assert_int_equal(git_config_open_ondisk(&c, path), 0);
    assert_int_equal(git_config_set_string(c, "peer.south.address", "192.0.2.7"), 0);
    assert_int_equal(git_config_set_string(c, "peer.fund.key", "ssh-ed25519 AAAA"), 0);
    git_config_free(c);
    reopen(e);
    struct twin_peer p;
    assert_error(twin_peers_get(&p, e->node, "south"), TWIN_EINVALID,
                 "peer south in the config: '192.0.2.7' is not HOST:PORT");
    assert_error(twin_peers_get(&p, e->node, "fund"), TWIN_EINVALID,
                 "peer fund in the config: public key");
    assert_int_equal(count_peers(e->node), 0);
}

static int setup_global(void **state)
{
    return twin_global_init(false) == 0 ? 0 : -1;
}

static int teardown_global(void **state)
{
    twin_global_shutdown();
    return 0;
}

#define ENV_TEST(t) cmocka_unit_test_setup_teardown(t, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ipv4_names_and_ipv6_addresses_split_into_host_and_port),
        cmocka_unit_test(addresses_that_are_not_host_and_port_are_refused_by_name),
        ENV_TEST(added_peers_are_listed_by_name_with_address_and_key),
        ENV_TEST(a_name_already_taken_is_refused_and_the_first_peer_kept),
        ENV_TEST(names_that_are_unsafe_in_a_config_are_refused),
        ENV_TEST(a_bad_address_is_refused_and_nothing_written),
        ENV_TEST(port_zero_with_leading_zeros_is_refused),
        ENV_TEST(a_bad_node_key_is_refused_naming_the_fault),
        ENV_TEST(removing_takes_the_peer_and_its_record_away),
        ENV_TEST(removing_or_getting_an_unknown_peer_is_not_found),
        ENV_TEST(removing_one_peer_leaves_a_name_that_differs_in_case),
        ENV_TEST(a_session_outcome_is_recorded_with_its_time),
        ENV_TEST(peers_persist_across_reopening_the_node),
        ENV_TEST(a_peer_damaged_in_the_config_is_named),
    };
    return cmocka_run_group_tests(tests, setup_global, teardown_global);
}
