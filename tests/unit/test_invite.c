/* Invites: tokens made on an admin's node and read back, every field of a damaged or tampered
 * token refused by name, expiry, roles and invites for existing members; and claims end to end
 * on loopback, against a listener that serves as twin serve does (members sync, any other key
 * may only present an invite): a claim admits the new institution once, whatever the token
 * says about role and expiry the inviter's own record decides, and a refused claim leaves no
 * node behind and, unless spent, the invite good. */
#define _XOPEN_SOURCE 700 /* nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <time.h>

#include "helpers.h"
#include "twin/invite.h"
#include "twin/listener.h"
#include "twin/membership.h"
#include "twin/network.h"
#include "twin/node.h"
#include "twin/ops.h"
#include "twin/peers.h"
#include "twin/sync.h"
#include "twin/global.h"

#define WAIT_MS 30000

static const struct twin_identity admin_who = {"Ministry of Finance of Exampleland",
                                               "XE-EXAMPLE-MOF", "NL", "north", "10"};
static const struct twin_identity editor_who = {"Revenue Authority of Samplestan", "XE-EXAMPLE-RA",
                                                "TZ", "south", "10"};
static const struct twin_identity new_who = {"National Audit Office of Newland", "XE-EXAMPLE-NEW",
                                             "KE", "south", NULL};
static const struct twin_identity other_who = {"Statistics Office of Otherland", "XE-EXAMPLE-OTH",
                                               "GH", "south", NULL};

/* ---- the inviting node, served as twin serve serves it -------------------------------------- */

struct env {
    struct fixture *f;
    char admin_dir[160], editor_dir[160], address[64];
    twin_node *admin, *editor; /* the editor is a member, with the history */
    twin_listener *l;
    pthread_mutex_t lock;
    pthread_cond_t changed;
    int claims, syncs;      /* sessions that have ended */
    int claim_rc[8];        /* twin_invite_respond's result, per claim */
    char claim_who[8][300]; /* and whom it names */
    char claim_error[8][600];
    char log[16384];
};

static void capture_log(void *ctx, int level, const char *line)
{
    struct env *e = ctx;
    pthread_mutex_lock(&e->lock);
    size_t used = strlen(e->log);
    snprintf(e->log + used, sizeof(e->log) - used, "%s\n", line);
    pthread_mutex_unlock(&e->lock);
}

/* Members and configured peers sync; any other key may present an invite. (twin serve lets
 * other keys in only while an invite is open; this server always does, so that claims of
 * spent and expired invites reach twin_invite_respond.) */
static int authorize(void *ctx, const unsigned char node[TWIN_PUBKEY_BYTES], char *reason,
                     size_t cap)
{
    struct env *e = ctx;
    return twin_sync_authorize(e->admin_dir, node, reason, cap) == 0 ? 0 : TWIN_CHANNEL_ADMIT_CLAIM;
}

static void session(void *ctx, twin_channel *ch)
{
    struct env *e = ctx;
    twin_node *n = NULL;
    char who[300] = "", error[600] = "", note[700] = "";
    bool claim = twin_channel_admission(ch) == TWIN_CHANNEL_ADMIT_CLAIM;
    int rc = twin_ops_open(&n, e->admin_dir);
    if (rc == 0 && claim)
        rc = twin_invite_respond(n, ch, who, sizeof(who), note, sizeof(note));
    else if (rc == 0) {
        struct twin_sync_stats st;
        rc = twin_sync_respond(&st, n, ch);
    }
    snprintf(error, sizeof(error), "%s", rc ? twin_error_last() : "");
    twin_node_free(n);
    pthread_mutex_lock(&e->lock);
    if (claim && e->claims < 8) {
        e->claim_rc[e->claims] = rc;
        snprintf(e->claim_who[e->claims], sizeof(e->claim_who[0]), "%s", who);
        snprintf(e->claim_error[e->claims], sizeof(e->claim_error[0]), "%s", error);
    }
    if (claim)
        e->claims++;
    else
        e->syncs++;
    pthread_cond_broadcast(&e->changed);
    pthread_mutex_unlock(&e->lock);
}

/* Waits (bounded) until n claim sessions have ended. */
static void wait_claims(struct env *e, int n)
{
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += WAIT_MS / 1000;
    pthread_mutex_lock(&e->lock);
    while (e->claims < n)
        if (pthread_cond_timedwait(&e->changed, &e->lock, &deadline) == ETIMEDOUT)
            break;
    int got = e->claims;
    pthread_mutex_unlock(&e->lock);
    if (got < n)
        fail_msg("%d claim sessions ended, not %d; the listener's log:\n%s", got, n, e->log);
}

/* The claim session that named org, once n have ended. */
static int claim_by(struct env *e, int n, const char *org)
{
    wait_claims(e, n);
    for (int i = 0; i < n && i < 8; i++)
        if (strcmp(e->claim_who[i], org) == 0)
            return i;
    fail_msg("no claim session named %s", org);
    return -1;
}

static int setup(void **state)
{
    struct env *e = calloc(1, sizeof(*e));
    git_oid commit;
    if (!e || fixture_setup((void **)&e->f))
        return -1;
    pthread_mutex_init(&e->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init(&attr);
    pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
    pthread_cond_init(&e->changed, &attr);
    pthread_condattr_destroy(&attr);
    snprintf(e->admin_dir, sizeof(e->admin_dir), "%s/north", e->f->dir);
    snprintf(e->editor_dir, sizeof(e->editor_dir), "%s/south", e->f->dir);
    if (twin_network_create(&e->admin, e->admin_dir, &admin_who, "Example Tax Twinning") ||
        twin_node_init(&e->editor, e->editor_dir, &editor_who, NULL, NULL,
                       twin_node_network_id(e->admin)) ||
        twin_ops_member_add(&commit, e->admin, &editor_who, "editor",
                            twin_node_key(e->editor)->pk)) {
        print_error("setup: %s\n", twin_error_last());
        return -1;
    }
    pull(e->editor, e->admin);
    twin_listener_config cfg = {
        .host = "127.0.0.1",
        .port = "0",
        .channel = {.key = twin_node_key(e->admin),
                    .network_id = twin_node_network_id(e->admin),
                    .authorize = authorize,
                    .authorize_ctx = e},
        .session = session,
        .session_ctx = e,
        .log = capture_log,
        .log_ctx = e,
    };
    if (twin_listener_start(&e->l, &cfg)) {
        print_error("listener: %s\n", twin_error_last());
        return -1;
    }
    snprintf(e->address, sizeof(e->address), "127.0.0.1:%d", twin_listener_port(e->l));
    *state = e;
    return 0;
}

static int teardown(void **state)
{
    struct env *e = *state;
    unsetenv("TWIN_TEST_CLOCK_SKEW");
    twin_listener_stop(e->l);
    twin_node_free(e->admin);
    twin_node_free(e->editor);
    pthread_cond_destroy(&e->changed);
    pthread_mutex_destroy(&e->lock);
    void *f = e->f;
    fixture_teardown(&f);
    free(e);
    return 0;
}

/* ---- tokens, taken apart and put together again --------------------------------------------- */

static json_t *token_json(const char *token)
{
    const char *b64 = token + strlen(TWIN_INVITE_PREFIX);
    unsigned char raw[4096];
    size_t len = 0;
    assert_int_equal(strncmp(token, TWIN_INVITE_PREFIX, strlen(TWIN_INVITE_PREFIX)), 0);
    assert_int_equal(sodium_base642bin(raw, sizeof(raw), b64, strlen(b64), NULL, &len, NULL,
                                       sodium_base64_VARIANT_URLSAFE_NO_PADDING),
                     0);
    json_t *j = json_loadb((const char *)raw, len, 0, NULL);
    assert_non_null(j);
    return j;
}

static char *token_of_text(const char *text, size_t len)
{
    size_t enc = sodium_base64_ENCODED_LEN(len, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    char *token = malloc(strlen(TWIN_INVITE_PREFIX) + enc);
    assert_non_null(token);
    strcpy(token, TWIN_INVITE_PREFIX);
    sodium_bin2base64(token + strlen(TWIN_INVITE_PREFIX), enc, (const unsigned char *)text, len,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    return token;
}

static char *token_of(const json_t *j)
{
    char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    assert_non_null(text);
    char *token = token_of_text(text, strlen(text));
    free(text);
    return token;
}

/* The token with field key set to value (NULL: removed). */
static char *token_with(const char *token, const char *key, json_t *value)
{
    json_t *j = token_json(token);
    if (value)
        json_object_set_new(j, key, value);
    else
        json_object_del(j, key);
    char *out = token_of(j);
    json_decref(j);
    return out;
}

static char *make_token(struct env *e, struct twin_invite *inv, const char *role, int64_t ttl,
                        const char *member)
{
    char *token = NULL;
    if (twin_invite_create(&token, inv, e->admin, e->address, role, ttl, member))
        fail_msg("invite: %s", twin_error_last());
    return token;
}

static size_t invite_files(struct env *e)
{
    char path[200];
    size_t n = 0;
    snprintf(path, sizeof(path), "%s/invites", e->admin_dir);
    DIR *d = opendir(path);
    if (!d)
        return 0;
    struct dirent *de;
    while ((de = readdir(d)))
        n += strstr(de->d_name, ".json") != NULL;
    closedir(d);
    return n;
}

static void assert_same_invite(const struct twin_invite *a, const struct twin_invite *b)
{
    assert_string_equal(a->network_id, b->network_id);
    assert_string_equal(a->address, b->address);
    assert_memory_equal(a->inviter, b->inviter, TWIN_PUBKEY_BYTES);
    assert_string_equal(a->inviter_org, b->inviter_org);
    assert_string_equal(a->role, b->role);
    assert_int_equal(a->expires, b->expires);
    assert_memory_equal(a->secret, b->secret, TWIN_INVITE_SECRET_BYTES);
    assert_string_equal(a->member.org_id, b->member.org_id);
    assert_string_equal(a->member.name, b->member.name);
    assert_string_equal(a->member.country, b->member.country);
    assert_string_equal(a->member.side, b->member.side);
    assert_string_equal(a->member.org_type, b->member.org_type);
}

static void assert_parse_refused(const char *token, const char *part)
{
    struct twin_invite inv;
    memset(&inv, 0x55, sizeof(inv));
    assert_error(twin_invite_parse(&inv, token), TWIN_EINVALID, part);
    /* Nothing of a refused token is handed back, the secret least of all. */
    struct twin_invite zero;
    memset(&zero, 0, sizeof(zero));
    assert_memory_equal(&inv, &zero, sizeof(inv));
}

/* ---- making and reading tokens -------------------------------------------------------------- */

static void a_token_reads_back_as_it_was_made(void **state)
{
    struct env *e = *state;
    struct twin_invite made, read;
    int64_t before = (int64_t)time(NULL);
    char *token = make_token(e, &made, "editor", 3600, NULL);
    int64_t after = (int64_t)time(NULL);
    assert_int_equal(strncmp(token, "twin-invite-1.", 14), 0);
    assert_true(strlen(token) < TWIN_INVITE_TOKEN_MAX);
    assert_null(strpbrk(token + 14, "+/=\n ")); /* URL-safe base64, no padding, one line */

    assert_int_equal(twin_invite_parse(&read, token), 0);
    assert_string_equal(read.network_id, twin_node_network_id(e->admin));
    assert_string_equal(read.address, e->address);
    assert_memory_equal(read.inviter, twin_node_key(e->admin)->pk, TWIN_PUBKEY_BYTES);
    assert_string_equal(read.inviter_org, "XE-EXAMPLE-MOF");
    assert_string_equal(read.role, "editor");
    assert_true(read.expires >= before + 3600 && read.expires <= after + 3600);
    assert_string_equal(read.member.org_id, "");
    assert_memory_equal(read.secret, made.secret, TWIN_INVITE_SECRET_BYTES);
    assert_same_invite(&read, &made);

    /* As pasted from a terminal: a final newline and spaces are no part of it. */
    char pasted[TWIN_INVITE_TOKEN_MAX + 8];
    snprintf(pasted, sizeof(pasted), "%s \r\n", token);
    assert_int_equal(twin_invite_parse(&read, pasted), 0);
    assert_same_invite(&read, &made);
    free(token);
}

static void the_inviter_keeps_only_a_private_record_of_each_invite(void **state)
{
    struct env *e = *state;
    struct twin_invite one, two;
    assert_false(twin_invite_pending(e->admin_dir));
    char *t1 = make_token(e, &one, "editor", 3600, NULL);
    char *t2 = make_token(e, &two, "observer", 3600, NULL);
    assert_memory_not_equal(one.secret, two.secret, TWIN_INVITE_SECRET_BYTES);
    assert_true(twin_invite_pending(e->admin_dir));
    assert_int_equal(invite_files(e), 2);

    char path[200];
    struct stat st;
    snprintf(path, sizeof(path), "%s/invites", e->admin_dir);
    assert_int_equal(stat(path, &st), 0);
    assert_int_equal(st.st_mode & 0777, 0700);
    /* Each file is the owner's alone and holds no secret: the name is a hash of it. */
    DIR *d = opendir(path);
    struct dirent *de;
    char hex1[2 * TWIN_INVITE_SECRET_BYTES + 1], hex2[sizeof(hex1)];
    sodium_bin2hex(hex1, sizeof(hex1), one.secret, TWIN_INVITE_SECRET_BYTES);
    sodium_bin2hex(hex2, sizeof(hex2), two.secret, TWIN_INVITE_SECRET_BYTES);
    while ((de = readdir(d))) {
        if (!strstr(de->d_name, ".json"))
            continue;
        char file[600];
        snprintf(file, sizeof(file), "%s/%s", path, de->d_name);
        assert_int_equal(stat(file, &st), 0);
        assert_int_equal(st.st_mode & 0777, 0600);
        char *text = read_text(file, NULL);
        assert_null(strstr(text, hex1));
        assert_null(strstr(text, hex2));
        assert_null(strstr(de->d_name, hex1));
        assert_non_null(strstr(text, "\"role\""));
        free(text);
    }
    closedir(d);
    free(t1);
    free(t2);
}

static void every_role_may_be_offered(void **state)
{
    struct env *e = *state;
    const char *roles[] = {"admin", "editor", "observer"};
    for (size_t i = 0; i < 3; i++) {
        struct twin_invite made, read;
        char *token = make_token(e, &made, roles[i], 60, NULL);
        assert_int_equal(twin_invite_parse(&read, token), 0);
        assert_string_equal(read.role, roles[i]);
        free(token);
    }
    /* The longest an invite may last. */
    struct twin_invite made;
    char *token = make_token(e, &made, "editor", TWIN_INVITE_MAX_TTL, NULL);
    assert_true(made.expires - (int64_t)time(NULL) > TWIN_INVITE_MAX_TTL - 60);
    free(token);
}

static void making_an_invite_refuses_bad_arguments_and_writes_nothing(void **state)
{
    struct env *e = *state;
    char *token = (char *)"untouched";
    struct twin_invite inv;
    assert_error(twin_invite_create(&token, &inv, e->admin, e->address, "chief", 60, NULL),
                 TWIN_EINVALID, "role 'chief' is not one of admin | editor | observer");
    assert_null(token);
    assert_error(twin_invite_create(&token, &inv, e->admin, e->address, "editor", 0, NULL),
                 TWIN_EINVALID, "an invite lasts from one second to one year");
    assert_error(twin_invite_create(&token, &inv, e->admin, e->address, "editor", -5, NULL),
                 TWIN_EINVALID, "an invite lasts from one second to one year");
    assert_error(twin_invite_create(&token, &inv, e->admin, e->address, "editor",
                                    TWIN_INVITE_MAX_TTL + 1, NULL),
                 TWIN_EINVALID, "an invite lasts from one second to one year");
    assert_error(twin_invite_create(&token, &inv, e->admin, NULL, "editor", 60, NULL),
                 TWIN_EINVALID,
                 "no address for partners to reach this node: give --address HOST:PORT");
    assert_error(twin_invite_create(&token, &inv, e->admin, "127.0.0.1", "editor", 60, NULL),
                 TWIN_EINVALID, "'127.0.0.1' is not HOST:PORT");
    /* Port 0 is where a node listens on any free port, never where a partner can reach it. */
    assert_error(twin_invite_create(&token, &inv, e->admin, "127.0.0.1:0", "editor", 60, NULL),
                 TWIN_EINVALID, "'127.0.0.1:0': an invite's port cannot be 0");
    assert_error(twin_invite_create(&token, &inv, e->admin, "[::1]:00", "editor", 60, NULL),
                 TWIN_EINVALID, "an invite's port cannot be 0");
    assert_error(
        twin_invite_create(&token, &inv, e->admin, e->address, "editor", 60, "XE-EXAMPLE-NONE"),
        TWIN_ENOTFOUND, "no member XE-EXAMPLE-NONE (invite a new institution without --member)");
    assert_null(token);
    assert_int_equal(invite_files(e), 0);
    assert_false(twin_invite_pending(e->admin_dir));
}

static void only_an_admin_may_invite(void **state)
{
    struct env *e = *state;
    char *token = NULL;
    struct twin_invite inv;
    assert_error(twin_invite_create(&token, &inv, e->editor, "192.0.2.9:7447", "editor", 60, NULL),
                 TWIN_EDENIED, "only an admin may invite; this node is editor");
    assert_null(token);
    assert_false(twin_invite_pending(e->editor_dir));

    /* A node that has joined but holds no history cannot tell whether it is an admin. */
    char dir[200];
    twin_node *fresh = NULL;
    snprintf(dir, sizeof(dir), "%s/fresh", e->f->dir);
    assert_int_equal(
        twin_node_init(&fresh, dir, &other_who, NULL, NULL, twin_node_network_id(e->admin)), 0);
    assert_int_equal(twin_invite_create(&token, &inv, fresh, "192.0.2.9:7447", "editor", 60, NULL),
                     TWIN_ENOHISTORY);
    assert_null(token);
    twin_node_free(fresh);
}

static void an_invite_for_a_member_carries_its_identity_and_role(void **state)
{
    struct env *e = *state;
    struct twin_invite made, read;
    /* The role asked for is the member's own, whatever is given. */
    char *token = make_token(e, &made, "observer", 600, "XE-EXAMPLE-RA");
    assert_string_equal(made.role, "editor");
    assert_int_equal(twin_invite_parse(&read, token), 0);
    assert_string_equal(read.role, "editor");
    assert_string_equal(read.member.org_id, "XE-EXAMPLE-RA");
    assert_string_equal(read.member.name, "Revenue Authority of Samplestan");
    assert_string_equal(read.member.country, "TZ");
    assert_string_equal(read.member.side, "south");
    assert_string_equal(read.member.org_type, "10");
    assert_same_invite(&read, &made);
    free(token);

    /* A member that left the network cannot be invited back under its identity. */
    git_oid commit;
    char *none = NULL;
    assert_int_equal(twin_ops_member_remove(&commit, e->admin, "XE-EXAMPLE-RA"), 0);
    assert_error(
        twin_invite_create(&none, &made, e->admin, e->address, "editor", 600, "XE-EXAMPLE-RA"),
        TWIN_EINVALID, "XE-EXAMPLE-RA was removed from the network");
    assert_null(none);
}

/* ---- reading damaged and tampered tokens ---------------------------------------------------- */

static void text_that_is_not_a_token_is_refused(void **state)
{
    const char *prefix = "not a twin invite: it should start with twin-invite-1.";
    assert_parse_refused(NULL, prefix);
    assert_parse_refused("", prefix);
    assert_parse_refused("twin-invite-2.eyJ2IjoxfQ", prefix);
    assert_parse_refused("TWIN-INVITE-1.eyJ2IjoxfQ", prefix);
    assert_parse_refused(" twin-invite-1.eyJ2IjoxfQ", prefix);
    assert_parse_refused("twin-invite-1", prefix);
    assert_parse_refused("twin-invite-1.", "the invite is damaged: its content is not readable");
    assert_parse_refused("twin-invite-1.eyJ2Ijox*Q", "the invite is damaged (not the text twin "
                                                     "invite printed; was it cut short?)");
    assert_parse_refused("twin-invite-1.eyJ2IjoxfQ==", "the invite is damaged (not the text");
    /* Base64 of text that is not a JSON object. */
    char *t = token_of_text("[1,2]", 5);
    assert_parse_refused(t, "the invite is damaged: its content is not readable");
    free(t);
    t = token_of_text("{\"v\":1,\"v\":1}", 13);
    assert_parse_refused(t, "the invite is damaged: its content is not readable");
    free(t);
}

static void a_token_cut_short_or_too_long_is_refused(void **state)
{
    struct env *e = *state;
    struct twin_invite made;
    char *token = make_token(e, &made, "editor", 600, NULL);
    size_t len = strlen(token);
    /* Every cut, from the prefix on, is refused as damaged. */
    for (size_t cut = strlen(TWIN_INVITE_PREFIX); cut < len; cut++) {
        char *shorter = strndup(token, cut);
        struct twin_invite inv;
        assert_int_equal(twin_invite_parse(&inv, shorter), TWIN_EINVALID);
        if (!strstr(twin_error_last(), "the invite is damaged"))
            fail_msg("cut at %zu: \"%s\"", cut, twin_error_last());
        free(shorter);
    }
    free(token);

    /* Longer than any token twin makes, even when it holds a valid one. */
    char *long_token = malloc(TWIN_INVITE_TOKEN_MAX + 2);
    assert_non_null(long_token);
    strcpy(long_token, TWIN_INVITE_PREFIX);
    memset(long_token + strlen(TWIN_INVITE_PREFIX), 'A',
           TWIN_INVITE_TOKEN_MAX + 1 - strlen(TWIN_INVITE_PREFIX));
    long_token[TWIN_INVITE_TOKEN_MAX + 1] = '\0';
    assert_parse_refused(long_token, "the invite is damaged (not the text twin invite printed");
    free(long_token);
}

struct tamper {
    const char *key;
    json_t *value; /* NULL: the field removed */
    const char *message;
};

static void a_field_out_of_place_is_refused_naming_it(void **state)
{
    struct env *e = *state;
    struct twin_invite made;
    char *token = make_token(e, &made, "editor", 600, NULL);
    char long_address[300];
    memset(long_address, 'a', 280);
    snprintf(long_address + 280, sizeof(long_address) - 280, ":7447");
    char hex_key[2 * TWIN_PUBKEY_BYTES + 1];
    sodium_bin2hex(hex_key, sizeof(hex_key), made.inviter, TWIN_PUBKEY_BYTES);
    hex_key[10] = 'g';
    const char *net = "the invite is damaged: no valid network id";
    const char *addr = "the invite is damaged: no valid address";
    const char *key = "the invite is damaged: no valid inviter key";
    const char *org = "the invite is damaged: no valid inviter";
    const char *role = "the invite is damaged: no valid role";
    const char *exp = "the invite is damaged: no expiry";
    const char *sec = "the invite is damaged: no valid secret";
    const char *ver = "this invite is of a version this twin does not know";
    struct tamper cases[] = {
        {"v", json_integer(2), ver},
        {"v", json_string("1"), ver},
        {"v", NULL, ver},
        {"n", json_string("0123456789ABCDEF0123456789ABCDEF"), net},
        {"n", json_string("0123456789abcdef"), net},
        {"n", json_integer(7), net},
        {"n", NULL, net},
        {"a", json_string("127.0.0.1"), addr},
        {"a", json_string("127.0.0.1:99999"), addr},
        {"a", json_string("127.0.0.1:0"), addr},
        {"a", json_string(long_address), addr},
        {"a", NULL, addr},
        {"k", json_string(hex_key), key},
        {"k", json_string("abcdef"), key},
        {"k", NULL, key},
        {"o", json_string("X"), org},
        {"o", json_string("XE EXAMPLE MOF"), org},
        {"o", NULL, org},
        {"r", json_string("chief"), role},
        {"r", json_string("Editor"), role},
        {"r", NULL, role},
        {"e", json_string("soon"), exp},
        {"e", json_real(1e12), exp},
        {"e", NULL, exp},
        {"s", json_string("00"), sec},
        {"s", json_string("zz"), sec},
        {"s", NULL, sec},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *bad = token_with(token, cases[i].key, cases[i].value);
        struct twin_invite inv;
        int rc = twin_invite_parse(&inv, bad);
        if (rc != TWIN_EINVALID || strcmp(twin_error_last(), cases[i].message) != 0)
            fail_msg("field %s (case %zu): %d \"%s\", not \"%s\"", cases[i].key, i, rc,
                     twin_error_last(), cases[i].message);
        free(bad);
    }
    /* A secret that is not hex, of the right length. */
    json_t *j = token_json(token);
    char secret[2 * TWIN_INVITE_SECRET_BYTES + 1];
    snprintf(secret, sizeof(secret), "%s", json_string_value(json_object_get(j, "s")));
    secret[5] = 'x';
    json_object_set_new(j, "s", json_string(secret));
    char *bad = token_of(j);
    assert_parse_refused(bad, sec);
    free(bad);
    json_decref(j);
    free(token);
}

static void a_member_identity_out_of_place_is_refused(void **state)
{
    struct env *e = *state;
    struct twin_invite made;
    char *token = make_token(e, &made, "editor", 600, "XE-EXAMPLE-RA");
    char long_name[TWIN_MSG_IDENTITY_MAX + 8];
    memset(long_name, 'n', sizeof(long_name) - 1);
    long_name[sizeof(long_name) - 1] = '\0';
    struct tamper cases[] = {
        {"o", json_string("X"), NULL},
        {"o", NULL, NULL},
        {"n", json_string(""), NULL},
        {"n", json_string(long_name), NULL},
        {"c", json_string("TZTZTZTZ"), NULL},
        {"c", NULL, NULL},
        {"s", json_string("a-side-far-too-long"), NULL},
        {"s", NULL, NULL},
        {"t", json_integer(10), NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *j = token_json(token);
        json_t *m = json_object_get(j, "m");
        if (cases[i].value)
            json_object_set_new(m, cases[i].key, cases[i].value);
        else
            json_object_del(m, cases[i].key);
        char *bad = token_of(j);
        json_decref(j);
        struct twin_invite inv;
        int rc = twin_invite_parse(&inv, bad);
        if (rc != TWIN_EINVALID ||
            strcmp(twin_error_last(), "the invite is damaged: no valid member identity") != 0)
            fail_msg("member field %s (case %zu): %d \"%s\"", cases[i].key, i, rc,
                     twin_error_last());
        free(bad);
    }
    char *bad = token_with(token, "m", json_string("XE-EXAMPLE-RA"));
    assert_parse_refused(bad, "the invite is damaged: no valid member identity");
    free(bad);
    free(token);
}

/* A bit flipped anywhere in the token's content: refused naming the invite, or, where the flip
 * leaves every field well formed (a digit of the port, the expiry or the secret, the case of a
 * hex digit), read as another invite, which the handshake or the inviter's record then turns
 * away: the token carries no integrity check of its own. */
static void a_flipped_bit_anywhere_is_refused_or_read_as_another_invite(void **state)
{
    struct env *e = *state;
    struct twin_invite made;
    char *token = make_token(e, &made, "editor", 600, NULL);
    json_t *j = token_json(token);
    char *text = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
    size_t len = strlen(text), refused = 0, read_back = 0;
    json_decref(j);
    for (size_t i = 0; i < len; i++) {
        for (unsigned bit = 1; bit < 0x80; bit <<= 1) {
            char *flipped = strdup(text);
            flipped[i] = (char)(flipped[i] ^ bit);
            char *bad = token_of_text(flipped, len);
            struct twin_invite inv;
            int rc = twin_invite_parse(&inv, bad);
            if (rc == 0) {
                read_back++;
            } else {
                refused++;
                assert_int_equal(rc, TWIN_EINVALID);
                if (!strstr(twin_error_last(), "invite"))
                    fail_msg("flip at %zu: \"%s\" does not name the invite", i, twin_error_last());
            }
            free(bad);
            free(flipped);
        }
    }
    print_message("%zu flips refused, %zu read as another invite\n", refused, read_back);
    assert_true(refused > read_back);
    free(text);
    free(token);
}

/* ---- expiry --------------------------------------------------------------------------------- */

static void an_invite_past_its_expiry_is_no_longer_pending(void **state)
{
    struct env *e = *state;
    struct twin_invite made;
    char *token = make_token(e, &made, "editor", 60, NULL);
    assert_true(twin_invite_pending(e->admin_dir));
    setenv("TWIN_TEST_CLOCK_SKEW", "59", 1);
    assert_true(twin_invite_pending(e->admin_dir));
    setenv("TWIN_TEST_CLOCK_SKEW", "120", 1);
    assert_false(twin_invite_pending(e->admin_dir));
    unsetenv("TWIN_TEST_CLOCK_SKEW");
    free(token);
}

static void joining_with_an_expired_invite_makes_nothing(void **state)
{
    struct env *e = *state;
    struct twin_invite made;
    char *token = make_token(e, &made, "editor", 60, NULL), dir[200], expect[160], when[32];
    time_t t = (time_t)made.expires;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", &tm);
    snprintf(expect, sizeof(expect), "this invite expired at %s; ask XE-EXAMPLE-MOF for a new one",
             when);
    snprintf(dir, sizeof(dir), "%s/newland", e->f->dir);
    setenv("TWIN_TEST_CLOCK_SKEW", "3600", 1);
    twin_node *joined = (twin_node *)&joined;
    struct twin_sync_stats st;
    assert_error(twin_invite_join(&joined, &st, dir, token, &new_who, NULL), TWIN_EINVALID, expect);
    unsetenv("TWIN_TEST_CLOCK_SKEW");
    assert_null(joined);
    assert_int_not_equal(access(dir, F_OK), 0);
    assert_int_equal(e->claims, 0); /* the inviter was not even asked */
    free(token);
}

/* ---- claims --------------------------------------------------------------------------------- */

static twin_node *join_ok(struct env *e, const char *name, const char *token,
                          const struct twin_identity *who)
{
    char dir[200];
    twin_node *joined = NULL;
    struct twin_sync_stats st;
    snprintf(dir, sizeof(dir), "%s/%s", e->f->dir, name);
    if (twin_invite_join(&joined, &st, dir, token, who, NULL))
        fail_msg("join: %s; the listener's log:\n%s", twin_error_last(), e->log);
    assert_non_null(joined);
    return joined;
}

/* The join is refused with a message holding part, and leaves no node behind. */
static void join_refused(struct env *e, const char *name, const char *token,
                         const struct twin_identity *who, const char *part)
{
    char dir[200];
    twin_node *joined = (twin_node *)&joined;
    struct twin_sync_stats st;
    snprintf(dir, sizeof(dir), "%s/%s", e->f->dir, name);
    assert_error(twin_invite_join(&joined, &st, dir, token, who, NULL), TWIN_EDENIED, part);
    assert_null(joined);
    assert_int_not_equal(access(dir, F_OK), 0);
}

static const struct twin_member *member_at_head(struct twin_membership **m, twin_node *n,
                                                const char *org)
{
    assert_int_equal(twin_membership_at_head(m, n), 0);
    return twin_membership_find(*m, org);
}

static void a_claim_admits_the_institution_and_its_first_sync_brings_the_history(void **state)
{
    struct env *e = *state;
    struct twin_invite made;
    char *token = make_token(e, &made, "editor", 600, NULL);
    twin_node *joined = join_ok(e, "newland", token, &new_who);

    /* Both nodes hold the same history, which names the newcomer an editor with its key. */
    git_oid ours, theirs;
    assert_int_equal(twin_node_head(&ours, e->admin), 0);
    assert_int_equal(twin_node_head(&theirs, joined), 0);
    assert_true(git_oid_equal(&ours, &theirs));
    struct twin_membership *m = NULL;
    const struct twin_member *who = member_at_head(&m, joined, "XE-EXAMPLE-NEW");
    assert_non_null(who);
    assert_int_equal(who->role, TWIN_ROLE_EDITOR);
    assert_string_equal(who->name, new_who.name);
    enum twin_key_state key_state;
    assert_ptr_equal(twin_membership_find_key(m, twin_node_key(joined)->pk, &key_state), who);
    assert_int_equal(key_state, TWIN_KEY_ACTIVE);
    twin_membership_free(m);
    assert_string_equal(twin_node_network_id(joined), twin_node_network_id(e->admin));

    /* The inviter is now the newcomer's peer. */
    struct twin_peer p;
    assert_int_equal(twin_peers_get(&p, joined, "XE-EXAMPLE-MOF"), 0);
    assert_memory_equal(p.key, twin_node_key(e->admin)->pk, TWIN_PUBKEY_BYTES);
    assert_string_equal(p.host, "127.0.0.1");

    /* The invite is spent, and the claim was logged by whom it admitted. */
    assert_int_equal(e->claim_rc[claim_by(e, 1, "XE-EXAMPLE-NEW")], 0);
    assert_int_equal(invite_files(e), 0);
    assert_false(twin_invite_pending(e->admin_dir));
    twin_node_free(joined);
    free(token);
}

static void the_inviter_adds_the_joiner_as_a_peer_at_the_address_it_gives(void **state)
{
    struct env *e = *state;
    struct twin_invite made;
    char *token = make_token(e, &made, "editor", 600, NULL);
    char dir[200];
    twin_node *joined = NULL;
    struct twin_sync_stats st;
    snprintf(dir, sizeof(dir), "%s/newland", e->f->dir);
    if (twin_invite_join(&joined, &st, dir, token, &new_who, "127.0.0.1:7999"))
        fail_msg("join: %s; the listener's log:\n%s", twin_error_last(), e->log);
    int i = claim_by(e, 1, "XE-EXAMPLE-NEW");
    assert_int_equal(e->claim_rc[i], 0);
    struct twin_peer p;
    assert_int_equal(twin_peers_get(&p, e->admin, "XE-EXAMPLE-NEW"), 0);
    assert_string_equal(p.host, "127.0.0.1");
    assert_string_equal(p.port, "7999");
    assert_memory_equal(p.key, twin_node_key(joined)->pk, TWIN_PUBKEY_BYTES);
    /* The joiner's first sync with its inviter is recorded as the peer's last. */
    assert_int_equal(twin_peers_get(&p, joined, "XE-EXAMPLE-MOF"), 0);
    assert_true(p.last_time > 0);
    assert_non_null(strstr(p.last_result, "ok: received"));
    twin_node_free(joined);
    free(token);
}

static void without_an_address_the_joiner_is_no_peer_and_a_bad_one_is_refused(void **state)
{
    struct env *e = *state;
    struct twin_invite made;
    char *token = make_token(e, &made, "editor", 600, NULL);
    char dir[200];
    twin_node *joined = (twin_node *)&joined;
    struct twin_sync_stats st;
    snprintf(dir, sizeof(dir), "%s/newland", e->f->dir);
    assert_error(twin_invite_join(&joined, &st, dir, token, &new_who, "127.0.0.1:0"), TWIN_EINVALID,
                 "--address '127.0.0.1:0' is not where partners can reach this node");
    assert_null(joined);
    assert_int_not_equal(access(dir, F_OK), 0);
    assert_int_equal(e->claims, 0);
    joined = join_ok(e, "newland", token, &new_who);
    struct twin_peer p;
    assert_int_equal(twin_peers_get(&p, e->admin, "XE-EXAMPLE-NEW"), TWIN_ENOTFOUND);
    twin_node_free(joined);
    free(token);
}

static void an_invite_works_once(void **state)
{
    struct env *e = *state;
    struct twin_invite made;
    char *token = make_token(e, &made, "editor", 600, NULL);
    twin_node *joined = join_ok(e, "newland", token, &new_who);
    twin_node_free(joined);
    join_refused(e, "otherland", token, &other_who,
                 "the inviting node refused: this invite is unknown to the inviting node, or was "
                 "already used");
    int i = claim_by(e, 2, "XE-EXAMPLE-OTH");
    assert_int_equal(e->claim_rc[i], TWIN_EDENIED);
    struct twin_membership *m = NULL;
    assert_null(member_at_head(&m, e->admin, "XE-EXAMPLE-OTH"));
    twin_membership_free(m);
    free(token);
}

struct racer {
    struct env *e;
    const char *name, *token;
    const struct twin_identity *who;
    int rc;
    twin_node *node;
};

static void *race_join(void *arg)
{
    struct racer *r = arg;
    char dir[200];
    struct twin_sync_stats st;
    snprintf(dir, sizeof(dir), "%s/%s", r->e->f->dir, r->name);
    r->rc = twin_invite_join(&r->node, &st, dir, r->token, r->who, NULL);
    return NULL;
}

static void of_two_claims_at_once_one_wins(void **state)
{
    struct env *e = *state;
    struct twin_invite made;
    char *token = make_token(e, &made, "editor", 600, NULL);
    struct racer r[2] = {{e, "newland", token, &new_who, 0, NULL},
                         {e, "otherland", token, &other_who, 0, NULL}};
    pthread_t t[2];
    for (int i = 0; i < 2; i++)
        assert_int_equal(pthread_create(&t[i], NULL, race_join, &r[i]), 0);
    for (int i = 0; i < 2; i++)
        pthread_join(t[i], NULL);
    int winner = r[0].rc == 0 ? 0 : 1;
    assert_int_equal(r[winner].rc, 0);
    assert_int_equal(r[1 - winner].rc, TWIN_EDENIED);
    assert_null(r[1 - winner].node);
    struct twin_membership *m = NULL;
    assert_non_null(member_at_head(&m, e->admin, r[winner].who->org_id));
    assert_null(twin_membership_find(m, r[1 - winner].who->org_id));
    twin_membership_free(m);
    twin_node_free(r[winner].node);
    free(token);
}

static void a_token_with_another_secret_is_turned_away_and_the_invite_stays(void **state)
{
    struct env *e = *state;
    struct twin_invite made;
    char *token = make_token(e, &made, "editor", 600, NULL), secret[65];
    unsigned char other[TWIN_INVITE_SECRET_BYTES];
    memcpy(other, made.secret, sizeof(other));
    other[0] ^= 1;
    sodium_bin2hex(secret, sizeof(secret), other, sizeof(other));
    char *forged = token_with(token, "s", json_string(secret));
    join_refused(e, "newland", forged, &new_who,
                 "this invite is unknown to the inviting node, or was already used");
    assert_true(twin_invite_pending(e->admin_dir));
    twin_node *joined = join_ok(e, "newland", token, &new_who);
    twin_node_free(joined);
    free(forged);
    free(token);
}

/* The role and expiry in the token are what the inviter told the joiner; the inviter's own
 * record of the invite decides. */
static void the_inviters_record_decides_role_and_expiry(void **state)
{
    struct env *e = *state;
    struct twin_invite made;
    char *token = make_token(e, &made, "observer", 600, NULL);
    char *t1 = token_with(token, "r", json_string("admin"));
    char *forged = token_with(t1, "e", json_integer(made.expires + 300 * 24 * 3600));
    twin_node *joined = join_ok(e, "newland", forged, &new_who);
    struct twin_membership *m = NULL;
    const struct twin_member *who = member_at_head(&m, e->admin, "XE-EXAMPLE-NEW");
    assert_non_null(who);
    assert_int_equal(who->role, TWIN_ROLE_OBSERVER);
    twin_membership_free(m);
    twin_node_free(joined);

    /* An invite the inviter holds expired is refused, whatever the token says, and spent. */
    char *late = make_token(e, &made, "editor", 60, NULL);
    char *stretched = token_with(late, "e", json_integer(made.expires + 24 * 3600));
    setenv("TWIN_TEST_CLOCK_SKEW", "3600", 1);
    join_refused(e, "otherland", stretched, &other_who,
                 "the inviting node refused: this invite expired at ");
    unsetenv("TWIN_TEST_CLOCK_SKEW");
    assert_int_equal(invite_files(e), 0);
    free(stretched);
    free(late);
    free(forged);
    free(t1);
    free(token);
}

static void a_claim_the_inviter_cannot_admit_leaves_the_invite_good(void **state)
{
    struct env *e = *state;
    struct twin_invite made;
    char *token = make_token(e, &made, "editor", 600, NULL);
    /* An institution that is a member already. */
    struct twin_identity again = editor_who;
    again.name = "Revenue Authority of Samplestan (second office)";
    join_refused(e, "again", token, &again,
                 "the inviting node refused: the inviting node could not add this member: "
                 "XE-EXAMPLE-RA is already a member");
    assert_true(twin_invite_pending(e->admin_dir));
    assert_int_equal(invite_files(e), 1);
    twin_node *joined = join_ok(e, "newland", token, &new_who);
    twin_node_free(joined);
    assert_int_equal(invite_files(e), 0);
    free(token);
}

static void an_invite_for_a_member_gives_it_a_new_key(void **state)
{
    struct env *e = *state;
    struct twin_invite made;
    char *token = make_token(e, &made, "editor", 600, "XE-EXAMPLE-RA");
    /* Presented by another institution: refused, and still good. */
    join_refused(e, "newland", token, &new_who,
                 "this invite is for member XE-EXAMPLE-RA, not XE-EXAMPLE-NEW");
    assert_true(twin_invite_pending(e->admin_dir));

    /* The member's new node joins under the identity the token names. */
    struct twin_identity member = {made.member.name, made.member.org_id, made.member.country,
                                   made.member.side, made.member.org_type};
    twin_node *joined = join_ok(e, "south-again", token, &member);
    struct twin_membership *m = NULL;
    const struct twin_member *who = member_at_head(&m, e->admin, "XE-EXAMPLE-RA");
    assert_non_null(who);
    assert_int_equal(who->nkeys, 2);
    enum twin_key_state st;
    assert_ptr_equal(twin_membership_find_key(m, twin_node_key(joined)->pk, &st), who);
    assert_int_equal(st, TWIN_KEY_ACTIVE);
    assert_ptr_equal(twin_membership_find_key(m, twin_node_key(e->editor)->pk, &st), who);
    assert_int_equal(st, TWIN_KEY_ACTIVE); /* the old key is the admins' to revoke */
    twin_membership_free(m);
    twin_node_free(joined);
    free(token);
}

/* A key let in only to present an invite sends a hello, as a member would. */
static void send_hello_as_stranger(struct env *e)
{
    twin_keypair stranger;
    keypair_from_seed(&stranger, 0x5a);
    twin_channel *ch = NULL;
    twin_channel_config cfg = {.key = &stranger, .network_id = twin_node_network_id(e->admin)};
    char port[16];
    snprintf(port, sizeof(port), "%d", twin_listener_port(e->l));
    if (twin_channel_connect(&ch, "127.0.0.1", port, twin_node_key(e->admin)->pk, &cfg))
        fail_msg("connect: %s", twin_error_last());
    twin_msg hello = {.type = TWIN_MSG_HELLO}, got;
    hello.u.hello.nversions = 1;
    hello.u.hello.versions[0] = TWIN_PROTOCOL_VERSION;
    memcpy(hello.u.hello.network_id, twin_node_network_id(e->admin), TWIN_NETWORK_ID_LEN);
    memcpy(hello.u.hello.node, stranger.pk, TWIN_PUBKEY_BYTES);
    assert_int_equal(twin_channel_send(ch, &hello), 0);
    assert_int_equal(twin_channel_recv(ch, &got), 0);
    assert_int_equal(got.type, TWIN_MSG_REFUSE);
    assert_int_equal(got.u.refuse.code, TWIN_REFUSE_NOT_MEMBER);
    assert_string_equal(got.u.refuse.reason,
                        "this node serves members and configured peers; a node that is neither "
                        "may only present an invite");
    twin_msg_clear(&got);
    twin_channel_free(ch);
    wait_claims(e, 1);
    assert_int_equal(e->claim_rc[0], TWIN_EDENIED);
    assert_string_equal(e->claim_who[0], "?");
}

static void a_key_let_in_to_claim_may_send_nothing_else(void **state)
{
    struct env *e = *state;
    send_hello_as_stranger(e);
    assert_non_null(strstr(e->claim_error[0], "a key that is not a member sent "));
    assert_non_null(strstr(e->claim_error[0], " instead of a claim"));
    assert_false(twin_invite_pending(e->admin_dir));
}

static void the_refusal_of_a_stray_message_names_its_type(void **state)
{
    struct env *e = *state;
    send_hello_as_stranger(e);
    assert_string_equal(e->claim_error[0], "a key that is not a member sent hello instead of a "
                                           "claim");
}

static int setup_global(void **state)
{
    return twin_global_init(false) == 0 ? 0 : -1;
}

static int teardown_global(void **state)
{
    twin_global_shutdown();
    return 0;
}

#define ENV_TEST(t) cmocka_unit_test_setup_teardown(t, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        ENV_TEST(a_token_reads_back_as_it_was_made),
        ENV_TEST(the_inviter_keeps_only_a_private_record_of_each_invite),
        ENV_TEST(every_role_may_be_offered),
        ENV_TEST(making_an_invite_refuses_bad_arguments_and_writes_nothing),
        ENV_TEST(only_an_admin_may_invite),
        ENV_TEST(an_invite_for_a_member_carries_its_identity_and_role),
        cmocka_unit_test(text_that_is_not_a_token_is_refused),
        ENV_TEST(a_token_cut_short_or_too_long_is_refused),
        ENV_TEST(a_field_out_of_place_is_refused_naming_it),
        ENV_TEST(a_member_identity_out_of_place_is_refused),
        ENV_TEST(a_flipped_bit_anywhere_is_refused_or_read_as_another_invite),
        ENV_TEST(an_invite_past_its_expiry_is_no_longer_pending),
        ENV_TEST(joining_with_an_expired_invite_makes_nothing),
        ENV_TEST(a_claim_admits_the_institution_and_its_first_sync_brings_the_history),
        ENV_TEST(the_inviter_adds_the_joiner_as_a_peer_at_the_address_it_gives),
        ENV_TEST(without_an_address_the_joiner_is_no_peer_and_a_bad_one_is_refused),
        ENV_TEST(an_invite_works_once),
        ENV_TEST(of_two_claims_at_once_one_wins),
        ENV_TEST(a_token_with_another_secret_is_turned_away_and_the_invite_stays),
        ENV_TEST(the_inviters_record_decides_role_and_expiry),
        ENV_TEST(a_claim_the_inviter_cannot_admit_leaves_the_invite_good),
        ENV_TEST(an_invite_for_a_member_gives_it_a_new_key),
        ENV_TEST(a_key_let_in_to_claim_may_send_nothing_else),
        ENV_TEST(the_refusal_of_a_stray_message_names_its_type),
    };
    return cmocka_run_group_tests(tests, setup_global, teardown_global);
}
