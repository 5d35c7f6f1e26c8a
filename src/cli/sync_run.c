/* One sync session with a configured peer, shared by `twin sync` and `twin serve`. */
#include "sync_run.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "twin/channel.h"
#include "twin/error.h"
#include "twin/sync.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

void cli_describe_sync(char *out, size_t size, const struct twin_sync_stats *st)
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
}

int cli_sync_peer(char *line, size_t line_size, twin_node *n, const struct twin_peer *p)
{
    twin_channel *ch = NULL;
    struct twin_sync_stats st;
    twin_channel_config cfg = {.key = twin_node_key(n), .network_id = twin_node_network_id(n)};
    double start = now_ms();
    char what[400];
    int rc = twin_channel_connect(&ch, p->host, p->port, p->key, &cfg);
    if (rc == 0)
        rc = twin_sync_initiate(&st, n, ch);
    twin_channel_free(ch);
    if (rc == 0) {
        cli_describe_sync(what, sizeof(what), &st);
        snprintf(line, line_size, "sync with %s: ok, %s (%.0f ms)", p->name, what,
                 now_ms() - start);
        char result[512];
        snprintf(result, sizeof(result), "ok: %s", what);
        twin_peers_record(n, p->name, result);
    } else {
        snprintf(line, line_size, "sync with %s (%s:%s): failed: %s", p->name, p->host, p->port,
                 twin_error_last());
        char result[512];
        snprintf(result, sizeof(result), "failed: %s", twin_error_last());
        twin_peers_record(n, p->name, result);
    }
    return rc;
}
