/*
 * The quarantine: the receiving side of moving history between nodes. A received pack is indexed
 * into a directory under objects/ that libgit2's normal object lookup never scans; the view used
 * for checking opens the store plus that one pack, and only a pack whose every new commit passes
 * the validity predicate joins the store.
 */
#define _XOPEN_SOURCE 700
#include "twin/quarantine.h"

#include <git2/sys/odb_backend.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "rules/checkrun.h"
#include "git/gitopts.h"
#include "git/history.h"
#include "git/indexer.h"
#include "git/pack.h"
#include "git/packread.h"
#include "base/util.h"
#include "twin/error.h"
#include "twin/progress.h"
#include "twin/global.h"
#include "twin/validity.h"

/* ---- libgit2 settings for receiving history -------------------------------------------------- *
 * Receiving a long history reads every object once or twice, in order: small pack windows and a
 * small object cache serve that in bounded memory. The objects read here have ids that were
 * computed from their content as they entered the store: by the indexer, for the received pack
 * (before any of it is checked), or by twin's own writes. Like git, which verifies object hashes
 * only in fsck, the quarantine does not have libgit2 hash them again on each read (the check hashes
 * what it reads itself), and keeps no object cache of libgit2's: the check keeps what it needs
 * itself, and libgit2's eviction scans its whole table each time it runs. The settings are
 * libgit2's, for the whole process: they are taken for as long as the quarantine lives (gitopts.h).
 */
#define QUARANTINE_OPTS (TWIN_GITOPTS_UNHASHED | TWIN_GITOPTS_UNCACHED | TWIN_GITOPTS_SMALL_WINDOWS)

static int quarantine_settings(void)
{
    return twin_gitopts_begin(QUARANTINE_OPTS);
}

/* ---- receiving ------------------------------------------------------------------------------ */

struct twin_quarantine {
    git_repository *repo;
    char dir[4096];
    int lock; /* flock on dir/lock while this quarantine lives (see twin_quarantine_sweep) */
    twin_indexer *indexer;
    char name[GIT_OID_HEXSZ + 1];
    char loose[4200];
    bool finished, accepted;
    git_odb *view_odb;
    git_repository *view;
    bool reached; /* the last check walked from reached_tip and met reached_base */
    git_oid reached_tip, reached_base;
    bool has_first; /* the last check's first commit: one without parents */
    git_oid first;
    twin_check_progress_fn on_progress;
    void *on_progress_ctx;
    twin_validity_sealed_fn on_sealed;
    void *on_sealed_ctx;
    struct twin_ahead *ahead; /* the last check's commits dated far ahead, oldest first */
    size_t nahead;
    bool settings;     /* holds QUARANTINE_OPTS until freed */
    uint64_t received; /* bytes of pack appended */
};

const struct twin_ahead *twin_quarantine_ahead(const twin_quarantine *q, size_t *count)
{
    *count = q ? q->nahead : 0;
    return q ? q->ahead : NULL;
}

void twin_quarantine_on_progress(twin_quarantine *q, twin_check_progress_fn fn, void *ctx)
{
    q->on_progress = fn;
    q->on_progress_ctx = ctx;
}

void twin_quarantine_on_sealed(twin_quarantine *q, twin_validity_sealed_fn fn, void *ctx)
{
    q->on_sealed = fn;
    q->on_sealed_ctx = ctx;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

int twin_quarantine_new(twin_quarantine **out, git_repository *repo)
{
    *out = NULL;
    twin_quarantine *q = calloc(1, sizeof(*q));
    if (!q)
        return twin_error(TWIN_ERROR, "out of memory");
    q->repo = repo;
    q->lock = -1;
    int settings = quarantine_settings();
    if (settings) {
        free(q);
        return settings;
    }
    q->settings = true;
    snprintf(q->dir, sizeof(q->dir), "%sobjects/incoming-XXXXXX", git_repository_path(repo));
    if (!mkdtemp(q->dir)) {
        int rc =
            twin_error(TWIN_ERROR, "cannot create a quarantine directory: %s", strerror(errno));
        twin_gitopts_end(QUARANTINE_OPTS);
        free(q);
        return rc;
    }
    char lock[4200];
    snprintf(lock, sizeof(lock), "%s/lock", q->dir);
    q->lock = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (q->lock < 0 || flock(q->lock, LOCK_EX | LOCK_NB) != 0) {
        int rc = twin_error(TWIN_ERROR, "cannot lock the quarantine %s: %s", lock, strerror(errno));
        twin_quarantine_free(q);
        return rc;
    }
    int rc = twin_indexer_new(&q->indexer, q->dir);
    if (rc) {
        twin_quarantine_free(q);
        return rc;
    }
    *out = q;
    return 0;
}

int twin_quarantine_append(twin_quarantine *q, const void *data, size_t len)
{
    if (q->finished)
        return twin_error(TWIN_EINVALID, "pack data after the pack was finished");
    q->received += len;
    twin_progress_report("receiving history", "bytes", q->received, 0);
    return twin_indexer_append(q->indexer, data, len); /* it holds the pack to its bounds */
}

/* A repository to check the received objects in: the store joins the view as an alternate, which
 * libgit2 never writes to, so objects made while checking (re-derived merges, a received merge
 * commit) land in the quarantine's own loose directory and stay out of the store until the whole
 * set is accepted. Reads try the received pack first, then the store's packs and loose objects,
 * and the quarantine's loose objects last, so the many reads of a check cost no file-system
 * probes. */
/* The quarantined pack as libgit2 sees it, read through twin's pack reader: libgit2 maps none of
 * it, and reads what the check's rules ask of it (a membership, a merge's trees) as the check
 * does. */
static int pack_backend_new(git_odb_backend **out, twin_quarantine *q)
{
    const char *dirs[] = {q->dir};
    twin_packread *packs = NULL;
    *out = NULL;
    int rc = twin_packread_open_dirs(&packs, dirs, 1);
    if (rc)
        return rc;
    twin_packread_lean(packs);
    return twin_packread_backend(out, packs);
}

static int open_view(git_odb **odb_out, git_repository **out, twin_quarantine *q)
{
    char objects[4096];
    git_odb_backend *pack = NULL, *loose = NULL;
    git_odb *odb = NULL;
    *out = NULL;
    *odb_out = NULL;
    snprintf(objects, sizeof(objects), "%sobjects", git_repository_path(q->repo));
    int rc = 0;
    if (git_odb_new(&odb) < 0 || git_odb_add_disk_alternate(odb, objects) < 0) {
        rc = twin_error_git("opening the quarantined pack");
        goto fail;
    }
    if ((rc = pack_backend_new(&pack, q)))
        goto fail;
    if (git_odb_add_backend(odb, pack, 3) < 0) {
        pack->free(pack); /* not owned by the odb when adding failed */
        rc = twin_error_git("opening the quarantined pack");
        goto fail;
    }
    if (git_odb_backend_loose(&loose, q->loose, -1, 0, 0, 0) < 0) {
        rc = twin_error_git("opening the quarantine's object directory");
        goto fail;
    }
    if (git_odb_add_backend(odb, loose, 0) < 0) {
        loose->free(loose);
        rc = twin_error_git("opening the quarantine's object directory");
        goto fail;
    }
    if (git_repository_wrap_odb(out, odb) < 0) {
        rc = twin_error_git("opening the quarantined pack");
        goto fail;
    }
    *odb_out = odb;
    return 0;
fail:
    git_odb_free(odb);
    return rc;
}

int twin_quarantine_finish(twin_quarantine *q)
{
    if (q->finished)
        return 0;
    int rc = twin_indexer_finish(q->indexer, q->name);
    if (rc)
        return rc;
    q->finished = true;
    /* The indexer keeps its objects' table and a cache of recent objects until it is freed: only
     * its pack's name is needed from here on. */
    twin_indexer_free(q->indexer);
    q->indexer = NULL;
#ifdef __GLIBC__
    /* Hand the indexer's memory back to the system before the check takes its own, so that the
     * peak is the larger of the two rather than their sum. */
    malloc_trim(0);
#endif
    snprintf(q->loose, sizeof(q->loose), "%s/loose", q->dir);
    if (mkdir(q->loose, 0700) != 0)
        return twin_error(TWIN_ERROR, "cannot create the quarantine's object directory: %s",
                          strerror(errno));
    return open_view(&q->view_odb, &q->view, q);
}
git_repository *twin_quarantine_view(twin_quarantine *q)
{
    return q->view;
}

/* The check of received commits runs on every core, as verify does (checkrun.c), each thread
 * with its own view of the quarantine, whose packs twin's pack reader reads. */
struct received {
    twin_quarantine *q;
    pthread_mutex_t lock;
    size_t bad, first_bad; /* under lock; first_bad: the oldest bad commit's index */
    char reason[600];
    size_t reported; /* progress reported so far */
    size_t count;    /* commits to check */
    int64_t now;     /* this node's clock */
    /* Under lock: the commits dated far ahead, in the order their checks ended, with the index
     * of each (sorted afterwards). */
    struct ahead_at {
        size_t index;
        struct twin_ahead a;
    } * ahead;
    size_t nahead, ahead_cap;
    bool out_of_memory;
};

static int by_index(const void *x, const void *y)
{
    size_t a = ((const struct ahead_at *)x)->index, b = ((const struct ahead_at *)y)->index;
    return a < b ? -1 : a > b;
}

static int open_received(git_repository **repo, void **extra, void *ctx)
{
    return open_view((git_odb **)extra, repo, ((struct received *)ctx)->q);
}

static void close_received(git_repository *repo, void *extra, void *ctx)
{
    git_repository_free(repo);
    git_odb_free(extra);
}

static int bind_received(twin_check_cache *cache, git_repository *repo, void *ctx)
{
    twin_quarantine *q = ((struct received *)ctx)->q;
    char store[4200];
    snprintf(store, sizeof(store), "%sobjects/pack", git_repository_path(q->repo));
    const char *dirs[] = {q->dir, store};
    /* The indexer computed every id of the received pack from its content (with collision
     * detection): its objects are not hashed again. The store's are, as they are read (few: the
     * trees and records a received commit changes, at the boundary), since its files may have
     * been damaged since their objects were hashed on their way in. */
    twin_validity_cache_trust_received(cache);
    twin_validity_cache_lean(cache);
    twin_validity_cache_on_sealed(cache, q->on_sealed, q->on_sealed_ctx);
    return twin_validity_cache_pack_dirs(cache, repo, dirs, 2);
}

static void note_received(size_t index, const struct twin_check *check, void *ctx)
{
    struct received *r = ctx;
    if (twin_is_ahead(check->time, r->now)) {
        pthread_mutex_lock(&r->lock);
        if (twin_util_grow((void **)&r->ahead, &r->ahead_cap, r->nahead + 1, sizeof(*r->ahead)) ==
            0) {
            struct ahead_at *e = &r->ahead[r->nahead++];
            memset(e, 0, sizeof(*e));
            e->index = index;
            e->a.time = check->time;
            snprintf(e->a.org_id, sizeof(e->a.org_id), "%s", check->org_id);
        } else {
            r->out_of_memory = true;
        }
        pthread_mutex_unlock(&r->lock);
    }
    if (check->valid)
        return;
    pthread_mutex_lock(&r->lock);
    r->bad++;
    if (index < r->first_bad) {
        r->first_bad = index;
        snprintf(r->reason, sizeof(r->reason), "%s", check->reason);
    }
    pthread_mutex_unlock(&r->lock);
}

/* Reports every TWIN_CHECK_PROGRESS_EVERY commits to the quarantine's callback. */
static int report_received(size_t done, void *ctx)
{
    struct received *r = ctx;
    twin_quarantine *q = r->q;
    int rc = 0;
    twin_progress_report("checking received commits", "commits", done, r->count);
    while (!rc && q->on_progress && done >= r->reported + TWIN_CHECK_PROGRESS_EVERY) {
        r->reported += TWIN_CHECK_PROGRESS_EVERY;
        rc = q->on_progress(r->reported, q->on_progress_ctx);
    }
    return rc;
}

#define WALK_STOPS_MAX 4

/* The received commits by twin's walk over the received pack alone: each is read once, libgit2
 * maps none of the pack, and the walk ends at the commits the store already holds. Those must
 * be base or in its history, for the list to be what libgit2's walk hiding base gives (a commit
 * sent again although the store holds it is merely checked again). 1 with the list; 0 when the
 * walk does not apply (the caller asks libgit2); <0 when out of memory. */
static int received_by_pack(git_oid **out, size_t *count, twin_quarantine *q, const git_oid *tip,
                            const git_oid *base)
{
    const char *dirs[] = {q->dir};
    twin_packread *packs = NULL;
    git_oid *ids = NULL, *stops = NULL;
    size_t n = 0, nstops = 0;
    int rc = twin_packread_open_dirs(&packs, dirs, 1);
    if (rc == 0)
        rc = twin_history_walk_packed(&ids, &n, &stops, &nstops, packs, tip);
    bool exact = rc == 0 && n > 0;
    size_t others = 0;
    for (size_t i = 0; exact && i < nstops; i++) {
        if (!base || !git_oid_equal(&stops[i], base)) {
            others++;
            continue;
        }
        q->reached = true;
        q->reached_tip = *tip;
        q->reached_base = *base;
    }
    /* Each stop other than base costs libgit2 a walk that can cover the whole history: past a
     * few, one walk hiding base (below) is the cheaper answer, whatever the peer sent. */
    exact = exact && (others == 0 || (base && others <= WALK_STOPS_MAX));
    for (size_t i = 0; exact && i < nstops; i++)
        exact = git_oid_equal(&stops[i], base) ||
                git_graph_descendant_of(q->view, base, &stops[i]) == 1;
    twin_packread_free(packs);
    free(stops);
    if (rc == TWIN_ERROR) {
        free(ids);
        return rc;
    }
    twin_error_clear();
    if (!exact) {
        free(ids);
        return 0;
    }
    *out = ids;
    *count = n;
    return 1;
}

bool twin_quarantine_first(const twin_quarantine *q, git_oid *out)
{
    if (q && q->has_first)
        *out = q->first;
    return q && q->has_first;
}

bool twin_quarantine_reached(const twin_quarantine *q, const git_oid *tip, const git_oid *base)
{
    return q && q->reached && git_oid_equal(&q->reached_tip, tip) &&
           git_oid_equal(&q->reached_base, base);
}

/* The received commits not in base's history, oldest first. */
static int received_commits(git_oid **out, size_t *count, twin_quarantine *q, const git_oid *tip,
                            const git_oid *base)
{
    git_revwalk *walk = NULL;
    git_oid id, *ids = NULL;
    size_t n = 0, cap = 0;
    *out = NULL;
    *count = 0;
    int rc = received_by_pack(out, count, q, tip, base);
    if (rc)
        return rc < 0 ? rc : 0;
    if (git_revwalk_new(&walk, q->view) < 0 ||
        git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL | GIT_SORT_REVERSE) < 0) {
        rc = twin_error_git("walking received commits");
        goto done;
    }
    if (git_revwalk_push(walk, tip) < 0) {
        rc = twin_error(TWIN_EINVALID, "the peer's head %s is not in what it sent",
                        git_oid_tostr_s(tip));
        goto done;
    }
    if (base && git_revwalk_hide(walk, base) < 0) {
        rc = twin_error_git("walking received commits");
        goto done;
    }
    while ((rc = git_revwalk_next(&id, walk)) == 0) {
        if ((rc = twin_util_grow((void **)&ids, &cap, n + 1, sizeof(*ids))))
            goto done;
        ids[n++] = id;
    }
    if (rc == GIT_ITEROVER)
        rc = 0;
    else
        rc = twin_error(TWIN_EINVALID, "received history is incomplete: %s",
                        git_error_last() ? git_error_last()->message : "a commit is missing");
done:
    git_revwalk_free(walk);
    if (rc)
        free(ids);
    else {
        *out = ids;
        *count = n;
    }
    return rc;
}

int twin_quarantine_check(size_t *checked, size_t *bad, git_oid *first_bad, char *reason,
                          size_t reason_size, twin_quarantine *q, const git_oid *tip,
                          const git_oid *base)
{
    git_oid *ids = NULL;
    size_t count = 0;
    *checked = *bad = 0;
    reason[0] = '\0';
    if (!q->view)
        return twin_error(TWIN_EINVALID, "the pack is not finished");
    q->reached = q->has_first = false;
    free(q->ahead);
    q->ahead = NULL;
    q->nahead = 0;
    int rc = received_commits(&ids, &count, q, tip, base);
    if (rc || count == 0) {
        free(ids);
        return rc;
    }
    q->first = ids[0];
    q->has_first = true;
    struct received r = {.q = q, .first_bad = count, .count = count, .now = twin_util_clock_now()};
    pthread_mutex_init(&r.lock, NULL);
    struct twin_checkrun run = {.ids = ids,
                                .count = count,
                                .open = open_received,
                                .close = close_received,
                                .bind = bind_received,
                                .result = note_received,
                                .progress = report_received,
                                .ctx = &r};
    rc = twin_checkrun(checked, &run);
    *bad = r.bad;
    if (!rc && r.first_bad < count) {
        *first_bad = ids[r.first_bad];
        snprintf(reason, reason_size, "%s", r.reason);
    }
    if (!rc && r.out_of_memory)
        rc = twin_error(TWIN_ERROR, "out of memory");
    if (!rc && r.nahead && !(q->ahead = calloc(r.nahead, sizeof(*q->ahead))))
        rc = twin_error(TWIN_ERROR, "out of memory");
    if (!rc && r.nahead) {
        qsort(r.ahead, r.nahead, sizeof(*r.ahead), by_index);
        for (size_t i = 0; i < r.nahead; i++) {
            q->ahead[i] = r.ahead[i].a;
            q->ahead[i].commit = ids[r.ahead[i].index];
        }
        q->nahead = r.nahead;
    }
    free(r.ahead);
    pthread_mutex_destroy(&r.lock);
    free(ids);
    return rc;
}

static int sync_path(const char *path)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    int rc = fsync(fd);
    close(fd);
    return rc;
}

static bool is_hex_name(const char *name, size_t len)
{
    if (strlen(name) != len)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((name[i] >= '0' && name[i] <= '9') || (name[i] >= 'a' && name[i] <= 'f')))
            return false;
    return true;
}

/* Moves the quarantine's loose objects (objects/xx/yyyy...) into the store's. */
static int move_loose(twin_quarantine *q)
{
    char objects[4200];
    snprintf(objects, sizeof(objects), "%sobjects", git_repository_path(q->repo));
    DIR *top = opendir(q->loose);
    if (!top)
        return 0;
    struct dirent *fan;
    int rc = 0;
    while (rc == 0 && (fan = readdir(top))) {
        if (!is_hex_name(fan->d_name, 2))
            continue;
        char from_dir[4300], to_dir[4300];
        snprintf(from_dir, sizeof(from_dir), "%s/%s", q->loose, fan->d_name);
        snprintf(to_dir, sizeof(to_dir), "%s/%s", objects, fan->d_name);
        if (mkdir(to_dir, 0755) != 0 && errno != EEXIST) {
            rc = twin_error(TWIN_ERROR, "cannot create %s: %s", to_dir, strerror(errno));
            break;
        }
        DIR *d = opendir(from_dir);
        struct dirent *e;
        while (rc == 0 && d && (e = readdir(d))) {
            if (!is_hex_name(e->d_name, GIT_OID_HEXSZ - 2))
                continue; /* a temporary file of a write that did not finish */
            char from[4400], to[4400];
            snprintf(from, sizeof(from), "%s/%s", from_dir, e->d_name);
            snprintf(to, sizeof(to), "%s/%s", to_dir, e->d_name);
            if (sync_path(from) != 0 || rename(from, to) != 0)
                rc = twin_error(TWIN_ERROR, "cannot move an object into the store: %s",
                                strerror(errno));
        }
        if (d)
            closedir(d);
        if (rc == 0 && sync_path(to_dir) != 0)
            rc = twin_error(TWIN_ERROR, "cannot sync %s: %s", to_dir, strerror(errno));
    }
    closedir(top);
    return rc;
}

int twin_quarantine_accept(twin_quarantine *q)
{
    char from[4200], to[4200], packdir[4096];
    const char *exts[2] = {"pack", "idx"}; /* the index last: a pack counts once it is indexed */
    if (!q->finished)
        return twin_error(TWIN_EINVALID, "the pack is not finished");
    if (q->accepted)
        return 0;
    snprintf(packdir, sizeof(packdir), "%sobjects/pack", git_repository_path(q->repo));
    for (int i = 0; i < 2; i++) {
        snprintf(from, sizeof(from), "%s/pack-%s.%s", q->dir, q->name, exts[i]);
        snprintf(to, sizeof(to), "%s/pack-%s.%s", packdir, q->name, exts[i]);
        if (sync_path(from) != 0 || rename(from, to) != 0)
            return twin_error(TWIN_ERROR, "cannot move the received pack into the store: %s",
                              strerror(errno));
    }
    if (sync_path(packdir) != 0)
        return twin_error(TWIN_ERROR, "cannot sync the pack directory: %s", strerror(errno));
    char name[80];
    snprintf(name, sizeof(name), "pack-%s", q->name);
    int rc = twin_pack_register(q->repo, name); /* joined like a pack twin wrote itself */
    if (rc == 0)
        rc = move_loose(q);
    if (rc)
        return rc;
    q->accepted = true;
    git_odb *odb = NULL;
    if (git_repository_odb(&odb, q->repo) < 0 || git_odb_refresh(odb) < 0) {
        git_odb_free(odb);
        return twin_error_git("refreshing the object store");
    }
    git_odb_free(odb);
    return 0;
}

void twin_quarantine_free(twin_quarantine *q)
{
    if (!q)
        return;
    git_repository_free(q->view);
    git_odb_free(q->view_odb);
    twin_indexer_free(q->indexer);
    free(q->ahead);
    if (q->dir[0])
        nftw(q->dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
    if (q->lock >= 0)
        close(q->lock);
    if (q->settings)
        twin_gitopts_end(QUARANTINE_OPTS);
    free(q);
}

/* Whether the quarantine at path belongs to no live session: its lock can be taken, or it has
 * none and is older than a minute (a session killed between making it and locking it). */
static bool quarantine_abandoned(const char *path)
{
    char lock[4400];
    snprintf(lock, sizeof(lock), "%s/lock", path);
    int fd = open(lock, O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        bool free_now = flock(fd, LOCK_EX | LOCK_NB) == 0;
        close(fd);
        return free_now;
    }
    struct stat st;
    return stat(path, &st) == 0 && time(NULL) - st.st_mtime > 60;
}

void twin_quarantine_sweep(git_repository *repo)
{
    char objects[4096];
    snprintf(objects, sizeof(objects), "%sobjects", git_repository_path(repo));
    DIR *d = opendir(objects);
    struct dirent *e;
    while (d && (e = readdir(d))) {
        if (strncmp(e->d_name, "incoming-", 9) != 0)
            continue;
        char path[4400];
        snprintf(path, sizeof(path), "%s/%s", objects, e->d_name);
        if (quarantine_abandoned(path)) /* sessions run side by side: only the dead's go */
            nftw(path, remove_entry, 8, FTW_DEPTH | FTW_PHYS);
    }
    if (d)
        closedir(d);
}
