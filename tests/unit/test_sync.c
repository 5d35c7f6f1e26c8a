/*
 * Sync sessions (src/sync/sync.c). Two real nodes in temporary directories, over a socketpair
 * and over loopback TCP: a node with no history takes the whole of it, diverged heads merge and
 * both nodes end on the same head, a session between equal heads changes nothing, and who may
 * open a session (twin_sync_authorize). Then a member that does not speak as twin does: the
 * initiator's side driven by hand, message by message, against twin_sync_respond, asserting how
 * the responder answers what a hostile or broken peer sends (SYNC.md 8): every refusal is
 * answered with a refuse whose code and reason the spec names, before the close, and the
 * responder's branch does not move.
 */
#define _XOPEN_SOURCE 700
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "helpers.h"
#include "twin/channel.h"
#include "twin/merge.h"
#include "twin/msg.h"
#include "twin/network.h"
#include "twin/node.h"
#include "twin/ops.h"
#include "twin/peers.h"
#include "twin/store.h"
#include "twin/sync.h"
#include "git/packbuild.h"
#include "ops/sealed.h"
#include "twin/checkpoint.h"

struct peers {
    struct fixture *f;
    char north_dir[160], south_dir[160];
    twin_node *north, *south; /* north responds; south's key drives the session */
};

static int setup(void **state)
{
    struct peers *p = calloc(1, sizeof(*p));
    assert_non_null(p);
    assert_int_equal(fixture_setup((void **)&p->f), 0);
    snprintf(p->north_dir, sizeof(p->north_dir), "%s/north", p->f->dir);
    snprintf(p->south_dir, sizeof(p->south_dir), "%s/south", p->f->dir);
    struct twin_identity north = {"Ministry North", "XE-EXAMPLE-N", "NL", "north", NULL};
    struct twin_identity south = {"Ministry South", "XE-EXAMPLE-S", "TZ", "south", NULL};
    assert_int_equal(twin_network_create(&p->north, p->north_dir, &north, "Hostile Test"), 0);
    assert_int_equal(
        twin_node_init(&p->south, p->south_dir, &south, NULL, NULL, twin_node_network_id(p->north)),
        0);
    git_oid commit;
    if (twin_ops_member_add(&commit, p->north, &south, "editor", twin_node_key(p->south)->pk))
        fail_msg("member add: %s", twin_error_last());
    *state = p;
    return 0;
}

static int teardown(void **state)
{
    struct peers *p = *state;
    twin_node_free(p->north);
    twin_node_free(p->south);
    void *f = p->f;
    fixture_teardown(&f);
    free(p);
    return 0;
}

static int allow_all(void *ctx, const unsigned char node[32], char *reason, size_t cap)
{
    (void)ctx, (void)node, (void)reason, (void)cap;
    return 0;
}

struct responder {
    int fd;
    const char *dir;
    const twin_keypair *key;
    const char *network;
    twin_channel_authorize_fn authorize; /* NULL: allow_all */
    void *authorize_ctx;
    struct twin_sync_stats st;
    int rc;
    char error[600];
};

static void *respond_main(void *arg)
{
    struct responder *r = arg;
    twin_channel *ch = NULL;
    twin_node *n = NULL;
    twin_channel_config cfg = {.key = r->key,
                               .network_id = r->network,
                               .authorize = r->authorize ? r->authorize : allow_all,
                               .authorize_ctx = r->authorize_ctx};
    r->rc = twin_channel_accept(&ch, r->fd, &cfg);
    if (r->rc == 0 && (r->rc = twin_ops_open(&n, r->dir)) == 0)
        r->rc = twin_sync_respond(&r->st, n, ch);
    snprintf(r->error, sizeof(r->error), "%s", r->rc ? twin_error_last() : "");
    twin_node_free(n);
    twin_channel_free(ch);
    return NULL;
}

/* A session opened by hand: hello both ways, negotiate, and north's pack read to its end. */
struct session {
    pthread_t thread;
    struct responder r;
    twin_channel *ch;
    git_oid north_head;
};

/* Opens a session from South's side by hand and exchanges hellos: South's names software, and
 * North's head as its own when with_head, with "wraps/1" in ext when asked. The responder's
 * hello, received, is checked to be one. */
static void hand_hello(struct session *s, struct peers *p, const char *software, bool with_head,
                       bool ext)
{
    int fds[2];
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    assert_int_equal(twin_node_head(&s->north_head, p->north), 0);
    s->r = (struct responder){.fd = fds[0],
                              .dir = p->north_dir,
                              .key = twin_node_key(p->north),
                              .network = twin_node_network_id(p->north)};
    assert_int_equal(pthread_create(&s->thread, NULL, respond_main, &s->r), 0);
    twin_channel_config cfg = {.key = twin_node_key(p->south),
                               .network_id = twin_node_network_id(p->south)};
    if (twin_channel_initiate(&s->ch, fds[1], twin_node_key(p->north)->pk, &cfg))
        fail_msg("handshake: %s", twin_error_last());
    twin_msg m = {.type = TWIN_MSG_HELLO}, in = {0};
    m.u.hello.nversions = 1;
    m.u.hello.versions[0] = TWIN_PROTOCOL_VERSION;
    snprintf(m.u.hello.network_id, sizeof(m.u.hello.network_id), "%s",
             twin_node_network_id(p->south));
    memcpy(m.u.hello.node, twin_node_key(p->south)->pk, TWIN_PUBKEY_BYTES);
    m.u.hello.has_head = with_head;
    memcpy(m.u.hello.head, s->north_head.id, TWIN_OID_BYTES);
    snprintf(m.u.hello.software, sizeof(m.u.hello.software), "%s", software);
    if (ext) {
        snprintf(m.u.hello.ext[0], sizeof(m.u.hello.ext[0]), "wraps/1");
        m.u.hello.next = 1;
    }
    assert_int_equal(twin_channel_send(s->ch, &m), 0);
    assert_int_equal(twin_channel_recv(s->ch, &in), 0);
    assert_int_equal(in.type, TWIN_MSG_HELLO);
    assert_true(twin_msg_hello_has_ext(&in, TWIN_EXT_WRAPS)); /* twin always offers it */
    twin_msg_clear(&in);
}

static void session_open(struct session *s, struct peers *p)
{
    hand_hello(s, p, "hostile-test", false, false);
    twin_msg in = {0};
    unsigned char want[1][TWIN_OID_BYTES];
    memcpy(want[0], s->north_head.id, TWIN_OID_BYTES);
    twin_msg neg = {.type = TWIN_MSG_NEGOTIATE};
    neg.u.negotiate.want = want;
    neg.u.negotiate.nwant = 1;
    neg.u.negotiate.done = true;
    assert_int_equal(twin_channel_send(s->ch, &neg), 0);
    assert_int_equal(twin_channel_recv(s->ch, &in), 0);
    assert_int_equal(in.type, TWIN_MSG_ACK);
    twin_msg_clear(&in);
    assert_int_equal(twin_channel_recv(s->ch, &in), 0);
    assert_int_equal(in.type, TWIN_MSG_NEGOTIATE);
    twin_msg_clear(&in);
    for (bool last = false; !last;) {
        assert_int_equal(twin_channel_recv(s->ch, &in), 0);
        assert_int_equal(in.type, TWIN_MSG_PACK);
        last = in.u.pack.last;
        twin_msg_clear(&in);
    }
}

static void send_pack(struct session *s, const void *data, size_t len)
{
    twin_msg m = {.type = TWIN_MSG_PACK};
    m.u.pack.data = (unsigned char *)data;
    m.u.pack.len = len;
    m.u.pack.last = true;
    assert_int_equal(twin_channel_send(s->ch, &m), 0);
}

/* The responder's answer must be a refuse with this code and a reason holding text; then its
 * side of the session ends with an error, and north's branch has not moved. */
static void expect_refuse(struct session *s, struct peers *p, uint32_t code, const char *text)
{
    twin_msg in = {0};
    if (twin_channel_recv(s->ch, &in))
        fail_msg("no answer before the close: %s", twin_error_last());
    if (in.type != TWIN_MSG_REFUSE)
        fail_msg("answered %s, not refuse", twin_msg_type_name(in.type));
    if (in.u.refuse.code != code || !strstr(in.u.refuse.reason, text))
        fail_msg("refuse %u \"%s\", expected %u with \"%s\"", in.u.refuse.code, in.u.refuse.reason,
                 code, text);
    twin_msg_clear(&in);
    twin_channel_free(s->ch);
    pthread_join(s->thread, NULL);
    assert_int_not_equal(s->r.rc, 0);
    git_oid head;
    assert_int_equal(twin_node_head(&head, p->north), 0);
    assert_true(git_oid_equal(&head, &s->north_head));
}

/* A valid pack of no objects: its header, then the header's SHA-1. */
static size_t empty_pack(unsigned char out[32])
{
    static const unsigned char pack[32] = {'P',  'A',  'C',  'K',  0,    0,    0,    2,
                                           0,    0,    0,    0,    0x02, 0x9d, 0x08, 0x82,
                                           0x3b, 0xd8, 0xa8, 0xea, 0xb5, 0x10, 0xad, 0x6a,
                                           0xc7, 0x5c, 0x82, 0x3c, 0xfd, 0x3e, 0xd3, 0x1e};
    memcpy(out, pack, sizeof(pack));
    return sizeof(pack);
}

static void a_malformed_pack_is_answered_with_refuse_4(void **state)
{
    struct peers *p = *state;
    struct session s;
    session_open(&s, p);
    static const unsigned char junk[] = "PACK\0\0\0\x09 this is not a pack of version 2";
    send_pack(&s, junk, sizeof(junk));
    expect_refuse(&s, p, TWIN_REFUSE_INVALID, "the pack was refused: ");
}

static void a_pack_over_a_bound_is_answered_with_refuse_8(void **state)
{
    struct peers *p = *state;
    struct session s;
    session_open(&s, p);
    /* A header that declares 60 million objects, over the bound of 50 million. */
    static const unsigned char big[12] = {'P', 'A', 'C', 'K', 0, 0, 0, 2, 0x03, 0x93, 0x87, 0x00};
    send_pack(&s, big, sizeof(big));
    expect_refuse(&s, p, TWIN_REFUSE_TOO_LARGE, "the pack was refused: ");
}

static void a_proposal_whose_objects_were_never_sent_is_answered_with_refuse_9(void **state)
{
    struct peers *p = *state;
    struct session s;
    session_open(&s, p);
    unsigned char pack[32];
    send_pack(&s, pack, empty_pack(pack));
    twin_msg_ref ref = {.name = "refs/heads/main"};
    memset(ref.oid, 0x5a, sizeof(ref.oid));
    twin_msg m = {.type = TWIN_MSG_REFS};
    m.u.refs.refs = &ref;
    m.u.refs.count = 1;
    assert_int_equal(twin_channel_send(s.ch, &m), 0);
    expect_refuse(&s, p, TWIN_REFUSE_MISSING, "was not sent");
}

/* ---- a merge proposed by rule 1 ------------------------------------------------------------- */

struct collected {
    unsigned char *data;
    size_t len;
};

static int collect(const void *data, size_t len, void *ctx)
{
    struct collected *c = ctx;
    unsigned char *grown = realloc(c->data, c->len + len);
    if (!grown)
        return -1;
    memcpy(grown + c->len, data, len);
    c->data = grown;
    c->len += len;
    return 0;
}

static int set_title(json_t *rec, void *ctx)
{
    return json_object_set_new(rec, "title", json_string(ctx)) ? TWIN_EINVALID : 0;
}

/* South, an editor running an earlier twin, sets a note's title with its clock skew seconds off
 * while North sets it too; South proposes the merge of the two that rule 1 gives (no rule line),
 * signed and dated now. Returns how North answered: a refuse's code, or 0 for accept. */
static uint32_t propose_rule_1_merge(struct peers *p, long skew)
{
    char id[TWIN_ID_LEN + 1], text[32];
    git_oid c, north_head, south_head, merge;
    if (twin_ops_add(id, &c, p->north, "note", set_title, "Kick-off"))
        fail_msg("add: %s", twin_error_last());
    assert_int_equal(
        run("git --git-dir=%s/repo.git fetch -q %s/repo.git main:main", p->south_dir, p->north_dir),
        0);
    snprintf(text, sizeof(text), "%ld", skew);
    setenv("TWIN_TEST_CLOCK_SKEW", text, 1);
    twin_node *south = NULL;
    assert_int_equal(twin_ops_open(&south, p->south_dir), 0);
    if (twin_ops_update(&south_head, south, id, "set", set_title, "South's title"))
        fail_msg("south's set: %s", twin_error_last());
    unsetenv("TWIN_TEST_CLOCK_SKEW");
    if (twin_ops_update(&north_head, p->north, id, "set", set_title, "North's title"))
        fail_msg("north's set: %s", twin_error_last());
    assert_int_equal(run("git --git-dir=%s/repo.git fetch -q %s/repo.git main:refs/heads/north",
                         p->south_dir, p->north_dir),
                     0);

    git_repository *repo = twin_node_repo(south);
    struct twin_merge_rule rule = {.version = 1};
    struct twin_merge_result r;
    git_commit *pa = NULL, *pb = NULL;
    git_tree *tree = NULL;
    assert_int_equal(twin_merge_compute(&r, repo, &south_head, &north_head, &rule), 0);
    assert_int_equal(git_tree_lookup(&tree, repo, &r.tree), 0);
    assert_int_equal(git_commit_lookup(&pa, repo, &south_head), 0);
    assert_int_equal(git_commit_lookup(&pb, repo, &north_head), 0);
    const git_commit *parents[2] = {pa, pb};
    assert_int_equal(twin_store_write_commit(&merge, repo, twin_node_key(south), "Ministry South",
                                             "XE-EXAMPLE-S", tree, parents, 2,
                                             "merge\n\nBase: by an earlier twin\n"),
                     0);
    git_tree_free(tree);
    git_commit_free(pa);
    git_commit_free(pb);

    struct session s;
    session_open(&s, p);
    struct collected pack = {0};
    size_t commits;
    assert_int_equal(
        twin_packbuild_stream(&commits, repo, &south_head, 1, &north_head, 1, collect, &pack), 0);
    assert_int_equal(commits, 1);
    send_pack(&s, pack.data, pack.len);
    free(pack.data);
    git_odb *odb = NULL;
    git_odb_object *raw = NULL;
    assert_int_equal(git_repository_odb(&odb, repo), 0);
    assert_int_equal(git_odb_read(&raw, odb, &merge), 0);
    twin_msg m = {.type = TWIN_MSG_MERGE};
    m.u.merge.commit = (unsigned char *)git_odb_object_data(raw);
    m.u.merge.commit_len = git_odb_object_size(raw);
    memcpy(m.u.merge.parents[0], south_head.id, TWIN_OID_BYTES);
    memcpy(m.u.merge.parents[1], north_head.id, TWIN_OID_BYTES);
    m.u.merge.nparents = 2;
    assert_int_equal(twin_channel_send(s.ch, &m), 0);
    git_odb_object_free(raw);
    git_odb_free(odb);
    twin_node_free(south);

    twin_msg in = {0};
    if (twin_channel_recv(s.ch, &in))
        fail_msg("no answer to the proposal: %s", twin_error_last());
    uint32_t answer = in.type == TWIN_MSG_ACCEPT   ? 0
                      : in.type == TWIN_MSG_REFUSE ? in.u.refuse.code
                                                   : 0xffff;
    if (in.type == TWIN_MSG_REFUSE)
        assert_non_null(strstr(in.u.refuse.reason, "merge rule 2"));
    twin_msg_clear(&in);
    twin_channel_free(s.ch);
    pthread_join(s.thread, NULL);
    git_oid now;
    assert_int_equal(twin_node_head(&now, p->north), 0);
    assert_true(git_oid_equal(&now, answer == 0 ? &merge : &north_head));
    return answer;
}

static void a_rule_1_merge_where_a_date_far_ahead_wins_is_refused_with_5(void **state)
{
    assert_int_equal(propose_rule_1_merge(*state, 315576000), TWIN_REFUSE_MERGE_MISMATCH);
}

static void a_rule_1_merge_that_rule_2_gives_alike_is_accepted(void **state)
{
    /* South's change, an hour ahead, wins by either rule. */
    assert_int_equal(propose_rule_1_merge(*state, 3600), 0);
}

/* ---- sessions between two real nodes ------------------------------------------------------- */

/* Both sides of one session: the initiator's run by this thread, the responder's by another. */
struct outcome {
    int irc;
    struct twin_sync_stats ist;
    char ierror[600];
    struct responder r;
};

/* A session over a socketpair between initiator and the node responder (which the responder's
 * thread opens again from its directory), whose authorize decides on the initiator's key (NULL:
 * any key; its context is the responder's directory). */
static void run_session(struct outcome *o, twin_node *initiator, twin_node *responder,
                        twin_channel_authorize_fn authorize)
{
    int fds[2];
    pthread_t thread;
    memset(o, 0, sizeof(*o));
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    o->r = (struct responder){.fd = fds[0],
                              .dir = twin_node_dir(responder),
                              .key = twin_node_key(responder),
                              .network = twin_node_network_id(responder),
                              .authorize = authorize,
                              .authorize_ctx = (void *)twin_node_dir(responder)};
    assert_int_equal(pthread_create(&thread, NULL, respond_main, &o->r), 0);
    twin_channel_config cfg = {.key = twin_node_key(initiator),
                               .network_id = twin_node_network_id(initiator)};
    twin_channel *ch = NULL;
    o->irc = twin_channel_initiate(&ch, fds[1], twin_node_key(responder)->pk, &cfg);
    if (o->irc == 0)
        o->irc = twin_sync_initiate(&o->ist, initiator, ch);
    snprintf(o->ierror, sizeof(o->ierror), "%s", o->irc ? twin_error_last() : "");
    twin_channel_free(ch);
    pthread_join(thread, NULL);
}

static void assert_session_ok(const struct outcome *o)
{
    if (o->irc)
        fail_msg("the initiator's side failed (%d): %s", o->irc, o->ierror);
    if (o->r.rc)
        fail_msg("the responder's side failed (%d): %s", o->r.rc, o->r.error);
}

static git_oid head_of(twin_node *n)
{
    git_oid head;
    if (twin_node_head(&head, n))
        fail_msg("no head: %s", twin_error_last());
    return head;
}

/* Both nodes hold one head, the one both sides of the session report. */
static git_oid assert_converged(struct peers *p, const struct outcome *o)
{
    git_oid north = head_of(p->north), south = head_of(p->south);
    assert_true(git_oid_equal(&north, &south));
    assert_true(o->ist.has_head);
    assert_true(o->r.st.has_head);
    assert_true(git_oid_equal(&o->ist.head, &north));
    assert_true(git_oid_equal(&o->r.st.head, &north));
    return north;
}

static size_t count_commits(twin_node *n)
{
    git_revwalk *walk = NULL;
    git_oid id, head = head_of(n);
    size_t count = 0;
    assert_int_equal(git_revwalk_new(&walk, twin_node_repo(n)), 0);
    assert_int_equal(git_revwalk_push(walk, &head), 0);
    while (git_revwalk_next(&id, walk) == 0)
        count++;
    git_revwalk_free(walk);
    return count;
}

static void add_note(char id[TWIN_ID_LEN + 1], twin_node *n, const char *title)
{
    git_oid commit;
    if (twin_ops_add(id, &commit, n, "note", set_title, (void *)title))
        fail_msg("add: %s", twin_error_last());
}

static void assert_title(twin_node *n, const char *id, const char *want)
{
    json_t *rec = NULL;
    if (twin_ops_get(&rec, n, NULL, "note", id))
        fail_msg("note %s: %s", id, twin_error_last());
    assert_string_equal(json_string_value(json_object_get(rec, "title")), want);
    json_decref(rec);
}

/* South, a member with no history yet, takes north's by a first session. */
static void join(struct peers *p)
{
    struct outcome o;
    run_session(&o, p->south, p->north, NULL);
    assert_session_ok(&o);
    assert_converged(p, &o);
}

static void a_node_without_history_takes_the_whole_history(void **state)
{
    struct peers *p = *state;
    git_oid before = head_of(p->north), none;
    size_t commits = count_commits(p->north);
    assert_int_equal(twin_node_head(&none, p->south), TWIN_ENOHISTORY);
    struct outcome o;
    run_session(&o, p->south, p->north, NULL);
    assert_session_ok(&o);
    git_oid head = assert_converged(p, &o);
    assert_true(git_oid_equal(&head, &before));
    assert_true(o.ist.changed);
    assert_false(o.r.st.changed);
    assert_false(o.ist.merged);
    assert_int_equal(o.ist.received_commits, commits);
    assert_int_equal(o.r.st.sent_commits, commits);
    assert_int_equal(o.ist.sent_commits, 0);
    assert_int_equal(o.ist.round_trips, 3);
    assert_int_equal(o.r.st.round_trips, 3);
    assert_string_equal(o.ist.peer_refusal, "");
}

static void a_session_between_equal_heads_changes_nothing(void **state)
{
    struct peers *p = *state;
    join(p);
    git_oid before = head_of(p->north);
    struct outcome o;
    run_session(&o, p->south, p->north, NULL);
    assert_session_ok(&o);
    git_oid head = assert_converged(p, &o);
    assert_true(git_oid_equal(&head, &before));
    assert_false(o.ist.changed);
    assert_false(o.r.st.changed);
    assert_false(o.ist.merged);
    assert_int_equal(o.ist.received_commits, 0);
    assert_int_equal(o.ist.sent_commits, 0);
    assert_int_equal(o.r.st.sent_commits, 0);
}

static void the_initiators_new_commit_moves_the_responder_forward(void **state)
{
    struct peers *p = *state;
    join(p);
    char id[TWIN_ID_LEN + 1];
    add_note(id, p->south, "From the south");
    git_oid south = head_of(p->south);
    struct outcome o;
    run_session(&o, p->south, p->north, NULL);
    assert_session_ok(&o);
    git_oid head = assert_converged(p, &o);
    assert_true(git_oid_equal(&head, &south));
    assert_true(o.r.st.changed);
    assert_false(o.ist.changed);
    assert_false(o.ist.merged);
    assert_false(o.r.st.merged);
    assert_int_equal(o.ist.sent_commits, 1);
    assert_int_equal(o.r.st.received_commits, 1);
    assert_int_equal(o.ist.received_commits, 0);
    assert_title(p->north, id, "From the south");
}

static void diverged_heads_merge_and_both_nodes_end_on_the_merge(void **state)
{
    struct peers *p = *state;
    join(p);
    char from_north[TWIN_ID_LEN + 1], from_south[TWIN_ID_LEN + 1];
    add_note(from_north, p->north, "From the north");
    add_note(from_south, p->south, "From the south");
    git_oid north = head_of(p->north), south = head_of(p->south);
    struct outcome o;
    run_session(&o, p->south, p->north, NULL);
    assert_session_ok(&o);
    git_oid head = assert_converged(p, &o);
    assert_true(o.ist.merged);
    assert_int_equal(o.ist.conflicts, 0);
    assert_true(o.ist.changed);
    assert_true(o.r.st.changed);
    assert_int_equal(o.ist.received_commits, 1);
    /* The pack holds south's note; the merge goes in the proposal, and north checks both. */
    assert_int_equal(o.ist.sent_commits, 1);
    assert_int_equal(o.r.st.received_commits, 2);
    git_commit *merge = NULL;
    assert_int_equal(git_commit_lookup(&merge, twin_node_repo(p->north), &head), 0);
    assert_int_equal(git_commit_parentcount(merge), 2);
    assert_true(git_oid_equal(git_commit_parent_id(merge, 0), &south));
    assert_true(git_oid_equal(git_commit_parent_id(merge, 1), &north));
    git_commit_free(merge);
    twin_node *nodes[2] = {p->north, p->south};
    for (int i = 0; i < 2; i++) {
        assert_title(nodes[i], from_north, "From the north");
        assert_title(nodes[i], from_south, "From the south");
    }
}

static void a_conflicting_change_is_settled_alike_on_both_nodes(void **state)
{
    struct peers *p = *state;
    char id[TWIN_ID_LEN + 1];
    add_note(id, p->north, "Kick-off");
    join(p);
    git_oid c;
    assert_int_equal(twin_ops_update(&c, p->north, id, "set", set_title, "North's title"), 0);
    assert_int_equal(twin_ops_update(&c, p->south, id, "set", set_title, "South's title"), 0);
    struct outcome o;
    run_session(&o, p->south, p->north, NULL);
    assert_session_ok(&o);
    assert_converged(p, &o);
    assert_true(o.ist.merged);
    assert_int_equal(o.ist.conflicts, 1);
    json_t *a = NULL, *b = NULL;
    assert_int_equal(twin_ops_get(&a, p->north, NULL, "note", id), 0);
    assert_int_equal(twin_ops_get(&b, p->south, NULL, "note", id), 0);
    const char *title = json_string_value(json_object_get(a, "title"));
    assert_non_null(title);
    assert_true(strcmp(title, "North's title") == 0 || strcmp(title, "South's title") == 0);
    assert_true(json_equal(a, b));
    json_decref(a);
    json_decref(b);
}

static void a_session_where_neither_node_has_history_is_refused(void **state)
{
    struct peers *p = *state;
    char dir[200];
    snprintf(dir, sizeof(dir), "%s/east", p->f->dir);
    struct twin_identity who = {"Ministry East", "XE-EXAMPLE-E", "KE", "south", NULL};
    twin_node *east = NULL, *south_empty = p->south;
    assert_int_equal(twin_node_init(&east, dir, &who, NULL, NULL, twin_node_network_id(p->north)),
                     0);
    struct outcome o;
    run_session(&o, south_empty, east, NULL);
    assert_int_equal(o.irc, TWIN_ENOHISTORY);
    git_oid none;
    assert_int_equal(twin_node_head(&none, p->south), TWIN_ENOHISTORY);
    assert_int_equal(twin_node_head(&none, east), TWIN_ENOHISTORY);
    twin_node_free(east);
}

static void a_node_the_responder_does_not_admit_moves_nothing(void **state)
{
    struct peers *p = *state;
    char dir[200];
    snprintf(dir, sizeof(dir), "%s/east", p->f->dir);
    struct twin_identity who = {"Ministry East", "XE-EXAMPLE-E", "KE", "south", NULL};
    twin_node *east = NULL;
    assert_int_equal(twin_node_init(&east, dir, &who, NULL, NULL, twin_node_network_id(p->north)),
                     0);
    git_oid before = head_of(p->north), none;
    struct outcome o;
    run_session(&o, east, p->north, twin_sync_authorize);
    assert_int_not_equal(o.irc, 0);
    assert_int_equal(o.r.rc, TWIN_EDENIED);
    assert_non_null(strstr(o.r.error, "not a member"));
    git_oid after = head_of(p->north);
    assert_true(git_oid_equal(&after, &before));
    assert_int_equal(twin_node_head(&none, east), TWIN_ENOHISTORY);
    twin_node_free(east);
    /* The same decision lets a member in. */
    run_session(&o, p->south, p->north, twin_sync_authorize);
    assert_session_ok(&o);
    assert_converged(p, &o);
}

static int authorize(const char *dir, const unsigned char *pk, char *reason, size_t cap)
{
    reason[0] = '\0';
    return twin_sync_authorize((void *)dir, pk, reason, cap);
}

static void authorize_admits_active_member_keys_and_configured_peers(void **state)
{
    struct peers *p = *state;
    char reason[300], line[TWIN_OPENSSH_PUB_MAX], nowhere[200];
    const unsigned char *south = twin_node_key(p->south)->pk;
    assert_int_equal(authorize(p->north_dir, south, reason, sizeof(reason)), 0);
    assert_int_equal(authorize(p->north_dir, twin_node_key(p->north)->pk, reason, sizeof(reason)),
                     0);

    twin_keypair stranger;
    keypair_from_seed(&stranger, 0x77);
    assert_int_not_equal(authorize(p->north_dir, stranger.pk, reason, sizeof(reason)), 0);
    assert_non_null(strstr(reason, "unknown node key"));
    /* A configured peer the membership does not name yet may sync. */
    twin_key_format_openssh(line, stranger.pk);
    assert_int_equal(twin_peers_add(p->north, "stranger", "127.0.0.1:9", line), 0);
    assert_int_equal(authorize(p->north_dir, stranger.pk, reason, sizeof(reason)), 0);

    /* A key the membership has revoked may not, peer entry or not. */
    twin_key_format_openssh(line, south);
    assert_int_equal(twin_peers_add(p->north, "south", "127.0.0.1:9", line), 0);
    git_oid c;
    if (twin_ops_member_revoke_key(&c, p->north, "XE-EXAMPLE-S", south))
        fail_msg("revoke: %s", twin_error_last());
    assert_int_not_equal(authorize(p->north_dir, south, reason, sizeof(reason)), 0);
    assert_non_null(strstr(reason, "XE-EXAMPLE-S"));
    assert_non_null(strstr(reason, "revoked"));

    snprintf(nowhere, sizeof(nowhere), "%s/nowhere", p->f->dir);
    assert_int_not_equal(authorize(nowhere, south, reason, sizeof(reason)), 0);
    assert_non_null(strstr(reason, "cannot open this node"));
}

/* ---- twin_sync_peer over loopback TCP ------------------------------------------------------- */

struct tcp_responder {
    int listen_fd;
    struct responder r;
    pthread_t thread;
};

static void *tcp_respond_main(void *arg)
{
    struct tcp_responder *t = arg;
    t->r.fd = accept(t->listen_fd, NULL, NULL);
    if (t->r.fd < 0) {
        t->r.rc = TWIN_ERROR;
        snprintf(t->r.error, sizeof(t->r.error), "accept: %s", strerror(errno));
        return NULL;
    }
    return respond_main(&t->r);
}

/* North answers one connection on 127.0.0.1 at a port the system picks; its number in port. */
static void tcp_listen(struct tcp_responder *t, struct peers *p, char port[8])
{
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    socklen_t len = sizeof(addr);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    t->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(t->listen_fd >= 0);
    assert_int_equal(bind(t->listen_fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(listen(t->listen_fd, 1), 0);
    assert_int_equal(getsockname(t->listen_fd, (struct sockaddr *)&addr, &len), 0);
    snprintf(port, 8, "%u", (unsigned)ntohs(addr.sin_port));
    t->r = (struct responder){.dir = p->north_dir,
                              .key = twin_node_key(p->north),
                              .network = twin_node_network_id(p->north),
                              .authorize = twin_sync_authorize,
                              .authorize_ctx = p->north_dir};
    assert_int_equal(pthread_create(&t->thread, NULL, tcp_respond_main, t), 0);
}

static void tcp_end(struct tcp_responder *t)
{
    pthread_join(t->thread, NULL);
    close(t->listen_fd);
}

static void sync_peer_runs_a_session_over_tcp_with_the_expected_key_only(void **state)
{
    struct peers *p = *state;
    struct tcp_responder t;
    struct twin_sync_stats st;
    char port[8];
    git_oid none;

    /* Expecting another key, south's handshake fails and nothing moves. */
    twin_keypair other;
    keypair_from_seed(&other, 0x66);
    tcp_listen(&t, p, port);
    assert_int_not_equal(twin_sync_peer(&st, p->south, "127.0.0.1", port, other.pk, NULL), 0);
    tcp_end(&t);
    assert_int_not_equal(t.r.rc, 0);
    assert_int_equal(twin_node_head(&none, p->south), TWIN_ENOHISTORY);

    tcp_listen(&t, p, port);
    int rc = twin_sync_peer(&st, p->south, "127.0.0.1", port, twin_node_key(p->north)->pk, NULL);
    if (rc)
        fail_msg("sync: %s", twin_error_last());
    tcp_end(&t);
    if (t.r.rc)
        fail_msg("the responder's side failed: %s", t.r.error);
    git_oid north = head_of(p->north), south = head_of(p->south);
    assert_true(git_oid_equal(&north, &south));
    assert_true(st.changed);
    assert_true(git_oid_equal(&st.head, &north));
    assert_int_equal(st.received_commits, count_commits(p->north));
    assert_true(t.r.st.has_head);
    assert_true(git_oid_equal(&t.r.st.head, &north));
}

/* A cancel question that answers true from its third asking on: by then a wait has begun. */
static bool third_time(void *ctx)
{
    return atomic_fetch_add((atomic_int *)ctx, 1) >= 2;
}

/* A peer that takes the connection (the kernel completes it) and never answers: the session's
 * cancel question ends its wait for the handshake's answer, long before the deadline, and
 * nothing moves. */
static void a_cancelled_sync_abandons_a_silent_peer(void **state)
{
    struct peers *p = *state;
    struct sockaddr_in addr = {.sin_family = AF_INET, .sin_port = 0};
    socklen_t len = sizeof(addr);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int silent = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(silent >= 0);
    assert_int_equal(bind(silent, (struct sockaddr *)&addr, sizeof(addr)), 0);
    assert_int_equal(listen(silent, 1), 0);
    assert_int_equal(getsockname(silent, (struct sockaddr *)&addr, &len), 0);
    char port[8];
    snprintf(port, sizeof(port), "%u", (unsigned)ntohs(addr.sin_port));

    atomic_int asked = 0;
    struct twin_sync_opts opts = {.cancelled = third_time, .cancel_ctx = &asked};
    struct twin_sync_stats st;
    assert_int_equal(
        twin_sync_peer(&st, p->south, "127.0.0.1", port, twin_node_key(p->north)->pk, &opts),
        TWIN_ERROR);
    assert_non_null(strstr(twin_error_last(), "abandoned, the session was cancelled"));
    assert_true(atomic_load(&asked) >= 3);
    git_oid none;
    assert_int_equal(twin_node_head(&none, p->south), TWIN_ENOHISTORY);
    close(silent);
}

/* ---- wraps (proto/SEALED.md 5) ------------------------------------------------------------- */

/* A note sealed for North and South, committed at North's head and pulled by South, so both
 * hold one head; each node's wrap store keeps its own listed wrap only. */
struct sealed_note {
    struct twin_sealed s;
    char id[TWIN_ID_LEN + 1];
};

static void seal_a_note(struct sealed_note *n, struct peers *p)
{
    struct twin_membership *m = NULL;
    assert_int_equal(twin_ops_members(&m, p->north, NULL), 0);
    twin_record_new_id(n->id);
    json_t *rec = json_pack("{s:s, s:s, s:s, s:s}", "id", n->id, "type", "note", "kind", "risk",
                            "title", "Budget");
    const char *audience[] = {"XE-EXAMPLE-N", "XE-EXAMPLE-S"};
    if (twin_sealed_seal(&n->s, rec, audience, 2, NULL, m))
        fail_msg("seal: %s", twin_error_last());
    json_decref(rec);
    twin_membership_free(m);
    char path[256];
    assert_int_equal(twin_record_path(path, sizeof(path), "note", n->id), 0);
    helper_commit_file(p->north, "Ministry North", "XE-EXAMPLE-N", path, n->s.text, n->s.text_len);
    pull(p->south, p->north);
    twin_node *nodes[2] = {p->north, p->south};
    for (int i = 0; i < 2; i++) {
        twin_wraps *w = NULL;
        assert_int_equal(twin_node_wraps(&w, nodes[i]), 0);
        for (size_t k = 0; k < n->s.nwraps; k++)
            if (memcmp(n->s.wraps[k].to, twin_node_key(nodes[i])->pk, TWIN_PUBKEY_BYTES) == 0) {
                struct twin_wrap copy = n->s.wraps[k];
                bool added;
                assert_int_equal(twin_wraps_add(w, &copy, &added), 0);
                assert_true(added);
            }
    }
}

static size_t wraps_of(twin_node *n, const char *record)
{
    twin_wraps *w = NULL;
    size_t count = 0;
    assert_int_equal(twin_node_wraps(&w, n), 0);
    assert_int_equal(twin_wraps_count_record(&count, w, record), 0);
    return count;
}

/* The wraps of sealed versions that come with the session's history are checked on what the
 * check of those commits read: no version is read again. */
static void wraps_of_new_history_are_checked_without_reading_it_again(void **state)
{
    struct peers *p = *state;
    const char *members_only[] = {TWIN_AUDIENCE_MEMBERS};
    struct twin_audience members = {members_only, 1};
    char id[3][TWIN_ID_LEN + 1];
    git_oid c;
    for (int i = 0; i < 3; i++)
        if (twin_ops_add_sealed(id[i], &c, p->north, "note", &members, set_title, "Budget"))
            fail_msg("add: %s", twin_error_last());
    struct outcome o;
    run_session(&o, p->south, p->north, NULL);
    assert_session_ok(&o);
    assert_true(o.ist.changed);
    assert_int_equal(o.ist.wraps_received, 6); /* to North's key and South's, per record */
    assert_int_equal(o.ist.wraps_kept, 6);
    assert_int_equal(o.ist.wraps_versions_read, 0);
    json_t *stored = NULL, *open = NULL;
    enum twin_sealing how;
    assert_int_equal(twin_ops_get(&stored, p->south, NULL, "note", id[2]), 0);
    assert_int_equal(twin_ops_unseal(&open, &how, p->south, stored), 0);
    assert_int_equal(how, TWIN_SEALING_OPENED);
    assert_string_equal(json_string_value(json_object_get(open, "title")), "Budget");
    json_decref(open);
    json_decref(stored);
}

static void wraps_travel_both_ways_between_equal_heads_and_only_once(void **state)
{
    struct peers *p = *state;
    struct sealed_note n;
    seal_a_note(&n, p);
    assert_int_equal(wraps_of(p->north, n.id), 1);
    assert_int_equal(wraps_of(p->south, n.id), 1);
    struct outcome o;
    run_session(&o, p->south, p->north, NULL);
    assert_session_ok(&o);
    assert_false(o.ist.changed);
    assert_true(o.ist.wraps);
    assert_true(o.r.st.wraps);
    assert_int_equal(o.r.st.wraps_sent, 1);
    assert_int_equal(o.ist.wraps_kept, 1);
    /* South asked first; its answer leaves out the wrap it has just taken from North. */
    assert_int_equal(o.ist.wraps_sent, 1);
    assert_int_equal(o.r.st.wraps_received, 1);
    assert_int_equal(o.r.st.wraps_kept, 1);
    assert_int_equal(o.r.st.wraps_dropped, 0);
    assert_int_equal(wraps_of(p->north, n.id), 2);
    assert_int_equal(wraps_of(p->south, n.id), 2);
    assert_int_equal(o.ist.checkpoints, 2);

    /* Each knows how far it got in the other's store, and no wrap goes back to the node it
     * came from: the next session sends nothing. */
    run_session(&o, p->south, p->north, NULL);
    assert_session_ok(&o);
    assert_int_equal(o.ist.wraps_sent, 0);
    assert_int_equal(o.r.st.wraps_sent, 0);
    assert_int_equal(o.ist.wraps_received, 0);
    assert_int_equal(o.r.st.wraps_received, 0);
    assert_int_equal(wraps_of(p->north, n.id), 2);
    assert_int_equal(wraps_of(p->south, n.id), 2);

    /* A wrap North makes later is the one thing the next session sends. */
    twin_wraps *w = NULL;
    assert_int_equal(twin_node_wraps(&w, p->north), 0);
    struct twin_wrap later = {.signed_by = true};
    unsigned char key[TWIN_SEAL_KEY_BYTES], network[TWIN_SEAL_NETWORK_BYTES];
    randombytes_buf(key, sizeof(key));
    snprintf(later.record, sizeof(later.record), "%s", n.id);
    memcpy(later.blob, n.s.blob, sizeof(later.blob));
    memcpy(later.to, twin_node_key(p->south)->pk, TWIN_PUBKEY_BYTES);
    memcpy(later.by, twin_node_key(p->north)->pk, TWIN_PUBKEY_BYTES);
    assert_int_equal(twin_seal_wrap(later.box, key, later.to), 0);
    assert_int_equal(twin_noise_network_id_parse(network, twin_node_network_id(p->north)), 0);
    twin_seal_wrap_sign(later.sig, twin_node_key(p->north), network, later.blob, later.to,
                        later.box);
    bool added;
    assert_int_equal(twin_wraps_add(w, &later, &added), 0);
    run_session(&o, p->south, p->north, NULL);
    assert_session_ok(&o);
    assert_int_equal(o.r.st.wraps_sent, 1);
    assert_int_equal(o.ist.wraps_kept, 1);
    assert_int_equal(o.ist.wraps_sent, 0); /* never back to where it came from */
    assert_int_equal(o.r.st.wraps_received, 0);
    assert_int_equal(wraps_of(p->south, n.id), 3);
    assert_int_equal(wraps_of(p->north, n.id), 3);
    twin_sealed_clear(&n.s);
}

/* A session driven by hand from South's side, with or without "ext" in its hello, to the point
 * where both checkpoints are sent: both nodes hold one head. */
static void hand_to_checkpoints(struct session *s, struct peers *p, bool ext)
{
    twin_msg in = {0};
    hand_hello(s, p, "older-peer", true, ext);
    struct twin_checkpoint cp;
    assert_int_equal(
        twin_checkpoint_make(&cp, p->south, twin_node_key(p->north)->pk, &s->north_head), 0);
    twin_msg c = {.type = TWIN_MSG_CHECKPOINT};
    snprintf(c.u.checkpoint.statement, sizeof(c.u.checkpoint.statement), "%s", cp.text);
    snprintf(c.u.checkpoint.signature, sizeof(c.u.checkpoint.signature), "%s", cp.sig);
    free(cp.sig);
    assert_int_equal(twin_channel_send(s->ch, &c), 0);
    assert_int_equal(twin_channel_recv(s->ch, &in), 0);
    assert_int_equal(in.type, TWIN_MSG_CHECKPOINT);
    twin_msg_clear(&in);
}

static void expect_next(struct session *s, enum twin_msg_type type)
{
    twin_msg in = {0};
    if (twin_channel_recv(s->ch, &in))
        fail_msg("nothing came: %s", twin_error_last());
    if (in.type != type)
        fail_msg("%s came where %s was due", twin_msg_type_name(in.type), twin_msg_type_name(type));
    twin_msg_clear(&in);
}

static void a_peer_whose_hello_lacks_ext_gets_no_wraps_messages(void **state)
{
    struct peers *p = *state;
    struct sealed_note n;
    seal_a_note(&n, p);
    struct session s;
    hand_to_checkpoints(&s, p, false);
    /* After the checkpoints an older peer says goodbye, and the answer is goodbye alone. */
    twin_msg bye = {.type = TWIN_MSG_GOODBYE};
    assert_int_equal(twin_channel_send(s.ch, &bye), 0);
    expect_next(&s, TWIN_MSG_GOODBYE);
    twin_channel_free(s.ch);
    pthread_join(s.thread, NULL);
    if (s.r.rc)
        fail_msg("the responder failed: %s", s.r.error);
    assert_false(s.r.st.wraps);
    assert_int_equal(s.r.st.wraps_sent, 0);
    assert_int_equal(wraps_of(p->north, n.id), 1);
    twin_sealed_clear(&n.s);
}

struct initiator_run {
    twin_node *n;
    int fd;
    const unsigned char *peer;
    int rc;
    char error[600];
    struct twin_sync_stats st;
};

static void *initiate_main(void *arg)
{
    struct initiator_run *r = arg;
    twin_channel *ch = NULL;
    twin_channel_config cfg = {.key = twin_node_key(r->n),
                               .network_id = twin_node_network_id(r->n)};
    r->rc = twin_channel_initiate(&ch, r->fd, r->peer, &cfg);
    if (r->rc == 0)
        r->rc = twin_sync_initiate(&r->st, r->n, ch);
    snprintf(r->error, sizeof(r->error), "%s", r->rc ? twin_error_last() : "");
    twin_channel_free(ch);
    return NULL;
}

static void an_older_responder_is_sent_no_wraps_messages(void **state)
{
    struct peers *p = *state;
    struct sealed_note n;
    seal_a_note(&n, p);
    int fds[2];
    pthread_t thread;
    assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
    struct initiator_run r = {.n = p->south, .fd = fds[1], .peer = twin_node_key(p->north)->pk};
    assert_int_equal(pthread_create(&thread, NULL, initiate_main, &r), 0);
    twin_channel *ch = NULL;
    twin_channel_config cfg = {.key = twin_node_key(p->north),
                               .network_id = twin_node_network_id(p->north),
                               .authorize = allow_all};
    if (twin_channel_accept(&ch, fds[0], &cfg))
        fail_msg("handshake: %s", twin_error_last());
    twin_msg in = {0}, hello = {.type = TWIN_MSG_HELLO};
    assert_int_equal(twin_channel_recv(ch, &in), 0);
    assert_int_equal(in.type, TWIN_MSG_HELLO);
    assert_true(twin_msg_hello_has_ext(&in, TWIN_EXT_WRAPS));
    twin_msg_clear(&in);
    git_oid head = head_of(p->north);
    hello.u.hello.nversions = 1;
    hello.u.hello.versions[0] = TWIN_PROTOCOL_VERSION;
    snprintf(hello.u.hello.network_id, sizeof(hello.u.hello.network_id), "%s",
             twin_node_network_id(p->north));
    memcpy(hello.u.hello.node, twin_node_key(p->north)->pk, TWIN_PUBKEY_BYTES);
    hello.u.hello.has_head = true;
    memcpy(hello.u.hello.head, head.id, TWIN_OID_BYTES);
    snprintf(hello.u.hello.software, sizeof(hello.u.hello.software), "older-peer");
    assert_int_equal(twin_channel_send(ch, &hello), 0);
    assert_int_equal(twin_channel_recv(ch, &in), 0);
    assert_int_equal(in.type, TWIN_MSG_CHECKPOINT);
    twin_msg_clear(&in);
    struct twin_checkpoint cp;
    assert_int_equal(twin_checkpoint_make(&cp, p->north, twin_node_key(p->south)->pk, &head), 0);
    twin_msg c = {.type = TWIN_MSG_CHECKPOINT};
    snprintf(c.u.checkpoint.statement, sizeof(c.u.checkpoint.statement), "%s", cp.text);
    snprintf(c.u.checkpoint.signature, sizeof(c.u.checkpoint.signature), "%s", cp.sig);
    free(cp.sig);
    assert_int_equal(twin_channel_send(ch, &c), 0);
    /* Then goodbye, not wraps_since. */
    assert_int_equal(twin_channel_recv(ch, &in), 0);
    if (in.type != TWIN_MSG_GOODBYE)
        fail_msg("%s came where goodbye was due", twin_msg_type_name(in.type));
    twin_msg_clear(&in);
    assert_int_equal(twin_channel_goodbye(ch, TWIN_GOODBYE_DONE), 0);
    pthread_join(thread, NULL);
    twin_channel_free(ch);
    if (r.rc)
        fail_msg("the initiator failed: %s", r.error);
    assert_false(r.st.wraps);
    assert_int_equal(r.st.checkpoints, 2);
    assert_int_equal(wraps_of(p->south, n.id), 1);
    twin_sealed_clear(&n.s);
}

/* Sends the bytes of a wraps message whose second wrap's blob is bin 19. */
static void send_malformed_wraps(twin_channel *ch, const unsigned char store[16])
{
    msgpack_sbuffer sb;
    msgpack_packer pk;
    unsigned char b[80] = {0};
    msgpack_sbuffer_init(&sb);
    msgpack_packer_init(&pk, &sb, msgpack_sbuffer_write);
    msgpack_pack_map(&pk, 5);
    msgpack_pack_str(&pk, 4), msgpack_pack_str_body(&pk, "type", 4);
    msgpack_pack_str(&pk, 5), msgpack_pack_str_body(&pk, "wraps", 5);
    msgpack_pack_str(&pk, 5), msgpack_pack_str_body(&pk, "store", 5);
    msgpack_pack_bin(&pk, 16), msgpack_pack_bin_body(&pk, store, 16);
    msgpack_pack_str(&pk, 4), msgpack_pack_str_body(&pk, "upto", 4);
    msgpack_pack_uint64(&pk, 9);
    msgpack_pack_str(&pk, 5), msgpack_pack_str_body(&pk, "items", 5);
    msgpack_pack_array(&pk, 1);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_bin(&pk, 19), msgpack_pack_bin_body(&pk, b, 19);
    msgpack_pack_bin(&pk, 32), msgpack_pack_bin_body(&pk, b, 32);
    msgpack_pack_bin(&pk, 80), msgpack_pack_bin_body(&pk, b, 80);
    msgpack_pack_str(&pk, 4), msgpack_pack_str_body(&pk, "more", 4);
    msgpack_pack_false(&pk);
    assert_int_equal(twin_channel_send_raw(ch, sb.data, sb.size), 0);
    msgpack_sbuffer_destroy(&sb);
}

static void a_malformed_wraps_message_ends_the_session_with_error_2(void **state)
{
    struct peers *p = *state;
    struct sealed_note n;
    seal_a_note(&n, p);
    struct session s;
    hand_to_checkpoints(&s, p, true);
    /* South asks for everything, and takes North's answer. */
    twin_msg ask = {.type = TWIN_MSG_WRAPS_SINCE}, in = {0};
    assert_int_equal(twin_channel_send(s.ch, &ask), 0);
    for (bool more = true; more;) {
        assert_int_equal(twin_channel_recv(s.ch, &in), 0);
        assert_int_equal(in.type, TWIN_MSG_WRAPS);
        more = in.u.wraps.more;
        twin_msg_clear(&in);
    }
    assert_int_equal(twin_channel_recv(s.ch, &in), 0);
    assert_int_equal(in.type, TWIN_MSG_WRAPS_SINCE);
    assert_false(in.u.wraps_since.has_store);
    twin_msg_clear(&in);
    /* A good first message, South's listed wrap, with more to come; then a broken one. */
    twin_msg_wrap good = {0};
    for (size_t k = 0; k < n.s.nwraps; k++)
        if (memcmp(n.s.wraps[k].to, twin_node_key(p->south)->pk, TWIN_PUBKEY_BYTES) == 0) {
            memcpy(good.blob, n.s.wraps[k].blob, sizeof(good.blob));
            memcpy(good.to, n.s.wraps[k].to, sizeof(good.to));
            memcpy(good.box, n.s.wraps[k].box, sizeof(good.box));
        }
    twin_msg w = {.type = TWIN_MSG_WRAPS};
    memset(w.u.wraps.store, 0x3e, sizeof(w.u.wraps.store));
    w.u.wraps.upto = 1;
    w.u.wraps.items = &good;
    w.u.wraps.count = 1;
    w.u.wraps.more = true;
    assert_int_equal(twin_channel_send(s.ch, &w), 0);
    send_malformed_wraps(s.ch, w.u.wraps.store);
    assert_int_equal(twin_channel_recv(s.ch, &in), 0);
    assert_int_equal(in.type, TWIN_MSG_ERROR);
    assert_int_equal(in.u.error.code, TWIN_WIRE_MALFORMED);
    assert_non_null(strstr(in.u.error.message, "\"blob\" must be bin 20, not bin 19"));
    twin_msg_clear(&in);
    twin_channel_free(s.ch);
    pthread_join(s.thread, NULL);
    assert_int_not_equal(s.r.rc, 0);
    /* What came before stays; how far South's store was received is not recorded. */
    assert_int_equal(wraps_of(p->north, n.id), 2);
    twin_wraps *store = NULL;
    unsigned char place[16], none[16] = {0};
    uint64_t upto = 5;
    assert_int_equal(twin_node_wraps(&store, p->north), 0);
    assert_int_equal(twin_wraps_peer_get(store, twin_node_key(p->south)->pk, place, &upto), 0);
    assert_memory_equal(place, none, sizeof(none));
    assert_int_equal(upto, 0);
    twin_sealed_clear(&n.s);
}

static void a_wraps_message_out_of_order_is_error_4(void **state)
{
    struct peers *p = *state;
    struct sealed_note n;
    seal_a_note(&n, p);
    struct session s;
    hand_to_checkpoints(&s, p, true);
    /* wraps where wraps_since is due. */
    twin_msg w = {.type = TWIN_MSG_WRAPS};
    assert_int_equal(twin_channel_send(s.ch, &w), 0);
    twin_msg in = {0};
    assert_int_equal(twin_channel_recv(s.ch, &in), 0);
    assert_int_equal(in.type, TWIN_MSG_ERROR);
    assert_int_equal(in.u.error.code, TWIN_WIRE_UNEXPECTED);
    twin_msg_clear(&in);
    twin_channel_free(s.ch);
    pthread_join(s.thread, NULL);
    assert_int_not_equal(s.r.rc, 0);
    /* An answer that does not fit what was asked: a second answer's upto going back. */
    hand_to_checkpoints(&s, p, true);
    twin_msg ask = {.type = TWIN_MSG_WRAPS_SINCE};
    assert_int_equal(twin_channel_send(s.ch, &ask), 0);
    for (bool more = true; more;) {
        assert_int_equal(twin_channel_recv(s.ch, &in), 0);
        assert_int_equal(in.type, TWIN_MSG_WRAPS);
        more = in.u.wraps.more;
        twin_msg_clear(&in);
    }
    expect_next(&s, TWIN_MSG_WRAPS_SINCE);
    memset(w.u.wraps.store, 0x3e, sizeof(w.u.wraps.store));
    w.u.wraps.upto = 0;
    w.u.wraps.more = true; /* more, with no wrap */
    assert_int_equal(twin_channel_send(s.ch, &w), 0);
    assert_int_equal(twin_channel_recv(s.ch, &in), 0);
    assert_int_equal(in.type, TWIN_MSG_ERROR);
    assert_int_equal(in.u.error.code, TWIN_WIRE_MALFORMED);
    assert_non_null(strstr(in.u.error.message, "holds no wrap"));
    twin_msg_clear(&in);
    twin_channel_free(s.ch);
    pthread_join(s.thread, NULL);
    assert_int_not_equal(s.r.rc, 0);
    twin_sealed_clear(&n.s);
}

int main(void)
{
    git_libgit2_init();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(a_node_without_history_takes_the_whole_history, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_session_between_equal_heads_changes_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(the_initiators_new_commit_moves_the_responder_forward,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(diverged_heads_merge_and_both_nodes_end_on_the_merge, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_conflicting_change_is_settled_alike_on_both_nodes, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_session_where_neither_node_has_history_is_refused, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_node_the_responder_does_not_admit_moves_nothing, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(authorize_admits_active_member_keys_and_configured_peers,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(a_cancelled_sync_abandons_a_silent_peer, setup, teardown),
        cmocka_unit_test_setup_teardown(
            sync_peer_runs_a_session_over_tcp_with_the_expected_key_only, setup, teardown),
        cmocka_unit_test_setup_teardown(a_malformed_pack_is_answered_with_refuse_4, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_pack_over_a_bound_is_answered_with_refuse_8, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(
            a_proposal_whose_objects_were_never_sent_is_answered_with_refuse_9, setup, teardown),
        cmocka_unit_test_setup_teardown(
            a_rule_1_merge_where_a_date_far_ahead_wins_is_refused_with_5, setup, teardown),
        cmocka_unit_test_setup_teardown(a_rule_1_merge_that_rule_2_gives_alike_is_accepted, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(wraps_of_new_history_are_checked_without_reading_it_again,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(wraps_travel_both_ways_between_equal_heads_and_only_once,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(a_peer_whose_hello_lacks_ext_gets_no_wraps_messages, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(an_older_responder_is_sent_no_wraps_messages, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_malformed_wraps_message_ends_the_session_with_error_2,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(a_wraps_message_out_of_order_is_error_4, setup, teardown),
    };
    int failed = cmocka_run_group_tests(tests, NULL, NULL);
    git_libgit2_shutdown();
    return failed;
}
