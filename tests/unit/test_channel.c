/* Channels between real endpoints on loopback: a listener serving an echo session, clients
 * connecting to it, and a relay in the middle that tampers with frames the way a network
 * attacker could. Every wait is bounded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "twin/channel.h"
#include "twin/error.h"
#include "twin/listener.h"

#define NETWORK       "0123456789abcdef0123456789abcdef"
#define OTHER_NETWORK "fedcba9876543210fedcba9876543210"

static twin_keypair alice, bob, carol; /* bob serves; alice is a member; carol is not */

/* --- The server ------------------------------------------------------------------------- */

enum session_mode { ECHO, DROP_AFTER_REPLY };

struct server {
    twin_listener *l;
    enum session_mode mode;
    pthread_mutex_t lock;
    char log[16384];
    int session_rc;
    char session_error[512];
    int sessions_done;
    unsigned char seen_node[32];
};

static void capture_log(void *ctx, int level, const char *line)
{
    struct server *s = ctx;
    pthread_mutex_lock(&s->lock);
    size_t used = strlen(s->log);
    snprintf(s->log + used, sizeof(s->log) - used, "%s\n", line);
    pthread_mutex_unlock(&s->lock);
}

static int allow_alice(void *ctx, const unsigned char node[32], char *reason, size_t cap)
{
    if (memcmp(node, alice.pk, 32) == 0)
        return 0;
    snprintf(reason, cap, "not a member of XE-EXAMPLE-NET");
    return -1;
}

static twin_msg hello_from(const twin_keypair *kp);

/* Checks the client's hello and answers with bob's, then echoes every message back. */
static void echo_session(void *ctx, twin_channel *ch)
{
    struct server *s = ctx;
    int rc = 0, replied = 0;
    pthread_mutex_lock(&s->lock);
    memcpy(s->seen_node, twin_channel_peer_node(ch), 32);
    pthread_mutex_unlock(&s->lock);
    for (int first = 1;; first = 0) {
        twin_msg m;
        if ((rc = twin_channel_recv(ch, &m)) != 0) {
            if (twin_listener_stopping(s->l))
                twin_channel_goodbye(ch, TWIN_GOODBYE_SHUTDOWN);
            break;
        }
        if (first && (rc = twin_channel_check_hello(ch, &m)) != 0) {
            twin_msg_clear(&m);
            break;
        }
        if (m.type == TWIN_MSG_GOODBYE) {
            twin_msg_clear(&m);
            twin_channel_goodbye(ch, TWIN_GOODBYE_DONE);
            break;
        }
        if (s->mode == DROP_AFTER_REPLY && replied) {
            twin_msg_clear(&m);
            break; /* no goodbye: the client must see a truncated session */
        }
        replied = 1;
        if (first) {
            twin_msg_clear(&m);
            m = hello_from(&bob);
        }
        rc = twin_channel_send(ch, &m);
        twin_msg_clear(&m);
        if (rc)
            break;
    }
    pthread_mutex_lock(&s->lock);
    s->session_rc = rc;
    snprintf(s->session_error, sizeof(s->session_error), "%s", rc ? twin_error_last() : "");
    s->sessions_done++;
    pthread_mutex_unlock(&s->lock);
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static unsigned max_sessions;      /* 0: the listener's default */
static atomic_bool *server_cancel; /* when set, the listener's channels answer with it */

/* A channel's cancel question: what the flag at ctx says. */
static bool flag_says(void *ctx)
{
    return atomic_load((atomic_bool *)ctx);
}

static struct server *server_start(enum session_mode mode, unsigned max_unauth, int hs_timeout,
                                   int read_timeout)
{
    struct server *s = calloc(1, sizeof(*s));
    assert_non_null(s);
    pthread_mutex_init(&s->lock, NULL);
    s->mode = mode;
    twin_listener_config cfg = {
        .host = "127.0.0.1",
        .port = "0",
        .channel = {.key = &bob,
                    .network_id = NETWORK,
                    .handshake_timeout_ms = hs_timeout,
                    .read_timeout_ms = read_timeout,
                    .write_timeout_ms = 2000,
                    .authorize = allow_alice,
                    .cancelled = server_cancel ? flag_says : NULL,
                    .cancel_ctx = server_cancel},
        .max_unauthenticated = max_unauth,
        .max_sessions = max_sessions,
        .summary_ms = 1, /* every refusal shows in the log at once */
        .session = echo_session,
        .session_ctx = s,
        .log = capture_log,
        .log_ctx = s,
    };
    if (twin_listener_start(&s->l, &cfg) != 0)
        fail_msg("listener: %s", twin_error_last());
    assert_true(twin_listener_port(s->l) > 0);
    return s;
}

static void server_stop(struct server *s)
{
    twin_listener_stop(s->l);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

/* Waits (at most 5 s) until the server's log holds needle. */
static int log_has(struct server *s, const char *needle)
{
    int64_t end = now_ms() + 5000;
    for (;;) {
        pthread_mutex_lock(&s->lock);
        int found = strstr(s->log, needle) != NULL;
        pthread_mutex_unlock(&s->lock);
        if (found)
            return 1;
        if (now_ms() > end) {
            print_error("log so far:\n%s", s->log);
            return 0;
        }
        sleep_ms(10);
    }
}

/* Waits (at most 5 s) for the session to end; returns its error message. */
static const char *session_end(struct server *s, int *rc)
{
    int64_t end = now_ms() + 5000;
    for (;;) {
        pthread_mutex_lock(&s->lock);
        int done = s->sessions_done;
        pthread_mutex_unlock(&s->lock);
        if (done)
            break;
        if (now_ms() > end)
            fail_msg("the session did not end");
        sleep_ms(10);
    }
    *rc = s->session_rc;
    return s->session_error;
}

static char port_str[16];

static const char *port_of(int port)
{
    snprintf(port_str, sizeof(port_str), "%d", port);
    return port_str;
}

static twin_channel_config client_config(const twin_keypair *key, const char *network)
{
    twin_channel_config cfg = {.key = key,
                               .network_id = network,
                               .handshake_timeout_ms = 2000,
                               .read_timeout_ms = 2000,
                               .write_timeout_ms = 2000};
    return cfg;
}

static twin_channel *connect_ok(int port, const twin_keypair *key)
{
    twin_channel *ch = NULL;
    twin_channel_config cfg = client_config(key, NETWORK);
    if (twin_channel_connect(&ch, "127.0.0.1", port_of(port), bob.pk, &cfg) != 0)
        fail_msg("connect: %s", twin_error_last());
    return ch;
}

/* A plain TCP socket to the port, for peers that do not speak the protocol. */
static int raw_connect(int port)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_true(fd >= 0);
    assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    return fd;
}

/* True when the server closes fd within ms. */
static int closed_within(int fd, int ms)
{
    unsigned char b[256];
    int64_t end = now_ms() + ms;
    while (now_ms() < end) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 50) > 0) {
            ssize_t n = recv(fd, b, sizeof(b), 0);
            if (n == 0 || (n < 0 && errno == ECONNRESET))
                return 1;
        }
    }
    return 0;
}

static twin_msg hello_from(const twin_keypair *kp)
{
    twin_msg m = {.type = TWIN_MSG_HELLO};
    m.u.hello.nversions = 1;
    m.u.hello.versions[0] = TWIN_PROTOCOL_VERSION;
    memcpy(m.u.hello.network_id, NETWORK, sizeof(NETWORK));
    memcpy(m.u.hello.node, kp->pk, 32);
    snprintf(m.u.hello.software, sizeof(m.u.hello.software), "twin-test");
    return m;
}

/* --- The relay in the middle ------------------------------------------------------------ */

enum tamper { PASS, FLIP_BIT, REPLAY, OVERSIZE };

struct relay {
    int listen_fd, port, target_port;
    enum tamper tamper;
    int frame; /* index of the client-to-server frame to tamper with (2: first after handshake) */
    pthread_t thread;
};

static int read_exact(int fd, unsigned char *p, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = recv(fd, p + got, n - got, 0);
        if (r <= 0)
            return -1;
        got += (size_t)r;
    }
    return 0;
}

static int write_all(int fd, const unsigned char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return -1;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

struct pipe_args {
    int from, to;
};

static void *copy_bytes(void *arg)
{
    struct pipe_args *a = arg;
    unsigned char buf[65536];
    ssize_t n;
    while ((n = recv(a->from, buf, sizeof(buf), 0)) > 0)
        if (write_all(a->to, buf, (size_t)n) != 0)
            break;
    shutdown(a->to, SHUT_WR);
    return NULL;
}

static void *relay_main(void *arg)
{
    struct relay *r = arg;
    int client = accept(r->listen_fd, NULL, NULL);
    int server = raw_connect(r->target_port);
    struct pipe_args back = {server, client};
    pthread_t t;
    pthread_create(&t, NULL, copy_bytes, &back);
    static unsigned char body[TWIN_FRAME_MAX];
    for (int index = 0;; index++) {
        unsigned char hdr[4];
        if (read_exact(client, hdr, 4) != 0)
            break;
        uint32_t len = (uint32_t)hdr[0] << 24 | (uint32_t)hdr[1] << 16 | hdr[2] << 8 | hdr[3];
        if (len > sizeof(body) || read_exact(client, body, len) != 0)
            break;
        if (index == r->frame && r->tamper == FLIP_BIT)
            body[len / 2] ^= 0x04;
        if (index == r->frame && r->tamper == OVERSIZE) {
            uint32_t big = TWIN_FRAME_MAX + 1;
            unsigned char h2[4] = {big >> 24, (big >> 16) & 0xff, (big >> 8) & 0xff, big & 0xff};
            memcpy(hdr, h2, 4);
        }
        if (write_all(server, hdr, 4) != 0 || write_all(server, body, len) != 0)
            break;
        if (index == r->frame && r->tamper == REPLAY)
            if (write_all(server, hdr, 4) != 0 || write_all(server, body, len) != 0)
                break;
    }
    shutdown(server, SHUT_WR);
    pthread_join(t, NULL);
    close(client);
    close(server);
    return NULL;
}

static void relay_start(struct relay *r, int target_port, enum tamper tamper, int frame)
{
    struct sockaddr_in sin = {.sin_family = AF_INET};
    socklen_t len = sizeof(sin);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    r->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(bind(r->listen_fd, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(listen(r->listen_fd, 1), 0);
    assert_int_equal(getsockname(r->listen_fd, (struct sockaddr *)&sin, &len), 0);
    r->port = ntohs(sin.sin_port);
    r->target_port = target_port;
    r->tamper = tamper;
    r->frame = frame;
    assert_int_equal(pthread_create(&r->thread, NULL, relay_main, r), 0);
}

static void relay_stop(struct relay *r)
{
    pthread_join(r->thread, NULL);
    close(r->listen_fd);
}

/* --- Sessions that work ----------------------------------------------------------------- */

static void handshake_over_loopback_then_messages_flow_both_ways(void **state)
{
    struct server *s = server_start(ECHO, 0, 2000, 2000);
    twin_channel *ch = connect_ok(twin_listener_port(s->l), &alice);
    assert_memory_equal(twin_channel_peer_node(ch), bob.pk, 32);
    assert_true(log_has(s, "accepted 127.0.0.1:"));

    twin_msg hello = hello_from(&alice), got;
    assert_int_equal(twin_channel_send(ch, &hello), 0);
    assert_int_equal(twin_channel_recv(ch, &got), 0);
    assert_int_equal(got.type, TWIN_MSG_HELLO);
    assert_memory_equal(got.u.hello.node, bob.pk, 32);
    pthread_mutex_lock(&s->lock);
    assert_memory_equal(s->seen_node, alice.pk, 32);
    pthread_mutex_unlock(&s->lock);

    /* The largest chunk the protocol allows, there and back. */
    unsigned char *data = malloc(TWIN_MSG_CHUNK_MAX);
    assert_non_null(data);
    randombytes_buf(data, TWIN_MSG_CHUNK_MAX);
    twin_msg pack = {.type = TWIN_MSG_PACK, .u.pack = {3, data, TWIN_MSG_CHUNK_MAX, true}};
    assert_int_equal(twin_channel_send(ch, &pack), 0);
    assert_int_equal(twin_channel_recv(ch, &got), 0);
    assert_int_equal(got.type, TWIN_MSG_PACK);
    assert_int_equal(got.u.pack.len, TWIN_MSG_CHUNK_MAX);
    assert_memory_equal(got.u.pack.data, data, TWIN_MSG_CHUNK_MAX);
    twin_msg_clear(&got);
    free(data);

    assert_int_equal(twin_channel_goodbye(ch, TWIN_GOODBYE_DONE), 0);
    assert_int_equal(twin_channel_recv(ch, &got), 0);
    assert_int_equal(got.type, TWIN_MSG_GOODBYE);
    assert_int_equal(got.u.goodbye.code, TWIN_GOODBYE_DONE);
    assert_int_equal(twin_channel_recv(ch, &got), TWIN_ERROR);
    assert_non_null(strstr(twin_error_last(), "has ended the session"));
    twin_channel_free(ch);
    int rc;
    session_end(s, &rc);
    assert_int_equal(rc, 0);
    server_stop(s);
}

static void ping_and_unknown_types_are_answered_by_the_channel(void **state)
{
    struct server *s = server_start(ECHO, 0, 2000, 2000);
    twin_channel *ch = connect_ok(twin_listener_port(s->l), &alice);
    twin_msg ping = {.type = TWIN_MSG_PING, .u.ping = {42}}, got;
    assert_int_equal(twin_channel_send(ch, &ping), 0);
    assert_int_equal(twin_channel_recv(ch, &got), 0);
    assert_int_equal(got.type, TWIN_MSG_PONG);
    assert_int_equal(got.u.pong.nonce, 42);

    static const char future[] = "\x82\xa4type\xa6rebase\xa4ours\xc3";
    assert_int_equal(twin_channel_send_raw(ch, future, sizeof(future) - 1), 0);
    assert_int_equal(twin_channel_recv(ch, &got), 0);
    assert_int_equal(got.type, TWIN_MSG_ERROR);
    assert_int_equal(got.u.error.code, TWIN_WIRE_UNKNOWN_TYPE);
    assert_string_equal(got.u.error.message, "unknown message type \"rebase\"");

    /* The session goes on. */
    assert_int_equal(twin_channel_send(ch, &ping), 0);
    assert_int_equal(twin_channel_recv(ch, &got), 0);
    assert_int_equal(got.type, TWIN_MSG_PONG);
    twin_channel_goodbye(ch, TWIN_GOODBYE_DONE);
    twin_channel_free(ch);
    server_stop(s);
}

static void session_closed_without_goodbye_is_reported_truncated(void **state)
{
    struct server *s = server_start(DROP_AFTER_REPLY, 0, 2000, 2000);
    twin_channel *ch = connect_ok(twin_listener_port(s->l), &alice);
    twin_msg hello = hello_from(&alice), got;
    assert_int_equal(twin_channel_send(ch, &hello), 0);
    assert_int_equal(twin_channel_recv(ch, &got), 0);
    assert_int_equal(twin_channel_send(ch, &hello), 0);
    assert_int_equal(twin_channel_recv(ch, &got), TWIN_ERROR);
    assert_non_null(strstr(twin_error_last(), "session truncated"));
    twin_channel_free(ch);
    server_stop(s);
}

static void stopping_the_listener_ends_sessions_with_goodbye(void **state)
{
    struct server *s = server_start(ECHO, 0, 2000, 10000);
    twin_channel *ch = connect_ok(twin_listener_port(s->l), &alice);
    twin_msg hello = hello_from(&alice), got;
    assert_int_equal(twin_channel_send(ch, &hello), 0);
    if (twin_channel_recv(ch, &got) != 0) /* the session now waits in recv */
        fail_msg("recv: %s", twin_error_last());
    int64_t start = now_ms();
    twin_listener_stop(s->l);
    assert_true(now_ms() - start < 2000);
    assert_int_equal(twin_channel_recv(ch, &got), 0);
    assert_int_equal(got.type, TWIN_MSG_GOODBYE);
    assert_int_equal(got.u.goodbye.code, TWIN_GOODBYE_SHUTDOWN);
    twin_channel_free(ch);
    pthread_mutex_destroy(&s->lock);
    free(s);
}

static void bad_hello(twin_msg *hello, uint32_t want_code, const char *want)
{
    struct server *s = server_start(ECHO, 0, 2000, 2000);
    twin_channel *ch = connect_ok(twin_listener_port(s->l), &alice);
    twin_msg got;
    assert_int_equal(twin_channel_send(ch, hello), 0);
    assert_int_equal(twin_channel_recv(ch, &got), 0);
    assert_int_equal(got.type, TWIN_MSG_ERROR);
    assert_int_equal(got.u.error.code, want_code);
    if (!strstr(got.u.error.message, want))
        fail_msg("error reply \"%s\" lacks \"%s\"", got.u.error.message, want);
    int rc;
    session_end(s, &rc);
    assert_int_not_equal(rc, 0);
    twin_channel_free(ch);
    server_stop(s);
}

static void hello_naming_another_node_is_refused(void **state)
{
    twin_msg hello = hello_from(&carol);
    bad_hello(&hello, TWIN_WIRE_BAD_HELLO, "says hello as another node than its handshake proved");
}

static void hello_without_a_common_version_is_refused(void **state)
{
    twin_msg hello = hello_from(&alice);
    hello.u.hello.versions[0] = 2;
    bad_hello(&hello, TWIN_WIRE_VERSION, "does not speak protocol version 1");
}

static void message_before_hello_is_refused(void **state)
{
    twin_msg accept = {.type = TWIN_MSG_ACCEPT};
    bad_hello(&accept, TWIN_WIRE_UNEXPECTED, "sent accept before hello");
}

/* --- Refusals --------------------------------------------------------------------------- */

static void wrong_responder_key_is_refused(void **state)
{
    struct server *s = server_start(ECHO, 0, 2000, 2000);
    twin_channel *ch = NULL;
    twin_channel_config cfg = client_config(&alice, NETWORK);
    assert_int_equal(
        twin_channel_connect(&ch, "127.0.0.1", port_of(twin_listener_port(s->l)), carol.pk, &cfg),
        TWIN_EVERIFY);
    assert_non_null(strstr(twin_error_last(), "holds another node key than expected"));
    assert_null(ch);
    assert_true(log_has(s, "handshake: message 1 failed authentication"));
    assert_true(log_has(s, "(latest 127.0.0.1:"));
    server_stop(s);
}

static void initiator_whose_key_is_not_allowed_is_refused(void **state)
{
    struct server *s = server_start(ECHO, 0, 2000, 2000);
    twin_channel *ch = connect_ok(twin_listener_port(s->l), &carol);
    twin_msg got;
    /* The responder says why in one refuse (code 3), then closes. */
    assert_int_equal(twin_channel_recv(ch, &got), 0);
    assert_int_equal(got.type, TWIN_MSG_REFUSE);
    assert_int_equal(got.u.refuse.code, TWIN_REFUSE_NOT_MEMBER);
    assert_non_null(strstr(got.u.refuse.reason, "not a member of XE-EXAMPLE-NET"));
    twin_msg_clear(&got);
    assert_int_not_equal(twin_channel_recv(ch, &got), 0);
    twin_channel_free(ch);
    char expect[160];
    snprintf(expect, sizeof(expect), "is not allowed: not a member of XE-EXAMPLE-NET");
    assert_true(log_has(s, expect));
    char hex[65];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", carol.pk[i]);
    assert_true(log_has(s, hex));
    server_stop(s);
}

static void wrong_network_id_is_refused(void **state)
{
    struct server *s = server_start(ECHO, 0, 2000, 2000);
    twin_channel *ch = NULL;
    twin_channel_config cfg = client_config(&alice, OTHER_NETWORK);
    assert_int_equal(
        twin_channel_connect(&ch, "127.0.0.1", port_of(twin_listener_port(s->l)), bob.pk, &cfg),
        TWIN_EVERIFY);
    assert_non_null(strstr(twin_error_last(), "belongs to another network"));
    assert_true(log_has(s, "belongs to another network"));
    server_stop(s);
}

static void truncated_handshake_is_refused(void **state)
{
    struct server *s = server_start(ECHO, 0, 2000, 2000);
    int fd = raw_connect(twin_listener_port(s->l));
    unsigned char part[24] = {0, 0, 0, 48};
    assert_int_equal(send(fd, part, sizeof(part), 0), (ssize_t)sizeof(part));
    shutdown(fd, SHUT_WR);
    assert_true(log_has(s, "handshake: waiting for message 1: the connection closed in the "
                           "middle (truncated)"));
    close(fd);
    server_stop(s);
}

static void random_bytes_are_refused(void **state)
{
    struct server *s = server_start(ECHO, 0, 2000, 2000);
    unsigned char junk[200], seed[randombytes_SEEDBYTES] = {9};
    randombytes_buf_deterministic(junk, sizeof(junk), seed);
    junk[0] = 0x7f; /* a length no handshake message has */
    int fd = raw_connect(twin_listener_port(s->l));
    assert_int_equal(send(fd, junk, sizeof(junk), 0), (ssize_t)sizeof(junk));
    assert_true(log_has(s, "handshake: message 1 declares"));
    assert_true(log_has(s, "expected 48 (not a twin peer"));
    assert_true(closed_within(fd, 2000));
    close(fd);

    /* Random bytes behind the right length fail authentication. */
    fd = raw_connect(twin_listener_port(s->l));
    junk[0] = junk[1] = junk[2] = 0, junk[3] = 48;
    assert_int_equal(send(fd, junk, 52, 0), 52);
    assert_true(log_has(s, "message 1 failed authentication"));
    assert_true(closed_within(fd, 2000));
    close(fd);
    server_stop(s);
}

static void silent_peer_is_dropped_at_the_handshake_deadline(void **state)
{
    struct server *s = server_start(ECHO, 0, 300, 2000);
    int fd = raw_connect(twin_listener_port(s->l));
    int64_t start = now_ms();
    assert_true(closed_within(fd, 3000));
    assert_true(now_ms() - start >= 250);
    assert_true(log_has(s, "no answer within the deadline of 300 ms"));
    close(fd);
    server_stop(s);
}

static void trickling_peer_is_dropped_at_the_handshake_deadline(void **state)
{
    struct server *s = server_start(ECHO, 0, 300, 2000);
    int fd = raw_connect(twin_listener_port(s->l));
    unsigned char b[4] = {0, 0, 0, 48};
    int64_t start = now_ms();
    int closed = 0;
    /* One byte every 50 ms: each read makes progress, the deadline covers the whole. */
    for (int i = 0; i < 60 && !closed; i++) {
        if (send(fd, &b[i < 4 ? i : 3], 1, MSG_NOSIGNAL) != 1)
            closed = 1;
        else
            closed = closed_within(fd, 50);
    }
    assert_true(closed);
    assert_true(now_ms() - start < 2000);
    assert_true(log_has(s, "no answer within the deadline of 300 ms"));
    close(fd);
    server_stop(s);
}

static void silent_peer_is_dropped_at_the_read_deadline(void **state)
{
    struct server *s = server_start(ECHO, 0, 2000, 300);
    twin_channel *ch = connect_ok(twin_listener_port(s->l), &alice);
    int rc;
    const char *err = session_end(s, &rc);
    assert_int_equal(rc, TWIN_ERROR);
    assert_non_null(strstr(err, "no answer within the deadline of 300 ms"));
    twin_channel_free(ch);
    server_stop(s);
}

/* Alice's channel to the server with a cancel question of its own (none when flag is NULL) and a
 * read deadline far beyond any wait of the tests: only a cancel ends a wait sooner. */
static twin_channel *connect_cancellable(int port, atomic_bool *flag)
{
    twin_channel *ch = NULL;
    twin_channel_config cfg = client_config(&alice, NETWORK);
    cfg.read_timeout_ms = 30000;
    cfg.cancelled = flag ? flag_says : NULL;
    cfg.cancel_ctx = flag;
    if (twin_channel_connect(&ch, "127.0.0.1", port_of(port), bob.pk, &cfg) != 0)
        fail_msg("connect: %s", twin_error_last());
    return ch;
}

/* Hello there and back, and goodbye: the channel still works. */
static void assert_round_trip(twin_channel *ch)
{
    twin_msg hello = hello_from(&alice), in;
    assert_int_equal(twin_channel_send(ch, &hello), 0);
    if (twin_channel_recv(ch, &in) != 0)
        fail_msg("recv: %s", twin_error_last());
    assert_int_equal(in.type, TWIN_MSG_HELLO);
    twin_msg_clear(&in);
    assert_int_equal(twin_channel_goodbye(ch, TWIN_GOODBYE_DONE), 0);
}

/* Three channels in one process wait on a silent server (it waits for their hello): the one
 * whose cancel question answers true ends its wait as abandoned, long before its deadline; the
 * one without a cancel question and the one whose question answers false go on unaffected. */
static void a_cancelled_channel_ends_its_wait_and_leaves_others_be(void **state)
{
    struct server *s = server_start(ECHO, 0, 2000, 30000);
    int port = twin_listener_port(s->l);
    atomic_bool stopping = false, staying = false;
    twin_channel *cancelled = connect_cancellable(port, &stopping);
    twin_channel *plain = connect_cancellable(port, NULL);
    twin_channel *asked = connect_cancellable(port, &staying);

    atomic_store(&stopping, true);
    twin_msg in;
    assert_int_equal(twin_channel_recv(cancelled, &in), TWIN_ERROR);
    assert_non_null(strstr(twin_error_last(), "abandoned, the session was cancelled"));

    /* Still asked while the first one's question answers true. */
    assert_round_trip(plain);
    assert_round_trip(asked);
    twin_channel_free(cancelled);
    twin_channel_free(plain);
    twin_channel_free(asked);
    server_stop(s);
}

/* The cancel question holds from the first wait: a connect whose question answers true is
 * abandoned, and a listener's accepted channels ask the question of its configuration, its
 * handshakes included (a silent connection is dropped as abandoned, not at the deadline). */
static void a_cancel_covers_the_connect_and_the_handshake(void **state)
{
    struct server *s = server_start(ECHO, 0, 20000, 2000);
    atomic_bool yes = true;
    twin_channel *ch = NULL;
    twin_channel_config cfg = client_config(&alice, NETWORK);
    cfg.cancelled = flag_says;
    cfg.cancel_ctx = &yes;
    assert_int_equal(
        twin_channel_connect(&ch, "127.0.0.1", port_of(twin_listener_port(s->l)), bob.pk, &cfg),
        TWIN_ERROR);
    assert_null(ch);
    assert_non_null(strstr(twin_error_last(), "abandoned, the session was cancelled"));
    server_stop(s);

    server_cancel = &yes;
    s = server_start(ECHO, 0, 20000, 2000);
    server_cancel = NULL;
    int fd = raw_connect(twin_listener_port(s->l));
    assert_true(closed_within(fd, 10000));
    assert_true(log_has(s, "waiting for message 1: abandoned, the session was cancelled"));
    close(fd);
    server_stop(s);
}

/* Reads what the server sends before it closes: at most cap bytes, within 2 s. */
static size_t read_until_closed(int fd, unsigned char *buf, size_t cap)
{
    size_t got = 0;
    int64_t end = now_ms() + 2000;
    while (now_ms() < end) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0)
            continue;
        ssize_t n = read(fd, buf + got, cap - got);
        if (n <= 0)
            return got;
        got += (size_t)n;
        if (got == cap)
            return got;
    }
    return SIZE_MAX; /* still open */
}

/* The pool of connections awaiting authentication is full: the oldest is dropped, told "busy"
 * (a length-0 header where message 2 was due), and the newest is served. */
static void connections_awaiting_authentication_are_capped(void **state)
{
    struct server *s = server_start(ECHO, 2, 3000, 2000);
    int port = twin_listener_port(s->l);
    int a = raw_connect(port);
    sleep_ms(50);
    int b = raw_connect(port);
    sleep_ms(100); /* both are now in their handshake */
    int c = raw_connect(port);
    unsigned char got[8];
    assert_int_equal(read_until_closed(a, got, sizeof(got)), 4);
    assert_memory_equal(got, "\0\0\0\0", 4);
    assert_true(log_has(s, "dropped before authenticating to make room"));
    /* A member connecting now drops the oldest again (b) and gets through. */
    twin_channel *ch = connect_ok(port, &alice);
    assert_int_equal(read_until_closed(b, got, sizeof(got)), 4);
    twin_channel_free(ch);
    close(a);
    close(b);
    close(c);
    server_stop(s);
}

/* A responder that accepts one connection, reads message 1 and answers "busy". */
static void *busy_responder(void *arg)
{
    int lfd = *(int *)arg, fd = accept(lfd, NULL, NULL);
    unsigned char msg1[4 + 48];
    size_t got = 0;
    while (fd >= 0 && got < sizeof(msg1)) {
        ssize_t n = read(fd, msg1 + got, sizeof(msg1) - got);
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    static const unsigned char zero[4];
    if (fd >= 0 && write(fd, zero, sizeof(zero)) == (ssize_t)sizeof(zero))
        close(fd);
    return NULL;
}

/* An initiator told "busy" says so, as a conflict to retry, not as a wrong key. */
static void initiator_told_busy_says_so(void **state)
{
    int lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    assert_int_equal(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    assert_int_equal(listen(lfd, 1), 0);
    assert_int_equal(getsockname(lfd, (struct sockaddr *)&a, &len), 0);
    pthread_t t;
    assert_int_equal(pthread_create(&t, NULL, busy_responder, &lfd), 0);
    twin_channel *ch = NULL;
    twin_channel_config cfg = client_config(&alice, NETWORK);
    int rc = twin_channel_connect(&ch, "127.0.0.1", port_of(ntohs(a.sin_port)), bob.pk, &cfg);
    pthread_join(t, NULL);
    close(lfd);
    assert_int_equal(rc, TWIN_ECONFLICT);
    assert_non_null(strstr(twin_error_last(), "the peer is busy"));
    assert_null(ch);
}

static void sessions_beyond_the_cap_are_refused(void **state)
{
    max_sessions = 1;
    struct server *s = server_start(ECHO, 0, 2000, 2000);
    max_sessions = 0;
    twin_channel *first = connect_ok(twin_listener_port(s->l), &alice);
    twin_msg hello = hello_from(&alice), got;
    assert_int_equal(twin_channel_send(first, &hello), 0);
    assert_int_equal(twin_channel_recv(first, &got), 0); /* the one session is running */

    /* The second completes its handshake and is told busy (refuse 7), which it retries. */
    twin_channel *second = connect_ok(twin_listener_port(s->l), &alice);
    assert_int_equal(twin_channel_send(second, &hello), 0);
    assert_int_equal(twin_channel_recv(second, &got), 0);
    assert_int_equal(got.type, TWIN_MSG_REFUSE);
    assert_int_equal(got.u.refuse.code, TWIN_REFUSE_BUSY);
    assert_non_null(strstr(got.u.refuse.reason, "too many sessions"));
    twin_msg_clear(&got);
    twin_channel_free(second);
    assert_true(log_has(s, "over the session limit"));

    /* The running session is unaffected. */
    twin_msg ping = {.type = TWIN_MSG_PING, .u.ping = {9}};
    assert_int_equal(twin_channel_send(first, &ping), 0);
    assert_int_equal(twin_channel_recv(first, &got), 0);
    assert_int_equal(got.type, TWIN_MSG_PONG);
    twin_channel_free(first);
    server_stop(s);
}

static void tampered_frame_session(enum tamper tamper, const char *server_error, int want_rc)
{
    struct server *s = server_start(ECHO, 0, 2000, 2000);
    struct relay r;
    relay_start(&r, twin_listener_port(s->l), tamper, 2);
    twin_channel *ch = NULL;
    twin_channel_config cfg = client_config(&alice, NETWORK);
    if (twin_channel_connect(&ch, "127.0.0.1", port_of(r.port), bob.pk, &cfg) != 0)
        fail_msg("connect through the relay: %s", twin_error_last());
    twin_msg ping = {.type = TWIN_MSG_PING, .u.ping = {1}}, got;
    assert_int_equal(twin_channel_send(ch, &ping), 0);
    int rc;
    const char *err = session_end(s, &rc);
    if (rc != want_rc)
        fail_msg("server: %d %s", rc, err);
    if (!strstr(err, server_error))
        fail_msg("server error \"%s\" lacks \"%s\"", err, server_error);
    if (tamper == REPLAY) {
        assert_int_equal(twin_channel_recv(ch, &got), 0); /* the original was answered */
        assert_int_equal(got.type, TWIN_MSG_PONG);
    }
    twin_channel_free(ch);
    relay_stop(&r);
    server_stop(s);
}

static void frame_with_a_flipped_bit_fails_authentication(void **state)
{
    tampered_frame_session(FLIP_BIT, "frame failed authentication", TWIN_EVERIFY);
}

static void replayed_frame_fails_authentication(void **state)
{
    tampered_frame_session(REPLAY, "frame failed authentication", TWIN_EVERIFY);
}

static void oversized_frame_is_refused_before_it_is_read(void **state)
{
    tampered_frame_session(OVERSIZE, "frame: body of 1114129 bytes exceeds the limit of 1114128",
                           TWIN_ELIMIT);
}

/* An authenticated peer sends a hostile message; the server answers error MALFORMED. */
static void hostile_message_is_refused(const char *msg, size_t len, int want_rc, const char *want)
{
    struct server *s = server_start(ECHO, 0, 2000, 2000);
    twin_channel *ch = connect_ok(twin_listener_port(s->l), &alice);
    twin_msg got;
    assert_int_equal(twin_channel_send_raw(ch, msg, len), 0);
    assert_int_equal(twin_channel_recv(ch, &got), 0);
    assert_int_equal(got.type, TWIN_MSG_ERROR);
    assert_int_equal(got.u.error.code, TWIN_WIRE_MALFORMED);
    if (!strstr(got.u.error.message, want))
        fail_msg("error reply \"%s\" lacks \"%s\"", got.u.error.message, want);
    int rc;
    const char *err = session_end(s, &rc);
    assert_int_equal(rc, want_rc);
    assert_non_null(strstr(err, "malformed message from 127.0.0.1:"));
    assert_non_null(strstr(err, want));
    twin_channel_free(ch);
    server_stop(s);
}

#define HOSTILE(lit, rc, want) hostile_message_is_refused((lit), sizeof(lit) - 1, (rc), (want))

static void message_nested_past_the_limit_is_refused(void **state)
{
    HOSTILE("\x82\xa4type\xa1x\xa1n\x91\x91\x91\x91\x91\x91\x91\x90", TWIN_ELIMIT,
            "nests deeper than 8 levels");
}

static void array_count_far_beyond_the_frame_is_refused(void **state)
{
    HOSTILE("\x82\xa4type\xa4ping\xa5nonce\xdd\xff\xff\xff\xff", TWIN_EINVALID,
            "declares 4294967295 elements but only 0 bytes remain");
}

static void invalid_utf8_is_refused(void **state)
{
    HOSTILE("\x82\xa4type\xa4ping\xa5nonce\xa2\xc0\xaf", TWIN_EINVALID,
            "invalid UTF-8 in string at offset 17");
}

static int setup(void **state)
{
    unsigned char seed[32];
    if (sodium_init() < 0)
        return -1;
    memset(seed, 1, 32);
    crypto_sign_seed_keypair(alice.pk, alice.sk, seed);
    memset(seed, 2, 32);
    crypto_sign_seed_keypair(bob.pk, bob.sk, seed);
    memset(seed, 3, 32);
    crypto_sign_seed_keypair(carol.pk, carol.sk, seed);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(handshake_over_loopback_then_messages_flow_both_ways),
        cmocka_unit_test(ping_and_unknown_types_are_answered_by_the_channel),
        cmocka_unit_test(session_closed_without_goodbye_is_reported_truncated),
        cmocka_unit_test(stopping_the_listener_ends_sessions_with_goodbye),
        cmocka_unit_test(hello_naming_another_node_is_refused),
        cmocka_unit_test(hello_without_a_common_version_is_refused),
        cmocka_unit_test(message_before_hello_is_refused),
        cmocka_unit_test(wrong_responder_key_is_refused),
        cmocka_unit_test(initiator_whose_key_is_not_allowed_is_refused),
        cmocka_unit_test(wrong_network_id_is_refused),
        cmocka_unit_test(truncated_handshake_is_refused),
        cmocka_unit_test(random_bytes_are_refused),
        cmocka_unit_test(silent_peer_is_dropped_at_the_handshake_deadline),
        cmocka_unit_test(trickling_peer_is_dropped_at_the_handshake_deadline),
        cmocka_unit_test(silent_peer_is_dropped_at_the_read_deadline),
        cmocka_unit_test(a_cancelled_channel_ends_its_wait_and_leaves_others_be),
        cmocka_unit_test(a_cancel_covers_the_connect_and_the_handshake),
        cmocka_unit_test(connections_awaiting_authentication_are_capped),
        cmocka_unit_test(initiator_told_busy_says_so),
        cmocka_unit_test(sessions_beyond_the_cap_are_refused),
        cmocka_unit_test(frame_with_a_flipped_bit_fails_authentication),
        cmocka_unit_test(replayed_frame_fails_authentication),
        cmocka_unit_test(oversized_frame_is_refused_before_it_is_read),
        cmocka_unit_test(message_nested_past_the_limit_is_refused),
        cmocka_unit_test(array_count_far_beyond_the_frame_is_refused),
        cmocka_unit_test(invalid_utf8_is_refused),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
