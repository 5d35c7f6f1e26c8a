/*
 * The operations partners and admins perform: add, change and withdraw records, add members.
 * Each one checks the change against the current head exactly as the validity predicate will,
 * writes one signed commit, and starts again on the new head when another writer got there
 * first, so concurrent writers never lose an update.
 */
#ifndef TWIN_OPS_H
#define TWIN_OPS_H

#include <git2.h>
#include <jansson.h>

#include "twin/batch.h"
#include "twin/membership.h"
#include "twin/node.h"
#include "twin/record.h"

/* Edits rec in place (a copy of the current record, or a new one holding only id and type).
 * Returns 0, or a negative code with the message set. */
typedef int (*twin_record_edit_fn)(json_t *rec, void *ctx);

/* Adds a record of type built by fn. Hands back its new id and the commit. A record holding a
 * field that names or describes a person (proto/SEALED.md 8) is sealed for every member. */
int twin_ops_add(char id_out[static TWIN_ID_LEN + 1], git_oid *commit_out, twin_node *n,
                 const char *type, twin_record_edit_fn fn, void *ctx);

/* Who may read a sealed record: member institutions' org ids, or TWIN_AUDIENCE_MEMBERS for every
 * member not removed that has an active key. The writer's own institution is always in it. */
#define TWIN_AUDIENCE_MEMBERS "members"
struct twin_audience {
    const char *const *orgs;
    size_t n;
};

/* twin_ops_add for a sealed record (proto/SEALED.md): only the audience's institutions can read
 * its content; every node stores and checks its envelope. audience NULL: as twin_ops_add. */
int twin_ops_add_sealed(char id_out[static TWIN_ID_LEN + 1], git_oid *commit_out, twin_node *n,
                        const char *type, const struct twin_audience *audience,
                        twin_record_edit_fn fn, void *ctx);

/* Widens the audience of sealed record id (it never narrows: what was shared was shared), in a
 * new version of the same content. TWIN_EEXISTS when every institution named can read it already;
 * TWIN_EINVALID when the record is in the clear. */
int twin_ops_share(git_oid *commit_out, twin_node *n, const char *id,
                   const struct twin_audience *audience);

/* Erases sealed record id (admins; a proposal when the policy needs several admins): its
 * erased envelope keeps type, id, audience and reason, one line of 1 to 1000 characters; every
 * node deletes the keys of all its versions (proto/SEALED.md 6). TWIN_EINVALID for a record in
 * the clear, or one erased already. */
int twin_ops_erase(git_oid *commit_out, twin_node *n, const char *id, const char *reason);

/* How many keys (wraps) of record id's versions this node holds: after an erasure, none. With
 * drop, those found are deleted and the record remembered as erased. */
int twin_ops_erased_keys(size_t *held, twin_node *n, const char *id, bool drop);

/* Brings the wrap store up to the head in one sweep, where the upkeep after each move of the head
 * (twin_sealed_upkeep) may have been missed, as in a store restored from a backup: the wraps of
 * every record erased at the head are deleted (and the records remembered as erased), and so are
 * the wraps to every key not active there. *deleted counts the wraps deleted. A node without
 * history has nothing to do. */
int twin_ops_upkeep_head(twin_node *n, size_t *deleted);

/* What a stored record is to this node (twin_ops_unseal). */
enum twin_sealing {
    TWIN_SEALING_CLEAR,  /* written in the clear */
    TWIN_SEALING_OPENED, /* sealed, and this node opened it */
    TWIN_SEALING_CLOSED, /* sealed, and this node holds no key that opens it */
    TWIN_SEALING_ERASED, /* sealed and erased: no one opens it again */
};

/* The content of a stored record (as twin_ops_get and twin_ops_foreach give it): *out is the
 * record itself when in the clear, its opened content when sealed and this node can read it, and
 * the envelope otherwise (a new reference each time). */
int twin_ops_unseal(json_t **out, enum twin_sealing *how, twin_node *n, json_t *stored);

/* Opens a version of a sealed record that a merge set aside (proto/SEALED.md 9). stored is the
 * record at the head (as twin_ops_get gives it); blob names an entry of its conflicts, as 40 hex
 * digits or a prefix of at least 8 that no other entry shares. The version is read from the
 * history by its blob id and opened with this node's wraps: *out is its content, and full (when
 * not NULL) gets the entry named. TWIN_EINVALID when stored is in the clear, or blob names no
 * entry of its conflicts (or several); TWIN_EDENIED when stored was erased, or this node holds
 * no key that opens that version. */
int twin_ops_unseal_set_aside(json_t **out, char full[GIT_OID_HEXSZ + 1], twin_node *n,
                              const json_t *stored, const char *blob);

/* How twin_ops_resolve_sealed settles the versions a merge set aside in a sealed record. Each
 * version is named as for twin_ops_unseal_set_aside. */
struct twin_sealed_resolution {
    const char *keep;        /* NULL, or the version whose content replaces the head's */
    const char *const *drop; /* versions dropped, the head's content (or keep's) staying */
    size_t ndrop;
    bool drop_all;          /* every version set aside is dropped */
    twin_record_edit_fn fn; /* NULL, or field changes made on the content kept */
    void *ctx;
};

/* Writes the next version of sealed record id, in one signed commit as twin_ops_update does, whose
 * conflicts are the head's less the versions named (keep's included): a version may drop entries,
 * never add one. With keep, its content is that version's, and its audience the head's widened
 * by that version's (less institutions that left or hold no active key). TWIN_EINVALID when the
 * record is in the clear, has no versions set aside, or the resolution names none or one that is
 * not among them; TWIN_EDENIED when this node cannot read the record (or the version kept), or
 * it was erased. */
int twin_ops_resolve_sealed(git_oid *commit_out, twin_node *n, const char *id,
                            const struct twin_sealed_resolution *resolution);

/* Changes record id with fn (for a sealed record, its content, which this node must be able to
 * open). verb names the change in the commit message ("set", "edit").
 * TWIN_ENOTFOUND when there is no such record; TWIN_EEXISTS when fn changes nothing. */
int twin_ops_update(git_oid *commit_out, twin_node *n, const char *id, const char *verb,
                    twin_record_edit_fn fn, void *ctx);

/* Confirms contribution id for this node's institution: its "confirmed" becomes its status, in
 * one signed commit (a contribution this node's institution writes is confirmed as it is
 * written; one recorded in its name by another partner waits for this). TWIN_EINVALID when id is
 * not a contribution, or its institution has no org_id; TWIN_EDENIED when it is in another
 * institution's name (the error names that institution and its org id); TWIN_EEXISTS, with
 * nothing written, when it is confirmed at its status already. */
int twin_ops_confirm(git_oid *commit_out, twin_node *n, const char *id);

/* Confirms a contribution in this node's institution's name as it is written: when rec is a
 * contribution in the clear whose institution (read through lookup) has this node's org id, and
 * rec is new or this version sets its status, its "confirmed" becomes its status; unless rec was
 * given another "confirmed" than old had, which is left for the rule
 * (twin_validity_check_confirmation) to judge. An edit of other fields confirms nothing. Every
 * writer calls it (the record operations, import), so a partner's own entries need no second step.
 * *changed (may be NULL) says whether rec changed. */
int twin_ops_confirm_own(bool *changed, json_t *rec, const json_t *old, twin_node *n,
                         twin_record_lookup_fn lookup, void *ctx);

/* Attaches the file at path to document id (README "Attachments"): its bytes are streamed into
 * the store as attachments/<xx>/<sha256> and the document's `file` set to {sha256, size, name,
 * media_type} in one signed commit. For a sealed document (proto/SEALED.md 10) the blob is the
 * file encrypted under a fresh key, named by the ciphertext's SHA-256, and the content's file also
 * holds that key and the blob's name. media_type NULL: from the file's extension where twin knows
 * it. TWIN_EINVALID when id is not a document, path is not a regular file, or the document records
 * a sha256 that is not the file's; TWIN_EDENIED for a document sealed to others; TWIN_ELIMIT when
 * the file is over the network's cap; TWIN_EEXISTS when the document carries this file already
 * (in the clear). *file_out (may be NULL) gets the file object written. */
int twin_ops_attach(git_oid *commit_out, json_t **file_out, twin_node *n, const char *id,
                    const char *path, const char *media_type);
/* Receives a document's file, whole and checked (twin_ops_attachment). */
typedef int (*twin_attachment_fn)(const void *data, size_t len, void *ctx);
/* The file of document id at commit at (NULL: the head): its bytes, opened when the document is
 * sealed, are checked against file.sha256 and file.size, then handed to fn; *file_out gets the
 * document's `file` object (without a sealed file's key). TWIN_ENOTFOUND when the document has
 * no file; TWIN_EINVALID when id is not a document, or was erased; TWIN_EDENIED when it is sealed
 * to others; TWIN_EVERIFY when the blob is missing, does not match or does not open (the store
 * is damaged); fn's own code when it fails. */
int twin_ops_attachment(json_t **file_out, twin_attachment_fn fn, void *ctx, twin_node *n,
                        const git_oid *at, const char *id);
/* Marks a record withdrawn (the tombstone; history is never rewritten). */
int twin_ops_withdraw(git_oid *commit_out, twin_node *n, const char *id);

/* Reads a record at a commit (NULL: the head). type may be NULL to search every type. */
int twin_ops_get(json_t **out, twin_node *n, const git_oid *at, const char *type, const char *id);

/* The shortest prefix of a record id twin_ops_resolve_id takes, as git takes 4 hex digits of a
 * commit's name. */
#define TWIN_ID_PREFIX_MIN 8

/* The record id that arg names at commit at (NULL: the head): a whole id is taken as it is,
 * without a lookup; a prefix of TWIN_ID_PREFIX_MIN or more of its characters (any case) names the
 * one record of any type whose id begins so. TWIN_EINVALID for what cannot begin an id, is too
 * short, or begins the ids of more than one record (the error names a few of them);
 * TWIN_ENOTFOUND when no record's id begins so. type_out (may be NULL) gets the record's type from
 * the table of types when a prefix was looked up, else NULL. */
int twin_ops_resolve_id(char out[static TWIN_ID_LEN + 1], const char **type_out, twin_node *n,
                        const git_oid *at, const char *arg);

/* The network's membership at commit at (NULL: the head). Free with twin_membership_free. */
int twin_ops_members(struct twin_membership **out, twin_node *n, const git_oid *at);

/* Calls fn for every record of type (every type when NULL) at commit at (NULL: the head), grouped
 * by type, in storage order (sort by id for creation order: ids are time-ordered). fn may keep
 * rec with json_incref. */
int twin_ops_foreach(twin_node *n, const git_oid *at, const char *type,
                     int (*fn)(json_t *rec, void *ctx), void *ctx);

/* As twin_ops_foreach, but in the order of an export: types by name, and within each type records
 * by id (their files' names), each read as it is given: a type's bucket trees are held while its
 * records are read, never the records themselves. */
int twin_ops_foreach_by_id(twin_node *n, const git_oid *at, const char *type,
                           int (*fn)(json_t *rec, void *ctx), void *ctx);

/* As twin_ops_foreach over every type, but only for the envelopes of sealed records: every
 * record file is read (through twin's pack reader where a pack holds it, else libgit2), and only
 * those whose canonical bytes hold an envelope are parsed, so a record in the clear costs a read
 * and a scan of its bytes. */
int twin_ops_foreach_envelope(twin_node *n, const git_oid *at, int (*fn)(json_t *rec, void *ctx),
                              void *ctx);

/* Which records: of type (NULL: all), matching every FIELD=VALUE in where, withdrawn ones only
 * with all. */
struct twin_selection {
    const char *type;
    const char *const *where; /* "path=value" strings */
    size_t nwhere;
    bool all;
};

/* Whether sel selects rec, its type aside: 1 or 0, or TWIN_EINVALID when a where is not
 * FIELD=VALUE. */
int twin_ops_selected(const struct twin_selection *sel, const json_t *rec);

/* Adds a member institution with one key. Only an admin may. When the policy needs several
 * admins this records a proposal instead (twin_node_last_proposal names it). */
int twin_ops_member_add(git_oid *commit_out, twin_node *n, const struct twin_identity *who,
                        const char *role, const unsigned char pk[static TWIN_PUBKEY_BYTES]);

/* twin_ops_member_add for an editor whose writing is limited to the partnerships its
 * institution takes part in (member.scope "own-partnerships") when own_partnerships is set. */
int twin_ops_member_add_scoped(git_oid *commit_out, twin_node *n, const struct twin_identity *who,
                               const char *role, const unsigned char pk[static TWIN_PUBKEY_BYTES],
                               bool own_partnerships);

/* Marks one of a member's keys revoked (admins): commits it signs after this are invalid, the
 * ones before stay valid. */
int twin_ops_member_revoke_key(git_oid *commit_out, twin_node *n, const char *org_id,
                               const unsigned char pk[static TWIN_PUBKEY_BYTES]);

/* Gives an existing member another active key (admins; a proposal when the policy needs several
 * admins): how an institution that lost its key, or had it revoked, gets back in. */
int twin_ops_member_add_key(git_oid *commit_out, twin_node *n, const char *org_id,
                            const unsigned char pk[static TWIN_PUBKEY_BYTES]);

/* The descriptive fields of a member (twin_ops_member_set); NULL leaves a field as it is. */
struct twin_member_fields {
    const char *name, *country, *org_type, *side;
};

/* Changes the descriptive fields of member org_id, each checked as twin_node_init checks it
 * (country code, IATI organisation type code, side). An admin may change any member's; a member
 * that is not an admin only its own name and org type (TWIN_EDENIED for anything more). A
 * member's change of its own name and org type needs no approval; any other change is a proposal
 * when the policy needs several admins (twin_node_last_proposal names it). TWIN_ENOTFOUND for an
 * unknown member; TWIN_EINVALID when no field is given or nothing would change. */
int twin_ops_member_set(git_oid *commit_out, twin_node *n, const char *org_id,
                        const struct twin_member_fields *fields);

/* Removes a member (admins): its history stays valid, its later commits are refused. */
int twin_ops_member_remove(git_oid *commit_out, twin_node *n, const char *org_id);

/* Gives this node a new key: the member file gains it (active) and retires the old one, in a
 * commit the old key signs; then node.key is replaced. It completes or is undone as a whole:
 * see twin_ops_key_rotation_settle. */
int twin_ops_key_rotate(git_oid *commit_out, twin_node *n);

/* Settles what a rotation cut short left behind: temporary key files are removed, and
 * node.key.new is put in place when the membership at the head names it for this node's
 * member, or removed when it does not; node.key is read again when this waited for another
 * process's rotation. When history cannot be read the files are left as they are (and an error
 * returned). A rotation in progress in another process is given wait_ms to end; if it has not,
 * nothing is touched. twin_ops_open calls it. */
int twin_ops_key_rotation_settle(twin_node *n, int wait_ms);

/* Opens a node for use (twin_node_open) and settles a key rotation another process left in
 * progress or cut short (twin_ops_key_rotation_settle); should settling fail, the node still
 * opens with the key it has, and a warning on standard error says why. Every front end opens
 * nodes this way. */
int twin_ops_open(twin_node **out, const char *dir);

/* Takes the rotation lock (waiting for a rotation in progress), so that the key files hold
 * still: for a backup. Release it with close(). */
int twin_ops_key_lock(int *fd_out, twin_node *n);

/* Approves a proposal (admins; governance.h). The approval that reaches the policy's threshold
 * also writes the change; *applied says whether this one did. */
int twin_ops_approve(git_oid *commit_out, bool *applied, twin_node *n, const char *proposal_id);

/* Sets how many admin institutions must approve membership and policy changes. Like those
 * changes, it is itself a proposal when the current policy needs more than one admin. */
int twin_ops_set_admin_threshold(git_oid *commit_out, twin_node *n, int threshold);

/* Turns on the policy that personal data is written only in sealed records (proto/SEALED.md 7):
 * for networks founded before twin_init set it. It never turns off. A proposal when the policy
 * needs several admins; TWIN_EEXISTS when it is on already. */
int twin_ops_seal_personal(git_oid *commit_out, twin_node *n);

/* Puts record rules of version rules (up to TWIN_RULES_CURRENT, membership.h) in force from the
 * next commit on: for networks founded before twin_init set the newest. Rules never go back:
 * TWIN_EEXISTS when they are at rules already, TWIN_EINVALID when above or outside the known
 * versions. A proposal when the policy needs several admins. */
int twin_ops_set_rules(git_oid *commit_out, twin_node *n, int rules);
/* Sets the cap on attachments (network.json policy.attachment_max_bytes; README "Attachments"):
 * from 1 byte to TWIN_ATTACHMENT_MAX_BYTES, the default, which removes the field. It may go down
 * or up within that range; attachments already in the history stay. A proposal when the policy
 * needs several admins. TWIN_EEXISTS when it is the cap already. */
int twin_ops_set_attachment_max(git_oid *commit_out, twin_node *n, size_t bytes);

/* Batched writes (twin/batch.h): the same changes, checked the same way, each its own signed
 * commit, written together at twin_batch_flush (or every flush_every commits when > 0). The node
 * must be allowed to write records. */
int twin_ops_batch_begin(twin_batch **out, twin_node *n, size_t flush_every);
int twin_ops_batch_add(char id_out[static TWIN_ID_LEN + 1], git_oid *commit_out, twin_batch *b,
                       const char *type, twin_record_edit_fn fn, void *ctx);
/* twin_ops_batch_add for a sealed record (twin_ops_add_sealed). */
int twin_ops_batch_add_sealed(char id_out[static TWIN_ID_LEN + 1], git_oid *commit_out,
                              twin_batch *b, const char *type, const struct twin_audience *audience,
                              twin_record_edit_fn fn, void *ctx);
int twin_ops_batch_update(git_oid *commit_out, twin_batch *b, const char *id, const char *verb,
                          twin_record_edit_fn fn, void *ctx);

#endif
