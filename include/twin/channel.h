/*
 * An authenticated, encrypted session with one peer over a connected TCP socket: twin's Noise XK
 * handshake, then length-prefixed encrypted frames carrying one message each. Every wait has a
 * deadline, and nothing larger than the protocol's limits is read or allocated.
 */
#ifndef TWIN_CHANNEL_H
#define TWIN_CHANNEL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "twin/key.h"
#include "twin/msg.h"
#include "twin/noise.h"

#define TWIN_FRAME_HEADER_BYTES 4  /* big-endian length of the frame body */
#define TWIN_PEER_ADDR_MAX      64 /* "[v6]:port" with its NUL */

typedef struct twin_channel twin_channel;

/* Asked by a channel's waits whether to give up (twin_channel_config.cancelled). */
typedef bool (*twin_channel_cancel_fn)(void *ctx);

/* How often, at the longest, a wait asks its channel's cancel question. */
#define TWIN_CHANNEL_CANCEL_CHECK_MS 200

/* Called by the responder once the handshake has proved who the initiator is. Return 0 to
 * accept the node; anything else refuses it, and a reason written to reason (capacity
 * reason_cap) goes to the log. A refused node gets no further bytes. */
typedef int (*twin_channel_authorize_fn)(void *ctx, const unsigned char node[TWIN_PUBKEY_BYTES],
                                         char *reason, size_t reason_cap);

/* What an authoriser returns to let a key in only to present an invite (not as a member):
 * the channel is accepted, and twin_channel_admission tells the listener which pool it is in. */
#define TWIN_CHANNEL_ADMIT_CLAIM 1

typedef struct twin_channel_config {
    const twin_keypair *key; /* this node's key */
    /* Responder: other keys of this node (those a rotation replaced, or is replacing), tried in
     * turn when message 1 does not open with key. A peer that still expects one of them is
     * answered with it, and twin_channel_local_node says which. */
    const twin_keypair *other_keys;
    size_t nother_keys;
    const char *network_id;   /* 32 lowercase hex characters */
    int handshake_timeout_ms; /* the whole handshake; 0 means TWIN_HANDSHAKE_TIMEOUT_MS */
    int read_timeout_ms;      /* each twin_channel_recv; 0 means TWIN_READ_TIMEOUT_MS */
    int write_timeout_ms;     /* each frame sent; 0 means TWIN_WRITE_TIMEOUT_MS */
    twin_channel_authorize_fn authorize; /* the responder's decision; required to accept */
    void *authorize_ctx;
    /* Responder: when set, counts the handshake messages this side has sent, so a listener
     * that drops the connection knows whether it may still answer "busy" (PROTOCOL.md 3.6). */
    int *handshake_sent;
    /* When set, a question the channel keeps and every wait on its socket asks (the connect,
     * the handshake, each frame read or written) at least every TWIN_CHANNEL_CANCEL_CHECK_MS:
     * when it answers true, the wait ends and the call fails cleanly ("abandoned"). It belongs
     * to this channel alone, so one owner's stop (a service's, say) leaves others' channels
     * be. Asked on whichever thread uses the channel: it must be quick and thread-safe, and
     * cancel_ctx must outlive the channel. NULL: never cancelled. */
    twin_channel_cancel_fn cancelled;
    void *cancel_ctx;
} twin_channel_config;

/* Connects to host:port over TCP and runs the handshake as initiator, expecting the peer to
 * hold peer_node. The connect itself is bounded by the handshake deadline. */
int twin_channel_connect(twin_channel **out, const char *host, const char *port,
                         const unsigned char peer_node[static TWIN_PUBKEY_BYTES],
                         const twin_channel_config *cfg);

/* Runs the handshake as initiator on a connected socket. Takes fd in every case: on failure it
 * is closed. */
int twin_channel_initiate(twin_channel **out, int fd,
                          const unsigned char peer_node[static TWIN_PUBKEY_BYTES],
                          const twin_channel_config *cfg);

/* Runs the handshake as responder on an accepted socket and asks cfg->authorize about the
 * initiator. Takes fd in every case. TWIN_EDENIED when the node is refused, TWIN_EVERIFY when
 * the handshake fails authentication; the message says why, for the log. */
int twin_channel_accept(twin_channel **out, int fd, const twin_channel_config *cfg);

/* Sends one message. */
int twin_channel_send(twin_channel *ch, const twin_msg *msg);

/* Waits for the next message, at most the read timeout for the whole call. Answers "ping" and
 * unknown message types itself (pong; error UNKNOWN_TYPE) and keeps waiting. Returns "goodbye"
 * and "error" like any message; after either the peer has ended the session. A malformed
 * message is answered with error MALFORMED and fails the call. A connection that ends without
 * goodbye or error fails with "session truncated". *out is the caller's to twin_msg_clear. */
int twin_channel_recv(twin_channel *ch, twin_msg *out);

/* Sends already encoded bytes as one frame (at most TWIN_MSG_MAX), for tools and tests. */
int twin_channel_send_raw(twin_channel *ch, const void *plain, size_t len);

/* Receives one frame's plaintext without decoding it; valid until the next call. */
int twin_channel_recv_raw(twin_channel *ch, const unsigned char **plain, size_t *len);

/* Checks the peer's first message: a hello for this network, from the node the handshake
 * proved, speaking this protocol version. On failure it answers error UNEXPECTED, BAD_HELLO or
 * VERSION itself and returns TWIN_EINVALID or TWIN_EVERIFY; a goodbye or error instead of hello
 * gets no answer (TWIN_ERROR). The caller then frees the channel. */
int twin_channel_check_hello(twin_channel *ch, const twin_msg *hello);

/* Sends goodbye with code and closes the write side, so the peer sees a deliberate end. */
int twin_channel_goodbye(twin_channel *ch, uint32_t code);

/* Makes a blocked or later twin_channel_recv fail at once; safe from another thread. */
void twin_channel_interrupt(twin_channel *ch);

/* Closes the socket, wipes the keys, frees. Accepts NULL. */
void twin_channel_free(twin_channel *ch);

/* The Ed25519 key this side proved in the handshake. */
const unsigned char *twin_channel_local_node(const twin_channel *ch);

/* The responder's authorisation verdict for this channel: 0 (a member or peer), or
 * TWIN_CHANNEL_ADMIT_CLAIM (let in only to present an invite). */
int twin_channel_admission(const twin_channel *ch);

/* Bounds each later twin_channel_recv by ms (0: TWIN_READ_TIMEOUT_MS). */
void twin_channel_set_read_timeout(twin_channel *ch, int ms);

/* The peer's Ed25519 node key, proved by the handshake. */
const unsigned char *twin_channel_peer_node(const twin_channel *ch);

/* "192.0.2.7:7447" or "[2001:db8::7]:7447". */
const char *twin_channel_peer_addr(const twin_channel *ch);

/* The Noise handshake hash, the same on both ends: a binding for this session. */
const unsigned char *twin_channel_session_hash(const twin_channel *ch);

/* "host:port" of a connected socket's peer, for logs; "unknown" when it cannot be had. */
void twin_channel_fd_addr(char out[static TWIN_PEER_ADDR_MAX], int fd);

/* --- Frames, without I/O (what the channel and the fuzz targets share) ------------------- */

/* Checks a frame's length header: TWIN_ELIMIT above max, TWIN_EINVALID when the body could
 * not even hold the tag and one byte. */
int twin_channel_frame_length(size_t *body_len,
                              const unsigned char header[static TWIN_FRAME_HEADER_BYTES],
                              size_t max);

/* Encrypts the plain_len bytes at frame + TWIN_FRAME_HEADER_BYTES in place and writes the
 * header; frame must hold plain_len + TWIN_FRAME_HEADER_BYTES + TWIN_NOISE_TAG_BYTES. */
int twin_channel_frame_seal(twin_noise_cipher *c, unsigned char *frame, size_t plain_len,
                            size_t *frame_len);

/* Decrypts a frame body in place; the plaintext is body[0 .. *plain_len). */
int twin_channel_frame_open(twin_noise_cipher *c, unsigned char *body, size_t body_len,
                            size_t *plain_len);

#endif
