/*
 * twin show: a record as stored, or, for a sealed record, its content where this node can open it
 * and otherwise only what every node sees of it (cli_sealed_public), with a line on standard
 * error saying who can read it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "twin/audit.h"
#include "twin/global.h"
#include "twin/error.h"
#include "twin/names.h"
#include "twin/ops.h"
#include "twin/util.h"

/* The erasure of a record: the oldest of the newest run of its versions that are erased (an
 * erased record never changes again, so that run is the erasure and what merges carried). */
struct erasure {
    twin_node *node;
    const char *type, *id;
    struct twin_log_entry found;
    bool have;
};

static int find_erasure(const struct twin_log_entry *e, void *ctx)
{
    struct erasure *er = ctx;
    json_t *rec = NULL;
    int rc = twin_ops_get(&rec, er->node, &e->commit, er->type, er->id);
    bool erased = rc == 0 && json_object_get(rec, "erased");
    json_decref(rec);
    if (rc && rc != TWIN_ENOTFOUND)
        return rc;
    twin_error_clear();
    if (!erased)
        return 1; /* older than the erasure: stop */
    er->found = *e;
    er->have = true;
    return 0;
}

static void say_erased(twin_node *n, const json_t *stored, const char *type, const char *id)
{
    const char *reason =
        json_string_value(json_object_get(json_object_get(stored, "erased"), "reason"));
    struct erasure er = {.node = n, .type = type, .id = id};
    int rc = twin_audit_log(n, id, find_erasure, &er);
    if ((rc == 0 || rc == 1) && er.have) {
        char when[TWIN_UTIL_TIME_BYTES];
        twin_util_format_time(when, er.found.time);
        fprintf(stderr, "twin: %s %s was erased by %s at %s (commit %.12s): %s\n", type, id,
                er.found.org_id[0] ? er.found.org_id : "(not a member)", when,
                git_oid_tostr_s(&er.found.commit), reason ? reason : "");
    } else {
        twin_error_clear();
        fprintf(stderr, "twin: %s %s was erased: %s\n", type, id, reason ? reason : "");
    }
}

struct refs {
    twin_names *names;
    size_t count;
    FILE *out;
};

/* One line per reference: "  PATH: ID  NAME", the name on one line and cut to 80 characters. */
static int print_ref(const char *path, const char *id, const char *type, void *ctx)
{
    struct refs *r = ctx;
    const char *name = NULL;
    int rc = twin_names_get(&name, r->names, type, id);
    if (r->count++ == 0)
        fputs("\nreferences:\n", r->out);
    fprintf(r->out, "  %s: %s  ", path, id);
    if (rc == TWIN_ENOTFOUND) {
        twin_error_clear();
        fprintf(r->out, "(no %s with this id)\n", type);
        return 0;
    }
    if (rc)
        return rc;
    if (!name) {
        fprintf(r->out, "(a sealed %s this node cannot read)\n", type);
        return 0;
    }
    fputc('"', r->out);
    size_t shown = 0;
    for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
        if (shown >= 80 && (*p & 0xc0) != 0x80) {
            fputs("...", r->out);
            break;
        }
        fputc(*p < 0x20 || *p == 0x7f ? ' ' : *p, r->out);
        shown += (*p & 0xc0) != 0x80;
    }
    fprintf(r->out, "\" (%s)\n", type);
    return 0;
}

/* The lines that follow a record shown as text: the records it refers to, each with its name
 * (*out, malloc'd; "" when it refers to none). Made before anything is printed, so that a
 * referenced record that cannot be read fails the command with nothing shown. */
static int refs_text(char **out, twin_names *names, const json_t *rec)
{
    struct refs r = {.names = names};
    size_t len = 0;
    *out = NULL;
    if (!(r.out = open_memstream(out, &len)))
        return twin_error(TWIN_ERROR, "out of memory");
    int rc = twin_names_each_ref(rec, print_ref, &r);
    if (fclose(r.out) && rc == 0)
        rc = twin_error(TWIN_ERROR, "out of memory");
    if (rc) {
        free(*out);
        *out = NULL;
    }
    return rc;
}

struct shown {
    const char *type, *lang;
};

/* Says which language a text was shown in where it was not the one asked for. */
static void say_shown(const char *path, const char *lang, void *ctx)
{
    struct shown *s = ctx;
    if (lang && strcmp(lang, s->lang) != 0)
        fprintf(stderr, "twin: %s.%s has no %s text; shown in %s\n", s->type, path, s->lang, lang);
}

/* The record as shown: with --lang, each text in several languages in the one chosen. */
static json_t *shown_record(twin_names *names, const json_t *rec, const char *lang)
{
    if (!lang)
        return json_incref((json_t *)rec);
    struct shown s = {json_string_value(json_object_get(rec, "type")), lang};
    return twin_record_localise(rec, lang, twin_names_lang(names, rec), say_shown, &s);
}

int cmd_show(struct cli *c, int argc, char **argv)
{
    const char *at = NULL, *lang = NULL;
    char *id = NULL, idbuf[TWIN_ID_LEN + 1];
    for (int i = 1; i < argc; i++) {
        int m = cli_option(&at, &i, argc, argv, "--at");
        int l = m ? 0 : cli_option(&lang, &i, argc, argv, "--lang");
        if (m < 0 || l < 0)
            return CLI_USAGE;
        if (l && !twin_record_lang_valid(lang))
            return cli_usage_error(
                "show", "--lang takes a language code (ISO 639-1: en, fr), not '%s'", lang);
        if (m || l)
            continue;
        if (id)
            return cli_usage_error("show", "unexpected argument '%s'", argv[i]);
        id = argv[i];
    }
    if (!id)
        return cli_usage_error("show", "give a record id");
    int code = cli_open(c);
    if (code)
        return code;
    twin_node_read_out(c->node); /* reading out, as git does: twin verify checks hashes */
    git_oid at_oid;
    if (at && twin_node_commit(&at_oid, c->node, at)) {
        fprintf(stderr, "twin: --at %s\n", twin_error_last());
        return CLI_USAGE;
    }
    if ((code = cli_record_id(idbuf, &id, c->node, at ? &at_oid : NULL)))
        return code;
    json_t *stored = NULL, *rec = NULL;
    enum twin_sealing how;
    int rc = twin_ops_get(&stored, c->node, at ? &at_oid : NULL, NULL, id);
    if (rc || (rc = twin_ops_unseal(&rec, &how, c->node, stored))) {
        json_decref(stored);
        return cli_fail(rc);
    }
    const char *type = json_string_value(json_object_get(stored, "type"));
    char *audience = how == TWIN_SEALING_CLEAR ? NULL : cli_audience_text(stored);
    if (how == TWIN_SEALING_CLEAR || how == TWIN_SEALING_OPENED) {
        char *text = NULL;
        size_t len;
        char *refs = NULL;
        twin_names *names = NULL;
        json_t *shown = NULL;
        if ((rc = twin_names_new(&names, c->node, at ? &at_oid : NULL)) == 0) {
            twin_names_set_lang(names, lang);
            if (!(shown = shown_record(names, rec, lang)))
                rc = twin_error(TWIN_ERROR, "out of memory");
        }
        if (rc == 0 && (rc = twin_record_canonical(&text, &len, shown)) == 0 && !c->json)
            rc = refs_text(&refs, names, rec);
        json_decref(shown);
        twin_names_free(names);
        if (rc == 0) {
            fwrite(text, 1, len, stdout);
            fputs(refs ? refs : "", stdout);
        }
        free(refs);
        free(text);
        if (rc == 0 && how == TWIN_SEALING_OPENED)
            fprintf(stderr, "twin: %s %s is sealed; readable by %s\n", type, id,
                    audience ? audience : "its audience");
    } else {
        json_t *pub = cli_sealed_public(stored);
        if (!pub)
            rc = twin_error(TWIN_ERROR, "out of memory");
        else
            cli_print_json(pub);
        json_decref(pub);
        if (rc == 0 && how == TWIN_SEALING_CLOSED)
            fprintf(stderr, "twin: %s %s is sealed to %s; this node cannot read it\n", type, id,
                    audience ? audience : "its audience");
        else if (rc == 0)
            say_erased(c->node, stored, type, id);
    }
    free(audience);
    json_decref(rec);
    json_decref(stored);
    return rc ? cli_fail(rc) : CLI_OK;
}
