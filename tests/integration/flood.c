/*
 * twin_test_flood: holds connections against a serving node, as a hostile partner or an outsider
 * would, for tests/integration/admission.sh. Every kind of connection is opened, then held open
 * and silent until the process is stopped:
 *
 *   --idle N        TCP connections that send nothing
 *   --half-open N   handshakes that send message 1 (with a throw-away key) and stop there
 *   --claims N      throw-away keys that complete the handshake (let in while an invite is
 *                   open) and send nothing
 *   --member FILE   one session of a member (its node.key): the handshake, hello, then nothing;
 *                   tried again every 250 ms, up to MEMBER_ATTEMPTS times, as a member's node
 *                   tries again while the node is still dropping the flood's connections
 *
 * twin_test_flood --to HOST:PORT --node NODE_KEY --network ID [kinds...] --ready FILE
 *
 * FILE is written ("ready" and the counts) once every connection is open; connections that
 * failed to open are counted, not fatal (the node may drop the oldest as new ones arrive).
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "twin/channel.h"
#include "twin/error.h"
#include "twin/key.h"
#include "twin/msg.h"
#include "twin/noise.h"
#include "twin/peers.h"
#include "twin/global.h"

static int tcp_connect(const char *host, const char *port)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *res = NULL;
    if (getaddrinfo(host, port, &hints, &res) != 0)
        return -1;
    int fd = socket(res->ai_family, res->ai_socktype, res->ai_protocol);
    if (fd >= 0 && connect(fd, res->ai_addr, res->ai_addrlen) != 0) {
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    return fd;
}

/* Sends handshake message 1 from a throw-away key, and nothing more. */
static int half_open(const char *host, const char *port, const unsigned char *node,
                     const char *network)
{
    twin_keypair kp;
    twin_noise_handshake hs;
    unsigned char buf[4 + TWIN_NOISE_MSG3_BYTES];
    size_t n = 0;
    int fd = tcp_connect(host, port);
    if (fd < 0 || twin_key_generate(&kp) != 0 ||
        twin_noise_start(&hs, 1, &kp, node, network) != 0 ||
        twin_noise_write_next(&hs, buf + 4, sizeof(buf) - 4, &n) != 0) {
        if (fd >= 0)
            close(fd);
        return -1;
    }
    buf[0] = (unsigned char)(n >> 24);
    buf[1] = (unsigned char)(n >> 16);
    buf[2] = (unsigned char)(n >> 8);
    buf[3] = (unsigned char)n;
    twin_noise_handshake_wipe(&hs);
    if (write(fd, buf, 4 + n) != (ssize_t)(4 + n)) {
        close(fd);
        return -1;
    }
    return fd;
}

#define MEMBER_ATTEMPTS 240 /* 60 s and more */

/* A whole handshake with kp; with hello, the member's first message too. */
static twin_channel *session(const char *host, const char *port, const unsigned char *node,
                             const char *network, const twin_keypair *kp, int hello)
{
    twin_channel *ch = NULL;
    twin_channel_config cfg = {.key = kp, .network_id = network};
    if (twin_channel_connect(&ch, host, port, node, &cfg) != 0)
        return NULL;
    if (hello) {
        twin_msg m = {.type = TWIN_MSG_HELLO};
        m.u.hello.versions[0] = 1;
        m.u.hello.nversions = 1;
        snprintf(m.u.hello.network_id, sizeof(m.u.hello.network_id), "%s", network);
        memcpy(m.u.hello.node, kp->pk, TWIN_PUBKEY_BYTES);
        snprintf(m.u.hello.software, sizeof(m.u.hello.software), "twin-test-flood");
        if (twin_channel_send(ch, &m) != 0) {
            twin_channel_free(ch);
            return NULL;
        }
    }
    return ch;
}

static long count_arg(const char *v)
{
    char *end;
    long n = strtol(v, &end, 10);
    return *end || n < 0 || n > 100000 ? -1 : n;
}

int main(int argc, char **argv)
{
    const char *to = NULL, *node_text = NULL, *network = NULL, *member = NULL, *ready = NULL;
    long idle = 0, half = 0, claims = 0;
    for (int i = 1; i + 1 < argc; i += 2) {
        const char *o = argv[i], *v = argv[i + 1];
        if (!strcmp(o, "--to"))
            to = v;
        else if (!strcmp(o, "--node"))
            node_text = v;
        else if (!strcmp(o, "--network"))
            network = v;
        else if (!strcmp(o, "--member"))
            member = v;
        else if (!strcmp(o, "--ready"))
            ready = v;
        else if (!strcmp(o, "--idle"))
            idle = count_arg(v);
        else if (!strcmp(o, "--half-open"))
            half = count_arg(v);
        else if (!strcmp(o, "--claims"))
            claims = count_arg(v);
        else
            idle = -1;
    }
    char host[256], port[8];
    unsigned char node[TWIN_PUBKEY_BYTES];
    if (!to || !node_text || !network || !ready || idle < 0 || half < 0 || claims < 0 ||
        twin_peers_address_parse(host, port, to) != 0 || twin_key_parse_any(node, node_text) != 0) {
        fprintf(stderr, "usage: twin_test_flood --to HOST:PORT --node KEY --network ID "
                        "[--idle N] [--half-open N] [--claims N] [--member NODE_KEY_FILE] "
                        "--ready FILE\n");
        return 2;
    }
    if (twin_global_init(false) != 0)
        return 1;
    signal(SIGPIPE, SIG_IGN);
    long opened[4] = {0}, failed[4] = {0};
    twin_channel **held = calloc((size_t)claims + 1, sizeof(*held));
    for (long i = 0; i < idle; i++)
        tcp_connect(host, port) >= 0 ? opened[0]++ : failed[0]++;
    for (long i = 0; i < half; i++)
        half_open(host, port, node, network) >= 0 ? opened[1]++ : failed[1]++;
    for (long i = 0; held && i < claims; i++) {
        twin_keypair kp;
        if (twin_key_generate(&kp) == 0 &&
            (held[opened[2]] = session(host, port, node, network, &kp, 0)))
            opened[2]++;
        else
            failed[2]++;
    }
    /* The member tries again, as a member's node does, while the node is still dropping what
     * the flood opened (a connection that arrives while every thread is busy is refused). */
    long attempts = 0;
    if (member) {
        twin_keypair kp;
        int loaded = twin_key_load(&kp, member) == 0;
        while (loaded && attempts < MEMBER_ATTEMPTS) {
            attempts++;
            if ((held[opened[2]] = session(host, port, node, network, &kp, 1))) {
                opened[3]++;
                break;
            }
            fprintf(stderr, "twin_test_flood: the member's session, attempt %ld: %s\n", attempts,
                    twin_error_last());
            nanosleep(&(struct timespec){0, 250L * 1000 * 1000}, NULL);
        }
        if (!loaded)
            fprintf(stderr, "twin_test_flood: the member's key: %s\n", twin_error_last());
        if (!opened[3])
            failed[3]++;
    }
    FILE *f = fopen(ready, "w");
    if (!f)
        return 1;
    fprintf(f,
            "ready idle %ld/%ld half-open %ld/%ld claims %ld/%ld member %ld/%ld "
            "(member attempts %ld)\n",
            opened[0], idle, opened[1], half, opened[2], claims, opened[3], member ? 1L : 0L,
            attempts);
    fclose(f);
    (void)failed;
    for (;;)
        pause(); /* held until stopped */
}
