/*
 * IATI 2.03 export: the partnerships of a node as an iati-activities document, one
 * iati-activity each, valid against the IATI schema. The node's own institution reports; the
 * partnership's member institutions take part with their IATI roles (by side when none is
 * given); sectors and recipient countries keep their percentages; the twin record id is an
 * other-identifier of type A1, the partnership type a tag of vocabulary 99; documents with a URL
 * become document-links (a memorandum of understanding as category A09); results with their
 * indicators, baselines, targets and actuals per period; budgets (each with the corrections
 * that reach it added in, as IATI has no budget reversal) and transactions (a correction as a
 * transaction of its own, negative when it takes away). Person records, notes and the
 * North/South sides stay out, and so do sealed records.
 */
#ifndef TWIN_IATI_H
#define TWIN_IATI_H

#include <jansson.h>
#include <stdio.h>

#include "twin/node.h"
#include "twin/ops.h"

struct twin_iati_report {
    size_t activities;
    size_t skipped_documents; /* documents without a URL, which IATI cannot link */
    size_t skipped_results;   /* results without an indicator, which IATI does not accept */
    size_t sealed; /* sealed partnerships, institutions, documents, results and indicators (not
                      withdrawn): an IATI export is published, and never holds sealed records */
};

/* Writes the selected partnerships (sel->type must be NULL or "partnership"). A partnership
 * that lacks what IATI requires (a start date, a status) stops the export with a message naming
 * it and the field. */
int twin_iati_export(FILE *out, struct twin_iati_report *report, twin_node *n,
                     const struct twin_selection *sel);

/* Checks an IATI activity document against the IATI 2.03 activity schema, which is built into
 * the library: nothing is read from disk or the network. 0 when it is valid; TWIN_EINVALID when
 * it is not, with the first error's line, the iati-identifier of the activity it is in, and
 * libxml2's words for it ("line 11 (activity XE-EXAMPLE-1): Element 'participating-org': This
 * element is not expected. Expected is ( description )."). */
int twin_iati_validate(const char *xml, size_t len);

/* Reading IATI: each iati-activity becomes a partnership, its participating organisations
 * institutions (found again by org id when known), its document-links documents, its results
 * and indicators records of those types, its budgets and transactions records of those
 * types (provider and receiver organisations institutions). fn gets each record with the activity's
 * number (1-based). known maps what records were found by before to their ids ("org:<org id or
 * name>", "act:<IATI identifier>", "doc:<partnership> <url or title>", "res:<partnership>
 * <title>", "ind:<result> <title>", "bud:<partnership> <budget_type> <period_start>
 * <period_end> <currency>" and "net:<budget id>" -> the value it stands at with its corrections,
 * "trn:<partnership> <transaction_type> <date> <currency> <value as %.15g>"; a budget or
 * transaction repeated in an activity has " #2", " #3", ... after its key), so a second import
 * updates rather than duplicates; new keys are added to it. A budget found again whose value
 * in the file differs from what it stands at gets a correction by the difference.
 * Elements and values twin does not keep are counted in *skipped. DTDs are refused (so no
 * entity is ever expanded), and nothing is fetched from the network. */
typedef int (*twin_iati_record_fn)(size_t activity, json_t *rec, void *ctx);
/* Names an element twin skips ("activity 2 (line 140): transaction: transaction-type '14' is
 * not an IATI transaction type (1-13); skipped"). */
typedef void (*twin_iati_note_fn)(const char *message, void *ctx);
int twin_iati_read(const char *data, size_t len, json_t *known, twin_iati_record_fn fn,
                   twin_iati_note_fn note, void *ctx, size_t *skipped);

#endif
