/* The listener on loopback: sessions handed to the callback, stopping on request, admission
 * (handshake deadline, the pool of connections awaiting authentication with its cap per address,
 * members' sessions capped per key, invite claims in a pool of their own), the keys handshakes
 * are answered with, and the summary of refusals in the log. Every wait is bounded and the
 * assertions are on events (callbacks, log lines, bytes on sockets), never on elapsed times. */
#define _XOPEN_SOURCE 700 /* nftw, for the helpers */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sodium.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "helpers.h"
#include "twin/channel.h"
#include "twin/error.h"
#include "twin/listener.h"
#include "twin/noise.h"

#define NETWORK  "0123456789abcdef0123456789abcdef"
#define WAIT_MS  20000 /* every wait: far beyond what any event here needs */
#define MAX_SEEN 16

/* bob serves (bob_prev and bob_next are his keys before and after a rotation, k[] more of his
 * keys); alice and dave are members; carol and erin may only present an invite; mallory is let
 * in neither way. */
static twin_keypair bob, bob_prev, bob_next, k[5], alice, dave, carol, erin, mallory;

/* ---- the server ----------------------------------------------------------------------------- */

struct server {
    twin_listener *l;
    int port;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    char log[65536];
    int started, done; /* sessions handed to the callback, and returned from it */
    unsigned char peer[MAX_SEEN][TWIN_PUBKEY_BYTES], local[MAX_SEEN][TWIN_PUBKEY_BYTES];
    int admission[MAX_SEEN];
    int end_rc[MAX_SEEN];
    char end_error[MAX_SEEN][256];
    bool saw_stopping[MAX_SEEN];
    bool stop_returned;
    char wrong_level[300]; /* the first line logged at a level other than its kind's */
};

/* The level each kind of line is logged at: a connection's steps are detail, refusals are
 * summed up as a warning, the listener's own failures are faults. */
static int level_of(const char *line)
{
    if (strncmp(line, "accepted ", 9) == 0 || strncmp(line, "closed ", 7) == 0)
        return TWIN_LOG_DEBUG;
    if (strncmp(line, "refused ", 8) == 0)
        return TWIN_LOG_WARN;
    return TWIN_LOG_ERROR;
}

static void capture_log(void *ctx, int level, const char *line)
{
    struct server *s = ctx;
    pthread_mutex_lock(&s->lock);
    if (level != level_of(line) && !s->wrong_level[0])
        snprintf(s->wrong_level, sizeof(s->wrong_level), "<%d>%s", level, line);
    size_t used = strlen(s->log);
    snprintf(s->log + used, sizeof(s->log) - used, "%s\n", line);
    pthread_cond_broadcast(&s->changed);
    pthread_mutex_unlock(&s->lock);
}

static int authorize(void *ctx, const unsigned char node[TWIN_PUBKEY_BYTES], char *reason,
                     size_t cap)
{
    if (memcmp(node, alice.pk, 32) == 0 || memcmp(node, dave.pk, 32) == 0)
        return 0;
    if (memcmp(node, carol.pk, 32) == 0 || memcmp(node, erin.pk, 32) == 0)
        return TWIN_CHANNEL_ADMIT_CLAIM;
    snprintf(reason, cap, "not a member of XE-EXAMPLE-NET");
    return -1;
}

/* Echoes every message until the peer says goodbye (answered with goodbye) or the channel
 * fails; says goodbye "shutdown" when the listener is stopping. */
static void session(void *ctx, twin_channel *ch)
{
    struct server *s = ctx;
    pthread_mutex_lock(&s->lock);
    int i = s->started < MAX_SEEN ? s->started : MAX_SEEN - 1;
    s->started++;
    memcpy(s->peer[i], twin_channel_peer_node(ch), TWIN_PUBKEY_BYTES);
    memcpy(s->local[i], twin_channel_local_node(ch), TWIN_PUBKEY_BYTES);
    s->admission[i] = twin_channel_admission(ch);
    twin_listener *l = s->l;
    pthread_cond_broadcast(&s->changed);
    pthread_mutex_unlock(&s->lock);

    int rc;
    for (;;) {
        twin_msg m;
        if ((rc = twin_channel_recv(ch, &m)) != 0)
            break;
        if (m.type == TWIN_MSG_GOODBYE) {
            twin_msg_clear(&m);
            twin_channel_goodbye(ch, TWIN_GOODBYE_DONE);
            break;
        }
        rc = twin_channel_send(ch, &m);
        twin_msg_clear(&m);
        if (rc)
            break;
    }
    char error[256];
    snprintf(error, sizeof(error), "%s", rc ? twin_error_last() : "");
    bool stopping = twin_listener_stopping(l);
    if (rc && stopping)
        twin_channel_goodbye(ch, TWIN_GOODBYE_SHUTDOWN);

    pthread_mutex_lock(&s->lock);
    s->end_rc[i] = rc;
    snprintf(s->end_error[i], sizeof(s->end_error[i]), "%s", error);
    s->saw_stopping[i] = stopping;
    s->done++;
    pthread_cond_broadcast(&s->changed);
    pthread_mutex_unlock(&s->lock);
}

static struct server *server_new(void)
{
    struct server *s = calloc(1, sizeof(*s));
    pthread_condattr_t attr;
    assert_non_null(s);
    pthread_mutex_init(&s->lock, NULL);
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&s->changed, &attr);
    pthread_condattr_destroy(&attr);
    return s;
}

/* What most tests serve with: short enough deadlines never matter, long ones never pass. */
static twin_listener_config config_for(struct server *s)
{
    twin_listener_config cfg = {
        .host = "127.0.0.1",
        .port = "0",
        .channel = {.key = &bob,
                    .network_id = NETWORK,
                    .handshake_timeout_ms = 60000,
                    .read_timeout_ms = 60000,
                    .write_timeout_ms = 10000,
                    .authorize = authorize},
        .summary_ms = 1, /* every refusal shows in the log at once */
        .session = session,
        .session_ctx = s,
        .log = capture_log,
        .log_ctx = s,
    };
    return cfg;
}

static void server_start(struct server *s, const twin_listener_config *cfg)
{
    twin_listener *l = NULL;
    if (twin_listener_start(&l, cfg) != 0)
        fail_msg("listener: %s", twin_error_last());
    pthread_mutex_lock(&s->lock);
    s->l = l;
    s->port = twin_listener_port(l);
    pthread_mutex_unlock(&s->lock);
    assert_true(s->port > 0 && s->port < 65536);
}

static void server_free(struct server *s)
{
    twin_listener_stop(s->l);
    if (s->wrong_level[0])
        fail_msg("a line at the wrong level: %s", s->wrong_level);
    pthread_cond_destroy(&s->changed);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* ---- waiting for events --------------------------------------------------------------------- */

typedef bool (*predicate)(struct server *s, const void *arg);

/* Waits (at most WAIT_MS) until pred holds, with the lock held while it is asked. */
static bool wait_for(struct server *s, predicate pred, const void *arg)
{
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += WAIT_MS / 1000;
    pthread_mutex_lock(&s->lock);
    bool ok;
    while (!(ok = pred(s, arg)))
        if (pthread_cond_timedwait(&s->changed, &s->lock, &deadline) == ETIMEDOUT) {
            ok = pred(s, arg);
            break;
        }
    if (!ok)
        print_error("gave up waiting; the log so far:\n%s", s->log);
    pthread_mutex_unlock(&s->lock);
    return ok;
}

static bool log_has(struct server *s, const void *needle)
{
    return strstr(s->log, needle) != NULL;
}

static bool started_at_least(struct server *s, const void *n)
{
    return s->started >= *(const int *)n;
}

static bool done_at_least(struct server *s, const void *n)
{
    return s->done >= *(const int *)n;
}

static bool stop_returned(struct server *s, const void *arg)
{
    return s->stop_returned;
}

/* The refusals of one kind the summary lines have counted so far: each line reads
 * "refused N connections: N1 <kind> (latest ...), N2 <kind> (latest ...)". */
static unsigned long refusals_in(const char *log, const char *kind)
{
    char needle[160];
    unsigned long total = 0;
    snprintf(needle, sizeof(needle), " %s (latest ", kind);
    for (const char *p = strstr(log, needle); p; p = strstr(p + 1, needle)) {
        const char *q = p;
        while (q > log && isdigit((unsigned char)q[-1]))
            q--;
        total += strtoul(q, NULL, 10);
    }
    return total;
}

struct refusal_count {
    const char *kind;
    unsigned long n;
};

static bool refusals_at_least(struct server *s, const void *arg)
{
    const struct refusal_count *c = arg;
    return refusals_in(s->log, c->kind) >= c->n;
}

static unsigned long lines_starting(struct server *s, const char *prefix)
{
    unsigned long n = 0;
    pthread_mutex_lock(&s->lock);
    for (const char *p = s->log; *p; p = strchr(p, '\n') + 1)
        n += strncmp(p, prefix, strlen(prefix)) == 0;
    pthread_mutex_unlock(&s->lock);
    return n;
}

#define WAIT_LOG(s, text)  assert_true(wait_for((s), log_has, (text)))
#define WAIT_STARTED(s, n) assert_true(wait_for((s), started_at_least, &(int){(n)}))
#define WAIT_DONE(s, n)    assert_true(wait_for((s), done_at_least, &(int){(n)}))
#define WAIT_REFUSED(s, kind, count)                                                               \
    assert_true(wait_for((s), refusals_at_least, &(struct refusal_count){(kind), (count)}))

/* ---- clients -------------------------------------------------------------------------------- */

static twin_channel_config client_config(const twin_keypair *key)
{
    twin_channel_config cfg = {.key = key,
                               .network_id = NETWORK,
                               .handshake_timeout_ms = 10000,
                               .read_timeout_ms = 10000,
                               .write_timeout_ms = 10000};
    return cfg;
}

static int try_connect(twin_channel **ch, const char *host, int port, const twin_keypair *key,
                       const unsigned char *expect)
{
    char port_text[16];
    twin_channel_config cfg = client_config(key);
    snprintf(port_text, sizeof(port_text), "%d", port);
    *ch = NULL;
    return twin_channel_connect(ch, host, port_text, expect, &cfg);
}

static twin_channel *connect_as(int port, const twin_keypair *key, const unsigned char *expect)
{
    twin_channel *ch = NULL;
    if (try_connect(&ch, "127.0.0.1", port, key, expect) != 0)
        fail_msg("connect: %s", twin_error_last());
    return ch;
}

/* Sends a hello and reads back the session's echo of it. */
static void echo_hello(twin_channel *ch, const twin_keypair *key)
{
    twin_msg m = {.type = TWIN_MSG_HELLO}, got;
    m.u.hello.nversions = 1;
    m.u.hello.versions[0] = TWIN_PROTOCOL_VERSION;
    memcpy(m.u.hello.network_id, NETWORK, sizeof(NETWORK));
    memcpy(m.u.hello.node, key->pk, TWIN_PUBKEY_BYTES);
    snprintf(m.u.hello.software, sizeof(m.u.hello.software), "twin-test");
    assert_int_equal(twin_channel_send(ch, &m), 0);
    if (twin_channel_recv(ch, &got) != 0)
        fail_msg("recv: %s", twin_error_last());
    assert_int_equal(got.type, TWIN_MSG_HELLO);
    assert_memory_equal(got.u.hello.node, key->pk, TWIN_PUBKEY_BYTES);
    twin_msg_clear(&got);
}

/* Says goodbye and reads the session's. */
static void end_session(twin_channel *ch)
{
    twin_msg got;
    assert_int_equal(twin_channel_goodbye(ch, TWIN_GOODBYE_DONE), 0);
    assert_int_equal(twin_channel_recv(ch, &got), 0);
    assert_int_equal(got.type, TWIN_MSG_GOODBYE);
    assert_int_equal(got.u.goodbye.code, TWIN_GOODBYE_DONE);
    twin_channel_free(ch);
}

/* The next message is a refuse "busy" whose reason names the limit. */
static void assert_told_busy(twin_channel *ch, const char *limit)
{
    twin_msg got;
    char want[160];
    if (twin_channel_recv(ch, &got) != 0)
        fail_msg("recv: %s", twin_error_last());
    assert_int_equal(got.type, TWIN_MSG_REFUSE);
    assert_int_equal(got.u.refuse.code, TWIN_REFUSE_BUSY);
    snprintf(want, sizeof(want), "busy: %s; retry shortly", limit);
    assert_string_equal(got.u.refuse.reason, want);
    twin_msg_clear(&got);
}

/* A plain TCP connection to the port, from the loopback address `from` (127.0.0.x: each is an
 * address of its own to the listener) or from 127.0.0.1. */
static int raw_connect(int port, const char *from)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    assert_true(fd >= 0);
    if (from) {
        struct sockaddr_in src = {.sin_family = AF_INET};
        assert_int_equal(inet_pton(AF_INET, from, &src.sin_addr), 1);
        assert_int_equal(bind(fd, (struct sockaddr *)&src, sizeof(src)), 0);
    }
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    return fd;
}

/* Reads what the server sends until it closes the connection (at most WAIT_MS): the byte count,
 * or -1 when it is still open then. */
static ssize_t read_to_close(int fd, unsigned char *buf, size_t cap)
{
    struct timespec start, now;
    size_t got = 0;
    clock_gettime(CLOCK_MONOTONIC, &start);
    for (;;) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 100) > 0) {
            ssize_t n = recv(fd, buf + got, cap - got, 0);
            if (n == 0 || (n < 0 && errno == ECONNRESET))
                return (ssize_t)got;
            if (n > 0 && (got += (size_t)n) == cap)
                return (ssize_t)got;
        }
        clock_gettime(CLOCK_MONOTONIC, &now);
        if ((now.tv_sec - start.tv_sec) * 1000 + (now.tv_nsec - start.tv_nsec) / 1000000 > WAIT_MS)
            return -1;
    }
}

/* Dropped from the pending pool before any answer: told "busy" (a frame header of length 0
 * where message 2 was due), then closed. */
static void assert_dropped_busy(int fd)
{
    unsigned char got[64];
    ssize_t n = read_to_close(fd, got, sizeof(got));
    if (n != 4)
        fail_msg("expected the 4-byte busy header then the close, got %zd bytes", n);
    assert_memory_equal(got, "\0\0\0\0", 4);
}

static void assert_closed_silently(int fd)
{
    unsigned char got[64];
    assert_int_equal(read_to_close(fd, got, sizeof(got)), 0);
}

/* Nothing has arrived on fd and it is not closed. */
static bool still_waiting(int fd)
{
    struct pollfd p = {.fd = fd, .events = POLLIN};
    return poll(&p, 1, 0) == 0;
}

static void node_hex(char out[TWIN_NODE_ID_LEN + 1], const unsigned char *pk)
{
    twin_key_node_id(out, pk);
}

/* ---- sessions ------------------------------------------------------------------------------- */

static void an_accepted_session_is_handed_to_the_callback(void **state)
{
    struct server *s = server_new();
    twin_listener_config cfg = config_for(s);
    server_start(s, &cfg);
    assert_false(twin_listener_stopping(s->l));

    twin_channel *ch = connect_as(s->port, &alice, bob.pk);
    assert_memory_equal(twin_channel_peer_node(ch), bob.pk, TWIN_PUBKEY_BYTES);
    WAIT_STARTED(s, 1);
    pthread_mutex_lock(&s->lock);
    assert_memory_equal(s->peer[0], alice.pk, TWIN_PUBKEY_BYTES);
    assert_memory_equal(s->local[0], bob.pk, TWIN_PUBKEY_BYTES);
    assert_int_equal(s->admission[0], 0);
    pthread_mutex_unlock(&s->lock);
    echo_hello(ch, &alice);
    end_session(ch);
    WAIT_DONE(s, 1);
    assert_int_equal(s->end_rc[0], 0);

    /* One line as it was accepted, one as it closed, each naming the node. */
    char hex[TWIN_NODE_ID_LEN + 1], node_line[128];
    node_hex(hex, alice.pk);
    snprintf(node_line, sizeof(node_line), ": node %s\nclosed 127.0.0.1:", hex);
    WAIT_LOG(s, node_line);
    snprintf(node_line, sizeof(node_line), ": node %s\n", hex);
    assert_non_null(strstr(strstr(s->log, "closed 127.0.0.1:"), node_line));
    assert_int_equal(lines_starting(s, "accepted 127.0.0.1:"), 1);
    assert_int_equal(lines_starting(s, "closed 127.0.0.1:"), 1);
    assert_int_equal(lines_starting(s, "refused"), 0);
    server_free(s);
}

static void sessions_run_side_by_side(void **state)
{
    struct server *s = server_new();
    twin_listener_config cfg = config_for(s);
    server_start(s, &cfg);
    twin_channel *a = connect_as(s->port, &alice, bob.pk);
    twin_channel *d = connect_as(s->port, &dave, bob.pk);
    WAIT_STARTED(s, 2);
    /* Each session answers while the other waits. */
    echo_hello(d, &dave);
    echo_hello(a, &alice);
    echo_hello(d, &dave);
    end_session(a);
    end_session(d);
    WAIT_DONE(s, 2);
    server_free(s);
}

static void a_listener_on_ipv6_loopback_names_peers_in_brackets(void **state)
{
    struct server *s = server_new();
    twin_listener_config cfg = config_for(s);
    twin_listener *l = NULL;
    cfg.host = "::1";
    if (twin_listener_start(&l, &cfg) != 0) {
        print_message("no IPv6 loopback here (%s): skipping\n", twin_error_last());
        server_free(s);
        skip();
    }
    pthread_mutex_lock(&s->lock);
    s->l = l;
    s->port = twin_listener_port(l);
    pthread_mutex_unlock(&s->lock);
    twin_channel *ch = NULL;
    if (try_connect(&ch, "::1", s->port, &alice, bob.pk) != 0)
        fail_msg("connect: %s", twin_error_last());
    char want[32];
    snprintf(want, sizeof(want), "[::1]:%d", s->port);
    assert_string_equal(twin_channel_peer_addr(ch), want);
    echo_hello(ch, &alice);
    end_session(ch);
    WAIT_LOG(s, "accepted [::1]:");
    server_free(s);
}

/* ---- the configuration ---------------------------------------------------------------------- */

static void a_configuration_without_port_key_or_authoriser_is_refused(void **state)
{
    struct server *s = server_new();
    twin_listener *l = (twin_listener *)&l; /* not NULL: a refusal must not touch it */
    twin_listener *const untouched = l;
    const char *need = "listener: the configuration needs a port, a key and an authoriser";
    assert_error(twin_listener_start(&l, NULL), TWIN_EINVALID, need);
    twin_listener_config cfg = config_for(s);
    cfg.port = NULL;
    assert_error(twin_listener_start(&l, &cfg), TWIN_EINVALID, need);
    cfg = config_for(s);
    cfg.channel.key = NULL;
    assert_error(twin_listener_start(&l, &cfg), TWIN_EINVALID, need);
    cfg = config_for(s);
    cfg.channel.authorize = NULL;
    assert_error(twin_listener_start(&l, &cfg), TWIN_EINVALID, need);
    cfg = config_for(s);
    cfg.channel.network_id = "0123456789ABCDEF0123456789ABCDEF";
    assert_error(twin_listener_start(&l, &cfg), TWIN_EINVALID,
                 "listener: network id: character 11 is not a lowercase hex digit");
    cfg.channel.network_id = "0123456789abcdef";
    assert_error(twin_listener_start(&l, &cfg), TWIN_EINVALID,
                 "listener: network id: expected 32 lowercase hex characters");
    cfg.channel.network_id = NULL;
    assert_error(twin_listener_start(&l, &cfg), TWIN_EINVALID, "listener: network id: missing");
    assert_ptr_equal(l, untouched);
    twin_listener_stop(NULL); /* accepted, does nothing */
    pthread_cond_destroy(&s->changed);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static void an_address_that_cannot_be_bound_is_named(void **state)
{
    struct server *s = server_new();
    twin_listener *l = NULL;
    twin_listener_config cfg = config_for(s);
    cfg.host = "256.0.0.1";
    assert_error(twin_listener_start(&l, &cfg), TWIN_ERROR, "listen 256.0.0.1:0: ");
    assert_null(l);

    /* A port another socket listens on. */
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET};
    socklen_t len = sizeof(sin);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(listen(fd, 1), 0);
    assert_int_equal(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
    char port[16], expect[64];
    snprintf(port, sizeof(port), "%d", ntohs(sin.sin_port));
    snprintf(expect, sizeof(expect), "listen 127.0.0.1:%s: %s", port, strerror(EADDRINUSE));
    cfg = config_for(s);
    cfg.port = port;
    assert_error(twin_listener_start(&l, &cfg), TWIN_ERROR, expect);
    assert_null(l);
    close(fd);
    pthread_cond_destroy(&s->changed);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* ---- stopping ------------------------------------------------------------------------------- */

static void *stop_main(void *arg)
{
    struct server *s = arg;
    twin_listener_stop(s->l);
    pthread_mutex_lock(&s->lock);
    s->l = NULL;
    s->stop_returned = true;
    pthread_cond_broadcast(&s->changed);
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

static void stop_interrupts_sessions_and_handshakes_and_joins_them(void **state)
{
    struct server *s = server_new();
    twin_listener_config cfg = config_for(s);
    server_start(s, &cfg);
    int port = s->port;
    /* A handshake that waits for up to a minute, accepted before the session (in order). */
    int pending = raw_connect(port, NULL);
    twin_channel *ch = connect_as(port, &alice, bob.pk);
    echo_hello(ch, &alice); /* the session now waits in its next read, for up to a minute */
    WAIT_LOG(s, "accepted 127.0.0.1:");
    assert_true(still_waiting(pending));

    pthread_t stopper;
    assert_int_equal(pthread_create(&stopper, NULL, stop_main, s), 0);
    assert_true(wait_for(s, stop_returned, NULL));
    pthread_join(stopper, NULL);

    /* The session learnt the listener was stopping, and said so. */
    assert_int_equal(s->started, 1);
    assert_int_equal(s->done, 1);
    assert_true(s->saw_stopping[0]);
    assert_int_not_equal(s->end_rc[0], 0);
    twin_msg got;
    assert_int_equal(twin_channel_recv(ch, &got), 0);
    assert_int_equal(got.type, TWIN_MSG_GOODBYE);
    assert_int_equal(got.u.goodbye.code, TWIN_GOODBYE_SHUTDOWN);
    twin_channel_free(ch);
    /* The handshake in progress was ended, and counted in the last summary. */
    assert_closed_silently(pending);
    close(pending);
    assert_true(log_has(s, "closed 127.0.0.1:"));
    if (refusals_in(s->log, "failed or abandoned the handshake") != 1)
        fail_msg("the log does not count the handshake:\n%s", s->log);
    /* Nothing listens on the port any more. */
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_not_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(errno, ECONNREFUSED);
    close(fd);
    server_free(s); /* s->l is NULL now */
}

static void stopping_an_idle_listener_returns(void **state)
{
    struct server *s = server_new();
    twin_listener_config cfg = config_for(s);
    server_start(s, &cfg);
    pthread_t stopper;
    assert_int_equal(pthread_create(&stopper, NULL, stop_main, s), 0);
    assert_true(wait_for(s, stop_returned, NULL));
    pthread_join(stopper, NULL);
    assert_int_equal(s->started, 0);
    assert_string_equal(s->log, ""); /* nothing refused, nothing to sum up */
    server_free(s);
}

/* ---- the handshake deadline ----------------------------------------------------------------- */

static void a_silent_connection_is_dropped_at_the_deadline_without_holding_up_others(void **state)
{
    struct server *s = server_new();
    twin_listener_config cfg = config_for(s);
    /* The listener's own deadline, used when the channel's is not set. */
    cfg.channel.handshake_timeout_ms = 0;
    cfg.handshake_timeout_ms = 4000;
    server_start(s, &cfg);
    int silent[3];
    for (int i = 0; i < 3; i++)
        silent[i] = raw_connect(s->port, NULL);

    /* A member connecting after them is served while they still wait. */
    twin_channel *ch = connect_as(s->port, &alice, bob.pk);
    echo_hello(ch, &alice);
    for (int i = 0; i < 3; i++)
        assert_true(still_waiting(silent[i]));
    end_session(ch);

    /* Then each is dropped at its deadline, without a word. */
    for (int i = 0; i < 3; i++) {
        assert_closed_silently(silent[i]);
        close(silent[i]);
    }
    WAIT_REFUSED(s, "failed or abandoned the handshake", 3);
    assert_true(log_has(s, "no answer within the deadline of 4000 ms"));
    WAIT_DONE(s, 1);
    assert_int_equal(s->end_rc[0], 0);
    server_free(s);
}

/* ---- the pending pool ----------------------------------------------------------------------- */

static void the_oldest_pending_connection_of_an_address_makes_room_at_its_cap(void **state)
{
    struct server *s = server_new();
    twin_listener_config cfg = config_for(s);
    cfg.max_per_address = 2;
    cfg.max_unauthenticated = 10;
    server_start(s, &cfg);
    int c = raw_connect(s->port, "127.0.0.3"); /* the oldest of all, from another address */
    int a = raw_connect(s->port, "127.0.0.2");
    int b = raw_connect(s->port, "127.0.0.2");
    int d = raw_connect(s->port, "127.0.0.2"); /* 127.0.0.2 is over its share: a goes */
    assert_dropped_busy(a);
    WAIT_REFUSED(s, "dropped before authenticating to make room", 1);
    assert_true(log_has(s, "dropped before authenticating to make room (latest 127.0.0.2:"));
    assert_true(still_waiting(b));
    assert_true(still_waiting(c));
    assert_true(still_waiting(d));

    /* 127.0.0.3's second connection fits its share; its third drops its oldest, c. */
    int e = raw_connect(s->port, "127.0.0.3");
    int f = raw_connect(s->port, "127.0.0.3");
    assert_dropped_busy(c);
    WAIT_REFUSED(s, "dropped before authenticating to make room", 2);
    assert_true(still_waiting(b));
    assert_true(still_waiting(d));
    assert_true(still_waiting(e));
    assert_true(still_waiting(f));

    /* A member from yet another address is not held up by either. */
    twin_channel *ch = connect_as(s->port, &alice, bob.pk);
    echo_hello(ch, &alice);
    end_session(ch);
    assert_true(still_waiting(b));
    assert_true(still_waiting(f));
    server_free(s);
    int fds[] = {a, b, c, d, e, f};
    for (size_t i = 0; i < 6; i++)
        close(fds[i]);
}

static void the_oldest_pending_connection_of_all_makes_room_when_the_pool_is_full(void **state)
{
    struct server *s = server_new();
    twin_listener_config cfg = config_for(s);
    cfg.max_unauthenticated = 3;
    server_start(s, &cfg);
    int a = raw_connect(s->port, "127.0.0.3");
    int b = raw_connect(s->port, "127.0.0.2");
    int c = raw_connect(s->port, "127.0.0.4");
    int d = raw_connect(s->port, "127.0.0.5"); /* the pool is full: the oldest, a, goes */
    assert_dropped_busy(a);
    assert_true(still_waiting(b));
    assert_true(still_waiting(c));
    assert_true(still_waiting(d));

    /* A member gets in all the same, the next oldest (b) making room for it. */
    twin_channel *ch = connect_as(s->port, &alice, bob.pk);
    echo_hello(ch, &alice);
    assert_dropped_busy(b);
    assert_true(still_waiting(c));
    assert_true(still_waiting(d));
    end_session(ch);
    WAIT_REFUSED(s, "dropped before authenticating to make room", 2);
    server_free(s);
    int fds[] = {a, b, c, d};
    for (size_t i = 0; i < 4; i++)
        close(fds[i]);
}

/* A connection the listener has already answered (message 2 sent) is dropped without "busy":
 * the header of length 0 stands only where message 2 was due. */
static void a_pending_connection_already_answered_is_dropped_without_busy(void **state)
{
    struct server *s = server_new();
    twin_listener_config cfg = config_for(s);
    cfg.max_unauthenticated = 1;
    server_start(s, &cfg);

    twin_noise_handshake hs;
    unsigned char frame[4 + TWIN_NOISE_MSG3_BYTES], got[256];
    size_t len = 0;
    assert_int_equal(twin_noise_start(&hs, 1, &alice, bob.pk, NETWORK), 0);
    assert_int_equal(twin_noise_write_next(&hs, frame + 4, sizeof(frame) - 4, &len), 0);
    assert_int_equal(len, TWIN_NOISE_MSG1_BYTES);
    frame[0] = frame[1] = frame[2] = 0;
    frame[3] = (unsigned char)len;
    int half = raw_connect(s->port, NULL);
    assert_int_equal(send(half, frame, 4 + len, MSG_NOSIGNAL), (ssize_t)(4 + len));
    /* Message 2 arrives whole... */
    size_t have = 0;
    while (have < 4 + TWIN_NOISE_MSG2_BYTES) {
        struct pollfd p = {.fd = half, .events = POLLIN};
        assert_true(poll(&p, 1, WAIT_MS) == 1);
        ssize_t n = recv(half, got + have, sizeof(got) - have, 0);
        assert_true(n > 0);
        have += (size_t)n;
    }
    assert_int_equal(have, 4 + TWIN_NOISE_MSG2_BYTES);
    assert_memory_equal(got, "\0\0\0\x30", 4);
    assert_int_equal(twin_noise_read_next(&hs, got + 4, TWIN_NOISE_MSG2_BYTES), 0);
    twin_noise_handshake_wipe(&hs);

    /* ...and when a newer connection takes its place, it is closed with nothing more. */
    int newer = raw_connect(s->port, NULL);
    assert_closed_silently(half);
    assert_true(still_waiting(newer));
    WAIT_REFUSED(s, "dropped before authenticating to make room", 1);
    close(half);
    server_free(s);
    close(newer);
}

/* ---- members' sessions and invite claims ---------------------------------------------------- */

static void a_key_over_its_session_cap_is_told_busy(void **state)
{
    struct server *s = server_new();
    twin_listener_config cfg = config_for(s);
    cfg.max_per_key = 1;
    server_start(s, &cfg);
    twin_channel *first = connect_as(s->port, &alice, bob.pk);
    echo_hello(first, &alice);

    twin_channel *second = connect_as(s->port, &alice, bob.pk);
    assert_told_busy(second, "too many sessions with this key at once");
    twin_channel_free(second);
    WAIT_REFUSED(s, "over one key's session limit", 1);

    /* Another member's key has a share of its own; the first session goes on. */
    twin_channel *other = connect_as(s->port, &dave, bob.pk);
    echo_hello(other, &dave);
    echo_hello(first, &alice);
    end_session(other);
    end_session(first);
    WAIT_DONE(s, 2);
    assert_int_equal(s->started, 2);
    server_free(s);
}

static void invite_claims_have_a_pool_of_their_own(void **state)
{
    struct server *s = server_new();
    twin_listener_config cfg = config_for(s);
    cfg.max_claims = 1;
    cfg.max_sessions = 1;
    server_start(s, &cfg);

    twin_channel *claim = connect_as(s->port, &carol, bob.pk);
    WAIT_STARTED(s, 1);
    assert_int_equal(s->admission[0], TWIN_CHANNEL_ADMIT_CLAIM);
    char hex[TWIN_NODE_ID_LEN + 1], line[160];
    node_hex(hex, carol.pk);
    snprintf(line, sizeof(line), ": node %s (invite)\n", hex);
    WAIT_LOG(s, line);

    /* A second claim is over the claims' cap... */
    twin_channel *second = connect_as(s->port, &erin, bob.pk);
    assert_told_busy(second, "too many invite claims at once");
    twin_channel_free(second);
    WAIT_REFUSED(s, "over the invite claim limit", 1);

    /* ...while a member's session, in the other pool, is served. */
    twin_channel *member = connect_as(s->port, &alice, bob.pk);
    echo_hello(member, &alice);
    WAIT_STARTED(s, 2);
    assert_int_equal(s->admission[1], 0);
    end_session(member);
    end_session(claim);
    WAIT_DONE(s, 2);
    server_free(s);
}

static void an_invite_claim_waits_under_the_claim_deadline(void **state)
{
    struct server *s = server_new();
    twin_listener_config cfg = config_for(s);
    cfg.claim_timeout_ms = 300; /* members' reads wait a minute */
    server_start(s, &cfg);
    twin_channel *claim = connect_as(s->port, &carol, bob.pk);
    WAIT_DONE(s, 1);
    assert_int_not_equal(s->end_rc[0], 0);
    if (!strstr(s->end_error[0], "no answer within the deadline of 300 ms"))
        fail_msg("the claim session ended with \"%s\"", s->end_error[0]);
    twin_channel_free(claim);
    server_free(s);
}

static void a_key_not_let_in_gets_no_session(void **state)
{
    struct server *s = server_new();
    twin_listener_config cfg = config_for(s);
    server_start(s, &cfg);
    twin_channel *ch = connect_as(s->port, &mallory, bob.pk);
    twin_msg got;
    assert_int_equal(twin_channel_recv(ch, &got), 0);
    assert_int_equal(got.type, TWIN_MSG_REFUSE);
    assert_int_equal(got.u.refuse.code, TWIN_REFUSE_NOT_MEMBER);
    twin_msg_clear(&got);
    twin_channel_free(ch);
    WAIT_REFUSED(s, "keys not let in", 1);
    assert_true(log_has(s, "not a member of XE-EXAMPLE-NET"));
    assert_int_equal(s->started, 0);
    server_free(s);
}

/* ---- keys ----------------------------------------------------------------------------------- */

static void connect_expecting(struct server *s, const twin_keypair *expect, int index)
{
    twin_channel *ch = connect_as(s->port, &alice, expect->pk);
    echo_hello(ch, &alice);
    end_session(ch);
    WAIT_DONE(s, index + 1);
    assert_memory_equal(s->local[index], expect->pk, TWIN_PUBKEY_BYTES);
}

static void refused_expecting(struct server *s, const twin_keypair *expect)
{
    twin_channel *ch = NULL;
    assert_error(try_connect(&ch, "127.0.0.1", s->port, &alice, expect->pk), TWIN_EVERIFY,
                 "holds another node key than expected");
    assert_null(ch);
}

static void handshakes_are_answered_with_the_keys_set_last(void **state)
{
    struct server *s = server_new();
    twin_listener_config cfg = config_for(s);
    cfg.channel.other_keys = &bob_prev;
    cfg.channel.nother_keys = 1;
    server_start(s, &cfg);
    connect_expecting(s, &bob, 0);
    connect_expecting(s, &bob_prev, 1);
    refused_expecting(s, &bob_next);

    /* A rotation: the new key first, then up to four others, repeats dropped. */
    twin_keypair others[] = {bob_next, bob, k[0], bob, k[1], k[2], k[3], k[4]};
    twin_listener_set_keys(s->l, &bob_next, others, sizeof(others) / sizeof(others[0]));
    connect_expecting(s, &bob_next, 2);
    connect_expecting(s, &bob, 3);
    connect_expecting(s, &k[2], 4);
    refused_expecting(s, &k[3]); /* the fifth other key: beyond the four kept */
    refused_expecting(s, &bob_prev);
    WAIT_REFUSED(s, "failed or abandoned the handshake", 3);
    server_free(s);
}

/* ---- the summary of refusals ---------------------------------------------------------------- */

static void refusals_are_summed_up_once_per_interval_by_kind(void **state)
{
    struct server *s = server_new();
    twin_listener_config cfg = config_for(s);
    cfg.summary_ms = 3600 * 1000;
    server_start(s, &cfg);
    unsigned char junk[64] = {0x7f, 0, 0, 0}; /* a length no handshake message has */

    /* The first refusal after a quiet spell is written at once. */
    int fd = raw_connect(s->port, NULL);
    assert_int_equal(send(fd, junk, sizeof(junk), MSG_NOSIGNAL), (ssize_t)sizeof(junk));
    assert_closed_silently(fd);
    close(fd);
    WAIT_LOG(s, "refused 1 connection: 1 failed or abandoned the handshake (latest 127.0.0.1:");
    assert_true(log_has(s, "handshake: message 1 declares"));

    /* The next ones are counted, not written, until the interval has passed... */
    for (int i = 0; i < 2; i++) {
        fd = raw_connect(s->port, "127.0.0.2");
        assert_int_equal(send(fd, junk, sizeof(junk), MSG_NOSIGNAL), (ssize_t)sizeof(junk));
        assert_closed_silently(fd); /* closed once counted */
        close(fd);
    }
    twin_channel *ch = connect_as(s->port, &mallory, bob.pk);
    twin_msg got;
    assert_int_equal(twin_channel_recv(ch, &got), 0);
    assert_int_equal(got.type, TWIN_MSG_REFUSE);
    twin_msg_clear(&got);
    assert_int_not_equal(twin_channel_recv(ch, &got), 0); /* closed once counted */
    twin_channel_free(ch);
    assert_int_equal(lines_starting(s, "refused"), 1);

    /* ...or the listener stops: then one line sums them up by kind, naming the latest of each. */
    twin_listener_stop(s->l);
    s->l = NULL;
    assert_int_equal(lines_starting(s, "refused"), 2);
    const char *last = strstr(s->log, "refused 3 connections: ");
    assert_non_null(last);
    assert_non_null(strstr(last, "refused 3 connections: 2 failed or abandoned the handshake "
                                 "(latest 127.0.0.2:"));
    const char *denied = strstr(last, ", 1 keys not let in (latest 127.0.0.1:");
    assert_non_null(denied);
    assert_non_null(strstr(denied, "not a member of XE-EXAMPLE-NET)"));
    server_free(s);
}

static int setup(void **state)
{
    if (sodium_init() < 0)
        return -1;
    keypair_from_seed(&alice, 1);
    keypair_from_seed(&bob, 2);
    keypair_from_seed(&carol, 3);
    keypair_from_seed(&bob_prev, 4);
    keypair_from_seed(&bob_next, 5);
    for (int i = 0; i < 5; i++)
        keypair_from_seed(&k[i], (unsigned char)(6 + i));
    keypair_from_seed(&dave, 11);
    keypair_from_seed(&erin, 12);
    keypair_from_seed(&mallory, 13);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(an_accepted_session_is_handed_to_the_callback),
        cmocka_unit_test(sessions_run_side_by_side),
        cmocka_unit_test(a_listener_on_ipv6_loopback_names_peers_in_brackets),
        cmocka_unit_test(a_configuration_without_port_key_or_authoriser_is_refused),
        cmocka_unit_test(an_address_that_cannot_be_bound_is_named),
        cmocka_unit_test(stop_interrupts_sessions_and_handshakes_and_joins_them),
        cmocka_unit_test(stopping_an_idle_listener_returns),
        cmocka_unit_test(a_silent_connection_is_dropped_at_the_deadline_without_holding_up_others),
        cmocka_unit_test(the_oldest_pending_connection_of_an_address_makes_room_at_its_cap),
        cmocka_unit_test(the_oldest_pending_connection_of_all_makes_room_when_the_pool_is_full),
        cmocka_unit_test(a_pending_connection_already_answered_is_dropped_without_busy),
        cmocka_unit_test(a_key_over_its_session_cap_is_told_busy),
        cmocka_unit_test(invite_claims_have_a_pool_of_their_own),
        cmocka_unit_test(an_invite_claim_waits_under_the_claim_deadline),
        cmocka_unit_test(a_key_not_let_in_gets_no_session),
        cmocka_unit_test(handshakes_are_answered_with_the_keys_set_last),
        cmocka_unit_test(refusals_are_summed_up_once_per_interval_by_kind),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
