/*
 * twin config: lists, reads, sets and unsets the node's settings (twin/settings.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "twin/error.h"
#include "twin/settings.h"

/* One setting as `--json` gives it: key, value (null when unset without a default), set,
 * default, writable, flag. */
static int setting_json(json_t **out, twin_node *n, const struct twin_setting *s)
{
    char *value = NULL;
    bool is_set = false;
    int rc = twin_settings_get(&value, &is_set, n, s->key);
    if (rc)
        return rc;
    *out = json_pack("{s:s, s:s?, s:b, s:s?, s:b, s:s?}", "key", s->key, "value", value, "set",
                     is_set, "default", s->fallback, "writable", s->writable, "flag", s->flag);
    free(value);
    return *out ? 0 : twin_error(TWIN_ERROR, "out of memory");
}

/* One setting as a line of the listing: its value and, in brackets, where it comes from. */
static int print_setting(twin_node *n, const struct twin_setting *s)
{
    char *value = NULL;
    bool is_set = false;
    int rc = twin_settings_get(&value, &is_set, n, s->key);
    if (rc)
        return rc;
    char note[200];
    if (!s->writable)
        snprintf(note, sizeof(note), "read-only");
    else if (!is_set && value)
        snprintf(note, sizeof(note), "default");
    else if (!is_set)
        snprintf(note, sizeof(note), "unset");
    else if (s->fallback)
        snprintf(note, sizeof(note), "default %s", s->fallback);
    else
        note[0] = '\0';
    if (note[0])
        printf("%-10s %s%s(%s)\n", s->key, value ? value : "", value ? " " : "", note);
    else
        printf("%-10s %s\n", s->key, value);
    free(value);
    return 0;
}

static int list_settings(struct cli *c)
{
    size_t count = 0;
    const struct twin_setting *all = twin_settings_all(&count);
    json_t *list = c->json ? json_array() : NULL;
    for (size_t i = 0; i < count; i++) {
        if (c->json) {
            json_t *j = NULL;
            int rc = setting_json(&j, c->node, &all[i]);
            if (rc) {
                json_decref(list);
                return cli_fail(rc);
            }
            json_array_append_new(list, j);
        } else {
            int rc = print_setting(c->node, &all[i]);
            if (rc)
                return cli_fail(rc);
        }
    }
    if (c->json) {
        cli_print_json(list);
        json_decref(list);
    }
    return CLI_OK;
}

static int show_setting(struct cli *c, const char *key)
{
    char *value = NULL;
    bool is_set = false;
    int rc = twin_settings_get(&value, &is_set, c->node, key);
    if (rc)
        return cli_fail(rc);
    if (c->json) {
        json_t *j = NULL;
        free(value);
        if ((rc = setting_json(&j, c->node, twin_settings_find(key))))
            return cli_fail(rc);
        cli_print_json(j);
        json_decref(j);
        return CLI_OK;
    }
    if (!value) {
        fprintf(stderr,
                "twin: %s is not set and has no default (set it with: twin config %s "
                "VALUE)\n",
                key, key);
        return CLI_CHECK_FAILED;
    }
    printf("%s\n", value);
    free(value);
    return CLI_OK;
}

int cmd_config(struct cli *c, int argc, char **argv)
{
    const char *unset = NULL, *args[2];
    int nargs = 0, code, rc;
    for (int i = 1; i < argc; i++) {
        int m;
        if ((m = cli_option(&unset, &i, argc, argv, "--unset"))) {
            if (m < 0)
                return CLI_USAGE;
            continue;
        }
        if (argv[i][0] == '-' && argv[i][1] == '-')
            return cli_usage_error("config", "unknown option '%s'", argv[i]);
        if (nargs == 2)
            return cli_usage_error("config",
                                   "unexpected argument '%s': config takes KEY and "
                                   "at most one VALUE",
                                   argv[i]);
        args[nargs++] = argv[i];
    }
    if (unset && nargs)
        return cli_usage_error("config", "--unset takes only the KEY");
    /* A value is checked before the node is opened: a typo is named even without a node. */
    if (nargs == 2 && (rc = twin_settings_check(args[0], args[1])))
        return cli_fail(rc);
    if ((code = cli_open(c)))
        return code;
    if (unset) {
        if ((rc = twin_settings_unset(c->node, unset)))
            return cli_fail(rc);
        if (!c->json) {
            const struct twin_setting *s = twin_settings_find(unset);
            if (s->fallback)
                printf("Unset %s: back to its default, %s.\n", unset, s->fallback);
            else
                printf("Unset %s.\n", unset);
        }
        return CLI_OK;
    }
    if (nargs == 0)
        return list_settings(c);
    if (nargs == 1)
        return show_setting(c, args[0]);
    if ((rc = twin_settings_set(c->node, args[0], args[1])))
        return cli_fail(rc);
    if (!c->json)
        printf("Set %s to %s.\n", args[0], args[1]);
    return CLI_OK;
}
