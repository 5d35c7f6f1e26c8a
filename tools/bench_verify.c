/*
 * Verify benchmark: `twin verify` (twin_audit_verify, every check of the validity predicate and the
 * rewrite check) over a long history, against stock `git verify-commit` (gpg.format=ssh) over a
 * sample of the same commits in the same run, and `git log --show-signature` over the newest
 * ones; then `twin verify --since` after one new commit. The history it builds has a
 * membership change (a member added or removed) every 5,000 commits, and every record in the
 * clear. Each verify is timed with and without the check of the sealed records at the head
 * (twin_sealedcheck_run, which the command runs after the history's check), so the ratio shows
 * what that check costs a network with no sealed record.
 *
 *   bench_verify [DIR] [--commits N] [--sample N] [--runs N] [--threads N]
 *
 * DIR holds the node. When it has no node yet, one is built there (and kept, so a later run can
 * reuse it); when it has fewer than N record commits, more are added. Without DIR the node is
 * built in a temporary directory and removed at the end. Defaults: 100000 commits, a git sample
 * of 500, best of 3 verify runs, one thread per core. It prints figures; it passes or fails
 * nothing.
 *
 * twin verify hashes every object it reads and compares it with its id, with twin's own SHA-1
 * (the processor's SHA extensions where it has them) in place of libgit2's collision-detecting
 * hash on read; the figures include that work.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include <ftw.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "twin/network.h"
#include "twin/batch.h"
#include "twin/signers.h"
#include "twin/audit.h"
#include "twin/error.h"
#include "twin/tx.h"
#include "twin/node.h"
#include "twin/ops.h"
#include "twin/record.h"
#include "twin/global.h"

static const struct twin_identity founder = {"Ministry of Finance of Exampleland", "XE-EXAMPLE-MOF",
                                             "NL", "north", "10"};
static const struct twin_identity partner = {"Revenue Authority of Samplestan", "XE-EXAMPLE-RA",
                                             "TZ", "south", NULL};

static double children_cpu_s(void)
{
    struct rusage ru;
    getrusage(RUSAGE_CHILDREN, &ru);
    return (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
           ru.ru_stime.tv_usec / 1e6;
}

#define MEMBERSHIP_EVERY 5000

static void die(const char *what)
{
    fprintf(stderr, "bench_verify: %s: %s\n", what, twin_error_last());
    exit(1);
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_verify [DIR] [--commits N] [--sample N] [--runs N] "
                    "[--threads N]\n");
    exit(2);
}

/* ---- building the history ------------------------------------------------------------------- */

struct fields {
    const char *type;
    const char *partnership;
    size_t n;
};

static int fill(json_t *rec, void *ctx)
{
    const struct fields *f = ctx;
    char title[64], body[128];
    snprintf(title, sizeof(title), "%s %zu", f->type, f->n);
    if (strcmp(f->type, "partnership") == 0)
        return json_object_set_new(rec, "title", json_string("Tax administration twinning")) ||
                       json_object_set_new(rec, "partnership_type", json_string("twinning"))
                   ? TWIN_ERROR
                   : 0;
    if (strcmp(f->type, "activity") == 0)
        return json_object_set_new(rec, "title", json_string(title)) ||
                       json_object_set_new(rec, "partnership", json_string(f->partnership)) ||
                       json_object_set_new(rec, "kind", json_string("workshop"))
                   ? TWIN_ERROR
                   : 0;
    snprintf(body, sizeof(body), "Minutes of meeting %zu: the work plan stays as agreed.", f->n);
    return json_object_set_new(rec, "title", json_string(title)) ||
                   json_object_set_new(rec, "body", json_string(body))
               ? TWIN_ERROR
               : 0;
}

static size_t count_commits(twin_node *n)
{
    git_revwalk *walk = NULL;
    git_oid head, id;
    size_t count = 0;
    if (twin_node_head(&head, n))
        die("reading the head");
    if (git_revwalk_new(&walk, twin_node_repo(n)) < 0 || git_revwalk_push(walk, &head) < 0)
        die("walking the history");
    while (git_revwalk_next(&id, walk) == 0)
        count++;
    git_revwalk_free(walk);
    return count;
}

/* The first partnership of the head, or a new one. */
static int find_partnership(json_t *rec, void *ctx)
{
    char *out = ctx;
    if (!out[0])
        snprintf(out, TWIN_ID_LEN + 1, "%s", json_string_value(json_object_get(rec, "id")));
    return 0;
}

static twin_node *open_or_build(const char *dir, size_t want)
{
    twin_node *n = NULL;
    struct stat st;
    char key[4096];
    snprintf(key, sizeof(key), "%s/node.key", dir);
    if (stat(key, &st) == 0) {
        if (twin_ops_open(&n, dir))
            die("opening the node");
    } else {
        git_oid commit;
        twin_keypair kp;
        if (twin_network_create(&n, dir, &founder, "Benchmark Twinning"))
            die("creating the node");
        if (twin_key_generate(&kp) || twin_ops_member_add(&commit, n, &partner, "editor", kp.pk))
            die("adding a member");
    }
    char partnership[TWIN_ID_LEN + 1] = "";
    if (twin_ops_foreach(n, NULL, "partnership", find_partnership, partnership))
        die("reading the records");
    size_t have = count_commits(n);
    if (have >= want)
        return n;
    printf("building: %zu commits present, adding %zu (a membership change every %d)\n", have,
           want - have, MEMBERSHIP_EVERY);
    fflush(stdout);
    double t0 = now_s();
    twin_batch *b = NULL;
    size_t members = 0;
    for (size_t i = have; i < want; i++) {
        struct fields f = {"note", partnership, i};
        char id[TWIN_ID_LEN + 1];
        if (i % MEMBERSHIP_EVERY == MEMBERSHIP_EVERY - 1) {
            /* Membership changes along the way: a new member, or a key of the last one revoked,
             * each a commit of its own outside the batch. */
            git_oid commit;
            twin_keypair kp;
            if (b && twin_batch_flush(b))
                die("flushing");
            twin_batch_free(b);
            b = NULL;
            char org[64], name[96];
            snprintf(org, sizeof(org), "XE-EXAMPLE-M%zu", members);
            snprintf(name, sizeof(name), "Member Institution %zu", members);
            struct twin_identity who = {name, org, "KE", "south", NULL};
            if (members % 3 == 2) {
                snprintf(org, sizeof(org), "XE-EXAMPLE-M%zu", members - 1);
                if (twin_ops_member_remove(&commit, n, org))
                    die("removing a member");
            } else if (twin_key_generate(&kp) ||
                       twin_ops_member_add(&commit, n, &who, "editor", kp.pk))
                die("adding a member");
            members++;
            continue;
        }
        if (!b && twin_ops_batch_begin(&b, n, 10000))
            die("starting a batch");
        if (!partnership[0])
            f.type = "partnership";
        else if (i % 10 == 0)
            f.type = "activity";
        if (twin_ops_batch_add(id, NULL, b, f.type, fill, &f))
            die("adding a record");
        if (!partnership[0]) {
            memcpy(partnership, id, sizeof(partnership));
            if (twin_batch_flush(b)) /* activities check it exists in the store */
                die("flushing");
        }
    }
    if (b && twin_batch_flush(b))
        die("flushing");
    twin_batch_free(b);
    double t = now_s() - t0;
    printf("built: %zu commits in %.1f s (%.0f commits/s), %zu membership changes\n", want - have,
           t, (double)(want - have) / t, members);
    return n;
}

/* ---- twin verify ---------------------------------------------------------------------------- */

/* The check of the sealed records at the head, as `twin verify` runs it after the history's:
 * in this history every record is in the clear, so it must find no sealed one. */
static double run_sealedcheck(twin_node *n, double *cpu)
{
    struct twin_sealed_report *sr = NULL;
    double t0 = now_s(), c0 = cpu_s();
    if (twin_sealedcheck_run(&sr, n))
        die("the sealed check");
    if (sr->sealed) {
        fprintf(stderr, "bench_verify: the sealed check found %zu sealed records\n", sr->sealed);
        exit(1);
    }
    twin_sealedcheck_free(sr);
    if (cpu)
        *cpu = cpu_s() - c0;
    return now_s() - t0;
}

/* Each run opens the node afresh, as `twin verify` does: nothing read before is cached. With
 * `sealed`, the check of the sealed records follows, as the command runs it. */
static double run_verify(const char *dir, int threads, bool sealed, size_t *commits, double *cpu,
                         double *check, double *check_cpu)
{
    struct twin_verify_report *r = NULL;
    twin_node *n = NULL;
    double t0 = now_s(), c0 = cpu_s();
    if (twin_ops_open(&n, dir) || twin_audit_verify(&r, n, threads))
        die("verify");
    *check = sealed ? run_sealedcheck(n, check_cpu) : 0;
    twin_node_free(n);
    double t = now_s() - t0;
    *cpu = cpu_s() - c0;
    if (r->nfaults) {
        fprintf(stderr, "bench_verify: verify found %zu faults, the first: %s\n", r->nfaults,
                r->faults[0].reason);
        exit(1);
    }
    *commits = r->commits;
    twin_audit_verify_report_free(r);
    return t;
}

/* ---- stock git ------------------------------------------------------------------------------ */

static void write_allowed_signers(twin_node *n, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        perror(path);
        exit(1);
    }
    if (twin_signers_allowed(f, n))
        die("writing the allowed signers");
    fclose(f);
}

/* git log --show-signature over the newest `sample` commits: the auditor's stock-tool check
 * (git forks ssh-keygen for each signature). Returns the seconds taken. */
static double run_git_log(twin_node *n, const char *signers, size_t sample, double *cpu)
{
    char cmd[8192];
    snprintf(cmd, sizeof(cmd),
             "git -C '%s' -c gpg.format=ssh -c gpg.ssh.allowedSignersFile='%s' log "
             "--show-signature -n %zu main > /dev/null 2>&1",
             git_repository_path(twin_node_repo(n)), signers, sample);
    double c0 = children_cpu_s(), t0 = now_s();
    int status = system(cmd);
    double t = now_s() - t0;
    *cpu = children_cpu_s() - c0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
        die("git log --show-signature");
    return t;
}

/* twin verify --since on one new commit (the node opened afresh), with or without the check of
 * the sealed records that the command runs after it. */
static double run_since(const char *dir, const git_oid *since, bool sealed)
{
    struct twin_verify_report *r = NULL;
    twin_node *n = NULL;
    double t0 = now_s();
    if (twin_ops_open(&n, dir) || twin_audit_verify_since(&r, n, 0, since))
        die("verify --since");
    if (sealed)
        run_sealedcheck(n, NULL);
    double t = now_s() - t0;
    if (r->nfaults || r->commits != 1) {
        fprintf(stderr, "bench_verify: verify --since checked %zu commits, %zu faults\n",
                r->commits, r->nfaults);
        exit(1);
    }
    twin_audit_verify_report_free(r);
    twin_node_free(n);
    return t;
}

/* Runs git verify-commit over sample commits spread evenly over the history, a batch of them
 * per git process. Returns the seconds taken. */
static double run_git(twin_node *n, const char *signers, size_t sample, size_t *checked,
                      double *cpu)
{
    git_revwalk *walk = NULL;
    git_oid head, id;
    size_t total = count_commits(n), step = total / sample ? total / sample : 1, i = 0;
    enum { BATCH = 50 };
    char hex[BATCH][GIT_OID_HEXSZ + 1];
    size_t inbatch = 0;
    double spent = 0, c0 = children_cpu_s();
    *checked = 0;
    if (twin_node_head(&head, n) || git_revwalk_new(&walk, twin_node_repo(n)) < 0 ||
        git_revwalk_push(walk, &head) < 0)
        die("walking the history");
    bool more = true;
    while (more) {
        more = git_revwalk_next(&id, walk) == 0 && *checked + inbatch < sample;
        if (more && i++ % step == 0)
            git_oid_tostr(hex[inbatch++], GIT_OID_HEXSZ + 1, &id);
        if (inbatch == BATCH || (!more && inbatch)) {
            char cmd[8192];
            size_t used = (size_t)snprintf(cmd, sizeof(cmd),
                                           "git -C '%s' -c gpg.format=ssh "
                                           "-c gpg.ssh.allowedSignersFile='%s' verify-commit",
                                           git_repository_path(twin_node_repo(n)), signers);
            for (size_t k = 0; k < inbatch; k++)
                used += (size_t)snprintf(cmd + used, sizeof(cmd) - used, " %s", hex[k]);
            snprintf(cmd + used, sizeof(cmd) - used, " 2>/dev/null");
            double t0 = now_s();
            int status = system(cmd);
            spent += now_s() - t0;
            if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                fprintf(stderr, "bench_verify: git verify-commit refused a commit\n");
                exit(1);
            }
            *checked += inbatch;
            inbatch = 0;
        }
    }
    git_revwalk_free(walk);
    *cpu = children_cpu_s() - c0;
    return spent;
}

int main(int argc, char **argv)
{
    const char *dir = NULL;
    size_t commits = 100000, sample = 500;
    int runs = 3, threads = 0;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--commits") == 0)
            commits = strtoul(argv[++i], NULL, 10);
        else if (i + 1 < argc && strcmp(argv[i], "--sample") == 0)
            sample = strtoul(argv[++i], NULL, 10);
        else if (i + 1 < argc && strcmp(argv[i], "--runs") == 0)
            runs = atoi(argv[++i]);
        else if (i + 1 < argc && strcmp(argv[i], "--threads") == 0)
            threads = atoi(argv[++i]);
        else if (argv[i][0] != '-' && !dir)
            dir = argv[i];
        else
            usage();
    }
    if (commits < 2 || sample < 1 || runs < 1)
        usage();
    if (twin_global_init(false))
        die("initialising");
    char tmp[256] = "", node_dir[4096];
    if (!dir) {
        const char *t = getenv("TMPDIR");
        snprintf(tmp, sizeof(tmp), "%s/twin-bench-XXXXXX", t && *t ? t : "/tmp");
        if (!mkdtemp(tmp)) {
            perror(tmp);
            return 1;
        }
        snprintf(node_dir, sizeof(node_dir), "%s/node", tmp);
        dir = node_dir;
    }
    twin_node *n = open_or_build(dir, commits);

    printf("twin verify (%s threads), runs alternating without and with the sealed check:\n",
           threads > 0 ? "given" : "one per core");
    size_t checked = 0;
    double best = 0, best_cpu = 0, best_sealed = 0, best_sealed_cpu = 0, best_check = 0,
           best_check_cpu = 0;
    for (int r = 0; r < runs; r++) {
        for (int sealed = 0; sealed < 2; sealed++) {
            double cpu, check, check_cpu = 0,
                               t = run_verify(twin_node_dir(n), threads, sealed, &checked, &cpu,
                                              &check, &check_cpu);
            printf("  run %d: %zu commits in %.2f s, %.0f commits/s (CPU %.2f s)", r + 1, checked,
                   t, (double)checked / t, cpu);
            if (sealed)
                printf(", with the sealed check: %.1f ms of it (CPU %.1f ms)", check * 1e3,
                       check_cpu * 1e3);
            printf("\n");
            if (sealed && (r == 0 || check < best_check))
                best_check = check;
            if (sealed && (r == 0 || check_cpu < best_check_cpu))
                best_check_cpu = check_cpu;
            fflush(stdout);
            double *b = sealed ? &best_sealed : &best, *bc = sealed ? &best_sealed_cpu : &best_cpu;
            if (r == 0 || t < *b)
                *b = t;
            if (r == 0 || cpu < *bc)
                *bc = cpu;
        }
    }
    printf("twin verify best: %zu commits in %.2f s, %.0f commits/s; CPU %.2f s, %.1f us per "
           "commit\n",
           checked, best, (double)checked / best, best_cpu, best_cpu / (double)checked * 1e6);
    printf("twin verify with the sealed check, every record in the clear: best %.2f s (CPU "
           "%.2f s); ratio with/without %.3f (CPU %.3f); the sealed check alone: best %.1f ms "
           "(CPU %.1f ms)\n",
           best_sealed, best_sealed_cpu, best_sealed / best, best_sealed_cpu / best_cpu,
           best_check * 1e3, best_check_cpu * 1e3);

    char signers[4200];
    snprintf(signers, sizeof(signers), "%s/bench_allowed_signers", twin_node_dir(n));
    write_allowed_signers(n, signers);
    size_t sampled = 0;
    double gcpu, g = run_git(n, signers, sample, &sampled, &gcpu);
    double per = g / (double)sampled, git_total = per * (double)checked;
    double git_cpu = gcpu / (double)sampled * (double)checked;
    printf("git verify-commit: %zu sampled commits in %.2f s (%.2f ms each, CPU %.2f ms); %zu "
           "commits extrapolated: %.1f s, %.0f commits/s; CPU %.1f s\n",
           sampled, g, per * 1e3, gcpu / (double)sampled * 1e3, checked, git_total, 1.0 / per,
           git_cpu);
    printf("ratio twin/git: %.4f elapsed (twin %.0fx faster), %.4f CPU\n", best / git_total,
           git_total / best, best_cpu / git_cpu);
    double lcpu, l = run_git_log(n, signers, sample, &lcpu);
    double log_total = l / (double)sample * (double)checked;
    printf("git log --show-signature: newest %zu commits in %.2f s (%.2f ms each); %zu commits "
           "extrapolated: %.1f s; ratio twin/git %.4f (twin %.0fx faster)\n",
           sample, l, l / (double)sample * 1e3, checked, log_total, best / log_total,
           log_total / best);
    remove(signers);

    /* verify --since after one new commit: the median of 7 runs. */
    git_oid before, commit;
    char id[TWIN_ID_LEN + 1];
    struct fields f = {"note", "", checked};
    if (twin_node_head(&before, n) || twin_ops_add(id, &commit, n, "note", fill, &f))
        die("adding one commit");
    double since[2][7];
    for (int r = 0; r < 7; r++)
        for (int sealed = 0; sealed < 2; sealed++)
            since[sealed][r] = run_since(twin_node_dir(n), &before, sealed);
    for (int sealed = 0; sealed < 2; sealed++)
        for (int a = 0; a < 7; a++)
            for (int b = a + 1; b < 7; b++)
                if (since[sealed][b] < since[sealed][a]) {
                    double x = since[sealed][a];
                    since[sealed][a] = since[sealed][b];
                    since[sealed][b] = x;
                }
    printf("twin verify --since, one new commit on %zu: median %.2f ms (best %.2f ms)\n", checked,
           since[0][3] * 1e3, since[0][0] * 1e3);
    printf("twin verify --since with the sealed check: median %.2f ms (best %.2f ms); ratio "
           "with/without %.2f\n",
           since[1][3] * 1e3, since[1][0] * 1e3, since[1][3] / since[0][3]);

    twin_node_free(n);
    if (tmp[0])
        bench_remove_tree(tmp);
    twin_global_shutdown();
    return 0;
}
