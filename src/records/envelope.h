/*
 * Envelopes of sealed records (proto/SEALED.md 1, 6, 7 and 8): the record file every node
 * stores and checks when a record's content is sealed. What it holds is public: type, id,
 * audience, the encrypted content with its nonce, the digests of its wraps, and whether the
 * record is withdrawn, erased or has versions a merge set aside. This module reads and checks an
 * envelope's form and the changes between two versions that every node can judge, builds
 * envelopes and erased envelopes, and names the fields that describe a person.
 */
#ifndef TWIN_ENVELOPE_H
#define TWIN_ENVELOPE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "crypto/seal.h"

#define TWIN_ENVELOPE_MAX_BYTES     ((size_t)3 << 20) /* canonical JSON of one envelope */
#define TWIN_ENVELOPE_MAX_AUDIENCE  64
#define TWIN_ENVELOPE_MAX_WRAPS     256
#define TWIN_ENVELOPE_MAX_CONFLICTS 64
#define TWIN_ENVELOPE_MAX_REASON    1000 /* characters of an erasure's reason */

/* An envelope as read: pointers into the JSON it was read from (valid while that lives), and
 * the decoded nonce, ciphertext (malloc'd) and wrap digests. */
struct twin_envelope {
    const char *id, *type;
    const char *audience[TWIN_ENVELOPE_MAX_AUDIENCE];
    size_t naudience;
    bool withdrawn, erased;
    const char *reason; /* erased: why */
    unsigned char nonce[TWIN_SEAL_NONCE_BYTES];
    unsigned char *ciphertext; /* not erased */
    size_t ciphertext_len;
    unsigned char wraps[TWIN_ENVELOPE_MAX_WRAPS][TWIN_SEAL_DIGEST_BYTES];
    size_t nwraps;
    const char *conflicts[TWIN_ENVELOPE_MAX_CONFLICTS]; /* blob ids, 40 lowercase hex */
    size_t nconflicts;
};

/* Whether a stored record is an envelope (it has a "sealed" member). */
bool twin_envelope_is(const json_t *rec);

/* Whether the canonical JSON of a stored record (a record file's bytes) is an envelope, read
 * off its bytes without parsing them: exactly twin_envelope_is of what they parse to, since
 * canonical JSON puts every top-level member on a line of its own indented by two spaces. For
 * bytes that are not canonical it may answer either way. */
bool twin_envelope_in_text(const char *text, size_t len);

/* Reads rec as an envelope and checks its form (SEALED.md 1 and 7 rules 1, 2 and 4, but for
 * the membership, which the caller checks): TWIN_EINVALID naming the fault. Free with
 * twin_envelope_clear. */
int twin_envelope_read(struct twin_envelope *out, const json_t *rec);
void twin_envelope_clear(struct twin_envelope *e);

/* twin_envelope_read without the content: ciphertext is left NULL and only its being text is
 * checked. For a file whose form was checked already (one the validity predicate accepted), read
 * again for its public parts. */
int twin_envelope_read_public(struct twin_envelope *out, const json_t *rec);

/* Whether the digest is one the envelope lists. */
bool twin_envelope_lists(const struct twin_envelope *e,
                         const unsigned char digest[TWIN_SEAL_DIGEST_BYTES]);

/* Builds an envelope: audience sorted and unique (checked), wrap digests in any order (sorted
 * here). */
int twin_envelope_build(json_t **out, const char *id, const char *type, const char *const *audience,
                        size_t naudience, const unsigned char nonce[TWIN_SEAL_NONCE_BYTES],
                        const unsigned char *ct, size_t ct_len,
                        const unsigned char (*wraps)[TWIN_SEAL_DIGEST_BYTES], size_t nwraps,
                        bool withdrawn);

/* The erased envelope of prev (SEALED.md 6): TWIN_EINVALID when prev is erased already or the
 * reason is not one line of 1 to TWIN_ENVELOPE_MAX_REASON characters. */
int twin_envelope_erase(json_t **out, const json_t *prev, const char *reason);

/* The public rules on a change from old (NULL: a new record) to rec, where either may be an
 * envelope (SEALED.md 7 rules 5 and 6, for commits that are not merges): TWIN_EINVALID naming
 * the rule. *erasure is set when the change erases the record. When it returns 0 and rec is an
 * envelope, *read (unless NULL) holds rec as twin_envelope_read reads it, for the caller to
 * clear; otherwise *read is cleared. */
int twin_envelope_check_change(bool *erasure, struct twin_envelope *read, const json_t *rec,
                               const json_t *old);

/* The first field of rec (a record in the clear) that names or describes a person
 * (SEALED.md 8), as "type.field", or NULL when it holds none. */
const char *twin_envelope_personal_field(const json_t *rec);

/* The first personal field that a change from old (NULL: a new record) to rec, both in the clear,
 * adds or changes, or NULL when it touches none: what SEALED.md 7 rule 7 refuses. Of a person,
 * every change but a withdrawal. */
const char *twin_envelope_personal_change(const json_t *rec, const json_t *old);

#endif
