/*
 * Sync: one session between two nodes ends with both on the identical head, or with neither
 * changed. The initiator samples its history, the responder answers what it knows and sends
 * what the initiator lacks, the initiator checks it, merges when the heads diverged, and sends
 * its own commits with the proposed head; the responder checks everything (re-deriving the
 * merge) and moves its branch, then the initiator moves its own. Three round trips after the
 * handshake. proto/PROTOCOL.md section 11 specifies it.
 */
#ifndef TWIN_SYNC_H
#define TWIN_SYNC_H

#include <stdbool.h>
#include <stddef.h>

#include "twin/channel.h"
#include "twin/node.h"
#include "twin/validity.h"

#define TWIN_SYNC_AHEAD_LISTED 4

struct twin_sync_stats {
    size_t received_commits; /* new commits taken from the peer */
    size_t sent_commits;     /* commits sent to the peer */
    bool merged;             /* the session made a merge commit */
    size_t conflicts;        /* field conflicts the merge settled by the rule */
    bool changed;            /* this node's branch moved */
    bool has_head;
    git_oid head;         /* the head both nodes hold after the session */
    unsigned round_trips; /* counted after the handshake: hello, negotiation, proposal */
    unsigned checkpoints; /* signed head statements kept at the end (ours and the peer's) */
    /* Sealed records' wraps (proto/SEALED.md 5), exchanged when both nodes speak wraps/1. */
    bool wraps;                                       /* both hellos named wraps/1 */
    size_t wraps_sent;                                /* wraps this side sent in its answer */
    size_t wraps_received, wraps_kept, wraps_dropped; /* of the peer's answer */
    /* Envelope versions the peer's wraps named that the check of the received commits had not
     * handed on, so that the wrap check read them from the repository. */
    size_t wraps_versions_read;
    /* Where the session's time went, in milliseconds of elapsed time on this side. */
    double negotiate_ms; /* sampling this side's history and finding the common ids */
    double build_ms;     /* building this side's pack and sending it */
    double receive_ms;   /* receiving the peer's pack, including waiting for its first byte */
    double index_ms;     /* of receive_ms: indexing the received pack into the quarantine */
    double check_ms;     /* the validity predicate over the received commits */
    double accept_ms;    /* moving the accepted objects into the store and the branch */
    double wraps_ms;     /* exchanging sealed records' wraps (both answers) */
    double total_ms;     /* the whole session after the handshake */
    char peer_refusal[TWIN_MSG_TEXT_MAX + 1]; /* why the peer refused, if it did */
    /* The new commits taken from the peer dated more than a day ahead of this node's clock
     * (README, "Clocks"): how many, and the oldest of them. */
    size_t nahead;
    struct twin_ahead ahead[TWIN_SYNC_AHEAD_LISTED];
};

/* How a session twin_sync_peer initiates may be cut short. NULL, or zeroed: it never is. */
struct twin_sync_opts {
    /* Asked by every wait of the session's channel at least every TWIN_CHANNEL_CANCEL_CHECK_MS
     * (twin_channel_config.cancelled): when it answers true, the session is abandoned and
     * nothing moves. A service passes its own stop check, so a stop does not wait on a peer
     * that stopped answering. */
    twin_channel_cancel_fn cancelled;
    void *cancel_ctx;
};

/* Runs a session as the initiator on an authenticated channel. Sessions of one node must not
 * overlap: prefer twin_sync_peer, which takes the node's session lock first. */
int twin_sync_initiate(struct twin_sync_stats *out, twin_node *n, twin_channel *ch);

/* Takes this node's session lock (waiting for a running session to end), connects to the peer
 * at host:port expecting peer_key, and runs a session as the initiator, cancelled as opts says
 * (NULL: never). TWIN_ECONFLICT when the session lost a race (a branch moved, or the peer was
 * busy): running it again is safe. */
int twin_sync_peer(struct twin_sync_stats *out, twin_node *n, const char *host, const char *port,
                   const unsigned char peer_key[static TWIN_PUBKEY_BYTES],
                   const struct twin_sync_opts *opts);

/* Runs a session as the responder on an authenticated channel; it takes the node's session
 * lock, and when another session holds it for more than a moment, answers busy. */
int twin_sync_respond(struct twin_sync_stats *out, twin_node *n, twin_channel *ch);

/* The responder's decision on an initiator's key (a twin_channel_authorize_fn; ctx is the
 * node's directory): a member key active at this node's head, or a configured peer. */
int twin_sync_authorize(void *ctx, const unsigned char node[TWIN_PUBKEY_BYTES], char *reason,
                        size_t reason_cap);

#endif
