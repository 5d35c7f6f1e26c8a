/* Sync sessions with configured peers, retried and recorded (twin/syncrun.h). */
#include "twin/syncrun.h"

#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "twin/error.h"
#include "base/util.h"

/* Sessions run with one peer at most, while each loses a race. */
#define SYNC_ATTEMPTS 4

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

void twin_syncrun_describe(char *out, size_t size, const struct twin_sync_stats *st)
{
    snprintf(out, size, "received %zu commit%s, sent %zu%s%s", st->received_commits,
             st->received_commits == 1 ? "" : "s", st->sent_commits, st->merged ? ", merged" : "",
             st->conflicts ? " with conflicts" : "");
    if (st->conflicts) {
        size_t len = strlen(out);
        snprintf(out + len, size - len, " (%zu)", st->conflicts);
    }
    if (st->has_head) {
        size_t len = strlen(out);
        snprintf(out + len, size - len, ", head %.12s", git_oid_tostr_s(&st->head));
    }
    /* Sealed records' wraps, when any moved: received (of them kept, and dropped by the rules;
     * the rest this node held already) and sent. */
    if (st->wraps_received || st->wraps_kept || st->wraps_dropped || st->wraps_sent) {
        size_t len = strlen(out);
        snprintf(out + len, size - len, "; wraps: %zu received, %zu kept, %zu dropped, %zu sent",
                 st->wraps_received, st->wraps_kept, st->wraps_dropped, st->wraps_sent);
    }
    /* Received commits dated more than a day ahead of this node's clock, with their members. */
    if (st->nahead) {
        size_t len = strlen(out);
        snprintf(out + len, size - len,
                 "; %zu commit%s dated more than a day ahead of this node's "
                 "clock:",
                 st->nahead, st->nahead == 1 ? "" : "s");
    }
    for (size_t i = 0; i < st->nahead && i < TWIN_SYNC_AHEAD_LISTED; i++) {
        char when[TWIN_UTIL_TIME_BYTES];
        size_t len = strlen(out);
        twin_util_format_time(when, st->ahead[i].time);
        snprintf(out + len, size - len, "%s %.12s by %s, dated %s", i ? "," : "",
                 git_oid_tostr_s(&st->ahead[i].commit),
                 st->ahead[i].org_id[0] ? st->ahead[i].org_id : "(not a member)", when);
    }
    if (st->nahead > TWIN_SYNC_AHEAD_LISTED) {
        size_t len = strlen(out);
        snprintf(out + len, size - len, ", and %zu more (twin verify lists them all)",
                 st->nahead - TWIN_SYNC_AHEAD_LISTED);
    }
}

int twin_syncrun_peer(char *line, size_t line_size, twin_node *n, const struct twin_peer *p,
                      const struct twin_sync_opts *opts)
{
    return twin_syncrun_peer_head(line, line_size, n, p, opts, NULL);
}

int twin_syncrun_peer_head(char *line, size_t line_size, twin_node *n, const struct twin_peer *p,
                           const struct twin_sync_opts *opts, git_oid *agreed)
{
    struct twin_sync_stats st;
    int rc = twin_syncrun_peer_stats(line, line_size, n, p, opts, &st);
    if (rc == 0 && agreed && st.has_head)
        *agreed = st.head;
    return rc;
}

int twin_syncrun_peer_stats(char *line, size_t line_size, twin_node *n, const struct twin_peer *p,
                            const struct twin_sync_opts *opts, struct twin_sync_stats *stats)
{
    struct twin_sync_stats st;
    double start = now_ms();
    memset(&st, 0, sizeof(st));
    char what[800];
    int rc = 0, attempts = 0;
    /* A session that lost a race (either node changed meanwhile, or was busy with another
     * session) is simply run again: the next one starts from the new heads. */
    for (int attempt = 0; attempt < SYNC_ATTEMPTS; attempt++) {
        attempts++;
        if ((rc = twin_sync_peer(&st, n, p->host, p->port, p->key, opts)) != TWIN_ECONFLICT)
            break;
        /* Jittered, so two nodes that collided do not collide again. */
        long ms = 50 + (long)randombytes_uniform(200) + 150L * attempt;
        struct timespec pause = {ms / 1000, (ms % 1000) * 1000 * 1000};
        nanosleep(&pause, NULL);
    }
    /* Repeated sessions are named, so an admin (and a test counting the peer's log lines)
     * can tell one session from several. */
    char tries[32] = "";
    if (attempts > 1)
        snprintf(tries, sizeof(tries), "%d sessions, ", attempts);
    *stats = st;
    if (rc == 0) {
        twin_syncrun_describe(what, sizeof(what), &st);
        snprintf(line, line_size, "sync with %s: ok, %s (%s%.0f ms)", p->name, what, tries,
                 now_ms() - start);
        char result[1000];
        snprintf(result, sizeof(result), "ok: %s", what);
        twin_peers_record(n, p->name, result);
    } else {
        snprintf(line, line_size, "sync with %s (%s:%s): failed: %s (%s%.0f ms)", p->name, p->host,
                 p->port, twin_error_last(), tries, now_ms() - start);
        char result[512];
        snprintf(result, sizeof(result), "failed: %s", twin_error_last());
        twin_peers_record(n, p->name, result);
    }
    return rc;
}
