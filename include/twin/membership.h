/*
 * The membership registry: the network descriptor (network.json) and one file per member
 * institution (members/<org-id>.json): who belongs to the network, with which role and keys. The
 * membership in force for a commit is the one in its parent's tree, so authority is positional in
 * history, never by clock.
 */
#ifndef TWIN_MEMBERSHIP_H
#define TWIN_MEMBERSHIP_H

#include <git2.h>
#include <jansson.h>
#include <stdbool.h>

#include "twin/key.h"
#include "twin/node.h"

#define TWIN_NETWORK_PATH    "network.json"
#define TWIN_MEMBERS_DIR     "members"
#define TWIN_MEMBER_MAX_KEYS 16
#define TWIN_MEMBERS_MAX     1000
#define TWIN_SCOPE_OWN       "own-partnerships" /* member.scope: writing limited to them */

enum twin_role { TWIN_ROLE_OBSERVER, TWIN_ROLE_EDITOR, TWIN_ROLE_ADMIN };
/* The states a member file gives a key; twin_membership_find_key also reports the keys of a
 * removed member as TWIN_KEY_MEMBER_REMOVED, a state never stored. */
enum twin_key_state {
    TWIN_KEY_ACTIVE,
    TWIN_KEY_REVOKED,
    TWIN_KEY_RETIRED,
    TWIN_KEY_MEMBER_REMOVED
};

struct twin_member_key {
    unsigned char pk[TWIN_PUBKEY_BYTES];
    enum twin_key_state state;
};

struct twin_member {
    char *org_id, *name, *country, *side, *org_type;
    enum twin_role role;
    bool removed;          /* left the network: its keys sign nothing from then on */
    bool own_partnerships; /* an editor that may write only in the partnerships it is part of */
    size_t nkeys;
    struct twin_member_key keys[TWIN_MEMBER_MAX_KEYS];
};

/* The newest version of the record rules a network may put in force (network.json
 * policy.rules; README "Rules across fields"). A network founded by this twin starts at it. */
#define TWIN_RULES_CURRENT 2

struct twin_membership {
    char network_id[TWIN_NETWORK_ID_LEN + 1];
    char *network_name;
    int admin_threshold;
    bool sealed_personal;  /* policy: personal fields only in sealed records (SEALED.md 7) */
    int rules;             /* policy: the version of the record rules in force, 1 when not given */
    size_t attachment_max; /* policy: the largest attachment (twin/attachment.h) */
    size_t count;
    struct twin_member *members;
};

const char *twin_membership_role_name(enum twin_role role);
const char *twin_membership_key_state_name(enum twin_key_state state);
int twin_membership_role_parse(enum twin_role *out, const char *name);

/* The network id of a descriptor's founding fields: a hash of them, in lowercase hex. */
void twin_membership_network_id(char out[static TWIN_NETWORK_ID_LEN + 1], const char *name,
                                const char *created, const char *nonce, const char *founder_key);

/* The version of the record rules a network descriptor puts in force: policy.rules, else 1. */
int twin_membership_rules(const json_t *net);

/* Checks a network descriptor: fields, and that its id is derived from its founding fields. */
int twin_membership_check_descriptor(const json_t *net);

/* Checks a member file and that its name matches its org-id. */
int twin_membership_check_member(const json_t *member, const char *file_org_id);

/* Checks a change of one member file from old to cur (both well formed, same org), made by a
 * member who is an admin or not, signing with signer: keys stay listed, states never return to
 * active, revoked stays revoked, removal is final. A non-admin changes only its own file (the
 * caller checks whose file it is), and there only its name and org_type, and its key by a
 * rotation (one new active key added last, the signing key retired); the error names what else
 * changed. Governance lets such a change of a member's own file through without approvals. */
int twin_membership_check_change(const json_t *old, const json_t *cur, bool by_admin,
                                 const unsigned char signer[static TWIN_PUBKEY_BYTES]);

/* Builds the canonical JSON of a member file. */
json_t *twin_membership_member_json(const struct twin_identity *who, const char *role,
                                    const unsigned char pk[static TWIN_PUBKEY_BYTES]);

/* Loads the membership of a tree (network.json and members/). */
int twin_membership_load(struct twin_membership **out, git_repository *repo, const git_tree *root);
void twin_membership_free(struct twin_membership *m);

/* The membership at node n's head: 0 with *out, TWIN_ENOHISTORY when n has no history yet, or
 * another error when the head or its membership cannot be read. */
int twin_membership_at_head(struct twin_membership **out, twin_node *n);

const struct twin_member *twin_membership_find_key(const struct twin_membership *m,
                                                   const unsigned char pk[TWIN_PUBKEY_BYTES],
                                                   enum twin_key_state *state);
const struct twin_member *twin_membership_find(const struct twin_membership *m, const char *org_id);

#endif
