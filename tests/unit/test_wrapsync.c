/* Wraps in a sync session (src/sync/wrapsync.c, proto/SEALED.md 3 and 5): which wraps a node
 * keeps of those a peer sends. A real network of North (admin), South (two more keys: one
 * revoked, one added after the sealing) and East (outside the audience), with a note sealed for
 * North and South at North's head. Each hostile wrap is dropped for the rule it breaks, and
 * nothing of it is stored; the good ones (listed, later and signed) are kept once. Then the
 * answer a store gives to an ask and how a receiver takes it: the peer's place recorded only
 * after the last message, nothing sent again. */
#define _XOPEN_SOURCE 700 /* nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <sodium.h>
#include <sqlite3.h>

#include "base/sha1.h"
#include "ops/sealed.h"
#include "records/envelope.h"
#include "sync/wrapsync.h"
#include "twin/global.h"
#include "twin/record.h"
#include "twin/tree.h"
#include "unit/helpers.h"

static const struct twin_identity east_who = {"Ministry East", "XE-EXAMPLE-E", "KE", "south", NULL};

struct net {
    struct helper_nodes *p;
    twin_keypair east, south2, south3;          /* south2 revoked; south3 added after the sealing */
    unsigned char south_old[TWIN_PUBKEY_BYTES]; /* South's key before its rotation: retired */
    unsigned char network[TWIN_SEAL_NETWORK_BYTES];
    struct twin_sealed s; /* the note, sealed for North and South */
    git_oid commit;       /* where North's head put it */
    /* With notes: the checks begin with notes holding the note's version, as a session's check
     * of received commits would leave them, and must judge every wrap as without. */
    twin_wrapsync_notes *notes;
};

/* North's branch moves to a commit that sets path to text (signed by North). */
static git_oid commit_file(twin_node *n, const char *path, const char *text, size_t len)
{
    return helper_commit_file(n, "Ministry North", "XE-EXAMPLE-N", path, text, len);
}

static char *path_of(char *out, size_t cap, const json_t *envelope)
{
    assert_int_equal(twin_record_path(out, cap,
                                      json_string_value(json_object_get(envelope, "type")),
                                      json_string_value(json_object_get(envelope, "id"))),
                     0);
    return out;
}

static int setup(void **state)
{
    struct net *t = calloc(1, sizeof(*t));
    assert_non_null(t);
    helper_nodes_setup((void **)&t->p);
    struct helper_nodes *p = t->p;
    git_oid c;
    keypair_from_seed(&t->east, 0x31);
    keypair_from_seed(&t->south2, 0x41);
    keypair_from_seed(&t->south3, 0x61);
    if (twin_ops_member_add(&c, p->north, &east_who, "editor", t->east.pk) ||
        twin_ops_member_add_key(&c, p->north, "XE-EXAMPLE-S", t->south2.pk))
        fail_msg("members: %s", twin_error_last());
    /* Sealed while South's keys are its node key and south2, all active. */
    struct twin_membership *m = NULL;
    assert_int_equal(twin_ops_members(&m, p->north, NULL), 0);
    json_t *rec = json_pack("{s:s, s:s, s:s, s:s, s:s}", "id", "", "type", "note", "kind", "risk",
                            "title", "Budget", "body", "The ministry may cut the budget.");
    char id[TWIN_ID_LEN + 1];
    twin_record_new_id(id);
    json_object_set_new(rec, "id", json_string(id));
    const char *audience[] = {"XE-EXAMPLE-N", "XE-EXAMPLE-S"};
    if (twin_sealed_seal(&t->s, rec, audience, 2, NULL, m))
        fail_msg("seal: %s", twin_error_last());
    assert_int_equal(t->s.nwraps, 3);
    json_decref(rec);
    twin_membership_free(m);
    /* Then south2 is revoked, south3 added, and South rotates its node key. */
    memcpy(t->south_old, twin_node_key(p->south)->pk, TWIN_PUBKEY_BYTES);
    if (twin_ops_member_revoke_key(&c, p->north, "XE-EXAMPLE-S", t->south2.pk) ||
        twin_ops_member_add_key(&c, p->north, "XE-EXAMPLE-S", t->south3.pk))
        fail_msg("keys: %s", twin_error_last());
    pull(p->south, p->north);
    if (twin_ops_key_rotate(&c, p->south))
        fail_msg("rotate: %s", twin_error_last());
    pull(p->north, p->south);
    char path[256];
    t->commit =
        commit_file(p->north, path_of(path, sizeof(path), t->s.envelope), t->s.text, t->s.text_len);
    assert_int_equal(twin_noise_network_id_parse(t->network, twin_node_network_id(p->north)), 0);
    *state = t;
    return 0;
}

/* Notes the envelope file text (blob id and parsed file) in notes. */
static void note_text(twin_wrapsync_notes *notes, const char *text, size_t len)
{
    git_oid id;
    json_error_t err;
    json_t *file = json_loadb(text, len, 0, &err);
    assert_non_null(file);
    twin_sha1_object(id.id, "blob", text, len);
    struct twin_envelope e;
    assert_int_equal(twin_envelope_read_public(&e, file), 0);
    twin_wrapsync_note(&id, &e, notes);
    twin_envelope_clear(&e);
    json_decref(file);
}

static int setup_noted(void **state)
{
    setup(state);
    struct net *t = *state;
    assert_int_equal(twin_wrapsync_notes_new(&t->notes), 0);
    note_text(t->notes, t->s.text, t->s.text_len);
    return 0;
}

static int teardown(void **state)
{
    struct net *t = *state;
    twin_wrapsync_notes_free(t->notes);
    twin_sealed_clear(&t->s);
    helper_nodes_teardown((void **)&t->p);
    free(t);
    return 0;
}

/* The listed wrap of the sealing to key. */
static struct twin_wrap listed_to(struct net *t, const unsigned char *key)
{
    for (size_t i = 0; i < t->s.nwraps; i++)
        if (memcmp(t->s.wraps[i].to, key, TWIN_PUBKEY_BYTES) == 0) {
            struct twin_wrap w = t->s.wraps[i];
            memset(w.record, 0, sizeof(w.record)); /* the check fills it */
            return w;
        }
    fail_msg("no listed wrap to that key");
    return (struct twin_wrap){0};
}

/* A later wrap of a fresh key (it does not matter what it opens: nobody can tell without the
 * recipient's secret key) to key, made and signed by maker. */
static struct twin_wrap later(struct net *t, const unsigned char *to, const twin_keypair *maker)
{
    struct twin_wrap w = {0};
    unsigned char k[TWIN_SEAL_KEY_BYTES];
    randombytes_buf(k, sizeof(k));
    memcpy(w.blob, t->s.blob, sizeof(w.blob));
    memcpy(w.to, to, sizeof(w.to));
    assert_int_equal(twin_seal_wrap(w.box, k, to), 0);
    w.signed_by = true;
    memcpy(w.by, maker->pk, sizeof(w.by));
    twin_seal_wrap_sign(w.sig, maker, t->network, w.blob, w.to, w.box);
    return w;
}

/* Checks wrap at North and insists on the verdict and, for a dropped one, the reason. */
static void expect(twin_wrapsync *ws, struct twin_wrap wrap, enum twin_wrapsync_verdict want,
                   const char *why_part)
{
    enum twin_wrapsync_verdict got;
    const char *why = NULL;
    if (twin_wrapsync_check(&got, &why, ws, &wrap))
        fail_msg("check: %s", twin_error_last());
    if (got != want || (why_part && !strstr(why, why_part)))
        fail_msg("verdict %d (\"%s\"), expected %d (\"%s\")", got, why, want,
                 why_part ? why_part : "");
}

static size_t kept(struct net *t)
{
    twin_wraps *w = NULL;
    size_t n = 0;
    assert_int_equal(twin_node_wraps(&w, t->p->north), 0);
    char id[TWIN_ID_LEN + 1];
    snprintf(id, sizeof(id), "%s", json_string_value(json_object_get(t->s.envelope, "id")));
    assert_int_equal(twin_wraps_count_record(&n, w, id), 0);
    return n;
}

static twin_wrapsync *begin(struct net *t)
{
    twin_wrapsync *ws = NULL;
    if (twin_wrapsync_begin(&ws, t->p->north, t->notes))
        fail_msg("begin: %s", twin_error_last());
    return ws;
}

static void listed_and_later_signed_wraps_are_kept_once(void **state)
{
    struct net *t = *state;
    twin_wrapsync *ws = begin(t);
    const unsigned char *north = twin_node_key(t->p->north)->pk;
    struct twin_wrap w = listed_to(t, north);
    expect(ws, w, TWIN_WRAPSYNC_KEPT, NULL);
    expect(ws, w, TWIN_WRAPSYNC_HELD, NULL);
    /* The record comes from the envelope, whatever the sender said. */
    snprintf(w.record, sizeof(w.record), "0193a5c2-7d1e-7000-8000-00000000dead");
    expect(ws, w, TWIN_WRAPSYNC_HELD, NULL);
    assert_int_equal(kept(t), 1);
    /* A later wrap to the key added after the sealing, made by North (in the audience). */
    struct twin_wrap l = later(t, t->south3.pk, twin_node_key(t->p->north));
    expect(ws, l, TWIN_WRAPSYNC_KEPT, NULL);
    expect(ws, l, TWIN_WRAPSYNC_HELD, NULL);
    /* ... and by South with its new key. */
    expect(ws, later(t, twin_node_key(t->p->south)->pk, twin_node_key(t->p->south)),
           TWIN_WRAPSYNC_KEPT, NULL);
    assert_int_equal(kept(t), 3);
    struct twin_wrapsync_counts c = twin_wrapsync_counts(ws);
    assert_int_equal(c.received, 6);
    assert_int_equal(c.kept, 3);
    assert_int_equal(c.held, 3);
    assert_int_equal(c.dropped, 0);
    twin_wrapsync_end(ws);
}

static int first_of(const struct twin_wrap *wrap, void *ctx)
{
    *(struct twin_wrap *)ctx = *wrap;
    return 1;
}

static void a_listed_wrap_sent_as_a_later_one_is_kept_as_listed(void **state)
{
    struct net *t = *state;
    twin_wrapsync *ws = begin(t);
    /* South's old key is retired now: the listed wrap to North is the one still good. */
    struct twin_wrap w = listed_to(t, twin_node_key(t->p->north)->pk);
    w.signed_by = true;
    memset(w.by, 0x44, sizeof(w.by));
    memset(w.sig, 0x55, sizeof(w.sig));
    expect(ws, w, TWIN_WRAPSYNC_KEPT, NULL);
    twin_wraps *store = NULL;
    struct twin_wrap got = {0};
    assert_int_equal(twin_node_wraps(&store, t->p->north), 0);
    assert_int_equal(twin_wraps_each_for(store,
                                         json_string_value(json_object_get(t->s.envelope, "id")),
                                         w.blob, w.to, first_of, &got),
                     1);
    assert_false(got.signed_by);
    assert_string_equal(got.record, json_string_value(json_object_get(t->s.envelope, "id")));
    twin_wrapsync_end(ws);
}

/* A note of its own, sealed for North alone, that no commit holds. */
static void seal_elsewhere(struct twin_sealed *out, struct net *t)
{
    struct twin_membership *m = NULL;
    assert_int_equal(twin_ops_members(&m, t->p->north, NULL), 0);
    json_t *rec = json_pack("{s:s, s:s, s:s, s:s}", "id", "", "type", "note", "kind", "risk",
                            "title", "Elsewhere");
    char rid[TWIN_ID_LEN + 1];
    twin_record_new_id(rid);
    json_object_set_new(rec, "id", json_string(rid));
    const char *audience[] = {"XE-EXAMPLE-N"};
    assert_int_equal(twin_sealed_seal(out, rec, audience, 1, NULL, m), 0);
    json_decref(rec);
    twin_membership_free(m);
}

static void a_wrap_for_a_blob_that_is_no_envelope_here_is_dropped(void **state)
{
    struct net *t = *state;
    twin_wrapsync *ws = begin(t);
    struct twin_wrap w = listed_to(t, twin_node_key(t->p->north)->pk);
    git_repository *repo = twin_node_repo(t->p->north);
    git_oid id;

    /* Not in the repository. */
    memset(w.blob, 0x6b, sizeof(w.blob));
    expect(ws, w, TWIN_WRAPSYNC_DROPPED, "not in this node's repository");
    /* A tree, not a blob: the head's. */
    git_commit *c = NULL;
    assert_int_equal(git_commit_lookup(&c, repo, &t->commit), 0);
    memcpy(w.blob, git_commit_tree_id(c)->id, sizeof(w.blob));
    git_commit_free(c);
    expect(ws, w, TWIN_WRAPSYNC_DROPPED, "not a blob");
    /* A blob that is not canonical JSON. */
    assert_int_equal(git_blob_create_from_buffer(&id, repo, "{\"a\": 1}", 8), 0);
    memcpy(w.blob, id.id, sizeof(w.blob));
    expect(ws, w, TWIN_WRAPSYNC_DROPPED, "not a file in canonical JSON");
    /* A record file that is not an envelope: North's member file. */
    git_tree *tree = NULL;
    assert_int_equal(git_commit_lookup(&c, repo, &t->commit), 0);
    assert_int_equal(git_commit_tree(&tree, c), 0);
    git_tree_entry *e = NULL;
    assert_int_equal(twin_tree_entry_at(&e, repo, tree, "members/XE-EXAMPLE-N.json"), 0);
    memcpy(w.blob, git_tree_entry_id(e)->id, sizeof(w.blob));
    git_tree_entry_free(e);
    git_tree_free(tree);
    git_commit_free(c);
    expect(ws, w, TWIN_WRAPSYNC_DROPPED, "not an envelope");
    /* An envelope in the object store whose record is not at the head. */
    struct twin_sealed other;
    seal_elsewhere(&other, t);
    assert_int_equal(git_blob_create_from_buffer(&id, repo, other.text, other.text_len), 0);
    struct twin_wrap o = other.wraps[0];
    expect(ws, o, TWIN_WRAPSYNC_DROPPED, "its record is not at the head");
    twin_sealed_clear(&other);
    assert_int_equal(kept(t), 0);
    assert_int_equal(twin_wrapsync_counts(ws).dropped, 5);
    twin_wrapsync_end(ws);
}

static void a_wrap_to_a_key_that_may_not_read_is_dropped(void **state)
{
    struct net *t = *state;
    twin_wrapsync *ws = begin(t);
    const twin_keypair *north = twin_node_key(t->p->north);
    /* South's key before its rotation, retired now, had a listed wrap. */
    expect(ws, listed_to(t, t->south_old), TWIN_WRAPSYNC_DROPPED, "its key is not active");
    /* So had south2, revoked since. */
    expect(ws, listed_to(t, t->south2.pk), TWIN_WRAPSYNC_DROPPED, "its key is not active");
    /* East is a member outside the version's audience. */
    expect(ws, later(t, t->east.pk, north), TWIN_WRAPSYNC_DROPPED,
           "its key's institution is outside the version's audience");
    /* A key no member holds. */
    twin_keypair stranger;
    keypair_from_seed(&stranger, 0x71);
    expect(ws, later(t, stranger.pk, north), TWIN_WRAPSYNC_DROPPED, "its key is not a member key");
    assert_int_equal(kept(t), 0);
    twin_wrapsync_end(ws);
}

static void an_unlisted_wrap_must_be_signed_by_an_audience_key(void **state)
{
    struct net *t = *state;
    twin_wrapsync *ws = begin(t);
    const twin_keypair *north = twin_node_key(t->p->north);
    struct twin_wrap w = later(t, t->south3.pk, north);
    /* Unlisted and unsigned. */
    w.signed_by = false;
    expect(ws, w, TWIN_WRAPSYNC_DROPPED, "neither listed nor signed");
    /* Signed by East: a member, outside the audience. */
    expect(ws, later(t, t->south3.pk, &t->east), TWIN_WRAPSYNC_DROPPED,
           "its maker is outside the version's audience");
    /* Signed by south2, revoked. */
    expect(ws, later(t, t->south3.pk, &t->south2), TWIN_WRAPSYNC_DROPPED,
           "its maker's key is not active");
    /* A bad signature: one bit of it, of the box, or of the maker. */
    struct twin_wrap bad = later(t, t->south3.pk, north);
    bad.sig[10] ^= 1;
    expect(ws, bad, TWIN_WRAPSYNC_DROPPED, "its signature does not verify");
    bad = later(t, t->south3.pk, north);
    bad.box[0] ^= 1;
    expect(ws, bad, TWIN_WRAPSYNC_DROPPED, "its signature does not verify");
    bad = later(t, t->south3.pk, north);
    memcpy(bad.by, twin_node_key(t->p->south)->pk, TWIN_PUBKEY_BYTES);
    expect(ws, bad, TWIN_WRAPSYNC_DROPPED, "its signature does not verify");
    /* Signed for another network. */
    bad = later(t, t->south3.pk, north);
    unsigned char other[TWIN_SEAL_NETWORK_BYTES];
    memset(other, 0xee, sizeof(other));
    twin_seal_wrap_sign(bad.sig, north, other, bad.blob, bad.to, bad.box);
    expect(ws, bad, TWIN_WRAPSYNC_DROPPED, "its signature does not verify");
    assert_int_equal(kept(t), 0);
    assert_int_equal(twin_wrapsync_counts(ws).dropped, 7);
    twin_wrapsync_end(ws);
}

static void a_fifth_later_wrap_for_one_version_and_key_is_dropped(void **state)
{
    struct net *t = *state;
    twin_wrapsync *ws = begin(t);
    const twin_keypair *north = twin_node_key(t->p->north);
    struct twin_wrap four[4];
    for (int i = 0; i < 4; i++) {
        four[i] = later(t, t->south3.pk, north);
        expect(ws, four[i], TWIN_WRAPSYNC_KEPT, NULL);
    }
    expect(ws, later(t, t->south3.pk, north), TWIN_WRAPSYNC_DROPPED, "four later wraps");
    /* One of the four again is no error. */
    expect(ws, four[2], TWIN_WRAPSYNC_HELD, NULL);
    /* The limit is per key: North's own key still takes a later wrap, and listed ones count
     * apart. */
    expect(ws, later(t, north->pk, north), TWIN_WRAPSYNC_KEPT, NULL);
    expect(ws, listed_to(t, north->pk), TWIN_WRAPSYNC_KEPT, NULL);
    assert_int_equal(kept(t), 6);
    twin_wrapsync_end(ws);
}

static void wraps_of_an_erased_record_are_dropped(void **state)
{
    struct net *t = *state;
    const twin_keypair *north = twin_node_key(t->p->north);
    /* The erased envelope at the head: the version before it is no longer readable. */
    json_t *erased = NULL;
    assert_int_equal(twin_envelope_erase(&erased, t->s.envelope, "Asked to forget"), 0);
    char *text = NULL, path[256];
    size_t len = 0;
    assert_int_equal(twin_record_canonical(&text, &len, erased), 0);
    commit_file(t->p->north, path_of(path, sizeof(path), erased), text, len);
    twin_wrapsync *ws = begin(t);
    expect(ws, listed_to(t, north->pk), TWIN_WRAPSYNC_DROPPED, "erased at the head");
    expect(ws, later(t, t->south3.pk, north), TWIN_WRAPSYNC_DROPPED, "erased at the head");
    /* A wrap for the erased envelope itself. */
    struct twin_wrap w = later(t, t->south3.pk, north);
    twin_sha1_object(w.blob, "blob", text, len);
    twin_seal_wrap_sign(w.sig, north, t->network, w.blob, w.to, w.box);
    expect(ws, w, TWIN_WRAPSYNC_DROPPED, "an erased envelope");
    twin_wrapsync_end(ws);
    free(text);
    json_decref(erased);
    assert_int_equal(kept(t), 0);
}

static void wraps_of_a_record_the_store_erased_are_dropped(void **state)
{
    struct net *t = *state;
    twin_wraps *store = NULL;
    assert_int_equal(twin_node_wraps(&store, t->p->north), 0);
    assert_int_equal(
        twin_wraps_erase(store, json_string_value(json_object_get(t->s.envelope, "id")), NULL), 0);
    twin_wrapsync *ws = begin(t);
    expect(ws, listed_to(t, twin_node_key(t->p->north)->pk), TWIN_WRAPSYNC_DROPPED,
           "its record was erased");
    twin_wrapsync_end(ws);
    assert_int_equal(kept(t), 0);
}

/* A record erased in the store after the checks began: its wraps pass the checks made on what
 * was erased then, and are dropped when kept. */
static void wraps_of_a_record_erased_meanwhile_are_dropped(void **state)
{
    struct net *t = *state;
    twin_wraps *store = NULL;
    assert_int_equal(twin_node_wraps(&store, t->p->north), 0);
    twin_wrapsync *ws = begin(t);
    assert_int_equal(
        twin_wraps_erase(store, json_string_value(json_object_get(t->s.envelope, "id")), NULL), 0);
    expect(ws, listed_to(t, twin_node_key(t->p->north)->pk), TWIN_WRAPSYNC_DROPPED,
           "its record was erased");
    twin_wrapsync_end(ws);
    assert_int_equal(kept(t), 0);
}

/* The wraps of one message are kept in their order, each against the store as those before it
 * left it, while the checks go on: of six later wraps for one version and key in one message,
 * four are kept and two dropped, as when taken one by one. */
static void later_wraps_in_one_message_keep_their_bound(void **state)
{
    struct net *t = *state;
    const twin_keypair *north = twin_node_key(t->p->north);
    twin_msg_wrap items[6];
    for (int i = 0; i < 6; i++) {
        struct twin_wrap w = later(t, t->south3.pk, north);
        memcpy(items[i].blob, w.blob, sizeof(w.blob));
        memcpy(items[i].to, w.to, sizeof(w.to));
        memcpy(items[i].box, w.box, sizeof(w.box));
        items[i].signed_by = true;
        memcpy(items[i].by, w.by, sizeof(w.by));
        memcpy(items[i].sig, w.sig, sizeof(w.sig));
    }
    twin_msg ask = {.type = TWIN_MSG_WRAPS_SINCE}, m = {.type = TWIN_MSG_WRAPS};
    randombytes_buf(m.u.wraps.store, sizeof(m.u.wraps.store));
    m.u.wraps.upto = 6;
    m.u.wraps.items = items;
    m.u.wraps.count = 6;
    twin_wrapsync *ws = begin(t);
    bool last = false;
    assert_int_equal(twin_wrapsync_take(&last, ws, twin_node_key(t->p->south)->pk, &ask, &m), 0);
    assert_true(last);
    struct twin_wrapsync_counts c = twin_wrapsync_counts(ws);
    assert_int_equal(c.received, 6);
    assert_int_equal(c.kept, 4);
    assert_int_equal(c.dropped, 2);
    twin_wrapsync_end(ws);
    assert_int_equal(kept(t), 4);
}

/* A fault in keeping a message's wraps (the store lost a table) is told by the take that follows,
 * and the peer's place is not recorded, so its wraps are asked for again. */
static void a_fault_in_keeping_wraps_ends_the_answer(void **state)
{
    struct net *t = *state;
    const unsigned char *peer = twin_node_key(t->p->south)->pk;
    struct twin_wrap w = listed_to(t, twin_node_key(t->p->north)->pk);
    twin_msg_wrap item = {.signed_by = false};
    memcpy(item.blob, w.blob, sizeof(w.blob));
    memcpy(item.to, w.to, sizeof(w.to));
    memcpy(item.box, w.box, sizeof(w.box));
    twin_msg ask = {.type = TWIN_MSG_WRAPS_SINCE}, m = {.type = TWIN_MSG_WRAPS};
    randombytes_buf(m.u.wraps.store, sizeof(m.u.wraps.store));
    m.u.wraps.upto = 1;
    m.u.wraps.items = &item;
    m.u.wraps.count = 1;
    m.u.wraps.more = true;
    twin_wrapsync *ws = begin(t);
    char path[300];
    sqlite3 *db = NULL;
    snprintf(path, sizeof(path), "%s/%s", twin_node_dir(t->p->north), TWIN_WRAPS_FILE);
    assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 10000);
    assert_int_equal(sqlite3_exec(db, "DROP TABLE erased", NULL, NULL, NULL), SQLITE_OK);
    sqlite3_close(db);
    bool last = false;
    assert_int_equal(twin_wrapsync_take(&last, ws, peer, &ask, &m), 0); /* handed over */
    m.u.wraps.upto = 2;
    m.u.wraps.more = false;
    assert_error(twin_wrapsync_take(&last, ws, peer, &ask, &m), TWIN_ERROR, "erased");
    assert_false(last);
    twin_wrapsync_end(ws);
    twin_wraps *store = NULL;
    unsigned char store_id[TWIN_WRAPS_STORE_BYTES];
    uint64_t upto = 99;
    assert_int_equal(twin_node_wraps(&store, t->p->north), 0);
    assert_int_equal(twin_wraps_peer_get(store, peer, store_id, &upto), 0);
    assert_int_equal(upto, 0);
    assert_int_equal(kept(t), 0);
}

static void a_noted_version_is_still_checked_at_the_head(void **state)
{
    struct net *t = *state;
    const twin_keypair *north = twin_node_key(t->p->north);
    /* Another sealed note, noted as a check would, but never at the head. */
    struct twin_sealed other;
    seal_elsewhere(&other, t);
    /* And the note's erasure, noted but not at the head either. */
    json_t *erased = NULL;
    char *text = NULL;
    size_t len = 0;
    assert_int_equal(twin_envelope_erase(&erased, t->s.envelope, "Asked to forget"), 0);
    assert_int_equal(twin_record_canonical(&text, &len, erased), 0);
    twin_wrapsync_notes *notes = NULL;
    assert_int_equal(twin_wrapsync_notes_new(&notes), 0);
    note_text(notes, other.text, other.text_len);
    note_text(notes, text, len);
    note_text(notes, t->s.text, t->s.text_len);
    note_text(notes, t->s.text, t->s.text_len); /* twice: kept once */
    twin_wrapsync *ws = NULL;
    assert_int_equal(twin_wrapsync_begin(&ws, t->p->north, notes), 0);
    struct twin_wrap w = listed_to(t, north->pk);
    memcpy(w.blob, other.blob, sizeof(w.blob));
    expect(ws, w, TWIN_WRAPSYNC_DROPPED, "not at the head");
    w = later(t, t->south3.pk, north);
    twin_sha1_object(w.blob, "blob", text, len);
    twin_seal_wrap_sign(w.sig, north, t->network, w.blob, w.to, w.box);
    expect(ws, w, TWIN_WRAPSYNC_DROPPED, "an erased envelope");
    /* The version at the head, noted: kept, its record named from the note. */
    expect(ws, listed_to(t, north->pk), TWIN_WRAPSYNC_KEPT, NULL);
    struct twin_wrapsync_counts c = twin_wrapsync_counts(ws);
    assert_int_equal(c.noted, 3); /* none read again */
    assert_int_equal(c.read, 0);
    twin_wrapsync_end(ws);
    twin_wrapsync_notes_free(notes);
    assert_int_equal(kept(t), 1);
    twin_sealed_clear(&other);
    json_decref(erased);
    free(text);
}

/* ---- an answer and its receiving ------------------------------------------------------------ */

struct sink {
    twin_msg msgs[8];
    size_t n;
    twin_msg_wrap items[8][TWIN_MSG_WRAPS_MAX];
};

static int sink_send(const twin_msg *m, void *ctx)
{
    struct sink *s = ctx;
    assert_true(s->n < 8);
    s->msgs[s->n] = *m;
    memcpy(s->items[s->n], m->u.wraps.items, m->u.wraps.count * sizeof(twin_msg_wrap));
    s->msgs[s->n].u.wraps.items = s->items[s->n];
    s->n++;
    return 0;
}

static void an_answer_is_taken_whole_and_never_sent_again(void **state)
{
    struct net *t = *state;
    twin_node *north = t->p->north, *south = t->p->south;
    const unsigned char *south_pk = twin_node_key(south)->pk;
    const unsigned char *north_pk = twin_node_key(north)->pk;
    twin_wraps *ns = NULL, *ss = NULL;
    assert_int_equal(twin_node_wraps(&ns, north), 0);
    assert_int_equal(twin_node_wraps(&ss, south), 0);
    /* North keeps the listed wrap to itself and a later one to South's new key. */
    struct twin_wrap a = listed_to(t, north_pk), b = later(t, south_pk, twin_node_key(north));
    snprintf(a.record, sizeof(a.record), "%s",
             json_string_value(json_object_get(t->s.envelope, "id")));
    snprintf(b.record, sizeof(b.record), "%s", a.record);
    bool added;
    assert_int_equal(twin_wraps_add(ns, &a, &added), 0);
    assert_int_equal(twin_wraps_add(ns, &b, &added), 0);
    pull(south, north);

    /* South has never heard from North: it asks for everything. */
    twin_msg ask;
    assert_int_equal(twin_wrapsync_ask(&ask, south, north_pk), 0);
    assert_false(ask.u.wraps_since.has_store);
    static struct sink sink;
    memset(&sink, 0, sizeof(sink));
    size_t sent = 0;
    assert_int_equal(twin_wrapsync_answer(&sent, north, south_pk, &ask, sink_send, &sink), 0);
    assert_int_equal(sent, 2);
    assert_int_equal(sink.n, 1);
    assert_false(sink.msgs[0].u.wraps.more);
    assert_int_equal(sink.msgs[0].u.wraps.upto, b.seq);
    assert_false(sink.items[0][0].signed_by);
    assert_true(sink.items[0][1].signed_by);

    twin_wrapsync *ws = NULL;
    bool last = false;
    assert_int_equal(twin_wrapsync_begin(&ws, south, NULL), 0);
    /* A message that says more follows: the place is not recorded yet. */
    twin_msg first = sink.msgs[0];
    first.u.wraps.count = 1;
    first.u.wraps.more = true;
    first.u.wraps.upto = a.seq;
    assert_int_equal(twin_wrapsync_take(&last, ws, north_pk, &ask, &first), 0);
    assert_false(last);
    unsigned char store[TWIN_WRAPS_STORE_BYTES], north_store[TWIN_WRAPS_STORE_BYTES];
    uint64_t upto = 99;
    assert_int_equal(twin_wraps_peer_get(ss, north_pk, store, &upto), 0);
    assert_int_equal(upto, 0);
    /* An upto that goes back, or a store that changes, does not fit the answer. */
    twin_msg bad = sink.msgs[0];
    bad.u.wraps.upto = 0;
    assert_error(twin_wrapsync_take(&last, ws, north_pk, &ask, &bad), TWIN_EINVALID,
                 "\"upto\" 0 is below");
    bad = sink.msgs[0];
    bad.u.wraps.store[0] ^= 1;
    assert_error(twin_wrapsync_take(&last, ws, north_pk, &ask, &bad), TWIN_EINVALID,
                 "\"store\" changed");
    bad = sink.msgs[0];
    bad.u.wraps.count = 0;
    bad.u.wraps.more = true;
    assert_error(twin_wrapsync_take(&last, ws, north_pk, &ask, &bad), TWIN_EINVALID,
                 "holds no wrap");
    assert_int_equal(twin_wrapsync_take(&last, ws, north_pk, &ask, &sink.msgs[0]), 0);
    assert_true(last);
    struct twin_wrapsync_counts c = twin_wrapsync_counts(ws);
    assert_int_equal(c.kept, 2);
    assert_int_equal(c.held, 1);
    twin_wrapsync_end(ws);
    twin_wraps_store_id(ns, north_store);
    assert_int_equal(twin_wraps_peer_get(ss, north_pk, store, &upto), 0);
    assert_memory_equal(store, north_store, sizeof(store));
    assert_int_equal(upto, b.seq);

    /* Asked again, North sends nothing, in one last message. */
    assert_int_equal(twin_wrapsync_ask(&ask, south, north_pk), 0);
    assert_true(ask.u.wraps_since.has_store);
    assert_int_equal(ask.u.wraps_since.since, b.seq);
    memset(&sink, 0, sizeof(sink));
    assert_int_equal(twin_wrapsync_answer(&sent, north, south_pk, &ask, sink_send, &sink), 0);
    assert_int_equal(sent, 0);
    assert_int_equal(sink.n, 1);
    assert_int_equal(sink.msgs[0].u.wraps.count, 0);
    assert_int_equal(sink.msgs[0].u.wraps.upto, b.seq);
    assert_false(sink.msgs[0].u.wraps.more);
    /* An ask about another store id (North's store was rebuilt, say) gets everything. */
    ask.u.wraps_since.store[0] ^= 1;
    memset(&sink, 0, sizeof(sink));
    assert_int_equal(twin_wrapsync_answer(&sent, north, south_pk, &ask, sink_send, &sink), 0);
    assert_int_equal(sent, 2);
}

/* North took a wrap from South's store S1, and keeps one from before stores were noted. An ask
 * whose own store ("mine") is S1 gets nothing back of South's; one that names another (South
 * restored from a backup, its store made again) gets the wrap from S1 back, in every later
 * answer until it names S1 no more; an ask that names none gets nothing back of South's. */
static void a_peer_whose_store_was_made_again_gets_its_own_wraps_back(void **state)
{
    struct net *t = *state;
    twin_node *north = t->p->north, *south = t->p->south;
    const unsigned char *south_pk = twin_node_key(south)->pk;
    const unsigned char *north_pk = twin_node_key(north)->pk;
    twin_wraps *ns = NULL;
    assert_int_equal(twin_node_wraps(&ns, north), 0);
    unsigned char s1[TWIN_WRAPS_STORE_BYTES];
    memset(s1, 0x51, sizeof(s1));
    struct twin_wrap w = listed_to(t, north_pk), old = later(t, south_pk, twin_node_key(north));
    snprintf(w.record, sizeof(w.record), "%s",
             json_string_value(json_object_get(t->s.envelope, "id")));
    snprintf(old.record, sizeof(old.record), "%s", w.record);
    w.from_peer = old.from_peer = true;
    memcpy(w.origin, south_pk, sizeof(w.origin));
    memcpy(old.origin, south_pk, sizeof(old.origin));
    w.has_origin_store = true;
    memcpy(w.origin_store, s1, sizeof(s1));
    bool added;
    assert_int_equal(twin_wraps_add(ns, &w, &added), 0);
    assert_int_equal(twin_wraps_add(ns, &old, &added), 0);
    pull(south, north);

    twin_msg ask;
    assert_int_equal(twin_wrapsync_ask(&ask, south, north_pk), 0);
    assert_true(ask.u.wraps_since.has_mine);
    static struct sink sink;
    size_t sent = 9;
    memcpy(ask.u.wraps_since.mine, s1, sizeof(s1));
    memset(&sink, 0, sizeof(sink));
    assert_int_equal(twin_wrapsync_answer(&sent, north, south_pk, &ask, sink_send, &sink), 0);
    assert_int_equal(sent, 0);
    for (int again = 0; again < 2; again++) {
        ask.u.wraps_since.mine[0] = 0x52;
        memset(&sink, 0, sizeof(sink));
        assert_int_equal(twin_wrapsync_answer(&sent, north, south_pk, &ask, sink_send, &sink), 0);
        assert_int_equal(sent, 1);
        assert_memory_equal(sink.items[0][0].box, w.box, sizeof(w.box));
    }
    ask.u.wraps_since.has_mine = false;
    memset(&sink, 0, sizeof(sink));
    assert_int_equal(twin_wrapsync_answer(&sent, north, south_pk, &ask, sink_send, &sink), 0);
    assert_int_equal(sent, 0);
}

static void a_long_answer_comes_in_messages_of_at_most_2048(void **state)
{
    struct net *t = *state;
    twin_node *north = t->p->north;
    twin_wraps *ns = NULL;
    assert_int_equal(twin_node_wraps(&ns, north), 0);
    /* The store keeps what it is given; only a receiver checks. */
    assert_int_equal(twin_wraps_begin(ns), 0);
    for (int i = 0; i < 2 * TWIN_MSG_WRAPS_MAX + 5; i++) {
        struct twin_wrap w = {0};
        snprintf(w.record, sizeof(w.record), "0193a5c2-7d1e-7000-8000-00000000000a");
        randombytes_buf(w.blob, sizeof(w.blob));
        randombytes_buf(w.to, sizeof(w.to));
        randombytes_buf(w.box, sizeof(w.box));
        bool added;
        assert_int_equal(twin_wraps_add(ns, &w, &added), 0);
    }
    assert_int_equal(twin_wraps_commit(ns), 0);
    twin_msg ask = {.type = TWIN_MSG_WRAPS_SINCE};
    static struct sink sink;
    memset(&sink, 0, sizeof(sink));
    size_t sent = 0;
    assert_int_equal(
        twin_wrapsync_answer(&sent, north, twin_node_key(t->p->south)->pk, &ask, sink_send, &sink),
        0);
    assert_int_equal(sent, 2 * TWIN_MSG_WRAPS_MAX + 5);
    assert_int_equal(sink.n, 3);
    assert_int_equal(sink.msgs[0].u.wraps.count, TWIN_MSG_WRAPS_MAX);
    assert_true(sink.msgs[0].u.wraps.more);
    assert_true(sink.msgs[1].u.wraps.more);
    assert_int_equal(sink.msgs[2].u.wraps.count, 5);
    assert_false(sink.msgs[2].u.wraps.more);
    assert_true(sink.msgs[0].u.wraps.upto < sink.msgs[1].u.wraps.upto);
    /* South takes them all and keeps none: no such blob is here. */
    twin_wrapsync *ws = NULL;
    bool last = false;
    pull(t->p->south, north);
    assert_int_equal(twin_wrapsync_begin(&ws, t->p->south, NULL), 0);
    for (size_t i = 0; i < sink.n; i++)
        assert_int_equal(
            twin_wrapsync_take(&last, ws, twin_node_key(north)->pk, &ask, &sink.msgs[i]), 0);
    assert_true(last);
    assert_int_equal(twin_wrapsync_counts(ws).dropped, 2 * TWIN_MSG_WRAPS_MAX + 5);
    assert_int_equal(twin_wrapsync_counts(ws).kept, 0);
    twin_wrapsync_end(ws);
}

int main(void)
{
    if (twin_global_init(false))
        return 1;
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(listed_and_later_signed_wraps_are_kept_once, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_listed_wrap_sent_as_a_later_one_is_kept_as_listed, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_wrap_for_a_blob_that_is_no_envelope_here_is_dropped,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(a_wrap_to_a_key_that_may_not_read_is_dropped, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(an_unlisted_wrap_must_be_signed_by_an_audience_key, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_fifth_later_wrap_for_one_version_and_key_is_dropped,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(wraps_of_an_erased_record_are_dropped, setup, teardown),
        cmocka_unit_test_setup_teardown(wraps_of_a_record_the_store_erased_are_dropped, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(wraps_of_a_record_erased_meanwhile_are_dropped, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(later_wraps_in_one_message_keep_their_bound, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_fault_in_keeping_wraps_ends_the_answer, setup, teardown),
        cmocka_unit_test_setup_teardown(an_answer_is_taken_whole_and_never_sent_again, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(a_peer_whose_store_was_made_again_gets_its_own_wraps_back,
                                        setup, teardown),
        cmocka_unit_test_setup_teardown(a_long_answer_comes_in_messages_of_at_most_2048, setup,
                                        teardown),
        {"listed_and_later_signed_wraps_are_kept_once, with notes",
         listed_and_later_signed_wraps_are_kept_once, setup_noted, teardown, NULL},
        {"a_listed_wrap_sent_as_a_later_one_is_kept_as_listed, with notes",
         a_listed_wrap_sent_as_a_later_one_is_kept_as_listed, setup_noted, teardown, NULL},
        {"a_wrap_for_a_blob_that_is_no_envelope_here_is_dropped, with notes",
         a_wrap_for_a_blob_that_is_no_envelope_here_is_dropped, setup_noted, teardown, NULL},
        {"a_wrap_to_a_key_that_may_not_read_is_dropped, with notes",
         a_wrap_to_a_key_that_may_not_read_is_dropped, setup_noted, teardown, NULL},
        {"an_unlisted_wrap_must_be_signed_by_an_audience_key, with notes",
         an_unlisted_wrap_must_be_signed_by_an_audience_key, setup_noted, teardown, NULL},
        {"a_fifth_later_wrap_for_one_version_and_key_is_dropped, with notes",
         a_fifth_later_wrap_for_one_version_and_key_is_dropped, setup_noted, teardown, NULL},
        {"wraps_of_an_erased_record_are_dropped, with notes", wraps_of_an_erased_record_are_dropped,
         setup_noted, teardown, NULL},
        {"wraps_of_a_record_the_store_erased_are_dropped, with notes",
         wraps_of_a_record_the_store_erased_are_dropped, setup_noted, teardown, NULL},
        cmocka_unit_test_setup_teardown(a_noted_version_is_still_checked_at_the_head, setup,
                                        teardown),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    twin_global_shutdown();
    return rc;
}
