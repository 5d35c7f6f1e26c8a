/* twin conflicts and twin resolve: the values merges set aside (of sealed records, whole versions,
 * compared with the head where this node reads them), and settling them. */
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

/* JSON as one line (malloc'd), "(absent)" when v is NULL; NULL when out of memory. */
static char *compact(const json_t *v)
{
    return v ? json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT) : strdup("(absent)");
}

/* For a sealed record this node reads (stored, its envelope at the head): *content is the head's
 * content, and *versions says of each version a merge set aside {"blob", "readable", "fields":
 * [{"field", "kept", "set_aside"}]}: the fields whose values differ from the head's, each value
 * left out where absent. Both stay NULL when this node cannot read the record. */
static int set_aside_versions(json_t **content, json_t **versions, twin_node *n,
                              const json_t *stored)
{
    enum twin_sealing how;
    *versions = NULL;
    int rc = twin_ops_unseal(content, &how, n, (json_t *)stored);
    if (rc || how != TWIN_SEALING_OPENED) {
        json_decref(*content);
        *content = NULL;
        return rc;
    }
    *versions = json_array();
    size_t i, k;
    json_t *blob, *field;
    json_array_foreach(json_object_get(stored, "conflicts"), i, blob)
    {
        json_t *theirs = NULL, *diff = NULL;
        rc = twin_ops_unseal_set_aside(&theirs, NULL, n, stored, json_string_value(blob));
        json_t *v = json_pack("{s:O, s:b}", "blob", blob, "readable", rc == 0);
        if (rc == TWIN_EDENIED) /* not for this node: said, not an error */
            rc = 0;
        else if (rc == 0 && (diff = twin_record_diff(*content, theirs)) != NULL) {
            json_t *fields = json_array();
            json_array_foreach(diff, k, field)
            {
                const char *path = json_string_value(field);
                json_t *f = json_pack("{s:s}", "field", path);
                json_t *kept = twin_record_get_path(*content, path);
                json_t *other = twin_record_get_path(theirs, path);
                if (kept)
                    json_object_set(f, "kept", kept);
                if (other)
                    json_object_set(f, "set_aside", other);
                json_array_append_new(fields, f);
            }
            json_object_set_new(v, "fields", fields);
        } else if (rc == 0)
            rc = twin_error(TWIN_ERROR, "out of memory");
        json_array_append_new(*versions, v);
        json_decref(diff);
        json_decref(theirs);
        if (rc)
            break;
    }
    if (rc) {
        json_decref(*content);
        json_decref(*versions);
        *content = *versions = NULL;
    }
    return rc;
}

/* What --json shows of one record with conflicts: a record in the clear with its field
 * conflicts; a sealed one with the blob ids every node sees and, where this node reads it, the
 * versions set aside compared with the head. */
static json_t *entry_json(const json_t *rec, const json_t *content, json_t *versions)
{
    const json_t *sealed = json_object_get(rec, "sealed");
    if (!sealed)
        return json_pack("{s:O, s:O, s:s, s:O}", "id", json_object_get(rec, "id"), "type",
                         json_object_get(rec, "type"), "title", twin_record_title(rec), "conflicts",
                         json_object_get(rec, "conflicts"));
    if (!content) /* only what every node sees: the blob ids of the versions set aside */
        return json_pack("{s:O, s:O, s:{s:O}, s:O}", "id", json_object_get(rec, "id"), "type",
                         json_object_get(rec, "type"), "sealed", "audience",
                         json_object_get(sealed, "audience"), "conflicts",
                         json_object_get(rec, "conflicts"));
    return json_pack("{s:O, s:O, s:s, s:{s:O, s:b}, s:O, s:O}", "id", json_object_get(rec, "id"),
                     "type", json_object_get(rec, "type"), "title", twin_record_title(content),
                     "sealed", "audience", json_object_get(sealed, "audience"), "readable", 1,
                     "conflicts", json_object_get(rec, "conflicts"), "versions", versions);
}

/* Prints a sealed record's versions set aside: their blob ids, and where this node reads them
 * (versions not NULL), the fields that differ from the head. */
static void print_sealed(const json_t *rec, const json_t *content, const json_t *versions)
{
    char *audience = cli_audience_text(rec);
    size_t k = json_array_size(json_object_get(rec, "conflicts")), j, f;
    json_t *conflict, *v, *field;
    if (content)
        printf("%s  %s  %s  (sealed to %s)\n", json_string_value(json_object_get(rec, "id")),
               json_string_value(json_object_get(rec, "type")), twin_record_title(content),
               audience ? audience : "");
    else
        printf("%s  %s  (sealed to %s)\n", json_string_value(json_object_get(rec, "id")),
               json_string_value(json_object_get(rec, "type")), audience ? audience : "");
    printf("  %zu version%s a merge set aside, whole:\n", k, k == 1 ? "" : "s");
    free(audience);
    if (!versions) {
        json_array_foreach(json_object_get(rec, "conflicts"), j, conflict)
            printf("    blob %s\n", json_string_value(conflict));
        return;
    }
    json_array_foreach(versions, j, v)
    {
        printf("    blob %s\n", json_string_value(json_object_get(v, "blob")));
        if (!json_is_true(json_object_get(v, "readable")))
            printf("      this node holds no key that opens this version\n");
        else if (json_array_size(json_object_get(v, "fields")) == 0)
            printf("      no field differs from the head's\n");
        json_array_foreach(json_object_get(v, "fields"), f, field)
        {
            char *kept = compact(json_object_get(field, "kept"));
            char *other = compact(json_object_get(field, "set_aside"));
            printf("      %s: kept %s; set aside: %s\n",
                   json_string_value(json_object_get(field, "field")), kept ? kept : "",
                   other ? other : "");
            free(kept);
            free(other);
        }
    }
}

/* Prints a record in the clear's field conflicts: the value kept and the one set aside. */
static void print_clear(const json_t *rec)
{
    size_t j;
    json_t *conflict;
    printf("%s  %s  %s\n", json_string_value(json_object_get(rec, "id")),
           json_string_value(json_object_get(rec, "type")), twin_record_title(rec));
    json_array_foreach(json_object_get(rec, "conflicts"), j, conflict)
    {
        const char *field = json_string_value(json_object_get(conflict, "field"));
        if (!field)
            continue;
        char *kept = compact(twin_record_get_path(rec, field));
        json_t *other = json_object_get(conflict, "value");
        char *lost = compact(other);
        printf("  %s: kept %s; also written: %s (commit %.12s)\n", field, kept ? kept : "",
               lost ? lost : "", json_string_value(json_object_get(conflict, "from")));
        free(kept);
        free(lost);
    }
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
    json_t *out = json_array(), *rec;
    bool clear = false, sealed = false;
    size_t i;
    if (rc == 0 && !c->json && json_array_size(g.list) == 0)
        printf("No unresolved conflicts.\n");
    json_array_foreach(g.list, i, rec)
    {
        json_t *content = NULL, *versions = NULL;
        if (rc || (json_object_get(rec, "sealed") &&
                   (rc = set_aside_versions(&content, &versions, c->node, rec))))
            break;
        if (c->json)
            json_array_append_new(out, entry_json(rec, content, versions));
        else if (json_object_get(rec, "sealed"))
            print_sealed(rec, content, versions);
        else
            print_clear(rec);
        clear = clear || !json_object_get(rec, "sealed");
        sealed = sealed || content;
        json_decref(content);
        json_decref(versions);
    }
    if (rc == 0 && c->json)
        cli_print_json(out);
    if (rc == 0 && !c->json && clear)
        printf("Settle one with: twin resolve ID FIELD=VALUE\n");
    if (rc == 0 && !c->json && sealed)
        printf("Settle a sealed one with: twin resolve ID --keep BLOB (its content) or --drop "
               "BLOB|all (the head's), with any FIELD=VALUE\n");
    json_decref(out);
    json_decref(g.list);
    return rc ? cli_fail(rc) : CLI_OK;
}

struct resolution {
    int n;
    char **assign;
};

/* Whether field is path or lies under it ("dates" holds "dates.planned_start"). */
static bool field_under(const char *field, const char *path)
{
    size_t n = strlen(path);
    return strncmp(field, path, n) == 0 && (field[n] == '\0' || field[n] == '.');
}

/* Sets the fields and drops the conflicts they settle: a conflict is on a field's whole value (a
 * list's too), and an assignment settles it when it sets that field or one that holds it. */
static int resolve(json_t *rec, void *ctx)
{
    struct resolution *r = ctx;
    json_t *conflicts = json_object_get(rec, "conflicts");
    for (int i = 0; i < r->n; i++) {
        struct twin_record_assignment a;
        int rc = twin_record_assignment_parse(&a, r->assign[i]);
        if (rc)
            return rc;
        bool whole = !a.append && !strchr(a.path, '[');
        bool found = false;
        for (size_t j = json_array_size(conflicts); j-- > 0;) {
            const char *field =
                json_string_value(json_object_get(json_array_get(conflicts, j), "field"));
            if (!field)
                continue;
            if (whole && field_under(field, a.path)) {
                json_array_remove(conflicts, j);
                found = true;
                continue;
            }
            size_t n = strlen(field);
            if (strncmp(a.path, field, n) == 0 &&
                (a.path[n] == '.' || a.path[n] == '[' || (a.path[n] == '\0' && a.append)))
                return twin_error(TWIN_EINVALID,
                                  "%s: the conflict is on %s as a whole; settle it with "
                                  "%s=VALUE (see: twin conflicts)",
                                  a.path, field, field);
        }
        if (!found)
            return twin_error(TWIN_EINVALID, "%s: no conflict on this field (see: twin conflicts)",
                              a.path);
    }
    if (json_array_size(conflicts) == 0)
        json_object_del(rec, "conflicts");
    return cli_apply_assignments(rec, r->n, r->assign, NULL);
}

/* Applies the FIELD=VALUE arguments: field changes on a sealed record's content kept. */
static int assign(json_t *rec, void *ctx)
{
    struct resolution *r = ctx;
    return cli_apply_assignments(rec, r->n, r->assign, NULL);
}

/* twin resolve ID [--keep BLOB] [--drop BLOB|all ...] [FIELD=VALUE ...]: a sealed record's
 * versions set aside, settled in one signed version. */
static int resolve_sealed(struct cli *c, const char *id, struct twin_sealed_resolution *how)
{
    git_oid commit;
    /* The library refuses too; this names the reason plainly. */
    int rc = cli_sealed_open(NULL, c->node, id, "resolve");
    if (rc == 0)
        rc = twin_ops_resolve_sealed(&commit, c->node, id, how);
    if (rc)
        return cli_fail(rc);
    cli_report_change(c, "Resolved", id, &commit);
    return CLI_OK;
}

int cmd_resolve(struct cli *c, int argc, char **argv)
{
    if (argc < 3)
        return cli_usage_error("resolve", "give a record id and FIELD=VALUE for each conflict, or "
                                          "for a sealed record --keep BLOB or --drop BLOB");
    char **assigns = calloc((size_t)argc, sizeof(*assigns));
    const char **drops = calloc((size_t)argc, sizeof(*drops));
    struct resolution r = {0, assigns};
    struct twin_sealed_resolution how = {.drop = drops, .ctx = &r};
    int code = assigns && drops ? CLI_OK : CLI_CHECK_FAILED;
    for (int i = 2; code == CLI_OK && i < argc; i++) {
        const char *v = NULL;
        int keep = cli_option(&v, &i, argc, argv, "--keep");
        int drop = keep ? 0 : cli_option(&v, &i, argc, argv, "--drop");
        if (keep < 0 || drop < 0)
            code = CLI_USAGE;
        else if (keep && how.keep)
            code = cli_usage_error("resolve", "give --keep once: one version's content is kept");
        else if (keep)
            how.keep = v;
        else if (drop && strcmp(v, "all") == 0)
            how.drop_all = true;
        else if (drop)
            drops[how.ndrop++] = v;
        else if (!strchr(argv[i], '=') || argv[i][0] == '=')
            code = cli_usage_error("resolve", "'%s' is not FIELD=VALUE", argv[i]);
        else
            assigns[r.n++] = argv[i];
    }
    bool sealed = how.keep || how.ndrop || how.drop_all;
    if (code == CLI_OK)
        code = cli_open(c);
    char idbuf[TWIN_ID_LEN + 1];
    if (code == CLI_OK)
        code = cli_record_id(idbuf, &argv[1], c->node, NULL);
    if (code == CLI_OK && sealed) {
        how.fn = r.n ? assign : NULL;
        code = resolve_sealed(c, argv[1], &how);
    } else if (code == CLI_OK) {
        json_t *stored = NULL;
        git_oid commit;
        int rc = twin_ops_get(&stored, c->node, NULL, NULL, argv[1]);
        if (rc == 0 && json_object_get(stored, "sealed"))
            rc = twin_error(TWIN_EINVALID,
                            "%s %s is sealed: a merge set aside whole versions of it, not field "
                            "values; settle them with --keep BLOB or --drop BLOB (see: twin "
                            "conflicts)",
                            json_string_value(json_object_get(stored, "type")), argv[1]);
        else
            rc = twin_ops_update(&commit, c->node, argv[1], "resolve", resolve, &r);
        json_decref(stored);
        code = rc ? cli_fail(rc) : CLI_OK;
        if (rc == 0)
            cli_report_change(c, "Resolved", argv[1], &commit);
    }
    free(assigns);
    free(drops);
    return code;
}
