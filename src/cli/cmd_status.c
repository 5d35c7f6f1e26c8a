#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "twin/audit.h"
#include "twin/membership.h"
#include "twin/error.h"
#include "twin/ops.h"
#include "twin/peers.h"
#include "twin/util.h"

static json_t *peers_json(twin_node *n)
{
    struct twin_peer *peers = NULL;
    size_t count = 0;
    json_t *list = json_array();
    if (twin_peers_list(&peers, &count, n) == 0)
        for (size_t i = 0; i < count; i++)
            json_array_append_new(list, json_pack("{s:s, s:s, s:I, s:s}", "name", peers[i].name,
                                                  "address", peers[i].host, "last_time",
                                                  (json_int_t)peers[i].last_time, "last_result",
                                                  peers[i].last_result));
    free(peers);
    return list;
}

static void print_peers(twin_node *n)
{
    struct twin_peer *peers = NULL;
    size_t count = 0;
    if (twin_peers_list(&peers, &count, n) != 0)
        return;
    printf("peers:   %s\n",
           count ? "" : " none (add one with: twin peer add NAME HOST:PORT NODEKEY)");
    for (size_t i = 0; i < count; i++) {
        char when[TWIN_UTIL_TIME_BYTES] = "never synced";
        if (peers[i].last_time)
            twin_util_format_time(when, peers[i].last_time);
        printf("  %-16s %s:%s  %s%s%s\n", peers[i].name, peers[i].host, peers[i].port, when,
               peers[i].last_result[0] ? "  " : "", peers[i].last_result);
    }
    free(peers);
}

int cmd_status(struct cli *c, int argc, char **argv)
{
    if (argc > 1)
        return cli_usage_error("status", "unexpected argument '%s'", argv[1]);
    int code = cli_open(c);
    if (code)
        return code;
    twin_node_read_out(c->node); /* reading out, as git does: twin verify checks hashes */
    struct twin_status *st = NULL;
    int rc = twin_audit_status(&st, c->node);
    char node_id[TWIN_NODE_ID_LEN + 1];
    twin_key_node_id(node_id, twin_node_key(c->node)->pk);
    if (rc == TWIN_ENOHISTORY) {
        if (c->json) {
            json_t *j =
                json_pack("{s:s, s:s, s:s, s:n}", "network_id", twin_node_network_id(c->node),
                          "node_id", node_id, "org_id", twin_node_org_id(c->node), "head");
            cli_print_json(j);
            json_decref(j);
        } else {
            printf("network:  %s (no history yet)\nnode:     %s (%s)\n%s\n",
                   twin_node_network_id(c->node), twin_node_org_id(c->node), node_id,
                   twin_error_last());
        }
        return CLI_OK;
    }
    if (rc)
        return cli_fail(rc);
    const struct twin_membership *m = st->membership;
    const char *role = st->me ? twin_membership_role_name(st->me->role) : "not a member";
    const char *const *types = twin_record_types();
    if (c->json) {
        json_t *records = json_object();
        for (size_t i = 0; types[i]; i++)
            if (st->per_type[i])
                json_object_set_new(records, types[i], json_integer((json_int_t)st->per_type[i]));
        json_t *j = json_pack(
            "{s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:o, s:I, s:o}", "network_id", m->network_id,
            "network_name", m->network_name, "node_id", node_id, "org_id",
            twin_node_org_id(c->node), "role", role, "head", git_oid_tostr_s(&st->head), "commits",
            (json_int_t)st->commits, "members", (json_int_t)m->count, "records", records,
            "withdrawn", (json_int_t)st->withdrawn, "peers", peers_json(c->node));
        cli_print_json(j);
        json_decref(j);
    } else {
        char when[TWIN_UTIL_TIME_BYTES];
        twin_util_format_time(when, (long long)st->time);
        printf("network:  %s (%s)\n", m->network_name, m->network_id);
        printf("node:     %s, %s\n", twin_node_org_id(c->node), role);
        printf("head:     %s  %s\n          %s\n", git_oid_tostr_s(&st->head), when, st->summary);
        printf("history:  %zu commit%s, %zu member%s\n", st->commits, cli_s(st->commits), m->count,
               cli_s(m->count));
        printf("records: ");
        size_t total = 0;
        for (size_t i = 0; types[i]; i++)
            if (st->per_type[i]) {
                printf(" %s %zu", types[i], st->per_type[i]);
                total += st->per_type[i];
            }
        printf("%s (%zu withdrawn)\n", total ? "" : " none", st->withdrawn);
        print_peers(c->node);
    }
    twin_audit_status_free(st);
    return CLI_OK;
}
