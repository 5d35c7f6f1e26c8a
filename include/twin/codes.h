/*
 * The IATI 2.03 codes twin checks records against, compiled into compact tables generated
 * from the IATI codelists by tools/gencodes (see src/codes_table.c).
 */
#ifndef TWIN_CODES_H
#define TWIN_CODES_H

#include <stdbool.h>
#include <stddef.h>

enum twin_codelist {
    TWIN_CODES_ACTIVITY_STATUS,    /* ActivityStatus: 1-6 */
    TWIN_CODES_ORGANISATION_TYPE,  /* OrganisationType: 10, 11, 15, 21, ... */
    TWIN_CODES_ORGANISATION_ROLE,  /* OrganisationRole: 1-4 */
    TWIN_CODES_SECTOR,             /* Sector: DAC 5-digit */
    TWIN_CODES_COUNTRY,            /* Country: ISO 3166-1 alpha-2 */
    TWIN_CODES_CURRENCY,           /* Currency: ISO 4217 */
    TWIN_CODES_LANGUAGE,           /* Language: ISO 639-1 */
    TWIN_CODES_RESULT_TYPE,        /* ResultType: 1 output, 2 outcome, 3 impact, 9 other */
    TWIN_CODES_INDICATOR_MEASURE,  /* IndicatorMeasure: 1-5 */
    TWIN_CODES_DOCUMENT_CATEGORY,  /* DocumentCategory: A01.., B01.. */
    TWIN_CODES_ACTIVITY_DATE_TYPE, /* ActivityDateType: 1-4 */
    TWIN_CODES_TRANSACTION_TYPE,   /* TransactionType: 1 incoming funds .. 13 incoming pledge */
    TWIN_CODES__COUNT
};

/* True when code is an active code of list (exact, case-sensitive match). */
bool twin_codes_valid(enum twin_codelist list, const char *code);

/* The code's English name, or NULL when the code is unknown. */
const char *twin_codes_name(enum twin_codelist list, const char *code);

/* The codelist's IATI name ("ActivityStatus") and its number of active codes. */
const char *twin_codes_list_name(enum twin_codelist list);
size_t twin_codes_list_size(enum twin_codelist list);

#endif
