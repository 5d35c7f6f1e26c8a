/*
 * Store benchmark: how fast twin writes signed record commits, against stock git in the same run.
 *
 *   bench_store [--commits N] [--baseline N] [--adds N] [--singles N] [--objects N] [--moves N]
 *               [--twin PATH] [--keep DIR]
 *
 * 1. N signed note commits (default 100,000) through the library's batched writer, every one
 *    validated, signed and its own commit, flushed every 10,000; commits per second, sustained.
 *    Then --singles records (default 200) written one by one, each its own pack and branch move.
 * 2. The median latency of a one-shot `twin add` (the real binary, a new process each time) on
 *    that store of N records (--adds, default 51), and beside it, alternating with the adds, that
 *    of `twin --version`: what starting the process costs; then the difference of the two.
 *    Then the reading commands that read the whole store, each its own process: the whole
 *    `twin log` and `twin export --format json`, with their time and peak RSS (at most 100 MB
 *    at 100k records is the target).
 * 3. Signed commit objects written one by one on the store's head (--objects of each, default
 *    2,000, in alternating rounds): made by twin's codec (src/git/gitfmt.c, as every commit twin
 *    writes is) and by libgit2 (git_commit_create_buffer and git_commit_create_with_signature),
 *    the baseline the codec replaced; the same bytes either way. Without fsync, so that the
 *    making of the commit is measured rather than the disk.
 * 4. The baseline: `git commit -S` (SSH signatures) writing --baseline records (default 1,000)
 *    in a loop, each a new file in the same layout; then the ratio of the two rates.
 * 5. Branch moves (--moves, default 400), synced, in a repository of their own beside the store
 *    (a node's settings: every move logged in the branch's and HEAD's reflogs): by twin's own
 *    writer of the ref and its reflogs (twin_store_advance_locked) and by libgit2's
 *    (twin_store_advance_locked_libgit2, git_reference_create_matching), the baseline it
 *    replaced, in alternating rounds along one chain of commits; the time of each and the ratio.
 * Writes are durable (fsync'ed) throughout, as a node's are, but for 3.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include <errno.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "git/pack.h"
#include "base/sha1.h"
#include "twin/batch.h"
#include "twin/error.h"
#include "twin/tx.h"
#include "twin/network.h"
#include "twin/node.h"
#include "twin/ops.h"
#include "twin/record.h"
#include "twin/store.h"
#include "twin/global.h"

static const struct twin_identity who = {"Ministry of Finance of Exampleland", "XE-EXAMPLE-MOF",
                                         "NL", "north", "10"};

static void die(const char *what)
{
    fprintf(stderr, "bench_store: %s: %s\n", what, twin_error_last());
    exit(1);
}

struct note {
    size_t i;
};

static int fill_note(json_t *rec, void *ctx)
{
    const struct note *n = ctx;
    char title[64], body[160];
    snprintf(title, sizeof(title), "Steering note %zu", n->i);
    snprintf(body, sizeof(body),
             "Item %zu of the work plan was reviewed; the partners agreed the next steps.", n->i);
    int rc = twin_record_set_path(rec, "title", title);
    return rc ? rc : twin_record_set_path(rec, "body", body);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Writes count signed commits on n's head through twin's codec or libgit2 (the same bytes):
 * the seconds it took. */
static double commit_objects(twin_node *n, size_t count, bool libgit2, size_t round)
{
    git_repository *repo = twin_node_repo(n);
    git_oid head;
    git_commit *parent = NULL;
    git_tree *tree = NULL;
    char *name = NULL;
    if (twin_node_head(&head, n) || git_commit_lookup(&parent, repo, &head) < 0 ||
        git_commit_tree(&tree, parent) < 0 || twin_node_config_get(&name, n, "twin.name"))
        die("reading the head");
    const git_commit *parents[1] = {parent};
    double t0 = now_s();
    for (size_t i = 0; i < count; i++) {
        char message[80];
        git_oid out;
        snprintf(message, sizeof(message), "commit object %zu of round %zu (%s)\n", i, round,
                 libgit2 ? "libgit2" : "codec");
        int rc = (libgit2 ? twin_store_write_commit_libgit2 : twin_store_write_commit_at)(
            &out, repo, twin_node_key(n), name, twin_node_org_id(n), tree, parents, 1, message,
            1700000000);
        if (rc)
            die("writing a commit object");
    }
    double s = now_s() - t0;
    free(name);
    git_tree_free(tree);
    git_commit_free(parent);
    return s;
}

/* Runs argv (argv[0] the binary) with its output in out: 0 with its elapsed and CPU times and
 * peak RSS in KB, or -1 when it cannot run or fails. */
static int run_measured(char *const argv[], const char *out, double *elapsed, double *cpu,
                        long *rss_kb)
{
    double t0 = now_s();
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || dup2(fd, 1) < 0)
            _exit(127);
        execv(argv[0], argv);
        _exit(127);
    }
    int st;
    struct rusage ru;
    if (wait4(pid, &st, 0, &ru) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return -1;
    *elapsed = now_s() - t0;
    *cpu = (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
    *rss_kb = ru.ru_maxrss;
    return 0;
}

/* 5: moves of the branch along a chain of commits in a new repository dir/moves.git, half by
 * twin's writer and half by libgit2's, in alternating rounds. */
static void branch_moves(const char *dir, size_t moves)
{
    char path[600];
    snprintf(path, sizeof(path), "%s/moves.git", dir);
    git_repository *repo = NULL;
    git_config *cfg = NULL;
    git_treebuilder *tb = NULL;
    git_signature *sig = NULL;
    git_oid tree_id, *chain = calloc(moves + 1, sizeof(*chain));
    git_tree *tree = NULL;
    if (!chain)
        die("allocating");
    /* The chain's commits are written unsynced: only the moves are measured. libgit2 reads the
     * setting when it opens the repository's refs, so the repository is opened again after. */
    git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 0);
    if (git_repository_init(&repo, path, 1) < 0 || git_repository_config(&cfg, repo) < 0 ||
        git_config_set_string(cfg, "core.logallrefupdates", "always") < 0 ||
        git_repository_set_head(repo, "refs/heads/main") < 0 ||
        git_treebuilder_new(&tb, repo, NULL) < 0 || git_treebuilder_write(&tree_id, tb) < 0 ||
        git_tree_lookup(&tree, repo, &tree_id) < 0 ||
        git_signature_new(&sig, "Ministry of Finance of Exampleland", "XE-EXAMPLE-MOF", 1700000000,
                          0) < 0)
        die("making the repository for branch moves");
    for (size_t i = 0; i <= moves; i++) {
        char message[64];
        snprintf(message, sizeof(message), "move %zu\n", i);
        const git_commit *parents[1] = {NULL};
        git_commit *parent = NULL;
        if (i && git_commit_lookup(&parent, repo, &chain[i - 1]) < 0)
            die("reading the chain");
        parents[0] = parent;
        if (git_commit_create(&chain[i], repo, NULL, sig, sig, NULL, message, tree, i ? 1 : 0,
                              parents) < 0)
            die("writing the chain");
        git_commit_free(parent);
    }
    git_signature_free(sig);
    git_tree_free(tree);
    git_treebuilder_free(tb);
    git_config_free(cfg);
    git_repository_free(repo);
    git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 1);
    if (git_repository_open(&repo, path) < 0 ||
        twin_store_advance_locked(repo, NULL, &chain[0], "twin: found network"))
        die("starting the branch");
    double twin_s = 0, libgit2_s = 0;
    size_t at = 0, per = moves / 8 ? moves / 8 : 1, done_twin = 0, done_libgit2 = 0;
    for (size_t r = 0; at < moves; r++) {
        for (int k = 0; k < 2 && at < moves; k++) {
            bool libgit2 = (r + (size_t)k) % 2; /* each way first in every other round */
            size_t n = moves - at < per ? moves - at : per;
            double t0 = now_s();
            for (size_t i = 0; i < n; i++, at++)
                if ((libgit2 ? twin_store_advance_locked_libgit2 : twin_store_advance_locked)(
                        repo, &chain[at], &chain[at + 1], "twin: commit"))
                    die("moving the branch");
            double t = now_s() - t0;
            *(libgit2 ? &libgit2_s : &twin_s) += t;
            *(libgit2 ? &done_libgit2 : &done_twin) += n;
        }
    }
    git_repository_free(repo);
    free(chain);
    bench_remove_tree(path);
    if (done_twin && done_libgit2)
        printf("branch moves (synced, reflogs of the branch and HEAD): twin %.2f ms each, "
               "libgit2 %.2f ms each (%zu and %zu); libgit2 / twin %.2fx\n",
               twin_s * 1e3 / (double)done_twin, libgit2_s * 1e3 / (double)done_libgit2, done_twin,
               done_libgit2, (libgit2_s / (double)done_libgit2) / (twin_s / (double)done_twin));
}

static long long dir_bytes;
static int add_size(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    if (flag == FTW_F)
        dir_bytes += st->st_blocks * 512;
    return 0;
}

int main(int argc, char **argv)
{
    size_t commits = 100000, baseline = 1000, adds = 51, singles = 200, objects = 2000, moves = 400;
    const char *twin_bin = NULL, *keep = NULL;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--commits") == 0)
            commits = strtoul(argv[++i], NULL, 10);
        else if (i + 1 < argc && strcmp(argv[i], "--baseline") == 0)
            baseline = strtoul(argv[++i], NULL, 10);
        else if (i + 1 < argc && strcmp(argv[i], "--adds") == 0)
            adds = strtoul(argv[++i], NULL, 10);
        else if (i + 1 < argc && strcmp(argv[i], "--singles") == 0)
            singles = strtoul(argv[++i], NULL, 10);
        else if (i + 1 < argc && strcmp(argv[i], "--objects") == 0)
            objects = strtoul(argv[++i], NULL, 10);
        else if (i + 1 < argc && strcmp(argv[i], "--moves") == 0)
            moves = strtoul(argv[++i], NULL, 10);
        else if (i + 1 < argc && strcmp(argv[i], "--twin") == 0)
            twin_bin = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--keep") == 0)
            keep = argv[++i];
        else {
            fprintf(stderr, "usage: bench_store [--commits N] [--baseline N] [--adds N] "
                            "[--singles N] [--objects N] [--moves N] [--twin PATH] "
                            "[--keep DIR]\n");
            return 2;
        }
    }
    /* The twin binary sits beside this program in the build tree. */
    char self_bin[4096];
    if (!twin_bin) {
        ssize_t n = readlink("/proc/self/exe", self_bin, sizeof(self_bin) - 16);
        if (n > 0) {
            self_bin[n] = '\0';
            char *slash = strrchr(self_bin, '/');
            strcpy(slash ? slash + 1 : self_bin, "twin");
            twin_bin = self_bin;
        }
    }
    if (twin_global_init(true))
        die("init");
    char dir[256], node_dir[300];
    if (keep)
        snprintf(dir, sizeof(dir), "%s", keep);
    else {
        const char *tmp = getenv("TMPDIR");
        snprintf(dir, sizeof(dir), "%s/twin-bench-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(dir)) {
            perror("mkdtemp");
            return 1;
        }
    }
    snprintf(node_dir, sizeof(node_dir), "%s/node", dir);
    twin_node *n = NULL;
    if (twin_network_create(&n, node_dir, &who, "Example Partnership"))
        die("creating the node");
    printf("twin store benchmark: %zu commits, SHA-1 %s\n", commits,
           twin_sha1_accelerated() ? "with SHA extensions" : "portable");

    /* 1. The library, batched. */
    twin_batch *b = NULL;
    if (twin_ops_batch_begin(&b, n, 10000))
        die("starting the batch");
    double t0 = now_s(), c0 = cpu_s(), slowest = 0, last = t0;
    for (size_t i = 0; i < commits; i++) {
        char id[TWIN_ID_LEN + 1];
        struct note note = {i};
        if (twin_ops_batch_add(id, NULL, b, "note", fill_note, &note))
            die("adding a note");
        if ((i + 1) % 10000 == 0) {
            double t = now_s();
            if (t - last > slowest)
                slowest = t - last;
            last = t;
        }
    }
    if (twin_batch_flush(b))
        die("flushing");
    double lib_s = now_s() - t0, lib_cpu = cpu_s() - c0;
    twin_batch_free(b);
    double lib_rate = (double)commits / lib_s;
    dir_bytes = 0;
    nftw(node_dir, add_size, 16, FTW_PHYS);
    printf("library, batched:   %8.0f signed commits/s (%zu in %.2f s; slowest 10k: %.0f/s; "
           "%.0f per CPU second); %zu packs, %.1f MB on disk\n",
           lib_rate, commits, lib_s, slowest > 0 ? 10000 / slowest : lib_rate,
           (double)commits / lib_cpu, twin_pack_count(twin_node_repo(n)), (double)dir_bytes / 1e6);

    /* The single-commit path, for reference: one compare-and-swap per record. */
    t0 = now_s();
    for (size_t i = 0; i < singles; i++) {
        char id[TWIN_ID_LEN + 1];
        git_oid c;
        struct note note = {commits + i};
        if (twin_ops_add(id, &c, n, "note", fill_note, &note))
            die("adding a note");
    }
    double single_rate = (double)singles / (now_s() - t0);
    if (singles)
        printf("library, one by one: %7.0f signed commits/s (%zu on the %zu-record store)\n",
               single_rate, singles, commits);
    twin_node_free(n);

    /* 2. One-shot `twin add`, each after a `twin --version`: the process's start alone. */
    double *lat = calloc(adds ? adds : 1, sizeof(double));
    double *start = calloc(adds ? adds : 1, sizeof(double));
    if (!lat || !start)
        die("allocating");
    if (twin_bin && adds) {
        for (size_t i = 0; i < adds; i++) {
            char cmd[8192];
            snprintf(cmd, sizeof(cmd), "'%s' --version >/dev/null", twin_bin);
            double s = now_s();
            int st = system(cmd);
            start[i] = now_s() - s;
            if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
                fprintf(stderr, "bench_store: twin --version failed\n");
                return 1;
            }
            snprintf(cmd, sizeof(cmd),
                     "'%s' --dir '%s' add note title='Latency probe %zu' body='One-shot add' "
                     ">/dev/null",
                     twin_bin, node_dir, i);
            s = now_s();
            st = system(cmd);
            lat[i] = now_s() - s;
            if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
                fprintf(stderr, "bench_store: twin add failed\n");
                return 1;
            }
        }
        qsort(lat, adds, sizeof(double), cmp_double);
        qsort(start, adds, sizeof(double), cmp_double);
        printf("twin add (one-shot process): median %.1f ms, p90 %.1f ms over %zu adds on %zu "
               "records\n",
               lat[adds / 2] * 1e3, lat[adds * 9 / 10] * 1e3, adds, commits);
        printf("twin --version (one-shot process, alternating with the adds): median %.1f ms, p90 "
               "%.1f ms; the add's median is %.1f ms more (target: at most 10 ms)\n",
               start[adds / 2] * 1e3, start[adds * 9 / 10] * 1e3,
               (lat[adds / 2] - start[adds / 2]) * 1e3);
    }
    free(lat);
    free(start);
    if (twin_bin) {
        char out[600];
        snprintf(out, sizeof(out), "%s/read.out", dir);
        char *log_argv[] = {(char *)twin_bin, "--dir", node_dir, "--quiet", "log", NULL};
        char *export_argv[] = {(char *)twin_bin, "--dir",    node_dir, "--quiet",
                               "export",         "--format", "json",   NULL};
        char *const *reads[] = {log_argv, export_argv};
        const char *names[] = {"twin log (the whole history)", "twin export --format json"};
        for (size_t k = 0; k < 2; k++) {
            double elapsed, cpu;
            long kb;
            if (run_measured(reads[k], out, &elapsed, &cpu, &kb)) {
                fprintf(stderr, "bench_store: %s failed\n", names[k]);
                return 1;
            }
            printf("%s on %zu records: %.2f s (%.2f s of CPU), peak RSS %.1f MB (target: at "
                   "most 100 MB)\n",
                   names[k], commits, elapsed, cpu, (double)kb / 1024);
        }
        unlink(out);
    }

    /* 3. Commit objects: twin's codec, and libgit2 as the baseline, in alternating rounds. */
    if (objects) {
        double codec_s = 0, libgit2_s = 0;
        size_t per = objects / 4 ? objects / 4 : 1, rounds = (objects + per - 1) / per;
        if (twin_node_open(&n, node_dir, NULL))
            die("opening the node again");
        git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 0);
        /* Uncounted: the objects' fan-out directories are made now, not by whichever way
         * writes first. */
        commit_objects(n, 1024, false, rounds);
        for (size_t r = 0; r < rounds; r++) { /* each way first in every other round */
            bool libgit2_first = r % 2;
            double first = commit_objects(n, per, libgit2_first, r);
            double second = commit_objects(n, per, !libgit2_first, r);
            codec_s += libgit2_first ? second : first;
            libgit2_s += libgit2_first ? first : second;
        }
        git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 1);
        twin_node_free(n);
        printf("commit objects (no fsync): codec %.0f/s, libgit2 %.0f/s (%zu each); "
               "codec / libgit2 %.2fx\n",
               (double)(per * rounds) / codec_s, (double)(per * rounds) / libgit2_s, per * rounds,
               libgit2_s / codec_s);
    }

    /* 4. Stock git: git commit -S (ssh) in a loop, one new record file per commit. */
    if (baseline) {
        char script[8192];
        snprintf(script, sizeof(script),
                 "set -e; cd '%s'; rm -rf gitbase; git init -q gitbase; cd gitbase; "
                 "git config user.name 'Ministry of Finance of Exampleland'; "
                 "git config user.email XE-EXAMPLE-MOF; git config gpg.format ssh; "
                 "git config user.signingkey '%s/node.key'; git config commit.gpgsign true; "
                 "git config core.fsync all; "
                 "for i in $(seq %zu); do "
                 "  h=$(printf '%%s' $i | sha1sum | cut -c1-2); mkdir -p records/note/$h; "
                 "  printf '{\"body\":\"Item %%s\",\"id\":\"%%s\",\"title\":\"Note %%s\"}' "
                 "$i $i $i > records/note/$h/$i.json; "
                 "  git add records/note/$h/$i.json; git commit -q -S -m \"add note $i\"; "
                 "done",
                 dir, node_dir, baseline);
        double s = now_s();
        int st = system(script);
        double git_s = now_s() - s;
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
            fprintf(stderr, "bench_store: the git baseline failed\n");
            return 1;
        }
        double git_rate = (double)baseline / git_s;
        printf("git commit -S:      %8.1f signed commits/s (%zu in %.2f s)\n", git_rate, baseline,
               git_s);
        printf("ratio twin library / git: %.0fx; twin one by one / git: %.1fx\n",
               lib_rate / git_rate, single_rate / git_rate);
    }
    /* 5. Branch moves: twin's writer of the ref and its reflogs, and libgit2's. */
    if (moves)
        branch_moves(dir, moves);
    if (!keep)
        bench_remove_tree(dir);
    else
        printf("store kept in %s\n", node_dir);
    twin_global_shutdown();
    return 0;
}
