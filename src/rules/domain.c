/*
 * Record rules of version 2 (README "Rules across fields"):
 * - a health check gives all seven scores;
 * - one respondent gives at most one health check per partnership and date;
 * - an intersectoral partnership of two or more members has members of at least two sector
 *   groups.
 * The second and third look beyond the record, so they are checked when the record is written
 * (or its fields they depend on change), against the tree it is written in.
 */
#include "rules/domain.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "records/schema.h"
#include "twin/error.h"
#include "twin/tree.h"

static const char *str(const json_t *rec, const char *field)
{
    return json_string_value(json_object_get(rec, field));
}

static bool same(const json_t *a, const json_t *b, const char *field)
{
    const json_t *x = json_object_get(a, field), *y = json_object_get(b, field);
    return (!x && !y) || (x && y && json_equal((json_t *)x, (json_t *)y));
}

static void all_scores(char *fault, size_t fault_size, const json_t *rec)
{
    const struct twin_record_type *t = twin_schema_type("health_check");
    const json_t *scores = json_object_get(rec, "scores");
    for (const struct twin_field *f = t->fields; f->name; f++) {
        if (strcmp(f->name, "scores") != 0)
            continue;
        for (const struct twin_field *s = f->fields; s->name; s++)
            if (!json_object_get(scores, s->name)) {
                snprintf(fault, fault_size,
                         "health_check.scores.%s: required (record rules 2: a health check "
                         "gives all seven scores)",
                         s->name);
                return;
            }
    }
}

/* Another health check in the clear in tree by the same respondent, for the same partnership
 * and date: its id in other. */
static int find_twin_check(char other[TWIN_ID_LEN + 1], const json_t *rec,
                           const struct twin_domain_env *env)
{
    git_repository *repo = env->repo;
    const git_tree *tree = env->tree;
    git_tree *dir = NULL;
    other[0] = '\0';
    int rc = twin_tree_open_dir(&dir, repo, tree, "records/health_check");
    if (rc || !dir)
        return rc;
    const char *id = str(rec, "id");
    for (size_t i = 0; rc == 0 && !other[0] && i < git_tree_entrycount(dir); i++) {
        const git_tree_entry *bucket = git_tree_entry_byindex(dir, i);
        git_tree *b = NULL;
        if (git_tree_entry_type(bucket) != GIT_OBJECT_TREE)
            continue;
        if ((rc = twin_tree_open(&b, repo, git_tree_entry_id(bucket), "records/health_check")))
            break;
        for (size_t k = 0; rc == 0 && !other[0] && k < git_tree_entrycount(b); k++) {
            const git_tree_entry *e = git_tree_entry_byindex(b, k);
            const char *name = git_tree_entry_name(e);
            if (git_tree_entry_type(e) != GIT_OBJECT_BLOB || strncmp(name, id, TWIN_ID_LEN) == 0)
                continue;
            char *text = NULL;
            size_t len;
            json_t *h = NULL;
            if ((rc = twin_tree_read_blob(&text, &len, repo, git_tree_entry_id(e),
                                          TWIN_RECORD_FILE_MAX_BYTES, name)) == 0 &&
                twin_record_parse_canonical(&h, text, len) == 0 && json_object_get(h, "sealed")) {
                json_t *plain = NULL;
                if (env->open && env->open(&plain, h, text, len, env->open_ctx) == 0 && plain) {
                    json_decref(h);
                    h = plain;
                } else
                    json_decref(plain);
            }
            if (rc == 0 && h && same(h, rec, "respondent") && same(h, rec, "partnership") &&
                same(h, rec, "date") && !json_is_true(json_object_get(h, "withdrawn")))
                snprintf(other, TWIN_ID_LEN + 1, "%s", str(h, "id"));
            twin_error_clear(); /* a file that is not a record is the schema's to refuse */
            json_decref(h);
            free(text);
        }
        git_tree_free(b);
    }
    git_tree_free(dir);
    return rc;
}

static int one_check(char *fault, size_t fault_size, const json_t *rec, const json_t *old,
                     const struct twin_domain_env *env)
{
    if (!json_object_get(rec, "respondent") || json_is_true(json_object_get(rec, "withdrawn")))
        return 0;
    if (old && same(old, rec, "respondent") && same(old, rec, "partnership") &&
        same(old, rec, "date") && !json_is_true(json_object_get(old, "withdrawn")))
        return 0;
    char other[TWIN_ID_LEN + 1];
    int rc = find_twin_check(other, rec, env);
    if (rc == 0 && other[0]) {
        json_t *inst = NULL;
        const char *who = str(rec, "respondent");
        if (env->lookup && env->lookup(&inst, "institution", who, env->lookup_ctx) == 0 &&
            str(inst, "name"))
            who = str(inst, "name");
        twin_error_clear();
        snprintf(fault, fault_size,
                 "health_check.respondent: %s gave health check %s for this partnership on %s "
                 "already (record rules 2: one check per respondent, partnership and date)",
                 who, other, str(rec, "date"));
        json_decref(inst);
    }
    return rc;
}

static int sector_groups(char *fault, size_t fault_size, const json_t *rec, const json_t *old,
                         twin_record_lookup_fn lookup, void *ctx)
{
    const char *ptype = str(rec, "partnership_type");
    const json_t *members = json_object_get(rec, "members");
    if (!ptype || strcmp(ptype, "intersectoral") != 0 || json_array_size(members) < 2)
        return 0;
    if (old && same(old, rec, "partnership_type") && same(old, rec, "members"))
        return 0;
    char first[64] = "";
    size_t unknown = 0;
    for (size_t i = 0; i < json_array_size(members); i++) {
        const char *inst = str(json_array_get(members, i), "institution");
        json_t *r = NULL;
        int rc = inst && lookup ? lookup(&r, "institution", inst, ctx) : TWIN_ENOTFOUND;
        if (rc && rc != TWIN_ENOTFOUND && rc != TWIN_EINVALID)
            return rc;
        twin_error_clear();
        const char *group = str(r, "sector_group");
        if (!group)
            unknown++;
        else if (!first[0])
            snprintf(first, sizeof(first), "%s", group);
        else if (strcmp(first, group) != 0) {
            json_decref(r);
            return 0;
        }
        json_decref(r);
    }
    if (unknown)
        snprintf(fault, fault_size,
                 "partnership.members: an intersectoral partnership has members of at least two "
                 "sector groups (record rules 2), and %zu of its members' institutions %s no "
                 "sector_group: give them theirs",
                 unknown, unknown == 1 ? "has" : "have");
    else
        snprintf(fault, fault_size,
                 "partnership.members: an intersectoral partnership has members of at least two "
                 "sector groups (record rules 2), and all of its members are %s",
                 first);
    return 0;
}

int twin_domain_check(char *fault, size_t fault_size, const json_t *rec, const json_t *old,
                      int rules, const struct twin_domain_env *env)
{
    fault[0] = '\0';
    const char *type = str(rec, "type");
    if (rules < 2 || !type)
        return 0;
    if (strcmp(type, "health_check") == 0) {
        all_scores(fault, fault_size, rec);
        if (fault[0] || !env->tree)
            return 0;
        return one_check(fault, fault_size, rec, old, env);
    }
    if (strcmp(type, "partnership") == 0)
        return sector_groups(fault, fault_size, rec, old, env->lookup, env->lookup_ctx);
    return 0;
}
