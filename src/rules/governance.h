/*
 * Governance: changes to the membership and the policy need the approval of k admin
 * institutions, k being network.json's policy.admin_threshold (default 1).
 *
 * With k = 1 an admin's commit changes members/ or network.json directly. With k > 1 a change is
 * first a proposal, proposals/<id>.json, holding the exact new content of every file it changes
 * and the list of admin institutions that approve it (the proposer first). Each approval is a
 * signed commit that adds its institution to that list; the commit whose approval reaches k also
 * writes the proposed content, and only then does the change take effect. A member rotating its
 * own key, or correcting its own name or org type, needs no approval.
 */
#ifndef TWIN_RULES_GOVERNANCE_H
#define TWIN_RULES_GOVERNANCE_H

#include <git2.h>
#include <jansson.h>
#include <stdbool.h>

#include "twin/governance.h"
#include "twin/membership.h"
#include "git/treediff.h"

#define TWIN_PROPOSALS_DIR      "proposals"
#define TWIN_PROPOSAL_MAX_FILES 16

/* Whether path is a file governance controls (network.json or members/<org>.json); erasures of
 * sealed records are governed too, but by what they write, not where. */
bool twin_governance_path_governed(const char *path);

/* Checks a proposal file (well formed, its changes valid files). */
int twin_governance_proposal_check(const json_t *p, const char *file_id);

/* Checks the commit's changes under network.json, members/ and proposals/, and its erasures of
 * sealed records (erasures[i] set for the i-th change of d; NULL when none), as a whole, made by
 * `who` with `signer` on a parent whose membership is m. Sets fault (and returns 0) when the
 * commit breaks a rule; returns <0 on an internal error. */
int twin_governance_check(char *fault, size_t fault_size, git_repository *repo,
                          const struct twin_treediff *d, const bool *erasures,
                          const struct twin_member *who,
                          const unsigned char signer[TWIN_PUBKEY_BYTES],
                          const struct twin_membership *m);

#endif
