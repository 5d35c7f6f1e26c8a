#include "sync/wrapsync.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "records/envelope.h"
#include "twin/error.h"
#include "twin/membership.h"
#include "twin/noise.h"
#include "twin/record.h"
#include "twin/tree.h"

_Static_assert(TWIN_MSG_BOX_BYTES == TWIN_SEAL_BOX_BYTES, "a wrap's box on the wire");
_Static_assert(TWIN_MSG_SIG_BYTES == TWIN_SEAL_SIG_BYTES, "a later wrap's signature on the wire");
_Static_assert(TWIN_MSG_STORE_BYTES == TWIN_WRAPS_STORE_BYTES, "a wrap store's id on the wire");
_Static_assert(TWIN_OID_BYTES == TWIN_SEAL_BLOB_BYTES, "a blob id on the wire");

/* The canonical form of a stored file (README, "Storage"), as twin_record_canonical writes it;
 * an envelope may be larger than a record, so its bytes are compared here. */
#define CACHE_SLOTS 32

/* One envelope version read by blob id: usable (why NULL), or the rule it breaks. */
struct version {
    bool used;
    unsigned char blob[TWIN_SEAL_BLOB_BYTES];
    const char *why;
    json_t *json;
    struct twin_envelope e;
};

struct twin_wrapsync {
    twin_node *n;
    twin_wraps *w;
    git_repository *repo;
    git_tree *head;
    struct twin_membership *m;
    unsigned char network[TWIN_SEAL_NETWORK_BYTES];
    struct version cache[CACHE_SLOTS];
    size_t next_slot;
    struct twin_wrapsync_counts counts;
    /* The answer being received. */
    size_t messages, wraps;
    unsigned char store[TWIN_WRAPS_STORE_BYTES];
    uint64_t upto;
};

static void version_clear(struct version *v)
{
    twin_envelope_clear(&v->e);
    json_decref(v->json);
    memset(v, 0, sizeof(*v));
}

void twin_wrapsync_end(twin_wrapsync *ws)
{
    if (!ws)
        return;
    for (size_t i = 0; i < CACHE_SLOTS; i++)
        version_clear(&ws->cache[i]);
    twin_membership_free(ws->m);
    git_tree_free(ws->head);
    free(ws);
}

int twin_wrapsync_begin(twin_wrapsync **out, twin_node *n)
{
    *out = NULL;
    twin_wrapsync *ws = calloc(1, sizeof(*ws));
    if (!ws)
        return twin_error(TWIN_ERROR, "out of memory");
    ws->n = n;
    ws->repo = twin_node_repo(n);
    git_oid head;
    git_commit *c = NULL;
    int rc = twin_node_head(&head, n);
    if (rc == 0 &&
        (git_commit_lookup(&c, ws->repo, &head) < 0 || git_commit_tree(&ws->head, c) < 0))
        rc = twin_error_git("reading the head commit");
    git_commit_free(c);
    if (rc == 0)
        rc = twin_membership_load(&ws->m, ws->repo, ws->head);
    if (rc == 0 && twin_noise_network_id_parse(ws->network, twin_node_network_id(n)) != 0)
        rc = twin_error_wrap(TWIN_ERROR, "this node's network id");
    if (rc == 0)
        rc = twin_node_wraps(&ws->w, n);
    if (rc) {
        twin_wrapsync_end(ws);
        return rc;
    }
    *out = ws;
    return 0;
}

struct twin_wrapsync_counts twin_wrapsync_counts(const twin_wrapsync *ws)
{
    return ws->counts;
}

/* Reads the blob id as a canonical JSON file of at most an envelope's size: 0 with *json, or
 * the reason it is not one in *why (TWIN_ENOTFOUND when the object is not here); another code
 * for a fault of this node's. */
static int read_json(json_t **json, const char **why, git_repository *repo, const git_oid *id)
{
    git_odb *odb = NULL;
    git_odb_object *obj = NULL;
    size_t len = 0;
    git_object_t type = GIT_OBJECT_INVALID;
    *json = NULL;
    *why = NULL;
    if (git_repository_odb(&odb, repo) < 0)
        return twin_error_git("opening the object store");
    int rc = 0, err = git_odb_read_header(&len, &type, odb, id);
    if (err == GIT_ENOTFOUND) {
        git_error_clear();
        *why = "its blob is not in this node's repository";
    } else if (err < 0) {
        rc = twin_error_git("reading an object a wrap names");
    } else if (type != GIT_OBJECT_BLOB) {
        *why = "its blob id names an object that is not a blob";
    } else if (len > TWIN_ENVELOPE_MAX_BYTES) {
        *why = "its blob is larger than an envelope";
    } else if (git_odb_read(&obj, odb, id) < 0) {
        rc = twin_error_git("reading a blob a wrap names");
    } else {
        if (twin_record_parse_canonical(json, git_odb_object_data(obj), len)) {
            twin_error_clear();
            *why = "its blob is not a file in canonical JSON";
        }
    }
    git_odb_object_free(obj);
    git_odb_free(odb);
    return rc;
}

/* Whether the record of envelope e is at the head and not erased there (SEALED.md 3, rule 1):
 * NULL when it is, else why not. */
static int check_head(const char **why, twin_wrapsync *ws, const struct twin_envelope *e,
                      const json_t *version, const unsigned char *blob)
{
    char path[256];
    git_tree_entry *entry = NULL;
    json_t *at_head = NULL;
    const char *not_json = NULL;
    bool erased = false;
    *why = NULL;
    int rc = twin_wraps_erased(&erased, ws->w, e->id);
    if (rc)
        return rc;
    if (erased) {
        *why = "its record was erased";
        return 0;
    }
    if (twin_record_path(path, sizeof(path), e->type, e->id) != 0) {
        twin_error_clear();
        *why = "its envelope names no record path";
        return 0;
    }
    rc = twin_tree_entry_at(&entry, ws->repo, ws->head, path);
    if (rc == TWIN_ENOTFOUND) {
        twin_error_clear();
        *why = "its record is not at the head";
        return 0;
    }
    if (rc)
        return rc;
    if (git_tree_entry_type(entry) != GIT_OBJECT_BLOB) {
        *why = "its record is not at the head";
    } else if (memcmp(git_tree_entry_id(entry)->id, blob, TWIN_SEAL_BLOB_BYTES) == 0) {
        at_head = json_incref((json_t *)version); /* the version at the head: read already */
    } else if ((rc = read_json(&at_head, &not_json, ws->repo, git_tree_entry_id(entry))) == 0 &&
               not_json) {
        *why = "its record at the head is not an envelope";
    }
    git_tree_entry_free(entry);
    if (rc == 0 && !*why) {
        struct twin_envelope head;
        if (!twin_envelope_is(at_head) || twin_envelope_read(&head, at_head) != 0) {
            twin_error_clear();
            *why = "its record at the head is not an envelope";
        } else if (head.erased) {
            *why = "its record is erased at the head";
        }
        twin_envelope_clear(&head);
    }
    json_decref(at_head);
    return rc;
}

/* The envelope version with blob id blob, read once per context (SEALED.md 3, rule 1). */
static int version_of(struct version **out, twin_wrapsync *ws, const unsigned char *blob)
{
    for (size_t i = 0; i < CACHE_SLOTS; i++)
        if (ws->cache[i].used && memcmp(ws->cache[i].blob, blob, TWIN_SEAL_BLOB_BYTES) == 0) {
            *out = &ws->cache[i];
            return 0;
        }
    struct version *v = &ws->cache[ws->next_slot];
    ws->next_slot = (ws->next_slot + 1) % CACHE_SLOTS;
    version_clear(v);
    v->used = true;
    memcpy(v->blob, blob, TWIN_SEAL_BLOB_BYTES);
    git_oid id;
    git_oid_fromraw(&id, blob);
    int rc = read_json(&v->json, &v->why, ws->repo, &id);
    if (rc == 0 && !v->why) {
        if (!twin_envelope_is(v->json) || twin_envelope_read(&v->e, v->json) != 0) {
            twin_error_clear();
            v->why = "its blob is not an envelope";
        } else if (v->e.erased) {
            v->why = "its blob is an erased envelope";
        } else {
            free(v->e.ciphertext); /* only the public members are needed */
            v->e.ciphertext = NULL;
            rc = check_head(&v->why, ws, &v->e, v->json, blob);
        }
    }
    if (rc) {
        version_clear(v); /* a fault of this node's: read it again next time */
        return rc;
    }
    *out = v;
    return 0;
}

/* Whether key is an active key, at the head, of an institution in the version's audience
 * (SEALED.md 3, rules 2 and 3): NULL when it is, else why not, with role naming the key. */
static const char *audience_key(const twin_wrapsync *ws, const struct twin_envelope *e,
                                const unsigned char *key, bool maker)
{
    enum twin_key_state state;
    const struct twin_member *who = twin_membership_find_key(ws->m, key, &state);
    if (!who)
        return maker ? "its maker's key is not a member key" : "its key is not a member key";
    if (state != TWIN_KEY_ACTIVE || who->removed)
        return maker ? "its maker's key is not active" : "its key is not active";
    for (size_t i = 0; i < e->naudience; i++)
        if (strcmp(e->audience[i], who->org_id) == 0)
            return NULL;
    return maker ? "its maker is outside the version's audience"
                 : "its key's institution is outside the version's audience";
}

/* Whether the same wrap (its box) is kept already among those of (blob, to). */
static int same_box(const struct twin_wrap *kept, void *ctx)
{
    return memcmp(kept->box, ((const struct twin_wrap *)ctx)->box, TWIN_SEAL_BOX_BYTES) == 0;
}

static int judge(enum twin_wrapsync_verdict *verdict, const char **why, twin_wrapsync *ws,
                 struct twin_wrap *wrap)
{
    struct version *v = NULL;
    int rc = version_of(&v, ws, wrap->blob);
    if (rc)
        return rc;
    if ((*why = v->why) != NULL)
        return 0;
    snprintf(wrap->record, sizeof(wrap->record), "%s", v->e.id);
    if ((*why = audience_key(ws, &v->e, wrap->to, false)) != NULL)
        return 0;
    unsigned char digest[TWIN_SEAL_DIGEST_BYTES];
    twin_seal_wrap_digest(digest, wrap->to, wrap->box);
    if (twin_envelope_lists(&v->e, digest)) {
        wrap->signed_by = false; /* a listed wrap: the history vouches for it */
        memset(wrap->by, 0, sizeof(wrap->by));
        memset(wrap->sig, 0, sizeof(wrap->sig));
    } else if (!wrap->signed_by) {
        *why = "it is neither listed nor signed";
        return 0;
    } else if ((*why = audience_key(ws, &v->e, wrap->by, true)) != NULL) {
        return 0;
    } else if (!twin_seal_wrap_verify(wrap->sig, wrap->by, ws->network, wrap->blob, wrap->to,
                                      wrap->box)) {
        *why = "its signature does not verify";
        return 0;
    } else {
        size_t later = 0;
        if ((rc = twin_wraps_count_later(&later, ws->w, wrap->blob, wrap->to)))
            return rc;
        if (later >= TWIN_WRAPSYNC_LATER_MAX) {
            rc = twin_wraps_each_for(ws->w, wrap->blob, wrap->to, same_box, wrap);
            if (rc < 0)
                return rc;
            if (rc == 0) {
                *why = "four later wraps are kept for its version and key already";
                return 0;
            }
            *verdict = TWIN_WRAPSYNC_HELD;
            return 0;
        }
    }
    bool added = false;
    rc = twin_wraps_add(ws->w, wrap, &added);
    if (rc == TWIN_EDENIED) {
        twin_error_clear();
        *why = "its record was erased";
        return 0;
    }
    if (rc)
        return rc;
    *verdict = added ? TWIN_WRAPSYNC_KEPT : TWIN_WRAPSYNC_HELD;
    return 0;
}

int twin_wrapsync_check(enum twin_wrapsync_verdict *verdict, const char **why, twin_wrapsync *ws,
                        struct twin_wrap *wrap)
{
    *verdict = TWIN_WRAPSYNC_DROPPED;
    *why = NULL;
    wrap->seq = 0;
    int rc = judge(verdict, why, ws, wrap);
    if (rc) {
        *why = "";
        return rc;
    }
    if (*why)
        *verdict = TWIN_WRAPSYNC_DROPPED;
    else
        *why = "";
    ws->counts.received++;
    if (*verdict == TWIN_WRAPSYNC_KEPT)
        ws->counts.kept++;
    else if (*verdict == TWIN_WRAPSYNC_HELD)
        ws->counts.held++;
    else
        ws->counts.dropped++;
    return 0;
}

/* ---- the receiving side of an answer -------------------------------------------------------- */

int twin_wrapsync_ask(twin_msg *out, twin_node *n, const unsigned char peer[TWIN_PUBKEY_BYTES])
{
    static const unsigned char none[TWIN_WRAPS_STORE_BYTES];
    twin_wraps *w = NULL;
    memset(out, 0, sizeof(*out));
    out->type = TWIN_MSG_WRAPS_SINCE;
    int rc = twin_node_wraps(&w, n);
    if (rc == 0)
        rc = twin_wraps_peer_get(w, peer, out->u.wraps_since.store, &out->u.wraps_since.since);
    if (rc)
        return rc;
    /* Never seen (the store gives zeros): ask for everything. */
    out->u.wraps_since.has_store = memcmp(out->u.wraps_since.store, none, sizeof(none)) != 0;
    if (!out->u.wraps_since.has_store || out->u.wraps_since.since > TWIN_MSG_SEQ_MAX)
        out->u.wraps_since.since = 0;
    return 0;
}

int twin_wrapsync_take(bool *last, twin_wrapsync *ws, const unsigned char peer[TWIN_PUBKEY_BYTES],
                       const twin_msg *ask, const twin_msg *m)
{
    *last = false;
    if (m->type != TWIN_MSG_WRAPS)
        return twin_error(TWIN_EINVALID, "expected wraps, not %s", twin_msg_type_name(m->type));
    uint64_t floor = ws->messages ? ws->upto : 0;
    if (ws->messages == 0 && ask->u.wraps_since.has_store &&
        memcmp(m->u.wraps.store, ask->u.wraps_since.store, TWIN_WRAPS_STORE_BYTES) == 0)
        floor = ask->u.wraps_since.since;
    if (ws->messages > 0 && memcmp(m->u.wraps.store, ws->store, TWIN_WRAPS_STORE_BYTES) != 0)
        return twin_error(TWIN_EINVALID, "wraps: \"store\" changed within one answer");
    if (m->u.wraps.upto < floor)
        return twin_error(TWIN_EINVALID, "wraps: \"upto\" %llu is below %llu, where the answer was",
                          (unsigned long long)m->u.wraps.upto, (unsigned long long)floor);
    if (m->u.wraps.more && m->u.wraps.count == 0)
        return twin_error(TWIN_EINVALID, "wraps: a message with \"more\" true holds no wrap");
    if (m->u.wraps.count > TWIN_WRAPSYNC_ANSWER_MAX - ws->wraps)
        return twin_error(TWIN_EINVALID, "wraps: the answer holds more than %d wraps",
                          TWIN_WRAPSYNC_ANSWER_MAX);
    memcpy(ws->store, m->u.wraps.store, TWIN_WRAPS_STORE_BYTES);
    ws->upto = m->u.wraps.upto;
    ws->messages++;
    ws->wraps += m->u.wraps.count;
    int rc = 0;
    if (m->u.wraps.count > 0 && (rc = twin_wraps_begin(ws->w)) != 0)
        return rc;
    for (size_t i = 0; rc == 0 && i < m->u.wraps.count; i++) {
        const twin_msg_wrap *in = &m->u.wraps.items[i];
        struct twin_wrap wrap = {.signed_by = in->signed_by, .from_peer = true};
        memcpy(wrap.origin, peer, sizeof(wrap.origin));
        memcpy(wrap.blob, in->blob, sizeof(wrap.blob));
        memcpy(wrap.to, in->to, sizeof(wrap.to));
        memcpy(wrap.box, in->box, sizeof(wrap.box));
        if (in->signed_by) {
            memcpy(wrap.by, in->by, sizeof(wrap.by));
            memcpy(wrap.sig, in->sig, sizeof(wrap.sig));
        }
        enum twin_wrapsync_verdict verdict;
        const char *why;
        rc = twin_wrapsync_check(&verdict, &why, ws, &wrap);
    }
    if (m->u.wraps.count > 0) {
        if (rc == 0)
            rc = twin_wraps_commit(ws->w);
        if (rc)
            twin_wraps_rollback(ws->w);
    }
    if (rc == 0 && !m->u.wraps.more) {
        rc = twin_wraps_peer_set(ws->w, peer, ws->store, ws->upto);
        *last = rc == 0;
    }
    return rc;
}

/* ---- the sending side ----------------------------------------------------------------------- */

struct batch {
    twin_msg_wrap *items;
    size_t count;
};

static int collect(const struct twin_wrap *wrap, void *ctx)
{
    struct batch *b = ctx;
    twin_msg_wrap *out = &b->items[b->count++];
    memcpy(out->blob, wrap->blob, sizeof(out->blob));
    memcpy(out->to, wrap->to, sizeof(out->to));
    memcpy(out->box, wrap->box, sizeof(out->box));
    out->signed_by = wrap->signed_by;
    if (wrap->signed_by) {
        memcpy(out->by, wrap->by, sizeof(out->by));
        memcpy(out->sig, wrap->sig, sizeof(out->sig));
    }
    return 0;
}

int twin_wrapsync_answer(size_t *sent, twin_node *n, const unsigned char peer[TWIN_PUBKEY_BYTES],
                         const twin_msg *ask, int (*send)(const twin_msg *m, void *ctx), void *ctx)
{
    twin_wraps *w = NULL;
    *sent = 0;
    if (ask->type != TWIN_MSG_WRAPS_SINCE)
        return twin_error(TWIN_EINVALID, "expected wraps_since, not %s",
                          twin_msg_type_name(ask->type));
    int rc = twin_node_wraps(&w, n);
    if (rc)
        return rc;
    twin_msg m = {.type = TWIN_MSG_WRAPS};
    twin_wraps_store_id(w, m.u.wraps.store);
    /* Another store id (or none): this store was made since, and the peer gets everything. */
    uint64_t since =
        ask->u.wraps_since.has_store &&
                memcmp(ask->u.wraps_since.store, m.u.wraps.store, TWIN_WRAPS_STORE_BYTES) == 0
            ? ask->u.wraps_since.since
            : 0;
    struct batch b = {.items = calloc(TWIN_WRAPSYNC_MESSAGE_MAX, sizeof(*b.items))};
    if (!b.items)
        return twin_error(TWIN_ERROR, "out of memory");
    size_t total = 0;
    bool more;
    do {
        size_t max = TWIN_WRAPSYNC_ANSWER_MAX - total < TWIN_WRAPSYNC_MESSAGE_MAX
                         ? TWIN_WRAPSYNC_ANSWER_MAX - total
                         : TWIN_WRAPSYNC_MESSAGE_MAX;
        bool left = false;
        b.count = 0;
        if ((rc = twin_wraps_since(w, since, max, peer, collect, &b, &m.u.wraps.upto, &left)))
            break;
        total += b.count;
        more = left && b.count > 0 && total < TWIN_WRAPSYNC_ANSWER_MAX;
        m.u.wraps.items = b.items;
        m.u.wraps.count = b.count;
        m.u.wraps.more = more;
        if ((rc = send(&m, ctx)))
            break;
        *sent = total;
        since = m.u.wraps.upto;
    } while (more);
    free(b.items);
    return rc;
}
