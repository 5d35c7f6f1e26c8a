/*
 * The wrap store (proto/SEALED.md 4): the wraps of sealed records' content keys a node keeps,
 * outside git, in <node>/wraps.db (SQLite), from which they can be deleted for good. Every wrap
 * kept gets the next number of a counter that never goes back (seq); the store has a random id,
 * made with it; per peer node key it remembers the peer's store id and the last seq of the
 * peer's it received. Deleted rows are overwritten (secure_delete), and after an erasure the
 * write-ahead log is emptied, so what was deleted is in no file of the store.
 *
 * This module only stores: which wraps a node may keep (SEALED.md 3) is decided above it.
 *
 * Two threads may use one store at once (SQLite takes turns between them), provided each of
 * twin_wraps_add and twin_wraps_erased is called from one thread at a time, and a transaction is
 * begun and ended by one thread, whose adds it then holds.
 */
#ifndef TWIN_WRAPS_H
#define TWIN_WRAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/seal.h"
#include "twin/key.h"

#define TWIN_WRAPS_FILE        "wraps.db"
#define TWIN_WRAPS_STORE_BYTES 16

typedef struct twin_wraps twin_wraps;

/* One wrap: a listed one (signed false), or a later one with its maker and signature. */
struct twin_wrap {
    char record[64]; /* the record id whose version it opens */
    unsigned char blob[TWIN_SEAL_BLOB_BYTES];
    unsigned char to[TWIN_PUBKEY_BYTES];
    unsigned char box[TWIN_SEAL_BOX_BYTES];
    bool signed_by; /* a later wrap: by and sig hold */
    unsigned char by[TWIN_PUBKEY_BYTES];
    unsigned char sig[TWIN_SEAL_SIG_BYTES];
    uint64_t seq;   /* set by the store */
    bool from_peer; /* received in a session: origin is the node key of the peer that sent it */
    unsigned char origin[TWIN_PUBKEY_BYTES];
    bool has_origin_store; /* received: the store id of the answer it came in (older wraps: none) */
    unsigned char origin_store[TWIN_WRAPS_STORE_BYTES];
};

/* Opens (making it when missing) the wrap store of the node in dir. */
int twin_wraps_open(twin_wraps **out, const char *dir);
void twin_wraps_free(twin_wraps *w);

/* The store's id. */
void twin_wraps_store_id(const twin_wraps *w, unsigned char out[TWIN_WRAPS_STORE_BYTES]);

/* Writes a copy of the store, as it is at one moment even while others write it, to path (a
 * file that does not exist or is empty): what a backup carries. */
int twin_wraps_copy(twin_wraps *w, const char *path);

/* Gives the store a new random id: for a store restored from a backup, whose seq went back to
 * what it was then, so peers that saw a later seq under the old id ask for everything again
 * (proto/SEALED.md 4). */
int twin_wraps_new_id(twin_wraps *w);

/* Keeps wrap (its seq set); *added false when the same (blob, to, box) is kept already.
 * TWIN_EDENIED when its record was erased: erased records' wraps are never kept again. */
int twin_wraps_add(twin_wraps *w, struct twin_wrap *wrap, bool *added);

/* Groups the changes that follow into one transaction: twin_wraps_commit makes them durable at
 * once (one sync to disk, not one per wrap), twin_wraps_rollback drops them. Not nested, and not
 * around twin_wraps_erase. */
int twin_wraps_begin(twin_wraps *w);
int twin_wraps_commit(twin_wraps *w);
void twin_wraps_rollback(twin_wraps *w);

/* Keeps the n wraps a node has just made (its seq set in each), in one transaction synced to
 * disk, before the commit that needs them: all of them or, on failure, none. */
int twin_wraps_add_own(twin_wraps *w, struct twin_wrap *wraps, size_t n);

/* twin_wraps_begin for wraps received from a peer, which the peer gives again when asked: the
 * commit is written to the log without a sync to disk of its own (synchronous=NORMAL until it
 * ends), and the log is not moved into the database then, but at the next commit of another
 * kind (such as twin_wraps_peer_set), once for all of a session's transactions. A crash may lose
 * the last such transactions, never part of one, and the peer's position (twin_wraps_peer_set,
 * synced) is written after them, so a lost wrap is asked for again. A node's own wraps, which no
 * peer holds before it commits, always use twin_wraps_begin. */
int twin_wraps_begin_received(twin_wraps *w);

/* How many later (signed) wraps are kept for (blob, to), blob a version of record. */
int twin_wraps_count_later(size_t *count, twin_wraps *w, const char *record,
                           const unsigned char *blob, const unsigned char *to);

/* Calls fn for each wrap of (blob, to), blob a version of record, in seq order, until fn returns
 * non-zero (returned). */
int twin_wraps_each_for(twin_wraps *w, const char *record, const unsigned char *blob,
                        const unsigned char *to, int (*fn)(const struct twin_wrap *wrap, void *ctx),
                        void *ctx);

/* Calls fn for each wrap to key to of any version of record, in seq order, until fn returns
 * non-zero (returned). */
int twin_wraps_each_of_record(twin_wraps *w, const char *record, const unsigned char *to,
                              int (*fn)(const struct twin_wrap *wrap, void *ctx), void *ctx);

/* Calls fn for each wrap to key to, in seq order, until fn returns non-zero (returned): a scan of
 * the whole store, for a key rotation. */
int twin_wraps_each_to(twin_wraps *w, const unsigned char *to,
                       int (*fn)(const struct twin_wrap *wrap, void *ctx), void *ctx);

/* Which wraps twin_wraps_since gives. */
struct twin_wraps_range {
    uint64_t since, until; /* seq above since, up to until (UINT64_MAX: all) */
    size_t max;            /* at most this many given */
    /* Passed over: those received from the peer whose node key is skip (NULL: none), unless mine
     * is set (the peer's own store id now) and they came from another store of that peer. */
    const unsigned char *skip, *mine;
};

/* Calls fn for each wrap of r, in seq order; *upto gets the seq of the last one given or passed
 * over (since when none), *more whether others follow within r. */
int twin_wraps_since(twin_wraps *w, const struct twin_wraps_range *r,
                     int (*fn)(const struct twin_wrap *wrap, void *ctx), void *ctx, uint64_t *upto,
                     bool *more);

/* The highest seq kept (0 when none), made durable with everything before it: the store's log is
 * synced to disk, so that no answer sends a wrap a crash could still take back (a received wrap
 * is kept without a sync of its own, twin_wraps_begin_received). */
int twin_wraps_durable(twin_wraps *w, uint64_t *seq);

/* Deletes the wrap with this seq (one that did not open). */
int twin_wraps_delete(twin_wraps *w, uint64_t seq);

/* Erases a record: deletes every wrap of its versions, remembers it as erased, and empties the
 * write-ahead log so no file keeps them. *deleted gets how many there were. */
int twin_wraps_erase(twin_wraps *w, const char *record, size_t *deleted);
int twin_wraps_erased(bool *erased, twin_wraps *w, const char *record);

/* Calls fn for each erased record, in order of id, until fn returns non-zero (returned). */
int twin_wraps_each_erased(twin_wraps *w, int (*fn)(const char *record, void *ctx), void *ctx);

/* How many wraps are kept for a record's versions. */
int twin_wraps_count_record(size_t *count, twin_wraps *w, const char *record);

/* Deletes every wrap to any of the n keys (keys no longer active), in a scan of the store per 100
 * keys; *deleted gets how many. */
int twin_wraps_drop_recipients(twin_wraps *w, const unsigned char (*keys)[TWIN_PUBKEY_BYTES],
                               size_t n, size_t *deleted);

/* What this node last received of a peer's store: its id and the last seq (zeros when never). */
int twin_wraps_peer_get(twin_wraps *w, const unsigned char node[TWIN_PUBKEY_BYTES],
                        unsigned char store[TWIN_WRAPS_STORE_BYTES], uint64_t *upto);
int twin_wraps_peer_set(twin_wraps *w, const unsigned char node[TWIN_PUBKEY_BYTES],
                        const unsigned char store[TWIN_WRAPS_STORE_BYTES], uint64_t upto);

#endif
