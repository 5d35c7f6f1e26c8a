/*
 * Wire benchmark: throughput of 64 KiB messages over loopback through a twin channel (sealed
 * frames, and pack messages with msgpack on both ends) against the same bytes through a plain
 * TCP socket in the same run; then handshakes per second.
 *
 *   bench_wire [messages-per-run] [runs]      (defaults: 4096 messages, best of 3 runs)
 */
#define _GNU_SOURCE /* pthread_setaffinity_np; nftw, in bench.h */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sched.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "crypto/aead.h"
#include "bench.h"
#include "twin/channel.h"
#include "twin/error.h"
#include "twin/listener.h"

#define MSG_BYTES (64 * 1024)
#define NETWORK   "0123456789abcdef0123456789abcdef"

static twin_keypair server_key, client_key;
static unsigned char payload[MSG_BYTES];

struct rate {
    double wall; /* MB per second of elapsed time */
    double cpu;  /* MB per second of CPU time */
};

static struct rate rate_of(long count, double wall, double cpu)
{
    double mb = (double)count * MSG_BYTES / 1e6;
    return (struct rate){mb / wall, mb / cpu};
}

static void die(const char *what)
{
    fprintf(stderr, "bench_wire: %s: %s\n", what, twin_error_last());
    exit(1);
}

/* The sender runs on one core and the receiver on another, as the two ends of a real link
 * would. Left to itself, the scheduler often wakes the receiver on the sender's core (a
 * loopback wake-up looks like a hand-over) and the run then measures one core doing both ends,
 * which varies from run to run. Both plain TCP and the channel are pinned alike; set
 * BENCH_WIRE_UNPINNED=1 to leave the placement to the scheduler. */
static int cores[2] = {-1, -1}; /* the first two cores this process may use, if it has two */

static void find_cores(void)
{
    cpu_set_t set;
    int found = 0;
    const char *unpinned = getenv("BENCH_WIRE_UNPINNED");
    if ((unpinned && *unpinned && strcmp(unpinned, "0") != 0) ||
        sched_getaffinity(0, sizeof(set), &set) != 0)
        return;
    for (int c = 0; c < CPU_SETSIZE && found < 2; c++)
        if (CPU_ISSET(c, &set))
            cores[found++] = c;
    if (found < 2)
        cores[0] = cores[1] = -1;
}

/* side 0 is the sender, side 1 the receiver. */
static void pin_to(int side)
{
    cpu_set_t set;
    if (cores[side] < 0)
        return;
    CPU_ZERO(&set);
    CPU_SET(cores[side], &set);
    pthread_setaffinity_np(pthread_self(), sizeof(set), &set);
}

/* --- Plain TCP -------------------------------------------------------------------------- */

struct plain_rx {
    int listen_fd;
    long count;
};

static int read_exact(int fd, unsigned char *p, size_t n)
{
    while (n) {
        ssize_t r = recv(fd, p, n, 0);
        if (r <= 0)
            return -1;
        p += r;
        n -= (size_t)r;
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

/* Receives length-prefixed messages like a channel does, without the cryptography. */
static void *plain_receiver(void *arg)
{
    struct plain_rx *rx = arg;
    static unsigned char buf[MSG_BYTES];
    pin_to(1);
    int fd = accept(rx->listen_fd, NULL, NULL);
    for (long i = 0; i < rx->count; i++) {
        unsigned char hdr[4];
        if (read_exact(fd, hdr, 4) != 0)
            break;
        size_t len = (size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 | (size_t)hdr[2] << 8 | hdr[3];
        if (len > sizeof(buf) || read_exact(fd, buf, len) != 0)
            break;
    }
    close(fd);
    return NULL;
}

static struct rate plain_run(long count)
{
    struct sockaddr_in sin = {.sin_family = AF_INET};
    socklen_t sl = sizeof(sin);
    struct plain_rx rx = {.count = count};
    static unsigned char frame[4 + MSG_BYTES];
    pthread_t t;
    int one = 1;

    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    rx.listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    if (bind(rx.listen_fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
        listen(rx.listen_fd, 1) != 0 ||
        getsockname(rx.listen_fd, (struct sockaddr *)&sin, &sl) != 0) {
        perror("bench_wire: plain listener");
        exit(1);
    }
    pthread_create(&t, NULL, plain_receiver, &rx);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0) {
        perror("bench_wire: plain connect");
        exit(1);
    }
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    frame[0] = 0, frame[1] = 1, frame[2] = 0, frame[3] = 0; /* 65536 */
    memcpy(frame + 4, payload, MSG_BYTES);
    double start = now_s(), cpu = cpu_s();
    for (long i = 0; i < count; i++)
        if (write_all(fd, frame, sizeof(frame)) != 0)
            break;
    pthread_join(t, NULL);
    struct rate r = rate_of(count, now_s() - start, cpu_s() - cpu);
    close(fd);
    close(rx.listen_fd);
    return r;
}

/* --- Through a channel ------------------------------------------------------------------ */

enum mode { RAW_FRAMES, PACK_MESSAGES, HANDSHAKE_ONLY };

struct bench_session {
    enum mode mode;
    long count;
    pthread_mutex_t lock;
    pthread_cond_t done_cond;
    int done;
};

static int allow_all(void *ctx, const unsigned char node[32], char *reason, size_t cap)
{
    return 0;
}

static void quiet(void *ctx, int level, const char *line)
{
}

static void receive_session(void *ctx, twin_channel *ch)
{
    struct bench_session *s = ctx;
    if (s->mode == HANDSHAKE_ONLY)
        return;
    pin_to(1);
    for (long i = 0; i < s->count; i++) {
        if (s->mode == RAW_FRAMES) {
            const unsigned char *p;
            size_t n;
            if (twin_channel_recv_raw(ch, &p, &n) != 0)
                die("receiving a frame");
        } else {
            twin_msg m;
            if (twin_channel_recv(ch, &m) != 0)
                die("receiving a pack message");
            twin_msg_clear(&m);
        }
    }
    pthread_mutex_lock(&s->lock);
    s->done = 1;
    pthread_cond_signal(&s->done_cond);
    pthread_mutex_unlock(&s->lock);
}

static twin_listener *start_server(struct bench_session *s)
{
    twin_listener *l = NULL;
    twin_listener_config cfg = {
        .host = "127.0.0.1",
        .port = "0",
        .channel = {.key = &server_key, .network_id = NETWORK, .authorize = allow_all},
        .session = receive_session,
        .session_ctx = s,
        .log = quiet,
    };
    if (twin_listener_start(&l, &cfg) != 0)
        die("starting the listener");
    return l;
}

static twin_channel *connect_to(twin_listener *l)
{
    char port[16];
    twin_channel *ch = NULL;
    twin_channel_config cfg = {.key = &client_key, .network_id = NETWORK};
    snprintf(port, sizeof(port), "%d", twin_listener_port(l));
    if (twin_channel_connect(&ch, "127.0.0.1", port, server_key.pk, &cfg) != 0)
        die("connecting");
    return ch;
}

static struct rate channel_run(enum mode mode, long count)
{
    struct bench_session s = {.mode = mode, .count = count};
    pthread_mutex_init(&s.lock, NULL);
    pthread_cond_init(&s.done_cond, NULL);
    twin_listener *l = start_server(&s);
    twin_channel *ch = connect_to(l);
    twin_msg pack = {.type = TWIN_MSG_PACK, .u.pack = {0, payload, MSG_BYTES, false}};

    double start = now_s(), cpu = cpu_s();
    for (long i = 0; i < count; i++) {
        int rc;
        if (mode == RAW_FRAMES) {
            rc = twin_channel_send_raw(ch, payload, MSG_BYTES);
        } else {
            pack.u.pack.seq = (uint64_t)i;
            pack.u.pack.last = i == count - 1;
            rc = twin_channel_send(ch, &pack);
        }
        if (rc)
            die("sending");
    }
    pthread_mutex_lock(&s.lock);
    while (!s.done)
        pthread_cond_wait(&s.done_cond, &s.lock);
    pthread_mutex_unlock(&s.lock);
    struct rate r = rate_of(count, now_s() - start, cpu_s() - cpu);
    twin_channel_goodbye(ch, TWIN_GOODBYE_DONE);
    twin_channel_free(ch);
    twin_listener_stop(l);
    pthread_mutex_destroy(&s.lock);
    pthread_cond_destroy(&s.done_cond);
    return r;
}

static double handshakes_over_loopback(int count)
{
    struct bench_session s = {.mode = HANDSHAKE_ONLY};
    twin_listener *l = start_server(&s);
    double start = now_s();
    for (int i = 0; i < count; i++)
        twin_channel_free(connect_to(l));
    double elapsed = now_s() - start;
    twin_listener_stop(l);
    return count / elapsed;
}

static double handshakes_in_memory(int count)
{
    unsigned char buf[TWIN_NOISE_MSG3_BYTES], hash[32];
    twin_noise_cipher a, b;
    double start = now_s();
    for (int i = 0; i < count; i++) {
        twin_noise_handshake ini, res;
        size_t n = 0;
        if (twin_noise_start(&ini, 1, &client_key, server_key.pk, NETWORK) != 0 ||
            twin_noise_start(&res, 0, &server_key, NULL, NETWORK) != 0 ||
            twin_noise_write_next(&ini, buf, sizeof(buf), &n) != 0 ||
            twin_noise_read_next(&res, buf, n) != 0 ||
            twin_noise_write_next(&res, buf, sizeof(buf), &n) != 0 ||
            twin_noise_read_next(&ini, buf, n) != 0 ||
            twin_noise_write_next(&ini, buf, sizeof(buf), &n) != 0 ||
            twin_noise_read_next(&res, buf, n) != 0 || twin_noise_split(&a, &b, hash, &ini) != 0 ||
            twin_noise_split(&a, &b, hash, &res) != 0)
            die("handshake in memory");
    }
    return count / (now_s() - start);
}

static double best(double a, double b)
{
    return a > b ? a : b;
}

static void keep_best(struct rate *kept, struct rate r)
{
    kept->wall = best(kept->wall, r.wall);
    kept->cpu = best(kept->cpu, r.cpu);
}

int main(int argc, char **argv)
{
    long count = argc > 1 ? strtol(argv[1], NULL, 10) : 4096;
    int runs = argc > 2 ? (int)strtol(argv[2], NULL, 10) : 3;
    if (count < 1 || runs < 1) {
        fprintf(stderr, "usage: bench_wire [messages-per-run] [runs]\n");
        return 2;
    }
    if (sodium_init() < 0)
        return 1;
    crypto_sign_keypair(server_key.pk, server_key.sk);
    crypto_sign_keypair(client_key.pk, client_key.sk);
    randombytes_buf(payload, sizeof(payload));
    find_cores();
    pin_to(0);

    struct rate plain = {0, 0}, raw = {0, 0}, pack = {0, 0};
    /* Interleaved, so a noisy neighbour hurts every variant alike. */
    for (int r = 0; r < runs; r++) {
        keep_best(&plain, plain_run(count));
        keep_best(&raw, channel_run(RAW_FRAMES, count));
        keep_best(&pack, channel_run(PACK_MESSAGES, count));
    }
    printf("twin wire benchmark: %d-byte messages over loopback, %ld per run (%.0f MB), "
           "best of %d runs; MB = 10^6 bytes\n",
           MSG_BYTES, count, (double)count * MSG_BYTES / 1e6, runs);
    printf("  sender and receiver %s; ChaCha20-Poly1305 by %s\n",
           cores[0] < 0 ? "placed by the scheduler" : "pinned to two cores",
           twin_aead_implementation());
    printf("                                       wall clock           per CPU-second\n");
    printf("  plain TCP, length-prefixed           %8.1f MB/s          %8.1f MB/s\n", plain.wall,
           plain.cpu);
    printf("  twin channel, encrypted frames       %8.1f MB/s  %.2fx   %8.1f MB/s  %.2fx\n",
           raw.wall, raw.wall / plain.wall, raw.cpu, raw.cpu / plain.cpu);
    printf("  twin channel, msgpack pack messages  %8.1f MB/s  %.2fx   %8.1f MB/s  %.2fx\n",
           pack.wall, pack.wall / plain.wall, pack.cpu, pack.cpu / plain.cpu);

    double hs_net = 0, hs_mem = 0;
    for (int r = 0; r < runs; r++) {
        hs_net = best(hs_net, handshakes_over_loopback(300));
        hs_mem = best(hs_mem, handshakes_in_memory(300));
    }
    printf("  handshakes over loopback (TCP connect, 3 messages, authorisation) %8.0f /s\n",
           hs_net);
    printf("  handshakes in memory (both sides, one thread)                     %8.0f /s\n",
           hs_mem);
    return 0;
}
