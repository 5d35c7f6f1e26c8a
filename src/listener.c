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
#include "util.h"

#define LISTEN_BACKLOG 64
#define STOP_GRACE_MS  5000 /* sessions get this long to say goodbye before sockets close */

struct conn {
    struct conn *next, *prev;
    struct twin_listener *l;
    int fd;
    twin_channel *ch; /* NULL while the handshake runs */
    char addr[TWIN_PEER_ADDR_MAX];
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
    unsigned handshaking, sessions, threads;
    /* Connection threads that have finished, to be joined: no thread of the listener outlives
     * twin_listener_stop, even in its last instructions. */
    pthread_t *finished;
    size_t nfinished, finished_cap;
    unsigned max_unauthenticated, max_sessions;
    twin_keypair key;
    char network[TWIN_NETWORK_ID_LEN + 1];
    twin_listener_config cfg;
};

static void log_line(twin_listener *l, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void log_line(twin_listener *l, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    pthread_mutex_lock(&l->log_lock);
    if (l->cfg.log)
        l->cfg.log(l->cfg.log_ctx, line);
    else
        fprintf(stderr, "twin: %s\n", line);
    pthread_mutex_unlock(&l->log_lock);
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

static void *conn_main(void *arg)
{
    struct conn *c = arg;
    twin_listener *l = c->l;
    twin_channel *ch = NULL;
    char node[TWIN_NODE_ID_LEN + 1];
    int rc, dupfd = fcntl(c->fd, F_DUPFD_CLOEXEC, 0);

    if (dupfd < 0)
        rc = twin_error(TWIN_ERROR, "cannot duplicate the socket: %s", strerror(errno));
    else
        rc = twin_channel_accept(&ch, dupfd, &l->cfg.channel);

    pthread_mutex_lock(&l->lock);
    l->handshaking--;
    if (rc == 0 && atomic_load(&l->stopping))
        rc = twin_error(TWIN_ERROR, "the node is stopping");
    else if (rc == 0 && l->sessions >= l->max_sessions)
        rc = twin_error(TWIN_ELIMIT, "too many sessions (limit %u)", l->max_sessions);
    if (rc == 0) {
        c->ch = ch;
        l->sessions++;
    }
    pthread_mutex_unlock(&l->lock);

    if (rc) {
        log_line(l, "refused %s: %s", c->addr, twin_error_last());
        twin_channel_free(ch);
        goto done;
    }
    node_hex(node, twin_channel_peer_node(ch));
    log_line(l, "accepted %s: node %s", c->addr, node);
    if (l->cfg.session)
        l->cfg.session(l->cfg.session_ctx, ch);

    pthread_mutex_lock(&l->lock);
    c->ch = NULL;
    l->sessions--;
    pthread_mutex_unlock(&l->lock);
    twin_channel_free(ch);
    log_line(l, "closed %s: node %s", c->addr, node);

done:
    pthread_mutex_lock(&l->lock);
    drop_conn(l, c);
    if (twin_grow((void **)&l->finished, &l->finished_cap, l->nfinished + 1, sizeof(pthread_t)))
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

static void handle_new_connection(twin_listener *l, int fd)
{
    char addr[TWIN_PEER_ADDR_MAX];
    pthread_t t;
    struct conn *c = NULL;

    twin_peer_addr(addr, fd);
    pthread_mutex_lock(&l->lock);
    reap_finished(l);
    if (l->handshaking >= l->max_unauthenticated) {
        pthread_mutex_unlock(&l->lock);
        close(fd);
        log_line(l, "refused %s: too many connections awaiting authentication (limit %u)", addr,
                 l->max_unauthenticated);
        return;
    }
    if (l->sessions >= l->max_sessions) {
        pthread_mutex_unlock(&l->lock);
        close(fd);
        log_line(l, "refused %s: too many sessions (limit %u)", addr, l->max_sessions);
        return;
    }
    c = calloc(1, sizeof(*c));
    if (!c) {
        pthread_mutex_unlock(&l->lock);
        close(fd);
        log_line(l, "refused %s: out of memory", addr);
        return;
    }
    c->l = l;
    c->fd = fd;
    memcpy(c->addr, addr, sizeof(addr));
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
        pthread_mutex_unlock(&l->lock);
        free(c);
        log_line(l, "refused %s: cannot start a thread: %s", addr, strerror(err));
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
        if (poll(p, 2, -1) < 0) {
            if (errno == EINTR)
                continue;
            log_line(l, "listener: poll failed: %s", strerror(errno));
            break;
        }
        if (p[1].revents)
            break;
        if (!(p[0].revents & POLLIN))
            continue;
        int fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                log_line(l, "listener: cannot accept: %s", strerror(errno));
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
    if ((rc = twin_network_id_parse(id, cfg->channel.network_id)) != 0)
        return twin_error_wrap(rc, "listener");
    twin_listener *l = calloc(1, sizeof(*l));
    if (!l)
        return twin_error(TWIN_ERROR, "listener: out of memory");
    l->fd = -1;
    l->wake[0] = l->wake[1] = -1;
    l->cfg = *cfg;
    l->key = *cfg->channel.key;
    memcpy(l->network, cfg->channel.network_id, TWIN_NETWORK_ID_LEN + 1);
    l->cfg.channel.key = &l->key;
    l->cfg.channel.network_id = l->network;
    l->cfg.host = l->cfg.port = NULL; /* the caller's strings are not kept */
    l->max_unauthenticated =
        cfg->max_unauthenticated ? cfg->max_unauthenticated : TWIN_LISTENER_MAX_UNAUTHENTICATED;
    l->max_sessions = cfg->max_sessions ? cfg->max_sessions : TWIN_LISTENER_MAX_SESSIONS;
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
    free(l);
}
