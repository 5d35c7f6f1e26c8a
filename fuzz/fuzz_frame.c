/* The frame decoder: length header, authenticated decryption and message decoding, as a
 * receiving channel runs them. The first byte picks the mode:
 *   even: the rest is a raw byte stream from the network (nearly all of it fails authentication,
 *         which is the point: the header and tag checks must hold on any input);
 *   odd:  the rest is a list of plaintexts (2-byte big-endian length, then bytes) that are
 *         sealed with the sender's cipher first, so decoding is reached; a plaintext whose
 *         length has the top bit set is sealed and then has one bit flipped, and must then fail
 *         authentication. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "twin/channel.h"
#include "twin/error.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static unsigned char frame[TWIN_FRAME_HEADER_BYTES + TWIN_FRAME_MAX];

static void ciphers(twin_noise_cipher *tx, twin_noise_cipher *rx)
{
    memset(tx, 0, sizeof(*tx));
    memset(tx->k, 0x5a, sizeof(tx->k));
    tx->has_key = 1;
    *rx = *tx;
}

/* Receives one frame held in frame[]; returns 0 when it decrypted. */
static int receive(twin_noise_cipher *rx, size_t avail)
{
    size_t body_len = 0, plain_len = 0;
    twin_msg m;
    if (avail < TWIN_FRAME_HEADER_BYTES ||
        twin_channel_frame_length(&body_len, frame, TWIN_FRAME_MAX) != 0 ||
        body_len > avail - TWIN_FRAME_HEADER_BYTES)
        return -1;
    if (twin_channel_frame_open(rx, frame + TWIN_FRAME_HEADER_BYTES, body_len, &plain_len) != 0)
        return -1;
    if (twin_msg_decode(&m, frame + TWIN_FRAME_HEADER_BYTES, plain_len) == 0)
        twin_msg_clear(&m);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    twin_noise_cipher tx, rx;
    if (size < 1)
        return 0;
    ciphers(&tx, &rx);
    const uint8_t *p = data + 1;
    size_t left = size - 1;

    if ((data[0] & 1) == 0) {
        while (left >= TWIN_FRAME_HEADER_BYTES) {
            size_t n = left < sizeof(frame) ? left : sizeof(frame);
            memcpy(frame, p, n);
            size_t body_len = 0;
            if (twin_channel_frame_length(&body_len, frame, TWIN_FRAME_MAX) != 0)
                break;
            if (receive(&rx, n) != 0)
                break;
            p += TWIN_FRAME_HEADER_BYTES + body_len;
            left -= TWIN_FRAME_HEADER_BYTES + body_len;
        }
        return 0;
    }

    while (left >= 2) {
        size_t n = (size_t)(p[0] & 0x7f) << 8 | p[1];
        int flip = p[0] & 0x80;
        p += 2, left -= 2;
        if (n > left)
            n = left;
        size_t frame_len = 0;
        memcpy(frame + TWIN_FRAME_HEADER_BYTES, p, n);
        if (twin_channel_frame_seal(&tx, frame, n, &frame_len) != 0) {
            if (n != 0)
                abort(); /* any plaintext up to the limit must seal */
            break;
        }
        if (flip) {
            size_t bit = (n * 7 + 3) % ((frame_len - TWIN_FRAME_HEADER_BYTES) * 8);
            frame[TWIN_FRAME_HEADER_BYTES + bit / 8] ^= (unsigned char)(1u << (bit % 8));
            if (receive(&rx, frame_len) == 0)
                abort(); /* a flipped bit got through authentication */
            break;       /* the receiver's nonce no longer matches: the stream is over */
        }
        if (receive(&rx, frame_len) != 0)
            abort(); /* a frame we sealed did not open */
        p += n, left -= n;
    }
    return 0;
}
