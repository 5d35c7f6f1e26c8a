#include "rules/checkrun.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "base/util.h"
#include "twin/error.h"

/* A thread takes a quarter of its share of what is left, at most CHUNK_MAX commits: long chunks
 * first, shorter ones towards the end, so that the threads finish together. */
#define THREADS_MAX 16
#define CHUNK_MAX   2048
#define CHUNK_MIN   16

struct shared {
    const struct twin_checkrun *run;
    size_t threads;
    atomic_size_t next, done;
    pthread_mutex_t lock;
    pthread_cond_t ended; /* signalled, under lock, as each thread finishes */
    size_t running;       /* under lock */
};

struct worker {
    struct shared *s;
    size_t index; /* its place in a kept set */
    int rc;
    char error[512];
};

struct kept_slot {
    git_repository *repo;
    void *extra;
    twin_check_cache *cache; /* NULL: nothing kept */
    void (*close)(git_repository *repo, void *extra, void *ctx);
    void *ctx;
};

struct twin_checkrun_kept {
    struct kept_slot slots[THREADS_MAX];
};

int twin_checkrun_kept_new(twin_checkrun_kept **out)
{
    *out = calloc(1, sizeof(**out));
    return *out ? 0 : twin_error(TWIN_ERROR, "out of memory");
}

void twin_checkrun_kept_free(twin_checkrun_kept *k)
{
    for (size_t i = 0; k && i < THREADS_MAX; i++) {
        struct kept_slot *s = &k->slots[i];
        if (!s->cache)
            continue;
        twin_validity_cache_free(s->cache);
        s->close(s->repo, s->extra, s->ctx);
    }
    free(k);
}

/* A thread's repository and cache, opened and bound: 0, or an error with nothing left open. */
static int worker_open(git_repository **repo, void **extra, twin_check_cache **cache,
                       const struct twin_checkrun *run)
{
    int rc = run->open(repo, extra, run->ctx);
    if (rc)
        return rc;
    if ((rc = twin_validity_cache_new(cache)) ||
        (run->bind && (rc = run->bind(*cache, *repo, run->ctx)))) {
        twin_validity_cache_free(*cache);
        *cache = NULL;
        run->close(*repo, *extra, run->ctx);
        *repo = NULL;
    }
    return rc;
}

static void *work(void *arg)
{
    struct worker *k = arg;
    struct shared *s = k->s;
    const struct twin_checkrun *run = s->run;
    git_repository *repo = NULL;
    void *extra = NULL;
    twin_check_cache *cache = NULL;
    struct kept_slot *slot = run->kept ? &run->kept->slots[k->index] : NULL;
    if (slot && slot->cache) {
        repo = slot->repo;
        extra = slot->extra;
        cache = slot->cache;
    } else if ((k->rc = worker_open(&repo, &extra, &cache, run))) {
        goto done;
    } else if (slot) {
        *slot = (struct kept_slot){repo, extra, cache, run->close, run->ctx};
    }
    for (;;) {
        size_t from = atomic_load(&s->next), to;
        do {
            if (from >= run->count)
                goto done;
            size_t chunk = (run->count - from) / (s->threads * 4);
            chunk = chunk < CHUNK_MIN ? CHUNK_MIN : chunk > CHUNK_MAX ? CHUNK_MAX : chunk;
            to = from + chunk < run->count ? from + chunk : run->count;
        } while (!atomic_compare_exchange_weak(&s->next, &from, to));
        for (size_t i = from; i < to; i++) {
            struct twin_check chk;
            if ((k->rc = twin_validity_check_commit(&chk, repo, &run->ids[i], cache))) {
                k->rc = twin_error_wrap(k->rc, "checking commit %s", git_oid_tostr_s(&run->ids[i]));
                atomic_store(&s->next, run->count); /* the others stop too */
                goto done;
            }
            run->result(i, &chk, run->ctx);
            atomic_fetch_add(&s->done, 1);
        }
    }
done:
    if (k->rc)
        snprintf(k->error, sizeof(k->error), "%s", twin_error_last());
    if (!slot) {
        twin_validity_cache_free(cache);
        if (repo)
            run->close(repo, extra, run->ctx);
    }
    pthread_mutex_lock(&s->lock);
    s->running--;
    pthread_cond_signal(&s->ended);
    pthread_mutex_unlock(&s->lock);
    return NULL;
}

/* Waits for the threads, calling progress about every 50 ms; returns its first non-zero. */
static int wait_all(struct shared *s)
{
    const struct twin_checkrun *run = s->run;
    int rc = 0;
    pthread_mutex_lock(&s->lock);
    while (s->running > 0) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 50 * 1000 * 1000;
        if (until.tv_nsec >= 1000000000) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000;
        }
        pthread_cond_timedwait(&s->ended, &s->lock, &until);
        if (!run->progress || rc)
            continue;
        pthread_mutex_unlock(&s->lock);
        if ((rc = run->progress(atomic_load(&s->done), run->ctx)) != 0)
            atomic_store(&s->next, run->count);
        pthread_mutex_lock(&s->lock);
    }
    pthread_mutex_unlock(&s->lock);
    return rc;
}

int twin_checkrun(size_t *done, const struct twin_checkrun *run)
{
    struct worker workers[THREADS_MAX];
    pthread_t tids[THREADS_MAX];
    struct shared s = {.run = run};
    *done = 0;
    if (run->count == 0)
        return 0;
    size_t threads = run->threads > 0 ? (size_t)run->threads : 0;
    if (threads == 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        threads = cores > 0 ? (size_t)cores : 1;
    }
    if (threads > THREADS_MAX)
        threads = THREADS_MAX;
    if (threads > run->count / 64 + 1)
        threads = run->count / 64 + 1;
    s.threads = threads;
    atomic_init(&s.next, 0);
    atomic_init(&s.done, 0);
    pthread_mutex_init(&s.lock, NULL);
    pthread_cond_init(&s.ended, NULL);
    s.running = threads;
    int rc = 0;
    if (threads == 1) {
        /* A short run is checked on the calling thread: no thread to start. */
        workers[0] = (struct worker){.s = &s};
        work(&workers[0]);
        rc = workers[0].rc ? twin_error(workers[0].rc, "%s", workers[0].error) : 0;
        if (!rc && run->progress)
            rc = run->progress(atomic_load(&s.done), run->ctx);
        *done = atomic_load(&s.done);
        pthread_cond_destroy(&s.ended);
        pthread_mutex_destroy(&s.lock);
        return rc;
    }
    size_t started = 0;
    for (; started < threads; started++) {
        workers[started] = (struct worker){.s = &s, .index = started};
        if (pthread_create(&tids[started], NULL, work, &workers[started]) != 0) {
            pthread_mutex_lock(&s.lock);
            s.running -= threads - started;
            pthread_mutex_unlock(&s.lock);
            atomic_store(&s.next, run->count);
            rc = twin_error(TWIN_ERROR, "cannot start a thread to check commits");
            break;
        }
    }
    int stopped = wait_all(&s);
    for (size_t t = 0; t < started; t++)
        pthread_join(tids[t], NULL);
    if (!rc)
        rc = stopped;
    for (size_t t = 0; !rc && t < started; t++)
        if (workers[t].rc)
            rc = twin_error(workers[t].rc, "%s", workers[t].error);
    *done = atomic_load(&s.done);
    pthread_cond_destroy(&s.ended);
    pthread_mutex_destroy(&s.lock);
    return rc;
}

/* Fewer new commits than this are checked on the calling thread. */
#define PARALLEL_CHECK_MIN 512

struct new_line_check {
    const char *path;
    git_repository *caller; /* the caller's repository, for a check on the calling thread */
    twin_treecache *trees;  /* the caller's trees, for that check, or NULL */
    pthread_mutex_t lock;
    size_t first_bad; /* the oldest refused commit's index, SIZE_MAX when none */
    char reason[600];
};

static int new_line_open(git_repository **repo, void **extra, void *ctx)
{
    *extra = NULL;
    return git_repository_open_bare(repo, ((struct new_line_check *)ctx)->path) < 0
               ? twin_error_git("opening the repository")
               : 0;
}

static void new_line_close(git_repository *repo, void *extra, void *ctx)
{
    git_repository_free(repo);
}

/* A short line is checked on the calling thread, through the caller's repository: a handle of
 * its own would parse the configuration and list the packs again, for one commit most often. */
static int new_line_borrow(git_repository **repo, void **extra, void *ctx)
{
    *extra = NULL;
    *repo = ((struct new_line_check *)ctx)->caller;
    return 0;
}

static void new_line_return(git_repository *repo, void *extra, void *ctx)
{
}

static int new_line_share(twin_check_cache *cache, git_repository *repo, void *ctx)
{
    twin_validity_cache_share_trees(cache, ((struct new_line_check *)ctx)->trees);
    return 0;
}

static void new_line_result(size_t index, const struct twin_check *check, void *ctx)
{
    struct new_line_check *nc = ctx;
    if (check->valid)
        return;
    pthread_mutex_lock(&nc->lock);
    if (index < nc->first_bad) {
        nc->first_bad = index;
        snprintf(nc->reason, sizeof(nc->reason), "%s", check->reason);
    }
    pthread_mutex_unlock(&nc->lock);
}

int twin_checkrun_new(git_repository *repo, const git_oid *base, const git_oid *tip)
{
    return twin_checkrun_new_with(repo, NULL, base, tip);
}

int twin_checkrun_new_with(git_repository *repo, twin_treecache *trees, const git_oid *base,
                           const git_oid *tip)
{
    git_oid *ids = NULL, id = *tip;
    size_t n = 0, cap = 0;
    int rc = 0;
    /* The line from tip down to base, by first parents. */
    while (rc == 0 && !git_oid_equal(&id, base)) {
        git_commit *c = NULL;
        if (git_commit_lookup(&c, repo, &id) < 0) {
            rc = twin_error_git("reading a new commit");
            break;
        }
        if (twin_util_grow((void **)&ids, &cap, n + 1, sizeof(*ids)))
            rc = TWIN_ERROR;
        else
            ids[n++] = id;
        if (rc == 0 && git_commit_parentcount(c) == 0) {
            /* Two ids: a buffer each (git_oid_tostr_s hands back one per thread). */
            char at[GIT_OID_HEXSZ + 1], on[GIT_OID_HEXSZ + 1];
            git_oid_tostr(at, sizeof(at), &id);
            git_oid_tostr(on, sizeof(on), base);
            rc = twin_error(TWIN_ERROR, "new commit %s does not build on %s", at, on);
        } else if (rc == 0)
            id = *git_commit_parent_id(c, 0);
        git_commit_free(c);
    }
    /* Oldest first; a batch's many commits on every core, as verify checks them. */
    for (size_t i = 0; i < n / 2; i++) {
        git_oid t = ids[i];
        ids[i] = ids[n - 1 - i];
        ids[n - 1 - i] = t;
    }
    struct new_line_check nc = {
        .path = git_repository_path(repo), .caller = repo, .trees = trees, .first_bad = SIZE_MAX};
    pthread_mutex_init(&nc.lock, NULL);
    bool parallel = n >= PARALLEL_CHECK_MIN;
    struct twin_checkrun run = {.ids = ids,
                                .count = n,
                                .threads = parallel ? 0 : 1,
                                .open = parallel ? new_line_open : new_line_borrow,
                                .close = parallel ? new_line_close : new_line_return,
                                .bind = !parallel && trees ? new_line_share : NULL,
                                .result = new_line_result,
                                .ctx = &nc};
    size_t done = 0;
    if (rc == 0 && n && (rc = twin_checkrun(&done, &run)) == 0 && nc.first_bad != SIZE_MAX)
        rc = twin_error(TWIN_EVERIFY,
                        "this node made commit %s, which the validity predicate refuses (%s); it "
                        "was not published",
                        git_oid_tostr_s(&ids[nc.first_bad]), nc.reason);
    pthread_mutex_destroy(&nc.lock);
    free(ids);
    return rc;
}
