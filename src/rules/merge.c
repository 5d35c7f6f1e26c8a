/*
 * Record-aware three-way merge. The merged tree is the base tree plus every change of either
 * side; a file changed on both sides is merged as JSON. Every choice depends on the commits only
 * (never on which side is "ours"), so the result is the same whoever computes it.
 */
#include "twin/merge.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "twin/membership.h"
#include "git/treediff.h"
#include "twin/error.h"
#include "twin/tree.h"
#include "twin/record.h"
#include "twin/store.h"
#include "base/util.h"
#include "records/envelope.h"

/* ---- which side wins a field ---------------------------------------------------------------- */

struct last_change {
    git_time_t time;
    git_oid commit;
    bool found;
};

/* The newest commit in base..head that changed path. */
static int last_change_of(struct last_change *out, git_repository *repo, const git_oid *head,
                          const git_oid *base, const char *path)
{
    git_revwalk *walk = NULL;
    git_oid id;
    int rc = 0;
    memset(out, 0, sizeof(*out));
    if (git_revwalk_new(&walk, repo) < 0 ||
        git_revwalk_sorting(walk, GIT_SORT_TOPOLOGICAL | GIT_SORT_TIME) < 0 ||
        git_revwalk_push(walk, head) < 0 || git_revwalk_hide(walk, base) < 0) {
        rc = twin_error_git("walking one side of a merge");
        goto cleanup;
    }
    while (!out->found && (rc = git_revwalk_next(&id, walk)) == 0) {
        git_commit *c = NULL;
        if (git_commit_lookup(&c, repo, &id) < 0) {
            rc = twin_error_git("reading a commit");
            goto cleanup;
        }
        int changed = twin_treediff_changed_path(c, path);
        if (changed > 0) {
            out->found = true;
            out->time = git_commit_time(c);
            out->commit = id;
        }
        git_commit_free(c);
        if (changed < 0) {
            rc = changed;
            goto cleanup;
        }
    }
    rc = (rc == 0 || rc == GIT_ITEROVER) ? 0 : twin_error_git("walking one side of a merge");
cleanup:
    git_revwalk_free(walk);
    return rc;
}

/* Rule 2 (proto/SYNC.md 7): a side's date counts only when it is at most a day after the merge
 * commit's own committer time. */
static bool date_counts(git_time_t t, int64_t merge_time)
{
    return merge_time > INT64_MAX - TWIN_MERGE_AHEAD_SECONDS ||
           (int64_t)t <= merge_time + TWIN_MERGE_AHEAD_SECONDS;
}

/* Whether side a's change wins over side b's, by the rule the merge names. */
static bool a_wins(const struct last_change *la, const struct last_change *lb,
                   const struct twin_merge_rule *rule)
{
    if (rule->version >= 2) {
        bool ca = date_counts(la->time, rule->time), cb = date_counts(lb->time, rule->time);
        if (ca != cb)
            return ca; /* a date too far ahead never wins by itself */
        if (!ca)
            return git_oid_cmp(&la->commit, &lb->commit) > 0;
    }
    return la->time != lb->time ? la->time > lb->time : git_oid_cmp(&la->commit, &lb->commit) > 0;
}

int twin_merge_rule_of(const char *commit, size_t len)
{
    /* The message follows the first empty line; the rule is one of its lines, exactly. */
    const char *end = commit + len, *p = commit;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol)
            return 1;
        if (eol == p) {
            p++;
            break;
        }
        p = eol + 1;
        if (p == end)
            return 1;
    }
    static const char line[] = TWIN_MERGE_RULE_LINE;
    while (p < end) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        size_t n = (size_t)((eol ? eol : end) - p);
        if (n == sizeof(line) - 1 && memcmp(p, line, n) == 0)
            return 2;
        if (!eol)
            break;
        p = eol + 1;
    }
    return 1;
}

/* ---- merging JSON --------------------------------------------------------------------------- */

struct json_merge {
    bool a_wins;
    char loser_from[GIT_OID_HEXSZ + 1];
    json_t *conflicts; /* new conflict entries */
};

static bool same(const json_t *x, const json_t *y)
{
    if (!x || !y)
        return x == y;
    return json_equal((json_t *)x, (json_t *)y);
}

static json_t *ref(const json_t *v)
{
    return v ? json_incref((json_t *)v) : NULL;
}

static int add_conflict(struct json_merge *m, const char *field, const json_t *loser)
{
    json_t *c = json_pack("{s:s, s:s}", "field", field, "from", m->loser_from);
    if (!c)
        return twin_error(TWIN_ERROR, "out of memory");
    if (loser)
        json_object_set(c, "value", (json_t *)loser);
    return json_array_append_new(m->conflicts, c) ? twin_error(TWIN_ERROR, "out of memory") : 0;
}

/* Merges one value; *out gets a new reference, or NULL when the field ends up absent. */
static int merge_value(json_t **out, const json_t *base, const json_t *a, const json_t *b,
                       const char *path, bool top, struct json_merge *m)
{
    *out = NULL;
    if (same(a, b)) {
        *out = ref(a);
        return 0;
    }
    if (same(a, base)) {
        *out = ref(b);
        return 0;
    }
    if (same(b, base)) {
        *out = ref(a);
        return 0;
    }
    if (json_is_object(a) && json_is_object(b) && (!base || json_is_object(base))) {
        json_t *obj = json_object();
        const json_t *sources[3] = {a, b, base};
        const char *key;
        json_t *v;
        if (!obj)
            return twin_error(TWIN_ERROR, "out of memory");
        for (int s = 0; s < 3; s++) {
            if (!sources[s])
                continue;
            json_object_foreach((json_t *)sources[s], key, v)
            {
                if (json_object_get(obj, key) || (top && strcmp(key, "conflicts") == 0))
                    continue;
                /* A key already decided as absent is not decided again. */
                bool seen = false;
                for (int t = 0; t < s; t++)
                    seen = seen || (sources[t] && json_object_get(sources[t], key));
                if (seen)
                    continue;
                char child[512];
                snprintf(child, sizeof(child), "%s%s%s", path, path[0] ? "." : "", key);
                json_t *merged = NULL;
                int rc =
                    merge_value(&merged, base ? json_object_get(base, key) : NULL,
                                json_object_get(a, key), json_object_get(b, key), child, false, m);
                if (rc) {
                    json_decref(obj);
                    return rc;
                }
                if (merged)
                    json_object_set_new(obj, key, merged);
            }
        }
        *out = obj;
        return 0;
    }
    const json_t *winner = m->a_wins ? a : b, *loser = m->a_wins ? b : a;
    int rc = add_conflict(m, path, loser);
    if (rc)
        return rc;
    *out = ref(winner);
    return 0;
}

static int cmp_entries(const void *x, const void *y)
{
    return strcmp(*(char *const *)x, *(char *const *)y);
}

static bool list_has(const json_t *list, const json_t *item)
{
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v) if (json_equal(v, (json_t *)item)) return true;
    return false;
}

/* The conflicts list of a merged record: what either side holds, less what either side
 * resolved since the base, plus this merge's new conflicts; sorted and without repeats. */
static int merge_conflicts(json_t *merged, const json_t *base, const json_t *a, const json_t *b,
                           const json_t *fresh)
{
    const json_t *lists[3] = {json_object_get(a, "conflicts"), json_object_get(b, "conflicts"),
                              fresh};
    const json_t *base_list = base ? json_object_get(base, "conflicts") : NULL;
    json_t *all = json_array();
    if (!all)
        return twin_error(TWIN_ERROR, "out of memory");
    for (int l = 0; l < 3; l++) {
        size_t i;
        json_t *v;
        json_array_foreach(lists[l], i, v)
        {
            bool resolved = l < 2 && list_has(base_list, v) &&
                            (!list_has(lists[0], v) || !list_has(lists[1], v));
            if (!resolved && !list_has(all, v))
                json_array_append(all, v);
        }
    }
    size_t n = json_array_size(all);
    if (n == 0) {
        json_decref(all);
        json_object_del(merged, "conflicts");
        return 0;
    }
    char **texts = calloc(n, sizeof(*texts));
    json_t *sorted = json_array();
    int rc = 0;
    if (!texts || !sorted) {
        rc = twin_error(TWIN_ERROR, "out of memory");
        goto cleanup;
    }
    for (size_t i = 0; i < n && rc == 0; i++)
        if (!(texts[i] = json_dumps(json_array_get(all, i), JSON_SORT_KEYS | JSON_COMPACT)))
            rc = twin_error(TWIN_ERROR, "out of memory");
    if (rc)
        goto cleanup;
    qsort(texts, n, sizeof(*texts), cmp_entries);
    for (size_t i = 0; i < n; i++)
        json_array_append_new(sorted, json_loads(texts[i], 0, NULL));
    json_object_set(merged, "conflicts", sorted);
cleanup:
    for (size_t i = 0; texts && i < n; i++)
        free(texts[i]);
    free(texts);
    json_decref(sorted);
    json_decref(all);
    return rc;
}

static int merge_record(json_t **out, const json_t *base, const json_t *a, const json_t *b,
                        struct json_merge *m)
{
    json_t *merged = NULL;
    int rc = merge_value(&merged, base, a, b, "", true, m);
    if (rc)
        return rc;
    if (!json_is_object(merged)) {
        json_decref(merged);
        return twin_error(TWIN_EINVALID, "merge of a record gave no record");
    }
    if ((rc = merge_conflicts(merged, base, a, b, m->conflicts)))
        goto fail;
    if (twin_record_validate(merged, NULL, NULL, NULL) == 0) {
        *out = merged;
        return 0;
    }
    /* The fields merged one by one break a rule across fields (dates out of order, shares
     * not summing to 100): keep the winner's whole record and the loser's differing fields as
     * conflicts. */
    json_decref(merged);
    const json_t *winner = m->a_wins ? a : b, *loser = m->a_wins ? b : a;
    merged = json_deep_copy(winner);
    json_array_clear(m->conflicts);
    const json_t *sides[2] = {winner, loser};
    for (int s = 0; s < 2; s++) {
        const char *key;
        json_t *v;
        json_object_foreach((json_t *)sides[s], key, v)
        {
            if (strcmp(key, "conflicts") == 0 || strcmp(key, "id") == 0 ||
                strcmp(key, "type") == 0 || (s == 1 && json_object_get(winner, key)))
                continue;
            const json_t *lv = json_object_get(loser, key);
            if (!same(json_object_get(winner, key), lv) && (rc = add_conflict(m, key, lv)))
                goto fail;
        }
    }
    if ((rc = merge_conflicts(merged, base, a, b, m->conflicts)))
        goto fail;
    if ((rc = twin_record_validate(merged, NULL, NULL, NULL)))
        goto fail;
    *out = merged;
    return 0;
fail:
    json_decref(merged);
    return rc;
}

static int cmp_str(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* Sealed records merge as a whole (proto/SEALED.md 9), without being opened: the winner's
 * envelope, with the loser's version (blob id) and both sides' conflicts set aside, the 64 first
 * in sort order; an erasure wins over anything, and sets nothing aside. */
static int merge_envelope(json_t **out, const json_t *a, const json_t *b, const git_oid *a_blob,
                          const git_oid *b_blob, bool a_wins, size_t *conflicts)
{
    bool ra = json_object_get(a, "erased") != NULL, rb = json_object_get(b, "erased") != NULL;
    if (ra != rb)
        a_wins = ra;
    const json_t *winner = a_wins ? a : b, *loser = a_wins ? b : a;
    json_t *merged = json_deep_copy(winner);
    if (!merged)
        return twin_error(TWIN_ERROR, "out of memory");
    if (ra || rb || !twin_envelope_is(a) || !twin_envelope_is(b)) {
        *out = merged; /* an erasure, or a hostile mix the predicate refused on each side */
        return 0;
    }
    char loser_hex[GIT_OID_HEXSZ + 1];
    git_oid_tostr(loser_hex, sizeof(loser_hex), a_wins ? b_blob : a_blob);
    const char *ids[2 * TWIN_ENVELOPE_MAX_CONFLICTS + 1];
    size_t n = 0;
    ids[n++] = loser_hex;
    const json_t *sides[2] = {winner, loser};
    for (int s = 0; s < 2; s++) {
        size_t k;
        const json_t *v;
        json_array_foreach(json_object_get(sides[s], "conflicts"), k, v)
        {
            if (json_is_string(v) && n < sizeof(ids) / sizeof(ids[0]))
                ids[n++] = json_string_value(v);
        }
    }
    qsort(ids, n, sizeof(ids[0]), cmp_str);
    json_t *list = json_array();
    size_t kept = 0;
    for (size_t i = 0; list && i < n && kept < TWIN_ENVELOPE_MAX_CONFLICTS; i++) {
        if (i > 0 && strcmp(ids[i], ids[i - 1]) == 0)
            continue;
        if (json_array_append_new(list, json_string(ids[i])))
            break;
        kept++;
    }
    if (!list || json_object_set_new(merged, "conflicts", list)) {
        json_decref(merged);
        return twin_error(TWIN_ERROR, "out of memory");
    }
    *conflicts += 1;
    *out = merged;
    return 0;
}

static int key_rank(const char *state)
{
    return strcmp(state, "revoked") == 0 ? 2 : strcmp(state, "retired") == 0 ? 1 : 0;
}

/* Keys of a member changed on both sides: the union, each key in its most final state. */
static json_t *merge_keys(const json_t *a, const json_t *b)
{
    json_t *all = json_array();
    const json_t *lists[2] = {a, b};
    for (int l = 0; l < 2; l++) {
        size_t i;
        json_t *k;
        json_array_foreach(lists[l], i, k)
        {
            const char *line = json_string_value(json_object_get(k, "key"));
            const char *state = json_string_value(json_object_get(k, "state"));
            json_t *have = NULL;
            size_t j;
            json_t *e;
            json_array_foreach(all, j, e) if (strcmp(json_string_value(json_object_get(e, "key")),
                                                     line) == 0) have = e;
            if (!have)
                json_array_append_new(all, json_deep_copy(k));
            else if (key_rank(state) > key_rank(json_string_value(json_object_get(have, "state"))))
                json_object_set_new(have, "state", json_string(state));
        }
    }
    return all;
}

static int merge_member(json_t **out, const json_t *base, const json_t *a, const json_t *b,
                        struct json_merge *m)
{
    json_t *merged = NULL;
    int rc = merge_value(&merged, base, a, b, "", false, m);
    if (rc)
        return rc;
    const json_t *bk = base ? json_object_get(base, "keys") : NULL;
    const json_t *ak = json_object_get(a, "keys"), *bbk = json_object_get(b, "keys");
    if (!same(ak, bk) && !same(bbk, bk) && !same(ak, bbk))
        json_object_set_new(merged, "keys", merge_keys(m->a_wins ? ak : bbk, m->a_wins ? bbk : ak));
    *out = merged;
    return 0;
}

/* ---- merging files -------------------------------------------------------------------------- */

struct side {
    const git_oid *head;
};

static int read_json(json_t **out, git_repository *repo, const git_oid *id, const char *path)
{
    char *text = NULL;
    size_t len;
    int rc = twin_tree_read_blob(&text, &len, repo, id, TWIN_RECORD_FILE_MAX_BYTES, path);
    if (rc == 0)
        rc = twin_record_parse_canonical(out, text, len);
    free(text);
    return rc ? twin_error_wrap(rc, "merging %s", path) : 0;
}

static int merge_file(git_oid *out, size_t *conflicts, git_repository *repo, const char *path,
                      const git_oid *base_head, const struct twin_change *ca,
                      const struct twin_change *cb, const git_oid *a_head, const git_oid *b_head,
                      const struct twin_merge_rule *rule)
{
    json_t *base = NULL, *a = NULL, *b = NULL, *merged = NULL;
    struct last_change la, lb;
    struct json_merge m = {.conflicts = json_array()};
    char *text = NULL;
    size_t len;
    int rc;
    if (!m.conflicts)
        return twin_error(TWIN_ERROR, "out of memory");
    if (!ca->has_new || !cb->has_new) {
        rc = twin_error(TWIN_EINVALID, "%s: removed on one side and changed on the other", path);
        goto cleanup;
    }
    if ((ca->has_old && (rc = read_json(&base, repo, &ca->old_id, path))) ||
        (rc = read_json(&a, repo, &ca->new_id, path)) ||
        (rc = read_json(&b, repo, &cb->new_id, path)))
        goto cleanup;
    if ((rc = last_change_of(&la, repo, a_head, base_head, path)) ||
        (rc = last_change_of(&lb, repo, b_head, base_head, path)))
        goto cleanup;
    m.a_wins = a_wins(&la, &lb, rule);
    git_oid_tostr(m.loser_from, sizeof(m.loser_from), m.a_wins ? &lb.commit : &la.commit);

    if (strncmp(path, "records/", 8) == 0 && (twin_envelope_is(a) || twin_envelope_is(b))) {
        rc = merge_envelope(&merged, a, b, &ca->new_id, &cb->new_id, m.a_wins, conflicts);
    } else if (strncmp(path, "records/", 8) == 0)
        rc = merge_record(&merged, base, a, b, &m);
    else if (strncmp(path, TWIN_MEMBERS_DIR "/", sizeof(TWIN_MEMBERS_DIR)) == 0)
        rc = merge_member(&merged, base, a, b, &m);
    else if (strcmp(path, TWIN_NETWORK_PATH) == 0 || strncmp(path, "proposals/", 10) == 0)
        rc = merge_value(&merged, base, a, b, "", false, &m);
    else
        rc = twin_error(TWIN_EINVALID, "%s: not a file twin merges", path);
    if (rc)
        goto cleanup;
    *conflicts += json_array_size(m.conflicts);
    if ((rc = twin_record_canonical(&text, &len, merged)))
        goto cleanup;
    if (git_blob_create_from_buffer(out, repo, text, len) < 0)
        rc = twin_error_git("writing a merged file");
cleanup:
    free(text);
    json_decref(base);
    json_decref(a);
    json_decref(b);
    json_decref(merged);
    json_decref(m.conflicts);
    return rc;
}

static int by_path(const void *x, const void *y)
{
    return strcmp(((const struct twin_change *)x)->path, ((const struct twin_change *)y)->path);
}

static int pick_base(git_oid *out, git_repository *repo, const git_oid *a, const git_oid *b)
{
    git_oidarray bases = {0};
    int err = git_merge_bases(&bases, repo, a, b);
    if (err == GIT_ENOTFOUND)
        return twin_error(TWIN_EINVALID, "the two histories share no commit");
    if (err < 0)
        return twin_error_git("finding the merge base");
    /* Several bases (criss-cross merges): the least id, so both sides choose the same. */
    *out = bases.ids[0];
    for (size_t i = 1; i < bases.count; i++)
        if (git_oid_cmp(&bases.ids[i], out) < 0)
            *out = bases.ids[i];
    git_oidarray_dispose(&bases);
    return 0;
}

static int tree_of(git_tree **out, git_repository *repo, const git_oid *commit)
{
    git_commit *c = NULL;
    int rc = 0;
    if (git_commit_lookup(&c, repo, commit) < 0 || git_commit_tree(out, c) < 0)
        rc = twin_error_git("reading a commit");
    git_commit_free(c);
    return rc;
}

int twin_merge_compute(struct twin_merge_result *out, git_repository *repo, const git_oid *a,
                       const git_oid *b, const struct twin_merge_rule *rule)
{
    git_tree *base_tree = NULL, *a_tree = NULL, *b_tree = NULL;
    struct twin_treediff da = {.repo = repo}, db = {.repo = repo};
    git_tree_update *updates = NULL;
    bool *taken = NULL;
    int rc;
    memset(out, 0, sizeof(*out));
    if ((rc = pick_base(&out->base, repo, a, b)) || (rc = tree_of(&base_tree, repo, &out->base)) ||
        (rc = tree_of(&a_tree, repo, a)) || (rc = tree_of(&b_tree, repo, b)))
        goto cleanup;
    if ((rc = twin_treediff_run(&da, base_tree, a_tree)) < 0 ||
        (rc = twin_treediff_run(&db, base_tree, b_tree)) < 0)
        goto cleanup;
    if (da.fault[0] || db.fault[0]) {
        rc = twin_error(TWIN_EINVALID, "cannot merge: %s", da.fault[0] ? da.fault : db.fault);
        goto cleanup;
    }
    if (db.count > 1)
        qsort(db.changes, db.count, sizeof(*db.changes), by_path);
    size_t n = da.count + db.count;
    if (!(updates = calloc(n ? n : 1, sizeof(*updates))) ||
        !(taken = calloc(db.count ? db.count : 1, sizeof(*taken)))) {
        rc = twin_error(TWIN_ERROR, "out of memory");
        goto cleanup;
    }
    /* Paths are kept alive by da and db until the tree is written. */
    git_oid *merged_ids = calloc(n ? n : 1, sizeof(*merged_ids));
    if (!merged_ids) {
        rc = twin_error(TWIN_ERROR, "out of memory");
        goto cleanup;
    }
    size_t nu = 0;
    for (size_t i = 0; i < da.count; i++) {
        const struct twin_change *ca = &da.changes[i];
        const struct twin_change *cb =
            db.count ? bsearch(ca, db.changes, db.count, sizeof(*db.changes), by_path) : NULL;
        git_tree_update *u = &updates[nu++];
        u->path = ca->path;
        u->filemode = GIT_FILEMODE_BLOB;
        if (cb)
            taken[cb - db.changes] = true;
        if (!cb || (ca->has_new == cb->has_new &&
                    (!ca->has_new || git_oid_equal(&ca->new_id, &cb->new_id)))) {
            u->action = ca->has_new ? GIT_TREE_UPDATE_UPSERT : GIT_TREE_UPDATE_REMOVE;
            u->id = ca->new_id;
            continue;
        }
        if ((rc = merge_file(&merged_ids[i], &out->conflicts, repo, ca->path, &out->base, ca, cb, a,
                             b, rule))) {
            free(merged_ids);
            goto cleanup;
        }
        out->merged_files++;
        u->action = GIT_TREE_UPDATE_UPSERT;
        u->id = merged_ids[i];
    }
    for (size_t i = 0; i < db.count; i++) {
        if (taken[i])
            continue;
        git_tree_update *u = &updates[nu++];
        u->path = db.changes[i].path;
        u->filemode = GIT_FILEMODE_BLOB;
        u->action = db.changes[i].has_new ? GIT_TREE_UPDATE_UPSERT : GIT_TREE_UPDATE_REMOVE;
        u->id = db.changes[i].new_id;
    }
    free(merged_ids);
    if (git_tree_create_updated(&out->tree, repo, base_tree, nu, updates) < 0)
        rc = twin_error_git("writing the merged tree");
cleanup:
    free(updates);
    free(taken);
    twin_treediff_clear(&da);
    twin_treediff_clear(&db);
    git_tree_free(base_tree);
    git_tree_free(a_tree);
    git_tree_free(b_tree);
    return rc;
}

int twin_merge_commit(git_oid *out, struct twin_merge_result *result, twin_node *n,
                      git_repository *repo, const git_oid *a, const git_oid *b)
{
    if (!repo)
        repo = twin_node_repo(n);
    git_commit *pa = NULL, *pb = NULL;
    git_tree *tree = NULL;
    char *name = NULL, message[400], ha[13], hb[13];
    /* The merge's own time bounds the dates it compares, so it is fixed before the merge. */
    struct twin_merge_rule rule = {.version = TWIN_MERGE_RULE, .time = twin_util_commit_time_now()};
    int rc;
    if ((rc = twin_merge_compute(result, repo, a, b, &rule)))
        return rc;
    if (git_commit_lookup(&pa, repo, a) < 0 || git_commit_lookup(&pb, repo, b) < 0 ||
        git_tree_lookup(&tree, repo, &result->tree) < 0) {
        rc = twin_error_git("reading the merge's parts");
        goto cleanup;
    }
    if ((rc = twin_node_config_get(&name, n, "twin.name")))
        goto cleanup;
    git_oid_tostr(ha, sizeof(ha), a);
    git_oid_tostr(hb, sizeof(hb), b);
    snprintf(message, sizeof(message),
             "merge %s and %s\n\nBase: %s\nMerged files: %zu\nConflicts: %zu\n" TWIN_MERGE_RULE_LINE
             "\n",
             ha, hb, git_oid_tostr_s(&result->base), result->merged_files, result->conflicts);
    const git_commit *parents[2] = {pa, pb};
    rc = twin_store_write_commit_at(out, repo, twin_node_key(n), name, twin_node_org_id(n), tree,
                                    parents, 2, message, rule.time);
cleanup:
    free(name);
    git_tree_free(tree);
    git_commit_free(pa);
    git_commit_free(pb);
    return rc;
}
