/*
 * Pack benchmark: twin's own pack writing against libgit2's, the baseline each replaced, in the
 * same run and on the same history.
 *
 *   bench_pack [--commits N] [--rounds N] [--incremental N] [--batch N]
 *
 * A node gets N signed note commits (default 20,000), written through the library's batched
 * writer (twin_ops_batch_add, a pack per 10,000 commits) as bench_verify builds its history.
 * Then, each in --rounds rounds (default 2) in which each way runs once, each first in every
 * other round:
 * 1. The pack of the whole history, as sync sends it to a node that has nothing: twin's builder
 *    (twin_packbuild_stream: twin's walk and tree diff on every core, deltas against an earlier
 *    version of each path, objects stored without compression) against libgit2's
 *    (twin_packbuild_stream_libgit2: git_packbuilder_insert_walk, its window search for deltas
 *    on every core, zlib), each streamed to a sink that counts the bytes and drops them. Commits
 *    per second and the sizes of the two packs.
 * 2. The incremental pack of the newest --incremental commits (default 100) against a receiver
 *    that holds the rest, the same two ways, 10 builds a round each.
 * 3. --batch signed note commits a round (default 2,000, flushed every 1,000) through the batched
 *    writer with twin's pack writer and with libgit2's (twin_batch_set_libgit2: libgit2 names
 *    each object again, its packbuilder packs them and its indexer writes pack and index), on
 *    the same node, whose history grows as the rounds go. Commits per second.
 * Times are elapsed (wall-clock) time; the CPU time of the process, all threads, is printed
 * beside them. Nothing is fsync'ed, either way (twin_global_init(false) also turns libgit2's
 * fsync off), so that the writing is measured rather than the disk. The ratios are twin's rate
 * over libgit2's. It prints figures; it passes or fails nothing.
 *
 * libgit2's whole-history build grows faster than the history: on one loaded 2-core machine
 * 1.1 s for 2,000 commits, 5-6 s for 6,000 and 100 s for 20,000 (twin's 0.3, 0.9 and 1.8 s),
 * so the ratio of part 1 depends on --commits; its pack is also larger than twin's at 20,000
 * (47 MB against 30), as its packbuilder is given no path names for trees to pair deltas by.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "git/packbuild.h"
#include "twin/batch.h"
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
    fprintf(stderr, "bench_pack: %s: %s\n", what, twin_error_last());
    exit(1);
}

static int fill_note(json_t *rec, void *ctx)
{
    const size_t *i = ctx;
    char title[64], body[160];
    snprintf(title, sizeof(title), "Steering note %zu", *i);
    snprintf(body, sizeof(body),
             "Item %zu of the work plan was reviewed; the partners agreed the next steps.", *i);
    int rc = twin_record_set_path(rec, "title", title);
    return rc ? rc : twin_record_set_path(rec, "body", body);
}

/* Adds count notes numbered from *next through one batch (with twin's pack writer or
 * libgit2's), flushed every flush_every commits. */
static void write_notes(twin_node *n, size_t count, size_t *next, size_t flush_every, bool libgit2)
{
    twin_batch *b = NULL;
    if (twin_ops_batch_begin(&b, n, flush_every) || twin_batch_set_libgit2(b, libgit2))
        die("starting a batch");
    for (size_t i = 0; i < count; i++, (*next)++) {
        char id[TWIN_ID_LEN + 1];
        if (twin_ops_batch_add(id, NULL, b, "note", fill_note, next))
            die("adding a note");
    }
    if (twin_batch_flush(b))
        die("flushing");
    twin_batch_free(b);
}

static int count_bytes(const void *data, size_t len, void *ctx)
{
    (void)data;
    *(size_t *)ctx += len;
    return 0;
}

struct span {
    double wall, cpu; /* seconds */
};

/* The time `builds` packs take of want's history less what have holds (NULL: the whole
 * history), built twin's way or libgit2's; *bytes and *commits describe the last. */
static struct span build(git_repository *repo, const git_oid *want, const git_oid *have,
                         size_t builds, bool libgit2, size_t *bytes, size_t *commits)
{
    double t0 = now_s(), c0 = cpu_s();
    for (size_t i = 0; i < builds; i++) {
        *bytes = 0;
        int rc = (libgit2 ? twin_packbuild_stream_libgit2 : twin_packbuild_stream)(
            commits, repo, want, 1, have, have ? 1 : 0, count_bytes, bytes);
        if (rc)
            die(libgit2 ? "building a pack with libgit2" : "building a pack");
    }
    return (struct span){now_s() - t0, cpu_s() - c0};
}

static void add(struct span *to, struct span s)
{
    to->wall += s.wall;
    to->cpu += s.cpu;
}

/* Both ways of building, in alternating rounds; prints the rates and the ratio. */
static void compare_builds(const char *what, git_repository *repo, const git_oid *want,
                           const git_oid *have, size_t rounds, size_t builds)
{
    struct span twin = {0, 0}, git = {0, 0};
    size_t twin_bytes = 0, git_bytes = 0, twin_commits = 0, git_commits = 0;
    for (size_t r = 0; r < rounds; r++) {
        bool git_first = r % 2;
        if (git_first)
            add(&git, build(repo, want, have, builds, true, &git_bytes, &git_commits));
        add(&twin, build(repo, want, have, builds, false, &twin_bytes, &twin_commits));
        if (!git_first)
            add(&git, build(repo, want, have, builds, true, &git_bytes, &git_commits));
    }
    if (twin_commits != git_commits) {
        fprintf(stderr, "bench_pack: %s: twin packed %zu commits, libgit2 %zu\n", what,
                twin_commits, git_commits);
        exit(1);
    }
    double n = (double)(twin_commits * builds * rounds);
    printf("%s, %zu commits, %zu builds each way:\n", what, twin_commits, builds * rounds);
    printf("  twin    %9.0f commits/s (%.3f s a build, %.3f s CPU), pack %.2f MB\n", n / twin.wall,
           twin.wall / (double)(builds * rounds), twin.cpu / (double)(builds * rounds),
           twin_bytes / 1e6);
    printf("  libgit2 %9.0f commits/s (%.3f s a build, %.3f s CPU), pack %.2f MB\n", n / git.wall,
           git.wall / (double)(builds * rounds), git.cpu / (double)(builds * rounds),
           git_bytes / 1e6);
    printf("  twin / libgit2 %.2fx (wall), %.2fx (CPU)\n", git.wall / twin.wall,
           git.cpu / twin.cpu);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    size_t commits = 20000, rounds = 2, incremental = 100, batch = 2000;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--commits") == 0)
            commits = strtoul(argv[++i], NULL, 10);
        else if (i + 1 < argc && strcmp(argv[i], "--rounds") == 0)
            rounds = strtoul(argv[++i], NULL, 10);
        else if (i + 1 < argc && strcmp(argv[i], "--incremental") == 0)
            incremental = strtoul(argv[++i], NULL, 10);
        else if (i + 1 < argc && strcmp(argv[i], "--batch") == 0)
            batch = strtoul(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "usage: bench_pack [--commits N] [--rounds N] [--incremental N] "
                            "[--batch N]\n");
            return 2;
        }
    }
    if (commits < 1 || rounds < 1 || incremental >= commits) {
        fprintf(stderr, "bench_pack: --commits must exceed --incremental, --rounds be >= 1\n");
        return 2;
    }
    if (twin_global_init(false))
        die("init");
    char dir[256], node_dir[300];
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof(dir), "%s/twin-bench-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(node_dir, sizeof(node_dir), "%s/node", dir);
    twin_node *n = NULL;
    if (twin_network_create(&n, node_dir, &who, "Example Partnership"))
        die("creating the node");
    printf("twin pack benchmark: %zu commits, %zu rounds; elapsed times, no fsync either way\n",
           commits, rounds);
    double t0 = now_s();
    size_t next = 0;
    write_notes(n, commits, &next, 10000, false);
    printf("history: %zu note commits written in %.1f s\n", commits, now_s() - t0);
    fflush(stdout);

    /* 1 and 2: building packs. */
    git_repository *repo = twin_node_repo(n);
    git_oid head, have;
    if (twin_node_head(&head, n))
        die("reading the head");
    have = head;
    for (size_t i = 0; i < incremental; i++) {
        git_commit *c = NULL;
        if (git_commit_lookup(&c, repo, &have) < 0 || git_commit_parentcount(c) < 1)
            die("walking back from the head");
        have = *git_commit_parent_id(c, 0);
        git_commit_free(c);
    }
    compare_builds("whole history's pack", repo, &head, NULL, rounds, 1);
    char what[64];
    snprintf(what, sizeof(what), "pack of the newest %zu commits", incremental);
    compare_builds(what, repo, &head, &have, rounds, 10);

    /* 3. The batched writer with each pack writer. */
    double twin_s = 0, git_s = 0, twin_cpu = 0, git_cpu = 0;
    for (size_t r = 0; r < rounds; r++) {
        for (int k = 0; k < 2; k++) {
            bool libgit2 = (r % 2) ^ (k == 1); /* libgit2 first in odd rounds */
            double s = now_s(), c = cpu_s();
            write_notes(n, batch, &next, 1000, libgit2);
            *(libgit2 ? &git_s : &twin_s) += now_s() - s;
            *(libgit2 ? &git_cpu : &twin_cpu) += cpu_s() - c;
        }
    }
    double written = (double)(batch * rounds);
    printf("batched writer, %zu signed commits each way (flushed every 1,000):\n", batch * rounds);
    printf("  twin's pack writer    %7.0f commits/s (%.0f per CPU second)\n", written / twin_s,
           written / twin_cpu);
    printf("  libgit2's packbuilder %7.0f commits/s (%.0f per CPU second)\n", written / git_s,
           written / git_cpu);
    printf("  twin / libgit2 %.2fx (wall), %.2fx (CPU)\n", git_s / twin_s, git_cpu / twin_cpu);

    twin_node_free(n);
    bench_remove_tree(dir);
    twin_global_shutdown();
    return 0;
}
