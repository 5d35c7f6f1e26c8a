/*
 * Invites. The token is "twin-invite-1." followed by the URL-safe base64 of a small JSON object;
 * the inviter's node keeps <node>/invites/<hash of the secret>.json with the role and expiry.
 * Spending an invite is a rename of that file, which only one claim can win.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include "twin/invite.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "twin/membership.h"
#include "twin/error.h"
#include "twin/ops.h"
#include "twin/peers.h"
#include "twin/record.h"
#include "twin/syncrun.h"
#include "base/util.h"

#define INVITES_DIR     "invites"
#define INVITE_FILE_MAX 4096
#define INVITE_JSON_MAX 1600
#define HASH_HEX        (2 * crypto_generichash_BYTES + 1)
#define CLAIMED_SUFFIX  ".claimed"

static void hex(char *out, const unsigned char *p, size_t n)
{
    sodium_bin2hex(out, 2 * n + 1, p, n);
}

static int unhex(unsigned char *out, size_t n, const char *text)
{
    size_t got = 0;
    if (!text || strlen(text) != 2 * n ||
        sodium_hex2bin(out, n, text, 2 * n, NULL, &got, NULL) != 0 || got != n)
        return -1;
    return 0;
}

/* <dir>/invites/<hash>.json for a secret. */
static void invite_path(char *out, size_t size, const char *dir,
                        const unsigned char secret[TWIN_INVITE_SECRET_BYTES])
{
    unsigned char h[crypto_generichash_BYTES];
    char h_hex[HASH_HEX];
    crypto_generichash(h, sizeof(h), secret, TWIN_INVITE_SECRET_BYTES,
                       (const unsigned char *)"twin invite v1", 14);
    hex(h_hex, h, sizeof(h));
    snprintf(out, size, "%s/" INVITES_DIR "/%s.json", dir, h_hex);
}

/* Whether this node is an admin at its head: only admins may invite. With member set, also
 * copies that member's identity into inv (it must exist and not be removed). */
static int require_admin(twin_node *n, const char *member, struct twin_invite *inv)
{
    git_oid head;
    git_commit *c = NULL;
    git_tree *tree = NULL;
    struct twin_membership *m = NULL;
    int rc = twin_node_head(&head, n);
    if (rc)
        return rc;
    if (git_commit_lookup(&c, twin_node_repo(n), &head) < 0 || git_commit_tree(&tree, c) < 0)
        rc = twin_error_git("reading the head");
    else if ((rc = twin_membership_load(&m, twin_node_repo(n), tree)) == 0) {
        enum twin_key_state state;
        const struct twin_member *me = twin_membership_find_key(m, twin_node_key(n)->pk, &state);
        const struct twin_member *who = member ? twin_membership_find(m, member) : NULL;
        if (!me || state != TWIN_KEY_ACTIVE || me->role != TWIN_ROLE_ADMIN)
            rc = twin_error(TWIN_EDENIED, "only an admin may invite; this node is %s",
                            me ? twin_membership_role_name(me->role) : "not a member");
        else if (member && !who)
            rc = twin_error(TWIN_ENOTFOUND,
                            "no member %s (invite a new institution without "
                            "--member)",
                            member);
        else if (who && who->removed)
            rc = twin_error(TWIN_EINVALID, "%s was removed from the network", member);
        else if (who && (strlen(who->name) >= sizeof(inv->member.name) ||
                         strlen(who->country) >= sizeof(inv->member.country) ||
                         strlen(who->side) >= sizeof(inv->member.side) ||
                         (who->org_type && strlen(who->org_type) >= sizeof(inv->member.org_type))))
            rc = twin_error(TWIN_ELIMIT, "%s's identity is too long for an invite", member);
        else if (who) {
            snprintf(inv->member.org_id, sizeof(inv->member.org_id), "%s", who->org_id);
            snprintf(inv->member.name, sizeof(inv->member.name), "%s", who->name);
            snprintf(inv->member.country, sizeof(inv->member.country), "%s", who->country);
            snprintf(inv->member.side, sizeof(inv->member.side), "%s", who->side);
            snprintf(inv->member.org_type, sizeof(inv->member.org_type), "%s",
                     who->org_type ? who->org_type : "");
            snprintf(inv->role, sizeof(inv->role), "%s", twin_membership_role_name(who->role));
        }
    }
    twin_membership_free(m);
    git_tree_free(tree);
    git_commit_free(c);
    return rc;
}

static int write_new_file(const char *path, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0)
        return twin_error(TWIN_ERROR, "cannot create %s: %s", path, strerror(errno));
    size_t len = strlen(text);
    ssize_t n = write(fd, text, len);
    int ok = n == (ssize_t)len && fsync(fd) == 0;
    close(fd);
    if (!ok) {
        unlink(path);
        return twin_error(TWIN_ERROR, "cannot write %s: %s", path, strerror(errno));
    }
    return 0;
}

int twin_invite_create(char **token_out, struct twin_invite *out, twin_node *n, const char *address,
                       const char *role, int64_t ttl_seconds, const char *member)
{
    struct twin_invite inv = {0};
    enum twin_role r;
    char host[256], port[8], path[4200], *text = NULL;
    *token_out = NULL;
    int rc = twin_membership_role_parse(&r, role);
    if (rc)
        return rc;
    if (ttl_seconds < 1 || ttl_seconds > TWIN_INVITE_MAX_TTL)
        return twin_error(TWIN_EINVALID, "an invite lasts from one second to one year");
    if (!address || (rc = twin_peers_address_parse_reachable(host, port, address, "an invite's")))
        return address ? rc
                       : twin_error(TWIN_EINVALID,
                                    "no address for partners to reach this node: give --address "
                                    "HOST:PORT (or run twin serve, which records it)");
    snprintf(inv.role, sizeof(inv.role), "%s", twin_membership_role_name(r));
    if ((rc = require_admin(n, member, &inv)))
        return rc;
    snprintf(inv.network_id, sizeof(inv.network_id), "%s", twin_node_network_id(n));
    snprintf(inv.address, sizeof(inv.address), "%s", address);
    memcpy(inv.inviter, twin_node_key(n)->pk, TWIN_PUBKEY_BYTES);
    snprintf(inv.inviter_org, sizeof(inv.inviter_org), "%s", twin_node_org_id(n));
    inv.expires = twin_util_clock_now() + ttl_seconds;
    randombytes_buf(inv.secret, sizeof(inv.secret));

    snprintf(path, sizeof(path), "%s/" INVITES_DIR, twin_node_dir(n));
    if (mkdir(path, 0700) != 0 && errno != EEXIST)
        return twin_error(TWIN_ERROR, "cannot create %s: %s", path, strerror(errno));
    invite_path(path, sizeof(path), twin_node_dir(n), inv.secret);
    json_t *stored =
        json_pack("{s:s, s:I, s:I}", "role", inv.role, "expires", (json_int_t)inv.expires,
                  "created", (json_int_t)twin_util_clock_now());
    if (stored && inv.member.org_id[0])
        json_object_set_new(stored, "member", json_string(inv.member.org_id));
    char *stored_text = stored ? json_dumps(stored, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(stored);
    if (!stored_text)
        return twin_error(TWIN_ERROR, "out of memory");
    rc = write_new_file(path, stored_text);
    free(stored_text);
    if (rc)
        return rc;

    char key_hex[2 * TWIN_PUBKEY_BYTES + 1], secret_hex[2 * TWIN_INVITE_SECRET_BYTES + 1];
    hex(key_hex, inv.inviter, sizeof(inv.inviter));
    hex(secret_hex, inv.secret, sizeof(inv.secret));
    json_t *t = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:I, s:s}", "v", 1, "n", inv.network_id,
                          "a", inv.address, "k", key_hex, "o", inv.inviter_org, "r", inv.role, "e",
                          (json_int_t)inv.expires, "s", secret_hex);
    if (t && inv.member.org_id[0]) {
        json_t *who = json_pack("{s:s, s:s, s:s, s:s}", "o", inv.member.org_id, "n",
                                inv.member.name, "c", inv.member.country, "s", inv.member.side);
        if (who && inv.member.org_type[0])
            json_object_set_new(who, "t", json_string(inv.member.org_type));
        json_object_set_new(t, "m", who);
    }
    text = t ? json_dumps(t, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(t);
    sodium_memzero(secret_hex, sizeof(secret_hex));
    size_t enc_len =
        text ? sodium_base64_ENCODED_LEN(strlen(text), sodium_base64_VARIANT_URLSAFE_NO_PADDING)
             : 0;
    /* The prefix without its NUL, then the base64 text and the NUL that enc_len counts. */
    size_t plen = sizeof(TWIN_INVITE_PREFIX) - 1;
    char *token = text ? malloc(plen + enc_len) : NULL;
    if (!token) {
        free(text);
        unlink(path);
        return twin_error(TWIN_ERROR, "out of memory");
    }
    memcpy(token, TWIN_INVITE_PREFIX, plen);
    sodium_bin2base64(token + plen, enc_len, (unsigned char *)text, strlen(text),
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    sodium_memzero(text, strlen(text));
    free(text);
    *token_out = token;
    if (out)
        *out = inv;
    sodium_memzero(&inv, sizeof(inv));
    return 0;
}

static const char *field(const json_t *j, const char *key)
{
    return json_string_value(json_object_get(j, key));
}

int twin_invite_parse(struct twin_invite *out, const char *token)
{
    memset(out, 0, sizeof(*out));
    size_t plen = strlen(TWIN_INVITE_PREFIX);
    if (!token || strncmp(token, TWIN_INVITE_PREFIX, plen) != 0)
        return twin_error(TWIN_EINVALID, "not a twin invite: it should start with %s",
                          TWIN_INVITE_PREFIX);
    const char *b64 = token + plen;
    size_t b64_len = strlen(b64);
    while (b64_len &&
           (b64[b64_len - 1] == '\n' || b64[b64_len - 1] == '\r' || b64[b64_len - 1] == ' '))
        b64_len--;
    unsigned char raw[INVITE_JSON_MAX + 1];
    size_t raw_len = 0;
    if (strlen(token) > TWIN_INVITE_TOKEN_MAX ||
        sodium_base642bin(raw, INVITE_JSON_MAX, b64, b64_len, NULL, &raw_len, NULL,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING) != 0)
        return twin_error(TWIN_EINVALID, "the invite is damaged (not the text twin invite printed; "
                                         "was it cut short?)");
    json_error_t jerr;
    json_t *j = json_loadb((const char *)raw, raw_len, JSON_REJECT_DUPLICATES, &jerr);
    sodium_memzero(raw, sizeof(raw));
    if (!json_is_object(j)) {
        json_decref(j);
        return twin_error(TWIN_EINVALID, "the invite is damaged: its content is not readable");
    }
    int rc = 0;
    char host[256], port[8];
    const char *role = field(j, "r"), *addr = field(j, "a"), *net = field(j, "n");
    const char *org = field(j, "o");
    enum twin_role r;
    if (json_integer_value(json_object_get(j, "v")) != 1)
        rc = twin_error(TWIN_EINVALID, "this invite is of a version this twin does not know");
    else if (!net || !twin_node_network_id_valid(net))
        rc = twin_error(TWIN_EINVALID, "the invite is damaged: no valid network id");
    else if (!addr || strlen(addr) >= sizeof(out->address) ||
             twin_peers_address_parse_reachable(host, port, addr, "an invite's") != 0)
        rc = twin_error(TWIN_EINVALID, "the invite is damaged: no valid address");
    else if (unhex(out->inviter, TWIN_PUBKEY_BYTES, field(j, "k")))
        rc = twin_error(TWIN_EINVALID, "the invite is damaged: no valid inviter key");
    else if (!org || !twin_record_org_id_valid(org) || strlen(org) >= sizeof(out->inviter_org))
        rc = twin_error(TWIN_EINVALID, "the invite is damaged: no valid inviter");
    else if (!role || twin_membership_role_parse(&r, role) != 0)
        rc = twin_error(TWIN_EINVALID, "the invite is damaged: no valid role");
    else if (!json_is_integer(json_object_get(j, "e")))
        rc = twin_error(TWIN_EINVALID, "the invite is damaged: no expiry");
    else if (unhex(out->secret, TWIN_INVITE_SECRET_BYTES, field(j, "s")))
        rc = twin_error(TWIN_EINVALID, "the invite is damaged: no valid secret");
    json_t *member = json_object_get(j, "m");
    if (rc == 0 && member) {
        const char *mo = field(member, "o"), *mn = field(member, "n"), *mc = field(member, "c"),
                   *ms = field(member, "s"), *mt = field(member, "t");
        if (!json_is_object(member) || !mo || !twin_record_org_id_valid(mo) ||
            strlen(mo) >= sizeof(out->member.org_id) || !mn || !*mn ||
            strlen(mn) >= sizeof(out->member.name) || !mc ||
            strlen(mc) >= sizeof(out->member.country) || !ms ||
            strlen(ms) >= sizeof(out->member.side) ||
            (json_object_get(member, "t") && (!mt || strlen(mt) >= sizeof(out->member.org_type))))
            rc = twin_error(TWIN_EINVALID, "the invite is damaged: no valid member identity");
        else {
            snprintf(out->member.org_id, sizeof(out->member.org_id), "%s", mo);
            snprintf(out->member.name, sizeof(out->member.name), "%s", mn);
            snprintf(out->member.country, sizeof(out->member.country), "%s", mc);
            snprintf(out->member.side, sizeof(out->member.side), "%s", ms);
            snprintf(out->member.org_type, sizeof(out->member.org_type), "%s", mt ? mt : "");
        }
    } else if (rc == 0) {
        memset(&out->member, 0, sizeof(out->member));
    }
    if (rc == 0) {
        snprintf(out->network_id, sizeof(out->network_id), "%s", net);
        snprintf(out->address, sizeof(out->address), "%s", addr);
        snprintf(out->inviter_org, sizeof(out->inviter_org), "%s", org);
        snprintf(out->role, sizeof(out->role), "%s", role);
        out->expires = (int64_t)json_integer_value(json_object_get(j, "e"));
    } else {
        sodium_memzero(out, sizeof(*out));
    }
    json_decref(j);
    return rc;
}

/* Reads an invite file: its role and expiry, and (when member is not NULL) the existing member
 * it is for, "" for a new institution. */
static int read_invite_file(char role[16], int64_t *expires, char member[128], const char *path)
{
    char buf[INVITE_FILE_MAX];
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    ssize_t n = read(fd, buf, sizeof(buf) - 1);
    close(fd);
    if (n <= 0)
        return -1;
    json_t *j = json_loadb(buf, (size_t)n, 0, NULL);
    const char *r = field(j, "role");
    const char *mo = field(j, "member");
    int rc = r && strlen(r) < 16 && json_is_integer(json_object_get(j, "expires")) &&
                     (!json_object_get(j, "member") || (mo && strlen(mo) < 128))
                 ? 0
                 : -1;
    if (rc == 0) {
        if (member)
            snprintf(member, 128, "%s", mo ? mo : "");
        snprintf(role, 16, "%s", r);
        *expires = (int64_t)json_integer_value(json_object_get(j, "expires"));
    }
    json_decref(j);
    return rc;
}

bool twin_invite_pending(const char *dir)
{
    char path[4200];
    snprintf(path, sizeof(path), "%s/" INVITES_DIR, dir);
    DIR *d = opendir(path);
    if (!d)
        return false;
    bool pending = false;
    struct dirent *e;
    int64_t now = twin_util_clock_now();
    while (!pending && (e = readdir(d))) {
        size_t len = strlen(e->d_name);
        if (len < 6 || strcmp(e->d_name + len - 5, ".json") != 0)
            continue;
        char file[4500], role[16];
        int64_t expires;
        snprintf(file, sizeof(file), "%s/%s", path, e->d_name);
        pending = read_invite_file(role, &expires, NULL, file) == 0 && expires >= now;
    }
    closedir(d);
    return pending;
}

static int answer_refuse(twin_channel *ch, const char *reason)
{
    twin_msg m = {.type = TWIN_MSG_REFUSE};
    m.u.refuse.code = TWIN_REFUSE_NOT_MEMBER;
    snprintf(m.u.refuse.reason, sizeof(m.u.refuse.reason), "%s", reason);
    twin_channel_send(ch, &m);
    twin_channel_goodbye(ch, TWIN_GOODBYE_DONE);
    return twin_error(TWIN_EDENIED, "%s", reason);
}

/* After an accepted claim: the joiner as a peer of this node, named by its org id, at the address
 * it gave. Says what came of it in note; never fails the claim. */
static void add_joiner_peer(char *note, size_t note_cap, twin_node *n, const char *org,
                            const char *address, const unsigned char key[TWIN_PUBKEY_BYTES])
{
    char line[TWIN_OPENSSH_PUB_MAX];
    if (!address[0]) {
        snprintf(note, note_cap,
                 "no peer entry: it gave no address (add one with: twin peer add %.64s "
                 "HOST:PORT NODEKEY)",
                 org);
        return;
    }
    twin_key_format_openssh(line, key);
    if (twin_peers_add(n, org, address, line) == 0)
        snprintf(note, note_cap, "now a peer at %s", address);
    else
        snprintf(note, note_cap, "not added as a peer at %.256s: %s", address, twin_error_last());
    twin_error_clear();
}

int twin_invite_respond(twin_node *n, twin_channel *ch, char *who_out, size_t who_cap,
                        char *note_out, size_t note_cap)
{
    twin_msg m;
    char path[4200], claimed[4300], role[16], member[128], reason[700];
    int64_t expires = 0;
    snprintf(who_out, who_cap, "?");
    if (note_cap)
        note_out[0] = '\0';
    int rc = twin_channel_recv(ch, &m);
    if (rc)
        return rc;
    if (m.type != TWIN_MSG_CLAIM) {
        /* A refuse, not an error: a node that rotated its key reads it as its new key not being
         * known here yet, and opens the session again with the key it replaced. */
        twin_msg e = {.type = TWIN_MSG_REFUSE};
        e.u.refuse.code = TWIN_REFUSE_NOT_MEMBER;
        snprintf(e.u.refuse.reason, sizeof(e.u.refuse.reason),
                 "this node serves members and configured peers; a node that is neither may only "
                 "present an invite");
        twin_channel_send(ch, &e);
        /* The type's name is read before twin_msg_clear zeroes the message. */
        const char *type = twin_msg_type_name(m.type);
        twin_msg_clear(&m);
        return twin_error(TWIN_EDENIED, "a key that is not a member sent %s instead of a claim",
                          type ? type : "a message");
    }
    snprintf(who_out, who_cap, "%s", m.u.claim.org_id);
    invite_path(path, sizeof(path), twin_node_dir(n), m.u.claim.secret);
    snprintf(claimed, sizeof(claimed), "%s" CLAIMED_SUFFIX, path);
    sodium_memzero(m.u.claim.secret, sizeof(m.u.claim.secret));
    if (rename(path, claimed) != 0) {
        twin_msg_clear(&m);
        return answer_refuse(ch,
                             "this invite is unknown to the inviting node, or was already used");
    }
    if (read_invite_file(role, &expires, member, claimed) != 0) {
        unlink(claimed);
        twin_msg_clear(&m);
        return answer_refuse(ch, "the inviting node cannot read this invite; ask for a new one");
    }
    if (twin_util_clock_now() > expires) {
        char when[TWIN_UTIL_TIME_BYTES];
        twin_util_format_time(when, expires);
        unlink(claimed);
        twin_msg_clear(&m);
        snprintf(reason, sizeof(reason), "this invite expired at %s; ask for a new one", when);
        return answer_refuse(ch, reason);
    }
    struct twin_identity who = {m.u.claim.name, m.u.claim.org_id, m.u.claim.country, m.u.claim.side,
                                m.u.claim.org_type[0] ? m.u.claim.org_type : NULL};
    git_oid commit;
    if (member[0] && strcmp(member, m.u.claim.org_id) != 0) {
        snprintf(reason, sizeof(reason), "this invite is for member %s, not %.128s", member,
                 m.u.claim.org_id);
        twin_msg_clear(&m);
        if (rename(claimed, path) != 0)
            unlink(claimed);
        return answer_refuse(ch, reason);
    }
    /* An invite for an existing member gives it the joining node's key; any other admits a new
     * institution. */
    rc = member[0] ? twin_ops_member_add_key(&commit, n, member, twin_channel_peer_node(ch))
                   : twin_ops_member_add(&commit, n, &who, role, twin_channel_peer_node(ch));
    if (rc == 0 && note_cap)
        add_joiner_peer(note_out, note_cap, n, m.u.claim.org_id, m.u.claim.address,
                        twin_channel_peer_node(ch));
    twin_msg_clear(&m);
    if (rc) {
        /* The invite stays good: a mistake in the identity should not spend it. */
        if (rename(claimed, path) != 0)
            unlink(claimed);
        snprintf(reason, sizeof(reason), "the inviting node could not add this member: %s",
                 twin_error_last());
        return answer_refuse(ch, reason);
    }
    unlink(claimed);
    twin_msg w = {.type = TWIN_MSG_WELCOME};
    /* When the policy needs several admins, the member-add is a proposal: the joiner hears
     * which one, and is a member once it is approved. */
    const char *proposal = twin_node_last_proposal(n);
    if (proposal)
        snprintf(w.u.welcome.role, sizeof(w.u.welcome.role), "pending %s", proposal);
    else
        snprintf(w.u.welcome.role, sizeof(w.u.welcome.role), "%s", role);
    memcpy(w.u.welcome.head, commit.id, TWIN_OID_BYTES);
    if ((rc = twin_channel_send(ch, &w)) == 0)
        twin_channel_goodbye(ch, TWIN_GOODBYE_DONE);
    return rc;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

/* Presents the invite on a fresh channel; 0 on welcome. */
static int claim(twin_node *n, const struct twin_invite *inv, const struct twin_identity *who,
                 const char *address, char *role_out, size_t role_cap)
{
    char host[256], port[8];
    twin_channel *ch = NULL;
    twin_channel_config cfg = {.key = twin_node_key(n), .network_id = inv->network_id};
    int rc = twin_peers_address_parse(host, port, inv->address);
    if (rc == 0 && (rc = twin_channel_connect(&ch, host, port, inv->inviter, &cfg)))
        rc = twin_error_wrap(rc, "reaching the inviting node at %s", inv->address);
    twin_msg m = {.type = TWIN_MSG_CLAIM}, answer;
    if (rc == 0) {
        memcpy(m.u.claim.secret, inv->secret, TWIN_INVITE_SECRET_BYTES);
        snprintf(m.u.claim.name, sizeof(m.u.claim.name), "%s", who->name);
        snprintf(m.u.claim.org_id, sizeof(m.u.claim.org_id), "%s", who->org_id);
        snprintf(m.u.claim.country, sizeof(m.u.claim.country), "%s", who->country);
        snprintf(m.u.claim.side, sizeof(m.u.claim.side), "%s", who->side);
        snprintf(m.u.claim.org_type, sizeof(m.u.claim.org_type), "%s",
                 who->org_type ? who->org_type : "");
        snprintf(m.u.claim.address, sizeof(m.u.claim.address), "%s", address ? address : "");
        rc = twin_channel_send(ch, &m);
        sodium_memzero(&m, sizeof(m));
    }
    if (rc == 0 && (rc = twin_channel_recv(ch, &answer)) == 0) {
        if (answer.type == TWIN_MSG_REFUSE)
            rc = twin_error(TWIN_EDENIED, "the inviting node refused: %s", answer.u.refuse.reason);
        else if (answer.type == TWIN_MSG_ERROR)
            rc = twin_error(TWIN_EDENIED, "the inviting node answered: %s", answer.u.error.message);
        else if (answer.type != TWIN_MSG_WELCOME)
            rc = twin_error(TWIN_ERROR, "the inviting node answered %s instead of welcome",
                            twin_msg_type_name(answer.type) ?: "an unknown message");
        else
            snprintf(role_out, role_cap, "%s", answer.u.welcome.role);
        twin_msg_clear(&answer);
    }
    twin_channel_free(ch);
    return rc;
}

int twin_invite_join(twin_node **out, struct twin_sync_stats *st, const char *dir,
                     const char *token, const struct twin_identity *who, const char *address)
{
    struct twin_invite inv;
    twin_node *n = NULL;
    char host[256], port[8];
    *out = NULL;
    if (address && (strlen(address) > TWIN_MSG_IDENTITY_MAX ||
                    twin_peers_address_parse_reachable(host, port, address, "this node's") != 0))
        return twin_error(TWIN_EINVALID,
                          "--address '%.300s' is not where partners can reach this node "
                          "(HOST:PORT, [ADDRESS]:PORT for IPv6, the port 1-65535)",
                          address);
    int rc = twin_invite_parse(&inv, token);
    if (rc)
        return rc;
    if (twin_util_clock_now() > inv.expires) {
        char when[TWIN_UTIL_TIME_BYTES];
        twin_util_format_time(when, inv.expires);
        rc = twin_error(TWIN_EINVALID, "this invite expired at %s; ask %s for a new one", when,
                        inv.inviter_org);
        sodium_memzero(&inv, sizeof(inv));
        return rc;
    }
    if ((rc = twin_node_init(&n, dir, who, NULL, NULL, inv.network_id))) {
        sodium_memzero(&inv, sizeof(inv));
        return rc;
    }
    char role[TWIN_MSG_IDENTITY_MAX + 1] = "";
    if ((rc = claim(n, &inv, who, address, role, sizeof(role)))) {
        /* Nothing was admitted: take the new node away again, so the join can be repeated. */
        char *keep = strdup(twin_error_last());
        twin_node_free(n);
        nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
        rc = twin_error(rc, "%s", keep ? keep : "the claim failed");
        free(keep);
        sodium_memzero(&inv, sizeof(inv));
        return rc;
    }
    char peer_key[TWIN_OPENSSH_PUB_MAX];
    struct twin_peer inviter;
    twin_key_format_openssh(peer_key, inv.inviter);
    rc = twin_peers_add(n, inv.inviter_org, inv.address, peer_key);
    if (rc == 0 && address)
        rc = twin_node_config_set(n, "twin.address", address);
    if (rc == 0 && strncmp(role, "pending ", 8) == 0) {
        rc = twin_error(TWIN_EPENDING,
                        "the network's policy needs more admin approvals: the inviter recorded "
                        "proposal %s; once admins approve it (twin approve), run twin sync",
                        role + 8);
        sodium_memzero(&inv, sizeof(inv));
        *out = n;
        return rc;
    }
    /* The first sync runs as any later one does, so the peer entry records it. */
    if (rc == 0 && (rc = twin_peers_get(&inviter, n, inv.inviter_org)) == 0) {
        char line[1200];
        rc = twin_syncrun_peer_stats(line, sizeof(line), n, &inviter, NULL, st);
    }
    if (rc)
        rc = twin_error_wrap(rc,
                             "admitted as a member, but the first sync with %s failed (run "
                             "twin sync to try again)",
                             inv.inviter_org);
    sodium_memzero(&inv, sizeof(inv));
    *out = n;
    return rc;
}
