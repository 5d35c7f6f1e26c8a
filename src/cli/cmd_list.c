#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "twin/global.h"
#include "twin/error.h"
#include "twin/ops.h"

struct filter {
    const char *path;
    const char *value;
};

struct list_ctx {
    twin_node *node;
    struct filter *where;
    int nwhere;
    bool all;
    json_t *found; /* [{"out": what --json prints, "how": enum twin_sealing, "audience": "A, B"}] */
};

/* A sealed record this node cannot read never matches a --where: its fields are not known. */
static int collect(json_t *stored, void *ctx)
{
    struct list_ctx *l = ctx;
    json_t *rec = NULL, *out = NULL;
    enum twin_sealing how;
    int rc = twin_ops_unseal(&rec, &how, l->node, stored);
    if (rc)
        return rc;
    bool readable = how == TWIN_SEALING_CLEAR || how == TWIN_SEALING_OPENED;
    if ((!l->all && json_is_true(json_object_get(rec, "withdrawn"))) ||
        (!readable && l->nwhere > 0))
        goto done;
    for (int i = 0; i < l->nwhere; i++)
        if (!twin_record_field_is(rec, l->where[i].path, l->where[i].value))
            goto done;
    out = readable ? json_incref(rec) : cli_sealed_public(stored);
    char *audience = how == TWIN_SEALING_CLEAR ? NULL : cli_audience_text(stored);
    json_t *item =
        out ? json_pack("{s:o, s:i, s:s?}", "out", out, "how", (int)how, "audience", audience)
            : NULL;
    free(audience);
    if (!item || json_array_append_new(l->found, item))
        rc = twin_error(TWIN_ERROR, "out of memory");
done:
    json_decref(rec);
    return rc;
}

static const json_t *item_out(const json_t *item)
{
    return json_object_get(item, "out");
}

static int by_id(const void *a, const void *b)
{
    const json_t *x = item_out(*(json_t *const *)a), *y = item_out(*(json_t *const *)b);
    return strcmp(json_string_value(json_object_get(x, "id")),
                  json_string_value(json_object_get(y, "id")));
}

int cmd_list(struct cli *c, int argc, char **argv)
{
    const char *type = NULL;
    struct filter *where = calloc((size_t)argc, sizeof(*where));
    struct list_ctx l = {.where = where};
    int code = CLI_OK;
    if (!where)
        return CLI_CHECK_FAILED;
    for (int i = 1; i < argc; i++) {
        const char *w;
        int m = cli_option(&w, &i, argc, argv, "--where");
        if (m < 0) {
            code = CLI_USAGE;
            goto done;
        }
        if (m) {
            const char *eq = strchr(w, '=');
            if (!eq || eq == w) {
                code = cli_usage_error("list", "--where takes FIELD=VALUE, not '%s'", w);
                goto done;
            }
            where[l.nwhere].path = strndup(w, (size_t)(eq - w));
            where[l.nwhere++].value = eq + 1;
        } else if (strcmp(argv[i], "--all") == 0) {
            l.all = true;
        } else if (!type) {
            type = argv[i];
        } else {
            code = cli_usage_error("list", "unexpected argument '%s'", argv[i]);
            goto done;
        }
    }
    if ((code = cli_open(c)))
        goto done;
    twin_node_read_out(c->node); /* reading out, as git does: twin verify checks hashes */
    l.node = c->node;
    l.found = json_array();
    int rc = twin_ops_foreach(c->node, NULL, type, collect, &l);
    if (rc) {
        code = cli_fail(rc);
        goto done;
    }
    size_t n = json_array_size(l.found);
    json_t **items = malloc((n ? n : 1) * sizeof(*items));
    if (!items) {
        code = CLI_CHECK_FAILED;
        goto done;
    }
    for (size_t i = 0; i < n; i++)
        items[i] = json_array_get(l.found, i);
    qsort(items, n, sizeof(*items), by_id);
    if (c->json) {
        json_t *sorted = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append(sorted, json_object_get(items[i], "out"));
        cli_print_json(sorted);
        json_decref(sorted);
    } else {
        for (size_t i = 0; i < n; i++) {
            const json_t *rec = item_out(items[i]);
            int how = (int)json_integer_value(json_object_get(items[i], "how"));
            const char *audience = json_string_value(json_object_get(items[i], "audience"));
            const char *withdrawn =
                json_is_true(json_object_get(rec, "withdrawn")) ? "  (withdrawn)" : "";
            const char *id = json_string_value(json_object_get(rec, "id"));
            const char *rtype = json_string_value(json_object_get(rec, "type"));
            if (how == TWIN_SEALING_CLEAR)
                printf("%s  %-12s %s%s\n", id, rtype, twin_record_title(rec), withdrawn);
            else if (how == TWIN_SEALING_OPENED)
                printf("%s  %-12s %s  (sealed)%s\n", id, rtype, twin_record_title(rec), withdrawn);
            else if (how == TWIN_SEALING_CLOSED)
                printf("%s  %-12s (sealed to %s)%s\n", id, rtype, audience ? audience : "",
                       withdrawn);
            else
                printf("%s  %-12s (erased)%s\n", id, rtype, withdrawn);
        }
    }
    free(items);
done:
    for (int i = 0; i < l.nwhere; i++)
        free((char *)where[i].path);
    free(where);
    json_decref(l.found);
    return code;
}
