#include <stdio.h>

#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "twin/audit.h"
#include "twin/checkpoint.h"
#include "twin/error.h"
#include "twin/key.h"
#include "twin/util.h"

/* twin verify --checkpoints FILE...: the statements of all files, checked together. */
static int verify_checkpoints(struct cli *c, int nfiles, char **files)
{
    struct twin_checkpoint *all = NULL;
    size_t nall = 0;
    int rc = 0;
    for (int i = 0; i < nfiles && rc == 0; i++) {
        struct twin_checkpoint *cps = NULL;
        size_t n = 0;
        if ((rc = twin_checkpoint_read(&cps, &n, files[i])))
            break;
        struct twin_checkpoint *m = realloc(all, (nall + n + 1) * sizeof(*all));
        if (!m) {
            twin_checkpoint_free(cps, n);
            rc = twin_error(TWIN_ERROR, "out of memory");
            break;
        }
        all = m;
        memcpy(all + nall, cps, n * sizeof(*cps));
        nall += n;
        free(cps); /* the signatures now belong to all */
    }
    struct twin_checkpoint_finding *f = NULL;
    size_t nf = 0;
    if (rc == 0)
        rc = twin_checkpoint_audit(&f, &nf, c->node, all, nall);
    if (rc) {
        twin_checkpoint_free(all, nall);
        return cli_fail(rc);
    }
    static const char *const kinds[] = {"equivocation", "unknown_head", "other_network"};
    if (c->json) {
        json_t *list = json_array();
        for (size_t i = 0; i < nf; i++) {
            json_t *e = json_pack("{s:s, s:s, s:s}", "kind", kinds[f[i].kind], "message", f[i].text,
                                  "statement", all[f[i].a].text);
            if (f[i].kind == TWIN_CP_EQUIVOCATION) {
                json_object_set_new(e, "other_statement", json_string(all[f[i].b].text));
                json_object_set_new(e, "signature", json_string(all[f[i].a].sig));
                json_object_set_new(e, "other_signature", json_string(all[f[i].b].sig));
            }
            json_array_append_new(list, e);
        }
        json_t *j = json_pack("{s:I, s:b, s:o}", "statements", (json_int_t)nall, "consistent",
                              nf == 0, "findings", list);
        cli_print_json(j);
        json_decref(j);
    } else {
        printf("Checked %zu signed checkpoint statement%s from %d file%s.\n", nall, cli_s(nall),
               nfiles, cli_s((size_t)nfiles));
        for (size_t i = 0; i < nf; i++) {
            printf("  %s\n", f[i].text);
            if (f[i].kind == TWIN_CP_EQUIVOCATION)
                printf("    evidence:\n%s%s\n%s%s\n", all[f[i].a].text, all[f[i].a].sig,
                       all[f[i].b].text, all[f[i].b].sig);
        }
        if (nf == 0)
            printf("Every node's statements lie on one history.\n");
    }
    free(f);
    twin_checkpoint_free(all, nall);
    return nf ? CLI_CHECK_FAILED : CLI_OK;
}

/* What was checked, for the report: a node's history, or a copy of one at repo (with the
 * network the auditor expects, or NULL). */
struct checked {
    const char *repo, *expected;
};

static void print_report(const struct cli *c, const struct twin_verify_report *r,
                         const struct twin_sealed_report *sr, const struct checked *what)
{
    if (c->json) {
        json_t *members = json_array(), *faults = json_array();
        for (size_t i = 0; i < r->nmembers; i++) {
            json_t *keys = json_array();
            for (size_t k = 0; k < r->members[i].nkeys; k++) {
                char line[TWIN_OPENSSH_PUB_MAX], fp[64];
                twin_key_format_openssh(line, r->members[i].keys[k]);
                twin_key_fingerprint(fp, r->members[i].keys[k]);
                json_array_append_new(keys,
                                      json_pack("{s:s, s:s}", "key", line, "fingerprint", fp));
            }
            json_array_append_new(members, json_pack("{s:s, s:I, s:I, s:I, s:o}", "org_id",
                                                     r->members[i].org_id, "commits",
                                                     (json_int_t)r->members[i].commits, "first",
                                                     (json_int_t)r->members[i].first, "last",
                                                     (json_int_t)r->members[i].last, "keys", keys));
        }
        for (size_t i = 0; i < r->nfaults; i++) {
            const struct twin_fault *f = &r->faults[i];
            json_t *e = json_pack("{s:s}", "reason", f->reason);
            if (!git_oid_is_zero(&f->commit))
                json_object_set_new(e, "commit", json_string(git_oid_tostr_s(&f->commit)));
            if (f->file[0])
                json_object_set_new(e, "file", json_string(f->file));
            if (f->has_object)
                json_object_set_new(e, "object", json_string(git_oid_tostr_s(&f->object)));
            if (f->has_offset)
                json_object_set_new(e, "offset", json_integer((json_int_t)f->offset));
            json_array_append_new(faults, e);
        }
        json_t *ahead = json_array();
        for (size_t i = 0; i < r->nahead; i++)
            json_array_append_new(ahead, json_pack("{s:s, s:I, s:s}", "commit",
                                                   git_oid_tostr_s(&r->ahead[i].commit), "time",
                                                   (json_int_t)r->ahead[i].time, "member",
                                                   r->ahead[i].org_id));
        json_t *j =
            json_pack("{s:s, s:s, s:I, s:b, s:o, s:o, s:o}", "network_id",
                      what->repo ? r->network_id : twin_node_network_id(c->node), "head",
                      git_oid_tostr_s(&r->head), "commits", (json_int_t)r->commits, "valid",
                      r->nfaults == 0, "members", members, "faults", faults, "ahead", ahead);
        if (what->repo) {
            json_object_set_new(j, "repository", json_string(what->repo));
            json_object_set_new(j, "ref", json_string(r->ref));
        }
        if (what->expected)
            json_object_set_new(j, "expected_network", json_string(what->expected));
        if (r->incremental)
            json_object_set_new(j, "since", json_string(git_oid_tostr_s(&r->since)));
        if (r->store_checked)
            json_object_set_new(j, "store",
                                json_pack("{s:I, s:I, s:I}", "packs", (json_int_t)r->packs,
                                          "packed_objects", (json_int_t)r->packed_objects,
                                          "loose_objects", (json_int_t)r->loose_objects));
        json_t *erased = json_array(), *findings = json_array();
        for (size_t i = 0; sr && i < sr->nerasures; i++)
            json_array_append_new(erased,
                                  json_pack("{s:s, s:s, s:s}", "type", sr->erasures[i].type, "id",
                                            sr->erasures[i].id, "reason", sr->erasures[i].reason));
        for (size_t i = 0; sr && i < sr->nfindings; i++)
            json_array_append_new(findings, json_string(sr->findings[i].text));
        if (!sr) {
            json_decref(erased);
            json_decref(findings);
        } else
            json_object_set_new(j, "sealed",
                                json_pack("{s:I, s:I, s:I, s:I, s:I, s:o, s:o}", "records",
                                          (json_int_t)sr->sealed, "readable",
                                          (json_int_t)sr->opened, "sealed_to_others",
                                          (json_int_t)sr->closed, "erased", (json_int_t)sr->erased,
                                          "erased_keys_deleted", (json_int_t)sr->keys_deleted,
                                          "erasures", erased, "findings", findings));
        cli_print_json(j);
        json_decref(j);
    } else {
        if (what->repo) {
            printf("Repository %s, branch %s.\n", what->repo, r->ref);
            if (!r->network_id[0])
                printf("Network: none (the genesis holds no network descriptor).\n");
            else if (!what->expected)
                printf("Network %s: compare it with the network id you were given.\n",
                       r->network_id);
            else if (strcmp(r->network_id, what->expected) == 0)
                printf("Network %s, as expected.\n", r->network_id);
            else
                printf("Network %s, not the expected %s.\n", r->network_id, what->expected);
        }
        if (r->incremental) {
            char since_hex[GIT_OID_HEXSZ + 1];
            git_oid_tostr(since_hex, sizeof(since_hex), &r->since);
            printf("Checked %zu commit%s after %.12s, up to %s.\n", r->commits, cli_s(r->commits),
                   since_hex, git_oid_tostr_s(&r->head));
        } else
            printf("Checked %zu commit%s up to %s.\n", r->commits, cli_s(r->commits),
                   git_oid_tostr_s(&r->head));
        if (r->store_checked)
            printf("Checked %zu pack%s (%zu object%s) and %zu loose object%s.\n", r->packs,
                   cli_s(r->packs), r->packed_objects, cli_s(r->packed_objects), r->loose_objects,
                   cli_s(r->loose_objects));
        for (size_t i = 0; i < r->nmembers; i++) {
            char first[TWIN_UTIL_TIME_BYTES], last[TWIN_UTIL_TIME_BYTES];
            twin_util_format_time(first, r->members[i].first);
            twin_util_format_time(last, r->members[i].last);
            printf("  %-24s %6zu valid commits, %s .. %s\n", r->members[i].org_id,
                   r->members[i].commits, first, last);
            for (size_t k = 0; k < r->members[i].nkeys; k++) {
                char fp[64];
                twin_key_fingerprint(fp, r->members[i].keys[k]);
                printf("  %-24s        key %s\n", "", fp);
            }
        }
        if (r->nahead) {
            char now[TWIN_UTIL_TIME_BYTES];
            twin_util_format_time(now, r->now);
            printf("Warning: %zu commit%s dated more than a day ahead of this %s's clock (%s):\n",
                   r->nahead, r->nahead == 1 ? "" : "s", what->repo ? "computer" : "node", now);
        }
        for (size_t i = 0; i < r->nahead; i++) {
            char when[TWIN_UTIL_TIME_BYTES];
            twin_util_format_time(when, r->ahead[i].time);
            printf("  commit %s: dated %s, by %s\n", git_oid_tostr_s(&r->ahead[i].commit), when,
                   r->ahead[i].org_id[0] ? r->ahead[i].org_id : "(not a member)");
        }
        if (r->nfaults == 0)
            printf("All commits are valid.\n");
        else
            printf("%zu fault%s:\n", r->nfaults, r->nfaults == 1 ? "" : "s");
        for (size_t i = 0; i < r->nfaults; i++) {
            if (git_oid_is_zero(&r->faults[i].commit))
                printf("  %s\n", r->faults[i].reason);
            else
                printf("  commit %s: %s\n", git_oid_tostr_s(&r->faults[i].commit),
                       r->faults[i].reason);
        }
    }
    if (!c->json && sr && sr->sealed) {
        printf("Sealed records: %zu (this node reads %zu, %zu %s sealed to others, %zu erased).\n",
               sr->sealed, sr->opened, sr->closed, sr->closed == 1 ? "is" : "are", sr->erased);
        for (size_t i = 0; i < sr->nerasures; i++)
            printf("  erased %s %s: %s\n", sr->erasures[i].type, sr->erasures[i].id,
                   sr->erasures[i].reason);
        if (sr->erased)
            printf("This node holds no key of an erased record.\n");
        for (size_t i = 0; i < sr->nfindings; i++)
            printf("  finding: %s\n", sr->findings[i].text);
    }
}

/* twin verify --repo PATH [--network ID]: a copy of a network's history, without a node. */
static int verify_repo(struct cli *c, const char *path, const char *network)
{
    struct twin_verify_report *r = NULL;
    int rc = twin_audit_verify_repo(&r, path, network, 0);
    if (rc)
        return cli_fail(rc);
    const struct checked copy = {path, network};
    print_report(c, r, NULL, &copy);
    int code = r->nfaults ? CLI_CHECK_FAILED : CLI_OK;
    twin_audit_verify_report_free(r);
    return code;
}

int cmd_verify(struct cli *c, int argc, char **argv)
{
    int first_file = 0;
    const char *since = NULL, *repo = NULL, *network = NULL;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--checkpoints") == 0) {
            first_file = i + 1;
            break;
        }
        int m = cli_option(&since, &i, argc, argv, "--since");
        if (m == 0)
            m = cli_option(&repo, &i, argc, argv, "--repo");
        if (m == 0)
            m = cli_option(&network, &i, argc, argv, "--network");
        if (m < 0)
            return CLI_USAGE;
        if (!m)
            return cli_usage_error("verify", "unexpected argument '%s'", argv[i]);
    }
    if (first_file && first_file >= argc)
        return cli_usage_error("verify", "--checkpoints takes one or more files");
    if (first_file && since)
        return cli_usage_error("verify", "--since and --checkpoints are separate checks");
    if (repo && (since || first_file))
        return cli_usage_error("verify", "--repo checks a whole history, without --%s",
                               since ? "since" : "checkpoints");
    if (network && !repo)
        return cli_usage_error("verify", "--network goes with --repo (a node knows its network)");
    if (repo && !repo[0])
        return cli_usage_error("verify", "--repo needs the path of a git repository");
    if (repo)
        return verify_repo(c, repo, network);
    int code = cli_open(c);
    if (code)
        return code;
    if (first_file)
        return verify_checkpoints(c, argc - first_file, argv + first_file);
    git_oid since_id;
    if (since && twin_node_commit(&since_id, c->node, since)) {
        fprintf(stderr, "twin: --since %s\n", twin_error_last());
        return CLI_USAGE;
    }
    struct twin_verify_report *r = NULL;
    int rc = since ? twin_audit_verify_since(&r, c->node, 0, &since_id)
                   : twin_audit_verify(&r, c->node, 0);
    if (rc)
        return cli_fail(rc);
    /* The sealed records at the head: on a history found sound (on a faulty one, reading them
     * would only repeat its faults). */
    struct twin_sealed_report *sr = NULL;
    bool sealed_unchecked = false;
    if (r->nfaults == 0 && twin_sealedcheck_run(&sr, c->node)) {
        fprintf(stderr, "twin: the sealed records could not be checked: %s\n", twin_error_last());
        sealed_unchecked = true;
    }
    const struct checked node = {NULL, NULL};
    print_report(c, r, sr, &node);
    code = r->nfaults || sealed_unchecked ? CLI_CHECK_FAILED : CLI_OK;
    twin_sealedcheck_free(sr);
    twin_audit_verify_report_free(r);
    return code;
}
