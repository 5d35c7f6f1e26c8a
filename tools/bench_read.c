/*
 * Read benchmark: twin's own readers of git's formats against the libgit2 paths they replaced,
 * each pair on the same history in the same run, in alternating rounds (each way first in every
 * other round), the same result either way.
 *
 *   bench_read [--commits N] [--rounds N]
 *
 * One history of N signed note commits (default 20,000; every fourth an edit of an earlier note)
 * is written through the library's batched writer into a temporary directory, removed at the end.
 * Then, with --rounds rounds (default 4) of each:
 * 1. Reading every object of the history (each commit, and the trees and blobs it brings), in
 *    history order, through a fresh pack reader each round: twin's (packread.c) against the same
 *    reader served by libgit2 (twin_packread_open_libgit2: git_odb_read on the same packs, each
 *    object copied out).
 * 2. Indexing the pack of the whole history (made with twin_packbuild_stream into memory, fed in
 *    64 KiB pieces, written into a scratch directory without fsync): twin's indexer against
 *    libgit2's (twin_indexer_new_libgit2: git_indexer). twin's hashes on a second thread, whose
 *    CPU time counts.
 * 3. Diffing each commit's tree against its parent's: twin's tree diff (a tree cache kept across
 *    commits, as verify keeps one, trusted so that it hashes nothing) against the libgit2 option
 *    (git_diff_tree_to_tree, the changes then put in twin's order), on a repository opened afresh
 *    each round so that neither starts with objects cached. Then, once, git_diff_tree_to_tree
 *    alone, for the share of the option's time that is libgit2's own.
 * 4. Hashing every object of the history as git names it: twin_sha1_object (the processor's SHA
 *    extensions where present) against git_odb_hash (libgit2's collision-detecting SHA-1), on
 *    objects read into memory beforehand, batch by batch.
 * 5. Walking the history, every commit after its parents: twin_history_walk (each commit read
 *    once out of the packs) against twin_history_walk_libgit2 (libgit2's revwalk, topological and
 *    reversed), on a repository opened afresh each round.
 * 6. Reading, in each commit's tree, the entry of every file the commit changed, by its path, as
 *    the validity check reads records: twin_treecache_path through a tree cache kept across
 *    commits (trusted, so that it hashes nothing) against the same cache switched to libgit2
 *    (twin_treecache_set_libgit2: git_tree_lookup, git_tree_entry_bypath), on a repository opened
 *    afresh each round.
 * libgit2 hashes nothing it reads (GIT_OPT_ENABLE_STRICT_HASH_VERIFICATION off, as verify sets
 * it), so neither side of 1-3, 5 and 6 hashes what it reads. Times are CPU time of the process, not
 * elapsed time: the figures hold on a loaded machine. It prints figures; it judges nothing.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include <ftw.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"
#include "base/sha1.h"
#include "git/gitopts.h"
#include "git/history.h"
#include "git/indexer.h"
#include "git/packbuild.h"
#include "git/packread.h"
#include "git/treediff.h"
#include "twin/error.h"
#include "twin/global.h"
#include "twin/network.h"
#include "twin/node.h"
#include "twin/ops.h"
#include "twin/record.h"

static const struct twin_identity who = {"Ministry of Finance of Exampleland", "XE-EXAMPLE-MOF",
                                         "NL", "north", "10"};

static void die(const char *what)
{
    fprintf(stderr, "bench_read: %s: %s\n", what, twin_error_last());
    exit(1);
}

static void *must(void *p)
{
    if (!p) {
        fprintf(stderr, "bench_read: out of memory\n");
        exit(1);
    }
    return p;
}

/* ---- the history ------------------------------------------------------------------------------
 */

static int fill_note(json_t *rec, void *ctx)
{
    const size_t *i = ctx;
    char title[64], body[160];
    snprintf(title, sizeof(title), "Meeting %zu", *i);
    snprintf(body, sizeof(body),
             "Minutes of meeting %zu: the steering group kept the work plan "
             "and named %zu next steps.",
             *i, *i % 7 + 1);
    return twin_record_set_path(rec, "title", title) || twin_record_set_path(rec, "body", body)
               ? TWIN_ERROR
               : 0;
}

static void build(twin_node *n, size_t commits)
{
    twin_batch *b = NULL;
    char(*ids)[TWIN_ID_LEN + 1] = must(calloc(commits + 1, sizeof(*ids)));
    if (twin_ops_batch_begin(&b, n, 10000))
        die("starting the batch");
    for (size_t i = 0; i < commits; i++) {
        if (i % 4 == 3 && twin_ops_batch_update(NULL, b, ids[i - 3], "set", fill_note, &i))
            die("editing a note");
        if (i % 4 != 3 && twin_ops_batch_add(ids[i], NULL, b, "note", fill_note, &i))
            die("adding a note");
    }
    if (twin_batch_flush(b))
        die("flushing");
    twin_batch_free(b);
    free(ids);
}

struct oids {
    git_oid *v;
    size_t n, cap;
};

static void oids_add(struct oids *o, const git_oid *id)
{
    if (o->n == o->cap) {
        o->cap = o->cap ? o->cap * 2 : 4096;
        o->v = must(realloc(o->v, o->cap * sizeof(*o->v)));
    }
    o->v[o->n++] = *id;
}

/* The history's commits, parents first, each with its tree and its first parent's (zero for the
 * root); and every packed object of the history in the order the commits bring them. */
struct history {
    git_oid *commits;
    size_t ncommits;
    git_oid *trees, *parent_trees;
    struct oids objects;
    size_t changes; /* files changed over all commits, as twin's diff finds them */
    size_t *at;     /* for each file a commit changed and kept: the commit's index, and */
    char **paths;   /* the file's path */
    size_t npaths, paths_cap;
    size_t loose; /* objects of the history left out of objects: not in a pack */
};

static void load_history(struct history *h, git_repository *repo, const git_oid *head)
{
    if (twin_history_walk(&h->commits, &h->ncommits, repo, head))
        die("walking the history");
    h->trees = must(calloc(h->ncommits, sizeof(git_oid)));
    h->parent_trees = must(calloc(h->ncommits, sizeof(git_oid)));
    twin_treecache *cache = NULL;
    if (twin_treecache_new(&cache))
        die("making a tree cache");
    struct twin_treediff d = {.repo = repo, .cache = cache, .trees = true};
    for (size_t i = 0; i < h->ncommits; i++) {
        git_commit *c = NULL;
        if (git_commit_lookup(&c, repo, &h->commits[i]) < 0)
            die("reading a commit");
        h->trees[i] = *git_commit_tree_id(c);
        git_commit *p = NULL;
        if (git_commit_parentcount(c) > 0) {
            if (git_commit_parent(&p, c, 0) < 0)
                die("reading a parent");
            h->parent_trees[i] = *git_commit_tree_id(p);
        }
        oids_add(&h->objects, &h->commits[i]);
        oids_add(&h->objects, &h->trees[i]);
        if (twin_treediff_run_ids(&d, p ? &h->parent_trees[i] : NULL, &h->trees[i]))
            die("diffing");
        for (size_t k = 0; k < d.count; k++) {
            h->changes += !d.changes[k].is_tree;
            if (!d.changes[k].is_tree && d.changes[k].has_new) {
                if (h->npaths == h->paths_cap) {
                    h->paths_cap = h->paths_cap ? h->paths_cap * 2 : 4096;
                    h->at = must(realloc(h->at, h->paths_cap * sizeof(*h->at)));
                    h->paths = must(realloc(h->paths, h->paths_cap * sizeof(*h->paths)));
                }
                h->at[h->npaths] = i;
                h->paths[h->npaths++] = must(strdup(d.changes[k].path));
            }
            if (d.changes[k].has_new)
                oids_add(&h->objects, &d.changes[k].new_id);
        }
        d.count = 0;
        git_commit_free(p);
        git_commit_free(c);
    }
    twin_treediff_clear(&d);
    twin_treecache_free(cache);
    /* The founding commit's few objects are loose: pack readers leave them to libgit2. */
    twin_packread *r = NULL;
    size_t kept = 0;
    if (twin_packread_open(&r, repo))
        die("opening a pack reader");
    for (size_t i = 0; i < h->objects.n; i++)
        if (twin_packread_has(r, &h->objects.v[i]) == 1)
            h->objects.v[kept++] = h->objects.v[i];
    h->loose = h->objects.n - kept;
    h->objects.n = kept;
    twin_packread_free(r);
}

/* ---- 1. reading every object ----------------------------------------------------------------- */

static double read_round(git_repository *repo, const struct oids *ids, bool libgit2, size_t *bytes)
{
    twin_packread *r = NULL;
    double c0 = cpu_s();
    if ((libgit2 ? twin_packread_open_libgit2 : twin_packread_open)(&r, repo))
        die("opening a pack reader");
    *bytes = 0;
    for (size_t i = 0; i < ids->n; i++) {
        twin_pobj *o = NULL;
        if (twin_packread_get(&o, r, &ids->v[i]) != 1)
            die("reading an object");
        *bytes += o->size;
        twin_packread_release(o);
    }
    twin_packread_free(r);
    return cpu_s() - c0;
}

/* ---- 2. indexing the history's pack ---------------------------------------------------------- */

struct bytes {
    unsigned char *p;
    size_t len, cap;
};

static int to_bytes(const void *data, size_t len, void *ctx)
{
    struct bytes *b = ctx;
    if (b->len + len > b->cap) {
        b->cap = (b->len + len) * 2;
        b->p = must(realloc(b->p, b->cap));
    }
    memcpy(b->p + b->len, data, len);
    b->len += len;
    return 0;
}

static double index_round(const char *scratch, const struct bytes *pack, bool libgit2,
                          char name[41])
{
    twin_indexer *ix = NULL;
    double c0 = cpu_s();
    if ((libgit2 ? twin_indexer_new_libgit2(&ix, scratch) : twin_indexer_new(&ix, scratch)))
        die("starting an indexer");
    for (size_t at = 0; at < pack->len; at += 65536)
        if (twin_indexer_append(ix, pack->p + at, pack->len - at < 65536 ? pack->len - at : 65536))
            die("indexing");
    if (twin_indexer_finish(ix, name))
        die("finishing the index");
    twin_indexer_free(ix);
    double t = cpu_s() - c0;
    char path[4200];
    snprintf(path, sizeof(path), "%s/pack-%s.pack", scratch, name);
    unlink(path);
    snprintf(path, sizeof(path), "%s/pack-%s.idx", scratch, name);
    unlink(path);
    return t;
}

/* ---- 3. diffing each commit against its parent ---------------------------------------------- */

static double diff_round(const char *repo_path, const struct history *h, bool libgit2,
                         size_t *changes)
{
    git_repository *repo = NULL;
    twin_treecache *cache = NULL;
    if (git_repository_open_bare(&repo, repo_path) < 0 || twin_treecache_new(&cache))
        die("opening the repository");
    double c0 = cpu_s();
    twin_treecache_trust_store(cache);
    struct twin_treediff d = {.repo = repo, .cache = cache, .libgit2 = libgit2};
    *changes = 0;
    for (size_t i = 0; i < h->ncommits; i++) {
        bool root = git_oid_is_zero(&h->parent_trees[i]);
        if (twin_treediff_run_ids(&d, root ? NULL : &h->parent_trees[i], &h->trees[i]))
            die("diffing");
        *changes += d.count;
        d.count = 0;
    }
    double t = cpu_s() - c0;
    twin_treediff_clear(&d);
    twin_treecache_free(cache);
    git_repository_free(repo);
    return t;
}

/* libgit2's diff alone, without putting its changes in twin's order: how much of the libgit2
 * option's time is libgit2's own. */
static double raw_diff_round(const char *repo_path, const struct history *h)
{
    git_repository *repo = NULL;
    if (git_repository_open_bare(&repo, repo_path) < 0)
        die("opening the repository");
    double c0 = cpu_s();
    git_diff_options opts = GIT_DIFF_OPTIONS_INIT;
    opts.flags = GIT_DIFF_SKIP_BINARY_CHECK;
    for (size_t i = 0; i < h->ncommits; i++) {
        git_tree *a = NULL, *b = NULL;
        git_diff *diff = NULL;
        if ((!git_oid_is_zero(&h->parent_trees[i]) &&
             git_tree_lookup(&a, repo, &h->parent_trees[i]) < 0) ||
            git_tree_lookup(&b, repo, &h->trees[i]) < 0 ||
            git_diff_tree_to_tree(&diff, repo, a, b, &opts) < 0)
            die("diffing with libgit2");
        git_diff_free(diff);
        git_tree_free(a);
        git_tree_free(b);
    }
    double t = cpu_s() - c0;
    git_repository_free(repo);
    return t;
}

/* ---- 5. walking the history ------------------------------------------------------------------ */

static double walk_round(const char *repo_path, const git_oid *head, bool libgit2, size_t *count)
{
    git_repository *repo = NULL;
    git_oid *ids = NULL;
    if (git_repository_open_bare(&repo, repo_path) < 0)
        die("opening the repository");
    double c0 = cpu_s();
    if ((libgit2 ? twin_history_walk_libgit2 : twin_history_walk)(&ids, count, repo, head))
        die("walking the history");
    double t = cpu_s() - c0;
    free(ids);
    git_repository_free(repo);
    return t;
}

/* ---- 6. reading entries by path ------------------------------------------------------------- */

/* Every changed file's entry in its commit's tree; *sum sums a byte of each id found. */
static double path_round(const char *repo_path, const struct history *h, bool libgit2, size_t *sum)
{
    git_repository *repo = NULL;
    twin_treecache *cache = NULL;
    if (git_repository_open_bare(&repo, repo_path) < 0 || twin_treecache_new(&cache))
        die("opening the repository");
    double c0 = cpu_s();
    twin_treecache_trust_store(cache);
    twin_treecache_set_libgit2(cache, libgit2);
    *sum = 0;
    for (size_t i = 0; i < h->npaths; i++) {
        git_oid id;
        if (twin_treecache_path(&id, cache, repo, &h->trees[h->at[i]], h->paths[i]) != 1)
            die("reading an entry by path");
        *sum += id.id[0];
    }
    double t = cpu_s() - c0;
    twin_treecache_free(cache);
    git_repository_free(repo);
    return t;
}

/* ---- 4. hashing every object ----------------------------------------------------------------- */

#define HASH_BATCH_BYTES ((size_t)32 << 20)

struct held {
    git_object_t type;
    size_t size;
    const unsigned char *data;
};

/* Hashes objs[0..n) twin's way or libgit2's, checking each against its id. */
static double hash_batch(const struct held *objs, const git_oid *ids, size_t n, bool libgit2)
{
    double c0 = cpu_s();
    for (size_t i = 0; i < n; i++) {
        git_oid got;
        if (libgit2) {
            if (git_odb_hash(&got, objs[i].data, objs[i].size, objs[i].type) < 0)
                die("hashing");
        } else {
            twin_sha1_object(got.id, git_object_type2string(objs[i].type), objs[i].data,
                             objs[i].size);
        }
        if (!git_oid_equal(&got, &ids[i])) {
            fprintf(stderr, "bench_read: an object does not hash to its id\n");
            exit(1);
        }
    }
    return cpu_s() - c0;
}

/* The objects read a batch at a time (untimed), each batch hashed both ways in turn. */
static void hash_all(git_repository *repo, const struct oids *ids, double *twin_s,
                     double *libgit2_s, size_t *bytes)
{
    twin_packread *r = NULL;
    struct held *objs = must(malloc(ids->n * sizeof(*objs)));
    twin_pobj **keep = must(malloc(ids->n * sizeof(*keep)));
    if (twin_packread_open(&r, repo))
        die("opening a pack reader");
    *twin_s = *libgit2_s = 0;
    *bytes = 0;
    for (size_t from = 0, round = 0; from < ids->n; round++) {
        size_t to = from, held = 0;
        while (to < ids->n && held < HASH_BATCH_BYTES) {
            if (twin_packread_get(&keep[to], r, &ids->v[to]) != 1)
                die("reading an object");
            objs[to] = (struct held){keep[to]->type, keep[to]->size, keep[to]->data};
            held += keep[to]->size;
            to++;
        }
        bool libgit2_first = round % 2;
        double first = hash_batch(objs + from, ids->v + from, to - from, libgit2_first);
        double second = hash_batch(objs + from, ids->v + from, to - from, !libgit2_first);
        *twin_s += libgit2_first ? second : first;
        *libgit2_s += libgit2_first ? first : second;
        *bytes += held;
        for (size_t i = from; i < to; i++)
            twin_packread_release(keep[i]);
        from = to;
    }
    twin_packread_free(r);
    free(keep);
    free(objs);
}

/* ---- the run ----------------------------------------------------------------------------------
 */

static void report(const char *what, double units, const char *unit, double twin_s,
                   double libgit2_s)
{
    printf("%-34s twin %10.0f %s/s, libgit2 %10.0f %s/s; twin / libgit2 %.2fx\n", what,
           units / twin_s, unit, units / libgit2_s, unit, libgit2_s / twin_s);
}

int main(int argc, char **argv)
{
    size_t commits = 20000, rounds = 4;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--commits") == 0)
            commits = strtoul(argv[++i], NULL, 10);
        else if (i + 1 < argc && strcmp(argv[i], "--rounds") == 0)
            rounds = strtoul(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "usage: bench_read [--commits N] [--rounds N]\n");
            return 2;
        }
    }
    if (commits < 4 || rounds < 1) {
        fprintf(stderr, "bench_read: --commits must be at least 4 and --rounds at least 1\n");
        return 2;
    }
    if (twin_global_init(false))
        die("init");
    char dir[256], node_dir[300], scratch[300];
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof(dir), "%s/twin-bench-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(node_dir, sizeof(node_dir), "%s/node", dir);
    snprintf(scratch, sizeof(scratch), "%s/scratch", dir);
    if (mkdir(scratch, 0700) != 0) {
        perror("mkdir");
        return 1;
    }
    twin_node *n = NULL;
    if (twin_network_create(&n, node_dir, &who, "Example Partnership"))
        die("creating the node");
    double t0 = now_s();
    build(n, commits);
    printf("twin read benchmark: %zu note commits built in %.1f s; %zu rounds each way; "
           "CPU time; SHA-1 %s\n",
           commits, now_s() - t0, rounds,
           twin_sha1_accelerated() ? "with SHA extensions" : "portable");
    fflush(stdout);
    if (twin_gitopts_begin(TWIN_GITOPTS_UNHASHED))
        die("setting libgit2's options");

    git_repository *repo = twin_node_repo(n);
    git_oid head;
    struct history h = {0};
    if (twin_node_head(&head, n))
        die("reading the head");
    load_history(&h, repo, &head);
    printf("history: %zu commits, %zu objects in packs (%zu loose left out), %zu files changed\n",
           h.ncommits, h.objects.n, h.loose, h.changes);

    /* 1. Reading. */
    double twin_s = 0, libgit2_s = 0;
    size_t bytes = 0, other = 0;
    for (size_t r = 0; r < rounds; r++) {
        bool libgit2_first = r % 2;
        double first = read_round(repo, &h.objects, libgit2_first, &bytes);
        double second = read_round(repo, &h.objects, !libgit2_first, &other);
        if (other != bytes)
            die("the two readers read different bytes");
        twin_s += libgit2_first ? second : first;
        libgit2_s += libgit2_first ? first : second;
    }
    report("read every object:", (double)(h.objects.n * rounds), "objects", twin_s, libgit2_s);

    /* 2. Indexing. */
    struct bytes pack = {0};
    size_t in_pack = 0;
    if (twin_packbuild_stream(&in_pack, repo, &head, 1, NULL, 0, to_bytes, &pack))
        die("building the history's pack");
    twin_s = libgit2_s = 0;
    for (size_t r = 0; r < rounds; r++) {
        bool libgit2_first = r % 2;
        char a[41], b[41];
        double first = index_round(scratch, &pack, libgit2_first, a);
        double second = index_round(scratch, &pack, !libgit2_first, b);
        if (strcmp(a, b) != 0)
            die("the two indexers named the pack differently");
        twin_s += libgit2_first ? second : first;
        libgit2_s += libgit2_first ? first : second;
    }
    printf("pack of the history: %zu commits, %.1f MB\n", in_pack, (double)pack.len / 1e6);
    report("index the history's pack:", (double)pack.len * (double)rounds / 1e6, "MB", twin_s,
           libgit2_s);
    free(pack.p);

    /* 3. Diffing. */
    char repo_path[4200];
    snprintf(repo_path, sizeof(repo_path), "%s", git_repository_path(repo));
    twin_s = libgit2_s = 0;
    for (size_t r = 0; r < rounds; r++) {
        bool libgit2_first = r % 2;
        size_t a, b;
        double first = diff_round(repo_path, &h, libgit2_first, &a);
        double second = diff_round(repo_path, &h, !libgit2_first, &b);
        if (a != b)
            die("the two diffs found different changes");
        twin_s += libgit2_first ? second : first;
        libgit2_s += libgit2_first ? first : second;
    }
    report("diff each commit with its parent:", (double)(h.ncommits * rounds), "commits", twin_s,
           libgit2_s);
    double raw_s = raw_diff_round(repo_path, &h);
    printf("%-34s %.0f commits/s, %.0f%% of the libgit2 option's time\n",
           "  git_diff_tree_to_tree alone:", (double)h.ncommits / raw_s,
           100 * raw_s / (libgit2_s / (double)rounds));

    /* 4. Hashing. */
    twin_s = libgit2_s = 0;
    for (size_t r = 0; r < rounds; r++) {
        double a, b;
        hash_all(repo, &h.objects, &a, &b, &bytes);
        twin_s += a;
        libgit2_s += b;
    }
    report("hash every object:", (double)bytes * (double)rounds / 1e6, "MB", twin_s, libgit2_s);

    /* 5. Walking. */
    twin_s = libgit2_s = 0;
    for (size_t r = 0; r < rounds; r++) {
        bool libgit2_first = r % 2;
        size_t a, b;
        double first = walk_round(repo_path, &head, libgit2_first, &a);
        double second = walk_round(repo_path, &head, !libgit2_first, &b);
        if (a != b || a != h.ncommits)
            die("the two walks listed different commits");
        twin_s += libgit2_first ? second : first;
        libgit2_s += libgit2_first ? first : second;
    }
    report("walk the history:", (double)(h.ncommits * rounds), "commits", twin_s, libgit2_s);

    /* 6. Reading entries by path. */
    twin_s = libgit2_s = 0;
    for (size_t r = 0; r < rounds; r++) {
        bool libgit2_first = r % 2;
        size_t a, b;
        double first = path_round(repo_path, &h, libgit2_first, &a);
        double second = path_round(repo_path, &h, !libgit2_first, &b);
        if (a != b)
            die("the two lookups found different entries");
        twin_s += libgit2_first ? second : first;
        libgit2_s += libgit2_first ? first : second;
    }
    report("read each changed file's entry:", (double)(h.npaths * rounds), "paths", twin_s,
           libgit2_s);

    twin_gitopts_end(TWIN_GITOPTS_UNHASHED);
    for (size_t i = 0; i < h.npaths; i++)
        free(h.paths[i]);
    free(h.paths);
    free(h.at);
    free(h.commits);
    free(h.trees);
    free(h.parent_trees);
    free(h.objects.v);
    twin_node_free(n);
    bench_remove_tree(dir);
    twin_global_shutdown();
    return 0;
}
