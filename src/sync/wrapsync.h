/*
 * Wraps in a sync session (proto/SEALED.md 3 and 5): which wraps a node keeps of those a peer
 * sends, checked against its head; the answer to a peer's wraps_since, read from the wrap store;
 * and the receiving side of an answer, which records how far it got only after its last message.
 *
 * A receiver begins one context per answer it receives. The context holds the head it judges by,
 * the membership at that head and a few envelope versions read by blob id, so the wraps of one
 * version are checked without reading it again.
 */
#ifndef TWIN_WRAPSYNC_H
#define TWIN_WRAPSYNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <git2.h>
#include <jansson.h>

#include "store/wraps.h"
#include "twin/msg.h"
#include "twin/node.h"

#define TWIN_WRAPSYNC_MESSAGE_MAX TWIN_MSG_WRAPS_MAX /* wraps in one message */
#define TWIN_WRAPSYNC_ANSWER_MAX  200000             /* wraps in one answer */
#define TWIN_WRAPSYNC_LATER_MAX   4                  /* later wraps kept for one (blob, to) */

/* What became of one wrap. */
enum twin_wrapsync_verdict {
    TWIN_WRAPSYNC_KEPT,    /* it holds every rule and is stored now */
    TWIN_WRAPSYNC_HELD,    /* the same wrap (blob, to, box) was kept already */
    TWIN_WRAPSYNC_DROPPED, /* it breaks a rule of SEALED.md 3: counted, not stored */
};

struct twin_wrapsync_counts {
    size_t received, kept, held, dropped;
    size_t noted, read; /* envelope versions taken from the session's notes, and read here */
};

typedef struct twin_wrapsync twin_wrapsync;

/* The public parts of the envelope versions a session's check of received commits read, kept
 * for the wraps that follow, so that each version is not read and parsed again. */
typedef struct twin_wrapsync_notes twin_wrapsync_notes;
int twin_wrapsync_notes_new(twin_wrapsync_notes **out);
void twin_wrapsync_notes_free(twin_wrapsync_notes *nt);

struct twin_envelope;

/* Notes one version (a twin_validity_sealed_fn, ctx the notes; from any thread). A version not
 * noted (over the notes' bound of memory, or out of memory) is read when its wraps come. */
void twin_wrapsync_note(const git_oid *blob, const struct twin_envelope *e, void *ctx);

/* Begins the checks of one received answer at n's head, with the notes of the session's check
 * (NULL: none): TWIN_ENOHISTORY when n has none. */
int twin_wrapsync_begin(twin_wrapsync **out, twin_node *n, const twin_wrapsync_notes *notes);
void twin_wrapsync_end(twin_wrapsync *ws);

/* Checks one wrap against the rules of SEALED.md 3 at the context's head and keeps it in the
 * node's wrap store (twin_wraps_add) or drops it. wrap->record is set from the envelope; a wrap
 * whose digest the envelope lists is kept as a listed one, without by and sig. *why names the
 * rule a dropped wrap broke (a static string; "" otherwise). Fails only on this node's own
 * faults (its store or repository), never for what the wrap holds. */
int twin_wrapsync_check(enum twin_wrapsync_verdict *verdict, const char **why, twin_wrapsync *ws,
                        struct twin_wrap *wrap);

/* What the checks so far came to, once every wrap taken so far is kept. */
struct twin_wrapsync_counts twin_wrapsync_counts(twin_wrapsync *ws);

/* The ask for the wraps of the peer with node key peer that this node lacks: a wraps_since of
 * the peer's store id and the last seq of it received, or of no store (since 0) when none. */
int twin_wrapsync_ask(twin_msg *out, twin_node *n, const unsigned char peer[TWIN_PUBKEY_BYTES]);

/* Takes one wraps message m of the peer's answer to ask: checks its wraps and hands those that
 * pass to a thread that keeps them (each message's in one transaction) while the next message is
 * read and checked, and after the last message (more false), once all are kept, records the
 * peer's store id and upto for peer, setting *last. A fault in keeping is returned by the take
 * that follows it. TWIN_EINVALID, naming the fault, for a message that does not fit the
 * answer so far: its store changed, its upto went back (below since when the store is the one
 * asked about), a message with more true held no wrap, or the answer passed
 * TWIN_WRAPSYNC_ANSWER_MAX wraps. The wraps of earlier messages stay kept. */
int twin_wrapsync_take(bool *last, twin_wrapsync *ws, const unsigned char peer[TWIN_PUBKEY_BYTES],
                       const twin_msg *ask, const twin_msg *m);

/* Answers ask (a wraps_since) from the peer whose node key is peer out of n's wrap store: the
 * wraps after since in seq order (all of them when ask's store is not this store's id) that are
 * on disk when the answer begins, less those received from that peer (but for those that came
 * from another store of it than the one ask names as its own, "mine": a store made again, by a
 * restore), at most TWIN_WRAPSYNC_MESSAGE_MAX per message and TWIN_WRAPSYNC_ANSWER_MAX in all,
 * each message given to send; the last says more false. *sent gets how many wraps went out. */
int twin_wrapsync_answer(size_t *sent, twin_node *n, const unsigned char peer[TWIN_PUBKEY_BYTES],
                         const twin_msg *ask, int (*send)(const twin_msg *m, void *ctx), void *ctx);

#endif
