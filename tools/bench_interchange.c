/*
 * Interchange benchmark: import of N CSV rows (notes) into a fresh node, all checked and landing
 * in one signed commit, and export of those N records to CSV; against stock git doing the
 * nearest work in the same run (the same records as files, `git add` and one `git commit -S`;
 * and `git archive` reading them back).
 *
 *   bench_interchange [--rows N] [--no-baseline] [--twin PATH]
 *
 * (default 100000 rows; the baseline runs). With --twin, the real binary then exports those
 * records as CSV and as JSON, each in its own process, and the peak RSS of each is printed.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include <ftw.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <time.h>

#include "bench.h"
#include "twin/error.h"
#include "twin/interchange.h"
#include "twin/network.h"
#include "twin/node.h"
#include "twin/record.h"
#include "twin/global.h"

static const struct twin_identity who = {"Ministry of Finance of Exampleland", "XE-EXAMPLE-MOF",
                                         "NL", "north", "10"};

static void die(const char *what)
{
    fprintf(stderr, "bench_interchange: %s: %s\n", what, twin_error_last());
    exit(1);
}

static int run(const char *cmd)
{
    int st = system(cmd);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* Runs `twin export` of the notes in format to out as a child: its peak RSS in KB, or -1. */
static long export_rss(const char *twin, const char *node_dir, const char *format, const char *out,
                       double *elapsed)
{
    double t0 = now_s();
    pid_t pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        execl(twin, twin, "--dir", node_dir, "--quiet", "export", "--format", format, "--type",
              "note", "--out", out, (char *)NULL);
        _exit(127);
    }
    int st;
    struct rusage ru;
    if (wait4(pid, &st, 0, &ru) != pid || !WIFEXITED(st) || WEXITSTATUS(st) != 0)
        return -1;
    *elapsed = now_s() - t0;
    return ru.ru_maxrss;
}

int main(int argc, char **argv)
{
    size_t rows = 100000;
    bool baseline = true;
    const char *twin = NULL;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--rows") == 0)
            rows = strtoul(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--no-baseline") == 0)
            baseline = false;
        else if (i + 1 < argc && strcmp(argv[i], "--twin") == 0)
            twin = argv[++i];
        else {
            fprintf(stderr, "usage: bench_interchange [--rows N] [--no-baseline] [--twin PATH]\n");
            return 2;
        }
    }
    if (twin_global_init(true))
        die("init");
    char dir[256], node_dir[300], csv[300], out[300];
    const char *tmp = getenv("TMPDIR");
    snprintf(dir, sizeof(dir), "%s/twin-bench-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(node_dir, sizeof(node_dir), "%s/node", dir);
    snprintf(csv, sizeof(csv), "%s/notes.csv", dir);
    snprintf(out, sizeof(out), "%s/export.csv", dir);
    FILE *f = fopen(csv, "w");
    if (!f) {
        perror(csv);
        return 1;
    }
    fprintf(f, "title,kind,body\n");
    for (size_t i = 0; i < rows; i++)
        fprintf(f,
                "Steering note %zu,%s,\"Item %zu of the work plan was reviewed, and the "
                "partners agreed the next steps.\"\n",
                i, i % 3 ? "note" : "decision", i);
    fclose(f);
    twin_node *n = NULL;
    if (twin_network_create(&n, node_dir, &who, "Example Partnership"))
        die("creating the node");
    printf("twin interchange benchmark: %zu rows\n", rows);

    struct twin_import_report *r = NULL;
    double t0 = now_s();
    if (twin_interchange_import(&r, n, csv, TWIN_FORMAT_CSV, "note", false, NULL, NULL))
        die("importing");
    double import_s = now_s() - t0;
    if (r->nerrors || !r->committed || r->created != rows) {
        fprintf(stderr, "bench_interchange: the import did not land whole (%zu errors)\n",
                r->nerrors);
        return 1;
    }
    twin_interchange_import_report_free(r);
    printf("import CSV:  %8.0f rows/s (%zu rows in %.2f s, one signed commit)\n",
           (double)rows / import_s, rows, import_s);

    f = fopen(out, "w");
    twin_node_read_out(n); /* as `twin export` reads */
    struct twin_selection sel = {"note", NULL, 0, false};
    size_t written = 0;
    t0 = now_s();
    if (!f || twin_interchange_export_csv(f, &written, n, &sel))
        die("exporting");
    fclose(f);
    double export_s = now_s() - t0;
    printf("export CSV:  %8.0f rows/s (%zu rows in %.2f s)\n", (double)written / export_s, written,
           export_s);
    twin_node_free(n);
    if (twin) {
        const char *formats[] = {"csv", "json"};
        for (size_t k = 0; k < 2; k++) {
            double elapsed;
            long kb = export_rss(twin, node_dir, formats[k], out, &elapsed);
            if (kb < 0) {
                fprintf(stderr, "bench_interchange: twin export --format %s failed\n", formats[k]);
                return 1;
            }
            printf("twin export --format %s (its own process): peak RSS %.1f MB, %.2f s\n",
                   formats[k], (double)kb / 1024, elapsed);
        }
    }
    if (!baseline) {
        bench_remove_tree(dir);
        twin_global_shutdown();
        return 0;
    }

    /* Stock git: the same records as files in a work tree, added and committed with a signature,
     * then read back whole. */
    char cmd[4096];
    snprintf(cmd, sizeof(cmd),
             "set -e; cd '%s'; git init -q gitbase; cd gitbase; "
             "git config user.name 'Ministry of Finance of Exampleland'; "
             "git config user.email XE-EXAMPLE-MOF; git config gpg.format ssh; "
             "git config user.signingkey '%s/node.key'; git config core.fsync all; "
             "tail -n +2 ../notes.csv | awk -F, '{ d = sprintf(\"records/note/%%02x\", NR %% 256); "
             "f = d \"/\" NR \".json\"; if (!(d in made)) { system(\"mkdir -p \" d); made[d] = 1 } "
             "printf \"{\\\"title\\\": \\\"%%s\\\", \\\"kind\\\": \\\"%%s\\\"}\\n\", $1, $2 > f; "
             "close(f) }'",
             dir, node_dir);
    if (run(cmd) != 0) {
        fprintf(stderr, "bench_interchange: preparing the git baseline failed\n");
        return 1;
    }
    snprintf(cmd, sizeof(cmd),
             "cd '%s/gitbase' && git add -A && git commit -q -S -m 'import' > /dev/null", dir);
    t0 = now_s();
    if (run(cmd) != 0) {
        fprintf(stderr, "bench_interchange: git add/commit failed\n");
        return 1;
    }
    double git_import = now_s() - t0;
    snprintf(cmd, sizeof(cmd), "cd '%s/gitbase' && git archive HEAD > /dev/null", dir);
    t0 = now_s();
    if (run(cmd) != 0) {
        fprintf(stderr, "bench_interchange: git archive failed\n");
        return 1;
    }
    double git_export = now_s() - t0;
    printf("git add + commit -S of the same records as files: %.0f rows/s (%.2f s); twin/git "
           "time %.2f\n",
           (double)rows / git_import, git_import, import_s / git_import);
    printf("git archive of them: %.0f rows/s (%.2f s); twin/git time %.2f\n",
           (double)rows / git_export, git_export, export_s / git_export);
    bench_remove_tree(dir);
    twin_global_shutdown();
    return 0;
}
