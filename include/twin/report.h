/*
 * Reports on what the records hold. Contributions: per partnership and contributing institution,
 * what was pledged and what was delivered, in cash and in kind, in each currency (and, for
 * quantities given without a value, in each unit), confirmed and unconfirmed apart.
 *
 * A contribution counts as pledged while its status is pledged or delivered, and as delivered
 * when it is delivered; a cancelled one counts nowhere. A correction (corrects=ID) is counted as
 * an entry of its own, with its own status, so it adds to (or, negative, takes from) what the
 * entry it corrects counts. An entry is confirmed when its "confirmed" equals its status.
 */
#ifndef TWIN_REPORT_H
#define TWIN_REPORT_H

#include <jansson.h>
#include <stddef.h>

#include "twin/node.h"

/* The figures gathered so far. */
typedef struct twin_report twin_report;

int twin_report_new(twin_report **out);
void twin_report_free(twin_report *r);

/* Counts contribution rec. TWIN_EINVALID, naming what is missing and counting nothing, when rec
 * is not a contribution the figures can be read from: another type, sealed, withdrawn, or without
 * its partnership, institution, kind or status, or without an amount (a value and currency, or a
 * quantity and unit). A cancelled contribution is read and counts nowhere. */
int twin_report_add(twin_report *r, const json_t *rec);

/* The figures as data (a new reference; NULL when out of memory):
 * {"partnerships": [{"id", "institutions": [{"id", "amounts": [{"kind", "currency" or "unit",
 * "pledged": {"confirmed", "unconfirmed"}, "delivered": {"confirmed", "unconfirmed"}}]}]}]},
 * partnerships and institutions in order of id, amounts cash first, then in kind, each by
 * currency, then by unit. Figures are numbers, whole ones as integers, others rounded to six
 * decimals. r keeps its figures, its lines put in that order. */
json_t *twin_report_json(twin_report *r);

/* The contributions report of the records at the head: every partnership with contributions, or
 * partnership alone (a whole id) even with none. As twin_report_json, with each partnership's
 * "title" and each institution's "name" and "org_id" (null when it has none, or is unreadable),
 * and "skipped": how many contribution records could not be counted (sealed, withdrawn or missing
 * what the figures need). TWIN_ENOTFOUND when partnership names no partnership. */
int twin_report_contributions(json_t **out, twin_node *n, const char *partnership);

#endif
