/*
 * Sealing benchmark: what sealed records cost beside records in the clear, in one run.
 *
 *   bench_seal [--adds N] [--records M]
 *
 * Two measures, each on the same work done in the clear and sealed (to every member, here two
 * institutions, so each version is wrapped to two keys):
 *   - add: N records added one by one, each its own signed commit, as `twin add` writes them;
 *   - sync: a history of M records (one signed commit each, written through the batched writer)
 *     taken by a fresh member node in one session over 127.0.0.1, every commit checked by the
 *     validity predicate; sealed, the session also carries the M x 2 wraps, each checked at the
 *     head before it is kept;
 *   - a later sync: the source adds 100 more records, each its own commit as `twin add` writes
 *     them, and the member takes them in a second session (with 200 wraps when sealed).
 * The clear and sealed runs alternate, and each figure is the median of five, in elapsed time and
 * in this process's CPU time (both nodes of the sync run in it), which other load on the machine
 * inflates less. The figures are printed with their ratio (sealed / clear), never judged:
 * [privacy] asks that sealing add at most 20% to either.
 */
#define _XOPEN_SOURCE 700
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"
#include "twin/error.h"
#include "twin/global.h"
#include "twin/listener.h"
#include "twin/network.h"
#include "twin/node.h"
#include "twin/ops.h"
#include "twin/record.h"
#include "twin/sync.h"

#define RUNS 5

static const struct twin_identity north_who = {"Ministry North", "XE-EXAMPLE-N", "NL", "north",
                                               NULL};
static const struct twin_identity south_who = {"Ministry South", "XE-EXAMPLE-S", "TZ", "south",
                                               NULL};
static const char *const members_only[] = {TWIN_AUDIENCE_MEMBERS};
static const struct twin_audience members = {members_only, 1};

static void die(const char *what)
{
    fprintf(stderr, "bench_seal: %s: %s\n", what, twin_error_last());
    exit(1);
}

static int note_fields(json_t *rec, void *ctx)
{
    long i = *(const long *)ctx;
    char title[64], body[200];
    snprintf(title, sizeof(title), "Weekly note %ld", i);
    snprintf(body, sizeof(body),
             "Steering group met; item %ld reviewed, %ld actions open, next review in week %ld.", i,
             i % 17, i % 52 + 1);
    int rc = twin_record_set_path(rec, "title", title);
    if (rc == 0)
        rc = twin_record_set_path(rec, "kind", "decision");
    if (rc == 0)
        rc = twin_record_set_path(rec, "body", body);
    return rc;
}

/* A network of two members in dir/north and dir/south; *north and *south stay open. */
static void make_pair(const char *dir, twin_node **north, twin_node **south)
{
    char n[4200], s[4200];
    git_oid c;
    snprintf(n, sizeof(n), "%s/north", dir);
    snprintf(s, sizeof(s), "%s/south", dir);
    if (twin_network_create(north, n, &north_who, "Sealing benchmark"))
        die("founding the network");
    if (twin_node_init(south, s, &south_who, NULL, NULL, twin_node_network_id(*north)))
        die("making the second node");
    if (twin_ops_member_add(&c, *north, &south_who, "editor", twin_node_key(*south)->pk))
        die("admitting the second node");
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v)
{
    qsort(v, RUNS, sizeof(*v), cmp_double);
    return v[RUNS / 2];
}

/* Seconds for n adds on a fresh pair, sealed or not; *cpu: of this process's CPU time. */
static double time_adds(const char *base, long n, bool sealed, int run, double *cpu)
{
    char dir[4200];
    twin_node *north = NULL, *south = NULL;
    snprintf(dir, sizeof(dir), "%s/adds-%s-%d", base, sealed ? "sealed" : "clear", run);
    make_pair(dir, &north, &south);
    double start = now_s(), cpu_start = cpu_s();
    for (long i = 0; i < n; i++) {
        char id[TWIN_ID_LEN + 1];
        git_oid c;
        if (twin_ops_add_sealed(id, &c, north, "note", sealed ? &members : NULL, note_fields, &i))
            die("adding a note");
    }
    double took = now_s() - start;
    *cpu = cpu_s() - cpu_start;
    twin_node_free(north);
    twin_node_free(south);
    bench_remove_tree(dir);
    return took;
}

struct serving {
    const char *dir;
};

static void quiet(void *ctx, int level, const char *line)
{
    (void)ctx;
    (void)line;
}

static void serve_session(void *ctx, twin_channel *ch)
{
    struct serving *s = ctx;
    twin_node *n = NULL;
    struct twin_sync_stats st = {0};
    if (twin_ops_open(&n, s->dir) == 0 && twin_sync_respond(&st, n, ch))
        fprintf(stderr, "bench_seal: serving: %s\n", twin_error_last());
    twin_node_free(n);
}

/* What one sync took: seconds elapsed, and of this process's CPU time, which both sides of the
 * session use (the source serves from a thread). */
struct took {
    double s, cpu;
};

/* A fresh member takes m records (sealed or not) in one session (*fresh); then the source adds
 * INCREMENT more, each its own commit, and the member takes them in a second session (*later). */
#define INCREMENT 100
static void time_sync(const char *base, long m, bool sealed, int run, struct took *fresh,
                      struct took *later)
{
    char dir[4200], ndir[4300], sdir[4300];
    twin_node *north = NULL, *south = NULL;
    twin_batch *b = NULL;
    snprintf(dir, sizeof(dir), "%s/sync-%s-%d", base, sealed ? "sealed" : "clear", run);
    snprintf(ndir, sizeof(ndir), "%s/north", dir);
    snprintf(sdir, sizeof(sdir), "%s/south", dir);
    make_pair(dir, &north, &south);
    if (twin_ops_batch_begin(&b, north, 10000))
        die("starting a batch");
    for (long i = 0; i < m; i++) {
        char id[TWIN_ID_LEN + 1];
        git_oid c;
        if (twin_ops_batch_add_sealed(id, &c, b, "note", sealed ? &members : NULL, note_fields, &i))
            die("adding a note");
    }
    if (twin_batch_flush(b))
        die("writing the history");
    twin_batch_free(b);
    twin_node_free(north);
    if (twin_ops_open(&north, ndir))
        die("opening the source");

    struct serving sv = {ndir};
    twin_listener *l = NULL;
    twin_listener_config cfg = {
        .host = "127.0.0.1",
        .port = "0",
        .channel = {.key = twin_node_key(north),
                    .network_id = twin_node_network_id(north),
                    .authorize = twin_sync_authorize,
                    .authorize_ctx = ndir},
        .session = serve_session,
        .session_ctx = &sv,
        .log = quiet,
    };
    if (twin_listener_start(&l, &cfg))
        die("serving the source");
    char port[16];
    snprintf(port, sizeof(port), "%d", twin_listener_port(l));
    struct twin_sync_stats st = {0};
    double start = now_s(), cpu_start = cpu_s();
    if (twin_sync_peer(&st, south, "127.0.0.1", port, twin_node_key(north)->pk, NULL))
        die("syncing");
    fresh->s = now_s() - start;
    fresh->cpu = cpu_s() - cpu_start;
    double took = fresh->s;
    if (getenv("BENCH_SEAL_DETAIL")) {
        char path[4400];
        struct stat db = {0}, log = {0};
        snprintf(path, sizeof(path), "%s/wraps.db", sdir);
        stat(path, &db);
        snprintf(path, sizeof(path), "%s/wraps.db-wal", sdir);
        stat(path, &log);
        fprintf(stderr,
                "%s: took %.0f ms; session %.0f ms, receive %.0f, index %.0f, check %.0f, accept "
                "%.0f, wraps %.0f; the member's wrap store %lld bytes, its log %lld\n",
                sealed ? "sealed" : "clear", took * 1000, st.total_ms, st.receive_ms, st.index_ms,
                st.check_ms, st.accept_ms, st.wraps_ms, (long long)db.st_size,
                (long long)log.st_size);
    }
    if (st.received_commits < (size_t)m)
        fprintf(stderr, "bench_seal: the session took %zu commits, not %ld\n", st.received_commits,
                m);
    if (sealed && st.wraps_kept < (size_t)(2 * m))
        fprintf(stderr, "bench_seal: the session kept %zu wraps, not %ld\n", st.wraps_kept, 2 * m);
    for (long i = m; i < m + INCREMENT; i++) {
        char id[TWIN_ID_LEN + 1];
        git_oid c;
        if (twin_ops_add_sealed(id, &c, north, "note", sealed ? &members : NULL, note_fields, &i))
            die("adding a note");
    }
    start = now_s(), cpu_start = cpu_s();
    if (twin_sync_peer(&st, south, "127.0.0.1", port, twin_node_key(north)->pk, NULL))
        die("syncing again");
    later->s = now_s() - start;
    later->cpu = cpu_s() - cpu_start;
    if (st.received_commits != INCREMENT || (sealed && st.wraps_kept != 2 * INCREMENT))
        fprintf(stderr, "bench_seal: the second session took %zu commits and %zu wraps\n",
                st.received_commits, st.wraps_kept);
    twin_listener_stop(l);
    twin_node_free(north);
    twin_node_free(south);
    bench_remove_tree(dir);
}

static void usage(void)
{
    fprintf(stderr, "usage: bench_seal [--adds N] [--records M]\n");
    exit(2);
}

int main(int argc, char **argv)
{
    long adds = 200, records = 10000;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--adds") == 0 && i + 1 < argc)
            adds = strtol(argv[++i], NULL, 10);
        else if (strcmp(argv[i], "--records") == 0 && i + 1 < argc)
            records = strtol(argv[++i], NULL, 10);
        else
            usage();
    }
    if (adds < 1 || records < 1)
        usage();
    if (twin_global_init(true))
        die("initialising");
    const char *tmp = getenv("TMPDIR");
    char base[4096];
    snprintf(base, sizeof(base), "%s/twin-bench-seal-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(base)) {
        perror("bench_seal: a temporary directory");
        return 1;
    }
    double clear[RUNS], sealed[RUNS], clear_cpu[RUNS], sealed_cpu[RUNS];
    for (int r = 0; r < RUNS; r++) {
        clear[r] = time_adds(base, adds, false, r, &clear_cpu[r]);
        sealed[r] = time_adds(base, adds, true, r, &sealed_cpu[r]);
    }
    double c = median(clear), s = median(sealed);
    double cc = median(clear_cpu), sc = median(sealed_cpu);
    printf("add, %ld records one by one (median of %d; elapsed, then CPU time):\n", adds, RUNS);
    printf("  clear   %8.2f ms per add  %8.2f ms CPU\n", 1000 * c / (double)adds,
           1000 * cc / (double)adds);
    printf("  sealed  %8.2f ms per add  %8.2f ms CPU\n", 1000 * s / (double)adds,
           1000 * sc / (double)adds);
    printf("  sealed / clear: %.2f elapsed, %.2f CPU\n", s / c, sc / cc);
    double clear_later[RUNS], sealed_later[RUNS], clear_later_cpu[RUNS], sealed_later_cpu[RUNS];
    for (int r = 0; r < RUNS; r++) {
        struct took cf, cl, sf, sl;
        time_sync(base, records, false, r, &cf, &cl);
        time_sync(base, records, true, r, &sf, &sl);
        clear[r] = cf.s, clear_cpu[r] = cf.cpu, sealed[r] = sf.s, sealed_cpu[r] = sf.cpu;
        clear_later[r] = cl.s, clear_later_cpu[r] = cl.cpu;
        sealed_later[r] = sl.s, sealed_later_cpu[r] = sl.cpu;
    }
    c = median(clear), s = median(sealed);
    cc = median(clear_cpu), sc = median(sealed_cpu);
    printf("sync, a fresh member takes %ld records in one session (median of %d; elapsed, then "
           "CPU time of both sides):\n",
           records, RUNS);
    printf("  clear   %8.3f s  %8.3f s CPU\n", c, cc);
    printf("  sealed  %8.3f s  %8.3f s CPU (with %ld wraps)\n", s, sc, 2 * records);
    printf("  sealed / clear: %.2f elapsed, %.2f CPU\n", s / c, sc / cc);
    c = median(clear_later), s = median(sealed_later);
    cc = median(clear_later_cpu), sc = median(sealed_later_cpu);
    printf("sync, the member then takes %d more, each its own commit (median of %d):\n", INCREMENT,
           RUNS);
    printf("  clear   %8.1f ms  %8.1f ms CPU\n", 1000 * c, 1000 * cc);
    printf("  sealed  %8.1f ms  %8.1f ms CPU (with %d wraps)\n", 1000 * s, 1000 * sc,
           2 * INCREMENT);
    printf("  sealed / clear: %.2f elapsed, %.2f CPU\n", s / c, sc / cc);
    bench_remove_tree(base);
    return 0;
}
