/*
 * The sync session (proto/PROTOCOL.md section 11). Everything received waits in a quarantine
 * until every new commit has passed the validity predicate; the responder moves its branch
 * before it accepts, and the initiator moves its own only after that accept, so a failure at
 * any point leaves each branch at its old value or at the agreed new one.
 */
#include "twin/sync.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <time.h>
#include <unistd.h>

#include "twin/membership.h"
#include "base/util.h"
#include "twin/checkpoint.h"
#include "twin/batch.h"
#include "twin/error.h"
#include "twin/ops.h"
#include "twin/merge.h"
#include "twin/peers.h"
#include "twin/store.h"
#include "git/packbuild.h"
#include "twin/quarantine.h"
#include "twin/global.h"
#include "sync/wrapsync.h"
#include "ops/sealed.h"

#define SAMPLE_MAX             24
#define SAMPLE_DEPTH           4096 /* first-parent steps sampled; beyond, the peer may get extra commits */
#define CHUNK_BYTES            (256 * 1024)
#define INITIATOR_LOCK_WAIT_MS 60000
/* How long a responder waits for a member's next message (SYNC.md 2): a peer that has nothing
 * to compute answers at once. After the responder's pack the initiator checks what it received
 * first, so that wait grows with the commits sent. */
#define RESPONDER_IDLE_MS       5000
#define RESPONDER_MS_PER_COMMIT 2
#define RESPONDER_PACK_WAIT_MAX (10 * 60 * 1000)
/* After its answer of wraps the responder asks for the initiator's, which come only once the
 * initiator has checked the responder's (SEALED.md 5): that wait grows with the wraps sent. */
#define RESPONDER_MS_PER_WRAP 1

struct session {
    twin_node *n;
    twin_channel *ch;
    git_repository *repo;
    bool has_head, peer_has_head;
    git_oid head, peer_head;
    twin_quarantine *q;
    struct twin_sync_stats *st;
    uint64_t pack_seq;   /* the next pack chunk this side sends */
    double last_sent_ms; /* when this side last sent anything */
    bool proposed_merge; /* the responder: the proposal was a merge */
    bool initiator;
    bool wraps;                 /* both hellos name wraps/1 (SEALED.md 5) */
    twin_wrapsync_notes *notes; /* the envelope versions the check read, for the wraps */
};

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

static void oid_to_wire(unsigned char out[TWIN_OID_BYTES], const git_oid *id)
{
    memcpy(out, id->id, TWIN_OID_BYTES);
}

static void oid_from_wire(git_oid *out, const unsigned char in[TWIN_OID_BYTES])
{
    git_oid_fromraw(out, in);
}

static int send_msg(struct session *s, const twin_msg *m)
{
    s->last_sent_ms = now_ms();
    int rc = twin_channel_send(s->ch, m);
    return rc ? twin_error_wrap(rc, "sending %s", twin_msg_type_name(m->type)) : 0;
}

static int send_error(struct session *s, uint32_t code, const char *text)
{
    twin_msg m = {.type = TWIN_MSG_ERROR};
    m.u.error.code = code;
    snprintf(m.u.error.message, sizeof(m.u.error.message), "%s", text);
    return twin_channel_send(s->ch, &m);
}

static int send_goodbye(struct session *s)
{
    return twin_channel_goodbye(s->ch, TWIN_GOODBYE_DONE);
}

/* Signs a statement of this node's head as it is now, for the peer of this session. */
static int own_checkpoint(struct twin_checkpoint *cp, struct session *s)
{
    git_oid head;
    bool has = twin_node_head(&head, s->n) == 0;
    twin_error_clear();
    return twin_checkpoint_make(cp, s->n, twin_channel_peer_node(s->ch), has ? &head : NULL);
}

static int send_checkpoint(struct session *s, const struct twin_checkpoint *cp)
{
    twin_msg m = {.type = TWIN_MSG_CHECKPOINT};
    snprintf(m.u.checkpoint.statement, sizeof(m.u.checkpoint.statement), "%s", cp->text);
    snprintf(m.u.checkpoint.signature, sizeof(m.u.checkpoint.signature), "%s", cp->sig);
    return twin_channel_send(s->ch, &m);
}

/* Keeps the peer's statement if it is one: signed by the peer of this session, about this
 * network, addressed to this node. A bad one is not kept, and the session still stands. */
static void keep_peer_checkpoint(struct session *s, const twin_msg *m)
{
    struct twin_checkpoint cp = {0};
    snprintf(cp.text, sizeof(cp.text), "%s", m->u.checkpoint.statement);
    cp.sig = strdup(m->u.checkpoint.signature);
    if (cp.sig && twin_checkpoint_check(&cp) == 0 &&
        memcmp(cp.signer, twin_channel_peer_node(s->ch), TWIN_PUBKEY_BYTES) == 0 &&
        memcmp(cp.peer, twin_channel_local_node(s->ch), TWIN_PUBKEY_BYTES) == 0 &&
        strcmp(cp.network_id, twin_node_network_id(s->n)) == 0 &&
        twin_checkpoint_store(s->n, &cp) == 0)
        s->st->checkpoints++;
    twin_error_clear();
    free(cp.sig);
}

static int exchange_wraps(struct session *s);

/* The normal end (PROTOCOL.md 6.1, SYNC.md "Checkpoints"): the initiator's signed statement of
 * its head, the responder's in answer, both kept by both; then, when both speak wraps/1, the
 * exchange of wraps (SEALED.md 5); then goodbye, and reading until the peer's goodbye or the
 * end. A failure of the wraps exchange ends the session there, and is returned. */
static int finish(struct session *s)
{
    twin_msg m = {0};
    struct twin_checkpoint mine;
    bool answered = false;
    if (own_checkpoint(&mine, s) == 0) {
        if (send_checkpoint(s, &mine) == 0 && twin_channel_recv(s->ch, &m) == 0 &&
            m.type == TWIN_MSG_CHECKPOINT) {
            answered = true;
            if (twin_checkpoint_store(s->n, &mine) == 0)
                s->st->checkpoints++;
            keep_peer_checkpoint(s, &m);
        }
        twin_msg_clear(&m);
        free(mine.sig);
    }
    twin_error_clear();
    int rc;
    if (answered && s->wraps && (rc = exchange_wraps(s)) != 0)
        return rc;
    if (send_goodbye(s) == 0 && twin_channel_recv(s->ch, &m) == 0)
        twin_msg_clear(&m);
    twin_error_clear();
    return 0;
}

/* The responder's side: m is the initiator's statement. Answers with its own, keeps both,
 * exchanges wraps when both speak wraps/1, and reads on to the goodbye (answered with ours). A
 * failure of the wraps exchange ends the session there, and is returned. */
static int answer_checkpoint(struct session *s, twin_msg *m)
{
    struct twin_checkpoint mine;
    bool sent = false;
    keep_peer_checkpoint(s, m);
    twin_msg_clear(m);
    if (own_checkpoint(&mine, s) == 0) {
        sent = send_checkpoint(s, &mine) == 0;
        if (sent && twin_checkpoint_store(s->n, &mine) == 0)
            s->st->checkpoints++;
        free(mine.sig);
    }
    twin_error_clear();
    int rc;
    if (sent && s->wraps && (rc = exchange_wraps(s)) != 0)
        return rc;
    if (twin_channel_recv(s->ch, m) == 0 && m->type == TWIN_MSG_GOODBYE)
        send_goodbye(s);
    twin_msg_clear(m);
    twin_error_clear();
    return 0;
}

/* Receives the next message and insists on its type; a peer's error or refusal becomes ours. */
static int recv_expect(struct session *s, twin_msg *m, enum twin_msg_type want)
{
    int rc = twin_channel_recv(s->ch, m);
    if (rc)
        return twin_error_wrap(rc, "waiting for %s", twin_msg_type_name(want));
    if (m->type == want)
        return 0;
    if (m->type == TWIN_MSG_ERROR)
        rc =
            twin_error(strncmp(m->u.error.message, "busy:", 5) == 0 ? TWIN_ECONFLICT : TWIN_EVERIFY,
                       "the peer reported an error: %s", m->u.error.message);
    else if (m->type == TWIN_MSG_REFUSE) {
        snprintf(s->st->peer_refusal, sizeof(s->st->peer_refusal), "%s", m->u.refuse.reason);
        /* Refused before hello: the responder does not let this key in (a key it does not know
         * yet may be answered by the one it replaced: twin_sync_peer tries that). */
        bool key_refused = want == TWIN_MSG_HELLO && m->u.refuse.code == TWIN_REFUSE_NOT_MEMBER;
        rc = twin_error(key_refused                            ? TWIN_EDENIED
                        : m->u.refuse.code == TWIN_REFUSE_BUSY ? TWIN_ECONFLICT
                                                               : TWIN_EVERIFY,
                        "the peer refused: %s", m->u.refuse.reason);
    } else if (m->type == TWIN_MSG_GOODBYE)
        rc = twin_error(TWIN_EVERIFY, "the peer ended the session early");
    else {
        send_error(s, TWIN_WIRE_UNEXPECTED, "unexpected message");
        rc = twin_error(TWIN_EINVALID, "the peer sent %s where %s was due",
                        twin_msg_type_name(m->type), twin_msg_type_name(want));
    }
    twin_msg_clear(m);
    return rc;
}

/* ---- wraps (SEALED.md 5) -------------------------------------------------------------------- */

/* Receives the peer's answer to ask, checking and keeping its wraps; the first message is
 * waited for first_wait_ms when that is not 0. A malformed message, or one that does not fit the
 * answer, is error 2; a message out of order error 4; the wraps of earlier messages stay. */
static int take_answer(struct session *s, const twin_msg *ask, int first_wait_ms)
{
    twin_wrapsync *ws = NULL;
    twin_msg m = {0};
    int rc = twin_wrapsync_begin(&ws, s->n, s->notes);
    if (rc) {
        send_error(s, TWIN_WIRE_INTERNAL, "this node cannot check wraps now");
        return twin_error_wrap(rc, "checking the peer's wraps");
    }
    if (first_wait_ms)
        twin_channel_set_read_timeout(s->ch, first_wait_ms);
    for (bool last = false; rc == 0 && !last;) {
        rc = recv_expect(s, &m, TWIN_MSG_WRAPS);
        if (first_wait_ms)
            twin_channel_set_read_timeout(s->ch, RESPONDER_IDLE_MS);
        if (rc)
            break;
        rc = twin_wrapsync_take(&last, ws, twin_channel_peer_node(s->ch), ask, &m);
        twin_msg_clear(&m);
        if (rc) {
            char text[sizeof(m.u.error.message)];
            snprintf(text, sizeof(text), "%s", twin_error_last());
            send_error(s, rc == TWIN_EINVALID ? TWIN_WIRE_MALFORMED : TWIN_WIRE_INTERNAL, text);
            rc = twin_error(rc, "the peer's wraps: %s", text);
        }
    }
    struct twin_wrapsync_counts c = twin_wrapsync_counts(ws);
    s->st->wraps_received = c.received;
    s->st->wraps_kept = c.kept;
    s->st->wraps_dropped = c.dropped;
    s->st->wraps_versions_read = c.read;
    twin_wrapsync_end(ws);
    return rc;
}

static int send_wraps_message(const twin_msg *m, void *ctx)
{
    return send_msg(ctx, m);
}

/* Answers the peer's ask from this node's wrap store. */
static int give_answer(struct session *s, const twin_msg *ask)
{
    int rc = twin_wrapsync_answer(&s->st->wraps_sent, s->n, twin_channel_peer_node(s->ch), ask,
                                  send_wraps_message, s);
    if (rc) {
        char text[sizeof(((twin_msg *)0)->u.error.message)];
        snprintf(text, sizeof(text), "%s", twin_error_last());
        send_error(s, TWIN_WIRE_INTERNAL, text);
        rc = twin_error(rc, "answering the peer's ask for wraps: %s", text);
    }
    return rc;
}

/* This node's ask, made before anything of the peer's wraps is taken in the exchange. */
static int make_ask(twin_msg *ask, struct session *s)
{
    int rc = twin_wrapsync_ask(ask, s->n, twin_channel_peer_node(s->ch));
    if (rc) {
        send_error(s, TWIN_WIRE_INTERNAL, "this node cannot read its wrap store");
        return twin_error_wrap(rc, "asking for the peer's wraps");
    }
    return 0;
}

/* The exchange of SEALED.md 5, after the checkpoints and before the goodbyes: the initiator
 * asks first and takes the responder's answer, then answers the responder's ask. */
static int exchange_wraps_once(struct session *s);

/* exchange_wraps_once, timed. */
static int exchange_wraps(struct session *s)
{
    double t0 = now_ms();
    int rc = exchange_wraps_once(s);
    s->st->wraps_ms += now_ms() - t0;
    return rc;
}

static int exchange_wraps_once(struct session *s)
{
    twin_msg ask = {0}, theirs = {0};
    int rc;
    if (s->initiator) {
        if ((rc = make_ask(&ask, s)) || (rc = send_msg(s, &ask)) ||
            (rc = take_answer(s, &ask, 0)) || (rc = recv_expect(s, &theirs, TWIN_MSG_WRAPS_SINCE)))
            return rc;
        rc = give_answer(s, &theirs);
        twin_msg_clear(&theirs);
        return rc;
    }
    if ((rc = recv_expect(s, &theirs, TWIN_MSG_WRAPS_SINCE)))
        return rc;
    rc = give_answer(s, &theirs);
    twin_msg_clear(&theirs);
    if (rc || (rc = make_ask(&ask, s)) || (rc = send_msg(s, &ask)))
        return rc;
    /* The initiator checks this side's answer before it reads the ask. */
    uint64_t wait =
        RESPONDER_IDLE_MS + (uint64_t)RESPONDER_MS_PER_WRAP * (uint64_t)s->st->wraps_sent;
    return take_answer(s, &ask,
                       wait < RESPONDER_PACK_WAIT_MAX ? (int)wait : RESPONDER_PACK_WAIT_MAX);
}

/* ---- one session at a time per node --------------------------------------------------------- */

/* The sessions a node initiates run one at a time (flock on repo.git/twin-sync.lock, released by
 * the kernel if the process dies): `twin sync` and serve's rounds wait for each other. Sessions
 * it responds to take no such lock: they run side by side, each in its own quarantine, and only
 * the branch move is serialised, by the writer lock; a session whose base moved meanwhile is
 * refused with busy and its initiator tries again. So one member's slow or idle session never
 * holds the others back. */
static int session_lock(int *fd_out, git_repository *repo, int wait_ms)
{
    char path[4096];
    snprintf(path, sizeof(path), "%stwin-sync.lock", git_repository_path(repo));
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (fd < 0)
        return twin_error(TWIN_ERROR, "cannot open %s: %s", path, strerror(errno));
    for (int waited = 0;; waited += 20) {
        if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
            *fd_out = fd;
            return 0;
        }
        if (errno != EWOULDBLOCK && errno != EINTR) {
            int rc = twin_error(TWIN_ERROR, "cannot lock %s: %s", path, strerror(errno));
            close(fd);
            return rc;
        }
        if (waited >= wait_ms) {
            close(fd);
            return twin_error(TWIN_ECONFLICT, "another sync session is running on this node");
        }
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
}

/* ---- hello ---------------------------------------------------------------------------------- */

static int exchange_hello(struct session *s, bool initiator)
{
    twin_msg mine = {.type = TWIN_MSG_HELLO}, theirs = {0};
    mine.u.hello.versions[0] = 1;
    mine.u.hello.nversions = 1;
    snprintf(mine.u.hello.network_id, sizeof(mine.u.hello.network_id), "%s",
             twin_node_network_id(s->n));
    memcpy(mine.u.hello.node, twin_channel_local_node(s->ch), TWIN_PUBKEY_BYTES);
    mine.u.hello.has_head = s->has_head;
    if (s->has_head)
        oid_to_wire(mine.u.hello.head, &s->head);
    snprintf(mine.u.hello.software, sizeof(mine.u.hello.software), "twin/%s",
             twin_global_version());
    snprintf(mine.u.hello.ext[0], sizeof(mine.u.hello.ext[0]), "%s", TWIN_EXT_WRAPS);
    mine.u.hello.next = 1;
    int rc;
    if (initiator && (rc = send_msg(s, &mine)))
        return rc;
    if ((rc = recv_expect(s, &theirs, TWIN_MSG_HELLO)))
        return rc;
    if ((rc = twin_channel_check_hello(s->ch, &theirs))) {
        twin_msg_clear(&theirs);
        return rc;
    }
    s->wraps = s->st->wraps = twin_msg_hello_has_ext(&theirs, TWIN_EXT_WRAPS);
    s->peer_has_head = theirs.u.hello.has_head;
    if (s->peer_has_head)
        oid_from_wire(&s->peer_head, theirs.u.hello.head);
    twin_msg_clear(&theirs);
    if (!initiator && (rc = send_msg(s, &mine)))
        return rc;
    s->st->round_trips++;
    return 0;
}

/* ---- negotiation ---------------------------------------------------------------------------- */

/* ---- the first-parent line, cached ----------------------------------------------------------
 * Both sides sample their head's first-parent line in every session. Walking it 4096 commits deep
 * costs tens of milliseconds on a long history, most of an incremental session, so each node
 * keeps the line of its last sampled head in repo.git/twin-fpline (its ids, newest first). A new
 * head usually sits a few commits above it: the walk stops where it meets the cached head and the
 * rest is taken from the file. Commits never change, so the line below a commit never changes
 * either; a missing or damaged file only costs a full walk. Each session writes it whole under a
 * name of its own and renames it into place. */

#define LINE_CAP   (SAMPLE_DEPTH + 2) /* distances 0..SAMPLE_DEPTH, and one more to see the root */
#define LINE_MAGIC "twin first-parent line v1\n"

static size_t line_load(git_oid *line, git_repository *repo)
{
    char path[4096];
    unsigned char hdr[sizeof(LINE_MAGIC) - 1 + 4];
    size_t n = 0;
    snprintf(path, sizeof(path), "%stwin-fpline", git_repository_path(repo));
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return 0;
    if (fread(hdr, 1, sizeof(hdr), fp) == sizeof(hdr) &&
        memcmp(hdr, LINE_MAGIC, sizeof(LINE_MAGIC) - 1) == 0) {
        const unsigned char *c = hdr + sizeof(LINE_MAGIC) - 1;
        size_t want = (size_t)c[0] << 24 | (size_t)c[1] << 16 | (size_t)c[2] << 8 | c[3];
        unsigned char raw[TWIN_OID_BYTES];
        if (want <= LINE_CAP)
            while (n < want && fread(raw, 1, sizeof(raw), fp) == sizeof(raw))
                git_oid_fromraw(&line[n++], raw);
        if (n != want)
            n = 0;
    }
    fclose(fp);
    return n;
}

static void line_save(git_repository *repo, const git_oid *line, size_t n)
{
    char path[4096], tmp[4200];
    unsigned char c[4] = {(unsigned char)(n >> 24), (unsigned char)(n >> 16),
                          (unsigned char)(n >> 8), (unsigned char)n};
    snprintf(path, sizeof(path), "%stwin-fpline", git_repository_path(repo));
    snprintf(tmp, sizeof(tmp), "%s.tmp-XXXXXX", path); /* sessions may save side by side */
    int fd = mkstemp(tmp);
    FILE *fp = fd >= 0 ? fdopen(fd, "wb") : NULL;
    if (!fp) {
        if (fd >= 0) {
            close(fd);
            remove(tmp);
        }
        return;
    }
    bool ok = fwrite(LINE_MAGIC, 1, sizeof(LINE_MAGIC) - 1, fp) == sizeof(LINE_MAGIC) - 1 &&
              fwrite(c, 1, 4, fp) == 4;
    for (size_t i = 0; ok && i < n; i++)
        ok = fwrite(line[i].id, 1, TWIN_OID_BYTES, fp) == TWIN_OID_BYTES;
    if (fclose(fp) != 0 || !ok || rename(tmp, path) != 0)
        remove(tmp);
}

/* head's first-parent line, newest first, at most LINE_CAP ids; fewer means it reaches the root.
 * The revision walker reads only each commit's parents and time, not the whole commit. */
static size_t first_parent_line(git_oid *line, git_repository *repo, const git_oid *head)
{
    git_oid *cached = malloc(LINE_CAP * sizeof(*cached));
    git_revwalk *walk = NULL;
    git_oid id;
    size_t n = 0, ncached = cached ? line_load(cached, repo) : 0;
    bool hit = false;
    if (ncached > 0 && git_oid_equal(&cached[0], head)) {
        memcpy(line, cached, ncached * sizeof(*line));
        free(cached);
        return ncached;
    }
    if (git_revwalk_new(&walk, repo) == 0 && git_revwalk_simplify_first_parent(walk) == 0 &&
        git_revwalk_push(walk, head) == 0)
        while (n < LINE_CAP && git_revwalk_next(&id, walk) == 0) {
            if (ncached > 0 && git_oid_equal(&id, &cached[0])) {
                hit = true;
                break;
            }
            line[n++] = id;
        }
    git_revwalk_free(walk);
    if (hit) {
        size_t take = ncached < LINE_CAP - n ? ncached : LINE_CAP - n;
        memcpy(line + n, cached, take * sizeof(*line));
        n += take;
    }
    free(cached);
    if (n > 0)
        line_save(repo, line, n);
    return n;
}

/* Commits on the first-parent line of head at distances 0, 1, 2, 4, ... and the root, when the
 * line is short enough to reach it. */
static size_t sample(git_oid out[SAMPLE_MAX], git_repository *repo, const git_oid *head)
{
    git_oid *line = malloc(LINE_CAP * sizeof(*line));
    size_t n = 0, len = line ? first_parent_line(line, repo, head) : 0;
    for (size_t d = 0; d < len && d <= SAMPLE_DEPTH && n < SAMPLE_MAX - 1; d = d ? d * 2 : 1)
        out[n++] = line[d];
    if (len > 0 && len < LINE_CAP && !git_oid_equal(&out[n - 1], &line[len - 1]))
        out[n++] = line[len - 1];
    free(line);
    return n;
}

static int send_negotiate(struct session *s)
{
    git_oid samples[SAMPLE_MAX];
    unsigned char have[SAMPLE_MAX][TWIN_OID_BYTES], want[1][TWIN_OID_BYTES];
    double t0 = now_ms();
    size_t n = s->has_head ? sample(samples, s->repo, &s->head) : 0;
    s->st->negotiate_ms += now_ms() - t0;
    for (size_t i = 0; i < n; i++)
        oid_to_wire(have[i], &samples[i]);
    twin_msg m = {.type = TWIN_MSG_NEGOTIATE};
    m.u.negotiate.have = have;
    m.u.negotiate.nhave = n;
    if (s->peer_has_head) {
        oid_to_wire(want[0], &s->peer_head);
        m.u.negotiate.want = want;
        m.u.negotiate.nwant = 1;
    }
    m.u.negotiate.done = true;
    return send_msg(s, &m);
}

/* The ids of a list that this node holds (they are common to both sides). */
static size_t known(git_oid *out, git_repository *repo, const unsigned char (*ids)[TWIN_OID_BYTES],
                    size_t n)
{
    git_odb *odb = NULL;
    size_t k = 0;
    if (git_repository_odb(&odb, repo) < 0)
        return 0;
    for (size_t i = 0; i < n; i++) {
        git_oid id;
        oid_from_wire(&id, ids[i]);
        if (git_odb_exists_ext(odb, &id, GIT_ODB_LOOKUP_NO_REFRESH))
            out[k++] = id;
    }
    git_odb_free(odb);
    return k;
}

/* ---- packs ---------------------------------------------------------------------------------- */

struct chunker {
    struct session *s;
    unsigned char *buf;
    size_t len;
};

static int flush_chunk(struct chunker *c, bool last)
{
    twin_msg m = {.type = TWIN_MSG_PACK};
    m.u.pack.seq = c->s->pack_seq++;
    m.u.pack.data = c->buf;
    m.u.pack.len = c->len;
    m.u.pack.last = last;
    c->len = 0;
    return send_msg(c->s, &m);
}

static int chunk_sink(const void *data, size_t len, void *ctx)
{
    struct chunker *c = ctx;
    const unsigned char *p = data;
    while (len > 0) {
        size_t take = CHUNK_BYTES - c->len < len ? CHUNK_BYTES - c->len : len;
        memcpy(c->buf + c->len, p, take);
        c->len += take;
        p += take;
        len -= take;
        if (c->len == CHUNK_BYTES) {
            int rc = flush_chunk(c, false);
            if (rc)
                return rc;
        }
    }
    return 0;
}

static int send_pack(size_t *commits, struct session *s, git_repository *repo, const git_oid *want,
                     const git_oid *haves, size_t nhaves)
{
    struct chunker c = {.s = s, .buf = malloc(CHUNK_BYTES)};
    if (!c.buf)
        return twin_error(TWIN_ERROR, "out of memory");
    double t0 = now_ms();
    int rc =
        twin_packbuild_stream(commits, repo, want, want ? 1 : 0, haves, nhaves, chunk_sink, &c);
    if (rc == 0)
        rc = flush_chunk(&c, true);
    free(c.buf);
    s->st->build_ms += now_ms() - t0;
    return rc;
}

static int send_refuse(struct session *s, uint32_t code, const char *reason);

static int recv_pack(struct session *s)
{
    double t0 = now_ms();
    int rc = twin_quarantine_new(&s->q, s->repo);
    uint64_t seq = 0;
    /* Set when the failure needs no answer: the peer's own message (an error, a refusal, a
     * close), or an error already sent. */
    bool answered = false;
    while (rc == 0) {
        twin_msg m = {0};
        if ((rc = recv_expect(s, &m, TWIN_MSG_PACK))) {
            answered = true;
            break;
        }
        if (m.u.pack.seq != seq++) {
            send_error(s, TWIN_WIRE_UNEXPECTED, "pack chunk out of order");
            answered = true;
            rc = twin_error(TWIN_EINVALID, "the peer sent pack chunk %llu, expected %llu",
                            (unsigned long long)m.u.pack.seq, (unsigned long long)(seq - 1));
        } else if (m.u.pack.len > 0) {
            double t1 = now_ms();
            rc = twin_quarantine_append(s->q, m.u.pack.data, m.u.pack.len);
            s->st->index_ms += now_ms() - t1;
        }
        bool last = m.u.pack.last;
        twin_msg_clear(&m);
        if (rc == 0 && last) {
            double t1 = now_ms();
            rc = twin_quarantine_finish(s->q);
            s->st->index_ms += now_ms() - t1;
            break;
        }
    }
    s->st->receive_ms += now_ms() - t0;
    /* A pack this side will not take is answered before the close (SYNC.md 8): a bound it
     * broke is refuse 8, anything malformed refuse 4, and a failure of this side's own (a full
     * disk) error 1. */
    if (rc && !answered) {
        char why[sizeof(((twin_msg *)0)->u.refuse.reason)];
        snprintf(why, sizeof(why), "the pack was refused: %s", twin_error_last());
        if (rc == TWIN_ELIMIT)
            send_refuse(s, TWIN_REFUSE_TOO_LARGE, why);
        else if (rc == TWIN_EINVALID || rc == TWIN_EVERIFY)
            send_refuse(s, TWIN_REFUSE_INVALID, why);
        else
            send_error(s, TWIN_WIRE_INTERNAL, why);
    }
    return rc;
}

/* ---- checks --------------------------------------------------------------------------------- */

static uint32_t refuse_code(const char *reason)
{
    if (strstr(reason, "signature") || strstr(reason, "unsigned"))
        return TWIN_REFUSE_BAD_SIGNATURE;
    if (strstr(reason, "membership") || strstr(reason, "observer") || strstr(reason, "admin") ||
        strstr(reason, "revoked") || strstr(reason, "retired"))
        return TWIN_REFUSE_NOT_MEMBER;
    if (strstr(reason, "re-derivation") || strstr(reason, "re-derived"))
        return TWIN_REFUSE_MERGE_MISMATCH;
    return TWIN_REFUSE_INVALID;
}

static int send_refuse(struct session *s, uint32_t code, const char *reason)
{
    twin_msg m = {.type = TWIN_MSG_REFUSE};
    m.u.refuse.code = code;
    snprintf(m.u.refuse.reason, sizeof(m.u.refuse.reason), "%s", reason);
    send_msg(s, &m);
    send_goodbye(s);
    return 0;
}

/* Checks the received commits up to tip; on a fault refuses and returns TWIN_EVERIFY. */
/* While the initiator checks what it received, the responder waits for the initiator's pack, and
 * each wait is bounded (SYNC.md 6.1: 5 s, plus 2 ms per commit it sent), which checking a long
 * history can outlast. So the initiator sends pack chunks with no data now and then meanwhile:
 * they carry nothing, and each one starts the responder's next wait afresh (SYNC.md 3). */
#define KEEPALIVE_MS 2000

static int keep_peer_waiting(size_t checked, void *ctx)
{
    struct session *s = ctx;
    if (now_ms() - s->last_sent_ms < KEEPALIVE_MS)
        return 0;
    static unsigned char nothing[1];
    twin_msg m = {.type = TWIN_MSG_PACK};
    m.u.pack.seq = s->pack_seq++;
    m.u.pack.data = nothing;
    m.u.pack.len = 0;
    m.u.pack.last = false;
    return send_msg(s, &m);
}

static int check_received(struct session *s, const git_oid *tip, bool initiator)
{
    size_t checked, bad;
    git_oid first_bad;
    char reason[600], text[800];
    twin_util_test_stop("sync-before-check");
    double t0 = now_ms();
    if (initiator)
        twin_quarantine_on_progress(s->q, keep_peer_waiting, s);
    twin_wrapsync_notes_free(s->notes);
    s->notes = NULL;
    if (s->wraps && twin_wrapsync_notes_new(&s->notes) == 0)
        twin_quarantine_on_sealed(s->q, twin_wrapsync_note, s->notes);
    else
        twin_error_clear(); /* without notes, the wraps read their versions */
    int rc = twin_quarantine_check(&checked, &bad, &first_bad, reason, sizeof(reason), s->q, tip,
                                   s->has_head ? &s->head : NULL);
    if (rc) {
        snprintf(text, sizeof(text), "%s", twin_error_last());
        send_refuse(s, TWIN_REFUSE_MISSING, text);
        return twin_error(rc, "%s", text);
    }
    s->st->received_commits = checked;
    s->st->check_ms += now_ms() - t0;
    size_t nahead;
    const struct twin_ahead *ahead = twin_quarantine_ahead(s->q, &nahead);
    s->st->nahead = nahead;
    for (size_t i = 0; i < nahead && i < TWIN_SYNC_AHEAD_LISTED; i++)
        s->st->ahead[i] = ahead[i];
    if (bad) {
        snprintf(text, sizeof(text), "commit %s: %s", git_oid_tostr_s(&first_bad), reason);
        send_refuse(s, refuse_code(reason), text);
        return twin_error(TWIN_EVERIFY, "refused what the peer sent: %s", text);
    }
    if (!s->has_head) {
        /* A node that joined takes history only of its own network. */
        git_revwalk *walk = NULL;
        git_oid root;
        git_commit *c = NULL;
        git_tree *tree = NULL;
        struct twin_membership *m = NULL;
        rc = 0;
        /* The genesis: the first commit the check took, else libgit2's walk finds it. */
        if ((!twin_quarantine_first(s->q, &root) &&
             (git_revwalk_new(&walk, twin_quarantine_view(s->q)) < 0 ||
              git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL | GIT_SORT_REVERSE) < 0 ||
              git_revwalk_push(walk, tip) < 0 || git_revwalk_next(&root, walk) < 0)) ||
            git_commit_lookup(&c, twin_quarantine_view(s->q), &root) < 0 ||
            git_commit_tree(&tree, c) < 0)
            rc = twin_error_git("reading the received genesis");
        else if ((rc = twin_membership_load(&m, twin_quarantine_view(s->q), tree)) == 0 &&
                 strcmp(m->network_id, twin_node_network_id(s->n)) != 0) {
            snprintf(text, sizeof(text), "history of network %s, not %s", m->network_id,
                     twin_node_network_id(s->n));
            send_refuse(s, TWIN_REFUSE_INVALID, text);
            rc = twin_error(TWIN_EVERIFY, "refused what the peer sent: %s", text);
        }
        twin_membership_free(m);
        git_tree_free(tree);
        git_commit_free(c);
        git_revwalk_free(walk);
        return rc;
    }
    return 0;
}

#define LOCAL_MERGE_ATTEMPTS 20

/* Whether a local write (anything but a sync session) moved the branch since it was at since:
 * the branch's reflog, newest first, down to the entry that reached since. Without that entry
 * (a reflog cut short) it answers yes. */
static bool local_write_since(git_repository *repo, const git_oid *since)
{
    git_reflog *log = NULL;
    bool local = true;
    if (git_reflog_read(&log, repo, TWIN_BRANCH) < 0) {
        git_error_clear();
        return true;
    }
    bool found_local = false;
    for (size_t i = 0; i < git_reflog_entrycount(log); i++) {
        const git_reflog_entry *e = git_reflog_entry_byindex(log, i);
        if (git_oid_equal(git_reflog_entry_id_new(e), since)) {
            local = found_local;
            break;
        }
        const char *msg = git_reflog_entry_message(e);
        if (!msg || strncmp(msg, "twin: sync", 10) != 0)
            found_local = true;
    }
    git_reflog_free(log);
    return local;
}

/* Moves the branch from the session's head to new_head. If a local write moved the branch
 * meanwhile, new_head is merged into where it is now, as any node merges, and the branch moves
 * to that merge: a sync never waits for, nor is undone by, the node's own writers (SYNC.md 6).
 * The merge is signed with this node's key; *merged reports it. If only other sync sessions
 * moved it, TWIN_ECONFLICT: merging their heads here too would make merges of merges faster than
 * a busy mesh settles them, so the peer opens a new session instead. */
static int move_branch(struct session *s, const git_oid *new_head, bool *merged)
{
    *merged = false;
    if (s->has_head && git_oid_equal(&s->head, new_head))
        return 0;
    git_oid from = s->head, target = *new_head;
    bool has_from = s->has_head;
    int rc = 0;
    twin_util_test_stop("sync-before-advance");
    for (int attempt = 0; attempt < LOCAL_MERGE_ATTEMPTS; attempt++) {
        rc = twin_store_advance(s->repo, has_from ? &from : NULL, &target, "twin: sync");
        if (rc != TWIN_ECONFLICT)
            break;
        git_oid now;
        if ((rc = twin_node_head(&now, s->n)))
            break;
        if (git_oid_equal(&now, new_head) || git_graph_descendant_of(s->repo, &now, new_head) == 1)
            return 0; /* the branch already holds it */
        if (has_from && !local_write_since(s->repo, &from)) {
            rc = twin_error(TWIN_ECONFLICT, "the branch moved by another session meanwhile");
            break;
        }
        struct twin_merge_result mr;
        if (git_graph_descendant_of(s->repo, new_head, &now) == 1) {
            target = *new_head; /* the branch moved, but only to where new_head also leads */
        } else if ((rc = twin_merge_commit(&target, &mr, s->n, s->repo, &now, new_head))) {
            break;
        } else {
            *merged = true;
        }
        from = now;
        has_from = true;
    }
    if (rc == 0) {
        s->st->changed = true;
        /* Erasures and key changes that came with it: the wrap store follows (upkeep; verify
         * and the next session repeat it). */
        if (twin_sealed_upkeep(s->n, s->has_head ? &s->head : NULL, &target)) {
            fprintf(stderr, "twin: warning: the wrap store lags the history: %s\n",
                    twin_error_last());
            twin_error_clear();
        }
    }
    return rc;
}

static void session_end(struct session *s)
{
    twin_quarantine_free(s->q);
    s->q = NULL;
    twin_wrapsync_notes_free(s->notes);
    s->notes = NULL;
}

/* After a session that moved the branch: a received pack is joined with the others like one
 * twin wrote, so a node that only receives still keeps few packs. Upkeep: a failure loses
 * nothing, and says nothing. */
static void join_packs(struct session *s, int rc)
{
    if (!s->st->changed)
        return;
    /* Also when the session failed after the move (in the wraps, say): the pack is the store's
     * by then. The session's own error stays the one told. */
    char saved[1024];
    snprintf(saved, sizeof(saved), "%s", rc ? twin_error_last() : "");
    if (twin_batch_repack(s->repo) != 0)
        twin_error_clear();
    if (rc)
        twin_error(rc, "%s", saved);
}

/* ---- initiator ------------------------------------------------------------------------------ */

int twin_sync_initiate(struct twin_sync_stats *out, twin_node *n, twin_channel *ch)
{
    struct session s = {.n = n, .ch = ch, .repo = twin_node_repo(n), .st = out, .initiator = true};
    twin_msg m = {0};
    git_oid common[SAMPLE_MAX + 1], new_head;
    size_t ncommon = 0;
    int rc;
    memset(out, 0, sizeof(*out));
    double start = now_ms();
    rc = twin_node_head(&s.head, n);
    if (rc && rc != TWIN_ENOHISTORY)
        goto done;
    s.has_head = rc == 0;
    if ((rc = exchange_hello(&s, true)))
        goto done;
    if (!s.has_head && !s.peer_has_head) {
        send_goodbye(&s);
        rc = twin_error(TWIN_ENOHISTORY, "neither node has any history yet");
        goto done;
    }
    if (s.has_head && s.peer_has_head && git_oid_equal(&s.head, &s.peer_head)) {
        out->has_head = true;
        out->head = s.head;
        rc = finish(&s);
        goto done;
    }
    /* Round trip 2: our samples out; the peer's answer, its samples and its pack back. */
    if ((rc = send_negotiate(&s)) || (rc = recv_expect(&s, &m, TWIN_MSG_ACK)))
        goto done;
    twin_msg_clear(&m);
    if ((rc = recv_expect(&s, &m, TWIN_MSG_NEGOTIATE)))
        goto done;
    ncommon = known(common, s.repo, (const unsigned char(*)[TWIN_OID_BYTES])m.u.negotiate.have,
                    m.u.negotiate.nhave < SAMPLE_MAX ? m.u.negotiate.nhave : SAMPLE_MAX);
    twin_msg_clear(&m);
    if ((rc = recv_pack(&s)))
        goto done;
    out->round_trips++;
    if (s.peer_has_head && (rc = check_received(&s, &s.peer_head, true)))
        goto done;

    git_repository *view = twin_quarantine_view(s.q);
    bool merge = false;
    if (!s.peer_has_head)
        new_head = s.head;
    else if (!s.has_head)
        new_head = s.peer_head;
    else if (twin_quarantine_reached(s.q, &s.peer_head, &s.head))
        new_head = s.peer_head; /* the check's walk met our head in the peer's history */
    else if (git_graph_descendant_of(view, &s.head, &s.peer_head) == 1)
        new_head = s.head;
    else if (git_graph_descendant_of(view, &s.peer_head, &s.head) == 1)
        new_head = s.peer_head;
    else
        merge = true;
    if (merge) {
        struct twin_merge_result mr;
        if ((rc = twin_merge_commit(&new_head, &mr, n, view, &s.head, &s.peer_head))) {
            char text[600];
            snprintf(text, sizeof(text), "cannot merge: %s", twin_error_last());
            send_error(&s, TWIN_WIRE_INTERNAL, text);
            rc = twin_error(rc, "%s", text);
            goto done;
        }
        out->merged = true;
        out->conflicts = mr.conflicts;
    }
    /* Round trip 3: our commits and the proposed head out; accept or refuse back. */
    if (s.peer_has_head)
        common[ncommon++] = s.peer_head;
    if ((rc =
             send_pack(&out->sent_commits, &s, view, s.has_head ? &s.head : NULL, common, ncommon)))
        goto done;
    twin_msg proposal = {0};
    git_odb *odb = NULL;
    git_odb_object *raw = NULL;
    if (merge) {
        if (git_repository_odb(&odb, view) < 0 || git_odb_read(&raw, odb, &new_head) < 0) {
            git_odb_free(odb);
            rc = twin_error_git("reading the merge commit");
            goto done;
        }
        proposal.type = TWIN_MSG_MERGE;
        proposal.u.merge.commit = (unsigned char *)git_odb_object_data(raw);
        proposal.u.merge.commit_len = git_odb_object_size(raw);
        oid_to_wire(proposal.u.merge.parents[0], &s.head);
        oid_to_wire(proposal.u.merge.parents[1], &s.peer_head);
        proposal.u.merge.nparents = 2;
    } else {
        twin_msg_ref ref = {.name = TWIN_BRANCH};
        oid_to_wire(ref.oid, &new_head);
        proposal.type = TWIN_MSG_REFS;
        proposal.u.refs.refs = &ref;
        proposal.u.refs.count = 1;
        rc = send_msg(&s, &proposal);
        proposal.type = TWIN_MSG_UNKNOWN;
    }
    if (proposal.type == TWIN_MSG_MERGE)
        rc = send_msg(&s, &proposal);
    git_odb_object_free(raw);
    git_odb_free(odb);
    if (rc || (rc = recv_expect(&s, &m, TWIN_MSG_ACCEPT)))
        goto done;
    git_oid accepted;
    oid_from_wire(&accepted, m.u.accept.head);
    twin_msg_clear(&m);
    out->round_trips++;
    if (!git_oid_equal(&accepted, &new_head)) {
        char a[GIT_OID_HEXSZ + 1], p[GIT_OID_HEXSZ + 1];
        git_oid_tostr(a, sizeof(a), &accepted);
        git_oid_tostr(p, sizeof(p), &new_head);
        rc = twin_error(TWIN_EVERIFY, "the peer accepted %s, not the proposed %s", a, p);
        goto done;
    }
    /* The peer holds the new head: take the received objects and follow. */
    double accept_start = now_ms();
    if ((rc = twin_quarantine_accept(s.q)))
        goto done;
    bool local_merge = false;
    rc = move_branch(&s, &new_head, &local_merge);
    out->accept_ms += now_ms() - accept_start;
    if (rc == TWIN_ECONFLICT)
        rc = twin_error(TWIN_ECONFLICT,
                        "this node changed during the session; the next sync will bring the two "
                        "together");
    if (rc)
        goto done;
    out->merged |= local_merge;
    out->has_head = true;
    out->head = new_head;
    rc = finish(&s);
done:
    twin_msg_clear(&m);
    session_end(&s);
    join_packs(&s, rc);
    out->total_ms = now_ms() - start;
    return rc;
}

/* Whether this node may send its history to the node with key pk: not when the membership at
 * the head has revoked that key or removed its member (a retired key is a rotation the peer
 * entry has not caught up with, and is still served). */
static int peer_still_member(twin_node *n, const unsigned char pk[static TWIN_PUBKEY_BYTES])
{
    struct twin_membership *m = NULL;
    int rc = 0;
    if (twin_membership_at_head(&m, n) == 0) {
        enum twin_key_state state;
        const struct twin_member *who = twin_membership_find_key(m, pk, &state);
        if (who && state == TWIN_KEY_MEMBER_REMOVED)
            rc = twin_error(TWIN_EDENIED,
                            "%s was removed from the network: this node no longer syncs with it "
                            "(drop the peer entry: twin peer remove NAME)",
                            who->org_id);
        else if (who && state == TWIN_KEY_REVOKED)
            rc = twin_error(TWIN_EDENIED,
                            "the peer's key of %s is revoked: this node no longer syncs with it "
                            "(drop the peer entry: twin peer remove NAME)",
                            who->org_id);
    }
    if (rc == 0)
        twin_error_clear();
    twin_membership_free(m);
    return rc;
}

int twin_sync_peer(struct twin_sync_stats *out, twin_node *n, const char *host, const char *port,
                   const unsigned char peer_key[static TWIN_PUBKEY_BYTES],
                   const struct twin_sync_opts *opts)
{
    twin_channel *ch = NULL;
    twin_channel_config cfg = {.key = twin_node_key(n), .network_id = twin_node_network_id(n)};
    if (opts) {
        cfg.cancelled = opts->cancelled;
        cfg.cancel_ctx = opts->cancel_ctx;
    }
    int lock = -1;
    memset(out, 0, sizeof(*out));
    int member = peer_still_member(n, peer_key);
    if (member)
        return member;
    /* The lock comes before the connection: a node never holds a peer's session open while it
     * waits for its own turn, so two nodes syncing towards each other cannot wait in a circle. */
    int rc = session_lock(&lock, twin_node_repo(n), INITIATOR_LOCK_WAIT_MS);
    if (rc)
        return rc;
    twin_quarantine_sweep(twin_node_repo(n));
    if ((rc = twin_channel_connect(&ch, host, port, peer_key, &cfg)) == 0)
        rc = twin_sync_initiate(out, n, ch);
    twin_channel_free(ch);
    ch = NULL;
    /* After a key rotation the peer may not know the new key yet: the key it replaced (still
     * active in the peer's history) opens the session, which carries the rotation to it. The
     * node's commits and merges are still signed with its current key. */
    twin_keypair prev;
    if (rc == TWIN_EDENIED && twin_node_previous_key(&prev, n) == 0) {
        cfg.key = &prev;
        twin_error_clear();
        if ((rc = twin_channel_connect(&ch, host, port, peer_key, &cfg)) == 0)
            rc = twin_sync_initiate(out, n, ch);
        twin_channel_free(ch);
        twin_key_wipe(&prev);
    }
    close(lock);
    return rc;
}

/* ---- responder ------------------------------------------------------------------------------ */

static int read_proposal(git_oid *new_head, struct session *s)
{
    twin_msg m = {0};
    int rc = twin_channel_recv(s->ch, &m);
    if (rc)
        return twin_error_wrap(rc, "waiting for the proposal");
    if (m.type == TWIN_MSG_REFS) {
        bool found = false;
        for (size_t i = 0; i < m.u.refs.count; i++)
            if (strcmp(m.u.refs.refs[i].name, TWIN_BRANCH) == 0) {
                oid_from_wire(new_head, m.u.refs.refs[i].oid);
                found = true;
            }
        twin_msg_clear(&m);
        if (!found) {
            send_refuse(s, TWIN_REFUSE_MISSING, "the proposal names no " TWIN_BRANCH);
            return twin_error(TWIN_EINVALID, "the peer proposed no head");
        }
        return 0;
    }
    if (m.type == TWIN_MSG_MERGE) {
        git_odb *odb = NULL;
        rc = 0;
        s->proposed_merge = true;
        if (git_repository_odb(&odb, twin_quarantine_view(s->q)) < 0 ||
            git_odb_write(new_head, odb, m.u.merge.commit, m.u.merge.commit_len,
                          GIT_OBJECT_COMMIT) < 0)
            rc = twin_error_git("storing the proposed merge");
        git_odb_free(odb);
        twin_msg_clear(&m);
        return rc;
    }
    twin_msg_clear(&m);
    send_error(s, TWIN_WIRE_UNEXPECTED, "expected a proposal (refs or merge)");
    return twin_error(TWIN_EINVALID, "the peer sent no proposal");
}

/* A merge proposed in a session must hold by rule 2 (SYNC.md 6), whatever rule its message names:
 * one a node of an earlier version made by rule 1 is taken only when rule 2 gives the same tree,
 * so a change dated more than a day after it cannot win by its date here. The predicate has
 * already checked it by the rule it names. */
static int check_proposed_rule(struct session *s, const git_oid *merge)
{
    git_repository *view = twin_quarantine_view(s->q);
    git_odb *odb = NULL;
    git_odb_object *raw = NULL;
    git_commit *c = NULL;
    int rc = 0;
    if (git_repository_odb(&odb, view) < 0 || git_odb_read(&raw, odb, merge) < 0 ||
        git_commit_lookup(&c, view, merge) < 0 || git_commit_parentcount(c) != 2) {
        rc = twin_error_git("reading the proposed merge");
        send_error(s, TWIN_WIRE_INTERNAL, twin_error_last());
        goto cleanup;
    }
    if (twin_merge_rule_of(git_odb_object_data(raw), git_odb_object_size(raw)) >= 2)
        goto cleanup;
    struct twin_merge_rule rule = {.version = 2, .time = (int64_t)git_commit_time(c)};
    struct twin_merge_result mr;
    if ((rc = twin_merge_compute(&mr, view, git_commit_parent_id(c, 0), git_commit_parent_id(c, 1),
                                 &rule))) {
        send_error(s, TWIN_WIRE_INTERNAL, twin_error_last());
        goto cleanup;
    }
    if (!git_oid_equal(&mr.tree, git_commit_tree_id(c))) {
        static const char why[] =
            "the proposed merge does not match its re-derivation by merge rule 2: it was made by "
            "rule 1, under which a change dated more than a day after the merge wins by its date "
            "(upgrade twin on the proposing node)";
        send_refuse(s, TWIN_REFUSE_MERGE_MISMATCH, why);
        rc = twin_error(TWIN_EVERIFY, "refused a proposal: %s", why);
    }
cleanup:
    git_commit_free(c);
    git_odb_object_free(raw);
    git_odb_free(odb);
    return rc;
}

int twin_sync_respond(struct twin_sync_stats *out, twin_node *n, twin_channel *ch)
{
    struct session s = {.n = n, .ch = ch, .repo = twin_node_repo(n), .st = out};
    twin_msg m = {0};
    git_oid common[SAMPLE_MAX], new_head;
    int rc;
    memset(out, 0, sizeof(*out));
    double start = now_ms();
    twin_channel_set_read_timeout(ch, RESPONDER_IDLE_MS);
    twin_quarantine_sweep(s.repo);
    rc = twin_node_head(&s.head, n);
    if (rc && rc != TWIN_ENOHISTORY)
        goto done;
    s.has_head = rc == 0;
    if ((rc = exchange_hello(&s, false)))
        goto done;
    if ((rc = twin_channel_recv(ch, &m)))
        goto done;
    if (m.type == TWIN_MSG_GOODBYE || m.type == TWIN_MSG_CHECKPOINT) {
        out->has_head = s.has_head;
        out->head = s.head;
        if (m.type == TWIN_MSG_CHECKPOINT)
            rc = answer_checkpoint(&s, &m);
        else
            send_goodbye(&s);
        goto done;
    }
    if (m.type != TWIN_MSG_NEGOTIATE) {
        send_error(&s, TWIN_WIRE_UNEXPECTED, "expected negotiate");
        rc = twin_error(TWIN_EINVALID, "the peer sent %s where negotiate was due",
                        twin_msg_type_name(m.type));
        goto done;
    }
    size_t nhave = m.u.negotiate.nhave < SAMPLE_MAX ? m.u.negotiate.nhave : SAMPLE_MAX;
    size_t ncommon =
        known(common, s.repo, (const unsigned char(*)[TWIN_OID_BYTES])m.u.negotiate.have, nhave);
    twin_msg_clear(&m);
    unsigned char wire_common[SAMPLE_MAX][TWIN_OID_BYTES];
    for (size_t i = 0; i < ncommon; i++)
        oid_to_wire(wire_common[i], &common[i]);
    twin_msg ack = {.type = TWIN_MSG_ACK};
    ack.u.ack.common = wire_common;
    ack.u.ack.count = ncommon;
    if ((rc = send_msg(&s, &ack)) || (rc = send_negotiate(&s)) ||
        (rc = send_pack(&out->sent_commits, &s, s.repo, s.has_head ? &s.head : NULL, common,
                        ncommon)))
        goto done;
    out->round_trips++;
    uint64_t pack_wait =
        RESPONDER_IDLE_MS + (uint64_t)RESPONDER_MS_PER_COMMIT * (uint64_t)out->sent_commits;
    twin_channel_set_read_timeout(
        ch, pack_wait < RESPONDER_PACK_WAIT_MAX ? (int)pack_wait : RESPONDER_PACK_WAIT_MAX);
    rc = recv_pack(&s);
    twin_channel_set_read_timeout(ch, RESPONDER_IDLE_MS);
    if (rc || (rc = read_proposal(&new_head, &s)))
        goto done;
    out->round_trips++;
    git_repository *view = twin_quarantine_view(s.q);
    git_odb *view_odb = NULL;
    git_oid missing = new_head;
    bool sent = git_repository_odb(&view_odb, view) == 0 && git_odb_exists(view_odb, &new_head);
    git_commit *proposed = NULL;
    /* A merge's parents must be here too: the merge names them, the pack brings them. */
    if (sent && git_commit_lookup(&proposed, view, &new_head) == 0)
        for (unsigned i = 0; sent && i < git_commit_parentcount(proposed); i++)
            if (!git_odb_exists(view_odb, git_commit_parent_id(proposed, i))) {
                missing = *git_commit_parent_id(proposed, i);
                sent = false;
            }
    git_commit_free(proposed);
    git_odb_free(view_odb);
    if (!sent) {
        char why[200];
        snprintf(why, sizeof(why), "%s %s was not sent and is not here",
                 git_oid_equal(&missing, &new_head) ? "the proposed head" : "the merge's parent",
                 git_oid_tostr_s(&missing));
        send_refuse(&s, TWIN_REFUSE_MISSING, why);
        rc = twin_error(TWIN_EVERIFY, "refused a proposal: %s", why);
        goto done;
    }
    if (s.has_head && !git_oid_equal(&new_head, &s.head) &&
        git_graph_descendant_of(view, &new_head, &s.head) != 1) {
        send_refuse(&s, TWIN_REFUSE_REWRITE,
                    "the proposed head does not contain this node's head: it would rewrite "
                    "published history");
        rc = twin_error(TWIN_EVERIFY, "refused a proposal that does not contain this head");
        goto done;
    }
    if ((rc = check_received(&s, &new_head, false)))
        goto done;
    if (s.proposed_merge && (rc = check_proposed_rule(&s, &new_head)))
        goto done;
    double accept_start = now_ms();
    if ((rc = twin_quarantine_accept(s.q)))
        goto done;
    bool local_merge = false;
    rc = move_branch(&s, &new_head, &local_merge);
    out->accept_ms += now_ms() - accept_start;
    out->merged |= local_merge;
    if (rc) {
        send_refuse(&s, rc == TWIN_ECONFLICT ? TWIN_REFUSE_BUSY : TWIN_REFUSE_OTHER,
                    rc == TWIN_ECONFLICT ? "this node changed during the session; sync again"
                                         : twin_error_last());
        goto done;
    }
    twin_msg acc = {.type = TWIN_MSG_ACCEPT};
    oid_to_wire(acc.u.accept.head, &new_head);
    if ((rc = send_msg(&s, &acc)))
        goto done;
    out->has_head = true;
    out->head = new_head;
    /* The initiator's goodbye closes the session, answered by ours; its absence changes
     * nothing here. */
    if (twin_channel_recv(ch, &m) == 0) {
        if (m.type == TWIN_MSG_CHECKPOINT)
            rc = answer_checkpoint(&s, &m);
        else if (m.type == TWIN_MSG_GOODBYE)
            send_goodbye(&s);
        twin_msg_clear(&m);
    }
done:
    twin_msg_clear(&m);
    session_end(&s);
    join_packs(&s, rc);
    out->total_ms = now_ms() - start;
    return rc;
}

/* ---- authorisation -------------------------------------------------------------------------- */

int twin_sync_authorize(void *ctx, const unsigned char node[TWIN_PUBKEY_BYTES], char *reason,
                        size_t reason_cap)
{
    twin_node *n = NULL;
    git_oid head;
    git_commit *c = NULL;
    git_tree *tree = NULL;
    struct twin_membership *m = NULL;
    struct twin_peer *peers = NULL;
    size_t npeers = 0;
    int verdict = -1;
    bool named = false;
    if (twin_ops_open(&n, ctx)) {
        snprintf(reason, reason_cap, "cannot open this node: %s", twin_error_last());
        return -1;
    }
    if (twin_node_head(&head, n) == 0 && git_commit_lookup(&c, twin_node_repo(n), &head) == 0 &&
        git_commit_tree(&tree, c) == 0 && twin_membership_load(&m, twin_node_repo(n), tree) == 0) {
        enum twin_key_state state;
        const struct twin_member *who = twin_membership_find_key(m, node, &state);
        named = who != NULL;
        if (who && state == TWIN_KEY_ACTIVE)
            verdict = 0;
        else if (who && state == TWIN_KEY_MEMBER_REMOVED)
            snprintf(reason, reason_cap, "%s was removed from network %s", who->org_id,
                     twin_node_network_id(n));
        else if (who)
            snprintf(reason, reason_cap, "this key of %s is %s", who->org_id,
                     twin_membership_key_state_name(state));
        else
            snprintf(reason, reason_cap, "unknown node key: not a member of network %s",
                     twin_node_network_id(n));
    } else {
        snprintf(reason, reason_cap, "unknown node key: this node has no membership yet");
    }
    /* A configured peer the membership does not know yet may sync (it brings or takes the
     * history that names it); one the membership has revoked, retired or removed may not,
     * whatever the peer list says. */
    if (verdict != 0 && !named && twin_peers_list(&peers, &npeers, n) == 0)
        for (size_t i = 0; i < npeers; i++)
            if (memcmp(peers[i].key, node, TWIN_PUBKEY_BYTES) == 0)
                verdict = 0;
    free(peers);
    twin_membership_free(m);
    git_tree_free(tree);
    git_commit_free(c);
    twin_node_free(n);
    return verdict;
}
