/*
 * Sync runs with configured peers (src/sync/syncrun.c): the words a session's outcome is summed
 * up in (the wraps too, when any moved), a run against a node served in this process (the line,
 * the head it reached, what the session did, the outcome recorded in the peer's entry), and a run
 * against an address nobody answers (the failure named in the line and in the entry). Every wait
 * is bounded.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "helpers.h"
#include "twin/network.h"
#include "twin/node.h"
#include "twin/ops.h"
#include "twin/peers.h"
#include "twin/record.h"
#include "twin/service.h"
#include "twin/syncrun.h"
#include "twin/global.h"

static void describe_sums_a_session_up(void **state)
{
    struct twin_sync_stats st;
    char out[800];

    memset(&st, 0, sizeof(st));
    st.received_commits = 1;
    twin_syncrun_describe(out, sizeof(out), &st);
    assert_string_equal(out, "received 1 commit, sent 0");

    memset(&st, 0, sizeof(st));
    st.received_commits = 3;
    st.sent_commits = 2;
    st.merged = true;
    st.conflicts = 2;
    st.has_head = true;
    assert_int_equal(git_oid_fromstr(&st.head, "1a2b3c4d5e6f708192a3b4c5d6e7f80912345678"), 0);
    twin_syncrun_describe(out, sizeof(out), &st);
    assert_string_equal(out, "received 3 commits, sent 2, merged with conflicts (2), head "
                             "1a2b3c4d5e6f");

    /* Sealed records' wraps, when any moved. */
    st.wraps = true;
    twin_syncrun_describe(out, sizeof(out), &st);
    assert_null(strstr(out, "wraps")); /* both speak wraps/1, but none moved */
    st.wraps_received = 12;
    st.wraps_kept = 10;
    st.wraps_dropped = 1;
    st.wraps_sent = 4;
    twin_syncrun_describe(out, sizeof(out), &st);
    assert_string_equal(out, "received 3 commits, sent 2, merged with conflicts (2), head "
                             "1a2b3c4d5e6f; wraps: 12 received, 10 kept, 1 dropped, 4 sent");

    /* Commits dated ahead of this node's clock: the first few named, the rest counted. */
    memset(&st, 0, sizeof(st));
    st.received_commits = 6;
    st.nahead = TWIN_SYNC_AHEAD_LISTED + 2;
    for (size_t i = 0; i < TWIN_SYNC_AHEAD_LISTED; i++) {
        assert_int_equal(
            git_oid_fromstr(&st.ahead[i].commit, "abcdef0123456789abcdef0123456789abcdef01"), 0);
        st.ahead[i].time = INT64_C(4102444800); /* 2100-01-01 */
        snprintf(st.ahead[i].org_id, sizeof(st.ahead[i].org_id), "%s",
                 i == 0 ? "" : "XE-EXAMPLE-S");
    }
    twin_syncrun_describe(out, sizeof(out), &st);
    assert_non_null(strstr(out, "received 6 commits, sent 0; 6 commits dated more than a day "
                                "ahead of this node's clock: abcdef012345 by (not a member), "
                                "dated 2100-01-01"));
    assert_non_null(strstr(out, ", abcdef012345 by XE-EXAMPLE-S, dated 2100-01-01"));
    assert_non_null(strstr(out, ", and 2 more (twin verify lists them all)"));
}

/* --- a node served on a thread of this process --- */

struct served {
    twin_service *service;
    pthread_t thread;
    int rc;
};

static void *serve_main(void *arg)
{
    struct served *s = arg;
    s->rc = twin_service_run(s->service);
    return NULL;
}

static void serve_start(struct served *s, const char *dir)
{
    twin_service_options o = {.listen = "127.0.0.1:0", .interval = 3600};
    memset(s, 0, sizeof(*s));
    if (twin_service_new(&s->service, dir, &o))
        fail_msg("service: %s", twin_error_last());
    assert_int_equal(pthread_create(&s->thread, NULL, serve_main, s), 0);
}

static void serve_stop(struct served *s)
{
    twin_service_stop(s->service, NULL);
    assert_int_equal(pthread_join(s->thread, NULL), 0);
    assert_int_equal(s->rc, 0);
    twin_service_free(s->service);
}

static void add_peer(twin_node *n, const char *name, int port, twin_node *of)
{
    char address[64], key[TWIN_OPENSSH_PUB_MAX];
    snprintf(address, sizeof(address), "127.0.0.1:%d", port);
    twin_key_format_openssh(key, twin_node_key(of)->pk);
    if (twin_peers_add(n, name, address, key))
        fail_msg("peer add: %s", twin_error_last());
}

static int set_title(json_t *rec, void *ctx)
{
    return twin_record_set_path(rec, "title", ctx);
}

static void a_run_reaches_the_peers_head_and_is_recorded(void **state)
{
    struct helper_nodes *p = *state;
    char id[TWIN_ID_LEN + 1];
    git_oid c, north_head, south_head;
    if (twin_ops_add(id, &c, p->north, "note", set_title, "Kick-off"))
        fail_msg("add: %s", twin_error_last());
    assert_int_equal(twin_node_head(&north_head, p->north), 0);

    struct served s;
    serve_start(&s, p->north_dir);
    add_peer(p->south, "north", twin_service_port(s.service), p->north);
    struct twin_peer peer;
    assert_int_equal(twin_peers_get(&peer, p->south, "north"), 0);

    char line[1200];
    struct twin_sync_stats st;
    int rc = twin_syncrun_peer_stats(line, sizeof(line), p->south, &peer, NULL, &st);
    serve_stop(&s);
    if (rc)
        fail_msg("sync run: %s", line);
    assert_int_equal(st.received_commits, 3);
    assert_true(st.has_head);
    assert_true(st.wraps); /* both speak wraps/1; no sealed record, so none moved */
    assert_int_equal(st.wraps_received + st.wraps_sent, 0);

    assert_int_equal(twin_node_head(&south_head, p->south), 0);
    assert_true(git_oid_equal(&south_head, &north_head));
    char want[200];
    snprintf(want, sizeof(want), "sync with north: ok, received 3 commits, sent 0, head %.12s (",
             git_oid_tostr_s(&north_head));
    assert_memory_equal(line, want, strlen(want));
    assert_non_null(strstr(line, " ms)"));

    assert_int_equal(twin_peers_get(&peer, p->south, "north"), 0);
    assert_true(peer.last_time > 0);
    snprintf(want, sizeof(want), "ok: received 3 commits, sent 0, head %.12s",
             git_oid_tostr_s(&north_head));
    assert_string_equal(peer.last_result, want);
}

/* A port on 127.0.0.1 that was just free and is closed again: nothing answers there. */
static int closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    assert_true(fd >= 0);
    assert_int_equal(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    close(fd);
    return ntohs(a.sin_port);
}

static void a_failed_run_names_the_peer_and_why(void **state)
{
    struct helper_nodes *p = *state;
    int port = closed_port();
    add_peer(p->south, "north", port, p->north);
    struct twin_peer peer;
    assert_int_equal(twin_peers_get(&peer, p->south, "north"), 0);

    char line[1200], want[200];
    struct twin_sync_stats st;
    assert_int_not_equal(twin_syncrun_peer_stats(line, sizeof(line), p->south, &peer, NULL, &st),
                         0);
    assert_int_equal(st.received_commits, 0);
    assert_false(st.has_head);
    snprintf(want, sizeof(want), "sync with north (127.0.0.1:%d): failed: ", port);
    assert_memory_equal(line, want, strlen(want));
    assert_non_null(strstr(line, " ms)"));
    /* The reason is the connection's, not a bare code. */
    assert_true(strlen(line) > strlen(want) + strlen(" (0 ms)") + 5);

    assert_int_equal(twin_peers_get(&peer, p->south, "north"), 0);
    assert_true(peer.last_time > 0);
    assert_memory_equal(peer.last_result, "failed: ", 8);
    assert_string_equal(peer.last_result + 8, twin_error_last());
    /* Nothing reached this node. */
    git_oid head;
    assert_int_equal(twin_node_head(&head, p->south), TWIN_ENOHISTORY);
}

static int group_setup(void **state)
{
    return twin_global_init(false) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(describe_sums_a_session_up),
        cmocka_unit_test_setup_teardown(a_run_reaches_the_peers_head_and_is_recorded,
                                        helper_nodes_setup, helper_nodes_teardown),
        cmocka_unit_test_setup_teardown(a_failed_run_names_the_peer_and_why, helper_nodes_setup,
                                        helper_nodes_teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, NULL);
}
