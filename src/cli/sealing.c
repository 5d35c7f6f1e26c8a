/*
 * Sealed records on the command line (proto/SEALED.md): audiences as arguments, and what a node
 * shows of a sealed record it cannot read (the envelope's public part, never its ciphertext).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "twin/error.h"

int cli_audience_parse(struct twin_audience *aud, char **buf, const char ***list, const char *cmd,
                       const char *opt, const char *arg)
{
    *buf = strdup(arg);
    size_t n = 1;
    for (const char *p = arg; *p; p++)
        n += *p == ',';
    *list = calloc(n, sizeof(**list));
    if (!*buf || !*list)
        return CLI_CHECK_FAILED;
    size_t k = 0;
    for (char *s = *buf, *next; s; s = next) {
        next = strchr(s, ',');
        if (next)
            *next++ = '\0';
        s += strspn(s, " ");
        char *end = s + strlen(s);
        while (end > s && end[-1] == ' ')
            *--end = '\0';
        if (!*s)
            return cli_usage_error(cmd, "%s takes ORG-ID[,ORG-ID...] or 'members', not '%s'", opt,
                                   arg);
        (*list)[k++] = s;
    }
    aud->orgs = *list;
    aud->n = k;
    return CLI_OK;
}

char *cli_audience_text(const json_t *envelope)
{
    const json_t *audience = json_object_get(json_object_get(envelope, "sealed"), "audience");
    size_t len = 1, i;
    json_t *org;
    json_array_foreach(audience, i, org) len += strlen(json_string_value(org) ?: "") + 2;
    char *out = malloc(len), *p = out;
    if (!out)
        return NULL;
    *p = '\0';
    json_array_foreach(audience, i, org)
    {
        const char *s = json_string_value(org) ?: "";
        size_t n = strlen(s);
        if (i) {
            memcpy(p, ", ", 2);
            p += 2;
        }
        memcpy(p, s, n + 1);
        p += n;
    }
    return out;
}

json_t *cli_sealed_public(const json_t *envelope)
{
    const json_t *sealed = json_object_get(envelope, "sealed");
    const json_t *audience = json_object_get(sealed, "audience");
    json_t *pub = json_pack("{s:O, s:O, s:{s:O, s:b}}", "id", json_object_get(envelope, "id"),
                            "type", json_object_get(envelope, "type"), "sealed", "audience",
                            audience ? audience : json_null(), "readable", 0);
    if (!pub)
        return NULL;
    size_t nconflicts = json_array_size(json_object_get(envelope, "conflicts"));
    if (nconflicts && json_object_set_new(json_object_get(pub, "sealed"), "conflicts",
                                          json_integer((json_int_t)nconflicts)))
        goto fail;
    if (json_is_true(json_object_get(envelope, "withdrawn")) &&
        json_object_set_new(pub, "withdrawn", json_true()))
        goto fail;
    const json_t *erased = json_object_get(envelope, "erased");
    if (erased && json_object_set_new(pub, "erased", json_deep_copy(erased)))
        goto fail;
    return pub;
fail:
    json_decref(pub);
    return NULL;
}

int cli_sealed_open(json_t **out, twin_node *n, const char *id, const char *verb)
{
    json_t *stored = NULL, *rec = NULL;
    enum twin_sealing how;
    if (out)
        *out = NULL;
    int rc = twin_ops_get(&stored, n, NULL, NULL, id);
    if (rc == 0)
        rc = twin_ops_unseal(&rec, &how, n, stored);
    const char *type = json_string_value(json_object_get(stored, "type"));
    if (rc == 0 && how == TWIN_SEALING_CLOSED) {
        char *audience = cli_audience_text(stored);
        rc = twin_error(TWIN_EDENIED,
                        "%s %s is sealed to %s; this node cannot read it, so it cannot %s it", type,
                        id, audience ? audience : "its audience", verb);
        free(audience);
    } else if (rc == 0 && how == TWIN_SEALING_ERASED) {
        rc = twin_error(
            TWIN_EDENIED, "%s %s was erased (%s) and never changes again", type, id,
            json_string_value(json_object_get(json_object_get(stored, "erased"), "reason")));
    }
    if (rc == 0 && out)
        *out = json_incref(rec);
    json_decref(rec);
    json_decref(stored);
    return rc;
}
