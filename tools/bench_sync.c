/*
 * Sync benchmark: twin against stock git on the same history, in one run.
 *
 *   bench_sync [--commits N] [--dir DIR] [--rounds R]
 *   bench_sync --pack NODEDIR      (builds one node's whole-history pack, for profiling)
 *
 * A source node holds N commits (one small note each, signed), made with the library and
 * repacked once with `git repack -a -d`; with --dir the generated store is kept there and reused
 * by later runs with the same N. Each run works on copies of it:
 *   - initial sync: a fresh node (joined to the same network, admitted as a member) syncs the
 *     whole history from the source, every commit checked by the validity predicate, against
 *     `git clone --bare` of the same bare repository over `git daemon` on 127.0.0.1;
 *   - incremental sync: R rounds of one new commit on the source, then one twin session and one
 *     `git fetch` (medians), plus a no-op session and a no-op fetch;
 *   - peak RSS of the receiving side: each side runs in a child process (this program run again
 *     as `--initiate` / `--serve`, which call what `twin sync` and `twin serve` call), and the
 *     figure is the child's ru_maxrss from wait4, which covers git's own children (index-pack).
 * Both sides' session counters (round trips after the handshake, where the time went) are
 * printed. Everything listens on 127.0.0.1 on free ports. The figures are printed, never judged.
 */
#define _XOPEN_SOURCE 700
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "twin/error.h"
#include "twin/tx.h"
#include "twin/listener.h"
#include "twin/network.h"
#include "twin/node.h"
#include "twin/batch.h"
#include "twin/ops.h"
#include "twin/record.h"
#include "twin/sync.h"
#include "git/packbuild.h"
#include "twin/global.h"

#define MAX_ROUNDS 50

static const struct twin_identity source_who = {"Ministry of Water (North)", "XE-EXAMPLE-NMW", "NL",
                                                "north", "10"};
static const struct twin_identity fresh_who = {"Water Authority (South)", "XE-EXAMPLE-SWA", "TZ",
                                               "south", "10"};

static char self_exe[4096];

static void die(const char *what)
{
    fprintf(stderr, "bench_sync: %s: %s\n", what, twin_error_last());
    exit(1);
}

static void die_errno(const char *what)
{
    fprintf(stderr, "bench_sync: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void remove_tree(const char *path)
{
    bench_remove_tree(path);
}

/* ---- child processes ------------------------------------------------------------------------ */

struct child_result {
    double wall_s;
    double cpu_s;   /* user and system time of the child and its waited-for descendants */
    long maxrss_kb; /* the child's and its waited-for descendants' largest resident set */
    int status;
    char out[4096]; /* the start of its standard output */
};

static double cpu_of(const struct rusage *ru)
{
    return (double)ru->ru_utime.tv_sec + ru->ru_utime.tv_usec / 1e6 + (double)ru->ru_stime.tv_sec +
           ru->ru_stime.tv_usec / 1e6;
}

/* Runs argv (argv[0] searched in PATH) to completion with stdout captured and stderr kept. */
static void run_child(struct child_result *r, char *const argv[])
{
    int fds[2];
    if (pipe(fds) != 0)
        die_errno("pipe");
    double start = now_s();
    pid_t pid = fork();
    if (pid < 0)
        die_errno("fork");
    if (pid == 0) {
        dup2(fds[1], STDOUT_FILENO);
        close(fds[0]);
        close(fds[1]);
        execvp(argv[0], argv);
        _exit(127);
    }
    close(fds[1]);
    size_t len = 0;
    char sink[4096];
    for (;;) {
        char *to = len < sizeof(r->out) - 1 ? r->out + len : sink;
        size_t cap = len < sizeof(r->out) - 1 ? sizeof(r->out) - 1 - len : sizeof(sink);
        ssize_t got = read(fds[0], to, cap);
        if (got < 0 && errno == EINTR)
            continue;
        if (got <= 0)
            break;
        if (to != sink)
            len += (size_t)got;
    }
    r->out[len] = '\0';
    close(fds[0]);
    struct rusage ru;
    while (wait4(pid, &r->status, 0, &ru) < 0)
        if (errno != EINTR)
            die_errno("wait4");
    r->wall_s = now_s() - start;
    r->maxrss_kb = ru.ru_maxrss;
    r->cpu_s = cpu_of(&ru);
}

static void run_checked(struct child_result *r, char *const argv[])
{
    run_child(r, argv);
    if (!WIFEXITED(r->status) || WEXITSTATUS(r->status) != 0) {
        fprintf(stderr, "bench_sync: %s failed (status %d); output:\n%s\n", argv[0], r->status,
                r->out);
        exit(1);
    }
}

static void shell(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void shell(const char *fmt, ...)
{
    char cmd[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    int st = system(cmd);
    if (st != 0) {
        fprintf(stderr, "bench_sync: command failed: %s\n", cmd);
        exit(1);
    }
}

/* A free TCP port on 127.0.0.1 (the kernel's pick; released just before use). */
static int free_port(void)
{
    struct sockaddr_in sin = {.sin_family = AF_INET};
    socklen_t sl = sizeof(sin);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd < 0 || bind(fd, (struct sockaddr *)&sin, sizeof(sin)) != 0 ||
        getsockname(fd, (struct sockaddr *)&sin, &sl) != 0)
        die_errno("finding a free port");
    close(fd);
    return ntohs(sin.sin_port);
}

static bool port_open(int port)
{
    struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    bool ok = fd >= 0 && connect(fd, (struct sockaddr *)&sin, sizeof(sin)) == 0;
    if (fd >= 0)
        close(fd);
    return ok;
}

static pid_t services[2]; /* what this run started, stopped at exit */
static pid_t main_pid;

/* Starts argv in a process group of its own, stdout to a file; returns its pid. */
static pid_t start_service(char *const argv[], const char *log)
{
    pid_t pid = fork();
    if (pid < 0)
        die_errno("fork");
    if (pid == 0) {
        setpgid(0, 0);
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, STDOUT_FILENO);
            dup2(fd, STDERR_FILENO);
            close(fd);
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    setpgid(pid, pid);
    for (size_t i = 0; i < sizeof(services) / sizeof(services[0]); i++)
        if (services[i] == 0) {
            services[i] = pid;
            break;
        }
    return pid;
}

/* Stops a service; the CPU time it and its waited-for children used. */
static double stop_service(pid_t pid)
{
    struct rusage ru;
    if (pid <= 0)
        return 0;
    for (size_t i = 0; i < sizeof(services) / sizeof(services[0]); i++)
        if (services[i] == pid)
            services[i] = 0;
    kill(-pid, SIGTERM);
    for (int i = 0; i < 200; i++) {
        if (wait4(pid, NULL, WNOHANG, &ru) == pid)
            return cpu_of(&ru);
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    kill(-pid, SIGKILL);
    return wait4(pid, NULL, 0, &ru) == pid ? cpu_of(&ru) : 0;
}

/* A failed run (exit) still stops what it started. */
static void stop_services(void)
{
    if (getpid() != main_pid)
        return;
    for (size_t i = 0; i < sizeof(services) / sizeof(services[0]); i++)
        stop_service(services[i]);
}

/* ---- the session helpers (this program run again) ------------------------------------------- */

static void print_stats(FILE *fp, int rc, const struct twin_sync_stats *st)
{
    fprintf(fp,
            "rc=%d received=%zu sent=%zu rt=%u negotiate=%.1f build=%.1f receive=%.1f "
            "index=%.1f check=%.1f accept=%.1f total=%.1f head=%s\n",
            rc, st->received_commits, st->sent_commits, st->round_trips, st->negotiate_ms,
            st->build_ms, st->receive_ms, st->index_ms, st->check_ms, st->accept_ms, st->total_ms,
            st->has_head ? git_oid_tostr_s(&st->head) : "-");
    fflush(fp);
}

/* --initiate NODEDIR PORT: one session with the node at 127.0.0.1:PORT, as `twin sync` runs
 * it, and its counters on stdout. The responder's key comes from the source node's id file. */
static int helper_initiate(const char *dir, const char *port, const char *peer_key_hex)
{
    twin_node *n = NULL;
    struct twin_sync_stats st;
    unsigned char pk[TWIN_PUBKEY_BYTES];
    for (size_t i = 0; i < TWIN_PUBKEY_BYTES; i++)
        if (sscanf(peer_key_hex + 2 * i, "%2hhx", &pk[i]) != 1)
            return 2;
    if (twin_global_init(true) || twin_ops_open(&n, dir))
        die("opening the receiving node");
    int rc = twin_sync_peer(&st, n, "127.0.0.1", port, pk, NULL);
    if (rc)
        fprintf(stderr, "bench_sync: session failed: %s\n", twin_error_last());
    print_stats(stdout, rc, &st);
    twin_node_free(n);
    return rc ? 1 : 0;
}

struct serve_ctx {
    const char *dir;
};

static void serve_session(void *ctx, twin_channel *ch)
{
    struct serve_ctx *s = ctx;
    twin_node *n = NULL;
    struct twin_sync_stats st = {0};
    int rc = twin_ops_open(&n, s->dir);
    if (rc == 0)
        rc = twin_sync_respond(&st, n, ch);
    twin_node_free(n);
    printf("session ");
    print_stats(stdout, rc, &st);
}

static void serve_log(void *ctx, int level, const char *line)
{
    printf("log %s\n", line);
    fflush(stdout);
}

/* --serve NODEDIR: serves sessions as `twin serve` does until SIGTERM; prints "port P", one
 * line of counters per session, and its peak RSS at the end. */
static int helper_serve(const char *dir)
{
    twin_node *n = NULL;
    twin_listener *l = NULL;
    struct serve_ctx ctx = {dir};
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (twin_global_init(true) || twin_ops_open(&n, dir))
        die("opening the serving node");
    twin_listener_config cfg = {
        .host = "127.0.0.1",
        .port = "0",
        .channel = {.key = twin_node_key(n),
                    .network_id = twin_node_network_id(n),
                    .authorize = twin_sync_authorize,
                    .authorize_ctx = (void *)dir},
        .session = serve_session,
        .session_ctx = &ctx,
        .log = serve_log,
    };
    if (twin_listener_start(&l, &cfg))
        die("starting the listener");
    printf("port %d\n", twin_listener_port(l));
    fflush(stdout);
    int sig;
    sigwait(&stop, &sig);
    twin_listener_stop(l);
    twin_node_free(n);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("maxrss_kb %ld\n", ru.ru_maxrss);
    fflush(stdout);
    return 0;
}

static int count_sink(const void *data, size_t len, void *ctx)
{
    *(size_t *)ctx += len;
    return 0;
}

/* --pack NODEDIR: builds the pack of the node's whole history into nothing (for profiling the
 * sender alone, e.g. under perf). */
static int helper_pack(const char *dir)
{
    twin_node *n = NULL;
    git_oid head;
    size_t commits = 0, bytes = 0;
    if (twin_global_init(false) || twin_ops_open(&n, dir) || twin_node_head(&head, n))
        die("opening the node");
    double start = now_s();
    if (twin_packbuild_stream(&commits, twin_node_repo(n), &head, 1, NULL, 0, count_sink, &bytes))
        die("building the pack");
    printf("pack of %zu commits: %.1f MB in %.2f s\n", commits, bytes / 1e6, now_s() - start);
    twin_node_free(n);
    return 0;
}

/* ---- the source history --------------------------------------------------------------------- */

struct note {
    long i;
};

static int note_fields(json_t *rec, void *ctx)
{
    const struct note *nt = ctx;
    char title[64], body[200];
    snprintf(title, sizeof(title), "Weekly note %ld", nt->i);
    snprintf(body, sizeof(body),
             "Steering group met; item %ld reviewed, %ld actions open, next review in week %ld.",
             nt->i, nt->i % 17, nt->i % 52 + 1);
    int rc = twin_record_set_path(rec, "title", title);
    if (rc == 0)
        rc = twin_record_set_path(rec, "body", body);
    return rc;
}

static void add_note(twin_node *n, long i)
{
    char id[TWIN_ID_LEN + 1];
    git_oid commit;
    struct note nt = {i};
    if (twin_ops_add(id, &commit, n, "note", note_fields, &nt))
        die("adding a note");
}

/* base/src: the founder with `commits` notes; base/fresh: a node joined to the same network and
 * admitted as an editor, which has never synced (each run starts from a copy of it). */
static void generate(const char *base, long commits)
{
    char src[4200], fresh[4200], marker[4200];
    twin_node *s = NULL, *f = NULL;
    git_oid c;
    snprintf(src, sizeof(src), "%s/src", base);
    snprintf(fresh, sizeof(fresh), "%s/fresh", base);
    snprintf(marker, sizeof(marker), "%s/commits", base);
    remove_tree(src);
    remove_tree(fresh);
    remove(marker);
    if (twin_network_create(&s, src, &source_who, "Sync benchmark"))
        die("creating the source node");
    if (twin_node_init(&f, fresh, &fresh_who, NULL, NULL, twin_node_network_id(s)))
        die("creating the fresh node");
    if (twin_ops_member_add(&c, s, &fresh_who, "editor", twin_node_key(f)->pk))
        die("admitting the fresh node");
    /* One signed commit a note, as twin add makes them, written through the batched writer
     * (flushed every 10,000), so that the history is made in seconds, not minutes. */
    twin_batch *b = NULL;
    if (twin_ops_batch_begin(&b, s, 10000))
        die("starting a batch");
    double start = now_s(), last = start;
    for (long i = 1; i <= commits; i++) {
        char id[TWIN_ID_LEN + 1];
        struct note nt = {i};
        if (twin_ops_batch_add(id, NULL, b, "note", note_fields, &nt))
            die("adding a note");
        if (i % 10000 == 0 || i == commits) {
            double t = now_s();
            fprintf(stderr, "bench_sync: generated %ld/%ld commits (%.0f/s lately)\n", i, commits,
                    10000 / (t - last));
            last = t;
        }
    }
    if (twin_batch_flush(b))
        die("writing the batch");
    twin_batch_free(b);
    fprintf(stderr, "bench_sync: generated %ld commits in %.1f s (%.0f commits/s); repacking\n",
            commits, now_s() - start, commits / (now_s() - start));
    twin_node_free(s);
    twin_node_free(f);
    shell("git -C '%s/repo.git' repack -a -d -q && git -C '%s/repo.git' prune", src, src);
    FILE *fp = fopen(marker, "w");
    if (!fp)
        die_errno("writing the marker");
    fprintf(fp, "%ld\n", commits);
    fclose(fp);
}

static long generated_commits(const char *base)
{
    char marker[4200];
    long n = -1;
    snprintf(marker, sizeof(marker), "%s/commits", base);
    FILE *fp = fopen(marker, "r");
    if (fp) {
        if (fscanf(fp, "%ld", &n) != 1)
            n = -1;
        fclose(fp);
    }
    return n;
}

/* ---- measuring ------------------------------------------------------------------------------ */

struct stats_line {
    int rc;
    size_t received, sent;
    unsigned rt;
    double negotiate, build, receive, index, check, accept, total;
    char head[GIT_OID_HEXSZ + 1];
};

static bool parse_stats(struct stats_line *s, const char *text)
{
    return text && sscanf(text,
                          "rc=%d received=%zu sent=%zu rt=%u negotiate=%lf build=%lf receive=%lf "
                          "index=%lf check=%lf accept=%lf total=%lf head=%40s",
                          &s->rc, &s->received, &s->sent, &s->rt, &s->negotiate, &s->build,
                          &s->receive, &s->index, &s->check, &s->accept, &s->total, s->head) == 12;
}

/* The responder's line for its n-th session (1-based), waiting up to 5 s for it. */
static bool responder_stats(struct stats_line *s, const char *log, int nth)
{
    for (int tries = 0; tries < 250; tries++) {
        FILE *fp = fopen(log, "r");
        char line[1024];
        int seen = 0;
        while (fp && fgets(line, sizeof(line), fp))
            if (strncmp(line, "session ", 8) == 0 && ++seen == nth) {
                fclose(fp);
                return parse_stats(s, line + 8);
            }
        if (fp)
            fclose(fp);
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    return false;
}

static int serve_port(const char *log)
{
    for (int tries = 0; tries < 500; tries++) {
        FILE *fp = fopen(log, "r");
        char line[256];
        int port = 0;
        while (fp && fgets(line, sizeof(line), fp))
            if (sscanf(line, "port %d", &port) == 1)
                break;
        if (fp)
            fclose(fp);
        if (port > 0)
            return port;
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    fprintf(stderr, "bench_sync: the serving helper did not start\n");
    exit(1);
}

static void git_head(char out[GIT_OID_HEXSZ + 1], const char *repo)
{
    char *argv[] = {"git", "-C", (char *)repo, "rev-parse", "refs/heads/main", NULL};
    struct child_result r;
    run_checked(&r, argv);
    snprintf(out, GIT_OID_HEXSZ + 1, "%s", r.out);
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, int n)
{
    qsort(v, (size_t)n, sizeof(*v), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void sync_once(struct child_result *r, struct stats_line *st, const char *node,
                      const char *port, const char *key)
{
    char *argv[] = {self_exe, "--initiate", (char *)node, (char *)port, (char *)key, NULL};
    run_checked(r, argv);
    if (!parse_stats(st, r->out) || st->rc != 0) {
        fprintf(stderr, "bench_sync: the session reported: %s\n", r->out);
        exit(1);
    }
}

static void print_phases(const char *who, const struct stats_line *s)
{
    printf("    %-22s negotiate %8.1f  build+send %8.1f  receive %8.1f (index %8.1f)  "
           "check %8.1f  accept %6.1f  total %8.1f ms\n",
           who, s->negotiate, s->build, s->receive, s->index, s->check, s->accept, s->total);
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_sync [--commits N] [--dir DIR] [--rounds R]\n"
                    "  N commits in the source history (default 100000); DIR keeps the generated\n"
                    "  store for later runs with the same N; R incremental rounds (default 5)\n");
    exit(2);
}

int main(int argc, char **argv)
{
    long commits = 100000;
    int rounds = 5;
    const char *dir = NULL;
    if (argc >= 5 && strcmp(argv[1], "--initiate") == 0)
        return helper_initiate(argv[2], argv[3], argv[4]);
    if (argc >= 3 && strcmp(argv[1], "--serve") == 0)
        return helper_serve(argv[2]);
    if (argc >= 3 && strcmp(argv[1], "--pack") == 0)
        return helper_pack(argv[2]);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--commits") == 0 && i + 1 < argc)
            commits = strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc)
            dir = argv[++i];
        else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
            rounds = (int)strtol(argv[++i], NULL, 10);
        else
            usage();
    }
    if (commits < 1 || rounds < 1 || rounds > MAX_ROUNDS)
        usage();
    ssize_t len = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);
    if (len <= 0)
        die_errno("finding this program");
    self_exe[len] = '\0';
    signal(SIGPIPE, SIG_IGN);
    main_pid = getpid();
    atexit(stop_services);
    if (twin_global_init(false))
        die("initialising");

    char base[4096], work[4300], tmpl[4096];
    bool own_base = dir == NULL;
    if (own_base) {
        const char *tmp = getenv("TMPDIR");
        snprintf(tmpl, sizeof(tmpl), "%s/twin-bench-sync-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(tmpl))
            die_errno("making a temporary directory");
        snprintf(base, sizeof(base), "%s", tmpl);
    } else {
        if (mkdir(dir, 0755) != 0 && errno != EEXIST)
            die_errno("making --dir");
        if (!realpath(dir, base))
            die_errno("resolving --dir");
    }
    if (generated_commits(base) != commits) {
        fprintf(stderr, "bench_sync: generating a %ld-commit history in %s\n", commits, base);
        generate(base, commits);
    } else {
        fprintf(stderr, "bench_sync: reusing the %ld-commit history in %s\n", commits, base);
    }

    /* Each run works on copies, so the generated store stays as it was. */
    snprintf(work, sizeof(work), "%s/run", base);
    remove_tree(work);
    if (mkdir(work, 0755) != 0)
        die_errno("making the run directory");
    shell("cp -a '%s/src' '%s/fresh' '%s/'", base, base, work);
    shell("cat '%s'/src/repo.git/objects/pack/* >/dev/null", work);
    char src[4400], dst[4400], gitdst[4400], serve_log[4400], daemon_log[4400];
    snprintf(src, sizeof(src), "%s/src", work);
    snprintf(dst, sizeof(dst), "%s/fresh", work);
    snprintf(gitdst, sizeof(gitdst), "%s/git-clone.git", work);
    snprintf(serve_log, sizeof(serve_log), "%s/serve.log", work);
    snprintf(daemon_log, sizeof(daemon_log), "%s/daemon.log", work);
    char src_repo[4500];
    snprintf(src_repo, sizeof(src_repo), "%s/repo.git", src);

    twin_node *srcnode = NULL;
    if (twin_ops_open(&srcnode, src))
        die("opening the source node");
    char key_hex[2 * TWIN_PUBKEY_BYTES + 1];
    for (size_t i = 0; i < TWIN_PUBKEY_BYTES; i++)
        snprintf(key_hex + 2 * i, 3, "%02x", twin_node_key(srcnode)->pk[i]);

    /* The services: the twin node serving, and git daemon over the same bare repository. */
    char *serve_argv[] = {self_exe, "--serve", src, NULL};
    pid_t serve_pid = start_service(serve_argv, serve_log);
    char port[16];
    snprintf(port, sizeof(port), "%d", serve_port(serve_log));
    int gport = free_port();
    char base_path[4500], port_arg[32], url[4600];
    snprintf(base_path, sizeof(base_path), "--base-path=%s", work);
    snprintf(port_arg, sizeof(port_arg), "--port=%d", gport);
    snprintf(url, sizeof(url), "git://127.0.0.1:%d/src/repo.git", gport);
    char *daemon_argv[] = {"git",         "daemon",  "--export-all",
                           "--reuseaddr", base_path, "--listen=127.0.0.1",
                           port_arg,      NULL};
    pid_t daemon_pid = start_service(daemon_argv, daemon_log);
    for (int i = 0; i < 250 && !port_open(gport); i++) {
        struct timespec ts = {0, 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (!port_open(gport)) {
        fprintf(stderr, "bench_sync: git daemon did not start (see %s)\n", daemon_log);
        exit(1);
    }

    int sessions = 0;
    char src_head[GIT_OID_HEXSZ + 1], git_dst_head[GIT_OID_HEXSZ + 1];

    /* 1. Initial sync. */
    struct child_result tw_init, git_clone;
    struct stats_line init_st, init_resp;
    sync_once(&tw_init, &init_st, dst, port, key_hex);
    sessions++;
    if (!responder_stats(&init_resp, serve_log, sessions))
        memset(&init_resp, 0, sizeof(init_resp));
    char *clone_argv[] = {"git", "clone", "--bare", "--quiet", url, gitdst, NULL};
    run_checked(&git_clone, clone_argv);
    git_head(src_head, src_repo);
    git_head(git_dst_head, gitdst);
    if (strcmp(init_st.head, src_head) != 0 || strcmp(git_dst_head, src_head) != 0) {
        fprintf(stderr, "bench_sync: after the initial sync the heads differ\n");
        exit(1);
    }

    /* 2. No-op, then incremental rounds of one new commit. */
    struct child_result tw_noop, git_noop, r;
    struct stats_line noop_st, st, inc_resp = {0};
    char *fetch_argv[] = {
        "git", "-C", gitdst, "fetch", "--quiet", "origin", "+refs/heads/main:refs/heads/main",
        NULL};
    sync_once(&tw_noop, &noop_st, dst, port, key_hex);
    sessions++;
    run_checked(&git_noop, fetch_argv);
    double tw_ms[MAX_ROUNDS], tw_session_ms[MAX_ROUNDS], git_ms[MAX_ROUNDS];
    long tw_rss = 0, git_rss = 0;
    unsigned max_rt = 0;
    for (int i = 0; i < rounds; i++) {
        add_note(srcnode, commits + 1 + i);
        sync_once(&r, &st, dst, port, key_hex);
        sessions++;
        if (st.received != 1) {
            fprintf(stderr, "bench_sync: an incremental session took %zu commits, not 1\n",
                    st.received);
            exit(1);
        }
        tw_ms[i] = r.wall_s * 1e3;
        tw_session_ms[i] = st.total;
        tw_rss = r.maxrss_kb > tw_rss ? r.maxrss_kb : tw_rss;
        max_rt = st.rt > max_rt ? st.rt : max_rt;
        if (i == rounds - 1 && !responder_stats(&inc_resp, serve_log, sessions))
            memset(&inc_resp, 0, sizeof(inc_resp));
        run_checked(&r, fetch_argv);
        git_ms[i] = r.wall_s * 1e3;
        git_rss = r.maxrss_kb > git_rss ? r.maxrss_kb : git_rss;
    }
    git_head(src_head, src_repo);
    git_head(git_dst_head, gitdst);
    if (strcmp(st.head, src_head) != 0 || strcmp(git_dst_head, src_head) != 0) {
        fprintf(stderr, "bench_sync: after the incremental syncs the heads differ\n");
        exit(1);
    }
    double daemon_cpu = stop_service(daemon_pid), serve_cpu = stop_service(serve_pid);
    twin_node_free(srcnode);

    char pack_du[256] = "";
    {
        char cmd[4600];
        snprintf(cmd, sizeof(cmd),
                 "du -sk '%s/repo.git/objects/pack' '%s/objects/pack' | cut -f1 | "
                 "paste -sd' '",
                 dst, gitdst);
        FILE *p = popen(cmd, "r");
        if (p) {
            if (!fgets(pack_du, sizeof(pack_du), p))
                pack_du[0] = '\0';
            pclose(p);
        }
        pack_du[strcspn(pack_du, "\n")] = '\0';
    }
    long twin_kb = 0, git_kb = 0;
    sscanf(pack_du, "%ld %ld", &twin_kb, &git_kb);

    double tw_med = median(tw_ms, rounds), tw_sess_med = median(tw_session_ms, rounds),
           git_med = median(git_ms, rounds);
    printf("twin sync benchmark: %ld-commit history (+ genesis and one member commit), "
           "loopback, %d incremental rounds\n\n",
           commits, rounds);
    printf("initial sync (whole history to a fresh node)\n");
    printf("  twin (every commit checked)  %8.2f s  (receiver CPU %6.2f s)  %zu commits checked   "
           "peak RSS %6.1f MB   stored %.1f MB\n",
           tw_init.wall_s, tw_init.cpu_s, init_st.received, tw_init.maxrss_kb / 1024.0,
           twin_kb / 1024.0);
    printf("  git clone --bare (git://)    %8.2f s  (receiver CPU %6.2f s)  no signature checked  "
           "peak RSS %6.1f MB   stored %.1f MB\n",
           git_clone.wall_s, git_clone.cpu_s, git_clone.maxrss_kb / 1024.0, git_kb / 1024.0);
    printf("  ratio twin/git               %8.2fx   (target <= 2x; RSS target <= 150 MB)\n",
           tw_init.wall_s / git_clone.wall_s);
    print_phases("receiver (initiator)", &init_st);
    print_phases("sender (responder)", &init_resp);
    printf("    senders' CPU over the whole run: twin %.2f s, git daemon and its children %.2f s\n",
           serve_cpu, daemon_cpu);
    printf("\nincremental sync of 1 new commit (median of %d)\n", rounds);
    printf("  twin sync process            %8.1f ms  (session after the handshake %.1f ms), "
           "%u round trips after the handshake, peak RSS %.1f MB\n",
           tw_med, tw_sess_med, max_rt, tw_rss / 1024.0);
    printf("  git fetch (git://)           %8.1f ms  peak RSS %.1f MB\n", git_med,
           git_rss / 1024.0);
    printf("  ratio twin/git               %8.2fx   (target <= 50 ms and <= 3 round trips)\n",
           tw_med / git_med);
    print_phases("receiver (initiator)", &st);
    print_phases("sender (responder)", &inc_resp);
    printf("\nno-op (heads equal)\n");
    printf("  twin sync process            %8.1f ms  (%u round trips)\n", tw_noop.wall_s * 1e3,
           noop_st.rt);
    printf("  git fetch                    %8.1f ms\n", git_noop.wall_s * 1e3);

    remove_tree(work);
    if (own_base)
        remove_tree(base);
    twin_global_shutdown();
    return 0;
}
