/*
 * Lookups in the IATI code tables generated into src/records/codes_table.c. Each list is sorted by
 * strcmp, so a check is a binary search: no allocation, no start-up work, no locks.
 */
#include <string.h>

#include "twin/codes.h"
#include "records/codes_table.h"

static const struct twin_codelist_table *table_of(enum twin_codelist list)
{
    /* Callers may pass any integer cast to the enum; only known lists have a table. */
    if ((unsigned int)list >= TWIN_CODES__COUNT)
        return NULL;
    return &twin_codes_tables[list];
}

static const struct twin_code_entry *find_code(enum twin_codelist list, const char *code)
{
    const struct twin_codelist_table *table = table_of(list);
    size_t lo = 0, hi;

    if (table == NULL || code == NULL)
        return NULL;
    hi = table->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int cmp = strcmp(code, table->entries[mid].code);

        if (cmp == 0)
            return &table->entries[mid];
        if (cmp < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

bool twin_codes_valid(enum twin_codelist list, const char *code)
{
    return find_code(list, code) != NULL;
}

const char *twin_codes_name(enum twin_codelist list, const char *code)
{
    const struct twin_code_entry *entry = find_code(list, code);

    return entry != NULL ? entry->name : NULL;
}

const char *twin_codes_list_name(enum twin_codelist list)
{
    const struct twin_codelist_table *table = table_of(list);

    return table != NULL ? table->name : NULL;
}

size_t twin_codes_list_size(enum twin_codelist list)
{
    const struct twin_codelist_table *table = table_of(list);

    return table != NULL ? table->count : 0;
}
