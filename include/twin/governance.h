/*
 * Governance as front ends see it: changes to the membership and the policy need the approval
 * of k admin institutions, k being network.json's policy.admin_threshold (at least 1); with
 * k > 1 each such change is first a proposal that admins approve one by one, and it takes effect
 * with the approval that reaches k. rules/governance.h holds the checks of commits.
 */
#ifndef TWIN_GOVERNANCE_H
#define TWIN_GOVERNANCE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "twin/network.h"
#include "twin/node.h"

/* How many admin institutions must approve a change to the membership or policy under m. */
int twin_governance_threshold(const struct twin_membership *m);

/* Whether a proposal approved by approvals admin institutions is in effect under m. */
bool twin_governance_proposal_in_effect(size_t approvals, const struct twin_membership *m);

/* The proposals at node n's head, in the order of their ids, as a JSON array of objects {id,
 * summary, proposed_by, approvals (the approving institutions' org ids, the proposer first),
 * needed, in_effect}; *needed (when not NULL) is the threshold at the head. TWIN_ENOHISTORY
 * when n has no history yet. */
int twin_governance_proposals_at_head(json_t **out, int *needed, twin_node *n);

#endif
