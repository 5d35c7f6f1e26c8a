/* Feeds one input to twin's CSV reader (libcsv, strict). Invariants: it never crashes; every row
 * it hands over has at most TWIN_CSV_COLUMNS_MAX cells, each NUL-terminated, valid UTF-8 and at
 * most TWIN_CSV_CELL_MAX bytes; rows come numbered 1, 2, 3, ... */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "twin/error.h"
#include "twin/interchange.h"

static int check_row(size_t row, char **cells, size_t ncells, void *ctx)
{
    size_t *expect = ctx;
    if (row != ++*expect || ncells > TWIN_CSV_COLUMNS_MAX)
        abort();
    for (size_t i = 0; i < ncells; i++)
        if (!cells[i] || strlen(cells[i]) > TWIN_CSV_CELL_MAX)
            abort();
    /* A row function's refusal ends the read: refuse the fifth row to cover that path. */
    return row == 5 ? twin_error(TWIN_EINVALID, "row 5: refused by the fuzz target") : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t rows = 0;
    int rc = twin_interchange_csv_read((const char *)data, size, check_row, &rows);
    if (rc != 0 && rc != TWIN_EINVALID && rc != TWIN_ELIMIT)
        abort();
    twin_error_clear();
    return 0;
}
