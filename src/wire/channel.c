/*
 * The channel: frames over a non-blocking TCP socket, every wait bounded by poll() and a
 * deadline, the handshake on top of noise.c, and the message rules of proto/PROTOCOL.md.
 */
#include "twin/channel.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "twin/error.h"

/* How long a handshake, and then one read or write of a frame, may take. */
#define TWIN_HANDSHAKE_TIMEOUT_MS 10000
#define TWIN_READ_TIMEOUT_MS      60000
#define TWIN_WRITE_TIMEOUT_MS     60000

#define SEND_BUF_START (64 * 1024)
#define RECV_GROW_STEP (64 * 1024)
#define SEND_BUF_FULL  (TWIN_FRAME_HEADER_BYTES + TWIN_FRAME_MAX)

/* A channel's own cancel question (twin_channel_config.cancelled), asked by its waits. */
struct cancel {
    twin_channel_cancel_fn fn; /* NULL: never cancelled */
    void *ctx;
};

struct twin_channel {
    int fd;
    int initiator;
    twin_noise_cipher send, recv;
    unsigned char hash[TWIN_NOISE_HASH_BYTES];
    unsigned char peer_node[TWIN_PUBKEY_BYTES];
    unsigned char local_node[TWIN_PUBKEY_BYTES];
    char addr[TWIN_PEER_ADDR_MAX];
    int read_timeout_ms, write_timeout_ms;
    char network[TWIN_NETWORK_ID_LEN + 1];
    unsigned char *sbuf, *rbuf;
    size_t scap, rcap;
    int rx_broken;  /* reading failed: the incoming stream can no longer be trusted */
    int tx_broken;  /* writing failed */
    int peer_ended; /* the peer sent goodbye or a fatal error */
    int sent_goodbye;
    int received_any; /* a frame has arrived since the handshake */
    int admission;    /* the responder's authorisation verdict: 0, or TWIN_CHANNEL_ADMIT_CLAIM */
    unsigned char first[TWIN_NOISE_MSG3_BYTES]; /* the responder's message 1, while it is tried */
    atomic_int interrupted;
    struct cancel cancel;
};

/* --- Frames ----------------------------------------------------------------------------- */

static uint32_t load_be32(const unsigned char p[static 4])
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void store_be32(unsigned char p[static 4], uint32_t v)
{
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

int twin_channel_frame_length(size_t *body_len,
                              const unsigned char header[static TWIN_FRAME_HEADER_BYTES],
                              size_t max)
{
    uint32_t n = load_be32(header);
    if (n > max)
        return twin_error(TWIN_ELIMIT, "frame: body of %u bytes exceeds the limit of %zu", n, max);
    if (n <= TWIN_NOISE_TAG_BYTES)
        return twin_error(TWIN_EINVALID, "frame: body of %u bytes cannot hold a message", n);
    *body_len = n;
    return 0;
}

/* Encrypts plain (which may be the body itself) into the frame's body and writes the header. */
static int seal_from(twin_noise_cipher *c, unsigned char *frame, const unsigned char *plain,
                     size_t plain_len, size_t *frame_len)
{
    if (plain_len == 0 || plain_len > TWIN_MSG_MAX)
        return twin_error(TWIN_ELIMIT, "frame: message of %zu bytes is outside 1..%d", plain_len,
                          TWIN_MSG_MAX);
    int rc = twin_noise_encrypt(c, frame + TWIN_FRAME_HEADER_BYTES, plain, plain_len);
    if (rc)
        return rc;
    store_be32(frame, (uint32_t)(plain_len + TWIN_NOISE_TAG_BYTES));
    *frame_len = TWIN_FRAME_HEADER_BYTES + plain_len + TWIN_NOISE_TAG_BYTES;
    return 0;
}

int twin_channel_frame_seal(twin_noise_cipher *c, unsigned char *frame, size_t plain_len,
                            size_t *frame_len)
{
    return seal_from(c, frame, frame + TWIN_FRAME_HEADER_BYTES, plain_len, frame_len);
}

int twin_channel_frame_open(twin_noise_cipher *c, unsigned char *body, size_t body_len,
                            size_t *plain_len)
{
    if (body_len <= TWIN_NOISE_TAG_BYTES)
        return twin_error(TWIN_EINVALID, "frame: body of %zu bytes cannot hold a message",
                          body_len);
    int rc = twin_noise_decrypt(c, body, body, body_len);
    if (rc)
        return rc;
    *plain_len = body_len - TWIN_NOISE_TAG_BYTES;
    return 0;
}

/* --- Socket I/O with deadlines ---------------------------------------------------------- */

enum io_status { IO_OK, IO_EOF, IO_TRUNCATED, IO_RESET, IO_TIMEOUT, IO_FAILED, IO_CANCELLED };

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Waits for fd until the deadline, asking the channel's cancel question (when it has one) at
 * least every TWIN_CHANNEL_CANCEL_CHECK_MS. */
static enum io_status wait_fd(const struct cancel *cancel, int fd, short events, int64_t deadline)
{
    for (;;) {
        int64_t left = deadline - now_ms();
        if (left <= 0)
            return IO_TIMEOUT;
        if (cancel->fn && cancel->fn(cancel->ctx))
            return IO_CANCELLED;
        if (cancel->fn && left > TWIN_CHANNEL_CANCEL_CHECK_MS)
            left = TWIN_CHANNEL_CANCEL_CHECK_MS;
        struct pollfd p = {.fd = fd, .events = events};
        int r = poll(&p, 1, left > INT_MAX ? INT_MAX : (int)left);
        if (r < 0 && errno != EINTR)
            return IO_FAILED;
        if (r > 0)
            return IO_OK;
    }
}

/* Reads exactly len bytes. IO_EOF only when the peer closed before the first byte. */
static enum io_status read_full(const struct cancel *cancel, int fd, unsigned char *buf, size_t len,
                                int64_t deadline)
{
    size_t got = 0;
    while (got < len) {
        ssize_t n = recv(fd, buf + got, len - got, 0);
        if (n > 0) {
            got += (size_t)n;
            continue;
        }
        if (n == 0)
            return got ? IO_TRUNCATED : IO_EOF;
        if (errno == EINTR)
            continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) {
            enum io_status s = wait_fd(cancel, fd, POLLIN, deadline);
            if (s != IO_OK)
                return s;
            continue;
        }
        return errno == ECONNRESET ? IO_RESET : IO_FAILED;
    }
    return IO_OK;
}

static enum io_status write_full(const struct cancel *cancel, int fd, const unsigned char *buf,
                                 size_t len, int64_t deadline)
{
    size_t put = 0;
    while (put < len) {
        ssize_t n = send(fd, buf + put, len - put, MSG_NOSIGNAL);
        if (n > 0) {
            put += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            enum io_status s = wait_fd(cancel, fd, POLLOUT, deadline);
            if (s != IO_OK)
                return s;
            continue;
        }
        return n < 0 && (errno == ECONNRESET || errno == EPIPE) ? IO_RESET : IO_FAILED;
    }
    return IO_OK;
}

static int io_error(enum io_status s, int timeout_ms, const char *what)
{
    switch (s) {
    case IO_EOF:
        return twin_error(TWIN_ERROR, "%s: the peer closed the connection", what);
    case IO_TRUNCATED:
        return twin_error(TWIN_ERROR, "%s: the connection closed in the middle (truncated)", what);
    case IO_RESET:
        return twin_error(TWIN_ERROR, "%s: the peer reset the connection", what);
    case IO_TIMEOUT:
        return twin_error(TWIN_ERROR, "%s: no answer within the deadline of %d ms", what,
                          timeout_ms);
    case IO_FAILED:
        return twin_error(TWIN_ERROR, "%s: %s", what, strerror(errno));
    case IO_CANCELLED:
        return twin_error(TWIN_ERROR, "%s: abandoned, the session was cancelled", what);
    case IO_OK:
        break;
    }
    return 0;
}

void twin_channel_fd_addr(char out[static TWIN_PEER_ADDR_MAX], int fd)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    char host[INET6_ADDRSTRLEN];
    snprintf(out, TWIN_PEER_ADDR_MAX, "unknown");
    if (getpeername(fd, (struct sockaddr *)&ss, &len) != 0)
        return;
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&ss;
        if (inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host)))
            snprintf(out, TWIN_PEER_ADDR_MAX, "%s:%u", host, ntohs(in->sin_port));
    } else if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&ss;
        if (inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host)))
            snprintf(out, TWIN_PEER_ADDR_MAX, "[%s]:%u", host, ntohs(in6->sin6_port));
    }
}

static int set_nonblocking(int fd)
{
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) != 0)
        return twin_error(TWIN_ERROR, "channel: cannot make the socket non-blocking: %s",
                          strerror(errno));
    return 0;
}

static int timeout_or(int ms, int fallback)
{
    return ms > 0 ? ms : fallback;
}

/* --- Handshake -------------------------------------------------------------------------- */

static void node_hex(char out[static TWIN_NODE_ID_LEN + 1], const unsigned char *pk)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < TWIN_PUBKEY_BYTES; i++) {
        out[2 * i] = digits[pk[i] >> 4];
        out[2 * i + 1] = digits[pk[i] & 15];
    }
    out[TWIN_NODE_ID_LEN] = '\0';
}

static int read_handshake_message(twin_channel *ch, twin_noise_handshake *hs, int index,
                                  int64_t deadline, int timeout_ms)
{
    unsigned char hdr[TWIN_FRAME_HEADER_BYTES], body[TWIN_NOISE_MSG3_BYTES];
    size_t expect = twin_noise_message_size(index);
    char what[64];
    snprintf(what, sizeof(what), "handshake: waiting for message %d", index);

    enum io_status s = read_full(&ch->cancel, ch->fd, hdr, sizeof(hdr), deadline);
    if (s == IO_EOF && !ch->initiator && index == 1)
        return twin_error(TWIN_ERROR, "handshake: the peer closed the connection before "
                                      "message 1");
    if ((s == IO_EOF || s == IO_RESET) && ch->initiator && index == 2)
        return twin_error(TWIN_EVERIFY,
                          "handshake: the peer closed the connection instead of answering: it "
                          "holds another node key than expected, belongs to another network, or "
                          "is refusing connections (see its log)");
    if (s != IO_OK)
        return io_error(s, timeout_ms, what);
    uint32_t len = load_be32(hdr);
    if (len == 0 && ch->initiator && index == 2)
        return twin_error(TWIN_ECONFLICT, "handshake: the peer is busy (too many connections "
                                          "waiting to authenticate); try again shortly");
    if (len != expect)
        return twin_error(TWIN_EINVALID,
                          "handshake: message %d declares %u bytes, expected %zu (not a twin "
                          "peer, or another protocol version)",
                          index, len, expect);
    if ((s = read_full(&ch->cancel, ch->fd, body, expect, deadline)) != IO_OK)
        return io_error(s == IO_EOF ? IO_TRUNCATED : s, timeout_ms, what);
    if (index == 1)
        memcpy(ch->first, body, expect); /* kept for a second key (read_first_with_keys) */
    return twin_noise_read_next(hs, body, expect);
}

/* The responder's message 1, with other keys to try: a node that rotated its key answers peers
 * that still expect the key it replaced (SYNC.md 9) as well as those that know the new one.
 * Message 1 is read once and tried with each key; the key it opens is this side's. */
static int read_first_with_keys(twin_channel *ch, twin_noise_handshake *hs,
                                const twin_channel_config *cfg, int64_t deadline, int timeout_ms)
{
    int rc = read_handshake_message(ch, hs, 1, deadline, timeout_ms);
    for (size_t i = 0; rc == TWIN_EVERIFY && i < cfg->nother_keys; i++) {
        const twin_keypair *k = &cfg->other_keys[i];
        twin_noise_handshake_wipe(hs);
        if ((rc = twin_noise_start(hs, 0, k, NULL, cfg->network_id)) != 0)
            return rc;
        if ((rc = twin_noise_read_next(hs, ch->first, twin_noise_message_size(1))) == 0)
            memcpy(ch->local_node, k->pk, TWIN_PUBKEY_BYTES);
    }
    return rc;
}

static int run_handshake(twin_channel *ch, twin_noise_handshake *hs, const twin_channel_config *cfg,
                         int64_t deadline, int timeout_ms, int *sent)
{
    unsigned char buf[TWIN_FRAME_HEADER_BYTES + TWIN_NOISE_MSG3_BYTES];
    for (int index = 1; index <= TWIN_NOISE_HANDSHAKE_MSGS; index++) {
        int rc;
        if (!ch->initiator && index == 1) {
            if ((rc = read_first_with_keys(ch, hs, cfg, deadline, timeout_ms)) != 0)
                return rc;
        } else if (twin_noise_my_turn(hs)) {
            size_t n = 0;
            if ((rc = twin_noise_write_next(hs, buf + TWIN_FRAME_HEADER_BYTES,
                                            sizeof(buf) - TWIN_FRAME_HEADER_BYTES, &n)) != 0)
                return rc;
            store_be32(buf, (uint32_t)n);
            enum io_status s =
                write_full(&ch->cancel, ch->fd, buf, TWIN_FRAME_HEADER_BYTES + n, deadline);
            if (s != IO_OK) {
                char what[64];
                snprintf(what, sizeof(what), "handshake: sending message %d", index);
                return io_error(s, timeout_ms, what);
            }
            if (sent)
                (*sent)++;
        } else if ((rc = read_handshake_message(ch, hs, index, deadline, timeout_ms)) != 0) {
            return rc;
        }
    }
    return 0;
}

static int channel_new(twin_channel **out, int fd, int initiator, const twin_channel_config *cfg)
{
    twin_channel *ch = calloc(1, sizeof(*ch));
    if (!ch)
        return twin_error(TWIN_ERROR, "channel: out of memory");
    ch->fd = fd;
    ch->initiator = initiator;
    memcpy(ch->local_node, cfg->key->pk, TWIN_PUBKEY_BYTES);
    ch->read_timeout_ms = timeout_or(cfg->read_timeout_ms, TWIN_READ_TIMEOUT_MS);
    ch->write_timeout_ms = timeout_or(cfg->write_timeout_ms, TWIN_WRITE_TIMEOUT_MS);
    atomic_init(&ch->interrupted, 0);
    ch->cancel = (struct cancel){cfg->cancelled, cfg->cancel_ctx};
    twin_channel_fd_addr(ch->addr, fd);
    snprintf(ch->network, sizeof(ch->network), "%s", cfg->network_id);
    int one = 1;
    /* Frames go out whole in one send; Nagle would only delay the small ones. */
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    int rc = set_nonblocking(fd);
    if (rc) {
        free(ch);
        return rc;
    }
    *out = ch;
    return 0;
}

static int handshake_and_split(twin_channel *ch, twin_noise_handshake *hs,
                               const twin_channel_config *cfg, int64_t deadline, int timeout_ms)
{
    char reason[256] = "", hex[TWIN_NODE_ID_LEN + 1];
    int rc = run_handshake(ch, hs, cfg, deadline, timeout_ms, cfg->handshake_sent);
    if (rc)
        return rc;
    const unsigned char *peer = twin_noise_peer_node(hs);
    bool allowed = true;
    if (!ch->initiator) {
        node_hex(hex, peer);
        int verdict = cfg->authorize(cfg->authorize_ctx, peer, reason, sizeof(reason));
        allowed = verdict == 0 || verdict == TWIN_CHANNEL_ADMIT_CLAIM;
        ch->admission = allowed ? verdict : 0;
        if (!reason[0])
            snprintf(reason, sizeof(reason), "not a member and no valid invite");
    }
    memcpy(ch->peer_node, peer, TWIN_PUBKEY_BYTES);
    if ((rc = twin_noise_split(&ch->send, &ch->recv, ch->hash, hs)))
        return rc;
    if (!allowed) {
        /* The key proved itself, so it may hear why it is not let in (PROTOCOL.md 3.5): one
         * refuse, then the close. */
        twin_msg m = {.type = TWIN_MSG_REFUSE};
        m.u.refuse.code = TWIN_REFUSE_NOT_MEMBER;
        snprintf(m.u.refuse.reason, sizeof(m.u.refuse.reason),
                 "this node does not let key %.16s "
                 "in: %s",
                 hex, reason);
        twin_channel_send(ch, &m);
        return twin_error(TWIN_EDENIED, "handshake: node %s is not allowed: %s", hex, reason);
    }
    return 0;
}

static int check_config(const twin_channel_config *cfg, int responder)
{
    if (!cfg || !cfg->key || !cfg->network_id)
        return twin_error(TWIN_EINVALID, "channel: the configuration needs a key and a network");
    if (responder && !cfg->authorize)
        return twin_error(TWIN_EINVALID, "channel: a responder needs an authorisation callback");
    return 0;
}

static int initiate_until(twin_channel **out, int fd, const unsigned char *peer_node,
                          const twin_channel_config *cfg, int64_t deadline)
{
    twin_channel *ch = NULL;
    twin_noise_handshake hs;
    int timeout_ms = timeout_or(cfg->handshake_timeout_ms, TWIN_HANDSHAKE_TIMEOUT_MS);
    int rc;

    memset(&hs, 0, sizeof(hs));
    if ((rc = channel_new(&ch, fd, 1, cfg)) != 0) {
        close(fd);
        return rc;
    }
    if ((rc = twin_noise_start(&hs, 1, cfg->key, peer_node, cfg->network_id)) != 0)
        goto cleanup;
    if ((rc = handshake_and_split(ch, &hs, cfg, deadline, timeout_ms)) != 0)
        goto cleanup;
    *out = ch;
    ch = NULL;

cleanup:
    twin_noise_handshake_wipe(&hs);
    twin_channel_free(ch);
    return rc;
}

int twin_channel_initiate(twin_channel **out, int fd,
                          const unsigned char peer_node[static TWIN_PUBKEY_BYTES],
                          const twin_channel_config *cfg)
{
    int rc = check_config(cfg, 0);
    if (rc) {
        close(fd);
        return rc;
    }
    int timeout_ms = timeout_or(cfg->handshake_timeout_ms, TWIN_HANDSHAKE_TIMEOUT_MS);
    return initiate_until(out, fd, peer_node, cfg, now_ms() + timeout_ms);
}

int twin_channel_accept(twin_channel **out, int fd, const twin_channel_config *cfg)
{
    twin_channel *ch = NULL;
    twin_noise_handshake hs;
    int rc = check_config(cfg, 1);

    memset(&hs, 0, sizeof(hs));
    if (rc) {
        close(fd);
        return rc;
    }
    int timeout_ms = timeout_or(cfg->handshake_timeout_ms, TWIN_HANDSHAKE_TIMEOUT_MS);
    int64_t deadline = now_ms() + timeout_ms;
    if ((rc = channel_new(&ch, fd, 0, cfg)) != 0) {
        close(fd);
        return rc;
    }
    if ((rc = twin_noise_start(&hs, 0, cfg->key, NULL, cfg->network_id)) != 0)
        goto cleanup;
    if ((rc = handshake_and_split(ch, &hs, cfg, deadline, timeout_ms)) != 0)
        goto cleanup;
    *out = ch;
    ch = NULL;

cleanup:
    twin_noise_handshake_wipe(&hs);
    twin_channel_free(ch);
    return rc;
}

int twin_channel_connect(twin_channel **out, const char *host, const char *port,
                         const unsigned char peer_node[static TWIN_PUBKEY_BYTES],
                         const twin_channel_config *cfg)
{
    struct addrinfo hints, *res = NULL;
    int rc = check_config(cfg, 0), err = 0;
    if (rc)
        return rc;
    int timeout_ms = timeout_or(cfg->handshake_timeout_ms, TWIN_HANDSHAKE_TIMEOUT_MS);
    int64_t deadline = now_ms() + timeout_ms;

    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    if ((err = getaddrinfo(host, port, &hints, &res)) != 0)
        return twin_error(TWIN_ERROR, "connect %s:%s: %s", host, port, gai_strerror(err));
    int fd = -1;
    const struct cancel cancel = {cfg->cancelled, cfg->cancel_ctx};
    err = 0;
    for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        if (set_nonblocking(fd) == 0 &&
            (connect(fd, ai->ai_addr, ai->ai_addrlen) == 0 || errno == EINPROGRESS)) {
            socklen_t len = sizeof(err);
            enum io_status s = wait_fd(&cancel, fd, POLLOUT, deadline);
            if (s == IO_OK && getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == 0 && err == 0)
                break;
            if (s == IO_TIMEOUT)
                err = ETIMEDOUT;
            if (s == IO_CANCELLED) {
                close(fd);
                freeaddrinfo(res);
                char what[300];
                snprintf(what, sizeof(what), "connect %s:%s", host, port);
                return io_error(s, timeout_ms, what);
            }
        } else {
            err = errno;
        }
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0)
        return twin_error(TWIN_ERROR, "connect %s:%s: %s", host, port,
                          strerror(err ? err : ECONNREFUSED));
    return initiate_until(out, fd, peer_node, cfg, deadline);
}

/* --- Transport -------------------------------------------------------------------------- */

static int can_read(twin_channel *ch)
{
    if (atomic_load(&ch->interrupted))
        return twin_error(TWIN_ERROR, "channel: interrupted, the node is stopping");
    if (ch->rx_broken)
        return twin_error(TWIN_ERROR, "channel: reading from %s already failed", ch->addr);
    return 0;
}

static int can_write(twin_channel *ch)
{
    if (ch->tx_broken)
        return twin_error(TWIN_ERROR, "channel: writing to %s already failed", ch->addr);
    return 0;
}

static int reserve(unsigned char **buf, size_t *cap, size_t need)
{
    if (need <= *cap)
        return 0;
    unsigned char *p = realloc(*buf, need);
    if (!p)
        return twin_error(TWIN_ERROR, "channel: out of memory for a frame of %zu bytes", need);
    *buf = p;
    *cap = need;
    return 0;
}

/* Seals plain_len bytes from plain (or, when plain is NULL, those already placed after the header
 * room) into the send buffer and writes the frame. */
static int send_sealed(twin_channel *ch, const unsigned char *plain, size_t plain_len)
{
    size_t frame_len = 0;
    int rc = seal_from(&ch->send, ch->sbuf, plain ? plain : ch->sbuf + TWIN_FRAME_HEADER_BYTES,
                       plain_len, &frame_len);
    if (rc)
        return rc;
    enum io_status s =
        write_full(&ch->cancel, ch->fd, ch->sbuf, frame_len, now_ms() + ch->write_timeout_ms);
    if (s == IO_OK)
        return 0;
    ch->tx_broken = 1;
    if (s == IO_RESET && ch->initiator && !ch->received_any)
        return twin_error(TWIN_EDENIED,
                          "channel: %s closed the connection after the "
                          "handshake: it does not accept this node's key",
                          ch->addr);
    return io_error(s, ch->write_timeout_ms, "channel: sending a frame");
}

int twin_channel_send_raw(twin_channel *ch, const void *plain, size_t len)
{
    int rc = can_write(ch);
    if (rc)
        return rc;
    if (len == 0 || len > TWIN_MSG_MAX)
        return twin_error(TWIN_ELIMIT, "channel: message of %zu bytes is outside 1..%d", len,
                          TWIN_MSG_MAX);
    if ((rc = reserve(&ch->sbuf, &ch->scap,
                      TWIN_FRAME_HEADER_BYTES + len + TWIN_NOISE_TAG_BYTES)) != 0)
        return rc;
    /* Encrypted straight from the caller's bytes: no copy into the send buffer first. */
    return send_sealed(ch, plain, len);
}

int twin_channel_send(twin_channel *ch, const twin_msg *msg)
{
    size_t len = 0;
    int rc = can_write(ch);
    if (rc)
        return rc;
    if ((rc = reserve(&ch->sbuf, &ch->scap, SEND_BUF_START)) != 0)
        return rc;
    for (;;) {
        rc = twin_msg_encode(ch->sbuf + TWIN_FRAME_HEADER_BYTES,
                             ch->scap - TWIN_FRAME_HEADER_BYTES - TWIN_NOISE_TAG_BYTES, &len, msg);
        if (rc != TWIN_ELIMIT || ch->scap >= SEND_BUF_FULL)
            break;
        if ((rc = reserve(&ch->sbuf, &ch->scap, SEND_BUF_FULL)) != 0)
            return rc;
    }
    if (rc)
        return rc;
    return send_sealed(ch, NULL, len);
}

static int recv_frame(twin_channel *ch, const unsigned char **plain, size_t *plain_len,
                      int64_t deadline)
{
    unsigned char hdr[TWIN_FRAME_HEADER_BYTES];
    size_t body_len = 0, got = 0;
    int rc = can_read(ch);
    if (rc)
        return rc;

    enum io_status s = read_full(&ch->cancel, ch->fd, hdr, sizeof(hdr), deadline);
    if (s != IO_OK) {
        ch->rx_broken = 1;
        if (atomic_load(&ch->interrupted))
            return can_read(ch);
        if (s == IO_EOF || s == IO_RESET) {
            if (ch->peer_ended)
                return twin_error(TWIN_ERROR, "channel: %s has ended the session", ch->addr);
            if (ch->initiator && !ch->received_any)
                return twin_error(TWIN_EDENIED,
                                  "channel: %s closed the connection after the handshake: it "
                                  "does not accept this node's key (not a member, no valid "
                                  "invite)",
                                  ch->addr);
            return twin_error(TWIN_ERROR,
                              "channel: session truncated: %s closed the connection "
                              "without goodbye",
                              ch->addr);
        }
        return io_error(s, ch->read_timeout_ms, "channel: waiting for a frame");
    }
    /* After a frame-level failure the stream cannot be trusted: the session ends without
     * another byte from us (proto/PROTOCOL.md, section 4). */
    if ((rc = twin_channel_frame_length(&body_len, hdr, TWIN_FRAME_MAX)) != 0) {
        ch->rx_broken = ch->tx_broken = 1;
        return rc;
    }
    /* Grow with the bytes that actually arrive, so a peer that declares a large frame and sends
     * nothing costs little memory. */
    while (got < body_len) {
        /* Read all that fits: once the buffer has grown, a frame takes one read. */
        size_t room = ch->rcap > got ? ch->rcap - got : 0;
        size_t want = room > RECV_GROW_STEP ? room : RECV_GROW_STEP;
        if (want > body_len - got)
            want = body_len - got;
        if (got + want > ch->rcap) {
            size_t grow = 2 * ch->rcap; /* doubling keeps the copies few */
            if (grow < got + want)
                grow = got + want;
            if (grow > body_len)
                grow = body_len;
            if ((rc = reserve(&ch->rbuf, &ch->rcap, grow)) != 0) {
                ch->rx_broken = 1;
                return rc;
            }
        }
        s = read_full(&ch->cancel, ch->fd, ch->rbuf + got, want, deadline);
        if (s != IO_OK) {
            ch->rx_broken = 1;
            if (atomic_load(&ch->interrupted))
                return can_read(ch);
            return io_error(s == IO_EOF ? IO_TRUNCATED : s, ch->read_timeout_ms,
                            "channel: receiving a frame");
        }
        got += want;
    }
    if ((rc = twin_channel_frame_open(&ch->recv, ch->rbuf, body_len, plain_len)) != 0) {
        ch->rx_broken = ch->tx_broken = 1;
        return rc;
    }
    ch->received_any = 1;
    *plain = ch->rbuf;
    return 0;
}

int twin_channel_recv_raw(twin_channel *ch, const unsigned char **plain, size_t *len)
{
    return recv_frame(ch, plain, len, now_ms() + ch->read_timeout_ms);
}

/* Answers the peer without disturbing the error the caller is about to report. */
static void reply_quietly(twin_channel *ch, const twin_msg *reply)
{
    char saved[1024];
    snprintf(saved, sizeof(saved), "%s", twin_error_last());
    (void)twin_channel_send(ch, reply);
    twin_error(0, "%s", saved);
}

int twin_channel_recv(twin_channel *ch, twin_msg *out)
{
    int64_t deadline = now_ms() + ch->read_timeout_ms;
    const unsigned char *plain = NULL;
    size_t len = 0;
    twin_msg m, reply;
    int rc;

    for (;;) {
        if ((rc = recv_frame(ch, &plain, &len, deadline)) != 0)
            return rc;
        if ((rc = twin_msg_decode(&m, plain, len)) != 0) {
            memset(&reply, 0, sizeof(reply));
            reply.type = TWIN_MSG_ERROR;
            reply.u.error.code = TWIN_WIRE_MALFORMED;
            snprintf(reply.u.error.message, sizeof(reply.u.error.message), "%s", twin_error_last());
            reply_quietly(ch, &reply);
            ch->rx_broken = 1;
            return twin_error_wrap(rc, "channel: malformed message from %s", ch->addr);
        }
        memset(&reply, 0, sizeof(reply));
        switch (m.type) {
        case TWIN_MSG_PING:
            reply.type = TWIN_MSG_PONG;
            reply.u.pong.nonce = m.u.ping.nonce;
            if ((rc = twin_channel_send(ch, &reply)) != 0)
                return rc;
            continue;
        case TWIN_MSG_UNKNOWN:
            reply.type = TWIN_MSG_ERROR;
            reply.u.error.code = TWIN_WIRE_UNKNOWN_TYPE;
            snprintf(reply.u.error.message, sizeof(reply.u.error.message),
                     "unknown message type \"%s\"", m.u.unknown.type);
            if ((rc = twin_channel_send(ch, &reply)) != 0)
                return rc;
            continue;
        case TWIN_MSG_GOODBYE:
            ch->peer_ended = 1;
            break;
        case TWIN_MSG_ERROR:
            if (m.u.error.code != TWIN_WIRE_UNKNOWN_TYPE)
                ch->peer_ended = 1;
            break;
        default:
            break;
        }
        *out = m;
        return 0;
    }
}

int twin_channel_check_hello(twin_channel *ch, const twin_msg *hello)
{
    twin_msg err = {.type = TWIN_MSG_ERROR};
    int rc = 0, has_version = 0;
    if (hello->type == TWIN_MSG_GOODBYE || hello->type == TWIN_MSG_ERROR)
        return twin_error(TWIN_ERROR, "channel: %s ended the session before hello%s%s", ch->addr,
                          hello->type == TWIN_MSG_ERROR ? ": " : "",
                          hello->type == TWIN_MSG_ERROR ? hello->u.error.message : "");
    if (hello->type != TWIN_MSG_HELLO) {
        err.u.error.code = TWIN_WIRE_UNEXPECTED;
        rc = twin_error(TWIN_EINVALID, "channel: %s sent %s before hello", ch->addr,
                        twin_msg_type_name(hello->type) ? twin_msg_type_name(hello->type)
                                                        : "an unknown message");
    } else if (strcmp(hello->u.hello.network_id, ch->network) != 0) {
        err.u.error.code = TWIN_WIRE_BAD_HELLO;
        rc = twin_error(TWIN_EVERIFY, "channel: %s says hello for network %s, not %s", ch->addr,
                        hello->u.hello.network_id, ch->network);
    } else if (sodium_memcmp(hello->u.hello.node, ch->peer_node, TWIN_PUBKEY_BYTES) != 0) {
        err.u.error.code = TWIN_WIRE_BAD_HELLO;
        rc = twin_error(TWIN_EVERIFY,
                        "channel: %s says hello as another node than its handshake proved",
                        ch->addr);
    } else {
        for (size_t i = 0; i < hello->u.hello.nversions; i++)
            has_version |= hello->u.hello.versions[i] == TWIN_PROTOCOL_VERSION;
        if (!has_version) {
            err.u.error.code = TWIN_WIRE_VERSION;
            rc = twin_error(TWIN_EINVALID, "channel: %s does not speak protocol version %d",
                            ch->addr, TWIN_PROTOCOL_VERSION);
        }
    }
    if (rc) {
        snprintf(err.u.error.message, sizeof(err.u.error.message), "%s", twin_error_last());
        reply_quietly(ch, &err);
    }
    return rc;
}

int twin_channel_goodbye(twin_channel *ch, uint32_t code)
{
    twin_msg bye = {.type = TWIN_MSG_GOODBYE, .u.goodbye = {code}};
    if (ch->sent_goodbye)
        return 0;
    int rc = twin_channel_send(ch, &bye);
    if (rc == 0) {
        ch->sent_goodbye = 1;
        shutdown(ch->fd, SHUT_WR);
    }
    return rc;
}

void twin_channel_interrupt(twin_channel *ch)
{
    atomic_store(&ch->interrupted, 1);
    shutdown(ch->fd, SHUT_RD);
}

void twin_channel_free(twin_channel *ch)
{
    if (!ch)
        return;
    if (ch->fd >= 0)
        close(ch->fd);
    twin_noise_cipher_wipe(&ch->send);
    twin_noise_cipher_wipe(&ch->recv);
    if (ch->sbuf) {
        sodium_memzero(ch->sbuf, ch->scap);
        free(ch->sbuf);
    }
    if (ch->rbuf) {
        sodium_memzero(ch->rbuf, ch->rcap);
        free(ch->rbuf);
    }
    sodium_memzero(ch, sizeof(*ch));
    free(ch);
}

const unsigned char *twin_channel_local_node(const twin_channel *ch)
{
    return ch->local_node;
}

const unsigned char *twin_channel_peer_node(const twin_channel *ch)
{
    return ch->peer_node;
}

int twin_channel_admission(const twin_channel *ch)
{
    return ch->admission;
}

void twin_channel_set_read_timeout(twin_channel *ch, int ms)
{
    ch->read_timeout_ms = timeout_or(ms, TWIN_READ_TIMEOUT_MS);
}

const char *twin_channel_peer_addr(const twin_channel *ch)
{
    return ch->addr;
}

const unsigned char *twin_channel_session_hash(const twin_channel *ch)
{
    return ch->hash;
}
