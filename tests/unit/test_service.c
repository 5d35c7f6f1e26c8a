/*
 * The node as a service (twin/service.h), run in this process on 127.0.0.1 with a port the
 * system picks: a second node syncs with it and ends on its head; a local change reaches a
 * configured peer with no round due; a stop asked for from another thread or from a signal
 * handler ends the run within a bounded wait, and the port is closed after; a stop abandons
 * the stopped service's waiting sessions and not another service's. Every wait is bounded and
 * ends as soon as what it waits for happens.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <time.h>
#include <cmocka.h>

#include "helpers.h"
#include "twin/network.h"
#include "twin/node.h"
#include "twin/ops.h"
#include "twin/peers.h"
#include "twin/record.h"
#include "twin/service.h"
#include "twin/settings.h"
#include "twin/sync.h"
#include "twin/global.h"
#include "twin/channel.h"

/* Generous bounds for a loaded machine; each wait ends as soon as its condition holds. */
#define WAIT_S 60

static int set_title(json_t *rec, void *ctx)
{
    return twin_record_set_path(rec, "title", ctx);
}

static git_oid add_note(twin_node *n, const char *title)
{
    char id[TWIN_ID_LEN + 1];
    git_oid c;
    if (twin_ops_add(id, &c, n, "note", set_title, (void *)title))
        fail_msg("add: %s", twin_error_last());
    return c;
}

static struct timespec deadline_in(int seconds)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_sec += seconds;
    return t;
}

/* --- the service's log, kept to wait on --- */

struct log {
    pthread_mutex_t lock;
    pthread_cond_t grew;
    char text[1 << 16];
    size_t len;
    char last[256];
    bool when_sane; /* every line came with a time of this century */
};

static void log_init(struct log *l)
{
    memset(l, 0, sizeof(*l));
    pthread_mutex_init(&l->lock, NULL);
    pthread_cond_init(&l->grew, NULL);
    l->when_sane = true;
}

static void log_destroy(struct log *l)
{
    pthread_cond_destroy(&l->grew);
    pthread_mutex_destroy(&l->lock);
}

/* Each line is kept as "<LEVEL>line", so that a test can ask for a line at a level. */
static void collect(void *ctx, int64_t when, int level, const char *line)
{
    struct log *l = ctx;
    pthread_mutex_lock(&l->lock);
    int n = snprintf(l->text + l->len, sizeof(l->text) - l->len, "<%d>%s\n", level, line);
    if (n > 0)
        l->len = l->len + (size_t)n < sizeof(l->text) ? l->len + (size_t)n : sizeof(l->text) - 1;
    snprintf(l->last, sizeof(l->last), "%s", line);
    l->when_sane = l->when_sane && when > 946684800; /* 2000-01-01 */
    pthread_cond_broadcast(&l->grew);
    pthread_mutex_unlock(&l->lock);
}

/* Waits (bounded) for a line that holds part; whether one came. */
static bool log_wait(struct log *l, const char *part)
{
    struct timespec until = deadline_in(WAIT_S);
    pthread_mutex_lock(&l->lock);
    while (!strstr(l->text, part))
        if (pthread_cond_timedwait(&l->grew, &l->lock, &until) == ETIMEDOUT)
            break;
    bool found = strstr(l->text, part) != NULL;
    pthread_mutex_unlock(&l->lock);
    return found;
}

static bool log_has(struct log *l, const char *part)
{
    pthread_mutex_lock(&l->lock);
    bool found = strstr(l->text, part) != NULL;
    pthread_mutex_unlock(&l->lock);
    return found;
}

/* --- a service run on a thread of its own --- */

struct runner {
    twin_service *service;
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t ended;
    bool done;
    int rc;
};

static void *run_main(void *arg)
{
    struct runner *r = arg;
    int rc = twin_service_run(r->service);
    pthread_mutex_lock(&r->lock);
    r->rc = rc;
    r->done = true;
    pthread_cond_broadcast(&r->ended);
    pthread_mutex_unlock(&r->lock);
    return NULL;
}

static twin_service *service_new_at(const char *dir, struct log *log, int level)
{
    twin_service_options o = {.listen = "127.0.0.1:0",
                              .interval = 3600,
                              .log = collect,
                              .log_ctx = log,
                              .log_level = level};
    twin_service *s = NULL;
    if (twin_service_new(&s, dir, &o))
        fail_msg("service: %s", twin_error_last());
    return s;
}

/* A service that logs at the default level, info. */
static twin_service *service_new(const char *dir, struct log *log)
{
    return service_new_at(dir, log, 0);
}

static void runner_start(struct runner *r, twin_service *s)
{
    memset(r, 0, sizeof(*r));
    r->service = s;
    pthread_mutex_init(&r->lock, NULL);
    pthread_cond_init(&r->ended, NULL);
    assert_int_equal(pthread_create(&r->thread, NULL, run_main, r), 0);
}

/* Waits (bounded) for the run to end, then joins it; fails when it does not end. */
static void runner_join(struct runner *r)
{
    struct timespec until = deadline_in(WAIT_S);
    pthread_mutex_lock(&r->lock);
    while (!r->done)
        if (pthread_cond_timedwait(&r->ended, &r->lock, &until) == ETIMEDOUT)
            break;
    bool done = r->done;
    pthread_mutex_unlock(&r->lock);
    if (!done)
        fail_msg("the service did not stop within %d s of being asked to", WAIT_S);
    pthread_join(r->thread, NULL);
    assert_int_equal(r->rc, 0);
    pthread_cond_destroy(&r->ended);
    pthread_mutex_destroy(&r->lock);
}

/* One session with the service at port, run again while it loses a race (a bounded number of
 * times): what twin sync does. */
static int sync_with(struct twin_sync_stats *st, twin_node *n, int port, const twin_node *server)
{
    char p[8];
    snprintf(p, sizeof(p), "%d", port);
    int rc = TWIN_ECONFLICT;
    for (int i = 0; i < 20 && rc == TWIN_ECONFLICT; i++)
        rc = twin_sync_peer(st, n, "127.0.0.1", p, twin_node_key(server)->pk, NULL);
    return rc;
}

static void assert_same_head(twin_node *a, twin_node *b)
{
    git_oid ha, hb;
    assert_int_equal(twin_node_head(&ha, a), 0);
    assert_int_equal(twin_node_head(&hb, b), 0);
    if (!git_oid_equal(&ha, &hb)) {
        char x[GIT_OID_HEXSZ + 1], y[GIT_OID_HEXSZ + 1];
        fail_msg("heads differ: %s and %s", git_oid_tostr(x, sizeof(x), &ha),
                 git_oid_tostr(y, sizeof(y), &hb));
    }
}

/* --- tests --- */

/* South, with no history yet, syncs with north's service and ends on north's head; the
 * session is logged; a stop ends the run, and the port is closed after. */
static void test_serve_sync_stop(void **state)
{
    struct helper_nodes *p = *state;
    struct log log;
    struct runner r;
    log_init(&log);
    add_note(p->north, "Kick-off");
    twin_service *s = service_new(p->north_dir, &log);
    int port = twin_service_port(s);
    assert_true(port > 0);
    char listening[80];
    snprintf(listening, sizeof(listening), "listening on 127.0.0.1:%d for network %s", port,
             twin_node_network_id(p->north));
    assert_true(log_has(&log, listening));
    /* Where partners reach it, for invites. */
    char *address = NULL, want[32];
    assert_int_equal(twin_node_config_get(&address, p->north, "twin.address"), 0);
    snprintf(want, sizeof(want), "127.0.0.1:%d", port);
    assert_string_equal(address, want);
    free(address);

    runner_start(&r, s);
    struct twin_sync_stats st;
    if (sync_with(&st, p->south, port, p->north))
        fail_msg("sync: %s", twin_error_last());
    assert_true(st.received_commits >= 3); /* genesis, south's admission, the note */
    assert_true(st.changed);
    assert_same_head(p->north, p->south);
    assert_true(log_wait(&log, ": ok, received 0 commits, sent "));
    /* Named by its member's org id (it has no peer entry here), then its address. */
    assert_true(log_has(&log, "<6>session from XE-EXAMPLE-S at 127.0.0.1:"));

    twin_service_stop(s, "test");
    runner_join(&r);
    assert_true(log_has(&log, "stopping on test"));
    assert_string_equal(log.last, "stopped");
    assert_true(log.when_sane);
    twin_service_free(s);
    /* Nothing listens there any more. */
    assert_int_not_equal(sync_with(&st, p->south, port, p->north), 0);
    log_destroy(&log);
}

/* North's service has south (serving too) as its peer, and its next round is an hour away once
 * the first has run: a note added on north then reaches south through the service, with no call
 * of the test's. */
static void test_local_change_reaches_peer(void **state)
{
    struct helper_nodes *p = *state;
    struct log north_log, south_log;
    struct runner north_run, south_run;
    struct twin_sync_stats st;
    log_init(&north_log);
    log_init(&south_log);
    /* South takes the history from a first service of north's, so that it knows north as a
     * member. */
    twin_service *north = service_new(p->north_dir, &north_log);
    runner_start(&north_run, north);
    if (sync_with(&st, p->south, twin_service_port(north), p->north))
        fail_msg("sync: %s", twin_error_last());
    twin_service_stop(north, NULL);
    runner_join(&north_run);
    assert_true(log_has(&north_log, "stopping on request"));
    twin_service_free(north);

    /* Then north serves again, with south as its peer: the first round finds nothing to do.
     * North logs at debug, south at info. */
    twin_service *south = service_new(p->south_dir, &south_log);
    runner_start(&south_run, south);
    char address[32], node_id[TWIN_NODE_ID_LEN + 1];
    snprintf(address, sizeof(address), "127.0.0.1:%d", twin_service_port(south));
    twin_key_node_id(node_id, twin_node_key(p->south)->pk);
    assert_int_equal(twin_peers_add(p->north, "south", address, node_id), 0);
    north = service_new_at(p->north_dir, &north_log, TWIN_LOG_DEBUG);
    runner_start(&north_run, north);
    assert_true(log_wait(&north_log, "<6>sync with XE-EXAMPLE-S (peer south): ok, received 0 commits, sent 0"));
    assert_true(log_has(&north_log, "<7>round of sessions with 1 peer (the interval is up)\n"));
    assert_true(log_has(&north_log, "<7>sync with XE-EXAMPLE-S (peer south): connecting to 127.0.0.1:"));

    git_oid note = add_note(p->north, "Steering committee minutes");
    assert_true(log_wait(&north_log, "<6>sync with XE-EXAMPLE-S (peer south): ok, received 0 commits, sent 1"));
    git_oid head;
    assert_int_equal(twin_node_head(&head, p->south), 0);
    assert_true(git_oid_equal(&head, &note));
    assert_true(log_wait(&south_log, "ok, received 1 commit, sent 0"));
    assert_true(log_has(&north_log, "<7>round of sessions with 1 peer (the head moved)\n"));
    /* At info, the sessions and nothing in between. */
    assert_true(log_has(&south_log, "<6>session from XE-EXAMPLE-N at 127.0.0.1:"));
    assert_false(log_has(&south_log, "<7>"));

    twin_service_stop(north, "test");
    twin_service_stop(south, "test");
    runner_join(&north_run);
    runner_join(&south_run);
    assert_string_equal(north_log.last, "stopped");
    assert_string_equal(south_log.last, "stopped");
    twin_service_free(north);
    twin_service_free(south);
    log_destroy(&north_log);
    log_destroy(&south_log);
}

/* A channel to the service at port with key, its handshake done, and nothing said yet: the
 * session the service runs for it waits for hello. No cancel question of its own. */
static twin_channel *connect_silent(int port, const twin_keypair *key, const twin_node *server)
{
    char p[8];
    snprintf(p, sizeof(p), "%d", port);
    twin_channel_config cfg = {.key = key, .network_id = twin_node_network_id(server)};
    twin_channel *ch = NULL;
    if (twin_channel_connect(&ch, "127.0.0.1", p, twin_node_key(server)->pk, &cfg))
        fail_msg("connect: %s", twin_error_last());
    return ch;
}

/* Two services in one process, each with a session waiting on a peer that says nothing. A stop
 * asked of north's service abandons north's waiting session; south's goes on, and its peer then
 * completes a whole sync through it. North's service is not run, so its stop stays pending (as
 * it does while a run is busy with a round) for as long as south's session is used. */
static void a_stop_abandons_only_its_own_services_sessions(void **state)
{
    struct helper_nodes *p = *state;
    struct log north_log, south_log;
    struct runner south_run;
    struct twin_sync_stats st;
    log_init(&north_log);
    log_init(&south_log);
    twin_service *north = service_new(p->north_dir, &north_log);
    /* South takes north's history, so that it knows north as a member. */
    if (sync_with(&st, p->south, twin_service_port(north), p->north))
        fail_msg("sync: %s", twin_error_last());
    twin_service *south = service_new(p->south_dir, &south_log);
    runner_start(&south_run, south);

    twin_channel *to_north =
        connect_silent(twin_service_port(north), twin_node_key(p->south), p->north);
    twin_channel *to_south =
        connect_silent(twin_service_port(south), twin_node_key(p->north), p->south);
    twin_service_stop(north, "test");
    assert_true(log_wait(&north_log, "abandoned, the session was cancelled"));

    /* South's session waited all along, north's stop still pending: it answers a whole sync. */
    add_note(p->north, "Agenda");
    if (twin_sync_initiate(&st, p->north, to_south))
        fail_msg("sync through south's waiting session: %s", twin_error_last());
    assert_int_equal(st.sent_commits, 1);
    assert_same_head(p->north, p->south);
    assert_true(log_wait(&south_log, "ok, received 1 commit, sent 0"));
    assert_false(log_has(&south_log, "abandoned"));

    twin_channel_free(to_north);
    twin_channel_free(to_south);
    twin_service_free(north);
    twin_service_stop(south, "test");
    runner_join(&south_run);
    assert_string_equal(south_log.last, "stopped");
    twin_service_free(south);
    log_destroy(&north_log);
    log_destroy(&south_log);
}

static twin_service *signalled;

static void on_usr1(int sig)
{
    twin_service_stop(signalled, "SIGUSR1");
}

/* A signal handler may ask for the stop: here it runs on the service's own thread. */
static void test_stop_from_signal_handler(void **state)
{
    struct helper_nodes *p = *state;
    struct log log;
    struct runner r;
    log_init(&log);
    signalled = service_new(p->north_dir, &log);
    struct sigaction sa = {.sa_handler = on_usr1}, old;
    sigemptyset(&sa.sa_mask);
    assert_int_equal(sigaction(SIGUSR1, &sa, &old), 0);
    runner_start(&r, signalled);
    assert_int_equal(pthread_kill(r.thread, SIGUSR1), 0);
    runner_join(&r);
    assert_int_equal(sigaction(SIGUSR1, &old, NULL), 0);
    assert_true(log_has(&log, "stopping on SIGUSR1"));
    assert_string_equal(log.last, "stopped");
    twin_service_free(signalled);
    signalled = NULL;
    log_destroy(&log);
}

/* A stop asked for before the run ends it at once; a service runs once; bad options are
 * refused before anything listens; a service freed without running stops its listener. */
static void test_stop_before_run_and_options(void **state)
{
    struct helper_nodes *p = *state;
    struct log log;
    log_init(&log);
    twin_service *s = service_new(p->north_dir, &log);
    twin_service_stop(s, "test");
    assert_int_equal(twin_service_run(s), 0);
    assert_string_equal(log.last, "stopped");
    assert_error(twin_service_run(s), TWIN_EINVALID, "ran already");
    twin_service_free(s);

    twin_service_options o = {.listen = "nowhere", .log = collect, .log_ctx = &log};
    assert_error(twin_service_new(&s, p->north_dir, &o), TWIN_EINVALID, "nowhere");
    assert_null(s);
    o = (twin_service_options){.listen = "127.0.0.1:0", .interval = 86401};
    assert_error(twin_service_new(&s, p->north_dir, &o), TWIN_EINVALID, "interval");
    o.interval = -1;
    assert_error(twin_service_new(&s, p->north_dir, &o), TWIN_EINVALID, "interval");
    char missing[200];
    snprintf(missing, sizeof(missing), "%s/nobody", p->f->dir);
    o.interval = 0;
    o.log_level = 5;
    assert_error(twin_service_new(&s, p->north_dir, &o), TWIN_EINVALID, "log level");
    o.log_level = 0;
    assert_int_equal(twin_service_new(&s, missing, &o), TWIN_ENOTFOUND);

    /* Never run: freeing it closes the port. */
    s = service_new(p->north_dir, &log);
    int port = twin_service_port(s);
    twin_service_free(s);
    struct twin_sync_stats st;
    assert_int_not_equal(sync_with(&st, p->south, port, p->north), 0);
    log_destroy(&log);
}

/* With no options but the log, the service takes its address, interval and log level from
 * the node's settings; an option overrides its setting, and a setting edited by hand into a
 * value twin refuses is named. */
static void options_left_open_come_from_the_settings(void **state)
{
    struct helper_nodes *p = *state;
    struct log log;
    log_init(&log);
    assert_int_equal(twin_settings_set(p->north, "listen", "127.0.0.1:0"), 0);
    assert_int_equal(twin_settings_set(p->north, "log-level", "debug"), 0);
    twin_service_options o = {.log = collect, .log_ctx = &log};
    twin_service *s = NULL;
    if (twin_service_new(&s, p->north_dir, &o))
        fail_msg("service: %s", twin_error_last());
    char listening[80];
    snprintf(listening, sizeof(listening), "<6>listening on 127.0.0.1:%d ", twin_service_port(s));
    assert_true(log_has(&log, listening));
    /* At debug, the first round (at once) is logged: no peers yet. */
    struct runner r;
    runner_start(&r, s);
    assert_true(log_wait(&log, "<7>round of sessions with 0 peers (the interval is up)"));
    twin_service_stop(s, "test");
    runner_join(&r);
    twin_service_free(s);

    /* An option overrides a setting: the log level asked for hides the debug lines. */
    log_destroy(&log);
    log_init(&log);
    o.log_level = TWIN_LOG_INFO;
    if (twin_service_new(&s, p->north_dir, &o))
        fail_msg("service: %s", twin_error_last());
    runner_start(&r, s);
    twin_service_stop(s, "test");
    runner_join(&r);
    twin_service_free(s);
    assert_true(log_has(&log, "<6>stopped"));
    assert_false(log_has(&log, "<7>"));

    /* A setting twin would refuse, written with git, is named; with the option given, the
     * setting is not read at all. */
    assert_int_equal(twin_node_config_set(p->north, "twin.interval", "soon"), 0);
    assert_error(twin_service_new(&s, p->north_dir, &o), TWIN_EINVALID,
                 "node settings (fix it with: twin config interval VALUE, or --unset): interval "
                 "'soon'");
    assert_null(s);
    o.interval = 3600;
    assert_int_equal(twin_node_config_set(p->north, "twin.listen", "nowhere"), 0);
    assert_error(twin_service_new(&s, p->north_dir, &o), TWIN_EINVALID, "listen 'nowhere'");
    o.listen = "127.0.0.1:0";
    assert_int_equal(twin_service_new(&s, p->north_dir, &o), 0);
    twin_service_free(s);
    log_destroy(&log);
}

int main(void)
{
    if (twin_global_init(false))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_serve_sync_stop, helper_nodes_setup,
                                        helper_nodes_teardown),
        cmocka_unit_test_setup_teardown(test_local_change_reaches_peer, helper_nodes_setup,
                                        helper_nodes_teardown),
        cmocka_unit_test_setup_teardown(a_stop_abandons_only_its_own_services_sessions,
                                        helper_nodes_setup, helper_nodes_teardown),
        cmocka_unit_test_setup_teardown(test_stop_from_signal_handler, helper_nodes_setup,
                                        helper_nodes_teardown),
        cmocka_unit_test_setup_teardown(test_stop_before_run_and_options, helper_nodes_setup,
                                        helper_nodes_teardown),
        cmocka_unit_test_setup_teardown(options_left_open_come_from_the_settings,
                                        helper_nodes_setup, helper_nodes_teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    twin_global_shutdown();
    return rc;
}
