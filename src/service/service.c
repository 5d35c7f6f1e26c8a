/*
 * The node as a service (twin/service.h). The listener serves peers on its own threads; the
 * thread that runs the service waits for a stop and, between, syncs with every peer on a
 * schedule and within a second of a local change, and watches node.key.
 */
#include "twin/service.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/util.h"
#include "twin/channel.h"
#include "twin/error.h"
#include "twin/invite.h"
#include "twin/listener.h"
#include "twin/membership.h"
#include "twin/ops.h"
#include "twin/peers.h"
#include "twin/settings.h"
#include "twin/sync.h"
#include "twin/syncrun.h"

/* twin_service_stop runs in signal handlers: what it touches must be lock-free. */
_Static_assert(ATOMIC_BOOL_LOCK_FREE == 2 && ATOMIC_POINTER_LOCK_FREE == 2,
               "twin_service_stop needs lock-free atomics");

/* How often the head and node.key are looked at: a local change is passed on within a second. */
#define POLL_MS 500

struct twin_service {
    char *dir;
    twin_node *node; /* for the head and the settings; sessions and rounds open their own */
    int interval;
    twin_service_log_fn log;
    void *log_ctx;
    int log_level;
    pthread_mutex_t log_lock;
    twin_listener *listener;
    int port;               /* where the listener listens (or listened) */
    twin_keypair answering; /* the key handshakes are answered with first */
    twin_keypair started;   /* the key the service started with */
    int wake[2];            /* twin_service_stop writes to wake[1]; the run waits on wake[0] */
    atomic_bool stop_asked;
    atomic_bool stop_taken; /* the run has taken the stop: its network waits go on again */
    _Atomic(const char *) stop_why;
    atomic_bool ran;
};

/* The cancel question of this service's channels (twin_channel_config.cancelled), those its
 * listener accepts and those its rounds initiate: a stop was asked for and the run has not yet
 * taken it. Other services' and other users' channels in the process ask their own. */
static bool stop_is_pending(void *ctx)
{
    twin_service *s = ctx;
    return atomic_load(&s->stop_asked) && !atomic_load(&s->stop_taken);
}

static void say(twin_service *s, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static void say(twin_service *s, int level, const char *fmt, ...)
{
    char line[1200];
    if (!s->log || level > s->log_level)
        return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&s->log_lock);
    if (s->log)
        s->log(s->log_ctx, twin_util_clock_now(), level, line);
    pthread_mutex_unlock(&s->log_lock);
}

/* The listener's lines, but for its per-connection ones (debug), which name a node only by its
 * id: each session's own lines name it by its member and peer entry instead (name_node). */
static void listener_log(void *ctx, int level, const char *line)
{
    if (level < TWIN_LOG_DEBUG)
        say(ctx, level, "%s", line);
}

/* How the log names a node, by what this node knows of it: its member's org id and this node's
 * peer entry for it, "XE-EXAMPLE-B (peer bravo)", or the org id alone when it has no entry.
 * A node the membership does not know (yet) is named by its entry, "peer bravo (node
 * 1a2b3c4d5e6f7a8b, not a member)", or by its node id alone. peer_name, when the caller knows
 * it, saves looking it up. */
static void name_node(char *out, size_t cap, twin_node *n,
                      const unsigned char key[TWIN_PUBKEY_BYTES], const char *peer_name)
{
    struct twin_membership *m = NULL;
    struct twin_peer *peers = NULL;
    size_t npeers = 0;
    char id[TWIN_NODE_ID_LEN + 1];
    const char *org = NULL;
    enum twin_key_state state;
    if (twin_membership_at_head(&m, n) == 0) {
        const struct twin_member *who = twin_membership_find_key(m, key, &state);
        org = who ? who->org_id : NULL;
    }
    if (!peer_name && twin_peers_list(&peers, &npeers, n) == 0)
        for (size_t i = 0; i < npeers && !peer_name; i++)
            if (memcmp(peers[i].key, key, TWIN_PUBKEY_BYTES) == 0)
                peer_name = peers[i].name;
    twin_error_clear();
    twin_key_node_id(id, key);
    if (org && peer_name)
        snprintf(out, cap, "%s (peer %s)", org, peer_name);
    else if (org)
        snprintf(out, cap, "%s", org);
    else if (peer_name)
        snprintf(out, cap, "peer %s (node %.16s, not a member)", peer_name, id);
    else
        snprintf(out, cap, "node %.16s", id);
    free(peers);
    twin_membership_free(m);
}

static double elapsed_ms(const struct timespec *a)
{
    struct timespec b;
    clock_gettime(CLOCK_MONOTONIC, &b);
    return (double)(b.tv_sec - a->tv_sec) * 1e3 + (double)(b.tv_nsec - a->tv_nsec) / 1e6;
}

static void serve_session(void *ctx, twin_channel *ch)
{
    twin_service *s = ctx;
    twin_node *n = NULL;
    struct twin_sync_stats st;
    char what[800], peer[TWIN_NODE_ID_LEN + 1], who[400] = "";
    struct timespec a;
    clock_gettime(CLOCK_MONOTONIC, &a);
    twin_key_node_id(peer, twin_channel_peer_node(ch));
    int rc = twin_ops_open(&n, s->dir);
    char joiner[300] = "", peer_note[700] = "";
    if (rc == 0 && twin_channel_admission(ch) == TWIN_CHANNEL_ADMIT_CLAIM) {
        /* Let in by serve_authorize because an invite is open: it may only present one. Not a
         * member yet, it is named by its node id. */
        say(s, TWIN_LOG_DEBUG, "invite from %s node %.16s: presenting it",
            twin_channel_peer_addr(ch), peer);
        rc = twin_invite_respond(n, ch, joiner, sizeof(joiner), peer_note, sizeof(peer_note));
        if (rc == 0)
            say(s, TWIN_LOG_INFO, "invite from %s node %.16s: admitted %s; %s",
                twin_channel_peer_addr(ch), peer, joiner, peer_note);
        else
            say(s, TWIN_LOG_WARN, "invite from %s node %.16s (%s): refused: %s",
                twin_channel_peer_addr(ch), peer, joiner, twin_error_last());
        twin_node_free(n);
        return;
    }
    if (rc == 0) {
        name_node(who, sizeof(who), n, twin_channel_peer_node(ch), NULL);
        say(s, TWIN_LOG_DEBUG, "session from %s at %s: begins", who, twin_channel_peer_addr(ch));
        rc = twin_sync_respond(&st, n, ch);
    } else {
        snprintf(who, sizeof(who), "node %.16s", peer);
    }
    double ms = elapsed_ms(&a);
    if (rc == 0) {
        twin_syncrun_describe(what, sizeof(what), &st);
        say(s, TWIN_LOG_INFO, "session from %s at %s: ok, %s (%.0f ms)", who,
            twin_channel_peer_addr(ch), what, ms);
    } else {
        say(s, TWIN_LOG_ERROR, "session from %s at %s: failed: %s (%.0f ms)", who,
            twin_channel_peer_addr(ch), twin_error_last(), ms);
    }
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
static void watch_key(twin_service *s, struct key_stamp *seen)
{
    struct key_stamp now;
    key_stamp_of(&now, s->dir);
    if (now.ino == seen->ino && now.dev == seen->dev && now.size == seen->size &&
        now.mtime.tv_sec == seen->mtime.tv_sec && now.mtime.tv_nsec == seen->mtime.tv_nsec)
        return;
    twin_node *n = NULL;
    if (twin_ops_open(&n, s->dir) != 0) {
        say(s, TWIN_LOG_ERROR, "%s", twin_error_last()); /* tried again at the next tick */
        return;
    }
    /* Besides the key the node signs with now: the key node.key.prev keeps, the key in node.key
     * itself (while a rotation is under way they differ), the key answered so far, and the key
     * the service started with (peers' entries still name it until they are updated). */
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
    twin_listener_set_keys(s->listener, twin_node_key(n), others, nothers);
    s->answering = *twin_node_key(n);
    char id[TWIN_NODE_ID_LEN + 1];
    twin_key_node_id(id, twin_node_key(n)->pk);
    say(s, TWIN_LOG_INFO,
        "node key changed: answering as node %s, and as the keys it replaced for peers that "
        "still expect them",
        id);
    sodium_memzero(others, sizeof(others));
    twin_node_free(n);
    *seen = now;
}

/* One session with each peer in turn; a stop ends the round after the current session, so
 * stopping never waits for a whole round. */
/* One round: a session with each peer. *last becomes the head the last session that succeeded
 * ended on (left as it was when none did): a local write after it is then seen as a change. */
static void sync_all(twin_service *s, twin_node *n, git_oid *last, const char *why)
{
    struct twin_peer *peers = NULL;
    size_t count = 0;
    const struct twin_sync_opts opts = {.cancelled = stop_is_pending, .cancel_ctx = s};
    if (twin_peers_list(&peers, &count, n) != 0) {
        say(s, TWIN_LOG_ERROR, "cannot list this node's peers: %s", twin_error_last());
        return;
    }
    say(s, TWIN_LOG_DEBUG, "round of sessions with %zu peer%s (%s)", count, count == 1 ? "" : "s",
        why);
    for (size_t i = 0; i < count && !atomic_load(&s->stop_asked); i++) {
        char line[1200], who[400];
        name_node(who, sizeof(who), n, peers[i].key, peers[i].name);
        say(s, TWIN_LOG_DEBUG, "sync with %s: connecting to %s:%s", who, peers[i].host,
            peers[i].port);
        int rc = twin_syncrun_peer_head(line, sizeof(line), n, &peers[i], &opts, last);
        /* The line names the peer by its entry alone, as `twin sync` prints it: "sync with
         * NAME..."; the log names it as name_node does. */
        size_t named = strlen("sync with ") + strlen(peers[i].name);
        const char *rest =
            strncmp(line, "sync with ", 10) == 0 && strlen(line) >= named ? line + named : NULL;
        if (rest)
            say(s, rc ? TWIN_LOG_ERROR : TWIN_LOG_INFO, "sync with %s%s", who, rest);
        else
            say(s, rc ? TWIN_LOG_ERROR : TWIN_LOG_INFO, "%s", line);
    }
    free(peers);
}

/* Waits up to ms for a stop; whether one was asked for. */
static bool wait_for_stop(twin_service *s, int ms)
{
    struct pollfd p = {.fd = s->wake[0], .events = POLLIN};
    if (!atomic_load(&s->stop_asked))
        poll(&p, 1, ms); /* an interruption only makes this tick early */
    return atomic_load(&s->stop_asked);
}

static bool is_wildcard(const char *host)
{
    return strcmp(host, "0.0.0.0") == 0 || strcmp(host, "::") == 0 || strcmp(host, "") == 0;
}

static int make_wake_pipe(int fds[2])
{
    if (pipe(fds) != 0)
        return twin_error(TWIN_ERROR, "pipe: %s", strerror(errno));
    for (int i = 0; i < 2; i++)
        if (fcntl(fds[i], F_SETFD, FD_CLOEXEC) != 0 ||
            fcntl(fds[i], F_SETFL, fcntl(fds[i], F_GETFL) | O_NONBLOCK) != 0) {
            int rc = twin_error(TWIN_ERROR, "pipe: %s", strerror(errno));
            close(fds[0]);
            close(fds[1]);
            fds[0] = fds[1] = -1;
            return rc;
        }
    return 0;
}

/* A setting of the node's, checked again: the config may have been edited by hand. */
static int read_setting(char **out, twin_node *n, const char *key)
{
    bool is_set;
    int rc = twin_settings_get(out, &is_set, n, key);
    if (rc == 0 && (rc = twin_settings_check(key, *out))) {
        rc = twin_error_wrap(rc, "node settings (fix it with: twin config %s VALUE, or --unset)",
                             key);
        free(*out);
        *out = NULL;
    }
    return rc;
}

/* What the options leave open (listen NULL, interval or log level 0) is taken from the node's
 * settings; *listen is malloc'd. */
static int take_settings(twin_service *s, const twin_service_options *o, char **listen)
{
    char *text = NULL;
    int rc = 0;
    s->interval = o->interval;
    s->log_level = o->log_level;
    if (!o->listen)
        rc = read_setting(listen, s->node, "listen");
    else if (!(*listen = strdup(o->listen)))
        rc = twin_error(TWIN_ERROR, "out of memory");
    if (rc == 0 && !s->interval && (rc = read_setting(&text, s->node, "interval")) == 0)
        rc = twin_settings_interval_parse(&s->interval, text);
    free(text);
    text = NULL;
    if (rc == 0 && !s->log_level && (rc = read_setting(&text, s->node, "log-level")) == 0)
        rc = twin_settings_level_parse(&s->log_level, text);
    free(text);
    return rc;
}

int twin_service_new(twin_service **out, const char *dir, const twin_service_options *options)
{
    static const twin_service_options defaults = {0};
    const twin_service_options *o = options ? options : &defaults;
    char host[256], port[8], *listen = NULL;
    int rc;
    *out = NULL;
    if (o->interval && (o->interval < 1 || o->interval > TWIN_SERVICE_INTERVAL_MAX))
        return twin_error(TWIN_EINVALID, "a service's interval is 1-%d seconds, not %d",
                          TWIN_SERVICE_INTERVAL_MAX, o->interval);
    if (o->log_level && !twin_settings_level_name(o->log_level))
        return twin_error(TWIN_EINVALID,
                          "a service's log level is TWIN_LOG_ERROR, _WARN, _INFO "
                          "or _DEBUG, not %d",
                          o->log_level);
    if (o->listen && (rc = twin_peers_address_parse(host, port, o->listen)))
        return rc;
    twin_service *s = calloc(1, sizeof(*s));
    if (!s || !(s->dir = strdup(dir))) {
        free(s);
        return twin_error(TWIN_ERROR, "out of memory");
    }
    s->log = o->log;
    s->log_ctx = o->log_ctx;
    s->wake[0] = s->wake[1] = -1;
    pthread_mutex_init(&s->log_lock, NULL);
    if ((rc = twin_ops_open(&s->node, dir)) || (rc = make_wake_pipe(s->wake)) ||
        (rc = take_settings(s, o, &listen)) ||
        (rc = twin_peers_address_parse(host, port, listen))) {
        free(listen);
        twin_service_free(s);
        return rc;
    }
    free(listen);
    s->answering = s->started = *twin_node_key(s->node);

    twin_keypair prev;
    bool has_prev = twin_node_previous_key(&prev, s->node) == 0;
    twin_error_clear();
    twin_listener_config cfg = {
        .host = host,
        .port = port,
        .channel = {.key = twin_node_key(s->node),
                    .other_keys = has_prev ? &prev : NULL,
                    .nother_keys = has_prev ? 1 : 0,
                    .network_id = twin_node_network_id(s->node),
                    .authorize = serve_authorize,
                    .authorize_ctx = s->dir,
                    /* A stop asked for abandons this service's sessions waiting on the
                     * network; they still get their grace period once the run has taken the
                     * stop. */
                    .cancelled = stop_is_pending,
                    .cancel_ctx = s},
        .session = serve_session,
        .session_ctx = s,
        .log = listener_log,
        .log_ctx = s,
    };
    rc = twin_listener_start(&s->listener, &cfg);
    twin_key_wipe(&prev);
    if (rc) {
        twin_service_free(s);
        return rc;
    }
    s->port = twin_listener_port(s->listener);
    say(s, TWIN_LOG_INFO, "listening on %s:%d for network %s", host, s->port,
        twin_node_network_id(s->node));
    /* Where partners reach this node, for the invites it makes (not a wildcard address). */
    if (!is_wildcard(host)) {
        char address[300];
        snprintf(address, sizeof(address), strchr(host, ':') ? "[%s]:%d" : "%s:%d", host, s->port);
        twin_node_config_set(s->node, "twin.address", address);
    }
    *out = s;
    return 0;
}

int twin_service_port(const twin_service *s)
{
    return s->port;
}

/* The run has taken the stop (or the service is being freed): this service's network waits go
 * on again, for the listener's grace period. */
static void take_stop(twin_service *s)
{
    atomic_store(&s->stop_taken, true);
}

int twin_service_run(twin_service *s)
{
    if (atomic_exchange(&s->ran, true))
        return twin_error(TWIN_EINVALID, "the service ran already");
    struct key_stamp key_seen;
    key_stamp_of(&key_seen, s->dir);
    git_oid last = {{0}}, now;
    bool have_last = twin_node_head(&last, s->node) == 0;
    time_t next_round = time(NULL);
    while (!wait_for_stop(s, POLL_MS)) {
        watch_key(s, &key_seen);
        bool have_now = twin_node_head(&now, s->node) == 0;
        bool changed = have_now && (!have_last || !git_oid_equal(&now, &last));
        if (changed || time(NULL) >= next_round) {
            /* Each round opens the node afresh, so it signs merges with the key node.key holds
             * now, even after `twin key rotate` ran beside this process. */
            twin_node *round = NULL;
            /* What the round is judged by: the head it started from, or the one its last session
             * agreed on with a peer. A local write after that (even while the round's node
             * closes) differs from it, and starts the next round at once. */
            last = now;
            have_last = have_now;
            if (twin_ops_open(&round, s->dir) == 0)
                sync_all(s, round, &last, changed ? "the head moved" : "the interval is up");
            else
                say(s, TWIN_LOG_ERROR, "%s", twin_error_last());
            twin_node_free(round);
            next_round = time(NULL) + s->interval;
        }
    }
    const char *why = atomic_load(&s->stop_why);
    say(s, TWIN_LOG_INFO, "stopping on %s", why ? why : "request");
    take_stop(s);
    twin_listener_stop(s->listener);
    s->listener = NULL;
    sodium_memzero(&s->answering, sizeof(s->answering));
    sodium_memzero(&s->started, sizeof(s->started));
    say(s, TWIN_LOG_INFO, "stopped");
    return 0;
}

void twin_service_stop(twin_service *s, const char *why)
{
    if (!s)
        return;
    int saved = errno;
    const char *none = NULL;
    atomic_compare_exchange_strong(&s->stop_why, &none, why ? why : "request");
    atomic_store(&s->stop_asked, true);
    ssize_t w = write(s->wake[1], "", 1); /* when the pipe is full, a wake-up waits already */
    (void)w;
    errno = saved;
}

void twin_service_free(twin_service *s)
{
    if (!s)
        return;
    take_stop(s);
    twin_listener_stop(s->listener);
    twin_node_free(s->node);
    for (int i = 0; i < 2; i++)
        if (s->wake[i] >= 0)
            close(s->wake[i]);
    sodium_memzero(&s->answering, sizeof(s->answering));
    sodium_memzero(&s->started, sizeof(s->started));
    pthread_mutex_destroy(&s->log_lock);
    free(s->dir);
    free(s);
}
