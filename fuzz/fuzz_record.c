/* Feeds one input to the record parser, the validator (without lookups) and the canonical form.
 * Invariant: a record that validates serialises, parses back from exactly those bytes, serialises
 * to the same bytes again, and still validates, also as a transition from itself. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "twin/error.h"
#include "twin/record.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *rec = NULL, *back = NULL;
    char *text = NULL, *again = NULL;
    size_t len = 0, again_len = 0;

    if (twin_record_parse(&rec, (const char *)data, size) != 0)
        return 0;
    (void)twin_record_title(rec);
    bool valid = twin_record_validate(rec, NULL, NULL, NULL) == 0;

    int rc = twin_record_canonical(&text, &len, rec);
    if (rc != 0) {
        /* Indentation can push a valid record past the stored size bound; nothing else may fail. */
        if (valid && rc != TWIN_ELIMIT)
            abort();
        goto done;
    }
    if (twin_record_parse_canonical(&back, text, len) != 0) {
        if (valid)
            abort();
        goto done;
    }
    if (!valid)
        goto done;
    if (twin_record_canonical(&again, &again_len, back) != 0 || again_len != len ||
        memcmp(again, text, len) != 0)
        abort();
    if (twin_record_validate(back, NULL, NULL, NULL) != 0 ||
        twin_record_validate(back, back, NULL, NULL) != 0)
        abort();
done:
    free(again);
    free(text);
    json_decref(back);
    json_decref(rec);
    return 0;
}
