#include <stdio.h>

#include "cli.h"
#include "twin/audit.h"
#include "twin/util.h"

struct log_ctx {
    bool json;
    json_t *list;
};

static int print_entry(const struct twin_log_entry *e, void *ctx)
{
    struct log_ctx *l = ctx;
    char when[TWIN_UTIL_TIME_BYTES], fp[64] = "";
    unsigned char pk[TWIN_PUBKEY_BYTES];
    twin_util_format_time(when, e->time);
    if (e->key[0] && twin_key_parse_openssh(pk, e->key) == 0)
        twin_key_fingerprint(fp, pk);
    if (l->json) {
        json_t *j = json_pack("{s:s, s:I, s:b, s:s, s:s, s:s, s:b, s:s}", "commit",
                              git_oid_tostr_s(&e->commit), "time", (json_int_t)e->time, "ahead",
                              e->ahead, "member", e->org_id, "key", e->key, "fingerprint", fp,
                              "valid", e->valid, "summary", e->summary);
        if (j && !e->valid)
            json_object_set_new(j, "fault", json_string(e->reason));
        json_array_append_new(l->list, j);
        return 0;
    }
    printf("commit %s\n", git_oid_tostr_s(&e->commit));
    printf("  date:      %s%s\n", when,
           e->ahead ? " (AHEAD: more than a day ahead of this node's clock)" : "");
    printf("  member:    %s\n", e->org_id[0] ? e->org_id : "(not a member)");
    printf("  key:       %s\n", fp[0] ? fp : "(none)");
    printf("  signature: %s%s%s\n", e->valid ? "good" : "BAD", e->valid ? "" : ": ",
           e->valid ? "" : e->reason);
    printf("  %s\n\n", e->summary);
    return 0;
}

int cmd_log(struct cli *c, int argc, char **argv)
{
    if (argc > 2)
        return cli_usage_error("log", "give at most one record id");
    char idbuf[TWIN_ID_LEN + 1];
    int code = cli_open(c);
    if (code || (argc == 2 && (code = cli_record_id(idbuf, &argv[1], c->node, NULL))))
        return code;
    struct log_ctx l = {c->json, c->json ? json_array() : NULL};
    int rc = twin_audit_log(c->node, argc == 2 ? argv[1] : NULL, print_entry, &l);
    if (rc == 0 && c->json)
        cli_print_json(l.list);
    json_decref(l.list);
    return rc ? cli_fail(rc) : CLI_OK;
}
