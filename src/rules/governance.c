#include "rules/governance.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "twin/error.h"
#include "twin/record.h"
#include "twin/tree.h"
#include "records/envelope.h"

#define SUMMARY_MAX   300
#define APPROVALS_MAX 1000

int twin_governance_threshold(const struct twin_membership *m)
{
    return m->admin_threshold > 0 ? m->admin_threshold : 1;
}

bool twin_governance_proposal_in_effect(size_t approvals, const struct twin_membership *m)
{
    return approvals >= (size_t)twin_governance_threshold(m);
}

int twin_governance_proposals_at_head(json_t **out, int *needed, twin_node *n)
{
    git_oid head;
    git_commit *commit = NULL;
    git_tree *tree = NULL, *dir = NULL;
    struct twin_membership *m = NULL;
    json_t *list = NULL;
    git_repository *repo = twin_node_repo(n);
    *out = NULL;
    int rc = twin_node_head(&head, n);
    if (rc)
        return rc;
    if (git_commit_lookup(&commit, repo, &head) < 0 || git_commit_tree(&tree, commit) < 0) {
        rc = twin_error_git("reading the head");
        goto cleanup;
    }
    if ((rc = twin_membership_load(&m, repo, tree)))
        goto cleanup;
    const git_tree_entry *e = git_tree_entry_byname(tree, TWIN_PROPOSALS_DIR);
    if (e && git_tree_lookup(&dir, repo, git_tree_entry_id(e)) < 0) {
        rc = twin_error_git("reading " TWIN_PROPOSALS_DIR "/");
        goto cleanup;
    }
    if (!(list = json_array())) {
        rc = twin_error(TWIN_ERROR, "out of memory");
        goto cleanup;
    }
    int k = twin_governance_threshold(m);
    for (size_t i = 0; dir && rc == 0 && i < git_tree_entrycount(dir); i++) {
        const git_tree_entry *pe = git_tree_entry_byindex(dir, i);
        char path[200], *text = NULL;
        size_t len;
        json_t *p = NULL;
        snprintf(path, sizeof(path), TWIN_PROPOSALS_DIR "/%s", git_tree_entry_name(pe));
        if ((rc = twin_tree_read(&text, &len, repo, tree, path)) == 0 &&
            (rc = twin_record_parse_canonical(&p, text, len)) == 0) {
            json_t *approvals = json_object_get(p, "approvals");
            json_array_append_new(
                list, json_pack("{s:O, s:O, s:O, s:O, s:i, s:b}", "id", json_object_get(p, "id"),
                                "summary", json_object_get(p, "summary"), "proposed_by",
                                json_object_get(p, "proposed_by"), "approvals", approvals, "needed",
                                k, "in_effect",
                                twin_governance_proposal_in_effect(json_array_size(approvals), m)));
        }
        free(text);
        json_decref(p);
    }
    if (rc == 0) {
        *out = list;
        list = NULL;
        if (needed)
            *needed = k;
    }
cleanup:
    json_decref(list);
    twin_membership_free(m);
    git_tree_free(dir);
    git_tree_free(tree);
    git_commit_free(commit);
    return rc;
}

bool twin_governance_path_governed(const char *path)
{
    if (strcmp(path, TWIN_NETWORK_PATH) == 0)
        return true;
    size_t n = strlen(path);
    return strncmp(path, TWIN_MEMBERS_DIR "/", 8) == 0 && n > 13 && !strchr(path + 8, '/') &&
           strcmp(path + n - 5, ".json") == 0;
}

static const char *str(const json_t *j, const char *key)
{
    return json_string_value(json_object_get(j, key));
}

/* A proposed erasure: an erased envelope of the record its path names. Whether it is exactly
 * the erasure of the record's version when it takes effect is the validity predicate's to say. */
static int check_erasure(const json_t *content, const char *path)
{
    char type[32], id[TWIN_ID_LEN + 1];
    struct twin_envelope e;
    int rc = twin_record_parse_path(type, id, path);
    if (rc)
        return rc;
    if (!twin_envelope_is(content) || (rc = twin_envelope_read(&e, content)))
        return rc ? rc : twin_error(TWIN_EINVALID, "not the envelope of a sealed record");
    if (!e.erased)
        rc = twin_error(TWIN_EINVALID, "an envelope that is not erased");
    else if (strcmp(e.type, type) != 0 || strcmp(e.id, id) != 0)
        rc = twin_error(TWIN_EINVALID, "an envelope of another record");
    twin_envelope_clear(&e);
    return rc;
}

int twin_governance_proposal_check(const json_t *p, const char *file_id)
{
    static const char *const fields[] = {"id",      "summary",   "proposed_by",
                                         "changes", "approvals", NULL};
    if (!json_is_object(p))
        return twin_error(TWIN_EINVALID, "proposal: not a JSON object");
    const char *key;
    json_t *v;
    json_object_foreach((json_t *)p, key, v)
    {
        bool known = false;
        for (const char *const *f = fields; *f; f++)
            known = known || strcmp(*f, key) == 0;
        if (!known)
            return twin_error(TWIN_EINVALID, "proposal.%s: unknown field", key);
    }
    const char *id = str(p, "id"), *summary = str(p, "summary"), *by = str(p, "proposed_by");
    if (!id || !twin_record_id_valid(id) || (file_id && strcmp(id, file_id) != 0))
        return twin_error(TWIN_EINVALID, "proposal.id: must be the id in its file name");
    if (!summary || strlen(summary) > SUMMARY_MAX)
        return twin_error(TWIN_EINVALID, "proposal.summary: text of at most %d bytes", SUMMARY_MAX);
    if (!by || !twin_record_org_id_valid(by))
        return twin_error(TWIN_EINVALID, "proposal.proposed_by: an organisation id");
    const json_t *changes = json_object_get(p, "changes"),
                 *approvals = json_object_get(p, "approvals");
    if (!json_is_array(changes) || json_array_size(changes) == 0 ||
        json_array_size(changes) > TWIN_PROPOSAL_MAX_FILES)
        return twin_error(TWIN_EINVALID, "proposal.changes: a list of 1-%d files",
                          TWIN_PROPOSAL_MAX_FILES);
    for (size_t i = 0; i < json_array_size(changes); i++) {
        const json_t *c = json_array_get(changes, i);
        const char *path = str(c, "path");
        const json_t *content = json_object_get(c, "content");
        bool erasure = path && strncmp(path, "records/", 8) == 0;
        if (!json_is_object(c) || json_object_size(c) != 2 || !path || !json_is_object(content) ||
            !(erasure || twin_governance_path_governed(path)))
            return twin_error(TWIN_EINVALID,
                              "proposal.changes[%zu]: {path, content} for network.json, a "
                              "member file or the erasure of a sealed record",
                              i);
        for (size_t j = 0; j < i; j++)
            if (strcmp(str(json_array_get(changes, j), "path"), path) == 0)
                return twin_error(TWIN_EINVALID, "proposal.changes: %s appears twice", path);
        int rc;
        if (erasure)
            rc = check_erasure(content, path);
        else if (strcmp(path, TWIN_NETWORK_PATH) == 0)
            rc = twin_membership_check_descriptor(content);
        else {
            char org[128];
            snprintf(org, sizeof(org), "%.*s", (int)(strlen(path) - 13), path + 8);
            rc = twin_membership_check_member(content, org);
        }
        if (rc)
            return twin_error_wrap(rc, "proposal.changes[%zu] (%s)", i, path);
    }
    if (!json_is_array(approvals) || json_array_size(approvals) == 0 ||
        json_array_size(approvals) > APPROVALS_MAX)
        return twin_error(TWIN_EINVALID, "proposal.approvals: a list of institutions");
    for (size_t i = 0; i < json_array_size(approvals); i++) {
        const char *a = json_string_value(json_array_get(approvals, i));
        if (!a || !twin_record_org_id_valid(a))
            return twin_error(TWIN_EINVALID, "proposal.approvals[%zu]: an organisation id", i);
        for (size_t j = 0; j < i; j++)
            if (strcmp(json_string_value(json_array_get(approvals, j)), a) == 0)
                return twin_error(TWIN_EINVALID, "proposal.approvals: %s appears twice", a);
    }
    return 0;
}

static int blob_json(json_t **out, char *fault, size_t fault_size, git_repository *repo,
                     const git_oid *id, const char *path)
{
    git_blob *b = NULL;
    *out = NULL;
    if (git_blob_lookup(&b, repo, id) < 0)
        return twin_error_git(path);
    if (twin_record_parse_canonical(out, git_blob_rawcontent(b), (size_t)git_blob_rawsize(b)))
        snprintf(fault, fault_size, "%s: %s", path, twin_error_last());
    git_blob_free(b);
    return 0;
}

static const struct twin_change *change_at(const struct twin_treediff *d, const char *path)
{
    for (size_t i = 0; i < d->count; i++)
        if (strcmp(d->changes[i].path, path) == 0)
            return &d->changes[i];
    return NULL;
}

/* Whether the blob of change c holds exactly the canonical form of content. */
static int writes(bool *same, git_repository *repo, const struct twin_change *c,
                  const json_t *content)
{
    char *text = NULL;
    size_t len;
    git_blob *b = NULL;
    *same = false;
    if (!c || !c->has_new)
        return 0;
    int rc = twin_record_canonical(&text, &len, content);
    if (rc == 0 && git_blob_lookup(&b, repo, &c->new_id) < 0)
        rc = twin_error_git(c->path);
    if (rc == 0)
        *same =
            (size_t)git_blob_rawsize(b) == len && memcmp(git_blob_rawcontent(b), text, len) == 0;
    git_blob_free(b);
    free(text);
    return rc;
}

/* Checks one change under proposals/. Adds the proposal to `applied` when this commit brings
 * it to its threshold. */
static int check_proposal(char *fault, size_t fault_size, git_repository *repo,
                          const struct twin_change *c, const struct twin_member *who,
                          const struct twin_membership *m, json_t *applied)
{
    json_t *old = NULL, *cur = NULL;
    char id[TWIN_ID_LEN + 8];
    const char *name = c->path + strlen(TWIN_PROPOSALS_DIR) + 1;
    size_t nlen = strlen(name);
    int rc = 0;
    if (who->role != TWIN_ROLE_ADMIN) {
        snprintf(fault, fault_size, "%s (%s) proposed or approved a change without being an admin",
                 who->org_id, twin_membership_role_name(who->role));
        return 0;
    }
    if (nlen != TWIN_ID_LEN + 5 || strcmp(name + TWIN_ID_LEN, ".json") != 0) {
        snprintf(fault, fault_size, "%s: not a proposal file", c->path);
        return 0;
    }
    snprintf(id, sizeof(id), "%.*s", TWIN_ID_LEN, name);
    if (!c->has_new) {
        snprintf(fault, fault_size, "%s: proposals are never deleted", c->path);
        return 0;
    }
    if ((rc = blob_json(&cur, fault, fault_size, repo, &c->new_id, c->path)) || fault[0])
        goto done;
    if (twin_governance_proposal_check(cur, id)) {
        snprintf(fault, fault_size, "%s: %s", c->path, twin_error_last());
        goto done;
    }
    const json_t *approvals = json_object_get(cur, "approvals");
    size_t n = json_array_size(approvals);
    const char *last = json_string_value(json_array_get(approvals, n - 1));
    if (strcmp(last, who->org_id) != 0) {
        snprintf(fault, fault_size, "%s: %s may only add its own approval", c->path, who->org_id);
        goto done;
    }
    if (!c->has_old) {
        if (n != 1 || strcmp(str(cur, "proposed_by"), who->org_id) != 0) {
            snprintf(fault, fault_size,
                     "%s: a new proposal is proposed and approved by its signer alone", c->path);
            goto done;
        }
    } else {
        if ((rc = blob_json(&old, fault, fault_size, repo, &c->old_id, c->path)) || fault[0])
            goto done;
        const json_t *before = json_object_get(old, "approvals");
        json_t *expect = json_deep_copy(old);
        json_array_append_new(json_object_get(expect, "approvals"), json_string(who->org_id));
        bool ok = json_equal(expect, cur);
        json_decref(expect);
        if (!ok) {
            snprintf(fault, fault_size,
                     "%s: an approval adds the approver and changes nothing else", c->path);
            goto done;
        }
        for (size_t i = 0; i < json_array_size(before); i++)
            if (strcmp(json_string_value(json_array_get(before, i)), who->org_id) == 0) {
                snprintf(fault, fault_size, "%s: %s approved it already", c->path, who->org_id);
                goto done;
            }
        if (twin_governance_proposal_in_effect(json_array_size(before), m)) {
            snprintf(fault, fault_size, "%s: the proposal is in effect already", c->path);
            goto done;
        }
    }
    if (twin_governance_proposal_in_effect(n, m)) {
        const json_t *changes = json_object_get(cur, "changes");
        for (size_t i = 0; i < json_array_size(changes); i++) {
            const json_t *ch = json_array_get(changes, i);
            json_object_set(applied, str(ch, "path"), json_object_get(ch, "content"));
        }
    }
done:
    json_decref(old);
    json_decref(cur);
    return rc;
}

int twin_governance_check(char *fault, size_t fault_size, git_repository *repo,
                          const struct twin_treediff *d, const bool *erasures,
                          const struct twin_member *who,
                          const unsigned char signer[TWIN_PUBKEY_BYTES],
                          const struct twin_membership *m)
{
    int k = twin_governance_threshold(m);
    json_t *applied = json_object();
    int rc = applied ? 0 : twin_error(TWIN_ERROR, "out of memory");
    fault[0] = '\0';
    for (size_t i = 0; rc == 0 && !fault[0] && i < d->count; i++)
        if (strncmp(d->changes[i].path, TWIN_PROPOSALS_DIR "/", strlen(TWIN_PROPOSALS_DIR) + 1) ==
            0)
            rc = check_proposal(fault, fault_size, repo, &d->changes[i], who, m, applied);
    /* What a proposal reaching its threshold says must be written, exactly. */
    const char *path;
    json_t *content;
    json_object_foreach(applied, path, content)
    {
        bool same;
        if (rc || fault[0])
            break;
        if ((rc = writes(&same, repo, change_at(d, path), content)) == 0 && !same)
            snprintf(fault, fault_size,
                     "a proposal reached its %d approval%s, but this commit does not write %s as "
                     "proposed",
                     k, k == 1 ? "" : "s", path);
    }
    /* With k > 1 nothing governed changes otherwise, but a member's change of its own file
     * that any member may make: its name and org type, a rotation of its key. */
    for (size_t i = 0; k > 1 && rc == 0 && !fault[0] && i < d->count; i++) {
        const struct twin_change *c = &d->changes[i];
        bool erasure = erasures && erasures[i];
        if ((!erasure && !twin_governance_path_governed(c->path)) ||
            json_object_get(applied, c->path))
            continue;
        if (erasure) {
            snprintf(fault, fault_size,
                     "%s erased without approval: the policy needs %d admin institutions to "
                     "approve an erasure (propose it; others approve with twin approve)",
                     c->path, k);
            break;
        }
        char own[160];
        snprintf(own, sizeof(own), TWIN_MEMBERS_DIR "/%s.json", who->org_id);
        if (c->has_old && c->has_new && strcmp(c->path, own) == 0) {
            json_t *old = NULL, *cur = NULL;
            if ((rc = blob_json(&old, fault, fault_size, repo, &c->old_id, c->path)) == 0 &&
                !fault[0] &&
                (rc = blob_json(&cur, fault, fault_size, repo, &c->new_id, c->path)) == 0 &&
                !fault[0]) {
                bool rotation = twin_membership_check_change(old, cur, false, signer) == 0;
                twin_error_clear();
                json_decref(old);
                json_decref(cur);
                if (rotation)
                    continue;
            } else {
                json_decref(old);
                json_decref(cur);
                break;
            }
        }
        snprintf(fault, fault_size,
                 "%s changed without approval: the policy needs %d admin institutions to approve "
                 "changes to the membership and policy (propose it; others approve with twin "
                 "approve)",
                 c->path, k);
    }
    json_decref(applied);
    return rc;
}
