#include "sync/wrapsync.h"

#include <jansson.h>
#include <pthread.h>
#include <sodium.h>
#include <stdlib.h>
#include <string.h>

#include "git/treecache.h"
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

/* The public parts of one envelope version that the checks of its wraps need, in one block. */
struct note {
    unsigned char blob[TWIN_SEAL_BLOB_BYTES];
    bool erased;
    const char *id, *type;
    const char **audience;
    size_t naudience;
    const unsigned char (*digests)[TWIN_SEAL_DIGEST_BYTES];
    size_t nwraps;
    size_t bytes; /* the block's size */
};

/* One envelope version read by blob id: usable (why NULL), or the rule it breaks. */
struct version {
    bool used;
    unsigned char blob[TWIN_SEAL_BLOB_BYTES];
    const char *why;
    const struct note *note; /* owned, or one of the session's notes */
    struct note *owned;
};

/* The notes a session's check of received commits took (twin_wrapsync_note): a hash table by
 * blob id, keyed with a secret so that no peer can choose ids that fall in one chain, of at most
 * NOTES_BYTES_MAX bytes; versions beyond it are read again when their wraps come. */
#define NOTES_BYTES_MAX ((size_t)64 << 20)
struct twin_wrapsync_notes {
    pthread_mutex_t lock;
    unsigned char key[crypto_shorthash_KEYBYTES];
    struct note **slots;
    size_t cap, count, bytes;
};

struct twin_wrapsync {
    twin_node *n;
    twin_wraps *w;
    git_repository *repo;
    git_tree *head;
    twin_treecache *trees; /* the head's trees, read once for every record looked up */
    struct twin_membership *m;
    const twin_wrapsync_notes *notes;
    unsigned char network[TWIN_SEAL_NETWORK_BYTES];
    struct version cache[CACHE_SLOTS];
    size_t next_slot;
    struct twin_wrapsync_counts counts; /* but for the keeper's */
    struct keeper *keeper;              /* started with the first wraps to keep */
    /* The records erased when the context began, in order: the store is not asked for each
     * version while the keeper writes it, and one erased later is refused by twin_wraps_add. */
    char (*erased)[TWIN_ID_LEN + 1];
    size_t nerased, erased_cap;
    /* The answer being received. */
    size_t messages, wraps;
    unsigned char store[TWIN_WRAPS_STORE_BYTES];
    uint64_t upto;
};

struct keeper;
static void keeper_counts(struct keeper *k, struct twin_wrapsync_counts *c);
static void keeper_stop(struct keeper *k, struct twin_wrapsync_counts *c);

static void version_clear(struct version *v)
{
    free(v->owned);
    memset(v, 0, sizeof(*v));
}

/* The note of envelope e (not erased: with its wraps), the version with blob id blob; NULL when
 * out of memory. */
static struct note *note_make(const unsigned char *blob, const struct twin_envelope *e)
{
    size_t text = strlen(e->id) + 1 + strlen(e->type) + 1;
    for (size_t i = 0; i < e->naudience; i++)
        text += strlen(e->audience[i]) + 1;
    size_t bytes = sizeof(struct note) + e->naudience * sizeof(char *) +
                   e->nwraps * TWIN_SEAL_DIGEST_BYTES + text;
    struct note *nt = malloc(bytes);
    if (!nt)
        return NULL;
    unsigned char *at = (unsigned char *)(nt + 1);
    memcpy(nt->blob, blob, TWIN_SEAL_BLOB_BYTES);
    nt->erased = e->erased;
    nt->bytes = bytes;
    nt->naudience = e->naudience;
    nt->audience = (const char **)at;
    at += e->naudience * sizeof(char *);
    nt->nwraps = e->nwraps;
    nt->digests = (const unsigned char(*)[TWIN_SEAL_DIGEST_BYTES])at;
    memcpy(at, e->wraps, e->nwraps * TWIN_SEAL_DIGEST_BYTES);
    at += e->nwraps * TWIN_SEAL_DIGEST_BYTES;
    char *str = (char *)at;
#define NOTE_TEXT(dst, src)                                                                        \
    do {                                                                                           \
        size_t len_ = strlen(src) + 1;                                                             \
        memcpy(str, (src), len_);                                                                  \
        (dst) = str;                                                                               \
        str += len_;                                                                               \
    } while (0)
    NOTE_TEXT(nt->id, e->id);
    NOTE_TEXT(nt->type, e->type);
    for (size_t i = 0; i < e->naudience; i++)
        NOTE_TEXT(nt->audience[i], e->audience[i]);
#undef NOTE_TEXT
    return nt;
}

int twin_wrapsync_notes_new(twin_wrapsync_notes **out)
{
    *out = calloc(1, sizeof(**out));
    if (!*out)
        return twin_error(TWIN_ERROR, "out of memory");
    pthread_mutex_init(&(*out)->lock, NULL);
    crypto_shorthash_keygen((*out)->key);
    return 0;
}

void twin_wrapsync_notes_free(twin_wrapsync_notes *nt)
{
    if (!nt)
        return;
    for (size_t i = 0; i < nt->cap; i++)
        free(nt->slots[i]);
    free(nt->slots);
    pthread_mutex_destroy(&nt->lock);
    free(nt);
}

static size_t note_slot(const twin_wrapsync_notes *nt, const unsigned char *blob)
{
    unsigned char h[crypto_shorthash_BYTES];
    crypto_shorthash(h, blob, TWIN_SEAL_BLOB_BYTES, nt->key);
    uint64_t v;
    memcpy(&v, h, sizeof(v));
    return (size_t)(v & (nt->cap - 1));
}

static const struct note *notes_find(const twin_wrapsync_notes *nt, const unsigned char *blob)
{
    if (!nt || nt->count == 0)
        return NULL;
    for (size_t i = note_slot(nt, blob);; i = (i + 1) & (nt->cap - 1)) {
        const struct note *at = nt->slots[i];
        if (!at)
            return NULL;
        if (memcmp(at->blob, blob, TWIN_SEAL_BLOB_BYTES) == 0)
            return at;
    }
}

/* Puts note in the table (under its lock): false when it is not taken (full, or there already). */
static bool notes_put(twin_wrapsync_notes *nt, struct note *note)
{
    if (nt->bytes + note->bytes > NOTES_BYTES_MAX)
        return false;
    if (2 * (nt->count + 1) > nt->cap) {
        size_t cap = nt->cap ? 2 * nt->cap : 1024;
        struct note **slots = calloc(cap, sizeof(*slots)), **old = nt->slots;
        if (!slots)
            return false;
        size_t old_cap = nt->cap;
        nt->slots = slots;
        nt->cap = cap;
        for (size_t i = 0; i < old_cap; i++) {
            if (!old[i])
                continue;
            size_t k = note_slot(nt, old[i]->blob);
            while (slots[k])
                k = (k + 1) & (cap - 1);
            slots[k] = old[i];
        }
        free(old);
    }
    size_t k = note_slot(nt, note->blob);
    for (; nt->slots[k]; k = (k + 1) & (nt->cap - 1))
        if (memcmp(nt->slots[k]->blob, note->blob, TWIN_SEAL_BLOB_BYTES) == 0)
            return false;
    nt->slots[k] = note;
    nt->count++;
    nt->bytes += note->bytes;
    return true;
}

void twin_wrapsync_note(const git_oid *blob, const struct twin_envelope *e, void *ctx)
{
    twin_wrapsync_notes *nt = ctx;
    struct note *note = note_make(blob->id, e);
    if (!note)
        return;
    pthread_mutex_lock(&nt->lock);
    bool taken = notes_put(nt, note);
    pthread_mutex_unlock(&nt->lock);
    if (!taken)
        free(note);
}

void twin_wrapsync_end(twin_wrapsync *ws)
{
    if (!ws)
        return;
    keeper_stop(ws->keeper, &ws->counts);
    free(ws->erased);
    for (size_t i = 0; i < CACHE_SLOTS; i++)
        version_clear(&ws->cache[i]);
    twin_membership_free(ws->m);
    twin_treecache_free(ws->trees);
    git_tree_free(ws->head);
    free(ws);
}

static int cmp_id(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* Adds an erased record's id to the context's list (read in order of id). */
static int note_erased(const char *record, void *ctx)
{
    twin_wrapsync *ws = ctx;
    if (strlen(record) > TWIN_ID_LEN)
        return 0; /* no record of twin's: no version names it */
    if (ws->nerased == ws->erased_cap) {
        size_t cap = ws->erased_cap ? 2 * ws->erased_cap : 64;
        char(*more)[TWIN_ID_LEN + 1] = realloc(ws->erased, cap * sizeof(*more));
        if (!more)
            return twin_error(TWIN_ERROR, "out of memory");
        ws->erased = more, ws->erased_cap = cap;
    }
    snprintf(ws->erased[ws->nerased++], TWIN_ID_LEN + 1, "%s", record);
    return 0;
}

int twin_wrapsync_begin(twin_wrapsync **out, twin_node *n, const twin_wrapsync_notes *notes)
{
    *out = NULL;
    twin_wrapsync *ws = calloc(1, sizeof(*ws));
    if (!ws)
        return twin_error(TWIN_ERROR, "out of memory");
    ws->n = n;
    ws->notes = notes;
    ws->repo = twin_node_repo(n);
    git_oid head;
    git_commit *c = NULL;
    int rc = twin_node_head(&head, n);
    if (rc == 0 &&
        (git_commit_lookup(&c, ws->repo, &head) < 0 || git_commit_tree(&ws->head, c) < 0))
        rc = twin_error_git("reading the head commit");
    git_commit_free(c);
    if (rc == 0 && (rc = twin_treecache_new(&ws->trees)) == 0)
        rc = twin_treecache_use(ws->trees, ws->repo, true);
    if (rc == 0)
        rc = twin_membership_load(&ws->m, ws->repo, ws->head);
    if (rc == 0 && twin_noise_network_id_parse(ws->network, twin_node_network_id(n)) != 0)
        rc = twin_error_wrap(TWIN_ERROR, "this node's network id");
    if (rc == 0)
        rc = twin_node_wraps(&ws->w, n);
    if (rc == 0)
        rc = twin_wraps_each_erased(ws->w, note_erased, ws);
    if (rc) {
        twin_wrapsync_end(ws);
        return rc;
    }
    *out = ws;
    return 0;
}

struct twin_wrapsync_counts twin_wrapsync_counts(twin_wrapsync *ws)
{
    struct twin_wrapsync_counts c = ws->counts;
    if (ws->keeper)
        keeper_counts(ws->keeper, &c);
    return c;
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

/* The blob id at path in the head: TWIN_ENOTFOUND when there is none. Read through the tree
 * cache, which reads each of the head's trees once, or by libgit2 for a tree twin does not read
 * on its bytes. */
static int head_entry(git_oid *out, twin_wrapsync *ws, const char *path)
{
    int rc = twin_treecache_path(out, ws->trees, ws->repo, git_tree_id(ws->head), path);
    if (rc == 1)
        return 0;
    if (rc == 0)
        return TWIN_ENOTFOUND;
    if (rc != TWIN_ENOTFOUND)
        return rc;
    twin_error_clear();
    git_tree_entry *entry = NULL;
    if ((rc = twin_tree_entry_at(&entry, ws->repo, ws->head, path)))
        return rc;
    if (git_tree_entry_type(entry) != GIT_OBJECT_BLOB)
        rc = TWIN_ENOTFOUND;
    else
        *out = *git_tree_entry_id(entry);
    git_tree_entry_free(entry);
    return rc;
}

/* Whether the record of the version noted is at the head and not erased there (SEALED.md 3,
 * rule 1): NULL when it is, else why not. */
static int check_head(const char **why, twin_wrapsync *ws, const struct note *note)
{
    char path[256];
    *why = NULL;
    if (ws->nerased && bsearch(note->id, ws->erased, ws->nerased, sizeof(*ws->erased), cmp_id)) {
        *why = "its record was erased";
        return 0;
    }
    int rc;
    if (twin_record_path(path, sizeof(path), note->type, note->id) != 0) {
        twin_error_clear();
        *why = "its envelope names no record path";
        return 0;
    }
    git_oid at;
    rc = head_entry(&at, ws, path);
    if (rc == TWIN_ENOTFOUND) {
        twin_error_clear();
        *why = "its record is not at the head";
        return 0;
    }
    if (rc || memcmp(at.id, note->blob, TWIN_SEAL_BLOB_BYTES) == 0)
        return rc; /* the version at the head, whose envelope is read already */
    json_t *at_head = NULL;
    const char *not_json = NULL;
    if ((rc = read_json(&at_head, &not_json, ws->repo, &at)) || not_json) {
        *why = not_json ? "its record at the head is not an envelope" : NULL;
        return rc;
    }
    struct twin_envelope head;
    if (!twin_envelope_is(at_head) || twin_envelope_read_public(&head, at_head) != 0) {
        twin_error_clear();
        *why = "its record at the head is not an envelope";
    } else if (head.erased) {
        *why = "its record is erased at the head";
    }
    twin_envelope_clear(&head);
    json_decref(at_head);
    return 0;
}

/* The envelope version with blob id blob, read once per context (SEALED.md 3, rule 1): from the
 * notes of the session's check when it is there, else from the repository. */
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
    int rc = 0;
    if ((v->note = notes_find(ws->notes, blob)) != NULL) {
        ws->counts.noted++;
    } else {
        ws->counts.read++;
        git_oid id;
        json_t *json = NULL;
        git_oid_fromraw(&id, blob);
        struct twin_envelope e;
        if ((rc = read_json(&json, &v->why, ws->repo, &id)) == 0 && !v->why) {
            if (!twin_envelope_is(json) || twin_envelope_read(&e, json) != 0) {
                twin_error_clear();
                v->why = "its blob is not an envelope";
            } else {
                if (!(v->note = v->owned = note_make(blob, &e)))
                    rc = twin_error(TWIN_ERROR, "out of memory");
                twin_envelope_clear(&e);
            }
        }
        json_decref(json);
    }
    if (rc == 0 && v->note) {
        if (v->note->erased)
            v->why = "its blob is an erased envelope";
        else
            rc = check_head(&v->why, ws, v->note);
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
static const char *audience_key(const twin_wrapsync *ws, const struct note *e,
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

/* The rules of SEALED.md 3 that need nothing the store keeps but the erased records: NULL in *why
 * when wrap holds them (wrap->record set, and a listed wrap made one without by and sig), else
 * the rule it breaks. *later is set for a signed wrap, whose bound keep_one checks. */
static int assess(const char **why, bool *later, twin_wrapsync *ws, struct twin_wrap *wrap)
{
    struct version *v = NULL;
    *later = false;
    int rc = version_of(&v, ws, wrap->blob);
    if (rc)
        return rc;
    if ((*why = v->why) != NULL)
        return 0;
    snprintf(wrap->record, sizeof(wrap->record), "%s", v->note->id);
    if ((*why = audience_key(ws, v->note, wrap->to, false)) != NULL)
        return 0;
    unsigned char digest[TWIN_SEAL_DIGEST_BYTES];
    twin_seal_wrap_digest(digest, wrap->to, wrap->box);
    bool listed = false;
    for (size_t i = 0; !listed && i < v->note->nwraps; i++)
        listed = sodium_memcmp(v->note->digests[i], digest, TWIN_SEAL_DIGEST_BYTES) == 0;
    if (listed) {
        wrap->signed_by = false; /* a listed wrap: the history vouches for it */
        memset(wrap->by, 0, sizeof(wrap->by));
        memset(wrap->sig, 0, sizeof(wrap->sig));
    } else if (!wrap->signed_by) {
        *why = "it is neither listed nor signed";
    } else if ((*why = audience_key(ws, v->note, wrap->by, true)) != NULL) {
        return 0;
    } else if (!twin_seal_wrap_verify(wrap->sig, wrap->by, ws->network, wrap->blob, wrap->to,
                                      wrap->box)) {
        *why = "its signature does not verify";
    } else {
        *later = true;
    }
    return 0;
}

/* Keeps a wrap that assess passed, in the store as it is now: a later wrap only within the bound
 * of later wraps per version and key. Sets *verdict, and *why for a dropped one. */
static int keep_one(enum twin_wrapsync_verdict *verdict, const char **why, twin_wraps *w,
                    struct twin_wrap *wrap, bool later)
{
    int rc;
    *why = NULL;
    if (later) {
        size_t count = 0;
        if ((rc = twin_wraps_count_later(&count, w, wrap->record, wrap->blob, wrap->to)))
            return rc;
        if (count >= TWIN_WRAPSYNC_LATER_MAX) {
            rc = twin_wraps_each_for(w, wrap->record, wrap->blob, wrap->to, same_box, wrap);
            if (rc < 0)
                return rc;
            if (rc == 0)
                *why = "four later wraps are kept for its version and key already";
            else
                *verdict = TWIN_WRAPSYNC_HELD;
            return 0;
        }
    }
    bool added = false;
    rc = twin_wraps_add(w, wrap, &added);
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

static void count(struct twin_wrapsync_counts *c, enum twin_wrapsync_verdict verdict)
{
    c->received++;
    if (verdict == TWIN_WRAPSYNC_KEPT)
        c->kept++;
    else if (verdict == TWIN_WRAPSYNC_HELD)
        c->held++;
    else
        c->dropped++;
}

int twin_wrapsync_check(enum twin_wrapsync_verdict *verdict, const char **why, twin_wrapsync *ws,
                        struct twin_wrap *wrap)
{
    *verdict = TWIN_WRAPSYNC_DROPPED;
    *why = NULL;
    wrap->seq = 0;
    bool later;
    int rc = assess(why, &later, ws, wrap);
    if (rc == 0 && !*why)
        rc = keep_one(verdict, why, ws->w, wrap, later);
    if (rc) {
        *why = "";
        return rc;
    }
    if (*why)
        *verdict = TWIN_WRAPSYNC_DROPPED;
    else
        *why = "";
    count(&ws->counts, *verdict);
    return 0;
}

/* ---- keeping an answer's wraps beside reading it ------------------------------------------- */

static void add_counts(struct twin_wrapsync_counts *to, const struct twin_wrapsync_counts *c)
{
    to->received += c->received;
    to->kept += c->kept;
    to->held += c->held;
    to->dropped += c->dropped;
}

/* The wraps of one message that passed assess, for the keeper. */
struct batch_in {
    struct twin_wrap *wraps;
    bool *later;
    size_t count;
};

static void batch_in_free(struct batch_in *b)
{
    if (b) {
        free(b->wraps);
        free(b->later);
        free(b);
    }
}

/* A thread that keeps each message's wraps, in a transaction of its own, while the session reads
 * and checks the next message: the two take about as long. One batch waits while one is kept. */
struct keeper {
    pthread_t thread;
    pthread_mutex_t lock;
    pthread_cond_t cond;
    twin_wraps *w;
    struct batch_in *waiting; /* handed over, not yet taken */
    bool busy, stop;
    struct twin_wrapsync_counts counts; /* of the wraps it kept, held or dropped */
    int rc;                             /* its first fault, told in error */
    char error[1024];
};

static int keep_batch(struct keeper *k, struct batch_in *b)
{
    struct twin_wrapsync_counts c = {0};
    int rc = twin_wraps_begin_received(k->w);
    for (size_t i = 0; rc == 0 && i < b->count; i++) {
        enum twin_wrapsync_verdict verdict = TWIN_WRAPSYNC_DROPPED;
        const char *why = NULL;
        if ((rc = keep_one(&verdict, &why, k->w, &b->wraps[i], b->later[i])) == 0)
            count(&c, why ? TWIN_WRAPSYNC_DROPPED : verdict);
    }
    if (rc == 0 && (rc = twin_wraps_commit(k->w)) == 0) {
        pthread_mutex_lock(&k->lock);
        add_counts(&k->counts, &c);
        pthread_mutex_unlock(&k->lock);
    } else {
        twin_wraps_rollback(k->w);
    }
    return rc;
}

static void *keeper_run(void *arg)
{
    struct keeper *k = arg;
    pthread_mutex_lock(&k->lock);
    for (;;) {
        while (!k->waiting && !k->stop)
            pthread_cond_wait(&k->cond, &k->lock);
        if (!k->waiting)
            break; /* stopped, with nothing left */
        struct batch_in *b = k->waiting;
        k->waiting = NULL;
        k->busy = true;
        bool failed = k->rc != 0;
        pthread_cond_broadcast(&k->cond);
        pthread_mutex_unlock(&k->lock);
        int rc = failed ? 0 : keep_batch(k, b); /* after a fault, what follows is not kept */
        batch_in_free(b);
        pthread_mutex_lock(&k->lock);
        if (rc && !k->rc) {
            k->rc = rc;
            snprintf(k->error, sizeof(k->error), "%s", twin_error_last());
        }
        k->busy = false;
        pthread_cond_broadcast(&k->cond);
    }
    pthread_mutex_unlock(&k->lock);
    return NULL;
}

static int keeper_start(struct keeper **out, twin_wraps *w)
{
    struct keeper *k = calloc(1, sizeof(*k));
    if (!k)
        return twin_error(TWIN_ERROR, "out of memory");
    k->w = w;
    pthread_mutex_init(&k->lock, NULL);
    pthread_cond_init(&k->cond, NULL);
    if (pthread_create(&k->thread, NULL, keeper_run, k) != 0) {
        pthread_cond_destroy(&k->cond);
        pthread_mutex_destroy(&k->lock);
        free(k);
        return twin_error(TWIN_ERROR, "cannot start a thread to keep wraps");
    }
    *out = k;
    return 0;
}

/* The keeper's fault, told again on this thread; 0 when it has none. Called with its lock. */
static int keeper_fault(struct keeper *k)
{
    return k->rc ? twin_error(k->rc, "%s", k->error) : 0;
}

/* Hands b over (the keeper frees it), once the batch before it is taken. */
static int keeper_hand(struct keeper *k, struct batch_in *b)
{
    pthread_mutex_lock(&k->lock);
    while (k->waiting && !k->rc)
        pthread_cond_wait(&k->cond, &k->lock);
    int rc = keeper_fault(k);
    if (rc == 0) {
        k->waiting = b;
        pthread_cond_broadcast(&k->cond);
    }
    pthread_mutex_unlock(&k->lock);
    if (rc)
        batch_in_free(b);
    return rc;
}

/* Waits until every batch handed over is kept: its fault, or 0. */
static int keeper_drain(struct keeper *k)
{
    pthread_mutex_lock(&k->lock);
    while (k->waiting || k->busy)
        pthread_cond_wait(&k->cond, &k->lock);
    int rc = keeper_fault(k);
    pthread_mutex_unlock(&k->lock);
    return rc;
}

/* Adds the keeper's counts to *c once all it was handed is kept (its fault, if any, was told by
 * the take that met it). */
static void keeper_counts(struct keeper *k, struct twin_wrapsync_counts *c)
{
    (void)keeper_drain(k);
    pthread_mutex_lock(&k->lock);
    add_counts(c, &k->counts);
    pthread_mutex_unlock(&k->lock);
}

/* Keeps what was handed over, ends the thread, and adds its counts to *c. */
static void keeper_stop(struct keeper *k, struct twin_wrapsync_counts *c)
{
    if (!k)
        return;
    pthread_mutex_lock(&k->lock);
    k->stop = true;
    pthread_cond_broadcast(&k->cond);
    pthread_mutex_unlock(&k->lock);
    pthread_join(k->thread, NULL);
    add_counts(c, &k->counts);
    pthread_cond_destroy(&k->cond);
    pthread_mutex_destroy(&k->lock);
    free(k);
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
    twin_wraps_store_id(w, out->u.wraps_since.mine);
    out->u.wraps_since.has_mine = true;
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
    struct batch_in *b = calloc(1, sizeof(*b));
    if (b && m->u.wraps.count > 0) {
        b->wraps = malloc(m->u.wraps.count * sizeof(*b->wraps));
        b->later = malloc(m->u.wraps.count * sizeof(*b->later));
    }
    if (!b || (m->u.wraps.count > 0 && (!b->wraps || !b->later))) {
        batch_in_free(b);
        return twin_error(TWIN_ERROR, "out of memory");
    }
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < m->u.wraps.count; i++) {
        const twin_msg_wrap *in = &m->u.wraps.items[i];
        struct twin_wrap *wrap = &b->wraps[b->count];
        memset(wrap, 0, sizeof(*wrap));
        wrap->signed_by = in->signed_by;
        wrap->from_peer = wrap->has_origin_store = true;
        memcpy(wrap->origin, peer, sizeof(wrap->origin));
        memcpy(wrap->origin_store, m->u.wraps.store, sizeof(wrap->origin_store));
        memcpy(wrap->blob, in->blob, sizeof(wrap->blob));
        memcpy(wrap->to, in->to, sizeof(wrap->to));
        memcpy(wrap->box, in->box, sizeof(wrap->box));
        if (in->signed_by) {
            memcpy(wrap->by, in->by, sizeof(wrap->by));
            memcpy(wrap->sig, in->sig, sizeof(wrap->sig));
        }
        const char *why = NULL;
        if ((rc = assess(&why, &b->later[b->count], ws, wrap)) == 0 && why)
            count(&ws->counts, TWIN_WRAPSYNC_DROPPED);
        else if (rc == 0)
            b->count++;
    }
    if (rc == 0 && b->count > 0 && !ws->keeper)
        rc = keeper_start(&ws->keeper, ws->w);
    if (rc == 0 && b->count > 0) {
        rc = keeper_hand(ws->keeper, b); /* the keeper frees it */
        b = NULL;
    }
    batch_in_free(b);
    if (rc == 0 && !m->u.wraps.more) {
        if ((!ws->keeper || (rc = keeper_drain(ws->keeper)) == 0) &&
            (rc = twin_wraps_peer_set(ws->w, peer, ws->store, ws->upto)) == 0)
            *last = true;
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
    /* Only wraps on disk: a crash must not take back a seq a peer has seen. */
    struct twin_wraps_range r = {.since = since,
                                 .skip = peer,
                                 .mine =
                                     ask->u.wraps_since.has_mine ? ask->u.wraps_since.mine : NULL};
    if ((rc = twin_wraps_durable(w, &r.until)))
        return rc;
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
        r.since = since;
        r.max = max;
        if ((rc = twin_wraps_since(w, &r, collect, &b, &m.u.wraps.upto, &left)))
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
