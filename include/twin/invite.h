/*
 * Joining by invite. An admin's node makes a one-line token that names the network, the
 * inviter's address and node key, the role offered and a single-use secret. The new
 * institution's node connects with it (the handshake proves the inviter is who the token says),
 * presents the secret and its identity, and the inviter adds it as a member by a signed commit;
 * then the two sync as usual. The inviter keeps only a hash of each secret, under
 * <node>/invites/, and a claim removes it, so no token works twice.
 */
#ifndef TWIN_INVITE_H
#define TWIN_INVITE_H

#include <stdbool.h>
#include <stdint.h>

#include "twin/channel.h"
#include "twin/key.h"
#include "twin/msg.h"
#include "twin/node.h"
#include "twin/sync.h"

#define TWIN_INVITE_DEFAULT_TTL (7 * 24 * 3600) /* seconds */
#define TWIN_INVITE_MAX_TTL     (365 * 24 * 3600)
#define TWIN_INVITE_TOKEN_MAX   2400
#define TWIN_INVITE_PREFIX      "twin-invite-1."

struct twin_invite {
    char network_id[TWIN_NETWORK_ID_LEN + 1];
    char address[256]; /* host:port of the inviter's node */
    unsigned char inviter[TWIN_PUBKEY_BYTES];
    char inviter_org[128];
    char role[16];
    int64_t expires; /* seconds since the epoch */
    unsigned char secret[TWIN_INVITE_SECRET_BYTES];
    /* An invite for an existing member (one that lost its key, or had it revoked): its identity
     * as the membership holds it, so its new node joins under it with a new key. org_id is ""
     * in an invite for a new institution. */
    struct {
        char org_id[128], name[TWIN_MSG_IDENTITY_MAX + 1], country[8], side[16], org_type[16];
    } member;
};

/* Makes an invite on an admin's node: stores the hash of a fresh secret and hands back the
 * token (malloc'd). address is where partners reach this node (host:port). With member set
 * (an org id), the invite is for that existing member: its claim adds the joining node's key to
 * it (role is then the member's, and ignored). */
int twin_invite_create(char **token_out, struct twin_invite *out, twin_node *n, const char *address,
                       const char *role, int64_t ttl_seconds, const char *member);

/* Reads a token; TWIN_EINVALID names what is wrong with it. Expiry is not checked here. */
int twin_invite_parse(struct twin_invite *out, const char *token);

/* Whether the node at dir holds an invite that has not expired (so an unknown key may connect
 * to present it). */
bool twin_invite_pending(const char *dir);

/* The inviter's side of a session with a node that is not yet a member: reads its claim, checks
 * and spends the invite, adds the member, answers welcome or refuse. who_out names the new
 * member (org id) for the log. Once admitted, the joiner becomes a peer of this node, named by
 * its org id, at the address its claim gives; note_out says what came of that for the log
 * ("now a peer at HOST:PORT", or why there is no peer entry), "" when the claim was refused. */
int twin_invite_respond(twin_node *n, twin_channel *ch, char *who_out, size_t who_cap,
                        char *note_out, size_t note_cap);

/* The joiner's side: creates a node at dir for who, presents the invite, and on welcome syncs
 * the history from the inviter (recorded as a peer, with that first sync as its last). When the
 * claim is refused the new node is removed again, so the command can be repeated. For an invite
 * that names an existing member, who must be that member's identity (twin join takes it from the
 * token). address (NULL: none) is where partners will reach the new node (HOST:PORT): the claim
 * carries it so that the inviter adds the new node as its peer there, and the node keeps it as
 * its address for its own invites. */
int twin_invite_join(twin_node **out, struct twin_sync_stats *st, const char *dir,
                     const char *token, const struct twin_identity *who, const char *address);

#endif
