/*
 * A node's Ed25519 key: generation, the secret key file (OpenSSH private key format, mode 0600,
 * so ssh-keygen can use it too), and the public forms people exchange: the OpenSSH
 * "ssh-ed25519 AAAA..." line and the node id (lowercase hex of the 32-byte public key).
 */
#ifndef TWIN_KEY_H
#define TWIN_KEY_H

#include <stddef.h>

#define TWIN_PUBKEY_BYTES    32
#define TWIN_SECKEY_BYTES    64
#define TWIN_NODE_ID_LEN     64  /* hex characters, without the terminating NUL */
#define TWIN_OPENSSH_PUB_MAX 128 /* "ssh-ed25519 " + base64 of 51 bytes + NUL, rounded up */

typedef struct twin_keypair {
    unsigned char pk[TWIN_PUBKEY_BYTES];
    unsigned char sk[TWIN_SECKEY_BYTES]; /* libsodium layout: seed || pk */
} twin_keypair;

int twin_key_generate(twin_keypair *out);

/* Writes the secret key in OpenSSH's unencrypted private key format, mode 0600, via a temporary
 * file in the same directory, fsync and link(). Refuses (TWIN_EEXISTS) to replace an existing
 * file. */
int twin_key_save(const char *path, const twin_keypair *kp, const char *comment);

/* Reads a key written by twin_key_save or by `ssh-keygen -t ed25519 -N ''`. Refuses a file that
 * group or others may read, a passphrase-protected key, and a key whose halves do not match. */
int twin_key_load(twin_keypair *out, const char *path);

/* Parses the text of a key file, as twin_key_load does but without the file's checks: for
 * callers that already hold the text, and for fuzzing. */
int twin_key_parse_private(twin_keypair *out, const char *text, size_t len);

void twin_key_wipe(twin_keypair *kp);

/* "ssh-ed25519 AAAA..." with no comment; out must hold TWIN_OPENSSH_PUB_MAX bytes. */
void twin_key_format_openssh(char out[static TWIN_OPENSSH_PUB_MAX],
                             const unsigned char pk[static TWIN_PUBKEY_BYTES]);

/* Parses "ssh-ed25519 AAAA... [comment]". TWIN_EINVALID with a message naming the fault. */
int twin_key_parse_openssh(unsigned char pk[static TWIN_PUBKEY_BYTES], const char *line);

void twin_key_node_id(char out[static TWIN_NODE_ID_LEN + 1],
                      const unsigned char pk[static TWIN_PUBKEY_BYTES]);

/* Accepts either an OpenSSH public key line or a node id. */
int twin_key_parse_any(unsigned char pk[static TWIN_PUBKEY_BYTES], const char *text);

/* "SHA256:..." fingerprint as ssh-keygen -l prints it. */
void twin_key_fingerprint(char out[static 64], const unsigned char pk[static TWIN_PUBKEY_BYTES]);

#endif
