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
    struct filter *where;
    int nwhere;
    bool all;
    json_t *found;
};

static int collect(json_t *rec, void *ctx)
{
    struct list_ctx *l = ctx;
    if (!l->all && json_is_true(json_object_get(rec, "withdrawn")))
        return 0;
    for (int i = 0; i < l->nwhere; i++)
        if (!twin_record_field_is(rec, l->where[i].path, l->where[i].value))
            return 0;
    return json_array_append(l->found, rec) ? twin_error(TWIN_ERROR, "out of memory") : 0;
}

static int by_id(const void *a, const void *b)
{
    const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
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
            json_array_append(sorted, items[i]);
        cli_print_json(sorted);
        json_decref(sorted);
    } else {
        for (size_t i = 0; i < n; i++)
            printf("%s  %-12s %s%s\n", json_string_value(json_object_get(items[i], "id")),
                   json_string_value(json_object_get(items[i], "type")),
                   twin_record_title(items[i]),
                   json_is_true(json_object_get(items[i], "withdrawn")) ? "  (withdrawn)" : "");
    }
    free(items);
done:
    for (int i = 0; i < l.nwhere; i++)
        free((char *)where[i].path);
    free(where);
    json_decref(l.found);
    return code;
}
