#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "twin/syncrun.h"
#include "twin/error.h"
#include "twin/invite.h"
#include "twin/util.h"

/* "90s", "30m", "12h", "7d" or plain seconds. */
static int parse_duration(int64_t *out, const char *text)
{
    char *end;
    long long v = strtoll(text, &end, 10);
    long long unit = 1;
    if (end == text || v <= 0)
        return -1;
    if (*end == 's')
        end++;
    else if (*end == 'm')
        unit = 60, end++;
    else if (*end == 'h')
        unit = 3600, end++;
    else if (*end == 'd')
        unit = 86400, end++;
    if (*end || v > TWIN_INVITE_MAX_TTL / unit)
        return -1;
    *out = v * unit;
    return 0;
}

int cmd_invite(struct cli *c, int argc, char **argv)
{
    const char *role = NULL, *expires = NULL, *address = NULL, *member = NULL;
    for (int i = 1; i < argc; i++) {
        int m;
        if ((m = cli_option(&role, &i, argc, argv, "--role")) ||
            (m = cli_option(&member, &i, argc, argv, "--member")) ||
            (m = cli_option(&expires, &i, argc, argv, "--expires")) ||
            (m = cli_option(&address, &i, argc, argv, "--address"))) {
            if (m < 0)
                return CLI_USAGE;
            continue;
        }
        return cli_usage_error("invite", "unexpected argument '%s'", argv[i]);
    }
    if (role && member)
        return cli_usage_error("invite", "--member keeps the member's role: give no --role");
    if (!role)
        role = "editor";
    int64_t ttl = TWIN_INVITE_DEFAULT_TTL;
    if (expires && parse_duration(&ttl, expires) != 0)
        return cli_usage_error("invite", "--expires takes a duration such as 90s, 30m, 12h or 7d "
                                         "(at most a year)");
    int code = cli_open(c);
    if (code)
        return code;
    char *recorded = NULL;
    if (!address && twin_node_config_get(&recorded, c->node, "twin.address") == 0)
        address = recorded;
    twin_error_clear();
    char *token = NULL;
    struct twin_invite inv;
    int rc = twin_invite_create(&token, &inv, c->node, address, role, ttl, member);
    if (rc) {
        free(recorded);
        return cli_fail(rc);
    }
    char when[TWIN_UTIL_TIME_BYTES];
    twin_util_format_time(when, inv.expires);
    if (c->json) {
        json_t *j = json_pack("{s:s, s:s, s:s, s:I, s:s}", "token", token, "role", inv.role,
                              "address", inv.address, "expires", (json_int_t)inv.expires,
                              "network_id", inv.network_id);
        if (j && member)
            json_object_set_new(j, "member", json_string(inv.member.org_id));
        cli_print_json(j);
        json_decref(j);
    } else {
        printf("%s\n", token);
        if (member)
            fprintf(stderr,
                    "twin: give this line to %s; it lets one new node of theirs join with a new "
                    "key, until %s, through this node at %s (keep twin serve running)\n",
                    inv.member.org_id, when, inv.address);
        else
            fprintf(stderr,
                    "twin: give this line to the new partner; it admits one institution as %s, "
                    "until %s, through this node at %s (keep twin serve running)\n",
                    inv.role, when, inv.address);
    }
    free(token);
    free(recorded);
    return CLI_OK;
}

int cmd_join(struct cli *c, int argc, char **argv)
{
    struct twin_identity who = {0};
    const char *token = NULL, *address = NULL;
    for (int i = 1; i < argc; i++) {
        int m = cli_identity_option(&who, &i, argc, argv);
        if (m == 0)
            m = cli_option(&address, &i, argc, argv, "--address");
        if (m < 0)
            return CLI_USAGE;
        if (m)
            continue;
        if (token || argv[i][0] == '-')
            return cli_usage_error("join", "unexpected argument '%s'", argv[i]);
        token = argv[i];
    }
    if (!token)
        return cli_usage_error("join", "give the invite token that twin invite printed");
    /* An invite for an existing member carries its identity: the new node joins under it. */
    struct twin_invite inv;
    int prc = twin_invite_parse(&inv, token);
    if (prc)
        return cli_fail(prc);
    sodium_memzero(inv.secret, sizeof(inv.secret)); /* only the member's identity is used here */
    if (inv.member.org_id[0]) {
        if (who.org_id && strcmp(who.org_id, inv.member.org_id) != 0)
            return cli_usage_error("join", "this invite is for member %s, not --org-id %s",
                                   inv.member.org_id, who.org_id);
        who.org_id = who.org_id ? who.org_id : inv.member.org_id;
        who.name = who.name ? who.name : inv.member.name;
        who.country = who.country ? who.country : inv.member.country;
        who.side = who.side ? who.side : inv.member.side;
        if (!who.org_type && inv.member.org_type[0])
            who.org_type = inv.member.org_type;
    }
    if (!who.name || !who.org_id || !who.country || !who.side)
        return cli_usage_error("join", "--name, --org-id, --country and --side are required");
    char *dir = twin_node_default_dir(c->dir_opt);
    if (!dir) {
        fprintf(stderr, "twin: no data directory: give --dir or set TWIN_DIR\n");
        return CLI_USAGE;
    }
    struct twin_sync_stats st = {0};
    int rc = twin_invite_join(&c->node, &st, dir, token, &who, address);
    if (rc == TWIN_EPENDING) { /* the node exists and knows its inviter; approval comes later */
        if (c->json) {
            json_t *j = json_pack("{s:s, s:s, s:b, s:s}", "dir", dir, "network_id",
                                  twin_node_network_id(c->node), "synced", false, "pending",
                                  twin_error_last());
            cli_print_json(j);
            json_decref(j);
        } else {
            printf("Created a node for %s (%s) in %s, joining network %s.\n%s.\n", who.name,
                   who.org_id, dir, twin_node_network_id(c->node), twin_error_last());
        }
        free(dir);
        return CLI_OK;
    }
    if (rc && !c->node) {
        free(dir);
        return cli_fail(rc);
    }
    char what[800];
    twin_syncrun_describe(what, sizeof(what), &st);
    if (c->json) {
        json_t *j = json_pack("{s:s, s:s, s:b, s:s}", "dir", dir, "network_id",
                              twin_node_network_id(c->node), "synced", rc == 0, "sync",
                              rc == 0 ? what : twin_error_last());
        cli_print_json(j);
        json_decref(j);
    } else {
        printf("Joined network %s as %s (%s), in %s.\n", twin_node_network_id(c->node), who.name,
               who.org_id, dir);
        if (rc == 0)
            printf("First sync: %s.\n", what);
    }
    cli_advise_backup(dir);
    free(dir);
    return rc ? cli_fail(rc) : CLI_OK;
}
