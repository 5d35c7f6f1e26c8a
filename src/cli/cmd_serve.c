/*
 * twin serve: the node as a service. The listener serves peers on its own threads; this thread
 * waits for SIGTERM or SIGINT and, between signals, syncs with every peer on a schedule and
 * within a second of a local change (the branch moving without a sync).
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "twin/syncrun.h"
#include "twin/channel.h"
#include "twin/invite.h"
#include "twin/error.h"
#include "twin/ops.h"
#include "twin/listener.h"
#include "twin/peers.h"
#include "twin/sync.h"
#include "base/util.h"

struct serve {
    char *dir;
    pthread_mutex_t log_lock;
    twin_keypair answering; /* the key handshakes are answered with first */
    twin_keypair started;   /* the key serve started with */
};

static void log_line(struct serve *s, const char *line)
{
    char when[32];
    time_t now = (time_t)twin_clock_now();
    struct tm tm;
    gmtime_r(&now, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
    pthread_mutex_lock(&s->log_lock);
    printf("%s %s\n", when, line);
    fflush(stdout);
    pthread_mutex_unlock(&s->log_lock);
}

static void listener_log(void *ctx, const char *line)
{
    log_line(ctx, line);
}

static void serve_session(void *ctx, twin_channel *ch)
{
    struct serve *s = ctx;
    twin_node *n = NULL;
    struct twin_sync_stats st;
    char line[1200], what[800], peer[TWIN_NODE_ID_LEN + 1];
    struct timespec a, b;
    clock_gettime(CLOCK_MONOTONIC, &a);
    twin_key_node_id(peer, twin_channel_peer_node(ch));
    int rc = twin_ops_open(&n, s->dir);
    char joiner[300] = "";
    if (rc == 0 && twin_channel_admission(ch) == TWIN_CHANNEL_ADMIT_CLAIM) {
        /* Let in by serve_authorize because an invite is open: it may only present one. */
        rc = twin_invite_respond(n, ch, joiner, sizeof(joiner));
        clock_gettime(CLOCK_MONOTONIC, &b);
        if (rc == 0)
            snprintf(line, sizeof(line), "invite from %s node %.16s: admitted %s",
                     twin_channel_peer_addr(ch), peer, joiner);
        else
            snprintf(line, sizeof(line), "invite from %s node %.16s (%s): refused: %s",
                     twin_channel_peer_addr(ch), peer, joiner, twin_error_last());
        log_line(s, line);
        twin_node_free(n);
        return;
    }
    if (rc == 0)
        rc = twin_sync_respond(&st, n, ch);
    clock_gettime(CLOCK_MONOTONIC, &b);
    double ms = (double)(b.tv_sec - a.tv_sec) * 1e3 + (double)(b.tv_nsec - a.tv_nsec) / 1e6;
    if (rc == 0) {
        twin_sync_describe(what, sizeof(what), &st);
        snprintf(line, sizeof(line), "session from %s node %.16s: ok, %s (%.0f ms)",
                 twin_channel_peer_addr(ch), peer, what, ms);
    } else {
        snprintf(line, sizeof(line), "session from %s node %.16s: failed: %s (%.0f ms)",
                 twin_channel_peer_addr(ch), peer, twin_error_last(), ms);
    }
    log_line(s, line);
    twin_node_free(n);
}

/* Members and configured peers, as for any session; and while an invite is open, any key,
 * whose session may then only present the invite. */
static int serve_authorize(void *ctx, const unsigned char node[TWIN_PUBKEY_BYTES], char *reason,
                           size_t reason_cap)
{
    if (twin_sync_authorize(ctx, node, reason, reason_cap) == 0)
        return 0;
    if (twin_invite_pending(ctx))
        return TWIN_CHANNEL_ADMIT_CLAIM; /* its own pool and deadline (listener.h) */
    size_t len = strlen(reason);
    if (strncmp(reason, "unknown node key", 16) == 0)
        snprintf(reason + len, reason_cap - len,
                 ", and no invite is open here (an invite works once: ask an admin for a new "
                 "one)");
    return -1;
}

/* What node.key was when last read: a rotation replaces the file. */
struct key_stamp {
    dev_t dev;
    ino_t ino;
    struct timespec mtime;
    off_t size;
};

static void key_stamp_of(struct key_stamp *out, const char *dir)
{
    char path[4200];
    struct stat st;
    snprintf(path, sizeof(path), "%s/node.key", dir);
    memset(out, 0, sizeof(*out));
    if (stat(path, &st) == 0)
        *out = (struct key_stamp){st.st_dev, st.st_ino, st.st_mtim, st.st_size};
}

/* After `twin key rotate` ran beside this process, new handshakes are answered with the new key,
 * and with the one it replaced for peers that still expect that (SYNC.md 9). */
static void watch_key(struct serve *s, twin_listener *l, struct key_stamp *seen)
{
    struct key_stamp now;
    key_stamp_of(&now, s->dir);
    if (now.ino == seen->ino && now.dev == seen->dev && now.size == seen->size &&
        now.mtime.tv_sec == seen->mtime.tv_sec && now.mtime.tv_nsec == seen->mtime.tv_nsec)
        return;
    twin_node *n = NULL;
    if (twin_ops_open(&n, s->dir) != 0) {
        log_line(s, twin_error_last()); /* tried again at the next tick */
        return;
    }
    /* Besides the key the node signs with now: the key node.key.prev keeps, the key in node.key
     * itself (while a rotation is under way they differ), the key answered so far, and the key
     * serve started with (peers' entries still name it until they are updated). */
    twin_keypair others[4];
    size_t nothers = 0;
    char path[4200];
    if (twin_node_previous_key(&others[nothers], n) == 0)
        nothers++;
    snprintf(path, sizeof(path), "%s/node.key", s->dir);
    if (twin_key_load(&others[nothers], path) == 0)
        nothers++;
    twin_error_clear();
    others[nothers++] = s->answering;
    others[nothers++] = s->started;
    twin_listener_set_keys(l, twin_node_key(n), others, nothers);
    s->answering = *twin_node_key(n);
    char id[TWIN_NODE_ID_LEN + 1], line[300];
    twin_key_node_id(id, twin_node_key(n)->pk);
    snprintf(line, sizeof(line),
             "node key changed: answering as node %s, and as the keys it replaced for peers that "
             "still expect them",
             id);
    log_line(s, line);
    sodium_memzero(others, sizeof(others));
    twin_node_free(n);
    *seen = now;
}

static bool stop_pending(void)
{
    sigset_t pending;
    return sigpending(&pending) == 0 &&
           (sigismember(&pending, SIGTERM) == 1 || sigismember(&pending, SIGINT) == 1);
}

/* One session with each peer in turn; a stop signal ends the round after the current session,
 * so stopping never waits for a whole round. */
static void sync_all(struct serve *s, twin_node *n)
{
    struct twin_peer *peers = NULL;
    size_t count = 0;
    if (twin_peers_list(&peers, &count, n) != 0)
        return;
    for (size_t i = 0; i < count && !stop_pending(); i++) {
        char line[1200];
        twin_sync_run_peer(line, sizeof(line), n, &peers[i]);
        log_line(s, line);
    }
    free(peers);
}

int cmd_serve(struct cli *c, int argc, char **argv)
{
    const char *listen = "127.0.0.1:7447", *interval_text = NULL;
    for (int i = 1; i < argc; i++) {
        int m;
        if ((m = cli_option(&listen, &i, argc, argv, "--listen")) ||
            (m = cli_option(&interval_text, &i, argc, argv, "--interval"))) {
            if (m < 0)
                return CLI_USAGE;
            continue;
        }
        return cli_usage_error("serve", "unexpected argument '%s'", argv[i]);
    }
    long interval = 60;
    if (interval_text) {
        char *end;
        interval = strtol(interval_text, &end, 10);
        if (*end || interval < 1 || interval > 86400)
            return cli_usage_error("serve", "--interval takes seconds, 1-86400");
    }
    char host[256], port[8];
    int rc = twin_address_parse(host, port, listen);
    if (rc)
        return cli_fail(rc);
    int code = cli_open(c);
    if (code)
        return code;
    struct serve s = {.dir = (char *)twin_node_dir(c->node),
                      .answering = *twin_node_key(c->node),
                      .started = *twin_node_key(c->node)};
    pthread_mutex_init(&s.log_lock, NULL);

    /* Signals go to this thread only: block them before any other thread starts. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);
    /* A pending stop signal abandons sessions waiting on the network; the listener's sessions
     * still get their grace period once the signal has been taken below. */
    twin_channel_set_cancel(stop_pending);

    twin_listener *l = NULL;
    twin_keypair prev;
    bool has_prev = twin_node_previous_key(&prev, c->node) == 0;
    twin_error_clear();
    twin_listener_config cfg = {
        .host = host,
        .port = port,
        .channel = {.key = twin_node_key(c->node),
                    .other_keys = has_prev ? &prev : NULL,
                    .nother_keys = has_prev ? 1 : 0,
                    .network_id = twin_node_network_id(c->node),
                    .authorize = serve_authorize,
                    .authorize_ctx = s.dir},
        .session = serve_session,
        .session_ctx = &s,
        .log = listener_log,
        .log_ctx = &s,
    };
    rc = twin_listener_start(&l, &cfg);
    twin_key_wipe(&prev);
    if (rc) {
        pthread_mutex_destroy(&s.log_lock);
        return cli_fail(rc);
    }
    char line[400];
    snprintf(line, sizeof(line), "listening on %s:%d for network %s", host, twin_listener_port(l),
             twin_node_network_id(c->node));
    log_line(&s, line);
    /* Where partners reach this node, for the invites it makes (not a wildcard address). */
    if (strcmp(host, "0.0.0.0") != 0 && strcmp(host, "::") != 0 && strcmp(host, "") != 0) {
        char address[300];
        snprintf(address, sizeof(address), strchr(host, ':') ? "[%s]:%d" : "%s:%d", host,
                 twin_listener_port(l));
        twin_node_config_set(c->node, "twin.address", address);
    }

    struct key_stamp key_seen;
    key_stamp_of(&key_seen, s.dir);
    git_oid last = {{0}}, now;
    bool have_last = twin_node_head(&last, c->node) == 0;
    time_t next_round = time(NULL);
    for (;;) {
        struct timespec wait = {0, 500 * 1000 * 1000};
        int sig = sigtimedwait(&stop, NULL, &wait);
        if (sig == SIGTERM || sig == SIGINT) {
            snprintf(line, sizeof(line), "stopping on %s", sig == SIGTERM ? "SIGTERM" : "SIGINT");
            log_line(&s, line);
            break;
        }
        watch_key(&s, l, &key_seen);
        bool have_now = twin_node_head(&now, c->node) == 0;
        bool changed = have_now && (!have_last || !git_oid_equal(&now, &last));
        if (changed || time(NULL) >= next_round) {
            /* Each round opens the node afresh, so it signs merges with the key node.key holds
             * now, even after `twin key rotate` ran beside this process. */
            twin_node *round = NULL;
            if (twin_ops_open(&round, s.dir) == 0)
                sync_all(&s, round);
            else
                log_line(&s, twin_error_last());
            twin_node_free(round);
            next_round = time(NULL) + interval;
            have_last = twin_node_head(&last, c->node) == 0;
        }
    }
    twin_listener_stop(l);
    sodium_memzero(&s.answering, sizeof(s.answering));
    sodium_memzero(&s.started, sizeof(s.started));
    log_line(&s, "stopped");
    pthread_mutex_destroy(&s.log_lock);
    return CLI_OK;
}
