/*
 * The cryptography of sealed records (proto/SEALED.md): a version's content padded (Padmé) and
 * encrypted with XChaCha20-Poly1305 under a content key of its own, bound by the additional
 * data to the network, the record and its audience; and wraps, each giving a content key to
 * one member key (a sealed box to the key's X25519 form), named by a digest the envelope lists,
 * or signed by the member that made it later. libsodium does every primitive.
 */
#ifndef TWIN_SEAL_H
#define TWIN_SEAL_H

#include <stdbool.h>
#include <stddef.h>

#include "twin/key.h"

#define TWIN_SEAL_KEY_BYTES     32
#define TWIN_SEAL_NONCE_BYTES   24
#define TWIN_SEAL_TAG_BYTES     16
#define TWIN_SEAL_BOX_BYTES     80 /* a sealed box of one content key */
#define TWIN_SEAL_DIGEST_BYTES  32
#define TWIN_SEAL_SIG_BYTES     64
#define TWIN_SEAL_BLOB_BYTES    20 /* a git blob id */
#define TWIN_SEAL_NETWORK_BYTES 16
#define TWIN_SEAL_MIN_PADDED    256
#define TWIN_SEAL_MAX_PLAIN     ((size_t)1 << 20) /* a record's canonical JSON */

/* pad(n) of SEALED.md 2: the padded size of n bytes (n <= TWIN_SEAL_MAX_PLAIN + 4). */
size_t twin_seal_pad(size_t n);

/* Whether a ciphertext of len bytes is one a writer makes: pad(n) + the tag for some n >= 4,
 * within the bound of a record. */
bool twin_seal_ciphertext_len_valid(size_t len);

/* The additional data of SEALED.md 2 in a malloc'd buffer: network id (32 lowercase hex), type,
 * id and the audience (sorted org ids) as the envelope holds them. */
int twin_seal_aad(char **out, size_t *len, const char *network_id, const char *type, const char *id,
                  const char *const *audience, size_t naudience);

/* Encrypts the len bytes at plain (at most TWIN_SEAL_MAX_PLAIN) with a fresh content key and
 * nonce, written to key and nonce: *ct (malloc'd) gets twin_seal_pad(len + 4) + the tag bytes. */
int twin_seal_encrypt(unsigned char **ct, size_t *ct_len, unsigned char key[TWIN_SEAL_KEY_BYTES],
                      unsigned char nonce[TWIN_SEAL_NONCE_BYTES], const void *plain, size_t len,
                      const void *aad, size_t aad_len);

/* Opens a ciphertext: *plain (malloc'd, with a NUL after its *len bytes) is the content, its
 * padding checked. TWIN_EVERIFY when the key, nonce or additional data do not open it;
 * TWIN_EINVALID, naming the fault, when what opens is not padded as SEALED.md 2 says. */
int twin_seal_decrypt(char **plain, size_t *len, const unsigned char key[TWIN_SEAL_KEY_BYTES],
                      const unsigned char nonce[TWIN_SEAL_NONCE_BYTES], const unsigned char *ct,
                      size_t ct_len, const void *aad, size_t aad_len);

/* A wrap of key to the member key to (an Ed25519 public key): TWIN_EINVALID when to has no
 * X25519 form (not a valid Ed25519 point). */
int twin_seal_wrap(unsigned char box[TWIN_SEAL_BOX_BYTES],
                   const unsigned char key[TWIN_SEAL_KEY_BYTES],
                   const unsigned char to[TWIN_PUBKEY_BYTES]);

/* Opens a wrap with this node's key pair: TWIN_EVERIFY when it was not made to kp->pk. */
int twin_seal_unwrap(unsigned char key[TWIN_SEAL_KEY_BYTES],
                     const unsigned char box[TWIN_SEAL_BOX_BYTES], const twin_keypair *kp);

/* The digest an envelope lists for a wrap it names: SHA-256("twin-wrap/1\n" || to || box). */
void twin_seal_wrap_digest(unsigned char out[TWIN_SEAL_DIGEST_BYTES],
                           const unsigned char to[TWIN_PUBKEY_BYTES],
                           const unsigned char box[TWIN_SEAL_BOX_BYTES]);

/* The signature of a later wrap by kp, and its check against by: SEALED.md 3. */
void twin_seal_wrap_sign(unsigned char sig[TWIN_SEAL_SIG_BYTES], const twin_keypair *kp,
                         const unsigned char network[TWIN_SEAL_NETWORK_BYTES],
                         const unsigned char blob[TWIN_SEAL_BLOB_BYTES],
                         const unsigned char to[TWIN_PUBKEY_BYTES],
                         const unsigned char box[TWIN_SEAL_BOX_BYTES]);
bool twin_seal_wrap_verify(const unsigned char sig[TWIN_SEAL_SIG_BYTES],
                           const unsigned char by[TWIN_PUBKEY_BYTES],
                           const unsigned char network[TWIN_SEAL_NETWORK_BYTES],
                           const unsigned char blob[TWIN_SEAL_BLOB_BYTES],
                           const unsigned char to[TWIN_PUBKEY_BYTES],
                           const unsigned char box[TWIN_SEAL_BOX_BYTES]);

#endif
