#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "twin/audit.h"
#include "twin/blame.h"
#include "twin/util.h"

/* A value on one line, cut to width. */
static void short_value(char *out, size_t size, const json_t *v)
{
    char *text = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
    const char *s = json_is_string(v) ? json_string_value(v) : text ? text : "";
    size_t n = 0;
    for (; s[n] && n + 1 < size; n++)
        out[n] = s[n] == '\n' || s[n] == '\t' ? ' ' : s[n];
    out[n] = '\0';
    if (s[n] && size > 4)
        memcpy(out + size - 4, "...", 4);
    free(text);
}

int cmd_blame(struct cli *c, int argc, char **argv)
{
    if (argc != 2)
        return cli_usage_error("blame", "give one record id");
    char idbuf[TWIN_ID_LEN + 1];
    int code = cli_open(c);
    if (code || (code = cli_record_id(idbuf, &argv[1], c->node, NULL)))
        return code;
    struct twin_blame *b = NULL;
    int rc = twin_blame(&b, c->node, argv[1]);
    if (rc)
        return cli_fail(rc);
    json_t *list = c->json ? json_array() : NULL;
    int width = 24; /* the field column: as wide as the longest path, up to 48 */
    for (size_t i = 0; i < b->count; i++)
        if (strlen(b->lines[i].field) > (size_t)width)
            width = strlen(b->lines[i].field) > 48 ? 48 : (int)strlen(b->lines[i].field);
    for (size_t i = 0; i < b->count; i++) {
        const struct twin_blame_line *l = &b->lines[i];
        char when[TWIN_UTIL_TIME_BYTES], fp[64] = "", value[41];
        unsigned char pk[TWIN_PUBKEY_BYTES];
        twin_util_format_time(when, l->time);
        if (l->key[0] && twin_key_parse_openssh(pk, l->key) == 0)
            twin_key_fingerprint(fp, pk);
        if (list) {
            json_array_append_new(list, json_pack("{s:s, s:O, s:s, s:I, s:s, s:s, s:s, s:b}",
                                                  "field", l->field, "value", l->value, "commit",
                                                  git_oid_tostr_s(&l->commit), "time",
                                                  (json_int_t)l->time, "member", l->org_id, "key",
                                                  l->key, "fingerprint", fp, "valid", l->valid));
            continue;
        }
        char commit[13];
        git_oid_tostr(commit, sizeof(commit), &l->commit);
        short_value(value, sizeof(value), l->value);
        printf("%-*s %-40s %s %s %-20s %s%s\n", width, l->field, value, commit, when,
               l->org_id[0] ? l->org_id : "(not a member)", fp[0] ? fp : "(unsigned)",
               l->valid ? "" : "  INVALID");
    }
    bool readable = b->sealing == TWIN_SEALING_CLEAR || b->sealing == TWIN_SEALING_OPENED;
    if (!list && !readable)
        fprintf(stderr,
                "twin: %s %s is sealed and this node cannot read it: no fields to show (%zu "
                "change%s; twin log %s lists them)\n",
                b->type, argv[1], b->changes, b->changes == 1 ? "" : "s", argv[1]);
    else if (!list && b->unreadable)
        fprintf(stderr,
                "twin: this node cannot read %zu of the %zu versions of %s %s (sealed); a field "
                "set in one of them is credited to the next version it can read\n",
                b->unreadable, b->changes, b->type, argv[1]);
    if (list) {
        json_t *j = json_pack("{s:s, s:s, s:I, s:o}", "id", argv[1], "type", b->type, "changes",
                              (json_int_t)b->changes, "fields", list);
        if (j && b->sealing != TWIN_SEALING_CLEAR)
            json_object_set_new(j, "sealed",
                                json_pack("{s:b, s:I}", "readable", readable, "unreadable_versions",
                                          (json_int_t)b->unreadable));
        cli_print_json(j);
        json_decref(j);
    }
    twin_blame_free(b);
    return CLI_OK;
}
