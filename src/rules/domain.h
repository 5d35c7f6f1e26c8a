/*
 * The record rules a network puts in force by version (network.json policy.rules): rules that
 * came after networks had history, so a network takes them on by a signed policy change and
 * history written before keeps the rules it was written under.
 */
#ifndef TWIN_RULES_DOMAIN_H
#define TWIN_RULES_DOMAIN_H

#include <git2.h>
#include <jansson.h>
#include <stddef.h>

#include "twin/record.h"

/* Opens a sealed record's envelope (env, whose file's bytes are text) into *plain: 0, or an
 * error when this node cannot read it. */
typedef int (*twin_domain_open_fn)(json_t **plain, const json_t *env, const char *text, size_t len,
                                   void *ctx);

/* Checks rec (in the clear; old its previous version or NULL) against the rules of version
 * rules that go beyond the schema. lookup reads the records rec names; tree (in repo) is the
 * tree rec is checked in, searched for other health checks: those in the clear, and with open
 * (NULL for none) the sealed ones it opens. Returns <0 when something cannot be read;
 * otherwise 0, with fault empty when rec is allowed, else naming the field and the rule. */
struct twin_domain_env {
    twin_record_lookup_fn lookup;
    void *lookup_ctx;
    git_repository *repo;
    const git_tree *tree;
    twin_domain_open_fn open;
    void *open_ctx;
};
int twin_domain_check(char *fault, size_t fault_size, const json_t *rec, const json_t *old,
                      int rules, const struct twin_domain_env *env);

#endif
