/*
 * Sealing a record and opening one (proto/SEALED.md 2 and 3): a record's canonical JSON sealed
 * for an audience, with a wrap of its content key to every active key of every audience
 * institution in a membership, and the envelope that lists their digests; and the way back, from
 * an envelope and the wraps a wrap store keeps for this node's key to the record.
 */
#ifndef TWIN_SEALED_H
#define TWIN_SEALED_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "store/wraps.h"
#include "twin/membership.h"

/* A sealed version: its envelope, the envelope's canonical bytes and blob id, and its wraps
 * (each with the blob id and record set). */
struct twin_sealed {
    json_t *envelope;
    char *text; /* canonical JSON: the file's bytes */
    size_t text_len;
    unsigned char blob[TWIN_SEAL_BLOB_BYTES];
    struct twin_wrap *wraps;
    size_t nwraps;
};

/* Seals rec (a valid record) for audience (sorted org ids, each a member of m that is not
 * removed), the envelope keeping conflicts (NULL or an array of blob ids: the versions a merge set
 * aside that are still unresolved): TWIN_EINVALID naming an institution that is not a member, or
 * one that has no active key. */
int twin_sealed_seal(struct twin_sealed *out, const json_t *rec, const char *const *audience,
                     size_t naudience, const json_t *conflicts, const struct twin_membership *m);
void twin_sealed_clear(struct twin_sealed *s);

/* Opens the envelope version whose blob id is blob with a wrap store keeps for kp: *rec is the
 * record. A wrap that does not open it is deleted and the next tried. TWIN_ENOTFOUND when no
 * wrap for kp opens it (this node is outside the audience, or its key has none yet);
 * TWIN_EINVALID when what opens is not the record the envelope names. */
int twin_sealed_open(json_t **rec, const json_t *envelope, const unsigned char *blob,
                     const char *network_id, twin_wraps *store, const twin_keypair *kp);

/* Before a key rotation retires this node's key: every version the current key opens gets a
 * later wrap to the next key, signed by it (SEALED.md 3), so the institution keeps reading once
 * the old key's wraps are deleted. *made counts them. */
int twin_sealed_rewrap(twin_node *n, const twin_keypair *next, size_t *made);

/* Deletes the wraps to every key of m that is not active (retired, revoked, or of a member who
 * left): nobody may open anything with them again. *deleted (when not NULL) counts them. */
int twin_sealed_drop_inactive(twin_wraps *store, const struct twin_membership *m, size_t *deleted);

/* Keeps the wrap store true to the history after the head moved from `from` (NULL: from
 * nothing, and so nothing to do) to `to` (SEALED.md 3 and 6): every record erased at `to` loses its
 * wraps for good, and when the membership changed, wraps to keys no longer active are deleted. */
int twin_sealed_upkeep(twin_node *n, const git_oid *from, const git_oid *to);

#endif
