/*
 * Reading benchmark: how fast `twin list`, `twin search` and `twin status` answer on a node (such
 * as the 100k store `bench_store --keep DIR` leaves in DIR/node), and their peak RSS, with the list
 * cache warm and the first time after it is deleted.
 *
 *   bench_list --dir NODE [--twin PATH] [--rounds N]
 *
 * 1. `twin --version`, so that the figures name the build they came from.
 * 2. The cache deleted, the first `twin list` (the cache rebuilt from the head's tree), then the
 *    first `twin status` (the commits counted once) and the first `twin list --dates` (every
 *    commit's tree compared with its parent's, once).
 * 3. With the cache warm, N rounds (default 5) of each reading command (`twin search` for a
 *    rare word and for one every record holds among them); the median elapsed time, the median
 *    CPU time (user and system) and the highest peak RSS.
 * 4. The baseline of search: `git grep` for the same words in the head's records, once each.
 * Each command is a new process, its output thrown away; its time and RSS come from wait4.
 */
#define _XOPEN_SOURCE 700 /* nftw */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

struct run {
    double wall, cpu;
    long rss_kb;
};

static const char *twin_bin = "twin";
static const char *node_dir;

/* Runs argv, its output to /dev/null; exits when it fails (an exit status above ok_max). */
static struct run run_argv(const char *const *argv, int ok_max)
{
    double start = now_s();
    pid_t pid = fork();
    if (pid < 0) {
        perror("bench_list: fork");
        exit(1);
    }
    if (pid == 0) {
        int null = open("/dev/null", O_WRONLY);
        if (null >= 0)
            dup2(null, STDOUT_FILENO);
        execvp(argv[0], (char *const *)argv);
        _exit(127);
    }
    int status = 0;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) < 0 || !WIFEXITED(status) || WEXITSTATUS(status) > ok_max) {
        fprintf(stderr, "bench_list: %s %s failed\n", argv[0], argv[1] ? argv[1] : "");
        exit(1);
    }
    struct run r = {.wall = now_s() - start,
                    .cpu = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
                           (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6,
                    .rss_kb = ru.ru_maxrss};
    return r;
}

/* Runs twin --dir NODE args..., its output to /dev/null; exits on a failure. */
static struct run run_twin(const char *const *args)
{
    const char *argv[16];
    size_t n = 0;
    argv[n++] = twin_bin;
    argv[n++] = "--dir";
    argv[n++] = node_dir;
    for (size_t i = 0; args[i] && n < 15; i++)
        argv[n++] = args[i];
    argv[n] = NULL;
    return run_argv(argv, 0);
}

/* Stock git finding the same word in the head's records: the baseline of twin search. */
static struct run run_git_grep(const char *word)
{
    char git_dir[4300];
    snprintf(git_dir, sizeof(git_dir), "%s/repo.git", node_dir);
    const char *argv[] = {"git", "--git-dir", git_dir, "grep", "-l",      "-i",
                          "-w",  word,        "main",  "--",   "records", NULL};
    return run_argv(argv, 1); /* 1: nothing found */
}

static int by_value(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static void report(const char *what, struct run r)
{
    printf("  %-36s %8.3f s  %8.3f s CPU  %6.1f MB peak RSS\n", what, r.wall, r.cpu,
           (double)r.rss_kb / 1024.0);
}

int main(int argc, char **argv)
{
    unsigned rounds = 5;
    for (int i = 1; i < argc; i++) {
        if (i + 1 < argc && strcmp(argv[i], "--dir") == 0)
            node_dir = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--twin") == 0)
            twin_bin = argv[++i];
        else if (i + 1 < argc && strcmp(argv[i], "--rounds") == 0)
            rounds = (unsigned)strtoul(argv[++i], NULL, 10);
        else {
            fprintf(stderr, "usage: bench_list --dir NODE [--twin PATH] [--rounds N]\n");
            return 2;
        }
    }
    if (!node_dir || rounds == 0 || rounds > 1000) {
        fprintf(stderr, "usage: bench_list --dir NODE [--twin PATH] [--rounds N]\n");
        return 2;
    }
    fflush(stdout);
    char cmd[4300];
    snprintf(cmd, sizeof(cmd), "'%s' --version", twin_bin);
    printf("twin list/status benchmark on %s, build: ", node_dir);
    fflush(stdout);
    if (system(cmd) != 0) {
        fprintf(stderr, "bench_list: %s --version failed\n", twin_bin);
        return 1;
    }

    /* The first answers after the cache is deleted. */
    char cache[4300];
    const char *suffixes[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(cache, sizeof(cache), "%s/listcache.db%s", node_dir, suffixes[i]);
        unlink(cache);
    }
    printf("the list cache deleted, the first run of each:\n");
    report("twin list (cache rebuilt)", run_twin((const char *[]){"list", NULL}));
    report("twin status (commits counted)", run_twin((const char *[]){"status", NULL}));
    report("twin list --dates (history dated)",
           run_twin((const char *[]){"list", "--dates", NULL}));

    const char *const *const commands[] = {
        (const char *[]){"list", NULL},
        (const char *[]){"status", NULL},
        (const char *[]){"list", "--dates", NULL},
        (const char *[]){"list", "-n", "20", NULL},
        (const char *[]){"list", "--sort", "title", "-n", "20", NULL},
        (const char *[]){"list", "--where", "kind=note", NULL},
        (const char *[]){"--json", "list", NULL},
        (const char *[]){"search", "4242", NULL},
        (const char *[]){"search", "steering", NULL},
    };
    static const char *const names[] = {
        "twin list",
        "twin status",
        "twin list --dates",
        "twin list -n 20",
        "twin list --sort title -n 20",
        "twin list --where kind=note",
        "twin --json list",
        "twin search 4242 (a rare word)",
        "twin search steering (in every record)",
    };
    printf("the list cache warm, median of %u runs (peak RSS: the highest):\n", rounds);
    for (size_t c = 0; c < sizeof(commands) / sizeof(commands[0]); c++) {
        double *wall = calloc(rounds, sizeof(double)), *cpu = calloc(rounds, sizeof(double));
        long rss = 0;
        if (!wall || !cpu) {
            fprintf(stderr, "bench_list: out of memory\n");
            return 1;
        }
        for (unsigned r = 0; r < rounds; r++) {
            struct run one = run_twin(commands[c]);
            wall[r] = one.wall;
            cpu[r] = one.cpu;
            rss = one.rss_kb > rss ? one.rss_kb : rss;
        }
        qsort(wall, rounds, sizeof(double), by_value);
        qsort(cpu, rounds, sizeof(double), by_value);
        report(names[c], (struct run){wall[rounds / 2], cpu[rounds / 2], rss});
        free(wall);
        free(cpu);
    }
    /* The baseline of search: stock git reading every record at the head for the word. */
    printf("stock git for the same words, one run each:\n");
    report("git grep -l -i -w 4242 main", run_git_grep("4242"));
    report("git grep -l -i -w steering main", run_git_grep("steering"));
    return 0;
}
