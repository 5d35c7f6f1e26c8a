/*
 * The sealed records at the head, as this node sees them (proto/SEALED.md 6 and 7): how many it
 * reads, how many are sealed to others, which are erased and why; that it holds no key of an
 * erased record (any it finds it deletes, and says so); and, for those it opens, whether the
 * content keeps the rules the predicate cannot see, reported as findings, never refused.
 */
#include "twin/audit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "git/gitopts.h"
#include "twin/error.h"
#include "twin/ops.h"
#include "twin/record.h"

struct gather {
    twin_node *n;
    struct twin_sealed_report *r;
    int rc;
};

static int grow(void **list, size_t *cap, size_t n, size_t size)
{
    if (n < *cap)
        return 0;
    size_t c = *cap ? 2 * *cap : 8;
    void *l = realloc(*list, c * size);
    if (!l)
        return twin_error(TWIN_ERROR, "out of memory");
    *list = l, *cap = c;
    return 0;
}

static int finding(struct twin_sealed_report *r, const char *text)
{
    int rc = grow((void **)&r->findings, &r->findings_cap, r->nfindings, sizeof(*r->findings));
    if (rc == 0)
        snprintf(r->findings[r->nfindings++].text, sizeof(r->findings[0].text), "%s", text);
    return rc;
}

static int look(json_t *stored, void *ctx)
{
    struct gather *g = ctx;
    struct twin_sealed_report *r = g->r;
    json_t *rec = NULL;
    enum twin_sealing how;
    const char *id = json_string_value(json_object_get(stored, "id"));
    const char *type = json_string_value(json_object_get(stored, "type"));
    int rc = twin_ops_unseal(&rec, &how, g->n, stored);
    if (rc)
        return rc;
    if (how != TWIN_SEALING_CLEAR)
        r->sealed++;
    if (how == TWIN_SEALING_OPENED) {
        r->opened++;
        if (twin_record_validate(rec, NULL, NULL, NULL)) {
            char text[700];
            snprintf(text, sizeof(text), "sealed %s %s fails its rules: %s, seen by %s", type, id,
                     twin_error_last(), twin_node_org_id(g->n));
            rc = finding(r, text);
        }
        twin_error_clear();
    } else if (how == TWIN_SEALING_CLOSED) {
        r->closed++;
    } else if (how == TWIN_SEALING_ERASED) {
        size_t held = 0;
        r->erased++;
        if ((rc = grow((void **)&r->erasures, &r->erasures_cap, r->nerasures,
                       sizeof(*r->erasures))) == 0) {
            struct twin_erasure *e = &r->erasures[r->nerasures++];
            snprintf(e->type, sizeof(e->type), "%s", type);
            snprintf(e->id, sizeof(e->id), "%s", id);
            snprintf(
                e->reason, sizeof(e->reason), "%s",
                json_string_value(json_object_get(json_object_get(stored, "erased"), "reason")));
            rc = twin_ops_erased_keys(&held, g->n, id, true);
        }
        if (rc == 0 && held) {
            char text[300];
            snprintf(text, sizeof(text),
                     "erased %s %s: this node still held %zu of its keys; deleted them now", type,
                     id, held);
            r->keys_deleted += held;
            rc = finding(r, text);
        }
    }
    json_decref(rec);
    return rc;
}

int twin_sealedcheck_run(struct twin_sealed_report **out, twin_node *n)
{
    struct twin_sealed_report *r = calloc(1, sizeof(*r));
    *out = NULL;
    if (!r)
        return twin_error(TWIN_ERROR, "out of memory");
    struct gather g = {n, r, 0};
    /* Records in the clear are most of a network, and nothing here concerns them: each is read
     * once and only the envelopes are parsed. The records are read out as the commands that list
     * them read them, without libgit2 hashing each again or caching it: verify's check of the
     * store's files hashes every object. */
    const unsigned opts = TWIN_GITOPTS_UNHASHED | TWIN_GITOPTS_UNCACHED;
    int rc = twin_gitopts_begin(opts);
    if (rc == 0) {
        rc = twin_ops_foreach_envelope(n, NULL, look, &g);
        twin_gitopts_end(opts);
    }
    if (rc) {
        twin_sealedcheck_free(r);
        return rc;
    }
    *out = r;
    return 0;
}

void twin_sealedcheck_free(struct twin_sealed_report *r)
{
    if (!r)
        return;
    free(r->findings);
    free(r->erasures);
    free(r);
}
