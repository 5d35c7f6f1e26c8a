/* Governance (src/rules/governance.c): which paths it controls, what a proposal file must hold,
 * and the threshold rule over a commit's changes: with one admin needed, admins change the
 * membership directly; with k > 1, only through proposals that k admins approve, the last
 * approval writing exactly what was proposed; a member rotating its own key needs no approval. */
#define _XOPEN_SOURCE 700 /* nftw */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "helpers.h"
#include "git/treediff.h"
#include "rules/governance.h"
#include "twin/membership.h"
#include "twin/network.h"
#include "twin/node.h"
#include "twin/record.h"
#include "twin/tree.h"
#include "twin/global.h"

static const struct twin_identity north = {"Ministry of Finance of Exampleland", "XE-EXAMPLE-MOF",
                                           "NL", "north", "10"};
static const struct twin_identity south = {"Revenue Authority of Samplestan", "XE-EXAMPLE-RA", "TZ",
                                           "south", NULL};

#define RA_FILE "members/XE-EXAMPLE-RA.json"

/* ---- governed paths ------------------------------------------------------------------------- */

static void the_descriptor_and_member_files_are_governed(void **state)
{
    assert_true(twin_governance_path_governed("network.json"));
    assert_true(twin_governance_path_governed("members/XE-EXAMPLE-MOF.json"));
    assert_true(twin_governance_path_governed("members/a.json"));
    /* Not a member file: no name, deeper, another extension, another directory. */
    assert_false(twin_governance_path_governed("members/.json"));
    assert_false(twin_governance_path_governed("members/x/XE-EXAMPLE.json"));
    assert_false(twin_governance_path_governed("members/XE-EXAMPLE.txt"));
    assert_false(twin_governance_path_governed("members/XE-EXAMPLE.json.bak"));
    assert_false(twin_governance_path_governed("members/"));
    assert_false(twin_governance_path_governed("members"));
    assert_false(twin_governance_path_governed("members.json"));
    assert_false(twin_governance_path_governed("membersX/XE-EXAMPLE.json"));
    assert_false(twin_governance_path_governed("network.json.bak"));
    assert_false(twin_governance_path_governed("x/network.json"));
    assert_false(twin_governance_path_governed(""));
    /* Proposals are checked as proposals, records as records. */
    assert_false(
        twin_governance_path_governed("proposals/0190a4b8-0000-7000-8000-000000000001.json"));
    assert_false(
        twin_governance_path_governed("records/note/01/0190a4b8-0000-7000-8000-000000000001.json"));
}

/* ---- proposal files ------------------------------------------------------------------------- */

static json_t *member_json(const struct twin_identity *who, const char *role, unsigned char seed)
{
    twin_keypair kp;
    keypair_from_seed(&kp, seed);
    json_t *m = twin_membership_member_json(who, role, kp.pk);
    assert_non_null(m);
    return m;
}

/* A proposal by "by", approved by the NULL-terminated approvals, adding south as an editor. */
static json_t *proposal(const char *id, const char *by, const char *const *approvals)
{
    json_t *list = json_array();
    for (const char *const *a = approvals; *a; a++)
        json_array_append_new(list, json_string(*a));
    json_t *p =
        json_pack("{s:s, s:s, s:s, s:[{s:s, s:o}], s:o}", "id", id, "summary",
                  "add the Revenue Authority", "proposed_by", by, "changes", "path", RA_FILE,
                  "content", member_json(&south, "editor", 0x5a), "approvals", list);
    assert_non_null(p);
    return p;
}

#define APPROVALS(...) ((const char *const[]){__VA_ARGS__, NULL})

static void assert_proposal_refused(const json_t *p, const char *file_id, const char *message)
{
    assert_int_equal(twin_governance_proposal_check(p, file_id), TWIN_EINVALID);
    if (!strstr(twin_error_last(), message))
        fail_msg("message \"%s\" does not mention \"%s\"", twin_error_last(), message);
}

static void a_well_formed_proposal_is_accepted(void **state)
{
    char id[TWIN_ID_LEN + 1];
    twin_record_new_id(id);
    json_t *p = proposal(id, "XE-EXAMPLE-MOF", APPROVALS("XE-EXAMPLE-MOF", "XE-EXAMPLE-TWO"));
    assert_int_equal(twin_governance_proposal_check(p, id), 0);
    assert_int_equal(twin_governance_proposal_check(p, NULL), 0); /* no file name to match */
    json_decref(p);
}

static void a_proposal_must_be_named_after_its_id(void **state)
{
    char id[TWIN_ID_LEN + 1], other[TWIN_ID_LEN + 1];
    twin_record_new_id(id);
    twin_record_new_id(other);
    json_t *p = proposal(id, "XE-EXAMPLE-MOF", APPROVALS("XE-EXAMPLE-MOF"));
    assert_proposal_refused(p, other, "proposal.id: must be the id in its file name");
    json_object_set_new(p, "id", json_string("not-an-id"));
    assert_proposal_refused(p, NULL, "proposal.id: must be the id in its file name");
    json_object_del(p, "id");
    assert_proposal_refused(p, NULL, "proposal.id: must be the id in its file name");
    json_decref(p);
}

static void a_proposal_names_its_bad_fields(void **state)
{
    char id[TWIN_ID_LEN + 1], summary[302];
    twin_record_new_id(id);
    json_t *p = json_array();
    assert_proposal_refused(p, id, "proposal: not a JSON object");
    json_decref(p);

    p = proposal(id, "XE-EXAMPLE-MOF", APPROVALS("XE-EXAMPLE-MOF"));
    json_object_set_new(p, "deadline", json_string("2030-01-01"));
    assert_proposal_refused(p, id, "proposal.deadline: unknown field");
    json_object_del(p, "deadline");

    memset(summary, 's', 301);
    summary[301] = '\0';
    json_object_set_new(p, "summary", json_string(summary));
    assert_proposal_refused(p, id, "proposal.summary: text of at most 300 bytes");
    summary[300] = '\0';
    json_object_set_new(p, "summary", json_string(summary));
    assert_int_equal(twin_governance_proposal_check(p, id), 0);
    json_object_del(p, "summary");
    assert_proposal_refused(p, id, "proposal.summary: text of at most 300 bytes");
    json_object_set_new(p, "summary", json_string("ok"));

    json_object_set_new(p, "proposed_by", json_string("X"));
    assert_proposal_refused(p, id, "proposal.proposed_by: an organisation id");
    json_object_set_new(p, "proposed_by", json_integer(1));
    assert_proposal_refused(p, id, "proposal.proposed_by: an organisation id");
    json_decref(p);
}

static void a_proposal_changes_one_to_sixteen_governed_files(void **state)
{
    char id[TWIN_ID_LEN + 1];
    twin_record_new_id(id);
    json_t *p = proposal(id, "XE-EXAMPLE-MOF", APPROVALS("XE-EXAMPLE-MOF"));
    json_t *changes = json_object_get(p, "changes");
    json_t *change = json_array_get(changes, 0);

    json_object_set_new(change, "path", json_string("records/note/01/x.json"));
    assert_proposal_refused(p, id, "proposal.changes[0] (records/note/01/x.json): ");
    json_object_set_new(change, "path", json_string("notes/x.json"));
    assert_proposal_refused(p, id,
                            "proposal.changes[0]: {path, content} for network.json, a member "
                            "file or the erasure of a sealed record");
    json_object_set_new(change, "path", json_string(RA_FILE));
    json_object_set_new(change, "why", json_string("because"));
    assert_proposal_refused(p, id, "proposal.changes[0]: {path, content}");
    json_object_del(change, "why");
    json_object_set_new(change, "content", json_string("{}"));
    assert_proposal_refused(p, id, "proposal.changes[0]: {path, content}");
    json_object_set_new(change, "content", member_json(&south, "editor", 0x5a));

    json_array_append_new(changes, json_deep_copy(change));
    assert_proposal_refused(p, id, "proposal.changes: " RA_FILE " appears twice");
    json_array_remove(changes, 1);
    json_array_set_new(changes, 0, json_string(RA_FILE));
    assert_proposal_refused(p, id, "proposal.changes[0]: {path, content}");

    json_array_clear(changes);
    assert_proposal_refused(p, id, "proposal.changes: a list of 1-16 files");
    for (int i = 0; i < 17; i++) {
        char org[32], path[64];
        struct twin_identity who = south;
        snprintf(org, sizeof(org), "XE-EXAMPLE-%02d", i);
        snprintf(path, sizeof(path), "members/%s.json", org);
        who.org_id = org;
        json_array_append_new(changes, json_pack("{s:s, s:o}", "path", path, "content",
                                                 member_json(&who, "observer", (unsigned char)i)));
    }
    assert_proposal_refused(p, id, "proposal.changes: a list of 1-16 files");
    json_array_remove(changes, 16);
    assert_int_equal(twin_governance_proposal_check(p, id), 0);
    json_object_set_new(p, "changes", json_object());
    assert_proposal_refused(p, id, "proposal.changes: a list of 1-16 files");
    json_decref(p);
}

static void the_content_a_proposal_would_write_is_checked(void **state)
{
    char id[TWIN_ID_LEN + 1];
    twin_record_new_id(id);
    json_t *p = proposal(id, "XE-EXAMPLE-MOF", APPROVALS("XE-EXAMPLE-MOF"));
    json_t *change = json_array_get(json_object_get(p, "changes"), 0);
    json_t *content = json_object_get(change, "content");
    json_object_set_new(content, "role", json_string("chief"));
    assert_proposal_refused(p, id,
                            "proposal.changes[0] (" RA_FILE
                            "): member.role: role 'chief' is not one of admin | editor | observer");
    json_object_set_new(content, "role", json_string("editor"));
    /* A member file under another institution's name. */
    json_object_set_new(change, "path", json_string("members/XE-EXAMPLE-OTHER.json"));
    assert_proposal_refused(p, id,
                            "member XE-EXAMPLE-RA is stored under the name of "
                            "XE-EXAMPLE-OTHER");
    /* network.json content is checked as a descriptor. */
    json_object_set_new(change, "path", json_string("network.json"));
    assert_proposal_refused(p, id, "proposal.changes[0] (network.json): network.");
    json_decref(p);
}

static void a_proposal_lists_each_approving_institution_once(void **state)
{
    char id[TWIN_ID_LEN + 1];
    twin_record_new_id(id);
    json_t *p = proposal(id, "XE-EXAMPLE-MOF", APPROVALS("XE-EXAMPLE-MOF", "XE-EXAMPLE-MOF"));
    assert_proposal_refused(p, id, "proposal.approvals: XE-EXAMPLE-MOF appears twice");
    json_object_set_new(p, "approvals", json_array());
    assert_proposal_refused(p, id, "proposal.approvals: a list of institutions");
    json_object_set_new(p, "approvals", json_string("XE-EXAMPLE-MOF"));
    assert_proposal_refused(p, id, "proposal.approvals: a list of institutions");
    json_object_set_new(p, "approvals", json_pack("[s, i]", "XE-EXAMPLE-MOF", 7));
    assert_proposal_refused(p, id, "proposal.approvals[1]: an organisation id");
    json_object_set_new(p, "approvals", json_pack("[s]", "not an org"));
    assert_proposal_refused(p, id, "proposal.approvals[0]: an organisation id");
    json_decref(p);
}

/* ---- the threshold rule over a commit ------------------------------------------------------- */

struct gov {
    struct fixture *tmp;
    twin_node *node;
    git_tree *genesis;
    struct twin_membership *m;
    git_oid ra_tree; /* the genesis with south as an editor (key seed 0xa1) */
};

struct edit {
    const char *path;
    const char *text; /* NULL: removed */
};

static git_tree *tree_with(struct gov *g, const git_tree *base, const struct edit *edits,
                           size_t count)
{
    git_repository *repo = twin_node_repo(g->node);
    git_tree_update u[8];
    git_oid id;
    git_tree *t = NULL;
    assert_true(count <= 8);
    for (size_t i = 0; i < count; i++) {
        memset(&u[i], 0, sizeof(u[i]));
        u[i].path = edits[i].path;
        u[i].action = edits[i].text ? GIT_TREE_UPDATE_UPSERT : GIT_TREE_UPDATE_REMOVE;
        u[i].filemode = GIT_FILEMODE_BLOB;
        if (edits[i].text)
            assert_int_equal(
                git_blob_create_from_buffer(&u[i].id, repo, edits[i].text, strlen(edits[i].text)),
                0);
    }
    assert_int_equal(git_tree_create_updated(&id, repo, (git_tree *)base, count, u), 0);
    assert_int_equal(git_tree_lookup(&t, repo, &id), 0);
    return t;
}

/* Canonical text of j (consumed); free() it. */
static char *canonical(json_t *j)
{
    char *text = NULL;
    size_t len;
    assert_non_null(j);
    assert_int_equal(twin_record_canonical(&text, &len, j), 0);
    json_decref(j);
    return text;
}

static int setup_gov(void **state)
{
    struct gov *g = calloc(1, sizeof(*g));
    char path[192];
    void *tmp = NULL;
    git_oid head;
    git_commit *c = NULL;
    if (!g || fixture_setup(&tmp))
        return -1;
    g->tmp = tmp;
    snprintf(path, sizeof(path), "%s/north", g->tmp->dir);
    if (twin_network_create(&g->node, path, &north, "Example Tax Twinning") ||
        twin_node_head(&head, g->node) ||
        git_commit_lookup(&c, twin_node_repo(g->node), &head) < 0 ||
        git_commit_tree(&g->genesis, c) < 0 || twin_membership_at_head(&g->m, g->node))
        return -1;
    git_commit_free(c);
    *state = g;
    char *ra = canonical(member_json(&south, "editor", 0xa1));
    const struct edit e[] = {{RA_FILE, ra}};
    git_tree *t = tree_with(g, g->genesis, e, 1);
    g->ra_tree = *git_tree_id(t);
    git_tree_free(t);
    free(ra);
    return 0;
}

static int teardown_gov(void **state)
{
    struct gov *g = *state;
    void *tmp = g->tmp;
    twin_membership_free(g->m);
    git_tree_free(g->genesis);
    twin_node_free(g->node);
    fixture_teardown(&tmp);
    free(g);
    return 0;
}

/* Members as governance sees them: only the role and org-id count. */
static const struct twin_member admin_mof = {.org_id = "XE-EXAMPLE-MOF", .role = TWIN_ROLE_ADMIN};
static const struct twin_member admin_two = {.org_id = "XE-EXAMPLE-TWO", .role = TWIN_ROLE_ADMIN};
static const struct twin_member admin_three = {.org_id = "XE-EXAMPLE-THREE",
                                               .role = TWIN_ROLE_ADMIN};
static const struct twin_member editor_ra = {.org_id = "XE-EXAMPLE-RA", .role = TWIN_ROLE_EDITOR};

/* Runs the check of the change from old to cur made by who (signing with signer, or a key from
 * seed 0xee) with threshold k: the fault, "" when none (free() it). */
static char *govern(struct gov *g, const git_tree *old, const git_tree *cur,
                    const struct twin_member *who, const twin_keypair *signer, int k)
{
    struct twin_treediff d = {.repo = twin_node_repo(g->node)};
    char fault[600];
    twin_keypair other;
    keypair_from_seed(&other, 0xee);
    assert_int_equal(twin_treediff_run(&d, old, cur), 0);
    g->m->admin_threshold = k;
    memset(fault, 'x', sizeof(fault));
    int rc = twin_governance_check(fault, sizeof(fault), twin_node_repo(g->node), &d, NULL, who,
                                   (signer ? signer : &other)->pk, g->m);
    if (rc)
        fail_msg("governance check: %d %s", rc, twin_error_last());
    twin_treediff_clear(&d);
    return strdup(fault);
}

/* The genesis with edits, checked as a change by who at threshold k. */
static char *govern_edits(struct gov *g, const git_tree *base, const struct edit *edits,
                          size_t count, const struct twin_member *who, int k)
{
    git_tree *cur = tree_with(g, base, edits, count);
    char *fault = govern(g, base, cur, who, NULL, k);
    git_tree_free(cur);
    return fault;
}

static void assert_no_fault(char *fault)
{
    if (fault[0])
        fail_msg("unexpected fault: %s", fault);
    free(fault);
}

static void assert_fault(char *fault, const char *part)
{
    if (!strstr(fault, part))
        fail_msg("fault \"%s\" does not mention \"%s\"", fault, part);
    free(fault);
}

static git_tree *ra_tree(struct gov *g)
{
    git_tree *t = NULL;
    assert_int_equal(git_tree_lookup(&t, twin_node_repo(g->node), &g->ra_tree), 0);
    return t;
}

static void with_one_admin_needed_an_admin_changes_the_membership_directly(void **state)
{
    struct gov *g = *state;
    char *ra = canonical(member_json(&south, "editor", 0xa1));
    const struct edit e[] = {{RA_FILE, ra}};
    assert_no_fault(govern_edits(g, g->genesis, e, 1, &admin_mof, 1));
    /* A threshold of 0 (never valid in a descriptor) counts as 1. */
    assert_no_fault(govern_edits(g, g->genesis, e, 1, &admin_mof, 0));
    free(ra);
}

static void with_two_admins_needed_a_direct_change_is_refused(void **state)
{
    struct gov *g = *state;
    char *ra = canonical(member_json(&south, "editor", 0xa1));
    const struct edit e[] = {{RA_FILE, ra}};
    assert_fault(govern_edits(g, g->genesis, e, 1, &admin_mof, 2),
                 RA_FILE " changed without approval: the policy needs 2 admin institutions to "
                         "approve changes to the membership and policy (propose it; others "
                         "approve with twin approve)");
    free(ra);

    /* The policy itself is governed the same way. */
    char *net = NULL;
    size_t len;
    json_t *j = NULL;
    assert_int_equal(
        twin_tree_read(&net, &len, twin_node_repo(g->node), g->genesis, "network.json"), 0);
    assert_int_equal(twin_record_parse_canonical(&j, net, len), 0);
    free(net);
    json_object_set_new(json_object_get(j, "policy"), "admin_threshold", json_integer(2));
    char *text = canonical(j);
    const struct edit n[] = {{"network.json", text}};
    assert_fault(govern_edits(g, g->genesis, n, 1, &admin_mof, 3),
                 "network.json changed without approval: the policy needs 3 admin institutions");
    free(text);
}

static void a_change_outside_the_governed_files_is_not_governance_s_business(void **state)
{
    struct gov *g = *state;
    const struct edit e[] = {{"records/note/01/x.json", "{}\n"}, {"README", "hi\n"}};
    assert_no_fault(govern_edits(g, g->genesis, e, 2, &editor_ra, 5));
}

static void a_member_rotating_its_own_key_needs_no_approval(void **state)
{
    struct gov *g = *state;
    twin_keypair a, b;
    keypair_from_seed(&a, 0xa1);
    keypair_from_seed(&b, 0xb2);
    char line[TWIN_OPENSSH_PUB_MAX];
    twin_key_format_openssh(line, b.pk);
    json_t *rotated = member_json(&south, "editor", 0xa1);
    json_t *keys = json_object_get(rotated, "keys");
    json_object_set_new(json_array_get(keys, 0), "state", json_string("retired"));
    json_array_append_new(keys, json_pack("{s:s, s:s}", "key", line, "state", "active"));
    char *text = canonical(rotated);
    git_tree *base = ra_tree(g);
    const struct edit e[] = {{RA_FILE, text}};
    git_tree *cur = tree_with(g, base, e, 1);
    assert_no_fault(govern(g, base, cur, &editor_ra, &a, 2));
    /* Signed with another key than the one retired: no rotation of its own. */
    assert_fault(govern(g, base, cur, &editor_ra, &b, 2), RA_FILE " changed without approval");
    /* Someone else's file is never its own rotation. */
    assert_fault(govern(g, base, cur, &admin_mof, &a, 2), RA_FILE " changed without approval");
    git_tree_free(cur);
    free(text);

    /* Anything more than a rotation of its own file needs the approvals. */
    json_t *promoted = member_json(&south, "admin", 0xa1);
    text = canonical(promoted);
    const struct edit p[] = {{RA_FILE, text}};
    cur = tree_with(g, base, p, 1);
    assert_fault(govern(g, base, cur, &editor_ra, &a, 2), RA_FILE " changed without approval");
    git_tree_free(cur);
    git_tree_free(base);
    free(text);
}

static void a_member_correcting_its_own_name_and_org_type_needs_no_approval(void **state)
{
    struct gov *g = *state;
    twin_keypair a;
    keypair_from_seed(&a, 0xa1);
    json_t *renamed = member_json(&south, "editor", 0xa1);
    json_object_set_new(renamed, "name", json_string("Revenue Authority of Samplestan (RAS)"));
    json_object_set_new(renamed, "org_type", json_string("10"));
    char *text = canonical(renamed);
    git_tree *base = ra_tree(g);
    const struct edit e[] = {{RA_FILE, text}};
    git_tree *cur = tree_with(g, base, e, 1);
    assert_no_fault(govern(g, base, cur, &editor_ra, &a, 2));
    /* An admin renaming another member needs the approvals like any membership change. */
    assert_fault(govern(g, base, cur, &admin_mof, &a, 2), RA_FILE " changed without approval");
    git_tree_free(cur);
    free(text);

    /* Its country is not its own to change: that needs the approvals. */
    json_t *moved = member_json(&south, "editor", 0xa1);
    json_object_set_new(moved, "country", json_string("KE"));
    text = canonical(moved);
    const struct edit m[] = {{RA_FILE, text}};
    cur = tree_with(g, base, m, 1);
    assert_fault(govern(g, base, cur, &editor_ra, &a, 2), RA_FILE " changed without approval");
    git_tree_free(cur);
    git_tree_free(base);
    free(text);
}

/* proposals/<id>.json for p (consumed): its path into path, its text (free() it). */
static char *proposal_file(char path[96], json_t *p)
{
    snprintf(path, 96, "proposals/%s.json", json_string_value(json_object_get(p, "id")));
    return canonical(p);
}

static void a_new_proposal_by_an_admin_is_allowed_and_changes_nothing_yet(void **state)
{
    struct gov *g = *state;
    char id[TWIN_ID_LEN + 1], path[96];
    twin_record_new_id(id);
    char *text = proposal_file(path, proposal(id, "XE-EXAMPLE-MOF", APPROVALS("XE-EXAMPLE-MOF")));
    const struct edit e[] = {{path, text}};
    assert_no_fault(govern_edits(g, g->genesis, e, 1, &admin_mof, 2));
    /* Writing the change in the same commit is not allowed before the approvals are in. */
    char *ra = canonical(member_json(&south, "editor", 0x5a));
    const struct edit both[] = {{path, text}, {RA_FILE, ra}};
    assert_fault(govern_edits(g, g->genesis, both, 2, &admin_mof, 2),
                 RA_FILE " changed without approval");
    free(ra);
    free(text);
}

static void only_an_admin_proposes_or_approves(void **state)
{
    struct gov *g = *state;
    char id[TWIN_ID_LEN + 1], path[96];
    twin_record_new_id(id);
    char *text = proposal_file(path, proposal(id, "XE-EXAMPLE-RA", APPROVALS("XE-EXAMPLE-RA")));
    const struct edit e[] = {{path, text}};
    assert_fault(govern_edits(g, g->genesis, e, 1, &editor_ra, 2),
                 "XE-EXAMPLE-RA (editor) proposed or approved a change without being an admin");
    free(text);
}

static void a_new_proposal_is_proposed_and_approved_by_its_signer_alone(void **state)
{
    struct gov *g = *state;
    char id[TWIN_ID_LEN + 1], path[96];
    twin_record_new_id(id);
    char *text = proposal_file(
        path, proposal(id, "XE-EXAMPLE-MOF", APPROVALS("XE-EXAMPLE-TWO", "XE-EXAMPLE-MOF")));
    const struct edit two[] = {{path, text}};
    assert_fault(govern_edits(g, g->genesis, two, 1, &admin_mof, 3),
                 ": a new proposal is proposed and approved by its signer alone");
    free(text);
    text = proposal_file(path, proposal(id, "XE-EXAMPLE-TWO", APPROVALS("XE-EXAMPLE-MOF")));
    const struct edit other[] = {{path, text}};
    assert_fault(govern_edits(g, g->genesis, other, 1, &admin_mof, 3),
                 "a new proposal is proposed and approved by its signer alone");
    free(text);
    text = proposal_file(path, proposal(id, "XE-EXAMPLE-TWO", APPROVALS("XE-EXAMPLE-TWO")));
    const struct edit not_own[] = {{path, text}};
    assert_fault(govern_edits(g, g->genesis, not_own, 1, &admin_mof, 3),
                 ": XE-EXAMPLE-MOF may only add its own approval");
    free(text);
}

/* The genesis with a proposal approved by approvals; its path into path. */
static git_tree *with_proposal(struct gov *g, char path[96], const char *id,
                               const char *const *approvals)
{
    char *text = proposal_file(path, proposal(id, "XE-EXAMPLE-MOF", approvals));
    const struct edit e[] = {{path, text}};
    git_tree *t = tree_with(g, g->genesis, e, 1);
    free(text);
    return t;
}

static void the_approval_that_reaches_the_threshold_writes_the_change(void **state)
{
    struct gov *g = *state;
    char id[TWIN_ID_LEN + 1], path[96];
    twin_record_new_id(id);
    git_tree *base = with_proposal(g, path, id, APPROVALS("XE-EXAMPLE-MOF"));
    char *approved = proposal_file(
        path, proposal(id, "XE-EXAMPLE-MOF", APPROVALS("XE-EXAMPLE-MOF", "XE-EXAMPLE-TWO")));
    char *ra = canonical(member_json(&south, "editor", 0x5a));
    const struct edit apply[] = {{path, approved}, {RA_FILE, ra}};
    assert_no_fault(govern_edits(g, base, apply, 2, &admin_two, 2));

    /* Approving without writing the change, or writing something else, is refused. */
    const struct edit only[] = {{path, approved}};
    assert_fault(govern_edits(g, base, only, 1, &admin_two, 2),
                 "a proposal reached its 2 approvals, but this commit does not write " RA_FILE
                 " as proposed");
    char *observer = canonical(member_json(&south, "observer", 0x5a));
    const struct edit other[] = {{path, approved}, {RA_FILE, observer}};
    assert_fault(govern_edits(g, base, other, 2, &admin_two, 2),
                 "does not write " RA_FILE " as proposed");
    free(observer);

    /* Below the threshold, an approval writes nothing else. */
    assert_no_fault(govern_edits(g, base, only, 1, &admin_two, 3));
    assert_fault(govern_edits(g, base, apply, 2, &admin_two, 3),
                 RA_FILE " changed without approval");
    free(ra);
    free(approved);
    git_tree_free(base);
}

static void with_one_admin_needed_a_proposal_takes_effect_at_once(void **state)
{
    struct gov *g = *state;
    char id[TWIN_ID_LEN + 1], path[96];
    twin_record_new_id(id);
    char *text = proposal_file(path, proposal(id, "XE-EXAMPLE-MOF", APPROVALS("XE-EXAMPLE-MOF")));
    const struct edit e[] = {{path, text}};
    assert_fault(govern_edits(g, g->genesis, e, 1, &admin_mof, 1),
                 "a proposal reached its 1 approval, but this commit does not write " RA_FILE);
    char *ra = canonical(member_json(&south, "editor", 0x5a));
    const struct edit both[] = {{path, text}, {RA_FILE, ra}};
    assert_no_fault(govern_edits(g, g->genesis, both, 2, &admin_mof, 1));
    free(ra);
    free(text);
}

static void an_approval_adds_only_its_own_institution(void **state)
{
    struct gov *g = *state;
    char id[TWIN_ID_LEN + 1], path[96];
    twin_record_new_id(id);
    git_tree *base = with_proposal(g, path, id, APPROVALS("XE-EXAMPLE-MOF"));
    /* Adding another institution's approval. */
    char *text = proposal_file(
        path, proposal(id, "XE-EXAMPLE-MOF", APPROVALS("XE-EXAMPLE-MOF", "XE-EXAMPLE-THREE")));
    const struct edit e[] = {{path, text}};
    assert_fault(govern_edits(g, base, e, 1, &admin_two, 3),
                 ": XE-EXAMPLE-TWO may only add its own approval");
    free(text);
    /* Changing anything else on the way. */
    json_t *p = proposal(id, "XE-EXAMPLE-MOF", APPROVALS("XE-EXAMPLE-MOF", "XE-EXAMPLE-TWO"));
    json_object_set_new(p, "summary", json_string("add them as admin"));
    text = proposal_file(path, p);
    const struct edit changed[] = {{path, text}};
    assert_fault(govern_edits(g, base, changed, 1, &admin_two, 3),
                 ": an approval adds the approver and changes nothing else");
    free(text);
    /* Approving twice: the list may not hold it twice. */
    text = proposal_file(
        path, proposal(id, "XE-EXAMPLE-MOF", APPROVALS("XE-EXAMPLE-MOF", "XE-EXAMPLE-MOF")));
    const struct edit twice[] = {{path, text}};
    assert_fault(govern_edits(g, base, twice, 1, &admin_mof, 3),
                 "proposal.approvals: XE-EXAMPLE-MOF appears twice");
    free(text);
    git_tree_free(base);
}

static void a_proposal_in_effect_takes_no_more_approvals(void **state)
{
    struct gov *g = *state;
    char id[TWIN_ID_LEN + 1], path[96];
    twin_record_new_id(id);
    git_tree *base = with_proposal(g, path, id, APPROVALS("XE-EXAMPLE-MOF", "XE-EXAMPLE-TWO"));
    char *text = proposal_file(
        path, proposal(id, "XE-EXAMPLE-MOF",
                       APPROVALS("XE-EXAMPLE-MOF", "XE-EXAMPLE-TWO", "XE-EXAMPLE-THREE")));
    const struct edit e[] = {{path, text}};
    assert_fault(govern_edits(g, base, e, 1, &admin_three, 2),
                 ": the proposal is in effect already");
    free(text);
    git_tree_free(base);
}

static void proposals_are_never_deleted_and_are_proposal_files(void **state)
{
    struct gov *g = *state;
    char id[TWIN_ID_LEN + 1], path[96];
    twin_record_new_id(id);
    git_tree *base = with_proposal(g, path, id, APPROVALS("XE-EXAMPLE-MOF"));
    const struct edit removed[] = {{path, NULL}};
    assert_fault(govern_edits(g, base, removed, 1, &admin_mof, 2), ": proposals are never deleted");
    git_tree_free(base);

    const struct edit stray[] = {{"proposals/notes.txt", "hello\n"}};
    assert_fault(govern_edits(g, g->genesis, stray, 1, &admin_mof, 2),
                 "proposals/notes.txt: not a proposal file");
    char nested[128];
    snprintf(nested, sizeof(nested), "proposals/%s.json/x", id);
    const struct edit deeper[] = {{nested, "{}\n"}};
    assert_fault(govern_edits(g, g->genesis, deeper, 1, &admin_mof, 2), "not a proposal file");

    snprintf(path, 96, "proposals/%s.json", id);
    const struct edit not_json[] = {{path, "{\"id\": 1}"}};
    assert_fault(govern_edits(g, g->genesis, not_json, 1, &admin_mof, 2), path);
    json_t *p = proposal(id, "XE-EXAMPLE-MOF", APPROVALS("XE-EXAMPLE-MOF"));
    json_object_set_new(p, "summary", json_integer(3));
    char *text = proposal_file(path, p);
    const struct edit malformed[] = {{path, text}};
    assert_fault(govern_edits(g, g->genesis, malformed, 1, &admin_mof, 2),
                 ": proposal.summary: text of at most 300 bytes");
    free(text);
    /* Under a file name that is not its id. */
    char other[TWIN_ID_LEN + 1];
    twin_record_new_id(other);
    text = canonical(proposal(other, "XE-EXAMPLE-MOF", APPROVALS("XE-EXAMPLE-MOF")));
    const struct edit misnamed[] = {{path, text}};
    assert_fault(govern_edits(g, g->genesis, misnamed, 1, &admin_mof, 2),
                 ": proposal.id: must be the id in its file name");
    free(text);
}

static int setup_global(void **state)
{
    return twin_global_init(false) == 0 ? 0 : -1;
}

#define GOV_TEST(t) cmocka_unit_test_setup_teardown(t, setup_gov, teardown_gov)

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(the_descriptor_and_member_files_are_governed),
        cmocka_unit_test(a_well_formed_proposal_is_accepted),
        cmocka_unit_test(a_proposal_must_be_named_after_its_id),
        cmocka_unit_test(a_proposal_names_its_bad_fields),
        cmocka_unit_test(a_proposal_changes_one_to_sixteen_governed_files),
        cmocka_unit_test(the_content_a_proposal_would_write_is_checked),
        cmocka_unit_test(a_proposal_lists_each_approving_institution_once),
        GOV_TEST(with_one_admin_needed_an_admin_changes_the_membership_directly),
        GOV_TEST(with_two_admins_needed_a_direct_change_is_refused),
        GOV_TEST(a_change_outside_the_governed_files_is_not_governance_s_business),
        GOV_TEST(a_member_rotating_its_own_key_needs_no_approval),
        GOV_TEST(a_member_correcting_its_own_name_and_org_type_needs_no_approval),
        GOV_TEST(a_new_proposal_by_an_admin_is_allowed_and_changes_nothing_yet),
        GOV_TEST(only_an_admin_proposes_or_approves),
        GOV_TEST(a_new_proposal_is_proposed_and_approved_by_its_signer_alone),
        GOV_TEST(the_approval_that_reaches_the_threshold_writes_the_change),
        GOV_TEST(with_one_admin_needed_a_proposal_takes_effect_at_once),
        GOV_TEST(an_approval_adds_only_its_own_institution),
        GOV_TEST(a_proposal_in_effect_takes_no_more_approvals),
        GOV_TEST(proposals_are_never_deleted_and_are_proposal_files),
    };
    return cmocka_run_group_tests(tests, setup_global, NULL);
}
