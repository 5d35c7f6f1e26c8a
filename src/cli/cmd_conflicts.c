/* twin conflicts and twin resolve: the values merges set aside, and settling them. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "fields.h"
#include "twin/error.h"
#include "twin/ops.h"

struct gather {
    json_t *list;
};

static int gather(json_t *rec, void *ctx)
{
    struct gather *g = ctx;
    if (json_array_size(json_object_get(rec, "conflicts")) > 0)
        json_array_append(g->list, rec);
    return 0;
}

int cmd_conflicts(struct cli *c, int argc, char **argv)
{
    if (argc > 2)
        return cli_usage_error("conflicts", "give at most one record type");
    int code = cli_open(c);
    if (code)
        return code;
    struct gather g = {json_array()};
    int rc = twin_ops_foreach(c->node, NULL, argc == 2 ? argv[1] : NULL, gather, &g);
    if (rc) {
        json_decref(g.list);
        return cli_fail(rc);
    }
    if (c->json) {
        json_t *out = json_array();
        size_t i;
        json_t *rec;
        json_array_foreach(g.list, i, rec)
        {
            json_t *sealed = json_object_get(rec, "sealed");
            if (sealed) /* only what every node sees: the blob ids of the versions set aside */
                json_array_append_new(
                    out, json_pack("{s:O, s:O, s:{s:O}, s:O}", "id", json_object_get(rec, "id"),
                                   "type", json_object_get(rec, "type"), "sealed", "audience",
                                   json_object_get(sealed, "audience"), "conflicts",
                                   json_object_get(rec, "conflicts")));
            else
                json_array_append_new(
                    out, json_pack("{s:O, s:O, s:s, s:O}", "id", json_object_get(rec, "id"), "type",
                                   json_object_get(rec, "type"), "title", twin_record_title(rec),
                                   "conflicts", json_object_get(rec, "conflicts")));
        }
        cli_print_json(out);
        json_decref(out);
    } else if (json_array_size(g.list) == 0) {
        printf("No unresolved conflicts.\n");
    } else {
        size_t i, j;
        json_t *rec, *conflict;
        bool clear = false;
        json_array_foreach(g.list, i, rec)
        {
            if (json_object_get(rec, "sealed")) {
                char *audience = cli_audience_text(rec);
                size_t k = json_array_size(json_object_get(rec, "conflicts"));
                printf("%s  %s  (sealed to %s)\n", json_string_value(json_object_get(rec, "id")),
                       json_string_value(json_object_get(rec, "type")), audience ? audience : "");
                printf("  %zu version%s a merge set aside, whole:\n", k, k == 1 ? "" : "s");
                json_array_foreach(json_object_get(rec, "conflicts"), j, conflict)
                    printf("    blob %s\n", json_string_value(conflict));
                free(audience);
                continue;
            }
            clear = true;
            printf("%s  %s  %s\n", json_string_value(json_object_get(rec, "id")),
                   json_string_value(json_object_get(rec, "type")), twin_record_title(rec));
            json_array_foreach(json_object_get(rec, "conflicts"), j, conflict)
            {
                const char *field = json_string_value(json_object_get(conflict, "field"));
                if (!field)
                    continue;
                char *kept =
                    json_dumps(twin_record_get_path(rec, field), JSON_ENCODE_ANY | JSON_COMPACT);
                json_t *other = json_object_get(conflict, "value");
                char *lost = other ? json_dumps(other, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
                printf("  %s: kept %s; also written: %s (commit %.12s)\n", field,
                       kept ? kept : "(absent)", lost ? lost : "(absent)",
                       json_string_value(json_object_get(conflict, "from")));
                free(kept);
                free(lost);
            }
        }
        if (clear)
            printf("Settle one with: twin resolve ID FIELD=VALUE\n");
    }
    json_decref(g.list);
    return CLI_OK;
}

struct resolution {
    int n;
    char **assign;
};

/* Sets the fields and drops the conflicts they settle (the field itself or anything under it). */
static int resolve(json_t *rec, void *ctx)
{
    struct resolution *r = ctx;
    json_t *conflicts = json_object_get(rec, "conflicts");
    for (int i = 0; i < r->n; i++) {
        const char *eq = strchr(r->assign[i], '=');
        size_t flen = eq ? (size_t)(eq - r->assign[i]) : 0;
        bool found = false;
        for (size_t j = json_array_size(conflicts); j-- > 0;) {
            const char *field =
                json_string_value(json_object_get(json_array_get(conflicts, j), "field"));
            if (field && strncmp(field, r->assign[i], flen) == 0 &&
                (field[flen] == '\0' || field[flen] == '.')) {
                json_array_remove(conflicts, j);
                found = true;
            }
        }
        if (!found)
            return twin_error(TWIN_EINVALID,
                              "%.*s: no conflict on this field (see: twin conflicts)", (int)flen,
                              r->assign[i]);
    }
    if (json_array_size(conflicts) == 0)
        json_object_del(rec, "conflicts");
    return cli_apply_assignments(rec, r->n, r->assign);
}

int cmd_resolve(struct cli *c, int argc, char **argv)
{
    if (argc < 3)
        return cli_usage_error("resolve", "give a record id and FIELD=VALUE for each conflict");
    for (int i = 2; i < argc; i++)
        if (!strchr(argv[i], '=') || argv[i][0] == '=')
            return cli_usage_error("resolve", "'%s' is not FIELD=VALUE", argv[i]);
    int code = cli_open(c);
    if (code)
        return code;
    struct resolution r = {argc - 2, argv + 2};
    git_oid commit;
    int rc = twin_ops_update(&commit, c->node, argv[1], "resolve", resolve, &r);
    if (rc)
        return cli_fail(rc);
    cli_report_change(c, "Resolved", argv[1], &commit);
    return CLI_OK;
}
