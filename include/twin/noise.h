/*
 * The Noise_XK_25519_ChaChaPoly_SHA256 handshake and its cipher states, built on libsodium, with
 * no I/O: the channel moves the bytes. The generic XK layer works on raw X25519 keys (it is what
 * the known-answer vector checks); the twin layer above it converts Ed25519 node keys, builds the
 * prologue from the network id and fixes each handshake payload (proto/PROTOCOL.md).
 */
#ifndef TWIN_NOISE_H
#define TWIN_NOISE_H

#include <stddef.h>
#include <stdint.h>

#include "twin/key.h"

#define TWIN_NOISE_PROTOCOL_NAME "Noise_XK_25519_ChaChaPoly_SHA256"
#define TWIN_NOISE_DH_BYTES      32
#define TWIN_NOISE_HASH_BYTES    32
#define TWIN_NOISE_KEY_BYTES     32
#define TWIN_NOISE_TAG_BYTES     16
#define TWIN_NOISE_MAX_MESSAGE   65535 /* handshake messages of the generic layer */

#define TWIN_NETWORK_ID_LEN       32 /* lowercase hex characters of a network id */
#define TWIN_NETWORK_ID_BYTES     16
#define TWIN_PROTOCOL_VERSION     1
#define TWIN_NOISE_PROLOGUE_BYTES 23 /* "twin/1" NUL network-id(16) */
#define TWIN_NOISE_MSG1_BYTES     48 /* e, tag of the empty payload */
#define TWIN_NOISE_MSG2_BYTES     48 /* e, tag of the empty payload */
#define TWIN_NOISE_MSG3_BYTES     96 /* encrypted s, encrypted Ed25519 node key */
#define TWIN_NOISE_HANDSHAKE_MSGS 3

/* One direction of the transport: a key and the next nonce. A failed decryption does not move
 * the nonce, so a replayed or reordered frame can never be accepted. */
typedef struct twin_noise_cipher {
    unsigned char k[TWIN_NOISE_KEY_BYTES];
    uint64_t n;
    int has_key;
} twin_noise_cipher;

/* Handshake state. The layout is visible so it can live on the stack; its fields are private. */
typedef struct twin_noise_handshake {
    int initiator;
    int step;        /* messages processed so far, 0..3 */
    int failed;      /* any error poisons the state */
    int auth_failed; /* the failure was a handshake message failing authentication */
    twin_noise_cipher cs;
    unsigned char ck[TWIN_NOISE_HASH_BYTES];
    unsigned char h[TWIN_NOISE_HASH_BYTES];
    unsigned char s_sk[TWIN_NOISE_DH_BYTES], s_pk[TWIN_NOISE_DH_BYTES];
    unsigned char e_sk[TWIN_NOISE_DH_BYTES], e_pk[TWIN_NOISE_DH_BYTES];
    unsigned char rs[TWIN_NOISE_DH_BYTES], re[TWIN_NOISE_DH_BYTES];
    int has_rs, has_re;
    /* twin layer */
    int twin;
    unsigned char self_node[TWIN_PUBKEY_BYTES];
    unsigned char peer_node[TWIN_PUBKEY_BYTES];
    int has_peer_node;
} twin_noise_handshake;

/* --- Generic Noise XK on raw X25519 keys ------------------------------------------------- */

/* Starts a handshake. s_sk is the local static X25519 private key; rs (initiator only, NULL for
 * the responder) the responder's static X25519 public key known in advance. */
int twin_noise_xk_init(twin_noise_handshake *hs, int initiator, const unsigned char *prologue,
                       size_t prologue_len, const unsigned char s_sk[static TWIN_NOISE_DH_BYTES],
                       const unsigned char *rs);

/* Writes the next handshake message carrying payload into out (capacity out_cap). */
int twin_noise_xk_write(twin_noise_handshake *hs, unsigned char *out, size_t out_cap,
                        size_t *out_len, const unsigned char *payload, size_t payload_len);

/* Reads the next handshake message; its payload goes to payload (capacity payload_cap). */
int twin_noise_xk_read(twin_noise_handshake *hs, unsigned char *payload, size_t payload_cap,
                       size_t *payload_len, const unsigned char *msg, size_t msg_len);

/* After the third message: the two transport ciphers (send, recv for this side) and the
 * handshake hash. Wipes the handshake state. */
int twin_noise_split(twin_noise_cipher *send, twin_noise_cipher *recv,
                     unsigned char hash[static TWIN_NOISE_HASH_BYTES], twin_noise_handshake *hs);

/* The peer's static X25519 public key (known to the initiator from the start, to the responder
 * after message 3); NULL before it is known. */
const unsigned char *twin_noise_remote_static(const twin_noise_handshake *hs);

void twin_noise_handshake_wipe(twin_noise_handshake *hs);

/* --- Transport ciphers ------------------------------------------------------------------ */

/* out receives len + TWIN_NOISE_TAG_BYTES bytes; out may equal in. TWIN_ELIMIT when the nonces
 * are exhausted. */
int twin_noise_encrypt(twin_noise_cipher *c, unsigned char *out, const unsigned char *in,
                       size_t len);

/* in holds len bytes (at least the tag); out receives len - TWIN_NOISE_TAG_BYTES bytes and may
 * equal in. TWIN_EVERIFY when authentication fails (tampered, replayed or reordered). */
int twin_noise_decrypt(twin_noise_cipher *c, unsigned char *out, const unsigned char *in,
                       size_t len);

void twin_noise_cipher_wipe(twin_noise_cipher *c);

/* --- twin's handshake on Ed25519 node keys ---------------------------------------------- */

/* Decodes a network id (32 lowercase hex characters) into its 16 bytes. */
int twin_noise_network_id_parse(unsigned char out[static TWIN_NETWORK_ID_BYTES],
                                const char *network_id);

/* "twin/1" NUL, then the 16 bytes of the network id. */
int twin_noise_prologue(unsigned char out[static TWIN_NOISE_PROLOGUE_BYTES],
                        const char *network_id);

/* Starts twin's handshake: the node's Ed25519 key pair, and for the initiator the responder's
 * Ed25519 node key (NULL for the responder). Each key is converted to X25519 and checked. */
int twin_noise_start(twin_noise_handshake *hs, int initiator, const twin_keypair *self,
                     const unsigned char *peer_node, const char *network_id);

/* Writes this side's next handshake message (payloads as the protocol prescribes). out must
 * hold TWIN_NOISE_MSG3_BYTES. */
int twin_noise_write_next(twin_noise_handshake *hs, unsigned char *out, size_t out_cap,
                          size_t *out_len);

/* Reads the peer's next handshake message and checks its exact length and payload. After
 * message 3 the responder knows the initiator's Ed25519 node key. */
int twin_noise_read_next(twin_noise_handshake *hs, const unsigned char *msg, size_t msg_len);

/* Length of handshake message 1..3, or 0 for any other index. */
size_t twin_noise_message_size(int index);

/* True when this side writes the next message. */
int twin_noise_my_turn(const twin_noise_handshake *hs);

int twin_noise_done(const twin_noise_handshake *hs);

/* The peer's Ed25519 node key: for the initiator the responder key it was given, for the
 * responder the initiator's key once message 3 has been read; NULL before it is known. */
const unsigned char *twin_noise_peer_node(const twin_noise_handshake *hs);

#endif
