/*
 * The listener: one accept thread, one thread per connection. A connection's socket stays
 * owned by its record here (the channel works on a duplicate), so stopping can shut every
 * socket down under the lock without racing a close and a reused descriptor.
 */
#define _GNU_SOURCE /* accept4, pipe2 */
#include "twin/listener.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <pthread.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "twin/error.h"
#include "twin/msg.h"
#include "base/util.h"

/* Admission (PROTOCOL.md 3.6): pools, caps and deadlines. */
#define TWIN_LISTENER_MAX_UNAUTHENTICATED 16
#define TWIN_LISTENER_MAX_PER_ADDRESS     8
#define TWIN_LISTENER_HANDSHAKE_MS        5000
#define TWIN_LISTENER_MAX_SESSIONS        64
#define TWIN_LISTENER_MAX_PER_KEY         4
#define TWIN_LISTENER_MAX_CLAIMS          4
#define TWIN_LISTENER_CLAIM_MS            10000
#define TWIN_LISTENER_SUMMARY_MS          10000
#define TWIN_LISTENER_MAX_OTHER_KEYS      4

#define LISTEN_BACKLOG 128
#define STOP_GRACE_MS  5000 /* sessions get this long to say goodbye before sockets close */

enum stage { PENDING, CLAIM, SESSION };

/* Why connections were refused, summed up in the log once per interval. */
enum refusal {
    R_DROPPED,   /* pending, dropped to make room for a newer connection */
    R_HANDSHAKE, /* the handshake failed, timed out or was abandoned */
    R_DENIED,    /* a key that proved itself but is not let in */
    R_SESSIONS,  /* members' sessions full */
    R_PER_KEY,   /* one key's sessions full */
    R_CLAIMS,    /* invite claims full */
    R_OVERLOAD,  /* no thread or memory for one more connection */
    R_STOPPING,
    R_COUNT
};

static const char *const refusal_names[R_COUNT] = {
    "dropped before authenticating to make room",
    "failed or abandoned the handshake",
    "keys not let in",
    "over the session limit",
    "over one key's session limit",
    "over the invite claim limit",
    "over the connection limit",
    "arrived while stopping",
};

struct conn {
    struct conn *next, *prev;
    struct twin_listener *l;
    int fd;
    twin_channel *ch; /* NULL while the handshake runs */
    enum stage stage;
    bool evicted; /* dropped from the pending pool: its handshake is being ended */
    unsigned char node[TWIN_PUBKEY_BYTES]; /* once a session: the peer's key */
    char addr[TWIN_PEER_ADDR_MAX];
    char host[TWIN_PEER_ADDR_MAX]; /* addr without the port */
};

struct twin_listener {
    int fd;
    int wake[2];
    int port;
    pthread_t thread;
    int thread_started;
    pthread_mutex_t lock;
    pthread_cond_t idle;
    pthread_mutex_t log_lock;
    atomic_int stopping;
    struct conn *conns;
    unsigned handshaking, evicting, sessions, claims, threads;
    unsigned long refused[R_COUNT]; /* since the last summary */
    char latest[R_COUNT][240];      /* each kind's latest refusal: address and reason */
    int64_t summary_due;            /* when the next summary may be written (ms, monotonic) */
    /* Connection threads that have finished, to be joined: no thread of the listener outlives
     * twin_listener_stop, even in its last instructions. */
    pthread_t *finished;
    size_t nfinished, finished_cap;
    unsigned max_unauthenticated, max_per_address, max_sessions, max_per_key, max_claims;
    int claim_timeout_ms, summary_ms;
    /* Under lock: the key handshakes are answered with, and others tried after it; they change
     * when the node rotates its key. */
    twin_keypair key, others[TWIN_LISTENER_MAX_OTHER_KEYS];
    size_t nothers;
    char network[TWIN_NETWORK_ID_LEN + 1];
    twin_listener_config cfg;
};

static void log_line(twin_listener *l, int level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void log_line(twin_listener *l, int level, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&l->log_lock);
    if (l->cfg.log)
        l->cfg.log(l->cfg.log_ctx, level, line);
    else
        fprintf(stderr, "twin: %s\n", line);
    pthread_mutex_unlock(&l->log_lock);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Counts a refusal for the next summary, which names the latest of each kind. Lock held. */
static void refuse_count(twin_listener *l, enum refusal why, const char *addr, const char *reason)
{
    l->refused[why]++;
    snprintf(l->latest[why], sizeof(l->latest[why]), "%s%s%s", addr, reason ? ": " : "",
             reason ? reason : "");
}

/* Writes the summary of refusals since the last one, if any and if it is due (or force). Called
 * with the lock held; logs without it. */
static void summary_flush(twin_listener *l, bool force)
{
    char line[2400];
    size_t len = 0;
    unsigned long total = 0;
    if (!force && mono_ms() < l->summary_due)
        return;
    for (int i = 0; i < R_COUNT; i++)
        total += l->refused[i];
    if (total == 0)
        return;
    len = (size_t)snprintf(line, sizeof(line), "refused %lu connection%s:", total,
                           total == 1 ? "" : "s");
    const char *sep = " ";
    for (int i = 0; i < R_COUNT && len < sizeof(line); i++) {
        if (!l->refused[i])
            continue;
        len += (size_t)snprintf(line + len, sizeof(line) - len, "%s%lu %s", sep, l->refused[i],
                                refusal_names[i]);
        if (len < sizeof(line))
            len += (size_t)snprintf(line + len, sizeof(line) - len, " (latest %s)", l->latest[i]);
        sep = ", ";
    }
    memset(l->refused, 0, sizeof(l->refused));
    l->summary_due = mono_ms() + l->summary_ms;
    pthread_mutex_unlock(&l->lock);
    log_line(l, TWIN_LOG_WARN, "%s", line);
    pthread_mutex_lock(&l->lock);
}

static void unlink_conn(twin_listener *l, struct conn *c)
{
    if (c->prev)
        c->prev->next = c->next;
    else
        l->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
}

/* Called with the lock held: the record leaves the list, its socket is closed. */
static void drop_conn(twin_listener *l, struct conn *c)
{
    unlink_conn(l, c);
    if (c->fd >= 0)
        close(c->fd);
    c->fd = -1;
    l->threads--;
    pthread_cond_broadcast(&l->idle);
}

static void node_hex(char out[static TWIN_NODE_ID_LEN + 1], const unsigned char *pk)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < TWIN_PUBKEY_BYTES; i++) {
        out[2 * i] = digits[pk[i] >> 4];
        out[2 * i + 1] = digits[pk[i] & 15];
    }
    out[TWIN_NODE_ID_LEN] = '\0';
}

/* Ends an authenticated connection the listener will not serve: one refuse 7 (busy), whose
 * reason says which limit, then the close. */
static void refuse_busy(twin_channel *ch, const char *reason)
{
    twin_msg m = {.type = TWIN_MSG_REFUSE};
    m.u.refuse.code = TWIN_REFUSE_BUSY;
    snprintf(m.u.refuse.reason, sizeof(m.u.refuse.reason), "busy: %s; retry shortly", reason);
    twin_channel_send(ch, &m);
    twin_error_clear();
}

/* Members' sessions with this key. Lock held. */
static unsigned sessions_of(twin_listener *l, const unsigned char *pk)
{
    unsigned n = 0;
    for (struct conn *c = l->conns; c; c = c->next)
        if (c->stage == SESSION && memcmp(c->node, pk, TWIN_PUBKEY_BYTES) == 0)
            n++;
    return n;
}

static void *conn_main(void *arg)
{
    struct conn *c = arg;
    twin_listener *l = c->l;
    twin_channel *ch = NULL;
    char node[TWIN_NODE_ID_LEN + 1];
    int sent = 0, rc, dupfd = fcntl(c->fd, F_DUPFD_CLOEXEC, 0);
    twin_channel_config cfg = l->cfg.channel;
    twin_keypair key, others[TWIN_LISTENER_MAX_OTHER_KEYS];
    pthread_mutex_lock(&l->lock);
    key = l->key;
    memcpy(others, l->others, sizeof(others));
    cfg.other_keys = others;
    cfg.nother_keys = l->nothers;
    pthread_mutex_unlock(&l->lock);
    cfg.key = &key;
    cfg.handshake_sent = &sent;

    if (dupfd < 0)
        rc = twin_error(TWIN_ERROR, "cannot duplicate the socket: %s", strerror(errno));
    else
        rc = twin_channel_accept(&ch, dupfd, &cfg);
    sodium_memzero(&key, sizeof(key));
    sodium_memzero(others, sizeof(others));

    const char *busy = NULL;
    pthread_mutex_lock(&l->lock);
    if (c->evicted)
        l->evicting--;
    else
        l->handshaking--;
    if (rc) {
        /* A connection dropped for a newer one before this side answered is told "busy": a
         * header of length 0 where message 2 was due (PROTOCOL.md 3.6). */
        if (c->evicted && sent == 0 && c->fd >= 0) {
            static const unsigned char zero[TWIN_FRAME_HEADER_BYTES];
            ssize_t w = send(c->fd, zero, sizeof(zero), MSG_DONTWAIT | MSG_NOSIGNAL);
            (void)w;
        }
        refuse_count(l,
                     c->evicted           ? R_DROPPED
                     : rc == TWIN_EDENIED ? R_DENIED
                                          : R_HANDSHAKE,
                     c->addr, twin_error_last());
    } else if (atomic_load(&l->stopping)) {
        refuse_count(l, R_STOPPING, c->addr, NULL);
        busy = "the node is stopping";
    } else if (c->evicted) { /* dropped just as its handshake completed */
        refuse_count(l, R_DROPPED, c->addr, NULL);
        busy = "too many connections waiting to authenticate";
    } else if (twin_channel_admission(ch) == TWIN_CHANNEL_ADMIT_CLAIM) {
        if (l->claims >= l->max_claims) {
            refuse_count(l, R_CLAIMS, c->addr, NULL);
            busy = "too many invite claims at once";
        } else {
            l->claims++;
            c->stage = CLAIM;
        }
    } else if (l->sessions >= l->max_sessions) {
        refuse_count(l, R_SESSIONS, c->addr, NULL);
        busy = "too many sessions at once";
    } else if (sessions_of(l, twin_channel_peer_node(ch)) >= l->max_per_key) {
        refuse_count(l, R_PER_KEY, c->addr, NULL);
        busy = "too many sessions with this key at once";
    } else {
        l->sessions++;
        c->stage = SESSION;
        memcpy(c->node, twin_channel_peer_node(ch), TWIN_PUBKEY_BYTES);
    }
    if (rc == 0 && !busy)
        c->ch = ch;
    summary_flush(l, false);
    pthread_mutex_unlock(&l->lock);

    if (rc || busy) {
        if (busy)
            refuse_busy(ch, busy);
        twin_channel_free(ch);
        goto done;
    }
    if (c->stage == CLAIM)
        twin_channel_set_read_timeout(ch, l->claim_timeout_ms);
    node_hex(node, twin_channel_peer_node(ch));
    log_line(l, TWIN_LOG_DEBUG, "accepted %s: node %s%s", c->addr, node,
             c->stage == CLAIM ? " (invite)" : "");
    if (l->cfg.session)
        l->cfg.session(l->cfg.session_ctx, ch);

    pthread_mutex_lock(&l->lock);
    c->ch = NULL;
    if (c->stage == CLAIM)
        l->claims--;
    else
        l->sessions--;
    c->stage = PENDING;
    pthread_mutex_unlock(&l->lock);
    twin_channel_free(ch);
    log_line(l, TWIN_LOG_DEBUG, "closed %s: node %s", c->addr, node);

done:
    pthread_mutex_lock(&l->lock);
    drop_conn(l, c);
    if (twin_util_grow((void **)&l->finished, &l->finished_cap, l->nfinished + 1,
                       sizeof(pthread_t)))
        pthread_detach(pthread_self()); /* out of memory: nobody will join it */
    else
        l->finished[l->nfinished++] = pthread_self();
    pthread_mutex_unlock(&l->lock);
    free(c);
    return NULL;
}

/* Joins the connection threads that have finished. Lock held. */
static void reap_finished(twin_listener *l)
{
    while (l->nfinished > 0) {
        pthread_t t = l->finished[--l->nfinished];
        pthread_mutex_unlock(&l->lock);
        pthread_join(t, NULL);
        pthread_mutex_lock(&l->lock);
    }
}

/* The oldest pending connection (from host, when host is not NULL) that is not already being
 * dropped. Lock held. */
static struct conn *oldest_pending(twin_listener *l, const char *host)
{
    struct conn *found = NULL;
    for (struct conn *c = l->conns; c; c = c->next) /* newest first */
        if (c->stage == PENDING && !c->ch && !c->evicted && (!host || strcmp(c->host, host) == 0))
            found = c;
    return found;
}

/* Drops a pending connection to make room: its reads end at once, and its thread answers
 * "busy" if it has not answered yet. Lock held. */
static void evict(twin_listener *l, struct conn *c)
{
    c->evicted = true;
    l->handshaking--;
    l->evicting++;
    if (c->fd >= 0)
        shutdown(c->fd, SHUT_RD);
}

static void host_of(char out[static TWIN_PEER_ADDR_MAX], const char *addr)
{
    snprintf(out, TWIN_PEER_ADDR_MAX, "%s", addr);
    char *colon = strrchr(out, ':');
    if (colon)
        *colon = '\0';
}

static void handle_new_connection(twin_listener *l, int fd)
{
    char addr[TWIN_PEER_ADDR_MAX], host[TWIN_PEER_ADDR_MAX];
    pthread_t t;
    struct conn *c = NULL;

    twin_channel_fd_addr(addr, fd);
    host_of(host, addr);
    pthread_mutex_lock(&l->lock);
    reap_finished(l);
    /* Threads: the pools, and as many again for connections being dropped. */
    unsigned max_threads =
        2 * l->max_unauthenticated + l->max_sessions + l->max_claims + l->max_per_address;
    if (l->threads >= max_threads || !(c = calloc(1, sizeof(*c)))) {
        refuse_count(l, R_OVERLOAD, addr, NULL);
        pthread_mutex_unlock(&l->lock);
        close(fd);
        return;
    }
    /* A new connection is always taken: the oldest pending one from its address makes room
     * when that address has its share, else the oldest of all when the pool is full. */
    unsigned from_host = 0;
    for (struct conn *o = l->conns; o; o = o->next)
        from_host += o->stage == PENDING && !o->ch && !o->evicted && strcmp(o->host, host) == 0;
    struct conn *victim = NULL;
    if (from_host >= l->max_per_address)
        victim = oldest_pending(l, host);
    else if (l->handshaking >= l->max_unauthenticated)
        victim = oldest_pending(l, NULL);
    if (victim)
        evict(l, victim);
    c->l = l;
    c->fd = fd;
    c->stage = PENDING;
    memcpy(c->addr, addr, sizeof(addr));
    memcpy(c->host, host, sizeof(host));
    c->next = l->conns;
    if (l->conns)
        l->conns->prev = c;
    l->conns = c;
    l->handshaking++;
    l->threads++;
    int err = pthread_create(&t, NULL, conn_main, c);
    if (err) {
        l->handshaking--;
        drop_conn(l, c);
        refuse_count(l, R_OVERLOAD, addr, NULL);
        pthread_mutex_unlock(&l->lock);
        free(c);
        return;
    }
    pthread_mutex_unlock(&l->lock);
}

static void *accept_main(void *arg)
{
    twin_listener *l = arg;
    while (!atomic_load(&l->stopping)) {
        struct pollfd p[2] = {{.fd = l->fd, .events = POLLIN},
                              {.fd = l->wake[0], .events = POLLIN}};
        pthread_mutex_lock(&l->lock);
        summary_flush(l, false);
        pthread_mutex_unlock(&l->lock);
        /* Wake at least once a second, to write a summary that has come due. */
        if (poll(p, 2, 1000) < 0) {
            if (errno == EINTR)
                continue;
            log_line(l, TWIN_LOG_ERROR, "listener: poll failed: %s", strerror(errno));
            break;
        }
        if (p[1].revents)
            break;
        if (!(p[0].revents & POLLIN))
            continue;
        int fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                log_line(l, TWIN_LOG_ERROR, "listener: cannot accept: %s", strerror(errno));
                /* Out of descriptors: pause instead of spinning on the pending connection. */
                struct timespec pause = {0, 100 * 1000 * 1000};
                nanosleep(&pause, NULL);
            }
            continue;
        }
        handle_new_connection(l, fd);
    }
    return NULL;
}

static int bind_listener(twin_listener *l, const char *host, const char *port)
{
    struct addrinfo hints, *res = NULL, *ai;
    int err, fd = -1, saved = 0;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    if ((err = getaddrinfo(host, port, &hints, &res)) != 0)
        return twin_error(TWIN_ERROR, "listen %s:%s: %s", host ? host : "*", port,
                          gai_strerror(err));
    for (ai = res; ai; ai = ai->ai_next) {
        int one = 1, zero = 0;
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, ai->ai_protocol);
        if (fd < 0) {
            saved = errno;
            continue;
        }
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (ai->ai_family == AF_INET6 && !host)
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, LISTEN_BACKLOG) == 0)
            break;
        saved = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        return twin_error(TWIN_ERROR, "listen %s:%s: %s", host ? host : "*", port,
                          strerror(saved ? saved : EADDRNOTAVAIL));

    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
        close(fd);
        return twin_error(TWIN_ERROR, "listen: getsockname: %s", strerror(errno));
    }
    l->port = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&ss)->sin6_port
                                             : ((struct sockaddr_in *)&ss)->sin_port);
    l->fd = fd;
    return 0;
}

int twin_listener_start(twin_listener **out, const twin_listener_config *cfg)
{
    unsigned char id[TWIN_NETWORK_ID_BYTES];
    int rc;

    if (!cfg || !cfg->port || !cfg->channel.key || !cfg->channel.authorize)
        return twin_error(TWIN_EINVALID,
                          "listener: the configuration needs a port, a key and an authoriser");
    if ((rc = twin_noise_network_id_parse(id, cfg->channel.network_id)) != 0)
        return twin_error_wrap(rc, "listener");
    twin_listener *l = calloc(1, sizeof(*l));
    if (!l)
        return twin_error(TWIN_ERROR, "listener: out of memory");
    l->fd = -1;
    l->wake[0] = l->wake[1] = -1;
    l->cfg = *cfg;
    l->key = *cfg->channel.key;
    for (size_t i = 0; i < cfg->channel.nother_keys && i < TWIN_LISTENER_MAX_OTHER_KEYS; i++)
        l->others[l->nothers++] = cfg->channel.other_keys[i];
    memcpy(l->network, cfg->channel.network_id, TWIN_NETWORK_ID_LEN + 1);
    l->cfg.channel.key = &l->key;
    l->cfg.channel.other_keys = NULL; /* l->others, under the lock */
    l->cfg.channel.nother_keys = 0;
    l->cfg.channel.network_id = l->network;
    l->cfg.host = l->cfg.port = NULL; /* the caller's strings are not kept */
    l->max_unauthenticated =
        cfg->max_unauthenticated ? cfg->max_unauthenticated : TWIN_LISTENER_MAX_UNAUTHENTICATED;
    l->max_sessions = cfg->max_sessions ? cfg->max_sessions : TWIN_LISTENER_MAX_SESSIONS;
    l->max_per_address =
        cfg->max_per_address ? cfg->max_per_address : TWIN_LISTENER_MAX_PER_ADDRESS;
    l->max_per_key = cfg->max_per_key ? cfg->max_per_key : TWIN_LISTENER_MAX_PER_KEY;
    l->max_claims = cfg->max_claims ? cfg->max_claims : TWIN_LISTENER_MAX_CLAIMS;
    l->claim_timeout_ms =
        cfg->claim_timeout_ms > 0 ? cfg->claim_timeout_ms : TWIN_LISTENER_CLAIM_MS;
    l->summary_ms = cfg->summary_ms > 0 ? cfg->summary_ms : TWIN_LISTENER_SUMMARY_MS;
    if (l->cfg.channel.handshake_timeout_ms <= 0)
        l->cfg.channel.handshake_timeout_ms =
            cfg->handshake_timeout_ms > 0 ? cfg->handshake_timeout_ms : TWIN_LISTENER_HANDSHAKE_MS;
    l->summary_due = 0; /* the first refusal after a quiet interval is logged at once */
    atomic_init(&l->stopping, 0);
    pthread_mutex_init(&l->lock, NULL);
    pthread_mutex_init(&l->log_lock, NULL);
    pthread_cond_init(&l->idle, NULL);

    if ((rc = bind_listener(l, cfg->host, cfg->port)) != 0)
        goto fail;
    if (pipe2(l->wake, O_CLOEXEC) != 0) {
        rc = twin_error(TWIN_ERROR, "listener: pipe: %s", strerror(errno));
        goto fail;
    }
    if ((rc = pthread_create(&l->thread, NULL, accept_main, l)) != 0) {
        rc = twin_error(TWIN_ERROR, "listener: cannot start a thread: %s", strerror(rc));
        goto fail;
    }
    l->thread_started = 1;
    *out = l;
    return 0;

fail:
    twin_listener_stop(l);
    return rc;
}

void twin_listener_set_keys(twin_listener *l, const twin_keypair *key, const twin_keypair *others,
                            size_t nothers)
{
    pthread_mutex_lock(&l->lock);
    l->key = *key;
    sodium_memzero(l->others, sizeof(l->others));
    l->nothers = 0;
    for (size_t i = 0; i < nothers && l->nothers < TWIN_LISTENER_MAX_OTHER_KEYS; i++) {
        bool seen = memcmp(others[i].pk, key->pk, TWIN_PUBKEY_BYTES) == 0;
        for (size_t k = 0; !seen && k < l->nothers; k++)
            seen = memcmp(others[i].pk, l->others[k].pk, TWIN_PUBKEY_BYTES) == 0;
        if (!seen)
            l->others[l->nothers++] = others[i];
    }
    pthread_mutex_unlock(&l->lock);
}

int twin_listener_port(const twin_listener *l)
{
    return l->port;
}

int twin_listener_stopping(const twin_listener *l)
{
    return atomic_load(&((twin_listener *)l)->stopping);
}

/* Waits until no connection thread is left or the deadline passes. Lock held. */
static void wait_idle(twin_listener *l, int64_t deadline_ms)
{
    while (l->threads > 0) {
        if (deadline_ms < 0) {
            pthread_cond_wait(&l->idle, &l->lock);
            continue;
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
        if (now >= deadline_ms)
            return;
        pthread_cond_timedwait(
            &l->idle, &l->lock,
            &(struct timespec){deadline_ms / 1000, (deadline_ms % 1000) * 1000000});
    }
}

void twin_listener_stop(twin_listener *l)
{
    if (!l)
        return;
    atomic_store(&l->stopping, 1);
    if (l->thread_started) {
        ssize_t n = write(l->wake[1], "x", 1);
        (void)n;
        pthread_join(l->thread, NULL);
    }
    if (l->fd >= 0)
        close(l->fd);

    pthread_mutex_lock(&l->lock);
    for (struct conn *c = l->conns; c; c = c->next) {
        if (c->ch)
            twin_channel_interrupt(c->ch);
        else if (c->fd >= 0)
            shutdown(c->fd, SHUT_RDWR);
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    wait_idle(l, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + STOP_GRACE_MS);
    /* Sessions still busy (a peer that does not read) lose their sockets now. */
    for (struct conn *c = l->conns; c; c = c->next)
        if (c->fd >= 0)
            shutdown(c->fd, SHUT_RDWR);
    wait_idle(l, -1);
    reap_finished(l);
    summary_flush(l, true);
    pthread_mutex_unlock(&l->lock);
    free(l->finished);

    if (l->wake[0] >= 0)
        close(l->wake[0]);
    if (l->wake[1] >= 0)
        close(l->wake[1]);
    pthread_mutex_destroy(&l->lock);
    pthread_mutex_destroy(&l->log_lock);
    pthread_cond_destroy(&l->idle);
    sodium_memzero(&l->key, sizeof(l->key));
    sodium_memzero(l->others, sizeof(l->others));
    free(l);
}
