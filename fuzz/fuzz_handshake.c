/* The responder's side of the handshake, fed the bytes an initiator would send: framed
 * message 1, framed message 3, then transport frames. Both ephemeral keys are fixed (the test
 * hook of crypto/noise.h, from noise.c's test build that CMakeLists.txt links in), so a recorded
 * transcript from a real initiator stays valid and the fuzzer can explore past message 1: message
 * 3's decryption, the Ed25519 key it carries, and the frames after it.
 *
 * The seed fuzz/corpus/handshake/session was written by this file itself:
 *   cc -DTWIN_FUZZ_SEED_MAIN -DTWIN_NOISE_TEST_HOOKS -Iinclude -Isrc fuzz/fuzz_handshake.c \
 *      src/crypto/noise.c build/libtwin.a \
 *      $(pkg-config --libs libsodium msgpack jansson libgit2) -lpthread > session */
#include <sodium.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/noise.h"
#include "twin/channel.h"
#include "twin/msg.h"

#define NETWORK "0123456789abcdef0123456789abcdef"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fixed_key(twin_keypair *kp, unsigned char fill)
{
    unsigned char seed[32];
    memset(seed, fill, sizeof(seed));
    crypto_sign_seed_keypair(kp->pk, kp->sk, seed);
}

static const unsigned char responder_ephemeral[32] = {0x52, 0x45, 0x53, 0x50};

/* Takes one frame off the input: 0 and the body, or -1. */
static int next_frame(const uint8_t **p, size_t *left, const uint8_t **body, size_t *len)
{
    if (*left < TWIN_FRAME_HEADER_BYTES)
        return -1;
    size_t n = (size_t)(*p)[0] << 24 | (size_t)(*p)[1] << 16 | (size_t)(*p)[2] << 8 | (*p)[3];
    if (n > *left - TWIN_FRAME_HEADER_BYTES)
        return -1;
    *body = *p + TWIN_FRAME_HEADER_BYTES;
    *len = n;
    *p += TWIN_FRAME_HEADER_BYTES + n;
    *left -= TWIN_FRAME_HEADER_BYTES + n;
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static unsigned char plain[TWIN_FRAME_MAX];
    twin_keypair responder;
    twin_noise_handshake hs;
    twin_noise_cipher send, recv;
    unsigned char msg2[TWIN_NOISE_MSG3_BYTES], hash[32];
    const uint8_t *p = data, *body;
    size_t left = size, len = 0, n = 0;

    fixed_key(&responder, 0x22);
    if (twin_noise_start(&hs, 0, &responder, NULL, NETWORK) != 0)
        abort();
    if (next_frame(&p, &left, &body, &len) != 0 || len != TWIN_NOISE_MSG1_BYTES ||
        twin_noise_read_next(&hs, body, len) != 0)
        goto done;
    twin_noise_test_push_ephemeral(responder_ephemeral);
    if (twin_noise_write_next(&hs, msg2, sizeof(msg2), &n) != 0)
        abort();
    if (next_frame(&p, &left, &body, &len) != 0 || len != TWIN_NOISE_MSG3_BYTES ||
        twin_noise_read_next(&hs, body, len) != 0)
        goto done;
    if (!twin_noise_peer_node(&hs) || twin_noise_split(&send, &recv, hash, &hs) != 0)
        abort(); /* a completed handshake must name the initiator and split */
    while (next_frame(&p, &left, &body, &len) == 0) {
        size_t plain_len = 0;
        twin_msg m;
        if (len > TWIN_FRAME_MAX || len <= TWIN_NOISE_TAG_BYTES)
            break;
        memcpy(plain, body, len);
        if (twin_channel_frame_open(&recv, plain, len, &plain_len) != 0)
            break;
        if (twin_msg_decode(&m, plain, plain_len) == 0)
            twin_msg_clear(&m);
    }
done:
    twin_noise_handshake_wipe(&hs);
    sodium_memzero(&responder, sizeof(responder));
    return 0;
}

#ifdef TWIN_FUZZ_SEED_MAIN
#include <stdio.h>

static void put_handshake_frame(const unsigned char *msg, size_t n)
{
    unsigned char hdr[4] = {0, 0, 0, (unsigned char)n};
    fwrite(hdr, 1, 4, stdout);
    fwrite(msg, 1, n, stdout);
}

/* Writes a valid transcript: message 1, message 3 and a hello frame from a fixed initiator. */
int main(void)
{
    static const unsigned char initiator_ephemeral[32] = {0x49, 0x4e, 0x49, 0x54};
    static unsigned char buf[4 + TWIN_FRAME_MAX];
    twin_keypair initiator, responder;
    twin_noise_handshake ini, res;
    twin_noise_cipher send, recv, rsend, rrecv;
    unsigned char hash[32];
    size_t n = 0, len = 0;

    fixed_key(&initiator, 0x11);
    fixed_key(&responder, 0x22);
    if (twin_noise_start(&ini, 1, &initiator, responder.pk, NETWORK) != 0 ||
        twin_noise_start(&res, 0, &responder, NULL, NETWORK) != 0)
        return 1;
    twin_noise_test_push_ephemeral(initiator_ephemeral);
    if (twin_noise_write_next(&ini, buf, sizeof(buf), &n) != 0 ||
        twin_noise_read_next(&res, buf, n) != 0)
        return 1;
    put_handshake_frame(buf, n);
    twin_noise_test_push_ephemeral(responder_ephemeral);
    if (twin_noise_write_next(&res, buf, sizeof(buf), &n) != 0 ||
        twin_noise_read_next(&ini, buf, n) != 0 ||
        twin_noise_write_next(&ini, buf, sizeof(buf), &n) != 0 ||
        twin_noise_read_next(&res, buf, n) != 0)
        return 1;
    put_handshake_frame(buf, n);
    if (twin_noise_split(&send, &recv, hash, &ini) != 0 ||
        twin_noise_split(&rsend, &rrecv, hash, &res) != 0)
        return 1;

    twin_msg hello = {.type = TWIN_MSG_HELLO};
    hello.u.hello.nversions = 1;
    hello.u.hello.versions[0] = 1;
    memcpy(hello.u.hello.network_id, NETWORK, sizeof(NETWORK));
    memcpy(hello.u.hello.node, initiator.pk, 32);
    snprintf(hello.u.hello.software, sizeof(hello.u.hello.software), "twin 0.1.0");
    if (twin_msg_encode(buf + 4, sizeof(buf) - 4 - 16, &len, &hello) != 0 ||
        twin_channel_frame_seal(&send, buf, len, &n) != 0)
        return 1;
    fwrite(buf, 1, n, stdout);
    return 0;
}
#endif
