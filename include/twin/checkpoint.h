/*
 * Checkpoints: at the end of a sync session each node signs a statement of the network, its
 * head, the time and the peer it synced with, and both sides keep both statements. Because
 * twin's history only grows, every head one node ever states must lie on one line: two signed
 * heads of one node where neither contains the other prove that it showed partners different
 * histories (equivocation), and the two statements are the evidence.
 *
 * A statement is text, signed as an SSH signature in its own namespace ("twin-checkpoint"),
 * so ssh-keygen -Y verify checks it too:
 *
 *     twin-checkpoint 1
 *     network <network id>
 *     signer ssh-ed25519 AAAA...
 *     peer ssh-ed25519 AAAA...
 *     head <commit id, or "none">
 *     time <seconds since the epoch>
 *
 * Files of checkpoints hold statements each followed by its armored signature; a node keeps its
 * own in <node>/checkpoints.
 */
#ifndef TWIN_CHECKPOINT_H
#define TWIN_CHECKPOINT_H

#include <git2.h>
#include <stdbool.h>
#include <stdint.h>

#include "twin/key.h"
#include "twin/node.h"

#define TWIN_CHECKPOINT_NAMESPACE "twin-checkpoint"
#define TWIN_CHECKPOINT_TEXT_MAX  1024
#define TWIN_CHECKPOINT_FILE_MAX  (64 * 1024 * 1024)
#define TWIN_CHECKPOINT_COUNT_MAX 1000000

struct twin_checkpoint {
    char network_id[TWIN_NETWORK_ID_LEN + 1];
    unsigned char signer[TWIN_PUBKEY_BYTES];
    unsigned char peer[TWIN_PUBKEY_BYTES];
    bool has_head;
    git_oid head;
    int64_t time;
    char text[TWIN_CHECKPOINT_TEXT_MAX + 1]; /* the signed statement */
    char *sig;                               /* its armored signature (malloc'd) */
    char source[300];                        /* where it was read from, for reports */
};

/* Signs a statement of node n's head (NULL: none yet) after a session with peer. */
int twin_checkpoint_make(struct twin_checkpoint *out, twin_node *n,
                         const unsigned char peer[static TWIN_PUBKEY_BYTES], const git_oid *head);

/* Parses out->text and checks out->sig over it, made by the key the statement names. */
int twin_checkpoint_check(struct twin_checkpoint *cp);

/* Appends a checked statement to the node's checkpoints file (safe from several threads and
 * processes). */
int twin_checkpoint_store(twin_node *n, const struct twin_checkpoint *cp);

/* Reads every statement of a checkpoints file, checking each signature. A statement that fails
 * stops the read with a message naming the file and statement. */
int twin_checkpoint_read(struct twin_checkpoint **out, size_t *count, const char *path);
void twin_checkpoint_free(struct twin_checkpoint *cps, size_t count);

/* The node's own checkpoints file. */
void twin_checkpoint_path(char *out, size_t size, twin_node *n);

struct twin_checkpoint_finding {
    enum { TWIN_CP_EQUIVOCATION, TWIN_CP_UNKNOWN_HEAD, TWIN_CP_OTHER_NETWORK } kind;
    size_t a, b; /* the statements concerned (b only for an equivocation) */
    char text[600];
};

/* Checks that the statements of each signer lie on one history, using the commits of this
 * node's repository. Returns 0 when the check ran; the findings say what it found. */
int twin_checkpoint_audit(struct twin_checkpoint_finding **out, size_t *count, twin_node *n,
                          const struct twin_checkpoint *cps, size_t ncps);

#endif
