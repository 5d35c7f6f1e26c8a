/*
 * The rules of the records that hold money and staff time (contribution, budget, transaction):
 * an amount is recorded and never overwritten; a correction is a new entry that names the one
 * it corrects.
 */
#ifndef TWIN_RECORDS_MONEY_H
#define TWIN_RECORDS_MONEY_H

#include <jansson.h>
#include <stdbool.h>

/* True for contribution, budget and transaction. */
bool twin_money_type(const char *type);

/* Checks rec (a record of a money type) on its own and, when old is given, as a change from
 * old: TWIN_EINVALID naming the field and the rule, or the lookup's error. lookup reads the
 * record a correction names (in the tree the record is checked in). */
int twin_money_check(const json_t *rec, const json_t *old,
                     int (*lookup)(json_t **out, const char *type, const char *id, void *ctx),
                     void *lookup_ctx);

#endif
